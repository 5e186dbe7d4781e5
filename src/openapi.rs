//! The OpenAPI 3.1 description of the HTTP API, served at `GET /api-docs/openapi.json`.
//!
//! It is generated from the code: each handler carries a `#[utoipa::path]` annotation next to
//! it (`routes/*.rs`), request bodies and query strings are the extractors' own types with
//! `ToSchema`/`IntoParams` derives, so their fields, bounds and `additionalProperties: false`
//! follow the parser. Response bodies that handlers build with `json!` are described by the
//! documentation-only types below; `scripts/fuzz` checks real responses against them, and
//! `tests/api/openapi.rs` fails when a route of the router is missing here.
//!
//! The router serves health, metrics and the internal routes both at the root and under
//! `/api/v1`; the spec lists both copies (the `/api/v1` ones with a `V1` suffix on their
//! operation ids).

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{Object, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse, ToSchema};
use uuid::Uuid;

use crate::domain::EventStatus;
use crate::domain::event::{AccessibilityInfo, EventType, StreamingConfig, Visibility};
use crate::routes;
use crate::services::capacity::{RowConfig, SeatMap};

/// The document, built once.
pub fn spec() -> &'static utoipa::openapi::OpenApi {
    static SPEC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    SPEC.get_or_init(build)
}

/// The document as served (JSON, in declaration order).
pub fn spec_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    // utoipa's types serialize infallibly; an error here would be a bug in a derive.
    JSON.get_or_init(|| spec().to_pretty_json().expect("the OpenAPI document serializes"))
}

fn build() -> utoipa::openapi::OpenApi {
    let mut doc = RootApi::openapi().nest("/api/v1", ApiV1::openapi());
    unique_operation_ids(&mut doc);
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    for (name, optional) in ALWAYS_PRESENT {
        let object = object_mut(schemas, name);
        object.required = object.properties.keys().filter(|k| !optional.contains(&k.as_str())).cloned().collect();
    }
    for (update, create, required) in CREATE_VARIANTS {
        let mut object = object_mut(schemas, update).clone();
        object.required = required.iter().map(|r| (*r).to_owned()).collect();
        object.description = object.description.map(|d| format!("{d} On creation `version` is ignored."));
        schemas.insert((*create).to_owned(), Schema::Object(object).into());
    }
    doc
}

// The documents ---------------------------------------------------------------------------------

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TicketToken event-service",
        description = "Events, schedules, capacity, holds and pricing of the TicketToken platform, \
            tenant-isolated. Every error is `application/problem+json` (see the `Problem` schema): \
            `{type, title, status, detail, instance, code, errors?}`, where `code` is stable and \
            `errors` lists field-level problems. Unknown body fields and query parameters are \
            rejected with 400 `UNKNOWN_FIELD`. Creating POSTs accept an `Idempotency-Key`.",
        license(name = "MIT"),
    ),
    paths(
        routes::health::overall,
        routes::health::live,
        routes::health::ready,
        routes::health::startup,
        routes::metrics::render,
        routes::docs::openapi_json,
        routes::docs::page,
        routes::docs::asset,
        routes::internal::event,
        routes::internal::pda,
        routes::internal::scan_stats,
        routes::internal::status,
        routes::internal::transfer_restrictions,
        routes::internal::active,
        routes::internal::metrics,
        routes::internal::blockchain_status,
    ),
    tags(
        (name = "health", description = "Probes: served at the root and under `/api/v1`."),
        (name = "metrics", description = "Prometheus metrics: served at the root and under `/api/v1`."),
        (name = "docs", description = "This description and an interactive page rendering it."),
        (name = "events", description = "Events and their lifecycle."),
        (name = "schedules", description = "The dates of an event."),
        (name = "capacity", description = "Sections, holds (reservations) and cancellation."),
        (name = "pricing", description = "Price tiers, quotes and the ticket-type view of tiers."),
        (name = "admin", description = "Tenant administration: the tenant admin role, inside its own tenant."),
        (name = "internal", description = "Service-to-service calls, signed with HMAC-SHA256."),
    ),
)]
struct RootApi;

