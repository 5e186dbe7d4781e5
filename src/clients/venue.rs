//! The venue-service, as far as event-service needs it: "does this venue exist in this
//! tenant, is it active, how big is it, which time zone".
//!
//! Fail closed: when the venue cannot be verified, callers get `Unavailable` and refuse the
//! write (503). There is no default venue and no "allowed because degraded".
//!
//! # The platform's service route
//!
//! `GET {VENUE_SERVICE_URL}/internal/venues/{id}` (`reference/platform-contracts.md` §2), at
//! venue-service's root, HMAC-signed as `event-service` (on venue-service's default
//! allow-list). The route ignores `X-Tenant-ID` and looks the venue up across tenants, so the
//! answer's `tenantId` is compared here: a venue of another tenant is "not found". A `status`
//! other than `active` is refused by the caller ([`Venue::active`]). The user route
//! `/api/v1/venues/:id` is not usable by a service (it wants a staff member's JWT).
//!
//! # Budget and copies
//!
//! venue-service allows 100 requests/min *in total* (all callers, one global key) and 30/min
//! per venue, and answers 429 with `Retry-After` beyond that. So:
//!
//! * every live answer is copied to Redis (`tenant:{t}:venue:{id}`, shared by all replicas)
//!   and reused for `VENUE_CACHE_TTL_SECONDS` (5 min) without a call;
//! * our calls are counted across replicas in Redis and held to
//!   `VENUE_SERVICE_CALLS_PER_MINUTE` (30), leaving venue-service's budget to its other callers;
//! * a 429 is honoured: no call until its `Retry-After` has passed (not retried sooner).
//!
//! When no live answer can be had (budget spent, throttled, breaker open, timeouts, 5xx after
//! retries, network, unreadable body), a copy younger than `VENUE_FALLBACK_TTL_SECONDS` is
//! served; never when venue-service answered 404, 403 or another 4xx, which are answers, not
//! outages. No copy (or Redis down as well): the write is refused with 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use reqwest::Method;
use resilience::{
    BreakerHandle, BreakerOutcome, Classification, Classify, Dependency, DependencyConfig, Idempotency,
    ResilienceError, RetryDecision,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::clients::outbound::{self, OutboundCall};
use crate::config::VenueLookupConfig;
use crate::domain::TenantId;
use crate::http::request_id;
use crate::storage::Cache;

/// Upper bound on a `Retry-After` we pass on to our own clients.
const MAX_RETRY_AFTER_HINT: Duration = Duration::from_secs(60);
/// `Retry-After` of our 503 when nothing better is known.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The fields event-service uses (and caches) of a venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// venue-service's `capacity` (its `max_capacity` column).
    pub max_capacity: Option<i64>,
    pub timezone: Option<String>,
    /// `status == "active"`.
    pub active: bool,
    /// `isVerified` (informational: the on-chain program checks its own venue account).
    #[serde(default)]
    pub verified: bool,
}

/// What is kept in Redis: the venue and when venue-service said so.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Copy {
    venue: Venue,
    /// Epoch seconds of the live answer.
    fetched_at: i64,
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
    Transport(#[source] reqwest::Error),
    #[error("venue-service answered with an unreadable body")]
    Decode,
}

impl From<reqwest::Error> for VenueCallError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's message names the URL; ours must not carry it into logs verbatim.
        VenueCallError::Transport(e.without_url())
    }
}

/// Network errors and 5xx are transient (retried, honouring `Retry-After`) and count against
/// the breaker. 429 is venue-service's budget speaking, not a sick service: not retried (its
/// `Retry-After` is honoured by not calling at all until then) and not counted. Other 4xx are
/// answers, never retried, never counted.
pub struct VenueClassifier;

impl Classify<VenueCallError> for VenueClassifier {
    fn classify(&self, err: &VenueCallError) -> Classification {
        match err {
            VenueCallError::Transport(_) => Classification::TRANSIENT,
            VenueCallError::Status { status: 429, .. } => Classification::CALLER,
            VenueCallError::Status { status, retry_after } if *status >= 500 => {
                Classification { breaker: BreakerOutcome::Failure, retry: RetryDecision::Yes { after: *retry_after } }
            }
            VenueCallError::Status { .. } => Classification::CALLER,
            VenueCallError::Decode => Classification::FATAL,
        }
    }
}

