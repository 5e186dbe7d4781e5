//! venue-service (`reference/platform-contracts.md` §2):
//!
//! * `GET /internal/venues/:venueId` at the root: HMAC with venue-service's default allow-list
//!   (`auth-service, event-service, ticket-service, payment-service, order-service,
//!   file-service, compliance-service, blockchain-service`); `X-Tenant-ID` is **ignored** (the
//!   lookup is cross-tenant); 200 `{venue:{...}}` camelCase, 404 `{error:"Venue not found"}`.
//! * the global rate limiter in front of it: 100 requests/min for the whole service and 30/min
//!   per venue, 429 with `Retry-After` and venue-service's error body.
//! * `GET /api/v1/venues/:venueId`: a user route; without a user JWT or API key 401, and a
//!   service has neither. (With a token: 403, since no staff membership exists here.)
//! * `GET /health/live`.
//!
//! Venues are registered explicitly; optionally, any unknown id is taken to be an active venue
//! of one "home" tenant (a test's own tenant), as if venue-service's table held every venue
//! that test asks about.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use crate::Reply;
use crate::hmac_check::HmacCheck;

/// venue-service's default `ALLOWED_INTERNAL_SERVICES`.
pub const DEFAULT_ALLOWED: &[&str] = &[
    "auth-service",
    "event-service",
    "ticket-service",
    "payment-service",
    "order-service",
    "file-service",
    "compliance-service",
    "blockchain-service",
];

/// A row of venue-service's `venues` table, as far as the internal route shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueRecord {
    pub id: uuid::Uuid,
    /// Nullable in venue-service's schema.
    pub tenant_id: Option<uuid::Uuid>,
    pub name: String,
    /// `max_capacity`, NOT NULL, > 0.
    pub capacity: i64,
    /// `active`, `inactive`, `pending` or `suspended`.
    pub status: String,
    pub timezone: Option<String>,
    pub is_verified: bool,
}

impl VenueRecord {
    pub fn active(id: uuid::Uuid, tenant: uuid::Uuid, name: &str, capacity: i64, timezone: &str) -> Self {
        Self {
            id,
            tenant_id: Some(tenant),
            name: name.to_owned(),
            capacity,
            status: "active".to_owned(),
            timezone: Some(timezone.to_owned()),
            is_verified: true,
        }
    }

    /// The camelCase body of `GET /internal/venues/:id` (§2.3): every column it selects, with
    /// node-postgres' formats (numerics as strings, timestamps as ISO strings).
    pub fn to_json(&self) -> serde_json::Value {
        let slug = self.name.to_lowercase().replace(' ', "-");
        json!({
            "id": self.id, "tenantId": self.tenant_id, "name": self.name, "slug": slug,
            "description": null, "addressLine1": "1 Main Street", "city": "Springfield", "state": "IL",
            "country": "US", "postalCode": "62701", "latitude": "39.78170000", "longitude": "-89.65010000",
            "timezone": self.timezone, "capacity": self.capacity, "status": self.status,
            "isVerified": self.is_verified, "walletAddress": null, "contactEmail": null, "contactPhone": null,
            "websiteUrl": null, "logoUrl": null, "bannerImageUrl": null, "createdBy": null,
            "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
        })
    }
}

pub struct VenueService {
    hmac: Option<HmacCheck>,
    venues: Mutex<HashMap<uuid::Uuid, VenueRecord>>,
    home_tenant: Mutex<Option<uuid::Uuid>>,
    /// Requests per minute (global) and per venue; `None`: `DISABLE_RATE_LIMIT=true`.
    limits: Option<(u64, u64)>,
    counters: Mutex<HashMap<String, (i64, u64)>>,
    internal_calls: AtomicU64,
}

impl VenueService {
    /// `secret`: `INTERNAL_HMAC_SECRET` (`None` = `USE_NEW_HMAC=false`, as the platform's compose
    /// file runs it). The real service's defaults otherwise: its allow-list, 100/min global and
    /// 30/min per venue.
    pub fn new(secret: Option<&[u8]>) -> Self {
        Self {
            hmac: secret.map(|s| HmacCheck::new(s, DEFAULT_ALLOWED)),
            venues: Mutex::new(HashMap::new()),
            home_tenant: Mutex::new(None),
            limits: Some((100, 30)),
            counters: Mutex::new(HashMap::new()),
            internal_calls: AtomicU64::new(0),
        }
    }

