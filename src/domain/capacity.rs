//! Capacity: the request bodies of sections and holds, and the shapes the capacity routes
//! return (a section, a hold, totals, a check).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{Mode, wire_time};
use crate::error::FieldError;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RowConfig {
    #[schema(minimum = 1)]
    pub rows: i32,
    #[schema(minimum = 1)]
    pub seats_per_row: i32,
    /// One label per row.
    #[serde(default)]
    pub row_labels: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatMap {
    #[serde(rename = "type")]
    pub kind: SeatMapType,
    #[serde(default)]
    pub data: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeatMapType {
    Grid,
    Custom,
    Ga,
}

/// Section fields of the original. Counters are server-managed: the original let clients
/// overwrite them (defect 17), so sending one is refused rather than silently dropped.
///
/// In the API description the counters are left out (sending one is an error: 422
/// `SERVER_MANAGED_FIELD`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = SectionUpdate,
    description = "A capacity section's fields; absent or `null` keeps the value on update. The counters \
        (`available_capacity`, `reserved_capacity`, `sold_count`) are the service's: sending one is \
        refused with 422 `SERVER_MANAGED_FIELD`."
)]
pub struct SectionFields {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100)]
    pub section_name: Option<String>,
    #[schema(max_length = 20)]
    pub section_code: Option<String>,
    #[schema(max_length = 50)]
    pub tier: Option<String>,
    /// The sections of an event together must fit the venue's capacity (422
    /// `EXCEEDS_VENUE_CAPACITY`); not below the seats held, sold and buffered.
    #[schema(minimum = 1, maximum = 1000000)]
    pub total_capacity: Option<i32>,
    /// Less than `total_capacity`.
    #[schema(minimum = 0)]
    pub buffer_capacity: Option<i32>,
    /// Create only: a schedule of the same event.
    pub schedule_id: Option<Uuid>,
    pub row_config: Option<RowConfig>,
    pub seat_map: Option<SeatMap>,
    pub is_active: Option<bool>,
    pub is_visible: Option<bool>,
    /// At most `maximum_purchase`.
    #[schema(minimum = 1, maximum = 100)]
    pub minimum_purchase: Option<i32>,
    #[schema(minimum = 1, maximum = 100)]
    pub maximum_purchase: Option<i32>,
    #[schema(ignore)]
    pub available_capacity: Option<i32>,
    #[schema(ignore)]
    pub reserved_capacity: Option<i32>,
    #[schema(ignore)]
    pub sold_count: Option<i32>,
    /// Optimistic lock for updates (409 `VERSION_CONFLICT`).
    pub version: Option<i32>,
}