#[derive(OpenApi)]
#[openapi(
    paths(
        routes::health::overall,
        routes::health::live,
        routes::health::ready,
        routes::health::startup,
        routes::metrics::render,
        routes::events::list,
        routes::events::create,
        routes::events::get_one,
        routes::events::update,
        routes::events::patch_doc,
        routes::events::delete,
        routes::events::publish,
        routes::events::venue_events,
        routes::admin::retry_registration,
        routes::admin::retry_all_registrations,
        routes::capacity::list,
        routes::capacity::create,
        routes::capacity::totals,
        routes::capacity::get_one,
        routes::capacity::update,
        routes::capacity::check,
        routes::capacity::reserve,
        routes::capacity::get_hold,
        routes::capacity::release,
        routes::capacity::delete_hold_doc,
        routes::capacity::confirm,
        routes::capacity::cancel,
        routes::pricing::list,
        routes::pricing::create,
        routes::pricing::active,
        routes::pricing::get_one,
        routes::pricing::update,
        routes::pricing::calculate,
        routes::pricing::list_ticket_types,
        routes::pricing::create_ticket_type,
        routes::pricing::update_ticket_type,
        routes::schedules::list,
        routes::schedules::create,
        routes::schedules::upcoming,
        routes::schedules::next,
        routes::schedules::get_one,
        routes::schedules::update,
        routes::internal::event,
        routes::internal::pda,
        routes::internal::scan_stats,
        routes::internal::status,
        routes::internal::transfer_restrictions,
        routes::internal::active,
        routes::internal::metrics,
        routes::internal::blockchain_status,
    ),
    components(
        schemas(Problem, FieldError, RateLimitProblem),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            InternalError,
            Unavailable,
        ),
    ),
    modifiers(&SecuritySchemes),
)]
struct ApiV1;

/// `bearerAuth` for platform users; the five `x-internal-*` headers for service calls.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An RS256 access token of the auth-service (`type: access`, `tenant_id`, `sub`, \
                 `role`, `permissions`). The tenant comes from the token only: an `X-Tenant-ID` \
                 header that disagrees with it is refused with 403 `TENANT_MISMATCH`. A request \
                 without a token passes authentication (probes need none), and routes that need a \
                 user answer 401; a malformed or invalid token is refused with 401 on every route.",
            ))
            .build();
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(bearer));
        let internal = [
            (
                "internalService",
                "x-internal-service",
                "The calling service; it must be on `ALLOWED_INTERNAL_SERVICES`.",
            ),
            ("internalTimestamp", "x-internal-timestamp", "Epoch milliseconds, within 60 s of the server's clock."),
            ("internalNonce", "x-internal-nonce", "A UUID, accepted once."),
            (
                "internalSignature",
                "x-internal-signature",
                "Hex HMAC-SHA256 with `INTERNAL_HMAC_SECRET` of \
                 `service:timestamp:nonce:METHOD:path-and-query:bodyHash`, where bodyHash is the \
                 `x-internal-body-hash` header as sent (hex SHA-256 of the body; empty or absent \
                 without a body).",
            ),
        ];
        for (name, header, description) in internal {
            let key = ApiKey::Header(ApiKeyValue::with_description(header, description));
            components.add_security_scheme(name, SecurityScheme::ApiKey(key));
        }
    }
}

// Post-processing ---------------------------------------------------------------------------------

/// Response schemas whose properties are always present (nullable ones as `null`), with the
/// exceptions that may be absent.
const ALWAYS_PRESENT: &[(&str, &[&str])] = &[
    ("Event", PRIVILEGED_EVENT_FIELDS),
    ("Schedule", &[]),
    ("CapacitySection", &[]),
    ("Reservation", &[]),
    ("LockedPrice", &[]),
    ("PricingTier", &[]),
    ("InternalEvent", &[]),
    ("InternalEventPda", &[]),
    ("InternalBlockchain", &[]),
    ("Registration", &[]),
];

/// Returned to admins only, or to the tenant's staff only (`services::events::present`).
const PRIVILEGED_EVENT_FIELDS: &[&str] = &[
    "virtual_event_url",
    "streaming_config",
    "created_by",
    "updated_by",
    "status_changed_by",
    "cancelled_by",
    "chain_event_id",
    "blockchain_error",
    "artist_wallet",
    "artist_percentage",
    "venue_percentage",
    "platform_percentage",
    "royalty_percentage",
    "max_resale_price_percentage",
    "collection_address",
    "mint_authority",
    "merkle_tree_address",
    "collection_mint",
];

