//! The served OpenAPI document: what it promises holds for the running service.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn routes_in_spec(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn served_spec() -> Value {
    let app = spawn_app().await;
    // No token: the description is public.
    let response = app.get("/api-docs/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("json")
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    // The router and the document come from the same `routes!` lines (`routes::api`), so they
    // cannot disagree by construction; this checks the construction: each documented
    // operation reaches a handler (or its guard), never the router's fallback.
    let app = spawn_app().await;
    let spec = served_spec().await;
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1: {}", spec["openapi"]);
    let operations = routes_in_spec(&spec);
    assert!(operations.len() > 40, "the document lists too little: {operations:?}");
    let token = app.token("admin");
    for (method, template) in &operations {
        let path: String = template
            .split('/')
            .map(|segment| match segment {
                "{file}" => "swagger-ui.css".to_owned(),
                s if s.starts_with('{') => uuid::Uuid::new_v4().to_string(),
                s => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(status, 405, "{method} {template} is documented but not routed");
        assert_ne!(body["detail"], "Route not found", "{method} {template} is documented but not routed");
    }
}

#[tokio::test]
async fn request_bodies_are_closed_and_errors_are_problem_json() {
    let spec = served_spec().await;
    let schemas = &spec["components"]["schemas"];
    let responses = &spec["components"]["responses"];
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let name = format!("{method} {path}");
            if let Some(body) = op.get("requestBody") {
                let reference = body["content"]["application/json"]["schema"]["$ref"].as_str().expect("a named body");
                let schema = &schemas[reference.rsplit('/').next().expect("schema name")];
                assert_eq!(schema["additionalProperties"], false, "{name}: unknown fields are rejected");
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || (status.starts_with('5') && !path.contains("/health")) {
                    let reference = response["$ref"].as_str().unwrap_or_else(|| panic!("{name} {status} is shared"));
                    let shared = &responses[reference.rsplit('/').next().expect("response name")];
                    assert!(shared["content"]["application/problem+json"].is_object(), "{name} {status}");
                }
            }
        }
    }
}

#[tokio::test]
async fn the_docs_page_and_everything_it_loads_come_from_this_service() {
    let app = spawn_app().await;
    let response = app.get("/api-docs").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let csp = response.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.starts_with("default-src 'none'; script-src 'self';"), "{csp}");
    let html = response.text().await.expect("body");
    assert!(!html.contains("//"), "no absolute or scheme-relative URL in the page: {html}");

    // Every script and stylesheet the page names, resolved against /api-docs.
    let urls: Vec<&str> = html.split(['"', '\'']).filter(|part| part.starts_with("api-docs/")).collect();
    assert_eq!(urls.len(), 3, "{html}");
    for url in urls {
        let asset = app.get(&format!("/{url}")).await;
        assert_eq!(asset.status(), 200, "{url}");
        let kind = asset.headers()["content-type"].to_str().expect("ascii").to_owned();
        assert!(kind.starts_with(if url.ends_with(".css") { "text/css" } else { "text/javascript" }), "{url}: {kind}");
        let body = asset.text().await.expect("body");
        if url.ends_with("init.js") {
            assert!(body.contains("url: \"api-docs/openapi.json\"") && body.contains("validatorUrl: null"), "{body}");
        } else {
            assert!(body.len() > 100_000, "{url} is the vendored Swagger UI file");
        }
    }
    let (status, _) = crate::helpers::problem(app.get("/api-docs/swagger-ui/nope.js").await).await;
    assert_eq!(status, 404);
}
