//! Tenant administration: a tenant admin re-queues its own tenant's failed on-chain
//! registrations. What acts on a replica or the platform (circuit breakers, detailed health,
//! other tenants) is the operator's, on its own listener (`src/routes/operator.rs`).

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::services::registration;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/blockchain/events/{id}/retry", post(retry_registration))
        .route("/admin/blockchain/retry-failed", post(retry_all_registrations))
}

/// Retries a failed on-chain registration.
#[utoipa::path(
    post, path = "/admin/blockchain/events/{id}/retry", operation_id = "retryRegistration", tag = "admin",
    description = "Re-queues the failed on-chain registration of one event of the caller's tenant. \
        Admin role only; 409 `INVALID_REGISTRATION_STATE` unless the registration failed.",
    security(("bearerAuth" = [])),
    params(("id" = Uuid, Path, description = "The event.")),
    responses(
        (status = 200, description = "Re-queued.", body = crate::openapi::RegistrationRequeued),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::Conflict),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn retry_registration(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let id = crate::http::query::path_uuid(&id, "Event")?;
    let requeued = registration::requeue_failed(&state, user.tenant, Some(id)).await?;
    if requeued.is_empty() {
        // Unknown, of another tenant, or not failed: none of them can be re-queued.
        let current = registration::registration_state(&state, user.tenant, id).await?;
        return Err(match current {
            None => ApiError::not_found("Registration"),
            Some(s) => ApiError::conflict(
                "INVALID_REGISTRATION_STATE",
                format!("only a failed registration can be retried; this one is {}", s.status),
            ),
        });
    }
    tracing::warn!(event_id = %id, operator = %user.user_id, "failed on-chain registration re-queued");
    Ok(Json(json!({ "event_id": id, "blockchain_status": "pending" })))
}

/// Retries every failed on-chain registration.
#[utoipa::path(
    post, path = "/admin/blockchain/retry-failed", operation_id = "retryFailedRegistrations", tag = "admin",
    description = "Re-queues every failed on-chain registration of the caller's tenant. Admin role only.",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The re-queued events.", body = crate::openapi::RegistrationsRequeued),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 500, response = crate::openapi::InternalError),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn retry_all_registrations(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let requeued = registration::requeue_failed(&state, user.tenant, None).await?;
    tracing::warn!(count = requeued.len(), operator = %user.user_id, "failed on-chain registrations re-queued");
    Ok(Json(json!({ "requeued": requeued.len(), "event_ids": requeued })))
}
