//! HMAC-SHA256 authentication of service-to-service calls on `/api/v1/internal/*`.
//!
//! Always on and fail closed: the original only checked signatures behind `USE_NEW_HMAC=true`
//! (§11.10); here a missing `INTERNAL_HMAC_SECRET` makes every internal call a 503.
//!
//! Wire format (the platform's shared HMAC library): `x-internal-service`,
//! `x-internal-timestamp` (epoch ms), `x-internal-nonce` (UUID), `x-internal-signature` (hex
//! HMAC-SHA256) and `x-internal-body-hash` (hex SHA-256 of the raw body, empty or absent for no
//! body). The signed payload is `service:timestamp:nonce:METHOD:path:bodyHash`, where `path` is
//! the path *and query string* exactly as received on the wire (`uri.path_and_query()` of the
//! original, un-nested URI, e.g. `/api/v1/internal/events/42?x=1`), and `bodyHash` is the header
//! value as sent.
//!
//! Replays: each `(service, nonce)` is claimed once with `SET NX PX 120000` in Redis (the
//! timestamp window is ±60 s, so a nonce can be live for at most 120 s). While Redis is
//! unavailable, reads claim their nonces in a bounded in-process store instead: replays to the
//! same instance are still rejected, but a read could be replayed once per other instance for the
//! duration of the outage (and for 2 minutes after it); writes are refused (503) until Redis is
//! back, since a replayed write is not harmless.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::Mac;
use resilience::Idempotency;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

// The wire format is shared with the signing side (`clients/outbound.rs`), which owns it.
use crate::clients::outbound::mac;
pub use crate::clients::outbound::{
    HEADER_BODY_HASH, HEADER_NONCE, HEADER_SERVICE, HEADER_SIGNATURE, HEADER_TIMESTAMP, body_hash, sign,
};
use crate::error::{ApiError, Kind};
use crate::state::AppState;

/// Accepted clock difference, in both directions (the platform-wide value).
const MAX_SKEW_MS: i64 = 60_000;
/// How long a nonce is remembered: the full span a timestamp stays acceptable (2 × skew).
const NONCE_TTL: Duration = Duration::from_millis(2 * MAX_SKEW_MS as u64);
/// Bound on the in-process fallback store; beyond it calls are refused rather than unprotected.
const LOCAL_NONCE_CAP: usize = 100_000;

/// The authenticated calling service; present on every request the middleware let through.
#[derive(Clone, Debug)]
pub struct InternalCaller {
    pub service: String,
}

impl<S: Send + Sync> FromRequestParts<S> for InternalCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<InternalCaller>().cloned().ok_or_else(|| {
            ApiError::unauthorized("This route requires a signed internal call").with_code("MISSING_SIGNATURE_HEADERS")
        })
    }
}

/// Why a call was refused; each maps to one problem code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    MissingHeaders,
    InvalidTimestamp,
    StaleTimestamp,
    InvalidNonce,
    InvalidSignature,
    BodyHashMismatch,
    ServiceNotAllowed,
    ReplayedNonce,
    /// No secret configured, or the fallback nonce store is full: refuse, never accept unchecked.
    Unavailable,
}

impl From<RejectCode> for ApiError {
    fn from(code: RejectCode) -> Self {
        use RejectCode as R;
        let (code, detail) = match code {
            R::MissingHeaders => ("MISSING_SIGNATURE_HEADERS", "Internal signature headers are missing"),
            R::InvalidTimestamp => ("INVALID_TIMESTAMP", "x-internal-timestamp must be epoch ms"),
            R::StaleTimestamp => ("STALE_TIMESTAMP", "The timestamp is outside the 60 s window"),
            R::InvalidNonce => ("INVALID_NONCE", "x-internal-nonce must be a UUID"),
            R::InvalidSignature => ("INVALID_SIGNATURE", "The request signature is invalid"),
            R::BodyHashMismatch => ("BODY_HASH_MISMATCH", "The body does not match its signed hash"),
            R::ReplayedNonce => ("REPLAYED_NONCE", "This request was already received"),
            R::ServiceNotAllowed => {
                return ApiError::forbidden("This service may not call internal routes")
                    .with_code("SERVICE_NOT_ALLOWED");
            }
            R::Unavailable => {
                let detail = "Internal authentication is unavailable";
                return ApiError::unavailable("INTERNAL_AUTH_UNAVAILABLE", detail, Some(Duration::from_secs(5)));
            }
        };
        ApiError::unauthorized(detail).with_code(code)
    }
}

