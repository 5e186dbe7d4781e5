//! Configuration from environment variables, validated once at start-up.
//!
//! Names and defaults follow the original service (`../shared/reference/original-service.md` §9)
//! where they were sensible. Every problem is collected and reported together, each naming its
//! variable, and the process exits before it serves anything. Secrets are `SecretString`, so
//! neither `Debug` nor a log line can print them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use resilience::{BreakerConfig, DependencyConfig, RetryConfig};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// A problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub message: String,
}

/// All problems found; `Display` prints one line per variable.
#[derive(Debug, Clone)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.0 {
            writeln!(f, "  {}: {}", p.variable, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Settings of the `serve` command.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: AppEnv,
    /// `HOST` (0.0.0.0) and `PORT` (3003).
    pub host: IpAddr,
    pub port: u16,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    /// `VENUE_SERVICE_URL`.
    pub venue_service_url: Url,
    /// `ALLOW_INSECURE_SERVICE_CALLS` (false): in production, allow plain http to other
    /// services on non-loopback hosts. Logged loudly at start-up when it is used.
    pub allow_insecure_service_calls: bool,
    /// `SOLANA_RPC_URL`.
    pub solana_rpc_url: Url,
    /// On-chain event registration (`SOLANA_REGISTRATION_*`, `PLATFORM_WALLET_PATH`,
    /// `TICKETTOKEN_PROGRAM_ID`).
    pub registration: RegistrationConfig,
    pub jwt: JwtConfig,
    /// auth-service's tables: tenant status and revoked tokens (`src/auth/tenants.rs`,
    /// `src/auth/revocation.rs`).
    pub auth_source: AuthSourceConfig,
    /// Venue lookups: how long a live answer is reused, and our share of venue-service's budget.
    pub venue_lookup: VenueLookupConfig,
    /// `TICKET_SERVICE_URL` (unset: scan-stats reports zero tickets, as the original did when
    /// ticket-service did not answer).
    pub ticket_service_url: Option<Url>,
    /// The event-delivery relay to RabbitMQ (`src/jobs/relay.rs`, docs/events.md).
    pub relay: RelayConfig,
    /// The operator's listener and credential (`src/routes/operator.rs`).
    pub operator: OperatorConfig,
    /// `INTERNAL_HMAC_SECRET` (>= 32 chars). Without it internal routes refuse every call.
    pub internal_hmac_secret: Option<SecretString>,
    /// `EVENT_MIN_ADVANCE_HOURS` (2) and `EVENT_MAX_ADVANCE_DAYS` (365): the window in which a
    /// new event may start.
    pub event_rules: crate::domain::event::EventRules,
    /// `EVENT_TRANSITIONS_INTERVAL_SECONDS` (300): how often the time-based lifecycle job runs,
    /// once per interval across all replicas.
    pub transitions_interval: Duration,
    /// `RESERVATION_CLEANUP_INTERVAL_MINUTES` (1).
    pub reservation_cleanup_interval: Duration,
    /// `LOG_LEVEL` (info): a level or a full `tracing` filter directive.
    pub log_level: String,
    /// `LOG_FORMAT` (json in production, pretty elsewhere).
    pub log_format: LogFormat,
    /// `BODY_LIMIT` in bytes (1 MiB).
    pub body_limit: usize,
    /// `REQUEST_TIMEOUT_MS` (30000): the longest any request may take end to end.
    pub request_timeout: Duration,
    /// `MAX_SHUTDOWN_TIMEOUT_MS` (30000): bound on draining at shutdown.
    pub max_shutdown_timeout: Duration,
    /// `ALLOWED_INTERNAL_SERVICES` (comma list): services accepted on the internal routes.
    pub allowed_internal_services: Vec<String>,
    pub rate_limit: RateLimitConfig,
    /// One resilience stack per dependency (`RESILIENCE_<DEP>_*`, see docs/resilience.md).
    pub resilience: ResilienceSettings,
    /// `PRESTOP_DELAY_MS` (0): keep serving this long after SIGTERM while the load balancer
    /// stops routing to the pod; Kubernetes can do the same with a `preStop` hook instead.
    pub prestop_delay: Duration,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`, or composed from `DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_USER`, `DB_PASSWORD`.
    pub url: SecretString,
    /// `DB_POOL_MIN` (2), `DB_POOL_MAX` (10).
    pub pool_min: u32,
    pub pool_max: u32,
    /// `DB_ACQUIRE_TIMEOUT_MS` (2000): saturation fails fast instead of queueing for 30 s.
    pub acquire_timeout: Duration,
    /// `DB_IDLE_TIMEOUT_MS` (30000).
    pub idle_timeout: Duration,
    /// `DB_STATEMENT_TIMEOUT` in ms (5000): the server aborts a statement before the
    /// per-attempt timeout of the resilience stack fires, so the pool slot frees promptly.
    pub statement_timeout: Duration,
    /// `DB_CONNECT_RETRIES` (5): start-up connection attempts before giving up.
    pub connect_retries: u32,
    /// `DB_TENANT_CONCURRENCY` (a quarter of the pool, at least 2): transactions one tenant may
    /// run at once on a replica, so no tenant can take more than its share of the pool.
    pub tenant_concurrency: u32,
    /// `DATABASE_POOLER` (`none`): `pgbouncer` when `DATABASE_URL` (and `AUTH_DATABASE_URL`)
    /// reach Postgres through PgBouncer in transaction mode (`deploy/pgbouncer/`).
    pub pooler: Pooler,
}

/// What sits between the service and Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooler {
    /// Postgres itself (or a session-mode pooler): named prepared statements are cached per
    /// connection and the timeouts are set once per connection.
    None,
    /// A transaction-mode pooler without prepared-statement support (PgBouncer before 1.21, as
    /// packaged by Debian 12): a server connection is ours only inside a transaction, so
    /// nothing may live on it across transactions (no named statements, no session settings).
    PgBouncer,
}

impl Pooler {
    pub fn is_transaction_pooler(self) -> bool {
        self == Pooler::PgBouncer
    }
}

impl std::str::FromStr for Pooler {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "none" => Ok(Pooler::None),
            "pgbouncer" => Ok(Pooler::PgBouncer),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Pooler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pooler::None => "none",
            Pooler::PgBouncer => "pgbouncer",
        })
    }
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`, or composed from `REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD`, `REDIS_DB`.
    /// Empty when `REDIS_CLUSTER_NODES` is set.
    pub url: SecretString,
    /// `REDIS_CLUSTER_NODES` (unset): comma-separated `host:port` or `redis://`/`rediss://` URLs
    /// of some nodes of a Redis Cluster (the others are discovered). When set, every Redis
    /// command goes through a cluster client, routed by its key's slot. `REDIS_PASSWORD`
    /// applies to `host:port` entries. Excludes `REDIS_URL`; a cluster has only database 0.
    pub cluster_nodes: Vec<SecretString>,
    /// `REDIS_CONNECT_TIMEOUT_MS` (1000).
    pub connect_timeout: Duration,
    /// `REDIS_RESPONSE_TIMEOUT_MS` (250). In cluster mode also the bound on one whole command,
    /// redirections and retries included, so the Redis stack's deadlines still hold.
    pub response_timeout: Duration,
    /// `REDIS_CLUSTER_RETRIES` (2): how often the cluster client re-sends a command after
    /// `MOVED`, `TRYAGAIN`, `CLUSTERDOWN` or a lost connection (waits of 10-100 ms between
    /// tries), all inside `REDIS_RESPONSE_TIMEOUT_MS`. The client's own default (16 tries,
    /// waits up to minutes) would outlive every deadline.
    pub cluster_retries: u32,
    /// `REDIS_LOCAL_CACHE_MAX_MB` (8, at most 1024; 0 turns it off): the process-local tier in
    /// front of Redis for single events (`storage::local_cache`), kept exact by invalidations
    /// announced over Redis pub/sub; empty and bypassed whenever that subscription is down.
    pub local_max_bytes: usize,
    /// `REDIS_LOCAL_CACHE_TTL_MS` (5000, 1 to 300000): the longest a value stays in the local
    /// tier, the bound if an announcement is delayed.
    pub local_ttl: Duration,
}

