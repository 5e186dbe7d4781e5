//! `/api/v1/events/:eventId/pricing`, `/api/v1/pricing/:id` and the ticket-type facade
//! `/api/v1/events/:eventId/ticket-types`, compatible with the original's paths, snake_case
//! fields and envelopes (`{pricing}`, `{success, data}`).
//!
//! Money in responses is always a 2-decimal **string** (`"49.99"`); requests accept numbers
//! or numeric strings (see `domain::pricing`).

use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::domain::pricing::{PricingFields, Quote, TicketTypeFields};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::json::{HashedJson, Json as StrictJson};
use crate::http::query::path_uuid;
use crate::routes::events::{created_response, fingerprint};
use crate::services::pricing::{self as service, Surface};
use crate::state::AppState;

// The event segment is `{id}` as in the events router: one parameter name per position.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{id}/pricing", get(list).post(create))
        .route("/events/{id}/pricing/active", get(active))
        .route("/pricing/{id}", get(get_one).put(update))
        .route("/pricing/{id}/calculate", post(calculate))
        .route("/events/{id}/ticket-types", get(list_ticket_types).post(create_ticket_type))
        .route("/events/{id}/ticket-types/{type_id}", put(update_ticket_type))
}

/// Lists the price tiers of an event.
#[utoipa::path(
    get, path = "/events/{id}/pricing", operation_id = "listPricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The event's tiers.", body = crate::openapi::PricingList),
        crate::openapi::ReadErrors,
    )
)]
async fn list(State(state): State<AppState>, user: AuthUser, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let tiers = service::list(&state, user.tenant, event_id, false).await?;
    Ok(Json(json!({ "pricing": tiers })))
}

/// Lists the active price tiers of an event.
#[utoipa::path(
    get, path = "/events/{id}/pricing/active", operation_id = "listActivePricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The event's active tiers.", body = crate::openapi::PricingList),
        crate::openapi::ReadErrors,
    )
)]
async fn active(State(state): State<AppState>, user: AuthUser, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let tiers = service::list(&state, user.tenant, event_id, true).await?;
    Ok(Json(json!({ "pricing": tiers })))
}

/// Gets a price tier.
#[utoipa::path(
    get, path = "/pricing/{id}", operation_id = "getPricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The tier.")),
    responses(
        (status = 200, description = "The tier.", body = crate::openapi::PricingEnvelope),
        crate::openapi::ReadErrors,
    )
)]
async fn get_one(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = path_uuid(&id, "Pricing")?;
    let tier = service::get(&state, user.tenant, id).await?;
    Ok(Json(service::present(&tier, Surface::Pricing)))
}

