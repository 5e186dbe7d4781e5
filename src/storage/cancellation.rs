//! SQL of an event's cancellation (`services/cancellation.rs` runs it in one tenant transaction
//! with the status change and the outbox message).

use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::storage::TenantTx;

/// The event's active holds, locked until the transaction ends: `(hold id, quantity)`.
pub async fn lock_active_holds(tx: &mut TenantTx, event_id: Uuid) -> ApiResult<Vec<(Uuid, i32)>> {
    let tenant = *tx.tenant().as_uuid();
    let rows = sqlx::query!(
        "select id, quantity from event_reservations
          where tenant_id = $1 and event_id = $2 and status = 'active' for update",
        tenant,
        event_id,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.quantity)).collect())
}

/// Stops every live section of the event from selling; returns how many were open.
pub async fn close_sections(tx: &mut TenantTx, event_id: Uuid) -> ApiResult<u64> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query!(
        "update event_capacity set is_active = false
          where tenant_id = $1 and event_id = $2 and is_active and deleted_at is null",
        tenant,
        event_id,
    )
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// What a cancellation did, for the audit log and `event_cancellation_reports`.
pub struct Report<'a> {
    pub reason: &'a str,
    pub refund_policy: &'a str,
    pub notify_customers: bool,
    pub cancelled_by: &'a str,
    pub holds_released: i32,
    pub seats_released: i32,
    pub sections_closed: i32,
    pub tickets_sold: i32,
    /// The same facts as JSON, as the audit log stores them.
    pub details: &'a Value,
}

pub async fn record(tx: &mut TenantTx, event_id: Uuid, r: &Report<'_>) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    sqlx::query!(
        "insert into event_audit_log (tenant_id, event_id, action, actor, details)
         values ($1, $2, 'CANCEL', $3, $4)",
        tenant,
        event_id,
        r.cancelled_by,
        r.details,
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "insert into event_cancellation_reports (tenant_id, event_id, reason, refund_policy, notify_customers,
                cancelled_by, holds_released, seats_released, sections_closed, tickets_sold)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        tenant,
        event_id,
        r.reason,
        r.refund_policy,
        r.notify_customers,
        r.cancelled_by,
        r.holds_released,
        r.seats_released,
        r.sections_closed,
        r.tickets_sold,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
