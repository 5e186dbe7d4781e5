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

/// Lists the capacity sections of an event.
#[utoipa::path(
    get, path = "/events/{event_id}/capacity", operation_id = "listSections", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("event_id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The event's sections.", body = crate::openapi::CapacityList),
        crate::openapi::ReadErrors,
    )
)]
async fn list(State(state): State<AppState>, user: AuthUser, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    let sections = service::list(&state, &user, path_uuid(&event_id, "Event")?).await?;
    Ok(Json(json!({ "capacity": sections })))
}

/// Sums the seats over all sections of an event.
#[utoipa::path(
    get, path = "/events/{event_id}/capacity/total", operation_id = "getCapacityTotals", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("event_id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The totals.", body = crate::openapi::CapacityTotals),
        crate::openapi::ReadErrors,
    )
)]
async fn totals(State(state): State<AppState>, user: AuthUser, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(service::totals(&state, &user, path_uuid(&event_id, "Event")?).await?))
}

/// Gets a capacity section.
#[utoipa::path(
    get, path = "/capacity/{id}", operation_id = "getSection", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The section.")),
    responses(
        (status = 200, description = "The section.", body = crate::openapi::CapacityEnvelope),
        crate::openapi::ReadErrors,
    )
)]
async fn get_one(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "capacity": service::get(&state, &user, path_uuid(&id, "Capacity section")?).await? })))
}

/// Adds a capacity section to an event.
///
/// All sections of the event must fit the venue (checked live with the venue-service). Needs
/// `events:update` and the event's creator or an admin.
#[utoipa::path(
    post, path = "/events/{event_id}/capacity", operation_id = "createSection", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("event_id" = Uuid, Path, description = "The event."), crate::openapi::IdempotencyKey),
    request_body(content = ref("#/components/schemas/SectionCreate"), content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = crate::openapi::CapacityEnvelope, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        crate::openapi::WriteErrors,
    )
)]
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

/// Changes a capacity section.
///
/// Availability is recomputed from the counters. Needs `events:update` and the event's
/// creator or an admin.
#[utoipa::path(
    put, path = "/capacity/{id}", operation_id = "updateSection", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The section.")),
    request_body(content = SectionFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated section.", body = crate::openapi::CapacityEnvelope),
        crate::openapi::WriteErrors,
    )
)]
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CapacityCheck)]
struct CheckRequest {
    #[schema(minimum = 1, maximum = 100)]
    quantity: i32,
    #[serde(default)]
    #[schema(max_items = 100)]
    seat_ids: Option<Vec<String>>,
}

/// Checks whether seats could be held now.
///
/// True when the section is active, has `quantity` seats and `quantity` is within its purchase
/// limits.
#[utoipa::path(
    post, path = "/capacity/{id}/check", operation_id = "checkSection", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The section.")),
    request_body(content = CheckRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The answer.", body = crate::openapi::CapacityCheckResult),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, response = crate::openapi::Unprocessable),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
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

/// Holds seats of a section.
///
/// While the event is on sale: one hold row, the seats taken atomically (409
/// `INSUFFICIENT_CAPACITY` when they are not there). Any user of the tenant.
#[utoipa::path(
    post, path = "/capacity/{id}/reserve", operation_id = "reserveSeats", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The section."), crate::openapi::IdempotencyKey),
    request_body(content = ReserveRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Held (or replayed for a repeated `Idempotency-Key`).",
            body = crate::openapi::ReserveResult, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        crate::openapi::WriteErrors,
    )
)]
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

/// Gets a hold.
#[utoipa::path(
    get, path = "/reservations/{id}", operation_id = "getReservation", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The hold.")),
    responses(
        (status = 200, description = "The hold.", body = crate::openapi::ReservationEnvelope),
        crate::openapi::ReadErrors,
    )
)]
async fn get_hold(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "reservation": service::get_hold(&state, &user, path_uuid(&id, "Reservation")?).await? })))
}

/// Marks a hold sold.
///
/// For the checkout, after payment: needs `tickets:confirm` and the hold's creator or an admin,
/// while the event can sell. Repeating a confirm is harmless.
#[utoipa::path(
    post, path = "/reservations/{id}/confirm", operation_id = "confirmReservation", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The hold.")),
    responses(
        (status = 200, description = "The confirmed hold.", body = crate::openapi::ReservationEnvelope),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn confirm(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let hold = service::finish_hold(&state, &user, path_uuid(&id, "Reservation")?, HoldEnd::Confirm).await?;
    Ok(Json(json!({ "reservation": hold })))
}

/// Releases a hold.
///
/// Gives its seats back: the hold's creator or an admin. Releasing twice (or an expired hold) is
/// harmless.
#[utoipa::path(
    post, path = "/reservations/{id}/release", operation_id = "releaseReservation", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The hold.")),
    responses(
        (status = 200, description = "The released hold.", body = crate::openapi::ReservationEnvelope),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn release(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let hold = service::finish_hold(&state, &user, path_uuid(&id, "Reservation")?, HoldEnd::Release).await?;
    Ok(Json(json!({ "reservation": hold })))
}

/// `DELETE /reservations/{id}` is routed to [`release`]; this item only documents it.
#[utoipa::path(
    delete, path = "/reservations/{id}", operation_id = "deleteReservation", tag = "capacity",
    summary = "Releases a hold (DELETE).",
    description = "The same as `POST /reservations/{id}/release`.",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The hold.")),
    responses(
        (status = 200, description = "The released hold.", body = crate::openapi::ReservationEnvelope),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
#[expect(dead_code, reason = "documentation only: the router sends DELETE to `release`")]
pub(crate) fn delete_hold_doc() {}

/// Cancels an event.
///
/// CANCELLED through the state machine, its sections closed, its active holds released and an
/// `event.cancelled` outbox record written, in one transaction. Needs `events:cancel` (or
/// `events:update`) and the event's creator or an admin.
#[utoipa::path(
    post, path = "/events/{event_id}/cancel", operation_id = "cancelEvent", tag = "capacity",
    security(("bearerAuth" = [])),
    params(("event_id" = Uuid, Path, description = "The event.")),
    request_body(content = crate::services::cancellation::CancelRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The cancelled event and what was done.", body = crate::openapi::CancelResult),
        crate::openapi::WriteErrors,
    )
)]
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
