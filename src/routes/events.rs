//! `/api/v1/events` and `/api/v1/venues/:venueId/events`, compatible with the original's
//! paths, methods, snake_case fields and envelopes (`{event}`, `{events, pagination}`).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::domain::event::{EventCreate, EventFields, Visibility};
use crate::domain::event_out::{EventEnvelope, EventPage, Pagination};
use crate::domain::{EventAction, EventStatus};
use crate::error::{ApiError, ApiResult};
use crate::http::idempotency::{Created, IdempotencyKey, IdempotentJson};
use crate::http::json::Json as StrictJson;
use crate::http::path::{Event, Id, Venue};
use crate::http::query::Query;
use crate::services::events as service;
use crate::state::AppState;
use crate::storage::events::ListFilter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, patch, delete))
        .routes(routes!(publish))
        .routes(routes!(venue_events))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    status: Option<EventStatus>,
    visibility: Option<Visibility>,
    /// The primary or a secondary category.
    category_id: Option<uuid::Uuid>,
    venue_id: Option<uuid::Uuid>,
    is_featured: Option<bool>,
    /// A literal substring of the name or descriptions, case-insensitive.
    #[param(max_length = 200)]
    search: Option<String>,
    /// Default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// `created_at` (default), `name`, `priority` or `views`.
    #[param(pattern = "^(created_at|name|priority|views)$")]
    sort_by: Option<String>,
    /// `asc` or `desc` (default), in any case.
    #[param(pattern = "^([aA][sS][cC]|[dD][eE][sS][cC])$")]
    sort_order: Option<String>,
}

fn filter_from(q: ListQuery) -> ApiResult<ListFilter> {
    use crate::error::FieldError;
    let mut errors = Vec::new();
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        errors.push(FieldError::new("limit", "INVALID_RANGE", "must be between 1 and 100"));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        errors.push(FieldError::new("offset", "VALUE_TOO_SMALL", "must not be negative"));
    }
    if q.search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        errors.push(FieldError::new("search", "STRING_TOO_LONG", "must be at most 200 characters"));
    }
    let sort_column = match q.sort_by.as_deref().unwrap_or("created_at") {
        "created_at" => "created_at",
        "name" => "name",
        "priority" => "priority_score",
        "views" => "view_count",
        _ => {
            errors.push(FieldError::new(
                "sort_by",
                "INVALID_ENUM_VALUE",
                "must be created_at, name, priority or views",
            ));
            "created_at"
        }
    };
    let descending = match q.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            errors.push(FieldError::new("sort_order", "INVALID_ENUM_VALUE", "must be asc or desc"));
            true
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(ListFilter {
        status: q.status,
        visibility: q.visibility.map(Visibility::as_str),
        category_id: q.category_id,
        venue_id: q.venue_id,
        is_featured: q.is_featured,
        search: q.search.filter(|s| !s.trim().is_empty()),
        sort_column,
        descending,
        limit,
        offset,
    })
}

fn page(
    events: Vec<crate::domain::event_out::EventOut>,
    total: i64,
    f: &ListFilter,
    user: &AuthUser,
) -> Json<EventPage> {
    let events = events.into_iter().map(|e| e.for_caller(user)).collect();
    Json(EventPage { events, pagination: Pagination { limit: f.limit, offset: f.offset, total } })
}

