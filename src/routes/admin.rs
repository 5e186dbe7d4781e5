//! Operator controls: the circuit breakers of this replica. Forcing a breaker open sheds a
//! dependency at once (e.g. during a failover); disabling passes everything through; reset
//! closes it and clears its window. State is per replica, like the breakers themselves.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::http::json::Json as StrictJson;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/breakers", get(list)).route("/admin/breakers/{name}", axum::routing::put(set))
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
