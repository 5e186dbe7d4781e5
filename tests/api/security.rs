//! What a hostile or careless tenant user must not reach (issue 14): other users' holds and
//! privileges, the operator's controls, values that would break the database, secrets in
//! errors, and cheap floods of expensive work.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_service::domain::TenantId;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    HMAC_SECRET, eventually, field_codes, free_port, json_of, problem, scheduled_event_body, spawn_app, spawn_app_with,
    tenant_tx, token_with,
};

const EDITOR: &[&str] = &["events:create", "events:update", "events:delete", "events:publish"];

async fn section_of(app: &crate::helpers::TestApp, token: &str, event: &str) -> String {
    let body = json!({"section_name": "Floor", "total_capacity": 50});
    let created = app.post_json(&format!("/api/v1/events/{event}/capacity"), token, &body).await;
    json_of(created, 201).await["capacity"]["id"].as_str().unwrap().to_owned()
}

/// An event on sale with one section; returns (event id, section id).
async fn on_sale(app: &crate::helpers::TestApp, admin: &str) -> (String, String) {
    let id = app.create_event(admin, scheduled_event_body("Sale")).await["id"].as_str().unwrap().to_owned();
    let section = section_of(app, admin, &id).await;
    assert_eq!(app.send(Method::POST, &format!("/api/v1/events/{id}/publish"), admin, None, None).await.status(), 200);
    let r = app
        .send(Method::PATCH, &format!("/api/v1/events/{id}"), admin, Some(&json!({"status": "ON_SALE"})), None)
        .await;
    assert_eq!(r.status(), 200);
    (id, section)
}

