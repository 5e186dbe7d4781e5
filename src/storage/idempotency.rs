//! Idempotency keys, kept in Postgres in the same transaction as the creation they guard.
//!
//! A retry after a crash or a timeout therefore finds either nothing (the first attempt rolled
//! back, so it runs again) or the stored final response (it committed, so it is replayed);
//! it can never create twice. A concurrent duplicate is detected with a transaction-scoped
//! advisory try-lock on (tenant, key) and answered 409 at once instead of queueing.

use serde_json::Value;

use crate::error::{ApiError, ApiResult, FieldError};
use crate::storage::TenantTx;

/// The request a key is bound to: the same key with another method, path or body is refused.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub key: String,
    pub method: &'static str,
    pub path: String,
    pub body_hash: String,
}

/// A stored final response.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Value,
}

/// Takes the key's lock and returns the stored response if this key was already used for the
/// same request. Must run first in the creating transaction.
pub async fn begin(tx: &mut TenantTx, fp: &Fingerprint) -> ApiResult<Option<StoredResponse>> {
    let tenant = tx.tenant();
    let locked: bool = sqlx::query_scalar!(
        r#"select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as "pg_try_advisory_xact_lock!""#,
        format!("idempotency:{tenant}:{}", fp.key),
    )
    .fetch_one(tx.conn())
    .await?;
    if !locked {
        return Err(ApiError::conflict(
            "IDEMPOTENCY_CONFLICT",
            "A request with this Idempotency-Key is still in progress",
        ));
    }
    lookup(tx, fp).await
}

/// The stored response for this key, without taking its lock: lets a retry be answered before
/// anything else (validation against the clock, the venue lookup) could judge it differently.
pub async fn lookup(tx: &mut TenantTx, fp: &Fingerprint) -> ApiResult<Option<StoredResponse>> {
    let tenant = tx.tenant();
    let row = sqlx::query!(
        "select request_method, request_path, request_hash, response_status, response_body
           from idempotency_keys
          where tenant_id = $1 and idempotency_key = $2 and expires_at > now()",
        tenant.as_uuid(),
        &fp.key,
    )
    .fetch_optional(tx.conn())
    .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            if row.request_method != fp.method || row.request_path != fp.path || row.request_hash != fp.body_hash {
                return Err(ApiError::unprocessable(vec![FieldError::new(
                    "Idempotency-Key",
                    "IDEMPOTENCY_KEY_MISMATCH",
                    "this key was used for a different request",
                )])
                .with_code("IDEMPOTENCY_KEY_MISMATCH"));
            }
            Ok(Some(StoredResponse {
                status: row.response_status as u16,
                body: row.response_body.unwrap_or(Value::Null),
            }))
        }
    }
}

/// Records the final response in the creating transaction. An expired row for the same key
/// is replaced. The new row's defaults give the times (`excluded.created_at` is `now()`): Citus
/// refuses non-immutable functions in `ON CONFLICT`.
pub async fn finish(tx: &mut TenantTx, fp: &Fingerprint, response: &StoredResponse) -> ApiResult<()> {
    let tenant = tx.tenant();
    let status = response.status as i16;
    sqlx::query!(
        "insert into idempotency_keys
             (tenant_id, idempotency_key, request_method, request_path, request_hash, response_status, response_body)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (tenant_id, idempotency_key) do update
            set request_method = excluded.request_method, request_path = excluded.request_path,
                request_hash = excluded.request_hash, response_status = excluded.response_status,
                response_body = excluded.response_body, created_at = excluded.created_at, expires_at = excluded.expires_at
          where idempotency_keys.expires_at <= excluded.created_at",
        tenant.as_uuid(),
        &fp.key,
        fp.method,
        &fp.path,
        &fp.body_hash,
        status,
        &response.body,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Validates an `Idempotency-Key` header value (1-256 of `[A-Za-z0-9_-]`).
pub fn parse_key(raw: &str) -> ApiResult<String> {
    let ok = (1..=256).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::bad_request(
            "INVALID_IDEMPOTENCY_KEY",
            "Idempotency-Key must be 1-256 characters of A-Z, a-z, 0-9, - and _",
        ))
    }
}
