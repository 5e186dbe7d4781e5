//! `event-service migrate`: applies the embedded migrations as the owner role and grants the
//! application role membership in `event_service_app`, which holds exactly the table
//! privileges the service needs.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::PgPoolOptions;

use crate::config::{MigrateConfig, url_username};
use crate::storage::postgres::{MIGRATOR, wait_until_reachable};

pub async fn run(config: &MigrateConfig) -> anyhow::Result<()> {
    let admin = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy(config.admin_url.expose_secret())
        .map_err(|e| anyhow::anyhow!("DATABASE_ADMIN_URL: {e}"))?;
    wait_until_reachable(&admin, 10).await?;

    // pg_roles is a view: Postgres reports none of its columns as NOT NULL.
    let row = sqlx::query!(
        r#"select current_user::text as "current_user!", rolsuper as "rolsuper!" from pg_roles where rolname = current_user"#
    )
    .fetch_one(&admin)
    .await?;
    let (admin_role, is_super) = (row.current_user, row.rolsuper);
    if is_super {
        tracing::warn!(role = %admin_role, "migrating as a superuser: the tables will be owned by it; prefer a dedicated owner role");
    }

    MIGRATOR.run(&admin).await?;
    // `serve` compares the applied version with the one it was built with.
    sqlx::query!("grant select on _sqlx_migrations to event_service_app").execute(&admin).await?;

    if let Some(app_url) = &config.app_url {
        let app_role = url_username(app_url).ok_or_else(|| anyhow::anyhow!("DATABASE_URL has no user name"))?;
        anyhow::ensure!(
            app_role != admin_role,
            "DATABASE_URL and DATABASE_ADMIN_URL use the same role {app_role:?}; the application role must not own the schema"
        );
        let exists: bool =
            sqlx::query_scalar!(r#"select exists (select 1 from pg_roles where rolname = $1) as "exists!""#, &app_role)
                .fetch_one(&admin)
                .await?;
        anyhow::ensure!(
            exists,
            "the application role {app_role:?} of DATABASE_URL does not exist; create it (LOGIN NOSUPERUSER NOBYPASSRLS) first"
        );
        // GRANT takes no bind parameters; `format(%I)` quotes the identifier.
        let grant: String =
            sqlx::query_scalar!(r#"select format('grant event_service_app to %I', $1::text) as "format!""#, &app_role)
                .fetch_one(&admin)
                .await?;
        // The one statement built at run time: its text is the GRANT just formatted.
        sqlx::query(&grant).execute(&admin).await?;
        tracing::info!(role = %app_role, "application role granted event_service_app");
    }

    let version = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    tracing::info!(version, "migrations applied");
    admin.close().await;
    Ok(())
}
