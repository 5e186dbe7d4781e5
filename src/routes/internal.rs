//! Service-to-service routes, authenticated by HMAC (always on), where the platform's callers
//! call them: `/internal/events/...` at the root (every caller: the shared `EventServiceClient`,
//! order-service, ticket-service, minting, marketplace, monitoring), and the same routes under
//! `/api/v1/internal/...` for callers configured with an `/api/v1` base URL. The signature is
//! checked over the path as received, so each caller's signature matches the URL it used.
//!
//! Bodies keep the camelCase shapes the callers read (`reference/platform-contracts.md` §1.2).
//!
//! # Tenant
//!
//! A tenant UUID in `X-Tenant-ID` scopes the call: another tenant's event is 404. Without a
//! tenant (`system`, `default`, or no header, as monitoring, marketplace, notification and
//! order-service send) a *read* resolves the event's own tenant through a system function that
//! returns only that id, and then reads the event under RLS in that tenant; the aggregate routes
//! (`active`, `metrics`) cover the whole platform. Writes always need a tenant UUID.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::TenantId;
use crate::domain::internal::{
    ActiveEventsOut, BlockchainStatusResult, BlockchainStatusUpdate, EventMetricsOut, EventStatusOut,
    InternalEventEnvelope, InternalEventPda, ScanStatsOut, TransferRestrictionsOut,
};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::internal_auth::InternalCaller;
use crate::http::json::Json as StrictJson;
use crate::http::path::{Event, Id};
use crate::http::query::Query;
use crate::services::events as service;
use crate::services::internal::{self as platform, Scope};
use crate::state::AppState;

/// The routes; `routes::api` puts them behind the HMAC check.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(active))
        .routes(routes!(metrics))
        .routes(routes!(event))
        .routes(routes!(pda))
        .routes(routes!(scan_stats))
        .routes(routes!(status))
        .routes(routes!(transfer_restrictions))
        .routes(routes!(blockchain_status))
}

/// The tenant named by `X-Tenant-ID`, or [`Scope::Platform`] for the placeholders the platform
/// sends when it has no tenant. `write`: placeholders are refused.
fn scope(headers: &HeaderMap, write: bool) -> ApiResult<Scope> {
    let raw = match headers.get("x-tenant-id") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| invalid_tenant())?.trim()),
    };
    let placeholder = match raw {
        None | Some("") => true,
        Some(v) => v.eq_ignore_ascii_case("system") || v.eq_ignore_ascii_case("default"),
    };
    if placeholder {
        return if write {
            Err(ApiError::bad_request("MISSING_TENANT_ID", "X-Tenant-ID must name the tenant (a UUID) on writes"))
        } else {
            Ok(Scope::Platform)
        };
    }
    match raw.and_then(|v| v.parse::<TenantId>().ok()) {
        Some(tenant) if !tenant.as_uuid().is_nil() => Ok(Scope::Tenant(tenant)),
        _ => Err(invalid_tenant()),
    }
}

/// The tenant UUID a write must name.
fn write_tenant(headers: &HeaderMap) -> ApiResult<TenantId> {
    match scope(headers, true)? {
        Scope::Tenant(tenant) => Ok(tenant),
        Scope::Platform => Err(ApiError::bad_request("MISSING_TENANT_ID", "X-Tenant-ID must name the tenant")),
    }
}

fn invalid_tenant() -> ApiError {
    ApiError::bad_request("INVALID_TENANT_FORMAT", "X-Tenant-ID must be a tenant UUID, `system` or `default`")
}

/// The event's tenant for a read, and the event id.
async fn locate(state: &AppState, headers: &HeaderMap, id: uuid::Uuid) -> ApiResult<(TenantId, uuid::Uuid)> {
    let scope = scope(headers, false)?;
    Ok((platform::tenant_of(state, scope, id).await?, id))
}