impl RedisConfig {
    pub fn is_cluster(&self) -> bool {
        !self.cluster_nodes.is_empty()
    }

    /// Where to subscribe to pub/sub channels: the single server, or each cluster node in turn
    /// (a cluster broadcasts `PUBLISH` to every node).
    pub fn pubsub_urls(&self) -> Vec<SecretString> {
        if self.is_cluster() { self.cluster_nodes.clone() } else { vec![self.url.clone()] }
    }
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The RS256 public keys: `JWT_PUBLIC_KEY` (inline PEM or base64 PEM) or
    /// `JWT_PUBLIC_KEY_PATH` (a file, re-read periodically and on SIGHUP) for tokens with `kid`
    /// `current`/`dev`; optionally `JWT_PUBLIC_KEY_PREVIOUS` / `JWT_PUBLIC_KEY_PREVIOUS_PATH`
    /// for `kid` `previous` during a rotation.
    pub keys: crate::auth::keys::KeySources,
    /// `JWT_ISSUER` (tickettoken, the value the platform's compose file gives auth-service).
    pub issuer: String,
    /// `JWT_AUDIENCE` (default: the issuer). auth-service sets `aud` to its issuer; the
    /// original's `tickettoken-platform` default refused every real token.
    pub audience: String,
    /// `JWT_KEY_RELOAD_INTERVAL_SECONDS` (60; 0 = only on SIGHUP).
    pub reload_interval: Duration,
}

/// Where auth-service's tenant and revocation records are read, and how long answers are kept.
#[derive(Debug, Clone)]
pub struct AuthSourceConfig {
    /// `AUTH_DATABASE_URL` (default `DATABASE_URL`: the platform's shared database).
    pub url: SecretString,
    /// `TENANT_STATUS_TTL_SECONDS` (10): a tenant's status is re-read after this even without
    /// an invalidation message.
    pub tenant_ttl: Duration,
    /// `TENANT_STATUS_STALE_SECONDS` (600): how long a last known status is used while the
    /// auth source is unreachable.
    pub tenant_stale_max: Duration,
    /// `TOKEN_REVOCATION_RECHECK_SECONDS` (10): the longest a revoked token keeps working.
    pub revocation_recheck: Duration,
}

/// The operator's controls: a separate listener, and a credential no tenant token carries.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// `OPERATOR_TOKEN` (at least 32 characters): the bearer credential of the operator
    /// listener. Unset, the listener is not started and no operator control exists.
    pub token: Option<SecretString>,
    /// `ADMIN_HOST` (127.0.0.1) and `ADMIN_PORT` (9003): where the operator listener binds.
    /// Loopback by default: reached with `kubectl port-forward`, never through the Service.
    pub host: IpAddr,
    pub port: u16,
}

impl OperatorConfig {
    fn from_env(env: &mut Env) -> Self {
        let token = env.raw("OPERATOR_TOKEN").map(str::to_owned);
        if token.as_ref().is_some_and(|t| t.len() < 32) {
            env.problem("OPERATOR_TOKEN", "must be at least 32 characters");
        }
        OperatorConfig {
            token: token.map(SecretString::from),
            host: env.parse("ADMIN_HOST", IpAddr::from([127, 0, 0, 1]), "an IP address"),
            port: env.parse("ADMIN_PORT", 9003u16, "a port number"),
        }
    }
}

/// The relay that publishes the event outbox to RabbitMQ.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `RABBITMQ_URL` (amqp://guest:guest@127.0.0.1:5672/%2f), as the original named it.
    pub url: SecretString,
    /// `EVENT_RELAY_ENABLED` (true): run the relay on this replica. Messages are written to the
    /// outbox either way and wait for a replica that relays.
    pub enabled: bool,
    /// `EVENT_OUTBOX_BATCH` (100): messages claimed per round, at most one per event.
    pub batch: u32,
    /// `EVENT_OUTBOX_POLL_MS` (200): the pause when nothing is due.
    pub poll_interval: Duration,
    /// `EVENT_OUTBOX_LEASE_SECONDS` (30): a claimed message is this relay's until then.
    pub lease: Duration,
    /// `EVENT_OUTBOX_RETENTION_HOURS` (72): published messages are deleted after this.
    pub retention: Duration,
    /// `EVENT_RELAY_TENANTS` (comma-separated tenant ids; unset = all): relay only these.
    pub tenants: Option<Vec<uuid::Uuid>>,
}

impl RelayConfig {
    fn from_env(env: &mut Env) -> Self {
        let url = env.string("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
        check_secret_url(env, "RABBITMQ_URL", &url, &["amqp", "amqps"]);
        let tenants = env.raw("EVENT_RELAY_TENANTS").map(str::to_owned).map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .filter_map(|t| match t.parse() {
                    Ok(id) => Some(id),
                    Err(_) => {
                        env.problem("EVENT_RELAY_TENANTS", format!("{t:?} is not a UUID"));
                        None
                    }
                })
                .collect()
        });
        RelayConfig {
            url: SecretString::from(url),
            enabled: env.parse("EVENT_RELAY_ENABLED", true, "true or false"),
            batch: env.ranged("EVENT_OUTBOX_BATCH", 100, 1, 1000) as u32,
            poll_interval: env.millis("EVENT_OUTBOX_POLL_MS", 200, 10, 60_000),
            lease: Duration::from_secs(env.ranged("EVENT_OUTBOX_LEASE_SECONDS", 30, 1, 300)),
            retention: Duration::from_secs(env.ranged("EVENT_OUTBOX_RETENTION_HOURS", 72, 1, 24 * 365) * 3600),
            tenants,
        }
    }
}

/// Venue lookups (`src/clients/venue.rs`).
#[derive(Debug, Clone, Copy)]
pub struct VenueLookupConfig {
    /// `VENUE_CACHE_TTL_SECONDS` (300): a live answer is reused this long without a call.
    pub fresh_ttl: Duration,
    /// `VENUE_FALLBACK_TTL_SECONDS` (3600): a copy is served this long while venue-service is
    /// unavailable or our call budget is spent.
    pub fallback_ttl: Duration,
    /// `VENUE_SERVICE_CALLS_PER_MINUTE` (30): our share of venue-service's global budget of 100
    /// requests/min, counted across replicas in Redis.
    pub calls_per_minute: u32,
}

/// Settings of the `migrate` command.
#[derive(Debug, Clone)]
pub struct MigrateConfig {
    /// `DATABASE_ADMIN_URL`: the owner role that applies migrations.
    pub admin_url: SecretString,
    /// `DATABASE_URL` (optional here): its user is granted `event_service_app`.
    pub app_url: Option<SecretString>,
    /// `LOG_LEVEL` and `LOG_FORMAT`, as for `serve`.
    pub log_level: String,
    pub log_format: LogFormat,
}

/// A variable the configuration reads, as `Env` recorded it while reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// The value used when it is unset; `None` when there is none (optional, required, or
    /// derived from other variables).
    pub default: Option<String>,
    /// Start-up fails without it.
    pub required: bool,
    /// Never printed: a password, a secret, or a URL that may carry one.
    pub secret: bool,
}

/// Reads variables from a map (tests) or the process environment, and records every name it
/// reads (with its default and whether it is a secret), so `catalogue` can list the
/// configuration from the very code that reads it.
pub struct Env {
    vars: HashMap<String, String>,
    problems: Vec<ConfigProblem>,
    /// Shared with `Recording`, which outlives this `Env` (`Config::from_env` consumes it).
    read: Arc<Mutex<BTreeMap<String, Variable>>>,
}

/// The variables an `Env` read, still available after the `Env` was consumed.
#[derive(Clone, Default)]
pub struct Recording(Arc<Mutex<BTreeMap<String, Variable>>>);

impl Recording {
    pub fn variables(&self) -> BTreeMap<String, Variable> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Env {
    pub fn from_process() -> Self {
        Self::from_map(std::env::vars().collect())
    }

    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self { vars, problems: Vec::new(), read: Arc::default() }
    }

    /// A handle on what this `Env` reads, to look at after it is consumed.
    pub fn recording(&self) -> Recording {
        Recording(self.read.clone())
    }

