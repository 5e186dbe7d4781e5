//! The typed error every layer returns, and the classification vocabulary callers speak.

use std::{error::Error, fmt, time::Duration};

/// Why a resilient call failed. The caller's own error type `E` is kept, never boxed.
#[derive(Debug)]
pub enum ResilienceError<E> {
    /// The operation's own error, from the final attempt.
    Inner(E),
    /// The final attempt hit the per-attempt timeout.
    AttemptTimeout {
        /// The per-attempt timeout that elapsed.
        after: Duration,
    },
    /// The overall deadline (readiness, attempts and backoff sleeps together) elapsed.
    DeadlineExceeded {
        /// The deadline that elapsed.
        after: Duration,
    },
    /// The circuit breaker rejected the call without running it.
    BreakerOpen {
        /// Name of the breaker that rejected the call.
        breaker: &'static str,
        /// How long the breaker expects to stay open.
        retry_after: Duration,
    },
    /// The bulkhead was full, so the call was shed without running it.
    BulkheadFull {
        /// Name of the dependency whose bulkhead is full.
        dependency: &'static str,
    },
}

impl<E> ResilienceError<E> {
    /// A hint for an HTTP `Retry-After` header, when the rejection knows one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::BreakerOpen { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// True when the dependency was unavailable rather than answering with its own error.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, Self::Inner(_))
    }
}

impl<E> fmt::Display for ResilienceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The inner error is exposed through `source()`, so it is not repeated here.
            Self::Inner(_) => f.write_str("dependency returned an error"),
            Self::AttemptTimeout { after } => write!(f, "attempt timed out after {after:?}"),
            Self::DeadlineExceeded { after } => write!(f, "deadline of {after:?} exceeded"),
            Self::BreakerOpen { breaker, retry_after } => {
                write!(f, "circuit breaker {breaker} is open, retry after {retry_after:?}")
            }
            Self::BulkheadFull { dependency } => write!(f, "bulkhead of {dependency} is full"),
        }
    }
}

impl<E: Error + 'static> Error for ResilienceError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Inner(e) => Some(e),
            _ => None,
        }
    }
}

/// What an error means to the circuit breaker. Success is implicit for `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerOutcome {
    /// The dependency misbehaved: counts toward opening the breaker.
    Failure,
    /// The caller is at fault (4xx, validation, not found, constraint) or the error is a
    /// rejection from an inner layer: counts neither as success nor as failure.
    Ignore,
}

/// Whether an error may be retried, if the operation is safe to repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Never retry this error.
    No,
    /// Retry, after the server's hint (`Retry-After`) when it gave one, else after backoff.
    Yes {
        /// Server-provided delay before the next attempt.
        after: Option<Duration>,
    },
}

/// The verdict of a [`Classify`] implementation on one error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// What the breaker records.
    pub breaker: BreakerOutcome,
    /// Whether the retry policy may try again.
    pub retry: RetryDecision,
}

impl Classification {
    /// A dependency failure that may be retried after backoff.
    pub const TRANSIENT: Self = Self { breaker: BreakerOutcome::Failure, retry: RetryDecision::Yes { after: None } };
    /// A dependency failure that must not be retried.
    pub const FATAL: Self = Self { breaker: BreakerOutcome::Failure, retry: RetryDecision::No };
    /// A caller error: ignored by the breaker and never retried.
    pub const CALLER: Self = Self { breaker: BreakerOutcome::Ignore, retry: RetryDecision::No };
}

/// One per dependency: maps the dependency's error type to breaker and retry decisions,
/// so "what retries, what trips the breaker" reads as one `match`.
///
/// Deliberately no `'static` supertrait: with one, proving `Send` for a call future that
/// borrows from the caller fails ("higher-ranked lifetime error"), because the check runs
/// on erased lifetimes that cannot be shown to outlive `'static`. [`Dependency`] asks for
/// `'static` where it stores the classifier instead.
///
/// [`Dependency`]: crate::Dependency
pub trait Classify<E>: Send + Sync {
    /// Classifies one error returned by the operation.
    fn classify(&self, err: &E) -> Classification;
}

impl<E, F> Classify<E> for F
where
    F: Fn(&E) -> Classification + Send + Sync + 'static,
{
    fn classify(&self, err: &E) -> Classification {
        self(err)
    }
}

/// Applies the crate's fixed rules to errors produced by our own layers, and the
/// dependency's classifier to everything else.
pub(crate) fn classify_resilience<E, C>(classifier: &C, err: &ResilienceError<E>) -> Classification
where
    C: Classify<E> + ?Sized,
{
    match err {
        ResilienceError::Inner(e) => classifier.classify(e),
        ResilienceError::AttemptTimeout { .. } => Classification::TRANSIENT,
        // Rejections and the deadline say nothing new about the dependency's health, and
        // retrying them would only amplify saturation.
        ResilienceError::DeadlineExceeded { .. }
        | ResilienceError::BreakerOpen { .. }
        | ResilienceError::BulkheadFull { .. } => Classification::CALLER,
    }
}

/// Whether an operation may run more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, and writes carrying an idempotency key.
    Safe,
    /// Everything else: never retried.
    Unsafe,
}

/// A request that knows whether it may be sent again. Used as the retry policy's
/// `clone_request`, so a request that returns `None` is never retried.
pub trait Replay: Sized {
    /// A copy to send on the next attempt, or `None` if repeating it is unsafe.
    fn replay(&self) -> Option<Self>;
}
