//! Per-dependency numbers. Starting values follow `reference/resilience.md` §8.

use std::time::Duration;

/// Everything that shapes one dependency's resilience stack.
#[derive(Debug, Clone)]
pub struct DependencyConfig {
    /// Bounded, static dependency name used as the `dependency` metric label.
    pub name: &'static str,
    /// Upper bound on one attempt; a hung attempt becomes a breaker failure.
    pub attempt_timeout: Duration,
    /// Upper bound on the whole call: readiness, every attempt and every backoff sleep.
    /// Keep it above `attempt_timeout`: an attempt cut short by the deadline is dropped,
    /// not recorded, so the breaker would never see that hang.
    pub deadline: Duration,
    /// Retry schedule and budget.
    pub retry: RetryConfig,
    /// Circuit breaker thresholds.
    pub breaker: BreakerConfig,
    /// Maximum concurrent logical calls; extra calls are shed at once. `None` is unlimited.
    pub bulkhead: Option<usize>,
}

impl DependencyConfig {
    /// Defaults suited to a request-path dependency: 2 s per attempt, 5 s overall.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            attempt_timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(5),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            bulkhead: None,
        }
    }
}

/// Retry schedule: exponential backoff with full jitter, bounded by a shared budget.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// Backoff ceiling for the first retry; doubles per retry.
    pub base_delay: Duration,
    /// Cap on the backoff ceiling.
    pub max_delay: Duration,
    /// Cap on a server's `Retry-After` hint, so one 429 cannot park a caller for minutes.
    pub max_retry_after: Duration,
    /// How long a deposit into the retry budget counts (clamped to 1..=60 s).
    pub budget_ttl: Duration,
    /// Retries per second always allowed, so low-traffic callers can still retry.
    pub budget_min_per_sec: u32,
    /// Extra retries allowed per successful call (0.2 = one retry per five successes).
    pub budget_retry_ratio: f32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(5),
            budget_ttl: Duration::from_secs(10),
            budget_min_per_sec: 10,
            budget_retry_ratio: 0.2,
        }
    }
}

/// Circuit breaker thresholds over a count-based sliding window.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// `false` starts the breaker disabled: it passes everything and records nothing.
    pub enabled: bool,
    /// Number of most recent recorded outcomes the rates are computed over.
    pub window_size: usize,
    /// Recorded outcomes needed before the breaker may open at all.
    pub minimum_calls: usize,
    /// Failure rate (0..=1) at or above which the breaker opens.
    pub failure_rate_threshold: f64,
    /// Calls slower than this count as slow, even when they succeed. `None` disables it.
    pub slow_call_duration: Option<Duration>,
    /// Slow-call rate (0..=1) at or above which the breaker opens.
    pub slow_call_rate_threshold: f64,
    /// How long the breaker stays open before admitting probes.
    pub open_duration: Duration,
    /// Growth cap: each re-open straight from half-open doubles the open duration up to this.
    /// Equal to `open_duration` disables growth.
    pub max_open_duration: Duration,
    /// Probes admitted in half-open; all must succeed to close, any failure re-opens.
    pub half_open_permits: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_size: 20,
            minimum_calls: 10,
            failure_rate_threshold: 0.5,
            slow_call_duration: None,
            slow_call_rate_threshold: 0.8,
            open_duration: Duration::from_secs(10),
            max_open_duration: Duration::from_secs(60),
            half_open_permits: 3,
        }
    }
}
