//! A panicking handler answers a 500 problem with the request id, and is counted, instead of
//! dropping the connection. The panicking route exists only in this test: it is wrapped in the
//! service's own middleware stack (`startup::with_middleware`).

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use event_service::startup::with_middleware;

use crate::helpers::{problem, spawn_app};

fn panics_counted(metrics: &str, route: &str) -> u64 {
    let prefix = format!("http_panics_total{{route=\"{route}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |v| v.trim().parse().expect("a count"))
}

async fn boom() -> &'static str {
    panic!("boom: secret detail")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_problem_json_with_the_request_id_and_is_counted() {
    let app = spawn_app().await;
    let routes = Router::new().route("/test-only/panic", get(boom)).fallback(event_service::http::fallback);
    let router = with_middleware(routes, app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).into_future());
    let before = panics_counted(&app.state.metrics.render(), "/test-only/panic");

    for attempt in 1..=2 {
        let response = app
            .client
            .get(format!("http://{address}/test-only/panic"))
            .header("x-request-id", format!("panic-test-{attempt}"))
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(response.headers()["x-request-id"], format!("panic-test-{attempt}").as_str());
        let (status, body) = problem(response).await;
        assert_eq!(status, 500);
        assert_eq!(body["code"], "INTERNAL_ERROR");
        assert_eq!(body["instance"], format!("urn:uuid:panic-test-{attempt}"));
        assert!(!body.to_string().contains("secret detail"), "the panic message stays in the log: {body}");
    }

    // The same server still serves after the panics.
    let (status, _) = problem(app.client.get(format!("http://{address}/nowhere")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    let after = panics_counted(&app.state.metrics.render(), "/test-only/panic");
    assert_eq!(after - before, 2, "http_panics_total counts each panic");
}
