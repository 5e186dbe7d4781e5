//! Tokens as auth-service issues them (`aud` = issuer, `kid` `current`/`previous`, role
//! `customer` by default), key rotation without a restart, tenant suspension through the
//! platform's signal (`tenants` + Redis `tenant:cache:invalidate`), and revoked tokens
//! (`invalidated_tokens`) — `reference/platform-contracts.md` §3.

use std::time::Duration;

use event_service::domain::TenantId;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    PgServer, eventually, fixture, problem, publish, register_tenant, sign_with_kid, spawn_app_as, spawn_app_with,
    superuser,
};

/// Claims exactly as auth-service's `generateTokenPair` writes an access token.
fn auth_service_claims(tenant: TenantId, role: Option<&str>) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": Uuid::new_v4().to_string(), "type": "access", "jti": Uuid::new_v4().to_string(),
        "tenant_id": tenant.to_string(), "email": "fan@example.com",
        "permissions": ["buy:tickets", "view:events", "transfer:tickets"],
        "iat": now, "exp": now + 900, "iss": "tickettoken", "aud": "tickettoken",
    });
    if let Some(role) = role {
        claims["role"] = json!(role);
    }
    claims
}

#[tokio::test]
async fn auth_service_tokens_are_accepted_by_kid_with_the_issuer_as_audience() {
    let app = spawn_app_with(|v| {
        v.insert("JWT_PUBLIC_KEY_PREVIOUS_PATH".into(), fixture("jwt-other-public.pem").display().to_string());
    })
    .await;
    let claims = auth_service_claims(app.tenant, Some("customer"));
    for (kid, key) in [
        (Some("current"), "jwt-test-private.pem"),
        (Some("dev"), "jwt-test-private.pem"),
        (Some("previous"), "jwt-other-private.pem"),
        (None, "jwt-other-private.pem"),
    ] {
        let token = sign_with_kid(&claims, key, kid);
        assert_eq!(app.get_as("/api/v1/events", &token).await.status(), 200, "kid {kid:?}");
    }
    // A key under the wrong name, an unknown kid, or the original's audience: refused.
    for (kid, key) in [
        (Some("current"), "jwt-other-private.pem"),
        (Some("previous"), "jwt-test-private.pem"),
        (Some("2027"), "jwt-test-private.pem"),
    ] {
        let token = sign_with_kid(&claims, key, kid);
        assert_eq!(app.get_as("/api/v1/events", &token).await.status(), 401, "kid {kid:?} with {key}");
    }
    let mut old_audience = claims.clone();
    old_audience["aud"] = json!("tickettoken-platform");
    let token = sign_with_kid(&old_audience, "jwt-test-private.pem", Some("current"));
    assert_eq!(app.get_as("/api/v1/events", &token).await.status(), 401);

    // No role claim: auth-service's default `customer`, an ordinary user without admin powers.
    let customer = sign_with_kid(&auth_service_claims(app.tenant, None), "jwt-test-private.pem", Some("current"));
    assert_eq!(app.get_as("/api/v1/events", &customer).await.status(), 200);
    let path = format!("/api/v1/admin/blockchain/events/{}/retry", Uuid::new_v4());
    let (status, _) = problem(app.send(reqwest::Method::POST, &path, &customer, None, None).await).await;
    assert_eq!(status, 403);

    // Not yet valid (`nbf` in the future) and the nil tenant are refused.
    let mut early = auth_service_claims(app.tenant, None);
    early["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    assert_eq!(
        app.get_as("/api/v1/events", &sign_with_kid(&early, "jwt-test-private.pem", Some("current"))).await.status(),
        401
    );
    let nil = auth_service_claims(TenantId::from_uuid(Uuid::nil()), None);
    assert_eq!(
        app.get_as("/api/v1/events", &sign_with_kid(&nil, "jwt-test-private.pem", Some("current"))).await.status(),
        401
    );
}

