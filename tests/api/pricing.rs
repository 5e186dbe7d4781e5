//! `/api/v1/events/:id/pricing`, `/api/v1/pricing/:id[/calculate]` and the ticket-type facade:
//! happy paths, every pricing rule, money to the cent, optimistic locking, idempotency, the
//! creator/admin rule, the price lock after sales and tenant isolation.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    TestApp, as_tenant, event_body, field_codes, json_of, problem, scheduled_event_body, spawn_app, spawn_app_with,
    token_for, token_with,
};

async fn create_tier(app: &TestApp, token: &str, event_id: &str, body: Value) -> Value {
    let path = format!("/api/v1/events/{event_id}/pricing");
    json_of(app.send(Method::POST, &path, token, Some(&body), None).await, 201).await["pricing"].clone()
}

async fn calculate(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    app.send(Method::POST, &format!("/api/v1/pricing/{id}/calculate"), token, Some(&body), None).await
}

async fn pool() -> sqlx::PgPool {
    sqlx::PgPool::connect(&crate::helpers::test_env().database_url).await.unwrap()
}

#[tokio::test]
async fn pricing_tiers_can_be_created_listed_read_and_updated_with_exact_money() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, scheduled_event_body("Priced")).await;
    let event_id = event["id"].as_str().unwrap();

    let body = json!({
        "name": "General Admission", "description": "Standing", "tier": "GA",
        "base_price": 49.99, "service_fee": "5.25", "facility_fee": 2, "tax_rate": 0.0825,
        "max_per_order": 8, "max_per_customer": 20, "display_order": 2,
        "schedule_id": event["schedule"]["id"],
    });
    let tier = create_tier(&app, &creator, event_id, body).await;
    assert_eq!(tier["event_id"], event_id);
    assert_eq!(tier["tenant_id"], app.tenant.to_string());
    assert_eq!(tier["schedule_id"], event["schedule"]["id"]);
    for (field, value) in [
        ("base_price", "49.99"),
        ("current_price", "49.99"),
        ("service_fee", "5.25"),
        ("facility_fee", "2.00"),
        ("tax_rate", "0.0825"),
        ("currency", "USD"),
    ] {
        assert_eq!(tier[field], value, "{field}: money is an exact string");
    }
    assert_eq!((tier["is_active"].as_bool(), tier["is_visible"].as_bool()), (Some(true), Some(true)));
    assert_eq!(tier["version"], 1);
    assert!(tier["min_price"].is_null());
    let id = tier["id"].as_str().unwrap();

    let vip =
        create_tier(&app, &creator, event_id, json!({"name": "VIP", "base_price": "150", "display_order": 1})).await;
    assert_eq!(vip["base_price"], "150.00");

    let reader = token_with(app.tenant, "user", "reader", &[]);
    let list = json_of(app.get_as(&format!("/api/v1/events/{event_id}/pricing"), &reader).await, 200).await;
    let names: Vec<&str> = list["pricing"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["VIP", "General Admission"], "in display order");
    let one = json_of(app.get_as(&format!("/api/v1/pricing/{id}"), &reader).await, 200).await;
    assert_eq!(one["pricing"], tier);

    let path = format!("/api/v1/pricing/{id}");
    let updated =
        app.send(Method::PUT, &path, &creator, Some(&json!({"base_price": "59.99", "version": 1})), None).await;
    let updated = json_of(updated, 200).await["pricing"].clone();
    assert_eq!((updated["base_price"].as_str(), updated["current_price"].as_str()), (Some("59.99"), Some("59.99")));
    assert_eq!(updated["service_fee"], "5.25", "absent fields keep their value");
    assert_eq!(updated["version"], 2);

    let stale = app.send(Method::PUT, &path, &creator, Some(&json!({"name": "Stale", "version": 1})), None).await;
    let (status, p) = problem(stale).await;
    assert_eq!((status, p["code"].as_str()), (409, Some("VERSION_CONFLICT")));

    assert_eq!(problem(app.get_as(&format!("/api/v1/pricing/{}", Uuid::new_v4()), &reader).await).await.0, 404);
    let missing = app
        .send(Method::PUT, &format!("/api/v1/pricing/{}", Uuid::new_v4()), &creator, Some(&json!({"name": "x"})), None)
        .await;
    assert_eq!(problem(missing).await.0, 404);
    let no_event = app.get_as(&format!("/api/v1/events/{}/pricing", Uuid::new_v4()), &reader).await;
    assert_eq!(problem(no_event).await.0, 404);
}

