//! Postgres: the pool, the start-up safety checks, and the one way to reach tenant tables.
//!
//! Every request reaches tenant data through [`Db::read`] or [`Db::write`], which open a
//! transaction, set `app.current_tenant_id` with `SET LOCAL` (transaction-local, so it can never
//! leak to the next user of the pooled connection, nor, behind PgBouncer in transaction mode, to
//! the next client of the server connection), run the caller's work and commit, all as one call
//! through the Postgres resilience stack. Row-level security does the rest: without the setting
//! no tenant row is visible at all.
//!
//! No statement runs outside an explicit transaction, background jobs' included ([`Db::system`]).
//! Behind a transaction-mode pooler (`DATABASE_POOLER=pgbouncer`) that is what keeps sqlx's
//! two-step extended protocol (parse and describe, then bind and execute, each ending in a Sync)
//! on one server connection: PgBouncer may hand the next Sync's statements to another server
//! once a transaction is over. See `deploy/pgbouncer/README.md`.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use resilience::{
    BreakerHandle, BreakerOutcome, Classification, Classify, Dependency, DependencyConfig, Idempotency, RetryDecision,
};
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::config::{DatabaseConfig, Pooler};
use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult, DbFaultKind};

/// Migrations embedded in the binary; `event-service migrate` applies them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A transaction in which only one tenant's rows exist.
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant: TenantId,
    named: bool,
}

impl TenantTx {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn conn(&mut self) -> Conn<'_> {
        Conn { inner: &mut self.tx, named: self.named }
    }
}

/// Where a *tenant call* runs: one statement calling a `tenant_*` function of the schema, which
/// sets `app.current_tenant_id` transaction-locally itself before it reads a row (migration
/// `20261206000001_tenant_event_read.sql`). Given out by [`Db::read_call`]: directly on Postgres
/// on a pooled connection outside any transaction, where the statement is its own implicit
/// transaction and the setting ends with it, in one round trip instead of three; in a tenant
/// transaction otherwise (on Citus and behind a transaction pooler the tenant must be a
/// `SET LOCAL`, see [`begin_statement`]), and from a [`TenantTx`] for reads inside other work.
///
/// Only `tenant_*` functions belong here: a plain statement on it would run with no tenant set
/// (and see no tenant row). The tenant is this value's, never the caller's choice.
pub struct TenantCall<'a> {
    conn: Conn<'a>,
    tenant: TenantId,
}

impl<'a> TenantCall<'a> {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn conn(self) -> Conn<'a> {
        self.conn
    }
}

impl<'a> From<&'a mut TenantTx> for TenantCall<'a> {
    fn from(tx: &'a mut TenantTx) -> Self {
        let tenant = tx.tenant;
        TenantCall { conn: tx.conn(), tenant }
    }
}

/// A transaction of the background jobs: no tenant is set, so only the job tables and the
/// `system_*` discovery functions answer.
pub struct SystemTx {
    tx: Transaction<'static, Postgres>,
    named: bool,
}

impl SystemTx {
    pub fn conn(&mut self) -> Conn<'_> {
        Conn { inner: &mut self.tx, named: self.named }
    }
}

/// The connection of one of our transactions, as the executor every statement runs on.
///
/// Directly on Postgres it is the connection itself: sqlx prepares each statement once per
/// connection under a name (`sqlx_s_N`) and then runs it in one round trip. Behind a
/// transaction-mode pooler that name would outlive the transaction on a server connection
/// other clients get next ("prepared statement sqlx_s_1 already exists" for the next client
/// that numbers its statements the same way), and sqlx names its statements even with its
/// cache turned off. So there each statement is parsed as the *unnamed* statement, which lives
/// until the next statement of the same transaction: nothing is left behind.
pub struct Conn<'a> {
    inner: &'a mut PgConnection,
    named: bool,
}

impl Conn<'_> {
    /// `named`: whether statements may be prepared under a name (not behind a transaction pooler).
    pub fn new(inner: &mut PgConnection, named: bool) -> Conn<'_> {
        Conn { inner, named }
    }

    /// For statements outside [`Db`]'s transactions (start-up checks, the auth reader), which
    /// are rare enough that preparing each costs nothing worth caching.
    pub fn unnamed(inner: &mut PgConnection) -> Conn<'_> {
        Conn { inner, named: false }
    }

    /// This connection again, for the next statement.
    pub fn by_ref(&mut self) -> Conn<'_> {
        Conn { inner: self.inner, named: self.named }
    }
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("named", &self.named).finish_non_exhaustive()
    }
}

