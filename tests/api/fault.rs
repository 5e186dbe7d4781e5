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

/// What one client request ended with, for the assertions after the storm.
#[derive(Debug)]
enum Seen {
    Created { key: String, id: String },
    Held { id: String },
    Refused { status: u16, problem_json: bool, took: Duration },
}

/// Creates events (each with its own Idempotency-Key, retried with the same key until it gets
/// an answer) and takes one-seat holds, until `stop`. Every answer is recorded.
async fn client(app: std::sync::Arc<crate::helpers::TestApp>, section: String, stop: Instant) -> Vec<Seen> {
    let token = app.token("admin");
    let mut seen = Vec::new();
    while Instant::now() < stop {
        let key = uuid::Uuid::new_v4().to_string();
        let body = crate::helpers::event_body(&format!("Storm {key}"));
        // Client retries with the same key: at most one event per key, whatever happened.
        for _ in 0..100 {
            let started = Instant::now();
            let r = app.send(reqwest::Method::POST, "/api/v1/events", &token, Some(&body), Some(&key)).await;
            let (status, took) = (r.status().as_u16(), started.elapsed());
            if status == 201 {
                let v: Value = r.json().await.unwrap();
                seen.push(Seen::Created { key: key.clone(), id: v["event"]["id"].as_str().unwrap().to_owned() });
                break;
            }
            let problem_json = r.headers().get("content-type").is_some_and(|v| v == "application/problem+json");
            seen.push(Seen::Refused { status, problem_json, took });
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let started = Instant::now();
        let r = app
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/capacity/{section}/reserve"),
                &token,
                Some(&serde_json::json!({"quantity": 1})),
                None,
            )
            .await;
        let (status, took) = (r.status().as_u16(), started.elapsed());
        if status == 201 || status == 200 {
            let v: Value = r.json().await.unwrap();
            seen.push(Seen::Held { id: v["reservation"]["id"].as_str().unwrap().to_owned() });
        } else {
            let problem_json = r.headers().get("content-type").is_some_and(|v| v == "application/problem+json");
            seen.push(Seen::Refused { status, problem_json, took });
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_postgres_killed_under_load_every_answer_is_bounded_and_nothing_committed_is_lost_or_duplicated() {
    let pg = PgServer::start().await;
    let url = pg.url("event_service", "app");
    let app = spawn_app_with(|vars| {
        vars.insert("DATABASE_URL".into(), url);
        vars.insert("REQUEST_TIMEOUT_MS".into(), "5000".into());
        vars.insert("RESILIENCE_POSTGRES_BREAKER_OPEN_MS".into(), "1000".into());
        vars.insert("ENABLE_RATE_LIMITING".into(), "false".into());
    })
    .await;
    let app = std::sync::Arc::new(app);
    let admin = app.token("admin");
    // An on-sale section to hold seats in.
    let start = chrono::Utc::now() + chrono::Duration::days(5);
    let body = serde_json::json!({"name": "Storm sale", "venue_id": uuid::Uuid::new_v4(), "capacity": 5_000,
        "starts_at": start, "ends_at": start + chrono::Duration::hours(2)});
    let event = app.create_event(&admin, body).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (reqwest::Method::POST, format!("/api/v1/events/{event_id}/publish"), None),
        (reqwest::Method::PATCH, format!("/api/v1/events/{event_id}"), Some(serde_json::json!({"status": "ON_SALE"}))),
    ] {
        assert_eq!(app.send(method, &path, &admin, body.as_ref(), None).await.status(), 200);
    }
    let sections: Value =
        app.get_as(&format!("/api/v1/events/{event_id}/capacity"), &admin).await.json().await.unwrap();
    let section = sections["capacity"][0]["id"].as_str().unwrap().to_owned();

    let stop = Instant::now() + Duration::from_secs(9);
    let clients: Vec<_> = (0..6).map(|_| tokio::spawn(client(app.clone(), section.clone(), stop))).collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start_again();
    let mut seen = Vec::new();
    for c in clients {
        seen.extend(c.await.unwrap());
    }

    // Every refusal was a bounded 503 problem+json (or 409 while a duplicate key was in flight).
    let refused: Vec<_> = seen
        .iter()
        .filter_map(|s| {
            if let Seen::Refused { status, problem_json, took } = s {
                Some((*status, *problem_json, *took))
            } else {
                None
            }
        })
        .collect();
    assert!(!refused.is_empty(), "the kill was felt");
    for (status, problem_json, took) in &refused {
        assert!(matches!(status, 503 | 409), "status {status}");
        assert!(problem_json, "problem+json");
        assert!(*took < Duration::from_secs(6), "bounded by the request deadline: {took:?}");
    }

    // Nothing committed is lost, and a key never made two events.
    let created: Vec<(&str, &str)> = seen
        .iter()
        .filter_map(|s| if let Seen::Created { key, id } = s { Some((key.as_str(), id.as_str())) } else { None })
        .collect();
    let holds: Vec<&str> =
        seen.iter().filter_map(|s| if let Seen::Held { id } = s { Some(id.as_str()) } else { None }).collect();
    assert!(
        created.len() > 5 && !holds.is_empty(),
        "load ran before and after: {} events, {} holds",
        created.len(),
        holds.len()
    );
    let pool =
        sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&pg.url("event_service", "app")).await.unwrap();
    let mut tx = crate::helpers::tenant_tx(&pool, app.tenant).await.unwrap();
    let names: Vec<String> =
        sqlx::query_scalar("select name from events where name like 'Storm %' and name <> 'Storm sale'")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "no key created two events");
    for (key, id) in &created {
        let found: Option<String> = sqlx::query_scalar("select name from events where id = $1::uuid")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .unwrap();
        assert_eq!(found.as_deref(), Some(format!("Storm {key}").as_str()), "a 201 event is in the database");
    }
    for id in &holds {
        let status: Option<String> = sqlx::query_scalar("select status from event_reservations where id = $1::uuid")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .unwrap();
        assert_eq!(status.as_deref(), Some("active"), "a 201 hold is in the database");
    }
    // And the section's counters (the sums of its stripes) still add up.
    let (available, reserved, total): (i32, i32, i32) = sqlx::query_as(
        "select sum(s.available)::int4, sum(s.reserved)::int4, min(c.total_capacity)
           from event_capacity c join section_stripes s on s.tenant_id = c.tenant_id and s.capacity_id = c.id
          where c.id = $1::uuid",
    )
    .bind(&section)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let active: i64 = sqlx::query_scalar("select coalesce(sum(quantity), 0)::bigint from event_reservations where capacity_id = $1::uuid and status = 'active'")
        .bind(&section)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(i64::from(reserved), active);
    assert_eq!(available + reserved, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_redis_killed_under_read_load_fails_no_read() {
    let mut redis = crate::helpers::RedisServer::start();
    let url = redis.url();
    let app = std::sync::Arc::new(
        spawn_app_with(|vars| {
            vars.insert("REDIS_URL".into(), url);
            vars.insert("ENABLE_RATE_LIMITING".into(), "false".into());
        })
        .await,
    );
    let token = app.token("user");
    let id =
        app.create_event(&token, crate::helpers::event_body("Read storm")).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/events/{id}");
    assert_eq!(app.get_as(&path, &token).await.status(), 200); // warm

    let stop = Instant::now() + Duration::from_secs(6);
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (app, token, path) = (app.clone(), token.clone(), path.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u32, Vec::new());
                while Instant::now() < stop {
                    let r = app.get_as(&path, &token).await;
                    if r.status() == 200 { ok += 1 } else { failed.push(r.status().as_u16()) }
                }
                (ok, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.stop();
    let mut total = 0;
    for r in readers {
        let (ok, failed) = r.await.unwrap();
        assert!(failed.is_empty(), "reads failed while Redis was down: {failed:?}");
        total += ok;
    }
    assert!(total > 20, "load ran: {total} reads");
}