#[tokio::test]
async fn dynamic_tiers_keep_their_current_price_when_the_base_price_moves() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Dynamic")).await;
    let body = json!({
        "name": "Surge", "base_price": 40, "is_dynamic": true, "min_price": 30, "max_price": 80,
        "price_adjustment_rules": {"demand_factor": 1.5, "time_factor": "0.5"},
    });
    let tier = create_tier(&app, &creator, event["id"].as_str().unwrap(), body).await;
    assert_eq!(tier["price_adjustment_rules"]["demand_factor"], 1.5);
    let path = format!("/api/v1/pricing/{}", tier["id"].as_str().unwrap());
    let updated =
        json_of(app.send(Method::PUT, &path, &creator, Some(&json!({"base_price": 45})), None).await, 200).await;
    assert_eq!(
        (updated["pricing"]["base_price"].as_str(), updated["pricing"]["current_price"].as_str()),
        (Some("45.00"), Some("40.00"))
    );
    let (status, p) =
        problem(app.send(Method::PUT, &path, &creator, Some(&json!({"base_price": 90})), None).await).await;
    assert_eq!((status, field_codes(&p)), (422, vec![("max_price".to_owned(), "INVALID_RANGE".to_owned())]));
}

#[tokio::test]
async fn active_pricing_is_active_visible_and_inside_the_sales_window() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Windows")).await;
    let event_id = event["id"].as_str().unwrap();
    let now = Utc::now();
    let tiers = [
        json!({"name": "open", "base_price": 10, "display_order": 2, "sales_start_at": now - Duration::days(1), "sales_end_at": now + Duration::days(1)}),
        json!({"name": "no window", "base_price": 10, "display_order": 1}),
        json!({"name": "inactive", "base_price": 10, "is_active": false}),
        json!({"name": "hidden", "base_price": 10, "is_visible": false}),
        json!({"name": "not yet", "base_price": 10, "sales_start_at": now + Duration::days(1)}),
        json!({"name": "over", "base_price": 10, "sales_start_at": now - Duration::days(2), "sales_end_at": now - Duration::days(1)}),
    ];
    for body in tiers {
        create_tier(&app, &creator, event_id, body).await;
    }
    let active = json_of(app.get_as(&format!("/api/v1/events/{event_id}/pricing/active"), &creator).await, 200).await;
    let names: Vec<&str> = active["pricing"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["no window", "open"]);
    let all = json_of(app.get_as(&format!("/api/v1/events/{event_id}/pricing"), &creator).await, 200).await;
    assert_eq!(all["pricing"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn each_pricing_rule_is_reported_with_its_field() {
    // More writes than one user may send per minute by default.
    let app = spawn_app_with(|vars| {
        vars.insert("RATE_LIMIT_WRITE_MAX".into(), "1000".into());
    })
    .await;
    let creator = app.token("user");
    let event = app.create_event(&creator, scheduled_event_body("Rules")).await;
    let event_id = event["id"].as_str().unwrap();
    let other = app.create_event(&creator, scheduled_event_body("Other")).await;
    let now = Utc::now();
    let ok = |extra: Value| {
        let mut body = json!({"name": "GA", "base_price": 20});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let dynamic = json!({"is_dynamic": true, "min_price": 10, "max_price": 30, "price_adjustment_rules": {"demand_factor": 1, "time_factor": 1}});
    let mut dynamic_min_above_base = dynamic.clone();
    dynamic_min_above_base["min_price"] = json!(25);
    let mut dynamic_max_below_base = dynamic.clone();
    dynamic_max_below_base["max_price"] = json!(15);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({"base_price": 20}), 422, "name", "REQUIRED_FIELD"),
        (ok(json!({"name": "x".repeat(101)})), 422, "name", "STRING_TOO_LONG"),
        (ok(json!({"name": "  "})), 422, "name", "STRING_TOO_SHORT"),
        (json!({"name": "GA"}), 422, "base_price", "REQUIRED_FIELD"),
        (ok(json!({"base_price": "10000000"})), 422, "base_price", "VALUE_TOO_LARGE"),
        (ok(json!({"base_price": "1.999"})), 422, "base_price", "INVALID_PRECISION"),
        (ok(json!({"service_fee": -1})), 422, "service_fee", "VALUE_TOO_SMALL"),
        (ok(json!({"facility_fee": 0.001})), 422, "facility_fee", "INVALID_PRECISION"),
        (ok(json!({"base_price": "abc"})), 400, "base_price", "INVALID_VALUE"),
        (ok(json!({"tax_rate": 1.5})), 422, "tax_rate", "INVALID_RANGE"),
        (ok(json!({"tax_rate": "0.12345"})), 422, "tax_rate", "INVALID_PRECISION"),
        (ok(json!({"group_size_min": 0, "group_discount_percentage": 5})), 422, "group_size_min", "VALUE_TOO_SMALL"),
        (ok(json!({"group_size_min": 1001, "group_discount_percentage": 5})), 422, "group_size_min", "VALUE_TOO_LARGE"),
        (
            ok(json!({"group_size_min": 4, "group_discount_percentage": 101})),
            422,
            "group_discount_percentage",
            "INVALID_RANGE",
        ),
        (ok(json!({"group_size_min": 4})), 422, "group_discount_percentage", "REQUIRED_FIELD"),
        (ok(json!({"group_discount_percentage": 10})), 422, "group_size_min", "REQUIRED_FIELD"),
        (ok(json!({"currency": "usd"})), 422, "currency", "INVALID_PATTERN"),
        (ok(json!({"currency": "EURO"})), 422, "currency", "INVALID_PATTERN"),
        (ok(json!({"max_per_order": 0})), 422, "max_per_order", "VALUE_TOO_SMALL"),
        (ok(json!({"max_per_order": 101})), 422, "max_per_order", "VALUE_TOO_LARGE"),
        (ok(json!({"max_per_customer": 1001})), 422, "max_per_customer", "VALUE_TOO_LARGE"),
        (
            ok(json!({"price_adjustment_rules": {"demand_factor": 11}})),
            422,
            "price_adjustment_rules.demand_factor",
            "INVALID_RANGE",
        ),
        (
            ok(json!({"price_adjustment_rules": {"time_factor": -1}})),
            422,
            "price_adjustment_rules.time_factor",
            "INVALID_RANGE",
        ),
        (
            ok(json!({"price_adjustment_rules": {"time_factor": true}})),
            422,
            "price_adjustment_rules.time_factor",
            "INVALID_TYPE",
        ),
        (ok(json!({"sales_start_at": now, "sales_end_at": now})), 422, "sales_end_at", "INVALID_DATE_ORDER"),
        (
            ok(json!({"sales_start_at": now, "early_bird_ends_at": now + Duration::days(1)})),
            422,
            "early_bird_ends_at",
            "INVALID_DATE_ORDER",
        ),
        (ok(json!({"early_bird_price": 20})), 422, "early_bird_price", "INVALID_RANGE"),
        (
            ok(
                json!({"is_dynamic": true, "price_adjustment_rules": {"demand_factor": 1, "time_factor": 1}, "max_price": 30}),
            ),
            422,
            "min_price",
            "REQUIRED_FIELD",
        ),
        (
            ok(
                json!({"is_dynamic": true, "price_adjustment_rules": {"demand_factor": 1, "time_factor": 1}, "min_price": 10}),
            ),
            422,
            "max_price",
            "REQUIRED_FIELD",
        ),
        (
            ok(
                json!({"is_dynamic": true, "min_price": 10, "max_price": 30, "price_adjustment_rules": {"time_factor": 1}}),
            ),
            422,
            "price_adjustment_rules.demand_factor",
            "REQUIRED_FIELD",
        ),
        (
            ok(
                json!({"is_dynamic": true, "min_price": 10, "max_price": 30, "price_adjustment_rules": {"demand_factor": 1}}),
            ),
            422,
            "price_adjustment_rules.time_factor",
            "REQUIRED_FIELD",
        ),
        (ok(dynamic_min_above_base), 422, "min_price", "INVALID_RANGE"),
        (ok(dynamic_max_below_base), 422, "max_price", "INVALID_RANGE"),
        (ok(json!({"schedule_id": other["schedule"]["id"]})), 422, "schedule_id", "INVALID_REFERENCE"),
        (ok(json!({"capacity_id": Uuid::new_v4()})), 422, "capacity_id", "INVALID_REFERENCE"),
        (ok(json!({"current_price": 5})), 400, "current_price", "UNKNOWN_FIELD"),
    ];
    let path = format!("/api/v1/events/{event_id}/pricing");
    for (body, expected, field, code) in cases {
        let (status, p) = problem(app.send(Method::POST, &path, &creator, Some(&body), None).await).await;
        assert_eq!(status, expected, "{field}/{code}: {p}");
        assert!(field_codes(&p).contains(&(field.to_owned(), code.to_owned())), "{field}/{code}: {p}");
    }
    let all = json_of(app.get_as(&path, &creator).await, 200).await;
    assert_eq!(all["pricing"], json!([]), "nothing was written");

    // The happy edges are accepted: a capacity section of this event, a valid dynamic tier,
    // an early bird that ends before sales start.
    let section: (Uuid,) = {
        let pool = pool().await;
        let mut tx = crate::helpers::tenant_tx(&pool, app.tenant).await.unwrap();
        sqlx::query_as("select id from event_capacity where event_id = $1::uuid")
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    let body = ok(json!({
        "capacity_id": section.0, "early_bird_price": 15, "sales_start_at": now,
        "early_bird_ends_at": now - Duration::days(1), "group_size_min": 4, "group_discount_percentage": 10,
    }));
    let tier = create_tier(&app, &creator, event_id, body).await;
    assert_eq!(tier["capacity_id"], section.0.to_string());
    assert_eq!(tier["group_discount_percentage"], "10.00");
    create_tier(&app, &creator, event_id, ok(dynamic)).await;

    // An update is checked against the stored row.
    let tier_path = format!("/api/v1/pricing/{}", tier["id"].as_str().unwrap());
    let (status, p) =
        problem(app.send(Method::PUT, &tier_path, &creator, Some(&json!({"base_price": 15})), None).await).await;
    assert_eq!((status, field_codes(&p)), (422, vec![("early_bird_price".to_owned(), "INVALID_RANGE".to_owned())]));
    let body = json!({"sales_end_at": now - Duration::hours(1)});
    let (status, p) = problem(app.send(Method::PUT, &tier_path, &creator, Some(&body), None).await).await;
    assert_eq!((status, field_codes(&p)), (422, vec![("sales_end_at".to_owned(), "INVALID_DATE_ORDER".to_owned())]));
}

#[tokio::test]
async fn price_calculation_is_exact_to_the_cent_with_fees_tax_and_group_discount() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Quote")).await;
    let event_id = event["id"].as_str().unwrap();
    let body = json!({
        "name": "Group", "base_price": "25.00", "service_fee": 3, "facility_fee": 1.5, "tax_rate": 0.1,
        "group_size_min": 4, "group_discount_percentage": 12.5, "currency": "EUR",
    });
    let tier = create_tier(&app, &creator, event_id, body).await;
    let id = tier["id"].as_str().unwrap();
    let buyer = token_with(app.tenant, "user", "buyer", &[]);

    let quote = json_of(calculate(&app, &buyer, id, json!({"quantity": 4})).await, 200).await;
    assert_eq!(
        quote,
        json!({
            "base_price": "100.00", "service_fee": "12.00", "facility_fee": "6.00", "group_discount": "12.50",
            "subtotal": "105.50", "tax": "10.55", "total": "116.05", "per_ticket": "29.01",
            "quantity": 4, "currency": "EUR", "discount_applied": true,
        })
    );
    let below = json_of(calculate(&app, &buyer, id, json!({"quantity": 3})).await, 200).await;
    assert_eq!((below["group_discount"].as_str(), below["discount_applied"].as_bool()), (Some("0.00"), Some(false)));
    assert_eq!(
        (below["subtotal"].as_str(), below["tax"].as_str(), below["total"].as_str()),
        (Some("88.50"), Some("8.85"), Some("97.35"))
    );
    assert_eq!(below["per_ticket"], "32.45");
    let declined =
        json_of(calculate(&app, &buyer, id, json!({"quantity": 4, "apply_group_discount": false})).await, 200).await;
    assert_eq!((declined["subtotal"].as_str(), declined["total"].as_str()), (Some("118.00"), Some("129.80")));

    // Half a cent of tax rounds up (away from zero), and per_ticket rounds the remainder.
    let half =
        create_tier(&app, &creator, event_id, json!({"name": "Half", "base_price": 10.5, "tax_rate": 0.05})).await;
    let q = json_of(calculate(&app, &buyer, half["id"].as_str().unwrap(), json!({"quantity": 1})).await, 200).await;
    assert_eq!(
        (q["tax"].as_str(), q["total"].as_str(), q["currency"].as_str()),
        (Some("0.53"), Some("11.03"), Some("USD"))
    );
    let thirds =
        create_tier(&app, &creator, event_id, json!({"name": "Thirds", "base_price": 3, "tax_rate": 0.1111})).await;
    let q = json_of(calculate(&app, &buyer, thirds["id"].as_str().unwrap(), json!({"quantity": 3})).await, 200).await;
    assert_eq!(
        (q["tax"].as_str(), q["total"].as_str(), q["per_ticket"].as_str()),
        (Some("1.00"), Some("10.00"), Some("3.33"))
    );

    for (body, status, field, code) in [
        (json!({"quantity": 0}), 422, "quantity", "VALUE_TOO_SMALL"),
        (json!({"quantity": 101}), 422, "quantity", "VALUE_TOO_LARGE"),
        (json!({"quantity": 2, "promo_code": "SAVE10"}), 422, "promo_code", "PROMO_CODES_UNSUPPORTED"),
        (json!({}), 400, "quantity", "REQUIRED_FIELD"),
        (json!({"quantity": 2, "coupon": "x"}), 400, "coupon", "UNKNOWN_FIELD"),
    ] {
        let (got, p) = problem(calculate(&app, &buyer, id, body).await).await;
        assert_eq!(got, status, "{p}");
        assert!(field_codes(&p).contains(&(field.to_owned(), code.to_owned())), "{p}");
    }
    assert_eq!(
        problem(calculate(&app, &buyer, &Uuid::new_v4().to_string(), json!({"quantity": 1})).await).await.0,
        404
    );
}

#[tokio::test]
async fn creating_pricing_and_ticket_types_is_idempotent() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Once")).await;
    let event_id = event["id"].as_str().unwrap();
    for (path, key) in [
        (format!("/api/v1/events/{event_id}/pricing"), "tier-1"),
        (format!("/api/v1/events/{event_id}/ticket-types"), "type-1"),
    ] {
        let body = json!({"name": format!("Tier {key}"), "base_price": 12});
        let first = app.send(Method::POST, &path, &creator, Some(&body), Some(key)).await;
        assert!(first.headers().get("idempotency-replayed").is_none());
        let first = json_of(first, 201).await;
        let replay = app.send(Method::POST, &path, &creator, Some(&body), Some(key)).await;
        assert_eq!(replay.headers()["idempotency-replayed"], "true");
        assert_eq!(json_of(replay, 201).await, first);
        let other =
            app.send(Method::POST, &path, &creator, Some(&json!({"name": "Other", "base_price": 1})), Some(key)).await;
        assert_eq!(problem(other).await.1["code"], "IDEMPOTENCY_KEY_MISMATCH");
    }
    let all = json_of(app.get_as(&format!("/api/v1/events/{event_id}/pricing"), &creator).await, 200).await;
    assert_eq!(all["pricing"].as_array().unwrap().len(), 2, "one per key");
}

