//! Authentication of platform users: RS256 bearer tokens issued by the auth-service, checked
//! against the platform's own signals for suspended tenants and revoked tokens.
//!
//! The tenant of a request comes from the verified token only. A client-sent `X-Tenant-ID`
//! that disagrees with it is rejected (it signals a confused or malicious client); one that
//! agrees is ignored.
//!
//! Tokens are accepted as auth-service issues them (`reference/platform-contracts.md` §3.4):
//! `iss` = `JWT_ISSUER`, `aud` equal to the issuer unless `JWT_AUDIENCE` says otherwise, the
//! key chosen by `kid` (see [`keys`]), `type: "access"`, a `tenant_id`, `role` defaulting to
//! `customer`. After the signature: the token's `jti` must not be revoked ([`revocation`]) and
//! its tenant must be `active` ([`tenants`]).

pub mod failures;
pub mod keys;
pub mod revocation;
pub mod tenants;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::JwtConfig;
use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use keys::{KeyRing, Selected};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `admin` or `superadmin` of the tenant (auth-service's tenant administrator roles).
    Admin,
    /// Anything else, including auth-service's default `customer`.
    User,
}

/// A verified platform user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
    pub tenant: TenantId,
    pub role: Role,
    pub permissions: Vec<String>,
    /// The token id auth-service revokes on logout; absent in tokens of other issuers.
    pub jti: Option<String>,
    /// Expiry (seconds since the epoch): revocation answers are never kept past it.
    pub expires_at: i64,
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
    jti: Option<String>,
    exp: i64,
}

/// Verifies tokens against the key ring.
pub struct TokenVerifier {
    keys: KeyRing,
    validation: Validation,
    /// Tokens already verified, by the SHA-256 of the token: an RS256 verification costs about
    /// 23 µs of CPU (`aws_lc_rs`; 192 µs on the pure-Rust backend used before), a lookup under
    /// 1 µs (`examples/token_cost.rs`). Never trusted past the token's `exp`; emptied whenever
    /// the keys change. Revocation and tenant status are checked on every request regardless.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], AuthUser>>,
}

/// Verified tokens kept at most (then the cache starts over; a miss only costs a verification).
const VERIFIED_CAPACITY: usize = 50_000;

impl TokenVerifier {
    pub fn from_config(config: &JwtConfig) -> anyhow::Result<Self> {
        let keys = KeyRing::load(config.keys.clone())?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // A token is not usable before its `nbf`, like after its `exp`.
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Self { keys, validation, verified: std::sync::Mutex::default() })
    }

    /// Re-reads the keys; a change drops every cached verification, so a token is never
    /// accepted on a key that is no longer trusted.
    pub fn reload_keys(&self, why: &'static str) {
        if self.keys.reload_logged(why) {
            self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn verify(&self, token: &str) -> ApiResult<AuthUser> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = chrono::Utc::now().timestamp();
        {
            let cache = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(user) = cache.get(&digest)
                && user.expires_at > now
            {
                return Ok(user.clone());
            }
        }
        let user = self.verify_signature(token)?;
        let mut cache = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= VERIFIED_CAPACITY {
            cache.retain(|_, u| u.expires_at > now);
            if cache.len() >= VERIFIED_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(digest, user.clone());
        Ok(user)
    }

    fn verify_signature(&self, token: &str) -> ApiResult<AuthUser> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::unauthorized("invalid token"))?;
        let data = match self.keys.select(header.kid.as_deref()) {
            Selected::One(key) => self.decode(token, &key),
            Selected::Either(current, previous) => match (self.decode(token, &current), previous) {
                (Err(e), Some(previous)) if is_signature_error(&e) => self.decode(token, &previous),
                (result, _) => result,
            },
            Selected::Unknown => return Err(ApiError::unauthorized("token signed with an unknown key")),
        }
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            let detail = match e.kind() {
                K::ExpiredSignature => "token expired",
                K::ImmatureSignature => "token not valid yet",
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
        if tenant.as_uuid().is_nil() {
            return Err(ApiError::unauthorized("token tenant_id is the nil UUID"));
        }
        let role = match claims.role.as_deref() {
            Some("admin" | "superadmin") => Role::Admin,
            // auth-service's default role is `customer`.
            _ => Role::User,
        };
        let jti = claims.jti.filter(|j| !j.is_empty() && j.len() <= 255);
        Ok(AuthUser { user_id: claims.sub, tenant, role, permissions: claims.permissions, jti, expires_at: claims.exp })
    }

    fn decode(&self, token: &str, key: &DecodingKey) -> jsonwebtoken::errors::Result<jsonwebtoken::TokenData<Claims>> {
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
    }
}

fn is_signature_error(e: &jsonwebtoken::errors::Error) -> bool {
    matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature)
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

#[cfg(test)]
mod tests {
    use super::*;
    use keys::{KeyOrigin, KeySources};

    fn verifier() -> TokenVerifier {
        let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt-test-public.pem"))
            .expect("fixture key");
        let config = JwtConfig {
            keys: KeySources { current: KeyOrigin::Inline(pem), previous: None },
            issuer: "tickettoken".into(),
            audience: "tickettoken".into(),
            reload_interval: std::time::Duration::from_secs(60),
        };
        TokenVerifier::from_config(&config).expect("verifier")
    }

    /// Puts a verification in the cache as `verify` would after a good signature.
    fn remember(verifier: &TokenVerifier, token: &str, expires_at: i64) {
        use sha2::Digest;
        let user = AuthUser {
            user_id: "cached-user".into(),
            tenant: TenantId::from_uuid(uuid::Uuid::nil()),
            role: Role::User,
            permissions: vec![],
            jti: None,
            expires_at,
        };
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        verifier.verified.lock().unwrap().insert(digest, user);
    }

    // The cache entry stands for a token whose signature is *not* valid, so the only way the
    // first call can succeed is the cache, and the only way the second can fail is that an
    // expired entry is ignored and the token verified again.
    #[test]
    fn a_remembered_verification_serves_until_the_token_expires_and_never_after() {
        let verifier = verifier();
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl";
        assert!(verifier.verify(token).is_err(), "a bad signature is refused");

        let now = chrono::Utc::now().timestamp();
        remember(&verifier, token, now + 60);
        assert_eq!(verifier.verify(token).expect("served from the cache").user_id, "cached-user");

        remember(&verifier, token, now - 1);
        assert!(verifier.verify(token).is_err(), "an entry past the token's exp is not trusted");
    }
}