impl<'c> sqlx::Executor<'c> for Conn<'c> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures::stream::BoxStream<
        'e,
        Result<sqlx::Either<sqlx::postgres::PgQueryResult, sqlx::postgres::PgRow>, sqlx::Error>,
    >
    where
        'c: 'e,
        E: 'q + sqlx::Execute<'q, Postgres>,
    {
        self.inner.fetch_many(Naming { query, named: self.named })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<sqlx::postgres::PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + sqlx::Execute<'q, Postgres>,
    {
        self.inner.fetch_optional(Naming { query, named: self.named })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [sqlx::postgres::PgTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::postgres::PgStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.inner.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.inner.describe(sql)
    }
}

/// A query as sqlx built it, except that it asks for a named statement only when allowed.
struct Naming<E> {
    query: E,
    named: bool,
}

impl<'q, E: sqlx::Execute<'q, Postgres>> sqlx::Execute<'q, Postgres> for Naming<E> {
    fn sql(&self) -> &'q str {
        self.query.sql()
    }

    fn statement(&self) -> Option<&sqlx::postgres::PgStatement<'q>> {
        self.query.statement()
    }

    fn take_arguments(&mut self) -> Result<Option<sqlx::postgres::PgArguments>, sqlx::error::BoxDynError> {
        self.query.take_arguments()
    }

    fn persistent(&self) -> bool {
        self.named && self.query.persistent()
    }
}

// A unit of tenant-scoped database work is a `for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, _>`.
// It may run more than once (retries re-run the whole transaction), so it must do database
// work only: no HTTP calls, no cache writes. The bound is spelled out on each method because
// closures infer a higher-ranked signature only from a direct `Fn` bound.

/// The pool behind its resilience stack. Cheap to clone; built once at start-up.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    stack: Dependency<ApiError>,
    max_connections: u32,
    tenants: std::sync::Arc<TenantBulkheads>,
    begin: std::sync::Arc<str>,
    /// `begin` for [`Commit::Unflushed`].
    begin_unflushed: std::sync::Arc<str>,
    /// Whether statements may be prepared under a name ([`Conn`]).
    named: bool,
    /// Whether a [`TenantCall`] may run outside a transaction (directly on plain Postgres).
    calls_alone: bool,
}

impl Db {
    /// `per_tenant`: how many transactions one tenant may run at once (`DB_TENANT_CONCURRENCY`).
    /// `begin`: the batch that opens every transaction ([`begin_statement`]).
    pub fn new(pool: PgPool, config: &DatabaseConfig, stack_config: DependencyConfig, begin: String) -> Self {
        let wait = stack_config.attempt_timeout;
        Self {
            pool,
            stack: Dependency::new(stack_config, PgClassifier),
            max_connections: config.pool_max,
            tenants: std::sync::Arc::new(TenantBulkheads::new(config.tenant_concurrency, wait)),
            // Exactly `BEGIN`: no pooler's `SET LOCAL` timeouts (outside a transaction the
            // statement would run without them) and no Citus propagation to set up.
            calls_alone: begin == "BEGIN",
            begin_unflushed: format!("{begin}; SET LOCAL synchronous_commit = off").into(),
            begin: begin.into(),
            named: !config.pooler.is_transaction_pooler(),
        }
    }

