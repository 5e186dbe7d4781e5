//! Every change announced on RabbitMQ through the transactional outbox (docs/events.md), against
//! a real broker: a queue bound to `#` on both exchanges, as the platform's catch-all consumers
//! bind (`reference/platform-contracts.md` §4.4).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use event_service::domain::TenantId;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Listener, RabbitServer, Received, eventually, scheduled_event_body, spawn_app_as, spawn_app_with, tenant_tx,
    test_env,
};

/// The messages about `ids` (search.sync carries no tenant; tickettoken_events does).
fn about<'a>(all: &'a [Received], ids: &HashSet<String>) -> Vec<&'a Received> {
    all.iter()
        .filter(|m| {
            let id = m.body.get("eventId").or_else(|| m.body.get("id")).or_else(|| m.body["data"].get("eventId"));
            id.and_then(Value::as_str).is_some_and(|id| ids.contains(id))
        })
        .collect()
}

/// Bursts of writes by one user would meet the per-user write budget (30/min).
fn no_rate_limit(v: &mut HashMap<String, String>) {
    v.insert("ENABLE_RATE_LIMITING".into(), "false".into());
}

fn keys(messages: &[&Received], exchange: &str) -> Vec<String> {
    messages.iter().filter(|m| m.exchange == exchange).map(|m| m.routing_key.clone()).collect()
}

/// The outbox rows of the tenant: `(id, event_id, status)` in `seq` order.
async fn outbox_rows(tenant: TenantId) -> Vec<(Uuid, Uuid, String)> {
    let mut tx = tenant_tx(crate::helpers::app_role().await, tenant).await.unwrap();
    sqlx::query_as("select id, event_id, status from event_outbox order by seq").fetch_all(&mut *tx).await.unwrap()
}

async fn drained(tenant: TenantId, limit: Duration) -> bool {
    eventually(limit, || async { outbox_rows(tenant).await.iter().all(|(_, _, s)| s == "published") }).await
}

#[tokio::test]
async fn every_change_is_announced_once_with_the_documented_key_envelope_and_message_id() {
    let app = spawn_app_with(|_| {}).await;
    let mut listener = Listener::bind(&test_env().rabbitmq_url, None).await;
    let admin = app.token("admin");
    let id = app.create_event(&admin, scheduled_event_body("Announced")).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/events/{id}");
    let patch = json!({"name": "Announced again", "tags": ["jazz"]});
    assert_eq!(app.send(Method::PATCH, &path, &admin, Some(&patch), None).await.status(), 200);
    assert_eq!(app.send(Method::POST, &format!("{path}/publish"), &admin, None, None).await.status(), 200);
    assert_eq!(
        app.post_json(&format!("{path}/cancel"), &admin, &json!({"reason": "Flooded hall"})).await.status(),
        200
    );
    let gone = app.create_event(&admin, scheduled_event_body("Gone")).await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.send(Method::DELETE, &format!("/api/v1/events/{gone}"), &admin, None, None).await.status(), 204);

    let ids: HashSet<String> = [id.clone(), gone.clone()].into();
    let all = listener.collect(Duration::from_secs(20), |all| about(all, &ids).len() >= 15).await;
    let mine = about(&all, &ids);
    let first: Vec<&Received> = mine.iter().copied().filter(|m| m.body.to_string().contains(&id)).collect();
    assert_eq!(
        keys(&first, "tickettoken_events"),
        ["event.created", "event.updated", "event.published", "event.cancelled"],
        "one message per change, in order"
    );
    assert_eq!(
        keys(&first, "search.sync"),
        ["event.created", "event.updated", "event.status.changed", "event.updated", "event.status.changed"]
    );
    let second: Vec<&Received> = mine.iter().copied().filter(|m| m.body.to_string().contains(&gone)).collect();
    assert_eq!(keys(&second, "tickettoken_events"), ["event.created", "event.deleted"]);
    assert_eq!(keys(&second, "search.sync"), ["event.created", "event.status.changed", "event.deleted"]);

    // Properties: persistent JSON, a message id per message (the outbox row), never repeated.
    let ids_seen: HashSet<&str> = mine.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids_seen.len(), mine.len(), "each message once");
    let rows: HashSet<String> = outbox_rows(app.tenant).await.iter().map(|(id, _, _)| id.to_string()).collect();
    assert_eq!(ids_seen.iter().map(|s| (*s).to_owned()).collect::<HashSet<_>>(), rows, "message_id = outbox row id");
    assert!(mine.iter().all(|m| m.persistent && m.content_type == "application/json" && m.app_id == "event-service"));

    let by_key = |exchange: &str, key: &str| {
        first.iter().find(|m| m.exchange == exchange && m.routing_key == key).map(|m| m.body.clone()).unwrap()
    };
    // tickettoken_events: payload, metadata, _meta (PC §4.1).
    let created = by_key("tickettoken_events", "event.created");
    assert_eq!(created["eventId"], id.as_str());
    assert_eq!(created["name"], "Announced");
    assert!(created["organizerId"].is_string(), "filled from the creator, not a missing column");
    assert!(created["startDate"].is_string() && created["endDate"].is_string() && created["venueId"].is_string());
    assert_eq!(created["metadata"]["tenantId"], app.tenant.to_string());
    assert_eq!(created["metadata"]["source"], "event-service");
    assert_eq!(created["_meta"]["routingKey"], "event.created");
    assert!(created["_meta"]["publishedAt"].is_string());
    let updated = by_key("tickettoken_events", "event.updated");
    assert_eq!(updated["changes"], json!({"name": "Announced again", "tags": ["jazz"]}), "only what was sent");
    let published = by_key("tickettoken_events", "event.published");
    assert!(published["startDate"].is_string(), "real now: the original read a missing column");
    // notification-service's event.cancelled shape.
    let cancelled = by_key("tickettoken_events", "event.cancelled");
    assert_eq!(cancelled["data"]["eventId"], id.as_str());
    assert_eq!(cancelled["data"]["eventName"], "Announced again");
    assert_eq!(cancelled["data"]["reason"], "Flooded hall");
    assert_eq!(cancelled["data"]["refundAvailable"], true);
    assert_eq!(cancelled["data"]["affectedTickets"], json!([]));
    assert!(cancelled["venueId"].is_string());
    // search.sync: payload plus timestamp and routingKey.
    let search = by_key("search.sync", "event.created");
    assert_eq!((search["id"].as_str(), search["capacity"].as_i64()), (Some(id.as_str()), Some(500)));
    assert_eq!(search["routingKey"], "event.created");
    assert!(search["timestamp"].is_string() && search.get("metadata").is_none());
    let changed = first.iter().find(|m| m.routing_key == "event.status.changed").unwrap();
    assert_eq!(changed.body["previousStatus"], "DRAFT");
    assert_eq!(changed.body["newStatus"], "PUBLISHED");
    assert_eq!(changed.body["tenantId"], app.tenant.to_string());
}

