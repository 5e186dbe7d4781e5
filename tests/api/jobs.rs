//! Background jobs: the time-based lifecycle job under the system context, coordinated
//! across replicas.

use std::time::Duration;

use event_service::error::ApiError;
use event_service::jobs::{Tick, claim, cleanup, publish_job_stats, tick, transitions};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, as_tenant, scheduled_event_body, spawn_app, test_env};

async fn history(app: &TestApp, event: &str) -> Vec<(String, String)> {
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    let mut tx = crate::helpers::tenant_tx(&pool, app.tenant).await.unwrap();
    sqlx::query_as(
        "select new_status, changed_by from event_status_history where event_id = $1::uuid order by changed_at",
    )
    .bind(event)
    .fetch_all(&mut *tx)
    .await
    .unwrap()
}

async fn published_event_with_open_sales(app: &TestApp) -> String {
    let token = app.token("admin");
    let id = app.create_event(&token, scheduled_event_body("Goes on sale")).await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.send(Method::POST, &format!("/api/v1/events/{id}/publish"), &token, None, None).await.status(), 200);
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    as_tenant(
        &pool,
        app.tenant,
        &format!(
            "insert into event_pricing (tenant_id, event_id, name, base_price, sales_start_at, sales_end_at)
             values ('{}', '{id}', 'GA', 50, now() - interval '1 minute', now() + interval '5 days')",
            app.tenant
        ),
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn job_puts_a_published_event_on_sale_when_its_sales_window_opens_and_records_history() {
    let app = spawn_app().await;
    let id = published_event_with_open_sales(&app).await;
    let report = transitions::run_once(&app.state, 10_000).await.unwrap();
    assert!(report.due >= 1, "{report:?}");
    let event: Value = app.get_as(&format!("/api/v1/events/{id}"), &app.token("user")).await.json().await.unwrap();
    assert_eq!(event["event"]["status"], "ON_SALE", "and the cached copy was invalidated");
    let h = history(&app, &id).await;
    assert_eq!(h.last().unwrap(), &("ON_SALE".to_owned(), "system-job".to_owned()));
}

#[tokio::test]
async fn job_completes_an_event_after_its_last_schedule_ends() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let id = app.create_event(&token, scheduled_event_body("Over")).await["id"].as_str().unwrap().to_owned();
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    as_tenant(&pool, app.tenant, &format!("update events set status = 'IN_PROGRESS' where id = '{id}'")).await.unwrap();
    as_tenant(&pool, app.tenant, &format!(
        "update event_schedules set starts_at = now() - interval '3 hours', ends_at = now() - interval '1 minute', doors_open_at = null where event_id = '{id}'"
    )).await.unwrap();
    transitions::run_once(&app.state, 10_000).await.unwrap();
    let event: Value = app.get_as(&format!("/api/v1/events/{id}"), &token).await.json().await.unwrap();
    assert_eq!(event["event"]["status"], "COMPLETED");
}

#[tokio::test]
async fn two_replicas_running_the_job_at_once_apply_each_transition_exactly_once() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    let id = published_event_with_open_sales(&first).await;
    let (a, b) =
        tokio::join!(transitions::run_once(&first.state, 10_000), transitions::run_once(&second.state, 10_000));
    let (a, b) = (a.unwrap(), b.unwrap());
    let on_sale = history(&first, &id).await.into_iter().filter(|(s, _)| s == "ON_SALE").count();
    assert_eq!(on_sale, 1, "one transition, one history row ({a:?}, {b:?})");
}

#[tokio::test]
async fn a_job_is_claimed_once_per_interval_across_replicas() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    // A job name of this test only: the claim table is global.
    let job: &'static str = Box::leak(format!("test-job-{}", Uuid::new_v4()).into_boxed_str());
    let (a, b) = tokio::join!(
        claim(&first.state.db, job, Duration::from_secs(3600)),
        claim(&second.state.db, job, Duration::from_secs(3600))
    );
    assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|c| **c).count(), 1, "exactly one replica runs it");
    assert!(!claim(&first.state.db, job, Duration::from_secs(3600)).await.unwrap(), "not again within the interval");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(claim(&second.state.db, job, Duration::from_secs(1)).await.unwrap(), "again once the interval has passed");
}

