//! Token revocation: a token whose `jti` auth-service recorded at logout is refused.
//!
//! auth-service has no revocation API (the original called a route that does not exist and so
//! never revoked anything, §3.1). Its source of truth is the `invalidated_tokens` table, read
//! here tenant-scoped through [`PlatformDb`]. Answers are kept per `jti` on each replica:
//!
//! * **not revoked**: re-checked after `TOKEN_REVOCATION_RECHECK_SECONDS` (10), which bounds how
//!   long a revoked token keeps working on a replica that has already seen it;
//! * **revoked**: kept until the token expires (a revocation is never undone).
//!
//! **Auth source down**: a `jti` checked before keeps its last answer (up to its expiry); a
//! `jti` never checked is let through for safe methods (GET/HEAD/OPTIONS: an access token lives
//! 15 minutes and can at most read its own tenant) and refused with 503 for writes. Tokens
//! without a `jti` cannot be revoked by auth-service and are not looked up.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::storage::platform::PlatformDb;

struct Entry {
    revoked: bool,
    checked: Instant,
    expires_at: i64,
}

pub struct Revocations {
    db: PlatformDb,
    recheck: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Revocations {
    pub fn new(db: PlatformDb, recheck: Duration, capacity: usize) -> Self {
        Self { db, recheck, capacity, entries: Mutex::new(HashMap::new()) }
    }

    /// `safe`: the request only reads (decides what happens when the source is down).
    pub async fn check(&self, user: &AuthUser, safe: bool) -> ApiResult<()> {
        let Some(jti) = user.jti.as_deref() else { return Ok(()) };
        let cached = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.get(jti).map(|e| (e.revoked, e.checked.elapsed()))
        };
        match cached {
            Some((true, _)) => return Err(revoked()),
            Some((false, age)) if age < self.recheck => return Ok(()),
            _ => {}
        }
        match self.db.is_revoked(user.tenant, jti).await {
            Ok(revoked_now) => {
                metrics::counter!("token_revocation_checks_total", "result" => if revoked_now { "revoked" } else { "valid" })
                    .increment(1);
                self.store(jti, revoked_now, user.expires_at);
                if revoked_now { Err(revoked()) } else { Ok(()) }
            }
            Err(e) => {
                let outcome = match cached {
                    Some(_) => "stale",
                    None if safe => "unchecked_read",
                    None => "refused",
                };
                metrics::counter!("token_revocation_checks_total", "result" => outcome).increment(1);
                tracing::warn!(error = %e, outcome, "token revocation source unavailable");
                match outcome {
                    "refused" => Err(ApiError::unavailable(
                        "AUTH_SOURCE_UNAVAILABLE",
                        "The token cannot be checked for revocation right now; retry shortly",
                        Some(Duration::from_secs(5)),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }

    fn store(&self, jti: &str, revoked: bool, expires_at: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(jti) {
            let now = chrono::Utc::now().timestamp();
            entries.retain(|_, e| e.expires_at > now);
            if entries.len() >= self.capacity {
                // Forgetting a "not revoked" answer only costs a lookup; keep revocations.
                entries.retain(|_, e| e.revoked);
            }
        }
        entries.insert(jti.to_owned(), Entry { revoked, checked: Instant::now(), expires_at });
    }
}

fn revoked() -> ApiError {
    ApiError::unauthorized("token has been revoked").with_code("TOKEN_REVOKED")
}
