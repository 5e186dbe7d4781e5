//! The RPC work that rows in flight share, so that a worker with many registrations in flight
//! costs the node about one `sendTransaction` per registration and little else:
//!
//! * [`Blockhashes`]: one recent blockhash signs every new transaction while it is young; one
//!   `isBlockhashValid` answer serves every row that asks about the same hash in the same moment.
//! * [`Statuses`]: rows waiting for a confirmation hand their signature to one task that asks
//!   `getSignatureStatuses` for up to 256 of them per call. Rows that arrive while a call is in
//!   flight go into the next one, so batches grow with the load and nobody waits for a timer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use resilience::ResilienceError;
use solana_hash::Hash;
use solana_signature::Signature;
use tokio::sync::{mpsc, oneshot};

use crate::clients::solana::{MAX_SIGNATURES_PER_STATUS_CALL, RpcCallError, RpcResult, SignatureState, SolanaClient};

/// A failed shared call, handed to every row that was waiting on it.
pub type SharedError = Arc<ResilienceError<RpcCallError>>;

/// The blockhash new transactions are signed with, and recent validity answers.
pub struct Blockhashes {
    solana: SolanaClient,
    /// How long a fetched blockhash signs new transactions. Solana keeps a blockhash valid for
    /// 150 blocks (about 60 s); a transaction signed near the end of that window has little time
    /// to land, so the shared hash is replaced well before.
    max_age: Duration,
    /// Held across the fetch, so that rows needing a hash at the same time share one call.
    current: tokio::sync::Mutex<Option<(Hash, Instant)>>,
    /// `isBlockhashValid` answers: `false` is final (a hash never becomes valid again), `true`
    /// is reused for `valid_for`.
    answers: Mutex<HashMap<Hash, (bool, Instant)>>,
    valid_for: Duration,
}

/// Answers kept at most; old ones go first. Rows in flight use a handful of distinct hashes.
const MAX_ANSWERS: usize = 1024;

impl Blockhashes {
    pub fn new(solana: SolanaClient, max_age: Duration, valid_for: Duration) -> Self {
        Self { solana, max_age, current: tokio::sync::Mutex::new(None), answers: Mutex::new(HashMap::new()), valid_for }
    }

    /// A blockhash to sign a new transaction with.
    pub async fn latest(&self) -> RpcResult<Hash> {
        let mut current = self.current.lock().await;
        if let Some((hash, fetched)) = *current
            && fetched.elapsed() < self.max_age
        {
            return Ok(hash);
        }
        let (hash, _) = self.solana.latest_blockhash().await?;
        *current = Some((hash, Instant::now()));
        Ok(hash)
    }

    /// Whether a transaction signed with `hash` can still be processed.
    pub async fn is_valid(&self, hash: &Hash) -> RpcResult<bool> {
        if let Some(valid) = self.known(hash) {
            return Ok(valid);
        }
        let valid = self.solana.is_blockhash_valid(hash).await?;
        self.remember(hash, valid);
        Ok(valid)
    }

    /// `hash` is known to have expired (the node said so): never sign with it again.
    pub fn expired(&self, hash: &Hash) {
        self.remember(hash, false);
    }

    fn known(&self, hash: &Hash) -> Option<bool> {
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        match answers.get(hash) {
            Some((false, _)) => Some(false),
            Some((true, at)) if at.elapsed() < self.valid_for => Some(true),
            _ => None,
        }
    }

    fn remember(&self, hash: &Hash, valid: bool) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if answers.len() >= MAX_ANSWERS {
            let oldest = answers.iter().min_by_key(|(_, (_, at))| *at).map(|(h, _)| *h);
            if let Some(h) = oldest {
                answers.remove(&h);
            }
        }
        answers.insert(*hash, (valid, Instant::now()));
        // The current hash expired: the next signer fetches a new one.
        if !valid
            && let Ok(mut current) = self.current.try_lock()
            && current.is_some_and(|(h, _)| h == *hash)
        {
            *current = None;
        }
    }
}

type Waiter = (Signature, oneshot::Sender<Result<SignatureState, SharedError>>);

/// Batched `getSignatureStatuses`. Cheap to clone; the batching task ends when the last clone
/// is dropped.
#[derive(Clone)]
pub struct Statuses {
    queue: mpsc::UnboundedSender<Waiter>,
}

impl Statuses {
    pub fn spawn(solana: SolanaClient) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(batch_loop(solana, waiting));
        Self { queue }
    }

    /// The state of `signature`, from the next batch.
    pub async fn state(&self, signature: Signature) -> Result<SignatureState, SharedError> {
        let (answer, wait) = oneshot::channel();
        if self.queue.send((signature, answer)).is_err() {
            return Ok(SignatureState::Unknown);
        }
        // The batching task only stops when every sender is gone, so an answer always comes;
        // "unknown" is the safe reading if it ever does not (the row polls again).
        wait.await.unwrap_or(Ok(SignatureState::Unknown))
    }
}

async fn batch_loop(solana: SolanaClient, mut waiting: mpsc::UnboundedReceiver<Waiter>) {
    let mut batch = Vec::with_capacity(MAX_SIGNATURES_PER_STATUS_CALL);
    while waiting.recv_many(&mut batch, MAX_SIGNATURES_PER_STATUS_CALL).await > 0 {
        // Rows that gave up waiting (their attempt ended) need no answer.
        batch.retain(|(_, answer)| !answer.is_closed());
        if batch.is_empty() {
            continue;
        }
        let signatures: Vec<Signature> = batch.iter().map(|(s, _)| *s).collect();
        metrics::histogram!("blockchain_signature_status_batch_size").record(signatures.len() as f64);
        match solana.signature_states(&signatures).await {
            Ok(states) => {
                for ((_, answer), state) in batch.drain(..).zip(states) {
                    let _ = answer.send(Ok(state));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for (_, answer) in batch.drain(..) {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}
