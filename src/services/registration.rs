//! On-chain event registration through the transactional outbox.
//!
//! `POST /events` never talks to Solana: when an event needs registration (it has a schedule and
//! an `artist_wallet`) the same transaction writes a `blockchain_outbox` row and the event is
//! `pending`. This worker turns rows into `synced` (with the event PDA and signature) or `failed`
//! (with a reason an operator can act on; `POST /api/v1/admin/blockchain/events/{id}/retry`
//! re-queues it).
//!
//! # Exactly once
//!
//! The event PDA is derived from the tenant-bound venue seed and the event's persisted `u64`
//! chain id (`crates/chain/src/seeds.rs`), so the program itself refuses a second account for the
//! same event ("already in use"). On top of that, the worker never sends blindly:
//!
//! 1. A row is claimed with `FOR UPDATE SKIP LOCKED` and a lease (`system_claim_blockchain_outbox`);
//!    every later write is fenced on `locked_by`, so a worker that lost its lease writes nothing.
//! 2. The instruction bytes are fixed at the first attempt and stored in the row, so every attempt
//!    and every existence check compares the same content.
//! 3. A signed transaction is stored *before* it is sent. While its blockhash is valid its fate is
//!    unknown, so it is re-sent as is (same signature: a duplicate is a no-op). Only once the
//!    blockhash has expired can it never land; then the event account is checked, and only if it
//!    is missing is a new transaction signed with a fresh blockhash.
//! 4. An existing event account with the expected content (or "already in use" followed by that
//!    check) counts as success.
//!
//! # Failure handling
//!
//! Transient failures (RPC down or hung, 5xx/429, node unhealthy, venue-service unavailable, an
//! unconfirmed send) go back to `pending` with exponential backoff, up to
//! `SOLANA_REGISTRATION_MAX_ATTEMPTS`. An open breaker hands the row back without using up an
//! attempt. Permanent failures (venue of another tenant, parameters the program would reject,
//! program errors from preflight) fail the row at once with the reason.

use std::str::FromStr;
use std::time::Duration;

use chain::{CreateEventParams, Pubkey};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use resilience::{BreakerState, ResilienceError};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use solana_hash::Hash;
use solana_signature::Signature;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use sqlx::FromRow;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::clients::solana::{AccountData, RpcCallError, SignatureState, SolanaClient};
use crate::clients::venue::VenueError;
use crate::config::{PlatformWallet, RegistrationConfig};
use crate::domain::TenantId;
use crate::error::ApiResult;
use crate::state::AppState;

/// Signing a new transaction after an expired blockhash happens at most this often per attempt.
const MAX_RESIGNS_PER_ATTEMPT: u32 = 3;

/// A row this worker claimed.
#[derive(Debug, Clone, FromRow)]
pub struct Claim {
    pub tenant_id: Uuid,
    pub outbox_id: Uuid,
    pub event_id: Uuid,
    pub attempts: i32,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event account exists with the expected content. `already` when this attempt found it
    /// rather than created it.
    Synced { event_pda: Pubkey, signature: Option<String>, already: bool },
    /// Will not succeed by retrying.
    Failed { reason: String },
    /// Try again later. `counts` is false when nothing was attempted (breaker open).
    Retry { reason: String, after: Option<Duration>, counts: bool },
    /// Another worker owns the row now (our lease ran out): write nothing.
    LostLease,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Synced { already: false, .. } => "synced",
            Self::Synced { already: true, .. } => "already_registered",
            Self::Failed { .. } => "failed",
            Self::Retry { .. } => "retry",
            Self::LostLease => "lost_lease",
        }
    }
}

fn failed(reason: impl Into<String>) -> Outcome {
    Outcome::Failed { reason: reason.into() }
}

fn retry(reason: impl Into<String>) -> Outcome {
    Outcome::Retry { reason: reason.into(), after: None, counts: true }
}

/// Our own database failed mid-attempt: hand the row back without using up an attempt (it
/// says nothing about the chain).
fn database_unavailable(e: &crate::error::ApiError) -> Outcome {
    Outcome::Retry { reason: format!("database: {e}"), after: None, counts: false }
}

/// An RPC error that ends the attempt.
fn from_rpc(what: &str, err: ResilienceError<RpcCallError>) -> Outcome {
    match err {
        ResilienceError::BreakerOpen { breaker, retry_after } => Outcome::Retry {
            reason: format!("{what}: circuit breaker {breaker} is open"),
            after: Some(retry_after),
            counts: false,
        },
        ResilienceError::BulkheadFull { .. } => {
            Outcome::Retry { reason: format!("{what}: too many concurrent calls"), after: None, counts: false }
        }
        ResilienceError::Inner(e) => retry(format!("{what}: {e}")),
        other => retry(format!("{what}: {other}")),
    }
}