impl SectionFields {
    pub fn validate(&self, mode: Mode) -> Result<(), Vec<FieldError>> {
        let create = mode == Mode::Create;
        let mut e = Vec::new();
        let mut fail = |f: &str, c: &'static str, m: &str| e.push(FieldError::new(f, c, m));
        if create && self.section_name.is_none() {
            fail("section_name", "REQUIRED_FIELD", "is required");
        }
        if create && self.total_capacity.is_none() {
            fail("total_capacity", "REQUIRED_FIELD", "is required");
        }
        if !create && self.schedule_id.is_some() {
            fail("schedule_id", "IMMUTABLE_FIELD", "cannot be changed after creation");
        }
        for (field, present) in [
            ("available_capacity", self.available_capacity.is_some()),
            ("reserved_capacity", self.reserved_capacity.is_some()),
            ("sold_count", self.sold_count.is_some()),
        ] {
            if present {
                fail(field, "SERVER_MANAGED_FIELD", "is maintained by the service from holds and sales");
            }
        }
        if self.section_name.as_ref().is_some_and(|n| n.trim().is_empty() || n.chars().count() > 100) {
            fail("section_name", "INVALID_LENGTH", "must be 1-100 characters");
        }
        if self.section_code.as_ref().is_some_and(|c| c.chars().count() > 20) {
            fail("section_code", "STRING_TOO_LONG", "must be at most 20 characters");
        }
        if self.tier.as_ref().is_some_and(|t| t.chars().count() > 50) {
            fail("tier", "STRING_TOO_LONG", "must be at most 50 characters");
        }
        if self.total_capacity.is_some_and(|t| !(1..=1_000_000).contains(&t)) {
            fail("total_capacity", "INVALID_RANGE", "must be between 1 and 1000000");
        }
        if self.buffer_capacity.is_some_and(|b| b < 0) {
            fail("buffer_capacity", "VALUE_TOO_SMALL", "must not be negative");
        }
        if let (Some(b), Some(t)) = (self.buffer_capacity, self.total_capacity)
            && b >= t
        {
            fail("buffer_capacity", "INVALID_RANGE", "must be less than total_capacity");
        }
        for (field, v) in [("minimum_purchase", self.minimum_purchase), ("maximum_purchase", self.maximum_purchase)] {
            if v.is_some_and(|v| !(1..=100).contains(&v)) {
                fail(field, "INVALID_RANGE", "must be between 1 and 100");
            }
        }
        if let (Some(min), Some(max)) = (self.minimum_purchase, self.maximum_purchase)
            && min > max
        {
            fail("minimum_purchase", "INVALID_RANGE", "must not exceed maximum_purchase");
        }
        if let Some(rc) = &self.row_config {
            if rc.rows < 1 || rc.seats_per_row < 1 {
                fail("row_config", "INVALID_RANGE", "rows and seats_per_row must be positive");
            } else if let Some(total) = self.total_capacity
                && i64::from(rc.rows) * i64::from(rc.seats_per_row) != i64::from(total)
            {
                fail("row_config", "ROWS_MISMATCH", "rows x seats_per_row must equal total_capacity");
            }
            if rc.row_labels.as_ref().is_some_and(|l| l.len() != rc.rows as usize) {
                fail("row_config.row_labels", "INVALID_LENGTH", "must have one label per row");
            }
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    /// Also within the section's purchase limits (422 `OUTSIDE_PURCHASE_LIMITS`).
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: i32,
    /// Exactly `quantity` seats when given.
    #[serde(default)]
    pub seat_ids: Option<Vec<String>>,
    /// How long the hold lives (default 15). The original's handler read
    /// `reservation_minutes`; both names are accepted.
    #[serde(default, alias = "reservation_minutes")]
    #[schema(minimum = 1, maximum = 60)]
    pub reservation_duration_minutes: Option<i32>,
    /// An active price tier of the event, whose price is locked into the hold.
    #[serde(default)]
    pub pricing_id: Option<Uuid>,
}

/// The body of `POST /capacity/{id}/check`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CapacityCheck)]
pub struct CheckRequest {
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: i32,
    #[serde(default)]
    #[schema(max_items = 100)]
    pub seat_ids: Option<Vec<String>>,
}

impl CheckRequest {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        if !(1..=100).contains(&self.quantity) {
            return Err(vec![FieldError::new("quantity", "INVALID_RANGE", "must be between 1 and 100")]);
        }
        if self.seat_ids.as_ref().is_some_and(|s| s.len() > 100) {
            return Err(vec![FieldError::new("seat_ids", "TOO_MANY_ITEMS", "at most 100")]);
        }
        Ok(())
    }
}

crate::domain::schema::create_body!(
    /// The body of `POST /events/{id}/capacity`.
    SectionCreate = SectionFields, required: ["section_name", "total_capacity"]
);

/// One row of `event_capacity`: `available + reserved + sold + buffer = total` always holds.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
#[schema(as = CapacitySection)]
pub struct SectionOut {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub event_id: Uuid,
    #[schema(required = true)]
    pub schedule_id: Option<Uuid>,
    pub section_name: String,
    #[schema(required = true)]
    pub section_code: Option<String>,
    #[schema(required = true)]
    pub tier: Option<String>,
    pub total_capacity: i32,
    pub available_capacity: i32,
    pub reserved_capacity: i32,
    pub sold_count: i32,
    pub buffer_capacity: i32,
    #[schema(value_type = Option<RowConfig>, required = true)]
    pub row_config: Option<Json<Value>>,
    #[schema(value_type = Option<SeatMap>, required = true)]
    pub seat_map: Option<Json<Value>>,
    pub is_active: bool,
    pub is_visible: bool,
    pub minimum_purchase: i32,
    #[schema(required = true)]
    pub maximum_purchase: Option<i32>,
    #[serde(with = "wire_time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "wire_time")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    #[schema(required = true)]
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl SectionOut {
    /// The section after a hold of `quantity` seats taken in one stripe update: the seats move
    /// from available to reserved, and the stripe's change counts one more version.
    pub fn after_hold(mut self, quantity: i32) -> Self {
        self.available_capacity -= quantity;
        self.reserved_capacity += quantity;
        self.version += 1;
        self
    }
}

/// `{capacity}`, one section.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CapacityEnvelope {
    pub capacity: SectionOut,
}

/// `{capacity: [...]}`, an event's sections.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CapacityList {
    pub capacity: Vec<SectionOut>,
}

