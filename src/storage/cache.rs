//! The tenant-scoped Redis cache.
//!
//! Redis is optional: every call goes through the Redis resilience stack, and any failure
//! (down, slow, breaker open) is a cache miss for reads and a logged no-op for writes, so the
//! service keeps serving from Postgres. Every key is built by [`tenant_key`]; invalidation is a
//! generation bump (`INCR`) per key, never a walk of the keyspace, and nothing flushes a
//! database.

use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError};
use resilience::{
    BreakerHandle, BreakerOutcome, Classification, Classify, Dependency, DependencyConfig, Idempotency, RetryDecision,
};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::RedisConfig;
use crate::domain::TenantId;

/// `tenant:{<tenant id>}:<suffix>`, the only way a key is made. The braces are literal: a Redis
/// Cluster hash tag, so every key of one tenant (a value and its generation key, a prefix walk)
/// lives in one slot and the Lua scripts stay single-slot (docs/scaling.md §4.2). Braces are not
/// glob characters, so prefix patterns still match literally.
pub fn tenant_key(tenant: TenantId, suffix: &str) -> String {
    format!("tenant:{{{tenant}}}:{suffix}")
}

/// Per-key generation, bumped by every invalidation (see `Cache::set_json_guarded`).
fn generation_key(tenant: TenantId, suffix: &str) -> String {
    tenant_key(tenant, &format!("{suffix}:gen"))
}

/// KEYS = [value, generation]; ARGV = [value, expected generation, ttl seconds].
const GUARDED_SET: &str = "if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then return 0 end \
    redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3])) return 1";
/// KEYS = pairs of [value, generation]. Generations outlive the values by a day.
const INVALIDATE: &str = "for i = 1, #KEYS, 2 do redis.call('INCR', KEYS[i + 1]) \
    redis.call('EXPIRE', KEYS[i + 1], 86400) redis.call('UNLINK', KEYS[i]) end return 1";

#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
    stack: Dependency<RedisError>,
}

