//! The small layers around retry and breaker: deadline, attempt timeout, bulkhead, metrics.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::{coop, futures::TaskLocalFuture},
    time::{Instant, Sleep},
};
use tower::{Layer, Service, ServiceExt, util::Oneshot};

use crate::{
    error::{BreakerOutcome, Classify, ResilienceError, classify_resilience},
    telemetry::{CallHandles, CallOutcome, HandleCache, Op},
};

tokio::task_local! {
    /// The innermost active deadline, so the retry policy can refuse to sleep past it.
    static DEADLINE: Instant;
}

pub(crate) fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

pin_project! {
    /// `tokio::time::timeout_at`, except that the timer is created only if the future is
    /// still pending after its first poll: most calls complete at once, and creating a
    /// `Sleep` (a runtime-handle look-up and reference count) then only to drop it is waste.
    /// Polls exactly as tokio's `Timeout` does: the future first, then the timer, unconstrained
    /// by the task's coop budget if the future has just used it up. `None` never elapses.
    struct LazyTimeout<F> {
        #[pin]
        value: F,
        #[pin]
        delay: Option<Sleep>,
        deadline: Option<Instant>,
    }
}

impl<F> LazyTimeout<F> {
    fn new(deadline: Option<Instant>, value: F) -> Self {
        Self { value, delay: None, deadline }
    }
}

impl<F: Future> Future for LazyTimeout<F> {
    /// `None` when the deadline passed first.
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let had_budget_before = coop::has_budget_remaining();
        if let Poll::Ready(output) = this.value.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        if this.delay.is_none() {
            this.delay.set(Some(tokio::time::sleep_until(deadline)));
        }
        let Some(delay) = this.delay.as_pin_mut() else {
            return Poll::Pending;
        };
        let elapsed = if had_budget_before && !coop::has_budget_remaining() {
            Pin::new(&mut coop::unconstrained(delay)).poll(cx)
        } else {
            delay.poll(cx)
        };
        elapsed.map(|()| None)
    }
}

/// Bounds the whole call, including waiting for readiness, every attempt and every backoff
/// sleep. tower's `Timeout` starts only at `call()`, so it would not cover readiness.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    deadline: Duration,
}

impl DeadlineLayer {
    /// A deadline of `deadline` from the moment the call is made.
    pub fn new(deadline: Duration) -> Self {
        Self { deadline }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline { inner, deadline: self.deadline }
    }
}

/// Service produced by [`DeadlineLayer`]. Always ready: the inner readiness wait runs
/// inside the deadline.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    deadline: Duration,
}

impl<S, Req, E> Service<Req> for Deadline<S>
where
    S: Service<Req, Error = ResilienceError<E>> + Clone,
{
    type Response = S::Response;
    type Error = ResilienceError<E>;
    type Future = DeadlineFuture<Oneshot<S, Req>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        Deadline { inner: self.inner.clone(), deadline: self.deadline }.call_owned(Instant::now(), req)
    }
}

impl<S> Deadline<S> {
    /// [`call`](Service::call) without cloning the inner service, for a call made at `now`.
    pub(crate) fn call_owned<Req>(self, now: Instant, req: Req) -> DeadlineFuture<Oneshot<S, Req>>
    where
        S: Service<Req>,
    {
        let mut at = now + self.deadline;
        if let Some(outer) = current_deadline() {
            at = at.min(outer);
        }
        let call = LazyTimeout::new(Some(at), self.inner.oneshot(req));
        DeadlineFuture { inner: DEADLINE.scope(at, call), after: self.deadline }
    }
}

pin_project! {
    /// Response future of [`Deadline`].
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: TaskLocalFuture<Instant, LazyTimeout<F>>,
        after: Duration,
    }
}

impl<F, T, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<T, ResilienceError<E>>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match ready!(this.inner.poll(cx)) {
            Some(result) => result,
            None => Err(ResilienceError::DeadlineExceeded { after: *this.after }),
        })
    }
}

