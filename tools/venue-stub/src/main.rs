//! venue-stub: answers `GET /api/v1/venues/{id}` like the venue-service does (the venue row,
//! 404 when the venue is not in the tenant named by `X-Tenant-ID`) and `GET /health/live`,
//! for a fixed set of demo venues. For local development only; tests use wiremock instead.
//!
//! `VENUE_STUB_PORT` (3002) and `VENUE_STUB_HOST` (127.0.0.1; 0.0.0.0 in a container) set
//! where it listens.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// (tenant, venue id, name, capacity, time zone, status)
const VENUES: &[(&str, &str, &str, i64, &str, &str)] = &[
    (
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-0000000000b1",
        "Main Hall",
        5000,
        "America/New_York",
        "active",
    ),
    (
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-0000000000b2",
        "Small Club",
        300,
        "Europe/Berlin",
        "active",
    ),
    (
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-0000000000b3",
        "Closed Theatre",
        800,
        "UTC",
        "inactive",
    ),
    // Big enough for load benchmarks on one hot section.
    (
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-0000000000b4",
        "Stadium",
        1_000_000,
        "UTC",
        "active",
    ),
    (
        "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-0000000000c1",
        "Other Tenant Arena",
        20000,
        "UTC",
        "active",
    ),
];

async fn venue(Path(id): Path<String>, headers: HeaderMap) -> impl IntoResponse {
    let tenant = headers.get("x-tenant-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let found = VENUES.iter().find(|v| v.0 == tenant && v.1 == id.as_str());
    match found {
        Some(&(tenant_id, id, name, max_capacity, timezone, status)) => (
            StatusCode::OK,
            Json(json!({
                "id": id, "tenant_id": tenant_id, "name": name,
                "slug": name.to_lowercase().replace(' ', "-"), "timezone": timezone, "venue_type": "hall",
                "max_capacity": max_capacity, "wallet_address": null, "status": status, "is_verified": true,
            })),
        ),
        None => (StatusCode::NOT_FOUND, Json(json!({ "error": "Venue not found" }))),
    }
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok", "service": "venue-stub" }))
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("VENUE_STUB_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3002);
    let app = Router::new().route("/api/v1/venues/{id}", get(venue)).route("/health/live", get(live));
    let host = std::env::var("VENUE_STUB_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("venue-stub: cannot bind {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("venue-stub listening on {host}:{port}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("venue-stub: {e}");
    }
}
