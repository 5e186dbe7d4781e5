//! The wire format, pinned: one snapshot per route family (`tests/api/snapshots/`), taken from a
//! real walk through the API. The JSON bodies are the contract with the platform's services, so
//! a refactor of how responses are built must leave every snapshot unchanged; a deliberate
//! change of the format is reviewed as a snapshot diff (`INSTA_UPDATE=always` rewrites them).
//!
//! Values that differ per run are replaced before comparing: UUIDs by `[uuid]`, timestamps by
//! `[timestamp]` plus their offset form (`Z` or `+00:00`), dates by `[date]`, and the few generated numbers by name (`[chain_event_id]`).
//! Keys are compared sorted (the body is parsed into `serde_json::Value`).

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app, token_with};

/// Keys whose values are generated per run but are not UUIDs or timestamps.
const GENERATED: &[&str] = &["chain_event_id", "slug", "minutesSinceEnd", "minutesUntilStart"];

fn normalise(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(mask(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if GENERATED.contains(&k.as_str()) && !v.is_null() {
                        Value::String(format!("[{k}]"))
                    } else {
                        normalise(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn mask(s: &str) -> String {
    if Uuid::parse_str(s).is_ok() {
        return "[uuid]".to_owned();
    }
    if let Some(rest) = s.strip_prefix("urn:uuid:")
        && Uuid::parse_str(rest).is_ok()
    {
        return "urn:uuid:[uuid]".to_owned();
    }
    if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        // The value varies, its form is part of the format: `Z` or a numeric offset.
        let offset = if s.ends_with('Z') { "Z" } else { &s[s.len() - 6..] };
        return format!("[timestamp{offset}]");
    }
    if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
        return "[date]".to_owned();
    }
    // A UUID inside a longer string (a path, a message).
    let mut out = s.to_owned();
    for word in s.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')) {
        if word.len() == 36 && Uuid::parse_str(word).is_ok() {
            out = out.replace(word, "[uuid]");
        }
    }
    out
}

/// Sends and returns `(status, normalised body)`; a 204 gives `null`.
async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let response = app.send(method, path, token, body.as_ref(), None).await;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("json body") };
    (status, json)
}

macro_rules! pin {
    ($name:expr, $status:expr, $response:expr) => {{
        let (status, body) = $response;
        assert_eq!(status, $status, "{}: {body}", $name);
        insta::assert_json_snapshot!($name, normalise(body.clone()));
        body
    }};
}

#[track_caller]
fn id(v: &Value) -> String {
    v.as_str().expect("an id").to_owned()
}

/// A fixed event: fixed names, a schedule 30 days ahead (normalised away), one section.
fn event_body(venue: Uuid) -> Value {
    let start = (Utc::now() + Duration::days(30)).date_naive().and_hms_opt(19, 0, 0).unwrap().and_utc();
    json!({
        "name": "Wire Format Night", "description": "The long description", "short_description": "Short",
        "venue_id": venue, "event_type": "single", "tags": ["live", "indoor"],
        "starts_at": start, "ends_at": start + Duration::hours(3), "doors_open": start - Duration::hours(1),
        "timezone": "Europe/Berlin", "capacity": 120, "age_restriction": 18,
        "artist_wallet": null, "venue_percentage": 10,
    })
}

