//! The tenant-scoped Redis cache.
//!
//! Redis is optional: every call goes through the Redis resilience stack, and any failure
//! (down, slow, breaker open) is a cache miss for reads and a logged no-op for writes, so the
//! service keeps serving from Postgres. Every key is built by [`tenant_key`]; invalidation is a
//! generation bump (`INCR`) per key, never a walk of the keyspace, and nothing flushes a
//! database. The hottest value (one event) also lives in a process-local tier kept exact by
//! the invalidation script's announcements (`local_cache`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncCommands, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};
use resilience::{
    BreakerHandle, BreakerOutcome, BreakerState, Classification, Classify, Dependency, DependencyConfig, Idempotency,
    RetryDecision,
};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::RedisConfig;
use crate::domain::TenantId;
use crate::storage::local_cache::{self, LocalTier};

/// `tenant:{<tenant id>}:<suffix>`, the only way a key is made. The braces are literal: a Redis
/// Cluster hash tag, so every key of one tenant (a value and its generation key, all the keys
/// of one invalidation) lives in one slot and the Lua scripts stay single-slot
/// (docs/scaling.md §4.2).
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
/// KEYS = pairs of [value, generation]; ARGV = [the local tiers' channel]. Generations outlive
/// the values by a day. The dropped value keys are announced to every replica's local tier, in
/// the same script, so no replica can miss an invalidation that happened (`local_cache`): one
/// message, the keys separated by newlines (a key never holds one).
const INVALIDATE: &str = "local dropped = {} for i = 1, #KEYS, 2 do redis.call('INCR', KEYS[i + 1]) \
    redis.call('EXPIRE', KEYS[i + 1], 86400) redis.call('UNLINK', KEYS[i]) dropped[#dropped + 1] = KEYS[i] end \
    redis.call('PUBLISH', ARGV[1], table.concat(dropped, '\\n')) return 1";

/// The one Redis handle of the service: a single server (`REDIS_URL`) or a Redis Cluster
/// (`REDIS_CLUSTER_NODES`). Both are cheap-to-clone multiplexed handles, and both speak
/// [`ConnectionLike`], so every command, pipeline and script call site is written once. On a
/// cluster each command goes to the node owning its first key's slot; every pipeline and
/// script of the service touches keys of one slot only (see `tenant_key`).
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Runs a keyless command on one node: on a cluster, commands such as `INFO` would
    /// otherwise fan out to every primary and answer with a map per node.
    async fn on_one_node<T: redis::FromRedisValue>(&mut self, cmd: Cmd) -> redis::RedisResult<T> {
        match self {
            Self::Single(m) => cmd.query_async(m).await,
            Self::Cluster(c) => {
                let value = c.route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random)).await?;
                redis::from_redis_value(value).map_err(Into::into)
            }
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(m) => m.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(m) => m.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(m) => m.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

#[derive(Clone)]
pub struct Cache {
    conn: RedisConn,
    stack: Dependency<RedisError>,
    /// `None` when `REDIS_LOCAL_CACHE_MAX_MB` is 0.
    local: Option<Arc<LocalTier>>,
}