#[tokio::test]
async fn per_event_order_holds_under_concurrent_changes_to_one_event() {
    let app = spawn_app_with(no_rate_limit).await;
    let mut listener = Listener::bind(&test_env().rabbitmq_url, None).await;
    let admin = app.token("admin");
    let id = app.create_event(&admin, scheduled_event_body("Busy")).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/events/{id}");
    let changes = (0..24).map(|i| {
        let (app, admin, path) = (&app, &admin, &path);
        async move {
            let body = json!({"name": format!("Busy {i}")});
            app.send(Method::PATCH, path, admin, Some(&body), None).await.status().as_u16()
        }
    });
    let statuses = futures::future::join_all(changes).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(drained(app.tenant, Duration::from_secs(20)).await);

    let ids: HashSet<String> = [id.clone()].into();
    let all = listener.collect(Duration::from_secs(10), |all| about(all, &ids).len() >= 50).await;
    let received: Vec<String> = about(&all, &ids).iter().map(|m| m.message_id.clone()).collect();
    let committed: Vec<String> = outbox_rows(app.tenant).await.iter().map(|(id, _, _)| id.to_string()).collect();
    assert_eq!(received, committed, "published in exactly the order the changes committed");
    // And the order is the order of the changes: each update's name follows the previous one's.
    let names: Vec<String> = about(&all, &ids)
        .iter()
        .filter(|m| m.exchange == "tickettoken_events" && m.routing_key == "event.updated")
        .map(|m| m.body["changes"]["name"].as_str().unwrap().to_owned())
        .collect();
    let event: Value = app.get_as(&path, &admin).await.json().await.unwrap();
    assert_eq!(names.len(), 24);
    assert_eq!(names.last().unwrap(), event["event"]["name"].as_str().unwrap(), "the last message is the last write");
}

#[tokio::test]
async fn nothing_is_published_before_its_transaction_commits_or_for_one_that_rolled_back() {
    let app = spawn_app_with(|_| {}).await;
    let mut listener = Listener::bind(&test_env().rabbitmq_url, None).await;
    let id =
        app.create_event(&app.token("admin"), scheduled_event_body("Held")).await["id"].as_str().unwrap().to_owned();
    assert!(drained(app.tenant, Duration::from_secs(20)).await);
    let insert = |marker: &'static str| {
        let id = id.clone();
        format!(
            "insert into event_outbox (tenant_id, event_id, exchange, routing_key, payload)
             values (current_setting('app.current_tenant_id')::uuid, '{id}', 'search.sync', 'event.updated',
                     '{{\"id\": \"{id}\", \"marker\": \"{marker}\"}}')"
        )
    };
    let marked = |all: &[Received], marker: &str| all.iter().any(|m| m.body["marker"] == marker);

    // A change that is still open: its message exists only inside its transaction.
    let mut open = tenant_tx(crate::helpers::app_role().await, app.tenant).await.unwrap();
    sqlx::query(&insert("open")).execute(&mut *open).await.unwrap();
    let early = listener.collect(Duration::from_millis(1500), |all| marked(all, "open")).await;
    assert!(!marked(&early, "open"), "published before its transaction committed");
    open.commit().await.unwrap();
    let late = listener.collect(Duration::from_secs(10), |all| marked(all, "open")).await;
    assert!(marked(&late, "open"), "published once committed");

    // A change that rolls back leaves no message at all.
    let mut doomed = tenant_tx(crate::helpers::app_role().await, app.tenant).await.unwrap();
    sqlx::query(&insert("rolled-back")).execute(&mut *doomed).await.unwrap();
    doomed.rollback().await.unwrap();
    let after = listener.collect(Duration::from_secs(2), |all| marked(all, "rolled-back")).await;
    assert!(!marked(&after, "rolled-back"));
}

