//! One API error type, rendered as RFC 7807 `application/problem+json`.
//!
//! Client errors carry a stable `code` and, for validation, a field list. Internal errors keep
//! their cause (`source`) for the log line written once by the request middleware
//! (`http::log_request`), and never put it in the body.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::request_id;

pub type ApiResult<T, E = ApiError> = std::result::Result<T, E>;

/// One entry of the `errors` list of a validation problem.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub code: &'static str,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into(), code }
    }
}

/// The problem kinds of the original service; each maps to a `type` URI and a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Validation,
    NotFound,
    Unauthorized,
    Forbidden,
    /// 403 for a tenant that is suspended, inactive or unknown to auth-service.
    TenantInvalid,
    Conflict,
    RateLimited,
    PayloadTooLarge,
    UnsupportedMediaType,
    Internal,
    BadGateway,
    ServiceUnavailable,
    Timeout,
}

impl Kind {
    fn slug(self) -> &'static str {
        match self {
            Kind::Validation => "validation-error",
            Kind::NotFound => "not-found",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::TenantInvalid => "tenant-invalid",
            Kind::Conflict => "conflict",
            Kind::RateLimited => "rate-limited",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::Internal => "internal-error",
            Kind::BadGateway => "bad-gateway",
            Kind::ServiceUnavailable => "service-unavailable",
            Kind::Timeout => "timeout",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Validation => "Validation Error",
            Kind::NotFound => "Not Found",
            Kind::Unauthorized => "Unauthorized",
            Kind::Forbidden => "Forbidden",
            Kind::TenantInvalid => "Tenant Not Active",
            Kind::Conflict => "Conflict",
            Kind::RateLimited => "Too Many Requests",
            Kind::PayloadTooLarge => "Payload Too Large",
            Kind::UnsupportedMediaType => "Unsupported Media Type",
            Kind::Internal => "Internal Server Error",
            Kind::BadGateway => "Bad Gateway",
            Kind::ServiceUnavailable => "Service Unavailable",
            Kind::Timeout => "Gateway Timeout",
        }
    }
}

/// An error that becomes a problem+json response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: Kind,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<Duration>,
    /// For a 429: the limit that was hit. The body then carries `limit`, `remaining` (0) and
    /// `retryAfter`, the one documented 429 shape whichever limiter refused.
    pub limit: Option<u32>,
    /// The cause, for the log only.
    pub source: Option<anyhow::Error>,
    /// Set when the error came from Postgres: what kind of failure it was, decided when the
    /// `sqlx::Error` was converted. The resilience layer (`storage::postgres::PgClassifier`)
    /// reads this instead of digging through `source`.
    pub db_fault: Option<DbFault>,
}

/// A database failure, classified once from the `sqlx::Error` it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbFault {
    pub kind: DbFaultKind,
    /// Raised by COMMIT: the transaction may or may not have been committed.
    pub at_commit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFaultKind {
    /// The connection broke or could not be made (I/O, TLS, protocol, 08xxx, 57P01-03).
    Connection,
    /// No connection within the acquire timeout while the pool was full: busy, not sick.
    PoolBusy,
    /// No connection within the acquire timeout while the pool could not fill: unreachable.
    PoolUnreachable,
    /// Postgres refused for lack of resources (53300 too many connections, 53200 out of memory).
    Overloaded,
    /// The statement timed out (57014).
    Cancelled,
    /// A serialization failure or deadlock (40001, 40P01): the transaction was rolled back.
    Conflict,
    /// Anything else: constraint violations, bad data, programming errors.
    Other,
}

impl DbFault {
    pub fn of(err: &sqlx::Error) -> Self {
        let kind = match err {
            sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
                DbFaultKind::Connection
            }
            sqlx::Error::PoolTimedOut => DbFaultKind::PoolBusy,
            sqlx::Error::Database(e) => match e.code().as_deref().unwrap_or("") {
                c if c.starts_with("08") => DbFaultKind::Connection,
                // The server closed the connection (shutdown, or idle in a transaction too
                // long): nothing of this transaction was committed.
                "57P01" | "57P02" | "57P03" | "25P03" => DbFaultKind::Connection,
                "57014" => DbFaultKind::Cancelled,
                "53300" | "53200" => DbFaultKind::Overloaded,
                "40001" | "40P01" => DbFaultKind::Conflict,
                _ => DbFaultKind::Other,
            },
            _ => DbFaultKind::Other,
        };
        DbFault { kind, at_commit: false }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ApiError {
    pub fn new(status: StatusCode, kind: Kind, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            limit: None,
            source: None,
            db_fault: None,
        }
    }

    /// 400 for a request that does not match the schema.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self { errors, ..Self::new(StatusCode::BAD_REQUEST, Kind::Validation, "VALIDATION_ERROR", detail) }
    }

    /// 422 for a well-formed request that breaks a domain rule.
    pub fn unprocessable(errors: Vec<FieldError>) -> Self {
        Self { status: StatusCode::UNPROCESSABLE_ENTITY, ..Self::validation(errors) }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Kind::Validation, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Kind::Unauthorized, "UNAUTHORIZED", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, Kind::Forbidden, "FORBIDDEN", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, Kind::NotFound, "NOT_FOUND", format!("{what} not found"))
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Kind::Conflict, code, detail)
    }

    /// 429 from a limiter: `limit` is what was hit, `retry_after` when to come back.
    pub fn too_many(code: &'static str, detail: impl Into<String>, limit: u32, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            limit: Some(limit),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, Kind::RateLimited, code, detail)
        }
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self { retry_after, ..Self::new(StatusCode::SERVICE_UNAVAILABLE, Kind::ServiceUnavailable, code, detail) }
    }

    /// 500 with a generic body; the cause goes to the log.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Kind::Internal,
                "INTERNAL_ERROR",
                "An internal error occurred",
            )
        }
    }

    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    instance: String,
    code: &'static str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining: Option<u32>,
    #[serde(rename = "retryAfter", skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