    /// One tenant call ([`TenantCall`]): a read that is a single statement setting the tenant
    /// itself. Through the same bulkhead and resilience stack as [`Db::read`], retried as freely.
    pub async fn read_call<T: Send, F>(&self, tenant: TenantId, work: F) -> ApiResult<T>
    where
        F: for<'t> Fn(TenantCall<'t>) -> BoxFuture<'t, ApiResult<T>> + Send + Sync,
    {
        if !self.calls_alone {
            return self.read(tenant, |tx| work(TenantCall::from(tx))).await;
        }
        let (pool, work, named) = (&self.pool, &work, self.named);
        self.guarded("read", tenant, Idempotency::Safe, || async move {
            let mut conn = acquire(pool).await?;
            work(TenantCall { conn: Conn::new(&mut conn, named), tenant }).await
        })
        .await
    }

    /// Read-only work for one tenant. Transient failures are retried per the stack's policy.
    pub async fn read<T: Send, F>(&self, tenant: TenantId, work: F) -> ApiResult<T>
    where
        F: for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, ApiResult<T>> + Send + Sync,
    {
        self.run("read", tenant, self.begin_for(Commit::Durable), work).await
    }

    /// Writing work for one tenant. A retry re-runs the whole transaction, and only for
    /// failures that guarantee nothing was committed (see [`PgClassifier`]).
    pub async fn write<T: Send, F>(&self, tenant: TenantId, work: F) -> ApiResult<T>
    where
        F: for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, ApiResult<T>> + Send + Sync,
    {
        self.write_with(tenant, Commit::Durable, work).await
    }

    /// [`Db::write`] with the commit of `kind`.
    pub async fn write_with<T: Send, F>(&self, tenant: TenantId, kind: Commit, work: F) -> ApiResult<T>
    where
        F: for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, ApiResult<T>> + Send + Sync,
    {
        self.run("write", tenant, self.begin_for(kind), work).await
    }

    fn begin_for(&self, commit: Commit) -> &str {
        match commit {
            Commit::Durable => &self.begin,
            Commit::Unflushed => &self.begin_unflushed,
        }
    }

    async fn run<T: Send, F>(&self, op: &'static str, tenant: TenantId, begin: &str, work: F) -> ApiResult<T>
    where
        F: for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, ApiResult<T>> + Send + Sync,
    {
        let pool = &self.pool;
        let work = &work;
        let named = self.named;
        // Every attempt is a complete transaction; an error before COMMIT means the server
        // rolled it back, so repeating it is safe. COMMIT failures are the ambiguous case and
        // are marked so the classifier never retries them.
        // Reads may be repeated freely. A write attempt can be cut off by the attempt timeout
        // after COMMIT was sent, and then nobody knows whether it committed, so the generic
        // layer never repeats writes; instead the attempt itself re-runs the transaction on
        // serialization failures and deadlocks, where Postgres guarantees it rolled back.
        let idempotency = if op == "read" { Idempotency::Safe } else { Idempotency::Unsafe };
        self.guarded(op, tenant, idempotency, || async move {
            let mut retries_left = 2;
            loop {
                match run_tx(pool, begin, named, tenant, work).await {
                    Err(e) if retries_left > 0 && is_rolled_back_conflict(&e) => retries_left -= 1,
                    other => return other,
                }
            }
        })
        .await
    }

    /// One tenant's `attempt` behind the tenant's bulkhead and the Postgres stack.
    async fn guarded<T: Send, A, Fut>(
        &self,
        op: &'static str,
        tenant: TenantId,
        idempotency: Idempotency,
        attempt: A,
    ) -> ApiResult<T>
    where
        A: Fn() -> Fut + Send + Sync,
        Fut: Future<Output = ApiResult<T>> + Send,
    {
        // One tenant's work may hold only its share of the pool; waiting for that share
        // happens before the resilience stack, so it is never a Postgres failure.
        let _permit = self.tenants.acquire(tenant).await?;
        self.stack.call(op, idempotency, attempt).await.map_err(ApiError::from)
    }

    /// Work outside any tenant, for background jobs only: job bookkeeping and the
    /// `system_*` discovery functions, which return ids, never tenant data. Through the
    /// Postgres stack like everything else, so a job backs off while Postgres is down. In a
    /// transaction of its own like all other work (see the module comment), with no tenant set.
    pub async fn system<T: Send, F>(&self, op: &'static str, work: F) -> ApiResult<T>
    where
        F: for<'t> Fn(&'t mut SystemTx) -> BoxFuture<'t, ApiResult<T>> + Send + Sync,
    {
        self.system_with(op, Commit::Durable, work).await
    }

    /// [`Db::system`] with the commit of `kind`.
    pub async fn system_with<T: Send, F>(&self, op: &'static str, kind: Commit, work: F) -> ApiResult<T>
    where
        F: for<'t> Fn(&'t mut SystemTx) -> BoxFuture<'t, ApiResult<T>> + Send + Sync,
    {
        let (pool, work, named, begin) = (&self.pool, &work, self.named, self.begin_for(kind));
        self.stack
            .call(op, Idempotency::Safe, || async move {
                let tx = begin_tx(pool, begin.to_owned()).await?;
                let mut tx = SystemTx { tx, named };
                let value = work(&mut tx).await?;
                commit(tx.tx).await?;
                Ok(value)
            })
            .await
            .map_err(ApiError::from)
    }

    /// For health checks and metrics only; tenant data is reachable only through `read`/`write`.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    pub fn breaker(&self) -> BreakerHandle {
        self.stack.breaker()
    }
}

