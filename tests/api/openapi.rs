//! The served OpenAPI document describes exactly the routes the router has.
//!
//! axum cannot list its routes, so the router's source is the reference: `src/routes/mod.rs`
//! says which router modules sit at the root and which under `/api/v1`, and every
//! `.route("path", get(a).post(b))` call in those modules gives (method, path) pairs.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, path)` for every route the router serves, read from `src/routes`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let read = |name: &str| strip_comments(&std::fs::read_to_string(dir.join(name)).expect("routes source"));
    let url_map = read("mod.rs");
    // `let api_v1 = Router::new().merge(a::router())...;` then the root expression.
    let (v1_part, root_part) = url_map
        .split_once("let api_v1")
        .and_then(|(_, rest)| rest.split_once(';'))
        .expect("routes/mod.rs builds `let api_v1 = ...;` and then the root router");
    assert!(root_part.contains(".nest(\"/api/v1\", api_v1)"), "the v1 router is nested under /api/v1");
    let mut routes = BTreeSet::new();
    for (part, prefix) in [(v1_part, "/api/v1"), (root_part, "")] {
        for module in router_modules(part) {
            for (method, path) in route_calls(&read(&format!("{module}.rs"))) {
                routes.insert((method, format!("{prefix}{path}")));
            }
        }
    }
    routes
}

/// `x` for every `x::router(` in an expression.
fn router_modules(expr: &str) -> Vec<String> {
    expr.match_indices("::router(")
        .map(|(at, _)| {
            let head = &expr[..at];
            let start = head.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
            head[start..].to_owned()
        })
        .collect()
}

/// `(METHOD, path)` for every `.route("path", ...)` call of a module.
fn route_calls(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (at, _) in source.match_indices(".route(") {
        let args = balanced(&source[at + ".route(".len()..]);
        let path = args.split('"').nth(1).expect("a route path literal");
        let handlers = &args[args.find(',').expect("a method router")..];
        for method in METHODS {
            let call = format!("{method}(");
            let named = handlers
                .match_indices(&call)
                .any(|(i, _)| !handlers[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if named {
                found.push((method.to_uppercase(), path.to_owned()));
            }
        }
        assert!(found.iter().any(|(_, p)| p == path), "no method found for route {path}: {args}");
    }
    found
}

/// The text up to the parenthesis that closes the one before it.
fn balanced(text: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &text[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    panic!("unbalanced parentheses after .route(");
}

/// Drops `//` comments (route paths never contain `//`).
fn strip_comments(source: &str) -> String {
    source.lines().map(|l| l.split_once("//").map_or(l, |(code, _)| code)).collect::<Vec<_>>().join("\n")
}

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
async fn the_openapi_document_describes_every_route_and_only_routes() {
    let spec = served_spec().await;
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1: {}", spec["openapi"]);

    let source = routes_in_source();
    let described = routes_in_spec(&spec);
    assert!(source.len() > 40, "the route scan found too little: {source:?}");
    let undocumented: Vec<_> = source.difference(&described).collect();
    let phantom: Vec<_> = described.difference(&source).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    assert!(phantom.is_empty(), "documented routes the router does not have: {phantom:?}");
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
