//! Schedules of an event (`reference/original-service.md` §3.2), and the parent-event rules
//! that every child resource (schedules, pricing, ticket types) shares:
//!
//! * reads: any user of the tenant; the event must exist there and not be deleted (404);
//! * writes: `events:update` (checked by the route), the event's creator or an admin (403),
//!   and not on a COMPLETED or CANCELLED event (409 `INVALID_EVENT_STATE`).

use chrono::{DateTime, NaiveDate, Utc};
use futures::FutureExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::{EventStatus, TenantId};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::services::events::Created;
use crate::state::AppState;
use crate::storage::TenantTx;
use crate::storage::idempotency::{self, Fingerprint, StoredResponse};
use crate::storage::schedules::{self as store, Parent};

/// The statuses of the `event_schedules_status_check` constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScheduleStatus {
    Scheduled,
    Confirmed,
    InProgress,
    Completed,
    Cancelled,
    Postponed,
    Rescheduled,
}

impl ScheduleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Confirmed => "CONFIRMED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Postponed => "POSTPONED",
            Self::Rescheduled => "RESCHEDULED",
        }
    }
}

/// The body of `POST` (where `starts_at` and `ends_at` are required) and `PUT` (partial, with
/// the optional optimistic lock `version`, ignored on create). Absent fields keep their value
/// on `PUT`; `null` counts as absent.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = ScheduleUpdate,
    description = "A schedule's fields; absent or `null` keeps the value on update."
)]
pub struct ScheduleFields {
    pub starts_at: Option<DateTime<Utc>>,
    /// After `starts_at`.
    pub ends_at: Option<DateTime<Utc>>,
    /// An IANA time zone of at most 50 characters; defaults to the event's.
    #[schema(max_length = 50)]
    pub timezone: Option<String>,
    /// Not after `starts_at`.
    pub doors_open_at: Option<DateTime<Utc>>,
    pub is_recurring: Option<bool>,
    #[schema(max_length = 1000)]
    pub recurrence_rule: Option<String>,
    pub recurrence_end_date: Option<NaiveDate>,
    #[schema(minimum = 1)]
    pub occurrence_number: Option<i32>,
    pub status: Option<ScheduleStatus>,
    #[schema(max_length = 1000)]
    pub status_reason: Option<String>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub capacity_override: Option<i32>,
    pub check_in_opens_at: Option<DateTime<Utc>>,
    /// After `check_in_opens_at`.
    pub check_in_closes_at: Option<DateTime<Utc>>,
    #[schema(max_length = 5000)]
    pub notes: Option<String>,
    /// At most 50 properties.
    pub metadata: Option<Map<String, Value>>,
    /// Optimistic lock for updates (409 `VERSION_CONFLICT`).
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}

