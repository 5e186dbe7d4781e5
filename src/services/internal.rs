//! What the platform's other services ask of event-service over `/internal/...`, with the
//! field names and value formats they read (`reference/platform-contracts.md` §1.2).
//!
//! Each response type below is also its OpenAPI schema.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clients::tickets::TicketStats;
use crate::domain::event::{EventType, Visibility};
use crate::domain::event_out::{BlockchainStatus, EventOut};
use crate::domain::{EventStatus, TenantId, wire_time};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::blockchain_outbox::RegistrationState;
use crate::storage::internal::{self as store, EventCounts};

/// Whose data an internal call may reach, from its `X-Tenant-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A tenant UUID: only that tenant's events exist (another tenant's id is 404).
    Tenant(TenantId),
    /// No tenant (`system`, `default` or absent), on reads only: the event's own tenant is
    /// found through a system function, and the event is then read under RLS in that tenant.
    Platform,
}

/// `GET /internal/events/{id}`: `{event}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InternalEventEnvelope {
    pub event: InternalEvent,
}

/// The event in the camelCase shape other services consume; royalty fields included.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InternalEvent {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(required = true)]
    pub short_description: Option<String>,
    pub venue_id: Uuid,
    #[schema(required = true)]
    pub venue_layout_id: Option<Uuid>,
    #[schema(value_type = EventType)]
    pub event_type: String,
    #[schema(value_type = EventStatus)]
    pub status: String,
    #[schema(value_type = Visibility)]
    pub visibility: String,
    #[serde(serialize_with = "wire_time::option::serialize")]
    #[schema(required = true)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    #[schema(required = true)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    #[schema(required = true)]
    pub doors_open: Option<DateTime<Utc>>,
    pub timezone: String,
    #[schema(required = true)]
    pub banner_image_url: Option<String>,
    #[schema(required = true)]
    pub thumbnail_image_url: Option<String>,
    #[schema(required = true)]
    pub capacity: Option<i64>,
    pub is_virtual: bool,
    pub is_hybrid: bool,
    #[schema(required = true)]
    pub event_pda: Option<String>,
    #[schema(required = true)]
    pub artist_wallet: Option<String>,
    pub artist_percentage: f64,
    pub venue_percentage: f64,
    pub resaleable: bool,
    #[schema(required = true)]
    pub cancellation_policy: Option<String>,
    #[schema(required = true)]
    pub refund_policy: Option<String>,
    #[serde(with = "wire_time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "wire_time")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    #[schema(required = true)]
    pub published_at: Option<DateTime<Utc>>,
    #[schema(value_type = BlockchainStatus)]
    pub blockchain_status: String,
}

impl From<EventOut> for InternalEvent {
    fn from(e: EventOut) -> Self {
        InternalEvent {
            id: e.id,
            tenant_id: e.tenant_id,
            name: e.name,
            description: e.description,
            short_description: e.short_description,
            venue_id: e.venue_id,
            venue_layout_id: e.venue_layout_id,
            event_type: e.event_type,
            status: e.status,
            visibility: e.visibility,
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            doors_open: e.doors_open,
            timezone: e.timezone,
            banner_image_url: e.banner_image_url,
            thumbnail_image_url: e.thumbnail_image_url,
            capacity: e.capacity,
            is_virtual: e.is_virtual,
            is_hybrid: e.is_hybrid,
            event_pda: e.event_pda,
            artist_wallet: e.artist_wallet.shown().cloned().flatten(),
            artist_percentage: e.artist_percentage.shown().copied().unwrap_or_default(),
            venue_percentage: e.venue_percentage.shown().copied().unwrap_or_default(),
            resaleable: e.resaleable,
            cancellation_policy: e.cancellation_policy,
            refund_policy: e.refund_policy,
            created_at: e.created_at,
            updated_at: e.updated_at,
            published_at: e.published_at,
            blockchain_status: e.blockchain_status,
        }
    }
}

/// `GET /internal/events/{id}/pda`: the event's chain data and its registration state.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InternalEventPda {
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    #[schema(value_type = EventStatus)]
    pub status: String,
    pub venue_id: Uuid,
    pub blockchain: InternalBlockchain,
    /// `null` when the event never needed registration.
    #[schema(required = true)]
    pub registration: Option<Registration>,
    /// The event has both an event PDA and an artist wallet (the original's meaning).
    pub has_blockchain_config: bool,
}

/// The registration outbox row (see docs/solana.md).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// `pending`, `processing`, `synced` or `failed`.
    pub status: String,
    pub attempts: i32,
    #[schema(required = true)]
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    #[schema(required = true)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub signature: Option<String>,
    #[schema(required = true)]
    pub event_pda: Option<String>,
    #[schema(required = true)]
    pub venue_pda: Option<String>,
}

