//! The venue-service, as far as event-service needs it: "does this venue exist in this
//! tenant, is it usable, how big is it, which time zone".
//!
//! Fail closed: when the venue cannot be verified, callers get `Unavailable` and refuse the
//! write (503). There is no default venue and no "allowed because degraded".
//!
//! # One call, end to end
//!
//! `GET {VENUE_SERVICE_URL}/api/v1/venues/{id}` through the `venue` resilience stack (attempt
//! timeout, deadline, retries with `Retry-After`, breaker). Every attempt carries `X-Tenant-ID`
//! (the tenant id, never a token), `X-Request-ID`, `traceparent`, `X-Service-ID`/`-Name` and,
//! when `INTERNAL_HMAC_SECRET` is set, the platform's HMAC service-identity headers with a fresh
//! nonce per attempt (the receiver rejects a replayed nonce, so a retry must not reuse one).
//!
//! # Fallback
//!
//! Each live answer is copied to Redis under `tenant:{tenant}:venue:{id}` for [`FALLBACK_TTL`].
//! The copy is read only when the live call ends *unavailable* (breaker open, timeouts,
//! 5xx/429 after retries, network, unreadable body); never when the service answered 404, 403
//! or another 4xx, which are answers, not outages. Redis down as well means no fallback: the
//! write is refused. Because the copy lives in Redis it is shared by every instance, unlike the
//! original's per-process map.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use resilience::{
    BreakerHandle, BreakerOutcome, Classification, Classify, Dependency, DependencyConfig, Idempotency,
    ResilienceError, RetryDecision,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::{Host, Position, Url};
use uuid::Uuid;

use crate::domain::TenantId;
use crate::http::{internal_auth, request_id};
use crate::storage::Cache;

/// Our identity towards other services (`X-Service-ID`, `x-internal-service`).
pub const SERVICE_NAME: &str = "event-service";

/// How long the Redis copy of a venue may be served while the venue-service is unavailable.
/// Long enough to ride out a typical outage or deploy, short enough that a venue deactivated
/// or resized during the outage is not trusted for long (the original kept 5 min, per process).
pub const FALLBACK_TTL: Duration = Duration::from_secs(15 * 60);

/// Upper bound on a `Retry-After` we pass on to our own clients (the retry layer caps its own
/// sleeps separately with `max_retry_after`).
const MAX_RETRY_AFTER_HINT: Duration = Duration::from_secs(60);
/// `Retry-After` of our 503 when nothing better is known.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The fields event-service uses (and caches) of a venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub max_capacity: Option<i64>,
    pub timezone: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum VenueError {
    #[error("venue not found in this tenant")]
    NotFound,
    #[error("venue access forbidden")]
    Forbidden,
    #[error("venue-service unavailable")]
    Unavailable { retry_after: Option<Duration> },
}

/// What the domain asks of the venue-service; the HTTP client implements it, tests may fake it.
pub trait VenueDirectory: Send + Sync {
    fn venue(&self, tenant: TenantId, venue_id: Uuid) -> BoxFuture<'_, Result<Venue, VenueError>>;
    fn breaker(&self) -> Option<BreakerHandle> {
        None
    }
}

pub type SharedVenues = Arc<dyn VenueDirectory>;

