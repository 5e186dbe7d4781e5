//! An event as the API returns it: the `events` row, its first schedule and its capacity
//! totals. [`EventOut`] is the body and its schema; [`EventOut::for_caller`] makes the form a
//! caller may see, so which fields are privileged is written on the fields themselves
//! ([`Visible`]), not in a list of keys to delete.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::domain::EventStatus;
use crate::domain::event::{AccessibilityInfo, EventType, StreamingConfig, Visibility};
use crate::domain::schedule::ScheduleOut;
use crate::domain::wire_time;

/// A field some callers may not see. [`EventOut::for_caller`] withholds it from the others, and
/// a withheld field is absent from the body (not `null`, which would claim a value).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Visible<T> {
    Shown(T),
    #[default]
    Withheld,
}

impl<T> Visible<T> {
    pub fn is_withheld(&self) -> bool {
        matches!(self, Visible::Withheld)
    }

    pub fn shown(&self) -> Option<&T> {
        match self {
            Visible::Shown(v) => Some(v),
            Visible::Withheld => None,
        }
    }
}

impl<T: Serialize> Serialize for Visible<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Visible::Shown(v) => v.serialize(serializer),
            // Only reached when a container forgets `skip_serializing_if`.
            Visible::Withheld => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Visible<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Visible::Shown)
    }
}

impl<T> From<T> for Visible<T> {
    fn from(v: T) -> Self {
        Visible::Shown(v)
    }
}

/// On-chain registration of the event: `not_required` (nothing to register), then `pending`
/// until the worker reports `synced` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockchainStatus {
    NotRequired,
    Pending,
    Synced,
    Failed,
}

/// Seats over all sections of the event (0 without sections).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
pub struct CapacityInfo {
    pub total_capacity: i64,
    pub available_capacity: i64,
    pub reserved_capacity: i64,
    pub sold_count: i64,
}