impl Cache {
    /// Connects lazily, so the service starts (and serves from Postgres) while Redis is down.
    /// The reconnect backoff is kept short: callers wait on a reconnect, and the tower
    /// deadline around each call bounds that wait anyway.
    pub fn new(config: &RedisConfig, stack_config: DependencyConfig) -> anyhow::Result<Self> {
        let conn = if config.is_cluster() {
            RedisConn::Cluster(cluster_connection(config)?)
        } else {
            let client = redis::Client::open(config.url.expose_secret())
                .map_err(|e| anyhow::anyhow!("REDIS_URL: {}", e.category()))?;
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.connect_timeout))
                .set_response_timeout(Some(config.response_timeout))
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_secs(2));
            RedisConn::Single(client.get_connection_manager_lazy(manager_config)?)
        };
        let local = LocalTier::new(config.local_max_bytes, config.local_ttl).map(Arc::new);
        Ok(Self { conn, stack: Dependency::new(stack_config, RedisClassifier), local })
    }

    /// Keeps the local tier exact until `shutdown` (see `local_cache::listen`); without it
    /// the tier stays off.
    /// `redis_urls`: `RedisConfig::pubsub_urls`.
    pub async fn listen_for_invalidations(
        self,
        redis_urls: Vec<secrecy::SecretString>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        if let Some(tier) = self.local {
            local_cache::listen(tier, redis_urls, shutdown).await;
        }
    }

    /// The local tier (for tests).
    pub fn local_tier(&self) -> Option<&LocalTier> {
        self.local.as_deref()
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
        self.get_key(&tenant_key(tenant, suffix)).await
    }

    /// [`get_bytes`](Self::get_bytes) through the process-local tier: a value read once from
    /// Redis is served from memory until it is invalidated anywhere (or its local TTL ends).
    /// The tier is skipped while the Redis breaker is not closed, like Redis itself.
    pub async fn get_bytes_hot(&self, tenant: TenantId, suffix: &str) -> Option<Bytes> {
        let key = tenant_key(tenant, suffix);
        let Some(local) = self.local.as_deref().filter(|_| self.admits()) else {
            return self.get_key(&key).await.map(Bytes::from);
        };
        if let Some(value) = local.get(&key) {
            record("get", "local_hit");
            return Some(value);
        }
        // Before the Redis read: a fill is refused if any invalidation arrives after this.
        let ticket = local.ticket();
        let value = Bytes::from(self.get_key(&key).await?);
        if let Some(ticket) = ticket {
            local.fill(ticket, key, value.clone());
        }
        Some(value)
    }

    /// Whether the Redis breaker lets calls through without probing (closed, or disabled).
    fn admits(&self) -> bool {
        matches!(self.stack.breaker().state(), BreakerState::Closed | BreakerState::Disabled)
    }

    async fn get_key(&self, key: &str) -> Option<Vec<u8>> {
        let raw = self
            .stack
            .call("get", Idempotency::Safe, || {
                let mut conn = self.conn.clone();
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
                    redis::cmd("EVAL")
                        .arg(INVALIDATE)
                        .arg(keys.len())
                        .arg(keys)
                        .arg(local_cache::CHANNEL)
                        .query_async::<i64>(&mut conn)
                        .await
                }
            })
            .await;
        // This replica's copy goes at once, whatever Redis said: a read here after the write
        // must not wait for the announcement (nor be served a copy it failed to carry).
        if let Some(local) = &self.local {
            local.invalidate(keys.iter().step_by(2).map(String::as_str));
        }
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

    /// `INFO server` field `redis_version`, for the admin health page (of one node, on a
    /// cluster).
    pub async fn server_version(&self) -> Option<String> {
        let mut conn = self.conn.clone();
        let mut info = redis::cmd("INFO");
        info.arg("server");
        let info: String = tokio::time::timeout(Duration::from_secs(1), conn.on_one_node(info)).await.ok()?.ok()?;
        info.lines().find_map(|l| l.strip_prefix("redis_version:")).map(str::to_owned)
    }

    /// The connection, for callers with their own command semantics (rate limits, nonces).
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }

    /// `cluster` or `single`, for the admin health page and logs.
    pub fn mode(&self) -> &'static str {
        if self.conn.is_cluster() { "cluster" } else { "single" }
    }

    pub fn stack(&self) -> &Dependency<RedisError> {
        &self.stack
    }
}

/// The cluster client with every timeout and retry set explicitly: its defaults (16 retries,
/// waits from 1.28 s growing to minutes) would keep a caller waiting long after the Redis
/// stack's deadline gave up on it. `REDIS_RESPONSE_TIMEOUT_MS` bounds each attempt *and* the
/// whole command with its redirections and retries, so the stack's attempt timeout
/// (`RESILIENCE_REDIS_ATTEMPT_TIMEOUT_MS`, 300 ms) still sees a prompt answer. Reads go to
/// primaries only: a replica's copy may lag an invalidation, which the generation guard
/// cannot see.
fn cluster_connection(config: &RedisConfig) -> anyhow::Result<ClusterConnection> {
    let nodes: Vec<&str> = config.cluster_nodes.iter().map(|u| u.expose_secret()).collect();
    let client = ClusterClient::builder(nodes)
        .connection_timeout(config.connect_timeout)
        .response_timeout(config.response_timeout)
        .overall_response_timeout(Some(config.response_timeout))
        .retries(config.cluster_retries)
        .min_retry_wait(10)
        .max_retry_wait(100)
        .build()
        .map_err(|e| anyhow::anyhow!("REDIS_CLUSTER_NODES: {}", e.category()))?;
    Ok(client.get_pending_async_connection_with_config(
        ClusterConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(config.response_timeout),
    ))
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
        if err.is_io_error()
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || is_cluster_unavailable(err)
        {
            Classification { breaker: BreakerOutcome::Failure, retry: RetryDecision::Yes { after: None } }
        } else {
            Classification { breaker: BreakerOutcome::Ignore, retry: RetryDecision::No }
        }
    }
}

/// A cluster that cannot serve the slot right now (failover in progress, node unreachable):
/// an outage like a refused connection, not a bug in our command.
fn is_cluster_unavailable(err: &RedisError) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ClusterConnectionNotFound
            | ErrorKind::Server(
                ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::Moved
                    | ServerErrorKind::Ask
            )
    )
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
