//! The event-delivery relay: publishes the outbox (`event_outbox`) to RabbitMQ, each message at
//! least once, none lost, and per event in order.
//!
//! Loop, on every replica:
//! 1. Make sure the broker is reachable (connect, declare the exchanges); if not, back off
//!    (1 s doubling to 30 s, ±20 % jitter, like the original's reconnect) without claiming.
//! 2. Claim up to `EVENT_OUTBOX_BATCH` messages under a lease (`system_claim_event_outbox`):
//!    the oldest pending message of each event whose oldest message is due, never two of one
//!    event, `FOR UPDATE SKIP LOCKED` across replicas.
//! 3. Publish them concurrently (different events), each `persistent` with its row id as
//!    `message_id`, and wait for the broker's confirms.
//! 4. Mark the confirmed ones published (fenced on the lease), hand the others back with
//!    backoff. Only then can an event's next message be claimed: no message about an event is
//!    published before the earlier ones are confirmed.
//!
//! A relay that dies after publishing but before marking leaves the row leased; after the lease
//! another relay publishes it again, with the same `message_id` (at least once). Writers of an
//! event's messages hold the event's row lock (every status change, update, deletion and
//! cancellation locks it), so `seq` order is commit order within an event.

use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::join_all;
use rand::Rng;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::clients::broker::{Broker, Outgoing};
use crate::config::RelayConfig;
use crate::domain::messages;
use crate::state::AppState;
use crate::storage::event_outbox::{self as outbox, Claimed};

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The pause after a partial batch (at most `EVENT_OUTBOX_POLL_MS`).
const LINGER: Duration = Duration::from_millis(50);
/// How often the depth and age gauges are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(5);

