//! The service in the platform's shared database (`tickettoken_db`): beside other services'
//! tables, with analytics' views over its own, and every direct reader of its tables
//! (`reference/platform-contracts.md` §7) still answered. The readers connect as the `postgres`
//! superuser, as the platform runs them.

use std::borrow::Cow;

use event_service::domain::TenantId;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::helpers::{PgServer, scheduled_event_body, spawn_app_as};

/// Other services' tables, as far as the readers and views below need them. ticket-service's
/// `reservations` is there too: the name event-service's holds table used to have.
const OTHER_SERVICES: &str = "
    create table venues (
        id uuid primary key, tenant_id uuid, name varchar(200) not null, slug varchar(200) not null,
        city varchar(100), state_province varchar(100), country_code varchar(2), max_capacity integer not null,
        venue_type varchar(50), latitude numeric(10, 8), longitude numeric(11, 8),
        created_at timestamptz default now(), deleted_at timestamptz);
    create table ticket_types (id uuid primary key, tenant_id uuid, event_id uuid, name varchar(100) not null);
    create table tickets (
        id uuid primary key, tenant_id uuid not null, event_id uuid not null, ticket_type_id uuid not null,
        user_id uuid, status varchar(50) not null, face_value numeric(10, 2), price numeric(10, 2),
        ticket_number varchar(50), section varchar(20), row varchar(10), seat varchar(10),
        purchased_at timestamptz, created_at timestamptz default now(), is_transferable boolean default true,
        transfer_count integer default 0, is_nft boolean default false, deleted_at timestamptz);
    create table reservations (
        id uuid primary key, tenant_id uuid not null, user_id uuid, ticket_type_id uuid, quantity integer,
        status varchar(20), expires_at timestamptz);
    alter table tickets enable row level security;";

