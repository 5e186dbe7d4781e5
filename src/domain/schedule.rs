//! A schedule's request body and its rules (`reference/original-service.md` §3.2).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Mode;
use crate::error::FieldError;

/// The stored times an update is checked against (the time-order rules see the request over
/// them).
#[derive(Debug, Clone, Copy)]
pub struct CurrentTimes {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub doors_open_at: Option<DateTime<Utc>>,
    pub check_in_opens_at: Option<DateTime<Utc>>,
    pub check_in_closes_at: Option<DateTime<Utc>>,
}

/// The statuses of the `event_schedules_status_check` constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScheduleStatus {
    Scheduled,
    Confirmed,
    InProgress,
    Completed,
    Cancelled,
    Postponed,
    Rescheduled,
}

impl ScheduleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Confirmed => "CONFIRMED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Postponed => "POSTPONED",
            Self::Rescheduled => "RESCHEDULED",
        }
    }
}

/// The body of `POST` (where `starts_at` and `ends_at` are required) and `PUT` (partial, with
/// the optional optimistic lock `version`, ignored on create). Absent fields keep their value
/// on `PUT`; `null` counts as absent.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = ScheduleUpdate,
    description = "A schedule's fields; absent or `null` keeps the value on update."
)]
pub struct ScheduleFields {
    pub starts_at: Option<DateTime<Utc>>,
    /// After `starts_at`.
    pub ends_at: Option<DateTime<Utc>>,
    /// An IANA time zone of at most 50 characters; defaults to the event's.
    #[schema(max_length = 50)]
    pub timezone: Option<String>,
    /// Not after `starts_at`.
    pub doors_open_at: Option<DateTime<Utc>>,
    pub is_recurring: Option<bool>,
    #[schema(max_length = 1000)]
    pub recurrence_rule: Option<String>,
    pub recurrence_end_date: Option<NaiveDate>,
    #[schema(minimum = 1)]
    pub occurrence_number: Option<i32>,
    pub status: Option<ScheduleStatus>,
    #[schema(max_length = 1000)]
    pub status_reason: Option<String>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub capacity_override: Option<i32>,
    pub check_in_opens_at: Option<DateTime<Utc>>,
    /// After `check_in_opens_at`.
    pub check_in_closes_at: Option<DateTime<Utc>>,
    #[schema(max_length = 5000)]
    pub notes: Option<String>,
    /// At most 50 properties.
    pub metadata: Option<Map<String, Value>>,
    /// Optimistic lock for updates (409 `VERSION_CONFLICT`).
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

impl ScheduleFields {
    /// Checks every rule and returns all violations at once (422). The time-order rules see
    /// the request over `current`, the row an update applies to (without it, only pairs the
    /// request gives both halves of).
    pub fn validate(&self, mode: Mode, current: Option<&CurrentTimes>) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, code: &'static str, message: &str| {
            errors.push(FieldError::new(field, code, message));
        };
        for (field, value) in [
            ("starts_at", self.starts_at),
            ("ends_at", self.ends_at),
            ("doors_open_at", self.doors_open_at),
            ("check_in_opens_at", self.check_in_opens_at),
            ("check_in_closes_at", self.check_in_closes_at),
        ] {
            use chrono::Datelike;
            if value.is_some_and(|v| !(1900..=9999).contains(&v.year())) {
                fail(field, "DATE_OUT_OF_RANGE", "must be a date between the years 1900 and 9999");
            }
        }
        if self.recurrence_end_date.is_some_and(|d| !(1900..=9999).contains(&chrono::Datelike::year(&d))) {
            fail("recurrence_end_date", "DATE_OUT_OF_RANGE", "must be a date between the years 1900 and 9999");
        }
        if mode == Mode::Create {
            if self.starts_at.is_none() {
                fail("starts_at", "REQUIRED_FIELD", "is required");
            }
            if self.ends_at.is_none() {
                fail("ends_at", "REQUIRED_FIELD", "is required");
            }
        }
        if let Some(tz) = &self.timezone
            && (tz.len() > 50 || tz.parse::<chrono_tz::Tz>().is_err())
        {
            fail("timezone", "INVALID_TIMEZONE", "must be an IANA time zone such as Europe/Berlin");
        }
        if self.occurrence_number.is_some_and(|n| n < 1) {
            fail("occurrence_number", "VALUE_TOO_SMALL", "must be at least 1");
        }
        if let Some(n) = self.capacity_override
            && !(1..=1_000_000).contains(&n)
        {
            let code = if n < 1 { "VALUE_TOO_SMALL" } else { "VALUE_TOO_LARGE" };
            fail("capacity_override", code, "must be between 1 and 1000000");
        }
        for (field, value, max) in [
            ("recurrence_rule", &self.recurrence_rule, 1000),
            ("status_reason", &self.status_reason, 1000),
            ("notes", &self.notes, 5000),
        ] {
            if value.as_ref().is_some_and(|v| v.chars().count() > max) {
                fail(field, "STRING_TOO_LONG", &format!("must be at most {max} characters"));
            }
        }
        if self.metadata.as_ref().is_some_and(|m| m.len() > 50) {
            fail("metadata", "TOO_MANY_PROPERTIES", "must have at most 50 properties");
        }
        if self.version.is_some_and(|v| v < 1) {
            fail("version", "VALUE_TOO_SMALL", "must be at least 1");
        }