#[tokio::test]
async fn ticket_types_are_pricing_tiers_and_their_price_locks_after_sales() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, scheduled_event_body("Types")).await;
    let event_id = event["id"].as_str().unwrap();
    let base = format!("/api/v1/events/{event_id}/ticket-types");

    let body = json!({"name": "Floor", "price": 30, "description": "Front", "tier": "floor", "currency": "GBP",
        "max_per_order": 6, "is_visible": true, "sales_start_at": Utc::now() - Duration::days(1)});
    let created = json_of(app.send(Method::POST, &base, &creator, Some(&body), None).await, 201).await;
    assert_eq!(created["success"], true);
    let ticket_type = &created["data"];
    assert_eq!((ticket_type["base_price"].as_str(), ticket_type["currency"].as_str()), (Some("30.00"), Some("GBP")));
    let id = ticket_type["id"].as_str().unwrap();
    let also_tier = json_of(app.get_as(&format!("/api/v1/pricing/{id}"), &creator).await, 200).await;
    assert_eq!(&also_tier["pricing"], ticket_type, "a ticket type is a pricing tier");
    let created =
        app.send(Method::POST, &base, &creator, Some(&json!({"name": "Balcony", "base_price": "20.00"})), None).await;
    assert_eq!(created.status(), 201);

    let list = json_of(app.get_as(&base, &token_with(app.tenant, "user", "reader", &[])).await, 200).await;
    assert_eq!((list["success"].as_bool(), list["data"].as_array().map(Vec::len)), (Some(true), Some(2)));

    for (body, status, field, code) in [
        (json!({"price": 30}), 422, "name", "REQUIRED_FIELD"),
        (json!({"name": "X"}), 422, "base_price", "REQUIRED_FIELD"),
        (json!({"name": "X", "price": 1, "tax_rate": 0.1}), 400, "tax_rate", "UNKNOWN_FIELD"),
        (json!({"name": "X", "price": 1, "max_per_order": 500}), 422, "max_per_order", "VALUE_TOO_LARGE"),
    ] {
        let (got, p) = problem(app.send(Method::POST, &base, &creator, Some(&body), None).await).await;
        assert_eq!(got, status, "{p}");
        assert!(field_codes(&p).contains(&(field.to_owned(), code.to_owned())), "{p}");
    }

    let path = format!("{base}/{id}");
    let before_sales = app.send(Method::PUT, &path, &creator, Some(&json!({"price": 35, "version": 1})), None).await;
    let before_sales = json_of(before_sales, 200).await;
    assert_eq!(
        (before_sales["success"].as_bool(), before_sales["data"]["current_price"].as_str()),
        (Some(true), Some("35.00"))
    );
    let stale = app.send(Method::PUT, &path, &creator, Some(&json!({"name": "x", "version": 1})), None).await;
    assert_eq!(problem(stale).await.1["code"], "VERSION_CONFLICT");

    let pool = pool().await;
    let moved = as_tenant(
        &pool,
        app.tenant,
        &format!(
            "update section_stripes s set available = s.available - 2, sold = s.sold + 2 from event_capacity c
              where s.capacity_id = c.id and s.stripe = 0 and c.event_id = '{event_id}'"
        ),
    )
    .await
    .unwrap();
    assert_eq!(moved, 1);
    let (status, p) =
        problem(app.send(Method::PUT, &path, &creator, Some(&json!({"base_price": 40})), None).await).await;
    assert_eq!((status, p["code"].as_str()), (400, Some("PRICE_LOCKED_AFTER_SALES")));
    let same_price =
        app.send(Method::PUT, &path, &creator, Some(&json!({"price": "35.00", "name": "Floor A"})), None).await;
    let same_price = json_of(same_price, 200).await;
    assert_eq!(
        (same_price["data"]["name"].as_str(), same_price["data"]["base_price"].as_str()),
        (Some("Floor A"), Some("35.00"))
    );

    // A type of another event is not found through this event.
    let other = app.create_event(&creator, event_body("Elsewhere")).await;
    let other_path = format!("/api/v1/events/{}/ticket-types/{id}", other["id"].as_str().unwrap());
    assert_eq!(
        problem(app.send(Method::PUT, &other_path, &creator, Some(&json!({"name": "x"})), None).await).await.0,
        404
    );
}