/// How a transaction's `COMMIT` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Once the commit is on disk (the server's `synchronous_commit`).
    Durable,
    /// Once the commit is in the WAL buffers: the transaction runs with `synchronous_commit =
    /// off`, and the WAL writer flushes it within `3 × wal_writer_delay` (600 ms by default).
    /// Postgres replays WAL in order, so such a commit is never lost while a *later* durable
    /// commit survives; a crash can only lose it together with everything after it. Only for
    /// writes that may be lost in a crash without harm because they are repeated anyway: the
    /// registration worker's outcomes (the lease runs out, the next attempt finds the account
    /// and records it again), claims (the row is claimed again) and the pull-forward after an
    /// RPC outage (the rows keep their backoff). With durable commits taking
    /// 5-20 ms on the benchmark machine's disk, waiting for each was most of a registration's
    /// time.
    Unflushed,
}

/// One complete transaction: begin, set the tenant, the work, commit.
async fn run_tx<T, F>(pool: &PgPool, begin: &str, named: bool, tenant: TenantId, work: &F) -> ApiResult<T>
where
    F: for<'t> Fn(&'t mut TenantTx) -> BoxFuture<'t, ApiResult<T>> + Send + Sync,
{
    // `tenant` is a UUID, so writing it into the statement cannot inject anything (SET takes no
    // bind parameter). Set in the same round trip as BEGIN, before any row is read.
    let tx = begin_tx(pool, format!("{begin}; SET LOCAL app.current_tenant_id = '{tenant}'")).await?;
    let mut tx = TenantTx { tx, tenant, named };
    let value = work(&mut tx).await?;
    commit(tx.tx).await?;
    Ok(value)
}

/// A failed COMMIT is marked as such: its outcome is unknown, so it is never retried.
async fn commit(tx: Transaction<'static, Postgres>) -> ApiResult<()> {
    tx.commit().await.map_err(|e| {
        let mut err = ApiError::from(e);
        if let Some(fault) = err.db_fault.as_mut() {
            fault.at_commit = true;
        }
        err
    })
}

/// The batch that opens every transaction, sent as one simple-protocol query (one round trip).
///
/// * Directly on Postgres: `BEGIN`; the timeouts are the connection's startup options.
/// * Behind a transaction-mode pooler: PgBouncer 1.18 refuses startup options it does not track,
///   and a session setting would stay on the server connection for its next client, so the
///   timeouts are set per transaction with `SET LOCAL`.
/// * On Citus: `SET LOCAL citus.propagate_set_commands = 'local'`, so the tenant setting that
///   follows reaches the worker that runs the query (a `set_config` call does not: the worker
///   would see no tenant and row-level security would return no rows).
pub fn begin_statement(config: &DatabaseConfig, citus: bool) -> String {
    let mut begin = String::from("BEGIN");
    if config.pooler.is_transaction_pooler() {
        for (name, ms) in timeouts(config) {
            begin.push_str(&format!("; SET LOCAL {name} = {ms}"));
        }
    }
    if citus {
        begin.push_str("; SET LOCAL citus.propagate_set_commands = 'local'");
    }
    begin
}

