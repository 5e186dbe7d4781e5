//! Read-only access to auth-service's tables: the platform's source of truth for tenant status
//! and revoked tokens (`reference/platform-contracts.md` §3.1-3.2). auth-service offers no API
//! for either, so we read its tables, and nothing else of it:
//!
//! * `tenants (id, status)`: no row-level security there; we read one row by id.
//! * `invalidated_tokens (token = jti, tenant_id, ...)`: auth-service forces RLS with a policy on
//!   `app.current_tenant_id`, so the lookup runs in a transaction scoped to the token's tenant,
//!   exactly like our own tenant transactions.
//!
//! `AUTH_DATABASE_URL` names the database (by default `DATABASE_URL`: in the platform every
//! service shares `tickettoken_db`). The pool is separate and small, and calls go through their
//! own resilience stack (`auth_db`), so an exhausted or failing auth source never touches the
//! pool or the breaker that serves events. The role needs `SELECT` on those two tables only.

use resilience::{BreakerHandle, Dependency, DependencyConfig, Idempotency};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::Pooler;
use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::storage::postgres::{self, PgClassifier};

#[derive(Clone)]
pub struct PlatformDb {
    pool: PgPool,
    stack: Dependency<ApiError>,
    begin: std::sync::Arc<str>,
    named: bool,
}

/// What a misconfigured auth source looks like at start-up.
#[derive(Debug, thiserror::Error)]
pub enum PlatformSchemaProblem {
    #[error(
        "the auth database (AUTH_DATABASE_URL, default DATABASE_URL) has no readable table {0:?}; grant SELECT on auth-service's tenants and invalidated_tokens to this service's role"
    )]
    MissingTable(&'static str),
}

impl PlatformDb {
    /// Behind a transaction-mode pooler every read runs in a transaction of its own with
    /// `SET LOCAL statement_timeout` (see `storage::postgres`); the timeout is otherwise the
    /// connection's.
    pub fn new(url: &SecretString, pooler: Pooler, stack: DependencyConfig) -> anyhow::Result<Self> {
        let statement_ms = stack.attempt_timeout.as_millis().max(100);
        let options = postgres::connect_options(url.expose_secret(), "AUTH_DATABASE_URL", pooler)?
            .application_name("event-service-auth-reader");
        let (options, begin) = if pooler.is_transaction_pooler() {
            (options, format!("BEGIN; SET LOCAL statement_timeout = {statement_ms}"))
        } else {
            (options.options([("statement_timeout", statement_ms.to_string())]), "BEGIN".to_owned())
        };
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(stack.attempt_timeout)
            .idle_timeout(Some(std::time::Duration::from_secs(60)))
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            stack: Dependency::new(stack, PgClassifier),
            begin: begin.into(),
            named: !pooler.is_transaction_pooler(),
        })
    }

    pub fn breaker(&self) -> BreakerHandle {
        self.stack.breaker()
    }

    /// Start-up check: both tables readable. A connection failure is not a schema problem
    /// (the service starts and serves known tenants); a missing table or grant is.
    pub async fn check_schema(&self) -> Result<(), PlatformSchemaProblem> {
        let Ok(mut tx) = self.pool.begin_with(self.begin.to_string()).await else { return Ok(()) };
        let tenants = sqlx::query!("select 1 as probe from tenants limit 0")
            .fetch_optional(postgres::Conn::unnamed(&mut tx))
            .await;
        schema_problem("tenants", tenants)?;
        // A failed statement aborts the transaction; the second probe needs a fresh one.
        drop(tx);
        let Ok(mut tx) = self.pool.begin_with(self.begin.to_string()).await else { return Ok(()) };
        let tokens = sqlx::query!("select 1 as probe from invalidated_tokens limit 0")
            .fetch_optional(postgres::Conn::unnamed(&mut tx))
            .await;
        schema_problem("invalidated_tokens", tokens)
    }

    /// The tenant's `status`, or `None` when auth-service has no such tenant.
    pub async fn tenant_status(&self, tenant: TenantId) -> ApiResult<Option<String>> {
        let (pool, begin, named) = (&self.pool, &*self.begin, self.named);
        let id = *tenant.as_uuid();
        self.stack
            .call("tenant_status", Idempotency::Safe, || async move {
                let mut tx = pool.begin_with(begin.to_owned()).await?;
                let status: Option<Option<String>> =
                    sqlx::query_scalar!("select status::text from tenants where id = $1", id)
                        .fetch_optional(postgres::Conn::new(&mut tx, named))
                        .await?;
                tx.rollback().await?;
                // A row with a NULL status: auth-service's default is 'active', but a NULL
                // means someone wrote it by hand; treat it as not active.
                Ok(status.map(|s| s.unwrap_or_default()))
            })
            .await
            .map_err(ApiError::from)
    }

    /// Whether auth-service recorded `jti` as invalidated (logout) for this tenant.
    pub async fn is_revoked(&self, tenant: TenantId, jti: &str) -> ApiResult<bool> {
        let (pool, begin, named) = (&self.pool, &*self.begin, self.named);
        self.stack
            .call("token_revoked", Idempotency::Safe, || async move {
                // `tenant` is a UUID: nothing to inject. SET LOCAL, not `set_config`, so the
                // setting also reaches a Citus worker (`storage::postgres::begin_statement`).
                let mut tx = pool.begin_with(format!("{begin}; SET LOCAL app.current_tenant_id = '{tenant}'")).await?;
                let revoked: bool = sqlx::query_scalar!(
                    r#"select exists (select 1 from invalidated_tokens where token = $1 and tenant_id = $2) as "exists!""#,
                    jti,
                    *tenant.as_uuid(),
                )
                .fetch_one(postgres::Conn::new(&mut tx, named))
                .await?;
                tx.rollback().await?;
                Ok(revoked)
            })
            .await
            .map_err(ApiError::from)
    }
}

/// A missing table (42P01) or grant (42501) is a schema problem; any other outcome is not.
fn schema_problem<T>(table: &'static str, probe: Result<T, sqlx::Error>) -> Result<(), PlatformSchemaProblem> {
    match probe {
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P01" | "42501")) => {
            Err(PlatformSchemaProblem::MissingTable(table))
        }
        _ => Ok(()),
    }
}
