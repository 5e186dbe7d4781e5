//! Event requests: one type per body, shared by the validator and the handler (the original's
//! disagreed), parsed strictly (unknown fields are rejected by the JSON extractor) and then
//! checked against the domain rules of `reference/original-service.md` §3.1 and §6.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Mode;
use crate::domain::EventStatus;
use crate::domain::check::Check;
use crate::error::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Single,
    Recurring,
    Series,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Recurring => "recurring",
            Self::Series => "series",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Visibility {
    Public,
    Private,
    Unlisted,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "PUBLIC",
            Self::Private => "PRIVATE",
            Self::Unlisted => "UNLISTED",
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessibilityInfo {
    pub wheelchair_accessible: Option<bool>,
    pub hearing_assistance: Option<bool>,
    pub visual_assistance: Option<bool>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamingConfig {
    pub platform_id: Option<String>,
    /// A credential: returned to admins only.
    pub stream_key: Option<String>,
    pub backup_url: Option<String>,
}

/// Fields shared by create and update (all optional here; create adds its required ones).
///
/// The schema's bounds are the ones [`EventFields::validate`] enforces (422); rules across
/// fields, the time window and the venue lookup are in the descriptions.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = EventUpdate,
    description = "An event's fields. On update each is optional: absent or `null` keeps the value. Bounds \
        are the service's own (422 otherwise); rules across fields are in the field descriptions."
)]
pub struct EventFields {
    /// Must not be blank.
    #[schema(min_length = 1, max_length = 300)]
    pub name: Option<String>,
    /// Must be an active venue of the tenant (checked with the venue-service: 422
    /// `VENUE_NOT_FOUND` / `VENUE_INACTIVE`, 503 when it cannot be reached).
    pub venue_id: Option<Uuid>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    #[schema(max_length = 500)]
    pub short_description: Option<String>,
    pub venue_layout_id: Option<Uuid>,
    pub event_type: Option<EventType>,
    /// Also accepted as `category`.
    #[serde(alias = "category")]
    pub primary_category_id: Option<Uuid>,
    #[schema(max_items = 10)]
    pub secondary_category_ids: Option<Vec<Uuid>>,
    /// At most 20 tags of at most 50 characters.
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    /// On create only `DRAFT`; on update a lifecycle change that needs `events:publish`
    /// (`CANCELLED` only through `POST /events/{event_id}/cancel`: 409 `USE_CANCEL_ROUTE`).
    pub status: Option<EventStatus>,
    pub visibility: Option<Visibility>,
    pub is_featured: Option<bool>,
    #[schema(minimum = 0, maximum = 1000)]
    pub priority_score: Option<i32>,
    /// An http(s) URL of at most 2000 characters. Also accepted as `image_url`.
    #[serde(alias = "image_url")]
    #[schema(max_length = 2000)]
    pub banner_image_url: Option<String>,
    /// An http(s) URL of at most 2000 characters.
    #[schema(max_length = 2000)]
    pub thumbnail_image_url: Option<String>,
    /// An http(s) URL of at most 2000 characters.
    #[schema(max_length = 2000)]
    pub video_url: Option<String>,
    /// An http(s) URL of at most 2000 characters; required when `is_virtual` is true.
    #[schema(max_length = 2000)]
    pub virtual_event_url: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    pub age_restriction: Option<i32>,
    #[schema(max_length = 100)]
    pub dress_code: Option<String>,
    /// At most 20 items of at most 500 characters.
    #[schema(max_items = 20)]
    pub special_requirements: Option<Vec<String>>,
    pub accessibility_info: Option<AccessibilityInfo>,
    pub is_virtual: Option<bool>,
    pub is_hybrid: Option<bool>,
    #[schema(max_length = 50)]
    pub streaming_platform: Option<String>,
    pub streaming_config: Option<StreamingConfig>,
    #[schema(max_length = 5000)]
    pub cancellation_policy: Option<String>,
    #[schema(max_length = 5000)]
    pub refund_policy: Option<String>,
    #[schema(minimum = 0, maximum = 8760)]
    pub cancellation_deadline_hours: Option<i32>,
    /// The start of the first schedule: must equal `starts_at` when both are given.
    pub event_date: Option<DateTime<Utc>>,
    /// The start of the first schedule; needs `ends_at`, and must lie between
    /// `EVENT_MIN_ADVANCE_HOURS` (2) hours and `EVENT_MAX_ADVANCE_DAYS` (365) days ahead.
    pub starts_at: Option<DateTime<Utc>>,
    /// After `starts_at`.
    pub ends_at: Option<DateTime<Utc>>,
    /// Not after `starts_at`.
    pub doors_open: Option<DateTime<Utc>>,
    /// An IANA time zone (such as `Europe/Berlin`) of at most 50 characters; defaults to the
    /// venue's.
    #[schema(max_length = 50)]
    pub timezone: Option<String>,
    /// Create only (a General Admission section of this size); at most the venue's capacity.
    #[schema(minimum = 1, maximum = 1000000)]
    pub capacity: Option<i32>,
    /// A base58 Solana address. Create only.
    #[schema(pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")]
    pub artist_wallet: Option<String>,
    /// 0-100 with at most 2 decimals; with `venue_percentage` at most 100. Create only.
    #[schema(schema_with = crate::domain::schema::percentage_input)]
    pub artist_percentage: Option<Decimal>,
    /// 0-100 with at most 2 decimals; with `artist_percentage` at most 100. Create only.
    #[schema(schema_with = crate::domain::schema::percentage_input)]
    pub venue_percentage: Option<Decimal>,
    pub resaleable: Option<bool>,
    #[schema(max_length = 70)]
    pub meta_title: Option<String>,
    #[schema(max_length = 160)]
    pub meta_description: Option<String>,
    /// At most 50 keywords of at most 100 characters.
    #[schema(max_items = 50)]
    pub meta_keywords: Option<Vec<String>>,
    #[schema(max_length = 100)]
    pub external_id: Option<String>,
    /// At most 50 properties.
    pub metadata: Option<Map<String, Value>>,
    pub performers: Option<Vec<Value>>,
    #[schema(max_length = 200)]
    pub headliner: Option<String>,
    /// At most 50 names of at most 200 characters.
    #[schema(max_items = 50)]
    pub supporting_acts: Option<Vec<String>>,
    pub custom_metadata: Option<Map<String, Value>>,
    /// Optimistic lock for updates: the version the client last read (409 `VERSION_CONFLICT`
    /// when it moved on).
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

/// Limits that come from configuration (`EVENT_MIN_ADVANCE_HOURS`, `EVENT_MAX_ADVANCE_DAYS`).
#[derive(Debug, Clone, Copy)]
pub struct EventRules {
    pub min_advance: Duration,
    pub max_advance: Duration,
}

impl Default for EventRules {
    fn default() -> Self {
        Self { min_advance: Duration::hours(2), max_advance: Duration::days(365) }
    }
}

/// The start, end and doors of the event's first schedule, after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub doors_open: Option<DateTime<Utc>>,
}

