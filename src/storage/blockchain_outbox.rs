//! SQL of the on-chain registration outbox (`blockchain_outbox`). The worker that drives it is
//! `src/jobs/registration/`; this module only reads and writes rows.
//!
//! Every write a worker makes after claiming a row is *fenced*: it applies only while the row is
//! `processing` under that worker's lease (`locked_by`), so a worker whose lease ran out writes
//! nothing and the function returns `false`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::FromRow;
use uuid::Uuid;

use crate::domain::internal::Registration;
use crate::error::ApiResult;
use crate::storage::TenantTx;
use crate::storage::postgres::SystemTx;

/// A row a worker claimed (with a lease) through `system_claim_blockchain_outbox`.
#[derive(Debug, Clone, FromRow)]
pub struct Claim {
    pub tenant_id: Uuid,
    pub outbox_id: Uuid,
    pub event_id: Uuid,
    pub attempts: i32,
    /// When the row became due (the worker's claim cursor).
    pub next_attempt_at: DateTime<Utc>,
}

/// Claims up to `batch` due rows across tenants (or only `tenants`) for `lease_secs`; with
/// `after`, only rows due at or after it (see migration `20261206000002`).
pub async fn claim(
    tx: &mut SystemTx,
    worker: &str,
    batch: i32,
    lease_secs: i32,
    tenants: Option<&[Uuid]>,
    after: Option<DateTime<Utc>>,
) -> ApiResult<Vec<Claim>> {
    Ok(sqlx::query_as!(
        Claim,
        r#"select tenant_id as "tenant_id!", outbox_id as "outbox_id!", event_id as "event_id!",
                  attempts as "attempts!", next_attempt_at as "next_attempt_at!"
             from system_claim_blockchain_outbox($1, $2, $3, $4, $5)"#,
        worker,
        batch,
        lease_secs,
        tenants,
        after,
    )
    .fetch_all(tx.conn())
    .await?)
}

/// What the event row and the outbox row hold for one attempt.
#[derive(Debug, FromRow)]
pub struct Work {
    pub outbox_id: Uuid,
    pub status: String,
    pub locked_by: Option<String>,
    pub instruction_data: Option<Vec<u8>>,
    pub venue_pda: Option<String>,
    pub pending_tx: Option<Vec<u8>>,
    pub pending_blockhash: Option<String>,
    pub deleted: bool,
    pub venue_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub short_description: Option<String>,
    pub banner_image_url: Option<String>,
    pub chain_event_id: i64,
    pub artist_wallet: Option<String>,
    pub artist_percentage: Decimal,
    pub venue_percentage: Decimal,
    pub allow_transfers: bool,
    pub resaleable: bool,
    pub cancellation_deadline_hours: i32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub capacity: Option<i64>,
    pub min_price: Option<Decimal>,
}

/// The work of the tenant's outbox rows `ids` (the rows one claim gave this worker), in one
/// statement. A row that no longer exists is missing from the answer.
pub async fn load_many(tx: &mut TenantTx, ids: &[Uuid]) -> ApiResult<Vec<Work>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Work,
        r#"select o.id as outbox_id, o.status, o.locked_by, o.instruction_data, o.venue_pda, o.pending_tx,
                o.pending_blockhash, e.deleted_at is not null as "deleted!", e.venue_id as "venue_id?", e.name,
                e.description, e.short_description, e.banner_image_url, e.chain_event_id,
                e.artist_wallet, e.artist_percentage, e.venue_percentage, e.allow_transfers,
                e.resaleable, e.cancellation_deadline_hours,
                (select min(s.starts_at) from event_schedules s
                  where s.tenant_id = $1 and s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null)
                  as starts_at,
                (select max(s.ends_at) from event_schedules s
                  where s.tenant_id = $1 and s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null)
                  as ends_at,
                (select sum(c.total_capacity)::bigint from event_capacity c
                  where c.tenant_id = $1 and c.tenant_id = e.tenant_id and c.event_id = e.id and c.deleted_at is null
                    and c.is_active) as capacity,
                (select min(p.base_price) from event_pricing p
                  where p.tenant_id = $1 and p.tenant_id = e.tenant_id and p.event_id = e.id and p.deleted_at is null
                    and p.is_active) as min_price
           from blockchain_outbox o
          -- Each claimed row's event by primary key. `offset 0` keeps the planner from joining
          -- the other way round, from all the tenant's events to their outbox rows, which it
          -- did whenever the statistics put the tenant at one row (a tenant that grew by a
          -- backlog since the last ANALYZE): 9-15 ms and ~10,000 buffers per claim.
          cross join lateral (select * from events e where e.tenant_id = o.tenant_id and e.id = o.event_id offset 0) e
          where o.tenant_id = $1 and o.id = any($2)"#,
        tenant,
        ids,
    )
    .fetch_all(tx.conn())
    .await?)
}

