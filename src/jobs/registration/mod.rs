//! On-chain event registration through the transactional outbox.
//!
//! `POST /events` never talks to Solana: when an event needs registration (it has a schedule and
//! an `artist_wallet`) the same transaction writes a `blockchain_outbox` row and the event is
//! `pending`. This worker turns rows into `synced` (with the event PDA and signature) or `failed`
//! (with a reason an operator can act on; `POST /api/v1/admin/blockchain/events/{id}/retry`
//! re-queues it). The loop, the lease and the recording of outcomes are here; the chain steps
//! are in `chain_steps.rs`, the RPC work rows share in `shared_rpc.rs`, the grouped writes in
//! `group_writes.rs`, the SQL in `storage/blockchain_outbox.rs`.
//!
//! # Many rows in flight
//!
//! A replica keeps up to `SOLANA_REGISTRATION_IN_FLIGHT` transactions on the chain at once (sent
//! and not yet confirmed), and as many more rows preparing theirs, each row in its own task, so
//! sends overlap instead of queueing behind each other's confirmations (`Registrar::run`). What
//! the rows need from the node besides their own `sendTransaction` is shared: one recent
//! blockhash signs every new transaction while it is young, and confirmations are asked for in
//! batches of up to 256 signatures (`getSignatureStatuses`). The database work is shared the
//! same way: the rows of a claim are read with one statement per tenant, and the writes of rows
//! in flight (the signed transaction stored before its send, the outcome) are grouped into one
//! transaction and one round trip per tenant (`group_writes.rs`), so a row that succeeds costs a
//! few single-row statements run in the server, its share of a transaction, and one send.
//!
//! # Exactly once
//!
//! The event PDA is derived from the tenant-bound venue seed and the event's persisted `u64`
//! chain id (`crates/chain/src/seeds.rs`), so the program itself refuses a second account for the
//! same event ("already in use"). On top of that, the worker never sends blindly:
//!
//! 1. A row is claimed with `FOR UPDATE SKIP LOCKED` and a lease (`system_claim_blockchain_outbox`);
//!    every later write is fenced on `locked_by`, so a worker that lost its lease writes nothing.
//! 2. The instruction bytes are fixed at the first send and stored in the row, so every later
//!    send and every existence check compares the same content.
//! 3. A signed transaction is stored *before* it is sent. While its blockhash is valid its fate is
//!    unknown, so it is re-sent as is (same signature: a duplicate is a no-op). Only once the
//!    blockhash has expired can it never land; then the event account is checked, and only if it
//!    is missing is a new transaction signed with a fresh blockhash.
//! 4. An existing event account with the expected content (or "already in use" followed by that
//!    check) counts as success, and so does a confirmed, successful transaction of ours (its one
//!    instruction is the stored `create_event`, which creates exactly that account).
//!
//! A row that has never sent anything goes straight to its first send, without looking for the
//! account first: if it exists (an operator re-queued a row whose transaction landed after all),
//! preflight answers "already in use" and rule 4 applies.
//!
//! # Failure handling
//!
//! Transient failures (RPC down or hung, 5xx/429, node unhealthy, venue-service unavailable, an
//! unconfirmed send) go back to `pending` with exponential backoff, up to
//! `SOLANA_REGISTRATION_MAX_ATTEMPTS`. An open breaker hands the row back without using up an
//! attempt. Rows that failed because the node did not answer are due again as soon as a
//! registration succeeds (`Outage`), not at the end of their backoff. Permanent failures (venue
//! of another tenant, parameters the program would reject, program errors from preflight) fail
//! the row at once with the reason.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chain::{CreateEventParams, Pubkey};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use resilience::{BreakerState, Classification, Classify, ResilienceError};
use solana_hash::Hash;
use solana_transaction::Transaction;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::clients::solana::{RpcCallError, RpcClassifier, SolanaClient};
use crate::clients::venue::VenueError;
use crate::config::{PlatformWallet, RegistrationConfig};
use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::blockchain_outbox::{self as outbox, Claim, Work};
use crate::storage::postgres::Commit;

mod chain_steps;
mod group_writes;
mod shared_rpc;

use chain_steps::build_params;
use group_writes::{GroupError, GroupWrites, Groups, Write};
use shared_rpc::{Blockhashes, Statuses};

/// A claimed row's work as read after the claim: `None` when the row is gone.
type Loaded = Result<Option<Work>, GroupError>;