/// Checks only event bodies need.
impl Check {
    fn uri(&mut self, field: &str, value: &Option<String>) {
        if let Some(v) = value {
            if v.len() > 2000 {
                self.fail(field, "STRING_TOO_LONG", "must be at most 2000 characters");
            } else if url::Url::parse(v).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
                self.fail(field, "INVALID_FORMAT", "must be an http(s) URL");
            }
        }
    }

    fn percentage(&mut self, field: &str, value: Option<Decimal>) {
        if let Some(v) = value
            && (v < Decimal::ZERO || v > Decimal::ONE_HUNDRED || v.scale() > 2)
        {
            self.fail(field, "INVALID_RANGE", "must be between 0 and 100 with at most 2 decimals");
        }
    }
}

/// A base58 Solana address: 32 bytes, 32-44 characters.
pub fn is_solana_address(s: &str) -> bool {
    (32..=44).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l'))
}

impl EventFields {
    /// Checks every rule and returns all violations at once (422), plus the first
    /// schedule's timing when the body gives a start.
    pub fn validate(
        &self,
        mode: Mode,
        rules: EventRules,
        now: DateTime<Utc>,
    ) -> Result<Option<Timing>, Vec<FieldError>> {
        let mut c = Check::default();
        for (field, value) in [
            ("event_date", self.event_date),
            ("starts_at", self.starts_at),
            ("ends_at", self.ends_at),
            ("doors_open", self.doors_open),
        ] {
            c.date(field, value);
        }
        if mode == Mode::Create {
            if self.name.is_none() {
                c.fail("name", "REQUIRED_FIELD", "is required");
            }
            if self.venue_id.is_none() {
                c.fail("venue_id", "REQUIRED_FIELD", "is required");
            }
            if self.status.is_some_and(|s| s != EventStatus::Draft) {
                c.fail(
                    "status",
                    "INVALID_ENUM_VALUE",
                    "events are created as DRAFT; change status with the lifecycle routes",
                );
            }
        }
        if mode == Mode::Update {
            for (field, present) in [
                ("artist_wallet", self.artist_wallet.is_some()),
                ("artist_percentage", self.artist_percentage.is_some()),
                ("venue_percentage", self.venue_percentage.is_some()),
                ("capacity", self.capacity.is_some()),
            ] {
                if present {
                    c.fail(field, "IMMUTABLE_FIELD", "cannot be changed after creation");
                }
            }
        }
        if let Some(name) = &self.name
            && name.trim().is_empty()
        {
            c.fail("name", "STRING_TOO_SHORT", "must not be blank");
        }
        c.len("name", &self.name, 1, 300);
        c.len("description", &self.description, 0, 10_000);
        c.len("short_description", &self.short_description, 0, 500);
        if self.secondary_category_ids.as_ref().is_some_and(|v| v.len() > 10) {
            c.fail("secondary_category_ids", "TOO_MANY_ITEMS", "must have at most 10 items");
        }
        c.items("tags", &self.tags, 20, 50);
        c.range("priority_score", self.priority_score, 0, 1000);
        for (field, value) in [
            ("banner_image_url", &self.banner_image_url),
            ("thumbnail_image_url", &self.thumbnail_image_url),
            ("video_url", &self.video_url),
            ("virtual_event_url", &self.virtual_event_url),
        ] {
            c.uri(field, value);
        }
        c.range("age_restriction", self.age_restriction, 0, 100);
        c.len("dress_code", &self.dress_code, 0, 100);
        c.items("special_requirements", &self.special_requirements, 20, 500);
        c.len("streaming_platform", &self.streaming_platform, 0, 50);
        c.len("cancellation_policy", &self.cancellation_policy, 0, 5000);
        c.len("refund_policy", &self.refund_policy, 0, 5000);
        c.range("cancellation_deadline_hours", self.cancellation_deadline_hours, 0, 8760);
        if self.is_virtual == Some(true) && self.virtual_event_url.is_none() {
            c.fail("virtual_event_url", "REQUIRED_FIELD", "is required for virtual events");
        }
        if let Some(tz) = &self.timezone
            && (tz.len() > 50 || tz.parse::<chrono_tz::Tz>().is_err())
        {
            c.fail("timezone", "INVALID_TIMEZONE", "must be an IANA time zone such as Europe/Berlin");
        }
        c.range("capacity", self.capacity, 1, 1_000_000);
        if let Some(wallet) = &self.artist_wallet
            && (wallet.len() > 50 || !is_solana_address(wallet))
        {
            c.fail("artist_wallet", "INVALID_FORMAT", "must be a base58 Solana address");
        }
        c.percentage("artist_percentage", self.artist_percentage);
        c.percentage("venue_percentage", self.venue_percentage);
        let royalty = self.artist_percentage.unwrap_or_default() + self.venue_percentage.unwrap_or_default();
        if royalty > Decimal::ONE_HUNDRED {
            c.fail(
                "venue_percentage",
                "INVALID_ROYALTY_SPLIT",
                "artist_percentage + venue_percentage must not exceed 100",
            );
        }
        c.len("meta_title", &self.meta_title, 0, 70);
        c.len("meta_description", &self.meta_description, 0, 160);
        c.items("meta_keywords", &self.meta_keywords, 50, 100);
        c.len("external_id", &self.external_id, 0, 100);
        if self.metadata.as_ref().is_some_and(|m| m.len() > 50) {
            c.fail("metadata", "TOO_MANY_PROPERTIES", "must have at most 50 properties");
        }
        c.len("headliner", &self.headliner, 0, 200);
        c.items("supporting_acts", &self.supporting_acts, 50, 200);
        if self.version.is_some_and(|v| v < 1) {
            c.fail("version", "VALUE_TOO_SMALL", "must be at least 1");
        }

        let timing = self.timing(&mut c, rules, now);
        if c.errors.is_empty() { Ok(timing) } else { Err(c.errors) }
    }