/// A signed transaction about to be sent, and what it was built from.
#[derive(Debug, Clone)]
pub struct Sent {
    pub outbox_id: Uuid,
    pub instruction_data: Vec<u8>,
    pub venue_pda: String,
    pub event_pda: String,
    pub signed: Vec<u8>,
    pub blockhash: String,
    pub signature: String,
}

// The writes below are fenced per row: a row is written only while it is `processing` under
// `worker`'s lease, and each answers whether it wrote (false: another worker owns the row now).
// The worker runs many of them in one transaction per tenant (`jobs::registration::group_writes`).
// The two frequent ones (a signed transaction stored, a registration synced) take a whole group
// in one call of a PL/pgSQL function that runs the single-row statement for each row in the
// server (migration `20261206000007`): one round trip per group instead of one per row. Not one
// statement over arrays: array forms of these updates (`UPDATE ... FROM unnest(...)`, or values
// picked by `array_position`) crashed the Citus 13.2 coordinator with a segmentation fault, and
// a due time computed from `now()` and a per-row value is refused there.
//
// The fence compares the status `collate "C"` (the same equality for these ASCII values), which
// keeps the planner from proving the predicate of `blockchain_outbox_due_idx` (pending and
// processing rows): statistics taken while the outbox was empty (the usual state) made it read
// that index, and with it every row of a backlog, once per statement, instead of the primary
// key (the worker slowed down as the backlog grew: 1,270/s with 5,272 queued against 1,912/s
// with 2,007 in the same kind of run).

/// Stores signed transactions before they are sent, with the instruction bytes and derived
/// addresses each carries (unchanged after the first send: later sends reuse the stored ones).
/// Answers the outbox ids written.
pub async fn store_pending(tx: &mut TenantTx, worker: &str, rows: &[&Sent]) -> ApiResult<Vec<Uuid>> {
    let tenant = *tx.tenant().as_uuid();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.outbox_id).collect();
    let instructions: Vec<Vec<u8>> = rows.iter().map(|r| r.instruction_data.clone()).collect();
    let venues: Vec<String> = rows.iter().map(|r| r.venue_pda.clone()).collect();
    let events: Vec<String> = rows.iter().map(|r| r.event_pda.clone()).collect();
    let signed: Vec<Vec<u8>> = rows.iter().map(|r| r.signed.clone()).collect();
    let blockhashes: Vec<String> = rows.iter().map(|r| r.blockhash.clone()).collect();
    let signatures: Vec<String> = rows.iter().map(|r| r.signature.clone()).collect();
    Ok(sqlx::query_scalar!(
        r#"select id as "id!" from registration_store_pending($1, $2, $3, $4, $5, $6, $7, $8, $9) as id"#,
        tenant,
        worker,
        &ids,
        &instructions,
        &venues,
        &events,
        &signed,
        &blockhashes,
        &signatures,
    )
    .fetch_all(tx.conn())
    .await?)
}

/// An event account that exists: its outbox row and its event.
#[derive(Debug, Clone)]
pub struct Synced {
    pub outbox_id: Uuid,
    pub event_pda: String,
    pub signature: Option<String>,
}

/// The event accounts exist: the rows are `synced` and their events carry the PDA and the
/// signature. Answers the outbox ids written.
pub async fn mark_synced(tx: &mut TenantTx, worker: &str, rows: &[&Synced]) -> ApiResult<Vec<Uuid>> {
    let tenant = *tx.tenant().as_uuid();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.outbox_id).collect();
    let pdas: Vec<String> = rows.iter().map(|r| r.event_pda.clone()).collect();
    let signatures: Vec<Option<String>> = rows.iter().map(|r| r.signature.clone()).collect();
    Ok(sqlx::query_scalar!(
        r#"select id as "id!" from registration_mark_synced($1, $2, $3, $4, $5) as id"#,
        tenant,
        worker,
        &ids,
        &pdas,
        &signatures as &[Option<String>],
    )
    .fetch_all(tx.conn())
    .await?)
}

