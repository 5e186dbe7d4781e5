//! Tenant administration: a tenant admin re-queues its own tenant's failed on-chain
//! registrations. What acts on a replica or the platform (circuit breakers, detailed health,
//! other tenants) is the operator's, on its own listener (`src/routes/operator.rs`).

use axum::Json;
use axum::extract::State;

use crate::auth::AuthUser;
use crate::domain::registration::{RegistrationRequeued, RegistrationsRequeued};
use crate::error::{ApiError, ApiResult};
use crate::http::path::{Event, Id};
use crate::services::registration;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(retry_registration)).routes(routes!(retry_all_registrations))
}

/// Retries a failed on-chain registration.
#[utoipa::path(
    post, path = "/admin/blockchain/events/{id}/retry", operation_id = "retryRegistration", tag = "admin",
    description = "Re-queues the failed on-chain registration of one event of the caller's tenant. \
        Admin role only; 409 `INVALID_REGISTRATION_STATE` unless the registration failed.",
    security(("bearerAuth" = [])),
    params(Id<Event>),
    responses(
        (status = 200, description = "Re-queued.", body = RegistrationRequeued),
        crate::http::problem::ActionErrors,
    )
)]
async fn retry_registration(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id, ..): Id<Event>,
) -> ApiResult<Json<RegistrationRequeued>> {
    user.require_admin()?;
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
    Ok(Json(RegistrationRequeued::new(id)))
}

/// Retries every failed on-chain registration.
#[utoipa::path(
    post, path = "/admin/blockchain/retry-failed", operation_id = "retryFailedRegistrations", tag = "admin",
    description = "Re-queues every failed on-chain registration of the caller's tenant. Admin role only.",
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The re-queued events.", body = RegistrationsRequeued),
        (status = 401, response = crate::http::problem::Unauthorized),
        (status = 403, response = crate::http::problem::Forbidden),
        (status = 429, response = crate::http::problem::TooManyRequests),
        (status = 500, response = crate::http::problem::InternalError),
        (status = 503, response = crate::http::problem::Unavailable),
    )
)]
async fn retry_all_registrations(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<RegistrationsRequeued>> {
    user.require_admin()?;
    let requeued = registration::requeue_failed(&state, user.tenant, None).await?;
    tracing::warn!(count = requeued.len(), operator = %user.user_id, "failed on-chain registrations re-queued");
    Ok(Json(RegistrationsRequeued::new(None, requeued)))
}
