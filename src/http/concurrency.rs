//! Concurrency limits per tenant and per user, beside the request-count budgets of
//! `rate_limit.rs`: a budget of 100 reads a minute still allows one burst of 100 expensive
//! requests at once, which is what starves other tenants. At most `TENANT_MAX_IN_FLIGHT`
//! requests of one tenant and `USER_MAX_IN_FLIGHT` of one user are in progress on a replica
//! (24 and 4 by default). A request beyond that waits up to `IN_FLIGHT_WAIT_MS` (1 s) for a
//! slot, in a queue four times as long as the limit; when the queue is full or the wait runs
//! out it is refused with 429 `CONCURRENCY_LIMITED`. The short queue matters: a client retrying at once after each
//! 429 spins in a loop that costs the replica CPU every other tenant needs, while a parked
//! request costs nothing but its connection. Always on, also when `ENABLE_RATE_LIMITING` is
//! false (that switch lifts the per-minute budgets only). Probes, metrics and internal routes
//! are exempt, like the budgets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::AuthUser;
use crate::config::RateLimitConfig;
use crate::error::ApiError;

/// Waiters per slot: with the default limits a user's 20 parallel requests are 4 running and 16
/// parked, and a 21st is refused at once (cheaply: no database work).
const QUEUE_FACTOR: usize = 4;

/// One key's slots and the number of requests queued for them.
struct Gate {
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
}

/// In-flight counters by key, forgotten when idle.
#[derive(Default)]
struct InFlight {
    map: Mutex<HashMap<String, Arc<Gate>>>,
}

/// Takes a queue place for as long as it lives.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InFlight {
    /// A slot of `key` (at most `limit` held at once), waiting up to `wait` behind at most
    /// `QUEUE_FACTOR * limit` other waiters.
    async fn enter(&self, key: String, limit: u32, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let gate = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.len() > 50_000 {
                map.retain(|_, g| Arc::strong_count(g) > 1);
            }
            map.entry(key)
                .or_insert_with(|| {
                    Arc::new(Gate { slots: Arc::new(Semaphore::new(limit as usize)), queued: AtomicUsize::new(0) })
                })
                .clone()
        };
        if let Ok(permit) = gate.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        if gate.queued.fetch_add(1, Ordering::Relaxed) >= QUEUE_FACTOR * limit as usize {
            gate.queued.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let _place = Queued(&gate.queued);
        tokio::time::timeout(wait, gate.slots.clone().acquire_owned()).await.ok()?.ok()
    }
}

/// The limits and their counters; the middleware's own state (one per router), so the
/// application state does not depend on the HTTP layer.
pub struct InFlightLimits {
    gates: InFlight,
    user: u32,
    tenant: u32,
    wait: Duration,
}

impl InFlightLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            gates: InFlight::default(),
            user: config.user_max_in_flight,
            tenant: config.tenant_max_in_flight,
            wait: config.in_flight_wait,
        }
    }
}

pub async fn limit_concurrency(State(limits): State<Arc<InFlightLimits>>, req: Request, next: Next) -> Response {
    let Some(user) = req.extensions().get::<AuthUser>().cloned() else { return next.run(req).await };
    let uri = req.extensions().get::<OriginalUri>().map_or(req.uri(), |o| &o.0);
    if crate::http::rate_limit::is_exempt_path(uri.path()) {
        return next.run(req).await;
    }
    // The user's slot first: a user waiting for its own slot must not hold one of the tenant's.
    let user_permit = limits.gates.enter(format!("u:{}:{}", user.tenant, user.user_id), limits.user, limits.wait).await;
    let tenant = match user_permit {
        Some(_) => limits.gates.enter(format!("t:{}", user.tenant), limits.tenant, limits.wait).await,
        None => None,
    };
    match (user_permit, tenant) {
        (Some(_user), Some(_tenant)) => next.run(req).await,
        (user_permit, _) => {
            let scope = if user_permit.is_none() { "user" } else { "tenant" };
            metrics::counter!("concurrency_limit_rejections_total", "scope" => scope).increment(1);
            let limit = if scope == "user" { limits.user } else { limits.tenant };
            ApiError::too_many(
                "CONCURRENCY_LIMITED",
                format!("Too many requests of this {scope} in progress; retry shortly"),
                limit,
                Duration::from_secs(1),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn beyond_the_limit_a_request_waits_in_a_queue_as_long_as_the_limit_then_is_refused() {
        let gates = Arc::new(InFlight::default());
        let held = [gates.enter("k".into(), 2, WAIT).await.unwrap(), gates.enter("k".into(), 2, WAIT).await.unwrap()];
        // Eight may queue; they are parked, not refused.
        let queued: Vec<_> = (0..2 * QUEUE_FACTOR)
            .map(|_| {
                let gates = gates.clone();
                tokio::spawn(async move { gates.enter("k".into(), 2, Duration::from_secs(5)).await.is_some() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The queue is full: the next is refused at once, without waiting.
        let started = std::time::Instant::now();
        assert!(gates.enter("k".into(), 2, Duration::from_secs(5)).await.is_none());
        assert!(started.elapsed() < Duration::from_secs(1));
        // Other keys are untouched.
        assert!(gates.enter("other".into(), 2, WAIT).await.is_some());
        drop(held);
        for q in queued {
            assert!(q.await.unwrap(), "a queued request gets a released slot");
        }
    }

    #[tokio::test]
    async fn a_queued_request_is_refused_when_its_wait_runs_out_and_leaves_the_queue() {
        let gates = InFlight::default();
        let _held = gates.enter("k".into(), 1, WAIT).await.unwrap();
        assert!(gates.enter("k".into(), 1, WAIT).await.is_none(), "no slot within the wait");
        // Its queue place was given back: the next one may wait (and time out) again.
        let started = std::time::Instant::now();
        assert!(gates.enter("k".into(), 1, WAIT).await.is_none());
        assert!(started.elapsed() >= WAIT, "it waited rather than being refused for a full queue");
    }
}
