//! In-house circuit breaker (`reference/resilience.md` §9): count window, failure and
//! slow-call rates, K half-open probes, growing open duration, operator controls.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::{Layer, Service};

use crate::{
    BreakerConfig,
    error::{BreakerOutcome, Classify, ResilienceError, classify_resilience},
    telemetry::{AttemptHandles, AttemptOutcome, HandleCache},
};

/// Observable breaker state, for health endpoints and the `resilience_breaker_state` gauge.
/// The discriminants are the gauge values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass and outcomes are recorded.
    Closed = 0,
    /// Calls are rejected until the open duration ends.
    Open = 1,
    /// A limited number of probe calls decide whether to close or re-open.
    HalfOpen = 2,
    /// An operator forced the breaker open: every call is rejected.
    ForcedOpen = 3,
    /// An operator (or config) disabled the breaker: every call passes, nothing is recorded.
    Disabled = 4,
}

impl BreakerState {
    /// Stable lower-case name for health output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::Disabled => "disabled",
        }
    }

    fn from_bits(bits: u64) -> Self {
        match bits & 0xff {
            0 => Self::Closed,
            1 => Self::Open,
            2 => Self::HalfOpen,
            3 => Self::ForcedOpen,
            _ => Self::Disabled,
        }
    }
}

enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { permits: usize, successes: usize, slow: usize },
    ForcedOpen,
    Disabled,
}

impl Phase {
    fn state(&self) -> BreakerState {
        match self {
            Self::Closed => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
            Self::ForcedOpen => BreakerState::ForcedOpen,
            Self::Disabled => BreakerState::Disabled,
        }
    }
}

/// The last N recorded outcomes as (failed, slow) pairs, with running counts.
struct Window {
    outcomes: VecDeque<(bool, bool)>,
    failures: usize,
    slow: usize,
}

struct Machine {
    phase: Phase,
    /// Bumped on every transition so outcomes of calls admitted earlier are dropped.
    generation: u64,
    /// Consecutive re-opens straight from half-open; drives open-duration growth.
    reopens: u32,
    window: Window,
}

struct Shared {
    dependency: &'static str,
    name: &'static str,
    config: BreakerConfig,
    /// `generation << 8 | state`, so the closed fast path is one atomic load, no lock.
    fast: AtomicU64,
    machine: Mutex<Machine>,
    /// `resilience_attempts_total` and `resilience_attempt_duration_seconds` handles.
    metrics: HandleCache<(), AttemptHandles>,
}

impl Shared {
    /// One attempt; `elapsed` is its duration, `None` for a rejection that never ran.
    fn attempt_metric(&self, outcome: AttemptOutcome, elapsed: Option<Duration>) {
        self.metrics.get(()).record(self.dependency, outcome, elapsed.map(|e| e.as_secs_f64()));
    }
}

/// Cloneable handle to one breaker's shared state: operator controls and state reads.
/// The state lives here, created once; every layer application and clone shares it.
#[derive(Clone)]
pub struct BreakerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BreakerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerHandle")
            .field("dependency", &self.shared.dependency)
            .field("breaker", &self.shared.name)
            .field("state", &self.state())
            .finish()
    }
}

impl BreakerHandle {
    /// Creates a breaker. `dependency` and `name` are bounded static metric labels.
    pub fn new(dependency: &'static str, name: &'static str, mut config: BreakerConfig) -> Self {
        config.window_size = config.window_size.max(1);
        config.half_open_permits = config.half_open_permits.max(1);
        // A minimum above the window size could never be reached: the breaker would never open.
        config.minimum_calls = config.minimum_calls.clamp(1, config.window_size);
        let phase = if config.enabled { Phase::Closed } else { Phase::Disabled };
        let state = phase.state();
        let window = Window { outcomes: VecDeque::with_capacity(config.window_size), failures: 0, slow: 0 };
        let shared = Arc::new(Shared {
            dependency,
            name,
            fast: AtomicU64::new(state as u64),
            machine: Mutex::new(Machine { phase, generation: 0, reopens: 0, window }),
            config,
            metrics: HandleCache::default(),
        });
        // Set now so the series exists before the first transition.
        metrics::gauge!("resilience_breaker_state", "dependency" => dependency, "breaker" => name).set(state as u8);
        Self { shared }
    }