/// What the request-log middleware needs to log an error once, at the edge.
#[derive(Clone, Debug)]
pub struct LoggedError {
    pub code: &'static str,
    pub cause: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Whole seconds, rounded up: "0" would invite an immediate retry storm.
        let retry_secs = self.retry_after.map(|after| (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1));
        let body = ProblemBody {
            type_: format!("https://api.tickettoken.com/errors/{}", self.kind.slug()),
            title: self.kind.title(),
            status: self.status.as_u16(),
            detail: &self.detail,
            instance: format!("urn:uuid:{}", request_id::current().unwrap_or_default()),
            code: self.code,
            errors: &self.errors,
            limit: self.limit,
            remaining: self.limit.map(|_| 0),
            retry_after: self.limit.and(retry_secs),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = retry_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(LoggedError { code: self.code, cause: self.source.map(|e| format!("{e:#}")) });
        response
    }
}

impl From<sqlx::Error> for ApiError {
    /// Constraint violations become client errors by constraint name; infrastructure
    /// failures become 503; anything else is internal.
    fn from(err: sqlx::Error) -> Self {
        let mapped = match &err {
            sqlx::Error::RowNotFound => ApiError::not_found("Resource"),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => ApiError::unavailable(
                "DATABASE_UNAVAILABLE",
                "The database is unavailable",
                Some(Duration::from_secs(5)),
            ),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("23505") => ApiError::conflict("DUPLICATE_RESOURCE", constraint_detail(db.constraint())),
                Some("23503") => ApiError::bad_request("INVALID_REFERENCE", "A referenced resource does not exist"),
                Some("23514") => ApiError::unprocessable(vec![FieldError::new(
                    constraint_field(db.constraint()),
                    "CONSTRAINT_VIOLATION",
                    "violates a data rule",
                )]),
                Some("40001" | "40P01") => {
                    ApiError::conflict("CONCURRENT_UPDATE", "A concurrent update interfered; retry")
                }
                Some("55P03") => ApiError::conflict("RESOURCE_LOCKED", "The resource is locked by another request"),
                // U+0000 is valid JSON but Postgres stores it in neither text (22021) nor jsonb
                // (22P05): the client's value, not a server fault.
                Some("22021" | "22P05") => ApiError::bad_request(
                    "UNSUPPORTED_CHARACTER",
                    "Text values cannot contain the NUL character (U+0000)",
                ),
                // Backstops for bounds the request validation should have caught: a value too
                // long for its column, or a date or number outside what Postgres stores.
                Some("22001") => ApiError::bad_request("VALUE_TOO_LONG", "A value is longer than allowed"),
                Some("22003" | "22007" | "22008") => {
                    ApiError::bad_request("VALUE_OUT_OF_RANGE", "A number or date is outside the allowed range")
                }
                Some("57014") => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Kind::Timeout,
                    "DATABASE_TIMEOUT",
                    "The database did not answer in time",
                ),
                Some(code)
                    if code.starts_with("08")
                        || code == "57P01"
                        || code == "57P03"
                        || code == "25P03"
                        || code == "53300" =>
                {
                    ApiError::unavailable(
                        "DATABASE_UNAVAILABLE",
                        "The database is unavailable",
                        Some(Duration::from_secs(5)),
                    )
                }
                _ => ApiError::internal(anyhow::anyhow!("unmapped database error")),
            },
            _ => ApiError::internal(anyhow::anyhow!("database error")),
        };
        let fault = DbFault::of(&err);
        let mut mapped = mapped.with_source(err);
        mapped.db_fault = Some(fault);
        mapped
    }
}

fn constraint_detail(constraint: Option<&str>) -> String {
    match constraint {
        Some("events_venue_slug_unique") => "An event with this name already exists at this venue".to_owned(),
        Some("event_capacity_section_unique") => "A section with this name already exists for this event".to_owned(),
        _ => "The resource already exists".to_owned(),
    }
}

fn constraint_field(constraint: Option<&str>) -> String {
    match constraint {
        Some("events_royalty_sum_check" | "events_royalty_range_check") => "artist_percentage".to_owned(),
        Some("events_virtual_url_check") => "virtual_event_url".to_owned(),
        Some("event_capacity_counters_check" | "section_stripes_counters_check" | "section_stripes_sum_check") => {
            "capacity".to_owned()
        }
        // Schema names are not part of the API.
        Some(_) | None => "body".to_owned(),
    }
}

/// The resilience layer's verdicts: the dependency is unavailable, so 503 with `Retry-After`.
impl From<resilience::ResilienceError<ApiError>> for ApiError {
    fn from(err: resilience::ResilienceError<ApiError>) -> Self {
        use resilience::ResilienceError as R;
        match err {
            R::Inner(e) => e,
            R::BreakerOpen { breaker, retry_after } => ApiError::unavailable(
                "DEPENDENCY_UNAVAILABLE",
                format!("{breaker} is unavailable; failing fast"),
                Some(retry_after),
            ),
            R::AttemptTimeout { after } | R::DeadlineExceeded { after } => ApiError {
                retry_after: Some(Duration::from_secs(1)),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Kind::Timeout,
                    "DEPENDENCY_TIMEOUT",
                    format!("a dependency did not answer within {} ms", after.as_millis()),
                )
            },
            R::BulkheadFull { dependency } => ApiError::unavailable(
                "DEPENDENCY_BUSY",
                format!("{dependency} is at its concurrency limit"),
                Some(Duration::from_secs(1)),
            ),
        }
    }
}
