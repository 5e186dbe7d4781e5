//! Fault tests: real servers are killed and restarted; the service must stay bounded and
//! recover by itself.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{PgServer, eventually, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_postgres_killed_makes_ready_503_within_3s_and_it_recovers_without_restart() {
    let pg = PgServer::start().await;
    let url = pg.url("event_service", "app");
    let app = spawn_app_with(|vars| {
        vars.insert("DATABASE_URL".into(), url);
    })
    .await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    pg.kill();
    let started = Instant::now();
    let response = app.get("/health/ready").await;
    let took = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(took < Duration::from_secs(3), "answered in {took:?}, not hung");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert!(body["checks"]["database"]["error"].is_string());

    pg.start_again();
    let recovered =
        eventually(Duration::from_secs(20), || async { app.get("/health/ready").await.status() == 200 }).await;
    assert!(recovered, "ready again after Postgres is back, without restarting the service");
}
