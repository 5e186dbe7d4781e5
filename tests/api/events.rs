use event_service::domain::TenantId;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{event_body, field_codes, problem, scheduled_event_body, spawn_app, spawn_app_with, token_with};

#[tokio::test]
async fn create_event_returns_201_with_schedule_capacity_and_history() {
    let app = spawn_app().await;
    let token = app.token("user");
    let event = app.create_event(&token, scheduled_event_body("Summer Jam")).await;
    assert_eq!(event["status"], "DRAFT");
    assert_eq!(event["name"], "Summer Jam");
    assert_eq!(event["tenant_id"], app.tenant.to_string());
    assert_eq!(event["timezone"], "America/New_York", "defaults to the venue's time zone");
    assert!(event["slug"].as_str().unwrap().starts_with("summer-jam-"));
    assert_eq!(event["capacity"], 500);
    assert_eq!(event["available_capacity"], 500);
    assert_eq!(event["capacity_info"]["total_capacity"], 500);
    assert!(event["schedule"]["starts_at"].is_string());
    assert_eq!(event["event_date"], event["schedule"]["starts_at"]);
    assert_eq!(event["version"], 1);
    assert_eq!(event["blockchain_status"], "not_required");

    let id = event["id"].as_str().unwrap();
    let fetched: Value = app.get_as(&format!("/api/v1/events/{id}"), &token).await.json().await.unwrap();
    assert_eq!(fetched["event"]["id"], id);
}

#[tokio::test]
async fn each_validation_rule_is_reported_with_its_field() {
    let app = spawn_app().await;
    let token = app.token("user");
    let start = chrono::Utc::now() + chrono::Duration::days(3);
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"venue_id": Uuid::new_v4()}), "name", "REQUIRED_FIELD"),
        (json!({"name": "x".repeat(301), "venue_id": Uuid::new_v4()}), "name", "STRING_TOO_LONG"),
        (
            json!({"name": "A", "venue_id": Uuid::new_v4(), "description": "d".repeat(10_001)}),
            "description",
            "STRING_TOO_LONG",
        ),
        (json!({"name": "A", "venue_id": Uuid::new_v4(), "starts_at": start}), "ends_at", "REQUIRED_FIELD"),
        (
            json!({"name": "A", "venue_id": Uuid::new_v4(), "starts_at": start, "ends_at": start - chrono::Duration::hours(1)}),
            "ends_at",
            "INVALID_DATE_ORDER",
        ),
        (
            json!({"name": "A", "venue_id": Uuid::new_v4(), "starts_at": start, "ends_at": start + chrono::Duration::hours(1), "doors_open": start + chrono::Duration::minutes(5)}),
            "doors_open",
            "INVALID_DATE_ORDER",
        ),
        (
            json!({"name": "A", "venue_id": Uuid::new_v4(), "starts_at": chrono::Utc::now() + chrono::Duration::minutes(30), "ends_at": start}),
            "starts_at",
            "TOO_SOON",
        ),
        (
            json!({"name": "A", "venue_id": Uuid::new_v4(), "starts_at": chrono::Utc::now() + chrono::Duration::days(400), "ends_at": chrono::Utc::now() + chrono::Duration::days(401)}),
            "starts_at",
            "TOO_FAR_AHEAD",
        ),
        (
            json!({"name": "A", "venue_id": Uuid::new_v4(), "artist_percentage": 60, "venue_percentage": 50}),
            "venue_percentage",
            "INVALID_ROYALTY_SPLIT",
        ),
        (
            json!({"name": "A", "venue_id": Uuid::new_v4(), "artist_percentage": 120}),
            "artist_percentage",
            "INVALID_RANGE",
        ),
        (json!({"name": "A", "venue_id": Uuid::new_v4(), "is_virtual": true}), "virtual_event_url", "REQUIRED_FIELD"),
        (json!({"name": "A", "venue_id": Uuid::new_v4(), "capacity": 0}), "capacity", "VALUE_TOO_SMALL"),
        (json!({"name": "A", "venue_id": Uuid::new_v4(), "capacity": 2_000_000}), "capacity", "VALUE_TOO_LARGE"),
        (json!({"name": "A", "venue_id": Uuid::new_v4(), "timezone": "Nowhere/Town"}), "timezone", "INVALID_TIMEZONE"),
        (json!({"name": "A", "venue_id": Uuid::new_v4(), "tags": vec!["t"; 21]}), "tags", "TOO_MANY_ITEMS"),
        (json!({"name": "A", "venue_id": Uuid::new_v4(), "status": "PUBLISHED"}), "status", "INVALID_ENUM_VALUE"),
        (
            json!({"name": "A", "venue_id": Uuid::new_v4(), "banner_image_url": "ftp://x"}),
            "banner_image_url",
            "INVALID_FORMAT",
        ),
    ];
    for (body, field, code) in cases {
        let (status, problem) = problem(app.post_json("/api/v1/events", &token, &body).await).await;
        assert!(status == 422 || status == 400, "{field}: {status}");
        assert!(field_codes(&problem).contains(&(field.to_owned(), code.to_owned())), "{field}/{code}: {problem}");
    }
}