    /// The breaker's name (its `breaker` label).
    pub fn name(&self) -> &'static str {
        self.shared.name
    }

    /// Current state. An expired open state reads as open until the next call probes it.
    pub fn state(&self) -> BreakerState {
        BreakerState::from_bits(self.shared.fast.load(Ordering::Acquire))
    }

    /// Rejects every call until [`reset`](Self::reset) or [`disable`](Self::disable).
    pub fn force_open(&self) {
        self.set(Phase::ForcedOpen);
    }

    /// Forced closed: passes every call and records nothing until [`reset`](Self::reset).
    pub fn disable(&self) {
        self.set(Phase::Disabled);
    }

    /// Back to closed with an empty window and the base open duration.
    pub fn reset(&self) {
        self.set(Phase::Closed);
    }

    fn set(&self, phase: Phase) {
        let mut m = self.lock();
        self.transition(&mut m, phase);
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        // Every critical section leaves the machine consistent, so a poisoned lock is usable.
        self.shared.machine.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn transition(&self, m: &mut Machine, phase: Phase) {
        let (dependency, breaker) = (self.shared.dependency, self.shared.name);
        let state = phase.state();
        if matches!(phase, Phase::Closed) {
            m.reopens = 0;
            m.window.outcomes.clear();
            m.window.failures = 0;
            m.window.slow = 0;
        }
        m.phase = phase;
        m.generation += 1;
        self.shared.fast.store(m.generation << 8 | state as u64, Ordering::Release);
        match state {
            BreakerState::Open | BreakerState::ForcedOpen => {
                tracing::warn!(dependency, breaker, state = state.as_str(), "circuit breaker opened");
            }
            _ => tracing::info!(dependency, breaker, state = state.as_str(), "circuit breaker state changed"),
        }
        metrics::gauge!("resilience_breaker_state", "dependency" => dependency, "breaker" => breaker).set(state as u8);
        metrics::counter!("resilience_breaker_transitions_total",
            "dependency" => dependency, "breaker" => breaker, "to" => state.as_str())
        .increment(1);
    }

    /// `reopen` is a failed recovery from half-open, which doubles the open duration.
    fn open(&self, m: &mut Machine, reopen: bool) {
        m.reopens = if reopen { m.reopens.saturating_add(1) } else { 0 };
        let c = &self.shared.config;
        let growth = 2u32.saturating_pow(m.reopens);
        let duration = c.open_duration.saturating_mul(growth).min(c.max_open_duration.max(c.open_duration));
        self.transition(m, Phase::Open { until: Instant::now() + duration });
    }

    /// Admits a call, or returns how long the caller should wait. The caller must arm the
    /// ticket as a [`Permit`] at once, so that a probe is returned if the call is dropped.
    pub(crate) fn acquire(&self) -> Result<Ticket, Duration> {
        let fast = self.shared.fast.load(Ordering::Acquire);
        let kind = match BreakerState::from_bits(fast) {
            BreakerState::Closed => PermitKind::Closed,
            BreakerState::Disabled => PermitKind::Passthrough,
            BreakerState::ForcedOpen => return Err(self.shared.config.open_duration),
            BreakerState::Open | BreakerState::HalfOpen => return self.acquire_slow(),
        };
        Ok(Ticket { generation: fast >> 8, kind })
    }

    fn acquire_slow(&self) -> Result<Ticket, Duration> {
        let now = Instant::now();
        let mut m = self.lock();
        if let Phase::Open { until } = m.phase {
            if now < until {
                return Err(until - now);
            }
            let permits = self.shared.config.half_open_permits;
            self.transition(&mut m, Phase::HalfOpen { permits, successes: 0, slow: 0 });
        }
        let kind = match &mut m.phase {
            Phase::Closed => PermitKind::Closed,
            Phase::Disabled => PermitKind::Passthrough,
            Phase::HalfOpen { permits, .. } if *permits > 0 => {
                *permits -= 1;
                PermitKind::Probe
            }
            // Probes are in flight (or forced open): no better estimate than one open period.
            _ => return Err(self.shared.config.open_duration),
        };
        Ok(Ticket { generation: m.generation, kind })
    }

    /// Each transition bumps the generation, so it also identifies the phase that admitted
    /// the call: a closed-state permit can never be counted as a probe, or vice versa.
    fn record(&self, generation: u64, failed: Option<bool>, slow: bool) {
        let c = &self.shared.config;
        let mut m = self.lock();
        if m.generation != generation {
            return;
        }
        let m = &mut *m;
        match (&mut m.phase, failed) {
            // Ignored: a probe gives its permit back so another call can decide.
            (Phase::HalfOpen { permits, .. }, None) => *permits += 1,
            (Phase::HalfOpen { .. }, Some(true)) => self.open(m, true),
            (Phase::HalfOpen { successes, slow: slow_probes, .. }, Some(false)) => {
                *successes += 1;
                *slow_probes += usize::from(slow);
                // Slow successful probes are judged like the closed window: by rate, over all K.
                if *successes >= c.half_open_permits {
                    let slow_rate = *slow_probes as f64 / *successes as f64;
                    if c.slow_call_duration.is_some() && slow_rate >= c.slow_call_rate_threshold {
                        self.open(m, true);
                    } else {
                        self.transition(m, Phase::Closed);
                    }
                }
            }
            (Phase::Closed, Some(failed)) => {
                let w = &mut m.window;
                if w.outcomes.len() == c.window_size
                    && let Some((old_failed, old_slow)) = w.outcomes.pop_front()
                {
                    w.failures -= usize::from(old_failed);
                    w.slow -= usize::from(old_slow);
                }
                w.outcomes.push_back((failed, slow));
                w.failures += usize::from(failed);
                w.slow += usize::from(slow);
                let n = w.outcomes.len();
                if n >= c.minimum_calls {
                    let failure_rate = w.failures as f64 / n as f64;
                    let slow_rate = w.slow as f64 / n as f64;
                    let too_slow = c.slow_call_duration.is_some() && slow_rate >= c.slow_call_rate_threshold;
                    if failure_rate >= c.failure_rate_threshold || too_slow {
                        self.open(m, false);
                    }
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PermitKind {
    Passthrough,
    Closed,
    Probe,
}

/// An admission not yet armed as a [`Permit`].
#[derive(Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    kind: PermitKind,
}

/// An admitted call. Dropped without an outcome, a probe returns its permit unrecorded.
struct Permit<C: ?Sized> {
    layer: Arc<LayerShared<C>>,
    ticket: Ticket,
}

impl<C: ?Sized> Permit<C> {
    /// Records the outcome: `None` is ignored, `Some(true)` a failure.
    fn complete(mut self, failed: Option<bool>, elapsed: Duration) {
        // Disarms `Drop`: a completed probe keeps its permit consumed.
        let kind = std::mem::replace(&mut self.ticket.kind, PermitKind::Passthrough);
        if kind != PermitKind::Passthrough {
            let handle = &self.layer.handle;
            let slow_after = handle.shared.config.slow_call_duration;
            let slow = slow_after.is_some_and(|d| elapsed > d);
            handle.record(self.ticket.generation, failed, slow);
        }
    }
}

impl<C: ?Sized> Drop for Permit<C> {
    fn drop(&mut self) {
        if self.ticket.kind == PermitKind::Probe {
            let mut m = self.layer.handle.lock();
            if m.generation == self.ticket.generation
                && let Phase::HalfOpen { permits, .. } = &mut m.phase
            {
                *permits += 1;
            }
        }
    }
}

/// Layer applying one shared breaker; every `layer()` call and clone shares its state.
pub struct BreakerLayer<C: ?Sized> {
    shared: Arc<LayerShared<C>>,
}

/// The breaker and the classifier behind one `Arc`, so a per-call clone is one count.
struct LayerShared<C: ?Sized> {
    handle: BreakerHandle,
    classifier: Arc<C>,
}

impl<C: ?Sized> Clone for BreakerLayer<C> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<C: ?Sized> BreakerLayer<C> {
    /// Wraps services in the breaker behind `handle`, classifying errors with `classifier`.
    pub fn new(handle: BreakerHandle, classifier: Arc<C>) -> Self {
        Self { shared: Arc::new(LayerShared { handle, classifier }) }
    }

    /// The shared breaker this layer applies.
    pub fn handle(&self) -> &BreakerHandle {
        &self.shared.handle
    }
}

impl<S, C: ?Sized> Layer<S> for BreakerLayer<C> {
    type Service = Breaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Breaker { inner, layer: self.clone() }
    }
}

/// Service guarded by a circuit breaker. Rejects in `call()`; `poll_ready` delegates.
pub struct Breaker<S, C: ?Sized> {
    inner: S,
    layer: BreakerLayer<C>,
}

impl<S: Clone, C: ?Sized> Clone for Breaker<S, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), layer: self.layer.clone() }
    }
}