    /// Records that `name` is read (once; the first default given wins).
    fn note(&self, name: &str, default: Option<String>, required: bool, secret: bool) {
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = read.entry(name.to_owned()).or_insert_with(|| Variable {
            name: name.to_owned(),
            default: None,
            required: false,
            secret: false,
        });
        if entry.default.is_none() {
            entry.default = default;
        }
        entry.required |= required;
        entry.secret |= secret || is_secret_name(name);
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.note(name, None, false, false);
        self.vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn problem(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(ConfigProblem { variable, message: message.into() });
    }

    fn string(&self, name: &'static str, default: &str) -> String {
        self.note(name, Some(default.to_owned()), false, false);
        self.raw(name).unwrap_or(default).to_owned()
    }

    fn required(&mut self, name: &'static str) -> Option<String> {
        self.note(name, None, true, false);
        let value = self.raw(name).map(str::to_owned);
        if value.is_none() {
            self.problem(name, "is required but not set");
        }
        value
    }

    fn parse<T: std::str::FromStr + fmt::Display>(&mut self, name: &'static str, default: T, what: &str) -> T {
        self.note(name, Some(default.to_string()), false, false);
        match self.raw(name) {
            None => default,
            Some(v) => match v.parse() {
                Ok(parsed) => parsed,
                Err(_) => {
                    self.problem(name, format!("must be {what}, got {v:?}"));
                    default
                }
            },
        }
    }

    fn ranged(&mut self, name: &'static str, default: u64, min: u64, max: u64) -> u64 {
        let v = self.parse(name, default, "a non-negative integer");
        if !(min..=max).contains(&v) {
            self.problem(name, format!("must be between {min} and {max}, got {v}"));
        }
        v
    }

    fn millis(&mut self, name: &'static str, default: u64, min: u64, max: u64) -> Duration {
        Duration::from_millis(self.ranged(name, default, min, max))
    }

    fn url(&mut self, name: &'static str, default: Option<&str>, schemes: &[&str]) -> Option<Url> {
        self.note(name, default.map(str::to_owned), default.is_none(), false);
        let raw = match (self.raw(name), default) {
            (Some(v), _) => v.to_owned(),
            (None, Some(d)) => d.to_owned(),
            (None, None) => {
                self.problem(name, "is required but not set");
                return None;
            }
        };
        match Url::parse(&raw) {
            Ok(u) if schemes.contains(&u.scheme()) && u.has_host() => Some(u),
            // Never echo the value: URLs may carry passwords.
            Ok(_) => {
                self.problem(name, format!("must be a URL with scheme {}", schemes.join(" or ")));
                None
            }
            Err(e) => {
                self.problem(name, format!("is not a valid URL ({e})"));
                None
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() { Ok(value) } else { Err(ConfigError(self.problems)) }
    }
}

/// Names that hold secrets whatever their value looks like: a `_`-separated word of them is
/// PASSWORD, SECRET, TOKEN or PRIVATE (so `INTERNAL_HMAC_SECRET`, not `TICKETTOKEN_PROGRAM_ID`).
fn is_secret_name(name: &str) -> bool {
    name.split('_').any(|word| matches!(word, "PASSWORD" | "SECRET" | "TOKEN" | "PRIVATE"))
}

/// Everything the service's configuration reads (`serve` and `migrate`), found by running the
/// parsing code itself, so the list cannot drift from it: first over `vars` (whose values can
/// change defaults, e.g. `LOG_FORMAT` with `APP_ENV`), then over environments that take the
/// branches `vars` may not (the `DB_*` parts instead of `DATABASE_URL`, `REDIS_*` instead of
/// `REDIS_URL`). Also returns the problems of `serve`'s configuration from `vars`.
pub fn catalogue(vars: &HashMap<String, String>) -> (BTreeMap<String, Variable>, Vec<ConfigProblem>) {
    let branch = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let branches = [
        vars.clone(),
        HashMap::new(),
        branch(&[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_USER", "u")]),
        branch(&[
            ("DATABASE_URL", "postgres://h/n"),
            ("REDIS_URL", "redis://h"),
            ("DATABASE_ADMIN_URL", "postgres://h/n"),
        ]),
    ];
    let mut variables: BTreeMap<String, Variable> = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, env) in branches.into_iter().enumerate() {
        let (serve, migrate) = (Env::from_map(env.clone()), Env::from_map(env));
        let recordings = [serve.recording(), migrate.recording()];
        let result = Config::from_env(serve);
        let _ = MigrateConfig::from_env(migrate);
        if i == 0 {
            problems = result.err().map(|e| e.0).unwrap_or_default();
        }
        for (name, read) in recordings.iter().flat_map(Recording::variables) {
            let known = variables.entry(name).or_insert_with(|| read.clone());
            known.default = known.default.take().or(read.default);
            known.required |= read.required;
            known.secret |= read.secret;
        }
    }
    (variables, problems)
}

/// `LOG_LEVEL` and `LOG_FORMAT` (json in production, pretty elsewhere) of `migrate`; the same
/// names, defaults and checks as `serve`'s in `Config::from_env`.
fn logging(env: &mut Env, production: bool) -> (String, LogFormat) {
    let log_level = env.string("LOG_LEVEL", "info");
    if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
        env.problem("LOG_LEVEL", format!("is not a valid level or filter: {log_level:?}"));
    }
    let default_format = if production { "json" } else { "pretty" };
    let log_format = match env.string("LOG_FORMAT", default_format).to_ascii_lowercase().as_str() {
        "json" => LogFormat::Json,
        "pretty" | "text" => LogFormat::Pretty,
        other => {
            env.problem("LOG_FORMAT", format!("must be json or pretty, got {other:?}"));
            LogFormat::Json
        }
    };
    (log_level, log_format)
}

impl Config {
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let app_env = match env
            .raw("APP_ENV")
            .or_else(|| env.raw("NODE_ENV"))
            .unwrap_or("development")
            .to_ascii_lowercase()
            .as_str()
        {
            "production" | "prod" => AppEnv::Production,
            "test" => AppEnv::Test,
            "development" | "dev" | "local" | "staging" => AppEnv::Development,
            other => {
                let msg = format!("must be development, test or production, got {other:?}");
                env.problem("APP_ENV", msg);
                AppEnv::Development
            }
        };
        let host = env.parse("HOST", IpAddr::from([0, 0, 0, 0]), "an IP address");
        let port = env.parse("PORT", 3003u16, "a port number");

        let database = DatabaseConfig::from_env(&mut env);
        let redis = RedisConfig::from_env(&mut env);

        let venue_service_url = env.url("VENUE_SERVICE_URL", Some("http://localhost:3002"), &["http", "https"]);
        let solana_rpc_url = env.url("SOLANA_RPC_URL", Some("https://api.devnet.solana.com"), &["http", "https"]);
        // In production, calls to other services must use HTTPS (the original let a flag quietly
        // downgrade this); loopback and an explicit, logged override are the exceptions.
        let allow_insecure_service_calls = env.parse("ALLOW_INSECURE_SERVICE_CALLS", false, "true or false");
        let production = app_env == AppEnv::Production;
        for (name, url) in [("VENUE_SERVICE_URL", &venue_service_url), ("SOLANA_RPC_URL", &solana_rpc_url)] {
            if let Some(url) = url
                && let Err(problem) =
                    crate::clients::outbound::check_url_security(url, production, allow_insecure_service_calls)
            {
                env.problem(name, problem);
            }
        }
        let registration = RegistrationConfig::from_env(&mut env);

        let jwt = JwtConfig::from_env(&mut env);
        let auth_source = AuthSourceConfig {
            url: match env.raw("AUTH_DATABASE_URL").map(str::to_owned) {
                Some(url) => {
                    check_secret_url(&mut env, "AUTH_DATABASE_URL", &url, &["postgres", "postgresql"]);
                    SecretString::from(url)
                }
                None => database.url.clone(),
            },
            tenant_ttl: Duration::from_secs(env.ranged("TENANT_STATUS_TTL_SECONDS", 10, 1, 3600)),
            tenant_stale_max: Duration::from_secs(env.ranged("TENANT_STATUS_STALE_SECONDS", 600, 0, 86_400)),
            revocation_recheck: Duration::from_secs(env.ranged("TOKEN_REVOCATION_RECHECK_SECONDS", 10, 0, 900)),
        };
        let venue_lookup = VenueLookupConfig {
            fresh_ttl: Duration::from_secs(env.ranged("VENUE_CACHE_TTL_SECONDS", 300, 0, 86_400)),
            fallback_ttl: Duration::from_secs(env.ranged("VENUE_FALLBACK_TTL_SECONDS", 3600, 1, 7 * 86_400)),
            calls_per_minute: env.ranged("VENUE_SERVICE_CALLS_PER_MINUTE", 30, 1, 100_000) as u32,
        };
        let ticket_service_url = env
            .raw("TICKET_SERVICE_URL")
            .is_some()
            .then(|| env.url("TICKET_SERVICE_URL", None, &["http", "https"]))
            .flatten();
        if let Some(url) = &ticket_service_url
            && let Err(problem) =
                crate::clients::outbound::check_url_security(url, production, allow_insecure_service_calls)
        {
            env.problem("TICKET_SERVICE_URL", problem);
        }
        let internal_hmac_secret = env.raw("INTERNAL_HMAC_SECRET").map(str::to_owned);
        if internal_hmac_secret.as_ref().is_some_and(|s| s.len() < 32) {
            env.problem("INTERNAL_HMAC_SECRET", "must be at least 32 characters");
        }

        let cleanup_minutes = env.ranged("RESERVATION_CLEANUP_INTERVAL_MINUTES", 1, 1, 1440);
        let event_rules = crate::domain::event::EventRules {
            min_advance: chrono::Duration::hours(env.ranged("EVENT_MIN_ADVANCE_HOURS", 2, 0, 8760) as i64),
            max_advance: chrono::Duration::days(env.ranged("EVENT_MAX_ADVANCE_DAYS", 365, 1, 3650) as i64),
        };
        let transitions_interval =
            Duration::from_secs(env.ranged("EVENT_TRANSITIONS_INTERVAL_SECONDS", 300, 1, 86_400));
        let log_level = env.string("LOG_LEVEL", "info");
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            env.problem("LOG_LEVEL", format!("is not a valid level or filter: {log_level:?}"));
        }
        let default_format = if app_env == AppEnv::Production { "json" } else { "pretty" };
        let log_format = match env.string("LOG_FORMAT", default_format).to_ascii_lowercase().as_str() {
            "json" => LogFormat::Json,
            "pretty" | "text" => LogFormat::Pretty,
            other => {
                env.problem("LOG_FORMAT", format!("must be json or pretty, got {other:?}"));
                LogFormat::Json
            }
        };
        let body_limit = env.ranged("BODY_LIMIT", 1024 * 1024, 1024, 64 * 1024 * 1024) as usize;
        let request_timeout = env.millis("REQUEST_TIMEOUT_MS", 30_000, 100, 600_000);
        let max_shutdown_timeout = env.millis("MAX_SHUTDOWN_TIMEOUT_MS", 30_000, 0, 600_000);
        let prestop_delay = env.millis("PRESTOP_DELAY_MS", 0, 0, 600_000);

        // Every caller named in reference/platform-contracts.md §1.2. `event-service` is there
        // because the platform's shared client signs with the name of the service it *calls*:
        // every call made through `EventServiceClient` (minting, marketplace, monitoring,
        // notification, order-service) arrives signed as `event-service`. The secret is shared
        // platform-wide, so the name is an allow-list entry, not an identity.
        let allowed_internal_services = env
            .string(
                "ALLOWED_INTERNAL_SERVICES",
                "event-service,api-gateway,auth-service,venue-service,ticket-service,order-service,\
                 payment-service,notification-service,search-service,analytics-service,minting-service,\
                 marketplace-service,monitoring-service,blockchain-service,scanning-service",
            )
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let rate_limit = RateLimitConfig::from_env(&mut env);
        let relay = RelayConfig::from_env(&mut env);
        let operator = OperatorConfig::from_env(&mut env);
        let resilience = ResilienceSettings::from_env(&mut env, &database);
        let config = Config {
            env: app_env,
            resilience,
            allowed_internal_services,
            rate_limit,
            host,
            port,
            database,
            redis,
            venue_service_url: venue_service_url.unwrap_or_else(placeholder_url),
            allow_insecure_service_calls,
            solana_rpc_url: solana_rpc_url.unwrap_or_else(placeholder_url),
            registration,
            jwt,
            auth_source,
            venue_lookup,
            ticket_service_url,
            relay,
            operator,
            internal_hmac_secret: internal_hmac_secret.map(SecretString::from),
            reservation_cleanup_interval: Duration::from_secs(cleanup_minutes * 60),
            transitions_interval,
            event_rules,
            log_level,
            log_format,
            body_limit,
            request_timeout,
            max_shutdown_timeout,
            prestop_delay,
        };
        env.finish(config)
    }
}

/// Per-tenant-and-user request budgets (the original's classes and defaults).
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `ENABLE_RATE_LIMITING` (true).
    pub enabled: bool,
    /// `RATE_LIMIT_WINDOW_MS` (60000).
    pub window: Duration,
    /// `RATE_LIMIT_READ_MAX` (100), `_WRITE_MAX` (30), `_SEARCH_MAX` (20), `_BULK_MAX` (10).
    pub read_max: u32,
    pub write_max: u32,
    pub search_max: u32,
    pub bulk_max: u32,
    /// `RATE_LIMIT_ALLOWLIST` (comma list of IPs): exempt clients. Loopback is *not* exempt by
    /// default (the original's was): behind a sidecar proxy every client is loopback.
    pub allowlist: Vec<IpAddr>,
    /// `TENANT_MAX_IN_FLIGHT` (24) and `USER_MAX_IN_FLIGHT` (4): requests of one tenant / one
    /// user in progress at once on a replica (`src/http/concurrency.rs`); always on. More wait
    /// in a short queue rather than fail, so a low per-user limit costs a browser's six
    /// parallel requests a little latency, not errors.
    pub tenant_max_in_flight: u32,
    pub user_max_in_flight: u32,
    /// `IN_FLIGHT_WAIT_MS` (1000): how long a request beyond those limits may wait for a slot
    /// before its 429.
    pub in_flight_wait: std::time::Duration,
    /// `AUTH_FAILURES_PER_MINUTE` (20): failed token verifications from one client address per
    /// minute before its requests are refused without verifying (RSA floods).
    pub auth_failures_per_minute: u32,
}