/// `GET /internal/venues/:id` answers `{venue: {...}}`, camelCase (§2.3); only what we use is
/// read, and unknown fields are ignored (venue-service adds columns freely).
#[derive(Debug, Deserialize)]
struct Envelope {
    venue: VenueBody,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VenueBody {
    id: Uuid,
    /// Nullable in venue-service's schema; a venue without a tenant belongs to nobody.
    #[serde(default)]
    tenant_id: Option<Uuid>,
    name: String,
    #[serde(default)]
    capacity: Option<i64>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    is_verified: bool,
}

pub struct HttpVenueClient {
    http: reqwest::Client,
    /// `{base}/internal/venues/`, so a venue URL is one `join` of a UUID.
    venues_url: Url,
    stack: Dependency<VenueCallError>,
    cache: Cache,
    hmac_secret: Option<SecretString>,
    settings: VenueLookupConfig,
    /// Epoch ms before which venue-service asked (429 `Retry-After`) not to be called.
    throttled_until_ms: AtomicI64,
    /// Our per-replica count when Redis cannot keep the shared one: (minute, calls).
    local_budget: AtomicU64,
    /// `host:port` of venue-service, naming the shared budget.
    budget_scope: String,
}

impl HttpVenueClient {
    /// `base` is `VENUE_SERVICE_URL` (any path prefix is kept); `stack` the `venue` resilience
    /// settings; `cache` the tenant-scoped Redis cache holding the copies; `hmac_secret` is
    /// `INTERNAL_HMAC_SECRET` (without it calls go out unsigned and venue-service refuses them
    /// wherever its HMAC check is on).
    pub fn new(
        base: &Url,
        stack: DependencyConfig,
        cache: Cache,
        hmac_secret: Option<SecretString>,
        settings: VenueLookupConfig,
    ) -> anyhow::Result<Self> {
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            anyhow::bail!("VENUE_SERVICE_URL must be an http(s) base URL");
        }
        let venues_url = outbound::join_path(base, &["internal", "venues", ""])
            .map_err(|_| anyhow::anyhow!("VENUE_SERVICE_URL cannot carry a path"))?;
        if hmac_secret.is_none() {
            tracing::warn!("INTERNAL_HMAC_SECRET is not set: venue-service calls carry no service signature");
        }
        let budget_scope =
            format!("{}:{}", base.host_str().unwrap_or_default(), base.port_or_known_default().unwrap_or(0));
        Ok(Self {
            budget_scope,
            http: outbound::http_client()?,
            venues_url,
            stack: Dependency::new(stack, VenueClassifier),
            cache,
            hmac_secret,
            settings,
            throttled_until_ms: AtomicI64::new(0),
            local_budget: AtomicU64::new(0),
        })
    }

