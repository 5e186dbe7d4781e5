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

async fn list(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    Ok(Json(json!({ "breakers": states(&state) })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Target {
    ForcedOpen,
    Disabled,
    Closed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBreaker {
    state: Target,
}

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

/// Re-queues the failed on-chain registration of one event of the caller's tenant.
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

/// Re-queues every failed on-chain registration of the caller's tenant.
async fn retry_all_registrations(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Value>> {
    user.require_admin()?;
    let requeued = registration::requeue_failed(&state, user.tenant, None).await?;
    tracing::warn!(count = requeued.len(), operator = %user.user_id, "failed on-chain registrations re-queued");
    Ok(Json(json!({ "requeued": requeued.len(), "event_ids": requeued })))
}