/// Lists events.
///
/// The caller's tenant's events, filtered and paged.
#[utoipa::path(
    get, path = "/events", operation_id = "listEvents", tag = "events",
    security(("bearerAuth" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn list(State(state): State<AppState>, user: AuthUser, Query(q): Query<ListQuery>) -> ApiResult<Json<EventPage>> {
    let filter = filter_from(q)?;
    let (events, total) = service::list(&state, user.tenant, filter.clone()).await?;
    Ok(page(events, total, &filter, &user))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct VenueEventsQuery {
    status: Option<EventStatus>,
    /// Default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// Lists the events of a venue.
///
/// Cached per page for 60 s.
#[utoipa::path(
    get, path = "/venues/{venue_id}/events", operation_id = "listVenueEvents", tag = "events",
    security(("bearerAuth" = [])),
    params(Id<Venue>, VenueEventsQuery),
    responses(
        (status = 200, description = "A page of the venue's events.", body = EventPage),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn venue_events(
    State(state): State<AppState>,
    user: AuthUser,
    Id(venue_id, ..): Id<Venue>,
    Query(q): Query<VenueEventsQuery>,
) -> ApiResult<Json<EventPage>> {
    let filter = filter_from(ListQuery {
        status: q.status,
        visibility: None,
        category_id: None,
        venue_id: Some(venue_id),
        is_featured: None,
        search: None,
        limit: q.limit,
        offset: q.offset,
        sort_by: None,
        sort_order: None,
    })?;
    let (events, total) = service::list_for_venue(&state, user.tenant, filter.clone()).await?;
    Ok(page(events, total, &filter, &user))
}

/// Gets an event.
///
/// With its first schedule and capacity totals (cached for 5 minutes, dropped on every change).
#[utoipa::path(
    get, path = "/events/{id}", operation_id = "getEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The event.", body = EventEnvelope),
        crate::http::problem::ReadErrors,
    )
)]
async fn get_one(State(state): State<AppState>, user: AuthUser, Id(id, ..): Id<Event>) -> ApiResult<Response> {
    // The body is an `EventEnvelope`, written by the service as bytes so a cached event can be
    // passed on without being parsed and re-serialised.
    let body = service::get_envelope_json(&state, &user, id).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Creates an event.
///
/// A DRAFT event, its first schedule (with `starts_at`) and a General Admission section (with
/// `capacity`); with an `artist_wallet` and a start it is queued for on-chain registration.
/// Needs `events:create`.
#[utoipa::path(
    post, path = "/events", operation_id = "createEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(IdempotencyKey),
    request_body(content = EventCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = EventEnvelope, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 409, response = crate::http::problem::Conflict),
        (status = 413, response = crate::http::problem::PayloadTooLarge),
        (status = 415, response = crate::http::problem::UnsupportedMediaType),
        (status = 422, response = crate::http::problem::Unprocessable),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    body: IdempotentJson<EventFields>,
) -> ApiResult<Created<EventEnvelope>> {
    user.require("events:create")?;
    let creation = service::create(&state, &user, body.value.clone(), body.fingerprint.clone()).await?;
    Ok(body.created(creation))
}

/// Updates an event.
///
/// A partial update under an optimistic lock (`version`); absent and `null` fields keep their
/// value. Needs `events:update` (and `events:publish` to change `status`) and the event's
/// creator or an admin.
#[utoipa::path(
    put, path = "/events/{id}", operation_id = "updateEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    request_body(content = EventFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated event.", body = EventEnvelope),
        crate::http::problem::WriteErrors,
    )
)]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Event>,
    StrictJson(fields): StrictJson<EventFields>,
) -> ApiResult<Json<EventEnvelope>> {
    user.require("events:update")?;
    let event = service::update(&state, &user, id, fields).await?;
    Ok(Json(EventEnvelope { event: event.for_caller(&user) }))
}

/// `PATCH` is the same partial update as `PUT` (the original served both).
#[utoipa::path(
    patch, path = "/events/{id}", operation_id = "patchEvent", tag = "events",
    summary = "Updates an event (PATCH).",
    description = "The same partial update as `PUT /events/{id}`.",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    request_body(content = EventFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated event.", body = EventEnvelope),
        crate::http::problem::WriteErrors,
    )
)]
async fn patch(
    state: State<AppState>,
    user: AuthUser,
    id: Id<Event>,
    fields: StrictJson<EventFields>,
) -> ApiResult<Json<EventEnvelope>> {
    update(state, user, id, fields).await
}

/// Deletes an event.
///
/// A soft delete, where the lifecycle allows it and nothing was sold. Needs `events:delete` and
/// the event's creator or an admin.
#[utoipa::path(
    delete, path = "/events/{id}", operation_id = "deleteEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 204, description = "Deleted."),
        crate::http::problem::ActionErrors,
    )
)]
async fn delete(State(state): State<AppState>, user: AuthUser, Id(id, ..): Id<Event>) -> ApiResult<StatusCode> {
    user.require("events:delete")?;
    service::delete(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publishes an event.
///
/// PUBLISHED through the state machine. Needs `events:publish`.
#[utoipa::path(
    post, path = "/events/{id}/publish", operation_id = "publishEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "The published event.", body = EventEnvelope),
        crate::http::problem::ActionErrors,
    )
)]
async fn publish(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Event>,
) -> ApiResult<Json<EventEnvelope>> {
    user.require("events:publish")?;
    let event = service::act(&state, &user, id, EventAction::Publish, None).await?;
    Ok(Json(EventEnvelope { event: event.for_caller(&user) }))
}
