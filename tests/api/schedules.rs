//! `/api/v1/events/:id/schedules`: happy paths, validation, optimistic locking, idempotency,
//! the creator/admin rule, event state and tenant isolation.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    TestApp, as_tenant, event_body, field_codes, json_of, problem, scheduled_event_body, spawn_app, token_for,
    token_with,
};

fn schedule_body(days_ahead: i64) -> Value {
    let start = Utc::now() + Duration::days(days_ahead);
    json!({ "starts_at": start, "ends_at": start + Duration::hours(2) })
}

async fn create_schedule(app: &TestApp, token: &str, event_id: &str, body: &Value) -> Value {
    let path = format!("/api/v1/events/{event_id}/schedules");
    json_of(app.send(Method::POST, &path, token, Some(body), None).await, 201).await["data"].clone()
}

async fn pool() -> sqlx::PgPool {
    sqlx::PgPool::connect(&crate::helpers::test_env().database_url).await.unwrap()
}

#[tokio::test]
async fn schedules_can_be_created_listed_read_and_updated() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, scheduled_event_body("Tour")).await;
    let event_id = event["id"].as_str().unwrap();
    let base = format!("/api/v1/events/{event_id}/schedules");

    let mut body = schedule_body(20);
    body["doors_open_at"] = json!(Utc::now() + Duration::days(20) - Duration::hours(1));
    body["notes"] = json!("second night");
    body["metadata"] = json!({"stage": "B"});
    body["capacity_override"] = json!(300);
    body["is_recurring"] = json!(false);
    body["recurrence_end_date"] = json!("2027-01-31");
    body["check_in_opens_at"] = json!(Utc::now() + Duration::days(19));
    body["check_in_closes_at"] = json!(Utc::now() + Duration::days(20));
    let created = app.send(Method::POST, &base, &creator, Some(&body), None).await;
    let created = json_of(created, 201).await;
    assert_eq!(created["success"], true);
    let second = &created["data"];
    assert_eq!(second["event_id"], event_id);
    assert_eq!(second["tenant_id"], app.tenant.to_string());
    assert_eq!(second["status"], "SCHEDULED");
    assert_eq!(second["timezone"], "America/New_York", "defaults to the event's time zone");
    assert_eq!(second["version"], 1);
    assert_eq!(second["capacity_override"], 300);
    assert_eq!(second["metadata"]["stage"], "B");
    assert_eq!(second["recurrence_end_date"], "2027-01-31");
    let second_id = second["id"].as_str().unwrap();

    let mut third = schedule_body(30);
    third["timezone"] = json!("Europe/Berlin");
    third["status"] = json!("CONFIRMED");
    let third = create_schedule(&app, &creator, event_id, &third).await;
    assert_eq!((third["timezone"].as_str(), third["status"].as_str()), (Some("Europe/Berlin"), Some("CONFIRMED")));

    let list = json_of(app.get_as(&base, &creator).await, 200).await;
    assert_eq!(list["success"], true);
    assert_eq!(list["data"]["event_id"], event_id);
    let ids: Vec<&str> =
        list["data"]["schedules"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "the event's own schedule plus two");
    assert_eq!(ids[0], event["schedule"]["id"].as_str().unwrap(), "ordered by starts_at");
    assert_eq!(ids[1..], [second_id, third["id"].as_str().unwrap()]);

    let upcoming = json_of(app.get_as(&format!("{base}/upcoming"), &creator).await, 200).await;
    assert_eq!(upcoming["data"].as_array().unwrap().len(), 3);
    let next = json_of(app.get_as(&format!("{base}/next"), &creator).await, 200).await;
    assert_eq!(next["data"]["id"], ids[0]);

    let one = json_of(app.get_as(&format!("{base}/{second_id}"), &app.token("user")).await, 200).await;
    assert_eq!((one["success"].as_bool(), one["data"]["id"].as_str()), (Some(true), Some(second_id)));

    let updated = app
        .send(
            Method::PUT,
            &format!("{base}/{second_id}"),
            &creator,
            Some(&json!({"notes": "moved", "status": "POSTPONED", "status_reason": "weather", "version": 1})),
            None,
        )
        .await;
    let updated = json_of(updated, 200).await;
    assert_eq!(updated["data"]["notes"], "moved");
    assert_eq!(updated["data"]["status"], "POSTPONED");
    assert_eq!(updated["data"]["version"], 2);
    assert_eq!(updated["data"]["capacity_override"], 300, "absent fields keep their value");

    let stale = app
        .send(Method::PUT, &format!("{base}/{second_id}"), &creator, Some(&json!({"notes": "x", "version": 1})), None)
        .await;
    let (status, p) = problem(stale).await;
    assert_eq!((status, p["code"].as_str()), (409, Some("VERSION_CONFLICT")));

    let missing = app.get_as(&format!("{base}/{}", Uuid::new_v4()), &creator).await;
    assert_eq!(problem(missing).await.0, 404);
    let missing = app
        .send(Method::PUT, &format!("{base}/{}", Uuid::new_v4()), &creator, Some(&json!({"notes": "x"})), None)
        .await;
    assert_eq!(problem(missing).await.0, 404);
    assert_eq!(problem(app.get_as(&format!("{base}/not-a-uuid"), &creator).await).await.0, 404);
}