impl RateLimitConfig {
    fn from_env(env: &mut Env) -> Self {
        let allowlist = env
            .string("RATE_LIMIT_ALLOWLIST", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|s| match s.parse() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    env.problem("RATE_LIMIT_ALLOWLIST", format!("{s:?} is not an IP address"));
                    None
                }
            })
            .collect();
        RateLimitConfig {
            enabled: env.parse("ENABLE_RATE_LIMITING", true, "true or false"),
            window: env.millis("RATE_LIMIT_WINDOW_MS", 60_000, 1_000, 3_600_000),
            read_max: env.ranged("RATE_LIMIT_READ_MAX", 100, 1, 1_000_000) as u32,
            write_max: env.ranged("RATE_LIMIT_WRITE_MAX", 30, 1, 1_000_000) as u32,
            search_max: env.ranged("RATE_LIMIT_SEARCH_MAX", 20, 1, 1_000_000) as u32,
            bulk_max: env.ranged("RATE_LIMIT_BULK_MAX", 10, 1, 1_000_000) as u32,
            allowlist,
            tenant_max_in_flight: env.ranged("TENANT_MAX_IN_FLIGHT", 24, 1, 100_000) as u32,
            user_max_in_flight: env.ranged("USER_MAX_IN_FLIGHT", 4, 1, 100_000) as u32,
            in_flight_wait: env.millis("IN_FLIGHT_WAIT_MS", 1_000, 0, 30_000),
            auth_failures_per_minute: env.ranged("AUTH_FAILURES_PER_MINUTE", 20, 1, 1_000_000) as u32,
        }
    }
}