/// The registration will not succeed: the row is `failed` with `reason`, and so is the event.
pub async fn mark_failed(tx: &mut TenantTx, worker: &str, outbox_id: Uuid, reason: &str) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    let event = sqlx::query_scalar!(
        r#"update blockchain_outbox set status = 'failed', last_error = $4, locked_by = null,
                    locked_until = null, pending_tx = null, pending_blockhash = null
              where tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing' collate "C"
          returning event_id"#,
        tenant,
        outbox_id,
        worker,
        reason,
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(event) = event else { return Ok(false) };
    sqlx::query!(
        "update events set blockchain_status = 'failed', blockchain_error = $3 where tenant_id = $1 and id = $2",
        tenant,
        event,
        reason,
    )
    .execute(tx.conn())
    .await?;
    Ok(true)
}

/// The tenant's rows that went back to `pending` from `since` on and wait for a later attempt
/// are due now (the worker's pull-forward after an RPC outage). Plain `status = 'pending'` here:
/// the due index (pending rows by `next_attempt_at`) is the right one for this look-up.
pub async fn pull_forward(tx: &mut TenantTx, since: DateTime<Utc>) -> ApiResult<u64> {
    let tenant = *tx.tenant().as_uuid();
    let done = sqlx::query!(
        "update blockchain_outbox set next_attempt_at = now()
          where tenant_id = $1 and status = 'pending' and next_attempt_at > now() and updated_at >= $2",
        tenant,
        since,
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// A registration to try again later.
#[derive(Debug, Clone)]
pub struct Retry {
    pub outbox_id: Uuid,
    pub reason: String,
    pub backoff_secs: f64,
    /// False gives the attempt back.
    pub counts: bool,
}

/// Back to `pending`, due after its backoff. The event stays `pending` (the reason is on the
/// outbox row, where `GET .../pda` shows it).
pub async fn mark_retry(tx: &mut TenantTx, worker: &str, row: &Retry) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    let done = sqlx::query!(
        r#"update blockchain_outbox set status = 'pending', last_error = $4, locked_by = null,
                    locked_until = null, next_attempt_at = now() + make_interval(secs => $5),
                    attempts = case when $6 then attempts else greatest(attempts - 1, 0) end
              where tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing' collate "C""#,
        tenant,
        row.outbox_id,
        worker,
        row.reason,
        row.backoff_secs,
        row.counts,
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The outbox side of an event's registration, read straight into its response shape.
pub async fn registration_state(tx: &mut TenantTx, event_id: Uuid) -> ApiResult<Option<Registration>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Registration,
        "select status, attempts, last_error, next_attempt_at, last_attempt_at, completed_at,
                tx_signature as signature, event_pda, venue_pda
           from blockchain_outbox where tenant_id = $1 and event_id = $2",
        tenant,
        event_id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// Puts the tenant's `failed` rows (one event's, or all) back in the queue with a fresh attempt
/// budget and the event back to `pending`; returns their event ids. The stored instruction is
/// dropped, so data fixed since is picked up.
pub async fn requeue_failed(tx: &mut TenantTx, event_id: Option<Uuid>) -> ApiResult<Vec<Uuid>> {
    let tenant = *tx.tenant().as_uuid();
    let ids: Vec<Uuid> = sqlx::query_scalar!(
        "update blockchain_outbox
            set status = 'pending', attempts = 0, next_attempt_at = now(), last_error = null,
                locked_by = null, locked_until = null, instruction_data = null, venue_pda = null,
                pending_tx = null, pending_blockhash = null
          where tenant_id = $1 and status = 'failed' and ($2::uuid is null or event_id = $2)
          returning event_id",
        tenant,
        event_id,
    )
    .fetch_all(tx.conn())
    .await?;
    sqlx::query!(
        "update events set blockchain_status = 'pending', blockchain_error = null where tenant_id = $1 and id = any($2)",
        tenant,
        &ids,
    )
    .execute(tx.conn())
    .await?;
    Ok(ids)
}

/// Depth per status and the age of the oldest row, across tenants (aggregates only).
pub async fn stats(tx: &mut SystemTx) -> ApiResult<Vec<(String, i64, f64)>> {
    let rows = sqlx::query!(
        r#"select status as "status!", depth as "depth!", oldest_age_seconds as "oldest_age_seconds!"
             from system_blockchain_outbox_stats()"#,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.depth, r.oldest_age_seconds)).collect())
}
