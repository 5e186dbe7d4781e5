//! `Json<T>`: the request-body extractor every route uses.
//!
//! Bodies are parsed strictly into request types declared with `deny_unknown_fields`, and
//! every failure is a problem+json with a field list: an unknown field is a 400 naming it
//! (never silently dropped), malformed JSON 400, a wrong content type 415, an oversized body
//! 413. The path of the failing field comes from `serde_path_to_error`.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError, Kind};

pub struct Json<T>(pub T);

/// Like [`Json`], plus the SHA-256 of the body's canonical form (keys sorted, whitespace
/// dropped), which binds an `Idempotency-Key` to the request it was first used with.
pub struct HashedJson<T> {
    pub value: T,
    pub hash: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for HashedJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(raw) = Json::<serde_json::Value>::from_request(req, state).await?;
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(raw.to_string().as_bytes()));
        let value = serde_path_to_error::deserialize(raw).map_err(field_error)?;
        Ok(HashedJson { value, hash })
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Kind::UnsupportedMediaType,
                "UNSUPPORTED_MEDIA_TYPE",
                "Content-Type must be application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Kind::PayloadTooLarge,
                    "PAYLOAD_TOO_LARGE",
                    "The body exceeds the size limit",
                )
            } else {
                ApiError::bad_request("INVALID_BODY", "The body could not be read")
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// Parses a JSON body, mapping every serde failure to a field-level problem.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(field_error)
}

fn field_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request("MALFORMED_JSON", format!("The body is not valid JSON: {message}"));
        }
        // For an unknown field the path already ends with the field's own name.
        let (field, code) = if backticked_after(&message, "unknown field ").is_some() {
            (path, "UNKNOWN_FIELD")
        } else if let Some(name) = backticked_after(&message, "missing field ") {
            (join(&path, &name), "REQUIRED_FIELD")
        } else if message.starts_with("invalid type") {
            (path, "INVALID_TYPE")
        } else if message.starts_with("unknown variant") {
            (path, "INVALID_ENUM_VALUE")
        } else {
            (path, "INVALID_VALUE")
        };
        let field = if field.is_empty() || field == "." { "body".to_owned() } else { field };
        // Drop serde's " at line L column C" suffix: it is noise for API clients.
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        ApiError::validation(vec![FieldError::new(field, code, message)])
    }
}

fn backticked_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_owned())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() || path == "." { name.to_owned() } else { format!("{path}.{name}") }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::parse;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        rows: u32,
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let err = parse::<Body>(br#"{"name":"x","inner":{"rows":1,"seats":2}}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "inner.seats");
        assert_eq!(err.errors[0].code, "UNKNOWN_FIELD");
        assert_eq!(err.status, 400);
    }

    #[test]
    fn type_errors_missing_fields_and_bad_json_are_distinguished() {
        assert_eq!(parse::<Body>(br#"{"name":1}"#).unwrap_err().errors[0].code, "INVALID_TYPE");
        assert_eq!(parse::<Body>(br#"{}"#).unwrap_err().errors[0].code, "REQUIRED_FIELD");
        assert_eq!(parse::<Body>(br#"{"name":"#).unwrap_err().code, "MALFORMED_JSON");
    }
}
