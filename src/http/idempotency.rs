//! Idempotent creation at the HTTP boundary: [`IdempotentJson`] reads a creating request (its
//! JSON body and `Idempotency-Key`), and [`Created`] answers it (201 with the new resource, or
//! the key's stored response with `Idempotency-Replayed: true`). The key and the response are
//! stored in the creating transaction (`storage::idempotency`), so a retry finds either nothing
//! or the committed response; it never creates twice.

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Digest;
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::json::HashedJson;
use crate::services::Creation;
use crate::storage::idempotency::{Fingerprint, parse_key};

/// The `Idempotency-Key` header of creating POSTs.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// 1-256 of `A-Z a-z 0-9 - _` (else 400 `INVALID_IDEMPOTENCY_KEY`). A retry with the same
    /// key and body gets the stored response with `Idempotency-Replayed: true`; the same key
    /// with another body 422 `IDEMPOTENCY_KEY_MISMATCH`; a concurrent duplicate 409
    /// `IDEMPOTENCY_CONFLICT`. Keys expire after 24 h.
    #[param(rename = "Idempotency-Key", value_type = String, required = false, pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub idempotency_key: Option<String>,
}

/// A creating request's body and, when an `Idempotency-Key` was sent, its fingerprint. The
/// fingerprint binds the key to the user as well as the method, path and body, so another user
/// of the tenant reusing a key gets 422, never the first user's stored response.
pub struct IdempotentJson<T> {
    pub value: T,
    pub fingerprint: Option<Fingerprint>,
}

impl<T> IdempotentJson<T> {
    /// How the answer is sent: the key echoed back, and marked when replayed.
    pub fn created<B>(&self, creation: Creation<B>) -> Created<B> {
        Created { creation, key: self.fingerprint.as_ref().map(|f| f.key.clone()) }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for IdempotentJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let key = match parts.headers.get("idempotency-key") {
            None => None,
            Some(raw) => Some(parse_key(raw.to_str().unwrap_or(""))?),
        };
        let user = match key {
            Some(_) => Some(AuthUser::from_request_parts(&mut parts, state).await?),
            None => None,
        };
        // The path as the client sent it (`/api/v1/...`), not as the nested router sees it.
        let path = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.path(), |u| u.path()).to_owned();
        let HashedJson { value, hash } = HashedJson::from_request(Request::from_parts(parts, body), state).await?;
        let fingerprint = key.zip(user).map(|(key, user)| {
            let bound = hex::encode(sha2::Sha256::digest(format!("{}\n{hash}", user.user_id).as_bytes()));
            Fingerprint { key, method: "POST", path, body_hash: bound }
        });
        Ok(IdempotentJson { value, fingerprint })
    }
}

/// The answer to a creating request: 201 and the body, or the stored response of a replay.
pub struct Created<T> {
    creation: Creation<T>,
    key: Option<String>,
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let (mut response, replayed) = match self.creation {
            Creation::New(body) => ((StatusCode::CREATED, axum::Json(body)).into_response(), false),
            Creation::Replayed(stored) => {
                let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::CREATED);
                ((status, axum::Json(stored.body)).into_response(), true)
            }
        };
        if let Some(key) = self.key.as_deref().and_then(|k| HeaderValue::from_str(k).ok()) {
            response.headers_mut().insert("x-idempotency-key", key);
            if replayed {
                response.headers_mut().insert("idempotency-replayed", HeaderValue::from_static("true"));
            }
        }
        response
    }
}