/// What the event row and the outbox row hold for one attempt.
#[derive(Debug, FromRow)]
struct Work {
    status: String,
    locked_by: Option<String>,
    instruction_data: Option<Vec<u8>>,
    venue_pda: Option<String>,
    pending_tx: Option<Vec<u8>>,
    pending_blockhash: Option<String>,
    deleted: bool,
    venue_id: Option<Uuid>,
    name: String,
    description: Option<String>,
    short_description: Option<String>,
    banner_image_url: Option<String>,
    chain_event_id: i64,
    artist_wallet: Option<String>,
    artist_percentage: Decimal,
    venue_percentage: Decimal,
    allow_transfers: bool,
    resaleable: bool,
    cancellation_deadline_hours: i32,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    capacity: Option<i64>,
    min_price: Option<Decimal>,
}

/// The registration worker of this replica.
#[derive(Clone)]
pub struct Registrar {
    state: AppState,
    solana: SolanaClient,
    wallet: PlatformWallet,
    config: RegistrationConfig,
    worker_id: String,
}

impl Registrar {
    pub fn new(state: AppState, solana: SolanaClient, wallet: PlatformWallet) -> Self {
        let config = state.config.registration.clone();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "event-service".to_owned());
        let worker_id = format!("{host}:{}", Uuid::new_v4().simple());
        Self { state, solana, wallet, config, worker_id }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Polls the outbox until shutdown. A row in progress is finished (each attempt is bounded)
    /// before the loop stops.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(worker = %self.worker_id, wallet = %self.wallet.pubkey(), rpc = %crate::redact::url_host(self.solana.url()),
            "on-chain registration worker started");
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            publish_outbox_stats(&self.state).await;
            if let Err(e) = self.run_once(&shutdown).await {
                tracing::debug!(error = %e, "registration poll skipped");
            }
        }
    }

    /// Claims due rows and processes them one by one; returns how many were claimed. Rows not
    /// started yet are handed back at once (without using up an attempt) when a breaker rejects
    /// a call or shutdown begins, so they do not wait for their lease to run out.
    pub async fn run_once(&self, shutdown: &CancellationToken) -> ApiResult<usize> {
        // An operator forced a breaker open: leave the rows alone. (A breaker that opened by
        // itself reads as open until a call probes it, so calls must keep coming.)
        let forced = |s: BreakerState| s == BreakerState::ForcedOpen;
        if forced(self.solana.read_breaker().state()) || forced(self.solana.send_breaker().state()) {
            return Ok(0);
        }
        let claims = self.claim().await?;
        let n = claims.len();
        let mut hand_back: Option<Outcome> = None;
        for claim in claims {
            if hand_back.is_none() && shutdown.is_cancelled() {
                hand_back = Some(Outcome::Retry { reason: "shutting down".to_owned(), after: None, counts: false });
            }
            let outcome = match &hand_back {
                Some(o) => o.clone(),
                None => {
                    let bound = self.config.lease.mul_f64(0.75);
                    let outcome = match tokio::time::timeout(bound, self.attempt(&claim)).await {
                        Ok(o) => o,
                        Err(_) => retry(format!("the attempt exceeded {bound:?}")),
                    };
                    if matches!(outcome, Outcome::Retry { counts: false, .. }) {
                        hand_back = Some(outcome.clone());
                    }
                    metrics::counter!("blockchain_registrations_total", "outcome" => outcome.label()).increment(1);
                    outcome
                }
            };
            if let Err(e) = self.finish(&claim, &outcome).await {
                // The lease runs out and another attempt picks the row up; nothing is lost.
                tracing::warn!(event_id = %claim.event_id, error = %e, "could not record the registration outcome");
            }
        }
        Ok(n)
    }

    async fn claim(&self) -> ApiResult<Vec<Claim>> {
        let (worker, batch, lease) =
            (self.worker_id.clone(), self.config.batch as i32, self.config.lease.as_secs().max(1) as i32);
        let tenants = self.config.tenants.clone();
        self.state
            .db
            .system("outbox_claim", move |pool| {
                let (worker, tenants) = (worker.clone(), tenants.clone());
                async move {
                    Ok(sqlx::query_as::<_, Claim>(
                        "select tenant_id, outbox_id, event_id, attempts
                           from system_claim_blockchain_outbox($1, $2, $3, $4)",
                    )
                    .bind(worker)
                    .bind(batch)
                    .bind(lease)
                    .bind(tenants)
                    .fetch_all(&pool)
                    .await?)
                }
            })
            .await
    }

    /// One attempt at one row.
    pub async fn attempt(&self, claim: &Claim) -> Outcome {
        let tenant = TenantId::from_uuid(claim.tenant_id);
        let work = match self.load(tenant, claim.outbox_id).await {
            Ok(Some(w)) => w,
            Ok(None) => return Outcome::LostLease,
            Err(e) => return database_unavailable(&e),
        };
        if work.status != "processing" || work.locked_by.as_deref() != Some(self.worker_id.as_str()) {
            return Outcome::LostLease;
        }
        if work.deleted {
            return failed("the event was deleted before it was registered");
        }
        let Some(venue_id) = work.venue_id else {
            return failed("the event has no venue");
        };

        // The venue must belong to the event's tenant: the tenant-bound seed would otherwise
        // point at a venue account the tenant has no right to use.
        match self.state.venues.venue(tenant, venue_id).await {
            Ok(v) if v.tenant_id == claim.tenant_id => {}
            Ok(_) | Err(VenueError::NotFound | VenueError::Forbidden) => {
                return failed(format!("venue {venue_id} does not belong to this tenant"));
            }
            Err(VenueError::Unavailable { retry_after }) => {
                return Outcome::Retry {
                    reason: "venue-service unavailable".to_owned(),
                    after: retry_after,
                    counts: true,
                };
            }
        }

        let program = self.config.program_id;
        let (params, venue_pda) = match (&work.instruction_data, &work.venue_pda) {
            (Some(data), Some(venue)) => {
                match (CreateEventParams::from_instruction_data(data), Pubkey::from_str(venue)) {
                    (Some(p), Ok(v)) => (p, v),
                    _ => return failed("the stored instruction could not be read"),
                }
            }
            _ => {
                let params = match build_params(&work, self.config.lamports_per_price_unit) {
                    Ok(p) => p,
                    Err(reason) => return failed(reason),
                };
                if let Err(errors) = params.validate(Utc::now().timestamp()) {
                    let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    return failed(format!("the program would reject the event: {}", reasons.join("; ")));
                }
                let (venue_pda, _) = chain::venue_pda(&program, &chain::venue_seed(&claim.tenant_id, &venue_id));
                let (event_pda, _) = chain::event_pda(&program, &venue_pda, params.event_id);
                match self.store_params(claim, &params, &venue_pda, &event_pda).await {
                    Ok(true) => {}
                    Ok(false) => return Outcome::LostLease,
                    Err(e) => return database_unavailable(&e),
                }
                (params, venue_pda)
            }
        };
        let pending = match (&work.pending_tx, &work.pending_blockhash) {
            (Some(tx), Some(hash)) => match (bincode::deserialize::<Transaction>(tx), Hash::from_str(hash)) {
                (Ok(tx), Ok(hash)) => Some((tx, hash)),
                _ => None,
            },
            _ => None,
        };
        self.register(claim, &params, &venue_pda, pending).await
    }

    /// The chain part of an attempt (see the module docs for the order of checks).
    async fn register(
        &self,
        claim: &Claim,
        params: &CreateEventParams,
        venue_pda: &Pubkey,
        mut pending: Option<(Transaction, Hash)>,
    ) -> Outcome {
        let program = self.config.program_id;
        let (event_pda, _) = chain::event_pda(&program, venue_pda, params.event_id);
        for _ in 0..=MAX_RESIGNS_PER_ATTEMPT {
            if let Some((tx, blockhash)) = pending.take() {
                match self.solana.is_blockhash_valid(&blockhash).await {
                    Err(e) => return from_rpc("checking the blockhash", e),
                    Ok(true) => {
                        // Its fate is unknown and it may still land: send the same bytes again.
                        match self.send_and_confirm(&tx, &blockhash, &event_pda, params, venue_pda).await {
                            Some(outcome) => return outcome,
                            None => continue,
                        }
                    }
                    // Expired: that transaction can never land any more.
                    Ok(false) => {}
                }
            }

            match self.solana.account(&event_pda).await {
                Err(e) => return from_rpc("checking the event account", e),
                Ok(Some(account)) => return verify(&account, &program, params, venue_pda, event_pda, None, true),
                Ok(None) => {}
            }

            let (blockhash, _) = match self.solana.latest_blockhash().await {
                Ok(b) => b,
                Err(e) => return from_rpc("getting a blockhash", e),
            };
            let ix = chain::create_event_instruction(&program, &self.wallet.pubkey(), venue_pda, params);
            let payer = self.wallet.pubkey();
            let tx = Transaction::new_signed_with_payer(&[ix], Some(&payer), &[self.wallet.0.as_ref()], blockhash);
            // Stored before it is sent: after a crash the next attempt knows it may have landed.
            match self.store_pending(claim, &tx, &blockhash).await {
                Ok(true) => {}
                Ok(false) => return Outcome::LostLease,
                Err(e) => return database_unavailable(&e),
            }
            if let Some(outcome) = self.send_and_confirm(&tx, &blockhash, &event_pda, params, venue_pda).await {
                return outcome;
            }
        }
        retry("the blockhash kept expiring before the transaction confirmed")
    }

    /// Sends `tx` and waits for it. `None`: its blockhash expired without it landing, so a new
    /// transaction must be signed.
    async fn send_and_confirm(
        &self,
        tx: &Transaction,
        blockhash: &Hash,
        event_pda: &Pubkey,
        params: &CreateEventParams,
        venue: &Pubkey,
    ) -> Option<Outcome> {
        match self.send(tx, event_pda, params, venue).await {
            Sent::Accepted => {}
            Sent::Resign => return None,
            Sent::Done(outcome) => return Some(outcome),
        }
        match self.confirm(&tx.signatures[0], blockhash, event_pda, params, venue).await {
            Confirm::Done(outcome) => Some(outcome),
            Confirm::Expired => None,
        }
    }

    async fn send(&self, tx: &Transaction, event_pda: &Pubkey, params: &CreateEventParams, venue: &Pubkey) -> Sent {
        match self.solana.send(tx).await {
            Ok(_) => Sent::Accepted,
            Err(ResilienceError::Inner(e)) => match e.transaction_error() {
                Some(err) => match self.transaction_failed(err, event_pda, params, venue).await {
                    Some(outcome) => Sent::Done(outcome),
                    None => Sent::Resign,
                },
                // A JSON-RPC error without a transaction error (e.g. signature verification):
                // nothing was processed, but it is not ours to interpret; retry later.
                None if e.is_preflight_failure() => Sent::Done(retry(format!("sending: {e}"))),
                // Transport error or timeout: the node may have accepted it. Find out.
                None => Sent::Accepted,
            },
            // Cut off mid-call: it may have been accepted. Polling the signature tells.
            Err(ResilienceError::AttemptTimeout { .. } | ResilienceError::DeadlineExceeded { .. }) => Sent::Accepted,
            Err(e) => Sent::Done(from_rpc("sending", e)),
        }
    }

    /// Maps a transaction error (from preflight or execution). `None`: the blockhash expired,
    /// sign again.
    async fn transaction_failed(
        &self,
        err: TransactionError,
        event_pda: &Pubkey,
        params: &CreateEventParams,
        venue: &Pubkey,
    ) -> Option<Outcome> {
        match err {
            TransactionError::BlockhashNotFound => None,
            TransactionError::AlreadyProcessed => Some(self.check_existing(event_pda, params, venue).await),
            TransactionError::InstructionError(_, solana_instruction_error::InstructionError::Custom(code)) => {
                let chain_error = chain::classify_instruction_error(code);
                Some(if chain_error.is_permanent() {
                    failed(format!("program error {code}: {}", chain::describe_custom_code(code)))
                } else {
                    // "Already in use": ours if the content matches.
                    self.check_existing(event_pda, params, venue).await
                })
            }
            TransactionError::AccountNotFound
            | TransactionError::InsufficientFundsForFee
            | TransactionError::InsufficientFundsForRent { .. } => {
                Some(retry(format!("the platform wallet cannot pay ({err}); fund {}", self.wallet.pubkey())))
            }
            other => Some(failed(format!("transaction rejected: {other}"))),
        }
    }

    async fn check_existing(&self, event_pda: &Pubkey, params: &CreateEventParams, venue: &Pubkey) -> Outcome {
        match self.solana.account(event_pda).await {
            Ok(Some(account)) => verify(&account, &self.config.program_id, params, venue, *event_pda, None, true),
            // Processed but not visible yet at our commitment: look again next attempt.
            Ok(None) => retry("the transaction was processed but the event account is not visible yet"),
            Err(e) => from_rpc("checking the event account", e),
        }
    }

    /// Polls the signature until it is final, fails, its blockhash expires, or the confirm
    /// timeout ends the attempt (the row keeps the transaction; the next attempt goes on).
    async fn confirm(
        &self,
        signature: &Signature,
        blockhash: &Hash,
        event_pda: &Pubkey,
        params: &CreateEventParams,
        venue: &Pubkey,
    ) -> Confirm {
        let deadline = tokio::time::Instant::now() + self.config.confirm_timeout;
        loop {
            tokio::time::sleep(self.config.confirm_poll).await;
            match self.solana.signature_state(signature).await {
                Err(e) => return Confirm::Done(from_rpc("polling the signature", e)),
                Ok(SignatureState::Done(Ok(()))) => {
                    return Confirm::Done(match self.solana.account(event_pda).await {
                        Ok(Some(account)) => verify(
                            &account,
                            &self.config.program_id,
                            params,
                            venue,
                            *event_pda,
                            Some(signature.to_string()),
                            false,
                        ),
                        Ok(None) => retry("confirmed, but the event account is not visible yet"),
                        Err(e) => from_rpc("reading the new event account", e),
                    });
                }
                Ok(SignatureState::Done(Err(err))) => {
                    return match self.transaction_failed(err, event_pda, params, venue).await {
                        Some(outcome) => Confirm::Done(outcome),
                        None => Confirm::Expired,
                    };
                }
                Ok(SignatureState::Unknown) => {}
            }
            match self.solana.is_blockhash_valid(blockhash).await {
                Err(e) => return Confirm::Done(from_rpc("checking the blockhash", e)),
                // It can no longer land. One last look, in case it landed just before.
                Ok(false) => {
                    return match self.solana.signature_state(signature).await {
                        Ok(SignatureState::Unknown) => Confirm::Expired,
                        Ok(SignatureState::Done(_)) => {
                            Confirm::Done(self.check_existing(event_pda, params, venue).await)
                        }
                        Err(e) => Confirm::Done(from_rpc("polling the signature", e)),
                    };
                }
                Ok(true) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Confirm::Done(retry(format!(
                    "transaction {signature} not confirmed within {:?}",
                    self.config.confirm_timeout
                )));
            }
        }
    }

    async fn load(&self, tenant: TenantId, outbox_id: Uuid) -> ApiResult<Option<Work>> {
        self.state
            .db
            .read(tenant, move |tx| {
                async move {
                    Ok(sqlx::query_as::<_, Work>(
                        "select o.status, o.locked_by, o.instruction_data, o.venue_pda, o.pending_tx,
                                o.pending_blockhash, e.deleted_at is not null as deleted, e.venue_id, e.name,
                                e.description, e.short_description, e.banner_image_url, e.chain_event_id,
                                e.artist_wallet, e.artist_percentage, e.venue_percentage, e.allow_transfers,
                                e.resaleable, e.cancellation_deadline_hours,
                                (select min(s.starts_at) from event_schedules s
                                  where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null)
                                  as starts_at,
                                (select max(s.ends_at) from event_schedules s
                                  where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null)
                                  as ends_at,
                                (select sum(c.total_capacity)::bigint from event_capacity c
                                  where c.tenant_id = e.tenant_id and c.event_id = e.id and c.deleted_at is null
                                    and c.is_active) as capacity,
                                (select min(p.base_price) from event_pricing p
                                  where p.tenant_id = e.tenant_id and p.event_id = e.id and p.deleted_at is null
                                    and p.is_active) as min_price
                           from blockchain_outbox o
                           join events e on e.tenant_id = o.tenant_id and e.id = o.event_id
                          where o.tenant_id = $1 and o.id = $2",
                    )
                    .bind(tx.tenant().as_uuid())
                    .bind(outbox_id)
                    .fetch_optional(tx.conn())
                    .await?)
                }
                .boxed()
            })
            .await
    }

    /// Fenced on the lease: false when another worker owns the row now.
    async fn store_params(
        &self,
        claim: &Claim,
        params: &CreateEventParams,
        venue_pda: &Pubkey,
        event_pda: &Pubkey,
    ) -> ApiResult<bool> {
        let (data, venue, event) = (params.instruction_data(), venue_pda.to_string(), event_pda.to_string());
        self.fenced(
            claim,
            "update blockchain_outbox set instruction_data = $4, venue_pda = $5, event_pda = $6
              where tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing'",
            vec![Bind::Bytes(data), Bind::Text(venue), Bind::Text(event)],
        )
        .await
    }

    async fn store_pending(&self, claim: &Claim, tx: &Transaction, blockhash: &Hash) -> ApiResult<bool> {
        let bytes = bincode::serialize(tx).map_err(crate::error::ApiError::internal)?;
        self.fenced(
            claim,
            "update blockchain_outbox set pending_tx = $4, pending_blockhash = $5, tx_signature = $6,
                    last_attempt_at = now()
              where tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing'",
            vec![Bind::Bytes(bytes), Bind::Text(blockhash.to_string()), Bind::Text(tx.signatures[0].to_string())],
        )
        .await
    }

    async fn fenced(&self, claim: &Claim, sql: &'static str, binds: Vec<Bind>) -> ApiResult<bool> {
        let (id, worker) = (claim.outbox_id, self.worker_id.clone());
        self.state
            .db
            .write(TenantId::from_uuid(claim.tenant_id), move |tx| {
                let (binds, worker) = (binds.clone(), worker.clone());
                async move {
                    let tenant = *tx.tenant().as_uuid();
                    let mut q = sqlx::query(sql).bind(tenant).bind(id).bind(worker);
                    for b in binds {
                        q = match b {
                            Bind::Bytes(v) => q.bind(v),
                            Bind::Text(v) => q.bind(v),
                        };
                    }
                    Ok(q.execute(tx.conn()).await?.rows_affected() == 1)
                }
                .boxed()
            })
            .await
    }

    /// Records the outcome on the outbox row and the event, fenced on the lease.
    async fn finish(&self, claim: &Claim, outcome: &Outcome) -> ApiResult<()> {
        let tenant = TenantId::from_uuid(claim.tenant_id);
        let outcome = match outcome {
            Outcome::LostLease => return Ok(()),
            Outcome::Retry { reason, .. } if claim.attempts >= self.config.max_attempts as i32 => {
                failed(format!("gave up after {} attempts; last error: {reason}", claim.attempts))
            }
            other => other.clone(),
        };
        // Reasons are stored where tenant users and operators read them, and logged: an RPC
        // error quotes the provider's URL, which may carry its API key.
        let outcome = match outcome {
            Outcome::Failed { reason } => Outcome::Failed { reason: crate::redact::urls(&reason) },
            Outcome::Retry { reason, after, counts } => {
                Outcome::Retry { reason: crate::redact::urls(&reason), after, counts }
            }
            other => other,
        };
        let backoff = match &outcome {
            Outcome::Retry { after, .. } => backoff(&self.config, claim.attempts, *after),
            _ => Duration::ZERO,
        };
        let (claim2, worker, outcome2) = (claim.clone(), self.worker_id.clone(), outcome.clone());
        let recorded = self
            .state
            .db
            .write(tenant, move |tx| {
                let (claim, worker, outcome) = (claim2.clone(), worker.clone(), outcome2.clone());
                async move { record(tx, &claim, &worker, &outcome, backoff).await }.boxed()
            })
            .await?;
        if recorded {
            self.state.cache.delete(tenant, &[&crate::services::events::event_key(claim.event_id)]).await;
            match &outcome {
                Outcome::Synced { event_pda, .. } => {
                    tracing::info!(event_id = %claim.event_id, %event_pda, "event registered on chain");
                }
                Outcome::Failed { reason } => {
                    tracing::warn!(event_id = %claim.event_id, reason, "event registration failed");
                }
                Outcome::Retry { reason, .. } => {
                    tracing::info!(event_id = %claim.event_id, reason, ?backoff, "event registration will be retried");
                }
                Outcome::LostLease => {}
            }
        }
        Ok(())
    }
}

