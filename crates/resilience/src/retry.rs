//! Retry policy for `tower::retry::Retry`: full-jitter backoff, a shared budget, server
//! hints, and the rule that rejections and unsafe operations are never repeated.

use std::{sync::Arc, time::Duration};

use rand::Rng;
use tokio::time::{Instant, Sleep};
use tower::retry::{
    Policy,
    budget::{Budget, TpsBudget},
};

use crate::{
    RetryConfig,
    error::{Classify, Replay, ResilienceError, RetryDecision, classify_resilience},
    layers::current_deadline,
    telemetry::{HandleCache, RetryHandles},
};

/// Full ("AWS") jitter: uniform in `[0, min(max, base·2^retry)]`. Unlike tower's additive
/// jitter, it spreads synchronised clients over the whole interval.
pub(crate) fn full_jitter(base: Duration, max: Duration, retry: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = base.saturating_mul(2u32.saturating_pow(retry)).min(max);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=nanos))
}

struct Shared<C: ?Sized> {
    dependency: &'static str,
    config: RetryConfig,
    budget: TpsBudget,
    metrics: HandleCache<(), RetryHandles>,
    classifier: Arc<C>,
}

/// The retry policy. Cloned once per call by `Retry`, so `retries` counts per call while
/// the budget (in an `Arc`) is shared by every call to the dependency.
pub struct RetryPolicy<C: ?Sized> {
    /// One `Arc` for everything shared, so the per-call clones stay cheap.
    shared: Arc<Shared<C>>,
    retries: u32,
}

impl<C: ?Sized> Clone for RetryPolicy<C> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared), retries: self.retries }
    }
}

impl<C: ?Sized> RetryPolicy<C> {
    /// Creates the policy and its budget; build it once per dependency and clone it.
    pub fn new(dependency: &'static str, config: RetryConfig, classifier: Arc<C>) -> Self {
        // TpsBudget panics outside these ranges; clamping keeps a config typo from crashing.
        let ttl = config.budget_ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let ratio = if config.budget_retry_ratio.is_nan() { 0.0 } else { config.budget_retry_ratio.clamp(0.0, 1000.0) };
        let min_per_sec = config.budget_min_per_sec.min(i32::MAX as u32 - 1);
        let budget = TpsBudget::new(ttl, min_per_sec, ratio);
        let metrics = HandleCache::default();
        Self { shared: Arc::new(Shared { dependency, config, budget, metrics, classifier }), retries: 0 }
    }
}

impl<Req, Res, E, C> Policy<Req, Res, ResilienceError<E>> for RetryPolicy<C>
where
    Req: Replay,
    C: Classify<E> + ?Sized,
{
    type Future = Sleep;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, ResilienceError<E>>) -> Option<Self::Future> {
        let err = match result {
            Ok(_) => {
                self.shared.budget.deposit();
                return None;
            }
            Err(e) => e,
        };
        let RetryDecision::Yes { after } = classify_resilience(&*self.shared.classifier, err).retry else {
            return None;
        };
        let config = &self.shared.config;
        if self.retries >= config.max_retries {
            return None;
        }
        let delay = match after {
            Some(hint) => hint.min(config.max_retry_after),
            None => full_jitter(config.base_delay, config.max_delay, self.retries, &mut rand::rng()),
        };
        // Sleeping past the deadline would only swap the real error for DeadlineExceeded.
        if current_deadline().is_some_and(|deadline| Instant::now() + delay >= deadline) {
            return None;
        }
        let dependency = self.shared.dependency;
        if !self.shared.budget.withdraw() {
            self.shared.metrics.get(()).budget_exhausted(dependency);
            return None;
        }
        self.retries += 1;
        self.shared.metrics.get(()).retry(dependency);
        tracing::debug!(dependency, retry = self.retries, ?delay, "retrying after transient error");
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        req.replay()
    }
}