impl ScheduleFields {
    /// Checks every rule and returns all violations at once (422). The time-order rules see
    /// the request over `current`, the row an update applies to (without it, only pairs the
    /// request gives both halves of).
    pub fn validate(&self, mode: Mode, current: Option<&store::Current>) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, code: &'static str, message: &str| {
            errors.push(FieldError::new(field, code, message));
        };
        for (field, value) in [
            ("starts_at", self.starts_at),
            ("ends_at", self.ends_at),
            ("doors_open_at", self.doors_open_at),
            ("check_in_opens_at", self.check_in_opens_at),
            ("check_in_closes_at", self.check_in_closes_at),
        ] {
            use chrono::Datelike;
            if value.is_some_and(|v| !(1900..=9999).contains(&v.year())) {
                fail(field, "DATE_OUT_OF_RANGE", "must be a date between the years 1900 and 9999");
            }
        }
        if self.recurrence_end_date.is_some_and(|d| !(1900..=9999).contains(&chrono::Datelike::year(&d))) {
            fail("recurrence_end_date", "DATE_OUT_OF_RANGE", "must be a date between the years 1900 and 9999");
        }
        if mode == Mode::Create {
            if self.starts_at.is_none() {
                fail("starts_at", "REQUIRED_FIELD", "is required");
            }
            if self.ends_at.is_none() {
                fail("ends_at", "REQUIRED_FIELD", "is required");
            }
        }
        if let Some(tz) = &self.timezone
            && (tz.len() > 50 || tz.parse::<chrono_tz::Tz>().is_err())
        {
            fail("timezone", "INVALID_TIMEZONE", "must be an IANA time zone such as Europe/Berlin");
        }
        if self.occurrence_number.is_some_and(|n| n < 1) {
            fail("occurrence_number", "VALUE_TOO_SMALL", "must be at least 1");
        }
        if let Some(n) = self.capacity_override
            && !(1..=1_000_000).contains(&n)
        {
            let code = if n < 1 { "VALUE_TOO_SMALL" } else { "VALUE_TOO_LARGE" };
            fail("capacity_override", code, "must be between 1 and 1000000");
        }
        for (field, value, max) in [
            ("recurrence_rule", &self.recurrence_rule, 1000),
            ("status_reason", &self.status_reason, 1000),
            ("notes", &self.notes, 5000),
        ] {
            if value.as_ref().is_some_and(|v| v.chars().count() > max) {
                fail(field, "STRING_TOO_LONG", &format!("must be at most {max} characters"));
            }
        }
        if self.metadata.as_ref().is_some_and(|m| m.len() > 50) {
            fail("metadata", "TOO_MANY_PROPERTIES", "must have at most 50 properties");
        }
        if self.version.is_some_and(|v| v < 1) {
            fail("version", "VALUE_TOO_SMALL", "must be at least 1");
        }

        let starts_at = self.starts_at.or(current.map(|c| c.starts_at));
        let ends_at = self.ends_at.or(current.map(|c| c.ends_at));
        let doors = self.doors_open_at.or(current.and_then(|c| c.doors_open_at));
        let opens = self.check_in_opens_at.or(current.and_then(|c| c.check_in_opens_at));
        let closes = self.check_in_closes_at.or(current.and_then(|c| c.check_in_closes_at));
        if let (Some(start), Some(end)) = (starts_at, ends_at)
            && end <= start
        {
            fail("ends_at", "INVALID_DATE_ORDER", "must be after starts_at");
        }
        if let (Some(start), Some(doors)) = (starts_at, doors)
            && doors > start
        {
            fail("doors_open_at", "INVALID_DATE_ORDER", "must not be after starts_at");
        }
        if let (Some(opens), Some(closes)) = (opens, closes)
            && closes <= opens
        {
            fail("check_in_closes_at", "INVALID_DATE_ORDER", "must be after check_in_opens_at");
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

// Parent-event rules, shared with pricing -------------------------------------------------------

/// The event of a read: live in this tenant, else 404.
pub async fn readable_parent(tx: &mut TenantTx, event_id: Uuid) -> ApiResult<Parent> {
    store::parent(tx, event_id, false).await?.ok_or_else(|| ApiError::not_found("Event"))
}

/// The event of a write, share-locked: live in this tenant (404), changed only by its creator
/// or an admin (403), and not finished (409).
pub async fn writable_parent(tx: &mut TenantTx, user: &AuthUser, event_id: Uuid) -> ApiResult<Parent> {
    let parent = store::parent(tx, event_id, true).await?.ok_or_else(|| ApiError::not_found("Event"))?;
    if !(user.is_admin() || parent.created_by.as_deref() == Some(user.user_id.as_str())) {
        return Err(ApiError::forbidden("only the event's creator or an admin may change it"));
    }
    let status: EventStatus = parent
        .status
        .parse()
        .map_err(|()| ApiError::internal(anyhow::anyhow!("unknown event status {}", parent.status)))?;
    if status.is_terminal() {
        return Err(ApiError::conflict("INVALID_EVENT_STATE", format!("a {status} event cannot be modified")));
    }
    Ok(parent)
}

/// The event GET embeds the first schedule and venue lists embed events, so both caches go.
async fn invalidate(state: &AppState, tenant: TenantId, event_id: Uuid, venue_id: Uuid) {
    state.cache.delete(tenant, &[&crate::services::events::event_key(event_id)]).await;
    // The prefix of `services::events::list_for_venue`.
    state.cache.delete(tenant, &[&crate::services::events::venue_events_key(venue_id)]).await;
}

// Use cases --------------------------------------------------------------------------------------

pub async fn list(state: &AppState, tenant: TenantId, event_id: Uuid) -> ApiResult<Vec<Value>> {
    state
        .db
        .read(tenant, move |tx| {
            async move {
                readable_parent(tx, event_id).await?;
                store::list_json(tx, event_id).await
            }
            .boxed()
        })
        .await
}

/// Upcoming schedules; `limit` 1 is `/next`.
pub async fn upcoming(state: &AppState, tenant: TenantId, event_id: Uuid, limit: i64) -> ApiResult<Vec<Value>> {
    state
        .db
        .read(tenant, move |tx| {
            async move {
                readable_parent(tx, event_id).await?;
                store::upcoming_json(tx, event_id, limit).await
            }
            .boxed()
        })
        .await
}

pub async fn get(state: &AppState, tenant: TenantId, event_id: Uuid, id: Uuid) -> ApiResult<Value> {
    state
        .db
        .read(tenant, move |tx| {
            async move {
                readable_parent(tx, event_id).await?;
                store::find_json(tx, event_id, id).await?.ok_or_else(|| ApiError::not_found("Schedule"))
            }
            .boxed()
        })
        .await
}

/// `POST /events/:id/schedules`: the schedule and, with an `Idempotency-Key`, the stored
/// response, in one transaction. The time zone defaults to the event's.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    fields: ScheduleFields,
    idem: Option<Fingerprint>,
) -> ApiResult<Created> {
    fields.validate(Mode::Create, None).map_err(ApiError::unprocessable)?;
    let tenant = user.tenant;
    let actor = user.clone();
    let (response, replayed, venue_id) = state
        .db
        .write(tenant, move |tx| {
            let (fields, idem, actor) = (fields.clone(), idem.clone(), actor.clone());
            async move {
                if let Some(fp) = &idem
                    && let Some(stored) = idempotency::begin(tx, fp).await?
                {
                    return Ok((stored, true, None));
                }
                let parent = writable_parent(tx, &actor, event_id).await?;
                let timezone = fields.timezone.clone().unwrap_or_else(|| parent.timezone.clone());
                let id = store::insert(tx, event_id, &fields, &timezone).await?;
                let schedule =
                    store::find_json(tx, event_id, id).await?.ok_or_else(|| ApiError::not_found("Schedule"))?;
                let response = StoredResponse { status: 201, body: json!({ "success": true, "data": schedule }) };
                if let Some(fp) = &idem {
                    idempotency::finish(tx, fp, &response).await?;
                }
                Ok((response, false, Some(parent.venue_id)))
            }
            .boxed()
        })
        .await?;
    if let Some(venue_id) = venue_id {
        invalidate(state, tenant, event_id, venue_id).await;
    }
    Ok(Created { status: response.status, body: response.body, replayed })
}

