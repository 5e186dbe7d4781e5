//! The API description (`crate::openapi`) and an interactive page rendering it. Both are
//! public: they describe the API, they do not open it.
//!
//! The page is Swagger UI, vendored and pinned (`assets/swagger-ui/`, `scripts/vendor-swagger-ui`)
//! and embedded in the binary: it loads nothing from another origin, works offline, and its
//! Content-Security-Policy allows this origin only.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json)).routes(routes!(page)).routes(routes!(asset))
}

/// The document as served (JSON, in declaration order), built once from the same
/// `routes::api` the router is built from.
pub fn spec_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let document = crate::openapi::document(super::api(|internal| internal).into_openapi());
        // utoipa's types serialize infallibly; an error here would be a bug in a derive.
        document.to_pretty_json().expect("the OpenAPI document serializes")
    })
}

/// Gets this OpenAPI document.
#[utoipa::path(
    get, path = "/api-docs/openapi.json", operation_id = "getOpenApi", tag = "docs",
    responses(
        (status = 200, description = "This document.", body = Object, content_type = "application/json"),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 429, response = crate::http::problem::TooManyRequests),
    )
)]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], spec_json())
}

/// Only this origin: the page, its script and style, and the document it fetches. Inline
/// scripts are refused, so the start-up code is a file of its own (`init.js`).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// Shows this document as an interactive page.
///
/// Swagger UI, served by this service from files embedded in its binary; the page loads
/// nothing from any other origin.
#[utoipa::path(
    get, path = "/api-docs", operation_id = "getApiDocs", tag = "docs",
    responses(
        (status = 200, description = "An HTML page.", body = String, content_type = "text/html"),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 429, response = crate::http::problem::TooManyRequests),
    )
)]
async fn page() -> Response {
    with_headers(PAGE.as_bytes(), "text/html; charset=utf-8", "no-cache")
}

/// Gets a file of the documentation page (Swagger UI's script and style, and the page's start-up script).
#[utoipa::path(
    get, path = "/api-docs/swagger-ui/{file}", operation_id = "getApiDocsAsset", tag = "docs",
    params(("file" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css` or `init.js`.")),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/javascript"),
            (String = "text/css"),
        )),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 429, response = crate::http::problem::TooManyRequests),
    )
)]
async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        // The names carry no version, so browsers revalidate after an hour rather than never.
        Some((_, bytes, content_type)) => with_headers(bytes, content_type, "public, max-age=3600"),
        None => ApiError::not_found("File").into_response(),
    }
}

fn with_headers(body: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `(name, bytes, content type)` of every file under `/api-docs/swagger-ui/`.
const ASSETS: &[(&str, &[u8], &str)] = &[
    ("swagger-ui-bundle.js", include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"), JS),
    ("swagger-ui.css", include_bytes!("../../assets/swagger-ui/swagger-ui.css"), "text/css; charset=utf-8"),
    ("init.js", INIT.as_bytes(), JS),
];
const JS: &str = "text/javascript; charset=utf-8";

/// Relative URLs, so the page also works behind a gateway that adds a path prefix: from
/// `<prefix>/api-docs` they resolve to `<prefix>/api-docs/...`.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>TicketToken event-service API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="api-docs/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="api-docs/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="api-docs/swagger-ui/init.js"></script>
</body>
</html>
"#;

/// `validatorUrl: null`: Swagger UI would otherwise send the document's URL to
/// validator.swagger.io for a badge.
const INIT: &str = r##"window.ui = SwaggerUIBundle({
  url: "api-docs/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"##;

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// The embedded files are the ones `scripts/vendor-swagger-ui` recorded from the npm package.
    #[test]
    fn embedded_swagger_ui_files_match_their_recorded_sha256() {
        let sums = include_str!("../../assets/swagger-ui/SHA256SUMS");
        for (name, bytes, _) in &super::ASSETS[..2] {
            let recorded = sums
                .lines()
                .find_map(|l| l.strip_suffix(name).map(str::trim))
                .unwrap_or_else(|| panic!("{name} is not in SHA256SUMS"));
            assert_eq!(hex::encode(Sha256::digest(bytes)), recorded, "{name}");
        }
    }
}

#[cfg(test)]
mod document_tests {
    use std::collections::HashSet;

    use serde_json::Value;

    use super::*;

    #[test]
    fn operation_ids_are_unique_and_the_v1_copies_are_suffixed() {
        let mut ids = HashSet::new();
        let doc: Value = serde_json::from_str(spec_json()).expect("json");
        for item in doc["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("path item").values().filter(|op| op.get("operationId").is_some()) {
                let id = op["operationId"].as_str().expect("an id").to_owned();
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