/// Gets an event for another service.
///
/// The camelCase shape other services consume, royalty fields included.
#[utoipa::path(
    get, path = "/internal/events/{id}", operation_id = "getInternalEvent", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        Id<Event>,
        ("X-Tenant-ID" = Option<String>, Header, description = "The tenant (a UUID), or `system`/`default`/absent: the event's own tenant (400 `INVALID_TENANT_FORMAT` otherwise)."),
        ("x-internal-body-hash" = Option<String>, Header, description = "Hex SHA-256 of the body, as signed; empty or absent without a body."),
    ),
    responses(
        (status = 200, description = "The event.", body = InternalEventEnvelope),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 413, response = crate::http::problem::PayloadTooLarge),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn event(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
    Id(id, ..): Id<Event>,
) -> ApiResult<Json<InternalEventEnvelope>> {
    let (tenant, id) = locate(&state, &headers, id).await?;
    let event = service::get(&state, tenant, id).await?;
    Ok(Json(InternalEventEnvelope { event: event.into() }))
}

/// Gets an event's chain data.
///
/// Its on-chain addresses and the state of its registration.
#[utoipa::path(
    get, path = "/internal/events/{id}/pda", operation_id = "getInternalEventPda", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        Id<Event>,
        ("X-Tenant-ID" = Option<String>, Header, description = "The tenant (a UUID), or `system`/`default`/absent: the event's own tenant (400 `INVALID_TENANT_FORMAT` otherwise)."),
        ("x-internal-body-hash" = Option<String>, Header, description = "Hex SHA-256 of the body, as signed; empty or absent without a body."),
    ),
    responses(
        (status = 200, description = "The chain data.", body = InternalEventPda),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 413, response = crate::http::problem::PayloadTooLarge),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn pda(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
    Id(id, ..): Id<Event>,
) -> ApiResult<Json<InternalEventPda>> {
    let (tenant, id) = locate(&state, &headers, id).await?;
    Ok(Json(platform::pda(&state, tenant, id).await?))
}

/// Records an on-chain registration's outcome.
///
/// For a registration done elsewhere; keeps the outbox in step so the worker does not
/// register the event again.
#[utoipa::path(
    put, path = "/internal/events/{id}/blockchain-status", operation_id = "setBlockchainStatus", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        Id<Event>,
        ("X-Tenant-ID" = Uuid, Header, description = "The tenant the event belongs to (400 `MISSING_TENANT_ID` / `INVALID_TENANT_FORMAT`)."),
        ("x-internal-body-hash" = Option<String>, Header, description = "Hex SHA-256 of the body, as signed; empty or absent without a body."),
    ),
    request_body(content = BlockchainStatusUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded.", body = BlockchainStatusResult),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 404, response = crate::http::problem::NotFound),
        (status = 413, response = crate::http::problem::PayloadTooLarge),
        (status = 415, response = crate::http::problem::UnsupportedMediaType),
        (status = 422, response = crate::http::problem::Unprocessable),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn blockchain_status(
    State(state): State<AppState>,
    caller: InternalCaller,
    headers: HeaderMap,
    Id(id, ..): Id<Event>,
    StrictJson(update): StrictJson<BlockchainStatusUpdate>,
) -> ApiResult<Json<BlockchainStatusResult>> {
    let tenant = write_tenant(&headers)?;
    Ok(Json(platform::record_chain_outcome(&state, tenant, id, &caller.service, update).await?))
}

/// Gets an event's status, for refund decisions.
///
/// Read by order-service's refund eligibility: `isCancelled` (also for a deleted event),
/// `isPostponed`, `isRescheduled`, and the dates it moved between.
#[utoipa::path(
    get, path = "/internal/events/{id}/status", operation_id = "getInternalEventStatus", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        Id<Event>,
        ("X-Tenant-ID" = Option<String>, Header, description = "The tenant (a UUID), or `system`/`default`/absent: the event's own tenant (400 `INVALID_TENANT_FORMAT` otherwise)."),
    ),
    responses(
        (status = 200, description = "The event's status.", body = EventStatusOut),
        crate::http::problem::InternalErrors,
    )
)]
async fn status(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
    Id(id, ..): Id<Event>,
) -> ApiResult<Json<EventStatusOut>> {
    let (tenant, id) = locate(&state, &headers, id).await?;
    Ok(Json(platform::status(&state, tenant, id).await?))
}