#[tokio::test]
async fn a_schedule_write_refreshes_the_cached_event() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, scheduled_event_body("Cached")).await;
    let event_id = event["id"].as_str().unwrap();
    let event_path = format!("/api/v1/events/{event_id}");
    // Read once so the event is cached.
    let before = json_of(app.get_as(&event_path, &creator).await, 200).await;
    let first_id = before["event"]["schedule"]["id"].as_str().unwrap().to_owned();

    let earlier = Utc::now() + Duration::days(5);
    let body = json!({"starts_at": earlier, "ends_at": earlier + Duration::hours(1), "doors_open_at": earlier});
    let path = format!("/api/v1/events/{event_id}/schedules/{first_id}");
    let updated = json_of(app.send(Method::PUT, &path, &creator, Some(&body), None).await, 200).await;
    let after = json_of(app.get_as(&event_path, &creator).await, 200).await;
    assert_eq!(after["event"]["schedule"]["starts_at"], updated["data"]["starts_at"]);
    assert_eq!(after["event"]["schedule"]["version"], 2);

    // A new earlier schedule becomes the event's first one.
    let earliest = create_schedule(&app, &creator, event_id, &schedule_body(3)).await;
    let after = json_of(app.get_as(&event_path, &creator).await, 200).await;
    assert_eq!(after["event"]["schedule"]["id"], earliest["id"]);
}

#[tokio::test]
async fn upcoming_and_next_skip_past_and_called_off_schedules() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Sparse")).await;
    let event_id = event["id"].as_str().unwrap();
    let base = format!("/api/v1/events/{event_id}/schedules");

    let empty = json_of(app.get_as(&base, &creator).await, 200).await;
    assert_eq!(empty["data"]["schedules"], json!([]));
    let (status, p) = problem(app.get_as(&format!("{base}/next"), &creator).await).await;
    assert_eq!((status, p["code"].as_str()), (404, Some("NOT_FOUND")));

    create_schedule(&app, &creator, event_id, &schedule_body(-2)).await;
    let mut cancelled = schedule_body(4);
    cancelled["status"] = json!("CANCELLED");
    create_schedule(&app, &creator, event_id, &cancelled).await;
    let mut in_progress = schedule_body(5);
    in_progress["status"] = json!("IN_PROGRESS");
    create_schedule(&app, &creator, event_id, &in_progress).await;
    let upcoming = json_of(app.get_as(&format!("{base}/upcoming"), &creator).await, 200).await;
    assert_eq!(upcoming["data"], json!([]));
    assert_eq!(problem(app.get_as(&format!("{base}/next"), &creator).await).await.0, 404);

    let mut confirmed = schedule_body(9);
    confirmed["status"] = json!("CONFIRMED");
    let later = create_schedule(&app, &creator, event_id, &confirmed).await;
    let sooner = create_schedule(&app, &creator, event_id, &schedule_body(6)).await;
    let upcoming = json_of(app.get_as(&format!("{base}/upcoming"), &creator).await, 200).await;
    let ids: Vec<&Value> = upcoming["data"].as_array().unwrap().iter().map(|s| &s["id"]).collect();
    assert_eq!(ids, [&sooner["id"], &later["id"]]);
    let next = json_of(app.get_as(&format!("{base}/next"), &creator).await, 200).await;
    assert_eq!(next["data"]["id"], sooner["id"]);
}

