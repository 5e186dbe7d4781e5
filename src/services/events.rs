//! Event use cases: the rules between the HTTP surface and storage.

use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::clients::venue::{Venue, VenueError};
use crate::domain::Mode;
use crate::domain::event::{EventFields, slug};
use crate::domain::event_out::{EventEnvelope, EventOut};
use crate::domain::messages::{self, Changes, Origin};
use crate::domain::{EventAction, EventStatus, TenantId};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::services::{Creation, stored};
use crate::state::AppState;
use crate::storage::event_outbox;
use crate::storage::events::{self as store, ListFilter, NewEvent};
use crate::storage::idempotency::{self, Fingerprint, StoredResponse};

/// Cached single events live this long; every write that changes one deletes it at once.
const EVENT_TTL: Duration = Duration::from_secs(300);
const VENUE_LIST_TTL: Duration = Duration::from_secs(60);

/// The cache key of one event (its GET embeds schedule and availability).
pub fn event_key(id: Uuid) -> String {
    format!("event:{id}")
}

/// The cache key naming a venue's event lists: its generation (`<key>:gen`) is part of every
/// page's key, so invalidating all pages is one `INCR` (`Cache::delete`), never a walk of the
/// keyspace, whatever other tenants store.
pub fn venue_events_key(venue_id: Uuid) -> String {
    format!("venue:{venue_id}:events")
}

