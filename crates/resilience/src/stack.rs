//! The one place the layer order is written down, and the per-dependency facade.

use std::{
    future::Future,
    sync::Arc,
    task::{Context, Poll},
};

use tower::{
    Layer, Service, ServiceBuilder, ServiceExt,
    retry::{Retry, RetryLayer},
    util::Either,
};

use crate::{
    AttemptTimeout, AttemptTimeoutLayer, Breaker, BreakerHandle, BreakerLayer, Bulkhead, BulkheadLayer,
    CallMetricsLayer, Classify, Deadline, DeadlineLayer, DependencyConfig, Idempotency, Replay, ResilienceError,
    RetryPolicy,
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
    classifier: Arc<Classifier<E>>,
    breaker: BreakerHandle,
}

impl<E: 'static> Clone for Dependency<E> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            stack: self.stack.clone(),
            classifier: Arc::clone(&self.classifier),
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
        Self { name, stack, classifier, breaker: handle }
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
        let metrics = CallMetricsLayer::new(self.name, op, Arc::clone(&self.classifier));
        let svc = metrics.layer(self.stack.clone());
        async move {
            let attempt = Attempt { f: &f, idempotency };
            svc.oneshot(attempt).await
        }
    }
}