impl JwtConfig {
    fn from_env(env: &mut Env) -> Self {
        use crate::auth::keys::{KeyOrigin, KeySources};
        let origin = |env: &mut Env, inline: &'static str, path: &'static str| -> Option<KeyOrigin> {
            match (env.raw(inline).map(str::to_owned), env.raw(path).map(PathBuf::from)) {
                (Some(value), _) => match KeyOrigin::inline(&value) {
                    Ok(origin) => Some(origin),
                    Err(problem) => {
                        env.problem(inline, problem);
                        None
                    }
                },
                (None, Some(file)) => Some(KeyOrigin::File(file)),
                (None, None) => None,
            }
        };
        let current = origin(env, "JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_PATH");
        let previous = origin(env, "JWT_PUBLIC_KEY_PREVIOUS", "JWT_PUBLIC_KEY_PREVIOUS_PATH");
        if current.is_none() {
            // One of the two is required; the catalogue lists the file form as the required one.
            env.note("JWT_PUBLIC_KEY_PATH", None, true, false);
            env.problem("JWT_PUBLIC_KEY_PATH", "is required (or JWT_PUBLIC_KEY with the PEM itself)");
        }
        let issuer = env.string("JWT_ISSUER", "tickettoken");
        let audience = env.string("JWT_AUDIENCE", &issuer);
        JwtConfig {
            keys: KeySources { current: current.unwrap_or(KeyOrigin::File(PathBuf::new())), previous },
            issuer,
            audience,
            reload_interval: Duration::from_secs(env.ranged("JWT_KEY_RELOAD_INTERVAL_SECONDS", 60, 0, 86_400)),
        }
    }
}

/// The platform wallet: the fee payer and venue authority that signs `create_event`. `Debug`
/// prints the public key only.
#[derive(Clone)]
pub struct PlatformWallet(pub Arc<solana_keypair::Keypair>);

impl PlatformWallet {
    pub fn pubkey(&self) -> chain::Pubkey {
        use solana_signer::Signer;
        self.0.pubkey()
    }
}

impl fmt::Debug for PlatformWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlatformWallet({})", self.pubkey())
    }
}

/// On-chain registration through the outbox (`src/jobs/registration/`).
#[derive(Debug, Clone)]
pub struct RegistrationConfig {
    /// `SOLANA_REGISTRATION_ENABLED` (true). When false this replica runs no registration
    /// worker; events still get their outbox row and wait, `pending`, for a replica that does.
    pub enabled: bool,
    /// Loaded from `PLATFORM_WALLET_PATH` (a Solana keypair JSON file) when enabled; a missing
    /// or malformed file refuses start-up.
    pub wallet: Option<PlatformWallet>,
    /// `TICKETTOKEN_PROGRAM_ID`.
    pub program_id: chain::Pubkey,
    /// `SOLANA_REGISTRATION_POLL_INTERVAL_MS` (2000): how often the worker looks for due rows.
    pub poll_interval: Duration,
    /// `SOLANA_REGISTRATION_BATCH` (64): rows claimed at most per claim.
    pub batch: u32,
    /// `SOLANA_REGISTRATION_IN_FLIGHT` (64): transactions on the chain at once (sent, not yet
    /// confirmed) from this replica; as many more claimed rows may be preparing theirs (signed,
    /// stored) meanwhile. A row holds a database connection only for its short reads and
    /// writes, never while waiting for the chain.
    pub in_flight: u32,
    /// `SOLANA_BLOCKHASH_MAX_AGE_MS` (20000): how long one fetched blockhash signs new
    /// transactions (Solana keeps one valid for about 60 s).
    pub blockhash_max_age: Duration,
    /// `SOLANA_REGISTRATION_MAX_ATTEMPTS` (10): transient failures before a row is `failed`.
    pub max_attempts: u32,
    /// `SOLANA_REGISTRATION_RETRY_BASE_MS` (2000) and `_RETRY_MAX_MS` (600000): exponential
    /// backoff between attempts.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// `SOLANA_REGISTRATION_LEASE_SECONDS` (300): a claimed row is this worker's until then;
    /// a crashed worker's rows are picked up again after it.
    pub lease: Duration,
    /// `SOLANA_CONFIRM_TIMEOUT_MS` (60000): how long one attempt waits for a sent transaction
    /// to confirm before handing the row back (it is checked again, never blindly resent).
    pub confirm_timeout: Duration,
    /// `SOLANA_CONFIRM_POLL_MS` (500).
    pub confirm_poll: Duration,
    /// `SOLANA_REGISTRATION_TENANTS` (comma-separated tenant ids; unset = all tenants): this
    /// replica registers only these tenants' events, e.g. for a pilot group.
    pub tenants: Option<Vec<uuid::Uuid>>,
    /// `SOLANA_LAMPORTS_PER_PRICE_UNIT` (1000000): the on-chain reference ticket price is the
    /// lowest active price tier times this, clamped to the program's 100,000..10^12 range.
    pub lamports_per_price_unit: u64,
}

impl RegistrationConfig {
    fn from_env(env: &mut Env) -> Self {
        let enabled = env.parse("SOLANA_REGISTRATION_ENABLED", true, "true or false");
        let program = env.string("TICKETTOKEN_PROGRAM_ID", chain::PROGRAM_ID);
        let program_id = match program.parse::<chain::Pubkey>() {
            Ok(p) if is_base58_pubkey(&program) => p,
            _ => {
                env.problem("TICKETTOKEN_PROGRAM_ID", "must be a base58 public key (32-44 characters)");
                chain::program_id()
            }
        };
        let wallet = match (enabled, env.raw("PLATFORM_WALLET_PATH").map(PathBuf::from)) {
            (false, _) => None,
            (true, None) => {
                env.problem(
                    "PLATFORM_WALLET_PATH",
                    "is required while SOLANA_REGISTRATION_ENABLED=true (set it to a Solana keypair \
                     JSON file, or disable registration)",
                );
                None
            }
            (true, Some(path)) => match load_wallet(&path) {
                Ok(w) => Some(w),
                Err(message) => {
                    env.problem("PLATFORM_WALLET_PATH", message);
                    None
                }
            },
        };
        let retry_base = env.millis("SOLANA_REGISTRATION_RETRY_BASE_MS", 2_000, 10, 3_600_000);
        let retry_max = env.millis("SOLANA_REGISTRATION_RETRY_MAX_MS", 600_000, 10, 86_400_000);
        if retry_max < retry_base {
            env.problem("SOLANA_REGISTRATION_RETRY_MAX_MS", "must not be shorter than the retry base");
        }
        let confirm_timeout = env.millis("SOLANA_CONFIRM_TIMEOUT_MS", 60_000, 100, 600_000);
        let lease = Duration::from_secs(env.ranged("SOLANA_REGISTRATION_LEASE_SECONDS", 300, 5, 86_400));
        if lease < confirm_timeout * 2 {
            env.problem(
                "SOLANA_REGISTRATION_LEASE_SECONDS",
                "must be at least twice SOLANA_CONFIRM_TIMEOUT_MS, so a row is never worked on by two workers",
            );
        }
        let tenants = env
            .raw("SOLANA_REGISTRATION_TENANTS")
            .map(str::to_owned)
            .map(|list| list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(uuid::Uuid::parse_str).collect());
        let tenants = match tenants {
            Some(Ok(ids)) => Some(ids),
            Some(Err(_)) => {
                env.problem("SOLANA_REGISTRATION_TENANTS", "must be a comma-separated list of tenant UUIDs");
                None
            }
            None => None,
        };
        Self {
            enabled,
            wallet,
            program_id,
            tenants,
            poll_interval: env.millis("SOLANA_REGISTRATION_POLL_INTERVAL_MS", 2_000, 10, 3_600_000),
            batch: env.ranged("SOLANA_REGISTRATION_BATCH", 64, 1, 1_000) as u32,
            in_flight: env.ranged("SOLANA_REGISTRATION_IN_FLIGHT", 64, 1, 4_096) as u32,
            blockhash_max_age: env.millis("SOLANA_BLOCKHASH_MAX_AGE_MS", 20_000, 100, 60_000),
            max_attempts: env.ranged("SOLANA_REGISTRATION_MAX_ATTEMPTS", 10, 1, 1_000) as u32,
            retry_base,
            retry_max,
            lease,
            confirm_timeout,
            confirm_poll: env.millis("SOLANA_CONFIRM_POLL_MS", 500, 10, 60_000),
            lamports_per_price_unit: env.ranged("SOLANA_LAMPORTS_PER_PRICE_UNIT", 1_000_000, 1, 1_000_000_000_000),
        }
    }
}

