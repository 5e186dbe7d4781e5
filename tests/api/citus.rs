//! On a Citus coordinator (`scripts/scale-test`, topology `citus`; `deploy/citus/`): the schema
//! is distributed by tenant and a tenant's reads are router plans, run on one worker. These
//! tests need Citus and are ignored elsewhere; the rest of the suite runs on Citus unchanged.

use event_service::storage::events::EVENT_SELECT;
use serde_json::Value;

use crate::helpers::{app_role, spawn_app, superuser, tenant_tx};

#[tokio::test]
#[ignore = "needs a Citus coordinator: scripts/scale-test runs it"]
async fn every_tenant_table_is_distributed_by_tenant_and_co_located_and_the_catalogue_is_a_reference_table() {
    let tables: Vec<(String, String, i32)> = sqlx::query_as(
        "select logicalrelid::regclass::text, partmethod::text, colocationid from pg_dist_partition order by 1",
    )
    .fetch_all(superuser().await)
    .await
    .expect("pg_dist_partition: is this a Citus coordinator?");
    let events_group = tables.iter().find(|(t, ..)| t == "events").expect("events is distributed").2;
    let tenant_tables: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
          where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
            and c.relowner = (select relowner from pg_class where oid = 'public.events'::regclass)",
    )
    .fetch_all(superuser().await)
    .await
    .unwrap();
    assert!(tenant_tables.len() >= 13, "{tenant_tables:?}");
    for table in &tenant_tables {
        let found = tables.iter().find(|(t, ..)| t == table);
        assert!(
            matches!(found, Some((_, method, group)) if method == "h" && *group == events_group),
            "{table} is hash-distributed with events: {found:?}"
        );
    }
    assert!(tables.iter().any(|(t, method, _)| t == "event_categories" && method == "n"), "{tables:?}");
}

#[tokio::test]
#[ignore = "needs a Citus coordinator: scripts/scale-test runs it"]
async fn a_tenants_read_of_an_event_is_a_router_plan_on_one_worker() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let created = app.create_event(&token, crate::helpers::scheduled_event_body("routed")).await;
    let id = created["id"].as_str().unwrap().to_owned();

    // The service's own read (storage::events::find runs EVENT_SELECT with this filter), as the
    // application role in the tenant's transaction.
    let mut tx = tenant_tx(app_role().await, app.tenant).await.unwrap();
    let plan: Vec<(String,)> = sqlx::query_as(&format!(
        "explain {EVENT_SELECT} where e.tenant_id = $1 and e.id = $2 and e.deleted_at is null"
    ))
    .bind(app.tenant.as_uuid())
    .bind(uuid::Uuid::parse_str(&id).unwrap())
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let plan: String = plan.into_iter().map(|(line,)| line).collect::<Vec<_>>().join("\n");
    assert!(plan.contains("Custom Scan (Citus Adaptive)"), "{plan}");
    assert!(plan.contains("Task Count: 1"), "one shard, one task (a router plan):\n{plan}");
    assert_eq!(plan.matches("Node: host=").count(), 1, "{plan}");
    tx.rollback().await.unwrap();

    // And the read through the service finds it.
    let read: Value = app.get_as(&format!("/api/v1/events/{id}"), &token).await.json().await.unwrap();
    assert_eq!(read["event"]["id"], id.as_str());
}