#[tokio::test]
async fn two_relays_on_one_outbox_publish_every_message_exactly_once() {
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let a = spawn_app_as(tenant, no_rate_limit).await;
    let b = spawn_app_as(tenant, no_rate_limit).await;
    let mut listener = Listener::bind(&test_env().rabbitmq_url, None).await;
    let admin = a.token("admin");
    let mut ids = HashSet::new();
    for i in 0..30 {
        let app = if i % 2 == 0 { &a } else { &b };
        ids.insert(
            app.create_event(&admin, scheduled_event_body(&format!("Twin {i}"))).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(drained(tenant, Duration::from_secs(30)).await);
    let all = listener.collect(Duration::from_secs(10), |all| about(all, &ids).len() >= 60).await;
    let mine = about(&all, &ids);
    let rows = outbox_rows(tenant).await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for m in &mine {
        *counts.entry(m.message_id.as_str()).or_default() += 1;
    }
    assert_eq!(rows.len(), 60);
    for (row, _, status) in &rows {
        assert_eq!(status, "published");
        assert_eq!(counts.get(row.to_string().as_str()), Some(&1), "message {row} published exactly once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_stopped_during_a_burst_of_500_changes_loses_nothing_and_the_service_keeps_serving() {
    let mut broker = RabbitServer::start();
    let url = broker.url();
    let app = spawn_app_with(|v| {
        v.insert("RABBITMQ_URL".into(), url.clone());
        v.insert("RESILIENCE_RABBITMQ_ATTEMPT_TIMEOUT_MS".into(), "2000".into());
        v.insert("RESILIENCE_RABBITMQ_DEADLINE_MS".into(), "2000".into());
        no_rate_limit(v);
    })
    .await;
    // A durable queue, as a platform consumer has: it holds what is published while the test
    // is not reading, across the broker restart.
    let queue = format!("burst-{}", Uuid::new_v4());
    drop(Listener::bind(&url, Some(&queue)).await);
    let admin = app.token("admin");

    // 100 events at one venue, each created and renamed four times: 500 changes, 1000 messages.
    let venue = Uuid::new_v4();
    let mut ids = Vec::new();
    for i in 0..100 {
        if i == 30 {
            broker.stop();
        }
        let mut body = scheduled_event_body(&format!("Burst {i}"));
        body["venue_id"] = json!(venue);
        ids.push(app.create_event(&admin, body).await["id"].as_str().unwrap().to_owned());
    }
    for round in 0..4 {
        for id in &ids {
            let body = json!({"name": format!("Burst {id} r{round}")});
            let r = app.send(Method::PATCH, &format!("/api/v1/events/{id}"), &admin, Some(&body), None).await;
            assert_eq!(r.status(), 200, "the service keeps serving while the broker is down");
        }
    }
    let pending = outbox_rows(app.tenant).await.iter().filter(|(_, _, s)| s == "pending").count();
    assert!(pending > 500, "messages accumulate while the broker is down: {pending} pending");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("event_outbox_depth"), "depth is reported");

    broker.start_again();
    assert!(drained(app.tenant, Duration::from_secs(120)).await, "everything drains once the broker is back");
    let rows = outbox_rows(app.tenant).await;
    assert_eq!(rows.len(), 1000);

    let mut listener = Listener::bind(&url, Some(&queue)).await;
    let wanted: HashSet<String> = rows.iter().map(|(id, _, _)| id.to_string()).collect();
    let all = listener
        .collect(Duration::from_secs(60), |all| {
            all.iter().map(|m| m.message_id.as_str()).collect::<HashSet<_>>().len() >= wanted.len()
        })
        .await;
    let got: HashSet<String> = all.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(got, wanted, "every message is there (deduplicated by message_id), none missing, none extra");
    // Per event, the queue holds its messages in commit order (duplicates aside).
    let position: HashMap<String, usize> = rows.iter().enumerate().map(|(i, (id, _, _))| (id.to_string(), i)).collect();
    let mut last_seen: HashMap<String, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for m in &all {
        if !seen.insert(m.message_id.clone()) {
            continue;
        }
        let event = m.body.get("eventId").or_else(|| m.body.get("id")).and_then(Value::as_str).unwrap().to_owned();
        let at = position[&m.message_id];
        if let Some(before) = last_seen.insert(event.clone(), at) {
            assert!(before < at, "event {event}: message {} arrived out of order", m.message_id);
        }
    }
}
