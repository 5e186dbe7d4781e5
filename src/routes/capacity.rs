//! Capacity sections and holds: `/api/v1/events/:eventId/capacity`, `/api/v1/capacity/:id`,
//! `/api/v1/reservations/:id`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::json::{HashedJson, Json as StrictJson};
use crate::http::query::path_uuid;
use crate::routes::events::{created_response, fingerprint};
use crate::services::capacity::{self as service, ReserveRequest, SectionFields};
use crate::services::events::present;
use crate::state::AppState;
use crate::storage::capacity::HoldEnd;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{event_id}/capacity", get(list).post(create))
        .route("/events/{event_id}/capacity/total", get(totals))
        .route("/capacity/{id}", get(get_one).put(update))
        .route("/capacity/{id}/check", post(check))
        .route("/capacity/{id}/reserve", post(reserve))
        .route("/reservations/{id}", get(get_hold).delete(release))
        .route("/reservations/{id}/confirm", post(confirm))
        .route("/reservations/{id}/release", post(release))
        .route("/events/{event_id}/cancel", post(cancel))
}

async fn list(State(state): State<AppState>, user: AuthUser, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    let sections = service::list(&state, &user, path_uuid(&event_id, "Event")?).await?;
    Ok(Json(json!({ "capacity": sections })))
}

async fn totals(State(state): State<AppState>, user: AuthUser, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(service::totals(&state, &user, path_uuid(&event_id, "Event")?).await?))
}

async fn get_one(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "capacity": service::get(&state, &user, path_uuid(&id, "Capacity section")?).await? })))
}

async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(event_id): Path<String>,
    body: HashedJson<SectionFields>,
) -> ApiResult<Response> {
    user.require("events:update")?;
    let event_id = path_uuid(&event_id, "Event")?;
    let fp = fingerprint(&headers, &uri, &user, &body.hash)?;
    let key = fp.as_ref().map(|f| f.key.clone());
    let (response, replayed) = service::create(&state, &user, event_id, body.value, fp).await?;
    Ok(created_response(response.status, response.body, replayed, key.as_deref()))
}

async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    StrictJson(fields): StrictJson<SectionFields>,
) -> ApiResult<Json<Value>> {
    user.require("events:update")?;
    let section = service::update(&state, &user, path_uuid(&id, "Capacity section")?, fields).await?;
    Ok(Json(json!({ "capacity": section })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    quantity: i32,
    #[serde(default)]
    seat_ids: Option<Vec<String>>,
}

async fn check(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    StrictJson(req): StrictJson<CheckRequest>,
) -> ApiResult<Json<Value>> {
    if !(1..=100).contains(&req.quantity) {
        return Err(ApiError::unprocessable(vec![FieldError::new(
            "quantity",
            "INVALID_RANGE",
            "must be between 1 and 100",
        )]));
    }
    if req.seat_ids.as_ref().is_some_and(|s| s.len() > 100) {
        return Err(ApiError::unprocessable(vec![FieldError::new("seat_ids", "TOO_MANY_ITEMS", "at most 100")]));
    }
    Ok(Json(service::check(&state, &user, path_uuid(&id, "Capacity section")?, req.quantity).await?))
}

async fn reserve(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(id): Path<String>,
    body: HashedJson<ReserveRequest>,
) -> ApiResult<Response> {
    let section = path_uuid(&id, "Capacity section")?;
    let fp = fingerprint(&headers, &uri, &user, &body.hash)?;
    let key = fp.as_ref().map(|f| f.key.clone());
    let (response, replayed) = service::reserve(&state, &user, section, body.value, fp).await?;
    Ok(created_response(response.status, response.body, replayed, key.as_deref()))
}

async fn get_hold(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "reservation": service::get_hold(&state, &user, path_uuid(&id, "Reservation")?).await? })))
}

async fn confirm(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let hold = service::finish_hold(&state, &user, path_uuid(&id, "Reservation")?, HoldEnd::Confirm).await?;
    Ok(Json(json!({ "reservation": hold })))
}

async fn release(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let hold = service::finish_hold(&state, &user, path_uuid(&id, "Reservation")?, HoldEnd::Release).await?;
    Ok(Json(json!({ "reservation": hold })))
}

async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<String>,
    StrictJson(req): StrictJson<crate::services::cancellation::CancelRequest>,
) -> ApiResult<Json<Value>> {
    user.require("events:cancel").or_else(|_| user.require("events:update"))?;
    let mut result = crate::services::cancellation::cancel(&state, &user, path_uuid(&event_id, "Event")?, req).await?;
    let event = present(result["event"].take(), &user);
    Ok(Json(json!({
        "success": true,
        "data": { "event": event, "cancellation": result["cancellation"].take() },
        "message": "Event cancelled",
    })))
}
