//! Through PgBouncer in transaction mode (`DATABASE_POOLER=pgbouncer`, `deploy/pgbouncer/`):
//! the service keeps no state on a server connection between its transactions, so two tenants'
//! requests interleaved on one server connection never see each other's rows or setting.
//! `scripts/scale-test` runs the rest of the suite through a PgBouncer as well.

use std::collections::HashSet;

use event_service::config::Pooler;
use event_service::storage::postgres;
use serde_json::Value;
use sqlx::Connection;

use crate::helpers::{PgBouncer, scheduled_event_body, spawn_app_with, token_for};

/// A client of PgBouncer, connected the way the service connects behind it.
async fn connect(url: &str) -> sqlx::PgConnection {
    let options = postgres::connect_options(url, "probe", Pooler::PgBouncer).unwrap();
    sqlx::PgConnection::connect_with(&options).await.expect("a client of PgBouncer")
}

/// What a client of the same PgBouncer finds on the server connection: (backend pid, the tenant
/// setting, the events it can see). A simple-protocol query, so PgBouncer may run it on any
/// server connection between two of the app's transactions.
async fn probe(url: &str) -> (i32, Option<String>, i64) {
    let mut conn = connect(url).await;
    let rows = sqlx::raw_sql(
        "select pg_backend_pid(), current_setting('app.current_tenant_id', true), (select count(*) from events)",
    )
    .fetch_all(&mut conn)
    .await
    .expect("probe");
    let row = &rows[0];
    use sqlx::Row;
    let found = (row.get::<i32, _>(0), row.get::<Option<String>, _>(1), row.get::<i64, _>(2));
    conn.close().await.ok();
    found
}

#[tokio::test]
async fn through_pgbouncer_two_tenants_on_one_server_connection_never_see_each_others_rows_or_setting() {
    // One server connection: every transaction of the app, for either tenant, and every probe
    // run on it, one after the other.
    let bouncer = PgBouncer::start(1);
    let url = bouncer.url.clone();
    let app = spawn_app_with(|v| {
        v.insert("DATABASE_URL".into(), url.clone());
        v.insert("AUTH_DATABASE_URL".into(), url.clone());
        v.insert("DATABASE_POOLER".into(), "pgbouncer".into());
        v.insert("DB_POOL_MAX".into(), "8".into());
        v.insert("ENABLE_RATE_LIMITING".into(), "false".into());
    })
    .await;
    let a = app.token("admin");
    let b_tenant = app.other_tenant().await;
    let b = token_for(b_tenant, "admin");
    let venues = [(app.tenant, app.venue_of(app.tenant)), (b_tenant, app.venue_of(b_tenant))];
    let body = |tenant, name: &str| {
        let mut body = scheduled_event_body(name);
        let venue = venues.iter().find(|(t, _)| *t == tenant).unwrap().1;
        body["venue_id"] = serde_json::json!(venue);
        body
    };
    let mine = app.create_event(&a, body(app.tenant, "A through PgBouncer")).await;
    let theirs = app.create_event(&b, body(b_tenant, "B through PgBouncer")).await;
    let (a_id, b_id) = (mine["id"].as_str().unwrap().to_owned(), theirs["id"].as_str().unwrap().to_owned());

    // Both tenants at once, crossing over: each creates events, reads its own (200) and the
    // other's (404) and lists, while probes take the server connection in between.
    let mut requests = Vec::new();
    for i in 0..30 {
        for (tenant, token, own, other) in [(app.tenant, &a, &a_id, &b_id), (b_tenant, &b, &b_id, &a_id)] {
            let (app, body) = (&app, body(tenant, &format!("show {i}")));
            requests.push(async move {
                let created = app.create_event(token, body).await;
                let own_status = app.get_as(&format!("/api/v1/events/{own}"), token).await.status();
                let other_status = app.get_as(&format!("/api/v1/events/{other}"), token).await.status();
                (token.clone(), created["id"].as_str().unwrap().to_owned(), own_status.as_u16(), other_status.as_u16())
            });
        }
    }
    let probes = async {
        let mut seen = Vec::new();
        for _ in 0..20 {
            seen.push(probe(&url).await);
        }
        seen
    };
    let (answers, probes) = tokio::join!(futures::future::join_all(requests), probes);
    let mut created: std::collections::HashMap<String, HashSet<String>> = Default::default();
    created.entry(a.clone()).or_default().insert(a_id.clone());
    created.entry(b.clone()).or_default().insert(b_id.clone());
    for (token, id, own, other) in answers {
        assert_eq!(own, 200, "a tenant reads its own event");
        assert_eq!(other, 404, "never the other tenant's");
        created.entry(token).or_default().insert(id);
    }
    for (token, mine) in &created {
        let list: Value = app.get_as("/api/v1/events?limit=100", token).await.json().await.unwrap();
        let listed: HashSet<String> =
            list["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(&listed, mine, "a tenant lists exactly its own events");
    }
    let pids: HashSet<i32> = probes.iter().map(|(pid, ..)| *pid).collect();
    assert_eq!(pids.len(), 1, "one server connection served every probe (and so every transaction)");
    for (_, setting, events) in &probes {
        assert!(setting.as_deref().unwrap_or("").is_empty(), "a tenant setting outlived its transaction: {setting:?}");
        assert_eq!(*events, 0, "without a tenant setting no event row is visible");
    }

    // The server connection holds no prepared statement of the app's either (sqlx would name
    // them `sqlx_s_N`; the next client numbering its own the same way would fail).
    let mut conn = connect(&url).await;
    use sqlx::Row;
    let left = sqlx::raw_sql("select count(*) from pg_prepared_statements").fetch_all(&mut conn).await.unwrap();
    assert_eq!(left[0].get::<i64, _>(0), 0, "no named statement left on the server connection");
}
