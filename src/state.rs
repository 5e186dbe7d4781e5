//! `AppState`: built once at start-up, cloned per request. A clone is one reference count:
//! the resilience stacks inside hold boxed services whose clones allocate, and cloning them
//! field by field for every request cost about 15 % of a warm read's CPU (a `perf` profile of
//! row 1 of `scripts/bench/suite`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use resilience::BreakerHandle;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::auth::TokenVerifier;
use crate::auth::revocation::Revocations;
use crate::auth::tenants::TenantDirectory;
use crate::clients::broker::Broker;
use crate::clients::solana::SolanaClient;
use crate::clients::tickets::TicketClient;
use crate::clients::venue::SharedVenues;
use crate::config::Config;
use crate::storage::platform::PlatformDb;
use crate::storage::{Cache, Db};

#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
    pub config: Arc<Config>,
    pub db: Db,
    pub cache: Cache,
    pub tokens: Arc<TokenVerifier>,
    /// auth-service's tables, read-only (tenant status, revoked tokens).
    pub platform: PlatformDb,
    pub tenants: Arc<TenantDirectory>,
    pub revocations: Arc<Revocations>,
    pub venues: SharedVenues,
    /// ticket-service, for scan-stats.
    pub tickets: TicketClient,
    /// RabbitMQ, for the event-delivery relay.
    pub broker: Arc<Broker>,
    /// Failed token verifications per client address (`http::authenticate`).
    pub auth_failures: Arc<crate::auth::failures::AuthFailures>,
    /// Solana JSON-RPC (two stacks: reads and sends).
    pub solana: SolanaClient,
    pub health: Arc<HealthState>,
    pub metrics: PrometheusHandle,
    /// Plain client for informational probes of other services.
    pub http: reqwest::Client,
}

impl AppState {
    /// Every breaker of the process, for the admin health page.
    pub fn breakers(&self) -> Vec<(&'static str, BreakerHandle)> {
        let mut all = vec![("postgres", self.db.breaker()), ("redis", self.cache.breaker())];
        if let Some(venue) = self.venues.breaker() {
            all.push(("venue", venue));
        }
        all.push(("auth_db", self.platform.breaker()));
        all.push(("ticket", self.tickets.breaker()));
        all.push(("rabbitmq", self.broker.breaker()));
        all.push(("solana_read", self.solana.read_breaker()));
        all.push(("solana_send", self.solana.send_breaker()));
        all
    }
}

/// What the probes report beyond live dependency checks.
pub struct HealthState {
    started: AtomicBool,
    draining: AtomicBool,
    started_at: Instant,
    external: Mutex<Option<(Instant, Value)>>,
    jobs: std::sync::RwLock<Option<Value>>,
}

/// External dependency checks are cached this long, so `include_deps` cannot become a way
/// to hammer other services.
const EXTERNAL_TTL: Duration = Duration::from_secs(30);
const EXTERNAL_TIMEOUT: Duration = Duration::from_secs(5);

impl HealthState {
    pub fn new() -> Self {
        Self {
            started: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            started_at: Instant::now(),
            external: Mutex::new(None),
            jobs: std::sync::RwLock::new(None),
        }
    }

    pub fn mark_started(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// Shutdown has begun: readiness answers 503 while requests are still served.
    pub fn mark_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    pub fn uptime(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// Background jobs publish their status here for root `/health`.
    pub fn set_jobs_report(&self, report: Value) {
        if let Ok(mut slot) = self.jobs.write() {
            *slot = Some(report);
        }
    }

    pub fn jobs_report(&self) -> Option<Value> {
        self.jobs.read().ok().and_then(|r| r.clone())
    }

    /// `{venueService: {status, responseTime, lastChecked, error?}}`, cached for 30 s.
    pub async fn external(&self, state: &AppState) -> Value {
        let mut cached = self.external.lock().await;
        if let Some((at, value)) = cached.as_ref()
            && at.elapsed() < EXTERNAL_TTL
        {
            return value.clone();
        }
        let venue = probe(&state.http, state.config.venue_service_url.join("health/live").ok()).await;
        let value = json!({ "venueService": venue });
        *cached = Some((Instant::now(), value.clone()));
        value
    }
}

impl Default for HealthState {
    fn default() -> Self {
        Self::new()
    }
}

async fn probe(http: &reqwest::Client, url: Option<url::Url>) -> Value {
    let started = Instant::now();
    let Some(url) = url else { return json!({ "status": "unknown", "error": "INVALID_URL" }) };
    let result = http.get(url).timeout(EXTERNAL_TIMEOUT).send().await;
    let elapsed = started.elapsed().as_millis() as u64;
    let now = chrono::Utc::now();
    match result {
        Ok(r) if r.status().is_success() => json!({ "status": "up", "responseTime": elapsed, "lastChecked": now }),
        Ok(r) => {
            json!({ "status": "down", "responseTime": elapsed, "lastChecked": now, "error": format!("HTTP_{}", r.status().as_u16()) })
        }
        Err(e) if e.is_timeout() => {
            json!({ "status": "unknown", "responseTime": elapsed, "lastChecked": now, "error": "TIMEOUT" })
        }
        Err(_) => json!({ "status": "down", "responseTime": elapsed, "lastChecked": now, "error": "CONNECTION_ERROR" }),
    }
}
