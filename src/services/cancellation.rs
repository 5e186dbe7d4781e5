//! `POST /events/:eventId/cancel`: one transaction moves the event to CANCELLED through the
//! state machine, closes its sections, releases its active holds, and writes the history row,
//! an audit row, the cancellation report and an `event.cancelled` outbox record for the
//! services that own refunds, tickets and notifications. This service calls none of them.

use futures::FutureExt;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::EventAction;
use crate::domain::cancellation::{CancelRequest, CancellationReport, RefundPolicy};
use crate::domain::event_out::EventOut;
use crate::domain::messages::{self, Cancellation, Origin};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use crate::storage::cancellation as cancellation_store;
use crate::storage::capacity::{self as capacity_store, HoldEnd};
use crate::storage::event_outbox;
use crate::storage::events as store;

pub async fn cancel(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    req: CancelRequest,
) -> ApiResult<(EventOut, CancellationReport)> {
    let reason = req.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::unprocessable(vec![FieldError::new(
            "reason",
            "INVALID_LENGTH",
            "must be 1-1000 characters",
        )]));
    }
    let refund = match (req.refund_policy, req.trigger_refunds) {
        (Some(p), _) => p,
        (None, Some(false)) => RefundPolicy::None,
        (None, _) => RefundPolicy::Full,
    };
    let notify = req.notify_customers.unwrap_or(true);
    let actor = user.clone();
    let result = state
        .db
        .write(user.tenant, move |tx| {
            let (actor, reason) = (actor.clone(), reason.clone());
            async move {
                let current = store::lock(tx, event_id).await?;
                // The original let any tenant user cancel (defect 16): same rule as update.
                if !(actor.is_admin() || current.created_by.as_deref() == Some(actor.user_id.as_str())) {
                    return Err(ApiError::forbidden("only the event's creator or an admin may cancel it"));
                }
                if current.status.apply(EventAction::Cancel).is_none() {
                    return Err(store::invalid_transition(current.status, EventAction::Cancel));
                }
                store::transition(tx, event_id, current.status, EventAction::Cancel, Some(&reason), &actor.user_id)
                    .await?;
                let holds = cancellation_store::lock_active_holds(tx, event_id).await?;
                let mut seats_released = 0;
                for (hold, quantity) in &holds {
                    if capacity_store::end_hold(tx, *hold, HoldEnd::Release).await?.is_some() {
                        seats_released += quantity;
                    }
                }
                let sections_closed = cancellation_store::close_sections(tx, event_id).await? as i32;
                let sold = current.sold as i32;
                let report = CancellationReport {
                    reason: reason.clone(),
                    refund_policy: refund,
                    notify_customers: notify,
                    holds_released: holds.len() as i64,
                    seats_released: i64::from(seats_released),
                    sections_closed: i64::from(sections_closed),
                    tickets_sold: i64::from(sold),
                    previous_status: current.status,
                };
                let details = serde_json::to_value(&report).map_err(ApiError::internal)?;
                let row = cancellation_store::Report {
                    reason: &reason,
                    refund_policy: refund.as_str(),
                    notify_customers: notify,
                    cancelled_by: &actor.user_id,
                    holds_released: holds.len() as i32,
                    seats_released,
                    sections_closed,
                    tickets_sold: sold,
                    details: &details,
                };
                cancellation_store::record(tx, event_id, &row).await?;
                let event = store::find(tx, event_id).await?.ok_or_else(|| ApiError::not_found("Event"))?;
                let origin = Origin { tenant: tx.tenant(), actor: &actor.user_id, at: chrono::Utc::now() };
                let message = messages::cancelled(
                    &origin,
                    &Cancellation {
                        event_id,
                        venue_id: current.venue_id,
                        event_name: &event.name,
                        event_date: event.starts_at,
                        reason: &reason,
                        refund_policy: refund.as_str(),
                        notify_customers: notify,
                        tickets_sold: current.sold,
                    },
                );
                event_outbox::enqueue(tx, event_id, &[message]).await?;
                Ok((event, report))
            }
            .boxed()
        })
        .await?;
    state.cache.delete(user.tenant, &[&crate::services::events::event_key(event_id)]).await;
    let venue = result.0.venue_id;
    state.cache.delete(user.tenant, &[&crate::services::events::venue_events_key(venue)]).await;
    Ok(result)
}