/// Gets an event's ticket transfer rules.
///
/// Read by ticket-service before a transfer. A cancelled, completed or deleted event answers
/// `allowTransfers: false` (not 404, which ticket-service reads as "no restrictions").
#[utoipa::path(
    get, path = "/internal/events/{id}/transfer-restrictions", operation_id = "getInternalTransferRestrictions", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        Id<Event>,
        ("X-Tenant-ID" = Option<String>, Header, description = "The tenant (a UUID), or `system`/`default`/absent: the event's own tenant (400 `INVALID_TENANT_FORMAT` otherwise)."),
    ),
    responses(
        (status = 200, description = "The transfer rules.", body = TransferRestrictionsOut),
        crate::http::problem::InternalErrors,
    )
)]
async fn transfer_restrictions(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
    Id(id, ..): Id<Event>,
) -> ApiResult<Json<TransferRestrictionsOut>> {
    let (tenant, id) = locate(&state, &headers, id).await?;
    Ok(Json(platform::transfer_restrictions(&state, tenant, id).await?))
}

/// Gets an event's entry statistics.
///
/// Ticket counts come from ticket-service (`/internal/tickets/by-event`, at most 5 s; zeros and
/// `ticketStatsSource: unavailable` when it cannot answer, as the original), timing and capacity
/// from this service.
#[utoipa::path(
    get, path = "/internal/events/{id}/scan-stats", operation_id = "getInternalScanStats", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        Id<Event>,
        ("X-Tenant-ID" = Option<String>, Header, description = "The tenant (a UUID), or `system`/`default`/absent: the event's own tenant (400 `INVALID_TENANT_FORMAT` otherwise)."),
    ),
    responses(
        (status = 200, description = "The statistics.", body = ScanStatsOut),
        crate::http::problem::InternalErrors,
    )
)]
async fn scan_stats(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
    Id(id, ..): Id<Event>,
) -> ApiResult<Json<ScanStatsOut>> {
    let (tenant, id) = locate(&state, &headers, id).await?;
    Ok(Json(platform::scan_stats(&state, tenant, id).await?))
}

/// Lists events on sale.
///
/// Read by monitoring-service every 30 s (`events[].id`, `events[].name`). With a tenant UUID,
/// that tenant's events; without one (`system`), the platform's, newest first, at most 200.
#[utoipa::path(
    get, path = "/internal/events/active", operation_id = "listInternalActiveEvents", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        ("X-Tenant-ID" = Option<String>, Header, description = "A tenant UUID, or `system`/`default`/absent for the whole platform."),
    ),
    responses(
        (status = 200, description = "Events on sale.", body = ActiveEventsOut),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn active(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
) -> ApiResult<Json<ActiveEventsOut>> {
    Ok(Json(platform::active(&state, scope(&headers, false)?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct MetricsQuery {
    /// Days back from now (1-3650, default 30).
    #[param(minimum = 1, maximum = 3650)]
    period_days: Option<i32>,
}

/// Counts events.
///
/// Read by monitoring-service (`totalEvents`) as `?periodDays=30`. With a tenant UUID, that
/// tenant's events; without one (`system`), the platform's.
#[utoipa::path(
    get, path = "/internal/events/metrics", operation_id = "getInternalEventMetrics", tag = "internal",
    security(("internalService" = [], "internalTimestamp" = [], "internalNonce" = [], "internalSignature" = [])),
    params(
        MetricsQuery,
        ("X-Tenant-ID" = Option<String>, Header, description = "A tenant UUID, or `system`/`default`/absent for the whole platform."),
    ),
    responses(
        (status = 200, description = "Event counts.", body = EventMetricsOut),
        (status = 400, response = crate::http::problem::BadRequest),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn metrics(
    State(state): State<AppState>,
    _caller: InternalCaller,
    headers: HeaderMap,
    Query(query): Query<MetricsQuery>,
) -> ApiResult<Json<EventMetricsOut>> {
    let period_days = query.period_days.unwrap_or(30);
    if !(1..=3650).contains(&period_days) {
        return Err(ApiError::validation(vec![FieldError::new(
            "periodDays",
            "VALUE_OUT_OF_RANGE",
            "must be between 1 and 3650",
        )]));
    }
    Ok(Json(platform::metrics(&state, scope(&headers, false)?, period_days).await?))
}
