//! The one place the layer order is written down, and the per-dependency facade.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::{
    Service, ServiceBuilder,
    retry::{Retry, RetryLayer},
    util::Either,
};

use crate::{
    AttemptTimeout, AttemptTimeoutLayer, Breaker, BreakerHandle, BreakerLayer, Bulkhead, BulkheadLayer,
    CallMetricsFuture, CallMetricsLayer, Classify, Deadline, DeadlineLayer, DependencyConfig, Idempotency, Replay,
    ResilienceError, RetryPolicy, layers::CallShared,
};

type Classifier<E> = dyn Classify<E>;
type Guarded<E> = Deadline<Retry<RetryPolicy<Classifier<E>>, Breaker<AttemptTimeout<Operation>, Classifier<E>>>>;

/// One attempt of a facade call: borrows the caller's closure, so replaying it is free.
struct Attempt<'a, F> {
    f: &'a F,
    idempotency: Idempotency,
}

impl<F> Clone for Attempt<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Attempt<'_, F> {}

impl<F> Replay for Attempt<'_, F> {
    fn replay(&self) -> Option<Self> {
        (self.idempotency == Idempotency::Safe).then_some(*self)
    }
}

/// Innermost service of the facade: runs the caller's closure once per attempt.
#[derive(Clone, Copy)]
struct Operation;

impl<'a, F, Fut, T, E> Service<Attempt<'a, F>> for Operation
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Response = T;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, attempt: Attempt<'a, F>) -> Fut {
        (attempt.f)()
    }
}

/// A dependency's resilience stack, built once at startup and cloned freely: all state
/// (breaker, budget, bulkhead) is behind `Arc`s.
///
/// Layer order, outermost first, and why:
/// 1. metrics: one outcome and end-to-end latency per logical call, rejections included;
/// 2. bulkhead: sheds at once and counts logical calls, so retries cannot multiply load;
/// 3. deadline: bounds readiness, every attempt and every backoff sleep together;
/// 4. retry: full-jitter backoff under a budget; never repeats rejections or unsafe ops;
/// 5. breaker: sees every attempt, and its rejection ends the retry loop;
/// 6. attempt timeout: a hung attempt becomes a breaker failure.
pub struct Dependency<E: 'static> {
    name: &'static str,
    stack: Either<Bulkhead<Guarded<E>>, Guarded<E>>,
    /// Label, classifier and cached metric handles of the per-call metrics layer.
    calls: Arc<CallShared<Classifier<E>>>,
    breaker: BreakerHandle,
}

impl<E: 'static> Clone for Dependency<E> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            stack: self.stack.clone(),
            calls: Arc::clone(&self.calls),
            breaker: self.breaker.clone(),
        }
    }
}

impl<E: 'static> Dependency<E> {
    /// One stack whose breaker is named after the dependency.
    pub fn new(config: DependencyConfig, classifier: impl Classify<E> + 'static) -> Self {
        let breaker = config.name;
        Self::with_breaker(config, classifier, breaker)
    }

    /// A stack with its own breaker, budget and bulkhead, e.g. `solana:read` and
    /// `solana:send` from one config, so an outage of one method class stays visible.
    pub fn with_breaker(
        config: DependencyConfig,
        classifier: impl Classify<E> + 'static,
        breaker: &'static str,
    ) -> Self {
        let name = config.name;
        let classifier: Arc<Classifier<E>> = Arc::new(classifier);
        let handle = BreakerHandle::new(name, breaker, config.breaker);
        let policy = RetryPolicy::new(name, config.retry, Arc::clone(&classifier));
        let stack = ServiceBuilder::new()
            .option_layer(config.bulkhead.map(|n| BulkheadLayer::new(name, n)))
            .layer(DeadlineLayer::new(config.deadline))
            .layer(RetryLayer::new(policy))
            .layer(BreakerLayer::new(handle.clone(), Arc::clone(&classifier)))
            .layer(AttemptTimeoutLayer::new(config.attempt_timeout))
            .service(Operation);
        let calls = Arc::new(CallShared::new(name, classifier));
        Self { name, stack, calls, breaker: handle }
    }

    /// The dependency's name (its `dependency` label).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Operator handle and state of this stack's breaker.
    pub fn breaker(&self) -> BreakerHandle {
        self.breaker.clone()
    }

    /// Runs `f` through the stack. `op` is a bounded operation-group label; `idempotency`
    /// says whether `f` may run more than once.
    ///
    /// Not an `async fn`: the declared `Send` is proven here once, generically, so callers
    /// never depend on rustc inferring it through their own closure's lifetimes; and the
    /// future does not borrow `self`, so it can be spawned without cloning the dependency.
    pub fn call<T, F, Fut>(
        &self,
        op: &'static str,
        idempotency: Idempotency,
        f: F,
    ) -> impl Future<Output = Result<T, ResilienceError<E>>> + Send + use<T, F, Fut, E>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
        E: Send,
    {
        let stack = self.stack.clone();
        let metrics = CallMetricsLayer::shared(Arc::clone(&self.calls), op);
        async move {
            let attempt = Attempt { f: &f, idempotency };
            // `metrics.layer(stack).oneshot(attempt)`, minus one clone of the stack: every
            // layer down to the retry is always ready, so each is called by value. One clock
            // read is the start of both the deadline and the call's duration.
            let start = Instant::now();
            let run = match stack {
                Either::Left(bulkhead) => {
                    Run::Bulkhead { inner: bulkhead.call_owned(|guarded| guarded.call_owned(start, attempt)) }
                }
                Either::Right(guarded) => Run::Direct { inner: guarded.call_owned(start, attempt) },
            };
            CallMetricsFuture::new(run, metrics, start).await
        }
    }
}

pin_project! {
    /// The stack's response future, with or without a bulkhead.
    #[project = RunProj]
    enum Run<B, D> {
        Bulkhead { #[pin] inner: B },
        Direct { #[pin] inner: D },
    }
}

impl<B, D> Future for Run<B, D>
where
    B: Future,
    D: Future<Output = B::Output>,
{
    type Output = B::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RunProj::Bulkhead { inner } => inner.poll(cx),
            RunProj::Direct { inner } => inner.poll(cx),
        }
    }
}
