//! `/api/v1/internal/*`: HMAC-authenticated, always on, tenant-scoped.

use event_service::domain::TenantId;
use event_service::http::internal_auth::sign;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, scheduled_event_body, spawn_app, spawn_app_with};

const SECRET: &[u8] = b"test-internal-hmac-secret-with-32-chars!";

pub(crate) async fn signed(
    app: &TestApp,
    method: Method,
    path: &str,
    tenant: TenantId,
    body: Option<&Value>,
    nonce: Option<&str>,
) -> reqwest::Response {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let ts = chrono::Utc::now().timestamp_millis();
    let nonce = nonce.map(str::to_owned).unwrap_or_else(|| Uuid::new_v4().to_string());
    let (hash, signature) = sign(SECRET, "ticket-service", ts, &nonce, method.as_str(), path, &bytes);
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("x-internal-service", "ticket-service")
        .header("x-internal-timestamp", ts.to_string())
        .header("x-internal-nonce", nonce)
        .header("x-internal-signature", signature)
        .header("x-internal-body-hash", hash)
        .header("x-tenant-id", tenant.to_string());
    if body.is_some() {
        request = request.header("content-type", "application/json").body(bytes);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn internal_routes_serve_signed_calls_with_camel_case_bodies_and_reject_the_rest() {
    let app = spawn_app().await;
    let mut body = scheduled_event_body("Internal");
    body["artist_wallet"] = json!("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
    let event = app.create_event(&app.token("admin"), body).await;
    let id = event["id"].as_str().unwrap();
    let path = format!("/api/v1/internal/events/{id}");

    let ok = signed(&app, Method::GET, &path, app.tenant, None, None).await;
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(ok["event"]["tenantId"], app.tenant.to_string());
    assert_eq!(
        ok["event"]["artistWallet"], "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
        "internal callers see royalties"
    );

    let pda: Value =
        signed(&app, Method::GET, &format!("{path}/pda"), app.tenant, None, None).await.json().await.unwrap();
    assert_eq!(pda["hasBlockchainConfig"], false, "an artist wallet but no PDA yet (the original's meaning)");
    assert_eq!(pda["blockchain"]["status"], "pending");

    assert_eq!(app.get(&path).await.status(), 401, "unsigned");
    let nonce = Uuid::new_v4().to_string();
    assert_eq!(signed(&app, Method::GET, &path, app.tenant, None, Some(&nonce)).await.status(), 200);
    let replay = signed(&app, Method::GET, &path, app.tenant, None, Some(&nonce)).await;
    assert_eq!(replay.status(), 401);
    assert_eq!(replay.json::<Value>().await.unwrap()["code"], "REPLAYED_NONCE");

    let other_tenant = TenantId::from_uuid(Uuid::new_v4());
    assert_eq!(signed(&app, Method::GET, &path, other_tenant, None, None).await.status(), 404, "never cross-tenant");
}

#[tokio::test]
async fn blockchain_status_updates_are_validated_and_reflected() {
    let app = spawn_app().await;
    let id =
        app.create_event(&app.token("admin"), scheduled_event_body("Chain")).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/internal/events/{id}/blockchain-status");
    let pda = "BnYanHjkV6bBDFYfC7F76TyYk6NA9p3wvcAfY1XZCXYS";

    let missing = signed(&app, Method::PUT, &path, app.tenant, Some(&json!({"status": "synced"})), None).await;
    assert_eq!(missing.status(), 422);
    let unknown =
        signed(&app, Method::PUT, &path, app.tenant, Some(&json!({"status": "synced", "pda": pda})), None).await;
    assert_eq!(unknown.status(), 400);

    let body = json!({"status": "synced", "eventPda": pda, "signature": "5sig"});
    let done = signed(&app, Method::PUT, &path, app.tenant, Some(&body), None).await;
    assert_eq!(done.status(), 200);
    assert_eq!(done.json::<Value>().await.unwrap()["eventPda"], pda);
    let event: Value = app.get_as(&format!("/api/v1/events/{id}"), &app.token("admin")).await.json().await.unwrap();
    assert_eq!(event["event"]["blockchain_status"], "synced");
    assert_eq!(event["event"]["event_pda"], pda);
}

#[tokio::test]
async fn internal_routes_fail_closed_without_a_secret() {
    let app = spawn_app_with(|vars| {
        vars.remove("INTERNAL_HMAC_SECRET");
    })
    .await;
    let path = format!("/api/v1/internal/events/{}", Uuid::new_v4());
    assert_eq!(signed(&app, Method::GET, &path, app.tenant, None, None).await.status(), 503);
}

#[tokio::test]
async fn rate_limits_apply_per_tenant_and_user_with_retry_after() {
    let app = spawn_app_with(|vars| {
        vars.insert("RATE_LIMIT_READ_MAX".into(), "3".into());
        // A long window, so the four requests cannot straddle a window boundary.
        vars.insert("RATE_LIMIT_WINDOW_MS".into(), "3600000".into());
    })
    .await;
    let alice = app.token("user");
    for _ in 0..3 {
        let r = app.get_as("/api/v1/events", &alice).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-ratelimit-remaining").is_some());
    }
    let limited = app.get_as("/api/v1/events", &alice).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    let body: Value = limited.json().await.unwrap();
    assert_eq!((body["code"].as_str(), body["limit"].as_u64()), (Some("RATE_LIMITED"), Some(3)));
    assert_eq!(app.get_as("/api/v1/events", &app.token("user")).await.status(), 200, "another user has its own budget");
    assert_eq!(app.get("/health/live").await.status(), 200, "probes are exempt");
}

#[tokio::test]
async fn with_redis_down_the_rate_limit_still_applies_per_instance() {
    let dead_redis = format!("redis://127.0.0.1:{}/0", crate::helpers::free_port());
    let app = spawn_app_with(|vars| {
        vars.insert("REDIS_URL".into(), dead_redis);
        vars.insert("RATE_LIMIT_READ_MAX".into(), "2".into());
        vars.insert("RATE_LIMIT_WINDOW_MS".into(), "3600000".into());
    })
    .await;
    let token = app.token("user");
    for _ in 0..2 {
        let r = app.get_as("/api/v1/events", &token).await;
        assert_eq!(r.status(), 200, "served from Postgres without Redis");
        assert_eq!(r.headers()["x-ratelimit-mode"], "local");
    }
    assert_eq!(app.get_as("/api/v1/events", &token).await.status(), 429, "never fails open");
}