/// Writes one outcome: the outbox row (only while this worker holds the lease) and the event.
async fn record(
    tx: &mut crate::storage::postgres::TenantTx,
    claim: &Claim,
    worker: &str,
    outcome: &Outcome,
    backoff: Duration,
) -> ApiResult<bool> {
    const FENCE: &str = "tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing'";
    let tenant = *tx.tenant().as_uuid();
    let updated = match outcome {
        Outcome::LostLease => return Ok(false),
        Outcome::Synced { event_pda, signature, .. } => {
            let done = sqlx::query(&format!(
                "update blockchain_outbox set status = 'synced', completed_at = now(), last_error = null,
                        event_pda = $4, tx_signature = coalesce($5, tx_signature), pending_tx = null,
                        pending_blockhash = null, locked_by = null, locked_until = null
                  where {FENCE}"
            ))
            .bind(tenant)
            .bind(claim.outbox_id)
            .bind(worker)
            .bind(event_pda.to_string())
            .bind(signature)
            .execute(tx.conn())
            .await?
            .rows_affected();
            if done == 1 {
                sqlx::query(
                    "update events e set blockchain_status = 'synced', event_pda = o.event_pda,
                            blockchain_tx_signature = o.tx_signature, blockchain_error = null,
                            blockchain_synced_at = now()
                       from blockchain_outbox o
                      where e.tenant_id = $1 and e.id = $2 and o.tenant_id = e.tenant_id and o.event_id = e.id",
                )
                .bind(tenant)
                .bind(claim.event_id)
                .execute(tx.conn())
                .await?;
            }
            done
        }
        Outcome::Failed { reason } => {
            let done = sqlx::query(&format!(
                "update blockchain_outbox set status = 'failed', last_error = $4, locked_by = null,
                        locked_until = null, pending_tx = null, pending_blockhash = null
                  where {FENCE}"
            ))
            .bind(tenant)
            .bind(claim.outbox_id)
            .bind(worker)
            .bind(reason)
            .execute(tx.conn())
            .await?
            .rows_affected();
            if done == 1 {
                sqlx::query(
                    "update events set blockchain_status = 'failed', blockchain_error = $3
                      where tenant_id = $1 and id = $2",
                )
                .bind(tenant)
                .bind(claim.event_id)
                .bind(reason)
                .execute(tx.conn())
                .await?;
            }
            done
        }
        // The event stays `pending`; the reason is on the outbox row (`GET .../pda` shows it).
        Outcome::Retry { reason, counts, .. } => sqlx::query(&format!(
            "update blockchain_outbox set status = 'pending', last_error = $4, locked_by = null,
                    locked_until = null, next_attempt_at = now() + make_interval(secs => $5),
                    attempts = case when $6 then attempts else greatest(attempts - 1, 0) end
              where {FENCE}"
        ))
        .bind(tenant)
        .bind(claim.outbox_id)
        .bind(worker)
        .bind(reason)
        .bind(backoff.as_secs_f64())
        .bind(counts)
        .execute(tx.conn())
        .await?
        .rows_affected(),
    };
    Ok(updated == 1)
}

