//! The API description (`crate::openapi`) and an interactive page rendering it. Both are
//! public: they describe the API, they do not open it.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa_scalar::Scalar;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api-docs/openapi.json", get(openapi_json)).route("/api-docs", get(page))
}

/// Gets this OpenAPI document.
#[utoipa::path(
    get, path = "/api-docs/openapi.json", operation_id = "getOpenApi", tag = "docs",
    responses(
        (status = 200, description = "This document.", body = Object, content_type = "application/json"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 429, response = crate::openapi::TooManyRequests),
    )
)]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::spec_json())
}

/// Shows this document as an interactive page.
///
/// The page (Scalar) embeds the document and loads Scalar's script from its CDN in the
/// reader's browser; the server downloads nothing.
#[utoipa::path(
    get, path = "/api-docs", operation_id = "getApiDocs", tag = "docs",
    responses(
        (status = 200, description = "An HTML page.", body = String, content_type = "text/html"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 429, response = crate::openapi::TooManyRequests),
    )
)]
async fn page() -> Html<&'static str> {
    static HTML: OnceLock<String> = OnceLock::new();
    Html(HTML.get_or_init(|| Scalar::new(crate::openapi::spec().clone()).custom_html(PAGE).to_html()))
}

/// utoipa-scalar's page with a title; `$spec` is replaced by the document.
const PAGE: &str = r#"<!doctype html>
<html>
<head>
    <title>TicketToken event-service API</title>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1"/>
</head>
<body>
<script id="api-reference" type="application/json">
$spec
</script>
<script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script>
</body>
</html>
"#;
