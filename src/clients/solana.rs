//! Solana JSON-RPC, as far as event registration needs it, through two resilience stacks.
//!
//! `solana-rpc-client` speaks the protocol; every call goes through [`Dependency::call`]:
//!
//! * **reads** (`solana_read`: account, blockhash, signature status, health) are idempotent, so
//!   the stack retries transient failures within its deadline;
//! * **sends** (`solana_send`) have their own breaker and are never retried by the stack: a send
//!   cut off by a timeout may still have been accepted. Whether to send again is decided by the
//!   registration worker, after it has checked whether the event account exists
//!   (`jobs/registration/`).
//!
//! Both stacks bound each attempt (10 s by default) and the whole call; `solana-rpc-client`'s own
//! internal 429 retry happens inside one attempt and is cut off with it. Its unbounded
//! `send_and_confirm_transaction` is never used.
//!
//! What counts against the breakers: transport errors, timeouts, HTTP 5xx/429 and JSON-RPC
//! -32005 "node unhealthy". A JSON-RPC answer such as a preflight (simulation) failure is the node
//! working correctly: it is returned to the caller, never retried, never counted.

use std::time::Duration;

use chain::Pubkey;
use resilience::{BreakerHandle, Classification, Classify, Dependency, DependencyConfig, Idempotency, ResilienceError};
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_rpc_client::http_sender::HttpSender;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client::rpc_client::RpcClientConfig;
use solana_rpc_client_api::client_error::{Error as ClientError, ErrorKind};
use solana_rpc_client_api::config::RpcSendTransactionConfig;
use solana_rpc_client_api::request::RpcError;
use solana_signature::Signature;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use url::Url;

/// `getSignatureStatuses` accepts at most this many signatures per call.
pub const MAX_SIGNATURES_PER_STATUS_CALL: usize = 256;

/// JSON-RPC error codes (`solana_rpc_client_api::custom_error`).
const NODE_UNHEALTHY: i64 = -32005;
const PREFLIGHT_FAILURE: i64 = -32002;

/// One failed attempt, as returned by `solana-rpc-client`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RpcCallError(#[from] pub ClientError);

impl RpcCallError {
    /// The transaction error of a preflight failure (-32002) or an executed transaction.
    pub fn transaction_error(&self) -> Option<TransactionError> {
        self.0.get_transaction_error()
    }

    /// True when the node answered the request (a JSON-RPC error), so the outcome is known.
    fn node_answered(&self) -> bool {
        matches!(self.0.kind(), ErrorKind::RpcError(RpcError::RpcResponseError { code, .. }) if *code != NODE_UNHEALTHY)
            || matches!(self.0.kind(), ErrorKind::TransactionError(_) | ErrorKind::SigningError(_))
    }

    pub fn is_preflight_failure(&self) -> bool {
        matches!(self.0.kind(), ErrorKind::RpcError(RpcError::RpcResponseError { code: PREFLIGHT_FAILURE, .. }))
    }
}

/// Transport, 5xx/429 and node-unhealthy are the node's failures; any other JSON-RPC answer is
/// the caller's (retrying it gives the same answer).
pub struct RpcClassifier;

impl Classify<RpcCallError> for RpcClassifier {
    fn classify(&self, err: &RpcCallError) -> Classification {
        if err.node_answered() {
            return Classification::CALLER;
        }
        match err.0.kind() {
            ErrorKind::Reqwest(e) if e.status().is_some_and(|s| s.is_client_error() && s.as_u16() != 429) => {
                Classification::CALLER
            }
            // The response could not be parsed: a broken or incompatible node, not worth a retry.
            ErrorKind::SerdeJson(_) => Classification::FATAL,
            _ => Classification::TRANSIENT,
        }
    }
}

pub type RpcResult<T> = Result<T, ResilienceError<RpcCallError>>;

/// The on-chain state of an account, as far as registration cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountData {
    pub owner: Pubkey,
    pub data: Vec<u8>,
}

/// What `getSignatureStatuses` says about one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureState {
    /// Unknown to the node: not (yet) processed, dropped, or expired.
    Unknown,
    /// Processed at the client's commitment, successfully or not.
    Done(Result<(), TransactionError>),
}

#[derive(Clone)]
pub struct SolanaClient {
    rpc: std::sync::Arc<RpcClient>,
    read: Dependency<RpcCallError>,
    send: Dependency<RpcCallError>,
    url: Url,
}

