//! Metric handles resolved once and reused, so the hot path never builds a `metrics::Key`
//! (label allocation, sort, hash, registry look-up) per call.
//!
//! Semantics match calling the `metrics` macros at every emission:
//! - each series is registered on its first emission, never earlier, so no zero-valued
//!   series appears that the per-call macros would not have created;
//! - handles are kept per recorder: an emission under another recorder than the one a handle
//!   was registered with (a test's local recorder, or the global one installed after a first
//!   call went to the no-op recorder) registers under that recorder, as the macros would.

use std::sync::OnceLock;

use metrics::{Counter, Histogram};

/// Identity of the recorder the `metrics` macros would use right now: local, global or no-op.
fn current_recorder() -> usize {
    metrics::with_recorder(|recorder| std::ptr::from_ref(recorder).cast::<()>().addr())
}

/// Handle slots for one label set, keyed by recorder and `K`; an append-only list read
/// without locks (a few entries: one per operation, times one recorder in production).
pub(crate) struct HandleCache<K, V> {
    head: OnceLock<Box<Node<K, V>>>,
}

struct Node<K, V> {
    recorder: usize,
    key: K,
    value: V,
    next: OnceLock<Box<Node<K, V>>>,
}

impl<K, V> Default for HandleCache<K, V> {
    fn default() -> Self {
        Self { head: OnceLock::new() }
    }
}

impl<K: Copy + PartialEq, V: Default> HandleCache<K, V> {
    /// The slots for `key` under the current recorder. Slots start empty: each handle is
    /// registered by its first emission.
    pub(crate) fn get(&self, key: K) -> &V {
        let recorder = current_recorder();
        let mut slot = &self.head;
        loop {
            // Racing appenders are harmless: the loser walks on and appends after the winner.
            let node =
                slot.get_or_init(|| Box::new(Node { recorder, key, value: V::default(), next: OnceLock::new() }));
            if node.recorder == recorder && node.key == key {
                return &node.value;
            }
            slot = &node.next;
        }
    }
}

impl<K, V> Drop for HandleCache<K, V> {
    fn drop(&mut self) {
        // Unlink iteratively, so a long list cannot overflow the stack.
        let mut next = self.head.take();
        while let Some(mut node) = next {
            next = node.next.take();
        }
    }
}

/// An operation label: compared by address first, then by content.
#[derive(Clone, Copy)]
pub(crate) struct Op(pub(crate) &'static str);

impl PartialEq for Op {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}

/// Outcome of one logical call (`resilience_calls_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    Success,
    Timeout,
    Deadline,
    Rejected,
    Shed,
    Failure,
    Ignored,
}

impl CallOutcome {
    const COUNT: usize = 7;

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Timeout => "timeout",
            Self::Deadline => "deadline",
            Self::Rejected => "rejected",
            Self::Shed => "shed",
            Self::Failure => "failure",
            Self::Ignored => "ignored",
        }
    }
}

/// `resilience_calls_total` and `resilience_call_duration_seconds` of one
/// (dependency, operation).
#[derive(Default)]
pub(crate) struct CallHandles {
    calls: [OnceLock<Counter>; CallOutcome::COUNT],
    duration: OnceLock<Histogram>,
}

impl CallHandles {
    pub(crate) fn record(&self, dependency: &'static str, operation: &'static str, outcome: CallOutcome, secs: f64) {
        self.calls[outcome as usize]
            .get_or_init(|| {
                metrics::counter!("resilience_calls_total",
                    "dependency" => dependency, "operation" => operation, "outcome" => outcome.as_str())
            })
            .increment(1);
        self.duration
            .get_or_init(|| {
                metrics::histogram!("resilience_call_duration_seconds",
                    "dependency" => dependency, "operation" => operation)
            })
            .record(secs);
    }
}

/// Outcome of one attempt (`resilience_attempts_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    Success,
    Timeout,
    Failure,
    Ignored,
    Rejected,
}

impl AttemptOutcome {
    const COUNT: usize = 5;

    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Timeout => "timeout",
            Self::Failure => "failure",
            Self::Ignored => "ignored",
            Self::Rejected => "rejected",
        }
    }
}

/// `resilience_attempts_total` and `resilience_attempt_duration_seconds` of one dependency.
#[derive(Default)]
pub(crate) struct AttemptHandles {
    attempts: [OnceLock<Counter>; AttemptOutcome::COUNT],
    duration: OnceLock<Histogram>,
}

impl AttemptHandles {
    /// One attempt; `secs` is its duration, `None` for a rejection that never ran.
    pub(crate) fn record(&self, dependency: &'static str, outcome: AttemptOutcome, secs: Option<f64>) {
        self.attempts[outcome as usize]
            .get_or_init(|| {
                metrics::counter!("resilience_attempts_total",
                    "dependency" => dependency, "outcome" => outcome.as_str())
            })
            .increment(1);
        if let Some(secs) = secs {
            self.duration
                .get_or_init(|| metrics::histogram!("resilience_attempt_duration_seconds", "dependency" => dependency))
                .record(secs);
        }
    }
}

/// `resilience_retries_total` and `resilience_retry_budget_exhausted_total` of one dependency.
#[derive(Default)]
pub(crate) struct RetryHandles {
    retries: OnceLock<Counter>,
    budget_exhausted: OnceLock<Counter>,
}

impl RetryHandles {
    pub(crate) fn retry(&self, dependency: &'static str) {
        self.retries
            .get_or_init(|| metrics::counter!("resilience_retries_total", "dependency" => dependency))
            .increment(1);
    }

    pub(crate) fn budget_exhausted(&self, dependency: &'static str) {
        self.budget_exhausted
            .get_or_init(|| metrics::counter!("resilience_retry_budget_exhausted_total", "dependency" => dependency))
            .increment(1);
    }
}
