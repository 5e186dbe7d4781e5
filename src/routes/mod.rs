//! The URL map, in one place. Each area's `router()` lists its handlers with `routes!`, so a
//! handler is served and described by the same line; `api` places the areas, and both the
//! router and the API document (`crate::openapi`) are built from it.

pub mod admin;
pub mod capacity;
pub mod docs;
pub mod events;
pub mod health;
pub mod internal;
pub mod metrics;
pub mod operator;
pub mod pricing;
pub mod schedules;

use axum::{Router, middleware};
use utoipa_axum::router::OpenApiRouter;

use crate::http::internal_auth::require_internal_hmac;
use crate::state::AppState;

/// Every route of the public listener. Health and metrics are served at the root (for probes
/// and scrapers) and under `/api/v1` (for the platform's API gateway), as the original did;
/// the API description at the root. Internal routes are at the root, where every platform
/// caller sends them, and under `/api/v1` for callers whose base URL carries that prefix.
///
/// `guard_internal` wraps the internal routes in their HMAC check; the document is built
/// without it (it describes the check as security schemes).
pub fn api(guard_internal: impl Fn(OpenApiRouter<AppState>) -> OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let api_v1 = OpenApiRouter::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(events::router())
        .merge(admin::router())
        .merge(capacity::router())
        .merge(pricing::router())
        .merge(schedules::router())
        .merge(guard_internal(internal::router()));
    OpenApiRouter::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(docs::router())
        .merge(guard_internal(internal::router()))
        .nest("/api/v1", api_v1)
}

pub fn router(state: &AppState) -> Router<AppState> {
    let (router, _document) =
        api(|internal| internal.route_layer(middleware::from_fn_with_state(state.clone(), require_internal_hmac)))
            .split_for_parts();
    router
}
