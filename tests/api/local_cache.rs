//! The process-local tier in front of Redis (`storage::local_cache`): it serves repeated reads
//! of an event from memory, and is never staler than Redis — a write on any replica reaches
//! every replica's tier, and a tier whose subscription is lost or silent is emptied and
//! bypassed.

use std::time::{Duration, Instant};

use event_service::domain::TenantId;
use event_service::services::events::event_key;
use event_service::storage::cache::tenant_key;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{RedisServer, TestApp, event_body, eventually, spawn_app_as};

async fn live(app: &TestApp) -> bool {
    eventually(Duration::from_secs(10), || async move { app.state.cache.local_tier().is_some_and(|t| t.is_live()) })
        .await
}

async fn name_read(app: &TestApp, token: &str, id: &str) -> String {
    let response = app.get_as(&format!("/api/v1/events/{id}"), token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["event"]["name"].as_str().unwrap().to_owned()
}

/// Two reads: the first may load Postgres and fill Redis, the second copies Redis into the tier.
async fn fill(app: &TestApp, token: &str, id: &str) -> String {
    name_read(app, token, id).await;
    name_read(app, token, id).await
}

/// Overwrites the Redis copy behind the service's back (no announcement), so a read that still
/// answers `name` was served by the local tier.
async fn overwrite_in_redis(app: &TestApp, key: &str, name: &str) {
    let mut conn = app.state.cache.connection();
    let mut cached: Value =
        serde_json::from_slice(&app.state.cache.get_bytes(app.tenant, key).await.expect("cached in Redis")).unwrap();
    cached["name"] = json!(name);
    redis::cmd("SET")
        .arg(tenant_key(app.tenant, key))
        .arg(serde_json::to_vec(&cached).unwrap())
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_reaches_the_local_tier_of_another() {
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let (a, b) = (spawn_app_as(tenant, |_| {}).await, spawn_app_as(tenant, |_| {}).await);
    assert!(live(&a).await && live(&b).await, "both tiers subscribe");
    let token = a.token("admin");
    let id = a.create_event(&token, event_body("Before")).await["id"].as_str().unwrap().to_owned();
    let key = event_key(id.parse().unwrap());

    // The first read loads Postgres and fills Redis, the second copies Redis into b's tier.
    assert_eq!(name_read(&b, &token, &id).await, "Before");
    assert_eq!(name_read(&b, &token, &id).await, "Before");
    let local = b.state.cache.local_tier().unwrap();
    assert!(local.get(&tenant_key(tenant, &key)).is_some(), "b keeps the event locally");
    // The subscription stays up (its pings are answered): the copy is still there later.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(local.get(&tenant_key(tenant, &key)).is_some(), "b's tier went off with Redis up");
    overwrite_in_redis(&b, &key, "Only in Redis").await;
    assert_eq!(name_read(&b, &token, &id).await, "Before", "served by b's tier, not Redis");
    // A non-admin reader is served from the same copy, redacted.
    assert_eq!(name_read(&b, &b.token("user"), &id).await, "Before");

    // A write on a: its invalidation is announced, b drops its copy and reads Postgres again.
    let renamed =
        a.send(Method::PATCH, &format!("/api/v1/events/{id}"), &token, Some(&json!({"name": "After"})), None).await;
    assert_eq!(renamed.status(), 200);
    let written = Instant::now();
    let seen = {
        let (b, token, id) = (&b, &token, &id);
        eventually(Duration::from_secs(2), || async move { name_read(b, token, id).await == "After" }).await
    };
    assert!(seen, "b still answers the old name {:?} after a's write", written.elapsed());
    assert!(written.elapsed() < Duration::from_millis(500), "b saw the write after {:?}", written.elapsed());
    eprintln!("b saw a's write after {:?}", written.elapsed());
    // b's own write drops b's copy before the write's answer: read-your-writes on one replica.
    assert_eq!(name_read(&b, &token, &id).await, "After");
    assert_eq!(name_read(&b, &token, &id).await, "After");
    assert!(local.get(&tenant_key(tenant, &key)).is_some());
    let renamed =
        b.send(Method::PATCH, &format!("/api/v1/events/{id}"), &token, Some(&json!({"name": "Mine"})), None).await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(name_read(&b, &token, &id).await, "Mine");
    // One invalidation of several keys is one announcement naming them all.
    assert_eq!(fill(&b, &token, &id).await, "Mine");
    assert!(local.get(&tenant_key(tenant, &key)).is_some());
    a.state.cache.delete(tenant, &["venue:x:events", &key, "event:other"]).await;
    let dropped = eventually(Duration::from_secs(1), || async { local.get(&tenant_key(tenant, &key)).is_none() }).await;
    assert!(dropped, "b kept the second of three keys a invalidated together");

    // Tenant-scoped like Redis: another tenant's replica never sees it.
    let other = spawn_app_as(a.other_tenant().await, |_| {}).await;
    let response = other.get_as(&format!("/api/v1/events/{id}"), &other.token("admin")).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_or_silent_subscription_empties_the_tier_and_nothing_stale_is_served() {
    let redis = RedisServer::start();
    let url = redis.url();
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let with_own_redis = |v: &mut std::collections::HashMap<String, String>| {
        v.insert("REDIS_URL".into(), url.clone());
        v.insert("ENABLE_RATE_LIMITING".into(), "false".into());
    };
    let (a, b) = (spawn_app_as(tenant, with_own_redis).await, spawn_app_as(tenant, with_own_redis).await);
    assert!(live(&a).await && live(&b).await);
    let token = a.token("admin");
    let id = a.create_event(&token, event_body("First")).await["id"].as_str().unwrap().to_owned();
    let key = tenant_key(tenant, &event_key(id.parse().unwrap()));
    assert_eq!(fill(&a, &token, &id).await, "First");
    let local = a.state.cache.local_tier().unwrap();
    assert!(local.get(&key).is_some());

    // Lost: Redis closes every subscription. a's tier is emptied; a write on b in the meantime
    // (its announcement may reach nobody) is read by a afterwards.
    let mut conn = a.state.cache.connection();
    redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query_async::<i64>(&mut conn).await.unwrap();
    let renamed =
        b.send(Method::PATCH, &format!("/api/v1/events/{id}"), &token, Some(&json!({"name": "Second"})), None).await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(name_read(&a, &token, &id).await, "Second");
    assert!(live(&a).await, "the tier comes back with a new subscription");
    assert_eq!(fill(&a, &token, &id).await, "Second");
    assert!(local.get(&key).is_some(), "and is filled again");

    // Silent: Redis stops answering (SIGSTOP) but the connection stays open, so no message
    // and no close arrives. The unanswered ping turns the tier off within about 1.5 s.
    let stopped = Instant::now();
    redis.signal("STOP");
    let off = eventually(Duration::from_secs(4), || async { !local.is_live() }).await;
    let noticed = stopped.elapsed();
    redis.signal("CONT");
    assert!(off, "a silent subscription kept the tier on");
    assert!(noticed < Duration::from_millis(2500), "noticed after {noticed:?}");
    assert!(local.get(&key).is_none(), "emptied when it went off");
    assert!(live(&a).await, "back once Redis answers");
    // Reads were answered throughout (Postgres, while the Redis breaker is open).
    assert_eq!(name_read(&a, &token, &id).await, "Second");
    drop(redis);
}