/// Per-attempt timeout; also the adapter from the operation's error `E` to
/// [`ResilienceError<E>`]. Sits inside the breaker so a hung attempt counts as a failure.
#[derive(Debug, Clone, Copy)]
pub struct AttemptTimeoutLayer {
    timeout: Duration,
}

impl AttemptTimeoutLayer {
    /// Each attempt may take at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for AttemptTimeoutLayer {
    type Service = AttemptTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AttemptTimeout { inner, timeout: self.timeout }
    }
}

/// Service produced by [`AttemptTimeoutLayer`].
#[derive(Debug, Clone)]
pub struct AttemptTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S: Service<Req>, Req> Service<Req> for AttemptTimeout<S> {
    type Response = S::Response;
    type Error = ResilienceError<S::Error>;
    type Future = AttemptTimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ResilienceError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let at = Instant::now().checked_add(self.timeout);
        AttemptTimeoutFuture { inner: LazyTimeout::new(at, self.inner.call(req)), after: self.timeout }
    }
}

pin_project! {
    /// Response future of [`AttemptTimeout`].
    pub struct AttemptTimeoutFuture<F> {
        #[pin]
        inner: LazyTimeout<F>,
        after: Duration,
    }
}

impl<F, T, E> Future for AttemptTimeoutFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match ready!(this.inner.poll(cx)) {
            Some(result) => result.map_err(ResilienceError::Inner),
            None => Err(ResilienceError::AttemptTimeout { after: *this.after }),
        })
    }
}

/// Concurrency limit that sheds instead of queueing, so saturation fails fast and never
/// waits in `poll_ready`. The semaphore is created here, once, and shared by every
/// `layer()` application.
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    dependency: &'static str,
    semaphore: Arc<Semaphore>,
}

impl BulkheadLayer {
    /// At most `max_concurrent` calls in flight; more are rejected with `BulkheadFull`.
    pub fn new(dependency: &'static str, max_concurrent: usize) -> Self {
        Self { dependency, semaphore: Arc::new(Semaphore::new(max_concurrent)) }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = Bulkhead<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bulkhead { inner, layer: self.clone() }
    }
}

/// Service produced by [`BulkheadLayer`].
#[derive(Debug, Clone)]
pub struct Bulkhead<S> {
    inner: S,
    layer: BulkheadLayer,
}

impl<S, Req, E> Service<Req> for Bulkhead<S>
where
    S: Service<Req, Error = ResilienceError<E>>,
{
    type Response = S::Response;
    type Error = ResilienceError<E>;
    type Future = BulkheadFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let inner = &mut self.inner;
        Self::admit(&self.layer, || inner.call(req))
    }
}

impl<S> Bulkhead<S> {
    /// [`call`](Service::call) consuming the bulkhead: `call` runs only if a permit is free.
    pub(crate) fn call_owned<F>(self, call: impl FnOnce(S) -> F) -> BulkheadFuture<F> {
        let inner = self.inner;
        Self::admit(&self.layer, || call(inner))
    }

    fn admit<F>(layer: &BulkheadLayer, call: impl FnOnce() -> F) -> BulkheadFuture<F> {
        let permit = Arc::clone(&layer.semaphore).try_acquire_owned().ok();
        BulkheadFuture { inner: permit.is_some().then(call), permit, dependency: layer.dependency }
    }
}

pin_project! {
    /// Response future of [`Bulkhead`]; holds the permit until the call completes.
    pub struct BulkheadFuture<F> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedSemaphorePermit>,
        dependency: &'static str,
    }
}

impl<F, T, E> Future for BulkheadFuture<F>
where
    F: Future<Output = Result<T, ResilienceError<E>>>,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let dependency = *this.dependency;
            return Poll::Ready(Err(ResilienceError::BulkheadFull { dependency }));
        };
        let result = ready!(inner.poll(cx));
        this.permit.take();
        Poll::Ready(result)
    }
}

/// Outermost layer: one `resilience_calls_total` outcome and one end-to-end
/// `resilience_call_duration_seconds` sample per logical call. The layers below never wait
/// in `poll_ready` (the deadline absorbs readiness), so timing from `call()` is end to end.
///
/// Metric handles are registered on first emission and cached in the layer (and its clones).
pub struct CallMetricsLayer<C: ?Sized> {
    shared: Arc<CallShared<C>>,
    operation: &'static str,
}

