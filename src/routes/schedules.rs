//! `/api/v1/events/:eventId/schedules`, compatible with the original's paths, snake_case
//! fields (those its handler read) and `{success, data}` envelopes.

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::http::json::{HashedJson, Json as StrictJson};
use crate::http::query::path_uuid;
use crate::routes::events::{created_response, fingerprint};
use crate::services::schedules::{self as service, ScheduleFields};
use crate::state::AppState;

// The event segment is `{id}` as in the events router: one parameter name per position.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{id}/schedules", get(list).post(create))
        .route("/events/{id}/schedules/upcoming", get(upcoming))
        .route("/events/{id}/schedules/next", get(next))
        .route("/events/{id}/schedules/{schedule_id}", get(get_one).put(update))
}

async fn list(State(state): State<AppState>, user: AuthUser, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let schedules = service::list(&state, user.tenant, event_id).await?;
    Ok(Json(json!({ "success": true, "data": { "event_id": event_id, "schedules": schedules } })))
}

async fn upcoming(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let schedules = service::upcoming(&state, user.tenant, event_id, 100).await?;
    Ok(Json(json!({ "success": true, "data": schedules })))
}

async fn next(State(state): State<AppState>, user: AuthUser, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let next = service::upcoming(&state, user.tenant, event_id, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("Upcoming schedule"))?;
    Ok(Json(json!({ "success": true, "data": next })))
}

async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path((event_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let id = path_uuid(&id, "Schedule")?;
    let schedule = service::get(&state, user.tenant, event_id, id).await?;
    Ok(Json(json!({ "success": true, "data": schedule })))
}

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

async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path((event_id, id)): Path<(String, String)>,
    StrictJson(fields): StrictJson<ScheduleFields>,
) -> ApiResult<Json<Value>> {
    user.require("events:update")?;
    let event_id = path_uuid(&event_id, "Event")?;
    let id = path_uuid(&id, "Schedule")?;
    let schedule = service::update(&state, &user, event_id, id, fields).await?;
    Ok(Json(json!({ "success": true, "data": schedule })))
}
