//! Capacity sections and holds.

use futures::FutureExt;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::capacity::{
    CapacityCheckResult, CapacityEnvelope, CapacityTotals, HoldOut, ReserveRequest, ReserveResult, SectionFields,
    SectionOut,
};
use crate::domain::{EventStatus, Mode};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::services::events::verify_venue;
use crate::services::{Creation, stored};
use crate::state::AppState;
use crate::storage::TenantTx;
use crate::storage::capacity::{self as store, HoldEnd, NewHold, NewSection, Pick, RowLock, SectionUpdate};
use crate::storage::idempotency::{self, Fingerprint};

/// `rows x seats_per_row` must equal the section's `total_capacity`.
fn ensure_writable(user: &AuthUser, status: EventStatus, created_by: Option<&str>) -> ApiResult<()> {
    if !(user.is_admin() || created_by == Some(user.user_id.as_str())) {
        return Err(ApiError::forbidden("only the event's creator or an admin may change its sections"));
    }
    if status.is_terminal() {
        return Err(ApiError::conflict("INVALID_EVENT_STATE", format!("the event is {status}")));
    }
    Ok(())
}

pub async fn list(state: &AppState, user: &AuthUser, event_id: Uuid) -> ApiResult<Vec<SectionOut>> {
    state
        .db
        .read(user.tenant, move |tx| {
            async move {
                store::parent_event(tx, event_id, RowLock::None).await?;
                store::sections(tx, event_id).await
            }
            .boxed()
        })
        .await
}

pub async fn totals(state: &AppState, user: &AuthUser, event_id: Uuid) -> ApiResult<CapacityTotals> {
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

pub async fn get(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<SectionOut> {
    state
        .db
        .read(user.tenant, move |tx| async move { store::section(tx, id).await }.boxed())
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
) -> ApiResult<Creation<CapacityEnvelope>> {
    if let Some(stored) = crate::services::events::stored_response(state, user.tenant, idem.as_ref()).await? {
        return Ok(Creation::Replayed(stored));
    }
    fields.validate(Mode::Create).map_err(ApiError::unprocessable)?;
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
                    return Ok(Creation::Replayed(stored));
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
                let capacity = store::section(tx, id).await?.ok_or_else(|| ApiError::not_found("Capacity section"))?;
                let body = CapacityEnvelope { capacity };
                if let Some(fp) = &idem {
                    idempotency::finish(tx, fp, &stored(&body)?).await?;
                }
                Ok(Creation::New(body))
            }
            .boxed()
        })
        .await?;
    state.cache.delete(tenant, &[&crate::services::events::event_key(event_id)]).await;
    Ok(outcome)
}

/// `PUT /capacity/:id`: shape changes only; availability is recomputed from the counters.
pub async fn update(state: &AppState, user: &AuthUser, id: Uuid, fields: SectionFields) -> ApiResult<SectionOut> {
    fields.validate(Mode::Update).map_err(ApiError::unprocessable)?;
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
    let (section, event_id) = state
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
                // Releases and expiries may still run (they do not lock the event), but they only
                // ever make more seats available.
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
                    row_config: fields.row_config.as_ref().and_then(|r| serde_json::to_value(r).ok()),
                    seat_map: fields.seat_map.as_ref().and_then(|m| serde_json::to_value(m).ok()),
                    is_active: fields.is_active,
                    is_visible: fields.is_visible,
                    minimum_purchase: fields.minimum_purchase,
                    maximum_purchase: fields.maximum_purchase,
                };
                if total - buffer != c.total - c.buffer {
                    store::resize_stripes(tx, id, total - buffer).await?;
                }
                store::update_section(tx, id, &update).await?;
                let section = store::section(tx, id).await?.ok_or_else(|| ApiError::not_found("Capacity section"))?;
                Ok((section, event_id))
            }
            .boxed()
        })
        .await?;
    state.cache.delete(tenant, &[&crate::services::events::event_key(event_id)]).await;
    Ok(section)
}

