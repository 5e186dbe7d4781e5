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
}

/// Claims up to `batch` due rows across tenants (or only `tenants`) for `lease_secs`.
pub async fn claim(
    tx: &mut SystemTx,
    worker: &str,
    batch: i32,
    lease_secs: i32,
    tenants: Option<&[Uuid]>,
) -> ApiResult<Vec<Claim>> {
    Ok(sqlx::query_as!(
        Claim,
        r#"select tenant_id as "tenant_id!", outbox_id as "outbox_id!", event_id as "event_id!",
                  attempts as "attempts!"
             from system_claim_blockchain_outbox($1, $2, $3, $4)"#,
        worker,
        batch,
        lease_secs,
        tenants,
    )
    .fetch_all(tx.conn())
    .await?)
}

/// What the event row and the outbox row hold for one attempt.
#[derive(Debug, FromRow)]
pub struct Work {
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

pub async fn load(tx: &mut TenantTx, outbox_id: Uuid) -> ApiResult<Option<Work>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Work,
        r#"select o.status, o.locked_by, o.instruction_data, o.venue_pda, o.pending_tx,
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
           join events e on e.tenant_id = o.tenant_id and e.id = o.event_id
          where o.tenant_id = $1 and o.id = $2"#,
        tenant,
        outbox_id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// A signed transaction about to be sent, and what it was built from.
#[derive(Debug)]
pub struct Sent {
    pub outbox_id: Uuid,
    pub worker: String,
    pub instruction_data: Vec<u8>,
    pub venue_pda: String,
    pub event_pda: String,
    pub signed: Vec<u8>,
    pub blockhash: String,
    pub signature: String,
}

/// Stores a signed transaction before it is sent, with the instruction bytes and derived
/// addresses it carries (unchanged after the first send: later sends reuse the stored ones).
/// Fenced.
pub async fn store_pending(tx: &mut TenantTx, sent: &Sent) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    let done = sqlx::query!(
        "update blockchain_outbox set instruction_data = $4, venue_pda = $5, event_pda = $6,
                pending_tx = $7, pending_blockhash = $8, tx_signature = $9, last_attempt_at = now()
          where tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing'",
        tenant,
        sent.outbox_id,
        sent.worker,
        sent.instruction_data,
        sent.venue_pda,
        sent.event_pda,
        sent.signed,
        sent.blockhash,
        sent.signature,
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The event account exists: the row is `synced` and the event carries its PDA. Fenced.
pub async fn mark_synced(
    tx: &mut TenantTx,
    claim: &Claim,
    worker: &str,
    event_pda: &str,
    signature: Option<&str>,
) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    let done = sqlx::query!(
        "update blockchain_outbox set status = 'synced', completed_at = now(), last_error = null,
                event_pda = $4, tx_signature = coalesce($5, tx_signature), pending_tx = null,
                pending_blockhash = null, locked_by = null, locked_until = null
          where tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing'",
        tenant,
        claim.outbox_id,
        worker,
        event_pda,
        signature,
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if done == 1 {
        sqlx::query!(
            "update events e set blockchain_status = 'synced', event_pda = o.event_pda,
                    blockchain_tx_signature = o.tx_signature, blockchain_error = null,
                    blockchain_synced_at = now()
               from blockchain_outbox o
              where e.tenant_id = $1 and e.id = $2 and o.tenant_id = e.tenant_id and o.event_id = e.id",
            tenant,
            claim.event_id,
        )
        .execute(tx.conn())
        .await?;
    }
    Ok(done == 1)
}

/// The registration will not succeed: the row is `failed` with `reason`, and so is the event.
/// Fenced.
pub async fn mark_failed(tx: &mut TenantTx, claim: &Claim, worker: &str, reason: &str) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    let done = sqlx::query!(
        "update blockchain_outbox set status = 'failed', last_error = $4, locked_by = null,
                locked_until = null, pending_tx = null, pending_blockhash = null
          where tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing'",
        tenant,
        claim.outbox_id,
        worker,
        reason,
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if done == 1 {
        sqlx::query!(
            "update events set blockchain_status = 'failed', blockchain_error = $3 where tenant_id = $1 and id = $2",
            tenant,
            claim.event_id,
            reason,
        )
        .execute(tx.conn())
        .await?;
    }
    Ok(done == 1)
}

/// Back to `pending`, due after `backoff_secs`; `counts` false gives the attempt back. The event
/// stays `pending` (the reason is on the outbox row, where `GET .../pda` shows it). Fenced.
pub async fn mark_retry(
    tx: &mut TenantTx,
    claim: &Claim,
    worker: &str,
    reason: &str,
    backoff_secs: f64,
    counts: bool,
) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    let done = sqlx::query!(
        "update blockchain_outbox set status = 'pending', last_error = $4, locked_by = null,
                locked_until = null, next_attempt_at = now() + make_interval(secs => $5),
                attempts = case when $6 then attempts else greatest(attempts - 1, 0) end
          where tenant_id = $1 and id = $2 and locked_by = $3 and status = 'processing'",
        tenant,
        claim.outbox_id,
        worker,
        reason,
        backoff_secs,
        counts,
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