#[tokio::test]
async fn unknown_fields_malformed_json_wrong_type_and_oversized_bodies_are_clean_4xx() {
    let app = spawn_app_with(|vars| {
        vars.insert("BODY_LIMIT".into(), "2048".into());
    })
    .await;
    let token = app.token("user");
    let mut body = event_body("A");
    body["startDate"] = json!("2026-12-01");
    let (status, p) = problem(app.post_json("/api/v1/events", &token, &body).await).await;
    assert_eq!(status, 400);
    assert_eq!(field_codes(&p), [("startDate".to_owned(), "UNKNOWN_FIELD".to_owned())]);
    assert_eq!(p["type"], "https://api.tickettoken.com/errors/validation-error");

    let malformed = app
        .client
        .post(app.url("/api/v1/events"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(malformed).await.1["code"], "MALFORMED_JSON");

    let text = app.client.post(app.url("/api/v1/events")).bearer_auth(&token).body("name=x").send().await.unwrap();
    assert_eq!(problem(text).await.0, 415);

    let mut big = event_body("A");
    big["description"] = json!("x".repeat(4000));
    let (status, _) = problem(app.post_json("/api/v1/events", &token, &big).await).await;
    assert_eq!(status, 413);

    let bad_type = app.post_json("/api/v1/events", &token, &json!({"name": 5, "venue_id": Uuid::new_v4()})).await;
    assert_eq!(field_codes(&problem(bad_type).await.1), [("name".to_owned(), "INVALID_TYPE".to_owned())]);
    let count: i64 = app.get_as("/api/v1/events", &token).await.json::<Value>().await.unwrap()["pagination"]["total"]
        .as_i64()
        .unwrap();
    assert_eq!(count, 0, "nothing was written by any failed request");
}

#[tokio::test]
async fn authentication_and_permissions_are_enforced() {
    let app = spawn_app().await;
    assert_eq!(problem(app.get("/api/v1/events").await).await.0, 401);
    let garbage = app.get_as("/api/v1/events", "not.a.token").await;
    assert_eq!(problem(garbage).await.0, 401);
    let reader = token_with(app.tenant, "user", "reader", &[]);
    assert_eq!(app.get_as("/api/v1/events", &reader).await.status(), 200);
    let (status, p) = problem(app.post_json("/api/v1/events", &reader, &event_body("A")).await).await;
    assert_eq!((status, p["code"].as_str()), (403, Some("FORBIDDEN")));
}

#[tokio::test]
async fn royalty_and_wallet_fields_are_shown_only_to_admins() {
    let app = spawn_app().await;
    let admin = app.token("admin");
    let mut body = scheduled_event_body("Royalty Night");
    body["artist_wallet"] = json!("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
    body["artist_percentage"] = json!(10);
    body["venue_percentage"] = json!(5.5);
    body["streaming_config"] = json!({"platform_id": "p", "stream_key": "secret-key"});
    let event = app.create_event(&admin, body).await;
    assert_eq!(event["artist_wallet"], "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
    assert_eq!(event["blockchain_status"], "pending", "schedule + wallet: queued for registration");
    let id = event["id"].as_str().unwrap();
    let as_user: Value = app.get_as(&format!("/api/v1/events/{id}"), &app.token("user")).await.json().await.unwrap();
    for hidden in ["artist_wallet", "artist_percentage", "venue_percentage"] {
        assert!(as_user["event"].get(hidden).is_none(), "{hidden} leaked: {as_user}");
    }
    assert!(as_user["event"]["streaming_config"].get("stream_key").is_none());
    let listed: Value = app.get_as("/api/v1/events", &app.token("user")).await.json().await.unwrap();
    assert!(listed["events"][0].get("artist_wallet").is_none());
}

#[tokio::test]
async fn list_applies_every_declared_filter_sort_and_page() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let venue = Uuid::new_v4();
    let music = "6b3ad5c6-0000-0000-0000-000000000000";
    let _ = music;
    let a = app
        .create_event(
            &token,
            json!({"name": "Alpha Rock", "venue_id": venue, "is_featured": true, "priority_score": 5}),
        )
        .await;
    let b = app
        .create_event(
            &token,
            json!({"name": "Beta 100% Jazz", "venue_id": venue, "visibility": "PRIVATE", "priority_score": 9}),
        )
        .await;
    let c =
        app.create_event(&token, json!({"name": "Gamma Rock", "venue_id": Uuid::new_v4(), "priority_score": 1})).await;
    let publish = app
        .send(Method::POST, &format!("/api/v1/events/{}/publish", c["id"].as_str().unwrap()), &token, None, None)
        .await;
    assert_eq!(publish.status(), 200);

    let ids = |v: Value| -> Vec<String> {
        v["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
    };
    let get = |q: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            let r = app.get_as(&format!("/api/v1/events?{q}"), &token).await;
            assert_eq!(r.status(), 200, "{q}");
            r.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(ids(get("status=PUBLISHED").await), [c["id"].as_str().unwrap()]);
    assert_eq!(ids(get("visibility=PRIVATE").await), [b["id"].as_str().unwrap()]);
    assert_eq!(ids(get("is_featured=true").await), [a["id"].as_str().unwrap()]);
    assert_eq!(
        ids(get("search=rock&sort_by=name&sort_order=asc").await),
        [a["id"].as_str().unwrap(), c["id"].as_str().unwrap()]
    );
    assert_eq!(ids(get("search=100%25").await), [b["id"].as_str().unwrap()], "% is literal");
    assert_eq!(ids(get("search=_").await), Vec::<String>::new(), "_ is literal");
    let by_venue = ids(app.get_as(&format!("/api/v1/events?venue_id={venue}"), &token).await.json().await.unwrap());
    assert_eq!(by_venue.len(), 2);
    let paged = get("sort_by=priority&sort_order=desc&limit=1&offset=1").await;
    assert_eq!(ids(paged.clone()), [a["id"].as_str().unwrap()]);
    assert_eq!(paged["pagination"], json!({"limit": 1, "offset": 1, "total": 3}));

    let (status, p) = problem(app.get_as("/api/v1/events?limit=500", &token).await).await;
    assert_eq!((status, field_codes(&p)[0].0.as_str()), (400, "limit"));
    let (status, p) = problem(app.get_as("/api/v1/events?categoryId=x", &token).await).await;
    assert_eq!((status, field_codes(&p)[0].1.as_str()), (400, "UNKNOWN_FIELD"));

    let venue_events: Value =
        app.get_as(&format!("/api/v1/venues/{venue}/events?limit=1"), &token).await.json().await.unwrap();
    assert_eq!(venue_events["events"].as_array().unwrap().len(), 1);
    assert_eq!(venue_events["pagination"]["total"], 2);
}

#[tokio::test]
async fn updates_use_optimistic_locking_and_only_the_creator_or_an_admin_may_update() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Lockable")).await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());

    let updated = app.send(Method::PUT, &path, &creator, Some(&json!({"name": "Renamed", "version": 1})), None).await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["event"]["name"], "Renamed");
    assert_eq!(updated["event"]["version"], 2);

    let stale = app.send(Method::PATCH, &path, &creator, Some(&json!({"name": "Stale", "version": 1})), None).await;
    let (status, p) = problem(stale).await;
    assert_eq!((status, p["code"].as_str()), (409, Some("VERSION_CONFLICT")));

    let stranger = app.token("user");
    let (status, _) =
        problem(app.send(Method::PATCH, &path, &stranger, Some(&json!({"name": "Mine"})), None).await).await;
    assert_eq!(status, 403);
    let admin = app
        .send(Method::PATCH, &path, &app.token("admin"), Some(&json!({"short_description": "by admin"})), None)
        .await;
    assert_eq!(admin.status(), 200);

    let (status, p) =
        problem(app.send(Method::PATCH, &path, &creator, Some(&json!({"artist_wallet": "x"})), None).await).await;
    assert_eq!((status, field_codes(&p)[0].1.as_str()), (422, "IMMUTABLE_FIELD"));
}

#[tokio::test]
async fn the_state_machine_governs_publish_status_changes_and_delete() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let event = app.create_event(&token, event_body("Lifecycle")).await;
    let id = event["id"].as_str().unwrap();
    let path = format!("/api/v1/events/{id}");

    // DRAFT -> REVIEW -> DRAFT (reject) via PUT status; DRAFT -> IN_PROGRESS is refused.
    for (target, expected) in [("REVIEW", 200), ("APPROVED", 200), ("IN_PROGRESS", 409), ("DRAFT", 409)] {
        let r = app.send(Method::PATCH, &path, &token, Some(&json!({ "status": target })), None).await;
        assert_eq!(r.status(), expected, "-> {target}");
    }
    let published = app.send(Method::POST, &format!("{path}/publish"), &token, None, None).await;
    assert_eq!(published.status(), 200);
    assert_eq!(published.json::<Value>().await.unwrap()["event"]["status"], "PUBLISHED");
    let again = app.send(Method::POST, &format!("{path}/publish"), &token, None, None).await;
    assert_eq!(problem(again).await.1["code"], "INVALID_EVENT_STATE");

    let (status, _) = problem(app.send(Method::DELETE, &path, &token, None, None).await).await;
    assert_eq!(status, 409, "a published event cannot be deleted");

    let history: Vec<(Option<String>, String)> = {
        let pool = sqlx::PgPool::connect(&crate::helpers::test_env().database_url).await.unwrap();
        let mut tx = crate::helpers::tenant_tx(&pool, app.tenant).await.unwrap();
        sqlx::query_as("select previous_status, new_status from event_status_history where event_id = $1::uuid order by changed_at, new_status")
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .unwrap()
    };
    let history: Vec<String> = history.into_iter().map(|(_, to)| to).collect();
    assert_eq!(history, ["DRAFT", "REVIEW", "APPROVED", "PUBLISHED"]);

    let draft = app.create_event(&token, event_body("Deletable")).await;
    let draft_path = format!("/api/v1/events/{}", draft["id"].as_str().unwrap());
    let deleted = app.send(Method::DELETE, &draft_path, &token, None, None).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(problem(app.get_as(&draft_path, &token).await).await.0, 404);
}