/// Reads a keypair file (the `solana-keygen` JSON array of 64 bytes), with a message that says
/// what is wrong without echoing any of its content.
fn load_wallet(path: &std::path::Path) -> Result<PlatformWallet, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bytes: Vec<u8> = serde_json::from_str(&text).map_err(|_| {
        format!("{} is not a Solana keypair file (expected a JSON array of 64 numbers 0-255)", path.display())
    })?;
    let keypair = solana_keypair::Keypair::try_from(bytes.as_slice()).map_err(|_| {
        format!("{} does not hold a valid ed25519 keypair (64 bytes: secret then public)", path.display())
    })?;
    Ok(PlatformWallet(Arc::new(keypair)))
}

/// Per-dependency stacks. Defaults come from the seed analysis of the original and
/// `reference/resilience.md` §8; every field can be overridden with
/// `RESILIENCE_<DEP>_<FIELD>` (DEP = POSTGRES, REDIS, VENUE, SOLANA_READ, SOLANA_SEND, AUTH_DB,
/// TICKET, RABBITMQ).
#[derive(Debug, Clone)]
pub struct ResilienceSettings {
    pub postgres: DependencyConfig,
    pub redis: DependencyConfig,
    pub venue: DependencyConfig,
    pub solana_read: DependencyConfig,
    pub solana_send: DependencyConfig,
    /// auth-service's tables (tenant status, revoked tokens): short, fail fast.
    pub auth_db: DependencyConfig,
    /// ticket-service's `/internal/tickets/by-event` (scan-stats): 5 s overall, as the original.
    pub ticket: DependencyConfig,
    /// RabbitMQ publications: the wait for a confirm, and a breaker. Never retried here (the
    /// relay re-queues with backoff, in order).
    pub rabbitmq: DependencyConfig,
}

impl ResilienceSettings {
    fn from_env(env: &mut Env, db: &DatabaseConfig) -> Self {
        let ms = Duration::from_millis;
        // The attempt timeout sits above statement_timeout so Postgres aborts the statement
        // first (SQLSTATE 57014) and the pool slot frees promptly (resilience.md §6), and above
        // the acquire timeout so a saturated pool reports PoolTimedOut rather than a hang.
        let pg_attempt = db.statement_timeout.max(db.acquire_timeout) + ms(1_000);
        let postgres = defaults(
            "postgres",
            pg_attempt,
            pg_attempt * 2 + ms(500),
            1,
            (ms(50), ms(500)),
            BreakerDefaults { window: 20, min_calls: 10, rate: 0.5, open: ms(5_000), probes: 2, slow: None },
        );
        let redis = defaults(
            "redis",
            ms(300),
            ms(500),
            1,
            (ms(20), ms(50)),
            BreakerDefaults { window: 20, min_calls: 5, rate: 0.5, open: ms(30_000), probes: 1, slow: Some(ms(250)) },
        );
        // venue: opossum 5 s / 50 % / reset 30 s / volume 5; 3 retries 500 ms -> 5 s.
        let venue = defaults(
            "venue",
            ms(5_000),
            ms(20_000),
            3,
            (ms(500), ms(5_000)),
            BreakerDefaults { window: 10, min_calls: 5, rate: 0.5, open: ms(30_000), probes: 1, slow: None },
        );
        let mut solana_read = defaults(
            "solana_read",
            ms(10_000),
            ms(30_000),
            2,
            (ms(1_000), ms(5_000)),
            // 10 s open, growing to 20 s while probes keep failing: one probe per 10-20 s costs
            // a sick RPC nothing, and a backlog starts draining within seconds of its recovery
            // (a 60 s start kept row 8 of the benchmark waiting a minute after every hang; after
            // one, what remains is the backoff of the rows tried during it).
            BreakerDefaults { window: 10, min_calls: 3, rate: 0.5, open: ms(10_000), probes: 1, slow: None },
        );
        // Sends are never retried by the generic layer (the outbox decides, after checking
        // whether the event account already exists).
        let mut solana_send = defaults(
            "solana_send",
            ms(10_000),
            ms(10_000),
            0,
            (ms(1_000), ms(5_000)),
            BreakerDefaults { window: 10, min_calls: 3, rate: 0.5, open: ms(10_000), probes: 1, slow: None },
        );
        solana_read.breaker.max_open_duration = ms(20_000);
        solana_send.breaker.max_open_duration = ms(20_000);
        let auth_db = defaults(
            "auth_db",
            ms(1_000),
            ms(2_000),
            1,
            (ms(50), ms(200)),
            BreakerDefaults { window: 20, min_calls: 5, rate: 0.5, open: ms(10_000), probes: 1, slow: None },
        );
        let ticket = defaults(
            "ticket",
            ms(2_000),
            ms(5_000),
            2,
            (ms(100), ms(1_000)),
            BreakerDefaults { window: 10, min_calls: 5, rate: 0.5, open: ms(30_000), probes: 1, slow: None },
        );
        let rabbitmq = defaults(
            "rabbitmq",
            ms(5_000),
            ms(5_000),
            0,
            (ms(100), ms(1_000)),
            BreakerDefaults { window: 20, min_calls: 5, rate: 0.5, open: ms(10_000), probes: 1, slow: None },
        );
        Self {
            rabbitmq: override_from_env(env, "RESILIENCE_RABBITMQ_", rabbitmq),
            auth_db: override_from_env(env, "RESILIENCE_AUTH_DB_", auth_db),
            ticket: override_from_env(env, "RESILIENCE_TICKET_", ticket),
            postgres: override_from_env(env, "RESILIENCE_POSTGRES_", postgres),
            redis: override_from_env(env, "RESILIENCE_REDIS_", redis),
            venue: override_from_env(env, "RESILIENCE_VENUE_", venue),
            solana_read: override_from_env(env, "RESILIENCE_SOLANA_READ_", solana_read),
            solana_send: override_from_env(env, "RESILIENCE_SOLANA_SEND_", solana_send),
        }
    }
}

#[derive(Clone, Copy)]
struct BreakerDefaults {
    window: usize,
    min_calls: usize,
    rate: f64,
    open: Duration,
    probes: usize,
    slow: Option<Duration>,
}

fn defaults(
    name: &'static str,
    attempt_timeout: Duration,
    deadline: Duration,
    max_retries: u32,
    (base_delay, max_delay): (Duration, Duration),
    b: BreakerDefaults,
) -> DependencyConfig {
    DependencyConfig {
        name,
        attempt_timeout,
        deadline,
        retry: RetryConfig { max_retries, base_delay, max_delay, ..RetryConfig::default() },
        breaker: BreakerConfig {
            enabled: true,
            window_size: b.window,
            minimum_calls: b.min_calls,
            failure_rate_threshold: b.rate,
            slow_call_duration: b.slow,
            open_duration: b.open,
            max_open_duration: b.open * 4,
            half_open_permits: b.probes,
            ..BreakerConfig::default()
        },
        bulkhead: None,
    }
}