#[derive(Debug, Clone)]
enum Bind {
    Bytes(Vec<u8>),
    Text(String),
}

enum Sent {
    Accepted,
    Resign,
    Done(Outcome),
}

enum Confirm {
    Done(Outcome),
    Expired,
}

/// An existing event account is success only with the expected owner, layout and content.
fn verify(
    account: &AccountData,
    program: &Pubkey,
    params: &CreateEventParams,
    venue: &Pubkey,
    event_pda: Pubkey,
    signature: Option<String>,
    already: bool,
) -> Outcome {
    if account.owner != *program {
        return failed(format!("the event address {event_pda} holds an account of another program"));
    }
    match chain::decode_event_account(&account.data) {
        Ok(existing) if existing.matches(params, venue) => Outcome::Synced { event_pda, signature, already },
        Ok(_) => failed(format!("the event account {event_pda} exists with different content")),
        Err(e) => failed(format!("the account at {event_pda} is not an Event: {e}")),
    }
}

/// `base · 2^(attempt-1)` capped, with equal jitter; a server's hint wins when longer.
fn backoff(config: &RegistrationConfig, attempts: i32, hint: Option<Duration>) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = config.retry_base.saturating_mul(1u32 << exp.min(20)).min(config.retry_max);
    // Jitter spreads retries of rows that failed together; uuid v4 is a cheap random source.
    let fraction = f64::from(Uuid::new_v4().as_u128() as u16) / f64::from(u16::MAX);
    let jittered = full / 2 + full.mul_f64(fraction / 2.0);
    hint.map_or(jittered, |h| h.max(jittered))
}