    /// One attempt: fresh nonce, timestamp and span id, same request id.
    async fn attempt(&self, call: &OutboundCall) -> Result<VenueBody, VenueCallError> {
        let headers = call.headers(self.hmac_secret.as_ref(), Utc::now().timestamp_millis(), Uuid::new_v4());
        let response = self.http.request(call.method.clone(), call.url.clone()).headers(headers).send().await?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| outbound::parse_retry_after(v, Utc::now()));
            return Err(VenueCallError::Status { status: status.as_u16(), retry_after });
        }
        // A body cut off mid-read is a transport failure (retried); a complete but unreadable
        // one is a venue-service bug (not retried).
        let bytes = response.bytes().await?;
        serde_json::from_slice::<Envelope>(&bytes).map(|e| e.venue).map_err(|_| VenueCallError::Decode)
    }

    /// A live answer: checked against the tenant, then copied to Redis.
    async fn accept(&self, tenant: TenantId, venue_id: Uuid, body: VenueBody) -> Result<Venue, VenueError> {
        // The route is cross-tenant by design: the tenant check is ours.
        if body.tenant_id != Some(*tenant.as_uuid()) || body.id != venue_id {
            tracing::info!(%venue_id, "venue-service returned a venue of another tenant or id; treated as not found");
            self.forget(tenant, venue_id).await;
            return Err(VenueError::NotFound);
        }
        let venue = Venue {
            id: body.id,
            tenant_id: *tenant.as_uuid(),
            name: body.name,
            max_capacity: body.capacity,
            timezone: body.timezone,
            active: body.status.as_deref() == Some("active"),
            verified: body.is_verified,
        };
        let copy = Copy { venue: venue.clone(), fetched_at: Utc::now().timestamp() };
        self.cache.set_json(tenant, &copy_key(venue_id), &copy, self.settings.fallback_ttl).await;
        Ok(venue)
    }

    /// venue-service says the venue is gone (or not ours): its copy must not outlive that.
    async fn forget(&self, tenant: TenantId, venue_id: Uuid) {
        self.cache.delete(tenant, &[&copy_key(venue_id)]).await;
    }

    /// The copy, if Redis has one for this tenant and venue.
    async fn copy(&self, tenant: TenantId, venue_id: Uuid) -> Option<Copy> {
        let copy = self.cache.get_json::<Copy>(tenant, &copy_key(venue_id)).await?;
        // The key is already tenant-scoped; the check guards against a key-building bug.
        if copy.venue.tenant_id == *tenant.as_uuid() && copy.venue.id == venue_id {
            Some(copy)
        } else {
            tracing::error!(%venue_id, "venue copy belongs to another tenant or venue; ignored");
            None
        }
    }

    /// No live answer: the copy if it is young enough, or fail closed.
    fn fallback(
        &self,
        venue_id: Uuid,
        copy: Option<Copy>,
        why: &str,
        retry_after: Duration,
    ) -> Result<Venue, VenueError> {
        let max_age = self.settings.fallback_ttl.as_secs() as i64;
        match copy {
            Some(copy) if Utc::now().timestamp() - copy.fetched_at <= max_age => {
                metrics::counter!("venue_lookups_total", "source" => "fallback").increment(1);
                tracing::warn!(%venue_id, reason = why, "venue-service unavailable; venue served from its copy");
                Ok(copy.venue)
            }
            _ => {
                metrics::counter!("venue_lookups_total", "source" => "unavailable").increment(1);
                tracing::warn!(%venue_id, reason = why, "venue could not be verified (no live answer, no usable copy)");
                Err(VenueError::Unavailable { retry_after: Some(retry_after.min(MAX_RETRY_AFTER_HINT)) })
            }
        }
    }

    /// Whether venue-service asked us (429) to wait; how long still.
    fn throttled_for(&self) -> Option<Duration> {
        let until = self.throttled_until_ms.load(Ordering::Relaxed);
        let now = Utc::now().timestamp_millis();
        (until > now).then(|| Duration::from_millis((until - now) as u64))
    }

    /// Takes one call from our per-minute share of venue-service's budget (shared across
    /// replicas in Redis; per replica while Redis is down). `Err` holds the wait until the
    /// next minute.
    async fn take_budget(&self) -> Result<(), Duration> {
        let now = Utc::now();
        let minute = now.timestamp() / 60;
        let until_next = Duration::from_secs((60 - now.timestamp() % 60) as u64);
        let limit = u64::from(self.settings.calls_per_minute);
        // Per venue-service (its host and port) and minute: every replica calling the same
        // venue-service counts against the same budget.
        let key = format!("event-service:venue-service-budget:{}:{minute}", self.budget_scope);
        let shared = self
            .cache
            .stack()
            .call("venue_budget", Idempotency::Unsafe, || {
                let mut conn = self.cache.connection();
                let key = &key;
                async move {
                    let (count,): (u64,) = redis::pipe()
                        .cmd("INCR")
                        .arg(key)
                        .cmd("EXPIRE")
                        .arg(key)
                        .arg(120)
                        .ignore()
                        .query_async(&mut conn)
                        .await?;
                    Ok(count)
                }
            })
            .await;
        let count = match shared {
            Ok(count) => count,
            Err(_) => {
                // Per replica: minute in the high bits, count in the low 32.
                let packed = self.local_budget.load(Ordering::Relaxed);
                let count = if (packed >> 32) as i64 == minute { (packed & 0xffff_ffff) + 1 } else { 1 };
                self.local_budget.store(((minute as u64) << 32) | count, Ordering::Relaxed);
                count
            }
        };
        if count <= limit { Ok(()) } else { Err(until_next) }
    }
}

