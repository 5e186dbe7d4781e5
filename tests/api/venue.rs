//! The venue-service client against venue-service's real internal contract (the fake of
//! `tools/platform-fakes` behind a wiremock server, which also injects faults) and the real
//! Redis: the route and signature venue-service accepts, status mapping, exact retry counts,
//! `Retry-After`, venue-service's rate limit, our call budget, the breaker, the tenant-scoped
//! Redis copies, fail-closed, and a hung service.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_service::clients::venue::{Venue, VenueError, copy_key};
use event_service::domain::TenantId;
use event_service::http::internal_auth;
use event_service::storage::cache::tenant_key;
use resilience::BreakerState;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use platform_fakes::venue_service::VenueRecord;

use crate::helpers::{HMAC_SECRET, RedisServer, TestApp, spawn_app, spawn_app_with, token_for};

/// Retries counted exactly need a breaker that cannot open half-way and a fast backoff.
fn fast_retries_no_breaker(vars: &mut std::collections::HashMap<String, String>) {
    vars.insert("RESILIENCE_VENUE_RETRIES".into(), "3".into());
    vars.insert("RESILIENCE_VENUE_RETRY_BASE_MS".into(), "1".into());
    vars.insert("RESILIENCE_VENUE_RETRY_MAX_MS".into(), "5".into());
    vars.insert("RESILIENCE_VENUE_BREAKER_ENABLED".into(), "false".into());
    no_fresh_copies(vars);
}

/// Every lookup asks venue-service (no 5-minute reuse of the last answer).
fn no_fresh_copies(vars: &mut std::collections::HashMap<String, String>) {
    vars.insert("VENUE_CACHE_TTL_SECONDS".into(), "0".into());
}

fn venue_path(venue: Uuid) -> String {
    format!("/internal/venues/{venue}")
}

/// Answers `venue`'s path with `responder`, ahead of the harness's catch-all 200.
///
/// Never `mount_as_scoped` here: wiremock 0.6.5 sorts its mock list by priority in place on
/// every request while a `MockGuard` remembers its mock's original position, so dropping a
/// guard with mixed priorities deactivates another mock (often the catch-all). Tests that
/// change an answer mid-way use a [`Switch`].
async fn answer(app: &TestApp, venue: Uuid, responder: impl Respond + 'static) {
    Mock::given(method("GET"))
        .and(path(venue_path(venue)))
        .respond_with(responder)
        .with_priority(1)
        .mount(&app.venue_server)
        .await;
}

/// Requests the fake received for `venue`.
async fn received(app: &TestApp, venue: Uuid) -> Vec<Request> {
    let all = app.venue_server.received_requests().await.expect("recording is on");
    all.into_iter().filter(|r| r.url.path() == venue_path(venue)).collect()
}

async fn create(app: &TestApp, tenant: TenantId, venue: Uuid) -> reqwest::Response {
    app.post_json("/api/v1/events", &token_for(tenant, "user"), &json!({"name": "Venue check", "venue_id": venue}))
        .await
}

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/problem+json", "status {status}");
    (status, response.json().await.unwrap())
}

fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// A responder that notes when each request arrived.
#[derive(Clone)]
struct Timed {
    at: Arc<Mutex<Vec<Instant>>>,
    template: ResponseTemplate,
}

impl Timed {
    fn new(template: ResponseTemplate) -> Self {
        Self { at: Arc::default(), template }
    }

    fn times(&self) -> Vec<Instant> {
        self.at.lock().unwrap().clone()
    }
}

impl Respond for Timed {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.at.lock().unwrap().push(Instant::now());
        self.template.clone()
    }
}

/// A responder whose answer the test changes as it goes.
#[derive(Clone)]
struct Switch(Arc<Mutex<ResponseTemplate>>);

impl Switch {
    fn new(template: ResponseTemplate) -> Self {
        Self(Arc::new(Mutex::new(template)))
    }

    fn set(&self, template: ResponseTemplate) {
        *self.0.lock().unwrap() = template;
    }
}

