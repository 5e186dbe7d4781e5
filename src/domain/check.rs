//! The field-check accumulator used by request validation: every violation is collected, so a
//! client sees all of them in one 422, each with its field and code.

use crate::error::FieldError;

#[derive(Debug, Default)]
pub(crate) struct Check {
    pub(crate) errors: Vec<FieldError>,
}

impl Check {
    pub(crate) fn fail(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    pub(crate) fn len(&mut self, field: &str, value: &Option<String>, min: usize, max: usize) {
        if let Some(v) = value {
            let n = v.chars().count();
            if n < min {
                self.fail(field, "STRING_TOO_SHORT", format!("must be at least {min} characters"));
            } else if n > max {
                self.fail(field, "STRING_TOO_LONG", format!("must be at most {max} characters"));
            }
        }
    }

    pub(crate) fn range(&mut self, field: &str, value: Option<i32>, min: i32, max: i32) {
        if let Some(v) = value
            && !(min..=max).contains(&v)
        {
            let code = if v < min { "VALUE_TOO_SMALL" } else { "VALUE_TOO_LARGE" };
            self.fail(field, code, format!("must be between {min} and {max}"));
        }
    }

    /// Dates between the years 1900 and 9999: Postgres cannot store years before 4713 BC, and
    /// nothing this service schedules lies outside this range.
    pub(crate) fn date(&mut self, field: &str, value: Option<chrono::DateTime<chrono::Utc>>) {
        use chrono::Datelike;
        if let Some(v) = value
            && !(1900..=9999).contains(&v.year())
        {
            self.fail(field, "DATE_OUT_OF_RANGE", "must be a date between the years 1900 and 9999");
        }
    }

    pub(crate) fn items(&mut self, field: &str, value: &Option<Vec<String>>, max_items: usize, max_len: usize) {
        if let Some(items) = value {
            if items.len() > max_items {
                self.fail(field, "TOO_MANY_ITEMS", format!("must have at most {max_items} items"));
            }
            if items.iter().any(|i| i.chars().count() > max_len) {
                self.fail(field, "STRING_TOO_LONG", format!("items must be at most {max_len} characters"));
            }
        }
    }
}
