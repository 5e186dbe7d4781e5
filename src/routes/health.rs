//! Probes, compatible with the original's shapes (`reference/original-service.md` §3.7, §8).
//!
//! * `live` touches nothing.
//! * `ready`: Postgres `SELECT 1` (2 s timeout, degraded above 1 s) and Redis `PING` (1 s,
//!   degraded above 500 ms). Postgres down means 503: without it nothing can be served.
//!   Redis down means 200 with status `degraded`: every read falls back to Postgres, so
//!   taking the pod out of rotation would only turn a slower service into no service.
//! * root `/health`: the same verdict, plus the cleanup job status and, with
//!   `include_deps=true`, external services, which are informational only.
//! * detailed health (pool statistics, versions, process data) is the operator's:
//!   `GET /admin/health/detailed` on the operator listener (`src/routes/operator.rs`).
//!
//! Error fields carry codes, never driver messages.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overall)).routes(routes!(live)).routes(routes!(ready)).routes(routes!(startup))
}

const SERVICE: &str = "event-service";
const DB_TIMEOUT: Duration = Duration::from_secs(2);
const DB_SLOW: Duration = Duration::from_millis(1000);
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
const REDIS_SLOW: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Up,
    Degraded,
    Down,
}

/// One dependency check. `error` is a code (`TIMEOUT`, `CONNECTION_ERROR`, `POOL_TIMEOUT`,
/// ...), present only when the check is down.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub status: CheckStatus,
    /// Milliseconds.
    pub response_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub error: Option<&'static str>,
}

impl Check {
    fn timed(result: Result<Duration, &'static str>, slow: Duration, started: Instant) -> Self {
        match result {
            Ok(took) => Check {
                status: if took > slow { CheckStatus::Degraded } else { CheckStatus::Up },
                response_time: took.as_millis() as u64,
                error: None,
            },
            Err(code) => Check {
                status: CheckStatus::Down,
                response_time: started.elapsed().as_millis() as u64,
                error: Some(code),
            },
        }
    }
}

async fn check_database(state: &AppState) -> Check {
    let started = Instant::now();
    let result = match tokio::time::timeout(DB_TIMEOUT, crate::storage::postgres::ping(state.db.pool())).await {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(sqlx::Error::Database(e))) => Err(sqlstate_code(e.code().as_deref())),
        Ok(Err(sqlx::Error::PoolTimedOut)) => Err("POOL_TIMEOUT"),
        Ok(Err(_)) => Err("CONNECTION_ERROR"),
        Err(_) => Err("TIMEOUT"),
    };
    Check::timed(result, DB_SLOW, started)
}

/// Only well-known SQLSTATEs are echoed; anything else is a generic code.
fn sqlstate_code(code: Option<&str>) -> &'static str {
    match code {
        Some("57P01") => "ADMIN_SHUTDOWN",
        Some("57P03") => "CANNOT_CONNECT_NOW",
        Some("53300") => "TOO_MANY_CONNECTIONS",
        Some("28P01" | "28000") => "AUTHENTICATION_FAILED",
        Some("3D000") => "DATABASE_NOT_FOUND",
        _ => "DATABASE_ERROR",
    }
}

async fn check_redis(state: &AppState) -> Check {
    let started = Instant::now();
    Check::timed(state.cache.ping(REDIS_TIMEOUT).await, REDIS_SLOW, started)
}

async fn local_checks(state: &AppState) -> (Check, Check) {
    tokio::join!(check_database(state), check_redis(state))
}

fn epoch_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Liveness probe.
///
/// Touches nothing.
#[utoipa::path(
    get, path = "/health/live", operation_id = "getLiveness", tag = "health",
    responses(
        (status = 200, description = "The process is alive.", body = Live),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
    )
)]
async fn live() -> Json<Value> {
    Json(json!({ "status": "ok", "timestamp": epoch_ms(), "service": SERVICE }))
}

/// Readiness probe.
///
/// Postgres `SELECT 1` (2 s timeout, degraded above 1 s) and Redis `PING` (1 s, degraded above
/// 500 ms).
#[utoipa::path(
    get, path = "/health/ready", operation_id = "getReadiness", tag = "health",
    responses(
        (status = 200, description = "Ready, or degraded (Redis down or slow).", body = Ready),
        (status = 503, description = "Not ready: Postgres is down, or shutdown has begun (draining).", body = Ready),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
    )
)]
async fn ready(State(state): State<AppState>) -> Response {
    let (database, redis) = local_checks(&state).await;
    let (status, code) = match (database.status, redis.status) {
        // Shutting down: still serving, but new traffic should go elsewhere.
        _ if state.health.is_draining() => ("draining", StatusCode::SERVICE_UNAVAILABLE),
        (CheckStatus::Down, _) => ("not_ready", StatusCode::SERVICE_UNAVAILABLE),
        (CheckStatus::Up, CheckStatus::Up) => ("ready", StatusCode::OK),
        _ => ("degraded", StatusCode::OK),
    };
    if status != "draining" {
        crate::metrics::record_readiness(code == StatusCode::OK);
    }
    let body = json!({
        "status": status,
        "timestamp": chrono::Utc::now(),
        "checks": { "database": database, "redis": redis },
    });
    (code, Json(body)).into_response()
}