impl Respond for Switch {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn venue_calls_carry_tenant_request_id_traceparent_service_identity_and_a_valid_hmac() {
    let app = spawn_app().await;
    let venue = Uuid::new_v4();
    let request_id = Uuid::new_v4();
    let response = app
        .client
        .post(app.url("/api/v1/events"))
        .bearer_auth(app.token("user"))
        .header("x-request-id", request_id.to_string())
        .json(&json!({"name": "Headers", "venue_id": venue}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let calls = received(&app, venue).await;
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method.as_str(), "GET");
    assert_eq!(header(call, "x-tenant-id"), app.tenant.to_string(), "the tenant id, never a token");
    assert!(call.headers.get("authorization").is_none(), "the user's token is not forwarded");
    assert_eq!(header(call, "x-request-id"), request_id.to_string(), "propagated from the incoming request");
    let traceparent: Vec<&str> = header(call, "traceparent").split('-').collect();
    assert_eq!(traceparent.len(), 4, "{traceparent:?}");
    assert_eq!(
        (traceparent[0], traceparent[1], traceparent[3]),
        ("00", request_id.simple().to_string().as_str(), "01")
    );
    assert!(traceparent[2].len() == 16 && traceparent[2].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(header(call, "x-service-id"), "event-service");
    assert_eq!(header(call, "x-service-name"), "event-service");
    assert!(call.headers.get("idempotency-key").is_none(), "GET never carries an Idempotency-Key");
    assert!(call.headers.get("x-internal-body-hash").is_none(), "no body, no body hash, as the platform signs");
    assert_eq!(call.url.path(), format!("/internal/venues/{venue}"), "venue-service's service route, at its root");

    // The signature verifies exactly as our own internal routes verify calls.
    let path_and_query = &call.url[url::Position::BeforePath..url::Position::AfterQuery];
    let signed = internal_auth::SignedRequest {
        service: header(call, internal_auth::HEADER_SERVICE),
        timestamp: header(call, internal_auth::HEADER_TIMESTAMP),
        nonce: header(call, internal_auth::HEADER_NONCE),
        signature: header(call, internal_auth::HEADER_SIGNATURE),
        body_hash: "",
        method: call.method.as_str(),
        path: path_and_query,
        body: &call.body,
    };
    assert_eq!(signed.service, "event-service");
    let now = chrono::Utc::now().timestamp_millis();
    let allowed = ["event-service".to_owned()];
    assert_eq!(internal_auth::verify(HMAC_SECRET.as_bytes(), &signed, now, &allowed), Ok(()));
    assert_eq!(
        internal_auth::verify(b"another-secret-of-at-least-32-chars!!", &signed, now, &allowed),
        Err(internal_auth::RejectCode::InvalidSignature)
    );
}

#[tokio::test]
async fn venue_not_found_is_422_naming_venue_id_and_forbidden_is_403() {
    let app = spawn_app().await;
    let (missing, forbidden) = (Uuid::new_v4(), Uuid::new_v4());
    answer(&app, missing, ResponseTemplate::new(404)).await;
    answer(&app, forbidden, ResponseTemplate::new(403)).await;

    let (status, p) = problem(create(&app, app.tenant, missing).await).await;
    assert_eq!(status, 422);
    assert_eq!(
        (p["errors"][0]["field"].as_str(), p["errors"][0]["code"].as_str()),
        (Some("venue_id"), Some("VENUE_NOT_FOUND"))
    );

    let (status, _) = problem(create(&app, app.tenant, forbidden).await).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn venue_client_errors_are_never_retried() {
    let app = spawn_app_with(fast_retries_no_breaker).await;
    for (status, expected) in [
        (400, VenueError::Unavailable { retry_after: None }),
        (404, VenueError::NotFound),
        (403, VenueError::Forbidden),
        (409, VenueError::Unavailable { retry_after: None }),
        // venue-service's rate limit: honoured by waiting, never by retrying sooner.
        (429, VenueError::Unavailable { retry_after: None }),
    ] {
        let venue = Uuid::new_v4();
        answer(&app, venue, ResponseTemplate::new(status)).await;
        let result = app.state.venues.venue(app.tenant, venue).await;
        assert_eq!(std::mem::discriminant(&result.unwrap_err()), std::mem::discriminant(&expected), "{status}");
        assert_eq!(received(&app, venue).await.len(), 1, "HTTP {status} must not be retried");
    }
}

#[tokio::test]
async fn venue_server_errors_are_retried_exactly_three_times_then_503() {
    let app = spawn_app_with(fast_retries_no_breaker).await;
    for status in [500, 503] {
        let venue = Uuid::new_v4();
        answer(&app, venue, ResponseTemplate::new(status)).await;
        let response = create(&app, app.tenant, venue).await;
        assert!(response.headers().get("retry-after").is_some(), "{status}: 503 carries Retry-After");
        let (code, p) = problem(response).await;
        assert_eq!((code, p["code"].as_str()), (503, Some("VENUE_SERVICE_UNAVAILABLE")), "{status}");
        assert_eq!(received(&app, venue).await.len(), 4, "HTTP {status}: one call and exactly 3 retries");
    }
    // ...and a success after a failure needs no more than that.
    let venue = Uuid::new_v4();
    Mock::given(method("GET"))
        .and(path(venue_path(venue)))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.venue_server)
        .await;
    let result = app.state.venues.venue(app.tenant, venue).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(received(&app, venue).await.len(), 3);
}

#[tokio::test]
async fn venue_retry_after_in_seconds_is_honoured_and_passed_on() {
    let app = spawn_app_with(|vars| {
        fast_retries_no_breaker(vars);
        vars.insert("RESILIENCE_VENUE_RETRIES".into(), "1".into());
    })
    .await;
    let venue = Uuid::new_v4();
    let timed = Timed::new(ResponseTemplate::new(503).insert_header("retry-after", "1"));
    answer(&app, venue, timed.clone()).await;
    let response = create(&app, app.tenant, venue).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1", "the venue-service's hint is passed on");
    let times = timed.times();
    assert_eq!(times.len(), 2);
    let gap = times[1] - times[0];
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}, before Retry-After: 1");
    assert!(gap < Duration::from_secs(3), "{gap:?}");
}

#[tokio::test]
async fn venue_retry_after_as_an_http_date_is_honoured() {
    let app = spawn_app_with(|vars| {
        fast_retries_no_breaker(vars);
        vars.insert("RESILIENCE_VENUE_RETRIES".into(), "1".into());
    })
    .await;
    let venue = Uuid::new_v4();
    // IMF-fixdate two seconds ahead; whole seconds, so the wait is between 1 and 2 s.
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let timed = Timed::new(ResponseTemplate::new(503).insert_header("retry-after", at.as_str()));
    answer(&app, venue, timed.clone()).await;
    let result = app.state.venues.venue(app.tenant, venue).await;
    assert!(matches!(result, Err(VenueError::Unavailable { .. })), "{result:?}");
    let times = timed.times();
    assert_eq!(times.len(), 2);
    let gap = times[1] - times[0];
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}, before the date {at}");
    assert!(gap < Duration::from_millis(2_500), "{gap:?}");
}

#[tokio::test]
async fn venue_breaker_opens_after_the_threshold_then_fails_fast_without_calling_the_service() {
    let app = spawn_app_with(|vars| {
        no_fresh_copies(vars);
        vars.insert("RESILIENCE_VENUE_RETRIES".into(), "0".into());
        vars.insert("RESILIENCE_VENUE_BREAKER_MIN_CALLS".into(), "3".into());
        vars.insert("RESILIENCE_VENUE_BREAKER_WINDOW".into(), "3".into());
    })
    .await;
    let venue = Uuid::new_v4();
    answer(&app, venue, ResponseTemplate::new(500)).await;
    let breaker = app.state.venues.breaker().expect("the HTTP client has a breaker");
    for _ in 0..3 {
        assert_eq!(breaker.state(), BreakerState::Closed);
        let result = app.state.venues.venue(app.tenant, venue).await;
        assert!(matches!(result, Err(VenueError::Unavailable { .. })), "{result:?}");
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(received(&app, venue).await.len(), 3);

    let started = Instant::now();
    let response = create(&app, app.tenant, venue).await;
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "the breaker's remaining open time: {retry_after}");
    for _ in 0..5 {
        assert!(app.state.venues.venue(app.tenant, Uuid::new_v4()).await.is_err());
    }
    assert!(started.elapsed() < Duration::from_secs(1), "fails fast: {:?}", started.elapsed());
    let all = app.venue_server.received_requests().await.unwrap();
    assert_eq!(all.len(), 3, "an open breaker does not call the venue-service");
}

#[tokio::test]
async fn venue_fallback_serves_the_tenants_cached_copy_while_the_breaker_is_open_never_another_tenants() {
    let app = spawn_app_with(no_fresh_copies).await;
    let (tenant_a, tenant_b) = (app.tenant, app.other_tenant().await);
    let venue = Uuid::new_v4();
    let live = app.state.venues.venue(tenant_a, venue).await.expect("live answer");
    assert_eq!(live.tenant_id, *tenant_a.as_uuid());

    // Stored in Redis, under the tenant's prefix, with only the fields we use, and a TTL.
    let key = tenant_key(tenant_a, &copy_key(venue));
    let mut conn = app.state.cache.connection();
    let raw: String = redis::cmd("GET").arg(&key).query_async(&mut conn).await.expect("copy stored");
    let stored: Value = serde_json::from_str(&raw).unwrap();
    let mut fields: Vec<&str> = stored["venue"].as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["active", "id", "max_capacity", "name", "tenant_id", "timezone", "verified"]);
    assert!(stored["fetched_at"].as_i64().unwrap() > 1_700_000_000, "{stored}");
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!((1..=3600).contains(&ttl), "ttl {ttl}");