/// What a signed call claims, plus what was actually received.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub service: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
    /// The `x-internal-body-hash` header as sent ("" when absent).
    pub body_hash: &'a str,
    pub method: &'a str,
    /// Path and query as received; see the module docs.
    pub path: &'a str,
    pub body: &'a [u8],
}

/// Every check that needs neither Redis nor the clock's side effects. The order matters:
/// cheap format checks first; the allow-list only after the signature, so only holders of the
/// secret learn which services are accepted.
pub fn verify(secret: &[u8], req: &SignedRequest<'_>, now_ms: i64, allowed: &[String]) -> Result<(), RejectCode> {
    if [req.service, req.timestamp, req.nonce, req.signature].iter().any(|v| v.is_empty()) {
        return Err(RejectCode::MissingHeaders);
    }
    let timestamp: i64 = req.timestamp.parse().map_err(|_| RejectCode::InvalidTimestamp)?;
    if now_ms.abs_diff(timestamp) > MAX_SKEW_MS as u64 {
        return Err(RejectCode::StaleTimestamp);
    }
    // Bounds the nonce (it becomes part of a Redis key) and matches the wire format.
    uuid::Uuid::parse_str(req.nonce).map_err(|_| RejectCode::InvalidNonce)?;
    let signature = hex::decode(req.signature).map_err(|_| RejectCode::InvalidSignature)?;
    mac(secret, req.service, req.timestamp, req.nonce, req.method, req.path, req.body_hash)
        .verify_slice(&signature) // constant time
        .map_err(|_| RejectCode::InvalidSignature)?;
    // The signature only vouches for the claimed hash; the body itself must match it. For an
    // empty body, senders that hash "" instead of sending "" are accepted too.
    let actual = body_hash(req.body);
    let empty_alias = req.body.is_empty() && req.body_hash == hex::encode(Sha256::digest(b""));
    if !(req.body_hash.eq_ignore_ascii_case(&actual) || empty_alias) {
        return Err(RejectCode::BodyHashMismatch);
    }
    if !allowed.iter().any(|s| s == req.service) {
        return Err(RejectCode::ServiceNotAllowed);
    }
    Ok(())
}

