//! venue-stub: venue-service as event-service meets it (`tools/platform-fakes`), for the local
//! dev stack: `GET /internal/venues/{id}` (HMAC as `event-service`, `{venue:{...}}` camelCase,
//! the tenant header ignored, venue-service's rate limits), `GET /api/v1/venues/{id}` refusing
//! service calls, `GET /health/live`; and ticket-service's `GET /internal/tickets/by-event/{id}`
//! (no tickets), so scan-stats has a ticket-service to ask. Demo venues below.
//!
//! `VENUE_STUB_PORT` (3002) and `VENUE_STUB_HOST` (127.0.0.1; 0.0.0.0 in a container) set where
//! it listens; `INTERNAL_HMAC_SECRET` turns the signature check on (as `USE_NEW_HMAC=true` does
//! in the real services); `DISABLE_RATE_LIMIT=true` switches the 100/min limit off, as in
//! venue-service.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Json, Router};
use platform_fakes::Reply;
use platform_fakes::ticket_service::TicketService;
use platform_fakes::venue_service::{VenueRecord, VenueService};

const DEMO_TENANT: &str = "00000000-0000-4000-8000-000000000001";
const OTHER_TENANT: &str = "00000000-0000-4000-8000-000000000002";

/// (tenant, venue id, name, capacity, time zone, status)
const VENUES: &[(&str, &str, &str, i64, &str, &str)] = &[
    (DEMO_TENANT, "00000000-0000-4000-8000-0000000000b1", "Main Hall", 5000, "America/New_York", "active"),
    (DEMO_TENANT, "00000000-0000-4000-8000-0000000000b2", "Small Club", 300, "Europe/Berlin", "active"),
    (DEMO_TENANT, "00000000-0000-4000-8000-0000000000b3", "Closed Theatre", 800, "UTC", "inactive"),
    // Big enough for load benchmarks on one hot section.
    (DEMO_TENANT, "00000000-0000-4000-8000-0000000000b4", "Stadium", 1_000_000, "UTC", "active"),
    (OTHER_TENANT, "00000000-0000-4000-8000-0000000000c1", "Other Tenant Arena", 20000, "UTC", "active"),
];

struct Fakes {
    venues: VenueService,
    tickets: TicketService,
}

fn respond(reply: Reply) -> axum::response::Response {
    let mut response =
        (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), Json(reply.body))
            .into_response();
    for (name, value) in reply.headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[tokio::main]
async fn main() {
    let secret = std::env::var("INTERNAL_HMAC_SECRET").ok().filter(|s| !s.is_empty());
    let limits = if std::env::var("DISABLE_RATE_LIMIT").as_deref() == Ok("true") { None } else { Some((100, 30)) };
    let venues = VenueService::new(secret.as_deref().map(str::as_bytes)).with_limits(limits);
    for &(tenant, id, name, capacity, timezone, status) in VENUES {
        let (Ok(tenant), Ok(id)) = (tenant.parse(), id.parse()) else { continue };
        let mut venue = VenueRecord::active(id, tenant, name, capacity, timezone);
        venue.status = status.to_owned();
        venues.register(venue);
    }
    let fakes = Arc::new(Fakes { venues, tickets: TicketService::new(secret.as_deref().map(str::as_bytes)) });
    let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let fakes = fakes.clone();
        async move {
            let reply = if uri.path().starts_with("/internal/tickets/") {
                fakes.tickets.handle(&method, &uri, &headers, &body)
            } else {
                fakes.venues.handle(&method, &uri, &headers, &body)
            };
            respond(reply)
        }
    });
    let port: u16 = std::env::var("VENUE_STUB_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3002);
    let host = std::env::var("VENUE_STUB_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("venue-stub: cannot bind {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    let signed = if secret.is_some() { "HMAC on" } else { "HMAC off (no INTERNAL_HMAC_SECRET)" };
    eprintln!("venue-stub listening on {host}:{port} ({signed})");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("venue-stub: {e}");
    }
}