        let starts_at = self.starts_at.or(current.map(|c| c.starts_at));
        let ends_at = self.ends_at.or(current.map(|c| c.ends_at));
        let doors = self.doors_open_at.or(current.and_then(|c| c.doors_open_at));
        let opens = self.check_in_opens_at.or(current.and_then(|c| c.check_in_opens_at));
        let closes = self.check_in_closes_at.or(current.and_then(|c| c.check_in_closes_at));
        if let (Some(start), Some(end)) = (starts_at, ends_at)
            && end <= start
        {
            fail("ends_at", "INVALID_DATE_ORDER", "must be after starts_at");
        }
        if let (Some(start), Some(doors)) = (starts_at, doors)
            && doors > start
        {
            fail("doors_open_at", "INVALID_DATE_ORDER", "must not be after starts_at");
        }
        if let (Some(opens), Some(closes)) = (opens, closes)
            && closes <= opens
        {
            fail("check_in_closes_at", "INVALID_DATE_ORDER", "must be after check_in_opens_at");
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// One schedule, as every schedule route returns it (and the event embeds its first one): the
/// row of `event_schedules`, every column, always present (nullable ones as `null`). The type is
/// the body and its schema.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Schedule)]
pub struct ScheduleOut {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub event_id: Uuid,
    #[serde(with = "super::wire_time")]
    pub starts_at: DateTime<Utc>,
    #[serde(with = "super::wire_time")]
    pub ends_at: DateTime<Utc>,
    #[serde(
        serialize_with = "super::wire_time::option::serialize",
        deserialize_with = "super::wire_time::option::deserialize"
    )]
    pub doors_open_at: Option<DateTime<Utc>>,
    pub is_recurring: bool,
    pub recurrence_rule: Option<String>,
    pub recurrence_end_date: Option<NaiveDate>,
    pub occurrence_number: Option<i32>,
    pub timezone: String,
    pub utc_offset: Option<i32>,
    /// One of the `ScheduleStatus` values (the column's CHECK constraint).
    #[schema(value_type = ScheduleStatus)]
    pub status: String,
    pub status_reason: Option<String>,
    pub capacity_override: Option<i32>,
    #[serde(
        serialize_with = "super::wire_time::option::serialize",
        deserialize_with = "super::wire_time::option::deserialize"
    )]
    pub check_in_opens_at: Option<DateTime<Utc>>,
    #[serde(
        serialize_with = "super::wire_time::option::serialize",
        deserialize_with = "super::wire_time::option::deserialize"
    )]
    pub check_in_closes_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: sqlx::types::Json<Map<String, Value>>,
    #[serde(with = "super::wire_time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "super::wire_time")]
    pub updated_at: DateTime<Utc>,
    #[serde(
        serialize_with = "super::wire_time::option::serialize",
        deserialize_with = "super::wire_time::option::deserialize"
    )]
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i32,
}

/// The original's envelope of one schedule: `{success: true, data}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleEnvelope {
    pub success: bool,
    pub data: ScheduleOut,
}

impl ScheduleEnvelope {
    pub fn of(data: ScheduleOut) -> Self {
        Self { success: true, data }
    }
}

/// `GET /events/:id/schedules`: `{success: true, data: {event_id, schedules}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleListEnvelope {
    pub success: bool,
    pub data: EventSchedules,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventSchedules {
    pub event_id: Uuid,
    /// Earliest first.
    pub schedules: Vec<ScheduleOut>,
}

/// `GET /events/:id/schedules/upcoming`: `{success: true, data: [...]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UpcomingSchedules {
    pub success: bool,
    /// Schedules that have not started, earliest first (at most 100).
    pub data: Vec<ScheduleOut>,
}

crate::domain::schema::create_body!(
    /// The body of `POST /events/{id}/schedules`.
    ScheduleCreate = ScheduleFields, required: ["starts_at", "ends_at"]
);