impl VenueDirectory for HttpVenueClient {
    fn venue(&self, tenant: TenantId, venue_id: Uuid) -> BoxFuture<'_, Result<Venue, VenueError>> {
        Box::pin(async move {
            let copy = self.copy(tenant, venue_id).await;
            if let Some(copy) = &copy
                && Utc::now().timestamp() - copy.fetched_at < self.settings.fresh_ttl.as_secs() as i64
            {
                metrics::counter!("venue_lookups_total", "source" => "cache").increment(1);
                return Ok(copy.venue.clone());
            }
            if let Some(wait) = self.throttled_for() {
                return self.fallback(venue_id, copy, "throttled by venue-service (429)", wait);
            }
            if let Err(wait) = self.take_budget().await {
                metrics::counter!("venue_budget_exhausted_total").increment(1);
                return self.fallback(venue_id, copy, "our venue-service call budget is spent", wait);
            }
            let Ok(url) = self.venues_url.join(&venue_id.to_string()) else {
                return Err(VenueError::Unavailable { retry_after: Some(DEFAULT_RETRY_AFTER) });
            };
            let request_id = request_id::current().unwrap_or_else(|| Uuid::new_v4().to_string());
            let call = OutboundCall::new(Method::GET, url, tenant, request_id, "get_venue", &venue_id.to_string());
            let result = self.stack.call("get_venue", call.idempotency(), || self.attempt(&call)).await;
            metrics::counter!("venue_lookups_total", "source" => "live").increment(1);
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
                Err(ResilienceError::Inner(VenueCallError::Status { status: 429, retry_after })) => {
                    let wait = retry_after.unwrap_or(Duration::from_secs(60)).min(Duration::from_secs(600));
                    self.throttled_until_ms
                        .store(Utc::now().timestamp_millis() + wait.as_millis() as i64, Ordering::Relaxed);
                    metrics::counter!("venue_throttled_total").increment(1);
                    tracing::warn!(
                        wait_ms = wait.as_millis() as u64,
                        "venue-service rate-limited us; not calling it until Retry-After"
                    );
                    self.fallback(venue_id, copy, "throttled by venue-service (429)", wait)
                }
                // Any other refusal (400, 401, 3xx, ...) is an answer, not an outage: usually
                // our own misconfiguration (secret, allow-list, URL). No fallback, so it gets
                // noticed.
                Err(ResilienceError::Inner(VenueCallError::Status { status, .. })) if status < 500 => {
                    tracing::error!(%venue_id, status, "venue-service refused the call (check INTERNAL_HMAC_SECRET and its ALLOWED_INTERNAL_SERVICES)");
                    Err(VenueError::Unavailable { retry_after: Some(DEFAULT_RETRY_AFTER) })
                }
                Err(error) => {
                    let why = describe(&error);
                    self.fallback(venue_id, copy, &why, unavailable_retry_after(&error))
                }
            }
        })
    }

    fn breaker(&self) -> Option<BreakerHandle> {
        Some(self.stack.breaker())
    }
}

/// The copy's key suffix; the cache prefixes `tenant:{tenant}:`.
pub fn copy_key(venue_id: Uuid) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_retry_after_prefers_the_breaker_then_the_server_then_a_default_and_is_capped() {
        let open = ResilienceError::BreakerOpen { breaker: "venue", retry_after: Duration::from_secs(30) };
        assert_eq!(unavailable_retry_after(&open), Duration::from_secs(30));
        let status = |s| ResilienceError::Inner(VenueCallError::Status { status: 503, retry_after: s });
        assert_eq!(unavailable_retry_after(&status(Some(Duration::from_secs(7)))), Duration::from_secs(7));
        assert_eq!(unavailable_retry_after(&status(Some(Duration::from_secs(3600)))), MAX_RETRY_AFTER_HINT);
        assert_eq!(unavailable_retry_after(&status(None)), DEFAULT_RETRY_AFTER);
        let timeout = ResilienceError::AttemptTimeout { after: Duration::from_secs(5) };
        assert_eq!(unavailable_retry_after(&timeout), DEFAULT_RETRY_AFTER);
    }

    #[test]
    fn classification_retries_server_failures_only_and_never_a_429() {
        let class = |status| VenueClassifier.classify(&VenueCallError::Status { status, retry_after: None });
        for status in [500, 502, 503, 504] {
            assert_eq!(class(status), Classification::TRANSIENT, "{status}");
        }
        for status in [400, 401, 403, 404, 409, 422, 429] {
            assert_eq!(class(status), Classification::CALLER, "{status}");
        }
        let hinted = VenueCallError::Status { status: 503, retry_after: Some(Duration::from_secs(2)) };
        assert_eq!(VenueClassifier.classify(&hinted).retry, RetryDecision::Yes { after: Some(Duration::from_secs(2)) });
        assert_eq!(VenueClassifier.classify(&VenueCallError::Decode), Classification::FATAL);
    }

    #[test]
    fn the_internal_route_body_is_read_as_venue_service_sends_it() {
        // Shape of venue-service's GET /internal/venues/:id (platform-contracts.md §2.3).
        let body = serde_json::json!({"venue": {
            "id": "6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11", "tenantId": null, "name": "Hall",
            "slug": "hall", "latitude": "40.71280000", "capacity": 5000, "status": "suspended",
            "isVerified": true, "timezone": "UTC", "createdAt": "2026-01-01T00:00:00.000Z"}});
        let venue = serde_json::from_value::<Envelope>(body).unwrap().venue;
        assert_eq!((venue.tenant_id, venue.capacity, venue.status.as_deref()), (None, Some(5000), Some("suspended")));
        assert!(venue.is_verified);
    }

    #[test]
    fn the_copy_key_is_per_venue() {
        let id = Uuid::new_v4();
        assert_eq!(copy_key(id), format!("venue:{id}"));
    }
}