/// `PUT /events/:id/schedules/:scheduleId`: partial, under an optimistic lock when `version`
/// is given (409 `VERSION_CONFLICT`).
pub async fn update(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    id: Uuid,
    fields: ScheduleFields,
) -> ApiResult<Value> {
    // What the request alone breaks fails fast, before any lock is taken.
    fields.validate(Mode::Update, None).map_err(ApiError::unprocessable)?;
    let tenant = user.tenant;
    let actor = user.clone();
    let (schedule, venue_id) = state
        .db
        .write(tenant, move |tx| {
            let (fields, actor) = (fields.clone(), actor.clone());
            async move {
                let parent = writable_parent(tx, &actor, event_id).await?;
                let current = store::lock(tx, event_id, id).await?.ok_or_else(|| ApiError::not_found("Schedule"))?;
                if let Some(expected) = fields.version
                    && expected != current.version
                {
                    return Err(ApiError::conflict(
                        "VERSION_CONFLICT",
                        format!("the schedule is at version {}, not {expected}; reload and retry", current.version),
                    ));
                }
                fields.validate(Mode::Update, Some(&current)).map_err(ApiError::unprocessable)?;
                // Moving a sold show is the event's critical change (see event updates).
                let moves = fields.starts_at.is_some() || fields.ends_at.is_some() || fields.timezone.is_some();
                if moves {
                    let sold: i64 = sqlx::query_scalar(
                        "select coalesce(sum(sold_count), 0)::bigint from event_capacity where tenant_id = $1 and event_id = $2",
                    )
                    .bind(tx.tenant().as_uuid())
                    .bind(event_id)
                    .fetch_one(tx.conn())
                    .await?;
                    if sold > 0 {
                        return Err(ApiError::forbidden("dates and time zone cannot change after tickets were sold")
                            .with_code("CRITICAL_FIELD_LOCKED"));
                    }
                }
                store::update(tx, id, &fields).await?;
                let schedule =
                    store::find_json(tx, event_id, id).await?.ok_or_else(|| ApiError::not_found("Schedule"))?;
                Ok((schedule, parent.venue_id))
            }
            .boxed()
        })
        .await?;
    invalidate(state, tenant, event_id, venue_id).await;
    Ok(schedule)
}
