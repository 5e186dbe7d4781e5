//! Capacity sections and holds: `/api/v1/events/:eventId/capacity`, `/api/v1/capacity/:id`,
//! `/api/v1/reservations/:id`.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::domain::cancellation::{CancelRequest, CancelResult};
use crate::domain::capacity::{
    CapacityCheckResult, CapacityEnvelope, CapacityList, CapacityTotals, CheckRequest, ReservationEnvelope,
    ReserveRequest, ReserveResult, SectionCreate, SectionFields,
};
use crate::error::{ApiError, ApiResult};
use crate::http::idempotency::{Created, IdempotencyKey, IdempotentJson};
use crate::http::json::Json as StrictJson;
use crate::http::path::{Event, Hold, Id, Section};
use crate::services::capacity as service;
use crate::state::AppState;
use crate::storage::capacity::HoldEnd;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(totals))
        .routes(routes!(get_one, update))
        .routes(routes!(check))
        .routes(routes!(reserve))
        .routes(routes!(get_hold, delete_hold))
        .routes(routes!(confirm))
        .routes(routes!(release))
        .routes(routes!(cancel))
}

/// Lists the capacity sections of an event.
#[utoipa::path(
    get, path = "/events/{id}/capacity", operation_id = "listSections", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The event's sections.", body = CapacityList),
        crate::http::problem::ReadErrors,
    )
)]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
) -> ApiResult<Json<CapacityList>> {
    let sections = service::list(&state, &user, event_id).await?;
    Ok(Json(CapacityList { capacity: sections }))
}

/// Sums the seats over all sections of an event.
#[utoipa::path(
    get, path = "/events/{id}/capacity/total", operation_id = "getCapacityTotals", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The totals.", body = CapacityTotals),
        crate::http::problem::ReadErrors,
    )
)]
async fn totals(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
) -> ApiResult<Json<CapacityTotals>> {
    Ok(Json(service::totals(&state, &user, event_id).await?))
}

/// Gets a capacity section.
#[utoipa::path(
    get, path = "/capacity/{id}", operation_id = "getSection", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Section>),
    responses(
        (status = 200, description = "The section.", body = CapacityEnvelope),
        crate::http::problem::ReadErrors,
    )
)]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Section>,
) -> ApiResult<Json<CapacityEnvelope>> {
    Ok(Json(CapacityEnvelope { capacity: service::get(&state, &user, id).await? }))
}

/// Adds a capacity section to an event.
///
/// All sections of the event must fit the venue (checked live with the venue-service). Needs
/// `events:update` and the event's creator or an admin.
#[utoipa::path(
    post, path = "/events/{id}/capacity", operation_id = "createSection", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Event>, IdempotencyKey),
    request_body(content = SectionCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = CapacityEnvelope, headers(
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
    body: IdempotentJson<SectionFields>,
) -> ApiResult<Created<CapacityEnvelope>> {
    user.require("events:update")?;
    let creation = service::create(&state, &user, event_id, body.value.clone(), body.fingerprint.clone()).await?;
    Ok(body.created(creation))
}

/// Changes a capacity section.
///
/// Availability is recomputed from the counters. Needs `events:update` and the event's
/// creator or an admin.
#[utoipa::path(
    put, path = "/capacity/{id}", operation_id = "updateSection", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Section>),
    request_body(content = SectionFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated section.", body = CapacityEnvelope),
        crate::http::problem::WriteErrors,
    )
)]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Section>,
    StrictJson(fields): StrictJson<SectionFields>,
) -> ApiResult<Json<CapacityEnvelope>> {
    user.require("events:update")?;
    let capacity = service::update(&state, &user, id, fields).await?;
    Ok(Json(CapacityEnvelope { capacity }))
}

