//! The `event-service` binary: `serve` (default), `migrate`, `healthcheck`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use event_service::config::{Config, ConfigError, Env, LogFormat, MigrateConfig};
use event_service::startup::Application;
use event_service::{storage, telemetry};

#[derive(Parser)]
#[command(version, about = "TicketToken event-service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply migrations as DATABASE_ADMIN_URL and grant the DATABASE_URL role its privileges.
    Migrate,
    /// Probe this instance's /health/live (for the container HEALTHCHECK; no curl needed).
    Healthcheck,
}

/// EX_CONFIG from sysexits.h: configuration errors are distinguishable from crashes.
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve().await,
            Command::Migrate => migrate().await,
            Command::Healthcheck => healthcheck().await,
        }
    })
}

fn config_failure(err: &ConfigError) -> ExitCode {
    eprintln!("{err}");
    ExitCode::from(EXIT_CONFIG)
}

async fn serve() -> ExitCode {
    let config = match Config::from_env(Env::from_process()) {
        Ok(c) => c,
        Err(e) => return config_failure(&e),
    };
    telemetry::init(&config.log_level, config.log_format);
    telemetry::log_panics();
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "refusing to start");
            eprintln!("event-service: refusing to start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let token = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        token.cancel();
    });
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "server failed");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received");
}

async fn migrate() -> ExitCode {
    let config = match MigrateConfig::from_env(Env::from_process()) {
        Ok(c) => c,
        Err(e) => return config_failure(&e),
    };
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".to_owned());
    telemetry::init(&level, LogFormat::Pretty);
    match storage::migrate::run(&config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("event-service migrate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck() -> ExitCode {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(3003);
    let url = format!("http://127.0.0.1:{port}/health/live");
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(3)).build() {
        Ok(c) => c,
        Err(_) => return ExitCode::FAILURE,
    };
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("{url}: HTTP {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            ExitCode::FAILURE
        }
    }
}
