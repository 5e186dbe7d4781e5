//! `/api/v1/events/:eventId/pricing`, `/api/v1/pricing/:id` and the ticket-type facade
//! `/api/v1/events/:eventId/ticket-types`, compatible with the original's paths, snake_case
//! fields and envelopes (`{pricing}`, `{success, data}`).
//!
//! Money in responses is always a 2-decimal **string** (`"49.99"`); requests accept numbers
//! or numeric strings (see `domain::pricing`).

use axum::Json;
use axum::extract::State;

use crate::auth::AuthUser;
use crate::domain::pricing::{
    CalculateBody, PricingCreate, PricingEnvelope, PricingFields, PricingList, Quote, TicketTypeCreate,
    TicketTypeEnvelope, TicketTypeFields, TicketTypeList, TierEnvelope,
};
use crate::error::{ApiError, ApiResult};
use crate::http::idempotency::{Created, IdempotencyKey, IdempotentJson};
use crate::http::json::Json as StrictJson;
use crate::http::path::{Event, Id, Ids, Pricing, TicketType};
use crate::services::pricing::{self as service, Surface};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

// The event segment is `{id}` as in the events router: one parameter name per position.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(active))
        .routes(routes!(get_one, update))
        .routes(routes!(calculate))
        .routes(routes!(list_ticket_types, create_ticket_type))
        .routes(routes!(update_ticket_type))
}

/// Lists the price tiers of an event.
#[utoipa::path(
    get, path = "/events/{id}/pricing", operation_id = "listPricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The event's tiers.", body = PricingList),
        crate::http::problem::ReadErrors,
    )
)]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
) -> ApiResult<Json<PricingList>> {
    let tiers = service::list(&state, user.tenant, event_id, false).await?;
    Ok(Json(PricingList { pricing: tiers }))
}

/// Lists the active price tiers of an event.
#[utoipa::path(
    get, path = "/events/{id}/pricing/active", operation_id = "listActivePricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The event's active tiers.", body = PricingList),
        crate::http::problem::ReadErrors,
    )
)]
async fn active(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
) -> ApiResult<Json<PricingList>> {
    let tiers = service::list(&state, user.tenant, event_id, true).await?;
    Ok(Json(PricingList { pricing: tiers }))
}

/// Gets a price tier.
#[utoipa::path(
    get, path = "/pricing/{id}", operation_id = "getPricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(Id<Pricing>),
    responses(
        (status = 200, description = "The tier.", body = PricingEnvelope),
        crate::http::problem::ReadErrors,
    )
)]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Pricing>,
) -> ApiResult<Json<PricingEnvelope>> {
    let pricing = service::get(&state, user.tenant, id).await?;
    Ok(Json(PricingEnvelope { pricing }))
}

/// Adds a price tier to an event.
///
/// Needs `events:update` and the event's creator or an admin.
#[utoipa::path(
    post, path = "/events/{id}/pricing", operation_id = "createPricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(Id<Event>, IdempotencyKey),
    request_body(content = PricingCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = PricingEnvelope, headers(
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
    body: IdempotentJson<PricingFields>,
) -> ApiResult<Created<TierEnvelope>> {
    user.require("events:update")?;
    let (fields, fingerprint) = (body.value.clone(), body.fingerprint.clone());
    let creation = service::create(&state, &user, event_id, fields, fingerprint, Surface::Pricing).await?;
    Ok(body.created(creation))
}

/// Updates a price tier.
///
/// A partial update under an optimistic lock (`version`); `current_price` follows a new
/// `base_price` unless the tier is dynamic. Needs `events:update` and the event's creator or an
/// admin.
#[utoipa::path(
    put, path = "/pricing/{id}", operation_id = "updatePricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(Id<Pricing>),
    request_body(content = PricingFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated tier.", body = PricingEnvelope),
        crate::http::problem::WriteErrors,
    )
)]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Pricing>,
    StrictJson(fields): StrictJson<PricingFields>,
) -> ApiResult<Json<PricingEnvelope>> {
    user.require("events:update")?;
    let pricing = service::update(&state, &user, id, None, fields, Surface::Pricing).await?;
    Ok(Json(PricingEnvelope { pricing }))
}

