//! Capacity sections and holds.

use futures::FutureExt;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::EventStatus;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::services::events::verify_venue;
use crate::state::AppState;
use crate::storage::capacity::{self as store, HoldEnd, NewHold, NewSection, RowLock, SectionUpdate};
use crate::storage::idempotency::{self, Fingerprint, StoredResponse};

/// `rows x seats_per_row` must equal the section's `total_capacity`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowConfig {
    #[schema(minimum = 1)]
    pub rows: i32,
    #[schema(minimum = 1)]
    pub seats_per_row: i32,
    /// One label per row.
    #[serde(default)]
    pub row_labels: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatMap {
    #[serde(rename = "type")]
    pub kind: SeatMapType,
    #[serde(default)]
    pub data: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeatMapType {
    Grid,
    Custom,
    Ga,
}

/// Section fields of the original. Counters are server-managed: the original let clients
/// overwrite them (defect 17), so sending one is refused rather than silently dropped.
///
/// In the API description the counters are left out (sending one is an error: 422
/// `SERVER_MANAGED_FIELD`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = SectionUpdate,
    description = "A capacity section's fields; absent or `null` keeps the value on update. The counters \
        (`available_capacity`, `reserved_capacity`, `sold_count`) are the service's: sending one is \
        refused with 422 `SERVER_MANAGED_FIELD`."
)]
pub struct SectionFields {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100)]
    pub section_name: Option<String>,
    #[schema(max_length = 20)]
    pub section_code: Option<String>,
    #[schema(max_length = 50)]
    pub tier: Option<String>,
    /// The sections of an event together must fit the venue's capacity (422
    /// `EXCEEDS_VENUE_CAPACITY`); not below the seats held, sold and buffered.
    #[schema(minimum = 1, maximum = 1000000)]
    pub total_capacity: Option<i32>,
    /// Less than `total_capacity`.
    #[schema(minimum = 0)]
    pub buffer_capacity: Option<i32>,
    /// Create only: a schedule of the same event.
    pub schedule_id: Option<Uuid>,
    pub row_config: Option<RowConfig>,
    pub seat_map: Option<SeatMap>,
    pub is_active: Option<bool>,
    pub is_visible: Option<bool>,
    /// At most `maximum_purchase`.
    #[schema(minimum = 1, maximum = 100)]
    pub minimum_purchase: Option<i32>,
    #[schema(minimum = 1, maximum = 100)]
    pub maximum_purchase: Option<i32>,
    #[schema(ignore)]
    pub available_capacity: Option<i32>,
    #[schema(ignore)]
    pub reserved_capacity: Option<i32>,
    #[schema(ignore)]
    pub sold_count: Option<i32>,
    /// Optimistic lock for updates (409 `VERSION_CONFLICT`).
    pub version: Option<i32>,
}