#[tokio::test]
async fn idempotent_creation_replays_refuses_mismatch_and_needs_a_valid_key() {
    let app = spawn_app().await;
    let token = app.token("user");
    let body = event_body("Once");
    let first = app.send(Method::POST, "/api/v1/events", &token, Some(&body), Some("key-1")).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    let replay = app.send(Method::POST, "/api/v1/events", &token, Some(&body), Some("key-1")).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotency-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap()["event"]["id"], first["event"]["id"]);

    let other = app.send(Method::POST, "/api/v1/events", &token, Some(&event_body("Other")), Some("key-1")).await;
    let (status, p) = problem(other).await;
    assert_eq!((status, p["code"].as_str()), (422, Some("IDEMPOTENCY_KEY_MISMATCH")));

    let bad = app.send(Method::POST, "/api/v1/events", &token, Some(&body), Some("bad key!")).await;
    assert_eq!(problem(bad).await.1["code"], "INVALID_IDEMPOTENCY_KEY");

    // A failed request stores nothing: the same key may be used again once it succeeds.
    let invalid = json!({"name": "", "venue_id": Uuid::new_v4()});
    assert_eq!(app.send(Method::POST, "/api/v1/events", &token, Some(&invalid), Some("key-2")).await.status(), 422);
    assert_eq!(
        app.send(Method::POST, "/api/v1/events", &token, Some(&event_body("Fixed")), Some("key-2")).await.status(),
        201
    );

    let total =
        app.get_as("/api/v1/events", &token).await.json::<Value>().await.unwrap()["pagination"]["total"].clone();
    assert_eq!(total, 2);
}

