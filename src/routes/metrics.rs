use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(render))
}

/// Prometheus metrics.
#[utoipa::path(
    get, path = "/metrics", operation_id = "getMetrics", tag = "metrics",
    responses(
        (status = 200, description = "Metrics in the Prometheus text format 0.0.4.", body = String, content_type = "text/plain"),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
    )
)]
async fn render(State(state): State<AppState>) -> impl IntoResponse {
    crate::metrics::record_pool(state.db.pool(), state.db.max_connections());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
