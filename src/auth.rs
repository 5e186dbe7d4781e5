//! Authentication of platform users: RS256 bearer tokens issued by the auth-service.
//!
//! The tenant of a request comes from the verified token only. A client-sent `X-Tenant-ID`
//! that disagrees with it is rejected (it signals a confused or malicious client); one that
//! agrees is ignored.

use std::path::Path;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::JwtConfig;
use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    User,
}

/// A verified platform user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
    pub tenant: TenantId,
    pub role: Role,
    pub permissions: Vec<String>,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Admins hold every permission; others need it listed (or `*`).
    pub fn require(&self, permission: &str) -> ApiResult<()> {
        if self.is_admin() || self.permissions.iter().any(|p| p == permission || p == "*") {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("missing permission {permission}")))
        }
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() { Ok(()) } else { Err(ApiError::forbidden("admin role required")) }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    tenant_id: Option<String>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    role: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

/// Verifies tokens against the PEM at `JWT_PUBLIC_KEY_PATH`.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    pub fn from_config(config: &JwtConfig) -> anyhow::Result<Self> {
        let pem = read_pem(&config.public_key_path)?;
        let key = DecodingKey::from_rsa_pem(&pem)
            .map_err(|e| anyhow::anyhow!("JWT_PUBLIC_KEY_PATH: not an RSA public key in PEM format ({e})"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Self { key, validation })
    }

    pub fn verify(&self, token: &str) -> ApiResult<AuthUser> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let detail = match e.kind() {
                K::ExpiredSignature => "token expired",
                K::InvalidIssuer => "token issuer not accepted",
                K::InvalidAudience => "token audience not accepted",
                K::MissingRequiredClaim(_) => "token lacks a required claim",
                _ => "invalid token",
            };
            ApiError::unauthorized(detail)
        })?;
        let claims = data.claims;
        // Actor ids are stored (created_by, changed_by); an absurd subject is not a user.
        if claims.sub.is_empty() || claims.sub.len() > 100 {
            return Err(ApiError::unauthorized("token subject is empty or too long"));
        }
        if claims.token_type.as_deref() != Some("access") {
            return Err(ApiError::unauthorized("not an access token"));
        }
        let tenant = claims
            .tenant_id
            .as_deref()
            .ok_or_else(|| ApiError::unauthorized("token has no tenant_id"))?
            .parse::<TenantId>()
            .map_err(|_| ApiError::unauthorized("token tenant_id is not a UUID"))?;
        let role = match claims.role.as_deref() {
            Some("admin") => Role::Admin,
            _ => Role::User,
        };
        Ok(AuthUser { user_id: claims.sub, tenant, role, permissions: claims.permissions })
    }
}

fn read_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("JWT_PUBLIC_KEY_PATH: cannot read {}: {e}", path.display()))
}

/// Verifies a bearer token when one is sent and puts the [`AuthUser`] in the request
/// extensions, where the extractor and the rate limiter find it. A request without a token
/// passes (probes need none); a bad token is rejected here with 401.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(header) = req.headers().get(axum::http::header::AUTHORIZATION) {
        let user = match bearer_token(header).and_then(|token| state.jwt.verify(token)) {
            Ok(user) => user,
            Err(e) => return e.into_response(),
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

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthUser>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))
    }
}