#[tokio::test]
async fn the_same_key_sent_concurrently_creates_exactly_one_event() {
    let app = spawn_app().await;
    let token = app.token("user");
    let body = event_body("Racing");
    let sends = (0..8).map(|_| app.send(Method::POST, "/api/v1/events", &token, Some(&body), Some("race-key")));
    let statuses: Vec<u16> = futures::future::join_all(sends).await.into_iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert!(statuses.contains(&201));
    let total =
        app.get_as("/api/v1/events", &token).await.json::<Value>().await.unwrap()["pagination"]["total"].clone();
    assert_eq!(total, 1, "exactly one event: {statuses:?}");
}

#[tokio::test]
async fn duplicate_names_at_a_venue_on_the_same_local_day_conflict() {
    let app = spawn_app().await;
    let token = app.token("user");
    let mut body = scheduled_event_body("Twice");
    app.create_event(&token, body.clone()).await;
    body["name"] = json!("TWICE");
    let (status, p) = problem(app.post_json("/api/v1/events", &token, &body).await).await;
    assert_eq!((status, p["code"].as_str()), (409, Some("DUPLICATE_EVENT")));
}

#[tokio::test]
async fn the_venue_must_exist_in_the_tenant_be_active_and_hold_the_capacity() {
    let app = spawn_app().await;
    let token = app.token("user");
    let missing = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/internal/venues/{missing}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "Venue not found"})))
        .with_priority(1)
        .mount(&app.venue_server)
        .await;
    let (status, p) =
        problem(app.post_json("/api/v1/events", &token, &json!({"name": "A", "venue_id": missing})).await).await;
    assert_eq!((status, field_codes(&p)), (422, vec![("venue_id".to_owned(), "VENUE_NOT_FOUND".to_owned())]));

    let mut big = event_body("Huge");
    big["capacity"] = json!(6000);
    let (status, p) = problem(app.post_json("/api/v1/events", &token, &big).await).await;
    assert_eq!((status, field_codes(&p)[0].1.as_str()), (422, "EXCEEDS_VENUE_CAPACITY"));

    // venue-service's internal route is cross-tenant: it answers with the other tenant's venue.
    let foreign = app.venue_of(TenantId::from_uuid(Uuid::new_v4()));
    let (status, _) =
        problem(app.post_json("/api/v1/events", &token, &json!({"name": "A", "venue_id": foreign})).await).await;
    assert_eq!(status, 422, "a venue of another tenant is not found");
}

