//! The URL map, in one place.

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

use axum::Router;

use crate::state::AppState;

/// Health and metrics are served at the root (for probes and scrapers) and under `/api/v1`
/// (for the platform's API gateway), as the original did; the API description at the root.
/// Internal routes are at the root, where every platform caller sends them, and under
/// `/api/v1` for callers whose base URL carries that prefix.
/// `tests/api/openapi.rs` reads this function to know which routers sit where.
pub fn router(state: AppState) -> Router<AppState> {
    let api_v1 = Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(events::router())
        .merge(admin::router())
        .merge(capacity::router())
        .merge(pricing::router())
        .merge(schedules::router())
        .merge(internal::router(state.clone()));
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(docs::router())
        .merge(internal::router(state))
        .nest("/api/v1", api_v1)
}
