//! Behaviour tests on paused tokio time: every wait below is virtual and exact.

use std::{
    future::Ready,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use tokio::time::{Instant, advance, sleep};
use tower::{Layer, Service, ServiceExt};

use crate::{
    BreakerHandle, BreakerLayer, BreakerOutcome, BreakerState, Classification, DeadlineLayer, Dependency,
    DependencyConfig, Idempotency, ResilienceError, RetryDecision, retry::full_jitter,
};

const MS: Duration = Duration::from_millis(1);
const SECS_10: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
enum TestErr {
    Server,
    Client,
    RateLimited(Duration),
}

fn classify(err: &TestErr) -> Classification {
    match err {
        TestErr::Server => Classification::TRANSIENT,
        TestErr::Client => Classification::CALLER,
        TestErr::RateLimited(hint) => {
            Classification { breaker: BreakerOutcome::Failure, retry: RetryDecision::Yes { after: Some(*hint) } }
        }
    }
}

/// Breaker: window 10, minimum 4 calls, 50 %, open 10 s growing to 40 s, 2 probes.
/// No retries unless a test asks for them.
fn config() -> DependencyConfig {
    let mut c = DependencyConfig::new("test");
    c.attempt_timeout = SECS_10;
    c.deadline = Duration::from_secs(60);
    c.retry.max_retries = 0;
    c.retry.base_delay = 100 * MS;
    c.retry.max_delay = 300 * MS;
    c.retry.budget_min_per_sec = 1000;
    c.breaker.window_size = 10;
    c.breaker.minimum_calls = 4;
    c.breaker.failure_rate_threshold = 0.5;
    c.breaker.open_duration = SECS_10;
    c.breaker.max_open_duration = 4 * SECS_10;
    c.breaker.half_open_permits = 2;
    c
}

/// Records when each attempt of the operation started.
#[derive(Default)]
struct Calls(Mutex<Vec<Instant>>);

impl Calls {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn gaps(&self) -> Vec<Duration> {
        let times = self.0.lock().unwrap();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

async fn attempt(calls: &Calls, result: Result<u32, TestErr>, delay: Duration) -> Result<u32, TestErr> {
    calls.0.lock().unwrap().push(Instant::now());
    sleep(delay).await;
    result
}

type Outcome = Result<u32, ResilienceError<TestErr>>;

async fn run(d: &Dependency<TestErr>, calls: &Calls, result: Result<u32, TestErr>) -> Outcome {
    d.call("op", Idempotency::Safe, || attempt(calls, result.clone(), Duration::ZERO)).await
}

async fn trip(d: &Dependency<TestErr>) {
    let calls = Calls::default();
    for _ in 0..4 {
        let _ = run(d, &calls, Err(TestErr::Server)).await;
    }
    assert_eq!(d.breaker().state(), BreakerState::Open);
}

fn is_open_for(outcome: &Outcome, expected: Duration) -> bool {
    matches!(outcome, Err(ResilienceError::BreakerOpen { breaker: "test", retry_after }) if *retry_after == expected)
}

#[tokio::test(start_paused = true)]
async fn opens_at_the_failure_threshold_and_not_before_the_minimum_volume() {
    let calls = Calls::default();
    let below_volume = Dependency::new(config(), classify);
    for _ in 0..3 {
        let _ = run(&below_volume, &calls, Err(TestErr::Server)).await;
    }
    assert_eq!(below_volume.breaker().state(), BreakerState::Closed);

    let d = Dependency::new(config(), classify);
    // Rates after each call: -, -, -, 1/4, 2/5, 3/6 = threshold.
    for (i, fail) in [false, false, true, false, true, true].into_iter().enumerate() {
        assert_eq!(d.breaker().state(), BreakerState::Closed, "call {i}");
        let result = if fail { Err(TestErr::Server) } else { Ok(1) };
        let _ = run(&d, &calls, result).await;
    }
    assert_eq!(d.breaker().state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn fails_fast_while_open_without_calling_the_inner_service() {
    let d = Dependency::new(config(), classify);
    trip(&d).await;
    let calls = Calls::default();
    for _ in 0..5 {
        let outcome = run(&d, &calls, Ok(1)).await;
        assert!(is_open_for(&outcome, SECS_10), "{outcome:?}");
        let err = outcome.unwrap_err();
        assert!(err.is_unavailable());
        assert_eq!(err.retry_after(), Some(SECS_10));
    }
    assert_eq!(calls.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn stays_open_for_the_open_duration() {
    let d = Dependency::new(config(), classify);
    trip(&d).await;
    let calls = Calls::default();
    advance(SECS_10 - MS).await;
    assert!(is_open_for(&run(&d, &calls, Ok(1)).await, MS));
    advance(MS).await;
    assert_eq!(run(&d, &calls, Ok(1)).await.unwrap(), 1);
    assert_eq!(d.breaker().state(), BreakerState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_k_probes_and_rejects_concurrent_extras() {
    let d = Dependency::new(config(), classify);
    trip(&d).await;
    advance(SECS_10).await;
    let calls = Arc::new(Calls::default());
    let probes: Vec<_> = (0..2)
        .map(|_| {
            let (d, calls) = (d.clone(), Arc::clone(&calls));
            tokio::spawn(async move {
                d.call("op", Idempotency::Safe, || attempt(&calls, Ok(1), Duration::from_secs(1))).await
            })
        })
        .collect();
    sleep(MS).await;
    assert!(is_open_for(&run(&d, &calls, Ok(1)).await, SECS_10));
    assert_eq!(calls.count(), 2);
    for probe in probes {
        assert_eq!(probe.await.unwrap().unwrap(), 1);
    }
    assert_eq!(d.breaker().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_its_permit() {
    let mut c = config();
    c.breaker.half_open_permits = 1;
    let d = Dependency::new(c, classify);
    trip(&d).await;
    advance(SECS_10).await;
    let calls = Calls::default();
    let hung = d.call("op", Idempotency::Safe, || attempt(&calls, Ok(1), Duration::from_secs(5)));
    assert!(tokio::time::timeout(MS, hung).await.is_err());
    assert_eq!(d.breaker().state(), BreakerState::HalfOpen);
    assert_eq!(run(&d, &calls, Ok(1)).await.unwrap(), 1);
    assert_eq!(d.breaker().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn closes_after_k_successful_probes() {
    let d = Dependency::new(config(), classify);
    trip(&d).await;
    advance(SECS_10).await;
    let calls = Calls::default();
    run(&d, &calls, Ok(1)).await.unwrap();
    assert_eq!(d.breaker().state(), BreakerState::HalfOpen);
    run(&d, &calls, Ok(1)).await.unwrap();
    assert_eq!(d.breaker().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn reopens_on_a_failed_probe_for_a_growing_capped_duration() {
    let d = Dependency::new(config(), classify);
    trip(&d).await;
    let calls = Calls::default();
    let mut wait = SECS_10;
    for expected in [20, 40, 40].map(Duration::from_secs) {
        advance(wait).await;
        let _ = run(&d, &calls, Err(TestErr::Server)).await;
        assert_eq!(d.breaker().state(), BreakerState::Open);
        assert!(is_open_for(&run(&d, &calls, Ok(1)).await, expected));
        wait = expected;
    }
    advance(wait).await;
    run(&d, &calls, Ok(1)).await.unwrap();
    run(&d, &calls, Ok(1)).await.unwrap();
    trip(&d).await;
    // Closing resets the growth.
    assert!(is_open_for(&run(&d, &calls, Ok(1)).await, SECS_10));
}

#[tokio::test(start_paused = true)]
async fn slow_calls_count_toward_opening() {
    let mut c = config();
    c.breaker.slow_call_duration = Some(100 * MS);
    c.breaker.slow_call_rate_threshold = 0.5;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    for _ in 0..4 {
        assert_eq!(d.breaker().state(), BreakerState::Closed);
        let slow = d.call("op", Idempotency::Safe, || attempt(&calls, Ok(1), 200 * MS));
        assert_eq!(slow.await.unwrap(), 1);
    }
    assert_eq!(d.breaker().state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn ignored_errors_never_trip_the_breaker_nor_retry() {
    let mut c = config();
    c.retry.max_retries = 2;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    for _ in 0..20 {
        let outcome = run(&d, &calls, Err(TestErr::Client)).await;
        assert!(matches!(outcome, Err(ResilienceError::Inner(TestErr::Client))));
    }
    assert_eq!(calls.count(), 20);
    assert_eq!(d.breaker().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn forced_open_rejects_disabled_passes_and_reset_closes() {
    let d = Dependency::new(config(), classify);
    let calls = Calls::default();
    d.breaker().force_open();
    assert_eq!(d.breaker().state().as_str(), "forced_open");
    assert!(is_open_for(&run(&d, &calls, Ok(1)).await, SECS_10));
    assert_eq!(calls.count(), 0);

    d.breaker().disable();
    for _ in 0..10 {
        let _ = run(&d, &calls, Err(TestErr::Server)).await;
    }
    assert_eq!(calls.count(), 10);
    assert_eq!(d.breaker().state().as_str(), "disabled");

    d.breaker().reset();
    assert_eq!(d.breaker().state(), BreakerState::Closed);
}

/// Regression for Govcraft/acton-service#33: state created per `layer()` never opens.
#[tokio::test(start_paused = true)]
async fn breaker_state_is_shared_across_clones_and_repeated_layer_applications() {
    let layer = BreakerLayer::new(BreakerHandle::new("test", "shared", config().breaker), Arc::new(classify));
    let flaky = tower::service_fn(|fail: bool| async move {
        if fail { Err(ResilienceError::Inner(TestErr::Server)) } else { Ok(()) }
    });
    let first = layer.layer(flaky);
    let second = layer.clone().layer(flaky);
    for svc in [first.clone(), first.clone(), first, second.clone()] {
        assert!(svc.oneshot(true).await.is_err());
    }
    assert_eq!(layer.handle().state(), BreakerState::Open);
    let rejected = second.oneshot(false).await;
    assert!(matches!(rejected, Err(ResilienceError::BreakerOpen { breaker: "shared", .. })));

    let d = Dependency::new(config(), classify);
    trip(&d.clone()).await;
    assert_eq!(d.breaker().state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn retry_delays_stay_within_full_jitter_bounds_for_each_attempt() {
    let (base, max) = (100 * MS, 300 * MS);
    let mut rng = rand::rng();
    for n in 0..6 {
        let bound = (base * 2u32.pow(n)).min(max);
        let samples: Vec<_> = (0..2000).map(|_| full_jitter(base, max, n, &mut rng)).collect();
        assert!(samples.iter().all(|d| *d <= bound), "retry {n}");
        // Full jitter spans the whole interval, unlike tower's additive jitter.
        assert!(samples.iter().any(|d| *d < bound / 10) && samples.iter().any(|d| *d > bound * 9 / 10));
    }

    let mut c = config();
    c.breaker.enabled = false;
    c.retry.max_retries = 4;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    let _ = run(&d, &calls, Err(TestErr::Server)).await;
    assert_eq!(calls.count(), 5);
    for (gap, bound) in calls.gaps().into_iter().zip([100, 200, 300, 300]) {
        assert!(gap <= bound * MS, "{gap:?} > {bound} ms");
    }
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_stops_retries() {
    let mut c = config();
    c.breaker.enabled = false;
    c.retry.max_retries = 5;
    c.retry.max_delay = 10 * MS;
    c.retry.budget_ttl = Duration::from_secs(1);
    c.retry.budget_min_per_sec = 2;
    c.retry.budget_retry_ratio = 0.0;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    let _ = run(&d, &calls, Err(TestErr::Server)).await;
    assert_eq!(calls.count(), 3, "first call spends the reserve of two retries");
    let _ = run(&d, &calls, Err(TestErr::Server)).await;
    assert_eq!(calls.count(), 4, "second call gets no retry");
    advance(Duration::from_secs(2)).await;
    let _ = run(&d, &calls, Err(TestErr::Server)).await;
    assert_eq!(calls.count(), 7, "withdrawals expire after the TTL");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_is_honoured_exactly_and_capped() {
    let mut c = config();
    c.retry.max_retries = 2;
    c.retry.max_retry_after = Duration::from_secs(1);
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    let hints = [300 * MS, Duration::from_secs(5)];
    let outcome = d
        .call("op", Idempotency::Safe, || {
            let result = hints.get(calls.count()).map_or(Ok(1), |h| Err(TestErr::RateLimited(*h)));
            attempt(&calls, result, Duration::ZERO)
        })
        .await;
    assert_eq!(outcome.unwrap(), 1);
    assert_eq!(calls.gaps(), [300 * MS, Duration::from_secs(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_beyond_the_deadline_gives_up_at_once() {
    let mut c = config();
    c.deadline = Duration::from_secs(1);
    c.retry.max_retries = 2;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    let start = Instant::now();
    let hint = Duration::from_secs(3);
    let outcome = run(&d, &calls, Err(TestErr::RateLimited(hint))).await;
    assert!(matches!(outcome, Err(ResilienceError::Inner(TestErr::RateLimited(_)))));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(calls.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn unsafe_operations_are_never_retried() {
    let mut c = config();
    c.retry.max_retries = 3;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    let outcome = d.call("op", Idempotency::Unsafe, || attempt(&calls, Err(TestErr::Server), Duration::ZERO)).await;
    assert!(matches!(outcome, Err(ResilienceError::Inner(TestErr::Server))));
    assert_eq!(calls.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_open_rejection_is_not_retried() {
    let mut c = config();
    c.retry.max_retries = 3;
    c.breaker.minimum_calls = 1;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    let start = Instant::now();
    // The first attempt fails and opens the breaker; its retry is rejected and ends the loop.
    let outcome = run(&d, &calls, Err(TestErr::Server)).await;
    assert!(matches!(outcome, Err(ResilienceError::BreakerOpen { .. })), "{outcome:?}");
    assert_eq!(calls.count(), 1);
    assert!(start.elapsed() <= 100 * MS);

    d.breaker().force_open();
    let start = Instant::now();
    assert!(run(&d, &calls, Ok(1)).await.is_err());
    assert_eq!((calls.count(), start.elapsed()), (1, Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_total_time_including_retries_and_backoff() {
    let mut c = config();
    c.deadline = Duration::from_secs(1);
    c.breaker.enabled = false;
    c.retry.max_retries = 10;
    c.retry.max_delay = 100 * MS;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    let start = Instant::now();
    let outcome = d.call("op", Idempotency::Safe, || attempt(&calls, Err(TestErr::Server), 400 * MS)).await;
    assert!(matches!(outcome, Err(ResilienceError::DeadlineExceeded { after }) if after == Duration::from_secs(1)));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(calls.count(), 3);
}

#[derive(Clone)]
struct NeverReady;

impl Service<()> for NeverReady {
    type Response = ();
    type Error = ResilienceError<TestErr>;
    type Future = Ready<Result<(), Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }

    fn call(&mut self, (): ()) -> Self::Future {
        std::future::ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_covers_waiting_for_readiness() {
    let start = Instant::now();
    let outcome = DeadlineLayer::new(Duration::from_secs(1)).layer(NeverReady).oneshot(()).await;
    assert!(matches!(outcome, Err(ResilienceError::DeadlineExceeded { .. })));
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_counts_as_a_breaker_failure() {
    let mut c = config();
    c.attempt_timeout = 100 * MS;
    c.breaker.minimum_calls = 2;
    let d = Dependency::new(c, classify);
    let calls = Calls::default();
    for _ in 0..2 {
        let start = Instant::now();
        let hung = d.call("op", Idempotency::Safe, || attempt(&calls, Ok(1), Duration::from_secs(3600)));
        assert!(matches!(hung.await, Err(ResilienceError::AttemptTimeout { after }) if after == 100 * MS));
        assert_eq!(start.elapsed(), 100 * MS);
    }
    assert_eq!(d.breaker().state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn the_bulkhead_sheds_calls_beyond_its_limit() {
    let mut c = config();
    c.bulkhead = Some(2);
    let d = Dependency::new(c, classify);
    let calls = Arc::new(Calls::default());
    let running: Vec<_> = (0..2)
        .map(|_| {
            let (d, calls) = (d.clone(), Arc::clone(&calls));
            tokio::spawn(async move {
                d.call("op", Idempotency::Safe, || attempt(&calls, Ok(1), Duration::from_secs(1))).await
            })
        })
        .collect();
    sleep(MS).await;
    let shed = run(&d, &calls, Ok(1)).await;
    assert!(matches!(shed, Err(ResilienceError::BulkheadFull { dependency: "test" })));
    assert_eq!(calls.count(), 2);
    for call in running {
        call.await.unwrap().unwrap();
    }
    assert_eq!(run(&d, &calls, Ok(1)).await.unwrap(), 1);
}

#[test]
fn metric_series_exist_with_expected_labels() {
    use metrics_util::debugging::DebuggingRecorder;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let mut c = config();
            c.retry.max_retries = 1;
            c.retry.budget_ttl = Duration::from_secs(1);
            c.retry.budget_min_per_sec = 1;
            c.retry.budget_retry_ratio = 0.0;
            let d = Dependency::new(c, classify);
            let calls = Calls::default();
            run(&d, &calls, Ok(1)).await.unwrap();
            let _ = run(&d, &calls, Err(TestErr::Client)).await;
            let _ = run(&d, &calls, Err(TestErr::Server)).await; // retried once
            let _ = run(&d, &calls, Err(TestErr::Server)).await; // budget exhausted
            trip(&d).await;
            let _ = run(&d, &calls, Ok(1)).await; // rejected
        });
    });
    let series: Vec<(String, Vec<String>)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, ..)| {
            let key = key.key();
            let mut labels: Vec<_> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            labels.sort();
            (key.name().to_owned(), labels)
        })
        .collect();
    let dep = "dependency=test";
    let expected: &[(&str, &[&str])] = &[
        ("resilience_breaker_state", &["breaker=test", dep]),
        ("resilience_breaker_transitions_total", &["breaker=test", dep, "to=open"]),
        ("resilience_calls_total", &[dep, "operation=op", "outcome=success"]),
        ("resilience_calls_total", &[dep, "operation=op", "outcome=ignored"]),
        ("resilience_calls_total", &[dep, "operation=op", "outcome=failure"]),
        ("resilience_calls_total", &[dep, "operation=op", "outcome=rejected"]),
        ("resilience_call_duration_seconds", &[dep, "operation=op"]),
        ("resilience_attempts_total", &[dep, "outcome=success"]),
        ("resilience_attempts_total", &[dep, "outcome=failure"]),
        ("resilience_attempts_total", &[dep, "outcome=ignored"]),
        ("resilience_attempts_total", &[dep, "outcome=rejected"]),
        ("resilience_attempt_duration_seconds", &[dep]),
        ("resilience_retries_total", &[dep]),
        ("resilience_retry_budget_exhausted_total", &[dep]),
    ];
    for (name, labels) in expected {
        let found = series.iter().any(|(n, l)| n == name && l == labels);
        assert!(found, "missing {name}{labels:?} in {series:#?}");
    }
}

/// Cached metric handles follow the current recorder, exactly as the per-call macros did.
#[test]
fn metric_handles_follow_the_current_recorder() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    let d = Dependency::new(config(), classify);
    let calls = Calls::default();
    // First under the no-op recorder, then alternating between two real ones.
    rt.block_on(run(&d, &calls, Ok(1))).unwrap();
    let (first, second) = (DebuggingRecorder::new(), DebuggingRecorder::new());
    for recorder in [&first, &second, &first] {
        metrics::with_local_recorder(recorder, || rt.block_on(run(&d, &calls, Ok(1)))).unwrap();
    }
    // A snapshot drains the counters, so take one per recorder.
    let counts = |recorder: &DebuggingRecorder| {
        let snapshot = recorder.snapshotter().snapshot().into_vec();
        let counters = snapshot.into_iter().filter_map(|(key, .., value)| match value {
            DebugValue::Counter(n) => Some((key.key().name().to_owned(), n)),
            _ => None,
        });
        counters.collect::<std::collections::BTreeMap<_, _>>()
    };
    let (first, second) = (counts(&first), counts(&second));
    for name in ["resilience_calls_total", "resilience_attempts_total"] {
        assert_eq!((first.get(name), second.get(name)), (Some(&2), Some(&1)), "{name}");
    }
}