/// The environment names are built at run time, so they are leaked once to get the
/// `&'static str` that `ConfigProblem` carries; this happens only at start-up.
fn override_from_env(env: &mut Env, prefix: &str, mut c: DependencyConfig) -> DependencyConfig {
    let name = |field: &str| -> &'static str { Box::leak(format!("{prefix}{field}").into_boxed_str()) };
    let millis = |env: &mut Env, field: &str, d: Duration| env.millis(name(field), d.as_millis() as u64, 1, 600_000);
    c.attempt_timeout = millis(env, "ATTEMPT_TIMEOUT_MS", c.attempt_timeout);
    c.deadline = millis(env, "DEADLINE_MS", c.deadline);
    c.retry.max_retries = env.ranged(name("RETRIES"), u64::from(c.retry.max_retries), 0, 10) as u32;
    c.retry.base_delay = millis(env, "RETRY_BASE_MS", c.retry.base_delay);
    c.retry.max_delay = millis(env, "RETRY_MAX_MS", c.retry.max_delay);
    c.breaker.enabled = env.parse(name("BREAKER_ENABLED"), c.breaker.enabled, "true or false");
    c.breaker.window_size = env.ranged(name("BREAKER_WINDOW"), c.breaker.window_size as u64, 1, 10_000) as usize;
    c.breaker.minimum_calls = env.ranged(name("BREAKER_MIN_CALLS"), c.breaker.minimum_calls as u64, 1, 10_000) as usize;
    let rate_pct =
        env.ranged(name("BREAKER_FAILURE_RATE_PCT"), (c.breaker.failure_rate_threshold * 100.0) as u64, 1, 100);
    c.breaker.failure_rate_threshold = rate_pct as f64 / 100.0;
    c.breaker.open_duration = millis(env, "BREAKER_OPEN_MS", c.breaker.open_duration);
    c.breaker.max_open_duration = c.breaker.max_open_duration.max(c.breaker.open_duration);
    c.breaker.half_open_permits =
        env.ranged(name("BREAKER_HALF_OPEN_CALLS"), c.breaker.half_open_permits as u64, 1, 100) as usize;
    if let Some(slow) = env.raw(&format!("{prefix}BREAKER_SLOW_CALL_MS")).map(str::to_owned) {
        c.breaker.slow_call_duration = slow.parse::<u64>().ok().filter(|v| *v > 0).map(Duration::from_millis);
    }
    let bulkhead = env.ranged(name("BULKHEAD"), c.bulkhead.unwrap_or(0) as u64, 0, 100_000);
    c.bulkhead = (bulkhead > 0).then_some(bulkhead as usize);
    if c.deadline < c.attempt_timeout {
        env.problem(name("DEADLINE_MS"), "must not be shorter than the attempt timeout");
    }
    c
}

impl DatabaseConfig {
    fn from_env(env: &mut Env) -> Self {
        let url = match env.raw("DATABASE_URL").map(str::to_owned) {
            Some(url) => {
                check_secret_url(env, "DATABASE_URL", &url, &["postgres", "postgresql"]);
                url
            }
            None => compose_db_url(env).unwrap_or_default(),
        };
        let pool_min = env.ranged("DB_POOL_MIN", 2, 0, 1000) as u32;
        let pool_max = env.ranged("DB_POOL_MAX", 10, 1, 1000) as u32;
        if pool_max >= 1 && pool_min > pool_max {
            env.problem("DB_POOL_MIN", format!("({pool_min}) must not exceed DB_POOL_MAX ({pool_max})"));
        }
        DatabaseConfig {
            url: SecretString::from(url),
            pool_min,
            pool_max,
            acquire_timeout: env.millis("DB_ACQUIRE_TIMEOUT_MS", 2_000, 100, 60_000),
            idle_timeout: env.millis("DB_IDLE_TIMEOUT_MS", 30_000, 1_000, 3_600_000),
            statement_timeout: env.millis("DB_STATEMENT_TIMEOUT", 5_000, 100, 600_000),
            connect_retries: env.ranged("DB_CONNECT_RETRIES", 5, 1, 100) as u32,
            tenant_concurrency: env.ranged("DB_TENANT_CONCURRENCY", u64::from((pool_max / 4).max(2)), 1, 1000) as u32,
            pooler: env.parse("DATABASE_POOLER", Pooler::None, "none or pgbouncer"),
        }
    }
}

fn compose_db_url(env: &mut Env) -> Option<String> {
    let Some(host) = env.raw("DB_HOST").map(str::to_owned) else {
        env.problem("DATABASE_URL", "is required (or DB_HOST, DB_NAME, DB_USER and DB_PASSWORD)");
        return None;
    };
    let port = env.parse("DB_PORT", 5432u16, "a port number");
    let name = env.required("DB_NAME")?;
    let user = env.required("DB_USER")?;
    let password = env.raw("DB_PASSWORD").unwrap_or("").to_owned();
    let mut url = Url::parse("postgres://localhost").ok()?;
    url.set_host(Some(&host)).ok()?;
    url.set_port(Some(port)).ok()?;
    url.set_username(&user).ok()?;
    if !password.is_empty() {
        url.set_password(Some(&password)).ok()?;
    }
    url.set_path(&name);
    Some(url.to_string())
}

impl RedisConfig {
    fn from_env(env: &mut Env) -> Self {
        let cluster_nodes = env.raw("REDIS_CLUSTER_NODES").map(str::to_owned);
        env.note("REDIS_CLUSTER_NODES", None, false, true);
        let cluster_retries = env.ranged("REDIS_CLUSTER_RETRIES", 2, 0, 10) as u32;
        let connect_timeout = env.millis("REDIS_CONNECT_TIMEOUT_MS", 1_000, 50, 30_000);
        let response_timeout = env.millis("REDIS_RESPONSE_TIMEOUT_MS", 250, 10, 10_000);
        let local_max_bytes = env.ranged("REDIS_LOCAL_CACHE_MAX_MB", 8, 0, 1024) as usize * 1024 * 1024;
        let local_ttl = env.millis("REDIS_LOCAL_CACHE_TTL_MS", 5_000, 1, 300_000);
        if let Some(nodes) = cluster_nodes {
            if env.raw("REDIS_URL").is_some() {
                env.problem("REDIS_CLUSTER_NODES", "and REDIS_URL are exclusive: set one of them");
            }
            // Read so they are known names, and refused: a cluster is named by its nodes only.
            for name in ["REDIS_HOST", "REDIS_PORT"] {
                if env.raw(name).is_some() {
                    env.problem(name, "has no effect with REDIS_CLUSTER_NODES: list the nodes there");
                }
            }
            if env.ranged("REDIS_DB", 0, 0, 15) != 0 {
                env.problem("REDIS_DB", "must be 0 with REDIS_CLUSTER_NODES (a cluster has only database 0)");
            }
            let password = env.raw("REDIS_PASSWORD").map(str::to_owned);
            let cluster_nodes = cluster_node_urls(env, &nodes, password.as_deref());
            return RedisConfig {
                url: SecretString::from(String::new()),
                cluster_nodes,
                connect_timeout,
                response_timeout,
                cluster_retries,
                local_max_bytes,
                local_ttl,
            };
        }
        let url = match env.raw("REDIS_URL").map(str::to_owned) {
            Some(url) => {
                check_secret_url(env, "REDIS_URL", &url, &["redis", "rediss"]);
                url
            }
            None => {
                let host = env.string("REDIS_HOST", "127.0.0.1");
                let port = env.parse("REDIS_PORT", 6379u16, "a port number");
                let db = env.ranged("REDIS_DB", 0, 0, 15);
                let auth = env.raw("REDIS_PASSWORD").map(|p| format!(":{p}@")).unwrap_or_default();
                format!("redis://{auth}{host}:{port}/{db}")
            }
        };
        RedisConfig {
            url: SecretString::from(url),
            cluster_nodes: Vec::new(),
            connect_timeout,
            response_timeout,
            cluster_retries,
            local_max_bytes,
            local_ttl,
        }
    }
}

/// `REDIS_CLUSTER_NODES` as URLs: `host:port` entries become `redis://[:password@]host:port`;
/// URLs are taken as they are but must name database 0 (or none). Problems never echo an
/// entry, which may carry a password.
fn cluster_node_urls(env: &mut Env, nodes: &str, password: Option<&str>) -> Vec<SecretString> {
    const NAME: &str = "REDIS_CLUSTER_NODES";
    let mut urls = Vec::new();
    for (i, entry) in nodes.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
        let n = i + 1;
        let url = if entry.contains("://") {
            match Url::parse(entry) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.has_host() => {
                    if !matches!(u.path(), "" | "/" | "/0") {
                        env.problem(NAME, format!("entry {n} names a database other than 0"));
                    }
                    u
                }
                _ => {
                    env.problem(NAME, format!("entry {n} is not a redis:// or rediss:// URL with a host"));
                    continue;
                }
            }
        } else {
            let parsed = entry.rsplit_once(':').and_then(|(host, port)| {
                let mut u = Url::parse("redis://localhost").ok()?;
                u.set_host(Some(host.trim_matches(['[', ']']))).ok()?;
                u.set_port(Some(port.parse::<u16>().ok()?)).ok()?;
                if let Some(p) = password {
                    u.set_password(Some(p)).ok()?;
                }
                Some(u)
            });
            match parsed {
                Some(u) => u,
                None => {
                    env.problem(NAME, format!("entry {n} is not host:port or a redis:// URL"));
                    continue;
                }
            }
        };
        urls.push(SecretString::from(url.to_string()));
    }
    if urls.is_empty() && !env.problems.iter().any(|p| p.variable == NAME) {
        env.problem(NAME, "lists no node");
    }
    urls
}

