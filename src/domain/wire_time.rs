//! Timestamps on the wire as the service has always written them: Postgres' `to_jsonb` form in
//! a UTC session, `2026-12-04T20:15:30.12345+00:00` (microseconds, trailing zeros dropped, no
//! fraction at all on a whole second, a numeric offset). Typed responses serialise their
//! timestamps through this module so moving a resource from `to_jsonb` to a struct changes no
//! byte of its body (`tests/api/wire.rs` pins it).

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

pub fn format(at: &DateTime<Utc>) -> String {
    let micros = at.nanosecond() / 1_000 % 1_000_000;
    let mut out = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    if micros > 0 {
        let fraction = format!("{micros:06}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push_str("+00:00");
    out
}

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(at))
}

/// Any RFC 3339 form is read back (cached bodies, `to_jsonb` rows).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    DateTime::<Utc>::deserialize(deserializer)
}

pub mod option {
    use super::{DateTime, Deserialize, Deserializer, Serializer, Utc};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(deserializer)
    }

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&super::format(at)),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_postgres_writes_them() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(format(&at("2026-12-04T20:15:30Z")), "2026-12-04T20:15:30+00:00");
        assert_eq!(format(&at("2026-12-04T20:15:30.123450Z")), "2026-12-04T20:15:30.12345+00:00");
        assert_eq!(format(&at("2026-12-04T20:15:30.000001Z")), "2026-12-04T20:15:30.000001+00:00");
    }
}
