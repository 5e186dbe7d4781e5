//! Fixed-window rate limits per tenant and user, applied after authentication.
//!
//! The original limited before auth, so keys were per IP in practice (§11.15); this runs inside
//! `authenticate`, keys authenticated requests by `{tenant}:{user}` (a key never spans tenants)
//! and anonymous ones by client IP. Classes and defaults are the original's: search
//! (`/search`, `/query`), bulk (`/bulk`, `/batch`), else read (GET/HEAD/OPTIONS) or write.
//!
//! Counting is `INCR` + `PEXPIRE` in Redis, shared by every instance. The original failed open
//! when Redis was down; here the limiter degrades to a per-instance in-memory window with the
//! same limits (so the effective budget is at most limit × instances), logs once per outage,
//! counts `rate_limit_degraded_total` and marks responses `X-RateLimit-Mode: local`.
//!
//! Client IP (for anonymous keys and the allow-list): the `ConnectInfo` peer address when the
//! server provides it, else the first `X-Forwarded-For` entry. That header is trusted: the
//! service must sit behind a proxy that overwrites (not appends to) it, or a client could pick
//! its own bucket or claim an allow-listed address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use resilience::Idempotency;

use crate::auth::AuthUser;
use crate::config::RateLimitConfig;
use crate::error::ApiError;
use crate::state::AppState;

const PREFIX: &str = "event-service-rate-limit";
/// Bound on distinct local keys per window; beyond it new clients share one overflow bucket
/// per class, so memory stays bounded and the limit still applies.
const LOCAL_KEY_CAP: usize = 50_000;

const LIMIT: &str = "x-ratelimit-limit";
const REMAINING: &str = "x-ratelimit-remaining";
const RESET: &str = "x-ratelimit-reset";
const MODE: &str = "x-ratelimit-mode";

/// The budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Read,
    Write,
    Search,
    Bulk,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Search => "search",
            Class::Bulk => "bulk",
        }
    }

    pub fn limit(self, config: &RateLimitConfig) -> u32 {
        match self {
            Class::Read => config.read_max,
            Class::Write => config.write_max,
            Class::Search => config.search_max,
            Class::Bulk => config.bulk_max,
        }
    }
}

/// Search and bulk by path (search wins when both match), otherwise by method.
pub fn classify(method: &Method, path: &str) -> Class {
    if path.contains("/search") || path.contains("/query") {
        Class::Search
    } else if path.contains("/bulk") || path.contains("/batch") {
        Class::Bulk
    } else if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        Class::Read
    } else {
        Class::Write
    }
}

/// Probes and scrapes must never be throttled; internal routes are HMAC-authenticated callers.
pub fn is_exempt_path(path: &str) -> bool {
    path.starts_with("/api/v1/internal/")
        || path.starts_with("/internal/")
        || path.starts_with("/health")
        || path.starts_with("/api/v1/health")
        || path == "/metrics"
        || path == "/api/v1/metrics"
}

pub fn client_ip(req: &Request) -> Option<IpAddr> {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        return Some(addr.ip().to_canonical());
    }
    let first = req.headers().get("x-forwarded-for")?.to_str().ok()?.split(',').next()?.trim();
    first
        .parse::<IpAddr>()
        .ok()
        .or_else(|| first.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The key without its window index. The tenant is a UUID in a fixed position, so no user id
/// can make two tenants' keys collide.
fn base_key(user: Option<&AuthUser>, ip: Option<IpAddr>, class: Class) -> String {
    match user {
        Some(u) => format!("{PREFIX}:{}:{}:{}", u.tenant, u.user_id, class.as_str()),
        None => match ip {
            Some(ip) => format!("{PREFIX}:anon:{ip}:{}", class.as_str()),
            None => format!("{PREFIX}:anon:unknown:{}", class.as_str()),
        },
    }
}

/// One fixed window: `index = now / window`, shared by all instances (up to clock skew).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    index: u64,
    now_ms: u64,
    reset_ms: u64,
}

impl Window {
    fn at(now_ms: u64, window_ms: u64) -> Self {
        let window_ms = window_ms.max(1);
        let index = now_ms / window_ms;
        Self { index, now_ms, reset_ms: (index + 1) * window_ms }
    }

    /// Whole seconds until the window ends, rounded up and at least 1 (never invite a 0 s retry).
    fn retry_after_secs(&self) -> u64 {
        (self.reset_ms - self.now_ms).div_ceil(1000).max(1)
    }

