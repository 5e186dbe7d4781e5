//! `Query<T>`: strict query-string parsing with problem+json errors. Unknown parameters are
//! rejected like unknown body fields, so a misspelt filter is an error, not an ignored no-op.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(raw));
        serde_path_to_error::deserialize(de).map(Query).map_err(|err| {
            let path = err.path().to_string();
            let message = err.into_inner().to_string();
            let (field, code) = match message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
                Some(name) => (name.to_owned(), "UNKNOWN_FIELD"),
                None => (path, "INVALID_VALUE"),
            };
            let field = if field.is_empty() || field == "." { "query".to_owned() } else { field };
            ApiError::validation(vec![FieldError::new(field, code, message)])
        })
    }
}

fn form_urlencoded_parse(raw: &str) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(raw.as_bytes())
}