pub async fn run(state: AppState, broker: std::sync::Arc<Broker>, shutdown: CancellationToken) {
    let config = state.config.relay.clone();
    let worker = format!("relay-{}", Uuid::new_v4().simple());
    let mut backoff = BACKOFF_MIN;
    let mut stats_at = Instant::now() - STATS_EVERY;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        if stats_at.elapsed() >= STATS_EVERY {
            publish_stats(&state).await;
            stats_at = Instant::now();
        }
        let channel = match broker.channel().await {
            Ok(channel) => channel,
            Err(e) => {
                metrics::counter!("event_relay_connect_failures_total").increment(1);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "RabbitMQ unreachable; messages wait in the outbox");
                if sleep_or_stop(jitter(backoff), &shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let tenants = config.tenants.clone();
        let (batch, lease, worker_id) = (config.batch as i32, config.lease.as_secs() as i32, worker.clone());
        let claimed = state
            .db
            .system("event_outbox_claim", move |tx| {
                let (tenants, worker) = (tenants.clone(), worker_id.clone());
                async move { outbox::claim(tx, &worker, batch, lease, tenants.as_deref()).await }.boxed()
            })
            .await;
        let claimed = match claimed {
            Ok(rows) if rows.is_empty() => {
                backoff = BACKOFF_MIN;
                if sleep_or_stop(config.poll_interval, &shutdown).await {
                    return;
                }
                continue;
            }
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(error = %e, "outbox claim skipped (Postgres unavailable)");
                if sleep_or_stop(config.poll_interval.max(Duration::from_secs(1)), &shutdown).await {
                    return;
                }
                continue;
            }
        };
        let outcomes = join_all(claimed.iter().map(|m| publish_one(&broker, &channel, m))).await;
        let mut done = Vec::new();
        let mut failed = false;
        for (message, outcome) in claimed.iter().zip(outcomes) {
            match outcome {
                Ok(()) => done.push(message),
                Err(error) => {
                    failed = true;
                    metrics::counter!("event_outbox_publish_failures_total").increment(1);
                    let delay = retry_delay(message.attempts);
                    let (worker, tenant, id) = (worker.clone(), message.tenant_id, message.id);
                    let handed_back = state
                        .db
                        .system("event_outbox_retry", move |tx| {
                            let (worker, error) = (worker.clone(), error.clone());
                            async move { outbox::retry(tx, &worker, tenant, id, &error, delay).await }.boxed()
                        })
                        .await;
                    if let Err(e) = handed_back {
                        // The lease runs out and another claim picks the row up.
                        tracing::debug!(error = %e, "could not hand a message back; its lease will expire");
                    }
                }
            }
        }
        if !done.is_empty() {
            let pairs: Vec<(Uuid, Uuid)> = done.iter().map(|m| (m.tenant_id, m.id)).collect();
            let worker_id = worker.clone();
            let finished = state
                .db
                .system("event_outbox_finish", move |tx| {
                    let (pairs, worker) = (pairs.clone(), worker_id.clone());
                    async move { outbox::finish(tx, &worker, &pairs).await }.boxed()
                })
                .await;
            match finished {
                Ok(n) => {
                    metrics::counter!("event_outbox_published_total").increment(n as u64);
                    let now = chrono::Utc::now();
                    for m in &done {
                        let lag = (now - m.created_at).num_milliseconds().max(0) as f64 / 1000.0;
                        metrics::histogram!("event_outbox_publish_lag_seconds").record(lag);
                    }
                }
                // Published but not marked: the lease runs out and they go out again, with
                // the same message ids (consumers drop duplicates by message_id).
                Err(e) => {
                    tracing::warn!(error = %e, count = done.len(), "confirmed messages could not be marked published")
                }
            }
        }
        if failed {
            broker.reset().await;
            if sleep_or_stop(jitter(backoff), &shutdown).await {
                return;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        } else {
            backoff = BACKOFF_MIN;
            // A partial batch means the relay has caught up: let the next messages gather for a
            // moment instead of spinning two transactions per handful of messages, which at a
            // steady creation rate costs the database more than the creations themselves.
            if claimed.len() < config.batch as usize && sleep_or_stop(LINGER.min(config.poll_interval), &shutdown).await
            {
                return;
            }
        }
    }
}

async fn publish_one(broker: &Broker, channel: &lapin::Channel, m: &Claimed) -> Result<(), String> {
    let body = messages::at_publication(m.payload.clone(), chrono::Utc::now());
    let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let outgoing = Outgoing {
        exchange: &m.exchange,
        routing_key: &m.routing_key,
        message_id: m.id,
        event_id: m.event_id,
        timestamp: m.created_at.timestamp(),
        body: &bytes,
    };
    broker.publish(channel, &outgoing).await.map_err(|e| match e {
        resilience::ResilienceError::Inner(inner) => inner.to_string(),
        other => other.to_string(),
    })
}

/// Gauges: pending depth and the age of the oldest pending message.
pub async fn publish_stats(state: &AppState) {
    match state.db.system("event_outbox_stats", |tx| async move { outbox::stats(tx).await }.boxed()).await {
        Ok((pending, oldest)) => {
            metrics::gauge!("event_outbox_depth").set(pending as f64);
            metrics::gauge!("event_outbox_oldest_pending_age_seconds").set(oldest);
        }
        Err(e) => tracing::debug!(error = %e, "outbox stats skipped"),
    }
}

/// Backoff before a failed message is tried again: 1 s doubling per attempt, at most 60 s.
fn retry_delay(attempts: i32) -> i32 {
    let exponent = attempts.clamp(1, 7) as u32 - 1;
    (1_000i32 << exponent).min(60_000)
}

fn jitter(d: Duration) -> Duration {
    let factor = rand::rng().random_range(0.8..1.2);
    d.mul_f64(factor)
}

/// Sleeps; true when shutdown came first.
async fn sleep_or_stop(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        () = shutdown.cancelled() => true,
    }
}

/// Deletes published messages past `EVENT_OUTBOX_RETENTION_HOURS` (a job, once per interval
/// across replicas).
pub async fn purge(state: &AppState, config: &RelayConfig) -> crate::error::ApiResult<usize> {
    let hours = config.retention.as_secs().div_ceil(3600).max(1) as i32;
    let mut total = 0usize;
    loop {
        let n = state
            .db
            .system("event_outbox_purge", move |tx| async move { outbox::purge(tx, hours, 5_000).await }.boxed())
            .await?;
        total += n as usize;
        if n < 5_000 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_from_one_second_to_a_minute() {
        let delays: Vec<i32> = (1..=9).map(retry_delay).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    }
}