impl SectionFields {
    fn validate(&self, create: bool) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        let mut fail = |f: &str, c: &'static str, m: &str| e.push(FieldError::new(f, c, m));
        if create && self.section_name.is_none() {
            fail("section_name", "REQUIRED_FIELD", "is required");
        }
        if create && self.total_capacity.is_none() {
            fail("total_capacity", "REQUIRED_FIELD", "is required");
        }
        if !create && self.schedule_id.is_some() {
            fail("schedule_id", "IMMUTABLE_FIELD", "cannot be changed after creation");
        }
        for (field, present) in [
            ("available_capacity", self.available_capacity.is_some()),
            ("reserved_capacity", self.reserved_capacity.is_some()),
            ("sold_count", self.sold_count.is_some()),
        ] {
            if present {
                fail(field, "SERVER_MANAGED_FIELD", "is maintained by the service from holds and sales");
            }
        }
        if self.section_name.as_ref().is_some_and(|n| n.trim().is_empty() || n.chars().count() > 100) {
            fail("section_name", "INVALID_LENGTH", "must be 1-100 characters");
        }
        if self.section_code.as_ref().is_some_and(|c| c.chars().count() > 20) {
            fail("section_code", "STRING_TOO_LONG", "must be at most 20 characters");
        }
        if self.tier.as_ref().is_some_and(|t| t.chars().count() > 50) {
            fail("tier", "STRING_TOO_LONG", "must be at most 50 characters");
        }
        if self.total_capacity.is_some_and(|t| !(1..=1_000_000).contains(&t)) {
            fail("total_capacity", "INVALID_RANGE", "must be between 1 and 1000000");
        }
        if self.buffer_capacity.is_some_and(|b| b < 0) {
            fail("buffer_capacity", "VALUE_TOO_SMALL", "must not be negative");
        }
        if let (Some(b), Some(t)) = (self.buffer_capacity, self.total_capacity)
            && b >= t
        {
            fail("buffer_capacity", "INVALID_RANGE", "must be less than total_capacity");
        }
        for (field, v) in [("minimum_purchase", self.minimum_purchase), ("maximum_purchase", self.maximum_purchase)] {
            if v.is_some_and(|v| !(1..=100).contains(&v)) {
                fail(field, "INVALID_RANGE", "must be between 1 and 100");
            }
        }
        if let (Some(min), Some(max)) = (self.minimum_purchase, self.maximum_purchase)
            && min > max
        {
            fail("minimum_purchase", "INVALID_RANGE", "must not exceed maximum_purchase");
        }
        if let Some(rc) = &self.row_config {
            if rc.rows < 1 || rc.seats_per_row < 1 {
                fail("row_config", "INVALID_RANGE", "rows and seats_per_row must be positive");
            } else if let Some(total) = self.total_capacity
                && i64::from(rc.rows) * i64::from(rc.seats_per_row) != i64::from(total)
            {
                fail("row_config", "ROWS_MISMATCH", "rows x seats_per_row must equal total_capacity");
            }
            if rc.row_labels.as_ref().is_some_and(|l| l.len() != rc.rows as usize) {
                fail("row_config.row_labels", "INVALID_LENGTH", "must have one label per row");
            }
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

fn ensure_writable(user: &AuthUser, status: EventStatus, created_by: Option<&str>) -> ApiResult<()> {
    if !(user.is_admin() || created_by == Some(user.user_id.as_str())) {
        return Err(ApiError::forbidden("only the event's creator or an admin may change its sections"));
    }
    if status.is_terminal() {
        return Err(ApiError::conflict("INVALID_EVENT_STATE", format!("the event is {status}")));
    }
    Ok(())
}

pub async fn list(state: &AppState, user: &AuthUser, event_id: Uuid) -> ApiResult<Vec<Value>> {
    state
        .db
        .read(user.tenant, move |tx| {
            async move {
                store::parent_event(tx, event_id, RowLock::None).await?;
                store::sections_json(tx, event_id).await
            }
            .boxed()
        })
        .await
}

pub async fn totals(state: &AppState, user: &AuthUser, event_id: Uuid) -> ApiResult<Value> {
    state
        .db
        .read(user.tenant, move |tx| {
            async move {
                store::parent_event(tx, event_id, RowLock::None).await?;
                store::totals(tx, event_id).await
            }
            .boxed()
        })
        .await
}

pub async fn get(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Value> {
    state
        .db
        .read(user.tenant, move |tx| async move { store::section_json(tx, id).await }.boxed())
        .await?
        .ok_or_else(|| ApiError::not_found("Capacity section"))
}

/// `POST /events/:eventId/capacity`: the sum of sections must fit the venue, which is
/// verified live (fail closed, as for events).
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    fields: SectionFields,
    idem: Option<Fingerprint>,
) -> ApiResult<(StoredResponse, bool)> {
    if let Some(stored) = crate::services::events::stored_response(state, user.tenant, idem.as_ref()).await? {
        return Ok((stored, true));
    }
    fields.validate(true).map_err(ApiError::unprocessable)?;
    let tenant = user.tenant;
    let venue_id = state
        .db
        .read(tenant, move |tx| async move { Ok(store::parent_event(tx, event_id, RowLock::Share).await?.2) }.boxed())
        .await?;
    let venue = verify_venue(state, tenant, venue_id).await?;
    let actor = user.clone();
    let outcome = state
        .db
        .write(tenant, move |tx| {
            let (fields, idem, actor) = (fields.clone(), idem.clone(), actor.clone());
            async move {
                if let Some(fp) = &idem
                    && let Some(stored) = idempotency::begin(tx, fp).await?
                {
                    return Ok((stored, true));
                }
                let (status, created_by, _) = store::parent_event(tx, event_id, RowLock::Update).await?;
                ensure_writable(&actor, status, created_by.as_deref())?;
                let total = fields.total_capacity.unwrap_or_default();
                if let Some(max) = venue.max_capacity {
                    let others = store::event_total_excluding(tx, event_id, None).await?;
                    if others + i64::from(total) > max {
                        return Err(ApiError::unprocessable(vec![FieldError::new(
                            "total_capacity",
                            "EXCEEDS_VENUE_CAPACITY",
                            format!("sections would total {} seats; the venue holds {max}", others + i64::from(total)),
                        )]));
                    }
                }
                if let Some(schedule) = fields.schedule_id {
                    let ok = store::schedule_of_event(tx, event_id, schedule).await?;
                    if !ok {
                        return Err(ApiError::unprocessable(vec![FieldError::new(
                            "schedule_id",
                            "INVALID_REFERENCE",
                            "no such schedule of this event",
                        )]));
                    }
                }
                let section = NewSection {
                    event_id,
                    schedule_id: fields.schedule_id,
                    section_name: fields.section_name.as_deref().unwrap_or_default().trim(),
                    section_code: fields.section_code.as_deref(),
                    tier: fields.tier.as_deref(),
                    total,
                    buffer: fields.buffer_capacity.unwrap_or(0),
                    row_config: fields.row_config.as_ref().and_then(|r| serde_json::to_value(r).ok()),
                    seat_map: fields.seat_map.as_ref().and_then(|m| serde_json::to_value(m).ok()),
                    is_active: fields.is_active.unwrap_or(true),
                    is_visible: fields.is_visible.unwrap_or(true),
                    minimum_purchase: fields.minimum_purchase.unwrap_or(1),
                    maximum_purchase: fields.maximum_purchase,
                };
                let id = store::insert_section(tx, &section).await?;
                let json = store::section_json(tx, id).await?.ok_or_else(|| ApiError::not_found("Capacity section"))?;
                let response = StoredResponse { status: 201, body: json!({ "capacity": json }) };
                if let Some(fp) = &idem {
                    idempotency::finish(tx, fp, &response).await?;
                }
                Ok((response, false))
            }
            .boxed()
        })
        .await?;
    state.cache.delete(tenant, &[&crate::services::events::event_key(event_id)]).await;
    Ok(outcome)
}

/// `PUT /capacity/:id`: shape changes only; availability is recomputed from the counters.
pub async fn update(state: &AppState, user: &AuthUser, id: Uuid, fields: SectionFields) -> ApiResult<Value> {
    fields.validate(false).map_err(ApiError::unprocessable)?;
    let tenant = user.tenant;
    // A larger section must still fit the venue (the original skipped this on update), which
    // is verified live and fails closed like creation.
    let venue_max = match fields.total_capacity {
        None => None,
        Some(_) => {
            let venue_id = state
                .db
                .read(tenant, move |tx| {
                    async move {
                        let event_id = store::section_event(tx, id).await?;
                        Ok(store::parent_event(tx, event_id, RowLock::Share).await?.2)
                    }
                    .boxed()
                })
                .await?;
            verify_venue(state, tenant, venue_id).await?.max_capacity
        }
    };
    let actor = user.clone();
    let (json, event_id) = state
        .db
        .write(tenant, move |tx| {
            let (fields, actor) = (fields.clone(), actor.clone());
            async move {
                let event_id = store::section_event(tx, id).await?;
                let (status, created_by, _) = store::parent_event(tx, event_id, RowLock::Update).await?;
                ensure_writable(&actor, status, created_by.as_deref())?;
                let c = store::lock_counters(tx, id).await?;
                if let (Some(max), Some(total)) = (venue_max, fields.total_capacity) {
                    let others = store::event_total_excluding(tx, event_id, Some(id)).await?;
                    if others + i64::from(total) > max {
                        return Err(ApiError::unprocessable(vec![FieldError::new(
                            "total_capacity",
                            "EXCEEDS_VENUE_CAPACITY",
                            format!("sections would total {} seats; the venue holds {max}", others + i64::from(total)),
                        )]));
                    }
                }
                if let Some(v) = fields.version
                    && v != c.version
                {
                    return Err(ApiError::conflict(
                        "VERSION_CONFLICT",
                        format!("the section is at version {}, not {v}", c.version),
                    ));
                }
                let total = fields.total_capacity.unwrap_or(c.total);
                let buffer = fields.buffer_capacity.unwrap_or(c.buffer);
                let available = total - c.reserved - c.sold - buffer;
                if available < 0 {
                    return Err(ApiError::unprocessable(vec![FieldError::new(
                        "total_capacity",
                        "BELOW_COMMITTED",
                        format!("{} seats are held or sold and {buffer} are buffer", c.reserved + c.sold),
                    )]));
                }
                if let Some(rc) = &fields.row_config
                    && i64::from(rc.rows) * i64::from(rc.seats_per_row) != i64::from(total)
                {
                    return Err(ApiError::unprocessable(vec![FieldError::new(
                        "row_config",
                        "ROWS_MISMATCH",
                        "rows x seats_per_row must equal total_capacity",
                    )]));
                }
                let update = SectionUpdate {
                    section_name: fields.section_name.as_deref().map(str::trim),
                    section_code: fields.section_code.as_deref(),
                    tier: fields.tier.as_deref(),
                    total,
                    buffer,
                    available,
                    row_config: fields.row_config.as_ref().and_then(|r| serde_json::to_value(r).ok()),
                    seat_map: fields.seat_map.as_ref().and_then(|m| serde_json::to_value(m).ok()),
                    is_active: fields.is_active,
                    is_visible: fields.is_visible,
                    minimum_purchase: fields.minimum_purchase,
                    maximum_purchase: fields.maximum_purchase,
                };
                store::update_section(tx, id, &update).await?;
                let json = store::section_json(tx, id).await?.ok_or_else(|| ApiError::not_found("Capacity section"))?;
                Ok((json, event_id))
            }
            .boxed()
        })
        .await?;
    state.cache.delete(tenant, &[&crate::services::events::event_key(event_id)]).await;
    Ok(json)
}

/// `POST /capacity/:id/check`.
pub async fn check(state: &AppState, user: &AuthUser, id: Uuid, quantity: i32) -> ApiResult<Value> {
    let section = get(state, user, id).await?;
    let available = section["available_capacity"].as_i64().unwrap_or(0);
    let active = section["is_active"].as_bool().unwrap_or(false);
    let min = section["minimum_purchase"].as_i64().unwrap_or(1);
    let max = section["maximum_purchase"].as_i64().unwrap_or(100);
    let q = i64::from(quantity);
    Ok(json!({
        "available": active && available >= q && q >= min && q <= max,
        "quantity": quantity,
        "available_capacity": available,
    }))
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    /// Also within the section's purchase limits (422 `OUTSIDE_PURCHASE_LIMITS`).
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: i32,
    /// Exactly `quantity` seats when given.
    #[serde(default)]
    pub seat_ids: Option<Vec<String>>,
    /// How long the hold lives (default 15). The original's handler read
    /// `reservation_minutes`; both names are accepted.
    #[serde(default, alias = "reservation_minutes")]
    #[schema(minimum = 1, maximum = 60)]
    pub reservation_duration_minutes: Option<i32>,
    /// An active price tier of the event, whose price is locked into the hold.
    #[serde(default)]
    pub pricing_id: Option<Uuid>,
}

/// `POST /capacity/:id/reserve`: one hold row, seats taken atomically.
pub async fn reserve(
    state: &AppState,
    user: &AuthUser,
    section: Uuid,
    req: ReserveRequest,
    idem: Option<Fingerprint>,
) -> ApiResult<(StoredResponse, bool)> {
    let mut errors = Vec::new();
    if !(1..=100).contains(&req.quantity) {
        errors.push(FieldError::new("quantity", "INVALID_RANGE", "must be between 1 and 100"));
    }
    let minutes = req.reservation_duration_minutes.unwrap_or(15);
    if !(1..=60).contains(&minutes) {
        errors.push(FieldError::new("reservation_duration_minutes", "INVALID_RANGE", "must be between 1 and 60"));
    }
    if let Some(seats) = &req.seat_ids {
        if seats.len() != req.quantity as usize {
            errors.push(FieldError::new("seat_ids", "INVALID_LENGTH", "must name exactly `quantity` seats"));
        }
        if seats.iter().any(|s| s.is_empty() || s.chars().count() > 50 || s.chars().any(char::is_control)) {
            errors.push(FieldError::new("seat_ids", "INVALID_SEAT_ID", "seat ids are 1-50 printable characters"));
        }
        let distinct: std::collections::HashSet<&String> = seats.iter().collect();
        if distinct.len() != seats.len() {
            errors.push(FieldError::new("seat_ids", "DUPLICATE_SEAT", "each seat may be named once"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    let tenant = user.tenant;
    let user_id = user.user_id.clone();
    let outcome = state
        .db
        .write(tenant, move |tx| {
            let (req, idem, user_id) = (req.clone(), idem.clone(), user_id.clone());
            async move {
                if let Some(fp) = &idem
                    && let Some(stored) = idempotency::begin(tx, fp).await?
                {
                    return Ok((stored, true));
                }
                let event_id = store::section_event(tx, section).await?;
                let (status, _, _) = store::parent_event(tx, event_id, RowLock::Share).await?;
                if !status.allows_sales() {
                    return Err(ApiError::conflict(
                        "INVALID_EVENT_STATE",
                        format!("tickets are not on sale while the event is {status}"),
                    ));
                }
                let bounds = store::purchase_limits(tx, section).await?;
                if req.quantity < bounds.0 || bounds.1.is_some_and(|max| req.quantity > max) {
                    return Err(ApiError::unprocessable(vec![FieldError::new(
                        "quantity",
                        "OUTSIDE_PURCHASE_LIMITS",
                        format!("must be between {} and {}", bounds.0, bounds.1.unwrap_or(100)),
                    )]));
                }
                // Money as exact decimal strings, as in pricing responses.
                let (locked_price, locked_price_data) = match req.pricing_id {
                    None => (None, None),
                    Some(pricing) => {
                        let row = store::price_to_lock(tx, event_id, pricing).await?;
                        let (price, data) = row.ok_or_else(|| {
                            ApiError::unprocessable(vec![FieldError::new(
                                "pricing_id",
                                "INVALID_REFERENCE",
                                "no active price tier of this event",
                            )])
                        })?;
                        (Some(price), Some(data))
                    }
                };
                if store::take_seats(tx, section, req.quantity).await?.is_none() {
                    return Err(ApiError::conflict(
                        "INSUFFICIENT_CAPACITY",
                        "not enough seats are available in this section",
                    ));
                }
                // Under the section's row lock (taken just above): concurrent holds on this
                // section wait here, so a named seat is held or sold at most once.
                if let Some(seats) = req.seat_ids.as_deref().filter(|s| !s.is_empty()) {
                    let taken = store::seats_taken(tx, section, seats).await?;
                    if !taken.is_empty() {
                        return Err(ApiError::conflict(
                            "SEATS_TAKEN",
                            format!("seats already held or sold: {}", taken.join(", ")),
                        ));
                    }
                }
                let hold = NewHold {
                    section,
                    quantity: req.quantity,
                    minutes,
                    pricing_id: req.pricing_id,
                    locked_price,
                    locked_price_data,
                    seat_ids: req.seat_ids.clone().unwrap_or_default(),
                    created_by: user_id,
                };
                let id = store::insert_hold(tx, event_id, &hold).await?;
                let reservation = store::hold_json(tx, id).await?.unwrap_or(Value::Null);
                let capacity = store::section_json(tx, section).await?.unwrap_or(Value::Null);
                let response = StoredResponse {
                    status: 201,
                    body: json!({
                        "message": "Capacity reserved successfully",
                        "reservation": reservation,
                        "capacity": capacity,
                        "locked_price": reservation.get("locked_price").cloned().unwrap_or(Value::Null),
                    }),
                };
                if let Some(fp) = &idem {
                    idempotency::finish(tx, fp, &response).await?;
                }
                Ok((response, false))
            }
            .boxed()
        })
        .await?;
    metrics::counter!("holds_total", "outcome" => if outcome.1 { "replayed" } else { "created" }).increment(1);
    // The cached event embeds its availability.
    if let Some(event) = outcome.0.body["reservation"]["event_id"].as_str().and_then(|e| e.parse().ok()) {
        state.cache.delete(tenant, &[&crate::services::events::event_key(event)]).await;
    }
    Ok(outcome)
}

/// A hold is its creator's: other users of the tenant see it only as admins or with
/// `tickets:confirm` (the checkout). Anyone else gets 404, as for a hold that does not exist.
pub async fn get_hold(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Value> {
    let hold = state
        .db
        .read(user.tenant, move |tx| async move { store::hold_json(tx, id).await }.boxed())
        .await?
        .ok_or_else(|| ApiError::not_found("Reservation"))?;
    let own = hold.get("created_by").and_then(Value::as_str) == Some(user.user_id.as_str());
    if own || user.is_admin() || user.require("tickets:confirm").is_ok() {
        Ok(hold)
    } else {
        Err(ApiError::not_found("Reservation"))
    }
}

/// Confirm (sell) or release a hold. Exactly one transition leaves `active`; repeating the
/// one that won is harmless (release twice, confirm twice), anything else is a 409.
pub async fn finish_hold(state: &AppState, user: &AuthUser, id: Uuid, end: HoldEnd) -> ApiResult<Value> {
    let actor = user.clone();
    // The inner result is a refusal decided *after* work that must commit (expiring a stale
    // hold), so it travels as a value and the transaction still commits.
    let outcome: Result<Value, ApiError> = state
        .db
        .write(user.tenant, move |tx| {
            let actor = actor.clone();
            async move {
                let current = store::hold_state(tx, id).await?;
                if !(actor.is_admin() || current.created_by.as_deref() == Some(actor.user_id.as_str())) {
                    return Err(ApiError::forbidden("only the hold's creator or an admin may finish it"));
                }
                if end == HoldEnd::Confirm {
                    // A sale is recorded by the checkout (payment done), never by a buyer
                    // alone, and only while the event can still sell.
                    actor.require("tickets:confirm")?;
                    let (status, _, _) = store::parent_event(tx, current.event_id, RowLock::Share).await?;
                    if !matches!(
                        status,
                        EventStatus::OnSale | EventStatus::SalesPaused | EventStatus::SoldOut | EventStatus::InProgress
                    ) {
                        return Ok(Err(ApiError::conflict(
                            "INVALID_EVENT_STATE",
                            format!("holds cannot be confirmed while the event is {status}"),
                        )));
                    }
                }
                if store::end_hold(tx, id, end).await?.is_none() {
                    let now = store::hold_state(tx, id).await?;
                    match (end, now.status.as_str()) {
                        (HoldEnd::Confirm, "confirmed") | (HoldEnd::Release, "released" | "expired") => {}
                        (HoldEnd::Confirm, "active") => {
                            // Expired but not yet swept: give the seats back now, then refuse.
                            store::end_hold(tx, id, HoldEnd::Expire).await?;
                            return Ok(Err(ApiError::conflict("RESERVATION_EXPIRED", "the hold has expired")));
                        }
                        // Already swept by the cleanup job: the same answer as a moment before.
                        (HoldEnd::Confirm, "expired") => {
                            return Ok(Err(ApiError::conflict("RESERVATION_EXPIRED", "the hold has expired")));
                        }
                        (_, other) => {
                            return Ok(Err(ApiError::conflict(
                                "INVALID_RESERVATION_STATE",
                                format!("the hold is {other}"),
                            )));
                        }
                    }
                }
                Ok(Ok(store::hold_json(tx, id).await?.ok_or_else(|| ApiError::not_found("Reservation"))?))
            }
            .boxed()
        })
        .await?;
    if let Ok(hold) = &outcome
        && let Some(event) = hold.get("event_id").and_then(Value::as_str).and_then(|e| e.parse().ok())
    {
        state.cache.delete(user.tenant, &[&crate::services::events::event_key(event)]).await;
    }
    outcome
}
