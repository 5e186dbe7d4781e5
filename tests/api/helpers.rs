//! The one test harness: `spawn_app()` starts the real application on port 0 against the real
//! Postgres and Redis started by `scripts/test`.
//!
//! Isolation: one shared, migrated database, and a **fresh tenant per test**. Tests cannot see
//! each other's rows for the same reason tenants cannot, so every test is also a small,
//! continuous check of tenant isolation, and no database is created or dropped per test.
//! Tests that stop a server (fault tests) start a private Postgres or Redis of their own.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use event_service::config::{Config, Env};
use event_service::domain::TenantId;
use event_service::startup::Application;
use event_service::state::AppState;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform_fakes::ticket_service::TicketService;
use platform_fakes::venue_service::{VenueRecord, VenueService};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Where `scripts/test` started the shared servers.
pub struct TestEnv {
    pub database_url: String,
    pub admin_url: String,
    pub superuser_url: String,
    pub redis_url: String,
    pub rabbitmq_url: String,
    /// `TEST_REDIS_CLUSTER_NODES` (`host:port,...`, set by `scripts/scale-test`): the apps of
    /// the tests use this Redis Cluster instead of the Redis at `redis_url` (see
    /// [`config_from`]).
    pub redis_cluster_nodes: Option<String>,
    /// `TEST_PGBOUNCER_URL` (set by `scripts/scale-test`): the app role's URL through PgBouncer
    /// in transaction mode; the apps of the tests use it instead of `database_url` (see
    /// [`config_from`]). The tests' own checks keep reaching Postgres directly.
    pub pgbouncer_url: Option<String>,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through `scripts/test`, which starts Postgres and Redis")
    })
}

pub fn test_env() -> TestEnv {
    TestEnv {
        database_url: var("TEST_DATABASE_URL"),
        admin_url: var("TEST_DATABASE_ADMIN_URL"),
        superuser_url: var("TEST_PG_SUPERUSER_URL"),
        redis_url: var("TEST_REDIS_URL"),
        rabbitmq_url: var("TEST_RABBITMQ_URL"),
        redis_cluster_nodes: std::env::var("TEST_REDIS_CLUSTER_NODES").ok().filter(|n| !n.is_empty()),
        pgbouncer_url: std::env::var("TEST_PGBOUNCER_URL").ok().filter(|n| !n.is_empty()),
    }
}