#[tokio::test]
async fn each_schedule_rule_is_reported_with_its_field() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Rules")).await;
    let base = format!("/api/v1/events/{}/schedules", event["id"].as_str().unwrap());
    let start = Utc::now() + Duration::days(7);
    let end = start + Duration::hours(2);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({"ends_at": end}), 422, "starts_at", "REQUIRED_FIELD"),
        (json!({"starts_at": start}), 422, "ends_at", "REQUIRED_FIELD"),
        (json!({"starts_at": start, "ends_at": start}), 422, "ends_at", "INVALID_DATE_ORDER"),
        (
            json!({"starts_at": start, "ends_at": end, "doors_open_at": start + Duration::minutes(1)}),
            422,
            "doors_open_at",
            "INVALID_DATE_ORDER",
        ),
        (
            json!({"starts_at": start, "ends_at": end, "check_in_opens_at": start, "check_in_closes_at": start - Duration::hours(1)}),
            422,
            "check_in_closes_at",
            "INVALID_DATE_ORDER",
        ),
        (json!({"starts_at": start, "ends_at": end, "timezone": "Mars/Olympus"}), 422, "timezone", "INVALID_TIMEZONE"),
        (
            json!({"starts_at": start, "ends_at": end, "capacity_override": 0}),
            422,
            "capacity_override",
            "VALUE_TOO_SMALL",
        ),
        (
            json!({"starts_at": start, "ends_at": end, "occurrence_number": 0}),
            422,
            "occurrence_number",
            "VALUE_TOO_SMALL",
        ),
        (json!({"starts_at": start, "ends_at": end, "status": "scheduled"}), 400, "status", "INVALID_ENUM_VALUE"),
        (json!({"startsAt": start, "ends_at": end}), 400, "startsAt", "UNKNOWN_FIELD"),
        (json!({"starts_at": "tomorrow", "ends_at": end}), 400, "starts_at", "INVALID_VALUE"),
    ];
    for (body, expected, field, code) in cases {
        let (status, p) = problem(app.send(Method::POST, &base, &creator, Some(&body), None).await).await;
        assert_eq!(status, expected, "{field}/{code}: {p}");
        assert!(field_codes(&p).contains(&(field.to_owned(), code.to_owned())), "{field}/{code}: {p}");
    }
    let listed = json_of(app.get_as(&base, &creator).await, 200).await;
    assert_eq!(listed["data"]["schedules"], json!([]), "nothing was written");

    // An update is checked against the stored row: an end before the stored start.
    let schedule =
        create_schedule(&app, &creator, event["id"].as_str().unwrap(), &json!({"starts_at": start, "ends_at": end}))
            .await;
    let path = format!("{base}/{}", schedule["id"].as_str().unwrap());
    let body = json!({"ends_at": start - Duration::hours(1)});
    let (status, p) = problem(app.send(Method::PUT, &path, &creator, Some(&body), None).await).await;
    assert_eq!((status, field_codes(&p)), (422, vec![("ends_at".to_owned(), "INVALID_DATE_ORDER".to_owned())]));
    let body = json!({"doors_open_at": start + Duration::minutes(5)});
    let (status, p) = problem(app.send(Method::PUT, &path, &creator, Some(&body), None).await).await;
    assert_eq!((status, field_codes(&p)), (422, vec![("doors_open_at".to_owned(), "INVALID_DATE_ORDER".to_owned())]));
}