/// `POST /capacity/:id/check`.
pub async fn check(state: &AppState, user: &AuthUser, id: Uuid, quantity: i32) -> ApiResult<CapacityCheckResult> {
    let section = get(state, user, id).await?;
    let available = i64::from(section.available_capacity);
    let min = i64::from(section.minimum_purchase);
    let max = section.maximum_purchase.map_or(100, i64::from);
    let q = i64::from(quantity);
    Ok(CapacityCheckResult {
        available: section.is_active && available >= q && q >= min && q <= max,
        quantity,
        available_capacity: available,
    })
}

pub async fn reserve(
    state: &AppState,
    user: &AuthUser,
    section: Uuid,
    req: ReserveRequest,
    idem: Option<Fingerprint>,
) -> ApiResult<Creation<ReserveResult>> {
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
    // First as an ordinary hold, which never waits for a lock another hold may keep; if no
    // stripe could be taken that way, once more from the start in the section's lock order
    // (`Order::Serial`), where it may wait and rebalance. See [`take_seats`].
    let mut order = Order::Striped;
    let outcome = loop {
        let attempt = state
            .db
            .write(tenant, {
                let (req, idem, user_id) = (req.clone(), idem.clone(), user_id.clone());
                move |tx| {
                    let (req, idem, user_id) = (req.clone(), idem.clone(), user_id.clone());
                    reserve_tx(tx, section, req, minutes, idem, user_id, order).boxed()
                }
            })
            .await;
        match attempt {
            Err(e) if e.code == STRIPES_BUSY && order == Order::Striped => {
                metrics::counter!("capacity_hold_serial_retries_total").increment(1);
                order = Order::Serial;
            }
            other => break other?,
        }
    };
    let (creation, event) = outcome;
    metrics::counter!("holds_total", "outcome" => if event.is_none() { "replayed" } else { "created" }).increment(1);
    // The cached event embeds its availability.
    if let Some(event) = event {
        state.cache.delete(tenant, &[&crate::services::events::event_key(event)]).await;
    }
    Ok(creation)
}

/// How a hold transaction may lock (see [`take_seats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Stripes only, never waiting for one: the common case.
    Striped,
    /// The section's row first, then stripes, waiting and rebalancing as needed.
    Serial,
}

/// The marker of an ordinary hold that found no stripe it could take without waiting; never
/// leaves [`reserve`].
const STRIPES_BUSY: &str = "STRIPES_BUSY";

/// One hold transaction.
async fn reserve_tx(
    tx: &mut TenantTx,
    section: Uuid,
    req: ReserveRequest,
    minutes: i32,
    idem: Option<Fingerprint>,
    user_id: String,
    order: Order,
) -> ApiResult<(Creation<ReserveResult>, Option<Uuid>)> {
    {
        {
            if let Some(fp) = &idem
                && let Some(stored) = idempotency::begin(tx, fp).await?
            {
                return Ok((Creation::Replayed(stored), None));
            }
            let target = store::hold_target(tx, section).await?;
            let (event_id, status) = (target.section.event_id, target.status);
            if !status.allows_sales() {
                return Err(ApiError::conflict(
                    "INVALID_EVENT_STATE",
                    format!("tickets are not on sale while the event is {status}"),
                ));
            }
            let bounds = (target.section.minimum_purchase, target.section.maximum_purchase);
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
            let insufficient =
                || ApiError::conflict("INSUFFICIENT_CAPACITY", "not enough seats are available in this section");
            if !target.section.is_active {
                return Err(insufficient());
            }
            // Named seats: under the section's row lock, which every named-seat hold takes
            // before it checks, so a named seat is held or sold at most once. (Other holds
            // take that lock only in the serial order: they lock the stripe they take from.)
            let seats = req.seat_ids.as_deref().filter(|s| !s.is_empty());
            let order = if seats.is_some() { Order::Serial } else { order };
            if order == Order::Serial && !store::lock_section(tx, section).await? {
                return Err(ApiError::not_found("Capacity section"));
            }
            if let Some(seats) = seats {
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
                event_id,
                quantity: req.quantity,
                minutes,
                pricing_id: req.pricing_id,
                locked_price,
                locked_price_data,
                seat_ids: req.seat_ids.clone().unwrap_or_default(),
                created_by: user_id,
            };
            let reservation = take_seats(tx, &hold, target.stripe_count, order).await?.ok_or_else(insufficient)?;
            // An ordinary hold changed one stripe, by its own seats: the section read with the
            // target, moved by them, is the answer, with no second read while the stripe stays
            // locked. The serial order may have rebalanced stripes (more changes): read again.
            let capacity = if order == Order::Striped {
                target.section.after_hold(req.quantity)
            } else {
                store::section(tx, section).await?.ok_or_else(|| ApiError::not_found("Capacity section"))?
            };
            let body = ReserveResult {
                message: "Capacity reserved successfully".to_owned(),
                locked_price: reservation.locked_price,
                reservation,
                capacity,
            };
            if let Some(fp) = &idem {
                idempotency::finish(tx, fp, &stored(&body)?).await?;
            }
            Ok((Creation::New(body), Some(event_id)))
        }
    }
}