/// One failed attempt against the venue-service.
#[derive(Debug, thiserror::Error)]
pub enum VenueCallError {
    #[error("venue-service answered HTTP {status}")]
    Status { status: u16, retry_after: Option<Duration> },
    #[error("venue-service transport error: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("venue-service answered with an unreadable body")]
    Decode,
    #[error("venue-service URL could not be built: {0}")]
    Url(#[from] url::ParseError),
}

/// Network errors, 5xx and 429 are transient (retried, honouring `Retry-After`) and count
/// against the breaker; other 4xx are answers, never retried, never counted.
pub struct VenueClassifier;

impl Classify<VenueCallError> for VenueClassifier {
    fn classify(&self, err: &VenueCallError) -> Classification {
        match err {
            VenueCallError::Transport(_) => Classification::TRANSIENT,
            VenueCallError::Status { status, retry_after } if is_transient_status(*status) => {
                Classification { breaker: BreakerOutcome::Failure, retry: RetryDecision::Yes { after: *retry_after } }
            }
            VenueCallError::Status { .. } => Classification::CALLER,
            VenueCallError::Decode | VenueCallError::Url(_) => Classification::FATAL,
        }
    }
}

fn is_transient_status(status: u16) -> bool {
    status == 429 || status >= 500
}

/// The venue row as the venue-service sends it; only what we use is read.
#[derive(Debug, Deserialize)]
struct VenueBody {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    #[serde(default)]
    max_capacity: Option<i64>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

impl From<VenueBody> for Venue {
    fn from(body: VenueBody) -> Self {
        Venue {
            id: body.id,
            tenant_id: body.tenant_id,
            name: body.name,
            max_capacity: body.max_capacity,
            timezone: body.timezone,
            // A venue without a status is taken as active (older venue-service rows).
            active: body.status.as_deref().unwrap_or("active") == "active",
        }
    }
}

pub struct HttpVenueClient {
    http: reqwest::Client,
    /// `{base}/api/v1/venues/`, so a venue URL is one `join` of a UUID.
    venues_url: Url,
    stack: Dependency<VenueCallError>,
    cache: Cache,
    hmac_secret: Option<SecretString>,
}

impl HttpVenueClient {
    /// `base` is `VENUE_SERVICE_URL` (any path prefix is kept); `stack` the `venue` resilience
    /// settings; `cache` the tenant-scoped Redis cache holding the fallback copies;
    /// `hmac_secret` is `INTERNAL_HMAC_SECRET` (without it calls go out unsigned).
    pub fn new(
        base: Url,
        stack: DependencyConfig,
        cache: Cache,
        hmac_secret: Option<SecretString>,
    ) -> anyhow::Result<Self> {
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            anyhow::bail!("VENUE_SERVICE_URL must be an http(s) base URL");
        }
        let mut venues_url = base;
        venues_url.set_query(None);
        venues_url.set_fragment(None);
        venues_url
            .path_segments_mut()
            .map_err(|()| anyhow::anyhow!("VENUE_SERVICE_URL cannot carry a path"))?
            .pop_if_empty()
            .extend(["api", "v1", "venues", ""]);
        if hmac_secret.is_none() {
            tracing::warn!("INTERNAL_HMAC_SECRET is not set: venue-service calls carry no service signature");
        }
        // The resilience stack owns timeouts and retries, so the client adds neither:
        // - `retry(never())`: reqwest ≥ 0.12.23 retries protocol-level NACKs (e.g. HTTP/2
        //   REFUSED_STREAM) by default, invisibly multiplying our attempts; switched off so the
        //   stack's retry is the only loop (resilience.md §7).
        // - no `timeout`: the attempt timeout drops the future, which cancels the request.
        // - `connect_timeout` below the attempt timeout, so a black-holed host reports as a
        //   connect error rather than an anonymous attempt timeout.
        // - no redirects: a 3xx would carry our tenant and signature headers to another URL.
        // - a bounded idle pool: one service, modest concurrency; idle sockets beyond that
        //   only pin file descriptors on both sides.
        let http = reqwest::Client::builder()
            .retry(reqwest::retry::never())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(16)
            .user_agent(concat!("event-service/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, venues_url, stack: Dependency::new(stack, VenueClassifier), cache, hmac_secret })
    }

    /// One attempt: fresh nonce, timestamp and span id, same request id and idempotency key.
    async fn attempt(&self, call: &OutboundCall) -> Result<VenueBody, VenueCallError> {
        let headers = call.headers(self.hmac_secret.as_ref(), Utc::now().timestamp_millis(), Uuid::new_v4());
        let mut request = self.http.request(call.method.clone(), call.url.clone()).headers(headers);
        if !call.body.is_empty() {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(call.body.clone());
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, Utc::now()));
            return Err(VenueCallError::Status { status: status.as_u16(), retry_after });
        }
        // A body cut off mid-read is a transport failure (retried); a complete but unreadable
        // one is a venue-service bug (not retried).
        let bytes = response.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|_| VenueCallError::Decode)
    }

    /// A live answer: checked against the tenant, then copied to the fallback cache.
    async fn accept(&self, tenant: TenantId, venue_id: Uuid, body: VenueBody) -> Result<Venue, VenueError> {
        // Defence in depth: a venue of another tenant is "not found", whatever the
        // venue-service said.
        if body.tenant_id != *tenant.as_uuid() || body.id != venue_id {
            tracing::warn!(%venue_id, "venue-service returned a venue of another tenant or id; treated as not found");
            self.forget(tenant, venue_id).await;
            return Err(VenueError::NotFound);
        }
        let venue = Venue::from(body);
        self.cache.set_json(tenant, &fallback_key(venue_id), &venue, FALLBACK_TTL).await;
        Ok(venue)
    }

