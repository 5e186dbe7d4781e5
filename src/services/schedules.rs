//! Schedules of an event (`reference/original-service.md` §3.2), and the parent-event rules
//! that every child resource (schedules, pricing, ticket types) shares:
//!
//! * reads: any user of the tenant; the event must exist there and not be deleted (404);
//! * writes: `events:update` (checked by the route), the event's creator or an admin (403),
//!   and not on a COMPLETED or CANCELLED event (409 `INVALID_EVENT_STATE`).

use futures::FutureExt;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::schedule::{ScheduleEnvelope, ScheduleFields, ScheduleOut};
use crate::domain::{EventStatus, Mode, TenantId};
use crate::error::{ApiError, ApiResult};
use crate::services::{Creation, stored};
use crate::state::AppState;
use crate::storage::TenantTx;
use crate::storage::idempotency::{self, Fingerprint};
use crate::storage::schedules::{self as store, Parent};

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

pub async fn list(state: &AppState, tenant: TenantId, event_id: Uuid) -> ApiResult<Vec<ScheduleOut>> {
    state
        .db
        .read(tenant, move |tx| {
            async move {
                readable_parent(tx, event_id).await?;
                store::list(tx, event_id).await
            }
            .boxed()
        })
        .await
}

/// Upcoming schedules; `limit` 1 is `/next`.
pub async fn upcoming(state: &AppState, tenant: TenantId, event_id: Uuid, limit: i64) -> ApiResult<Vec<ScheduleOut>> {
    state
        .db
        .read(tenant, move |tx| {
            async move {
                readable_parent(tx, event_id).await?;
                store::upcoming(tx, event_id, limit).await
            }
            .boxed()
        })
        .await
}

pub async fn get(state: &AppState, tenant: TenantId, event_id: Uuid, id: Uuid) -> ApiResult<ScheduleOut> {
    state
        .db
        .read(tenant, move |tx| {
            async move {
                readable_parent(tx, event_id).await?;
                store::find(tx, event_id, id).await?.ok_or_else(|| ApiError::not_found("Schedule"))
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
) -> ApiResult<Creation<ScheduleEnvelope>> {
    fields.validate(Mode::Create, None).map_err(ApiError::unprocessable)?;
    let tenant = user.tenant;
    let actor = user.clone();
    let (creation, venue_id) = state
        .db
        .write(tenant, move |tx| {
            let (fields, idem, actor) = (fields.clone(), idem.clone(), actor.clone());
            async move {
                if let Some(fp) = &idem
                    && let Some(stored) = idempotency::begin(tx, fp).await?
                {
                    return Ok((Creation::Replayed(stored), None));
                }
                let parent = writable_parent(tx, &actor, event_id).await?;
                let timezone = fields.timezone.clone().unwrap_or_else(|| parent.timezone.clone());
                let id = store::insert(tx, event_id, &fields, &timezone).await?;
                let schedule = store::find(tx, event_id, id).await?.ok_or_else(|| ApiError::not_found("Schedule"))?;
                let body = ScheduleEnvelope::of(schedule);
                if let Some(fp) = &idem {
                    idempotency::finish(tx, fp, &stored(&body)?).await?;
                }
                Ok((Creation::New(body), Some(parent.venue_id)))
            }
            .boxed()
        })
        .await?;
    if let Some(venue_id) = venue_id {
        invalidate(state, tenant, event_id, venue_id).await;
    }
    Ok(creation)
}

/// `PUT /events/:id/schedules/:scheduleId`: partial, under an optimistic lock when `version`
/// is given (409 `VERSION_CONFLICT`).
pub async fn update(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    id: Uuid,
    fields: ScheduleFields,
) -> ApiResult<ScheduleOut> {
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
                fields.validate(Mode::Update, Some(&current.times())).map_err(ApiError::unprocessable)?;
                // Moving a sold show is the event's critical change (see event updates).
                let moves = fields.starts_at.is_some() || fields.ends_at.is_some() || fields.timezone.is_some();
                if moves {
                    let sold = crate::storage::pricing::sold_count(tx, event_id).await?;
                    if sold > 0 {
                        return Err(ApiError::forbidden("dates and time zone cannot change after tickets were sold")
                            .with_code("CRITICAL_FIELD_LOCKED"));
                    }
                }
                store::update(tx, id, &fields).await?;
                let schedule = store::find(tx, event_id, id).await?.ok_or_else(|| ApiError::not_found("Schedule"))?;
                Ok((schedule, parent.venue_id))
            }
            .boxed()
        })
        .await?;
    invalidate(state, tenant, event_id, venue_id).await;
    Ok(schedule)
}
