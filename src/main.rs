//! The `event-service` binary: `serve` (default), `migrate`, `healthcheck`, `config`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use event_service::config::{Config, ConfigError, Env, MigrateConfig};
use event_service::startup::Application;
use event_service::{config_report, storage, telemetry};

// mimalloc instead of glibc's malloc: under load, about 17 % of the warm read's samples were in
// glibc's allocator, part of it waiting on its arena locks (`perf`, row 1 of
// scripts/bench/suite); docs/benchmarks.md has the before and after.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "TicketToken event-service",
    after_help = "Configuration comes from environment variables only. `event-service config` lists every \
                  one, with its default and the value the current environment gives it (secrets \
                  redacted). Unknown variables with the service's prefixes (DB_, REDIS_, JWT_, \
                  RESILIENCE_, SOLANA_, ...) are warned about, and refused when APP_ENV=production."
)]
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
    /// List every environment variable with its default and effective value (secrets redacted);
    /// exits 78 if the configuration would not start.
    Config,
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
            Command::Config => config(),
        }
    })
}

fn config_failure(err: &ConfigError) -> ExitCode {
    eprintln!("{err}");
    ExitCode::from(EXIT_CONFIG)
}

async fn serve() -> ExitCode {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let config = match Config::from_env(Env::from_map(vars.clone())) {
        Ok(c) => c,
        Err(e) => return config_failure(&e),
    };
    telemetry::init(&config.log_level, config.log_format);
    telemetry::log_panics();
    if let Err(e) = config_report::check_unknown_variables(&vars) {
        return config_failure(&e);
    }
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
    let vars: HashMap<String, String> = std::env::vars().collect();
    let config = match MigrateConfig::from_env(Env::from_map(vars.clone())) {
        Ok(c) => c,
        Err(e) => return config_failure(&e),
    };
    telemetry::init(&config.log_level, config.log_format);
    if let Err(e) = config_report::check_unknown_variables(&vars) {
        return config_failure(&e);
    }
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

/// `event-service config`: the listing on stdout; the problems `serve` would refuse to start
/// with on stderr, and exit 78 if there are any.
fn config() -> ExitCode {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let (known, problems) = event_service::config::catalogue(&vars);
    print!("{}", config_report::render(&vars, &known));
    let unknown = config_report::check_unknown_variables(&vars).err().map(|e| e.0).unwrap_or_default();
    let problems: Vec<_> = problems.into_iter().chain(unknown).collect();
    if problems.is_empty() { ExitCode::SUCCESS } else { config_failure(&ConfigError(problems)) }
}
