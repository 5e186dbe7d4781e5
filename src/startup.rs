//! `Application`: builds everything from a validated `Config`, binds the listener itself (so
//! port 0 works in tests), and runs until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::JwtVerifier;
use crate::clients::solana::SolanaClient;
use crate::clients::venue::HttpVenueClient;
use crate::config::Config;
use crate::http;
use crate::state::{AppState, HealthState};
use crate::storage::{Cache, Db, postgres};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
}

impl Application {
    /// Connects (with retry), refuses an unsafe database role, and binds the port.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // First, so the breakers created below register their series with the recorder.
        let metrics = crate::metrics::handle();
        let production = config.env == crate::config::AppEnv::Production;
        for (name, url) in
            [("VENUE_SERVICE_URL", &config.venue_service_url), ("SOLANA_RPC_URL", &config.solana_rpc_url)]
        {
            if crate::clients::venue::uses_insecure_override(url, production, config.allow_insecure_service_calls) {
                tracing::warn!(
                    variable = name,
                    "ALLOW_INSECURE_SERVICE_CALLS: calling a non-loopback service over plain http in production"
                );
            }
        }
        let jwt = JwtVerifier::from_config(&config.jwt)?;
        let pool = postgres::build_pool(&config.database)?;
        postgres::wait_until_reachable(&pool, config.database.connect_retries).await?;
        postgres::check_database_is_safe(&pool).await?;
        let db = Db::new(pool, config.database.pool_max, config.resilience.postgres.clone());
        let cache = Cache::new(&config.redis, config.resilience.redis.clone())?;
        let venues = HttpVenueClient::new(
            config.venue_service_url.clone(),
            config.resilience.venue.clone(),
            cache.clone(),
            config.internal_hmac_secret.clone(),
        )?;
        let solana = SolanaClient::new(
            config.solana_rpc_url.clone(),
            config.resilience.solana_read.clone(),
            config.resilience.solana_send.clone(),
        )?;
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(2)).build()?;

        let addr = SocketAddr::new(config.host, config.port);
        let listener =
            TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot bind {addr} (HOST/PORT): {e}"))?;
        let state = AppState {
            config: Arc::new(config),
            db,
            cache,
            jwt: Arc::new(jwt),
            venues: Arc::new(venues),
            solana,
            health: Arc::new(HealthState::new()),
            metrics,
            http,
        };
        Ok(Self { listener, state, shutdown: CancellationToken::new() })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Cancelling this token starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then: waits `PRESTOP_DELAY_MS` while still
    /// serving, stops accepting, drains in-flight requests, stops background jobs and closes
    /// the pool, all bounded by `MAX_SHUTDOWN_TIMEOUT_MS`.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application { listener, state, shutdown } = self;
        let config = state.config.clone();
        let app = router(state.clone());

        let jobs = crate::jobs::spawn_all(&state, shutdown.clone());
        state.health.mark_started();
        tracing::info!(addr = %listener.local_addr()?, "event-service listening");

        let stop_accepting = {
            let (shutdown, health) = (shutdown.clone(), state.health.clone());
            let prestop = config.prestop_delay;
            async move {
                shutdown.cancelled().await;
                // Readiness fails from now on, so a load balancer that health-checks stops
                // routing here during the pre-stop delay, while in-flight and late requests
                // are still served.
                health.mark_draining();
                if !prestop.is_zero() {
                    tracing::info!(
                        prestop_ms = prestop.as_millis() as u64,
                        "shutdown requested; still serving during pre-stop delay"
                    );
                    tokio::time::sleep(prestop).await;
                }
                tracing::info!("no longer accepting connections; draining");
            }
        };
        // ConnectInfo gives the rate limiter the peer address for anonymous callers.
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(axum::serve(listener, service).with_graceful_shutdown(stop_accepting).into_future());

        shutdown.cancelled().await;
        let bound = config.prestop_delay + config.max_shutdown_timeout;
        let drain = async {
            let served = server.await;
            jobs.shutdown().await;
            state.db.pool().close().await;
            served
        };
        match tokio::time::timeout(bound, drain).await {
            Ok(Ok(Ok(()))) => tracing::info!("shutdown complete"),
            Ok(Ok(Err(e))) => return Err(e.into()),
            Ok(Err(join)) => return Err(join.into()),
            Err(_) => {
                tracing::warn!(timeout_ms = bound.as_millis() as u64, "shutdown timed out; exiting with work in flight")
            }
        }
        Ok(())
    }
}

/// The full router: the service's routes inside `with_middleware`.
pub fn router(state: AppState) -> Router {
    with_middleware(crate::routes::router(state.clone()).fallback(http::fallback), state)
}

/// The middleware around `routes`, outermost last:
/// request context (id, span, log line, metrics) → panic catcher → request timeout →
/// authentication → rate limit (per tenant and user, so after authentication) → body limit.
/// The panic catcher sits inside the request context, so a panicking handler still answers a
/// 500 problem with the request id, logged and counted like any other response.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let body_limit = state.config.body_limit;
    routes
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), http::rate_limit::rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), crate::auth::authenticate))
        .layer(middleware::from_fn(move |req, next| http::request_timeout(timeout, req, next)))
        .layer(CatchPanicLayer::custom(http::panic_response))
        .layer(middleware::from_fn(http::request_context))
        .with_state(state)
}