/// The server-side timeouts, in ms (Postgres reads a bare number as milliseconds).
fn timeouts(config: &DatabaseConfig) -> [(&'static str, u128); 3] {
    let statement_ms = config.statement_timeout.as_millis();
    [
        ("statement_timeout", statement_ms),
        ("lock_timeout", (statement_ms / 2).max(100)),
        // A leaked transaction must not hold locks and a connection forever.
        ("idle_in_transaction_session_timeout", (statement_ms * 2).max(1000)),
    ]
}

/// Serialization failure or deadlock outside COMMIT: the transaction was rolled back.
fn is_rolled_back_conflict(err: &ApiError) -> bool {
    err.db_fault.is_some_and(|f| f.kind == DbFaultKind::Conflict && !f.at_commit)
}

/// Per-tenant bulkheads in front of the pool: at most `permits` transactions of one tenant run
/// at once on this replica, so a tenant flooding expensive queries queues behind its own
/// share while other tenants find free connections. A request that cannot get its tenant's
/// share within `wait` is refused with 429 `TENANT_CONCURRENCY_LIMIT` (the tenant's load, not a
/// sick Postgres, so it never touches the breaker).
struct TenantBulkheads {
    permits: u32,
    wait: std::time::Duration,
    map: std::sync::Mutex<std::collections::HashMap<TenantId, std::sync::Arc<tokio::sync::Semaphore>>>,
}

impl TenantBulkheads {
    fn new(permits: u32, wait: std::time::Duration) -> Self {
        Self { permits: permits.max(1), wait, map: std::sync::Mutex::default() }
    }

    async fn acquire(&self, tenant: TenantId) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
        let semaphore = {
            let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.len() > 10_000 {
                // Forget idle tenants (nobody holds a permit or waits).
                map.retain(|_, s| std::sync::Arc::strong_count(s) > 1);
            }
            map.entry(tenant)
                .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(self.permits as usize)))
                .clone()
        };
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("db_tenant_bulkhead_rejections_total").increment(1);
                Err(ApiError::too_many(
                    "TENANT_CONCURRENCY_LIMIT",
                    "Too many concurrent requests for this tenant; retry shortly",
                    self.permits,
                    std::time::Duration::from_secs(1),
                ))
            }
        }
    }
}

/// Requests waiting for a pooled connection right now (`db_pool_waiting_requests`): sqlx does
/// not expose its queue, so the wait is counted here, around the only place that acquires for
/// tenant work. A guard, so a cancelled wait is uncounted too.
static WAITING: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

pub fn waiting_for_connection() -> i64 {
    WAITING.load(std::sync::atomic::Ordering::Relaxed)
}

struct Waiting;

