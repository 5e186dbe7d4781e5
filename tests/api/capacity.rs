//! Capacity sections, holds that never oversell, the cleanup job and cancellation.

use event_service::jobs::cleanup;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, as_tenant, spawn_app, spawn_app_with, test_env, token_for};

/// An ON_SALE event with one General Admission section of `seats`; returns (event, section).
async fn on_sale(app: &TestApp, token: &str, seats: i32) -> (String, String) {
    let start = chrono::Utc::now() + chrono::Duration::days(5);
    let body = json!({"name": format!("Sale {}", Uuid::new_v4()), "venue_id": Uuid::new_v4(), "capacity": seats,
        "starts_at": start, "ends_at": start + chrono::Duration::hours(2)});
    let event = app.create_event(token, body).await;
    let id = event["id"].as_str().unwrap().to_owned();
    assert_eq!(app.send(Method::POST, &format!("/api/v1/events/{id}/publish"), token, None, None).await.status(), 200);
    let on_sale = app
        .send(Method::PATCH, &format!("/api/v1/events/{id}"), token, Some(&json!({"status": "ON_SALE"})), None)
        .await;
    assert_eq!(on_sale.status(), 200);
    let sections: Value = app.get_as(&format!("/api/v1/events/{id}/capacity"), token).await.json().await.unwrap();
    (id, sections["capacity"][0]["id"].as_str().unwrap().to_owned())
}

async fn section(app: &TestApp, token: &str, id: &str) -> Value {
    app.get_as(&format!("/api/v1/capacity/{id}"), token).await.json::<Value>().await.unwrap()["capacity"].clone()
}

fn counters(s: &Value) -> (i64, i64, i64, i64) {
    let n = |f: &str| s[f].as_i64().unwrap();
    (n("available_capacity"), n("reserved_capacity"), n("sold_count"), n("buffer_capacity"))
}

async fn hold(app: &TestApp, token: &str, section: &str, body: Value) -> reqwest::Response {
    app.send(Method::POST, &format!("/api/v1/capacity/{section}/reserve"), token, Some(&body), None).await
}

#[tokio::test]
async fn sections_enforce_their_rules_and_keep_counters_server_managed() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let event = app.create_event(&token, json!({"name": "Sections", "venue_id": Uuid::new_v4()})).await;
    let path = format!("/api/v1/events/{}/capacity", event["id"].as_str().unwrap());

    let body = json!({"section_name": "Floor", "total_capacity": 100, "buffer_capacity": 10,
        "row_config": {"rows": 10, "seats_per_row": 10}, "minimum_purchase": 1, "maximum_purchase": 8});
    let created = app.send(Method::POST, &path, &token, Some(&body), Some("sec-1")).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(counters(&created["capacity"]), (90, 0, 0, 10), "available = total - buffer");
    let replay = app.send(Method::POST, &path, &token, Some(&body), Some("sec-1")).await;
    assert_eq!(replay.headers()["idempotency-replayed"], "true");

    for (bad, field, code) in [
        (
            json!({"section_name": "X", "total_capacity": 10, "available_capacity": 10}),
            "available_capacity",
            "SERVER_MANAGED_FIELD",
        ),
        (
            json!({"section_name": "X", "total_capacity": 10, "row_config": {"rows": 3, "seats_per_row": 3}}),
            "row_config",
            "ROWS_MISMATCH",
        ),
        (
            json!({"section_name": "X", "total_capacity": 10, "minimum_purchase": 5, "maximum_purchase": 2}),
            "minimum_purchase",
            "INVALID_RANGE",
        ),
        (json!({"total_capacity": 10}), "section_name", "REQUIRED_FIELD"),
        (json!({"section_name": "Huge", "total_capacity": 4950}), "total_capacity", "EXCEEDS_VENUE_CAPACITY"),
    ] {
        let r = app.send(Method::POST, &path, &token, Some(&bad), None).await;
        let status = r.status();
        let p: Value = r.json().await.unwrap();
        assert_eq!(status, 422, "{p}");
        assert!(
            p["errors"].as_array().unwrap().iter().any(|e| e["field"] == field && e["code"] == code),
            "{field}: {p}"
        );
    }
    let dup =
        app.send(Method::POST, &path, &token, Some(&json!({"section_name": "Floor", "total_capacity": 5})), None).await;
    assert_eq!(dup.status(), 409, "section names are unique per event");

    let id = created["capacity"]["id"].as_str().unwrap();
    let grown = app
        .send(
            Method::PUT,
            &format!("/api/v1/capacity/{id}"),
            &token,
            Some(&json!({"total_capacity": 120, "row_config": {"rows": 12, "seats_per_row": 10}})),
            None,
        )
        .await;
    assert_eq!(grown.status(), 200);
    assert_eq!(counters(&grown.json::<Value>().await.unwrap()["capacity"]), (110, 0, 0, 10));

    let totals: Value = app.get_as(&format!("{path}/total"), &token).await.json().await.unwrap();
    assert_eq!((totals["total_capacity"].as_i64(), totals["available_capacity"].as_i64()), (Some(120), Some(110)));
    let check = app
        .send(Method::POST, &format!("/api/v1/capacity/{id}/check"), &token, Some(&json!({"quantity": 9})), None)
        .await;
    assert_eq!(check.json::<Value>().await.unwrap()["available"], false, "above maximum_purchase");

    let other = token_for(app.other_tenant().await, "admin");
    assert_eq!(app.get_as(&format!("/api/v1/capacity/{id}"), &other).await.status(), 404);
    assert_eq!(app.get_as(&path, &other).await.status(), 404);
    let foreign_hold = app
        .send(Method::POST, &format!("/api/v1/capacity/{id}/reserve"), &other, Some(&json!({"quantity": 1})), None)
        .await;
    assert_eq!(foreign_hold.status(), 404);
}