#[tokio::test]
async fn event_creation_fails_closed_with_503_when_the_venue_cannot_be_verified() {
    let app = spawn_app_with(|vars| {
        vars.insert("RESILIENCE_VENUE_RETRIES".into(), "0".into());
    })
    .await;
    let token = app.token("user");
    let venue = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(format!("/internal/venues/{venue}")))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&app.venue_server)
        .await;
    let response = app.post_json("/api/v1/events", &token, &json!({"name": "A", "venue_id": venue})).await;
    assert!(response.headers().get("retry-after").is_some());
    let (status, p) = problem(response).await;
    assert_eq!((status, p["code"].as_str()), (503, Some("VENUE_SERVICE_UNAVAILABLE")));
}

#[tokio::test]
async fn renamed_events_keep_their_date_in_the_slug_so_different_days_do_not_collide() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let venue = Uuid::new_v4();
    let mut ids = Vec::new();
    for days in [10, 11] {
        let start = chrono::Utc::now() + chrono::Duration::days(days);
        let body = json!({"name": format!("Show {days}"), "venue_id": venue, "starts_at": start, "ends_at": start + chrono::Duration::hours(2)});
        ids.push(app.create_event(&token, body).await["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let r = app
            .send(Method::PATCH, &format!("/api/v1/events/{id}"), &token, Some(&json!({"name": "Café Müller"})), None)
            .await;
        assert_eq!(r.status(), 200, "same name on another day is not a duplicate");
        let event: Value = r.json().await.unwrap();
        assert!(event["event"]["slug"].as_str().unwrap().starts_with("café-müller-20"), "{}", event["event"]["slug"]);
        assert_eq!(event["event"]["version"], 2, "one update, one version");
    }
}

#[tokio::test]
async fn a_sold_show_cannot_be_moved_through_its_schedule() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let event = app.create_event(&token, crate::helpers::scheduled_event_body("Sold show")).await;
    let id = event["id"].as_str().unwrap();
    let schedule = event["schedule"]["id"].as_str().unwrap();
    let pool = sqlx::PgPool::connect(&crate::helpers::test_env().database_url).await.unwrap();
    crate::helpers::as_tenant(
        &pool,
        app.tenant,
        &format!(
            "update section_stripes s set available = s.available - 5, sold = 5 from event_capacity c
          where s.capacity_id = c.id and s.stripe = 0 and c.event_id = '{id}'"
        ),
    )
    .await
    .unwrap();
    let later = chrono::Utc::now() + chrono::Duration::days(20);
    let body = json!({"starts_at": later, "ends_at": later + chrono::Duration::hours(2)});
    let r =
        app.send(Method::PUT, &format!("/api/v1/events/{id}/schedules/{schedule}"), &token, Some(&body), None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "CRITICAL_FIELD_LOCKED");
}