/// `from_fn_with_state` middleware for the internal router (applied with `route_layer`).
pub async fn require_internal_hmac(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match authorize(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn authorize(state: &AppState, req: Request) -> Result<Request, ApiError> {
    let Some(secret) = state.config.internal_hmac_secret.as_ref() else {
        return Err(RejectCode::Unavailable.into());
    };
    let (parts, body) = req.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_owned();
    let (service, timestamp, nonce) = (header(HEADER_SERVICE), header(HEADER_TIMESTAMP), header(HEADER_NONCE));
    let (signature, claimed_hash) = (header(HEADER_SIGNATURE), header(HEADER_BODY_HASH));
    // Unsigned calls are refused before their body is read.
    if [&service, &timestamp, &nonce, &signature].iter().any(|v| v.is_empty()) {
        return Err(RejectCode::MissingHeaders.into());
    }
    // A read error is almost always the size limit; a client that hung up never sees the answer.
    let bytes = axum::body::to_bytes(body, state.config.body_limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Kind::PayloadTooLarge,
            "PAYLOAD_TOO_LARGE",
            "The body exceeds the size limit",
        )
    })?;
    // Inside a nested router `parts.uri` has lost its prefix; the signer signed the full path.
    let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
    let path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let signed = SignedRequest {
        service: &service,
        timestamp: &timestamp,
        nonce: &nonce,
        signature: &signature,
        body_hash: &claimed_hash,
        method: parts.method.as_str(),
        path,
        body: &bytes,
    };
    let allowed = &state.config.allowed_internal_services;
    let checked = match verify(secret.expose_secret().as_bytes(), &signed, now_ms(), allowed) {
        Ok(()) => claim_nonce(state, &service, &nonce, parts.method == axum::http::Method::GET).await,
        Err(code) => Err(code),
    };
    if let Err(code) = checked {
        tracing::warn!(?code, service = %service, "internal call rejected");
        return Err(code.into());
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(InternalCaller { service });
    Ok(req)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// KEYS = [nonce key]; ARGV = [request token, ttl ms]. 1 when the nonce is new or already
/// claimed by this very request (a client-side re-send), 0 when another request claimed it.
/// A script rather than `SET .. NX GET` so it also runs on Redis before 7.0.
const CLAIM_NONCE: &str = "local held = redis.call('GET', KEYS[1]) \
    if not held then redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2])) return 1 end \
    if held == ARGV[1] then return 1 end return 0";

/// Set while nonces go to the local store, so the warning is logged once per outage.
static NONCE_FALLBACK: AtomicBool = AtomicBool::new(false);

/// `read`: the call only reads. While Redis is down, nonces can only be remembered per replica,
/// so a captured call could be replayed once against each other replica: harmless for a read,
/// not for a write, which is refused until the shared store is back.
async fn claim_nonce(state: &AppState, service: &str, nonce: &str, read: bool) -> Result<(), RejectCode> {
    let key = format!("internal:nonce:{service}:{nonce}");
    let ttl_ms = NONCE_TTL.as_millis() as u64;
    // SET NX is not idempotent from the caller's view (a retried success reads as a replay),
    // so the stack never retries it. A cluster client re-sends commands by itself (after a
    // lost reply, MOVED during a failover), so there the claim stores a token of this request
    // and a re-sent claim recognises its own token: only another request's token is a replay.
    let token = uuid::Uuid::new_v4().to_string();
    let result = state
        .cache
        .stack()
        .call("internal_nonce", Idempotency::Unsafe, || {
            let mut conn = state.cache.connection();
            let (key, token) = (&key, &token);
            async move {
                if conn.is_cluster() {
                    return redis::cmd("EVAL")
                        .arg(CLAIM_NONCE)
                        .arg(1)
                        .arg(key)
                        .arg(token)
                        .arg(ttl_ms)
                        .query_async::<i64>(&mut conn)
                        .await
                        .map(|claimed| claimed == 1);
                }
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<Option<String>>(&mut conn)
                    .await
                    .map(|set| set.is_some())
            }
        })
        .await;
    match result {
        Ok(claimed) => {
            if NONCE_FALLBACK.load(Ordering::Relaxed) && NONCE_FALLBACK.swap(false, Ordering::Relaxed) {
                tracing::info!("Redis is back; internal-call nonces are shared across instances again");
            }
            if claimed { Ok(()) } else { Err(RejectCode::ReplayedNonce) }
        }
        Err(e) if !read => {
            metrics::counter!("internal_auth_nonce_unavailable_total").increment(1);
            tracing::warn!(error = %e, "Redis unavailable; a signed write cannot be checked for replays across replicas and is refused");
            Err(RejectCode::Unavailable)
        }
        Err(e) => {
            metrics::counter!("internal_auth_nonce_fallback_total").increment(1);
            if !NONCE_FALLBACK.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "Redis unavailable; internal-call nonces are checked per instance only");
            }
            local_nonces().claim(&key, Instant::now())
        }
    }
}