#[tokio::test]
async fn a_hold_locks_seats_and_price_and_confirm_and_release_move_them_atomically() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let draft = app.create_event(&token, json!({"name": "Draft", "venue_id": Uuid::new_v4(), "capacity": 10})).await;
    let sections: Value = app
        .get_as(&format!("/api/v1/events/{}/capacity", draft["id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    let draft_section = sections["capacity"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(hold(&app, &token, &draft_section, json!({"quantity": 1})).await.status(), 409, "not on sale");

    let (event, section_id) = on_sale(&app, &token, 10).await;
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    let pricing = Uuid::new_v4();
    as_tenant(&pool, app.tenant, &format!(
        "insert into event_pricing (tenant_id, id, event_id, name, base_price, current_price, service_fee) values ('{}', '{pricing}', '{event}', 'GA', 40, 42.5, 3)",
        app.tenant
    )).await.unwrap();

    let r = hold(
        &app,
        &token,
        &section_id,
        json!({"quantity": 3, "reservation_duration_minutes": 5, "pricing_id": pricing}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    let h = &body["reservation"];
    assert_eq!((h["quantity"].as_i64(), h["status"].as_str()), (Some(3), Some("active")));
    assert_eq!(body["locked_price"], "42.50", "money as an exact decimal string");
    assert_eq!(h["locked_price_data"]["service_fee"], "3.00");
    assert!(h["expires_at"].is_string());
    assert_eq!(counters(&body["capacity"]), (7, 3, 0, 0));
    let id = h["id"].as_str().unwrap();

    let second = hold(&app, &token, &section_id, json!({"quantity": 2, "reservation_minutes": 1})).await;
    assert_eq!(second.status(), 201, "another hold does not overwrite the first");
    let second: Value = second.json().await.unwrap();
    let second_id = second["reservation"]["id"].as_str().unwrap();

    let confirmed = app.send(Method::POST, &format!("/api/v1/reservations/{id}/confirm"), &token, None, None).await;
    assert_eq!(confirmed.json::<Value>().await.unwrap()["reservation"]["status"], "confirmed");
    assert_eq!(counters(&section(&app, &token, &section_id).await), (5, 2, 3, 0));
    assert_eq!(
        app.send(Method::POST, &format!("/api/v1/reservations/{id}/release"), &token, None, None).await.status(),
        409,
        "a sale cannot be released"
    );

    for _ in 0..2 {
        let released = app.send(Method::DELETE, &format!("/api/v1/reservations/{second_id}"), &token, None, None).await;
        assert_eq!(released.status(), 200, "releasing twice is harmless");
    }
    assert_eq!(counters(&section(&app, &token, &section_id).await), (7, 0, 3, 0));
    let refused =
        app.send(Method::POST, &format!("/api/v1/reservations/{second_id}/confirm"), &token, None, None).await;
    assert_eq!(refused.status(), 409, "a released hold cannot be confirmed");

    assert_eq!(hold(&app, &token, &section_id, json!({"quantity": 8})).await.status(), 409, "only 7 left");
    assert_eq!(hold(&app, &token, &section_id, json!({"quantity": 0})).await.status(), 422);
    assert_eq!(
        hold(&app, &token, &section_id, json!({"quantity": 1, "reservation_duration_minutes": 61})).await.status(),
        422
    );
    assert_eq!(
        hold(&app, &token, &section_id, json!({"quantity": 1, "seats": ["A1"]})).await.status(),
        400,
        "unknown field"
    );
}

#[tokio::test]
async fn confirming_an_expired_hold_is_refused_and_returns_its_seats() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let (_, section_id) = on_sale(&app, &token, 5).await;
    let h: Value = hold(&app, &token, &section_id, json!({"quantity": 2})).await.json().await.unwrap();
    let id = h["reservation"]["id"].as_str().unwrap();
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    as_tenant(
        &pool,
        app.tenant,
        &format!("update event_reservations set expires_at = now() - interval '1 second' where id = '{id}'"),
    )
    .await
    .unwrap();
    let r = app.send(Method::POST, &format!("/api/v1/reservations/{id}/confirm"), &token, None, None).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "RESERVATION_EXPIRED");
    assert_eq!(counters(&section(&app, &token, &section_id).await), (5, 0, 0, 0));
    let now: Value = app.get_as(&format!("/api/v1/reservations/{id}"), &token).await.json().await.unwrap();
    assert_eq!(now["reservation"]["status"], "expired");
}

/// An app for the oversell races: one user's hundreds of requests at once. These tests are
/// about overselling, not about the per-tenant and per-user concurrency limits
/// (tests/api/fairness.rs), so the limits are lifted.
async fn spawn_oversell_app() -> TestApp {
    spawn_app_with(|vars| {
        vars.insert("ENABLE_RATE_LIMITING".into(), "false".into());
        vars.insert("DB_POOL_MAX".into(), "20".into());
        vars.insert("DB_TENANT_CONCURRENCY".into(), "20".into());
        vars.insert("USER_MAX_IN_FLIGHT".into(), "1000".into());
        vars.insert("TENANT_MAX_IN_FLIGHT".into(), "1000".into());
        // The outcome of the race is under test, not its latency: a slow machine (or a Citus
        // cluster of three Postgres on two cores) may queue a request for its tenant's share of
        // the pool for longer than the default attempt timeout.
        vars.insert("RESILIENCE_POSTGRES_ATTEMPT_TIMEOUT_MS".into(), "10000".into());
        vars.insert("RESILIENCE_POSTGRES_DEADLINE_MS".into(), "20000".into());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_holds_on_fifty_seats_sell_exactly_fifty() {
    let app = spawn_oversell_app().await;
    let token = app.token("admin");
    let (_, section_id) = on_sale(&app, &token, 50).await;
    let attempts = (0..200).map(|_| hold(&app, &token, &section_id, json!({"quantity": 1})));
    let statuses: Vec<u16> = futures::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    let won = statuses.iter().filter(|s| **s == 201).count();
    let lost = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((won, lost), (50, 150), "{statuses:?}");
    assert_eq!(counters(&section(&app, &token, &section_id).await), (0, 50, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_confirm_release_and_expiry_of_one_hold_have_exactly_one_outcome() {
    let app = spawn_app_with(|vars| {
        vars.insert("ENABLE_RATE_LIMITING".into(), "false".into());
    })
    .await;
    let token = app.token("admin");
    let (_, section_id) = on_sale(&app, &token, 40).await;
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    for round in 0..10 {
        let h: Value = hold(&app, &token, &section_id, json!({"quantity": 2})).await.json().await.unwrap();
        let id = h["reservation"]["id"].as_str().unwrap().to_owned();
        let expired = round % 2 == 0;
        if expired {
            // Now the sweeper competes as well: confirm must lose, release is harmless.
            as_tenant(
                &pool,
                app.tenant,
                &format!("update event_reservations set expires_at = now() - interval '1 second' where id = '{id}'"),
            )
            .await
            .unwrap();
        }
        let (confirm, release) =
            (format!("/api/v1/reservations/{id}/confirm"), format!("/api/v1/reservations/{id}/release"));
        let (c, r, x) = tokio::join!(
            app.send(Method::POST, &confirm, &token, None, None),
            app.send(Method::POST, &release, &token, None, None),
            cleanup::run_once(&app.state, 1000),
        );
        x.unwrap();
        let (c, r) = (c.status().as_u16(), r.status().as_u16());
        if expired {
            assert_eq!((c, r), (409, 200), "an expired hold is never sold");
        } else {
            assert!(matches!((c, r), (200, 409) | (409, 200)), "one winner: confirm {c}, release {r}");
        }
    }
    let (available, reserved, sold, _) = counters(&section(&app, &token, &section_id).await);
    assert_eq!(reserved, 0);
    assert_eq!(available + sold, 40, "every seat is in exactly one bucket");
    assert_eq!(sold % 2, 0);
}

#[tokio::test]
async fn one_cleanup_run_releases_expired_holds_of_every_tenant_and_leaves_live_ones() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    let mut expired = Vec::new();
    for app in [&first, &second] {
        let token = app.token("admin");
        let (_, section_id) = on_sale(app, &token, 10).await;
        let old: Value = hold(app, &token, &section_id, json!({"quantity": 3})).await.json().await.unwrap();
        let live: Value = hold(app, &token, &section_id, json!({"quantity": 1})).await.json().await.unwrap();
        let old_id = old["reservation"]["id"].as_str().unwrap().to_owned();
        as_tenant(
            &pool,
            app.tenant,
            &format!("update event_reservations set expires_at = now() - interval '1 minute' where id = '{old_id}'"),
        )
        .await
        .unwrap();
        expired.push((section_id, old_id, live["reservation"]["id"].as_str().unwrap().to_owned()));
    }
    // Two replicas sweep at once: each hold is released exactly once.
    let (a, b) = tokio::join!(cleanup::run_once(&first.state, 1000), cleanup::run_once(&second.state, 1000));
    assert!(a.unwrap() + b.unwrap() >= 2);
    for (app, (section_id, old, live)) in [&first, &second].into_iter().zip(&expired) {
        let token = app.token("admin");
        assert_eq!(counters(&section(app, &token, section_id).await), (9, 1, 0, 0), "3 seats back once, 1 still held");
        let old: Value = app.get_as(&format!("/api/v1/reservations/{old}"), &token).await.json().await.unwrap();
        assert_eq!(old["reservation"]["status"], "expired");
        let live: Value = app.get_as(&format!("/api/v1/reservations/{live}"), &token).await.json().await.unwrap();
        assert_eq!(live["reservation"]["status"], "active");
    }
    let health: Value = first.get("/health").await.json().await.unwrap();
    assert!(health["reservationCleanup"]["consecutiveFailures"].is_u64(), "{health}");
}

#[tokio::test]
async fn cancellation_closes_sections_releases_holds_and_records_everything() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let (event, section_id) = on_sale(&app, &token, 20).await;
    let h: Value = hold(&app, &token, &section_id, json!({"quantity": 4})).await.json().await.unwrap();

    let stranger = app.token("user");
    let denied = app
        .send(Method::POST, &format!("/api/v1/events/{event}/cancel"), &stranger, Some(&json!({"reason": "no"})), None)
        .await;
    assert_eq!(denied.status(), 403, "only the creator or an admin");

    let body = json!({"cancellation_reason": "Storm warning", "refundPolicy": "full", "notifyCustomers": true});
    let r = app.send(Method::POST, &format!("/api/v1/events/{event}/cancel"), &token, Some(&body), None).await;
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["success"], true);
    assert_eq!(r["data"]["event"]["status"], "CANCELLED");
    assert_eq!(r["data"]["cancellation"]["holds_released"], 1);
    assert_eq!(r["data"]["cancellation"]["seats_released"], 4);
    let s = section(&app, &token, &section_id).await;
    assert_eq!((s["is_active"].as_bool(), counters(&s)), (Some(false), (20, 0, 0, 0)));
    let held: Value = app
        .get_as(&format!("/api/v1/reservations/{}", h["reservation"]["id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(held["reservation"]["status"], "released");

    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    let mut tx = crate::helpers::tenant_tx(&pool, app.tenant).await.unwrap();
    let (outbox, reports, audits): (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from event_outbox where event_id = $1::uuid and routing_key = 'event.cancelled'),
                (select count(*) from event_cancellation_reports where event_id = $1::uuid),
                (select count(*) from event_audit_log where event_id = $1::uuid and action = 'CANCEL')",
    )
    .bind(&event)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!((outbox, reports, audits), (1, 1, 1));
    drop(tx);

    let again = app
        .send(Method::POST, &format!("/api/v1/events/{event}/cancel"), &token, Some(&json!({"reason": "again"})), None)
        .await;
    assert_eq!(again.status(), 409, "a cancelled event is terminal");
    assert_eq!(hold(&app, &token, &section_id, json!({"quantity": 1})).await.status(), 409);
}

#[tokio::test]
async fn a_cached_event_read_reflects_holds_at_once() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let (event, section_id) = on_sale(&app, &token, 10).await;
    let path = format!("/api/v1/events/{event}");
    let before: Value = app.get_as(&path, &token).await.json().await.unwrap();
    assert_eq!(before["event"]["available_capacity"], 10);
    let cached: Value = app.get_as(&path, &token).await.json().await.unwrap();
    assert_eq!(cached["event"]["available_capacity"], 10, "now served from the cache");
    let h: Value = hold(&app, &token, &section_id, json!({"quantity": 4})).await.json().await.unwrap();
    let after: Value = app.get_as(&path, &token).await.json().await.unwrap();
    assert_eq!(after["event"]["available_capacity"], 6, "the hold invalidated the cached event");
    let id = h["reservation"]["id"].as_str().unwrap();
    app.send(Method::POST, &format!("/api/v1/reservations/{id}/release"), &token, None, None).await;
    let released: Value = app.get_as(&path, &token).await.json().await.unwrap();
    assert_eq!(released["event"]["available_capacity"], 10);
}

#[tokio::test]
async fn only_the_cancel_route_cancels_and_confirming_needs_a_selling_event_and_the_permission() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let (event, section_id) = on_sale(&app, &token, 10).await;
    let patch = app
        .send(Method::PATCH, &format!("/api/v1/events/{event}"), &token, Some(&json!({"status": "CANCELLED"})), None)
        .await;
    assert_eq!(patch.status(), 409);
    assert_eq!(patch.json::<Value>().await.unwrap()["code"], "USE_CANCEL_ROUTE");

    let buyer = crate::helpers::token_with(app.tenant, "user", "buyer-1", &[]);
    let h: Value = hold(&app, &buyer, &section_id, json!({"quantity": 1})).await.json().await.unwrap();
    let id = h["reservation"]["id"].as_str().unwrap().to_owned();
    let own = app.send(Method::POST, &format!("/api/v1/reservations/{id}/confirm"), &buyer, None, None).await;
    assert_eq!(own.status(), 403, "a buyer cannot mark their own hold sold");

    let postponed = app
        .send(Method::PATCH, &format!("/api/v1/events/{event}"), &token, Some(&json!({"status": "POSTPONED"})), None)
        .await;
    assert_eq!(postponed.status(), 200);
    let refused = app.send(Method::POST, &format!("/api/v1/reservations/{id}/confirm"), &token, None, None).await;
    assert_eq!(refused.status(), 409, "no sales while postponed");
    let released = app.send(Method::POST, &format!("/api/v1/reservations/{id}/release"), &buyer, None, None).await;
    assert_eq!(released.status(), 200, "the buyer may still give the seats back");
}

#[tokio::test]
async fn an_idempotency_key_reused_by_another_user_of_the_tenant_is_refused() {
    let app = spawn_app().await;
    let (alice, bob) = (app.token("admin"), app.token("admin"));
    let (_, section_id) = on_sale(&app, &alice, 10).await;
    let path = format!("/api/v1/capacity/{section_id}/reserve");
    let body = json!({"quantity": 1});
    assert_eq!(app.send(Method::POST, &path, &alice, Some(&body), Some("shared")).await.status(), 201);
    let other = app.send(Method::POST, &path, &bob, Some(&body), Some("shared")).await;
    assert_eq!(other.status(), 422, "never another user's stored hold");
}

#[tokio::test]
async fn resizing_a_section_beyond_the_venue_is_refused() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let event = app.create_event(&token, json!({"name": "Resize", "venue_id": Uuid::new_v4(), "capacity": 100})).await;
    let sections: Value = app
        .get_as(&format!("/api/v1/events/{}/capacity", event["id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    let id = sections["capacity"][0]["id"].as_str().unwrap();
    let r = app
        .send(Method::PUT, &format!("/api/v1/capacity/{id}"), &token, Some(&json!({"total_capacity": 5001})), None)
        .await;
    assert_eq!(r.status(), 422, "the fake venue holds 5000");
    assert_eq!(
        app.send(Method::PUT, &format!("/api/v1/capacity/{id}"), &token, Some(&json!({"total_capacity": 5000})), None)
            .await
            .status(),
        200
    );
}

/// `(stripe, total, available, reserved, sold)` of each stripe of a section, read as the
/// application role in the app's tenant.
async fn stripes_of(pool: &sqlx::PgPool, app: &TestApp, section: &str) -> Vec<(i16, i32, i32, i32, i32)> {
    let mut tx = crate::helpers::tenant_tx(pool, app.tenant).await.unwrap();
    let rows = sqlx::query_as(
        "select stripe, total, available, reserved, sold from section_stripes where capacity_id = $1::uuid order by stripe",
    )
    .bind(section)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

#[tokio::test]
async fn a_hold_larger_than_any_stripe_is_served_by_a_rebalance_and_the_last_seat_is_sold_once() {
    let app = spawn_app().await;
    let token = app.token("admin");
    // 64 seats: four stripes of 16.
    let (_, section_id) = on_sale(&app, &token, 64).await;
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    assert_eq!(stripes_of(&pool, &app, &section_id).await.len(), 4);
    for (quantity, status) in [(40, 201), (23, 201), (2, 409), (1, 201), (1, 409)] {
        let r = hold(&app, &token, &section_id, json!({"quantity": quantity})).await;
        assert_eq!(r.status().as_u16(), status, "a hold of {quantity}");
    }
    assert_eq!(counters(&section(&app, &token, &section_id).await), (0, 64, 0, 0));
    let stripes = stripes_of(&pool, &app, &section_id).await;
    assert_eq!(stripes.iter().map(|s| s.1).sum::<i32>(), 64, "rebalancing moves seats, never makes them");
    assert!(stripes.iter().all(|s| s.2 == 0 && s.1 == s.3), "{stripes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_on_a_striped_section_never_oversell_under_concurrent_holds_confirms_and_releases() {
    let app = spawn_oversell_app().await;
    let token = app.token("admin");
    let seats = 240;
    let (_, section_id) = on_sale(&app, &token, seats).await;
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    assert_eq!(stripes_of(&pool, &app, &section_id).await.len(), 15, "240 seats are 15 stripes of 16");

    // 400 clients at once, each: hold 1, 2, 3 or (every seventh) 20 seats, a stripe and a bit,
    // so the sold-out tail needs rebalances; then confirm a third, release a third and keep a
    // third of what it got. Demand (about 1,900 seats) is eight times the section, so most of
    // the run happens near or at sold-out, where stripes run dry.
    let client = |i: usize| {
        let (app, token, section_id) = (&app, &token, &section_id);
        async move {
            let quantity = if i.is_multiple_of(7) { 20 } else { 1 + i % 3 };
            let r = hold(app, token, section_id, json!({"quantity": quantity})).await;
            match r.status().as_u16() {
                201 => {}
                409 => return (0, 0),
                other => panic!("hold {i}: {other} {}", r.text().await.unwrap_or_default()),
            }
            let id = r.json::<Value>().await.unwrap()["reservation"]["id"].as_str().unwrap().to_owned();
            let end = match i % 3 {
                0 => "confirm",
                1 => "release",
                _ => return (1, 0),
            };
            let r = app.send(Method::POST, &format!("/api/v1/reservations/{id}/{end}"), token, None, None).await;
            assert_eq!(r.status(), 200, "{end} of hold {i}");
            (1, 1)
        }
    };
    let (clients, sweeps) =
        tokio::join!(futures::future::join_all((0..400).map(client)), cleanup::run_once(&app.state, 1000));
    sweeps.unwrap();
    let holds: usize = clients.iter().map(|c| c.0).sum();
    let ended: usize = clients.iter().map(|c| c.1).sum();
    assert!(holds >= 60 && ended >= 30, "the run held {holds} times and ended {ended} holds");

    // The counters, stripe by stripe, against the holds table.
    let stripes = stripes_of(&pool, &app, &section_id).await;
    let mut tx = crate::helpers::tenant_tx(&pool, app.tenant).await.unwrap();
    let by_stripe: Vec<(i16, i64, i64)> = sqlx::query_as(
        "select stripe, coalesce(sum(quantity) filter (where status = 'active'), 0)::bigint,
                coalesce(sum(quantity) filter (where status = 'confirmed'), 0)::bigint
           from event_reservations where capacity_id = $1::uuid group by stripe",
    )
    .bind(&section_id)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for &(stripe, total, available, reserved, sold) in &stripes {
        assert!(available >= 0 && available + reserved + sold == total, "stripe {stripe}: {stripes:?}");
        let (active, confirmed) = by_stripe.iter().find(|r| r.0 == stripe).map_or((0, 0), |r| (r.1, r.2));
        assert_eq!((i64::from(reserved), i64::from(sold)), (active, confirmed), "stripe {stripe} against its holds");
    }
    assert_eq!(stripes.iter().map(|s| s.1).sum::<i32>(), seats, "the stripes hold exactly the section's seats");
    let (available, reserved, sold, buffer) = counters(&section(&app, &token, &section_id).await);
    let sum = |f: fn(&(i16, i32, i32, i32, i32)) -> i32| i64::from(stripes.iter().map(f).sum::<i32>());
    assert_eq!((available, reserved, sold), (sum(|s| s.2), sum(|s| s.3), sum(|s| s.4)), "the API reads the stripes");
    assert_eq!(available + reserved + sold + buffer, i64::from(seats), "never oversold");

    // The cleanup job brings the section row's own columns (what other services read) up to date.
    cleanup::run_once(&app.state, 1000).await.unwrap();
    let mut tx = crate::helpers::tenant_tx(&pool, app.tenant).await.unwrap();
    let row: (i32, i32, i32) = sqlx::query_as(
        "select available_capacity, reserved_capacity, sold_count from event_capacity where id = $1::uuid",
    )
    .bind(&section_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((i64::from(row.0), i64::from(row.1), i64::from(row.2)), (available, reserved, sold));
}

/// A hold's answer carries the section as it is after the hold (ordinary holds compute it from
/// the section read before taking the seats; holds of named seats read it again): the same as
/// reading the section right after, counters and version alike.
#[tokio::test]
async fn a_holds_answer_shows_the_section_as_a_read_right_after_it_does() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let (_, section_id) = on_sale(&app, &token, 50).await;
    for body in [json!({"quantity": 3}), json!({"quantity": 2, "seat_ids": ["A1", "A2"]}), json!({"quantity": 1})] {
        let before = section(&app, &token, &section_id).await;
        let response = hold(&app, &token, &section_id, body.clone()).await;
        assert_eq!(response.status(), 201, "{body}");
        let answered = response.json::<Value>().await.unwrap()["capacity"].clone();
        assert_eq!(answered, section(&app, &token, &section_id).await, "{body}");
        let q = body["quantity"].as_i64().unwrap();
        let (available, reserved, ..) = counters(&before);
        assert_eq!(counters(&answered).0, available - q);
        assert_eq!(counters(&answered).1, reserved + q);
        assert_eq!(answered["version"].as_i64(), before["version"].as_i64().map(|v| v + 1));
    }
}