    fn timing(&self, c: &mut Check, rules: EventRules, now: DateTime<Utc>) -> Option<Timing> {
        if self.starts_at.is_some() && self.event_date.is_some() && self.starts_at != self.event_date {
            c.fail("event_date", "CONFLICTING_FIELDS", "must equal starts_at when both are given");
        }
        let Some(starts_at) = self.starts_at.or(self.event_date) else {
            if self.ends_at.is_some() || self.doors_open.is_some() {
                c.fail("starts_at", "REQUIRED_FIELD", "is required when ends_at or doors_open is given");
            }
            return None;
        };
        // The original inserted a NULL end for a start without an end.
        let Some(ends_at) = self.ends_at else {
            c.fail("ends_at", "REQUIRED_FIELD", "is required when starts_at is given");
            return None;
        };
        if ends_at <= starts_at {
            c.fail("ends_at", "INVALID_DATE_ORDER", "must be after starts_at");
        }
        if let Some(doors) = self.doors_open
            && doors > starts_at
        {
            c.fail("doors_open", "INVALID_DATE_ORDER", "must not be after starts_at");
        }
        if starts_at < now + rules.min_advance {
            c.fail("starts_at", "TOO_SOON", format!("must be at least {} hours ahead", rules.min_advance.num_hours()));
        } else if starts_at > now + rules.max_advance {
            c.fail(
                "starts_at",
                "TOO_FAR_AHEAD",
                format!("must be at most {} days ahead", rules.max_advance.num_days()),
            );
        }
        Some(Timing { starts_at, ends_at, doors_open: self.doors_open })
    }
}

