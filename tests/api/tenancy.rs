//! Tenant B, holding tenant A's ids, gets 404 or an empty list on every route and changes
//! nothing; A's cached data is never served to B; forged tenants are rejected.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{scheduled_event_body, sign, spawn_app, token_for};

#[tokio::test]
async fn tenant_b_cannot_see_or_touch_tenant_a_events_on_any_route() {
    let app = spawn_app().await;
    let a = app.token("admin");
    let event = app.create_event(&a, scheduled_event_body("A's show")).await;
    let id = event["id"].as_str().unwrap();
    let venue = event["venue_id"].as_str().unwrap();
    let path = format!("/api/v1/events/{id}");
    // Warm A's cache, so B's miss below is not merely a cold cache.
    assert_eq!(app.get_as(&path, &a).await.status(), 200);
    assert_eq!(app.get_as(&format!("/api/v1/venues/{venue}/events"), &a).await.status(), 200);

    let b = token_for(app.other_tenant().await, "admin");
    assert_eq!(app.get_as(&path, &b).await.status(), 404);
    for (method, route, body) in [
        (Method::PUT, path.clone(), Some(json!({"name": "hijack"}))),
        (Method::PATCH, path.clone(), Some(json!({"status": "REVIEW"}))),
        (Method::POST, format!("{path}/cancel"), Some(json!({"reason": "hijack"}))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/publish"), None),
    ] {
        let r = app.send(method.clone(), &route, &b, body.as_ref(), None).await;
        assert_eq!(r.status(), 404, "{method} {route}");
    }
    let list: Value = app.get_as("/api/v1/events", &b).await.json().await.unwrap();
    assert_eq!(list["pagination"]["total"], 0);
    let by_venue: Value = app.get_as(&format!("/api/v1/venues/{venue}/events"), &b).await.json().await.unwrap();
    assert_eq!(by_venue["events"], json!([]), "A's cached venue list is not B's");

    let unchanged: Value = app.get_as(&path, &a).await.json().await.unwrap();
    assert_eq!(unchanged["event"]["name"], "A's show");
    assert_eq!(unchanged["event"]["status"], "DRAFT");
    assert_eq!(unchanged["event"]["version"], 1);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_tenant() {
    let app = spawn_app().await;
    let a = app.token("user");
    let tenant_b = app.other_tenant().await;
    let b = token_for(tenant_b, "user");
    let body = scheduled_event_body("Shared key");
    let mut body_b = body.clone();
    body_b["venue_id"] = json!(app.venue_of(tenant_b));
    let ra = app.send(Method::POST, "/api/v1/events", &a, Some(&body), Some("same-key")).await;
    let rb = app.send(Method::POST, "/api/v1/events", &b, Some(&body_b), Some("same-key")).await;
    assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (201, 201));
    assert!(rb.headers().get("idempotency-replayed").is_none(), "B never gets A's stored response");
    let (ja, jb): (Value, Value) = (ra.json().await.unwrap(), rb.json().await.unwrap());
    assert_ne!(ja["event"]["id"], jb["event"]["id"]);
    assert_eq!(ja["event"]["tenant_id"], app.tenant.to_string());
    assert_eq!(jb["event"]["tenant_id"], tenant_b.to_string());
}

#[tokio::test]
async fn a_token_with_a_tampered_tenant_is_rejected() {
    let app = spawn_app().await;
    let genuine = app.token("admin");
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    use base64_payload::*;
    let mut claims: Value = decode(&parts[1]);
    claims["tenant_id"] = json!(Uuid::new_v4().to_string());
    parts[1] = encode(&claims);
    let tampered = parts.join(".");
    assert_eq!(app.get_as("/api/v1/events", &tampered).await.status(), 401);

    let forged = sign(
        &json!({"sub": "x", "tenant_id": app.tenant.to_string(), "type": "access", "role": "admin",
                "iss": "tickettoken", "aud": "tickettoken", "exp": chrono::Utc::now().timestamp() + 60}),
        "jwt-other-private.pem",
    );
    assert_eq!(app.get_as("/api/v1/events", &forged).await.status(), 401, "signed by another key");

    let mismatch = app
        .client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&genuine)
        .header("x-tenant-id", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 403, "an X-Tenant-ID that disagrees with the token");
    let agreeing = app
        .client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&genuine)
        .header("x-tenant-id", app.tenant.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(agreeing.status(), 200);

    let refresh = sign(
        &json!({"sub": "x", "tenant_id": app.tenant.to_string(), "type": "refresh",
                "iss": "tickettoken", "aud": "tickettoken", "exp": chrono::Utc::now().timestamp() + 60}),
        "jwt-test-private.pem",
    );
    assert_eq!(app.get_as("/api/v1/events", &refresh).await.status(), 401, "only access tokens");
    let expired = sign(
        &json!({"sub": "x", "tenant_id": app.tenant.to_string(), "type": "access",
                "iss": "tickettoken", "aud": "tickettoken", "exp": chrono::Utc::now().timestamp() - 3600}),
        "jwt-test-private.pem",
    );
    assert_eq!(app.get_as("/api/v1/events", &expired).await.status(), 401);
}

/// Minimal base64url for editing a token's payload in a test.
mod base64_payload {
    use serde_json::Value;

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn decode(s: &str) -> Value {
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes() {
            let v = ALPHABET.iter().position(|a| *a == c).expect("base64url") as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        serde_json::from_slice(&out).expect("json payload")
    }

    pub fn encode(v: &Value) -> String {
        let bytes = serde_json::to_vec(v).unwrap();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[tokio::test]
async fn a_token_with_an_oversized_subject_is_rejected() {
    let app = spawn_app().await;
    let long = crate::helpers::token_with(app.tenant, "admin", &"x".repeat(101), &[]);
    assert_eq!(app.get_as("/api/v1/events", &long).await.status(), 401);
}

#[tokio::test]
async fn a_stale_read_cannot_put_its_copy_back_after_an_invalidation() {
    let app = spawn_app().await;
    let cache = &app.state.cache;
    let generation = cache.generation(app.tenant, "probe").await.expect("redis answers");
    // A write invalidates between the reader's database read and its cache write.
    cache.delete(app.tenant, &["probe"]).await;
    cache.set_json_guarded(app.tenant, "probe", &json!("stale"), std::time::Duration::from_secs(60), &generation).await;
    assert_eq!(cache.get_json::<Value>(app.tenant, "probe").await, None, "the stale copy was refused");
    let fresh = cache.generation(app.tenant, "probe").await.unwrap();
    cache.set_json_guarded(app.tenant, "probe", &json!("fresh"), std::time::Duration::from_secs(60), &fresh).await;
    assert_eq!(cache.get_json::<Value>(app.tenant, "probe").await, Some(json!("fresh")));
}