impl Waiting {
    fn start() -> Self {
        WAITING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A pooled connection for a [`TenantCall`] outside a transaction. Nothing is sent: a
/// cancelled request leaves no server-side state behind (sqlx drains a statement cut off mid-way
/// before the connection's next use), unlike a cancelled `BEGIN` (see [`begin_tx`]).
async fn acquire(pool: &PgPool) -> ApiResult<sqlx::pool::PoolConnection<Postgres>> {
    let waiting = Waiting::start();
    let started = std::time::Instant::now();
    let acquired = pool.acquire().await;
    drop(waiting);
    metrics::histogram!("db_pool_acquire_duration_seconds").record(started.elapsed().as_secs_f64());
    acquired.map_err(|e| pool_error(pool, e))
}

/// sqlx reports both a saturated pool and one that cannot connect as a pool timeout; a pool
/// below its size could not connect: Postgres is unreachable.
fn pool_error(pool: &PgPool, e: sqlx::Error) -> ApiError {
    let unreachable = matches!(e, sqlx::Error::PoolTimedOut) && pool.size() < pool.options().get_max_connections();
    let mut err = ApiError::from(e);
    if unreachable && let Some(fault) = err.db_fault.as_mut() {
        fault.kind = DbFaultKind::PoolUnreachable;
    }
    err
}

async fn begin_tx(pool: &PgPool, statement: String) -> ApiResult<Transaction<'static, Postgres>> {
    let waiting = Waiting::start();
    let started = std::time::Instant::now();
    // BEGIN runs to completion in its own task. If the request were cancelled (client gone,
    // deadline) while BEGIN is in flight, sqlx 0.8 would give the connection back to the pool
    // still inside that transaction: its begin guard queues a ROLLBACK only for a transaction it
    // has already counted. The next user then met "there is already a transaction in
    // progress", or a connection the server had closed for idle-in-transaction (25P03). Run to
    // the end, the transaction is either handed over or dropped, which rolls it back.
    let owned = pool.clone();
    let begun = match tokio::spawn(async move { owned.begin_with(statement).await }).await {
        Ok(begun) => begun,
        Err(join) => return Err(ApiError::internal(anyhow::anyhow!("BEGIN task failed: {join}"))),
    };
    drop(waiting);
    metrics::histogram!("db_pool_acquire_duration_seconds").record(started.elapsed().as_secs_f64());
    begun.map_err(|e| pool_error(pool, e))
}

/// Which Postgres failures trip the breaker and which may be retried.
///
/// | error | breaker | retry |
/// |---|---|---|
/// | I/O, `PoolClosed`, SQLSTATE 08xxx, 57P01/57P03 (server going away) | failure | yes |
/// | `PoolTimedOut` with the pool below its size (it cannot connect) | failure | no |
/// | `PoolTimedOut` with the pool full (our own pool saturated) | ignored | no: retrying saturation amplifies it |
/// | 57014 statement timeout | ignored | no |
/// | 53300 too many connections | failure | no |
///
/// A breaker is shared by every tenant, so it must open for a sick Postgres, not for a greedy
/// tenant: a saturated pool and a slow statement are what one tenant's expensive queries cause
/// (they are bounded by the per-tenant bulkheads and `statement_timeout`), while a Postgres that
/// is down or going away shows as connection errors, which still count.
/// | 40001 / 40P01 serialization failure, deadlock | ignored | yes (whole transaction) |
/// | any failure of COMMIT | as above | no: the outcome is unknown |
/// | constraint violations, not found, domain errors | ignored | no |
#[derive(Clone, Copy, Debug)]
pub struct PgClassifier;

impl Classify<ApiError> for PgClassifier {
    fn classify(&self, err: &ApiError) -> Classification {
        let no = |breaker| Classification { breaker, retry: RetryDecision::No };
        let yes = |breaker| Classification { breaker, retry: RetryDecision::Yes { after: None } };
        let Some(fault) = err.db_fault else { return no(BreakerOutcome::Ignore) };
        let class = match fault.kind {
            DbFaultKind::Connection => yes(BreakerOutcome::Failure),
            DbFaultKind::PoolUnreachable | DbFaultKind::Overloaded => no(BreakerOutcome::Failure),
            DbFaultKind::PoolBusy | DbFaultKind::Cancelled | DbFaultKind::Other => no(BreakerOutcome::Ignore),
            DbFaultKind::Conflict => yes(BreakerOutcome::Ignore),
        };
        if fault.at_commit { Classification { retry: RetryDecision::No, ..class } } else { class }
    }
}

/// Builds the pool. Lazy: the first connection is made by [`wait_until_reachable`].
pub fn build_pool(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let options =
        connect_options(config.url.expose_secret(), "DATABASE_URL", config.pooler)?.application_name("event-service");
    let options = if config.pooler.is_transaction_pooler() {
        options // the timeouts come with every BEGIN instead (`begin_statement`)
    } else {
        options.options(timeouts(config).map(|(name, ms)| (name, ms.to_string())))
    };
    Ok(PgPoolOptions::new()
        .max_connections(config.pool_max)
        .min_connections(config.pool_min)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(Some(config.idle_timeout))
        .max_lifetime(Some(Duration::from_secs(30 * 60)))
        // No ping on acquire: it cost a round trip per transaction. A connection that died
        // while idle (server restart, failover, a killed backend) fails at the BEGIN batch,
        // before any statement ran; sqlx closes it, the failure is a connection fault, and the
        // Postgres stack retries on another connection. `max_lifetime` and `idle_timeout`
        // retire connections before middleboxes forget them. (The idle-in-transaction
        // connections once blamed on the missing ping were the BEGIN leak fixed in
        // `begin_tx`.)
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// Connection options for `url`, adapted to a transaction-mode pooler: no named prepared
/// statements (PgBouncer 1.18 cannot follow them from one server connection to the next; each
/// query is parsed as the unnamed statement of its own transaction instead, which costs one more
/// round trip per query) and no `extra_float_digits` startup parameter, which it would refuse.
pub fn connect_options(url: &str, variable: &str, pooler: Pooler) -> anyhow::Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url).map_err(|e| anyhow::anyhow!("{variable}: {e}"))?;
    Ok(if pooler.is_transaction_pooler() {
        options.statement_cache_capacity(0).extra_float_digits(None)
    } else {
        options
    })
}

/// Start-up connect with retry and capped exponential backoff (1 s, 2 s, 4 s, .. 10 s).
pub async fn wait_until_reachable(pool: &PgPool, attempts: u32) -> anyhow::Result<()> {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=attempts {
        match ping(pool).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt < attempts => {
                tracing::warn!(attempt, attempts, retry_in_ms = delay.as_millis() as u64, error = %e, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(anyhow::anyhow!("database not reachable after {attempts} attempts: {e}")),
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// Why `serve` refuses to start with this database role.
#[derive(Debug, thiserror::Error)]
pub enum UnsafeDatabase {
    #[error(
        "the database role {role:?} is a superuser, which bypasses row-level security; connect DATABASE_URL as the application role"
    )]
    Superuser { role: String },
    #[error("the database role {role:?} has BYPASSRLS (through {via:?}), which bypasses row-level security")]
    BypassRls { role: String, via: String },
    #[error(
        "the database role {role:?} has CREATEROLE (through {via:?}): it could grant itself the owner role and switch row-level security off"
    )]
    CreateRole { role: String, via: String },
    #[error("the database role {role:?} is a member of event_service_system, whose policies see every tenant's rows")]
    SystemMember { role: String },
    #[error(
        "the database role {role:?} owns {object} (directly or through membership); the owner can disable row-level security, so the application must connect as a role that owns nothing"
    )]
    Owner { role: String, object: String },
    #[error("table {table:?} holds tenant data but row-level security is not enabled and forced on it")]
    RlsNotForced { table: String },
    #[error(
        "the schema is not migrated (no `events` table); run `event-service migrate` with DATABASE_ADMIN_URL first"
    )]
    NotMigrated,
    #[error("the schema is at migration {found}, this binary needs {needed}; run `event-service migrate`")]
    SchemaBehind { found: i64, needed: i64 },
    #[error("could not inspect the database role: {0}")]
    Inspect(#[from] sqlx::Error),
}

