//! Domain services: the rules between the HTTP surface and storage.

pub mod cancellation;
pub mod capacity;
pub mod events;
pub mod internal;
pub mod pricing;
pub mod registration;
pub mod schedules;
pub mod stripes;

use crate::error::{ApiError, ApiResult};
use crate::storage::idempotency::StoredResponse;

/// What a creating use case did: created `T` (and, with an `Idempotency-Key`, stored it as
/// the key's response in the same transaction), or found the key's stored response.
#[derive(Debug)]
pub enum Creation<T> {
    New(T),
    Replayed(StoredResponse),
}

/// The body a creation stores under its `Idempotency-Key`: exactly what the creator was sent.
pub fn stored<T: serde::Serialize>(body: &T) -> ApiResult<StoredResponse> {
    Ok(StoredResponse { status: 201, body: serde_json::to_value(body).map_err(ApiError::internal)? })
}