/// Startup probe.
#[utoipa::path(
    get, path = "/health/startup", operation_id = "getStartup", tag = "health",
    responses(
        (status = 200, description = "Started.", body = Startup),
        (status = 503, description = "Still starting.", body = Startup),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
    )
)]
async fn startup(State(state): State<AppState>) -> Response {
    if state.health.is_started() {
        (StatusCode::OK, Json(json!({ "ready": true, "message": "started" }))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "ready": false, "message": "starting" }))).into_response()
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct OverallQuery {
    /// `true` or `1` adds the venue-service's liveness (informational only).
    #[serde(default)]
    include_deps: Option<String>,
}

/// Overall health.
///
/// The verdict, the cleanup job's status and, on request, external dependencies.
#[utoipa::path(
    get, path = "/health", operation_id = "getHealth", tag = "health",
    params(OverallQuery),
    responses(
        (status = 200, description = "Healthy, or degraded (Redis down or slow).", body = Health),
        (status = 503, description = "Unhealthy: Postgres is down.", body = Health),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
    )
)]
async fn overall(State(state): State<AppState>, Query(q): Query<OverallQuery>) -> Response {
    let (database, redis) = local_checks(&state).await;
    let (status, code) = match (database.status, redis.status) {
        (CheckStatus::Down, _) => ("unhealthy", StatusCode::SERVICE_UNAVAILABLE),
        (CheckStatus::Up, CheckStatus::Up) => ("healthy", StatusCode::OK),
        _ => ("degraded", StatusCode::OK),
    };
    let mut body = json!({
        "status": status,
        "service": SERVICE,
        "security": "enabled",
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": chrono::Utc::now(),
        "checks": { "database": database, "redis": redis },
    });
    if let Some(jobs) = state.health.jobs_report() {
        body["checks"]["reservationCleanup"] = jobs.clone();
        body["reservationCleanup"] = jobs;
    }
    if matches!(q.include_deps.as_deref(), Some("true" | "1")) {
        // Informational only: an external outage never changes our status code.
        body["dependencies"] = state.health.external(&state).await;
    }
    (code, Json(body)).into_response()
}

/// Pool statistics, versions and process data of this replica, for the operator listener
/// (`src/routes/operator.rs`); never on the public API.
pub async fn details(state: &AppState) -> Value {
    let (database, redis) = local_checks(state).await;
    let pool = state.db.pool();
    let pg_version: Option<String> = tokio::time::timeout(DB_TIMEOUT, crate::storage::postgres::server_version(pool))
        .await
        .ok()
        .and_then(Result::ok);
    json!({
        "service": SERVICE,
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": chrono::Utc::now(),
        "checks": { "database": database, "redis": redis },
        "database": {
            "version": pg_version,
            "pool": {
                "size": pool.size(),
                "idle": pool.num_idle(),
                "inUse": pool.size() as usize - pool.num_idle().min(pool.size() as usize),
                "max": state.db.max_connections(),
            },
        },
        "redis": { "version": state.cache.server_version().await, "mode": state.cache.mode() },
        "process": {
            "pid": std::process::id(),
            "uptimeSeconds": state.health.uptime().as_secs(),
            "rssBytes": rss_bytes(),
        },
    })
}

/// Resident set size from `/proc/self/status` (Linux); `None` elsewhere.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

// Documented bodies (built with `json!` above: health bodies are ad hoc) ---------------------

#[derive(ToSchema)]
pub struct Live {
    /// `ok`.
    pub status: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// `event-service`.
    pub service: String,
}

#[derive(ToSchema)]
pub struct Checks {
    pub database: Check,
    pub redis: Check,
    /// The reservation-cleanup job, once it has run (root `/health` only).
    #[schema(rename = "reservationCleanup")]
    pub reservation_cleanup: Option<Map<String, Value>>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ReadyStatus {
    Ready,
    Degraded,
    NotReady,
    Draining,
}

/// 503 `not_ready` when Postgres is down, 503 `draining` once shutdown has begun (the load
/// balancer stops routing during the pre-stop delay); Redis down is 200 `degraded`.
#[derive(ToSchema)]
pub struct Ready {
    pub status: ReadyStatus,
    pub timestamp: DateTime<Utc>,
    pub checks: Checks,
}

#[derive(ToSchema)]
pub struct Startup {
    pub ready: bool,
    /// `started` or `starting`.
    pub message: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum OverallStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The overall verdict: 503 only when Postgres is down.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Health {
    pub status: OverallStatus,
    pub service: String,
    /// `enabled`.
    pub security: String,
    pub version: String,
    pub timestamp: DateTime<Utc>,
    pub checks: Checks,
    /// The reservation-cleanup job's last runs, once it has run.
    #[schema(required = false)]
    pub reservation_cleanup: Map<String, Value>,
    /// With `include_deps=true`: `{venueService: {status, responseTime, lastChecked, error?}}`,
    /// informational only (cached 30 s).
    #[schema(required = false)]
    pub dependencies: Map<String, Value>,
}