/// Whether this run's apps talk to a Redis Cluster (`TEST_REDIS_CLUSTER_NODES`).
pub fn on_cluster() -> bool {
    test_env().redis_cluster_nodes.is_some()
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The environment a test app starts with; tests override entries before spawning.
pub fn base_vars(env: &TestEnv) -> HashMap<String, String> {
    let log = if std::env::var("TEST_LOG").is_ok() { "info" } else { "off" };
    [
        ("APP_ENV", "test"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("DATABASE_URL", env.database_url.as_str()),
        ("DB_POOL_MIN", "0"),
        ("DB_POOL_MAX", "5"),
        ("REDIS_URL", env.redis_url.as_str()),
        ("RABBITMQ_URL", env.rabbitmq_url.as_str()),
        ("JWT_PUBLIC_KEY_PATH", fixture("jwt-test-public.pem").to_str().expect("utf-8 path")),
        ("INTERNAL_HMAC_SECRET", HMAC_SECRET),
        // Tests fire many concurrent requests from one user to test races; the per-user and
        // per-tenant concurrency limits are tested on their own (tests/api/fairness.rs).
        ("USER_MAX_IN_FLIGHT", "256"),
        ("TENANT_MAX_IN_FLIGHT", "256"),
        // The operator's listener on a port of its own.
        ("OPERATOR_TOKEN", OPERATOR_TOKEN),
        ("ADMIN_PORT", "0"),
        // auth-service's tables sit in the same database, as in the platform.
        ("AUTH_DATABASE_URL", env.database_url.as_str()),
        ("VENUE_SERVICE_URL", "http://127.0.0.1:9"),
        ("LOG_LEVEL", log),
        ("LOG_FORMAT", "pretty"),
        ("MAX_SHUTDOWN_TIMEOUT_MS", "2000"),
        // Jobs are driven explicitly by the tests that test them.
        ("EVENT_TRANSITIONS_INTERVAL_SECONDS", "3600"),
        // Registration needs a chain simulator and a wallet: tests in `chain.rs` turn it on.
        ("SOLANA_REGISTRATION_ENABLED", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn config_from(mut vars: HashMap<String, String>) -> Config {
    // A cluster run swaps the shared Redis for the cluster here, after the test's own changes,
    // so the same tests run against both. A test that points REDIS_URL at a Redis of its own
    // (one it stops, or a dead port) keeps it: what it tests is that Redis.
    let env = test_env();
    if let Some(nodes) = env.redis_cluster_nodes
        && vars.get("REDIS_URL") == Some(&env.redis_url)
    {
        vars.remove("REDIS_URL");
        vars.insert("REDIS_CLUSTER_NODES".to_owned(), nodes);
    }
    // Likewise a PgBouncer run: the app role's connections to the shared database go through
    // the pooler; a test that points DATABASE_URL elsewhere (a database or server of its own)
    // keeps it.
    if let Some(pooled) = env.pgbouncer_url
        && vars.get("DATABASE_URL") == Some(&env.database_url)
    {
        for variable in ["DATABASE_URL", "AUTH_DATABASE_URL"] {
            if vars.get(variable) == Some(&env.database_url) {
                vars.insert(variable.to_owned(), pooled.clone());
            }
        }
        vars.insert("DATABASE_POOLER".to_owned(), "pgbouncer".to_owned());
    }
    Config::from_env(Env::from_map(vars)).expect("test configuration is valid")
}

/// Publishes like auth-service does on the shared Redis. On a cluster run it publishes on the
/// *last* node, while the apps subscribe on the first one: the cluster's bus must carry it over.
pub async fn publish(channel: &str, message: &str) {
    let env = test_env();
    let url = match &env.redis_cluster_nodes {
        Some(nodes) => format!("redis://{}", nodes.split(',').next_back().expect("a node").trim()),
        None => env.redis_url,
    };
    let mut conn = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("PUBLISH").arg(channel).arg(message).query_async(&mut conn).await.unwrap();
}

/// `INFO <section>` of every primary the app's Redis connection reaches, as one text: a single
/// server answers with a string, a cluster client with one string per primary.
pub async fn redis_info(state: &AppState, section: &str) -> String {
    let mut conn = state.cache.connection();
    let value: redis::Value = redis::cmd("INFO").arg(section).query_async(&mut conn).await.expect("INFO answered");
    match value {
        redis::Value::Map(nodes) => nodes
            .into_iter()
            .map(|(_, info)| redis::from_redis_value::<String>(info).expect("INFO text"))
            .collect::<Vec<_>>()
            .join("\n"),
        single => redis::from_redis_value(single).expect("INFO text"),
    }
}

/// The venue-service fake (`tools/platform-fakes`): its real internal route, HMAC check and
/// allow-list, response shape and rate limits. Unknown venue ids are active venues of the test's
/// tenant (5000 seats, New York time); tests register others, and mount more specific wiremock
/// mocks (failures, delays) in front of it.
struct VenueFake(Arc<VenueService>);

impl Respond for VenueFake {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let uri: axum::http::Uri = request.url.as_str().parse().expect("wiremock gives a valid URL");
        reply(self.0.handle(&request.method, &uri, &request.headers, &request.body))
    }
}

/// ticket-service (`tools/platform-fakes`) behind a wiremock server: its by-event route, its
/// HMAC check and allow-list. Point `TICKET_SERVICE_URL` at [`MockServer::uri`].
pub async fn ticket_service() -> (MockServer, Arc<TicketService>) {
    struct TicketFake(Arc<TicketService>);
    impl Respond for TicketFake {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let uri: axum::http::Uri = request.url.as_str().parse().expect("wiremock gives a valid URL");
            reply(self.0.handle(&request.method, &uri, &request.headers, &request.body))
        }
    }
    let fake = Arc::new(TicketService::new(Some(HMAC_SECRET.as_bytes())));
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(TicketFake(fake.clone())).with_priority(10).mount(&server).await;
    (server, fake)
}

/// A fake's answer as a wiremock response.
pub fn reply(reply: platform_fakes::Reply) -> ResponseTemplate {
    let mut template = ResponseTemplate::new(reply.status).set_body_json(reply.body);
    for (name, value) in reply.headers {
        template = template.insert_header(name, value.as_str());
    }
    template
}

pub struct TestApp {
    pub address: String,
    /// The operator listener (`http://127.0.0.1:<port>`).
    pub operator_address: String,
    /// The venue-service this app talks to: a wiremock server answering with [`Self::venues`].
    pub venue_server: MockServer,
    /// The venue-service fake's state (register venues, count calls).
    pub venues: Arc<VenueService>,
    pub client: reqwest::Client,
    /// A tenant of this test only.
    pub tenant: TenantId,
    pub state: AppState,
    shutdown: CancellationToken,
    /// The running application (server and background jobs); aborting it is a crash.
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after letting the test adjust its environment.
pub async fn spawn_app_with(customize: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    spawn_app_as(TenantId::from_uuid(Uuid::new_v4()), customize).await
}

/// Spawns the app for a given (new, active) tenant.
pub async fn spawn_app_as(tenant: TenantId, customize: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let env = test_env();
    register_tenant(tenant, "active").await;
    let venues = Arc::new(VenueService::new(Some(HMAC_SECRET.as_bytes())).with_home_tenant(*tenant.as_uuid()));
    let venue_server = MockServer::start().await;
    Mock::given(any()).respond_with(VenueFake(venues.clone())).with_priority(10).mount(&venue_server).await;
    let mut vars = base_vars(&env);
    vars.insert("VENUE_SERVICE_URL".to_owned(), venue_server.uri());
    // Tests share one database and one broker: each app relays its own tenant's messages only.
    vars.insert("EVENT_RELAY_TENANTS".to_owned(), tenant.to_string());
    customize(&mut vars);
    event_service::telemetry::init(&vars["LOG_LEVEL"], event_service::config::LogFormat::Pretty);
    let app = Application::build(config_from(vars)).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let operator_address = format!("http://127.0.0.1:{}", app.operator_port().unwrap_or_default());
    let state = app.state().clone();
    let shutdown = app.shutdown_token();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        operator_address,
        venue_server,
        venues,
        client: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client"),
        tenant,
        state,
        shutdown,
        task,
    }
}

impl TestApp {
    /// Starts a graceful shutdown (SIGTERM in production).
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Stops the application the way a killed process stops: its server and background tasks
    /// are dropped wherever they are, with nothing finished or handed back.
    pub async fn crash(&self) {
        self.task.abort();
        while !self.task.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A call to the operator listener with the operator credential (`None`: no credential).
    pub async fn operator(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, format!("{}{path}", self.operator_address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// A signed internal GET of this app's tenant, as the platform's shared client sends it.
    pub async fn internal_get(&self, path: &str) -> reqwest::Response {
        let ts = chrono::Utc::now().timestamp_millis();
        let nonce = Uuid::new_v4().to_string();
        let (_, signature) = event_service::http::internal_auth::sign(
            HMAC_SECRET.as_bytes(),
            "event-service",
            ts,
            &nonce,
            "GET",
            path,
            b"",
        );
        self.client
            .get(self.url(path))
            .header("x-internal-service", "event-service")
            .header("x-internal-timestamp", ts.to_string())
            .header("x-internal-nonce", nonce)
            .header("x-internal-signature", signature)
            .header("x-tenant-id", self.tenant.to_string())
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// A second tenant, registered (active) with auth-service, for cross-tenant checks.
    pub async fn other_tenant(&self) -> TenantId {
        let tenant = TenantId::from_uuid(Uuid::new_v4());
        register_tenant(tenant, "active").await;
        tenant
    }

    /// A new active venue of `tenant` in the venue-service fake.
    pub fn venue_of(&self, tenant: TenantId) -> Uuid {
        let id = Uuid::new_v4();
        self.venues.register(VenueRecord::active(id, *tenant.as_uuid(), "Hall", 5000, "America/New_York"));
        id
    }

    /// An access token of this test's tenant, with every event permission.
    pub fn token(&self, role: &str) -> String {
        token_for(self.tenant, role)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &serde_json::Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, token, Some(body), None).await
    }

    /// Creates an event as `token` and returns its JSON (asserting 201).
    pub async fn create_event(&self, token: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self.post_json("/api/v1/events", token, &body).await;
        let status = response.status();
        let json: serde_json::Value = response.json().await.expect("json body");
        assert_eq!(status, 201, "create failed: {json}");
        json["event"].clone()
    }
}

/// A problem+json response: its status and body (asserting the content type).
pub async fn problem(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/problem+json", "status {status}");
    (status, response.json().await.expect("problem body"))
}

/// The `(field, code)` pairs of a validation problem.
pub fn field_codes(body: &serde_json::Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            (e["field"].as_str().unwrap_or_default().to_owned(), e["code"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// The JSON body of a response, asserting its status.
pub async fn json_of(response: reqwest::Response, expected: u16) -> serde_json::Value {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("json body");
    assert_eq!(status, expected, "{body}");
    body
}

/// A minimal valid event body.
pub fn event_body(name: &str) -> serde_json::Value {
    json!({ "name": name, "venue_id": Uuid::new_v4() })
}

/// A valid event body with a schedule a few days ahead.
pub fn scheduled_event_body(name: &str) -> serde_json::Value {
    let start = chrono::Utc::now() + chrono::Duration::days(10);
    json!({
        "name": name,
        "venue_id": Uuid::new_v4(),
        "starts_at": start,
        "ends_at": start + chrono::Duration::hours(3),
        "doors_open": start - chrono::Duration::hours(1),
        "capacity": 500,
    })
}

/// Claims like the auth-service's, signed with the key the test app trusts.
pub fn token_for(tenant: TenantId, role: &str) -> String {
    let permissions = ["events:create", "events:update", "events:delete", "events:publish", "events:royalties"];
    token_with(tenant, role, &Uuid::new_v4().to_string(), &permissions)
}

pub fn token_with(tenant: TenantId, role: &str, sub: &str, permissions: &[&str]) -> String {
    sign(
        &json!({
            "sub": sub,
            "tenant_id": tenant.to_string(),
            "type": "access",
            "role": role,
            "permissions": permissions,
            "jti": Uuid::new_v4().to_string(),
            "iss": "tickettoken",
            "aud": "tickettoken",
            "exp": chrono::Utc::now().timestamp() + 3600,
        }),
        "jwt-test-private.pem",
    )
}

/// Signs like auth-service: RS256 with `kid` `current`.
pub fn sign(claims: &serde_json::Value, key_file: &str) -> String {
    sign_with_kid(claims, key_file, Some("current"))
}

pub fn sign_with_kid(claims: &serde_json::Value, key_file: &str, kid: Option<&str>) -> String {
    let pem = std::fs::read(fixture(key_file)).expect("fixture key");
    let key = EncodingKey::from_rsa_pem(&pem).expect("RSA key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).expect("token signs")
}

/// The operator credential of the test apps (`src/routes/operator.rs`).
pub const OPERATOR_TOKEN: &str = "test-operator-token-with-at-least-32-chars";

/// The secret the test apps and the platform fakes share.
pub const HMAC_SECRET: &str = "test-internal-hmac-secret-with-32-chars!";

/// The superuser, for arranging what other services own (auth-service's tables).
pub async fn superuser() -> &'static PgPool {
    static POOL: tokio::sync::OnceCell<PgPool> = tokio::sync::OnceCell::const_new();
    POOL.get_or_init(|| async {
        PgPoolOptions::new().max_connections(4).connect_lazy(&test_env().superuser_url).expect("superuser URL")
    })
    .await
}

/// The application role, connected to Postgres directly, for arranging and asserting with
/// [`tenant_tx`] (row-level security applies as it does to the apps). Not the app's own pool:
/// on a PgBouncer run that goes through the pooler, where the tests' named statements would
/// collide with each other's on shared server connections.
pub async fn app_role() -> &'static PgPool {
    static POOL: tokio::sync::OnceCell<PgPool> = tokio::sync::OnceCell::const_new();
    POOL.get_or_init(|| async {
        PgPoolOptions::new().max_connections(4).connect_lazy(&test_env().database_url).expect("app role URL")
    })
    .await
}

/// Writes `tenant` into auth-service's `tenants` table with `status`, as auth-service would.
pub async fn register_tenant(tenant: TenantId, status: &str) {
    sqlx::query(
        "insert into tenants (id, name, slug, status) values ($1, $2, $2, $3)
         on conflict (id) do update set status = excluded.status, updated_at = now()",
    )
    .bind(tenant.as_uuid())
    .bind(format!("tenant-{tenant}"))
    .bind(status)
    .execute(superuser().await)
    .await
    .expect("tenant registered");
}

/// A transaction of the application role scoped to `tenant`, for arranging and asserting.
pub async fn tenant_tx(
    pool: &PgPool,
    tenant: TenantId,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    // As the service sets it (`storage::postgres::begin_statement`): `SET LOCAL`, which on Citus
    // reaches the worker that runs the statement (a `set_config` call would not); the Citus
    // setting is a harmless placeholder on plain Postgres.
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(&format!(
        "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL app.current_tenant_id = '{tenant}'"
    ))
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Runs `sql` in a transaction scoped to `tenant`, as the application role.
pub async fn as_tenant(pool: &PgPool, tenant: TenantId, sql: &str) -> Result<u64, sqlx::Error> {
    let mut tx = tenant_tx(pool, tenant).await?;
    let affected = sqlx::query(sql).execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok(affected)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Polls `f` every 100 ms until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Private servers for fault tests --------------------------------------------------------------

/// A Postgres cluster of one test, which the test may kill and restart.
pub struct PgServer {
    dir: tempfile::TempDir,
    pub port: u16,
}

fn pg_command(program: &str) -> Command {
    let bin = Path::new(&var("TEST_PG_BIN")).join(program);
    match std::env::var("TEST_PG_RUN_AS") {
        Ok(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", &user, "--"]).arg(bin);
            c
        }
        Err(_) => Command::new(bin),
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn chown(user: &str, path: &Path) {
    let mut c = Command::new("chown");
    c.arg(user).arg(path);
    run(c, "chown");
}

impl PgServer {
    /// initdb + start + roles + database + migrations; about two seconds.
    pub async fn start() -> PgServer {
        let server = Self::start_bare().await;
        server.migrate().await;
        server
    }

    /// initdb + start + roles + an empty `events` database, not migrated.
    pub async fn start_bare() -> PgServer {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Ok(user) = std::env::var("TEST_PG_RUN_AS") {
            chown(&user, dir.path());
        }
        let port = free_port();
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "fault-password").expect("pwfile");
        if let Ok(user) = std::env::var("TEST_PG_RUN_AS") {
            chown(&user, &pwfile);
        }
        let mut initdb = pg_command("initdb");
        initdb.arg("-D").arg(&data).args(["-U", "postgres", "--auth=scram-sha-256", "--pwfile"]).arg(&pwfile);
        run(initdb, "initdb");
        let conf = format!(
            // Crash tests kill this server: commits must reach the WAL before they return, or
            // recovery forgets them (synchronous_commit stays on). fsync may stay off because
            // the OS itself does not crash.
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\n",
            dir.path().display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path).expect("conf");
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).expect("conf written");
        let server = PgServer { dir, port };
        server.start_again();
        server.bootstrap().await;
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn start_again(&self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D").arg(self.data()).arg("-l").arg(self.dir.path().join("log")).args(["-w", "-t", "30", "start"]);
        run(c, "pg_ctl start");
    }

    /// Immediate shutdown: like a crash, no clean disconnects.
    pub fn kill(&self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        run(c, "pg_ctl stop");
    }

    pub fn url(&self, user: &str, password: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/events", self.port)
    }

    async fn bootstrap(&self) {
        let su = PgPoolOptions::new()
            .max_connections(1)
            .connect(&format!("postgres://postgres:fault-password@127.0.0.1:{}/postgres", self.port))
            .await
            .expect("superuser connects");
        for sql in [
            "create role event_service_owner login createrole password 'owner'",
            "create role event_service login nosuperuser nobypassrls password 'app'",
            "create database events owner event_service_owner",
        ] {
            // Roles are per cluster, and this cluster is new.
            sqlx::query(sql).execute(&su).await.expect("bootstrap statement");
        }
        su.close().await;
    }

    /// `event-service migrate` against this cluster.
    pub async fn migrate(&self) {
        let config = event_service::config::MigrateConfig::from_env(Env::from_map(HashMap::from([
            ("DATABASE_ADMIN_URL".to_owned(), self.url("event_service_owner", "owner")),
            ("DATABASE_URL".to_owned(), self.url("event_service", "app")),
        ])))
        .expect("migrate config");
        event_service::storage::migrate::run(&config).await.expect("migrations apply");
    }
}

impl PgServer {
    /// auth-service's tables in this cluster's database, as auth-service creates them
    /// (`deploy/platform/auth-service-tables.sql`), readable by the application role.
    pub async fn add_auth_service_tables(&self) {
        let sql = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/platform/auth-service-tables.sql"),
        )
        .expect("stand-in schema");
        let sql = sql.replace(":\"app_role\"", "\"event_service\"");
        let su = PgPoolOptions::new()
            .max_connections(1)
            .connect(&format!("postgres://postgres:fault-password@127.0.0.1:{}/events", self.port))
            .await
            .expect("superuser connects");
        sqlx::raw_sql(&sql).execute(&su).await.expect("auth-service tables");
        su.close().await;
    }

    pub fn superuser_url(&self) -> String {
        format!("postgres://postgres:fault-password@127.0.0.1:{}/events", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D").arg(self.data()).args(["-m", "immediate", "stop"]);
        let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// A Redis of one test, which the test may stop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = free_port();
        let mut server = RedisServer { child: None, port };
        server.start_again();
        server
    }

    pub fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not listen on {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the server, e.g. to make it silent without
    /// closing a connection.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of one test: six `redis-server` processes on loopback, three primaries with a
/// replica each, and a node timeout of 2 s so a killed primary's replica takes over within a few
/// seconds. The test may kill nodes (SIGKILL); every node is killed on drop.
pub struct RedisCluster {
    _dir: tempfile::TempDir,
    nodes: Vec<(u16, Option<Child>)>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut nodes = Vec::new();
        let mut taken = std::collections::HashSet::new();
        for i in 0..6 {
            let node_dir = dir.path().join(i.to_string());
            std::fs::create_dir(&node_dir).expect("node dir");
            // A port from `free_port` is free only when it is asked for: by the time the node
            // binds it, a parallel test's outgoing connection may hold it (the ephemeral range
            // is shared). A node that does not listen is replaced on fresh ports.
            let mut started = None;
            for _ in 0..5 {
                let (port, bus) = (free_port(), free_port());
                if port == bus || taken.contains(&port) || taken.contains(&bus) {
                    continue;
                }
                let mut child = Command::new("redis-server")
                    .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--cluster-port", &bus.to_string()])
                    .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                    .args(["--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(&node_dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server starts");
                let up = poll_blocking(Duration::from_secs(5), || {
                    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                        || child.try_wait().ok().flatten().is_some()
                }) && {
                    // Something else answering on the port while this node failed to bind
                    // would look the same for a moment; a node that lost the port exits at once.
                    std::thread::sleep(Duration::from_millis(200));
                    child.try_wait().ok().flatten().is_none()
                };
                if up {
                    taken.extend([port, bus]);
                    started = Some((port, child));
                    break;
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            let (port, child) = started.expect("redis-server listens on a free port within five tries");
            nodes.push((port, Some(child)));
        }
        let cluster = RedisCluster { _dir: dir, nodes };
        let addresses: Vec<String> = cluster.nodes.iter().map(|(p, _)| format!("127.0.0.1:{p}")).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        // A replica that has not finished its first sync refuses to take over ("disconnected
        // from master for longer than allowed"), so the cluster is ready once every replica is.
        let ready = poll_blocking(Duration::from_secs(30), || {
            cluster.live_ports().iter().all(|p| {
                let replication = cluster.cli(*p, &["info", "replication"]);
                cluster.cli(*p, &["cluster", "info"]).contains("cluster_state:ok")
                    && (replication.contains("role:master") || replication.contains("master_link_status:up"))
            })
        });
        assert!(ready, "the cluster did not reach cluster_state:ok with every replica in sync");
        cluster
    }

    /// `REDIS_CLUSTER_NODES` for an app: every node.
    pub fn nodes_var(&self) -> String {
        self.nodes.iter().map(|(p, _)| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes.iter().filter(|(_, c)| c.is_some()).map(|(p, _)| *p).collect()
    }

    /// `redis-cli -p PORT ARGS...`, its standard output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The port of the healthy primary serving `key`'s slot, as a live node sees it; `None`
    /// while that primary is failing and no replica has taken over yet.
    pub fn primary_of(&self, key: &str) -> Option<u16> {
        let port = self.live_ports()[0];
        let slot: u16 = self.cli(port, &["cluster", "keyslot", key]).trim().parse().expect("a slot");
        // CLUSTER NODES: `<id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch> <link> <slots>...`
        for line in self.cli(port, &["cluster", "nodes"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => (a.parse().unwrap_or(u16::MAX)..=b.parse().unwrap_or(0)).contains(&slot),
                None => range.parse() == Ok(slot),
            });
            if serves {
                let address = fields[1].split('@').next().expect("ip:port");
                return address.rsplit(':').next().and_then(|p| p.parse().ok());
            }
        }
        None
    }

    /// Kills a node the way a crash does (SIGKILL): no goodbye to clients or to the cluster.
    pub fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|(p, _)| *p == port).expect("a node of this cluster");
        if let Some(mut child) = node.1.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `f` every 50 ms until it returns true or `limit` passes (for setup outside a runtime).
fn poll_blocking(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for port in self.live_ports() {
            self.kill(port);
        }
    }
}

// RabbitMQ --------------------------------------------------------------------------------------

/// A RabbitMQ node of one test, which the test may stop and start again (its data survives, so
/// durable queues and persistent messages do too). About 15 s per start.
pub struct RabbitServer {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl RabbitServer {
    pub fn start() -> RabbitServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = format!("listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n");
        std::fs::write(dir.path().join("rabbitmq.conf"), conf).expect("rabbitmq.conf");
        std::fs::write(dir.path().join("enabled_plugins"), "").expect("enabled_plugins");
        let mut server = RabbitServer { dir, port, child: None };
        server.start_again();
        server
    }

    fn node(&self) -> String {
        format!("evtest-{}@localhost", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(Path::new("/usr/lib/rabbitmq/bin").join(program));
        c.env("HOME", d)
            .env("RABBITMQ_NODENAME", self.node())
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", free_port().to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"));
        c
    }

    pub fn start_again(&mut self) {
        let child = self
            .command("rabbitmq-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rabbitmq-server starts");
        self.child = Some(child);
        for _ in 0..240 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("rabbitmq-server did not listen on {} within 60 s", self.port);
    }

    /// A clean broker shutdown (connections are closed, durable data kept).
    pub fn stop(&mut self) {
        let node = self.node();
        let _ = self
            .command("rabbitmqctl")
            .args(["-n", &node, "shutdown"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for RabbitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One message as a consumer bound to `#` receives it.
#[derive(Debug, Clone)]
pub struct Received {
    pub exchange: String,
    pub routing_key: String,
    pub message_id: String,
    pub body: serde_json::Value,
    pub persistent: bool,
    pub content_type: String,
    pub app_id: String,
}

/// A queue bound to `#` on both exchanges, as the platform's catch-all consumers bind
/// (analytics' `analytics_events`, search's `search.sync.queue`).
pub struct Listener {
    _connection: lapin::Connection,
    consumer: lapin::Consumer,
}

impl Listener {
    /// `queue`: `None` for an exclusive, server-named queue; `Some(name)` for a durable one
    /// that survives a broker restart.
    pub async fn bind(url: &str, queue: Option<&str>) -> Listener {
        use lapin::options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.expect("amqp");
        let channel = connection.create_channel().await.expect("channel");
        for exchange in ["tickettoken_events", "search.sync"] {
            let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
            channel
                .exchange_declare(exchange.into(), lapin::ExchangeKind::Topic, options, FieldTable::default())
                .await
                .expect("exchange");
        }
        let options = match queue {
            None => QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() },
            Some(_) => QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() },
        };
        let declared =
            channel.queue_declare(queue.unwrap_or("").into(), options, FieldTable::default()).await.expect("queue");
        let name = declared.name().clone();
        for exchange in ["tickettoken_events", "search.sync"] {
            channel
                .queue_bind(
                    name.clone(),
                    exchange.into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind");
        }
        let consumer = channel
            .basic_consume(
                name,
                "test".into(),
                BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() },
                FieldTable::default(),
            )
            .await
            .expect("consume");
        Listener { _connection: connection, consumer }
    }

    /// Messages until `done` says enough or `limit` passes.
    pub async fn collect(&mut self, limit: Duration, mut done: impl FnMut(&[Received]) -> bool) -> Vec<Received> {
        use futures::StreamExt;
        let mut all = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&all) {
            let next = tokio::time::timeout_at(deadline, self.consumer.next()).await;
            let Ok(Some(Ok(delivery))) = next else { break };
            let p = &delivery.properties;
            all.push(Received {
                exchange: delivery.exchange.to_string(),
                routing_key: delivery.routing_key.to_string(),
                message_id: p.message_id().as_ref().map(|m| m.to_string()).unwrap_or_default(),
                body: serde_json::from_slice(&delivery.data).expect("JSON body"),
                persistent: *p.delivery_mode() == Some(2),
                content_type: p.content_type().as_ref().map(|m| m.to_string()).unwrap_or_default(),
                app_id: p.app_id().as_ref().map(|m| m.to_string()).unwrap_or_default(),
            });
        }
        all
    }
}

// The chain simulator ---------------------------------------------------------------------------

/// A `chain-sim` process of one test (LiteSVM + the `create_event` stand-in behind JSON-RPC, see
/// tools/chain-sim/README.md), on an ephemeral loopback port. Killed on drop.
pub struct ChainSim {
    pub url: String,
    child: Child,
    client: reqwest::Client,
}

impl ChainSim {
    pub async fn start() -> Self {
        use std::io::BufRead;
        let mut child = Command::new(var("TEST_CHAIN_SIM_BIN"))
            .env("CHAIN_SIM_PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chain-sim starts (TEST_CHAIN_SIM_BIN)");
        let stdout = child.stdout.take().expect("stdout");
        // One line, printed once it listens: "chain-sim listening on 127.0.0.1:PORT".
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).expect("chain-sim prints its address");
            line
        })
        .await
        .expect("read line");
        let addr = line.trim().rsplit(' ').next().expect("address").to_owned();
        Self {
            url: format!("http://{addr}"),
            child,
            client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client"),
        }
    }

    /// A JSON-RPC call; returns `result` (panics on a JSON-RPC error).
    pub async fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response: serde_json::Value =
            self.client.post(&self.url).json(&body).send().await.expect("rpc").json().await.expect("json");
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// Sets fault switches (`POST /admin/faults`); `DELETE` clears them all.
    pub async fn faults(&self, faults: serde_json::Value) {
        let r = self.client.post(format!("{}/admin/faults", self.url)).json(&faults).send().await.expect("faults");
        assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    }

    /// How many distinct transactions `drop_sends` has swallowed (`GET /admin/dropped`).
    pub async fn dropped(&self) -> u64 {
        let r = self.client.get(format!("{}/admin/dropped", self.url)).send().await.expect("dropped");
        let body: serde_json::Value = r.json().await.expect("json");
        body["signatures"].as_u64().expect("signatures")
    }

    pub async fn clear_faults(&self) {
        let r = self.client.delete(format!("{}/admin/faults", self.url)).send().await.expect("faults");
        assert!(r.status().is_success());
    }

    pub async fn airdrop(&self, pubkey: &str, lamports: u64) {
        self.rpc("requestAirdrop", json!([pubkey, lamports])).await;
    }

    /// Registers a venue account for `tenant`'s `venue` (the tenant-bound seed), owned by `owner`.
    pub async fn venue(&self, tenant: TenantId, venue: Uuid, owner: &str, verified: bool) -> String {
        let seed = format!("{}{}", tenant.as_uuid().simple(), venue.simple());
        let body = json!({"seed_hex": seed, "owner": owner, "verified": verified, "active": true});
        let r = self.client.post(format!("{}/admin/venues", self.url)).json(&body).send().await.expect("venue");
        let v: serde_json::Value = r.json().await.expect("json");
        v["venue"].as_str().expect("venue address").to_owned()
    }

    /// How many events the venue account has counted.
    pub async fn venue_event_count(&self, address: &str) -> u64 {
        let v: serde_json::Value = self
            .client
            .get(format!("{}/admin/venues/{address}", self.url))
            .send()
            .await
            .expect("venue")
            .json()
            .await
            .expect("json");
        v["event_count"].as_u64().expect("event_count")
    }

    /// The raw data of an account, if it exists.
    pub async fn account_data(&self, address: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        let r = self.rpc("getAccountInfo", json!([address, {"encoding": "base64"}])).await;
        let data = r["value"]["data"][0].as_str()?;
        Some(base64::engine::general_purpose::STANDARD.decode(data).expect("base64"))
    }
}

impl Drop for ChainSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PgBouncer of one test, in transaction mode in front of the shared test Postgres, configured by
/// `deploy/pgbouncer/pgbouncer.ini` with only the addresses, files and pool size replaced (as
/// `scripts/lib/stack.sh` `start_pgbouncer` does). Killed on drop.
pub struct PgBouncer {
    _dir: tempfile::TempDir,
    child: Child,
    /// The application role's URL through this PgBouncer.
    pub url: String,
}

impl PgBouncer {
    /// `pool_size`: server connections per database and role (`default_pool_size`); with 1,
    /// every client's transactions run on the same server connection, one after the other.
    pub fn start(pool_size: u32) -> PgBouncer {
        let env = test_env();
        let direct = url::Url::parse(&env.database_url).expect("TEST_DATABASE_URL");
        let (pg_port, db) = (direct.port().expect("a port"), direct.path().trim_start_matches('/').to_owned());
        let (user, password) = (direct.username().to_owned(), direct.password().expect("a password").to_owned());
        let template =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/pgbouncer/pgbouncer.ini"))
                .expect("deploy/pgbouncer/pgbouncer.ini");
        let dir = tempfile::tempdir().expect("tempdir");
        let auth_file = dir.path().join("userlist.txt");
        std::fs::write(&auth_file, format!("\"{user}\" \"{password}\"\n")).expect("userlist");
        let run_as = std::env::var("TEST_PG_RUN_AS").ok();
        if let Some(user) = &run_as {
            chown(user, dir.path());
            chown(user, &auth_file);
        }
        for _ in 0..5 {
            let port = free_port();
            let replaced = |line: &str| -> String {
                let key = line.split('=').next().unwrap_or("").trim();
                match key {
                    "tickettoken_db" => format!("{db} = host=127.0.0.1 port={pg_port} dbname={db}"),
                    "listen_addr" => "listen_addr = 127.0.0.1".to_owned(),
                    "listen_port" => format!("listen_port = {port}"),
                    "auth_file" => format!("auth_file = {}", auth_file.display()),
                    "logfile" => format!("logfile = {}", dir.path().join("pgbouncer.log").display()),
                    "default_pool_size" => format!("default_pool_size = {pool_size}"),
                    "reserve_pool_size" => "reserve_pool_size = 0".to_owned(),
                    _ => line.to_owned(),
                }
            };
            let ini: Vec<String> = template.lines().map(replaced).collect();
            assert!(ini.iter().any(|l| l.starts_with(&format!("{db} = "))), "the template lost its [databases] line");
            let ini_path = dir.path().join("pgbouncer.ini");
            std::fs::write(&ini_path, ini.join("\n")).expect("ini");
            let mut cmd = Command::new("pgbouncer");
            if let Some(user) = &run_as {
                // PgBouncer refuses to run as root. Started as that user directly (not through
                // runuser), so the child is PgBouncer itself: killed and reaped on drop.
                use std::os::unix::process::CommandExt;
                let id = |flag: &str| -> u32 {
                    let out = Command::new("id").args([flag, user]).output().expect("id");
                    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a numeric id")
                };
                cmd.gid(id("-g")).uid(id("-u"));
            }
            let mut child =
                cmd.arg(&ini_path).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("pgbouncer starts");
            let up = poll_blocking(Duration::from_secs(5), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || child.try_wait().ok().flatten().is_some()
            }) && child.try_wait().ok().flatten().is_none();
            if up {
                let url = format!("postgres://{user}:{password}@127.0.0.1:{port}/{db}");
                return PgBouncer { _dir: dir, child, url };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("pgbouncer did not listen (is the pgbouncer package installed?)");
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