    fn reset_epoch_secs(&self) -> u64 {
        self.reset_ms.div_ceil(1000)
    }
}

/// `from_fn_with_state` middleware, layered inside `authenticate`.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let config = &state.config.rate_limit;
    let Some((class, key)) = plan(config, &req) else { return next.run(req).await };
    let limit = class.limit(config);
    let window_ms = u64::try_from(config.window.as_millis()).unwrap_or(u64::MAX);
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let window = Window::at(now_ms, window_ms);

    let (count, local) = match count_in_redis(&state, &format!("{key}:{}", window.index), window_ms).await {
        Ok(count) => {
            if DEGRADED.load(Ordering::Relaxed) && DEGRADED.swap(false, Ordering::Relaxed) {
                tracing::info!("Redis is back; rate limits are shared across instances again");
            }
            (count, false)
        }
        Err(e) => {
            metrics::counter!("rate_limit_degraded_total").increment(1);
            if !DEGRADED.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "Redis unavailable; rate limits are enforced per instance");
            }
            let overflow = format!("{PREFIX}:overflow:{}", class.as_str());
            (u64::from(local_limiter().hit(&key, &overflow, window.index)), true)
        }
    };

    let allowed = count <= u64::from(limit);
    let decision = if allowed { "allowed" } else { "limited" };
    metrics::counter!("rate_limit_decisions_total", "class" => class.as_str(), "decision" => decision).increment(1);
    let mut response = if allowed { next.run(req).await } else { too_many_requests(class, limit, &window) };
    let remaining = u64::from(limit).saturating_sub(count);
    set_headers(response.headers_mut(), limit, remaining, &window, local);
    response
}

/// `None` when the request is not limited at all; else its class and base key.
fn plan(config: &RateLimitConfig, req: &Request) -> Option<(Class, String)> {
    if !config.enabled {
        return None;
    }
    // Inside a nested router the URI has lost its prefix; exemptions name full paths.
    let uri = req.extensions().get::<OriginalUri>().map_or(req.uri(), |o| &o.0);
    if is_exempt_path(uri.path()) {
        return None;
    }
    let ip = client_ip(req);
    if ip.is_some_and(|ip| config.allowlist.iter().any(|a| a.to_canonical() == ip)) {
        return None;
    }
    let class = classify(req.method(), uri.path());
    Some((class, base_key(req.extensions().get::<AuthUser>(), ip, class)))
}

/// Set while the local limiter is in use, so the warning is logged once per outage.
static DEGRADED: AtomicBool = AtomicBool::new(false);

async fn count_in_redis(
    state: &AppState,
    key: &str,
    window_ms: u64,
) -> Result<u64, resilience::ResilienceError<redis::RedisError>> {
    // INCR is not idempotent: a retry after a lost reply would count the request twice.
    state
        .cache
        .stack()
        .call("rate_limit", Idempotency::Unsafe, || {
            let mut conn = state.cache.connection();
            async move {
                // The key carries the window index, so expiring a window after its start is
                // enough; refreshing the TTL on every hit keeps it bounded by one window.
                let (count,): (u64,) = redis::pipe()
                    .cmd("INCR")
                    .arg(key)
                    .cmd("PEXPIRE")
                    .arg(key)
                    .arg(window_ms)
                    .ignore()
                    .query_async(&mut conn)
                    .await?;
                Ok(count)
            }
        })
        .await
}

fn set_headers(headers: &mut HeaderMap, limit: u32, remaining: u64, window: &Window, local: bool) {
    headers.insert(LIMIT, HeaderValue::from(limit));
    headers.insert(REMAINING, HeaderValue::from(remaining));
    headers.insert(RESET, HeaderValue::from(window.reset_epoch_secs()));
    if local {
        headers.insert(MODE, HeaderValue::from_static("local"));
    }
}

/// The original's 429 body: problem fields plus `limit`, `remaining` and `retryAfter` (seconds).
fn too_many_requests(class: Class, limit: u32, window: &Window) -> Response {
    let retry_after = window.retry_after_secs();
    let detail = format!("Too many {} requests; retry in {retry_after} s", class.as_str());
    ApiError::too_many("RATE_LIMITED", detail, limit, Duration::from_secs(retry_after)).into_response()
}

