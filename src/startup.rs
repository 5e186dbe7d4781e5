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

use crate::auth::TokenVerifier;
use crate::auth::revocation::Revocations;
use crate::auth::tenants::{TenantCacheSettings, TenantDirectory};
use crate::clients::broker::Broker;
use crate::clients::solana::SolanaClient;
use crate::clients::tickets::TicketClient;
use crate::clients::venue::HttpVenueClient;
use crate::config::Config;
use crate::http;
use crate::state::{AppState, AppStateInner, HealthState};
use crate::storage::platform::PlatformDb;
use crate::storage::{Cache, Db, postgres};

pub struct Application {
    listener: TcpListener,
    /// The operator's listener (`src/routes/operator.rs`), when `OPERATOR_TOKEN` is set.
    operator: Option<TcpListener>,
    state: AppState,
    shutdown: CancellationToken,
    /// SIGHUP reloads the JWT keys; registered in `build`, so a SIGHUP that arrives once the
    /// application is built never takes the default action (terminate).
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Application {
    /// Connects (with retry), refuses an unsafe database role, and binds the port.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // First, so the breakers created below register their series with the recorder.
        let metrics = crate::metrics::handle();
        let production = config.env == crate::config::AppEnv::Production;
        for (name, url) in [
            ("VENUE_SERVICE_URL", Some(&config.venue_service_url)),
            ("SOLANA_RPC_URL", Some(&config.solana_rpc_url)),
            ("TICKET_SERVICE_URL", config.ticket_service_url.as_ref()),
        ] {
            let Some(url) = url else { continue };
            if crate::clients::outbound::uses_insecure_override(url, production, config.allow_insecure_service_calls) {
                tracing::warn!(
                    variable = name,
                    "ALLOW_INSECURE_SERVICE_CALLS: calling a non-loopback service over plain http in production"
                );
            }
        }
        let tokens = TokenVerifier::from_config(&config.jwt)?;
        let pool = postgres::build_pool(&config.database)?;
        postgres::wait_until_reachable(&pool, config.database.connect_retries).await?;
        postgres::check_database_is_safe(&pool).await?;
        let citus = postgres::citus_installed(&pool).await?;
        let begin = postgres::begin_statement(&config.database, citus);
        tracing::info!(pooler = %config.database.pooler, citus, "database transactions open with `{begin}`");
        let db = Db::new(pool, &config.database, config.resilience.postgres.clone(), begin);
        let cache = Cache::new(&config.redis, config.resilience.redis.clone())?;
        let venues = HttpVenueClient::new(
            &config.venue_service_url,
            config.resilience.venue.clone(),
            cache.clone(),
            config.internal_hmac_secret.clone(),
            config.venue_lookup,
        )?;
        let tickets = TicketClient::new(
            config.ticket_service_url.clone(),
            config.resilience.ticket.clone(),
            config.internal_hmac_secret.clone(),
        )?;
        let platform =
            PlatformDb::new(&config.auth_source.url, config.database.pooler, config.resilience.auth_db.clone())?;
        // A missing table or grant is a deployment mistake: refuse to start. An unreachable
        // auth database is an outage: start, and apply the documented fallbacks.
        platform.check_schema().await?;
        let tenants = TenantDirectory::new(
            platform.clone(),
            TenantCacheSettings {
                ttl: config.auth_source.tenant_ttl,
                stale_max: config.auth_source.tenant_stale_max,
                capacity: 100_000,
            },
        );
        let revocations = Revocations::new(platform.clone(), config.auth_source.revocation_recheck, 200_000);
        let solana = SolanaClient::new(
            config.solana_rpc_url.clone(),
            config.resilience.solana_read.clone(),
            config.resilience.solana_send.clone(),
        )?;
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(2)).build()?;

        let addr = SocketAddr::new(config.host, config.port);
        let listener =
            TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot bind {addr} (HOST/PORT): {e}"))?;
        let broker = Arc::new(Broker::new(config.relay.url.clone(), config.resilience.rabbitmq.clone()));
        let state = AppState::new(AppStateInner {
            broker,
            auth_failures: Arc::default(),
            config: Arc::new(config),
            db,
            cache,
            tokens: Arc::new(tokens),
            platform,
            tenants: Arc::new(tenants),
            revocations: Arc::new(revocations),
            venues: Arc::new(venues),
            tickets,
            solana,
            health: Arc::new(HealthState::new()),
            metrics,
            http,
        });
        let operator = match &state.config.operator.token {
            Some(_) => {
                let addr = SocketAddr::new(state.config.operator.host, state.config.operator.port);
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot bind {addr} (ADMIN_HOST/ADMIN_PORT): {e}"))?;
                Some(listener)
            }
            None => None,
        };
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        Ok(Self { listener, operator, state, shutdown: CancellationToken::new(), hangup })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// The operator listener's port, when it runs.
    pub fn operator_port(&self) -> Option<u16> {
        self.operator.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port())
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
        let Application { listener, operator, state, shutdown, hangup } = self;
        let config = state.config.clone();
        let app = router(state.clone());

        let jobs = crate::jobs::spawn_all(&state, shutdown.clone());
        tokio::spawn(state.tenants.clone().listen(config.redis.pubsub_urls(), shutdown.clone()));
        tokio::spawn(state.cache.clone().listen_for_invalidations(config.redis.pubsub_urls(), shutdown.clone()));
        tokio::spawn(reload_keys(state.tokens.clone(), config.jwt.reload_interval, hangup, shutdown.clone()));
        state.health.mark_started();
        tracing::info!(addr = %listener.local_addr()?, "event-service listening");
        match operator {
            Some(operator) => {
                tracing::info!(addr = %operator.local_addr()?, "operator controls listening");
                let app = crate::routes::operator::router(state.clone())
                    .fallback(http::fallback)
                    .layer(middleware::from_fn(http::request_context))
                    .with_state(state.clone());
                let stop = shutdown.clone();
                tokio::spawn(
                    axum::serve(operator, app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .into_future(),
                );
            }
            None => tracing::info!("no OPERATOR_TOKEN: operator controls are off"),
        }

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
    with_middleware(crate::routes::router(&state).fallback(http::fallback), state)
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
        .layer(middleware::from_fn_with_state(
            Arc::new(http::concurrency::InFlightLimits::new(&state.config.rate_limit)),
            http::concurrency::limit_concurrency,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), http::rate_limit::rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), http::authenticate::authenticate))
        .layer(middleware::from_fn(move |req, next| http::request_timeout(timeout, req, next)))
        .layer(CatchPanicLayer::custom(http::panic_response))
        .layer(middleware::from_fn(http::request_context))
        .with_state(state)
}

/// Re-reads the JWT public keys every `JWT_KEY_RELOAD_INTERVAL_SECONDS` and on SIGHUP, so a
/// key rotation needs no restart.
async fn reload_keys(
    tokens: Arc<TokenVerifier>,
    interval: Duration,
    mut hangup: Option<tokio::signal::unix::Signal>,
    shutdown: CancellationToken,
) {
    let period = if interval.is_zero() { Duration::from_secs(365 * 86_400) } else { interval };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let hup = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick(), if !interval.is_zero() => tokens.reload_keys("interval"),
            Some(()) = hup => tokens.reload_keys("SIGHUP"),
            () = shutdown.cancelled() => return,
        }
    }
}