impl Cache {
    /// Connects lazily, so the service starts (and serves from Postgres) while Redis is down.
    /// The reconnect backoff is kept short: callers wait on a reconnect, and the tower
    /// deadline around each call bounds that wait anyway.
    pub fn new(config: &RedisConfig, stack_config: DependencyConfig) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.url.expose_secret())
            .map_err(|e| anyhow::anyhow!("REDIS_URL: {}", e.category()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2));
        let conn = client.get_connection_manager_lazy(manager_config)?;
        Ok(Self { conn, stack: Dependency::new(stack_config, RedisClassifier) })
    }

    pub fn breaker(&self) -> BreakerHandle {
        self.stack.breaker()
    }

    /// A cached JSON value, or `None` on a miss, a decode failure or any Redis trouble.
    pub async fn get_json<T: DeserializeOwned>(&self, tenant: TenantId, suffix: &str) -> Option<T> {
        let bytes = self.get_bytes(tenant, suffix).await?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(_) => {
                // A value we cannot read (e.g. an older shape): treat as a miss and drop it.
                record("get", "decode_error");
                self.delete(tenant, &[suffix]).await;
                None
            }
        }
    }

    /// The cached bytes as stored (JSON written by `set_json*`), or `None` on a miss or any
    /// Redis trouble. For answers that pass the stored JSON on unchanged.
    pub async fn get_bytes(&self, tenant: TenantId, suffix: &str) -> Option<Vec<u8>> {
        let key = tenant_key(tenant, suffix);
        let raw = self
            .stack
            .call("get", Idempotency::Safe, || {
                let mut conn = self.conn.clone();
                let key = &key;
                async move { conn.get::<_, Option<Vec<u8>>>(key).await }
            })
            .await;
        match raw {
            Ok(Some(bytes)) => {
                record("get", "hit");
                Some(bytes)
            }
            Ok(None) => {
                record("get", "miss");
                None
            }
            Err(e) => {
                record("get", "error");
                tracing::debug!(error = %e, "cache read skipped");
                None
            }
        }
    }

    /// Stores a JSON value with a TTL. Failures are logged and otherwise ignored.
    pub async fn set_json<T: Serialize + Sync>(&self, tenant: TenantId, suffix: &str, value: &T, ttl: Duration) {
        let Ok(bytes) = serde_json::to_vec(value) else { return };
        let key = tenant_key(tenant, suffix);
        let ttl_secs = ttl.as_secs().max(1);
        // SET of the same value is idempotent, so it may be retried.
        let result = self
            .stack
            .call("set", Idempotency::Safe, || {
                let mut conn = self.conn.clone();
                let (key, bytes) = (&key, &bytes);
                async move { conn.set_ex::<_, _, ()>(key, bytes.as_slice(), ttl_secs).await }
            })
            .await;
        record("set", if result.is_ok() { "ok" } else { "error" });
        if let Err(e) = result {
            tracing::debug!(error = %e, "cache write skipped");
        }
    }

    /// The generation of a key, read *before* loading what will be cached under it; `None`
    /// when Redis cannot answer (then nothing should be cached).
    pub async fn generation(&self, tenant: TenantId, suffix: &str) -> Option<String> {
        let key = generation_key(tenant, suffix);
        self.stack
            .call("generation", Idempotency::Safe, || {
                let mut conn = self.conn.clone();
                let key = &key;
                async move { conn.get::<_, Option<String>>(key).await }
            })
            .await
            .ok()
            .map(|g| g.unwrap_or_else(|| "0".to_owned()))
    }

    /// Stores a value only if no invalidation happened since `generation` was read. Without
    /// this, a read that loaded the database just before a write could put its stale copy
    /// back after the write's invalidation, for the whole TTL.
    pub async fn set_json_guarded<T: Serialize + Sync>(
        &self,
        tenant: TenantId,
        suffix: &str,
        value: &T,
        ttl: Duration,
        generation: &str,
    ) {
        let Ok(bytes) = serde_json::to_vec(value) else { return };
        let (key, gen_key) = (tenant_key(tenant, suffix), generation_key(tenant, suffix));
        let ttl_secs = ttl.as_secs().max(1);
        // Conditional on the generation, so repeating it is harmless.
        let result = self
            .stack
            .call("set", Idempotency::Safe, || {
                let mut conn = self.conn.clone();
                let (key, gen_key, bytes) = (&key, &gen_key, &bytes);
                async move {
                    redis::cmd("EVAL")
                        .arg(GUARDED_SET)
                        .arg(2)
                        .arg(key)
                        .arg(gen_key)
                        .arg(bytes.as_slice())
                        .arg(generation)
                        .arg(ttl_secs)
                        .query_async::<i64>(&mut conn)
                        .await
                }
            })
            .await;
        record("set", if result.is_ok() { "ok" } else { "error" });
    }

    /// Invalidates keys of one tenant: bumps each key's generation, then deletes it, atomically.
    pub async fn delete(&self, tenant: TenantId, suffixes: &[&str]) {
        if suffixes.is_empty() {
            return;
        }
        let keys: Vec<String> =
            suffixes.iter().flat_map(|s| [tenant_key(tenant, s), generation_key(tenant, s)]).collect();
        let result = self
            .stack
            .call("delete", Idempotency::Safe, || {
                let mut conn = self.conn.clone();
                let keys = &keys;
                async move {
                    redis::cmd("EVAL").arg(INVALIDATE).arg(keys.len()).arg(keys).query_async::<i64>(&mut conn).await
                }
            })
            .await;
        record("delete", if result.is_ok() { "ok" } else { "error" });
        if let Err(e) = result {
            tracing::warn!(error = %e, "cache invalidation skipped; entries expire by TTL");
        }
    }

    /// A `PING` for readiness, bounded by `timeout`; bypasses the breaker so probes report
    /// the real state of Redis.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, &'static str> {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        match tokio::time::timeout(timeout, redis::cmd("PING").query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => Ok(started.elapsed()),
            Ok(Err(_)) => Err("CONNECTION_ERROR"),
            Err(_) => Err("TIMEOUT"),
        }
    }

    /// `INFO server` field `redis_version`, for the admin health page.
    pub async fn server_version(&self) -> Option<String> {
        let mut conn = self.conn.clone();
        let info: String =
            tokio::time::timeout(Duration::from_secs(1), redis::cmd("INFO").arg("server").query_async(&mut conn))
                .await
                .ok()?
                .ok()?;
        info.lines().find_map(|l| l.strip_prefix("redis_version:")).map(str::to_owned)
    }

    /// The connection, for callers with their own command semantics (rate limits, nonces).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub fn stack(&self) -> &Dependency<RedisError> {
        &self.stack
    }
}

fn record(op: &'static str, result: &'static str) {
    metrics::counter!("cache_operations_total", "op" => op, "result" => result).increment(1);
}

/// Connection trouble trips the Redis breaker and may be retried (for idempotent commands);
/// server-side command errors (WRONGTYPE, NOSCRIPT, ...) are our bugs, not an outage.
#[derive(Clone, Copy, Debug)]
pub struct RedisClassifier;

impl Classify<RedisError> for RedisClassifier {
    fn classify(&self, err: &RedisError) -> Classification {
        if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() || err.is_connection_refusal() {
            Classification { breaker: BreakerOutcome::Failure, retry: RetryDecision::Yes { after: None } }
        } else {
            Classification { breaker: BreakerOutcome::Ignore, retry: RetryDecision::No }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_tenant_as_a_hash_tag() {
        let t: TenantId = "6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11".parse().unwrap();
        assert_eq!(tenant_key(t, "event:1"), "tenant:{6f1c1f3e-8a52-4c57-9a51-3f7d2b1c0a11}:event:1");
    }
}