    /// The venue-service says the venue is gone (or not ours): its copy must not outlive that.
    async fn forget(&self, tenant: TenantId, venue_id: Uuid) {
        self.cache.delete(tenant, &[&fallback_key(venue_id)]).await;
    }

    /// The live call failed for lack of a venue-service: the Redis copy, or fail closed.
    async fn fallback(
        &self,
        tenant: TenantId,
        venue_id: Uuid,
        error: &ResilienceError<VenueCallError>,
    ) -> Result<Venue, VenueError> {
        let cached = self.cache.get_json::<Venue>(tenant, &fallback_key(venue_id)).await;
        match cached {
            // The key is already tenant-scoped; the check guards against a key-building bug.
            Some(venue) if venue.tenant_id == *tenant.as_uuid() && venue.id == venue_id => {
                metrics::counter!("venue_fallback_total", "result" => "hit").increment(1);
                tracing::warn!(%venue_id, error = %describe(error), "venue-service unavailable; venue served from the fallback cache");
                Ok(venue)
            }
            other => {
                metrics::counter!("venue_fallback_total", "result" => "miss").increment(1);
                if other.is_some() {
                    tracing::error!(%venue_id, "fallback cache entry belongs to another tenant or venue; ignored");
                }
                tracing::warn!(%venue_id, error = %describe(error), "venue could not be verified (no live answer, no cached copy)");
                Err(VenueError::Unavailable { retry_after: Some(unavailable_retry_after(error)) })
            }
        }
    }
}

impl VenueDirectory for HttpVenueClient {
    fn venue(&self, tenant: TenantId, venue_id: Uuid) -> BoxFuture<'_, Result<Venue, VenueError>> {
        Box::pin(async move {
            let url = self.venues_url.join(&venue_id.to_string());
            let url = match url {
                Ok(url) => url,
                Err(e) => {
                    let error = ResilienceError::Inner(VenueCallError::Url(e));
                    return Err(VenueError::Unavailable { retry_after: Some(unavailable_retry_after(&error)) });
                }
            };
            let request_id = request_id::current().unwrap_or_else(|| Uuid::new_v4().to_string());
            let call = OutboundCall::new(Method::GET, url, tenant, request_id, "get_venue", &venue_id.to_string());
            let result = self.stack.call("get_venue", call.idempotency(), || self.attempt(&call)).await;
            match result {
                Ok(body) => self.accept(tenant, venue_id, body).await,
                Err(ResilienceError::Inner(VenueCallError::Status { status: 404, .. })) => {
                    self.forget(tenant, venue_id).await;
                    Err(VenueError::NotFound)
                }
                Err(ResilienceError::Inner(VenueCallError::Status { status: 403, .. })) => {
                    self.forget(tenant, venue_id).await;
                    Err(VenueError::Forbidden)
                }
                // Any other refusal (400, 401, 3xx, ...) is an answer, not an outage: usually
                // our own misconfiguration (signature, URL). No fallback, so it gets noticed.
                Err(ResilienceError::Inner(VenueCallError::Status { status, .. })) if !is_transient_status(status) => {
                    tracing::error!(%venue_id, status, "venue-service refused the call");
                    Err(VenueError::Unavailable { retry_after: Some(DEFAULT_RETRY_AFTER) })
                }
                Err(error) => self.fallback(tenant, venue_id, &error).await,
            }
        })
    }

    fn breaker(&self) -> Option<BreakerHandle> {
        Some(self.stack.breaker())
    }
}

/// The fallback copy's key suffix; the cache prefixes `tenant:{tenant}:`.
pub fn fallback_key(venue_id: Uuid) -> String {
    format!("venue:{venue_id}")
}

