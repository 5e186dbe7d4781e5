//! Tenant isolation in the database itself, proven through the application role.

use event_service::domain::TenantId;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::helpers::{as_tenant, test_env};

fn insert_event(tenant: TenantId, id: Uuid, name: &str) -> String {
    format!(
        "insert into events (tenant_id, id, venue_id, name, slug) values ('{tenant}', '{id}', '{}', '{name}', '{name}')",
        Uuid::new_v4()
    )
}

async fn app_pool(max: u32) -> sqlx::PgPool {
    PgPoolOptions::new().max_connections(max).connect(&test_env().database_url).await.expect("app role connects")
}

async fn count_all_as_superuser(table: &str, tenants: &[TenantId]) -> i64 {
    let su = PgPoolOptions::new().max_connections(1).connect(&test_env().superuser_url).await.unwrap();
    let ids: Vec<Uuid> = tenants.iter().map(|t| *t.as_uuid()).collect();
    sqlx::query_scalar(&format!("select count(*) from {table} where tenant_id = any($1)"))
        .bind(ids)
        .fetch_one(&su)
        .await
        .unwrap()
}

#[tokio::test]
async fn rls_without_a_tenant_no_row_is_visible_even_though_rows_exist() {
    let pool = app_pool(2).await;
    let (a, b) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    as_tenant(&pool, a, &insert_event(a, Uuid::new_v4(), "a-show")).await.unwrap();
    as_tenant(&pool, b, &insert_event(b, Uuid::new_v4(), "b-show")).await.unwrap();
    assert_eq!(count_all_as_superuser("events", &[a, b]).await, 2, "the rows exist");

    let visible: i64 = sqlx::query_scalar("select count(*) from events").fetch_one(&pool).await.unwrap();
    assert_eq!(visible, 0, "no tenant set: nothing visible");
    let updated = sqlx::query("update events set name = 'x'").execute(&pool).await.unwrap().rows_affected();
    assert_eq!(updated, 0);
}

#[tokio::test]
async fn rls_tenant_a_cannot_read_update_or_insert_tenant_b_rows() {
    let pool = app_pool(2).await;
    let (a, b) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    let b_event = Uuid::new_v4();
    as_tenant(&pool, a, &insert_event(a, Uuid::new_v4(), "a-show")).await.unwrap();
    as_tenant(&pool, b, &insert_event(b, b_event, "b-show")).await.unwrap();

    let mut tx = crate::helpers::tenant_tx(&pool, a).await.unwrap();
    let seen: Vec<Uuid> = sqlx::query_scalar("select tenant_id from events").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(seen, vec![*a.as_uuid()], "only tenant A's row");
    let by_id: Option<Uuid> =
        sqlx::query_scalar("select id from events where id = $1").bind(b_event).fetch_optional(&mut *tx).await.unwrap();
    assert_eq!(by_id, None, "B's id is invisible to A");
    let updated =
        sqlx::query("update events set name = 'stolen' where id = $1").bind(b_event).execute(&mut *tx).await.unwrap();
    assert_eq!(updated.rows_affected(), 0, "B's row cannot be updated");
    tx.commit().await.unwrap();

    let err = as_tenant(&pool, a, &insert_event(b, Uuid::new_v4(), "smuggled")).await.unwrap_err();
    let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("42501"), "insert for another tenant violates the policy: {err}");
    assert_eq!(count_all_as_superuser("events", &[b]).await, 1, "nothing was added to B");
}

#[tokio::test]
async fn rls_the_tenant_setting_does_not_outlive_its_transaction_on_a_pooled_connection() {
    // One connection, so the second transaction surely reuses the first one's session.
    let pool = app_pool(1).await;
    let a = TenantId::from_uuid(Uuid::new_v4());
    as_tenant(&pool, a, &insert_event(a, Uuid::new_v4(), "a-show")).await.unwrap();
    let visible: i64 = sqlx::query_scalar("select count(*) from events").fetch_one(&pool).await.unwrap();
    assert_eq!(visible, 0);
}