/// Printable ASCII (the program's rule for names), non-ASCII replaced by '?', cut to `max` bytes.
fn ascii_within(s: &str, max: usize) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(max).collect()
}

/// Cut to at most `max` bytes on a character boundary.
fn utf8_within(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The `create_event` arguments for an event (documented in docs/solana.md). Deterministic, and
/// fixed in the outbox row at the first attempt.
fn build_params(w: &Work, lamports_per_unit: u64) -> Result<CreateEventParams, String> {
    let (Some(starts_at), Some(ends_at)) = (w.starts_at, w.ends_at) else {
        return Err("the event has no schedule".to_owned());
    };
    let artist_wallet = w
        .artist_wallet
        .as_deref()
        .and_then(|a| Pubkey::from_str(a).ok())
        .ok_or_else(|| "the event has no valid artist_wallet".to_owned())?;
    let event_id = u64::try_from(w.chain_event_id).map_err(|_| "the chain event id is negative".to_owned())?;
    let bps = |pct: Decimal| (pct * Decimal::ONE_HUNDRED).round().to_u16().unwrap_or(u16::MAX);
    let ticket_price = w
        .min_price
        .and_then(|p| (p * Decimal::from(lamports_per_unit)).round().to_u64())
        .unwrap_or(0)
        .clamp(chain::instruction::MIN_TICKET_PRICE, chain::instruction::MAX_TICKET_PRICE);
    let total_tickets = w.capacity.and_then(|c| u32::try_from(c).ok()).unwrap_or(0);
    let description = w.short_description.as_deref().or(w.description.as_deref()).unwrap_or_default();
    let metadata_uri = w
        .banner_image_url
        .as_deref()
        .filter(|u| u.len() <= chain::instruction::MAX_METADATA_URI_LEN)
        .unwrap_or_default();
    Ok(CreateEventParams {
        event_id,
        name: ascii_within(&w.name, chain::instruction::MAX_NAME_LEN),
        ticket_price,
        total_tickets,
        start_time: starts_at.timestamp(),
        end_time: ends_at.timestamp(),
        refund_window: (i64::from(w.cancellation_deadline_hours) * 3_600)
            .clamp(0, chain::instruction::MAX_REFUND_WINDOW_SECS),
        metadata_uri: metadata_uri.to_owned(),
        oracle_feed: Pubkey::default(),
        description: utf8_within(description, chain::instruction::MAX_DESCRIPTION_LEN).to_owned(),
        transferable: w.allow_transfers,
        resaleable: w.resaleable,
        artist_wallet,
        artist_percentage: bps(w.artist_percentage),
        venue_percentage: bps(w.venue_percentage),
    })
}

/// The outbox side of an event's registration, for `GET /internal/events/{id}/pda`.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct RegistrationState {
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub tx_signature: Option<String>,
    pub event_pda: Option<String>,
    pub venue_pda: Option<String>,
}