fn local_limiter() -> &'static LocalLimiter {
    static LIMITER: OnceLock<LocalLimiter> = OnceLock::new();
    LIMITER.get_or_init(|| LocalLimiter::new(LOCAL_KEY_CAP))
}

/// Per-instance fixed windows for Redis outages: `key -> (window index, count)`.
struct LocalLimiter {
    cap: usize,
    inner: Mutex<LocalInner>,
}

struct LocalInner {
    counts: HashMap<String, (u64, u32)>,
    pruned_for: u64,
}

impl LocalLimiter {
    fn new(cap: usize) -> Self {
        Self { cap, inner: Mutex::new(LocalInner { counts: HashMap::new(), pruned_for: 0 }) }
    }

    /// Counts one request in `window` and returns the count so far.
    fn hit(&self, key: &str, overflow: &str, window: u64) -> u32 {
        // A poisoned lock only means another request panicked mid-update; counts are still sound.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // Once per window, drop counters of past windows.
        if inner.pruned_for < window {
            inner.counts.retain(|_, (w, _)| *w >= window);
            inner.pruned_for = window;
        }
        let key = if inner.counts.len() >= self.cap && !inner.counts.contains_key(key) { overflow } else { key };
        let entry = inner.counts.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};

    use super::*;
    use crate::auth::Role;
    use crate::domain::TenantId;

    fn user(tenant: &str, id: &str) -> AuthUser {
        AuthUser {
            user_id: id.to_owned(),
            tenant: tenant.parse::<TenantId>().unwrap(),
            role: Role::User,
            permissions: vec![],
            jti: None,
            expires_at: 0,
        }
    }

    const T1: &str = "6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11";
    const T2: &str = "0b7e3f0c-1d2e-4f3a-8b9c-0d1e2f3a4b5c";

    #[test]
    fn classes_follow_path_then_method() {
        assert_eq!(classify(&Method::GET, "/api/v1/events"), Class::Read);
        assert_eq!(classify(&Method::HEAD, "/api/v1/events/1"), Class::Read);
        assert_eq!(classify(&Method::OPTIONS, "/api/v1/events"), Class::Read);
        assert_eq!(classify(&Method::POST, "/api/v1/events"), Class::Write);
        assert_eq!(classify(&Method::DELETE, "/api/v1/events/1"), Class::Write);
        assert_eq!(classify(&Method::GET, "/api/v1/events/search"), Class::Search);
        assert_eq!(classify(&Method::POST, "/api/v1/query"), Class::Search);
        assert_eq!(classify(&Method::POST, "/api/v1/events/bulk"), Class::Bulk);
        assert_eq!(classify(&Method::GET, "/api/v1/batch/1"), Class::Bulk);
        assert_eq!(classify(&Method::POST, "/api/v1/bulk/search"), Class::Search);
    }

    #[test]
    fn health_metrics_and_internal_paths_are_exempt() {
        for p in [
            "/health",
            "/api/v1/health/ready",
            "/metrics",
            "/api/v1/metrics",
            "/api/v1/internal/events/1",
            "/internal/events/1",
        ] {
            assert!(is_exempt_path(p), "{p}");
        }
        for p in ["/api/v1/events", "/metrics/x", "/api/v1/internalx", "/api/v1/events/health"] {
            assert!(!is_exempt_path(p), "{p}");
        }
    }

    #[test]
    fn keys_separate_tenants_users_classes_and_anonymous_clients() {
        let a = base_key(Some(&user(T1, "u1")), None, Class::Read);
        assert_eq!(a, format!("event-service-rate-limit:{T1}:u1:read"));
        assert_ne!(a, base_key(Some(&user(T2, "u1")), None, Class::Read));
        assert_ne!(a, base_key(Some(&user(T1, "u2")), None, Class::Read));
        assert_ne!(a, base_key(Some(&user(T1, "u1")), None, Class::Write));
        // The user wins over the IP: a shared office IP does not share one bucket.
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(base_key(Some(&user(T1, "u1")), Some(ip), Class::Read), a);
        assert_eq!(base_key(None, Some(ip), Class::Search), "event-service-rate-limit:anon:10.0.0.1:search");
        assert_eq!(base_key(None, None, Class::Bulk), "event-service-rate-limit:anon:unknown:bulk");
    }

    fn forwarded(xff: &str) -> Request {
        Request::builder().uri("/api/v1/events").header("x-forwarded-for", xff).body(Default::default()).unwrap()
    }