/// An event: the `events` row plus its first schedule and capacity totals. Royalty and wallet
/// fields are returned to admins only, who-did-what and chain bookkeeping to the tenant's staff
/// only, and `streaming_config.stream_key` to admins only.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, ToSchema)]
#[schema(as = Event)]
pub struct EventOut {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub venue_id: Uuid,
    #[schema(required = true)]
    pub venue_layout_id: Option<Uuid>,
    pub name: String,
    /// The name, lower-cased with runs of other characters as `-`, plus the local start date.
    pub slug: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(required = true)]
    pub short_description: Option<String>,
    #[schema(value_type = EventType)]
    pub event_type: String,
    #[schema(required = true)]
    pub primary_category_id: Option<Uuid>,
    pub secondary_category_ids: Vec<Uuid>,
    pub tags: Vec<String>,
    #[schema(value_type = EventStatus)]
    pub status: String,
    #[schema(value_type = Visibility)]
    pub visibility: String,
    pub is_featured: bool,
    pub priority_score: i32,
    #[schema(required = true)]
    pub status_reason: Option<String>,
    /// The tenant's staff only (admins, or users who may update events).
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub status_changed_by: Visible<Option<String>>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub status_changed_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub banner_image_url: Option<String>,
    #[schema(required = true)]
    pub thumbnail_image_url: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    #[schema(required = true)]
    pub image_gallery: Option<Json<Value>>,
    #[schema(required = true)]
    pub video_url: Option<String>,
    /// The tenant's staff only (admins, or users who may update events).
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub virtual_event_url: Visible<Option<String>>,
    pub age_restriction: i32,
    #[schema(required = true)]
    pub dress_code: Option<String>,
    pub special_requirements: Vec<String>,
    #[schema(value_type = Option<AccessibilityInfo>)]
    #[schema(required = true)]
    pub accessibility_info: Option<Json<Value>>,
    pub is_virtual: bool,
    pub is_hybrid: bool,
    #[schema(required = true)]
    pub streaming_platform: Option<String>,
    /// The tenant's staff only (admins, or users who may update events).
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<StreamingConfig>)]
    #[sqlx(try_from = "Option<Json<Value>>")]
    pub streaming_config: Visible<Option<Json<Value>>>,
    #[schema(required = true)]
    pub cancellation_policy: Option<String>,
    #[schema(required = true)]
    pub refund_policy: Option<String>,
    pub cancellation_deadline_hours: i32,
    pub timezone: String,
    pub allow_transfers: bool,
    #[schema(required = true)]
    pub max_transfers_per_ticket: Option<i32>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub transfer_blackout_start: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub transfer_blackout_end: Option<DateTime<Utc>>,
    pub require_identity_verification: bool,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub artist_wallet: Visible<Option<String>>,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = f64)]
    #[sqlx(try_from = "f64")]
    pub artist_percentage: Visible<f64>,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = f64)]
    #[sqlx(try_from = "f64")]
    pub venue_percentage: Visible<f64>,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<f64>)]
    #[sqlx(try_from = "Option<f64>")]
    pub platform_percentage: Visible<Option<f64>>,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<f64>)]
    #[sqlx(try_from = "Option<f64>")]
    pub royalty_percentage: Visible<Option<f64>>,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<f64>)]
    #[sqlx(try_from = "Option<f64>")]
    pub max_resale_price_percentage: Visible<Option<f64>>,
    pub resaleable: bool,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub collection_address: Visible<Option<String>>,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub mint_authority: Visible<Option<String>>,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub merkle_tree_address: Visible<Option<String>>,
    /// Admins only.
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub collection_mint: Visible<Option<String>>,
    /// The tenant's staff only (admins, or users who may update events).
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = i64)]
    #[sqlx(try_from = "i64")]
    pub chain_event_id: Visible<i64>,
    #[schema(required = true)]
    pub event_pda: Option<String>,
    #[schema(value_type = BlockchainStatus)]
    pub blockchain_status: String,
    #[schema(required = true)]
    pub blockchain_tx_signature: Option<String>,
    /// The tenant's staff only (admins, or users who may update events).
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub blockchain_error: Visible<Option<String>>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub blockchain_synced_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub meta_title: Option<String>,
    #[schema(required = true)]
    pub meta_description: Option<String>,
    pub meta_keywords: Vec<String>,
    pub view_count: i32,
    pub interest_count: i32,
    pub share_count: i32,
    #[schema(required = true)]
    pub external_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Json<Value>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The tenant's staff only (admins, or users who may update events).
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub cancelled_by: Visible<Option<String>>,
    #[schema(required = true)]
    pub cancellation_reason: Option<String>,
    /// The tenant's staff only (admins, or users who may update events).
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub created_by: Visible<Option<String>>,
    /// The tenant's staff only (admins, or users who may update events).
    #[serde(default, skip_serializing_if = "Visible::is_withheld")]
    #[schema(value_type = Option<String>)]
    #[sqlx(try_from = "Option<String>")]
    pub updated_by: Visible<Option<String>>,
    #[serde(with = "wire_time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "wire_time")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Optimistic-lock version; every update increments it.
    pub version: i32,
    /// The first schedule's start, kept in the row for the platform's services that read `events` directly.
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub start_date: Option<DateTime<Utc>>,
    /// The first schedule's start (the same as `starts_at`).
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub event_date: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize", deserialize_with = "wire_time::option::deserialize")]
    #[schema(required = true)]
    pub doors_open: Option<DateTime<Utc>>,
    /// The first schedule.
    #[schema(value_type = Option<ScheduleOut>, required = true)]
    pub schedule: Option<Json<ScheduleOut>>,
    /// Seats over all sections; `null` without sections.
    #[schema(required = true)]
    pub capacity: Option<i64>,
    #[schema(required = true)]
    pub available_capacity: Option<i64>,
    #[schema(value_type = CapacityInfo)]
    pub capacity_info: Json<CapacityInfo>,
}

impl EventOut {
    /// The form `user` may see: admins see everything; the tenant's staff (who may update
    /// events) everything but the royalty, wallet and chain-account fields and the stream key;
    /// everyone else neither those nor the staff fields.
    pub fn for_caller(mut self, user: &AuthUser) -> Self {
        if user.is_admin() {
            return self;
        }
        self.artist_wallet = Visible::Withheld;
        self.artist_percentage = Visible::Withheld;
        self.venue_percentage = Visible::Withheld;
        self.platform_percentage = Visible::Withheld;
        self.royalty_percentage = Visible::Withheld;
        self.max_resale_price_percentage = Visible::Withheld;
        self.collection_address = Visible::Withheld;
        self.mint_authority = Visible::Withheld;
        self.merkle_tree_address = Visible::Withheld;
        self.collection_mint = Visible::Withheld;
        if let Visible::Shown(Some(Json(config))) = &mut self.streaming_config
            && let Some(config) = config.as_object_mut()
        {
            config.remove("stream_key");
        }
        if user.require("events:update").is_err() {
            self.virtual_event_url = Visible::Withheld;
            self.streaming_config = Visible::Withheld;
            self.created_by = Visible::Withheld;
            self.updated_by = Visible::Withheld;
            self.status_changed_by = Visible::Withheld;
            self.cancelled_by = Visible::Withheld;
            self.chain_event_id = Visible::Withheld;
            self.blockchain_error = Visible::Withheld;
        }
        self
    }
}

/// `{event}`, the envelope of one event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = EventEnvelope)]
pub struct EventEnvelope {
    pub event: EventOut,
}

/// `{events, pagination}`, a page of events.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventOut>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Pagination {
    pub limit: i64,
    pub offset: i64,
    /// Events matching the filters, over all pages.
    pub total: i64,
}
