//! The operator's controls, on their own listener (`ADMIN_HOST`:`ADMIN_PORT`, loopback by
//! default), behind the `OPERATOR_TOKEN` bearer credential. No tenant token, however privileged
//! in its tenant, reaches them: a tenant admin is not the operator.
//!
//! Why a separate listener: these act on *this replica* (its circuit breakers, its pool), so an
//! operator must be able to address one replica, which a load-balanced public route cannot do;
//! and a port that the Kubernetes Service does not expose (reached with `kubectl port-forward`)
//! keeps them off the network the API is served on. The token is the second wall.
//!
//! * `GET /admin/breakers`, `PUT /admin/breakers/{name}` `{"state": "forced_open" | "disabled" |
//!   "closed"}`: forcing a breaker open sheds a dependency at once (e.g. during a failover).
//! * `GET /admin/health/detailed`: pool statistics, versions, breaker states, process data.
//! * `POST /admin/tenants/{tenant}/blockchain/retry-failed`: re-queues a tenant's failed
//!   on-chain registrations (tenant admins can do this for their own tenant on the public API).

use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::TenantId;
use crate::domain::registration::RegistrationsRequeued;
use crate::error::{ApiError, ApiResult};
use crate::http::json::Json as StrictJson;
use crate::http::path::{Id, Tenant};
use crate::services::registration;
use crate::state::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/breakers", get(list))
        .route("/admin/breakers/{name}", put(set))
        .route("/admin/health/detailed", get(detailed))
        .route("/admin/tenants/{tenant}/blockchain/retry-failed", post(retry_failed))
        .route_layer(middleware::from_fn_with_state(state, require_operator))
}

/// `Authorization: Bearer <OPERATOR_TOKEN>`, compared in constant time.
async fn require_operator(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.config.operator.token.as_ref() else {
        return ApiError::forbidden("operator controls are off (no OPERATOR_TOKEN)").into_response();
    };
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), expected.expose_secret().as_bytes()) {
        tracing::warn!("operator call refused: wrong or missing credential");
        return ApiError::unauthorized("the operator credential is required").into_response();
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// This replica's breakers by name (`postgres`, `redis`, `venue`, `solana_read`,
/// `solana_send`) and their states (`closed`, `open`, `half_open`, `forced_open`, `disabled`).
type BreakerStates = BTreeMap<&'static str, &'static str>;

fn states(state: &AppState) -> BreakerStates {
    state.breakers().into_iter().map(|(name, handle)| (name, handle.state().as_str())).collect()
}

#[derive(Serialize)]
struct Breakers {
    breakers: BreakerStates,
}

#[derive(Serialize)]
struct BreakerChange {
    breaker: &'static str,
    state: &'static str,
    breakers: BreakerStates,
}

async fn list(State(state): State<AppState>) -> Json<Breakers> {
    Json(Breakers { breakers: states(&state) })
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
    Path(name): Path<String>,
    StrictJson(body): StrictJson<SetBreaker>,
) -> ApiResult<Json<BreakerChange>> {
    let (breaker, handle) =
        state.breakers().into_iter().find(|(n, _)| *n == name).ok_or_else(|| ApiError::not_found("Breaker"))?;
    match body.state {
        Target::ForcedOpen => handle.force_open(),
        Target::Disabled => handle.disable(),
        Target::Closed => handle.reset(),
    }
    tracing::warn!(breaker = %name, state = handle.state().as_str(), "breaker state set by the operator");
    Ok(Json(BreakerChange { breaker, state: handle.state().as_str(), breakers: states(&state) }))
}

async fn detailed(State(state): State<AppState>) -> Json<Value> {
    let mut body = crate::routes::health::details(&state).await;
    // `details` is the health module's ad-hoc body; the breakers are added here, where they are known.
    body["breakers"] = serde_json::to_value(states(&state)).unwrap_or_default();
    Json(body)
}

async fn retry_failed(
    State(state): State<AppState>,
    Id(tenant, ..): Id<Tenant>,
) -> ApiResult<Json<RegistrationsRequeued>> {
    let tenant = TenantId::from_uuid(tenant);
    let requeued = registration::requeue_failed(&state, tenant, None).await?;
    tracing::warn!(%tenant, count = requeued.len(), "failed on-chain registrations re-queued by the operator");
    Ok(Json(RegistrationsRequeued::new(Some(tenant), requeued)))
}
