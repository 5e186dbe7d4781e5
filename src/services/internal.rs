//! What the platform's other services ask of event-service over `/internal/...`; the shapes
//! they read are in `domain::internal`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use uuid::Uuid;

use crate::clients::tickets::TicketStats;
use crate::domain::TenantId;
use crate::domain::internal::{
    ActiveEventOut, ActiveEventsOut, BlockchainStatusResult, BlockchainStatusUpdate, EventMetricsOut, EventStatusOut,
    EventTimingOut, InternalBlockchain, InternalEventPda, ScanEventOut, ScanMetricsOut, ScanStatsOut, SyncStatus,
    TransferRestrictionsOut,
};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::internal::{self as store, ChainOutcome, EventCounts};

/// Whose data an internal call may reach, from its `X-Tenant-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A tenant UUID: only that tenant's events exist (another tenant's id is 404).
    Tenant(TenantId),
    /// No tenant (`system`, `default` or absent), on reads only: the event's own tenant is
    /// found through a system function, and the event is then read under RLS in that tenant.
    Platform,
}

/// The event's chain data (the full form: internal callers see the royalty fields).
pub async fn pda(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<InternalEventPda> {
    let e = crate::services::events::get(state, tenant, id).await?;
    let registration = crate::services::registration::registration_state(state, tenant, id).await?;
    let artist_wallet = e.artist_wallet.shown().cloned().flatten();
    // The original's meaning: registered on chain *and* with an artist to pay royalties to.
    let has_blockchain_config = artist_wallet.is_some() && e.event_pda.is_some();
    Ok(InternalEventPda {
        event_id: e.id,
        tenant_id: e.tenant_id,
        name: e.name,
        status: e.status,
        venue_id: e.venue_id,
        blockchain: InternalBlockchain {
            event_pda: e.event_pda,
            merkle_tree_address: e.merkle_tree_address.shown().cloned().flatten(),
            collection_mint: e.collection_mint.shown().cloned().flatten(),
            artist_wallet,
            artist_percentage: e.artist_percentage.shown().copied().unwrap_or_default(),
            venue_percentage: e.venue_percentage.shown().copied().unwrap_or_default(),
            platform_percentage: e.platform_percentage.shown().copied().flatten(),
            resaleable: e.resaleable,
            max_resale_price_percentage: e.max_resale_price_percentage.shown().copied().flatten(),
            status: e.blockchain_status,
            signature: e.blockchain_tx_signature,
            error: e.blockchain_error.shown().cloned().flatten(),
            synced_at: e.blockchain_synced_at,
        },
        registration,
        has_blockchain_config,
    })
}

/// Records a registration outcome reported by another service on the event, and keeps the
/// registration outbox in step so the worker does not register the event again.
pub async fn record_chain_outcome(
    state: &AppState,
    tenant: TenantId,
    id: Uuid,
    actor: &str,
    update: BlockchainStatusUpdate,
) -> ApiResult<BlockchainStatusResult> {
    update.validate().map_err(ApiError::unprocessable)?;
    let status = update.status;
    let actor = actor.to_owned();
    let event_pda = state
        .db
        .write(tenant, move |tx| {
            let (update, actor) = (update.clone(), actor.clone());
            async move {
                let outcome = ChainOutcome {
                    synced: update.status == SyncStatus::Synced,
                    event_pda: update.event_pda.as_deref(),
                    signature: update.signature.as_deref(),
                    error: update.error.as_deref(),
                    synced_at: update.synced_at,
                    actor: &actor,
                };
                store::record_chain_outcome(tx, id, &outcome).await?.ok_or_else(|| ApiError::not_found("Event"))
            }
            .boxed()
        })
        .await?;
    state.cache.delete(tenant, &[&crate::services::events::event_key(id)]).await;
    Ok(BlockchainStatusResult {
        success: true,
        event_id: id,
        status: status.as_str(),
        event_pda,
        message: format!("blockchain status set to {}", status.as_str()),
    })
}

/// Most events `/internal/events/active` lists.
const ACTIVE_LIMIT: i64 = 200;

/// The tenant an event belongs to, as far as this caller may know.
pub async fn tenant_of(state: &AppState, scope: Scope, event_id: Uuid) -> ApiResult<TenantId> {
    match scope {
        Scope::Tenant(tenant) => Ok(tenant),
        Scope::Platform => state
            .db
            .system("event_tenant", move |tx| async move { store::event_tenant(tx, event_id).await }.boxed())
            .await?
            .ok_or_else(|| ApiError::not_found("Event")),
    }
}

pub async fn status(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<EventStatusOut> {
    let facts = state
        .db
        .read(tenant, move |tx| async move { store::status_facts(tx, id).await }.boxed())
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    // Deleting an event cancels it (the original set CANCELLED on delete); a caller judging
    // refunds must see that, not a 404 that it would read as "normal policy".
    let status = if facts.deleted { "CANCELLED".to_owned() } else { facts.status };
    let is_cancelled = status == "CANCELLED";
    let is_rescheduled = facts.was_rescheduled && !is_cancelled;
    Ok(EventStatusOut {
        event_id: id,
        is_postponed: status == "POSTPONED",
        is_cancelled,
        is_rescheduled,
        original_date: facts.postponed_from,
        new_date: if is_rescheduled { facts.current_start } else { None },
        status,
    })
}

pub async fn transfer_restrictions(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<TransferRestrictionsOut> {
    let f = state
        .db
        .read(tenant, move |tx| async move { store::transfer_facts(tx, id).await }.boxed())
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    // ticket-service treats a 404 as "no restrictions": a deleted event must answer, and say no.
    let over = f.deleted || matches!(f.status.as_str(), "CANCELLED" | "COMPLETED");
    Ok(TransferRestrictionsOut {
        allow_transfers: f.allow_transfers && !over,
        require_identity_verification: f.require_identity_verification,
        max_transfers_per_ticket: f.max_transfers_per_ticket,
        transfer_deadline_hours: None,
        transfer_blackout_start: f.transfer_blackout_start,
        transfer_blackout_end: f.transfer_blackout_end,
        start_date: f.start_date,
    })
}

pub async fn metrics(state: &AppState, scope: Scope, period_days: i32) -> ApiResult<EventMetricsOut> {
    let counts: EventCounts = match scope {
        Scope::Tenant(tenant) => {
            state.db.read(tenant, move |tx| async move { store::tenant_counts(tx, period_days).await }.boxed()).await?
        }
        Scope::Platform => {
            state
                .db
                .system("event_metrics", move |tx| async move { store::platform_counts(tx, period_days).await }.boxed())
                .await?
        }
    };
    Ok(EventMetricsOut {
        total_events: counts.total_events,
        published_events: counts.published_events,
        upcoming_events: counts.upcoming_events,
        past_events: counts.past_events,
        period_days,
        collected_at: Utc::now(),
    })
}

pub async fn active(state: &AppState, scope: Scope) -> ApiResult<ActiveEventsOut> {
    let mut events = Vec::new();
    match scope {
        Scope::Tenant(tenant) => {
            events = state
                .db
                .read(tenant, move |tx| async move { store::active_events(tx, None, ACTIVE_LIMIT).await }.boxed())
                .await?;
        }
        Scope::Platform => {
            // Discover (tenant, id) pairs, then read each tenant's share under its own RLS.
            let found = state
                .db
                .system("active_events", move |tx| {
                    async move { store::active_event_ids(tx, ACTIVE_LIMIT as i32).await }.boxed()
                })
                .await?;
            let mut by_tenant: BTreeMap<TenantId, Vec<Uuid>> = BTreeMap::new();
            for (tenant, id) in found {
                by_tenant.entry(tenant).or_default().push(id);
            }
            for (tenant, ids) in by_tenant {
                let part = state
                    .db
                    .read(tenant, move |tx| {
                        let ids = ids.clone();
                        async move { store::active_events(tx, Some(&ids), ACTIVE_LIMIT).await }.boxed()
                    })
                    .await?;
                events.extend(part);
            }
        }
    }
    let events: Vec<ActiveEventOut> = events
        .into_iter()
        .map(|e| ActiveEventOut {
            id: e.id,
            name: e.name,
            total_tickets: e.total_tickets,
            tickets_sold: e.tickets_sold,
            remaining_tickets: e.remaining_tickets,
            sale_start: e.sale_start,
            sale_end: e.sale_end,
        })
        .collect();
    Ok(ActiveEventsOut { count: events.len(), events })
}

pub async fn scan_stats(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<ScanStatsOut> {
    let event = crate::services::events::get(state, tenant, id).await?;
    let (stats, source) = match state.tickets.stats(tenant, id).await {
        Some(stats) => (stats, "ticket-service"),
        None => (TicketStats::default(), "unavailable"),
    };
    let capacity = event.capacity.unwrap_or(0);
    Ok(ScanStatsOut {
        event_timing: timing(event.starts_at, event.ends_at, event.doors_open, Utc::now()),
        metrics: scan_metrics(&stats, capacity),
        event: ScanEventOut {
            id: event.id,
            tenant_id: event.tenant_id,
            name: event.name,
            status: event.status,
            venue_id: event.venue_id,
            starts_at: event.starts_at,
            ends_at: event.ends_at,
            doors_open: event.doors_open,
            timezone: event.timezone,
            capacity,
        },
        ticket_stats: stats,
        ticket_stats_source: source,
    })
}

/// The original's formulas (rounded percentages, capacity minus sold).
fn scan_metrics(stats: &TicketStats, capacity: i64) -> ScanMetricsOut {
    let percent =
        |part: i64, whole: i64| if whole > 0 { (part as f64 / whole as f64 * 100.0).round() as i64 } else { 0 };
    ScanMetricsOut {
        entry_rate: percent(stats.validated_tickets, stats.sold_tickets),
        capacity_utilization: percent(stats.sold_tickets, capacity),
        available_capacity: (capacity > 0).then(|| capacity - stats.sold_tickets),
    }
}

fn timing(
    starts: Option<DateTime<Utc>>,
    ends: Option<DateTime<Utc>>,
    doors: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> EventTimingOut {
    let minutes = |d: chrono::Duration| (d.num_milliseconds() as f64 / 60_000.0).round() as i64;
    EventTimingOut {
        is_upcoming: starts.is_some_and(|s| now < s),
        is_ongoing: matches!((starts, ends), (Some(s), Some(e)) if now >= s && now <= e),
        is_past: ends.is_some_and(|e| now > e),
        doors_are_open: doors.is_some_and(|d| now >= d),
        minutes_until_start: starts.map(|s| minutes(s - now)),
        minutes_since_end: ends.map(|e| minutes(now - e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_metrics_follow_the_original_formulas() {
        let stats = TicketStats { sold_tickets: 300, validated_tickets: 100, ..TicketStats::default() };
        let m = scan_metrics(&stats, 1000);
        assert_eq!((m.entry_rate, m.capacity_utilization, m.available_capacity), (33, 30, Some(700)));
        let none = scan_metrics(&TicketStats::default(), 0);
        assert_eq!((none.entry_rate, none.capacity_utilization, none.available_capacity), (0, 0, None));
    }

    #[test]
    fn timing_places_now_against_the_schedule() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let t = timing(
            Some(at("2026-06-01T20:00:00Z")),
            Some(at("2026-06-01T23:00:00Z")),
            Some(at("2026-06-01T19:00:00Z")),
            at("2026-06-01T19:30:00Z"),
        );
        assert!(t.is_upcoming && !t.is_ongoing && !t.is_past && t.doors_are_open);
        assert_eq!((t.minutes_until_start, t.minutes_since_end), (Some(30), Some(-210)));
        let none = timing(None, None, None, at("2026-06-01T19:30:00Z"));
        assert!(!none.is_upcoming && !none.is_ongoing && !none.is_past && !none.doors_are_open);
        assert_eq!((none.minutes_until_start, none.minutes_since_end), (None, None));
    }
}