/// A claimed row, loaded.
struct Claimed {
    claim: Claim,
    loaded: Loaded,
    claimed_at: tokio::time::Instant,
}

/// What one claim (and the load of its rows) found.
struct ClaimRound {
    wanted: usize,
    after: Option<DateTime<Utc>>,
    claimed: ApiResult<Vec<Claimed>>,
}

/// Signing a new transaction after an expired blockhash happens at most this often per attempt.
const MAX_RESIGNS_PER_ATTEMPT: u32 = 3;

/// The outbox depth gauges are refreshed at most this often (one aggregate query).
const STATS_EVERY: Duration = Duration::from_secs(5);

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event account exists with the expected content. `already` when this attempt found it
    /// rather than created it.
    Synced { event_pda: Pubkey, signature: Option<String>, already: bool },
    /// Will not succeed by retrying.
    Failed { reason: String },
    /// Try again later. `counts` is false when nothing was attempted (breaker open);
    /// `unanswered` when the RPC node did not answer (a timeout, a transport error, a 5xx):
    /// an outage, which says nothing about the row (see [`Outage`]).
    Retry { reason: String, after: Option<Duration>, counts: bool, unanswered: bool },
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
    Outcome::Retry { reason: reason.into(), after: None, counts: true, unanswered: false }
}

/// Nothing was attempted (a breaker open, a bulkhead full, our database, shutdown): the row
/// goes back without using up an attempt, due again after `after` at the earliest.
fn untried(reason: impl Into<String>, after: Option<Duration>) -> Outcome {
    Outcome::Retry { reason: reason.into(), after, counts: false, unanswered: false }
}

/// The RPC node did not answer the attempt (see [`Outage`]).
fn unanswered(reason: impl Into<String>) -> Outcome {
    Outcome::Retry { reason: reason.into(), after: None, counts: true, unanswered: true }
}

/// Our own database failed mid-attempt: hand the row back without using up an attempt (it
/// says nothing about the chain).
fn database_unavailable(e: &ApiError) -> Outcome {
    untried(format!("database: {e}"), None)
}

/// An RPC error that ends the attempt.
fn from_rpc(what: &str, err: &ResilienceError<RpcCallError>) -> Outcome {
    match err {
        ResilienceError::BreakerOpen { breaker, retry_after } => {
            untried(format!("{what}: circuit breaker {breaker} is open"), Some(*retry_after))
        }
        ResilienceError::BulkheadFull { .. } => untried(format!("{what}: too many concurrent calls"), None),
        ResilienceError::Inner(e) if RpcClassifier.classify(e) == Classification::TRANSIENT => {
            unanswered(format!("{what}: {e}"))
        }
        ResilienceError::Inner(e) => retry(format!("{what}: {e}")),
        // The attempt's timeout or the call's deadline: no answer.
        other => unanswered(format!("{what}: {other}")),
    }
}

/// The registration worker of this replica.
#[derive(Clone)]
pub struct Registrar {
    state: AppState,
    solana: SolanaClient,
    wallet: PlatformWallet,
    config: RegistrationConfig,
    worker_id: String,
    blockhashes: Arc<Blockhashes>,
    statuses: Statuses,
    /// Signed transactions, stored before they are sent (durable commits).
    stores: GroupWrites,
    /// Outcomes (unflushed commits: a lost one is found again by the next attempt).
    outcomes: GroupWrites,
    venue_owners: Arc<VenueOwners>,
    venue_pdas: Arc<VenuePdas>,
    /// One permit per transaction on the chain (sent and not yet confirmed):
    /// `SOLANA_REGISTRATION_IN_FLIGHT`.
    chain_slots: Arc<tokio::sync::Semaphore>,
    /// Cancelled at shutdown: rows waiting for a confirmation hand themselves back.
    shutdown: CancellationToken,
}