impl SolanaClient {
    pub fn new(url: Url, read: DependencyConfig, send: DependencyConfig) -> anyhow::Result<Self> {
        // The stacks bound every attempt; the client timeout is only a backstop above them.
        let backstop = read.attempt_timeout.max(send.attempt_timeout) + Duration::from_secs(1);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(backstop)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let sender = HttpSender::new_with_client(url.as_str(), http);
        let rpc = RpcClient::new_sender(sender, RpcClientConfig::with_commitment(CommitmentConfig::confirmed()));
        Ok(Self {
            rpc: std::sync::Arc::new(rpc),
            read: Dependency::with_breaker(read, RpcClassifier, "solana_read"),
            send: Dependency::with_breaker(send, RpcClassifier, "solana_send"),
            url,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn read_breaker(&self) -> BreakerHandle {
        self.read.breaker()
    }

    pub fn send_breaker(&self) -> BreakerHandle {
        self.send.breaker()
    }

    /// The account at `address`, or `None` when it does not exist.
    pub async fn account(&self, address: &Pubkey) -> RpcResult<Option<AccountData>> {
        let rpc = &self.rpc;
        self.read
            .call("get_account", Idempotency::Safe, || async move {
                let response = rpc.get_account_with_commitment(address, CommitmentConfig::confirmed()).await?;
                Ok(response.value.map(|a| AccountData { owner: a.owner, data: a.data }))
            })
            .await
    }

    /// The latest blockhash and the last block height at which it is valid.
    pub async fn latest_blockhash(&self) -> RpcResult<(Hash, u64)> {
        let rpc = &self.rpc;
        self.read
            .call("get_latest_blockhash", Idempotency::Safe, || async move {
                Ok(rpc.get_latest_blockhash_with_commitment(CommitmentConfig::confirmed()).await?)
            })
            .await
    }

    /// Whether a transaction signed with `blockhash` can still be processed.
    pub async fn is_blockhash_valid(&self, blockhash: &Hash) -> RpcResult<bool> {
        let rpc = &self.rpc;
        self.read
            .call("is_blockhash_valid", Idempotency::Safe, || async move {
                Ok(rpc.is_blockhash_valid(blockhash, CommitmentConfig::processed()).await?)
            })
            .await
    }

    /// The states of up to [`MAX_SIGNATURES_PER_STATUS_CALL`] signatures in one
    /// `getSignatureStatuses` call, in the order given.
    pub async fn signature_states(&self, signatures: &[Signature]) -> RpcResult<Vec<SignatureState>> {
        debug_assert!(signatures.len() <= MAX_SIGNATURES_PER_STATUS_CALL);
        let rpc = &self.rpc;
        self.read
            .call("get_signature_statuses", Idempotency::Safe, || async move {
                let statuses = rpc.get_signature_statuses(signatures).await?.value;
                let mut states: Vec<SignatureState> = statuses
                    .into_iter()
                    .map(|status| match status {
                        Some(s) if s.satisfies_commitment(CommitmentConfig::confirmed()) => {
                            SignatureState::Done(s.err.map_or(Ok(()), Err))
                        }
                        _ => SignatureState::Unknown,
                    })
                    .collect();
                // A node that answers with fewer entries than asked says nothing about the rest.
                states.resize(signatures.len(), SignatureState::Unknown);
                Ok(states)
            })
            .await
    }

    /// Sends once, with preflight (simulation), so a transaction that must fail is refused
    /// before it is broadcast. Never retried here.
    pub async fn send(&self, tx: &Transaction) -> RpcResult<Signature> {
        let rpc = &self.rpc;
        let config = RpcSendTransactionConfig {
            skip_preflight: false,
            preflight_commitment: Some(CommitmentConfig::confirmed().commitment),
            // The node must not rebroadcast on its own after we may have re-signed.
            max_retries: Some(0),
            ..RpcSendTransactionConfig::default()
        };
        self.send
            .call("send_transaction", Idempotency::Unsafe, || async move {
                Ok(rpc.send_transaction_with_config(tx, config).await?)
            })
            .await
    }

    /// `getHealth`, for the detailed health page.
    pub async fn health(&self) -> RpcResult<()> {
        let rpc = &self.rpc;
        self.read.call("get_health", Idempotency::Safe, || async move { Ok(rpc.get_health().await?) }).await
    }
}
