//! What the platform's other services read from `/internal/...`: the camelCase shapes and
//! value formats they consume (`reference/platform-contracts.md` §1.2). Each type is the body
//! and its schema.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::clients::tickets::TicketStats;
use crate::domain::event::{EventType, Visibility, is_solana_address};
use crate::domain::event_out::{BlockchainStatus, EventOut};
use crate::domain::{EventStatus, wire_time};
use crate::error::FieldError;

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

/// The registration outbox row of an event (see docs/solana.md), as `GET .../pda` returns it.
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

/// The outcome of an on-chain registration done elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    Synced,
    Failed,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Synced => "synced",
            SyncStatus::Failed => "failed",
        }
    }
}

/// The body of `PUT /internal/events/{id}/blockchain-status` (the shared client's
/// `updateBlockchainStatus`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlockchainStatusUpdate {
    pub status: SyncStatus,
    /// A base58 address; required when `status` is `synced`.
    #[schema(pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")]
    pub event_pda: Option<String>,
    #[schema(max_length = 100)]
    pub signature: Option<String>,
    /// Kept when `status` is `failed`.
    pub error: Option<String>,
    /// Default now, for `synced`.
    pub synced_at: Option<DateTime<Utc>>,
}

impl BlockchainStatusUpdate {
    /// The rules the schema states (422 otherwise).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.status == SyncStatus::Synced && self.event_pda.is_none() {
            errors.push(FieldError::new("eventPda", "REQUIRED_FIELD", "is required when status is synced"));
        }
        if self.event_pda.as_deref().is_some_and(|p| !is_solana_address(p)) {
            errors.push(FieldError::new("eventPda", "INVALID_FORMAT", "must be a base58 address"));
        }
        if self.signature.as_deref().is_some_and(|s| s.len() > 100) {
            errors.push(FieldError::new("signature", "STRING_TOO_LONG", "must be at most 100 characters"));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// What `PUT /internal/events/{id}/blockchain-status` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockchainStatusResult {
    pub success: bool,
    pub event_id: Uuid,
    /// `synced` or `failed`.
    #[schema(value_type = String)]
    pub status: &'static str,
    #[schema(required = true)]
    pub event_pda: Option<String>,
    /// `blockchain status set to <status>`.
    pub message: String,
}