/// Lower-case, runs of anything but letters and digits (any script) become `-`; with a start date,
/// the local date is appended, so the same show on another day is another slug while a
/// duplicate on the same day conflicts (409).
pub fn slug(name: &str, local_date: Option<NaiveDate>) -> String {
    let mut out = String::with_capacity(name.len() + 11);
    for ch in name.trim().chars().flat_map(char::to_lowercase) {
        if ch.is_alphanumeric() {
            out.push(ch);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        out.push_str("event");
    }
    // At most 280 characters, cut on a character boundary.
    if let Some((cut, _)) = out.char_indices().nth(280) {
        out.truncate(cut);
    }
    if let Some(date) = local_date {
        out.push('-');
        out.push_str(&date.format("%Y-%m-%d").to_string());
    }
    out
}

/// The local calendar day of `at` in `timezone` (UTC if unknown), as the UTC instants
/// `[start, end)`; a day is 23 or 25 hours long across a DST change.
pub fn local_day(at: DateTime<Utc>, timezone: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let date = at.with_timezone(&tz).date_naive();
    let next = date.succ_opt().unwrap_or(date);
    (first_instant(tz, date), first_instant(tz, next))
}

/// The first instant of a local day: midnight, or the first hour that exists when a DST gap
/// skips midnight.
fn first_instant(tz: chrono_tz::Tz, date: chrono::NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    (0..24)
        .filter_map(|h| date.and_hms_opt(h, 0, 0))
        .find_map(|local| tz.from_local_datetime(&local).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

crate::domain::schema::create_body!(
    /// The body of `POST /events`.
    EventCreate = EventFields, required: ["name", "venue_id"]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_day_follows_the_time_zone_and_dst() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 01:30 UTC on 10 March 2024 is 20:30 on the 9th in New York (EST).
        let (start, end) = local_day(at("2024-03-10T01:30:00Z"), "America/New_York");
        assert_eq!((start, end), (at("2024-03-09T05:00:00Z"), at("2024-03-10T05:00:00Z")));
        // 10 March 2024 is 23 hours long there (DST starts).
        let (start, end) = local_day(at("2024-03-10T12:00:00Z"), "America/New_York");
        assert_eq!((start, end), (at("2024-03-10T05:00:00Z"), at("2024-03-11T04:00:00Z")));
        assert_eq!(local_day(at("2024-03-10T12:00:00Z"), "Nowhere/Town").0, at("2024-03-10T00:00:00Z"));
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn create(json: Value) -> Result<Option<Timing>, Vec<FieldError>> {
        let fields: EventFields = serde_json::from_value(json).unwrap();
        fields.validate(Mode::Create, EventRules::default(), now())
    }

    fn codes(r: Result<Option<Timing>, Vec<FieldError>>) -> Vec<(String, &'static str)> {
        r.unwrap_err().into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn a_minimal_event_is_valid() {
        assert_eq!(create(serde_json::json!({"name": "Show", "venue_id": Uuid::nil()})).unwrap(), None);
    }

    #[test]
    fn name_and_venue_are_required() {
        assert_eq!(
            codes(create(serde_json::json!({}))),
            [("name".into(), "REQUIRED_FIELD"), ("venue_id".into(), "REQUIRED_FIELD")]
        );
    }

    #[test]
    fn a_start_needs_an_end_after_it_and_doors_before_it() {
        let c = codes(create(
            serde_json::json!({"name": "S", "venue_id": Uuid::nil(), "starts_at": "2026-12-01T20:00:00Z"}),
        ));
        assert_eq!(c, [("ends_at".into(), "REQUIRED_FIELD")]);
        let c = codes(create(serde_json::json!({"name": "S", "venue_id": Uuid::nil(),
            "starts_at": "2026-12-01T20:00:00Z", "ends_at": "2026-12-01T19:00:00Z", "doors_open": "2026-12-01T21:00:00Z"})));
        assert_eq!(c, [("ends_at".into(), "INVALID_DATE_ORDER"), ("doors_open".into(), "INVALID_DATE_ORDER")]);
    }

    #[test]
    fn the_start_must_lie_inside_the_advance_window() {
        let soon = codes(create(serde_json::json!({"name": "S", "venue_id": Uuid::nil(),
            "starts_at": "2026-11-24T13:00:00Z", "ends_at": "2026-11-24T15:00:00Z"})));
        assert_eq!(soon, [("starts_at".into(), "TOO_SOON")]);
        let far = codes(create(serde_json::json!({"name": "S", "venue_id": Uuid::nil(),
            "starts_at": "2028-01-01T13:00:00Z", "ends_at": "2028-01-01T15:00:00Z"})));
        assert_eq!(far, [("starts_at".into(), "TOO_FAR_AHEAD")]);
    }

    #[test]
    fn royalties_each_within_0_100_and_summing_to_at_most_100() {
        let c = codes(create(
            serde_json::json!({"name": "S", "venue_id": Uuid::nil(), "artist_percentage": 70, "venue_percentage": 40}),
        ));
        assert_eq!(c, [("venue_percentage".into(), "INVALID_ROYALTY_SPLIT")]);
        let c = codes(create(serde_json::json!({"name": "S", "venue_id": Uuid::nil(), "artist_percentage": 101})));
        assert!(c.contains(&("artist_percentage".into(), "INVALID_RANGE")));
    }

    #[test]
    fn virtual_events_need_a_url_and_timezones_must_be_iana() {
        let c = codes(create(
            serde_json::json!({"name": "S", "venue_id": Uuid::nil(), "is_virtual": true, "timezone": "Mars/Olympus"}),
        ));
        assert_eq!(c, [("virtual_event_url".into(), "REQUIRED_FIELD"), ("timezone".into(), "INVALID_TIMEZONE")]);
    }

    #[test]
    fn capacity_bounds_and_wallet_format() {
        let c = codes(create(
            serde_json::json!({"name": "S", "venue_id": Uuid::nil(), "capacity": 0, "artist_wallet": "not a wallet"}),
        ));
        assert_eq!(c, [("capacity".into(), "VALUE_TOO_SMALL"), ("artist_wallet".into(), "INVALID_FORMAT")]);
    }

    #[test]
    fn slugs_are_stable_and_carry_the_local_date() {
        assert_eq!(slug("  Rock & Roll -- Night! ", None), "rock-roll-night");
        assert_eq!(slug("Jazz", NaiveDate::from_ymd_opt(2026, 12, 1)), "jazz-2026-12-01");
        assert_eq!(slug("!!!", None), "event");
        assert_eq!(slug("Café Müller / 東京", None), "café-müller-東京", "other scripts are kept, not dropped");
    }
}
