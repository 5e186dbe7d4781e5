//! Service-to-service routes under `/api/v1/internal`, authenticated by HMAC (always on).
//!
//! Bodies keep the camelCase shapes other platform services already consume. Unlike the
//! original, a lookup is never cross-tenant: callers name the tenant in `X-Tenant-ID`, and
//! row-level security scopes the query to it.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, put};
use axum::{Json, Router, middleware};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::TenantId;
use crate::domain::event::is_solana_address;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::internal_auth::{InternalCaller, require_internal_hmac};
use crate::http::json::Json as StrictJson;
use crate::http::query::path_uuid;
use crate::services::events as service;
use crate::services::registration;
use crate::state::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/internal/events/{id}", get(event))
        .route("/internal/events/{id}/pda", get(pda))
        .route("/internal/events/{id}/blockchain-status", put(blockchain_status))
        .route_layer(middleware::from_fn_with_state(state, require_internal_hmac))
}

fn tenant_header(headers: &HeaderMap) -> ApiResult<TenantId> {
    let raw = headers
        .get("x-tenant-id")
        .ok_or_else(|| ApiError::bad_request("MISSING_TENANT_ID", "X-Tenant-ID is required on internal calls"))?;
    raw.to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("INVALID_TENANT_FORMAT", "X-Tenant-ID must be a UUID"))
}

/// The event named by the path, in the tenant named by `X-Tenant-ID`.
async fn load(state: &AppState, headers: &HeaderMap, id: &str) -> ApiResult<Value> {
    let tenant = tenant_header(headers)?;
    service::get(state, tenant, path_uuid(id, "Event")?).await
}

fn pick(event: &Value, field: &str) -> Value {
    event.get(field).cloned().unwrap_or(Value::Null)
}