impl From<RegistrationState> for Registration {
    fn from(r: RegistrationState) -> Self {
        Registration {
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at,
            last_attempt_at: r.last_attempt_at,
            completed_at: r.completed_at,
            signature: r.tx_signature,
            event_pda: r.event_pda,
            venue_pda: r.venue_pda,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InternalBlockchain {
    #[schema(required = true)]
    pub event_pda: Option<String>,
    #[schema(required = true)]
    pub merkle_tree_address: Option<String>,
    #[schema(required = true)]
    pub collection_mint: Option<String>,
    #[schema(required = true)]
    pub artist_wallet: Option<String>,
    pub artist_percentage: f64,
    pub venue_percentage: f64,
    #[schema(required = true)]
    pub platform_percentage: Option<f64>,
    pub resaleable: bool,
    #[schema(required = true)]
    pub max_resale_price_percentage: Option<f64>,
    #[schema(value_type = BlockchainStatus)]
    pub status: String,
    #[schema(required = true)]
    pub signature: Option<String>,
    #[schema(required = true)]
    pub error: Option<String>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    #[schema(required = true)]
    pub synced_at: Option<DateTime<Utc>>,
}

/// The event's chain data (the full form: internal callers see the royalty fields).
pub async fn pda(state: &AppState, tenant: TenantId, id: Uuid) -> ApiResult<InternalEventPda> {
    let e = crate::services::events::get(state, tenant, id).await?;
    let registration =
        crate::services::registration::registration_state(state, tenant, id).await?.map(Registration::from);
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

/// Most events `/internal/events/active` lists.
const ACTIVE_LIMIT: i64 = 200;

/// The tenant an event belongs to, as far as this caller may know.
pub async fn tenant_of(state: &AppState, scope: Scope, event_id: Uuid) -> ApiResult<TenantId> {
    match scope {
        Scope::Tenant(tenant) => Ok(tenant),
        Scope::Platform => state
            .db
            .system("event_tenant", move |pool| async move { store::event_tenant(&pool, event_id).await })
            .await?
            .ok_or_else(|| ApiError::not_found("Event")),
    }
}

/// `GET /internal/events/:id/status`, read by order-service's refund eligibility.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventStatusOut {
    pub event_id: Uuid,
    /// The lifecycle state (`CANCELLED` for a deleted event).
    pub status: String,
    pub is_cancelled: bool,
    pub is_postponed: bool,
    pub is_rescheduled: bool,
    /// The start the event had when it was last postponed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_date: Option<DateTime<Utc>>,
    /// The current start, once rescheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_date: Option<DateTime<Utc>>,
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

/// `GET /internal/events/:id/transfer-restrictions`, read by ticket-service before a transfer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferRestrictionsOut {
    /// False as well for cancelled, completed and deleted events.
    pub allow_transfers: bool,
    pub require_identity_verification: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_transfers_per_ticket: Option<i32>,
    /// This service keeps no transfer deadline; always absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_deadline_hours: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_blackout_start: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_blackout_end: Option<DateTime<Utc>>,
    /// The first schedule's start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<DateTime<Utc>>,
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

/// `GET /internal/events/metrics?periodDays=N`, read by monitoring-service (`totalEvents`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventMetricsOut {
    /// Events created in the period (not deleted).
    pub total_events: i64,
    /// Of those, events that were ever published.
    pub published_events: i64,
    /// Of those, events whose first schedule starts in the future.
    pub upcoming_events: i64,
    /// Of those, events whose last schedule has ended.
    pub past_events: i64,
    pub period_days: i32,
    pub collected_at: DateTime<Utc>,
}

pub async fn metrics(state: &AppState, scope: Scope, period_days: i32) -> ApiResult<EventMetricsOut> {
    let counts: EventCounts = match scope {
        Scope::Tenant(tenant) => {
            state.db.read(tenant, move |tx| async move { store::tenant_counts(tx, period_days).await }.boxed()).await?
        }
        Scope::Platform => {
            state
                .db
                .system("event_metrics", move |pool| async move { store::platform_counts(&pool, period_days).await })
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

/// One entry of `/internal/events/active`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveEventOut {
    pub id: Uuid,
    pub name: String,
    /// Seats in the event's active sections.
    pub total_tickets: i64,
    pub tickets_sold: i64,
    pub remaining_tickets: i64,
    /// The earliest sales start of its active price tiers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sale_start: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sale_end: Option<DateTime<Utc>>,
}

/// `GET /internal/events/active`: events on sale, read by monitoring-service every 30 s.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActiveEventsOut {
    pub events: Vec<ActiveEventOut>,
    pub count: usize,
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
                .system("active_events", move |pool| async move {
                    store::active_event_ids(&pool, ACTIVE_LIMIT as i32).await
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

/// `event` of scan-stats.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanEventOut {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    #[schema(value_type = EventStatus)]
    pub status: String,
    pub venue_id: Uuid,
    #[serde(serialize_with = "wire_time::option::serialize")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    pub doors_open: Option<DateTime<Utc>>,
    pub timezone: String,
    /// Seats across the event's sections.
    pub capacity: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanMetricsOut {
    /// Validated tickets as a percentage of sold tickets (0-100, rounded).
    pub entry_rate: i64,
    /// Sold tickets as a percentage of capacity (0-100, rounded), read by the shared client's
    /// `getCapacityUtilization`.
    pub capacity_utilization: i64,
    /// Capacity minus sold; null without capacity.
    pub available_capacity: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTimingOut {
    pub is_upcoming: bool,
    pub is_ongoing: bool,
    pub is_past: bool,
    pub doors_are_open: bool,
    pub minutes_until_start: Option<i64>,
    pub minutes_since_end: Option<i64>,
}

/// `GET /internal/events/:id/scan-stats`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanStatsOut {
    pub event: ScanEventOut,
    #[schema(value_type = Object)]
    pub ticket_stats: TicketStats,
    pub metrics: ScanMetricsOut,
    pub event_timing: EventTimingOut,
    /// `ticket-service`, or `unavailable` when its counts could not be had (then zeros, as the
    /// original reported).
    pub ticket_stats_source: &'static str,
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
