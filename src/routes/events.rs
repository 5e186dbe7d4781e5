//! `/api/v1/events` and `/api/v1/venues/:venueId/events`, compatible with the original's
//! paths, methods, snake_case fields and envelopes (`{event}`, `{events, pagination}`).

use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::domain::event::{EventFields, Visibility};
use crate::domain::{EventAction, EventStatus};
use crate::error::{ApiError, ApiResult};
use crate::http::json::{HashedJson, Json as StrictJson};
use crate::http::query::{Query, path_uuid};
use crate::services::events as service;
use crate::state::AppState;
use crate::storage::events::ListFilter;
use crate::storage::idempotency::{Fingerprint, parse_key};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(list).post(create))
        .route("/events/{id}", get(get_one).put(update).patch(update).delete(delete))
        .route("/events/{id}/publish", post(publish))
        .route("/venues/{venue_id}/events", get(venue_events))
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

fn page(events: Vec<Value>, total: i64, f: &ListFilter, user: &AuthUser) -> Json<Value> {
    let events: Vec<Value> = events.into_iter().map(|e| service::present(e, user)).collect();
    Json(json!({ "events": events, "pagination": { "limit": f.limit, "offset": f.offset, "total": total } }))
}

/// Lists events.
///
/// The caller's tenant's events, filtered and paged.
#[utoipa::path(
    get, path = "/events", operation_id = "listEvents", tag = "events",
    security(("bearerAuth" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of events.", body = crate::openapi::EventPage),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn list(State(state): State<AppState>, user: AuthUser, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
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
    params(("venue_id" = Uuid, Path, description = "The venue."), VenueEventsQuery),
    responses(
        (status = 200, description = "A page of the venue's events.", body = crate::openapi::EventPage),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn venue_events(
    State(state): State<AppState>,
    user: AuthUser,
    Path(venue_id): Path<String>,
    Query(q): Query<VenueEventsQuery>,
) -> ApiResult<Json<Value>> {
    let venue_id = path_uuid(&venue_id, "Venue")?;
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
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The event.", body = crate::openapi::EventEnvelope),
        crate::openapi::ReadErrors,
    )
)]
async fn get_one(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = path_uuid(&id, "Event")?;
    let event = service::get(&state, user.tenant, id).await?;
    Ok(Json(json!({ "event": service::present(event, &user) })))
}

/// Reads and validates the `Idempotency-Key` header of a creating request. The fingerprint
/// binds the key to the user as well as the body, so another user of the tenant reusing a key
/// gets 422, never the first user's stored response.
pub fn fingerprint(
    headers: &HeaderMap,
    uri: &OriginalUri,
    user: &AuthUser,
    body_hash: &str,
) -> ApiResult<Option<Fingerprint>> {
    let Some(raw) = headers.get("idempotency-key") else { return Ok(None) };
    let key = parse_key(raw.to_str().unwrap_or(""))?;
    use sha2::Digest;
    let bound = hex::encode(sha2::Sha256::digest(format!("{}\n{body_hash}", user.user_id).as_bytes()));
    Ok(Some(Fingerprint { key, method: "POST", path: uri.path().to_owned(), body_hash: bound }))
}

/// A creation's response; a replay carries `Idempotency-Replayed: true`.
pub fn created_response(status: u16, body: Value, replayed: bool, key: Option<&str>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    let mut response = (status, Json(body)).into_response();
    if let Some(key) = key.and_then(|k| HeaderValue::from_str(k).ok()) {
        response.headers_mut().insert("x-idempotency-key", key);
        if replayed {
            response.headers_mut().insert("idempotency-replayed", HeaderValue::from_static("true"));
        }
    }
    response
}

/// Creates an event.
///
/// A DRAFT event, its first schedule (with `starts_at`) and a General Admission section (with
/// `capacity`); with an `artist_wallet` and a start it is queued for on-chain registration.
/// Needs `events:create`.
#[utoipa::path(
    post, path = "/events", operation_id = "createEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(crate::openapi::IdempotencyKey),
    request_body(content = ref("#/components/schemas/EventCreate"), content_type = "application/json"),
    responses(
        (status = 201, description = "Created (or replayed for a repeated `Idempotency-Key`).",
            body = crate::openapi::EventEnvelope, headers(
                ("x-idempotency-key" = String, description = "The request's `Idempotency-Key`, when sent."),
                ("idempotency-replayed" = String, description = "`true` when this is a stored response."),
            )),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, response = crate::openapi::Unprocessable),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    uri: OriginalUri,
    body: HashedJson<EventFields>,
) -> ApiResult<Response> {
    user.require("events:create")?;
    let fp = fingerprint(&headers, &uri, &user, &body.hash)?;
    let key = fp.as_ref().map(|f| f.key.clone());
    let created = service::create(&state, &user, body.value, fp).await?;
    let body = match created.body {
        Value::Object(mut obj) => {
            if let Some(event) = obj.remove("event") {
                obj.insert("event".to_owned(), service::present(event, &user));
            }
            Value::Object(obj)
        }
        other => other,
    };
    Ok(created_response(created.status, body, created.replayed, key.as_deref()))
}

/// Updates an event.
///
/// A partial update under an optimistic lock (`version`); absent and `null` fields keep their
/// value. Needs `events:update` (and `events:publish` to change `status`) and the event's
/// creator or an admin.
#[utoipa::path(
    put, path = "/events/{id}", operation_id = "updateEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    request_body(content = EventFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated event.", body = crate::openapi::EventEnvelope),
        crate::openapi::WriteErrors,
    )
)]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    StrictJson(fields): StrictJson<EventFields>,
) -> ApiResult<Json<Value>> {
    user.require("events:update")?;
    let id = path_uuid(&id, "Event")?;
    let event = service::update(&state, &user, id, fields).await?;
    Ok(Json(json!({ "event": service::present(event, &user) })))
}

/// `PATCH` is routed to [`update`]; this item only documents it.
#[utoipa::path(
    patch, path = "/events/{id}", operation_id = "patchEvent", tag = "events",
    summary = "Updates an event (PATCH).",
    description = "The same partial update as `PUT /events/{id}`.",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    request_body(content = EventFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated event.", body = crate::openapi::EventEnvelope),
        crate::openapi::WriteErrors,
    )
)]
#[expect(dead_code, reason = "documentation only: the router sends PATCH to `update`")]
pub(crate) fn patch_doc() {}

/// Deletes an event.
///
/// A soft delete, where the lifecycle allows it and nothing was sold. Needs `events:delete` and
/// the event's creator or an admin.
#[utoipa::path(
    delete, path = "/events/{id}", operation_id = "deleteEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn delete(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    user.require("events:delete")?;
    let id = path_uuid(&id, "Event")?;
    service::delete(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publishes an event.
///
/// PUBLISHED through the state machine. Needs `events:publish`.
#[utoipa::path(
    post, path = "/events/{id}/publish", operation_id = "publishEvent", tag = "events",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "The published event.", body = crate::openapi::EventEnvelope),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn publish(State(state): State<AppState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    user.require("events:publish")?;
    let id = path_uuid(&id, "Event")?;
    let event = service::act(&state, &user, id, EventAction::Publish, None).await?;
    Ok(Json(json!({ "event": service::present(event, &user) })))
}