/// Create bodies are the update bodies plus required fields: (update schema, create schema,
/// required on create).
const CREATE_VARIANTS: &[(&str, &str, &[&str])] = &[
    ("EventUpdate", "EventCreate", &["name", "venue_id"]),
    ("SectionUpdate", "SectionCreate", &["section_name", "total_capacity"]),
    ("PricingUpdate", "PricingCreate", &["name", "base_price"]),
    ("TicketTypeUpdate", "TicketTypeCreate", &["name", "base_price"]),
    ("ScheduleUpdate", "ScheduleCreate", &["starts_at", "ends_at"]),
];

fn object_mut<'a>(schemas: &'a mut BTreeMap<String, RefOr<Schema>>, name: &str) -> &'a mut Object {
    match schemas.get_mut(name) {
        Some(RefOr::T(Schema::Object(object))) => object,
        _ => panic!("schema {name} is registered as an object"),
    }
}

/// The `/api/v1` copies of root routes get a `V1` suffix, so every operation id is unique.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    let root: HashSet<String> = doc
        .paths
        .paths
        .iter()
        .filter(|(path, _)| !path.starts_with("/api/v1/"))
        .flat_map(|(_, item)| operations(item).filter_map(|op| op.operation_id.clone()).collect::<Vec<_>>())
        .collect();
    for (_, item) in doc.paths.paths.iter_mut().filter(|(path, _)| path.starts_with("/api/v1/")) {
        for op in operations_mut(item) {
            if let Some(id) = op.operation_id.as_mut().filter(|id| root.contains(id.as_str())) {
                id.push_str("V1");
            }
        }
    }
}

fn operations(item: &PathItem) -> impl Iterator<Item = &Operation> {
    [&item.get, &item.put, &item.post, &item.delete, &item.patch].into_iter().flatten()
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}

/// The `Idempotency-Key` header of creating POSTs.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// 1-256 of `A-Z a-z 0-9 - _` (else 400 `INVALID_IDEMPOTENCY_KEY`). A retry with the same
    /// key and body gets the stored response with `Idempotency-Replayed: true`; the same key
    /// with another body 422 `IDEMPOTENCY_KEY_MISMATCH`; a concurrent duplicate 409
    /// `IDEMPOTENCY_CONFLICT`. Keys expire after 24 h.
    #[param(rename = "Idempotency-Key", value_type = String, required = false, pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub idempotency_key: Option<String>,
}

// Errors ---------------------------------------------------------------------------------------------

/// An RFC 7807 problem, as every error is returned (`application/problem+json`).
#[derive(ToSchema)]
#[schema(example = json!({
    "type": "https://api.tickettoken.com/errors/validation-error",
    "title": "Validation Error",
    "status": 400,
    "detail": "limit: must be between 1 and 100",
    "instance": "urn:uuid:6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11",
    "code": "VALIDATION_ERROR",
    "errors": [{"field": "limit", "message": "must be between 1 and 100", "code": "INVALID_RANGE"}]
}))]
pub struct Problem {
    /// `https://api.tickettoken.com/errors/<kind>`.
    #[schema(rename = "type", pattern = "^https://api\\.tickettoken\\.com/errors/[a-z-]+$")]
    pub type_: String,
    /// The kind's title, such as `Not Found`.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    pub detail: String,
    /// `urn:uuid:` and the request id (`X-Request-ID`, generated when absent or unusable).
    #[schema(pattern = "^urn:uuid:")]
    pub instance: String,
    /// A stable, machine-readable code such as `NOT_FOUND`, `VALIDATION_ERROR`,
    /// `INVALID_EVENT_STATE`.
    pub code: String,
    /// Field-level problems of a 400 or 422; absent otherwise.
    #[schema(required = false, min_items = 1)]
    pub errors: Vec<FieldError>,
}

/// One field-level problem.
#[derive(ToSchema)]
pub struct FieldError {
    /// The field's path (`inner.rows`), `body`, `query`, or a header name.
    pub field: String,
    pub message: String,
    /// Such as `REQUIRED_FIELD`, `UNKNOWN_FIELD`, `INVALID_TYPE`, `INVALID_RANGE`.
    pub code: String,
}

