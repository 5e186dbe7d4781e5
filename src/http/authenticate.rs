//! Authentication middleware: verifies the bearer token, then the token's revocation and its
//! tenant's status, and puts the [`AuthUser`] where handlers and the limiters find it.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Verifies a bearer token when one is sent and puts the [`AuthUser`] in the request
/// extensions, where the extractor and the rate limiter find it. A request without a token
/// passes (probes need none); a bad, revoked or suspended-tenant token is rejected here.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(header) = req.headers().get(axum::http::header::AUTHORIZATION) {
        let ip = crate::http::rate_limit::client_ip(&req);
        let limit = state.config.rate_limit.auth_failures_per_minute;
        if let Some(ip) = ip
            && state.auth_failures.exceeded(ip, limit)
        {
            metrics::counter!("auth_failure_limit_rejections_total").increment(1);
            // Seconds until this address's minute ends, when its count starts again.
            let retry_after = 60 - (chrono::Utc::now().timestamp().rem_euclid(60)) as u64;
            return ApiError::too_many(
                "AUTH_FAILURES_LIMITED",
                "Too many failed authentications from this address; retry later",
                limit,
                std::time::Duration::from_secs(retry_after),
            )
            .into_response();
        }
        let user = match bearer_token(header).and_then(|token| state.tokens.verify(token)) {
            Ok(user) => user,
            Err(e) => {
                if let Some(ip) = ip {
                    state.auth_failures.record(ip);
                }
                return e.into_response();
            }
        };
        if let Some(claimed) = req.headers().get("x-tenant-id") {
            let agrees = claimed.to_str().ok().and_then(|v| v.parse::<TenantId>().ok()) == Some(user.tenant);
            if !agrees {
                return ApiError::forbidden("X-Tenant-ID does not match the token's tenant")
                    .with_code("TENANT_MISMATCH")
                    .into_response();
            }
        }
        tracing::Span::current().record("tenant.id", tracing::field::display(user.tenant));
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if let Err(e) = state.revocations.check(&user, safe).await {
            return e.into_response();
        }
        if let Err(e) = state.tenants.require_active(user.tenant).await {
            return e.into_response();
        }
        req.extensions_mut().insert(user);
    }
    next.run(req).await
}

fn bearer_token(header: &axum::http::HeaderValue) -> ApiResult<&str> {
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Authorization must be a Bearer token"))
}