#[tokio::test]
async fn a_key_rotation_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (current, previous) = (dir.path().join("current.pem"), dir.path().join("previous.pem"));
    std::fs::copy(fixture("jwt-test-public.pem"), &current).unwrap();
    let (current_path, previous_path) = (current.display().to_string(), previous.display().to_string());
    let app = spawn_app_with(|v| {
        v.insert("JWT_PUBLIC_KEY_PATH".into(), current_path);
        v.insert("JWT_PUBLIC_KEY_PREVIOUS_PATH".into(), previous_path);
        v.insert("JWT_KEY_RELOAD_INTERVAL_SECONDS".into(), "3600".into());
    })
    .await;
    let claims = auth_service_claims(app.tenant, None);
    let old = sign_with_kid(&claims, "jwt-test-private.pem", Some("current"));
    let new = sign_with_kid(&claims, "jwt-other-private.pem", Some("current"));
    assert_eq!(app.get_as("/api/v1/events", &old).await.status(), 200);
    assert_eq!(app.get_as("/api/v1/events", &new).await.status(), 401);

    // auth-service rotates: the new key becomes `current`, the old one `previous`. The secret
    // files change; SIGHUP (or the reload interval) makes the service read them.
    std::fs::copy(fixture("jwt-test-public.pem"), &previous).unwrap();
    std::fs::copy(fixture("jwt-other-public.pem"), &current).unwrap();
    let hup = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap();
    assert!(hup.success());
    let rotated =
        eventually(Duration::from_secs(5), || async { app.get_as("/api/v1/events", &new).await.status() == 200 }).await;
    assert!(rotated, "the new current key is trusted after SIGHUP");
    let still = sign_with_kid(&claims, "jwt-test-private.pem", Some("previous"));
    assert_eq!(app.get_as("/api/v1/events", &still).await.status(), 200, "tokens of the old key, now `previous`");
    assert_eq!(app.get_as("/api/v1/events", &old).await.status(), 401, "the old key is no longer `current`");

    // A half-written key file at reload keeps the keys in use.
    std::fs::write(&current, "-----BEGIN PUBLIC KEY-----\ntruncated").unwrap();
    app.state.tokens.reload_keys("test");
    assert_eq!(app.get_as("/api/v1/events", &new).await.status(), 200);
}

#[tokio::test]
async fn a_suspended_tenant_is_refused_on_every_replica_at_once_and_back_when_reactivated() {
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    // A long TTL, so only the platform's signal can explain a change within the test.
    let slow = |v: &mut std::collections::HashMap<String, String>| {
        v.insert("TENANT_STATUS_TTL_SECONDS".into(), "3600".into());
    };
    let a = spawn_app_as(tenant, slow).await;
    let b = spawn_app_as(tenant, slow).await;
    let token = a.token("admin");
    for app in [&a, &b] {
        assert_eq!(app.get_as("/api/v1/events", &token).await.status(), 200);
    }
    // auth-service's TenantService.updateTenantStatus: UPDATE tenants, then PUBLISH the bare id.
    let set_status = |status: &'static str| async move {
        sqlx::query("update tenants set status = $2, updated_at = now() where id = $1")
            .bind(tenant.as_uuid())
            .bind(status)
            .execute(superuser().await)
            .await
            .unwrap();
    };
    set_status("suspended").await;
    publish("tenant:cache:invalidate", &tenant.to_string()).await;
    for app in [&a, &b] {
        let refused =
            eventually(Duration::from_secs(2), || async { app.get_as("/api/v1/events", &token).await.status() == 403 })
                .await;
        assert!(refused, "every replica refuses within moments of the signal");
        let (status, p) = problem(app.get_as("/api/v1/events", &token).await).await;
        assert_eq!((status, p["code"].as_str()), (403, Some("TENANT_NOT_ACTIVE")));
        assert_eq!(p["type"], "https://api.tickettoken.com/errors/tenant-invalid");
        let write = app.post_json("/api/v1/events", &token, &json!({"name": "x", "venue_id": Uuid::new_v4()})).await;
        assert_eq!(write.status(), 403);
    }

    set_status("active").await;
    publish("tenant:cache:invalidate", &tenant.to_string()).await;
    for app in [&a, &b] {
        let back =
            eventually(Duration::from_secs(2), || async { app.get_as("/api/v1/events", &token).await.status() == 200 })
                .await;
        assert!(back, "reactivated on every replica");
    }
    // A tenant auth-service does not know is refused too.
    let stranger = crate::helpers::token_for(TenantId::from_uuid(Uuid::new_v4()), "admin");
    let (status, p) = problem(a.get_as("/api/v1/events", &stranger).await).await;
    assert_eq!((status, p["code"].as_str()), (403, Some("TENANT_NOT_FOUND")));
}