#[tokio::test]
async fn creating_a_schedule_is_idempotent() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Once")).await;
    let base = format!("/api/v1/events/{}/schedules", event["id"].as_str().unwrap());
    let body = schedule_body(8);
    let first = app.send(Method::POST, &base, &creator, Some(&body), Some("sched-1")).await;
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first = json_of(first, 201).await;
    let replay = app.send(Method::POST, &base, &creator, Some(&body), Some("sched-1")).await;
    assert_eq!(replay.headers()["idempotency-replayed"], "true");
    let replay = json_of(replay, 201).await;
    assert_eq!(replay, first);
    let other = app.send(Method::POST, &base, &creator, Some(&schedule_body(9)), Some("sched-1")).await;
    assert_eq!(problem(other).await.1["code"], "IDEMPOTENCY_KEY_MISMATCH");
    let listed = json_of(app.get_as(&base, &creator).await, 200).await;
    assert_eq!(listed["data"]["schedules"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn only_the_creator_or_an_admin_may_write_and_any_user_may_read() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Owned")).await;
    let event_id = event["id"].as_str().unwrap();
    let base = format!("/api/v1/events/{event_id}/schedules");
    let schedule = create_schedule(&app, &creator, event_id, &schedule_body(8)).await;
    let path = format!("{base}/{}", schedule["id"].as_str().unwrap());

    let stranger = app.token("user");
    let (status, _) = problem(app.send(Method::POST, &base, &stranger, Some(&schedule_body(9)), None).await).await;
    assert_eq!(status, 403);
    let (status, _) =
        problem(app.send(Method::PUT, &path, &stranger, Some(&json!({"notes": "mine"})), None).await).await;
    assert_eq!(status, 403);
    let reader = token_with(app.tenant, "user", "reader", &[]);
    let (status, _) = problem(app.send(Method::POST, &base, &reader, Some(&schedule_body(9)), None).await).await;
    assert_eq!(status, 403, "events:update is required");
    for path in [base.clone(), format!("{base}/upcoming"), format!("{base}/next"), path.clone()] {
        assert_eq!(app.get_as(&path, &reader).await.status(), 200, "{path}");
    }
    let admin = app.token("admin");
    let r = app.send(Method::PUT, &path, &admin, Some(&json!({"notes": "by admin"})), None).await;
    assert_eq!(json_of(r, 200).await["data"]["notes"], "by admin");
    assert_eq!(app.send(Method::POST, &base, &admin, Some(&schedule_body(9)), None).await.status(), 201);
}

#[tokio::test]
async fn finished_or_deleted_events_refuse_schedule_writes() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Done")).await;
    let event_id = event["id"].as_str().unwrap();
    let base = format!("/api/v1/events/{event_id}/schedules");
    let schedule = create_schedule(&app, &creator, event_id, &schedule_body(8)).await;
    let path = format!("{base}/{}", schedule["id"].as_str().unwrap());

    let pool = pool().await;
    for status in ["COMPLETED", "CANCELLED"] {
        as_tenant(&pool, app.tenant, &format!("update events set status = '{status}' where id = '{event_id}'"))
            .await
            .unwrap();
        let (code, p) = problem(app.send(Method::POST, &base, &creator, Some(&schedule_body(9)), None).await).await;
        assert_eq!((code, p["code"].as_str()), (409, Some("INVALID_EVENT_STATE")), "{status}");
        let (code, p) = problem(app.send(Method::PUT, &path, &creator, Some(&json!({"notes": "x"})), None).await).await;
        assert_eq!((code, p["code"].as_str()), (409, Some("INVALID_EVENT_STATE")), "{status}");
        assert_eq!(app.get_as(&base, &creator).await.status(), 200, "reads still work");
    }

    let other = app.create_event(&creator, event_body("Gone")).await;
    let other_base = format!("/api/v1/events/{}/schedules", other["id"].as_str().unwrap());
    assert_eq!(
        app.send(Method::DELETE, &format!("/api/v1/events/{}", other["id"].as_str().unwrap()), &creator, None, None)
            .await
            .status(),
        204
    );
    assert_eq!(problem(app.get_as(&other_base, &creator).await).await.0, 404);
    assert_eq!(
        problem(app.send(Method::POST, &other_base, &creator, Some(&schedule_body(9)), None).await).await.0,
        404
    );
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_schedule_route() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, scheduled_event_body("Private")).await;
    let event_id = event["id"].as_str().unwrap();
    let base = format!("/api/v1/events/{event_id}/schedules");
    let path = format!("{base}/{}", event["schedule"]["id"].as_str().unwrap());

    let intruder = token_for(app.other_tenant().await, "admin");
    for path in [base.clone(), format!("{base}/upcoming"), format!("{base}/next"), path.clone()] {
        let (status, _) = problem(app.get_as(&path, &intruder).await).await;
        assert_eq!(status, 404, "GET {path}");
    }
    let (status, _) = problem(app.send(Method::POST, &base, &intruder, Some(&schedule_body(9)), Some("k")).await).await;
    assert_eq!(status, 404);
    let (status, _) = problem(app.send(Method::PUT, &path, &intruder, Some(&json!({"notes": "x"})), None).await).await;
    assert_eq!(status, 404);
    let listed = json_of(app.get_as(&base, &creator).await, 200).await;
    assert_eq!(listed["data"]["schedules"].as_array().unwrap().len(), 1);
    assert!(listed["data"]["schedules"][0]["notes"].is_null());
}