/// Adds a price tier to an event.
///
/// Needs `events:update` and the event's creator or an admin.
#[utoipa::path(
    post, path = "/events/{id}/pricing", operation_id = "createPricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event."), crate::openapi::IdempotencyKey),
    request_body(content = ref("#/components/schemas/PricingCreate"), content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = crate::openapi::PricingEnvelope, headers(
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
    body: HashedJson<PricingFields>,
) -> ApiResult<Response> {
    user.require("events:update")?;
    let event_id = path_uuid(&event_id, "Event")?;
    let fp = fingerprint(&headers, &uri, &user, &body.hash)?;
    let key = fp.as_ref().map(|f| f.key.clone());
    let created = service::create(&state, &user, event_id, body.value, fp, Surface::Pricing).await?;
    Ok(created_response(created.status, created.body, created.replayed, key.as_deref()))
}

/// Updates a price tier.
///
/// A partial update under an optimistic lock (`version`); `current_price` follows a new
/// `base_price` unless the tier is dynamic. Needs `events:update` and the event's creator or an
/// admin.
#[utoipa::path(
    put, path = "/pricing/{id}", operation_id = "updatePricing", tag = "pricing",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The tier.")),
    request_body(content = PricingFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated tier.", body = crate::openapi::PricingEnvelope),
        crate::openapi::WriteErrors,
    )
)]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    StrictJson(fields): StrictJson<PricingFields>,
) -> ApiResult<Json<Value>> {
    user.require("events:update")?;
    let id = path_uuid(&id, "Pricing")?;
    let tier = service::update(&state, &user, id, None, fields, Surface::Pricing).await?;
    Ok(Json(service::present(&tier, Surface::Pricing)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PriceCalculation)]
struct CalculateBody {
    #[schema(minimum = 1, maximum = 100)]
    quantity: i64,
    /// Default true.
    apply_group_discount: Option<bool>,
    #[schema(schema_with = crate::domain::schema::unsupported_promo_code)]
    promo_code: Option<String>,
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
    params(("id" = Uuid, Path, description = "The tier.")),
    request_body(content = CalculateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The quote; every amount a 2-decimal string.", body = Quote),
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
async fn calculate(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<CalculateBody>,
) -> ApiResult<Json<Quote>> {
    let id = path_uuid(&id, "Pricing")?;
    let mut errors = Vec::new();
    if !(1..=100).contains(&body.quantity) {
        let code = if body.quantity < 1 { "VALUE_TOO_SMALL" } else { "VALUE_TOO_LARGE" };
        errors.push(FieldError::new("quantity", code, "must be between 1 and 100"));
    }
    if body.promo_code.is_some() {
        errors.push(FieldError::new("promo_code", "PROMO_CODES_UNSUPPORTED", "promotion codes are not supported"));
    }
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    let quantity = u32::try_from(body.quantity).unwrap_or(1);
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
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The event's ticket types.", body = crate::openapi::TicketTypeList),
        crate::openapi::ReadErrors,
    )
)]
async fn list_ticket_types(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let event_id = path_uuid(&event_id, "Event")?;
    let tiers = service::ticket_types(&state, user.tenant, event_id).await?;
    Ok(Json(json!({ "success": true, "data": tiers })))
}

/// Adds a ticket type to an event.
///
/// A price tier. Needs `events:update` and the event's creator or an admin.
#[utoipa::path(
    post, path = "/events/{id}/ticket-types", operation_id = "createTicketType", tag = "pricing",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event."), crate::openapi::IdempotencyKey),
    request_body(content = ref("#/components/schemas/TicketTypeCreate"), content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = crate::openapi::TicketTypeEnvelope, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        crate::openapi::WriteErrors,
    )
)]
async fn create_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: HashedJson<TicketTypeFields>,
) -> ApiResult<Response> {
    user.require("events:update")?;
    let event_id = path_uuid(&event_id, "Event")?;
    let fp = fingerprint(&headers, &uri, &user, &body.hash)?;
    let key = fp.as_ref().map(|f| f.key.clone());
    let created = service::create(&state, &user, event_id, body.value.into(), fp, Surface::TicketTypes).await?;
    Ok(created_response(created.status, created.body, created.replayed, key.as_deref()))
}

/// Updates a ticket type.
///
/// Its price cannot change once tickets of the event were sold (400
/// `PRICE_LOCKED_AFTER_SALES`).
#[utoipa::path(
    put, path = "/events/{id}/ticket-types/{type_id}", operation_id = "updateTicketType", tag = "pricing",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event."), ("type_id" = Uuid, Path, description = "The ticket type.")),
    request_body(content = TicketTypeFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated ticket type.", body = crate::openapi::TicketTypeEnvelope),
        crate::openapi::WriteErrors,
    )
)]
async fn update_ticket_type(
    State(state): State<AppState>,
    user: AuthUser,
    Path((event_id, id)): Path<(String, String)>,
    StrictJson(fields): StrictJson<TicketTypeFields>,
) -> ApiResult<Json<Value>> {
    user.require("events:update")?;
    let event_id = path_uuid(&event_id, "Event")?;
    let id = path_uuid(&id, "Ticket type")?;
    let tier = service::update(&state, &user, id, Some(event_id), fields.into(), Surface::TicketTypes).await?;
    Ok(Json(service::present(&tier, Surface::TicketTypes)))
}