/// `ResilienceError`'s `Display` hides the inner error; logs want it.
fn describe(error: &ResilienceError<VenueCallError>) -> String {
    match error {
        ResilienceError::Inner(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// What our 503 tells the client: the breaker's remaining open time, the venue-service's own
/// `Retry-After`, or a default; capped.
fn unavailable_retry_after(error: &ResilienceError<VenueCallError>) -> Duration {
    let hint = match error {
        ResilienceError::Inner(VenueCallError::Status { retry_after, .. }) => *retry_after,
        other => other.retry_after(),
    };
    hint.filter(|d| !d.is_zero()).unwrap_or(DEFAULT_RETRY_AFTER).min(MAX_RETRY_AFTER_HINT)
}

/// What stays the same across the attempts of one logical call.
struct OutboundCall {
    method: Method,
    url: Url,
    tenant: TenantId,
    request_id: String,
    /// Present exactly for mutating methods; one key per logical call, so retries dedupe.
    idempotency_key: Option<String>,
    body: Vec<u8>,
}

impl OutboundCall {
    fn new(method: Method, url: Url, tenant: TenantId, request_id: String, operation: &str, resource_id: &str) -> Self {
        let idempotency_key = is_mutating(&method).then(|| idempotency_key(operation, resource_id));
        Self { method, url, tenant, request_id, idempotency_key, body: Vec::new() }
    }

    /// Reads, and writes carrying an idempotency key, may be retried; nothing else.
    fn idempotency(&self) -> Idempotency {
        if !is_mutating(&self.method) || self.idempotency_key.is_some() {
            Idempotency::Safe
        } else {
            Idempotency::Unsafe
        }
    }

    /// Path and query exactly as sent: what the HMAC signs.
    fn path_and_query(&self) -> &str {
        &self.url[Position::BeforePath..Position::AfterQuery]
    }

    /// The headers of one attempt, signed at `now_ms` with `nonce`.
    fn headers(&self, secret: Option<&SecretString>, now_ms: i64, nonce: Uuid) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            // Every value here is ASCII we built ourselves, or a request id that was
            // sanitised on the way in; an invalid one is dropped rather than sent mangled.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        put("x-tenant-id", &self.tenant.to_string());
        put(request_id::HEADER, &self.request_id);
        put("traceparent", &traceparent(&self.request_id));
        put("x-service-id", SERVICE_NAME);
        put("x-service-name", SERVICE_NAME);
        if let Some(key) = &self.idempotency_key {
            put("idempotency-key", key);
        }
        if let Some(secret) = secret {
            let nonce = nonce.to_string();
            let (body_hash, signature) = internal_auth::sign(
                secret.expose_secret().as_bytes(),
                SERVICE_NAME,
                now_ms,
                &nonce,
                self.method.as_str(),
                self.path_and_query(),
                &self.body,
            );
            put(internal_auth::HEADER_SERVICE, SERVICE_NAME);
            put(internal_auth::HEADER_TIMESTAMP, &now_ms.to_string());
            put(internal_auth::HEADER_NONCE, &nonce);
            put(internal_auth::HEADER_SIGNATURE, &signature);
            put(internal_auth::HEADER_BODY_HASH, &body_hash);
        }
        headers
    }
}

/// POST, PUT, PATCH and DELETE: the methods that carry an `Idempotency-Key`.
pub fn is_mutating(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// The original client's key format, `event-svc:{operation}:{resourceId}:{timestamp}:{nonce}`
/// (epoch milliseconds, a v4 UUID without hyphens). Build it once per logical call and reuse it
/// on every retry, or it deduplicates nothing.
pub fn idempotency_key(operation: &str, resource_id: &str) -> String {
    let timestamp = Utc::now().timestamp_millis();
    let nonce = Uuid::new_v4().simple();
    format!("event-svc:{operation}:{resource_id}:{timestamp}:{nonce}")
}

/// W3C trace context: the trace id is the request id's 128 bits when it is a (non-nil) UUID,
/// so one id follows the request across services; the span id is fresh per attempt.
fn traceparent(request_id: &str) -> String {
    let trace = Uuid::parse_str(request_id).ok().filter(|u| !u.is_nil()).unwrap_or_else(Uuid::new_v4);
    // A v4 UUID's first 8 bytes contain the version nibble, so the span id is never all zero.
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{}-{span}-01", trace.simple())
}

/// `Retry-After` in either form (RFC 9110 §10.2.3): delta-seconds, or an HTTP-date (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`, which RFC 2822 parsing accepts). A date in the past means
/// "now". The obsolete RFC 850 and asctime date forms are not accepted (no hint, so backoff).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate instead of failing.
        return Some(Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// HTTPS for service calls in production. `http` is accepted outside production, for loopback
/// hosts (127.0.0.0/8, ::1, `localhost`: the traffic never leaves the machine, e.g. a sidecar),
/// or when `allow_insecure` (`ALLOW_INSECURE_SERVICE_CALLS=true`) is set; the caller must log
/// that override loudly (see [`uses_insecure_override`]). Any other scheme is refused.
pub fn check_url_security(url: &Url, production: bool, allow_insecure: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if !production || is_loopback(url) || allow_insecure => Ok(()),
        "http" => Err(format!(
            "must use https in production (got http://{}); use https, a loopback address, or set \
             ALLOW_INSECURE_SERVICE_CALLS=true to override",
            url.host_str().unwrap_or_default()
        )),
        other => Err(format!("must be an http(s) URL, got scheme {other:?}")),
    }
}

/// True when [`check_url_security`] accepted `url` only because of the override: log it.
pub fn uses_insecure_override(url: &Url, production: bool, allow_insecure: bool) -> bool {
    production && allow_insecure && url.scheme() == "http" && !is_loopback(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn call(method: Method) -> OutboundCall {
        let url = Url::parse("https://venues.internal/api/v1/venues/6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11?x=1").unwrap();
        let tenant = TenantId::from_uuid(Uuid::new_v4());
        OutboundCall::new(method, url, tenant, "req-1".to_owned(), "reserve", "6f1c1f3e")
    }

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
    }

    #[test]
    fn reads_never_carry_an_idempotency_key() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            let call = call(method.clone());
            let headers = call.headers(Some(&SecretString::from(SECRET)), 1, Uuid::new_v4());
            assert!(headers.get("idempotency-key").is_none(), "{method} carried an Idempotency-Key");
            assert_eq!(call.idempotency(), Idempotency::Safe);
        }
    }

    #[test]
    fn writes_carry_one_key_in_the_original_format_reused_across_attempts() {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let call = call(method);
            let first = call.headers(None, 1, Uuid::new_v4());
            let second = call.headers(None, 2, Uuid::new_v4());
            let key = header(&first, "idempotency-key");
            assert_eq!(key, header(&second, "idempotency-key"), "a retry must reuse the key");
            let parts: Vec<&str> = key.split(':').collect();
            assert_eq!(parts[..3], ["event-svc", "reserve", "6f1c1f3e"]);
            assert!(parts[3].parse::<i64>().unwrap() > 1_600_000_000_000, "epoch ms");
            assert_eq!(parts[4].len(), 32);
            assert_eq!(call.idempotency(), Idempotency::Safe);
        }
    }

    #[test]
    fn headers_identify_tenant_request_trace_and_service_and_sign_the_exact_path() {
        let call = call(Method::GET);
        let nonce = Uuid::new_v4();
        let headers = call.headers(Some(&SecretString::from(SECRET)), 1_700_000_000_000, nonce);
        assert_eq!(header(&headers, "x-tenant-id"), call.tenant.to_string());
        assert_eq!(header(&headers, "x-request-id"), "req-1");
        assert_eq!(header(&headers, "x-service-id"), "event-service");
        assert_eq!(header(&headers, "x-service-name"), "event-service");
        assert!(headers.get("authorization").is_none());
        let path = "/api/v1/venues/6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11?x=1";
        assert_eq!(call.path_and_query(), path);
        let nonce = nonce.to_string();
        let signed = internal_auth::SignedRequest {
            service: header(&headers, "x-internal-service"),
            timestamp: header(&headers, "x-internal-timestamp"),
            nonce: header(&headers, "x-internal-nonce"),
            signature: header(&headers, "x-internal-signature"),
            body_hash: header(&headers, "x-internal-body-hash"),
            method: "GET",
            path,
            body: b"",
        };
        assert_eq!(signed.nonce, nonce);
        assert_eq!(
            internal_auth::verify(SECRET.as_bytes(), &signed, 1_700_000_000_000, &["event-service".into()]),
            Ok(())
        );
        // Without a secret, nothing pretends to be signed.
        let unsigned = call.headers(None, 1, Uuid::new_v4());
        assert!(unsigned.get("x-internal-signature").is_none() && unsigned.get("x-internal-service").is_none());
    }

    #[test]
    fn traceparent_reuses_a_uuid_request_id_and_is_well_formed_otherwise() {
        let id = Uuid::new_v4();
        let tp = traceparent(&id.to_string());
        assert!(tp.starts_with(&format!("00-{}-", id.simple())) && tp.ends_with("-01"), "{tp}");
        for tp in [traceparent("not-a-uuid"), traceparent(&Uuid::nil().to_string())] {
            let parts: Vec<&str> = tp.split('-').collect();
            assert_eq!((parts.len(), parts[0], parts[1].len(), parts[2].len(), parts[3]), (4, "00", 32, 16, "01"));
            assert_ne!(parts[1], "0".repeat(32));
            assert!(parts[1..3].iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())));
        }
    }

    #[test]
    fn retry_after_accepts_delta_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("1994-11-06T08:49:30Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO), "past = now");
        for bad in ["", "-1", "1.5", "soon", "Sunday, 06-Nov-94 08:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn our_retry_after_prefers_the_breaker_then_the_server_then_a_default_and_is_capped() {
        let open = ResilienceError::BreakerOpen { breaker: "venue", retry_after: Duration::from_secs(30) };
        assert_eq!(unavailable_retry_after(&open), Duration::from_secs(30));
        let status = |s| ResilienceError::Inner(VenueCallError::Status { status: 429, retry_after: s });
        assert_eq!(unavailable_retry_after(&status(Some(Duration::from_secs(7)))), Duration::from_secs(7));
        assert_eq!(unavailable_retry_after(&status(Some(Duration::from_secs(3600)))), MAX_RETRY_AFTER_HINT);
        assert_eq!(unavailable_retry_after(&status(None)), DEFAULT_RETRY_AFTER);
        let timeout = ResilienceError::AttemptTimeout { after: Duration::from_secs(5) };
        assert_eq!(unavailable_retry_after(&timeout), DEFAULT_RETRY_AFTER);
    }

    #[test]
    fn classification_retries_transient_failures_only() {
        let class = |status| VenueClassifier.classify(&VenueCallError::Status { status, retry_after: None });
        for status in [429, 500, 502, 503, 504] {
            assert_eq!(class(status), Classification::TRANSIENT, "{status}");
        }
        for status in [400, 401, 403, 404, 409, 422] {
            assert_eq!(class(status), Classification::CALLER, "{status}");
        }
        let hinted = VenueCallError::Status { status: 503, retry_after: Some(Duration::from_secs(2)) };
        assert_eq!(VenueClassifier.classify(&hinted).retry, RetryDecision::Yes { after: Some(Duration::from_secs(2)) });
        assert_eq!(VenueClassifier.classify(&VenueCallError::Decode), Classification::FATAL);
    }

    #[test]
    fn production_requires_https_except_loopback_or_an_explicit_override() {
        let url = |s: &str| Url::parse(s).unwrap();
        for ok in [
            "https://venue-service:3002",
            "http://127.0.0.1:3002",
            "http://127.8.9.10",
            "http://[::1]:3002",
            "http://localhost:3002",
            "http://LOCALHOST.",
        ] {
            assert_eq!(check_url_security(&url(ok), true, false), Ok(()), "{ok}");
            assert!(!uses_insecure_override(&url(ok), true, true), "{ok}");
        }
        for bad in [
            "http://venue-service:3002",
            "http://10.0.0.5",
            "http://localhost.evil.com",
            "http://[::2]",
            "http://128.0.0.1",
        ] {
            assert!(check_url_security(&url(bad), true, false).is_err(), "{bad}");
            assert_eq!(check_url_security(&url(bad), true, true), Ok(()), "{bad} with the override");
            assert!(uses_insecure_override(&url(bad), true, true), "{bad}");
            assert_eq!(check_url_security(&url(bad), false, false), Ok(()), "{bad} outside production");
        }
        assert!(check_url_security(&url("ftp://venue-service"), false, true).is_err());
        let message = check_url_security(&url("http://venue-service:3002"), true, false).unwrap_err();
        assert!(message.contains("https") && message.contains("ALLOW_INSECURE_SERVICE_CALLS"), "{message}");
    }

    #[test]
    fn the_fallback_key_is_per_venue() {
        let id = Uuid::new_v4();
        assert_eq!(fallback_key(id), format!("venue:{id}"));
    }
}
