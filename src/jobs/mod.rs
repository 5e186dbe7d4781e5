//! Background jobs. Each runs in its own task, watches the shutdown token, and coordinates
//! with other replicas through Postgres: a job claims its run for the interval with one atomic
//! conditional upsert on `background_job_runs`, so it runs once per interval across all
//! replicas, and its work is idempotent per row (compare-and-set), so even an overlap after a
//! crash cannot apply anything twice.

pub mod cleanup;
pub mod registration;
pub mod relay;
pub mod transitions;

use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::Db;
use crate::storage::jobs as jobs_store;
use registration::Registrar;

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
    set.spawn(job_stats(state.clone(), shutdown.clone()));
    let registration = &state.config.registration;
    match (&registration.enabled, &registration.wallet) {
        (true, Some(wallet)) => {
            let registrar = Registrar::new(state.clone(), state.solana.clone(), wallet.clone(), shutdown);
            set.spawn(registrar.run());
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
    db.system("job_claim", move |tx| async move { jobs_store::claim_run(tx, job, seconds).await }.boxed()).await
}

/// Records the outcome of a claimed run on its `background_job_runs` row.
async fn finish(db: &Db, job: &'static str, result: &ApiResult<usize>) {
    let (status, error, affected) = match result {
        Ok(n) => ("succeeded", None, i32::try_from(*n).unwrap_or(i32::MAX)),
        Err(e) => ("failed", Some(e.code), 0),
    };
    let recorded = db
        .system("job_finish", move |tx| {
            async move { jobs_store::finish_run(tx, job, status, error, affected).await }.boxed()
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(job, error = %e, "could not record the job's outcome");
    }
}

/// What one tick of a job loop did.
#[derive(Debug)]
pub enum Tick {
    /// Another replica has this interval.
    NotClaimed,
    /// The claim itself failed (Postgres down, or its breaker open); nothing ran.
    ClaimFailed(ApiError),
    /// This replica ran the job, and recorded the outcome on the job's `background_job_runs` row.
    Ran(ApiResult<usize>),
}

/// The one way a job runs: claim the interval, run `work` bounded by `deadline`, count the
/// outcome in `jobs_runs_total{job_name, outcome}`, and record it (`last_status`,
/// `last_finished_at`, `last_error`, `last_affected`), so a row left `running` means a run
/// that really did not finish.
pub async fn tick<W>(state: &AppState, job: &'static str, interval: Duration, deadline: Duration, work: W) -> Tick
where
    W: Future<Output = ApiResult<usize>>,
{
    match claim(&state.db, job, interval).await {
        Ok(true) => {}
        Ok(false) => return Tick::NotClaimed,
        Err(e) => {
            metrics::counter!("jobs_runs_total", "job_name" => job, "outcome" => "skipped").increment(1);
            return Tick::ClaimFailed(e);
        }
    }
    let result = match tokio::time::timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::unavailable("JOB_DEADLINE", "the run exceeded its deadline", None)),
    };
    let outcome = if result.is_ok() { "succeeded" } else { "failed" };
    metrics::counter!("jobs_runs_total", "job_name" => job, "outcome" => outcome).increment(1);
    finish(&state.db, job, &result).await;
    Tick::Ran(result)
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
        match self::tick(&state, job, interval, interval, work(state.clone())).await {
            Tick::Ran(Err(e)) => tracing::warn!(job, error = %e, "job run failed"),
            // Postgres is down or its breaker is open: skip this tick, the stack backs off.
            Tick::ClaimFailed(e) => tracing::debug!(job, error = %e, "job claim skipped"),
            Tick::Ran(Ok(_)) | Tick::NotClaimed => {}
        }
    }
}

/// How often every replica samples `background_job_runs` into the `jobs_*` gauges.
const JOB_STATS_INTERVAL: Duration = Duration::from_secs(30);

/// Publishes each job's last run from `background_job_runs`, the table all replicas share:
/// `jobs_last_started_timestamp_seconds`, `jobs_last_finished_timestamp_seconds` and
/// `jobs_running` (1 while the last run has not recorded an outcome), per `job_name`. A run
/// whose replica died mid-way is visible only here, so the "job did not finish" alert reads
/// these rather than anything a single replica counts.
async fn job_stats(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(JOB_STATS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = publish_job_stats(&state.db).await {
            tracing::debug!(error = %e, "job stats not sampled");
        }
    }
}

pub async fn publish_job_stats(db: &Db) -> ApiResult<()> {
    let rows = db.system("job_stats", |tx| async move { jobs_store::runs(tx).await }.boxed()).await?;
    for (job, started, finished, status) in rows {
        let running = if status.as_deref() == Some("running") { 1.0 } else { 0.0 };
        metrics::gauge!("jobs_running", "job_name" => job.clone()).set(running);
        if let Some(at) = started {
            metrics::gauge!("jobs_last_started_timestamp_seconds", "job_name" => job.clone()).set(at);
        }
        if let Some(at) = finished {
            metrics::gauge!("jobs_last_finished_timestamp_seconds", "job_name" => job).set(at);
        }
    }
    Ok(())
}