#[tokio::test]
async fn a_nul_character_is_a_client_error_and_a_huge_number_round_trips() {
    // Both came from fuzzing (scripts/fuzz): each used to be a 500.
    let app = spawn_app().await;
    let token = app.token("admin");
    let mut body = event_body("Nul");
    body["metadata"] = json!({"note": "a\u{0}b"});
    let (status, problem) = problem(app.post_json("/api/v1/events", &token, &body).await).await;
    assert_eq!((status, problem["code"].as_str()), (400, Some("UNSUPPORTED_CHARACTER")));

    let mut body = event_body("Huge");
    body["metadata"] = json!({"x": -1.797_693_134_862_315_7e308});
    let event = app.create_event(&token, body).await;
    let read = app.get_as(&format!("/api/v1/events/{}", event["id"].as_str().unwrap()), &token).await;
    assert_eq!(read.status(), 200);
    let v: serde_json::Value = read.json().await.unwrap();
    assert_eq!(v["event"]["metadata"]["x"].as_f64(), Some(-1.797_693_134_862_315_7e308));
}

/// `GET /events/:id` reads through the `tenant_event` function and lists through
/// `storage::events::EVENT_SELECT`, the same statement written twice (a migration cannot share a
/// Rust constant): an event with a schedule and a section must come out identical both ways.
#[tokio::test]
async fn an_event_read_by_id_is_exactly_the_event_the_list_returns() {
    let app = spawn_app().await;
    let token = app.token("admin");
    let event = app.create_event(&token, scheduled_event_body("Twice Written")).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let section = json!({"section_name": "Floor", "total_capacity": 120});
    let created = app.post_json(&format!("/api/v1/events/{id}/capacity"), &token, &section).await;
    assert_eq!(created.status(), 201);

    let by_id: Value = app.get_as(&format!("/api/v1/events/{id}"), &token).await.json().await.unwrap();
    let listed: Value = app.get_as("/api/v1/events?search=Twice%20Written", &token).await.json().await.unwrap();
    let item = listed["events"].as_array().unwrap().iter().find(|e| e["id"] == id.as_str()).expect("listed");
    assert_eq!(&by_id["event"], item);
    // The body's own section and the one added above: the lateral joins are part of both reads.
    assert!(by_id["event"]["capacity"].as_i64().unwrap() > 120, "{}", by_id["event"]["capacity"]);
    assert!(by_id["event"]["schedule"].is_object());
}