impl<S, C, Req, E> Service<Req> for Breaker<S, C>
where
    S: Service<Req, Error = ResilienceError<E>>,
    C: Classify<E> + ?Sized,
{
    type Response = S::Response;
    type Error = ResilienceError<E>;
    type Future = BreakerFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let layer = &self.layer.shared;
        match layer.handle.acquire() {
            Ok(ticket) => {
                // Armed before the attempt starts, so even a panicking `call` returns a probe.
                let permit = Permit { layer: Arc::clone(layer), ticket };
                BreakerFuture {
                    inner: Some(self.inner.call(req)),
                    admitted: Some(Admitted { permit, start: Instant::now() }),
                    rejected: None,
                }
            }
            // A rejection never runs, so it needs no clock read, classifier or permit.
            Err(retry_after) => {
                let shared = &layer.handle.shared;
                shared.attempt_metric(AttemptOutcome::Rejected, None);
                BreakerFuture { inner: None, admitted: None, rejected: Some((shared.name, retry_after)) }
            }
        }
    }
}

/// What an admitted attempt needs to record its outcome.
struct Admitted<C: ?Sized> {
    permit: Permit<C>,
    start: Instant,
}

pin_project! {
    /// Response future of [`Breaker`].
    pub struct BreakerFuture<F, C: ?Sized> {
        #[pin]
        inner: Option<F>,
        admitted: Option<Admitted<C>>,
        rejected: Option<(&'static str, Duration)>,
    }
}

impl<F, C, T, E> Future for BreakerFuture<F, C>
where
    F: Future<Output = Result<T, ResilienceError<E>>>,
    C: Classify<E> + ?Sized,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let (breaker, retry_after) = this.rejected.take().expect("polled after completion");
            return Poll::Ready(Err(ResilienceError::BreakerOpen { breaker, retry_after }));
        };
        let result = ready!(inner.poll(cx));
        if let Some(Admitted { permit, start }) = this.admitted.take() {
            let elapsed = start.elapsed();
            let layer = &*permit.layer;
            let (failed, outcome) = match &result {
                Ok(_) => (Some(false), AttemptOutcome::Success),
                Err(ResilienceError::AttemptTimeout { .. }) => (Some(true), AttemptOutcome::Timeout),
                Err(e) => match classify_resilience(&*layer.classifier, e).breaker {
                    BreakerOutcome::Failure => (Some(true), AttemptOutcome::Failure),
                    BreakerOutcome::Ignore => (None, AttemptOutcome::Ignored),
                },
            };
            layer.handle.shared.attempt_metric(outcome, Some(elapsed));
            permit.complete(failed, elapsed);
        }
        Poll::Ready(result)
    }
}