/// Any user of the tenant may price tickets. `promo_code` is refused (422
/// `PROMO_CODES_UNSUPPORTED`) rather than silently ignored as the original did: this service
/// has no promotion codes, and a quote that quietly ignores one would mislead the buyer.
#[utoipa::path(
    post, path = "/pricing/{id}/calculate", operation_id = "calculatePrice", tag = "pricing",
    summary = "Prices tickets of a tier",
    description = "Prices `quantity` tickets of this tier, with the group discount when it applies. \
        Any user of the tenant. Promotion codes are not supported.",
    security(("bearerAuth" = [])),
    params(Id<Pricing>),
    request_body(content = CalculateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The quote; every amount a 2-decimal string.", body = Quote),
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
async fn calculate(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Pricing>,
    StrictJson(body): StrictJson<CalculateBody>,
) -> ApiResult<Json<Quote>> {
    let quantity = body.validate().map_err(ApiError::unprocessable)?;
    let quote =
        service::calculate(&state, user.tenant, id, quantity, body.apply_group_discount.unwrap_or(true)).await?;
    Ok(Json(quote))
}

// Ticket types -----------------------------------------------------------------------------------

/// Lists the ticket types of an event.
///
/// All its price tiers.
#[utoipa::path(
    get, path = "/events/{id}/ticket-types", operation_id = "listTicketTypes", tag = "pricing",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The event's ticket types.", body = TicketTypeList),
        crate::http::problem::ReadErrors,
    )
)]
async fn list_ticket_types(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
) -> ApiResult<Json<TicketTypeList>> {
    let tiers = service::ticket_types(&state, user.tenant, event_id).await?;
    Ok(Json(TicketTypeList { success: true, data: tiers }))
}

/// Adds a ticket type to an event.
///
/// A price tier. Needs `events:update` and the event's creator or an admin.
#[utoipa::path(
    post, path = "/events/{id}/ticket-types", operation_id = "createTicketType", tag = "pricing",
    security(("bearerAuth" = [])),
    params(Id<Event>, IdempotencyKey),
    request_body(content = TicketTypeCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = TicketTypeEnvelope, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        crate::http::problem::WriteErrors,
    )
)]
async fn create_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    Id(event_id, ..): Id<Event>,
    body: IdempotentJson<TicketTypeFields>,
) -> ApiResult<Created<TierEnvelope>> {
    user.require("events:update")?;
    let (fields, fingerprint) = (body.value.clone().into(), body.fingerprint.clone());
    let creation = service::create(&state, &user, event_id, fields, fingerprint, Surface::TicketTypes).await?;
    Ok(body.created(creation))
}

/// Updates a ticket type.
///
/// Its price cannot change once tickets of the event were sold (400
/// `PRICE_LOCKED_AFTER_SALES`).
#[utoipa::path(
    put, path = "/events/{id}/ticket-types/{type_id}", operation_id = "updateTicketType", tag = "pricing",
    security(("bearerAuth" = [])),
    params(Ids<Event, TicketType>),
    request_body(content = TicketTypeFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated ticket type.", body = TicketTypeEnvelope),
        crate::http::problem::WriteErrors,
    )
)]
async fn update_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    Ids(event_id, id, ..): Ids<Event, TicketType>,
    StrictJson(fields): StrictJson<TicketTypeFields>,
) -> ApiResult<Json<TicketTypeEnvelope>> {
    user.require("events:update")?;
    let data = service::update(&state, &user, id, Some(event_id), fields.into(), Surface::TicketTypes).await?;
    Ok(Json(TicketTypeEnvelope { success: true, data }))
}