impl MigrateConfig {
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let admin_url = env.required("DATABASE_ADMIN_URL").unwrap_or_default();
        check_secret_url(&mut env, "DATABASE_ADMIN_URL", &admin_url, &["postgres", "postgresql"]);
        let app_url = env.raw("DATABASE_URL").map(str::to_owned);
        if let Some(url) = &app_url {
            check_secret_url(&mut env, "DATABASE_URL", url, &["postgres", "postgresql"]);
        }
        let production = env
            .raw("APP_ENV")
            .or_else(|| env.raw("NODE_ENV"))
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "production" | "prod"));
        let (log_level, log_format) = logging(&mut env, production);
        let config = MigrateConfig {
            admin_url: SecretString::from(admin_url),
            app_url: app_url.map(SecretString::from),
            log_level,
            log_format,
        };
        env.finish(config)
    }
}

/// Validates a URL that may hold a password without ever echoing it.
fn check_secret_url(env: &mut Env, name: &'static str, url: &str, schemes: &[&str]) {
    env.note(name, None, false, true);
    if url.is_empty() {
        return;
    }
    match Url::parse(url) {
        Ok(u) if schemes.contains(&u.scheme()) => {}
        Ok(_) => env.problem(name, format!("must use scheme {}", schemes.join(" or "))),
        Err(e) => env.problem(name, format!("is not a valid URL ({e})")),
    }
}

fn placeholder_url() -> Url {
    Url::parse("http://invalid.invalid").expect("static URL parses")
}

fn is_base58_pubkey(s: &str) -> bool {
    (32..=44).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l'))
}

/// The user name in a Postgres URL (for grants and error messages).
pub fn url_username(url: &SecretString) -> Option<String> {
    Url::parse(url.expose_secret()).ok().map(|u| u.username().to_owned()).filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    // Registration is on by default and then needs a wallet file; tests/api/chain.rs covers it.
    const MINIMAL: &[(&str, &str)] = &[
        ("DATABASE_URL", "postgres://app:s3cret@localhost:5432/events"),
        ("JWT_PUBLIC_KEY_PATH", "/tmp/key.pem"),
        ("SOLANA_REGISTRATION_ENABLED", "false"),
    ];

    #[test]
    fn minimal_environment_gives_the_original_defaults() {
        let c = Config::from_env(env(MINIMAL)).expect("valid");
        assert_eq!(c.port, 3003);
        assert_eq!(c.database.pool_max, 10);
        assert_eq!(c.database.pool_min, 2);
        assert_eq!(c.reservation_cleanup_interval, Duration::from_secs(60));
        assert_eq!(c.body_limit, 1024 * 1024);
        assert_eq!(c.jwt.issuer, "tickettoken");
    }

    #[test]
    fn every_bad_variable_is_named() {
        let mut pairs = MINIMAL.to_vec();
        pairs.extend([
            ("PORT", "eighty"),
            ("DB_POOL_MAX", "0"),
            ("LOG_FORMAT", "xml"),
            ("INTERNAL_HMAC_SECRET", "short"),
            ("DATABASE_POOLER", "pgpool"),
        ]);
        let err = Config::from_env(env(&pairs)).unwrap_err();
        let vars: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(vars, ["PORT", "DB_POOL_MAX", "DATABASE_POOLER", "INTERNAL_HMAC_SECRET", "LOG_FORMAT"]);
    }

    #[test]
    fn missing_database_url_is_reported() {
        let err = Config::from_env(env(&[("JWT_PUBLIC_KEY_PATH", "/k")])).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn production_refuses_plain_http_to_other_services_unless_overridden() {
        let mut pairs = MINIMAL.to_vec();
        pairs.extend([("APP_ENV", "production"), ("VENUE_SERVICE_URL", "http://venue-service:3002")]);
        let err = Config::from_env(env(&pairs)).unwrap_err();
        assert_eq!(err.0.iter().map(|p| p.variable).collect::<Vec<_>>(), ["VENUE_SERVICE_URL"]);
        pairs.push(("ALLOW_INSECURE_SERVICE_CALLS", "true"));
        assert!(Config::from_env(env(&pairs)).is_ok());
        let mut loopback = MINIMAL.to_vec();
        loopback.extend([("APP_ENV", "production"), ("VENUE_SERVICE_URL", "http://127.0.0.1:3002")]);
        assert!(Config::from_env(env(&loopback)).is_ok());
    }

    #[test]
    fn db_url_can_be_composed_from_parts() {
        let c = Config::from_env(env(&[
            ("DB_HOST", "db.internal"),
            ("DB_NAME", "events"),
            ("DB_USER", "app"),
            ("DB_PASSWORD", "p@ss"),
            ("JWT_PUBLIC_KEY_PATH", "/k"),
            ("SOLANA_REGISTRATION_ENABLED", "false"),
        ]))
        .expect("valid");
        assert_eq!(c.database.url.expose_secret(), "postgres://app:p%40ss@db.internal:5432/events");
    }

    #[test]
    fn redis_cluster_nodes_become_urls_and_exclude_redis_url() {
        let mut pairs = MINIMAL.to_vec();
        pairs.extend([
            ("REDIS_CLUSTER_NODES", "10.0.0.1:7000, redis://u:pw@10.0.0.2:7001/0,"),
            ("REDIS_PASSWORD", "p@ss"),
        ]);
        let c = Config::from_env(env(&pairs)).expect("valid");
        assert!(c.redis.is_cluster());
        let urls: Vec<_> = c.redis.cluster_nodes.iter().map(|u| u.expose_secret().to_owned()).collect();
        assert_eq!(urls, ["redis://:p%40ss@10.0.0.1:7000", "redis://u:pw@10.0.0.2:7001/0"]);
        assert_eq!(c.redis.pubsub_urls().len(), 2);
        assert_eq!(c.redis.cluster_retries, 2);

        for (bad, var) in [
            (vec![("REDIS_CLUSTER_NODES", "h:1"), ("REDIS_URL", "redis://h:6379/0")], "REDIS_CLUSTER_NODES"),
            (vec![("REDIS_CLUSTER_NODES", "redis://h:1/3")], "REDIS_CLUSTER_NODES"),
            (vec![("REDIS_CLUSTER_NODES", "h:1"), ("REDIS_DB", "2")], "REDIS_DB"),
            (vec![("REDIS_CLUSTER_NODES", "h:1"), ("REDIS_HOST", "h")], "REDIS_HOST"),
            (vec![("REDIS_CLUSTER_NODES", "no-port")], "REDIS_CLUSTER_NODES"),
            (vec![("REDIS_CLUSTER_NODES", " , ")], "REDIS_CLUSTER_NODES"),
            (vec![("REDIS_CLUSTER_NODES", "h:1"), ("REDIS_CLUSTER_RETRIES", "99")], "REDIS_CLUSTER_RETRIES"),
        ] {
            let mut pairs = MINIMAL.to_vec();
            pairs.extend(bad);
            let err = Config::from_env(env(&pairs)).unwrap_err();
            assert_eq!(err.0.iter().map(|p| p.variable).collect::<Vec<_>>(), [var], "{err}");
        }
        let single = Config::from_env(env(MINIMAL)).expect("valid");
        assert!(!single.redis.is_cluster());
        assert_eq!(single.redis.pubsub_urls()[0].expose_secret(), "redis://127.0.0.1:6379/0");
    }

    #[test]
    fn secrets_never_appear_in_debug_output_or_errors() {
        let c = Config::from_env(env(MINIMAL)).expect("valid");
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = Config::from_env(env(&[("DATABASE_URL", "mysql://u:s3cret@h/db"), ("JWT_PUBLIC_KEY_PATH", "/k")]))
            .unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