fn local_nonces() -> &'static NonceStore {
    static STORE: OnceLock<NonceStore> = OnceLock::new();
    STORE.get_or_init(|| NonceStore::new(LOCAL_NONCE_CAP))
}

/// In-process nonce memory for Redis outages: entries live `NONCE_TTL`, the size is capped.
struct NonceStore {
    cap: usize,
    inner: Mutex<NonceInner>,
}

struct NonceInner {
    seen: HashMap<String, Instant>,
    pruned_at: Option<Instant>,
}

impl NonceStore {
    fn new(cap: usize) -> Self {
        Self { cap, inner: Mutex::new(NonceInner { seen: HashMap::new(), pruned_at: None }) }
    }

    fn claim(&self, key: &str, now: Instant) -> Result<(), RejectCode> {
        // A poisoned lock only means another request panicked mid-insert; the map is still sound.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // At most one sweep a second, so a flood against a full store cannot make every call O(n).
        if inner.pruned_at.is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1)) {
            inner.seen.retain(|_, at| now.saturating_duration_since(*at) < NONCE_TTL);
            inner.pruned_at = Some(now);
        }
        if let Some(at) = inner.seen.get(key)
            && now.saturating_duration_since(*at) < NONCE_TTL
        {
            return Err(RejectCode::ReplayedNonce);
        }
        if inner.seen.len() >= self.cap {
            // Evicting live nonces would re-open replays; refusing is the fail-closed choice.
            return Err(RejectCode::Unavailable);
        }
        inner.seen.insert(key.to_owned(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NONCE: &str = "6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11";
    const TS: i64 = 1_700_000_000_000;
    const PATH: &str = "/api/v1/internal/events/abc/blockchain-status?x=1";
    const BODY: &[u8] = br#"{"status":"synced"}"#;
    // Hand-computed with python3: hashlib.sha256(BODY).hexdigest(), then
    // hmac.new(SECRET, f"venue-service:{TS}:{NONCE}:PUT:{PATH}:{BODY_SHA}".encode(), hashlib.sha256).hexdigest()
    const BODY_SHA: &str = "ce6064bb9035263c0e5d60886cb02c97004d5679c0491be721d3671992001a6a";
    const SIG: &str = "fc48cd4b2f5c556c5554d04d416d4e7c9f825f2fac6c780e8762a301b34d2df4";

    /// The hand-computed request with one field changed by `edit`, verified at `now`.
    fn check(now: i64, edit: impl FnOnce(&mut SignedRequest<'static>)) -> Result<(), RejectCode> {
        let mut req = SignedRequest {
            service: "venue-service",
            timestamp: "1700000000000",
            nonce: NONCE,
            signature: SIG,
            body_hash: BODY_SHA,
            method: "PUT",
            path: PATH,
            body: BODY,
        };
        edit(&mut req);
        verify(SECRET, &req, now, &["venue-service".to_owned()])
    }

    #[test]
    fn sign_matches_the_hand_computed_vectors() {
        assert_eq!(sign(SECRET, "venue-service", TS, NONCE, "PUT", PATH, BODY), (BODY_SHA.to_owned(), SIG.to_owned()));
        let (hash, sig) = sign(SECRET, "venue-service", TS, NONCE, "GET", "/api/v1/internal/events/abc", b"");
        assert_eq!(
            (hash.as_str(), sig.as_str()),
            ("", "c53067c08e63550d6505d6a2fe060b3537b6734372695fa33453fdd4fd4e6da4")
        );
        assert_eq!(check(TS, |_| {}), Ok(()));
    }

    #[test]
    fn timestamps_are_accepted_within_60_s_either_way_only() {
        assert_eq!(check(TS + 60_000, |_| {}), Ok(()));
        assert_eq!(check(TS - 60_000, |_| {}), Ok(()));
        assert_eq!(check(TS + 60_001, |_| {}), Err(RejectCode::StaleTimestamp));
        assert_eq!(check(TS - 60_001, |_| {}), Err(RejectCode::StaleTimestamp));
        assert_eq!(check(TS, |r| r.timestamp = "soon"), Err(RejectCode::InvalidTimestamp));
    }

    #[test]
    fn a_bad_or_tampered_signature_is_rejected() {
        let zeros: &'static str = "0".repeat(64).leak();
        assert_eq!(check(TS, |r| r.signature = zeros), Err(RejectCode::InvalidSignature));
        assert_eq!(check(TS, |r| r.signature = "not-hex"), Err(RejectCode::InvalidSignature));
        assert_eq!(
            check(TS, |r| r.path = "/api/v1/internal/events/abc/blockchain-status"),
            Err(RejectCode::InvalidSignature)
        );
        assert_eq!(check(TS, |r| r.method = "POST"), Err(RejectCode::InvalidSignature));
        assert_eq!(check(TS, |r| r.service = "order-service"), Err(RejectCode::InvalidSignature));
    }

    #[test]
    fn the_body_must_match_its_signed_hash() {
        assert_eq!(check(TS, |r| r.body = br#"{"status":"failed"}"#), Err(RejectCode::BodyHashMismatch));
        assert_eq!(check(TS, |r| r.body = b""), Err(RejectCode::BodyHashMismatch));
        // An empty body signed with the SHA-256 of "" (instead of "") is accepted.
        let empty = hex::encode(Sha256::digest(b""));
        let sig = hex::encode(
            mac(SECRET, "venue-service", "1700000000000", NONCE, "PUT", PATH, &empty).finalize().into_bytes(),
        );
        let (empty, sig): (&'static str, &'static str) = (empty.leak(), sig.leak());
        assert_eq!(check(TS, |r| (r.body, r.body_hash, r.signature) = (b"", empty, sig)), Ok(()));
    }

    #[test]
    fn missing_headers_bad_nonces_and_unlisted_services_are_rejected() {
        assert_eq!(check(TS, |r| r.nonce = ""), Err(RejectCode::MissingHeaders));
        assert_eq!(check(TS, |r| r.signature = ""), Err(RejectCode::MissingHeaders));
        assert_eq!(check(TS, |r| r.nonce = "abc"), Err(RejectCode::InvalidNonce));
        let (_, sig) = sign(SECRET, "evil-service", TS, NONCE, "PUT", PATH, BODY);
        let sig: &'static str = sig.leak();
        assert_eq!(check(TS, |r| (r.service, r.signature) = ("evil-service", sig)), Err(RejectCode::ServiceNotAllowed));
    }

    #[test]
    fn reject_codes_map_to_statuses_and_codes() {
        let status_code = |c: RejectCode| ApiError::from(c).status.as_u16().to_string() + " " + ApiError::from(c).code;
        assert_eq!(status_code(RejectCode::ReplayedNonce), "401 REPLAYED_NONCE");
        assert_eq!(status_code(RejectCode::ServiceNotAllowed), "403 SERVICE_NOT_ALLOWED");
        assert_eq!(status_code(RejectCode::Unavailable), "503 INTERNAL_AUTH_UNAVAILABLE");
    }

    #[test]
    fn the_local_nonce_store_rejects_replays_expires_and_stays_bounded() {
        let (store, t0) = (NonceStore::new(2), Instant::now());
        assert_eq!(store.claim("a", t0), Ok(()));
        assert_eq!(store.claim("a", t0 + Duration::from_secs(119)), Err(RejectCode::ReplayedNonce));
        assert_eq!(store.claim("b", t0), Ok(()));
        // Full of live nonces: refuse rather than forget one.
        assert_eq!(store.claim("c", t0 + Duration::from_secs(1)), Err(RejectCode::Unavailable));
        // After the TTL the old ones are pruned and a key may be used again.
        assert_eq!(store.claim("c", t0 + NONCE_TTL), Ok(()));
        assert_eq!(store.claim("a", t0 + NONCE_TTL), Ok(()));
    }
}