/// Every 429: a problem plus the limit that was hit, whichever limiter refused.
#[derive(ToSchema)]
pub struct RateLimitProblem {
    #[schema(rename = "type", pattern = "^https://api\\.tickettoken\\.com/errors/rate-limited$")]
    pub type_: String,
    pub title: String,
    #[schema(minimum = 429, maximum = 429)]
    pub status: u16,
    pub detail: String,
    #[schema(pattern = "^urn:uuid:")]
    pub instance: String,
    /// `RATE_LIMITED` (the per-minute budgets), `CONCURRENCY_LIMITED` (requests of this user or
    /// tenant in progress), `TENANT_CONCURRENCY_LIMIT` (the tenant's database connections),
    /// `AUTH_FAILURES_LIMITED` (failed authentications from this address).
    pub code: String,
    /// The limit that was hit: requests per window for this class (read, write, search, bulk),
    /// requests in progress, connections, or failed authentications per minute.
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until a retry may succeed (the window's reset for the budgets).
    #[schema(rename = "retryAfter")]
    pub retry_after: u64,
}

/// The errors every authenticated read of one resource can answer (401, 403, 404, 429, 500,
/// 503), listed once instead of on each route.
#[derive(utoipa::IntoResponses)]
pub enum ReadErrors {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
    #[response(status = 429)]
    TooManyRequests(#[ref_response] TooManyRequests),
    #[response(status = 500)]
    InternalError(#[ref_response] InternalError),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// The errors every signed internal read of one event can answer (400 for a malformed
/// `X-Tenant-ID`, 401, 403, 404, 500, 503; internal routes have no rate limit).
#[derive(utoipa::IntoResponses)]
pub enum InternalErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
    #[response(status = 500)]
    InternalError(#[ref_response] InternalError),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// The errors every authenticated write of a JSON body to one resource can answer (400, 401,
/// 403, 404, 409, 413, 415, 422, 429, 500, 503).
#[derive(utoipa::IntoResponses)]
pub enum WriteErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
    #[response(status = 409)]
    Conflict(#[ref_response] Conflict),
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] PayloadTooLarge),
    #[response(status = 415)]
    UnsupportedMediaType(#[ref_response] UnsupportedMediaType),
    #[response(status = 422)]
    Unprocessable(#[ref_response] Unprocessable),
    #[response(status = 429)]
    TooManyRequests(#[ref_response] TooManyRequests),
    #[response(status = 500)]
    InternalError(#[ref_response] InternalError),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// 400: the request does not match the schema (malformed JSON, unknown or mistyped field,
/// unknown query parameter), or a header is invalid.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// 401: no valid credentials (missing or invalid bearer token; for internal routes a missing,
/// stale, replayed or wrongly signed call). Also on any route when an `Authorization` header
/// is sent and is not a valid token.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(pub Problem);

/// 403: a permission or the role is missing, the resource belongs to another user, or
/// `X-Tenant-ID` disagrees with the token (`TENANT_MISMATCH`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(pub Problem);

/// 404: no such resource in the caller's tenant (an id that is not a UUID included).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// 409: the resource's state forbids the change, a version or a concurrent request
/// interfered, or a duplicate exists.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// 413: the body exceeds `BODY_LIMIT`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// 415: the body is not `application/json` (or `application/*+json`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub Problem);

/// 422: a well-formed request breaks a domain rule; `errors` names each field.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unprocessable(pub Problem);

/// 429: the rate limit of this tenant and user (or client IP) is spent.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(
        ("Retry-After" = u64, description = "Seconds until the window resets."),
        ("X-RateLimit-Limit" = u32, description = "Requests allowed per window."),
        ("X-RateLimit-Remaining" = u32, description = "Requests left in the window."),
        ("X-RateLimit-Reset" = u64, description = "When the window resets, in epoch seconds."),
    )
)]
pub struct TooManyRequests(pub RateLimitProblem);

/// 500: an unexpected failure; the cause is logged, never returned.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct InternalError(pub Problem);

/// 503: a dependency is unavailable or slow (database, venue-service, internal auth), or the
/// request exceeded `REQUEST_TIMEOUT_MS`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait, when known."))
)]
pub struct Unavailable(pub Problem);

// Events ---------------------------------------------------------------------------------------

/// An event: the `events` row plus its first schedule and capacity totals. Royalty and wallet
/// fields are returned to admins only, and `streaming_config.stream_key` too.
#[derive(ToSchema)]
pub struct Event {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub venue_id: Uuid,
    pub venue_layout_id: Option<Uuid>,
    pub name: String,
    /// The name, lower-cased with runs of other characters as `-`, plus the local start date.
    pub slug: String,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub event_type: EventType,
    pub primary_category_id: Option<Uuid>,
    pub secondary_category_ids: Vec<Uuid>,
    pub tags: Vec<String>,
    pub status: EventStatus,
    pub visibility: Visibility,
    pub is_featured: bool,
    pub priority_score: i32,
    pub status_reason: Option<String>,
    pub status_changed_by: Option<String>,
    pub status_changed_at: Option<DateTime<Utc>>,
    pub banner_image_url: Option<String>,
    pub thumbnail_image_url: Option<String>,
    pub image_gallery: Option<Value>,
    pub video_url: Option<String>,
    pub virtual_event_url: Option<String>,
    pub age_restriction: i32,
    pub dress_code: Option<String>,
    pub special_requirements: Vec<String>,
    pub accessibility_info: Option<AccessibilityInfo>,
    pub is_virtual: bool,
    pub is_hybrid: bool,
    pub streaming_platform: Option<String>,
    pub streaming_config: Option<StreamingConfig>,
    pub cancellation_policy: Option<String>,
    pub refund_policy: Option<String>,
    pub cancellation_deadline_hours: i32,
    pub timezone: String,
    pub allow_transfers: bool,
    pub max_transfers_per_ticket: Option<i32>,
    pub transfer_blackout_start: Option<DateTime<Utc>>,
    pub transfer_blackout_end: Option<DateTime<Utc>>,
    pub require_identity_verification: bool,
    /// Admins only.
    pub artist_wallet: Option<String>,
    /// Admins only.
    pub artist_percentage: f64,
    /// Admins only.
    pub venue_percentage: f64,
    /// Admins only.
    pub platform_percentage: Option<f64>,
    /// Admins only.
    pub royalty_percentage: Option<f64>,
    /// Admins only.
    pub max_resale_price_percentage: Option<f64>,
    pub resaleable: bool,
    /// Admins only.
    pub collection_address: Option<String>,
    /// Admins only.
    pub mint_authority: Option<String>,
    /// Admins only.
    pub merkle_tree_address: Option<String>,
    /// Admins only.
    pub collection_mint: Option<String>,
    /// The event's id on chain (u64, unique per tenant).
    pub chain_event_id: i64,
    pub event_pda: Option<String>,
    pub blockchain_status: BlockchainStatus,
    pub blockchain_tx_signature: Option<String>,
    pub blockchain_error: Option<String>,
    pub blockchain_synced_at: Option<DateTime<Utc>>,
    pub meta_title: Option<String>,
    pub meta_description: Option<String>,
    pub meta_keywords: Vec<String>,
    pub view_count: i32,
    pub interest_count: i32,
    pub share_count: i32,
    pub external_id: Option<String>,
    pub metadata: Map<String, Value>,
    pub published_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancelled_by: Option<String>,
    pub cancellation_reason: Option<String>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Optimistic-lock version; every update increments it.
    pub version: i32,
    /// The first schedule's start (the same as `starts_at`).
    pub event_date: Option<DateTime<Utc>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub doors_open: Option<DateTime<Utc>>,
    /// The first schedule.
    pub schedule: Option<crate::domain::schedule::ScheduleOut>,
    /// Seats over all sections; `null` without sections.
    pub capacity: Option<i64>,
    pub available_capacity: Option<i64>,
    pub capacity_info: CapacityInfo,
}

/// On-chain registration of the event: `not_required` (nothing to register), then `pending`
/// until the worker reports `synced` or `failed`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum BlockchainStatus {
    NotRequired,
    Pending,
    Synced,
    Failed,
}

/// Seats over all sections of the event (0 without sections).
#[derive(ToSchema)]
pub struct CapacityInfo {
    pub total_capacity: i64,
    pub available_capacity: i64,
    pub reserved_capacity: i64,
    pub sold_count: i64,
}

#[derive(ToSchema)]
pub struct EventEnvelope {
    pub event: Event,
}

#[derive(ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub pagination: Pagination,
}

#[derive(ToSchema)]
pub struct Pagination {
    pub limit: i64,
    pub offset: i64,
    /// Events matching the filters, over all pages.
    pub total: i64,
}

// Capacity -------------------------------------------------------------------------------------

/// One row of `event_capacity`: `available + reserved + sold + buffer = total` always holds.
#[derive(ToSchema)]
pub struct CapacitySection {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub event_id: Uuid,
    pub schedule_id: Option<Uuid>,
    pub section_name: String,
    pub section_code: Option<String>,
    pub tier: Option<String>,
    pub total_capacity: i32,
    pub available_capacity: i32,
    pub reserved_capacity: i32,
    pub sold_count: i32,
    pub buffer_capacity: i32,
    pub row_config: Option<RowConfig>,
    pub seat_map: Option<SeatMap>,
    pub is_active: bool,
    pub is_visible: bool,
    pub minimum_purchase: i32,
    pub maximum_purchase: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i32,
}

#[derive(ToSchema)]
pub struct CapacityEnvelope {
    pub capacity: CapacitySection,
}

#[derive(ToSchema)]
pub struct CapacityList {
    pub capacity: Vec<CapacitySection>,
}

/// Seats over all sections of an event.
#[derive(ToSchema)]
pub struct CapacityTotals {
    pub total_capacity: i64,
    pub available_capacity: i64,
    pub reserved_capacity: i64,
    pub sold_count: i64,
    pub buffer_capacity: i64,
}

#[derive(ToSchema)]
pub struct CapacityCheckResult {
    /// The section is active, has the seats, and `quantity` is within its purchase limits.
    pub available: bool,
    pub quantity: i32,
    pub available_capacity: i64,
}

/// A hold on seats of one section.
#[derive(ToSchema)]
pub struct Reservation {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub event_id: Uuid,
    pub capacity_id: Uuid,
    pub pricing_id: Option<Uuid>,
    pub quantity: i32,
    pub status: ReservationStatus,
    pub expires_at: DateTime<Utc>,
    /// The unit price locked at reservation, as a 2-decimal string.
    pub locked_price: Option<String>,
    pub locked_price_data: Option<LockedPrice>,
    pub seat_ids: Vec<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub released_at: Option<DateTime<Utc>>,
    /// Why the hold ended without a sale, such as `expired`.
    pub release_reason: Option<String>,
    pub version: i32,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ReservationStatus {
    Active,
    Confirmed,
    Released,
    Expired,
}

/// The price tier as it was when the hold was made; amounts are decimal strings.
#[derive(ToSchema)]
pub struct LockedPrice {
    pub pricing_id: Uuid,
    pub locked_price: String,
    pub service_fee: String,
    pub facility_fee: String,
    pub tax_rate: String,
    pub currency: String,
    pub locked_at: DateTime<Utc>,
}

#[derive(ToSchema)]
pub struct ReservationEnvelope {
    pub reservation: Reservation,
}

#[derive(ToSchema)]
pub struct ReserveResult {
    /// `Capacity reserved successfully`.
    pub message: String,
    pub reservation: Reservation,
    /// The section after the seats were taken.
    pub capacity: CapacitySection,
    /// The same as `reservation.locked_price`.
    pub locked_price: Option<String>,
}

#[derive(ToSchema)]
pub struct CancelResult {
    pub success: bool,
    pub data: CancelData,
    /// `Event cancelled`.
    pub message: String,
}

#[derive(ToSchema)]
pub struct CancelData {
    pub event: Event,
    pub cancellation: Cancellation,
}

/// What the cancellation did; the same record goes to the `event.cancelled` outbox message.
#[derive(ToSchema)]
pub struct Cancellation {
    pub reason: String,
    #[schema(value_type = crate::services::cancellation::RefundPolicy)]
    pub refund_policy: String,
    pub notify_customers: bool,
    pub holds_released: i64,
    pub seats_released: i64,
    pub sections_closed: i64,
    pub tickets_sold: i64,
    pub previous_status: EventStatus,
}

// Pricing --------------------------------------------------------------------------------------

#[derive(ToSchema)]
pub struct PricingEnvelope {
    #[schema(value_type = crate::domain::pricing::Tier)]
    pub pricing: Value,
}

#[derive(ToSchema)]
pub struct PricingList {
    #[schema(value_type = Vec<crate::domain::pricing::Tier>)]
    pub pricing: Vec<Value>,
}

#[derive(ToSchema)]
pub struct TicketTypeEnvelope {
    pub success: bool,
    #[schema(value_type = crate::domain::pricing::Tier)]
    pub data: Value,
}

#[derive(ToSchema)]
pub struct TicketTypeList {
    pub success: bool,
    #[schema(value_type = Vec<crate::domain::pricing::Tier>)]
    pub data: Vec<Value>,
}

// Admin ----------------------------------------------------------------------------------------

/// A circuit breaker's state.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
    ForcedOpen,
    Disabled,
}

/// This replica's breakers by name (`postgres`, `redis`, `venue`, `solana_read`,
/// `solana_send`).
#[derive(ToSchema)]
pub struct BreakerStates {
    #[schema(value_type = std::collections::BTreeMap<String, BreakerState>)]
    pub breakers: Value,
}

#[derive(ToSchema)]
pub struct BreakerChange {
    pub breaker: String,
    pub state: BreakerState,
    #[schema(value_type = std::collections::BTreeMap<String, BreakerState>)]
    pub breakers: Value,
}

#[derive(ToSchema)]
pub struct RegistrationRequeued {
    pub event_id: Uuid,
    /// `pending`.
    pub blockchain_status: String,
}

#[derive(ToSchema)]
pub struct RegistrationsRequeued {
    pub requeued: u64,
    pub event_ids: Vec<Uuid>,
}

// Internal -------------------------------------------------------------------------------------

/// The event in the camelCase shape other services consume; royalty fields included.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct InternalEvent {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub venue_id: Uuid,
    pub venue_layout_id: Option<Uuid>,
    pub event_type: EventType,
    pub status: EventStatus,
    pub visibility: Visibility,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub doors_open: Option<DateTime<Utc>>,
    pub timezone: String,
    pub banner_image_url: Option<String>,
    pub thumbnail_image_url: Option<String>,
    pub capacity: Option<i64>,
    pub is_virtual: bool,
    pub is_hybrid: bool,
    pub event_pda: Option<String>,
    pub artist_wallet: Option<String>,
    pub artist_percentage: f64,
    pub venue_percentage: f64,
    pub resaleable: bool,
    pub cancellation_policy: Option<String>,
    pub refund_policy: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub blockchain_status: BlockchainStatus,
}