#[tokio::test]
async fn expired_idempotency_keys_are_purged_and_live_ones_kept() {
    let app = spawn_app().await;
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    for (key, expiry) in [("old", "now() - interval '1 minute'"), ("live", "now() + interval '1 hour'")] {
        as_tenant(&pool, app.tenant, &format!(
            "insert into idempotency_keys (tenant_id, idempotency_key, request_method, request_path, request_hash, response_status, expires_at)
             values ('{}', '{key}', 'POST', '/x', 'h', 201, {expiry})", app.tenant
        )).await.unwrap();
    }
    transitions::run_once(&app.state, 10_000).await.unwrap();
    let mut tx = crate::helpers::tenant_tx(&pool, app.tenant).await.unwrap();
    let left: Vec<String> =
        sqlx::query_scalar("select idempotency_key from idempotency_keys").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(left, ["live"]);
}

/// `(last_status, last_error, last_affected, finished at or after it started)` of a job's row.
async fn job_row(job: &str) -> Option<(String, Option<String>, i32, bool)> {
    let pool = sqlx::PgPool::connect(&test_env().database_url).await.unwrap();
    sqlx::query_as(
        "select last_status, last_error, last_affected, coalesce(last_finished_at >= last_started_at, false)
           from background_job_runs where job_name = $1",
    )
    .bind(job)
    .fetch_optional(&pool)
    .await
    .unwrap()
}

fn test_job() -> &'static str {
    Box::leak(format!("test-job-{}", Uuid::new_v4()).into_boxed_str())
}

#[tokio::test]
async fn the_reservation_cleanup_job_records_that_its_run_finished() {
    // The cleanup's real work, run through the one path every job takes (`jobs::tick`, which
    // the app's loop calls), under a job name of its own. The shared `reservation-cleanup` row
    // cannot be used: every test app claims it at start-up, and an app dropped at the end of
    // its test mid-run leaves it `running` for the rest of the interval, as a killed pod would.
    let app = spawn_app().await;
    let job = test_job();
    let hour = Duration::from_secs(3600);
    let ran = tick(&app.state, job, hour, hour, cleanup::run_once(&app.state, 1_000)).await;
    assert!(matches!(ran, Tick::Ran(Ok(_))), "{ran:?}");
    let row = job_row(job).await;
    assert!(matches!(&row, Some((status, None, _, true)) if status == "succeeded"), "{row:?}");
}

#[tokio::test]
async fn a_job_run_records_its_outcome_and_the_gauges_show_it() {
    let app = spawn_app().await;
    let hour = Duration::from_secs(3600);
    let (ok, failed, unfinished) = (test_job(), test_job(), test_job());

    let ran = tick(&app.state, ok, hour, hour, async { Ok(7) }).await;
    assert!(matches!(ran, Tick::Ran(Ok(7))), "{ran:?}");
    assert_eq!(job_row(ok).await, Some(("succeeded".to_owned(), None, 7, true)));
    assert!(matches!(tick(&app.state, ok, hour, hour, async { Ok(1) }).await, Tick::NotClaimed));

    let work = async { Err(ApiError::unavailable("TEST_FAILURE", "the work failed", None)) };
    assert!(matches!(tick(&app.state, failed, hour, hour, work).await, Tick::Ran(Err(_))));
    assert_eq!(job_row(failed).await, Some(("failed".to_owned(), Some("TEST_FAILURE".to_owned()), 0, true)));

    let hung = tick(&app.state, unfinished, hour, Duration::from_millis(50), futures::future::pending()).await;
    assert!(matches!(hung, Tick::Ran(Err(ref e)) if e.code == "JOB_DEADLINE"), "{hung:?}");

    // A claim whose run never records an outcome (its replica died) shows as running.
    let died = test_job();
    assert!(claim(&app.state.db, died, hour).await.unwrap());
    publish_job_stats(&app.state.db).await.unwrap();
    let metrics = app.state.metrics.render();
    let gauge = |name: &str, job: &str| {
        let prefix = format!("{name}{{job_name=\"{job}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().parse::<f64>().unwrap())
    };
    assert_eq!(gauge("jobs_running", ok), Some(0.0), "{metrics}");
    assert_eq!(gauge("jobs_running", failed), Some(0.0));
    assert_eq!(gauge("jobs_running", died), Some(1.0));
    assert!(gauge("jobs_last_finished_timestamp_seconds", ok) >= gauge("jobs_last_started_timestamp_seconds", ok));
    assert!(gauge("jobs_last_started_timestamp_seconds", died).is_some());
    assert_eq!(gauge("jobs_last_finished_timestamp_seconds", died), None);
    let count = |outcome: &str, job: &str| {
        let prefix = format!("jobs_runs_total{{job_name=\"{job}\",outcome=\"{outcome}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().to_owned())
    };
    assert_eq!(count("succeeded", ok).as_deref(), Some("1"), "{metrics}");
    assert_eq!(count("failed", failed).as_deref(), Some("1"));
}
