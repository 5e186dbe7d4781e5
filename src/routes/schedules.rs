//! `/api/v1/events/:eventId/schedules`, compatible with the original's paths, snake_case
//! fields (those its handler read) and `{success, data}` envelopes.

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::AuthUser;
use crate::domain::schedule::{
    EventSchedules, ScheduleEnvelope, ScheduleFields, ScheduleListEnvelope, UpcomingSchedules,
};
use crate::error::{ApiError, ApiResult};
use crate::http::json::{HashedJson, Json as StrictJson};
use crate::http::query::path_uuid;
use crate::routes::events::{created_response, fingerprint};
use crate::services::schedules as service;
use crate::state::AppState;

// The event segment is `{id}` as in the events router: one parameter name per position.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{id}/schedules", get(list).post(create))
        .route("/events/{id}/schedules/upcoming", get(upcoming))
        .route("/events/{id}/schedules/next", get(next))
        .route("/events/{id}/schedules/{schedule_id}", get(get_one).put(update))
}

/// Lists the schedules of an event.
///
/// Earliest first.
#[utoipa::path(
    get, path = "/events/{id}/schedules", operation_id = "listSchedules", tag = "schedules",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The event's schedules.", body = ScheduleListEnvelope),
        crate::openapi::ReadErrors,
    )
)]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<String>,
) -> ApiResult<Json<ScheduleListEnvelope>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let schedules = service::list(&state, user.tenant, event_id).await?;
    Ok(Json(ScheduleListEnvelope { success: true, data: EventSchedules { event_id, schedules } }))
}

/// Lists the upcoming schedules of an event.
///
/// Schedules that have not started yet, earliest first (at most 100).
#[utoipa::path(
    get, path = "/events/{id}/schedules/upcoming", operation_id = "listUpcomingSchedules", tag = "schedules",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The upcoming schedules.", body = UpcomingSchedules),
        crate::openapi::ReadErrors,
    )
)]
async fn upcoming(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<String>,
) -> ApiResult<Json<UpcomingSchedules>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let schedules = service::upcoming(&state, user.tenant, event_id, 100).await?;
    Ok(Json(UpcomingSchedules { success: true, data: schedules }))
}

/// Gets the next schedule of an event.
///
/// 404 when none is upcoming.
#[utoipa::path(
    get, path = "/events/{id}/schedules/next", operation_id = "getNextSchedule", tag = "schedules",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The next schedule.", body = ScheduleEnvelope),
        crate::openapi::ReadErrors,
    )
)]
async fn next(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<String>,
) -> ApiResult<Json<ScheduleEnvelope>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let next = service::upcoming(&state, user.tenant, event_id, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("Upcoming schedule"))?;
    Ok(Json(ScheduleEnvelope::of(next)))
}

/// Gets a schedule.
#[utoipa::path(
    get, path = "/events/{id}/schedules/{schedule_id}", operation_id = "getSchedule", tag = "schedules",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event."), ("schedule_id" = Uuid, Path, description = "The schedule.")),
    responses(
        (status = 200, description = "The schedule.", body = ScheduleEnvelope),
        crate::openapi::ReadErrors,
    )
)]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path((event_id, id)): Path<(String, String)>,
) -> ApiResult<Json<ScheduleEnvelope>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let id = path_uuid(&id, "Schedule")?;
    let schedule = service::get(&state, user.tenant, event_id, id).await?;
    Ok(Json(ScheduleEnvelope::of(schedule)))
}

/// Adds a schedule to an event.
///
/// Its time zone defaults to the event's. Needs `events:update` and the event's creator or an
/// admin, on an event that is not finished.
#[utoipa::path(
    post, path = "/events/{id}/schedules", operation_id = "createSchedule", tag = "schedules",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event."), crate::openapi::IdempotencyKey),
    request_body(content = ref("#/components/schemas/ScheduleCreate"), content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = ScheduleEnvelope, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        crate::openapi::WriteErrors,
    )
)]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: HashedJson<ScheduleFields>,
) -> ApiResult<Response> {
    user.require("events:update")?;
    let event_id = path_uuid(&event_id, "Event")?;
    let fp = fingerprint(&headers, &uri, &user, &body.hash)?;
    let key = fp.as_ref().map(|f| f.key.clone());
    let created = service::create(&state, &user, event_id, body.value, fp).await?;
    Ok(created_response(created.status, created.body, created.replayed, key.as_deref()))
}

/// Updates a schedule.
///
/// A partial update under an optimistic lock (`version`); a sold show cannot move (403
/// `CRITICAL_FIELD_LOCKED`). Needs `events:update` and the event's creator or an admin.
#[utoipa::path(
    put, path = "/events/{id}/schedules/{schedule_id}", operation_id = "updateSchedule", tag = "schedules",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event."), ("schedule_id" = Uuid, Path, description = "The schedule.")),
    request_body(content = ScheduleFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated schedule.", body = ScheduleEnvelope),
        crate::openapi::WriteErrors,
    )
)]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path((event_id, id)): Path<(String, String)>,
    StrictJson(fields): StrictJson<ScheduleFields>,
) -> ApiResult<Json<ScheduleEnvelope>> {
    user.require("events:update")?;
    let event_id = path_uuid(&event_id, "Event")?;
    let id = path_uuid(&id, "Schedule")?;
    let schedule = service::update(&state, &user, event_id, id, fields).await?;
    Ok(Json(ScheduleEnvelope::of(schedule)))
}
