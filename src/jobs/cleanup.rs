//! Reservation cleanup: releases each expired hold individually.
//!
//! System context: `system_expired_reservations` (SECURITY DEFINER, ids only) finds expired
//! holds across tenants; each release then runs in its own tenant's transaction as a
//! compare-and-set (`status = 'active' and expires_at <= now()`), so two replicas, or a
//! client confirming at the same moment, can never release one hold twice. Runs once per
//! `RESERVATION_CLEANUP_INTERVAL_MINUTES` across replicas (see `jobs::claim`), in batches of
//! `BATCH` under a per-run deadline; while Postgres is failing it backs off, and every call
//! goes through the Postgres resilience stack, whose breaker stops it hammering a dead server.
//!
//! Each run then refreshes the counter rollups of sections whose row no longer matches its
//! stripes (`system_stale_section_rollups`, ids only; the refresh in the tenant's transaction):
//! holds update only stripes, and other services read the section row's
//! `available_capacity` (reference/platform-contracts.md §7), which therefore lags the stripes
//! by at most one interval (plus the time a run takes) while holds change them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::TenantId;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::storage::TenantTx;
use crate::storage::capacity::{HoldEnd, end_hold, refresh_rollup};
use crate::storage::jobs as jobs_store;

pub const JOB: &str = "reservation-cleanup";
pub const BATCH: i32 = 500;
/// Longest a run may take, so a stuck run can never overlap the next interval's claim.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

fn expire(hold: Uuid) -> impl for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, ApiResult<Option<Uuid>>> + Send + Sync {
    move |tx| end_hold(tx, hold, HoldEnd::Expire).boxed()
}

/// One run: batches until a batch comes back short (the backlog is drained) or half the run's
/// deadline has passed, then the section rollups. Returns how many holds it released.
pub async fn run_once(state: &AppState, batch: i32) -> ApiResult<usize> {
    let started = tokio::time::Instant::now();
    let mut released = 0;
    loop {
        let (found, freed) = run_batch(state, batch).await?;
        released += freed;
        if found < batch as usize || started.elapsed() > RUN_DEADLINE / 2 {
            break;
        }
    }
    refresh_rollups(state, batch).await?;
    Ok(released)
}

fn refresh(section: Uuid) -> impl for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, ApiResult<bool>> + Send + Sync {
    move |tx| refresh_rollup(tx, section).boxed()
}

/// Brings the section rows' counter columns up to their stripes (up to `batch` sections).
pub async fn refresh_rollups(state: &AppState, batch: i32) -> ApiResult<usize> {
    let stale = state
        .db
        .system("stale_section_rollups", move |tx| {
            async move { jobs_store::stale_section_rollups(tx, batch).await }.boxed()
        })
        .await?;
    let mut refreshed = 0;
    for (tenant, section) in stale {
        match state.db.write(TenantId::from_uuid(tenant), refresh(section)).await {
            Ok(true) => refreshed += 1,
            Ok(false) => {}
            Err(e) if e.status.is_server_error() => return Err(e),
            Err(e) => tracing::warn!(capacity.id = %section, error = %e, "section rollup not refreshed"),
        }
    }
    metrics::counter!("capacity_rollups_refreshed_total").increment(refreshed as u64);
    Ok(refreshed)
}

/// One batch: (holds found, holds this replica released).
async fn run_batch(state: &AppState, batch: i32) -> ApiResult<(usize, usize)> {
    let expired = state
        .db
        .system("expired_reservations", move |tx| {
            async move { jobs_store::expired_reservations(tx, batch).await }.boxed()
        })
        .await?;
    let found = expired.len();
    let mut released = 0;
    for (tenant, hold) in expired {
        let tenant = TenantId::from_uuid(tenant);
        match state.db.write(tenant, expire(hold)).await {
            Ok(Some(event)) => {
                released += 1;
                // The cached event embeds its availability.
                state.cache.delete(tenant, &[&crate::services::events::event_key(event)]).await;
            }
            // Confirmed, released or expired by someone else since discovery.
            Ok(None) => {}
            Err(e) if e.status.is_server_error() => return Err(e),
            Err(e) => tracing::warn!(reservation.id = %hold, error = %e, "expired hold not released"),
        }
    }
    metrics::counter!("reservation_cleanup_released_total").increment(released as u64);
    Ok((found, released))
}

#[derive(Debug, Default)]
struct Status {
    last_run_at: Option<DateTime<Utc>>,
    last_released: usize,
    total_released: u64,
    consecutive_failures: u32,
    last_error: Option<&'static str>,
}

fn publish(state: &AppState, s: &Status, interval: Duration) {
    let in_backoff = s.consecutive_failures > 0;
    metrics::gauge!("reservation_cleanup_consecutive_failures").set(f64::from(s.consecutive_failures));
    if let Some(at) = s.last_run_at {
        metrics::gauge!("reservation_cleanup_last_run_timestamp_seconds").set(at.timestamp() as f64);
    }
    state.health.set_jobs_report(json!({
        "status": if in_backoff { "backoff" } else { "running" },
        "lastRunAt": s.last_run_at,
        "lastReleased": s.last_released,
        "totalReleased": s.total_released,
        "consecutiveFailures": s.consecutive_failures,
        "inBackoff": in_backoff,
        "lastError": s.last_error,
        "intervalSeconds": interval.as_secs(),
    }));
}

/// The loop: wait, claim, run, record (`jobs::tick`); exponential backoff on top of the
/// interval while runs fail (1 s, 2 s, .. up to 60 s extra).
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let interval = state.config.reservation_cleanup_interval;
    let mut status = Status::default();
    publish(&state, &status, interval);
    let mut delay = Duration::ZERO;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        let result = match super::tick(&state, JOB, interval, RUN_DEADLINE, run_once(&state, BATCH)).await {
            super::Tick::NotClaimed => {
                // Another replica has this interval.
                delay = interval;
                continue;
            }
            super::Tick::ClaimFailed(e) => Err(e),
            super::Tick::Ran(result) => result,
        };
        match result {
            Ok(released) => {
                status.last_run_at = Some(Utc::now());
                status.last_released = released;
                status.total_released += released as u64;
                status.consecutive_failures = 0;
                status.last_error = None;
                delay = interval;
            }
            Err(e) => {
                status.consecutive_failures += 1;
                status.last_error = Some(e.code);
                let backoff = Duration::from_secs(1 << (status.consecutive_failures - 1).min(6)).min(MAX_BACKOFF);
                tracing::warn!(error = %e, failures = status.consecutive_failures, backoff_ms = backoff.as_millis() as u64, "reservation cleanup failed");
                delay = interval + backoff;
            }
        }
        publish(&state, &status, interval);
    }
}