/// `GET /events/:id` reads through `tenant_event` as one statement outside a transaction
/// (`Db::read_call`): the function sets the tenant itself, and the setting must end with the
/// statement's implicit transaction like a `SET LOCAL` with its `COMMIT`.
#[tokio::test]
async fn rls_the_one_statement_event_read_sees_only_its_tenant_and_leaves_no_setting_behind() {
    // One connection, so every statement below runs in the same session.
    let pool = app_pool(1).await;
    let (a, b) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    let (a_event, b_event) = (Uuid::new_v4(), Uuid::new_v4());
    as_tenant(&pool, a, &insert_event(a, a_event, "a-show")).await.unwrap();
    as_tenant(&pool, b, &insert_event(b, b_event, "b-show")).await.unwrap();

    // On Citus the service runs the same call inside its tenant transaction (`Db::read_call`): a
    // `set_config` does not reach the workers, the transaction's `SET LOCAL` does.
    let citus: bool = sqlx::query_scalar("select exists (select 1 from pg_extension where extname = 'citus')")
        .fetch_one(&pool)
        .await
        .unwrap();
    let read = |tenant: TenantId, id: Uuid| {
        let pool = pool.clone();
        async move {
            let call =
                sqlx::query_scalar::<_, Uuid>("select id from tenant_event($1, $2)").bind(tenant.as_uuid()).bind(id);
            if citus {
                let mut tx = crate::helpers::tenant_tx(&pool, tenant).await.unwrap();
                let found = call.fetch_optional(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
                found
            } else {
                call.fetch_optional(&pool).await.unwrap()
            }
        }
    };
    assert_eq!(read(a, a_event).await, Some(a_event), "A reads its own event");
    let setting: Option<String> =
        sqlx::query_scalar("select current_setting('app.current_tenant_id', true)").fetch_one(&pool).await.unwrap();
    assert!(setting.unwrap_or_default().is_empty(), "the tenant setting ended with the statement");
    let visible: i64 = sqlx::query_scalar("select count(*) from events").fetch_one(&pool).await.unwrap();
    assert_eq!(visible, 0, "the next statement on the connection sees no tenant row");
    assert_eq!(read(a, b_event).await, None, "B's id is invisible to A");
    assert_eq!(read(b, b_event).await, Some(b_event));

    // It runs as its caller, so row-level security applies; and only the service may call it.
    let su = PgPoolOptions::new().max_connections(1).connect(&test_env().superuser_url).await.unwrap();
    let (definer, public): (bool, bool) = sqlx::query_as(
        "select p.prosecdef, has_function_privilege('public', p.oid, 'execute')
           from pg_proc p where p.proname = 'tenant_event'",
    )
    .fetch_one(&su)
    .await
    .unwrap();
    assert!(!definer, "security invoker");
    assert!(!public, "not executable by every role");
}

#[tokio::test]
async fn rls_every_tenant_table_has_forced_row_level_security() {
    let pool = app_pool(1).await;
    let unprotected: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
          where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
            and not (c.relrowsecurity and c.relforcerowsecurity)",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(unprotected.is_empty(), "tables without forced RLS: {unprotected:?}");
    let protected: i64 = sqlx::query_scalar(
        "select count(*) from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
          where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(protected >= 9, "all tenant tables are covered ({protected})");
}

#[tokio::test]
async fn rls_the_application_role_cannot_switch_security_off_or_become_another_role() {
    let pool = app_pool(1).await;
    for sql in [
        "alter table events disable row level security",
        "alter table events no force row level security",
        "drop policy events_tenant_isolation on events",
        "set role event_service_system",
        "set role event_service_owner",
        "truncate events",
    ] {
        let err = sqlx::query(sql).execute(&pool).await.expect_err(sql);
        let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn rls_the_system_context_only_discovers_ids_across_tenants() {
    let pool = app_pool(2).await;
    let (a, b) = (TenantId::from_uuid(Uuid::new_v4()), TenantId::from_uuid(Uuid::new_v4()));
    let mut holds = Vec::new();
    for t in [a, b] {
        let (event, section, hold) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        holds.push(hold);
        // One INSERT ... VALUES per row, in one transaction (the stripes' check runs at commit):
        // Citus refuses chained INSERT ... SELECT under row-level security.
        let mut tx = crate::helpers::tenant_tx(&pool, t).await.unwrap();
        for sql in [
            insert_event(t, event, "show"),
            format!(
                "insert into event_capacity (tenant_id, id, event_id, section_name, total_capacity, available_capacity, reserved_capacity)
                 values ('{t}', '{section}', '{event}', 'GA', 10, 9, 1)"
            ),
            format!(
                "insert into section_stripes (tenant_id, capacity_id, stripe, total, available, reserved)
                 values ('{t}', '{section}', 0, 10, 9, 1)"
            ),
            format!(
                "insert into event_reservations (tenant_id, id, event_id, capacity_id, quantity, expires_at)
                 values ('{t}', '{hold}', '{event}', '{section}', 1, now() - interval '1 minute')"
            ),
        ] {
            sqlx::query(&sql).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let found: Vec<(Uuid, Uuid)> =
        sqlx::query_as("select tenant_id, reservation_id from system_expired_reservations(10000)")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (t, hold) in [a, b].iter().zip(&holds) {
        assert!(found.contains(&(*t.as_uuid(), *hold)), "expired hold of {t} discovered");
    }
    // Discovery grants nothing else: the rows themselves stay invisible without the tenant.
    let visible: i64 = sqlx::query_scalar("select count(*) from event_reservations").fetch_one(&pool).await.unwrap();
    assert_eq!(visible, 0);
}