    /// `DISABLE_RATE_LIMIT=true`, or other budgets.
    pub fn with_limits(mut self, limits: Option<(u64, u64)>) -> Self {
        self.limits = limits;
        self
    }

    /// Unknown venue ids are active venues of `tenant`.
    pub fn with_home_tenant(self, tenant: uuid::Uuid) -> Self {
        *self.home_tenant.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tenant);
        self
    }

    pub fn register(&self, venue: VenueRecord) {
        self.venues.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(venue.id, venue);
    }

    pub fn remove(&self, id: uuid::Uuid) {
        self.venues.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
    }

    /// Calls that reached `/internal/venues/:id` past authentication and rate limiting.
    pub fn internal_calls(&self) -> u64 {
        self.internal_calls.load(Ordering::Relaxed)
    }

    pub fn handle(&self, method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap, body: &[u8]) -> Reply {
        let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["health", "live"]) => Reply::json(200, json!({"status": "ok", "service": "venue-service"})),
            ("GET", ["internal", "venues", id]) => {
                if let Some(hmac) = &self.hmac
                    && let Err(reply) = hmac.verify(method, uri, headers, body)
                {
                    return reply;
                }
                if let Some(limited) = self.rate_limit(id) {
                    return limited;
                }
                self.internal_calls.fetch_add(1, Ordering::Relaxed);
                match self.lookup(id) {
                    Some(venue) => Reply::json(200, json!({ "venue": venue.to_json() })),
                    None => Reply::json(404, json!({"error": "Venue not found"})),
                }
            }
            ("GET", ["api", "v1", "venues", _]) => {
                let has_credential =
                    headers.contains_key(http::header::AUTHORIZATION) || headers.contains_key("x-api-key");
                if has_credential {
                    Reply::json(
                        403,
                        json!({"success": false, "error": "Access denied", "code": "FORBIDDEN", "requestId": uuid::Uuid::new_v4()}),
                    )
                } else {
                    Reply::json(
                        401,
                        json!({"success": false, "error": "Authentication required", "code": "UNAUTHORIZED", "requestId": uuid::Uuid::new_v4()}),
                    )
                }
            }
            _ => Reply::json(
                404,
                json!({"message": format!("Route {} {} not found", method, uri.path()), "error": "Not Found", "statusCode": 404}),
            ),
        }
    }

    fn lookup(&self, raw_id: &str) -> Option<VenueRecord> {
        let id = raw_id.parse::<uuid::Uuid>().ok()?;
        let mut venues = self.venues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(venue) = venues.get(&id) {
            return Some(venue.clone());
        }
        let home = (*self.home_tenant.lock().unwrap_or_else(std::sync::PoisonError::into_inner))?;
        let venue = VenueRecord::active(id, home, "Test Arena", 5000, "America/New_York");
        venues.insert(id, venue.clone());
        Some(venue)
    }

    /// venue-service's preHandler limiter: fixed one-minute windows, `global` then `perVenue`.
    fn rate_limit(&self, venue: &str) -> Option<Reply> {
        let (global, per_venue) = self.limits?;
        let now = chrono::Utc::now().timestamp();
        let minute = now / 60;
        let retry_after = 60 - now % 60;
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, limit, kind) in
            [("global".to_owned(), global, "global"), (format!("venue:{venue}"), per_venue, "perVenue")]
        {
            let entry = counters.entry(key).or_insert((minute, 0));
            if entry.0 != minute {
                *entry = (minute, 0);
            }
            entry.1 += 1;
            if entry.1 > limit {
                let mut reply = Reply::json(
                    429,
                    json!({
                        "success": false, "error": format!("Rate limit exceeded for {kind}"), "code": "RATE_LIMIT_EXCEEDED",
                        "details": {"retryAfter": retry_after, "resource": kind, "documentation": "https://docs.tickettoken.com/rate-limits", "help": "Wait before retrying"},
                        "requestId": uuid::Uuid::new_v4(),
                    }),
                );
                reply.headers.push(("retry-after", retry_after.to_string()));
                return Some(reply);
            }
        }
        None
    }
}