/// Checks whether seats could be held now.
///
/// True when the section is active, has `quantity` seats and `quantity` is within its purchase
/// limits.
#[utoipa::path(
    post, path = "/capacity/{id}/check", operation_id = "checkSection", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Section>),
    request_body(content = CheckRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The answer.", body = CapacityCheckResult),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 413, response = crate::http::problem::PayloadTooLarge),
        (status = 415, response = crate::http::problem::UnsupportedMediaType),
        (status = 422, response = crate::http::problem::Unprocessable),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn check(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Section>,
    StrictJson(req): StrictJson<CheckRequest>,
) -> ApiResult<Json<CapacityCheckResult>> {
    req.validate().map_err(ApiError::unprocessable)?;
    Ok(Json(service::check(&state, &user, id, req.quantity).await?))
}

/// Holds seats of a section.
///
/// While the event is on sale: one hold row, the seats taken atomically (409
/// `INSUFFICIENT_CAPACITY` when they are not there). Any user of the tenant.
#[utoipa::path(
    post, path = "/capacity/{id}/reserve", operation_id = "reserveSeats", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Section>, IdempotencyKey),
    request_body(content = ReserveRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Held (or replayed for a repeated `Idempotency-Key`).",
            body = ReserveResult, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        crate::http::problem::WriteErrors,
    )
)]
async fn reserve(
    State(state): State<AppState>,
    user: AuthUser,
    Id(section, ..): Id<Section>,
    body: IdempotentJson<ReserveRequest>,
) -> ApiResult<Created<ReserveResult>> {
    let creation = service::reserve(&state, &user, section, body.value.clone(), body.fingerprint.clone()).await?;
    Ok(body.created(creation))
}

/// Gets a hold.
#[utoipa::path(
    get, path = "/reservations/{id}", operation_id = "getReservation", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Hold>),
    responses(
        (status = 200, description = "The hold.", body = ReservationEnvelope),
        crate::http::problem::ReadErrors,
    )
)]
async fn get_hold(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Hold>,
) -> ApiResult<Json<ReservationEnvelope>> {
    Ok(Json(ReservationEnvelope { reservation: service::get_hold(&state, &user, id).await? }))
}

/// Marks a hold sold.
///
/// For the checkout, after payment: needs `tickets:confirm` and the hold's creator or an admin,
/// while the event can sell. Repeating a confirm is harmless.
#[utoipa::path(
    post, path = "/reservations/{id}/confirm", operation_id = "confirmReservation", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Hold>),
    responses(
        (status = 200, description = "The confirmed hold.", body = ReservationEnvelope),
        crate::http::problem::ActionErrors,
    )
)]
async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Hold>,
) -> ApiResult<Json<ReservationEnvelope>> {
    let hold = service::finish_hold(&state, &user, id, HoldEnd::Confirm).await?;
    Ok(Json(ReservationEnvelope { reservation: hold }))
}

/// Releases a hold.
///
/// Gives its seats back: the hold's creator or an admin. Releasing twice (or an expired hold) is
/// harmless.
#[utoipa::path(
    post, path = "/reservations/{id}/release", operation_id = "releaseReservation", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Hold>),
    responses(
        (status = 200, description = "The released hold.", body = ReservationEnvelope),
        crate::http::problem::ActionErrors,
    )
)]
async fn release(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Hold>,
) -> ApiResult<Json<ReservationEnvelope>> {
    let hold = service::finish_hold(&state, &user, id, HoldEnd::Release).await?;
    Ok(Json(ReservationEnvelope { reservation: hold }))
}

/// `DELETE /reservations/{id}` releases a hold like `POST .../release` (the original served both).
#[utoipa::path(
    delete, path = "/reservations/{id}", operation_id = "deleteReservation", tag = "capacity",
    summary = "Releases a hold (DELETE).",
    description = "The same as `POST /reservations/{id}/release`.",
    security(("bearerAuth" = [])),
    params(Id<Hold>),
    responses(
        (status = 200, description = "The released hold.", body = ReservationEnvelope),
        crate::http::problem::ActionErrors,
    )
)]
async fn delete_hold(state: State<AppState>, user: AuthUser, id: Id<Hold>) -> ApiResult<Json<ReservationEnvelope>> {
    release(state, user, id).await
}

/// Cancels an event.
///
/// CANCELLED through the state machine, its sections closed, its active holds released and an
/// `event.cancelled` outbox record written, in one transaction. Needs `events:cancel` (or
/// `events:update`) and the event's creator or an admin.
#[utoipa::path(
    post, path = "/events/{id}/cancel", operation_id = "cancelEvent", tag = "capacity",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    request_body(content = CancelRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The cancelled event and what was done.", body = CancelResult),
        crate::http::problem::WriteErrors,
    )
)]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
    StrictJson(req): StrictJson<CancelRequest>,
) -> ApiResult<Json<CancelResult>> {
    user.require("events:cancel").or_else(|_| user.require("events:update"))?;
    let (event, cancellation) = crate::services::cancellation::cancel(&state, &user, event_id, req).await?;
    Ok(Json(CancelResult::new(event.for_caller(&user), cancellation)))
}