/// The event in its full form (callers shape it with [`EventOut::for_caller`]); cached for all
/// users of the tenant.
pub async fn get(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<EventOut> {
    if let Some(cached) = state.cache.get_json::<EventOut>(tenant, &event_key(id)).await {
        return Ok(cached);
    }
    load(state, tenant, id).await
}

/// `GET /events/:id`'s body for `user`, as JSON bytes. An admin sees the full form, which is
/// what the cache holds: a hit is passed on as stored, neither parsed nor re-serialised.
/// Everyone else gets the event redacted by type ([`EventOut::for_caller`]).
pub async fn get_envelope_json(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Vec<u8>> {
    let event = match state.cache.get_bytes_hot(user.tenant, &event_key(id)).await {
        Some(cached) if user.is_admin() => return Ok(envelope_bytes(&cached)),
        Some(cached) => match serde_json::from_slice::<EventOut>(&cached) {
            Ok(event) => event,
            // An older shape: read it afresh (`get` drops the unreadable copy).
            Err(_) => get(state, user.tenant, id).await?,
        },
        None => load(state, user.tenant, id).await?,
    };
    serde_json::to_vec(&EventEnvelope { event: event.for_caller(user) }).map_err(ApiError::internal)
}

/// `{"event": <bytes>}` around an event's JSON.
fn envelope_bytes(event: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() + 10);
    out.extend_from_slice(b"{\"event\":");
    out.extend_from_slice(event);
    out.push(b'}');
    out
}

/// Reads the event from Postgres and caches it, unless an invalidation raced the read.
async fn load(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<EventOut> {
    let generation = state.cache.generation(tenant, &event_key(id)).await;
    let event = state
        .db
        .read_call(tenant, move |call| store::find_on(call, id).boxed())
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    if let Some(generation) = generation {
        state.cache.set_json_guarded(tenant, &event_key(id), &event, EVENT_TTL, &generation).await;
    }
    Ok(event)
}

pub async fn list(state: &AppState, tenant: TenantId, filter: ListFilter) -> ApiResult<(Vec<EventOut>, i64)> {
    state
        .db
        .read(tenant, move |tx| {
            let filter = filter.clone();
            async move { store::list(tx, &filter).await }.boxed()
        })
        .await
}

/// Venue lists are cached per page under the list's current generation; any change to an event
/// of the venue moves the generation on, so older pages are never read again (they expire).
pub async fn list_for_venue(state: &AppState, tenant: TenantId, filter: ListFilter) -> ApiResult<(Vec<EventOut>, i64)> {
    let venue_id = filter.venue_id.unwrap_or_default();
    // Redis unavailable: no generation, so no caching (never a page that may be stale).
    let Some(generation) = state.cache.generation(tenant, &venue_events_key(venue_id)).await else {
        return list(state, tenant, filter).await;
    };
    let key = format!(
        "{}:g{generation}:{}:{}:{}",
        venue_events_key(venue_id),
        filter.status.map(EventStatus::as_str).unwrap_or("all"),
        filter.limit,
        filter.offset
    );
    if let Some((events, total)) = state.cache.get_json::<(Vec<EventOut>, i64)>(tenant, &key).await {
        return Ok((events, total));
    }
    let page = list(state, tenant, filter).await?;
    state.cache.set_json(tenant, &key, &page, VENUE_LIST_TTL).await;
    Ok(page)
}

/// Looks the venue up for a write; fails closed when it cannot be verified.
pub async fn verify_venue(state: &AppState, tenant: TenantId, venue_id: Uuid) -> ApiResult<Venue> {
    match state.venues.venue(tenant, venue_id).await {
        Ok(v) if v.active => Ok(v),
        Ok(_) => {
            Err(ApiError::unprocessable(vec![FieldError::new("venue_id", "VENUE_INACTIVE", "the venue is not active")]))
        }
        Err(VenueError::NotFound) => Err(ApiError::unprocessable(vec![FieldError::new(
            "venue_id",
            "VENUE_NOT_FOUND",
            "no such venue in this tenant",
        )])),
        Err(VenueError::Forbidden) => Err(ApiError::forbidden("access to this venue is forbidden")),
        Err(VenueError::Unavailable { retry_after }) => Err(ApiError::unavailable(
            "VENUE_SERVICE_UNAVAILABLE",
            "The venue could not be verified; try again later",
            retry_after,
        )),
    }
}

/// `POST /events`: one transaction writes the event with everything that belongs to it and,
/// with an `Idempotency-Key`, the stored response.
/// A stored response for a retried creation, checked before anything that could judge the
/// retry differently from the first attempt (the clock, the venue-service).
pub async fn stored_response(
    state: &AppState,
    tenant: TenantId,
    idem: Option<&Fingerprint>,
) -> ApiResult<Option<StoredResponse>> {
    let Some(fp) = idem.cloned() else { return Ok(None) };
    state
        .db
        .read(tenant, move |tx| {
            let fp = fp.clone();
            async move { idempotency::lookup(tx, &fp).await }.boxed()
        })
        .await
}

pub async fn create(
    state: &AppState,
    user: &AuthUser,
    fields: EventFields,
    idem: Option<Fingerprint>,
) -> ApiResult<Creation<EventEnvelope>> {
    if let Some(stored) = stored_response(state, user.tenant, idem.as_ref()).await? {
        return Ok(Creation::Replayed(stored));
    }
    // Royalty and wallet fields queue an on-chain registration paid by the platform wallet and
    // direct money: they need their own permission, not just `events:create`.
    if fields.artist_wallet.is_some() || fields.artist_percentage.is_some() || fields.venue_percentage.is_some() {
        user.require("events:royalties")?;
    }
    let timing =
        fields.validate(Mode::Create, state.config.event_rules, Utc::now()).map_err(ApiError::unprocessable)?;
    let tenant = user.tenant;
    let venue_id = fields.venue_id.unwrap_or_default();
    let venue = verify_venue(state, tenant, venue_id).await?;
    let timezone = fields
        .timezone
        .clone()
        .or_else(|| venue.timezone.clone().filter(|tz| tz.parse::<chrono_tz::Tz>().is_ok()))
        .unwrap_or_else(|| "UTC".to_owned());
    if let (Some(cap), Some(max)) = (fields.capacity, venue.max_capacity)
        && i64::from(cap) > max
    {
        return Err(ApiError::unprocessable(vec![FieldError::new(
            "capacity",
            "EXCEEDS_VENUE_CAPACITY",
            format!("must not exceed the venue's capacity of {max}"),
        )]));
    }
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let name = fields.name.clone().unwrap_or_default().trim().to_owned();
    let local_date = timing.map(|t| t.starts_at.with_timezone(&tz).date_naive());
    let slug = slug(&name, local_date);
    let needs_registration = timing.is_some() && fields.artist_wallet.is_some();
    let creator = user.clone();

    let creation = state
        .db
        .write(tenant, move |tx| {
            let (fields, idem, name, slug, timezone, creator) =
                (fields.clone(), idem.clone(), name.clone(), slug.clone(), timezone.clone(), creator.clone());
            async move {
                let user_id = &creator.user_id;
                if let Some(fp) = &idem
                    && let Some(stored) = idempotency::begin(tx, fp).await?
                {
                    return Ok(Creation::Replayed(stored));
                }
                if let Some(t) = timing
                    && let (day_start, day_end) = crate::domain::event::local_day(t.starts_at, &timezone)
                    && store::duplicate_exists(tx, venue_id, &name, day_start, day_end).await?
                {
                    return Err(ApiError::conflict(
                        "DUPLICATE_EVENT",
                        "An event with this name already exists at this venue on this date",
                    ));
                }
                let new = NewEvent {
                    fields: &fields,
                    venue_id,
                    name: &name,
                    slug: &slug,
                    timezone: &timezone,
                    timing,
                    created_by: user_id,
                    needs_registration,
                };
                let id = store::insert(tx, &new).await?;
                let event = store::find(tx, id).await?.ok_or_else(|| ApiError::not_found("Event"))?;
                let origin = Origin { tenant: tx.tenant(), actor: user_id, at: Utc::now() };
                event_outbox::enqueue(tx, id, &messages::created(&origin, &event)).await?;
                let body = EventEnvelope { event: event.for_caller(&creator) };
                if let Some(fp) = &idem {
                    idempotency::finish(tx, fp, &stored(&body)?).await?;
                }
                Ok(Creation::New(body))
            }
            .boxed()
        })
        .await?;
    if matches!(creation, Creation::New(_)) {
        state.cache.delete(tenant, &[&venue_events_key(venue_id)]).await;
    }
    Ok(creation)
}

fn ensure_owner_or_admin(user: &AuthUser, created_by: Option<&str>) -> ApiResult<()> {
    if user.is_admin() || created_by == Some(user.user_id.as_str()) {
        Ok(())
    } else {
        Err(ApiError::forbidden("only the event's creator or an admin may change it"))
    }
}

/// Does an update change anything besides the status (and the optimistic-lock version)?
fn fields_other_than_status(f: &EventFields) -> bool {
    let mut rest = f.clone();
    rest.status = None;
    rest.version = None;
    serde_json::to_value(&rest).map(|v| v.as_object().is_some_and(|o| o.values().any(|v| !v.is_null()))).unwrap_or(true)
}

/// `PUT`/`PATCH /events/:id`: a partial update under an optimistic lock.
pub async fn update(state: &AppState, user: &AuthUser, id: Uuid, fields: EventFields) -> ApiResult<EventOut> {
    if let Some(target) = fields.status {
        // Cancelling has effects beyond the status (holds, sections, refunds outbox): only
        // the cancel route performs them. Other status changes are publishing decisions.
        if target == EventStatus::Cancelled {
            return Err(ApiError::conflict("USE_CANCEL_ROUTE", "cancel an event with POST /api/v1/events/{id}/cancel"));
        }
        user.require("events:publish")?;
    }
    let timing =
        fields.validate(Mode::Update, state.config.event_rules, Utc::now()).map_err(ApiError::unprocessable)?;
    let tenant = user.tenant;
    if let Some(venue_id) = fields.venue_id {
        verify_venue(state, tenant, venue_id).await?;
    }
    let actor = user.clone();
    let (event, old_venue) = state
        .db
        .write(tenant, move |tx| {
            let (fields, actor) = (fields.clone(), actor.clone());
            async move {
                let current = store::lock(tx, id).await?;
                ensure_owner_or_admin(&actor, current.created_by.as_deref())?;
                if let Some(expected) = fields.version
                    && expected != current.version
                {
                    return Err(ApiError::conflict(
                        "VERSION_CONFLICT",
                        format!("the event is at version {}, not {expected}; reload and retry", current.version),
                    ));
                }
                if current.status.is_terminal() {
                    return Err(ApiError::conflict(
                        "INVALID_EVENT_STATE",
                        format!("a {} event cannot be modified", current.status),
                    ));
                }
                // Field changes follow the declared policy (DRAFT..PUBLISHED); a status-only
                // request is a lifecycle action and is judged by the state machine below.
                if fields_other_than_status(&fields) && !current.status.allows_modification() {
                    return Err(ApiError::conflict(
                        "INVALID_EVENT_STATE",
                        format!("an event in state {} can no longer be modified", current.status),
                    ));
                }
                let critical = fields.venue_id.is_some_and(|v| v != current.venue_id)
                    || timing.is_some()
                    || fields.timezone.is_some();
                if critical && current.sold > 0 {
                    return Err(ApiError::forbidden(
                        "venue, dates and time zone cannot change after tickets were sold",
                    )
                    .with_code("CRITICAL_FIELD_LOCKED"));
                }
                // The slug is the name plus the local start date, as at creation; one UPDATE, so
                // the version moves by one.
                let slug = if fields.name.is_some() || timing.is_some() || fields.timezone.is_some() {
                    let (name, tz) = (fields.name.as_deref(), fields.timezone.as_deref());
                    Some(store::slug_for(tx, id, name, tz, timing.map(|t| t.starts_at)).await?)
                } else {
                    None
                };
                store::update(tx, id, &fields, slug.as_deref(), &actor.user_id).await?;
                if let Some(t) = timing {
                    store::set_timing(tx, id, t, fields.timezone.as_deref().unwrap_or("UTC")).await?;
                }
                if let Some(target) = fields.status
                    && target != current.status
                {
                    let action = current.status.action_to(target).ok_or_else(|| {
                        ApiError::conflict(
                            "INVALID_EVENT_STATE",
                            format!("cannot move from {} to {target}", current.status),
                        )
                    })?;
                    if !store::transition(tx, id, current.status, action, None, &actor.user_id).await? {
                        return Err(ApiError::conflict("CONCURRENT_UPDATE", "the event changed meanwhile; retry"));
                    }
                }
                let event = store::find(tx, id).await?.ok_or_else(|| ApiError::not_found("Event"))?;
                let origin = Origin { tenant: tx.tenant(), actor: &actor.user_id, at: Utc::now() };
                event_outbox::enqueue(tx, id, &messages::updated(&origin, id, &changes_of(&fields))).await?;
                Ok((event, current.venue_id))
            }
            .boxed()
        })
        .await?;
    invalidate(state, tenant, id, &[old_venue, event.venue_id]).await;
    Ok(event)
}

/// What an update request changed, as `event.updated` reports it.
fn changes_of(f: &EventFields) -> Changes {
    Changes {
        name: f.name.as_ref().map(|n| n.trim().to_owned()),
        description: f.short_description.clone().or_else(|| f.description.clone()),
        status: f.status.map(|s| s.as_str().to_owned()),
        tags: f.tags.clone(),
        is_featured: f.is_featured,
    }
}

async fn invalidate(state: &AppState, tenant: TenantId, id: Uuid, venues: &[Uuid]) {
    state.cache.delete(tenant, &[&event_key(id)]).await;
    let mut seen = Vec::new();
    for venue in venues {
        if !seen.contains(venue) {
            seen.push(*venue);
            state.cache.delete(tenant, &[&venue_events_key(*venue)]).await;
        }
    }
}

/// Runs one state-machine action (publish and friends).
pub async fn act(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    action: EventAction,
    reason: Option<String>,
) -> ApiResult<EventOut> {
    let tenant = user.tenant;
    let (actor, user) = (user.user_id.clone(), user.clone());
    let event = state
        .db
        .write(tenant, move |tx| {
            let (actor, reason, user) = (actor.clone(), reason.clone(), user.clone());
            async move {
                let current = store::lock(tx, id).await?;
                // The same rule as update, delete and cancel (the original let anyone publish).
                ensure_owner_or_admin(&user, current.created_by.as_deref())?;
                if current.status.apply(action).is_none() {
                    return Err(store::invalid_transition(current.status, action));
                }
                store::transition(tx, id, current.status, action, reason.as_deref(), &actor).await?;
                let event = store::find(tx, id).await?.ok_or_else(|| ApiError::not_found("Event"))?;
                if action == EventAction::Publish {
                    let origin = Origin { tenant: tx.tenant(), actor: &actor, at: Utc::now() };
                    event_outbox::enqueue(tx, id, &messages::published(&origin, &event)).await?;
                }
                Ok(event)
            }
            .boxed()
        })
        .await?;
    invalidate(state, tenant, id, &[event.venue_id]).await;
    Ok(event)
}

/// `DELETE /events/:id`: soft delete, only where the machine allows it and nothing was sold.
pub async fn delete(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<()> {
    let tenant = user.tenant;
    let actor = user.clone();
    let venue = state
        .db
        .write(tenant, move |tx| {
            let actor = actor.clone();
            async move {
                let current = store::lock(tx, id).await?;
                ensure_owner_or_admin(&actor, current.created_by.as_deref())?;
                if !current.status.allows_deletion() || current.sold > 0 {
                    return Err(ApiError::conflict(
                        "INVALID_EVENT_STATE",
                        format!("an event in state {} with {} sold cannot be deleted", current.status, current.sold),
                    ));
                }
                if current.status != EventStatus::Cancelled {
                    store::transition(tx, id, current.status, EventAction::Cancel, Some("deleted"), &actor.user_id)
                        .await?;
                }
                store::soft_delete(tx, id, &actor.user_id).await?;
                let origin = Origin { tenant: tx.tenant(), actor: &actor.user_id, at: Utc::now() };
                event_outbox::enqueue(tx, id, &messages::deleted(&origin, id)).await?;
                Ok(current.venue_id)
            }
            .boxed()
        })
        .await?;
    invalidate(state, tenant, id, &[venue]).await;
    Ok(())
}
