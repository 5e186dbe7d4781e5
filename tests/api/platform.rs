//! The platform's callers, speaking exactly as `reference/platform-contracts.md` §1 records them:
//! the shared `EventServiceClient` (signed as the *target*, `event-service`, over the path
//! without `/api/v1`, `X-Tenant-ID` a UUID, `system`, `default` or absent), ticket-service
//! (signed as itself), order-service and monitoring; and ticket-service answering scan-stats.
//!
//! The signatures here are computed with `hmac`/`sha2` directly, as the platform's
//! `shared:hmac/signer.ts` does, not with this service's own signer.

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{
    HMAC_SECRET, TestApp, json_of, problem, scheduled_event_body, spawn_app, spawn_app_with, ticket_service,
};

/// `X-Tenant-ID` as a caller sends it.
#[derive(Clone, Copy)]
enum Tenant<'a> {
    Uuid(&'a str),
    Literal(&'a str),
    Absent,
}

/// One request exactly as `BaseServiceClient` (HMAC mode) sends it: `Content-Type:
/// application/json` even on GET, `X-Tenant-ID`, the HMAC headers signed with the *signing
/// name* over `path` (which includes any query), `x-internal-body-hash` only with a body,
/// `X-Internal-Service` overwritten by the signing name, `X-Calling-Service`, `X-User-ID`,
/// `X-Trace-ID`, `X-Span-ID`, and an `Idempotency-Key` on writes.
async fn platform_call(
    app: &TestApp,
    signing_name: &str,
    method: Method,
    url_prefix: &str,
    path: &str,
    tenant: Tenant<'_>,
    body: Option<&Value>,
) -> reqwest::Response {
    let body_text = body.map(|b| serde_json::to_string(b).unwrap());
    let body_hash = body_text.as_deref().map(|b| hex::encode(Sha256::digest(b.as_bytes()))).unwrap_or_default();
    let timestamp = chrono::Utc::now().timestamp_millis().to_string();
    let nonce = Uuid::new_v4().to_string();
    let payload = format!("{signing_name}:{timestamp}:{nonce}:{}:{path}:{body_hash}", method.as_str());
    let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let trace = format!("{:x}-{}", chrono::Utc::now().timestamp_millis(), &Uuid::new_v4().simple().to_string()[..8]);
    let mut request = app
        .client
        .request(method.clone(), app.url(&format!("{url_prefix}{path}")))
        .header("content-type", "application/json")
        .header("x-internal-service", signing_name)
        .header("x-internal-timestamp", &timestamp)
        .header("x-internal-nonce", &nonce)
        .header("x-internal-signature", signature)
        .header("x-calling-service", signing_name)
        .header("x-user-id", Uuid::new_v4().to_string())
        .header("x-trace-id", &trace)
        .header("x-span-id", &Uuid::new_v4().simple().to_string()[..16]);
    match tenant {
        Tenant::Uuid(t) | Tenant::Literal(t) => request = request.header("x-tenant-id", t),
        Tenant::Absent => {}
    }
    if let Some(text) = body_text {
        request = request
            .header("x-internal-body-hash", body_hash)
            .header("idempotency-key", format!("{signing_name}-{}-1a2b3c", method.as_str().to_lowercase()))
            .body(text);
    }
    request.send().await.unwrap()
}

/// The shared `EventServiceClient` (minting, marketplace, monitoring, notification): signed as
/// `event-service`, base URL without `/api/v1`.
async fn shared_client(app: &TestApp, path: &str, tenant: Tenant<'_>) -> reqwest::Response {
    platform_call(app, "event-service", Method::GET, "", path, tenant, None).await
}

async fn new_event(app: &TestApp, name: &str) -> String {
    let mut body = scheduled_event_body(name);
    body["artist_wallet"] = json!("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
    app.create_event(&app.token("admin"), body).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_shared_client_reaches_every_internal_route_at_the_root_with_the_fields_callers_read() {
    let app = spawn_app().await;
    let id = new_event(&app, "Shared client").await;
    let tenant = app.tenant.to_string();

    // minting-service: getEventPda -> hasBlockchainConfig, blockchain.eventPda
    let pda =
        json_of(shared_client(&app, &format!("/internal/events/{id}/pda"), Tenant::Uuid(&tenant)).await, 200).await;
    assert_eq!(pda["eventId"], id);
    assert_eq!(pda["hasBlockchainConfig"], false, "the original's meaning: a PDA *and* an artist wallet");
    assert!(pda["blockchain"].get("eventPda").is_some());

    // getEventInternal -> response.data.event (marketplace reads id, name, startsAt, venueId)
    let event = json_of(shared_client(&app, &format!("/internal/events/{id}"), Tenant::Uuid(&tenant)).await, 200).await;
    assert_eq!(event["event"]["id"], id);
    assert!(event["event"]["startsAt"].is_string() && event["event"]["venueId"].is_string());
    assert_eq!(event["event"]["resaleable"], true);

    // getEventScanStats -> metrics.capacityUtilization (no ticket-service configured: zeros)
    let scan =
        json_of(shared_client(&app, &format!("/internal/events/{id}/scan-stats"), Tenant::Uuid(&tenant)).await, 200)
            .await;
    assert_eq!(scan["metrics"]["capacityUtilization"], 0);
    assert_eq!(scan["ticketStats"]["totalTickets"], 0);
    assert_eq!(scan["ticketStatsSource"], "unavailable");
    assert_eq!(scan["event"]["capacity"], 500);
    assert_eq!(scan["eventTiming"]["isUpcoming"], true);

    // monitoring: getEventMetrics(ctx, 30) -> totalEvents; getActiveEvents -> events[].id/name
    let metrics =
        json_of(shared_client(&app, "/internal/events/metrics?periodDays=30", Tenant::Uuid(&tenant)).await, 200).await;
    assert_eq!((metrics["totalEvents"].as_i64(), metrics["periodDays"].as_i64()), (Some(1), Some(30)));
    let active = json_of(shared_client(&app, "/internal/events/active", Tenant::Uuid(&tenant)).await, 200).await;
    assert_eq!(active["count"], 0, "nothing on sale yet");

    // The same routes under /api/v1, for a caller configured with that base, signed over the
    // path it requested.
    let prefixed = platform_call(
        &app,
        "event-service",
        Method::GET,
        "",
        &format!("/api/v1/internal/events/{id}"),
        Tenant::Uuid(&tenant),
        None,
    )
    .await;
    assert_eq!(prefixed.status(), 200);
    // A caller that signs the path without the prefix but requests it with the prefix fails the
    // signature (the platform's old failure mode), with a problem body, not a silent 404.
    let mismatched = platform_call(
        &app,
        "event-service",
        Method::GET,
        "/api/v1",
        &format!("/internal/events/{id}"),
        Tenant::Uuid(&tenant),
        None,
    )
    .await;
    let (status, p) = problem(mismatched).await;
    assert_eq!((status, p["code"].as_str()), (401, Some("INVALID_SIGNATURE")));
}

#[tokio::test]
async fn placeholder_tenants_resolve_reads_to_the_events_own_tenant_and_are_refused_on_writes() {
    let app = spawn_app().await;
    let id = new_event(&app, "Placeholders").await;
    let path = format!("/internal/events/{id}");
    // monitoring and marketplace send `system`, notification and ticket-service `default`,
    // order-service `system` without a context; a missing header reads the same way.
    for tenant in [Tenant::Literal("system"), Tenant::Literal("default"), Tenant::Absent] {
        let body = json_of(shared_client(&app, &path, tenant).await, 200).await;
        assert_eq!(body["event"]["tenantId"], app.tenant.to_string(), "read under the event's own tenant");
    }
    let unknown = shared_client(&app, &format!("/internal/events/{}", Uuid::new_v4()), Tenant::Literal("system")).await;
    assert_eq!(unknown.status(), 404);

    // A tenant UUID scopes the lookup: another tenant's id is 404, never a cross-tenant read.
    let other = app.other_tenant().await.to_string();
    assert_eq!(shared_client(&app, &path, Tenant::Uuid(&other)).await.status(), 404);
    for bad in ["00000000-0000-0000-0000-000000000000", "undefined", "tenant-1"] {
        let (status, p) = problem(shared_client(&app, &path, Tenant::Literal(bad)).await).await;
        assert_eq!((status, p["code"].as_str()), (400, Some("INVALID_TENANT_FORMAT")), "{bad}");
    }

    // Writes need the tenant itself.
    let write = format!("{path}/blockchain-status");
    let body = json!({"status": "failed", "error": "simulated"});
    for tenant in [Tenant::Literal("system"), Tenant::Absent] {
        let r = platform_call(&app, "event-service", Method::PUT, "", &write, tenant, Some(&body)).await;
        let (status, p) = problem(r).await;
        assert_eq!((status, p["code"].as_str()), (400, Some("MISSING_TENANT_ID")));
    }
    let r = platform_call(&app, "event-service", Method::PUT, "", &write, Tenant::Uuid(&other), Some(&body)).await;
    assert_eq!(r.status(), 404, "another tenant's event cannot be written");
    let tenant = app.tenant.to_string();
    let r = platform_call(&app, "event-service", Method::PUT, "", &write, Tenant::Uuid(&tenant), Some(&body)).await;
    assert_eq!(json_of(r, 200).await["status"], "failed");
}

#[tokio::test]
async fn only_allow_listed_signed_callers_get_in() {
    let app = spawn_app().await;
    let id = new_event(&app, "Gate").await;
    let path = format!("/internal/events/{id}");
    let tenant = app.tenant.to_string();
    for caller in [
        "event-service",
        "ticket-service",
        "order-service",
        "minting-service",
        "monitoring-service",
        "marketplace-service",
    ] {
        let r = platform_call(&app, caller, Method::GET, "", &path, Tenant::Uuid(&tenant), None).await;
        assert_eq!(r.status(), 200, "{caller} is a real caller");
    }
    let r = platform_call(&app, "evil-service", Method::GET, "", &path, Tenant::Uuid(&tenant), None).await;
    assert_eq!(problem(r).await.0, 403);
    // blockchain-service's consumer calls unsigned (a TODO in its code): refused.
    let unsigned = app
        .client
        .put(app.url(&format!("{path}/blockchain-status")))
        .header("x-tenant-id", &tenant)
        .header("x-internal-service", "blockchain-service")
        .json(&json!({"status": "synced", "eventPda": "BnYanHjkV6bBDFYfC7F76TyYk6NA9p3wvcAfY1XZCXYS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(unsigned).await.0, 401);
}

#[tokio::test]
async fn ticket_service_reads_transfer_restrictions_signed_as_itself() {
    let app = spawn_app().await;
    let id = new_event(&app, "Transfers").await;
    let path = format!("/internal/events/{id}/transfer-restrictions");
    let ticket_service = |tenant| platform_call(&app, "ticket-service", Method::GET, "", &path, tenant, None);
    let tenant = app.tenant.to_string();
    let rules = json_of(ticket_service(Tenant::Uuid(&tenant)).await, 200).await;
    assert_eq!(rules["allowTransfers"], true);
    assert_eq!(rules["requireIdentityVerification"], false);
    assert!(rules["startDate"].is_string(), "{rules}");
    // ticket-service falls back to `default` when it has no tenant.
    assert_eq!(json_of(ticket_service(Tenant::Literal("default")).await, 200).await["allowTransfers"], true);

    // A deleted event must not look unknown (ticket-service reads 404 as "no restrictions").
    let deleted = app.send(Method::DELETE, &format!("/api/v1/events/{id}"), &app.token("admin"), None, None).await;
    assert_eq!(deleted.status(), 204);
    let rules = json_of(ticket_service(Tenant::Uuid(&tenant)).await, 200).await;
    assert_eq!(rules["allowTransfers"], false, "a deleted (cancelled) event allows no transfers");
    let unknown = format!("/internal/events/{}/transfer-restrictions", Uuid::new_v4());
    let r = platform_call(&app, "ticket-service", Method::GET, "", &unknown, Tenant::Uuid(&tenant), None).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn order_service_reads_postponed_rescheduled_and_cancelled_for_refunds() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    let id = new_event(&app, "Refunds").await;
    let path = format!("/internal/events/{id}/status");
    // order-service's EventClient: the shared client, signed as event-service, `system` without ctx.
    let status = || async { json_of(shared_client(&app, &path, Tenant::Literal("system")).await, 200).await };
    let s = status().await;
    assert_eq!(
        (s["status"].as_str(), s["isCancelled"].as_bool(), s["isPostponed"].as_bool()),
        (Some("DRAFT"), Some(false), Some(false))
    );
    assert!(s.get("originalDate").is_none());

    let original: Value = app.get_as(&format!("/api/v1/events/{id}"), &admin).await.json().await.unwrap();
    let original_start = original["event"]["starts_at"].as_str().unwrap().to_owned();
    let event_path = format!("/api/v1/events/{id}");
    let patch = |body: Value| {
        let (app, admin, event_path) = (&app, &admin, &event_path);
        async move { app.send(Method::PATCH, event_path, admin, Some(&body), None).await }
    };
    assert_eq!(app.send(Method::POST, &format!("/api/v1/events/{id}/publish"), &admin, None, None).await.status(), 200);
    assert_eq!(patch(json!({"status": "POSTPONED"})).await.status(), 200);
    let s = status().await;
    assert_eq!((s["isPostponed"].as_bool(), s["isRescheduled"].as_bool()), (Some(true), Some(false)));

    // Rescheduled: the state, then the schedule moved to its new date.
    assert_eq!(patch(json!({"status": "RESCHEDULED"})).await.status(), 200);
    let schedules: Value = app.get_as(&format!("/api/v1/events/{id}/schedules"), &admin).await.json().await.unwrap();
    let schedule = schedules["data"]["schedules"][0]["id"].as_str().unwrap().to_owned();
    let new_start = chrono::Utc::now() + chrono::Duration::days(40);
    let body = json!({"starts_at": new_start, "ends_at": new_start + chrono::Duration::hours(3)});
    let moved =
        app.send(Method::PUT, &format!("/api/v1/events/{id}/schedules/{schedule}"), &admin, Some(&body), None).await;
    assert_eq!(moved.status(), 200, "{}", moved.text().await.unwrap());
    let s = status().await;
    assert_eq!((s["status"].as_str(), s["isRescheduled"].as_bool()), (Some("RESCHEDULED"), Some(true)));
    let at = |v: &Value| v.as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(at(&s["originalDate"]), original_start.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    assert_eq!(at(&s["newDate"]).timestamp(), new_start.timestamp());

    let cancel = app.post_json(&format!("/api/v1/events/{id}/cancel"), &admin, &json!({"reason": "storm"})).await;
    assert_eq!(cancel.status(), 200);
    let s = status().await;
    assert_eq!(
        (s["status"].as_str(), s["isCancelled"].as_bool(), s["isRescheduled"].as_bool()),
        (Some("CANCELLED"), Some(true), Some(false))
    );
}

#[tokio::test]
async fn monitoring_sees_active_events_and_counts_platform_wide_with_system() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    let id = new_event(&app, "On sale").await;
    assert_eq!(app.send(Method::POST, &format!("/api/v1/events/{id}/publish"), &admin, None, None).await.status(), 200);
    let on_sale = app
        .send(Method::PATCH, &format!("/api/v1/events/{id}"), &admin, Some(&json!({"status": "ON_SALE"})), None)
        .await;
    assert_eq!(on_sale.status(), 200);

    let active = json_of(shared_client(&app, "/internal/events/active", Tenant::Literal("system")).await, 200).await;
    let mine =
        active["events"].as_array().unwrap().iter().find(|e| e["id"] == id.as_str()).expect("listed platform-wide");
    assert_eq!(
        (mine["name"].as_str(), mine["totalTickets"].as_i64(), mine["ticketsSold"].as_i64()),
        (Some("On sale"), Some(500), Some(0))
    );
    assert_eq!(mine["remainingTickets"], 500);

    let metrics =
        json_of(shared_client(&app, "/internal/events/metrics?periodDays=30", Tenant::Literal("system")).await, 200)
            .await;
    assert!(metrics["totalEvents"].as_i64().unwrap() >= 1 && metrics["publishedEvents"].as_i64().unwrap() >= 1);
    // Another tenant's scoped view does not include this tenant's event.
    let other = app.other_tenant().await.to_string();
    let theirs = json_of(shared_client(&app, "/internal/events/active", Tenant::Uuid(&other)).await, 200).await;
    assert_eq!(theirs["count"], 0);
    let (status, _) =
        problem(shared_client(&app, "/internal/events/metrics?periodDays=0", Tenant::Literal("system")).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn scan_stats_counts_tickets_from_ticket_services_by_event_route() {
    let (server, tickets) = ticket_service().await;
    let url = server.uri();
    let app = spawn_app_with(|v| {
        v.insert("TICKET_SERVICE_URL".into(), url);
    })
    .await;
    let id = new_event(&app, "Entry").await;
    let event_id: Uuid = id.parse().unwrap();
    use platform_fakes::ticket_service::TicketRecord;
    let mut records = Vec::new();
    for _ in 0..150 {
        records.push(TicketRecord::new("sold", None));
    }
    for i in 0..50 {
        records.push(TicketRecord::new("used", Some(&format!("2026-06-01T20:{:02}:00.000Z", i))));
    }
    records.push(TicketRecord::new("refunded", None));
    tickets.add_tickets(event_id, records);

    let tenant = app.tenant.to_string();
    let scan =
        json_of(shared_client(&app, &format!("/internal/events/{id}/scan-stats"), Tenant::Uuid(&tenant)).await, 200)
            .await;
    assert_eq!(scan["ticketStatsSource"], "ticket-service");
    let stats = &scan["ticketStats"];
    assert_eq!(
        (stats["totalTickets"].as_i64(), stats["soldTickets"].as_i64(), stats["usedTickets"].as_i64()),
        (Some(201), Some(200), Some(50))
    );
    assert_eq!((stats["validatedTickets"].as_i64(), stats["cancelledTickets"].as_i64()), (Some(50), Some(1)));
    assert_eq!(stats["lastValidationAt"], "2026-06-01T20:49:00Z");
    // entryRate = validated / sold, capacityUtilization = sold / capacity (500), rounded.
    assert_eq!(
        (scan["metrics"]["entryRate"].as_i64(), scan["metrics"]["capacityUtilization"].as_i64()),
        (Some(25), Some(40))
    );
    assert_eq!(scan["metrics"]["availableCapacity"], 300);
    assert!(tickets.calls() >= 1, "ticket-service was asked, and accepted our signature");

    // ticket-service failing: zeros within the original's 5 s, never an error.
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(500).set_body_json(json!({"error": "Failed to get tickets"})))
        .with_priority(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let scan =
        json_of(shared_client(&app, &format!("/internal/events/{id}/scan-stats"), Tenant::Uuid(&tenant)).await, 200)
            .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(6), "{:?}", started.elapsed());
    assert_eq!(
        (scan["ticketStatsSource"].as_str(), scan["ticketStats"]["soldTickets"].as_i64()),
        (Some("unavailable"), Some(0))
    );
}