#[tokio::test]
async fn the_wire_format_of_every_route_family_is_unchanged() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    let customer = token_with(app.tenant, "user", "customer-1", &[]);
    // The same user at checkout, after payment: confirming needs the hold's creator and `tickets:confirm`.
    let checkout = token_with(app.tenant, "user", "customer-1", &["tickets:confirm"]);
    let venue = app.venue_of(app.tenant);

    // Events.
    let created =
        pin!("events_create", 201, call(&app, Method::POST, "/api/v1/events", &admin, Some(event_body(venue))).await);
    let event_id = id(&created["event"]["id"]);
    let path = format!("/api/v1/events/{event_id}");
    pin!("events_get_admin", 200, call(&app, Method::GET, &path, &admin, None).await);
    // The second read is a cache hit, passed on as stored: the same body.
    pin!("events_get_admin", 200, call(&app, Method::GET, &path, &admin, None).await);
    pin!("events_get_customer", 200, call(&app, Method::GET, &path, &customer, None).await);
    pin!("events_list", 200, call(&app, Method::GET, "/api/v1/events?limit=5", &admin, None).await);
    pin!(
        "events_update",
        200,
        call(&app, Method::PUT, &path, &admin, Some(json!({"description": "Updated", "version": 1}))).await
    );
    pin!("events_publish", 200, call(&app, Method::POST, &format!("{path}/publish"), &admin, None).await);
    pin!("events_on_sale", 200, call(&app, Method::PATCH, &path, &admin, Some(json!({"status": "ON_SALE"}))).await);
    pin!("venue_events", 200, call(&app, Method::GET, &format!("/api/v1/venues/{venue}/events"), &admin, None).await);

    // Schedules.
    let schedules =
        pin!("schedules_list", 200, call(&app, Method::GET, &format!("{path}/schedules"), &admin, None).await);
    let schedule_id = id(&schedules["data"]["schedules"][0]["id"]);
    let start = (Utc::now() + Duration::days(40)).date_naive().and_hms_opt(20, 0, 0).unwrap().and_utc();
    let second = pin!(
        "schedules_create",
        201,
        call(
            &app,
            Method::POST,
            &format!("{path}/schedules"),
            &admin,
            Some(json!({"starts_at": start, "ends_at": start + Duration::hours(2), "notes": "second night"}))
        )
        .await
    );
    let second_id = id(&second["data"]["id"]);
    pin!("schedules_get", 200, call(&app, Method::GET, &format!("{path}/schedules/{schedule_id}"), &admin, None).await);
    pin!("schedules_upcoming", 200, call(&app, Method::GET, &format!("{path}/schedules/upcoming"), &admin, None).await);
    pin!("schedules_next", 200, call(&app, Method::GET, &format!("{path}/schedules/next"), &admin, None).await);
    pin!(
        "schedules_update",
        200,
        call(&app, Method::PUT, &format!("{path}/schedules/{second_id}"), &admin, Some(json!({"notes": "moved"})))
            .await
    );

    // Capacity and holds.
    let sections = pin!("capacity_list", 200, call(&app, Method::GET, &format!("{path}/capacity"), &admin, None).await);
    let general = id(&sections["capacity"][0]["id"]);
    let floor = pin!(
        "capacity_create",
        201,
        call(
            &app,
            Method::POST,
            &format!("{path}/capacity"),
            &admin,
            Some(json!({"section_name": "Floor", "total_capacity": 40, "buffer_capacity": 4, "tier": "floor",
                        "minimum_purchase": 1, "maximum_purchase": 6}))
        )
        .await
    );
    let floor_id = id(&floor["capacity"]["id"]);
    pin!("capacity_total", 200, call(&app, Method::GET, &format!("{path}/capacity/total"), &admin, None).await);
    pin!("capacity_get", 200, call(&app, Method::GET, &format!("/api/v1/capacity/{floor_id}"), &admin, None).await);
    pin!(
        "capacity_update",
        200,
        call(&app, Method::PUT, &format!("/api/v1/capacity/{floor_id}"), &admin, Some(json!({"total_capacity": 50})))
            .await
    );
    pin!(
        "capacity_check",
        200,
        call(&app, Method::POST, &format!("/api/v1/capacity/{general}/check"), &admin, Some(json!({"quantity": 2})))
            .await
    );

    // Pricing and ticket types (before the holds, so a hold can lock a price).
    let tier = pin!(
        "pricing_create",
        201,
        call(
            &app,
            Method::POST,
            &format!("{path}/pricing"),
            &admin,
            Some(json!({"name": "General Admission", "tier": "GA", "base_price": 49.99, "service_fee": "5.25",
                        "facility_fee": 2, "tax_rate": 0.0825, "max_per_order": 8, "display_order": 1}))
        )
        .await
    );
    let tier_id = id(&tier["pricing"]["id"]);
    pin!("pricing_list", 200, call(&app, Method::GET, &format!("{path}/pricing"), &admin, None).await);
    pin!("pricing_active", 200, call(&app, Method::GET, &format!("{path}/pricing/active"), &admin, None).await);
    pin!("pricing_get", 200, call(&app, Method::GET, &format!("/api/v1/pricing/{tier_id}"), &admin, None).await);
    pin!(
        "pricing_update",
        200,
        call(
            &app,
            Method::PUT,
            &format!("/api/v1/pricing/{tier_id}"),
            &admin,
            Some(json!({"description": "Standing"}))
        )
        .await
    );
    pin!(
        "pricing_calculate",
        200,
        call(&app, Method::POST, &format!("/api/v1/pricing/{tier_id}/calculate"), &admin, Some(json!({"quantity": 3})))
            .await
    );
    let ticket_type = pin!(
        "ticket_types_create",
        201,
        call(
            &app,
            Method::POST,
            &format!("{path}/ticket-types"),
            &admin,
            Some(json!({"name": "Balcony", "price": 30, "description": "Upstairs", "currency": "EUR", "max_per_order": 4}))
        )
        .await
    );
    let type_id = id(&ticket_type["data"]["id"]);
    pin!("ticket_types_list", 200, call(&app, Method::GET, &format!("{path}/ticket-types"), &admin, None).await);
    pin!(
        "ticket_types_update",
        200,
        call(
            &app,
            Method::PUT,
            &format!("{path}/ticket-types/{type_id}"),
            &admin,
            Some(json!({"name": "Balcony Left"}))
        )
        .await
    );

    let hold = pin!(
        "holds_create",
        201,
        call(
            &app,
            Method::POST,
            &format!("/api/v1/capacity/{general}/reserve"),
            &customer,
            Some(json!({"quantity": 2, "pricing_id": tier_id}))
        )
        .await
    );
    let hold_id = id(&hold["reservation"]["id"]);
    pin!("holds_get", 200, call(&app, Method::GET, &format!("/api/v1/reservations/{hold_id}"), &customer, None).await);
    pin!(
        "holds_confirm",
        200,
        call(&app, Method::POST, &format!("/api/v1/reservations/{hold_id}/confirm"), &checkout, None).await
    );
    let other = call(
        &app,
        Method::POST,
        &format!("/api/v1/capacity/{general}/reserve"),
        &customer,
        Some(json!({"quantity": 1})),
    )
    .await;
    assert_eq!(other.0, 201, "{}", other.1);
    let other_id = id(&other.1["reservation"]["id"]);
    pin!(
        "holds_release",
        200,
        call(&app, Method::POST, &format!("/api/v1/reservations/{other_id}/release"), &customer, None).await
    );

    // Internal routes, as the platform's services call them.
    for (name, route) in [
        ("internal_event", format!("/internal/events/{event_id}")),
        ("internal_pda", format!("/internal/events/{event_id}/pda")),
        ("internal_scan_stats", format!("/internal/events/{event_id}/scan-stats")),
        ("internal_status", format!("/internal/events/{event_id}/status")),
        ("internal_transfer_restrictions", format!("/internal/events/{event_id}/transfer-restrictions")),
    ] {
        let response = app.internal_get(&route).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json body");
        pin!(name, 200, (status, body));
    }

    // Errors: the problem+json shapes.
    pin!(
        "error_not_found",
        404,
        call(&app, Method::GET, &format!("/api/v1/events/{}", Uuid::new_v4()), &admin, None).await
    );
    pin!(
        "error_unknown_field",
        400,
        call(
            &app,
            Method::POST,
            "/api/v1/events",
            &admin,
            Some(json!({"name": "x", "venue_id": venue, "colour": "red"}))
        )
        .await
    );
    pin!(
        "error_unprocessable",
        422,
        call(&app, Method::POST, "/api/v1/events", &admin, Some(json!({"name": " ", "venue_id": venue}))).await
    );
    pin!("error_forbidden", 403, call(&app, Method::DELETE, &path, &customer, None).await);

    // Cancellation, then deletion of another event.
    pin!(
        "events_cancel",
        200,
        call(
            &app,
            Method::POST,
            &format!("{path}/cancel"),
            &admin,
            Some(json!({"reason": "The artist is ill", "refund_policy": "full"}))
        )
        .await
    );
    let doomed =
        call(&app, Method::POST, "/api/v1/events", &admin, Some(json!({"name": "Doomed", "venue_id": venue}))).await;
    assert_eq!(doomed.0, 201, "{}", doomed.1);
    let doomed_path = format!("/api/v1/events/{}", id(&doomed.1["event"]["id"]));
    pin!("events_delete", 204, call(&app, Method::DELETE, &doomed_path, &admin, None).await);

    // Last: it records a chain outcome on the event the snapshots above show.
    let write = crate::internal::signed(
        &app,
        Method::PUT,
        &format!("/internal/events/{event_id}/blockchain-status"),
        app.tenant,
        Some(&json!({"status": "failed", "error": "simulated"})),
        None,
    )
    .await;
    let status = write.status().as_u16();
    pin!("internal_blockchain_status", 200, (status, write.json::<Value>().await.expect("json body")));
}