#[tokio::test]
async fn only_the_creator_or_an_admin_publishes_and_royalties_need_their_own_permission() {
    let app = spawn_app().await;
    let alice = token_with(app.tenant, "user", "alice", EDITOR);
    let bob = token_with(app.tenant, "user", "bob", EDITOR);
    let id = app.create_event(&alice, scheduled_event_body("Alice's")).await["id"].as_str().unwrap().to_owned();
    let publish = |token: String| {
        let (app, id) = (&app, id.clone());
        async move { app.send(Method::POST, &format!("/api/v1/events/{id}/publish"), &token, None, None).await }
    };
    let (status, _) = problem(publish(bob.clone()).await).await;
    assert_eq!(status, 403, "another editor of the tenant may not publish Alice's event");
    assert_eq!(publish(alice.clone()).await.status(), 200);

    let mut royalties = scheduled_event_body("Royalties");
    royalties["artist_wallet"] = json!("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
    royalties["artist_percentage"] = json!(5);
    let (status, p) = problem(app.post_json("/api/v1/events", &alice, &royalties).await).await;
    assert_eq!((status, p["detail"].as_str()), (403, Some("missing permission events:royalties")));
    let finance = token_with(app.tenant, "user", "carol", &["events:create", "events:royalties"]);
    assert_eq!(app.post_json("/api/v1/events", &finance, &royalties).await.status(), 201);
}

#[tokio::test]
async fn a_hold_is_readable_by_its_creator_admins_and_the_checkout_only() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    let (_, section) = on_sale(&app, &admin).await;
    let buyer = token_with(app.tenant, "user", "buyer", &[]);
    let held = app.post_json(&format!("/api/v1/capacity/{section}/reserve"), &buyer, &json!({"quantity": 1})).await;
    let hold = json_of(held, 201).await["reservation"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/reservations/{hold}");
    assert_eq!(app.get_as(&path, &buyer).await.status(), 200);
    assert_eq!(app.get_as(&path, &admin).await.status(), 200);
    let checkout = token_with(app.tenant, "user", "checkout", &["tickets:confirm"]);
    assert_eq!(app.get_as(&path, &checkout).await.status(), 200);
    let other_buyer = token_with(app.tenant, "user", "someone-else", &[]);
    assert_eq!(app.get_as(&path, &other_buyer).await.status(), 404, "another user's hold does not exist for them");
}

#[tokio::test]
async fn named_seats_are_bounded_and_held_or_sold_once_per_section() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    let (_, section) = on_sale(&app, &admin).await;
    let reserve = |seats: Value| {
        let (app, admin, section) = (&app, &admin, &section);
        async move {
            let body = json!({"quantity": seats.as_array().unwrap().len(), "seat_ids": seats});
            app.post_json(&format!("/api/v1/capacity/{section}/reserve"), admin, &body).await
        }
    };
    let first = json_of(reserve(json!(["A1", "A2"])).await, 201).await;
    let (status, p) = problem(reserve(json!(["A2", "A3"])).await).await;
    assert_eq!((status, p["code"].as_str()), (409, Some("SEATS_TAKEN")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("A2"));
    let (status, p) = problem(reserve(json!(["B1", "B1"])).await).await;
    assert_eq!((status, field_codes(&p)), (422, vec![("seat_ids".to_owned(), "DUPLICATE_SEAT".to_owned())]));
    let (status, p) = problem(reserve(json!(["x".repeat(200_000)])).await).await;
    assert_eq!((status, field_codes(&p)[0].1.as_str()), (422, "INVALID_SEAT_ID"));
    // Released, the seat can be held again.
    let hold = first["reservation"]["id"].as_str().unwrap();
    let released = app.send(Method::POST, &format!("/api/v1/reservations/{hold}/release"), &admin, None, None).await;
    assert_eq!(released.status(), 200);
    assert_eq!(reserve(json!(["A2"])).await.status(), 201);
}

#[tokio::test]
async fn out_of_range_lengths_and_dates_are_client_errors_not_500s() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    let id = app.create_event(&admin, scheduled_event_body("Bounds")).await["id"].as_str().unwrap().to_owned();
    // A cancel reason of 501-1000 characters once overflowed a 500-character column.
    let cancel =
        app.post_json(&format!("/api/v1/events/{id}/cancel"), &admin, &json!({"reason": "r".repeat(800)})).await;
    assert_eq!(cancel.status(), 200);
    let (status, _) = problem(
        app.post_json(
            &format!("/api/v1/events/{}/cancel", Uuid::new_v4()),
            &admin,
            &json!({"reason": "r".repeat(1001)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);

    let ancient = "-5000-01-01T00:00:00Z";
    let mut body = scheduled_event_body("Ancient");
    body["starts_at"] = json!(ancient);
    let (status, p) = problem(app.post_json("/api/v1/events", &admin, &body).await).await;
    assert_eq!(status, 422);
    assert!(field_codes(&p).contains(&("starts_at".to_owned(), "DATE_OUT_OF_RANGE".to_owned())), "{p}");
    let other = app.create_event(&admin, scheduled_event_body("Priced")).await["id"].as_str().unwrap().to_owned();
    let tier = json!({"name": "GA", "base_price": "10.00", "sales_start_at": ancient});
    let (status, p) = problem(app.post_json(&format!("/api/v1/events/{other}/pricing"), &admin, &tier).await).await;
    assert_eq!((status, field_codes(&p)[0].1.as_str()), (422, "DATE_OUT_OF_RANGE"));
}

#[tokio::test]
async fn customers_see_the_public_view_of_an_event() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    let mut body = scheduled_event_body("Stream");
    body["is_virtual"] = json!(true);
    body["virtual_event_url"] = json!("https://stream.example.com/private/room-42");
    body["streaming_config"] = json!({"platform_id": "p", "stream_key": "sk-secret"});
    let id = app.create_event(&admin, body).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/events/{id}");
    let staff: Value = app.get_as(&path, &token_with(app.tenant, "user", "staff", EDITOR)).await.json().await.unwrap();
    assert!(staff["event"]["virtual_event_url"].is_string() && staff["event"]["created_by"].is_string());
    assert!(staff["event"]["streaming_config"].get("stream_key").is_none(), "the stream key is the admins'");
    let customer_token = token_with(app.tenant, "customer", "fan", &["view:events", "buy:tickets"]);
    let customer: Value = app.get_as(&path, &customer_token).await.json().await.unwrap();
    for field in [
        "virtual_event_url",
        "streaming_config",
        "created_by",
        "updated_by",
        "chain_event_id",
        "blockchain_error",
        "artist_wallet",
    ] {
        assert!(customer["event"].get(field).is_none(), "{field} shown to a customer");
    }
    assert_eq!(customer["event"]["name"], "Stream");
}

#[tokio::test]
async fn the_claim_functions_clamp_the_lease_whatever_the_caller_asks() {
    let app = spawn_app().await;
    let mut body = scheduled_event_body("Lease");
    body["artist_wallet"] = json!("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
    app.create_event(&app.token("admin"), body).await;
    let pool = crate::helpers::app_role().await;
    let claimed: Vec<(Uuid,)> =
        sqlx::query_as("select outbox_id from system_claim_blockchain_outbox('greedy', 10, 2000000000, $1)")
            .bind(vec![*app.tenant.as_uuid()])
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(claimed.len(), 1);
    let mut tx = tenant_tx(pool, app.tenant).await.unwrap();
    let lease: f64 =
        sqlx::query_scalar("select extract(epoch from locked_until - now())::float8 from blockchain_outbox")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert!(lease <= 600.0, "a lease of {lease} s: parked for decades");
}

/// The worker's claims between poll ticks resume at the last row they took (`p_after`), so they
/// never walk the rows already finished or in flight; the ticks pass null and see every due row.
#[tokio::test]
async fn the_registration_claim_resumes_at_its_cursor_and_a_full_claim_still_sees_every_due_row() {
    let app = spawn_app().await;
    for name in ["Cursor one", "Cursor two"] {
        let mut body = scheduled_event_body(name);
        body["artist_wallet"] = json!("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
        app.create_event(&app.token("admin"), body).await;
    }
    let pool = crate::helpers::app_role().await;
    let tenants = vec![*app.tenant.as_uuid()];
    let claim = |after: Option<chrono::DateTime<chrono::Utc>>| {
        let tenants = tenants.clone();
        async move {
            sqlx::query_as::<_, (Uuid, chrono::DateTime<chrono::Utc>)>(
                "select outbox_id, next_attempt_at from system_claim_blockchain_outbox('cursor', 10, 30, $1, $2)",
            )
            .bind(tenants)
            .bind(after)
            .fetch_all(pool)
            .await
            .unwrap()
        }
    };
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    assert!(claim(Some(later)).await.is_empty(), "nothing is due at or after the cursor");
    let all = claim(None).await;
    assert_eq!(all.len(), 2, "a claim without a cursor takes every due row");
    assert!(all.iter().all(|(_, due)| *due <= chrono::Utc::now()), "each with the time the cursor moves to");
}

#[tokio::test]
async fn signed_internal_writes_are_refused_while_the_shared_nonce_store_is_down() {
    let dead = format!("redis://127.0.0.1:{}/0", free_port());
    let app = spawn_app_with(|v| {
        v.insert("REDIS_URL".into(), dead);
    })
    .await;
    let id =
        app.create_event(&app.token("admin"), scheduled_event_body("Replay")).await["id"].as_str().unwrap().to_owned();
    let signed = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move {
            let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
            let ts = chrono::Utc::now().timestamp_millis();
            let nonce = Uuid::new_v4().to_string();
            let (hash, sig) = event_service::http::internal_auth::sign(
                HMAC_SECRET.as_bytes(),
                "ticket-service",
                ts,
                &nonce,
                method.as_str(),
                &path,
                &bytes,
            );
            let mut r = app
                .client
                .request(method, app.url(&path))
                .header("x-internal-service", "ticket-service")
                .header("x-internal-timestamp", ts.to_string())
                .header("x-internal-nonce", nonce)
                .header("x-internal-signature", sig)
                .header("x-tenant-id", app.tenant.to_string());
            if !bytes.is_empty() {
                r = r.header("x-internal-body-hash", hash).header("content-type", "application/json").body(bytes);
            }
            r.send().await.unwrap()
        }
    };
    assert_eq!(signed(Method::GET, format!("/internal/events/{id}"), None).await.status(), 200, "reads still pass");
    let write = signed(
        Method::PUT,
        format!("/internal/events/{id}/blockchain-status"),
        Some(json!({"status": "failed", "error": "x"})),
    )
    .await;
    let (status, p) = problem(write).await;
    assert_eq!((status, p["code"].as_str()), (503, Some("INTERNAL_AUTH_UNAVAILABLE")));
}

#[tokio::test]
async fn bad_token_floods_are_throttled_per_address_before_any_verification() {
    let app = spawn_app_with(|v| {
        v.insert("AUTH_FAILURES_PER_MINUTE".into(), "5".into());
    })
    .await;
    let forged = crate::helpers::sign(
        &json!({"sub": "x", "tenant_id": app.tenant.to_string(), "type": "access", "iss": "tickettoken",
                "aud": "tickettoken", "exp": chrono::Utc::now().timestamp() + 60}),
        "jwt-other-private.pem",
    );
    // The counts are per minute of the clock: start well inside one, so all the calls share it.
    while chrono::Utc::now().timestamp() % 60 >= 55 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.get_as("/api/v1/events", &forged).await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    let (status, p) = problem(app.get_as("/api/v1/events", &forged).await).await;
    assert_eq!((status, p["code"].as_str()), (429, Some("AUTH_FAILURES_LIMITED")));
    // The same documented 429 shape as the request budgets' (the fuzzer checks it against the schema).
    assert_eq!((p["limit"].as_u64(), p["remaining"].as_u64()), (Some(5), Some(0)));
    assert!(p["retryAfter"].as_u64().is_some_and(|s| (1..=60).contains(&s)), "{p}");
}

/// A `tracing` writer into a shared buffer: the service's log, as a test can read it.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_rpc_url_carrying_a_secret_never_reaches_a_response_or_the_log() {
    // This test's process logs everything, JSON, into a buffer (the harness' subscriber is then
    // a no-op: one global subscriber per process).
    let log = LogBuffer::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .json()
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the first subscriber of this process");

    let wallet_dir = tempfile::tempdir().unwrap();
    let wallet = wallet_dir.path().join("wallet.json");
    solana_keypair::write_keypair_file(&solana_keypair::Keypair::new(), &wallet).unwrap();
    // A provider URL with an API key in the query and a token in the path, on a closed port.
    let rpc = format!("http://127.0.0.1:{}/v2/PATH-TOKEN-abc?api-key=QUERY-SECRET-xyz", free_port());
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let app = crate::helpers::spawn_app_as(tenant, |v| {
        for (k, val) in [
            ("SOLANA_REGISTRATION_ENABLED", "true"),
            ("SOLANA_RPC_URL", rpc.as_str()),
            ("PLATFORM_WALLET_PATH", wallet.to_str().unwrap()),
            ("SOLANA_REGISTRATION_TENANTS", &tenant.to_string()),
            ("SOLANA_REGISTRATION_POLL_INTERVAL_MS", "100"),
            ("SOLANA_REGISTRATION_RETRY_BASE_MS", "50"),
            ("SOLANA_REGISTRATION_RETRY_MAX_MS", "100"),
            ("SOLANA_REGISTRATION_MAX_ATTEMPTS", "2"),
            ("RESILIENCE_SOLANA_READ_BREAKER_ENABLED", "false"),
            ("RESILIENCE_SOLANA_SEND_BREAKER_ENABLED", "false"),
            ("RESILIENCE_SOLANA_READ_RETRIES", "0"),
            ("LOG_LEVEL", "debug"),
        ] {
            v.insert(k.to_owned(), val.to_owned());
        }
    })
    .await;
    let admin = app.token("admin");
    let mut body = scheduled_event_body("Secret");
    body["artist_wallet"] = json!("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
    let id = app.create_event(&admin, body).await["id"].as_str().unwrap().to_owned();
    let failed = eventually(Duration::from_secs(30), || async {
        let e: Value = app.get_as(&format!("/api/v1/events/{id}"), &admin).await.json().await.unwrap();
        e["event"]["blockchain_status"] == "failed"
    })
    .await;
    if !failed {
        // What the worker did instead, for whoever reads the failure.
        let logs = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let worker: Vec<&str> = logs
            .lines()
            .filter(|l| {
                !l.contains("already a transaction")
                    && !l.contains("system_claim")
                    && (l.contains("registration") || l.contains("WARN") || l.contains("ERROR") || l.contains("outbox"))
            })
            .collect();
        eprintln!("{}", worker[..worker.len().min(60)].join("\n"));
    }
    assert!(failed, "the registration fails against the closed RPC port");

    let event = app.get_as(&format!("/api/v1/events/{id}"), &admin).await.text().await.unwrap();
    let pda = app.internal_get(&format!("/internal/events/{id}/pda")).await.text().await.unwrap();
    let logs = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    for (what, text) in [("event body", &event), ("internal pda body", &pda), ("service log", &logs)] {
        for secret in ["QUERY-SECRET-xyz", "PATH-TOKEN-abc", "api-key"] {
            assert!(!text.contains(secret), "{secret} appears in the {what}");
        }
    }
    assert!(event.contains("127.0.0.1"), "the host is kept so an operator knows what failed: {event}");
    assert!(logs.contains("registration"), "the log was captured");
}
