//! The documented shapes of errors: every error is an RFC 7807 problem
//! (`application/problem+json`, built by `crate::error::ApiError`), and the per-status
//! responses routes list in their `#[utoipa::path]` annotations.

use utoipa::{ToResponse, ToSchema};

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

/// The errors every authenticated action on one resource without a body can answer (401, 403,
/// 404, 409, 429, 500, 503): publish, delete, confirm, release, retry.
#[derive(utoipa::IntoResponses)]
pub enum ActionErrors {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
    #[response(status = 409)]
    Conflict(#[ref_response] Conflict),
    #[response(status = 429)]
    TooManyRequests(#[ref_response] TooManyRequests),
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