#[derive(ToSchema)]
pub struct InternalEventEnvelope {
    pub event: InternalEvent,
}

/// The event's chain data and its registration state.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct InternalEventPda {
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub status: EventStatus,
    pub venue_id: Uuid,
    pub blockchain: InternalBlockchain,
    /// `null` when the event never needed registration.
    pub registration: Option<Registration>,
    /// The event has both an event PDA and an artist wallet (the original's meaning).
    pub has_blockchain_config: bool,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct InternalBlockchain {
    pub event_pda: Option<String>,
    pub merkle_tree_address: Option<String>,
    pub collection_mint: Option<String>,
    pub artist_wallet: Option<String>,
    pub artist_percentage: f64,
    pub venue_percentage: f64,
    pub platform_percentage: Option<f64>,
    pub resaleable: bool,
    pub max_resale_price_percentage: Option<f64>,
    pub status: BlockchainStatus,
    pub signature: Option<String>,
    pub error: Option<String>,
    pub synced_at: Option<DateTime<Utc>>,
}

/// The registration outbox row (see docs/solana.md).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Registration {
    /// `pending`, `processing`, `synced` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub signature: Option<String>,
    pub event_pda: Option<String>,
    pub venue_pda: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct BlockchainStatusResult {
    pub success: bool,
    pub event_id: Uuid,
    /// `synced` or `failed`.
    pub status: String,
    pub event_pda: Option<String>,
    /// `blockchain status set to <status>`.
    pub message: String,
}