/// Refuses a role that could see other tenants' rows: superuser, BYPASSRLS (also through
/// role membership), or owner of any table or of the database. Also refuses a schema in which a
/// tenant table lacks forced RLS, or that is older than this binary.
pub async fn check_database_is_safe(pool: &PgPool) -> Result<(), UnsafeDatabase> {
    // In a transaction, like every other statement (see the module comment).
    let mut tx = pool.begin().await?;
    let checked = inspect_role_and_schema(&mut tx).await;
    tx.rollback().await?;
    checked
}

async fn inspect_role_and_schema(conn: &mut PgConnection) -> Result<(), UnsafeDatabase> {
    // Once at start-up: unnamed statements, whatever sits in front of Postgres (see [`Conn`]).
    let mut conn = Conn::unnamed(conn);
    let role: String =
        sqlx::query_scalar!(r#"select current_user::text as "current_user!""#).fetch_one(conn.by_ref()).await?;

    // pg_roles is a view: Postgres reports none of its columns as NOT NULL.
    let privileged: Vec<(String, bool, bool, bool)> = sqlx::query!(
        r#"select r.rolname::text as "rolname!", r.rolsuper as "rolsuper!", r.rolbypassrls as "rolbypassrls!",
                  r.rolcreaterole as "rolcreaterole!" from pg_roles r
         where pg_has_role(current_user, r.oid, 'MEMBER') and (r.rolsuper or r.rolbypassrls or r.rolcreaterole)
         order by r.rolsuper desc, r.rolbypassrls desc, r.rolname"#,
    )
    .fetch_all(conn.by_ref())
    .await?
    .into_iter()
    .map(|r| (r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole))
    .collect();
    match privileged.first() {
        Some((_, true, _, _)) => return Err(UnsafeDatabase::Superuser { role }),
        Some((via, _, true, _)) => return Err(UnsafeDatabase::BypassRls { role, via: via.clone() }),
        _ => {}
    }
    // Reported after ownership below, which is the more specific finding.
    let create_role = privileged.first().map(|(via, ..)| via.clone());

    let owned: Option<String> = sqlx::query_scalar!(
        "select coalesce(
            (select 'table ' || quote_ident(c.relname) from pg_class c
               join pg_namespace n on n.oid = c.relnamespace
              where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
                and c.relkind in ('r', 'p', 'v', 'm', 'f')
                and pg_has_role(current_user, c.relowner, 'MEMBER')
              limit 1),
            (select 'database ' || quote_ident(d.datname) from pg_database d
              where d.datname = current_database() and pg_has_role(current_user, d.datdba, 'MEMBER')))",
    )
    .fetch_one(conn.by_ref())
    .await?;
    if let Some(object) = owned {
        return Err(UnsafeDatabase::Owner { role, object });
    }
    // Membership in the system role would reach its cross-tenant discovery policies directly.
    let system_member: bool = sqlx::query_scalar!(
        r#"select exists (select 1 from pg_roles r where r.rolname = 'event_service_system'
                          and pg_has_role(current_user, r.oid, 'MEMBER')) as "exists!""#,
    )
    .fetch_one(conn.by_ref())
    .await?;
    if system_member {
        return Err(UnsafeDatabase::SystemMember { role });
    }
    if let Some(via) = create_role {
        return Err(UnsafeDatabase::CreateRole { role, via });
    }

    let migrated: bool = sqlx::query_scalar!(r#"select to_regclass('public.events') is not null as "migrated!""#)
        .fetch_one(conn.by_ref())
        .await?;
    if !migrated {
        return Err(UnsafeDatabase::NotMigrated);
    }
    // Our tables only (those of the owner of `events`): in the platform's shared database other
    // services' tables sit beside ours, and their row-level security is theirs to decide.
    let unforced: Option<String> = sqlx::query_scalar!(
        r#"select c.relname::text as "relname!" from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
          where n.nspname = 'public' and c.relkind in ('r', 'p')
            and c.relowner = (select relowner from pg_class where oid = 'public.events'::regclass)
            and not (c.relrowsecurity and c.relforcerowsecurity)
          limit 1"#,
    )
    .fetch_optional(conn.by_ref())
    .await?;
    if let Some(table) = unforced {
        return Err(UnsafeDatabase::RlsNotForced { table });
    }

    let needed = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let found: Option<i64> =
        sqlx::query_scalar!("select max(version) from _sqlx_migrations where success").fetch_one(conn.by_ref()).await?;
    let found = found.unwrap_or(0);
    if found < needed {
        return Err(UnsafeDatabase::SchemaBehind { found, needed });
    }
    Ok(())
}