pub async fn registration_state(
    state: &AppState,
    tenant: TenantId,
    event_id: Uuid,
) -> ApiResult<Option<RegistrationState>> {
    state
        .db
        .read(tenant, move |tx| {
            async move {
                Ok(sqlx::query_as::<_, RegistrationState>(
                    "select status, attempts, last_error, next_attempt_at, last_attempt_at, completed_at,
                            tx_signature, event_pda, venue_pda
                       from blockchain_outbox where tenant_id = $1 and event_id = $2",
                )
                .bind(tx.tenant().as_uuid())
                .bind(event_id)
                .fetch_optional(tx.conn())
                .await?)
            }
            .boxed()
        })
        .await
}

/// Operators: puts `failed` registrations of this tenant back in the queue with a fresh attempt
/// budget (one event, or all of them). Returns the re-queued event ids. The stored instruction is
/// kept only when it was never rejected by the program, so fixed data is picked up.
pub async fn requeue_failed(state: &AppState, tenant: TenantId, event_id: Option<Uuid>) -> ApiResult<Vec<Uuid>> {
    let ids = state
        .db
        .write(tenant, move |tx| {
            async move {
                let t = *tx.tenant().as_uuid();
                let ids: Vec<Uuid> = sqlx::query_scalar(
                    "update blockchain_outbox
                        set status = 'pending', attempts = 0, next_attempt_at = now(), last_error = null,
                            locked_by = null, locked_until = null, instruction_data = null, venue_pda = null,
                            pending_tx = null, pending_blockhash = null
                      where tenant_id = $1 and status = 'failed' and ($2::uuid is null or event_id = $2)
                      returning event_id",
                )
                .bind(t)
                .bind(event_id)
                .fetch_all(tx.conn())
                .await?;
                sqlx::query(
                    "update events set blockchain_status = 'pending', blockchain_error = null
                      where tenant_id = $1 and id = any($2)",
                )
                .bind(t)
                .bind(&ids)
                .execute(tx.conn())
                .await?;
                Ok(ids)
            }
            .boxed()
        })
        .await?;
    for id in &ids {
        state.cache.delete(tenant, &[&crate::services::events::event_key(*id)]).await;
    }
    Ok(ids)
}

/// Outbox depth per status and the age of the oldest row, across tenants (aggregates only).
pub async fn publish_outbox_stats(state: &AppState) {
    let stats = state
        .db
        .system("outbox_stats", |pool| async move {
            Ok(sqlx::query_as::<_, (String, i64, f64)>(
                "select status, depth, oldest_age_seconds from system_blockchain_outbox_stats()",
            )
            .fetch_all(&pool)
            .await?)
        })
        .await;
    let Ok(rows) = stats else { return };
    for status in ["pending", "processing", "failed"] {
        let row = rows.iter().find(|(s, _, _)| s == status);
        metrics::gauge!("blockchain_outbox_depth", "status" => status).set(row.map_or(0.0, |r| r.1 as f64));
        if status == "pending" {
            metrics::gauge!("blockchain_outbox_oldest_pending_age_seconds").set(row.map_or(0.0, |r| r.2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_printable_ascii_within_32_bytes() {
        assert_eq!(ascii_within("Café Noir", 32), "Caf? Noir");
        assert_eq!(ascii_within(&"x".repeat(40), 32).len(), 32);
        assert_eq!(utf8_within("ééé", 3), "é");
    }
}
