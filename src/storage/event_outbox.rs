//! SQL of the event-delivery outbox (`event_outbox`, migration `20261204000002`).
//!
//! Writers call [`enqueue`] inside the tenant transaction that makes the change, so a message
//! exists exactly when its change committed. The relay (`src/jobs/relay.rs`) works across
//! tenants through the `system_*_event_outbox` functions only.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use uuid::Uuid;

use crate::domain::messages::Message;
use crate::error::ApiResult;
use crate::storage::TenantTx;
use crate::storage::postgres::SystemTx;

/// Writes `messages` about `event_id`, in order, in the caller's transaction.
pub async fn enqueue(tx: &mut TenantTx, event_id: Uuid, messages: &[Message]) -> ApiResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let tenant = *tx.tenant().as_uuid();
    // One INSERT ... VALUES per message, in order (`seq` follows). A set-based insert from
    // `unnest` would save round trips, but Citus runs an INSERT whose rows do not come from a
    // co-located table through the coordinator with COPY, which row-level security refuses
    // (deploy/citus/README.md); a change writes one to three messages.
    for message in messages {
        sqlx::query!(
            "insert into event_outbox (tenant_id, event_id, exchange, routing_key, payload)
             values ($1, $2, $3, $4, $5)",
            tenant,
            event_id,
            message.exchange.name(),
            message.routing_key,
            &message.body,
        )
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// A message the relay holds a lease on.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub event_id: Uuid,
    pub seq: i64,
    pub exchange: String,
    pub routing_key: String,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
}

/// The oldest pending message of up to `limit` events (see the migration).
pub async fn claim(
    tx: &mut SystemTx,
    worker: &str,
    limit: i32,
    lease_seconds: i32,
    tenants: Option<&[Uuid]>,
) -> ApiResult<Vec<Claimed>> {
    Ok(sqlx::query_as!(
        Claimed,
        r#"select tenant_id as "tenant_id!", id as "id!", event_id as "event_id!", seq as "seq!",
                  exchange as "exchange!", routing_key as "routing_key!", payload as "payload!",
                  created_at as "created_at!", attempts as "attempts!"
             from system_claim_event_outbox($1, $2, $3, $4) order by seq"#,
        worker,
        limit,
        lease_seconds,
        tenants,
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Marks confirmed messages published (fenced on `worker`); returns how many were.
pub async fn finish(tx: &mut SystemTx, worker: &str, done: &[(Uuid, Uuid)]) -> ApiResult<i32> {
    let (tenants, ids): (Vec<Uuid>, Vec<Uuid>) = done.iter().copied().unzip();
    Ok(sqlx::query_scalar!(
        r#"select system_finish_event_outbox($1, $2, $3) as "system_finish_event_outbox!""#,
        worker,
        &tenants,
        &ids,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Hands a message back, due again after `delay_ms`.
pub async fn retry(
    tx: &mut SystemTx,
    worker: &str,
    tenant: Uuid,
    id: Uuid,
    error: &str,
    delay_ms: i32,
) -> ApiResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"select system_retry_event_outbox($1, $2, $3, $4, $5) as "system_retry_event_outbox!""#,
        worker,
        tenant,
        id,
        error,
        delay_ms,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// `(pending messages, age of the oldest in seconds)`.
pub async fn stats(tx: &mut SystemTx) -> ApiResult<(i64, f64)> {
    let row = sqlx::query!(
        r#"select pending as "pending!", oldest_age_seconds as "oldest_age_seconds!" from system_event_outbox_stats()"#,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((row.pending, row.oldest_age_seconds))
}

/// Deletes published messages older than `hours`, at most `limit`.
pub async fn purge(tx: &mut SystemTx, hours: i32, limit: i32) -> ApiResult<i32> {
    Ok(sqlx::query_scalar!(r#"select system_purge_event_outbox($1, $2) as "system_purge_event_outbox!""#, hours, limit)
        .fetch_one(tx.conn())
        .await?)
}