/// The readiness probe's round trip: `select 1`, no tenant. A simple-protocol query, one
/// message and one round trip, which a transaction-mode pooler runs on any one server
/// connection. The driver's error is returned as is, so the probe can report its code.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("select 1").execute(pool).await.map(|_| ())
}

/// `show server_version`, for the operator's detailed health.
pub async fn server_version(pool: &PgPool) -> Result<String, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // SHOW takes no column alias, so its (never NULL) value arrives as an Option.
    let version = sqlx::query_scalar!("show server_version").fetch_one(Conn::unnamed(&mut tx)).await?;
    tx.rollback().await?;
    Ok(version.unwrap_or_default())
}

/// Whether the database is a Citus coordinator (the extension is installed), which changes how
/// the tenant setting must be made ([`begin_statement`]).
pub async fn citus_installed(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let installed =
        sqlx::query_scalar!(r#"select exists (select 1 from pg_extension where extname = 'citus') as "installed!""#)
            .fetch_one(Conn::unnamed(&mut tx))
            .await?;
    tx.rollback().await?;
    Ok(installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(pooler: Pooler) -> DatabaseConfig {
        DatabaseConfig {
            url: "postgres://app:pw@127.0.0.1:5432/events".to_owned().into(),
            pool_min: 0,
            pool_max: 10,
            acquire_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_millis(4000),
            connect_retries: 1,
            tenant_concurrency: 2,
            pooler,
        }
    }

    #[test]
    fn behind_a_transaction_pooler_every_transaction_sets_its_own_timeouts_and_on_citus_propagates_set_local() {
        let direct = database(Pooler::None);
        assert_eq!(begin_statement(&direct, false), "BEGIN", "directly, the timeouts are the connection's");
        let pooled = database(Pooler::PgBouncer);
        assert_eq!(
            begin_statement(&pooled, false),
            "BEGIN; SET LOCAL statement_timeout = 4000; SET LOCAL lock_timeout = 2000; \
             SET LOCAL idle_in_transaction_session_timeout = 8000"
        );
        assert_eq!(begin_statement(&direct, true), "BEGIN; SET LOCAL citus.propagate_set_commands = 'local'");
    }
}
