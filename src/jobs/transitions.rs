//! Time-based lifecycle transitions: PUBLISHED -> ON_SALE when a price tier's sales window
//! opens, ON_SALE -> SALES_PAUSED when every window has closed, ON_SALE/SOLD_OUT/SALES_PAUSED
//! -> IN_PROGRESS at the first schedule's start, IN_PROGRESS -> COMPLETED after the last
//! schedule's end.
//!
//! System context: `system_due_event_transitions` (SECURITY DEFINER, ids only) finds due
//! events across tenants; each transition then runs in its own tenant's transaction as a
//! compare-and-set through the state machine, with its history row. Also purges expired
//! idempotency keys.

use futures::FutureExt;
use futures::future::BoxFuture;
use uuid::Uuid;

use crate::domain::{EventAction, EventStatus, TenantId};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::storage::TenantTx;
use crate::storage::events as store;
use crate::storage::jobs as jobs_store;

pub const BATCH: i64 = 1000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub due: usize,
    pub applied: usize,
    /// Already moved by someone else (another replica, a user) since discovery.
    pub skipped: usize,
    pub failed: usize,
    pub purged_keys: usize,
}

/// One compare-and-set transition as a unit of tenant work.
fn transition(
    event: Uuid,
    from: EventStatus,
    action: EventAction,
) -> impl for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, ApiResult<bool>> + Send + Sync {
    move |tx| store::transition(tx, event, from, action, Some("scheduled transition"), "system-job").boxed()
}

pub async fn run_once(state: &AppState, batch: i64) -> ApiResult<Report> {
    let due = state
        .db
        .system("due_transitions", move |tx| async move { jobs_store::due_transitions(tx, batch as i32).await }.boxed())
        .await?;
    let mut report = Report { due: due.len(), ..Report::default() };
    for (tenant, event, status, action) in due {
        let (Ok(from), Ok(action)) = (status.parse::<EventStatus>(), action.parse::<EventAction>()) else {
            report.failed += 1;
            continue;
        };
        let tenant = TenantId::from_uuid(tenant);
        let result = state.db.write(tenant, transition(event, from, action)).await;
        match result {
            Ok(true) => {
                report.applied += 1;
                metrics::counter!("event_transitions_total", "action" => action.as_str(), "source" => "job")
                    .increment(1);
                state.cache.delete(tenant, &[&crate::services::events::event_key(event)]).await;
            }
            Ok(false) => report.skipped += 1,
            Err(e) => {
                report.failed += 1;
                tracing::warn!(event.id = %event, tenant.id = %tenant, error = %e, "scheduled transition failed");
            }
        }
    }
    report.purged_keys = state
        .db
        .system("purge_idempotency_keys", move |tx| {
            async move { Ok(jobs_store::purge_idempotency_keys(tx, batch as i32).await? as usize) }.boxed()
        })
        .await?;
    if report.due > 0 || report.purged_keys > 0 {
        tracing::info!(
            due = report.due,
            applied = report.applied,
            skipped = report.skipped,
            failed = report.failed,
            purged_keys = report.purged_keys,
            "event transitions run"
        );
    }
    Ok(report)
}
