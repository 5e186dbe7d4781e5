//! HTTP plumbing shared by every route: the request context middleware, the fallback, and
//! the JSON extractor.

pub mod authenticate;
pub mod concurrency;
pub mod idempotency;
pub mod internal_auth;
pub mod json;
pub mod path;
pub mod problem;
pub mod query;
pub mod rate_limit;
pub mod request_id;

use std::any::Any;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{ApiError, LoggedError};

/// Request id, root span, one structured log line and the HTTP metrics, for every request.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id::accept_or_generate(req.headers().get(request_id::HEADER).and_then(|v| v.to_str().ok()));
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(request_id::HEADER, value);
    }
    let method = req.method().clone();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        http.method = %method,
        http.route = %route,
        tenant.id = tracing::field::Empty,
    );

    let mut response = request_id::scope(id.clone(), next.run(req)).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        response.headers_mut().entry(axum::http::header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    }

    let status = response.status();
    let elapsed = started.elapsed();
    crate::metrics::record_http(&method, &route, status.as_u16(), elapsed);

    let panicked = response.extensions().get::<Panicked>().is_some();
    if panicked {
        metrics::counter!("http_panics_total", "route" => route.clone()).increment(1);
    }

    let logged = response.extensions().get::<LoggedError>();
    let code = logged.map(|e| e.code).unwrap_or("");
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let _enter = span.enter();
    if panicked {
        let cause = logged.and_then(|e| e.cause.as_deref()).unwrap_or("");
        tracing::error!(
            status = status.as_u16(),
            duration_ms,
            error.code = code,
            error.cause = cause,
            "handler panicked"
        );
    } else if status.is_server_error() {
        let cause = logged.and_then(|e| e.cause.as_deref()).unwrap_or("");
        tracing::error!(
            status = status.as_u16(),
            duration_ms,
            error.code = code,
            error.cause = cause,
            "request failed"
        );
    } else if route.contains("/health") || route == "/metrics" {
        // Probes arrive every few seconds; keep them out of the default log level.
        tracing::debug!(status = status.as_u16(), duration_ms, "probe served");
    } else {
        tracing::info!(status = status.as_u16(), duration_ms, error.code = code, "request served");
    }
    response
}

/// Marks a response that `panic_response` made, for `request_context` to count.
#[derive(Clone, Copy, Debug)]
struct Panicked;

/// What a panicking handler (or middleware inside the panic catcher) answers: a generic 500
/// problem. The panic message goes to the log line only, never to the client. It runs while
/// the request's future is polled, so the request id is in scope for `instance`.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => panic.downcast_ref::<&str>().copied().unwrap_or("a non-string panic payload").to_owned(),
    };
    let mut response = ApiError::internal(anyhow::anyhow!("handler panicked: {message}")).into_response();
    response.extensions_mut().insert(Panicked);
    response
}

/// Unknown routes get a problem body like every other error.
pub async fn fallback() -> impl IntoResponse {
    ApiError::not_found("Route")
}

/// Bounds every request; a handler that overruns gets a problem response, not a hang.
pub async fn request_timeout(limit: std::time::Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            crate::error::Kind::Timeout,
            "REQUEST_TIMEOUT",
            "The request took too long",
        )
        .into_response(),
    }
}