#[tokio::test]
async fn only_the_creator_or_an_admin_may_write_pricing_and_finished_events_refuse_it() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Owned")).await;
    let event_id = event["id"].as_str().unwrap();
    let tier = create_tier(&app, &creator, event_id, json!({"name": "GA", "base_price": 10})).await;
    let id = tier["id"].as_str().unwrap();
    let writes = [
        (Method::POST, format!("/api/v1/events/{event_id}/pricing"), json!({"name": "B", "base_price": 1})),
        (Method::PUT, format!("/api/v1/pricing/{id}"), json!({"name": "C"})),
        (Method::POST, format!("/api/v1/events/{event_id}/ticket-types"), json!({"name": "D", "price": 1})),
        (Method::PUT, format!("/api/v1/events/{event_id}/ticket-types/{id}"), json!({"name": "E"})),
    ];
    let stranger = app.token("user");
    let reader = token_with(app.tenant, "user", "reader", &[]);
    for (method, path, body) in &writes {
        let (status, _) = problem(app.send(method.clone(), path, &stranger, Some(body), None).await).await;
        assert_eq!(status, 403, "{method} {path}");
        let (status, _) = problem(app.send(method.clone(), path, &reader, Some(body), None).await).await;
        assert_eq!(status, 403, "{method} {path} needs events:update");
    }
    // Reads and quotes are open to every user of the tenant.
    for path in [
        format!("/api/v1/events/{event_id}/pricing"),
        format!("/api/v1/events/{event_id}/pricing/active"),
        format!("/api/v1/pricing/{id}"),
        format!("/api/v1/events/{event_id}/ticket-types"),
    ] {
        assert_eq!(app.get_as(&path, &reader).await.status(), 200, "{path}");
    }
    assert_eq!(calculate(&app, &reader, id, json!({"quantity": 1})).await.status(), 200);

    let admin = app.token("admin");
    for (method, path, body) in &writes {
        let status = app.send(method.clone(), path, &admin, Some(body), None).await.status().as_u16();
        assert!(status == 200 || status == 201, "{method} {path}: {status}");
    }

    let pool = pool().await;
    as_tenant(&pool, app.tenant, &format!("update events set status = 'COMPLETED' where id = '{event_id}'"))
        .await
        .unwrap();
    for (method, path, body) in &writes {
        let (status, p) = problem(app.send(method.clone(), path, &creator, Some(body), None).await).await;
        assert_eq!((status, p["code"].as_str()), (409, Some("INVALID_EVENT_STATE")), "{method} {path}");
    }
    assert_eq!(app.get_as(&format!("/api/v1/pricing/{id}"), &creator).await.status(), 200);
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_pricing_route() {
    let app = spawn_app().await;
    let creator = app.token("user");
    let event = app.create_event(&creator, event_body("Private")).await;
    let event_id = event["id"].as_str().unwrap();
    let tier = create_tier(&app, &creator, event_id, json!({"name": "GA", "base_price": 10})).await;
    let id = tier["id"].as_str().unwrap();

    let intruder = token_for(app.other_tenant().await, "admin");
    for path in [
        format!("/api/v1/events/{event_id}/pricing"),
        format!("/api/v1/events/{event_id}/pricing/active"),
        format!("/api/v1/pricing/{id}"),
        format!("/api/v1/events/{event_id}/ticket-types"),
    ] {
        assert_eq!(problem(app.get_as(&path, &intruder).await).await.0, 404, "GET {path}");
    }
    let writes = [
        (Method::POST, format!("/api/v1/events/{event_id}/pricing"), json!({"name": "B", "base_price": 1})),
        (Method::PUT, format!("/api/v1/pricing/{id}"), json!({"name": "C"})),
        (Method::POST, format!("/api/v1/pricing/{id}/calculate"), json!({"quantity": 1})),
        (Method::POST, format!("/api/v1/events/{event_id}/ticket-types"), json!({"name": "D", "price": 1})),
        (Method::PUT, format!("/api/v1/events/{event_id}/ticket-types/{id}"), json!({"name": "E"})),
    ];
    for (method, path, body) in writes {
        let (status, _) = problem(app.send(method.clone(), &path, &intruder, Some(&body), None).await).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let unchanged = json_of(app.get_as(&format!("/api/v1/pricing/{id}"), &creator).await, 200).await;
    assert_eq!(unchanged["pricing"], tier);
}