    #[test]
    fn client_ip_prefers_the_peer_then_the_first_forwarded_entry() {
        let mut req = forwarded("203.0.113.7, 10.0.0.1");
        assert_eq!(client_ip(&req), Some("203.0.113.7".parse().unwrap()));
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4000))));
        assert_eq!(client_ip(&req), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(client_ip(&forwarded("[::ffff:198.51.100.2]:443")), Some("198.51.100.2".parse().unwrap()));
        assert_eq!(client_ip(&forwarded("garbage")), None);
    }

    #[test]
    fn plan_honours_the_switch_the_allowlist_the_original_path_and_the_user() {
        let mut config = RateLimitConfig {
            enabled: true,
            window: std::time::Duration::from_secs(60),
            read_max: 100,
            write_max: 30,
            search_max: 20,
            bulk_max: 10,
            allowlist: vec!["192.0.2.9".parse().unwrap()],
            tenant_max_in_flight: 64,
            user_max_in_flight: 16,
            in_flight_wait: std::time::Duration::from_secs(1),
            auth_failures_per_minute: 20,
        };
        let mut req = forwarded("203.0.113.7");
        req.extensions_mut().insert(user(T1, "u1"));
        assert_eq!(plan(&config, &req), Some((Class::Read, format!("{PREFIX}:{T1}:u1:read"))));
        assert_eq!(plan(&config, &forwarded("192.0.2.9")), None);
        // Inside a nested router the URI lost its prefix; the original one decides exemptions.
        let mut nested = forwarded("203.0.113.7");
        nested.extensions_mut().insert(OriginalUri("/api/v1/internal/events/1".parse().unwrap()));
        assert_eq!(plan(&config, &nested), None);
        config.enabled = false;
        assert_eq!(plan(&config, &req), None);
    }

    #[test]
    fn window_math_rounds_up_and_never_says_zero() {
        let w = Window::at(125_400, 60_000);
        assert_eq!((w.index, w.reset_ms), (2, 180_000));
        assert_eq!(w.retry_after_secs(), 55); // 54.6 s rounds up
        assert_eq!(w.reset_epoch_secs(), 180);
        let edge = Window::at(179_999, 60_000);
        assert_eq!((edge.index, edge.retry_after_secs()), (2, 1));
        let start = Window::at(180_000, 60_000);
        assert_eq!((start.index, start.retry_after_secs()), (3, 60));
    }

    #[test]
    fn the_local_limiter_counts_per_key_resets_per_window_and_stays_bounded() {
        let l = LocalLimiter::new(2);
        assert_eq!(l.hit("a", "of", 7), 1);
        assert_eq!(l.hit("a", "of", 7), 2);
        assert_eq!(l.hit("b", "of", 7), 1);
        // Full: a new key counts in the shared overflow bucket instead of growing the map.
        assert_eq!(l.hit("c", "of", 7), 1);
        assert_eq!(l.hit("d", "of", 7), 2);
        assert_eq!(l.hit("a", "of", 7), 3);
        // A new window starts from zero and prunes the old ones.
        assert_eq!(l.hit("a", "of", 8), 1);
        assert_eq!(l.inner.lock().unwrap().counts.len(), 1);
        assert_eq!(l.hit("c", "of", 8), 1);
    }

    #[tokio::test]
    async fn the_429_carries_the_original_fields_and_headers() {
        let w = Window::at(125_400, 60_000);
        let mut response = too_many_requests(Class::Write, 30, &w);
        set_headers(response.headers_mut(), 30, 0, &w, true);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = response.headers();
        assert_eq!(h[CONTENT_TYPE], "application/problem+json");
        assert_eq!(h[CACHE_CONTROL], "no-store");
        assert_eq!(h[RETRY_AFTER], "55");
        assert_eq!(h[MODE], "local");
        assert_eq!(h[RESET], "180");
        let bytes = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["code"], "RATE_LIMITED");
        assert_eq!(body["type"], "https://api.tickettoken.com/errors/rate-limited");
        assert_eq!((body["status"].as_u64(), body["limit"].as_u64()), (Some(429), Some(30)));
        assert_eq!((body["remaining"].as_u64(), body["retryAfter"].as_u64()), (Some(0), Some(55)));
        assert!(body["instance"].as_str().unwrap().starts_with("urn:uuid:"));
    }
}