/// Takes the hold's seats from one stripe of the section.
///
/// First the first stripe with enough seats that no other transaction has locked, starting at a
/// random one, so concurrent holds spread over the stripes and never wait for each other. That
/// fails when every stripe with the seats is busy, or near sold-out, when no single stripe has
/// them. An ordinary hold then gives up with [`STRIPES_BUSY`] and [`reserve`] runs it again in
/// the serial order: the section's row lock first (rebalances and named-seat holds queue there),
/// then the same pick, then a rebalance that locks every stripe in order, waiting for the holds
/// on them, and either gathers the seats in one stripe or finds that the section does not have
/// them (`None`: 409).
///
/// Why an ordinary hold never waits: a pick may leave a stripe locked even when it did not take
/// it (Postgres keeps the lock of a row it locked and then found changed and no longer
/// matching), and a transaction that keeps stripe locks must not wait for the section's lock,
/// whose holder waits for those stripes: that is a deadlock. Ordinary holds never wait at all,
/// and serial transactions take the section lock before any stripe, so every wait follows the
/// order section, then stripes.
async fn take_seats(tx: &mut TenantTx, hold: &NewHold, stripes: i16, order: Order) -> ApiResult<Option<HoldOut>> {
    let start = rand::random_range(0..stripes.max(1));
    if let Some(h) = store::take_and_hold(tx, Pick::AnyFrom(start), hold).await? {
        return Ok(Some(h));
    }
    if order == Order::Striped {
        return Err(ApiError::conflict(STRIPES_BUSY, "no stripe of the section could be taken without waiting"));
    }
    match store::rebalance(tx, hold.section, hold.quantity).await? {
        Some(stripe) => store::take_and_hold(tx, Pick::Exactly(stripe), hold).await,
        None => Ok(None),
    }
}

/// A hold is its creator's: other users of the tenant see it only as admins or with
/// `tickets:confirm` (the checkout). Anyone else gets 404, as for a hold that does not exist.
pub async fn get_hold(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<HoldOut> {
    let hold = state
        .db
        .read(user.tenant, move |tx| async move { store::hold(tx, id).await }.boxed())
        .await?
        .ok_or_else(|| ApiError::not_found("Reservation"))?;
    let own = hold.created_by.as_deref() == Some(user.user_id.as_str());
    if own || user.is_admin() || user.require("tickets:confirm").is_ok() {
        Ok(hold)
    } else {
        Err(ApiError::not_found("Reservation"))
    }
}

/// Confirm (sell) or release a hold. Exactly one transition leaves `active`; repeating the
/// one that won is harmless (release twice, confirm twice), anything else is a 409.
pub async fn finish_hold(state: &AppState, user: &AuthUser, id: Uuid, end: HoldEnd) -> ApiResult<HoldOut> {
    let actor = user.clone();
    // The inner result is a refusal decided *after* work that must commit (expiring a stale
    // hold), so it travels as a value and the transaction still commits.
    let outcome: Result<HoldOut, ApiError> = state
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
                Ok(Ok(store::hold(tx, id).await?.ok_or_else(|| ApiError::not_found("Reservation"))?))
            }
            .boxed()
        })
        .await?;
    if let Ok(hold) = &outcome {
        state.cache.delete(user.tenant, &[&crate::services::events::event_key(hold.event_id)]).await;
    }
    outcome
}