/// analytics-service's views over event-service's tables, verbatim from its baseline migration
/// (`analytics-service:migrations/001_baseline_analytics_service.ts`).
const ANALYTICS_VIEWS: &str = "
    CREATE OR REPLACE VIEW event_summary AS
    SELECT
      e.id AS event_id, e.name AS event_name, e.slug AS event_slug, e.status AS event_status,
      e.description, e.short_description, e.event_type, e.is_featured, e.visibility,
      v.id AS venue_id, v.name AS venue_name, v.slug AS venue_slug, v.city AS venue_city,
      v.state_province AS venue_state, v.country_code AS venue_country, v.max_capacity AS venue_max_capacity,
      v.venue_type, v.latitude AS venue_latitude, v.longitude AS venue_longitude,
      (SELECT MIN(es.starts_at) FROM event_schedules es WHERE es.event_id = e.id) AS event_start_time,
      (SELECT MAX(es.ends_at) FROM event_schedules es WHERE es.event_id = e.id) AS event_end_time,
      (SELECT COALESCE(SUM(ec.total_capacity), 0) FROM event_capacity ec WHERE ec.event_id = e.id) AS total_event_capacity,
      (SELECT COALESCE(SUM(ec.available_capacity), 0) FROM event_capacity ec WHERE ec.event_id = e.id) AS available_capacity,
      (SELECT COUNT(*) FROM tickets t WHERE t.event_id = e.id AND t.status IN ('active', 'used', 'transferred')) AS total_tickets_sold,
      (SELECT COALESCE(SUM(t.face_value), 0) FROM tickets t WHERE t.event_id = e.id AND t.status IN ('active', 'used', 'transferred')) AS total_revenue,
      (SELECT COALESCE(AVG(t.face_value), 0) FROM tickets t WHERE t.event_id = e.id AND t.status IN ('active', 'used', 'transferred')) AS avg_ticket_price,
      CURRENT_TIMESTAMP AS view_generated_at
    FROM events e
    JOIN venues v ON e.venue_id = v.id
    WHERE e.deleted_at IS NULL AND v.deleted_at IS NULL;
    CREATE OR REPLACE VIEW venue_analytics AS
    SELECT
      v.id AS venue_id, v.name AS venue_name, v.slug AS venue_slug, v.venue_type,
      v.city, v.state_province, v.country_code, v.created_at AS venue_created_at, v.max_capacity,
      (SELECT COUNT(*) FROM events e WHERE e.venue_id = v.id) AS total_events,
      (SELECT COUNT(*) FROM events e WHERE e.venue_id = v.id AND e.status = 'COMPLETED') AS completed_events,
      (SELECT COUNT(*) FROM events e WHERE e.venue_id = v.id AND e.status = 'ON_SALE') AS on_sale_events,
      (SELECT COUNT(*) FROM tickets t JOIN events e ON t.event_id = e.id WHERE e.venue_id = v.id AND t.status IN ('active', 'used', 'transferred')) AS total_tickets_sold,
      (SELECT COALESCE(SUM(t.face_value), 0) FROM tickets t JOIN events e ON t.event_id = e.id WHERE e.venue_id = v.id AND t.status IN ('active', 'used', 'transferred')) AS gross_revenue,
      CURRENT_TIMESTAMP AS last_updated
    FROM venues v WHERE v.deleted_at IS NULL;
    CREATE MATERIALIZED VIEW venue_analytics_mv AS SELECT *, RANK() OVER (ORDER BY gross_revenue DESC) AS revenue_rank FROM venue_analytics;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_in_the_shared_database_and_every_direct_reader_keeps_working() {
    let db = PgServer::start_bare().await;
    let su = PgPoolOptions::new().max_connections(2).connect(&db.superuser_url()).await.unwrap();
    sqlx::raw_sql(OTHER_SERVICES).execute(&su).await.expect("other services' tables");
    db.add_auth_service_tables().await;

    // Our migrations up to the previous release, then analytics' views over our tables (as in
    // the platform, where analytics migrates after event-service), then the rest: a new
    // migration must apply with those views in place.
    let migrator = &event_service::storage::postgres::MIGRATOR;
    let released = sqlx::migrate::Migrator {
        migrations: Cow::Owned(migrator.iter().filter(|m| m.version <= 20261204000001).cloned().collect()),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    let owner = PgPoolOptions::new().max_connections(1).connect(&db.url("event_service_owner", "owner")).await.unwrap();
    released.run(&owner).await.expect("released migrations apply beside other services' tables");
    owner.close().await;
    sqlx::raw_sql(ANALYTICS_VIEWS).execute(&su).await.expect("analytics views over our tables");
    db.migrate().await;

    // The service, as its own role, in that database.
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    sqlx::query("insert into tenants (id, name, slug) values ($1, 'T', $2)")
        .bind(tenant.as_uuid())
        .bind(tenant.to_string())
        .execute(&su)
        .await
        .unwrap();
    let url = db.url("event_service", "app");
    let app = spawn_app_as(tenant, |v| {
        v.insert("DATABASE_URL".into(), url.clone());
        v.insert("AUTH_DATABASE_URL".into(), url);
    })
    .await;
    let event = app.create_event(&app.token("admin"), scheduled_event_body("Shared")).await;
    let (id, venue): (Uuid, Uuid) =
        (event["id"].as_str().unwrap().parse().unwrap(), event["venue_id"].as_str().unwrap().parse().unwrap());
    sqlx::query("insert into venues (id, tenant_id, name, slug, max_capacity) values ($1, $2, 'Hall', 'hall', 5000)")
        .bind(venue)
        .bind(tenant.as_uuid())
        .execute(&su)
        .await
        .unwrap();

    // Each reader's query, with the columns it selects (PC §7), as the postgres superuser.
    let readers: &[(&str, &str)] = &[
        ("analytics", "select id, name, venue_id, start_date, status from events where venue_id = $1"),
        ("ticket-service", "select id, name, venue_id, status, event_type from events where id = $1"),
        ("scanning-service", "select id, name, venue_id, start_date from events where id = $1"),
        ("payment-service", "select id, name, venue_id, start_date from events where id = $1"),
        (
            "marketplace-service",
            "select id, venue_id, venue_percentage, event_pda, name, start_date from events where id = $1",
        ),
        ("order-service", "select id, venue_id from events where id = $1"),
        ("blockchain-service", "select id, name, description, venue_id from events where id = $1"),
        ("notification/search", "select * from events where id = $1"),
        ("integration-service", "select id, name, description from events where id = $1"),
        ("transfer-service", "select id, name from events where id = $1"),
        (
            "analytics views",
            "select event_id, event_name, event_start_time, total_event_capacity, available_capacity from event_summary where event_id = $1",
        ),
        (
            "capacity readers",
            "select event_id, total_capacity, available_capacity from event_capacity where event_id = $1",
        ),
    ];
    for (reader, sql) in readers {
        let key = if sql.contains("venue_id = $1") { venue } else { id };
        let rows = sqlx::query(sql).bind(key).fetch_all(&su).await.unwrap_or_else(|e| panic!("{reader}: {e}"));
        assert_eq!(rows.len(), 1, "{reader} finds the event");
    }
    let start_date: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select start_date from events where id = $1").bind(id).fetch_one(&su).await.unwrap();
    assert_eq!(
        start_date.to_rfc3339(),
        event["starts_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap().to_rfc3339()
    );
    let summary = sqlx::query("select total_event_capacity, event_start_time from event_summary where event_id = $1")
        .bind(id)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(summary.get::<i64, _>("total_event_capacity"), 500);
    // venue-service's canDeleteVenue: schedules joined to events, tenant-scoped.
    let upcoming: i64 = sqlx::query_scalar(
        "select count(*) from event_schedules es join events e on e.id = es.event_id
          where e.venue_id = $1 and e.tenant_id = $2 and e.deleted_at is null and es.deleted_at is null
            and es.starts_at > now()",
    )
    .bind(venue)
    .bind(tenant.as_uuid())
    .fetch_one(&su)
    .await
    .unwrap();
    assert_eq!(upcoming, 1);
    sqlx::raw_sql("refresh materialized view venue_analytics_mv").execute(&su).await.unwrap();
    let total: i64 = sqlx::query_scalar("select total_events from venue_analytics_mv where venue_id = $1")
        .bind(venue)
        .fetch_one(&su)
        .await
        .unwrap();
    assert_eq!(total, 1);

    // start_date follows the schedule; moving it is not an edit of the event's version.
    let version: i32 =
        sqlx::query_scalar("select version from events where id = $1").bind(id).fetch_one(&su).await.unwrap();
    let schedules: Value =
        app.get_as(&format!("/api/v1/events/{id}/schedules"), &app.token("admin")).await.json().await.unwrap();
    let schedule = schedules["data"]["schedules"][0]["id"].as_str().unwrap().to_owned();
    let later = chrono::Utc::now() + chrono::Duration::days(30);
    let body = json!({"starts_at": later, "ends_at": later + chrono::Duration::hours(2)});
    let moved = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/events/{id}/schedules/{schedule}"),
            &app.token("admin"),
            Some(&body),
            None,
        )
        .await;
    assert_eq!(moved.status(), 200);
    let (start_date, after): (chrono::DateTime<chrono::Utc>, i32) =
        sqlx::query_as("select start_date, version from events where id = $1").bind(id).fetch_one(&su).await.unwrap();
    assert_eq!(start_date.timestamp(), later.timestamp());
    assert_eq!(after, version, "a derived column does not bump the optimistic-lock version");
    // ticket-service's reservations table is untouched by ours.
    let theirs: i64 = sqlx::query_scalar("select count(*) from reservations").fetch_one(&su).await.unwrap();
    assert_eq!(theirs, 0);
}
