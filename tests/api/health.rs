use std::time::Duration;

use serde_json::Value;

use crate::helpers::{RedisServer, free_port, spawn_app, spawn_app_with};

#[tokio::test]
async fn live_answers_without_touching_dependencies() {
    let app = spawn_app().await;
    for path in ["/health/live", "/api/v1/health/live"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["service"], "event-service");
        assert!(body["timestamp"].is_i64(), "epoch milliseconds: {body}");
    }
}

#[tokio::test]
async fn ready_reports_each_dependency_up() {
    let app = spawn_app().await;
    for path in ["/health/ready", "/api/v1/health/ready"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ready", "{body}");
        assert_eq!(body["checks"]["database"]["status"], "up");
        assert_eq!(body["checks"]["redis"]["status"], "up");
        assert!(body["checks"]["database"]["responseTime"].is_u64());
    }
}

#[tokio::test]
async fn ready_stays_200_but_degraded_when_redis_is_unreachable() {
    let dead_redis = format!("redis://127.0.0.1:{}/0", free_port());
    let app = spawn_app_with(|vars| {
        vars.insert("REDIS_URL".into(), dead_redis);
    })
    .await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["redis"]["status"], "down");
    assert_eq!(body["checks"]["redis"]["error"], "CONNECTION_ERROR", "a code, never a driver message");
    let root: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(root["status"], "degraded");
}

#[tokio::test]
async fn ready_recovers_when_redis_comes_back() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let app = spawn_app_with(|vars| {
        vars.insert("REDIS_URL".into(), url);
    })
    .await;
    assert_eq!(app.get("/health/ready").await.json::<Value>().await.unwrap()["status"], "ready");
    redis.stop();
    let body: Value = app.get("/health/ready").await.json().await.unwrap();
    assert_eq!(body["checks"]["redis"]["status"], "down");
    redis.start_again();
    let recovered = crate::helpers::eventually(Duration::from_secs(10), || async {
        app.get("/health/ready").await.json::<Value>().await.unwrap()["status"] == "ready"
    })
    .await;
    assert!(recovered, "readiness returns to ready without a restart");
}

#[tokio::test]
async fn startup_reports_started_and_root_health_has_the_original_shape() {
    let app = spawn_app().await;
    let startup: Value = app.get("/health/startup").await.json().await.unwrap();
    assert_eq!(startup["ready"], true);
    for path in ["/health", "/api/v1/health"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["service"], "event-service");
        assert_eq!(body["security"], "enabled");
        assert!(body.get("dependencies").is_none());
    }
}

#[tokio::test]
async fn include_deps_reports_external_services_without_changing_the_status() {
    // The venue-service fake answers its /health/live.
    let app = spawn_app().await;
    let body: Value = app.get("/health?include_deps=true").await.json().await.unwrap();
    assert_eq!(body["dependencies"]["venueService"]["status"], "up");
    // VENUE_SERVICE_URL points at a closed port: the venue service is down.
    let closed = format!("http://127.0.0.1:{}", crate::helpers::free_port());
    let app = crate::helpers::spawn_app_with(|v| {
        v.insert("VENUE_SERVICE_URL".into(), closed);
    })
    .await;
    let response = app.get("/health?include_deps=true").await;
    assert_eq!(response.status(), 200, "external outages are informational only");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["dependencies"]["venueService"]["status"], "down");
}

#[tokio::test]
async fn detailed_health_is_the_operators_not_a_tenant_admins() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    for path in ["/health/detailed", "/api/v1/health/detailed"] {
        assert_eq!(app.get_as(path, &admin).await.status(), 404, "{path} is not on the public API");
    }
    let denied = app.operator(reqwest::Method::GET, "/admin/health/detailed", Some(&admin), None).await;
    assert_eq!(denied.status(), 401, "a tenant admin's token is not the operator credential");
    let response =
        app.operator(reqwest::Method::GET, "/admin/health/detailed", Some(crate::helpers::OPERATOR_TOKEN), None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["database"]["pool"]["max"].is_u64(), "{body}");
    assert!(body["database"]["version"].is_string());
    assert!(body["redis"]["version"].is_string(), "{body}");
    assert_eq!(body["redis"]["mode"], if crate::helpers::on_cluster() { "cluster" } else { "single" });
    assert_eq!(body["breakers"]["postgres"], "closed");
    assert!(body["process"]["pid"].is_u64());
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_clean_incoming_one_is_kept() {
    let app = spawn_app().await;
    let generated = app.get("/health/live").await;
    assert_eq!(generated.headers()["x-request-id"].to_str().unwrap().len(), 36);
    let kept = app.client.get(app.url("/health/live")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-abc-123");
}

#[tokio::test]
async fn unknown_routes_get_a_problem_json_404() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/api/v1/nope")).header("x-request-id", "req-42").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "https://api.tickettoken.com/errors/not-found");
    assert_eq!(body["status"], 404);
    assert_eq!(body["code"], "NOT_FOUND");
    assert_eq!(body["instance"], "urn:uuid:req-42");
}

#[tokio::test]
async fn metrics_are_exported_in_prometheus_format() {
    let app = spawn_app().await;
    app.get("/health/ready").await;
    assert_eq!(app.get_as("/api/v1/events", &app.token("user")).await.status(), 200);
    let body = app.get("/metrics").await.text().await.unwrap();
    assert!(body.contains("http_requests_total"), "{body}");
    assert!(body.contains("db_pool_connections"));
    assert!(body.contains("db_pool_waiting_requests") && body.contains("db_pool_acquire_duration_seconds"));
    assert!(body.contains("resilience_breaker_state"));
    assert_eq!(app.get("/api/v1/metrics").await.status(), 200);
}

#[tokio::test]
async fn the_app_state_exposes_breakers_for_operators() {
    let app = spawn_app().await;
    let names: Vec<_> = app.state.breakers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["postgres", "redis", "venue", "auth_db", "ticket", "rabbitmq", "solana_read", "solana_send"]);
}

#[tokio::test]
async fn readiness_fails_once_shutdown_begins_while_requests_are_still_served() {
    let app = spawn_app_with(|vars| {
        vars.insert("PRESTOP_DELAY_MS".into(), "1500".into());
    })
    .await;
    assert_eq!(app.get("/health/ready").await.status(), 200);
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = app.get("/health/ready").await;
    assert_eq!(response.status(), 503, "the load balancer must stop routing here");
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "draining");
    // Still serving during the pre-stop delay.
    assert_eq!(app.get("/health/live").await.status(), 200);
    assert_eq!(app.get_as("/api/v1/events", &app.token("user")).await.status(), 200);
}
