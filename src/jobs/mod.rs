//! Background jobs. Each runs in its own task, watches the shutdown token, and coordinates
//! with other replicas through Postgres: a job claims its run for the interval with one atomic
//! conditional upsert on `background_job_runs`, so it runs once per interval across all
//! replicas, and its work is idempotent per row (compare-and-set), so even an overlap after a
//! crash cannot apply anything twice.

pub mod cleanup;
pub mod relay;
pub mod transitions;

use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::ApiResult;
use crate::services::registration::{self, Registrar};
use crate::state::AppState;
use crate::storage::Db;

/// The running jobs; `shutdown` waits for them to finish their current iteration.
pub struct Jobs {
    set: JoinSet<()>,
}

impl Jobs {
    pub async fn shutdown(mut self) {
        while self.set.join_next().await.is_some() {}
    }
}

pub fn spawn_all(state: &AppState, shutdown: CancellationToken) -> Jobs {
    let mut set = JoinSet::new();
    let interval = state.config.transitions_interval;
    set.spawn(run_every(state.clone(), shutdown.clone(), "event-transitions", interval, |state| {
        async move { transitions::run_once(&state, transitions::BATCH).await.map(|r| r.applied) }.boxed()
    }));
    set.spawn(cleanup::run(state.clone(), shutdown.clone()));
    if state.config.relay.enabled {
        set.spawn(relay::run(state.clone(), state.broker.clone(), shutdown.clone()));
    } else {
        // Messages wait in the outbox for a replica that relays; their depth stays visible.
        let (state, shutdown) = (state.clone(), shutdown.clone());
        set.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => relay::publish_stats(&state).await,
                }
            }
        });
    }
    set.spawn(run_every(state.clone(), shutdown.clone(), "event-outbox-purge", Duration::from_secs(600), |state| {
        async move {
            let relay = state.config.relay.clone();
            relay::purge(&state, &relay).await
        }
        .boxed()
    }));
    let registration = &state.config.registration;
    match (&registration.enabled, &registration.wallet) {
        (true, Some(wallet)) => {
            let registrar = Registrar::new(state.clone(), state.solana.clone(), wallet.clone());
            set.spawn(registrar.run(shutdown));
        }
        // Rows wait, `pending`, for a replica with registration enabled; depth stays visible.
        _ => {
            set.spawn(outbox_stats(state.clone(), shutdown));
        }
    }
    Jobs { set }
}

/// Publishes the outbox metrics on a replica that does not register (the worker does it otherwise).
async fn outbox_stats(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(state.config.registration.poll_interval.max(Duration::from_secs(5)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => registration::publish_outbox_stats(&state).await,
        }
    }
}

/// Claims `job` for this interval; true when this replica should run it now.
pub async fn claim(db: &Db, job: &'static str, interval: Duration) -> ApiResult<bool> {
    let seconds = interval.as_secs_f64();
    db.system("job_claim", move |pool| async move {
        let claimed: Option<String> = sqlx::query_scalar(
            "insert into background_job_runs (job_name, last_started_at, last_status, runs)
             values ($1, now(), 'running', 1)
             on conflict (job_name) do update
                set last_started_at = now(), last_status = 'running', runs = background_job_runs.runs + 1
              where background_job_runs.last_started_at is null
                 or background_job_runs.last_started_at <= now() - make_interval(secs => $2)
             returning job_name",
        )
        .bind(job)
        .bind(seconds)
        .fetch_optional(&pool)
        .await?;
        Ok(claimed.is_some())
    })
    .await
}

async fn finish(db: &Db, job: &'static str, result: &ApiResult<usize>) {
    let (status, error, affected) = match result {
        Ok(n) => ("succeeded", None, *n as i32),
        Err(e) => ("failed", Some(e.code), 0),
    };
    let recorded = db
        .system("job_finish", move |pool| async move {
            sqlx::query(
                "update background_job_runs set last_finished_at = now(), last_status = $2, last_error = $3,
                        last_affected = $4 where job_name = $1",
            )
            .bind(job)
            .bind(status)
            .bind(error)
            .bind(affected)
            .execute(&pool)
            .await?;
            Ok(())
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(job, error = %e, "could not record the job's outcome");
    }
}

/// Runs `work` once per `interval` (across replicas) until shutdown. A run is bounded by the
/// interval itself, so a stuck run cannot overlap the next claim.
async fn run_every<F>(state: AppState, shutdown: CancellationToken, job: &'static str, interval: Duration, work: F)
where
    F: Fn(AppState) -> futures::future::BoxFuture<'static, ApiResult<usize>> + Send + Sync + 'static,
{
    let mut tick = tokio::time::interval(interval.min(Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match claim(&state.db, job, interval).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                // Postgres is down or its breaker is open: skip this tick, the stack backs off.
                tracing::debug!(job, error = %e, "job claim skipped");
                metrics::counter!("jobs_runs_total", "job" => job, "outcome" => "skipped").increment(1);
                continue;
            }
        }
        let result = match tokio::time::timeout(interval, work(state.clone())).await {
            Ok(r) => r,
            Err(_) => Err(crate::error::ApiError::unavailable("JOB_DEADLINE", "the run exceeded its interval", None)),
        };
        let outcome = if result.is_ok() { "succeeded" } else { "failed" };
        metrics::counter!("jobs_runs_total", "job" => job, "outcome" => outcome).increment(1);
        if let Err(e) = &result {
            tracing::warn!(job, error = %e, "job run failed");
        }
        finish(&state.db, job, &result).await;
    }
}
