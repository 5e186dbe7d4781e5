//! One tower stack for every outbound call: bulkhead, deadline, retry, circuit breaker and
//! per-attempt timeout, with typed errors (`ResilienceError<E>` keeps the caller's `E`).
//!
//! # Policy at a glance
//!
//! Layer order (outermost first) is fixed in [`Dependency`]; see its docs for the reasons.
//!
//! - **What retries:** errors the dependency's [`Classify`] marks `RetryDecision::Yes`, plus
//!   attempt timeouts, and only for [`Idempotency::Safe`] operations. Breaker-open and
//!   bulkhead rejections, the deadline, and `RetryDecision::No` errors never retry.
//! - **How long we wait:** full jitter, `U[0, min(max_delay, base_delay·2^n)]`, or the
//!   server's `Retry-After` hint capped at `max_retry_after`. If the wait would end past the
//!   deadline, we give up at once with the real error instead of sleeping.
//! - **How many retries:** at most `max_retries` per call, and only while the shared
//!   `TpsBudget` allows (deposit per success, withdraw per retry), so an outage cannot
//!   multiply load.
//! - **What trips the breaker:** `BreakerOutcome::Failure` errors and attempt timeouts, once
//!   the window holds `minimum_calls` outcomes and the failure rate (or the slow-call rate)
//!   reaches its threshold. `BreakerOutcome::Ignore` errors (4xx other than 429,
//!   validation, not found, constraint violations, inner rejections) count for nothing.
//! - **Recovery:** after `open_duration` (doubling per failed recovery, capped at
//!   `max_open_duration`) K probes run; any failure re-opens, K successes close.
//!
//! All timing uses the tokio clock, so tests run on paused time.

mod breaker;
mod config;
mod error;
mod layers;
mod retry;
mod stack;
mod telemetry;
#[cfg(test)]
mod tests;

pub use breaker::{Breaker, BreakerFuture, BreakerHandle, BreakerLayer, BreakerState};
pub use config::{BreakerConfig, DependencyConfig, RetryConfig};
pub use error::{BreakerOutcome, Classification, Classify, Idempotency, Replay, ResilienceError, RetryDecision};
pub use layers::{
    AttemptTimeout, AttemptTimeoutFuture, AttemptTimeoutLayer, Bulkhead, BulkheadFuture, BulkheadLayer, CallMetrics,
    CallMetricsFuture, CallMetricsLayer, Deadline, DeadlineFuture, DeadlineLayer,
};
pub use retry::RetryPolicy;
pub use stack::Dependency;