impl Registrar {
    pub fn new(state: AppState, solana: SolanaClient, wallet: PlatformWallet, shutdown: CancellationToken) -> Self {
        let config = state.config.registration.clone();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "event-service".to_owned());
        let worker_id = format!("{host}:{}", Uuid::new_v4().simple());
        // A `true` validity answer is reused for half a poll: rows polling together share it.
        let blockhashes = Arc::new(Blockhashes::new(solana.clone(), config.blockhash_max_age, config.confirm_poll / 2));
        let statuses = Statuses::spawn(solana.clone());
        let stores = GroupWrites::spawn(state.clone(), worker_id.clone(), Commit::Durable, Groups::Overlapping);
        let outcomes = GroupWrites::spawn(state.clone(), worker_id.clone(), Commit::Unflushed, Groups::OneAtATime);
        let venue_owners = Arc::new(VenueOwners::default());
        let venue_pdas = Arc::new(VenuePdas::default());
        let chain_slots = Arc::new(tokio::sync::Semaphore::new(config.in_flight as usize));
        Self {
            state,
            solana,
            wallet,
            config,
            worker_id,
            blockhashes,
            statuses,
            stores,
            outcomes,
            venue_owners,
            venue_pdas,
            chain_slots,
            shutdown,
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Works on claimed rows until shutdown, each in its own task: up to
    /// `SOLANA_REGISTRATION_IN_FLIGHT` of them with a transaction on the chain (sent and not yet
    /// confirmed: `chain_slots`), and as many more preparing theirs (loaded, signed, stored) or
    /// waiting for a slot, so that a slot that frees is taken at once by a row that is ready to
    /// send, instead of after a claim, a load and a durable store. (Preparing takes about as long
    /// as sending and confirming, 15-20 ms a row in a drain on two cores, so by Little's law it
    /// needs about as many rows as the slots to keep them busy: 1,940-2,070/s with a quarter as
    /// many, 2,070-2,370/s with as many, in the same drain.) A row's task ends
    /// with its attempt: recording the outcome (in the next group of writes) does not hold it,
    /// since the row has nothing left to do on the chain and stays leased to this worker until
    /// the record commits.
    ///
    /// Claims are made in chunks (a quarter of the slots at least, at every poll tick, and
    /// whenever there is room while the last claim found work) by one task beside the loop.
    /// Rows waiting for a slot or a confirmation at shutdown hand themselves back; the loop
    /// returns when every attempt has ended and every outcome is recorded.
    ///
    /// Back-pressure: an operator's forced-open Solana breaker stops claiming; an attempt that
    /// met an open breaker or a full bulkhead pauses claiming until the breaker lets calls
    /// through again (its `retry_after`) or the next poll.
    pub async fn run(self) {
        tracing::info!(worker = %self.worker_id, wallet = %self.wallet.pubkey(), rpc = %crate::redact::url_host(self.solana.url()),
            in_flight = self.config.in_flight, "on-chain registration worker started");
        let shutdown = self.shutdown.clone();
        let limit = self.config.in_flight as usize;
        let chunk = (limit / 4).max(1);
        let mut tasks: JoinSet<(Claim, Outcome)> = JoinSet::new();
        let mut recording: JoinSet<()> = JoinSet::new();
        let mut claiming: Option<tokio::task::JoinHandle<ClaimRound>> = None;
        let mut tick = tokio::time::interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut paused_until: Option<tokio::time::Instant> = None;
        // Whether the last claim filled what it asked for (more work is likely waiting).
        let mut busy = false;
        // A tick came that could not claim at once (a claim was running, or no room): the next
        // claim starts from the queue's head.
        let mut from_head = false;
        // Where claims between ticks resume: the latest `next_attempt_at` claimed. A claim
        // from the start of the queue walks past every row finished or in flight (see the
        // migration `20261206000002`), so only the ticks do, which also finds expired leases.
        let mut cursor: Option<DateTime<Utc>> = None;
        let mut last_stats = tokio::time::Instant::now() - self.config.poll_interval.max(STATS_EVERY);
        let mut outage = Outage::default();
        loop {
            let ticked = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => true,
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                    // A task that panicked leaves its row to the lease's expiry.
                    if let Ok((claim, outcome)) = ended {
                        if let Outcome::Retry { counts: false, after, .. } = &outcome {
                            let until = tokio::time::Instant::now() + after.unwrap_or(self.config.poll_interval);
                            paused_until = Some(paused_until.map_or(until, |p| p.max(until)));
                        }
                        for (tenant, since) in outage.note(TenantId::from_uuid(claim.tenant_id), &outcome) {
                            let this = self.clone();
                            recording.spawn(async move { this.pull_forward(tenant, since).await });
                        }
                        let this = self.clone();
                        recording.spawn(async move { this.record(claim, outcome).await });
                    }
                    false
                }
                Some(_) = recording.join_next(), if !recording.is_empty() => false,
                round = async { claiming.as_mut().expect("guarded by the condition").await }, if claiming.is_some() => {
                    claiming = None;
                    match round {
                        Ok(ClaimRound { wanted, after, claimed: Ok(rows) }) => {
                            busy = rows.len() == wanted;
                            let latest = rows.iter().map(|r| r.claim.next_attempt_at).max();
                            // `None` orders first, so this keeps the later of the two, or whichever exists.
                            cursor = after.max(latest);
                            for row in rows {
                                self.start(row, &mut tasks);
                            }
                        }
                        Ok(ClaimRound { claimed: Err(e), .. }) => {
                            busy = false;
                            tracing::debug!(error = %e, "registration poll skipped");
                        }
                        // The claim task panicked: its rows (if any) wait for their leases.
                        Err(_) => busy = false,
                    }
                    false
                }
            };
            if ticked && last_stats.elapsed() >= STATS_EVERY {
                last_stats = tokio::time::Instant::now();
                publish_outbox_stats(&self.state).await;
            }
            let on_chain = limit.saturating_sub(self.chain_slots.available_permits());
            metrics::gauge!("blockchain_registrations_in_flight").set(on_chain as f64);
            from_head |= ticked;
            if claiming.is_some() {
                continue;
            }
            // Room for the slots and as many rows preparing.
            let room = (2 * limit).saturating_sub(tasks.len());
            let due = from_head || (busy && room >= chunk);
            if !due
                || room < chunk
                || paused_until.is_some_and(|p| tokio::time::Instant::now() < p)
                || self.forced_open()
            {
                continue;
            }
            paused_until = None;
            let wanted = room.min(self.config.batch as usize);
            let after = if from_head { None } else { cursor };
            from_head = false;
            let this = self.clone();
            claiming = Some(tokio::spawn(async move {
                let claimed = match this.claim(wanted, after).await {
                    Ok(claims) => {
                        let claimed_at = tokio::time::Instant::now();
                        let loaded = this.load(claims).await;
                        Ok(loaded.into_iter().map(|(claim, loaded)| Claimed { claim, loaded, claimed_at }).collect())
                    }
                    Err(e) => Err(e),
                };
                ClaimRound { wanted, after, claimed }
            }));
        }
        // Shutdown: the claim under way ends and its rows go back (an attempt started after
        // shutdown hands its row back at once).
        if let Some(Ok(ClaimRound { claimed: Ok(rows), .. })) = match claiming.take() {
            Some(handle) => Some(handle.await),
            None => None,
        } {
            for row in rows {
                self.start(row, &mut tasks);
            }
        }
        while let Some(ended) = tasks.join_next().await {
            if let Ok((claim, outcome)) = ended {
                let this = self.clone();
                recording.spawn(async move { this.record(claim, outcome).await });
            }
        }
        while recording.join_next().await.is_some() {}
    }

    /// Starts the attempt of a claimed row.
    fn start(&self, row: Claimed, tasks: &mut JoinSet<(Claim, Outcome)>) {
        let this = self.clone();
        tasks.spawn(async move { this.process(row.claim, row.loaded, row.claimed_at).await });
    }

    /// An operator forced a Solana breaker open: leave the rows alone. (A breaker that opened
    /// by itself reads as open until a call probes it, so calls must keep coming.)
    fn forced_open(&self) -> bool {
        let forced = |s: BreakerState| s == BreakerState::ForcedOpen;
        forced(self.solana.read_breaker().state()) || forced(self.solana.send_breaker().state())
    }

    /// One claimed row's attempt, bounded well inside the lease taken at `claimed_at` (its
    /// outcome is recorded by [`Self::record`]).
    async fn process(&self, claim: Claim, loaded: Loaded, claimed_at: tokio::time::Instant) -> (Claim, Outcome) {
        let outcome = if self.shutdown.is_cancelled() {
            untried("shutting down", None)
        } else {
            let bound = self.config.lease.mul_f64(0.75).saturating_sub(claimed_at.elapsed());
            let outcome = match tokio::time::timeout(bound, self.attempt(&claim, loaded)).await {
                Ok(o) => o,
                // Every call of an attempt is bounded well below this: only a node (or our
                // database) that stops answering gets here.
                Err(_) => unanswered(format!("the attempt exceeded {bound:?}")),
            };
            metrics::counter!("blockchain_registrations_total", "outcome" => outcome.label()).increment(1);
            outcome
        };
        (claim, outcome)
    }

    async fn record(&self, claim: Claim, outcome: Outcome) {
        if let Err(e) = self.finish(&claim, &outcome).await {
            // The lease runs out and another attempt picks the row up; nothing is lost.
            tracing::warn!(event_id = %claim.event_id, error = %e, "could not record the registration outcome");
        }
    }

    /// The node answers again after failing rows of `tenant` from `since` on: those rows are due
    /// now rather than at the end of their backoff (see [`Outage`]). Unflushed: a lost update
    /// only leaves the rows to their backoff.
    async fn pull_forward(&self, tenant: TenantId, since: DateTime<Utc>) {
        // The row's `updated_at` is the database's clock, `since` this replica's.
        let since = since - Outage::CLOCK_MARGIN;
        let pulled = self
            .state
            .db
            .write_with(tenant, Commit::Unflushed, move |tx| {
                async move { outbox::pull_forward(tx, since).await }.boxed()
            })
            .await;
        match pulled {
            Ok(0) => {}
            Ok(rows) => {
                metrics::counter!("blockchain_registrations_pulled_forward_total").increment(rows);
                tracing::info!(tenant = %tenant, rows, "the Solana RPC answers again: backed-off registrations are due now");
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "could not pull registrations forward after an RPC outage")
            }
        }
    }

    async fn claim(&self, wanted: usize, after: Option<DateTime<Utc>>) -> ApiResult<Vec<Claim>> {
        let (worker, batch, lease) = (self.worker_id.clone(), wanted as i32, self.config.lease.as_secs().max(1) as i32);
        let tenants = self.config.tenants.clone();
        self.state
            .db
            // Unflushed: a claim lost in a crash only puts the rows back in the queue, and a row
            // sends nothing before its durable store, which also makes the claim durable.
            .system_with("outbox_claim", Commit::Unflushed, move |tx| {
                let (worker, tenants) = (worker.clone(), tenants.clone());
                async move { outbox::claim(tx, &worker, batch, lease, tenants.as_deref(), after).await }.boxed()
            })
            .await
    }

    /// The work of freshly claimed rows, read with one statement per tenant (side by side).
    async fn load(&self, claims: Vec<Claim>) -> Vec<(Claim, Loaded)> {
        let mut by_tenant: HashMap<Uuid, Vec<Claim>> = HashMap::new();
        for claim in claims {
            by_tenant.entry(claim.tenant_id).or_default().push(claim);
        }
        let reads = by_tenant.into_iter().map(|(tenant, claims)| async move {
            let ids: Arc<Vec<Uuid>> = Arc::new(claims.iter().map(|c| c.outbox_id).collect());
            let read = self
                .state
                .db
                .read(TenantId::from_uuid(tenant), move |tx| {
                    let ids = ids.clone();
                    async move { outbox::load_many(tx, &ids).await }.boxed()
                })
                .await;
            match read {
                Ok(works) => {
                    let mut works: HashMap<Uuid, Work> = works.into_iter().map(|w| (w.outbox_id, w)).collect();
                    claims
                        .into_iter()
                        .map(|c| {
                            let work = works.remove(&c.outbox_id);
                            (c, Ok(work))
                        })
                        .collect()
                }
                Err(e) => {
                    let e = Arc::new(e);
                    claims.into_iter().map(|c| (c, Err(e.clone()))).collect::<Vec<_>>()
                }
            }
        });
        futures::future::join_all(reads).await.into_iter().flatten().collect()
    }

    /// One attempt at one row.
    async fn attempt(&self, claim: &Claim, loaded: Loaded) -> Outcome {
        let tenant = TenantId::from_uuid(claim.tenant_id);
        let work = match loaded {
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

        let program = self.config.program_id;
        let (params, venue_pda) = match (&work.instruction_data, &work.venue_pda) {
            // Fixed at the first send, after the venue check below passed.
            (Some(data), Some(venue)) => {
                match (CreateEventParams::from_instruction_data(data), Pubkey::from_str(venue)) {
                    (Some(p), Ok(v)) => (p, v),
                    _ => return failed("the stored instruction could not be read"),
                }
            }
            _ => {
                // The venue must belong to the event's tenant: the tenant-bound seed would
                // otherwise point at a venue account the tenant has no right to use.
                match self.venue_owners.check(&self.state, tenant, venue_id).await {
                    Ok(true) => {}
                    Ok(false) | Err(VenueError::NotFound | VenueError::Forbidden) => {
                        return failed(format!("venue {venue_id} does not belong to this tenant"));
                    }
                    Err(VenueError::Unavailable { retry_after }) => {
                        return Outcome::Retry {
                            reason: "venue-service unavailable".to_owned(),
                            after: retry_after,
                            counts: true,
                            unanswered: false,
                        };
                    }
                }
                let params = match build_params(&work, self.config.lamports_per_price_unit) {
                    Ok(p) => p,
                    Err(reason) => return failed(reason),
                };
                if let Err(errors) = params.validate(Utc::now().timestamp()) {
                    let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    return failed(format!("the program would reject the event: {}", reasons.join("; ")));
                }
                (params, self.venue_pdas.get(&program, claim.tenant_id, venue_id))
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

    /// Stores the signed transaction before it is sent, together with the instruction and the
    /// addresses it was built from (the same bytes at every later send). False when another
    /// worker owns the row.
    async fn store_pending(
        &self,
        claim: &Claim,
        params: &CreateEventParams,
        venue_pda: &Pubkey,
        event_pda: &Pubkey,
        tx: &Transaction,
        blockhash: &Hash,
    ) -> Result<bool, GroupError> {
        let bytes = bincode::serialize(tx).map_err(|e| Arc::new(ApiError::internal(e)))?;
        let sent = outbox::Sent {
            outbox_id: claim.outbox_id,
            instruction_data: params.instruction_data(),
            venue_pda: venue_pda.to_string(),
            event_pda: event_pda.to_string(),
            signed: bytes,
            blockhash: blockhash.to_string(),
            signature: tx.signatures[0].to_string(),
        };
        self.stores.write(TenantId::from_uuid(claim.tenant_id), Write::Store(sent)).await
    }

    /// Records the outcome on the outbox row and the event, fenced on the lease (with the
    /// writes of other rows in flight, `group_writes`).
    async fn finish(&self, claim: &Claim, outcome: &Outcome) -> Result<(), GroupError> {
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
            Outcome::Retry { reason, after, counts, unanswered } => {
                Outcome::Retry { reason: crate::redact::urls(&reason), after, counts, unanswered }
            }
            other => other,
        };
        let backoff = match &outcome {
            // Nothing was attempted (a breaker was open, a bulkhead full, our database or
            // shutdown): due again at once. This replica stops claiming until the breaker may
            // let calls through (`run`), and the others decide by their own breakers. A backoff
            // here (it took the breaker's 10-40 s as its minimum) kept rows waiting long after
            // the RPC was back: 63 s from the end of row 6's hang to an empty outbox.
            Outcome::Retry { counts: false, .. } => Duration::ZERO,
            Outcome::Retry { after, .. } => backoff(&self.config, claim.attempts, *after),
            _ => Duration::ZERO,
        };
        let write = match &outcome {
            Outcome::LostLease => return Ok(()),
            Outcome::Synced { event_pda, signature, .. } => Write::Synced {
                event_id: claim.event_id,
                row: outbox::Synced {
                    outbox_id: claim.outbox_id,
                    event_pda: event_pda.to_string(),
                    signature: signature.clone(),
                },
            },
            Outcome::Failed { reason } => {
                Write::Failed { event_id: claim.event_id, outbox_id: claim.outbox_id, reason: reason.clone() }
            }
            Outcome::Retry { reason, counts, .. } => Write::Retry(outbox::Retry {
                outbox_id: claim.outbox_id,
                reason: reason.clone(),
                backoff_secs: backoff.as_secs_f64(),
                counts: *counts,
            }),
        };
        if self.outcomes.write(tenant, write).await? {
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

/// Rows that failed because the RPC node did not answer (`Outcome::Retry { unanswered }`).
///
/// Such a failure says nothing about the row, but its backoff grows with its attempts like any
/// other: a row that failed in each of several hangs waits out a backoff of tens of seconds
/// (32-64 s after its sixth attempt, at the default base) once the node is back. The breaker
/// is what protects a failing node; the backoff only spreads retries. So once a
/// registration succeeds again, the rows of the tenants that had unanswered failures since the
/// last such moment, backed off from the first of those failures on (`updated_at`, less a
/// margin for clock skew), are due at once (`outbox::pull_forward`). They keep their attempt
/// counts, and the exactly-once rules hold as for any attempt. At most once per
/// [`Outage::EVERY`], so a node that flaps does not turn backoffs into a tight loop.
#[derive(Default)]
struct Outage {
    /// The first unanswered failure per tenant since the last pull-forward.
    since: HashMap<TenantId, DateTime<Utc>>,
    last_pull: Option<tokio::time::Instant>,
}

impl Outage {
    const EVERY: Duration = Duration::from_secs(10);
    const CLOCK_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
    const MAX_TENANTS: usize = 10_000;

    /// Notes an attempt's outcome; answers the tenants (and since when) to pull forward now.
    fn note(&mut self, tenant: TenantId, outcome: &Outcome) -> Vec<(TenantId, DateTime<Utc>)> {
        match outcome {
            Outcome::Retry { unanswered: true, .. } => {
                if self.since.len() < Self::MAX_TENANTS || self.since.contains_key(&tenant) {
                    self.since.entry(tenant).or_insert_with(Utc::now);
                }
                Vec::new()
            }
            Outcome::Synced { .. }
                if !self.since.is_empty() && self.last_pull.is_none_or(|at| at.elapsed() >= Self::EVERY) =>
            {
                self.last_pull = Some(tokio::time::Instant::now());
                self.since.drain().collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Venues recently seen to belong to a tenant. A backlog's rows mostly share a few venues, and
/// the look-up (a cached copy in Redis, or venue-service) would otherwise run once per row; an
/// answer that the venue is the tenant's is reused for [`VenueOwners::FRESH`]. Refusals are
/// never remembered.
#[derive(Default)]
struct VenueOwners {
    seen: std::sync::Mutex<HashMap<(TenantId, Uuid), std::time::Instant>>,
}

impl VenueOwners {
    /// Shorter than the venue client's own freshness for cached copies.
    const FRESH: Duration = Duration::from_secs(30);
    const MAX: usize = 10_000;

    /// Whether `venue_id` belongs to `tenant`.
    async fn check(&self, state: &AppState, tenant: TenantId, venue_id: Uuid) -> Result<bool, VenueError> {
        let known = |seen: &HashMap<_, std::time::Instant>| {
            seen.get(&(tenant, venue_id)).is_some_and(|at| at.elapsed() < Self::FRESH)
        };
        if known(&self.lock()) {
            return Ok(true);
        }
        let venue = state.venues.venue(tenant, venue_id).await?;
        let owned = venue.tenant_id == *tenant.as_uuid();
        if owned {
            let mut seen = self.lock();
            if seen.len() >= Self::MAX {
                seen.retain(|_, at| at.elapsed() < Self::FRESH);
                if seen.len() >= Self::MAX {
                    seen.clear();
                }
            }
            seen.insert((tenant, venue_id), std::time::Instant::now());
        }
        Ok(owned)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, Uuid), std::time::Instant>> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Venue PDAs by tenant and venue. A PDA search hashes and tests candidate addresses until one
/// is off the curve (a point decompression each, about 10 µs); a backlog's rows mostly share a
/// few venues, and a venue's PDA never changes.
#[derive(Default)]
struct VenuePdas {
    known: std::sync::Mutex<HashMap<(Uuid, Uuid), Pubkey>>,
}

impl VenuePdas {
    const MAX: usize = 10_000;

    fn get(&self, program: &Pubkey, tenant: Uuid, venue: Uuid) -> Pubkey {
        if let Some(pda) = self.lock().get(&(tenant, venue)) {
            return *pda;
        }
        // Searched without the lock: rows of other venues need not wait for it.
        let (pda, _) = chain::venue_pda(program, &chain::venue_seed(&tenant, &venue));
        let mut known = self.lock();
        if known.len() >= Self::MAX {
            known.clear();
        }
        known.insert((tenant, venue), pda);
        pda
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, Uuid), Pubkey>> {
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// Outbox depth per status and the age of the oldest row, across tenants (aggregates only).
pub async fn publish_outbox_stats(state: &AppState) {
    let stats = state.db.system("outbox_stats", |tx| async move { outbox::stats(tx).await }.boxed()).await;
    let Ok(rows) = stats else { return };
    for status in ["pending", "processing", "failed"] {
        let row = rows.iter().find(|(s, _, _)| s == status);
        metrics::gauge!("blockchain_outbox_depth", "status" => status).set(row.map_or(0.0, |r| r.1 as f64));
        if status == "pending" {
            metrics::gauge!("blockchain_outbox_oldest_pending_age_seconds").set(row.map_or(0.0, |r| r.2));
        }
    }
}
