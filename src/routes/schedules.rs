//! `/api/v1/events/:eventId/schedules`, compatible with the original's paths, snake_case
//! fields (those its handler read) and `{success, data}` envelopes.

use axum::Json;
use axum::extract::State;

use crate::auth::AuthUser;
use crate::domain::schedule::{
    EventSchedules, ScheduleCreate, ScheduleEnvelope, ScheduleFields, ScheduleListEnvelope, UpcomingSchedules,
};
use crate::error::{ApiError, ApiResult};
use crate::http::idempotency::{Created, IdempotencyKey, IdempotentJson};
use crate::http::json::Json as StrictJson;
use crate::http::path::{Event, Id, Ids, Schedule};
use crate::services::schedules as service;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

// The event segment is `{id}` as in the events router: one parameter name per position.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(upcoming))
        .routes(routes!(next))
        .routes(routes!(get_one, update))
}

/// Lists the schedules of an event.
///
/// Earliest first.
#[utoipa::path(
    get, path = "/events/{id}/schedules", operation_id = "listSchedules", tag = "schedules",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The event's schedules.", body = ScheduleListEnvelope),
        crate::http::problem::ReadErrors,
    )
)]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
) -> ApiResult<Json<ScheduleListEnvelope>> {
    let schedules = service::list(&state, user.tenant, event_id).await?;
    Ok(Json(ScheduleListEnvelope { success: true, data: EventSchedules { event_id, schedules } }))
}

/// Lists the upcoming schedules of an event.
///
/// Schedules that have not started yet, earliest first (at most 100).
#[utoipa::path(
    get, path = "/events/{id}/schedules/upcoming", operation_id = "listUpcomingSchedules", tag = "schedules",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The upcoming schedules.", body = UpcomingSchedules),
        crate::http::problem::ReadErrors,
    )
)]
async fn upcoming(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
) -> ApiResult<Json<UpcomingSchedules>> {
    let schedules = service::upcoming(&state, user.tenant, event_id, 100).await?;
    Ok(Json(UpcomingSchedules { success: true, data: schedules }))
}

/// Gets the next schedule of an event.
///
/// 404 when none is upcoming.
#[utoipa::path(
    get, path = "/events/{id}/schedules/next", operation_id = "getNextSchedule", tag = "schedules",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The next schedule.", body = ScheduleEnvelope),
        crate::http::problem::ReadErrors,
    )
)]
async fn next(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
) -> ApiResult<Json<ScheduleEnvelope>> {
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
    params(Ids<Event, Schedule>),
    responses(
        (status = 200, description = "The schedule.", body = ScheduleEnvelope),
        crate::http::problem::ReadErrors,
    )
)]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Ids(event_id, id, ..): Ids<Event, Schedule>,
) -> ApiResult<Json<ScheduleEnvelope>> {
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
    params(Id<Event>, IdempotencyKey),
    request_body(content = ScheduleCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = ScheduleEnvelope, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        crate::http::problem::WriteErrors,
    )
)]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
    body: IdempotentJson<ScheduleFields>,
) -> ApiResult<Created<ScheduleEnvelope>> {
    user.require("events:update")?;
    let creation = service::create(&state, &user, event_id, body.value.clone(), body.fingerprint.clone()).await?;
    Ok(body.created(creation))
}

/// Updates a schedule.
///
/// A partial update under an optimistic lock (`version`); a sold show cannot move (403
/// `CRITICAL_FIELD_LOCKED`). Needs `events:update` and the event's creator or an admin.
#[utoipa::path(
    put, path = "/events/{id}/schedules/{schedule_id}", operation_id = "updateSchedule", tag = "schedules",
    security(("bearerAuth" = [])),
    params(Ids<Event, Schedule>),
    request_body(content = ScheduleFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated schedule.", body = ScheduleEnvelope),
        crate::http::problem::WriteErrors,
    )
)]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Ids(event_id, id, ..): Ids<Event, Schedule>,
    StrictJson(fields): StrictJson<ScheduleFields>,
) -> ApiResult<Json<ScheduleEnvelope>> {
    user.require("events:update")?;
    let schedule = service::update(&state, &user, event_id, id, fields).await?;
    Ok(Json(ScheduleEnvelope::of(schedule)))
}