/// Seats over all sections of an event.
#[derive(Debug, Clone, Copy, Serialize, sqlx::FromRow, ToSchema)]
pub struct CapacityTotals {
    pub total_capacity: i64,
    pub available_capacity: i64,
    pub reserved_capacity: i64,
    pub sold_count: i64,
    pub buffer_capacity: i64,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct CapacityCheckResult {
    /// The section is active, has the seats, and `quantity` is within its purchase limits.
    pub available: bool,
    pub quantity: i32,
    pub available_capacity: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    Active,
    Confirmed,
    Released,
    Expired,
}

/// The price tier as it was when the hold was made; amounts are decimal strings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LockedPrice {
    pub pricing_id: Uuid,
    pub locked_price: String,
    pub service_fee: String,
    pub facility_fee: String,
    pub tax_rate: String,
    pub currency: String,
    pub locked_at: String,
}

/// A hold on seats of one section (a row of `event_reservations`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
#[schema(as = Reservation)]
pub struct HoldOut {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub event_id: Uuid,
    pub capacity_id: Uuid,
    #[schema(required = true)]
    pub pricing_id: Option<Uuid>,
    pub quantity: i32,
    #[schema(value_type = ReservationStatus)]
    pub status: String,
    #[serde(with = "wire_time")]
    pub expires_at: DateTime<Utc>,
    /// The unit price locked at reservation, as a decimal string with the column's scale.
    #[schema(value_type = Option<String>, required = true)]
    pub locked_price: Option<Decimal>,
    #[schema(value_type = Option<LockedPrice>, required = true)]
    pub locked_price_data: Option<Json<Value>>,
    pub seat_ids: Vec<String>,
    #[schema(required = true)]
    pub created_by: Option<String>,
    #[serde(with = "wire_time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "wire_time")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    #[schema(required = true)]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    #[schema(required = true)]
    pub released_at: Option<DateTime<Utc>>,
    /// Why the hold ended without a sale, such as `expired`.
    #[schema(required = true)]
    pub release_reason: Option<String>,
    pub version: i32,
}

/// `{reservation}`, one hold.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReservationEnvelope {
    pub reservation: HoldOut,
}

/// What `POST /capacity/{id}/reserve` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReserveResult {
    /// `Capacity reserved successfully`.
    pub message: String,
    pub reservation: HoldOut,
    /// The section after the seats were taken.
    pub capacity: SectionOut,
    /// The same as `reservation.locked_price`.
    #[schema(value_type = Option<String>, required = true)]
    pub locked_price: Option<Decimal>,
}