/// Gets an event for another service.
///
/// The camelCase shape other services consume, royalty fields included.
#[utoipa::path(
    get, path = "/internal/events/{id}", operation_id = "getInternalEvent", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        ("id" = Uuid, Path, description = "The event."),
        ("X-Tenant-ID" = Uuid, Header, description = "The tenant the event belongs to (400 `MISSING_TENANT_ID` / `INVALID_TENANT_FORMAT`)."),
        ("x-internal-body-hash" = Option<String>, Header, description = "Hex SHA-256 of the body, as signed; empty or absent without a body."),
    ),
    responses(
        (status = 200, description = "The event.", body = crate::openapi::InternalEventEnvelope),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn event(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let e = load(&state, &headers, &id).await?;
    let p = |f: &str| pick(&e, f);
    Ok(Json(json!({ "event": {
        "id": p("id"), "tenantId": p("tenant_id"), "name": p("name"), "description": p("description"),
        "shortDescription": p("short_description"), "venueId": p("venue_id"), "venueLayoutId": p("venue_layout_id"),
        "eventType": p("event_type"), "status": p("status"), "visibility": p("visibility"),
        "startsAt": p("starts_at"), "endsAt": p("ends_at"), "doorsOpen": p("doors_open"), "timezone": p("timezone"),
        "bannerImageUrl": p("banner_image_url"), "thumbnailImageUrl": p("thumbnail_image_url"),
        "capacity": p("capacity"), "isVirtual": p("is_virtual"), "isHybrid": p("is_hybrid"),
        "eventPda": p("event_pda"), "artistWallet": p("artist_wallet"), "artistPercentage": p("artist_percentage"),
        "venuePercentage": p("venue_percentage"), "resaleable": p("resaleable"),
        "cancellationPolicy": p("cancellation_policy"), "refundPolicy": p("refund_policy"),
        "createdAt": p("created_at"), "updatedAt": p("updated_at"), "publishedAt": p("published_at"),
        "blockchainStatus": p("blockchain_status"),
    }})))
}

/// Gets an event's chain data.
///
/// Its on-chain addresses and the state of its registration.
#[utoipa::path(
    get, path = "/internal/events/{id}/pda", operation_id = "getInternalEventPda", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        ("id" = Uuid, Path, description = "The event."),
        ("X-Tenant-ID" = Uuid, Header, description = "The tenant the event belongs to (400 `MISSING_TENANT_ID` / `INVALID_TENANT_FORMAT`)."),
        ("x-internal-body-hash" = Option<String>, Header, description = "Hex SHA-256 of the body, as signed; empty or absent without a body."),
    ),
    responses(
        (status = 200, description = "The chain data.", body = crate::openapi::InternalEventPda),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn pda(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant_header(&headers)?;
    let e = load(&state, &headers, &id).await?;
    let p = |f: &str| pick(&e, f);
    let has_config = !p("artist_wallet").is_null() || !p("event_pda").is_null();
    let event_id = path_uuid(&id, "Event")?;
    let registration = registration::registration_state(&state, tenant, event_id).await?;
    let registration = registration.map(|r| {
        json!({
            "status": r.status, "attempts": r.attempts, "lastError": r.last_error,
            "nextAttemptAt": r.next_attempt_at, "lastAttemptAt": r.last_attempt_at, "completedAt": r.completed_at,
            "signature": r.tx_signature, "eventPda": r.event_pda, "venuePda": r.venue_pda,
        })
    });
    Ok(Json(json!({
        "eventId": p("id"), "tenantId": p("tenant_id"), "name": p("name"), "status": p("status"), "venueId": p("venue_id"),
        "blockchain": {
            "eventPda": p("event_pda"), "merkleTreeAddress": p("merkle_tree_address"), "collectionMint": p("collection_mint"),
            "artistWallet": p("artist_wallet"), "artistPercentage": p("artist_percentage"),
            "venuePercentage": p("venue_percentage"), "platformPercentage": p("platform_percentage"),
            "resaleable": p("resaleable"), "maxResalePricePercentage": p("max_resale_price_percentage"),
            "status": p("blockchain_status"), "signature": p("blockchain_tx_signature"),
            "error": p("blockchain_error"), "syncedAt": p("blockchain_synced_at"),
        },
        "registration": registration,
        "hasBlockchainConfig": has_config,
    })))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum SyncStatus {
    Synced,
    Failed,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = BlockchainStatusUpdate)]
struct BlockchainStatusBody {
    status: SyncStatus,
    /// A base58 address; required when `status` is `synced`.
    #[schema(pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")]
    event_pda: Option<String>,
    #[schema(max_length = 100)]
    signature: Option<String>,
    /// Kept when `status` is `failed`.
    error: Option<String>,
    /// Default now, for `synced`.
    synced_at: Option<DateTime<Utc>>,
}

/// Records an on-chain registration's outcome.
///
/// For a registration done elsewhere; keeps the outbox in step so the worker does not
/// register the event again.
#[utoipa::path(
    put, path = "/internal/events/{id}/blockchain-status", operation_id = "setBlockchainStatus", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        ("id" = Uuid, Path, description = "The event."),
        ("X-Tenant-ID" = Uuid, Header, description = "The tenant the event belongs to (400 `MISSING_TENANT_ID` / `INVALID_TENANT_FORMAT`)."),
        ("x-internal-body-hash" = Option<String>, Header, description = "Hex SHA-256 of the body, as signed; empty or absent without a body."),
    ),
    request_body(content = BlockchainStatusBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded.", body = crate::openapi::BlockchainStatusResult),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, response = crate::openapi::Unprocessable),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn blockchain_status(
    State(state): State<AppState>,
    caller: InternalCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<BlockchainStatusBody>,
) -> ApiResult<Json<Value>> {
    let tenant = tenant_header(&headers)?;
    let id = path_uuid(&id, "Event")?;
    let mut errors = Vec::new();
    if body.status == SyncStatus::Synced && body.event_pda.is_none() {
        errors.push(FieldError::new("eventPda", "REQUIRED_FIELD", "is required when status is synced"));
    }
    if body.event_pda.as_deref().is_some_and(|p| !is_solana_address(p)) {
        errors.push(FieldError::new("eventPda", "INVALID_FORMAT", "must be a base58 address"));
    }
    if body.signature.as_deref().is_some_and(|s| s.len() > 100) {
        errors.push(FieldError::new("signature", "STRING_TOO_LONG", "must be at most 100 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(errors));
    }
    let status = if body.status == SyncStatus::Synced { "synced" } else { "failed" };
    let actor = caller.service.clone();
    let updated = state
        .db
        .write(tenant, move |tx| {
            let (body, actor) = (body.clone(), actor.clone());
            async move {
                let tenant = *tx.tenant().as_uuid();
                let found: Option<Option<String>> = sqlx::query_scalar(
                    "update events set blockchain_status = $3, event_pda = coalesce($4, event_pda),
                            blockchain_tx_signature = coalesce($5, blockchain_tx_signature),
                            blockchain_error = case when $3 = 'failed' then $6 else null end,
                            blockchain_synced_at = case when $3 = 'synced' then coalesce($7, now()) else blockchain_synced_at end,
                            updated_by = $8
                      where tenant_id = $1 and id = $2 and deleted_at is null
                      returning event_pda",
                )
                .bind(tenant)
                .bind(id)
                .bind(status)
                .bind(&body.event_pda)
                .bind(&body.signature)
                .bind(&body.error)
                .bind(body.synced_at)
                .bind(&actor)
                .fetch_optional(tx.conn())
                .await?;
                let pda = found.ok_or_else(|| ApiError::not_found("Event"))?;
                // Keep the outbox in step, so the worker does not register it again.
                sqlx::query(
                    "update blockchain_outbox set status = $3, tx_signature = coalesce($4, tx_signature),
                            event_pda = coalesce($5, event_pda), last_error = $6,
                            completed_at = case when $3 = 'synced' then now() else completed_at end
                      where tenant_id = $1 and event_id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(status)
                .bind(&body.signature)
                .bind(&body.event_pda)
                .bind(&body.error)
                .execute(tx.conn())
                .await?;
                Ok(pda)
            }
            .boxed()
        })
        .await?;
    state.cache.delete(tenant, &[&crate::services::events::event_key(id)]).await;
    Ok(Json(json!({
        "success": true, "eventId": id, "status": status, "eventPda": updated,
        "message": format!("blockchain status set to {status}"),
    })))
}