// Health ---------------------------------------------------------------------------------------

#[derive(ToSchema)]
pub struct Live {
    /// `ok`.
    pub status: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// `event-service`.
    pub service: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum CheckStatus {
    Up,
    Degraded,
    Down,
}

/// One dependency check. `error` is a code (`TIMEOUT`, `CONNECTION_ERROR`, `POOL_TIMEOUT`,
/// ...), present only when the check is down.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Check {
    pub status: CheckStatus,
    /// Milliseconds.
    pub response_time: u64,
    pub error: Option<String>,
}

#[derive(ToSchema)]
pub struct Checks {
    pub database: Check,
    pub redis: Check,
    /// The reservation-cleanup job, once it has run (root `/health` only).
    #[schema(rename = "reservationCleanup")]
    pub reservation_cleanup: Option<Map<String, Value>>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ReadyStatus {
    Ready,
    Degraded,
    NotReady,
    Draining,
}

/// 503 `not_ready` when Postgres is down, 503 `draining` once shutdown has begun (the load
/// balancer stops routing during the pre-stop delay); Redis down is 200 `degraded`.
#[derive(ToSchema)]
pub struct Ready {
    pub status: ReadyStatus,
    pub timestamp: DateTime<Utc>,
    pub checks: Checks,
}

#[derive(ToSchema)]
pub struct Startup {
    pub ready: bool,
    /// `started` or `starting`.
    pub message: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum OverallStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The overall verdict: 503 only when Postgres is down.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Health {
    pub status: OverallStatus,
    pub service: String,
    /// `enabled`.
    pub security: String,
    pub version: String,
    pub timestamp: DateTime<Utc>,
    pub checks: Checks,
    /// The reservation-cleanup job's last runs, once it has run.
    #[schema(required = false)]
    pub reservation_cleanup: Map<String, Value>,
    /// With `include_deps=true`: `{venueService: {status, responseTime, lastChecked, error?}}`,
    /// informational only (cached 30 s).
    #[schema(required = false)]
    pub dependencies: Map<String, Value>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Detailed {
    pub service: String,
    pub version: String,
    pub timestamp: DateTime<Utc>,
    pub checks: Checks,
    pub database: DatabaseDetails,
    pub redis: RedisDetails,
    #[schema(value_type = std::collections::BTreeMap<String, BreakerState>)]
    pub breakers: Value,
    pub process: ProcessDetails,
}

#[derive(ToSchema)]
pub struct DatabaseDetails {
    pub version: Option<String>,
    pub pool: PoolDetails,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PoolDetails {
    pub size: u32,
    pub idle: u64,
    pub in_use: u64,
    pub max: u32,
}

#[derive(ToSchema)]
pub struct RedisDetails {
    pub version: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ProcessDetails {
    pub pid: u32,
    pub uptime_seconds: u64,
    pub rss_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_and_the_v1_copies_are_suffixed() {
        let mut ids = HashSet::new();
        for item in spec().paths.paths.values() {
            for op in operations(item) {
                let id = op.operation_id.clone().expect("every operation has an id");
                assert!(ids.insert(id.clone()), "{id} is used twice");
            }
        }
        assert!(ids.contains("getLiveness") && ids.contains("getLivenessV1"));
    }

    #[test]
    fn create_bodies_require_what_creation_requires() {
        let doc: Value = serde_json::from_str(spec_json()).expect("json");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["EventCreate"]["required"], serde_json::json!(["name", "venue_id"]));
        assert!(schemas["EventUpdate"].get("required").is_none(), "updates are partial");
        assert_eq!(schemas["EventCreate"]["additionalProperties"], false);
        let event_required = schemas["Event"]["required"].as_array().expect("required");
        assert!(event_required.contains(&Value::from("schedule")));
        assert!(!event_required.contains(&Value::from("artist_wallet")), "admins only");
        let key = &doc["paths"]["/api/v1/events"]["post"]["parameters"][0];
        assert_eq!(
            (&key["name"], &key["required"], &key["schema"]["type"]),
            (&"Idempotency-Key".into(), &false.into(), &"string".into())
        );
    }
}