/// Shared by every operation of one dependency: its label, classifier and metric handles.
pub(crate) struct CallShared<C: ?Sized> {
    dependency: &'static str,
    handles: HandleCache<Op, CallHandles>,
    classifier: Arc<C>,
}

impl<C: ?Sized> CallShared<C> {
    pub(crate) fn new(dependency: &'static str, classifier: Arc<C>) -> Self {
        Self { dependency, handles: HandleCache::default(), classifier }
    }
}

impl<C: ?Sized> CallMetricsLayer<C> {
    /// `operation` must come from a small fixed set: it becomes a metric label.
    pub fn new(dependency: &'static str, operation: &'static str, classifier: Arc<C>) -> Self {
        Self::shared(Arc::new(CallShared::new(dependency, classifier)), operation)
    }

    pub(crate) fn shared(shared: Arc<CallShared<C>>, operation: &'static str) -> Self {
        Self { shared, operation }
    }
}

impl<C: ?Sized> Clone for CallMetricsLayer<C> {
    fn clone(&self) -> Self {
        Self::shared(Arc::clone(&self.shared), self.operation)
    }
}

impl<S, C: ?Sized> Layer<S> for CallMetricsLayer<C> {
    type Service = CallMetrics<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CallMetrics { inner, layer: self.clone() }
    }
}

/// Service produced by [`CallMetricsLayer`].
pub struct CallMetrics<S, C: ?Sized> {
    inner: S,
    layer: CallMetricsLayer<C>,
}

impl<S: Clone, C: ?Sized> Clone for CallMetrics<S, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), layer: self.layer.clone() }
    }
}

impl<S, C, Req, E> Service<Req> for CallMetrics<S, C>
where
    S: Service<Req, Error = ResilienceError<E>>,
    C: Classify<E> + ?Sized,
{
    type Response = S::Response;
    type Error = ResilienceError<E>;
    type Future = CallMetricsFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        CallMetricsFuture { inner: self.inner.call(req), layer: self.layer.clone(), start: Instant::now() }
    }
}

pin_project! {
    /// Response future of [`CallMetrics`].
    pub struct CallMetricsFuture<F, C: ?Sized> {
        #[pin]
        inner: F,
        layer: CallMetricsLayer<C>,
        start: Instant,
    }
}

impl<F, C: ?Sized> CallMetricsFuture<F, C> {
    /// Records `inner`, a call that started at `start`, under `layer`'s labels.
    pub(crate) fn new(inner: F, layer: CallMetricsLayer<C>, start: Instant) -> Self {
        Self { inner, layer, start }
    }
}

impl<F, C, T, E> Future for CallMetricsFuture<F, C>
where
    F: Future<Output = Result<T, ResilienceError<E>>>,
    C: Classify<E> + ?Sized,
{
    type Output = Result<T, ResilienceError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let shared = &*this.layer.shared;
        let outcome = match &result {
            Ok(_) => CallOutcome::Success,
            Err(ResilienceError::AttemptTimeout { .. }) => CallOutcome::Timeout,
            Err(ResilienceError::DeadlineExceeded { .. }) => CallOutcome::Deadline,
            Err(ResilienceError::BreakerOpen { .. }) => CallOutcome::Rejected,
            Err(ResilienceError::BulkheadFull { .. }) => CallOutcome::Shed,
            Err(e) => match classify_resilience(&*shared.classifier, e).breaker {
                BreakerOutcome::Failure => CallOutcome::Failure,
                BreakerOutcome::Ignore => CallOutcome::Ignored,
            },
        };
        let (dependency, operation) = (shared.dependency, this.layer.operation);
        let elapsed = this.start.elapsed().as_secs_f64();
        shared.handles.get(Op(operation)).record(dependency, operation, outcome, elapsed);
        if result.is_err() {
            let outcome = outcome.as_str();
            tracing::debug!(dependency, operation, outcome, "dependency call failed");
        }
        Poll::Ready(result)
    }
}