#[tokio::test]
async fn a_token_revoked_at_logout_is_refused_within_the_recheck_time() {
    let app = spawn_app_with(|v| {
        v.insert("TOKEN_REVOCATION_RECHECK_SECONDS".into(), "1".into());
    })
    .await;
    let claims = auth_service_claims(app.tenant, Some("customer"));
    let token = sign_with_kid(&claims, "jwt-test-private.pem", Some("current"));
    let other =
        sign_with_kid(&auth_service_claims(app.tenant, Some("customer")), "jwt-test-private.pem", Some("current"));
    assert_eq!(app.get_as("/api/v1/events", &token).await.status(), 200);

    // auth-service's logout: the access token's jti into invalidated_tokens, expiring in 24 h.
    sqlx::query(
        "insert into invalidated_tokens (token, tenant_id, user_id, expires_at)
         values ($1, $2, $3, now() + interval '24 hours') on conflict do nothing",
    )
    .bind(claims["jti"].as_str().unwrap())
    .bind(app.tenant.as_uuid())
    .bind(claims["sub"].as_str().unwrap().parse::<Uuid>().unwrap())
    .execute(superuser().await)
    .await
    .unwrap();
    let revoked =
        eventually(Duration::from_secs(3), || async { app.get_as("/api/v1/events", &token).await.status() == 401 })
            .await;
    assert!(revoked, "refused within the recheck time (1 s here)");
    let (_, p) = problem(app.get_as("/api/v1/events", &token).await).await;
    assert_eq!(p["code"], "TOKEN_REVOKED");
    assert_eq!(app.get_as("/api/v1/events", &other).await.status(), 200, "other tokens are unaffected");
}

/// Waits until `app` hears auth-service's tenant invalidations (an unrelated tenant's, published
/// until its counter shows one).
async fn invalidations_heard(app: &crate::helpers::TestApp) {
    let heard = eventually(Duration::from_secs(10), || async {
        publish("tenant:cache:invalidate", &Uuid::new_v4().to_string()).await;
        app.get("/metrics").await.text().await.unwrap().contains("tenant_invalidations_total")
    })
    .await;
    assert!(heard, "the tenant invalidation subscription is live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_auth_source_is_down_known_answers_hold_reads_pass_and_unverifiable_writes_are_refused() {
    // auth-service's tables on a Postgres of this test, which the test then kills.
    let auth_db = PgServer::start().await;
    auth_db.add_auth_service_tables().await;
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let su = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&auth_db.superuser_url()).await.unwrap();
    sqlx::query("insert into tenants (id, name, slug) values ($1, 'T', $2)")
        .bind(tenant.as_uuid())
        .bind(tenant.to_string())
        .execute(&su)
        .await
        .unwrap();
    su.close().await;
    register_tenant(tenant, "active").await;
    let url = auth_db.url("event_service", "app");
    let app = spawn_app_as(tenant, |v| {
        v.insert("AUTH_DATABASE_URL".into(), url);
        v.insert("TENANT_STATUS_TTL_SECONDS".into(), "1".into());
        v.insert("TOKEN_REVOCATION_RECHECK_SECONDS".into(), "1".into());
        v.insert("RESILIENCE_AUTH_DB_RETRIES".into(), "0".into());
    })
    .await;
    // The answers below must be cached after the app's invalidation subscription is live: when
    // it connects it forgets every cached tenant (they may predate a missed message), and a
    // tenant never seen is refused while the source is down. (The subscription, slower to
    // connect on a Redis Cluster, once came after the first request: 503 below.)
    invalidations_heard(&app).await;
    let seen = app.token("admin");
    assert_eq!(app.get_as("/api/v1/events", &seen).await.status(), 200, "tenant and token checked once");

    auth_db.kill();
    tokio::time::sleep(Duration::from_millis(1_200)).await; // past both TTLs
    let started = std::time::Instant::now();
    assert_eq!(app.get_as("/api/v1/events", &seen).await.status(), 200, "last known answers hold");
    let fresh = app.token("admin");
    assert_eq!(app.get_as("/api/v1/events", &fresh).await.status(), 200, "an unchecked token may read");
    let (status, p) = problem(
        app.post_json("/api/v1/events", &fresh, &json!({"name": "Blind write", "venue_id": Uuid::new_v4()})).await,
    )
    .await;
    assert_eq!((status, p["code"].as_str()), (503, Some("AUTH_SOURCE_UNAVAILABLE")), "but not write");
    let created =
        app.post_json("/api/v1/events", &seen, &json!({"name": "Known writer", "venue_id": Uuid::new_v4()})).await;
    assert_eq!(created.status(), 201, "a token checked before keeps writing");
    let stranger = crate::helpers::token_for(TenantId::from_uuid(Uuid::new_v4()), "admin");
    let (status, p) = problem(app.get_as("/api/v1/events", &stranger).await).await;
    assert_eq!((status, p["code"].as_str()), (503, Some("TENANT_STATUS_UNAVAILABLE")), "an unseen tenant: fail closed");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded: {:?}", started.elapsed());
}