    answer(&app, venue, ResponseTemplate::new(500)).await;
    app.state.venues.breaker().unwrap().force_open();
    let before = app.venue_server.received_requests().await.unwrap().len();

    let cached: Venue = app.state.venues.venue(tenant_a, venue).await.expect("served from the fallback");
    assert_eq!(cached, live);
    let created = create(&app, tenant_a, venue).await;
    assert_eq!(created.status(), 201, "tenant A can still create events at its venue");
    let event: Value = created.json().await.unwrap();
    assert_eq!(event["event"]["timezone"], "America/New_York", "the cached venue's time zone");

    let other = app.state.venues.venue(tenant_b, venue).await;
    assert!(matches!(other, Err(VenueError::Unavailable { .. })), "tenant B got {other:?}");
    let (status, p) = problem(create(&app, tenant_b, venue).await).await;
    assert_eq!((status, p["code"].as_str()), (503, Some("VENUE_SERVICE_UNAVAILABLE")));

    assert_eq!(app.venue_server.received_requests().await.unwrap().len(), before, "breaker open: no calls");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("venue_lookups_total{source=\"fallback\"} 2"), "{metrics}");
    assert!(metrics.contains("venue_lookups_total{source=\"unavailable\"} 2"), "{metrics}");
}

#[tokio::test]
async fn venue_fallback_covers_live_outages_but_never_a_404() {
    let app = spawn_app_with(|vars| {
        fast_retries_no_breaker(vars);
        vars.insert("RESILIENCE_VENUE_RETRIES".into(), "1".into());
    })
    .await;
    let venue = Uuid::new_v4();
    let record = VenueRecord::active(venue, *app.tenant.as_uuid(), "Hall", 800, "Europe/Berlin");
    let fake = Switch::new(ResponseTemplate::new(200).set_body_json(json!({ "venue": record.to_json() })));
    answer(&app, venue, fake.clone()).await;
    let live = app.state.venues.venue(app.tenant, venue).await.expect("live answer");
    assert_eq!((live.name.as_str(), live.max_capacity), ("Hall", Some(800)));

    // 5xx after retries (breaker closed): the cached copy.
    fake.set(ResponseTemplate::new(503));
    assert_eq!(app.state.venues.venue(app.tenant, venue).await.expect("fallback"), live);

    // The venue-service says the venue is gone: that answer wins and the copy is dropped...
    fake.set(ResponseTemplate::new(404).set_body_json(json!({"error": "Venue not found"})));
    let result = app.state.venues.venue(app.tenant, venue).await;
    assert!(matches!(result, Err(VenueError::NotFound)), "{result:?}");
    // ...so a later outage has nothing to fall back on.
    fake.set(ResponseTemplate::new(503));
    let result = app.state.venues.venue(app.tenant, venue).await;
    assert!(matches!(result, Err(VenueError::Unavailable { .. })), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn venue_no_fallback_when_redis_is_down_as_well() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let app = spawn_app_with(|vars| {
        vars.insert("REDIS_URL".into(), url);
        no_fresh_copies(vars);
    })
    .await;
    let venue = Uuid::new_v4();
    app.state.venues.venue(app.tenant, venue).await.expect("live answer, copied to Redis");
    app.state.venues.breaker().unwrap().force_open();
    assert!(app.state.venues.venue(app.tenant, venue).await.is_ok(), "fallback while Redis is up");

    redis.stop();
    let started = Instant::now();
    let response = create(&app, app.tenant, venue).await;
    assert!(response.headers().get("retry-after").is_some());
    let (status, p) = problem(response).await;
    assert_eq!((status, p["code"].as_str()), (503, Some("VENUE_SERVICE_UNAVAILABLE")), "fail closed");
    assert!(started.elapsed() < Duration::from_secs(5), "bounded: {:?}", started.elapsed());
}

#[tokio::test]
async fn venue_fail_closed_503_with_retry_after_when_neither_the_service_nor_the_cache_answers() {
    let app = spawn_app().await;
    app.state.venues.breaker().unwrap().force_open();
    let venue = Uuid::new_v4();
    let response = create(&app, app.tenant, venue).await;
    assert!(response.headers().get("retry-after").is_some());
    let (status, p) = problem(response).await;
    assert_eq!((status, p["code"].as_str()), (503, Some("VENUE_SERVICE_UNAVAILABLE")));
    assert!(app.venue_server.received_requests().await.unwrap().is_empty());
    let events: Value = app.get_as("/api/v1/events", &app.token("user")).await.json().await.unwrap();
    assert_eq!(events["events"].as_array().map(Vec::len), Some(0), "nothing was created: {events}");
}

#[tokio::test]
async fn venue_a_hung_service_is_bounded_by_the_attempt_timeout_and_the_deadline() {
    let app = spawn_app_with(|vars| {
        vars.insert("RESILIENCE_VENUE_ATTEMPT_TIMEOUT_MS".into(), "300".into());
        vars.insert("RESILIENCE_VENUE_DEADLINE_MS".into(), "1000".into());
        vars.insert("RESILIENCE_VENUE_RETRIES".into(), "3".into());
        vars.insert("RESILIENCE_VENUE_RETRY_BASE_MS".into(), "10".into());
        vars.insert("RESILIENCE_VENUE_RETRY_MAX_MS".into(), "20".into());
    })
    .await;
    let venue = Uuid::new_v4();
    answer(&app, venue, ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
    let started = Instant::now();
    let result = app.state.venues.venue(app.tenant, venue).await;
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(VenueError::Unavailable { .. })), "{result:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1_500), "bounded by the deadline: {elapsed:?}");
    let attempts = received(&app, venue).await.len();
    assert!((2..=4).contains(&attempts), "timed-out attempts are retried within the deadline: {attempts}");

    let started = Instant::now();
    let (status, _) = problem(create(&app, app.tenant, venue).await).await;
    assert_eq!(status, 503);
    assert!(started.elapsed() < Duration::from_millis(1_500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn venue_of_another_tenant_is_refused_and_never_cached() {
    let app = spawn_app().await;
    // venue-service's internal route ignores X-Tenant-ID and answers with the venue's own tenant.
    let foreign = app.venue_of(TenantId::from_uuid(Uuid::new_v4()));
    let (status, p) = problem(create(&app, app.tenant, foreign).await).await;
    assert_eq!(status, 422);
    assert_eq!(p["errors"][0]["code"], "VENUE_NOT_FOUND");

    app.state.venues.breaker().unwrap().force_open();
    let result = app.state.venues.venue(app.tenant, foreign).await;
    assert!(matches!(result, Err(VenueError::Unavailable { .. })), "not cached: {result:?}");
}

#[tokio::test]
async fn venue_hung_creates_are_bounded_until_the_breaker_opens_then_fail_fast() {
    let app = spawn_app_with(|vars| {
        vars.insert("RESILIENCE_VENUE_ATTEMPT_TIMEOUT_MS".into(), "300".into());
        vars.insert("RESILIENCE_VENUE_DEADLINE_MS".into(), "400".into());
        vars.insert("RESILIENCE_VENUE_RETRIES".into(), "0".into());
        vars.insert("RESILIENCE_VENUE_BREAKER_MIN_CALLS".into(), "3".into());
        vars.insert("RESILIENCE_VENUE_BREAKER_WINDOW".into(), "3".into());
    })
    .await;
    // The whole venue-service hangs: every venue, every call.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .with_priority(1)
        .mount(&app.venue_server)
        .await;
    let breaker = app.state.venues.breaker().expect("breaker");
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = problem(create(&app, app.tenant, Uuid::new_v4()).await).await;
        assert_eq!(status, 503, "{body}");
        assert!(started.elapsed() < Duration::from_millis(1_000), "bounded: {:?}", started.elapsed());
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    let calls = app.venue_server.received_requests().await.unwrap().len();
    for _ in 0..5 {
        let started = Instant::now();
        let (status, _) = problem(create(&app, app.tenant, Uuid::new_v4()).await).await;
        assert_eq!(status, 503);
        assert!(started.elapsed() < Duration::from_millis(150), "fails fast: {:?}", started.elapsed());
    }
    assert_eq!(app.venue_server.received_requests().await.unwrap().len(), calls, "no call while open");
}

#[tokio::test]
async fn venue_lookups_reuse_a_fresh_copy_so_normal_traffic_stays_inside_venue_services_budget() {
    let app = spawn_app().await;
    let venue = Uuid::new_v4();
    for i in 0..20 {
        let body = json!({"name": format!("Night {i}"), "venue_id": venue});
        app.create_event(&app.token("user"), body).await;
    }
    assert_eq!(app.venues.internal_calls(), 1, "twenty creations at one venue, one venue-service call");
    assert_eq!(received(&app, venue).await.len(), 1);
}

#[tokio::test]
async fn venue_services_429_is_honoured_no_call_until_retry_after_and_the_copy_is_served() {
    let app = spawn_app_with(no_fresh_copies).await;
    let known = Uuid::new_v4();
    app.state.venues.venue(app.tenant, known).await.expect("live answer, copied");
    // venue-service's own limiter says no (global budget spent), with Retry-After.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30").set_body_json(
            json!({"success": false, "error": "Rate limit exceeded for global", "code": "RATE_LIMIT_EXCEEDED"}),
        ))
        .with_priority(2)
        .mount(&app.venue_server)
        .await;
    let fresh = Uuid::new_v4();
    let response = create(&app, app.tenant, fresh).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((25..=30).contains(&retry_after), "venue-service's wait is passed on: {retry_after}");
    let (status, p) = problem(response).await;
    assert_eq!((status, p["code"].as_str()), (503, Some("VENUE_SERVICE_UNAVAILABLE")), "no copy of a new venue");
    let calls = app.venue_server.received_requests().await.unwrap().len();

    // Until Retry-After has passed nothing is sent; a known venue is served from its copy.
    assert_eq!(create(&app, app.tenant, known).await.status(), 201, "the copy carries known venues");
    assert_eq!(create(&app, app.tenant, Uuid::new_v4()).await.status(), 503);
    assert_eq!(app.venue_server.received_requests().await.unwrap().len(), calls, "429 honoured: no call");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("venue_throttled_total 1"), "{metrics}");
}

#[tokio::test]
async fn venue_calls_are_held_to_our_share_of_venue_services_budget() {
    let app = spawn_app_with(|vars| {
        no_fresh_copies(vars);
        vars.insert("VENUE_SERVICE_CALLS_PER_MINUTE".into(), "3".into());
    })
    .await;
    // Stay inside one minute window, so the count cannot reset half-way.
    let second = chrono::Utc::now().timestamp() % 60;
    if second > 50 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    for _ in 0..3 {
        assert!(app.state.venues.venue(app.tenant, Uuid::new_v4()).await.is_ok());
    }
    let over = create(&app, app.tenant, Uuid::new_v4()).await;
    assert!(over.headers().get("retry-after").is_some());
    let (status, p) = problem(over).await;
    assert_eq!((status, p["code"].as_str()), (503, Some("VENUE_SERVICE_UNAVAILABLE")));
    assert_eq!(app.venues.internal_calls(), 3, "the fourth venue was not asked for");
}

#[tokio::test]
async fn an_inactive_venue_is_refused_and_the_user_route_is_not_a_service_route() {
    let app = spawn_app().await;
    let closed = Uuid::new_v4();
    let mut record = VenueRecord::active(closed, *app.tenant.as_uuid(), "Closed", 100, "UTC");
    record.status = "suspended".to_owned();
    app.venues.register(record);
    let (status, p) = problem(create(&app, app.tenant, closed).await).await;
    assert_eq!((status, p["errors"][0]["code"].as_str()), (422, Some("VENUE_INACTIVE")));

    // The fake is venue-service: its user route refuses a service without a user's JWT, as the
    // real one does (which is why the client must use /internal/venues/:id).
    let user_route = reqwest::get(format!("{}/api/v1/venues/{closed}", app.venue_server.uri())).await.unwrap();
    assert_eq!(user_route.status(), 401);
    // And its internal route refuses an unsigned call.
    let unsigned = reqwest::get(format!("{}/internal/venues/{closed}", app.venue_server.uri())).await.unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(unsigned.json::<Value>().await.unwrap()["message"], "Missing authentication headers");
}
