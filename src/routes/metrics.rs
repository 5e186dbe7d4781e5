use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

/// Prometheus metrics.
#[utoipa::path(
    get, path = "/metrics", operation_id = "getMetrics", tag = "metrics",
    responses(
        (status = 200, description = "Metrics in the Prometheus text format 0.0.4.", body = String, content_type = "text/plain"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
    )
)]
async fn render(State(state): State<AppState>) -> impl IntoResponse {
    crate::metrics::record_pool(state.db.pool(), state.db.max_connections());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
