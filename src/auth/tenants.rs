//! Tenant lifecycle: a tenant whose status is not `active` gets 403 on every user route.
//!
//! Source of truth: auth-service's `tenants` table ([`PlatformDb`]). Each replica keeps a
//! bounded in-process copy of the statuses it has looked up:
//!
//! * **Signal**: auth-service publishes the bare tenant UUID on the Redis channel
//!   `tenant:cache:invalidate` whenever a status changes (§3.3). Every replica subscribes and
//!   drops that tenant's entry, so the next request re-reads the row: milliseconds, on every
//!   replica. While the subscription is down (Redis outage), nothing is trusted for longer than
//!   the TTL, and every entry is dropped when the subscription comes back (messages may have
//!   been missed in between).
//! * **TTL** (`TENANT_STATUS_TTL_SECONDS`, 10): the bound when a message is lost anyway.
//! * **Auth source down**: a tenant seen before keeps its last known status for up to
//!   `TENANT_STATUS_STALE_SECONDS` (600); a tenant never seen gets 503 (fail closed: we cannot
//!   tell a suspended tenant from an active one).
//! * **Unknown tenant** (no row): 403, as the original did.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult, Kind};
use crate::storage::platform::PlatformDb;

/// The channel auth-service publishes on (`auth-service:services/tenant.service.ts`).
pub const INVALIDATION_CHANNEL: &str = "tenant:cache:invalidate";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Active,
    /// Known but not active (`suspended`, `inactive`, anything else), or absent.
    NotActive(String),
}

struct Entry {
    status: Status,
    fetched: Instant,
}

#[derive(Debug, Clone, Copy)]
pub struct TenantCacheSettings {
    pub ttl: Duration,
    pub stale_max: Duration,
    pub capacity: usize,
}

pub struct TenantDirectory {
    db: PlatformDb,
    settings: TenantCacheSettings,
    entries: Mutex<HashMap<TenantId, Entry>>,
}

impl TenantDirectory {
    pub fn new(db: PlatformDb, settings: TenantCacheSettings) -> Self {
        Self { db, settings, entries: Mutex::new(HashMap::new()) }
    }

    /// `Ok` for an active tenant; 403 `TENANT_NOT_ACTIVE` / `TENANT_NOT_FOUND`, or 503 when
    /// the status cannot be known.
    pub async fn require_active(&self, tenant: TenantId) -> ApiResult<()> {
        match self.status(tenant).await? {
            Status::Active => Ok(()),
            Status::NotActive(status) if status.is_empty() => {
                Err(not_active("TENANT_NOT_FOUND", "the tenant does not exist"))
            }
            Status::NotActive(status) => {
                Err(not_active("TENANT_NOT_ACTIVE", format!("the tenant is {status}; access is suspended")))
            }
        }
    }

    async fn status(&self, tenant: TenantId) -> ApiResult<Status> {
        let cached = self.cached(tenant);
        if let Some((status, age)) = &cached
            && *age < self.settings.ttl
        {
            return Ok(status.clone());
        }
        match self.db.tenant_status(tenant).await {
            Ok(row) => {
                let status = match row.as_deref() {
                    Some("active") => Status::Active,
                    Some(other) => Status::NotActive(other.to_owned()),
                    None => Status::NotActive(String::new()),
                };
                self.store(tenant, status.clone());
                Ok(status)
            }
            Err(e) => match cached {
                Some((status, age)) if age < self.settings.stale_max => {
                    metrics::counter!("tenant_status_lookups_total", "result" => "stale").increment(1);
                    tracing::warn!(%tenant, error = %e, "tenant status source unavailable; using the last known status");
                    Ok(status)
                }
                _ => {
                    metrics::counter!("tenant_status_lookups_total", "result" => "unavailable").increment(1);
                    tracing::warn!(%tenant, error = %e, "tenant status unknown and its source unavailable; refusing");
                    Err(ApiError::unavailable(
                        "TENANT_STATUS_UNAVAILABLE",
                        "The tenant's status cannot be verified right now",
                        Some(Duration::from_secs(5)),
                    ))
                }
            },
        }
    }

    fn cached(&self, tenant: TenantId) -> Option<(Status, Duration)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(&tenant).map(|e| (e.status.clone(), e.fetched.elapsed()))
    }

    fn store(&self, tenant: TenantId, status: Status) {
        metrics::counter!("tenant_status_lookups_total", "result" => "fetched").increment(1);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.settings.capacity && !entries.contains_key(&tenant) {
            // Bounded: drop what is past its stale limit first, then the oldest half.
            let stale_max = self.settings.stale_max;
            entries.retain(|_, e| e.fetched.elapsed() < stale_max);
            if entries.len() >= self.settings.capacity {
                let mut ages: Vec<Instant> = entries.values().map(|e| e.fetched).collect();
                ages.sort_unstable();
                let cutoff = ages[ages.len() / 2];
                entries.retain(|_, e| e.fetched > cutoff);
            }
        }
        entries.insert(tenant, Entry { status, fetched: Instant::now() });
    }

    /// auth-service said this tenant changed: forget it on this replica.
    pub fn invalidate(&self, tenant: TenantId) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(&tenant);
    }

    pub fn invalidate_all(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Subscribes to [`INVALIDATION_CHANNEL`] until `shutdown`, reconnecting with backoff.
    /// `redis_urls`: the server, or the nodes of a Redis Cluster. A cluster delivers a
    /// `PUBLISH` on any node to subscribers on every node, so a plain subscription to one node
    /// is enough; each reconnect moves on to the next node, so a dead node is not retried
    /// forever.
    pub async fn listen(self: std::sync::Arc<Self>, redis_urls: Vec<SecretString>, shutdown: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        for attempt in 0usize.. {
            let Some(redis_url) = redis_urls.get(attempt % redis_urls.len().max(1)) else { return };
            let session = self.subscribe_once(redis_url, &shutdown);
            let outcome = tokio::select! {
                outcome = session => outcome,
                () = shutdown.cancelled() => return,
            };
            // Messages may have been missed while disconnected: trust nothing cached.
            self.invalidate_all();
            metrics::counter!("tenant_invalidation_reconnects_total").increment(1);
            match outcome {
                Ok(()) => delay = Duration::from_millis(200),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "tenant invalidation channel lost; reconnecting")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    async fn subscribe_once(&self, redis_url: &SecretString, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let client = redis::Client::open(redis_url.expose_secret())?;
        let mut pubsub = tokio::time::timeout(Duration::from_secs(5), client.get_async_pubsub())
            .await
            .map_err(|_| anyhow::anyhow!("connect timed out"))??;
        pubsub.subscribe(INVALIDATION_CHANNEL).await?;
        // Entries cached before this subscription existed may predate a missed message.
        self.invalidate_all();
        tracing::debug!(channel = INVALIDATION_CHANNEL, "subscribed to tenant invalidations");
        let mut messages = pubsub.on_message();
        loop {
            let message = tokio::select! {
                m = messages.next() => m,
                () = shutdown.cancelled() => return Ok(()),
            };
            let Some(message) = message else { anyhow::bail!("subscription closed") };
            let payload: String = message.get_payload().unwrap_or_default();
            // The message is the bare tenant UUID (not JSON).
            match payload.trim().trim_matches('"').parse::<TenantId>() {
                Ok(tenant) => {
                    metrics::counter!("tenant_invalidations_total").increment(1);
                    self.invalidate(tenant);
                }
                Err(_) => tracing::warn!(len = payload.len(), "ignored a tenant invalidation that is not a UUID"),
            }
        }
    }
}

fn not_active(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::FORBIDDEN, Kind::TenantInvalid, code, detail)
}
