//! Operator controls: the circuit breakers of this replica. Forcing a breaker open sheds a
//! dependency at once (e.g. during a failover); disabling passes everything through; reset
//! closes it and clears its window. State is per replica, like the breakers themselves.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::http::json::Json as StrictJson;
use crate::services::registration;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/breakers", get(list))
        .route("/admin/breakers/{name}", axum::routing::put(set))
        .route("/admin/blockchain/events/{id}/retry", post(retry_registration))
        .route("/admin/blockchain/retry-failed", post(retry_all_registrations))
}

fn states(state: &AppState) -> Value {
    state
        .breakers()
        .into_iter()
        .map(|(name, handle)| (name.to_owned(), Value::from(handle.state().as_str())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Lists this replica's circuit breakers.
///
/// Admin role only.
#[utoipa::path(
    get, path = "/admin/breakers", operation_id = "listBreakers", tag = "admin",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "Breaker states by name.", body = crate::openapi::BreakerStates),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 429, response = crate::openapi::TooManyRequests),
    )
)]
async fn list(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    Ok(Json(json!({ "breakers": states(&state) })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = BreakerTarget)]
enum Target {
    ForcedOpen,
    Disabled,
    Closed,
}

/// `forced_open` sheds the dependency at once, `disabled` passes everything through, `closed`
/// resets the breaker and clears its window.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BreakerUpdate)]
struct SetBreaker {
    state: Target,
}

/// Forces, disables or resets a circuit breaker.
///
/// For incidents; state is per replica. Admin role only.
#[utoipa::path(
    put, path = "/admin/breakers/{name}", operation_id = "setBreaker", tag = "admin",
    security(("bearerAuth" = [])),
    params(("name" = String, Path, description = "`postgres`, `redis`, `venue`, `solana_read` or `solana_send`.")),
    request_body(content = SetBreaker, content_type = "application/json"),
    responses(
        (status = 200, description = "The breaker's new state and all states.", body = crate::openapi::BreakerChange),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::TooManyRequests),
    )
)]
async fn set(
    State(state): State<AppState>,
    user: AuthUser,
    Path(name): Path<String>,
    StrictJson(body): StrictJson<SetBreaker>,
) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let (_, handle) =
        state.breakers().into_iter().find(|(n, _)| *n == name).ok_or_else(|| ApiError::not_found("Breaker"))?;
    match body.state {
        Target::ForcedOpen => handle.force_open(),
        Target::Disabled => handle.disable(),
        Target::Closed => handle.reset(),
    }
    tracing::warn!(breaker = %name, state = handle.state().as_str(), operator = %user.user_id, "breaker state set by an operator");
    Ok(Json(json!({ "breaker": name, "state": handle.state().as_str(), "breakers": states(&state) })))
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
