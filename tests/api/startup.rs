//! Start-up refuses what would be unsafe or broken, and says why.

use std::process::Command;

use event_service::startup::Application;

use crate::helpers::{base_vars, config_from, fixture, test_env};

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_event-service"));
    cmd.env_clear();
    cmd
}

#[test]
fn bad_configuration_exits_non_zero_naming_the_variable() {
    let out = binary()
        .env("DATABASE_URL", "postgres://app:secret-pw@127.0.0.1:1/db")
        .env("JWT_PUBLIC_KEY_PATH", fixture("jwt-test-public.pem"))
        .env("PORT", "not-a-port")
        .env("DB_POOL_MAX", "0")
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORT"), "{stderr}");
    assert!(stderr.contains("DB_POOL_MAX"), "{stderr}");
    assert!(!stderr.contains("secret-pw"), "secrets never printed: {stderr}");
}

#[test]
fn missing_required_configuration_is_named() {
    let out = binary().output().expect("binary runs");
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DATABASE_URL") && stderr.contains("JWT_PUBLIC_KEY_PATH"), "{stderr}");
}

#[test]
fn migrate_without_an_admin_url_is_refused() {
    let out = binary().arg("migrate").output().expect("binary runs");
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_ADMIN_URL"));
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let port = crate::helpers::free_port();
    let out = binary().arg("healthcheck").env("PORT", port.to_string()).output().expect("binary runs");
    assert!(!out.status.success());
}

async fn build_error(database_url: String) -> String {
    let mut vars = base_vars(&test_env());
    vars.insert("DATABASE_URL".into(), database_url);
    match Application::build(config_from(vars)).await {
        Ok(_) => panic!("the application must refuse to start"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn serve_refuses_to_start_as_a_superuser() {
    let err = build_error(test_env().superuser_url).await;
    assert!(err.contains("superuser"), "{err}");
}

#[tokio::test]
async fn serve_refuses_to_start_as_the_owner_of_the_tables() {
    let err = build_error(test_env().admin_url).await;
    assert!(err.contains("owns"), "{err}");
}

#[tokio::test]
async fn serve_refuses_a_missing_jwt_key_naming_the_variable() {
    let mut vars = base_vars(&test_env());
    vars.insert("JWT_PUBLIC_KEY_PATH".into(), "/nonexistent/key.pem".into());
    let err = Application::build(config_from(vars)).await.err().expect("refused");
    assert!(format!("{err:#}").contains("JWT_PUBLIC_KEY_PATH"));
}

#[tokio::test]
async fn serve_refuses_a_role_that_could_grant_itself_the_owner_role() {
    let su = sqlx::PgPool::connect(&test_env().superuser_url).await.unwrap();
    let role = format!("escalator_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create role {role} login createrole password 'pw'")).execute(&su).await.unwrap();
    sqlx::query(&format!("grant event_service_app to {role}")).execute(&su).await.unwrap();
    let url = url::Url::parse(&test_env().database_url).unwrap();
    let mut escalator = url.clone();
    escalator.set_username(&role).unwrap();
    escalator.set_password(Some("pw")).unwrap();
    let err = build_error(escalator.to_string()).await;
    assert!(err.contains("CREATEROLE"), "{err}");
}

/// Just enough for `serve` to pass configuration and try to connect (nothing listens on port 1).
fn minimal_serve(cmd: &mut Command) -> &mut Command {
    cmd.env("DATABASE_URL", "postgres://app:secret-pw@127.0.0.1:1/db")
        .env("JWT_PUBLIC_KEY_PATH", fixture("jwt-test-public.pem"))
        .env("SOLANA_REGISTRATION_ENABLED", "false")
        .env("DB_CONNECT_RETRIES", "1")
}

#[test]
fn in_production_a_misspelt_variable_refuses_start_up_naming_the_likely_one() {
    let out = minimal_serve(&mut binary())
        .env("APP_ENV", "production")
        .env("DB_POOL_MAXX", "5")
        .env("HOME", "/root")
        .env("NODE_ENV", "production")
        .env("EVENT_SERVICE_PORT", "tcp://10.0.0.1:3003")
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DB_POOL_MAXX: is not a variable event-service reads; did you mean DB_POOL_MAX?"),
        "{stderr}"
    );
    assert!(!stderr.contains("HOME") && !stderr.contains("EVENT_SERVICE_PORT"), "platform variables pass: {stderr}");
}

#[test]
fn outside_production_a_misspelt_variable_is_a_warning_in_plain_text_logs() {
    let out = minimal_serve(&mut binary())
        .env("APP_ENV", "development")
        .env("LOG_FORMAT", "pretty")
        .env("REDIS_URLL", "redis://127.0.0.1:1")
        .output()
        .expect("binary runs");
    // It goes on to connect, and fails there: Postgres is not reachable.
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let warning = stdout.lines().find(|l| l.contains("REDIS_URLL")).unwrap_or_else(|| panic!("no warning: {stdout}"));
    assert!(warning.contains("WARN") && warning.contains("did you mean REDIS_URL?"), "{warning}");
    assert!(!stdout.contains('\u{1b}'), "no ANSI colour codes when stdout is not a terminal: {stdout:?}");
}

#[test]
fn the_config_command_lists_every_variable_with_default_and_value_and_redacts_secrets() {
    let out = minimal_serve(binary().arg("config"))
        .env("DB_POOL_MAX", "7")
        .env("INTERNAL_HMAC_SECRET", "hmac-secret-value-with-32-characters!")
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("secret-pw") && !stdout.contains("hmac-secret-value"), "{stdout}");
    let line = |name: &str| {
        stdout.lines().find(|l| l.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{name}: {stdout}"))
    };
    assert!(line("DATABASE_URL").starts_with("DATABASE_URL=<redacted>"));
    assert!(line("INTERNAL_HMAC_SECRET").starts_with("INTERNAL_HMAC_SECRET=<redacted>"));
    assert!(line("DB_POOL_MAX").starts_with("DB_POOL_MAX=7 ") && line("DB_POOL_MAX").contains("default: 10, set"));
    assert!(line("PORT").starts_with("PORT=3003 ") && line("PORT").ends_with("# default: 3003"));
    // Variables of every branch: the parts of DATABASE_URL, and `migrate`'s own.
    for name in ["DB_HOST", "DB_PASSWORD", "REDIS_HOST", "DATABASE_ADMIN_URL", "RESILIENCE_VENUE_RETRIES", "LOG_FORMAT"]
    {
        line(name);
    }

    let invalid = minimal_serve(binary().arg("config")).env("PORT", "eighty").output().expect("binary runs");
    assert_eq!(invalid.status.code(), Some(78), "a configuration serve would refuse");
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("PORT"));
}

#[test]
fn help_points_to_the_config_listing() {
    let out = binary().arg("--help").output().expect("binary runs");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("config") && help.contains("event-service config` lists every"), "{help}");
}

#[test]
fn migrate_honours_log_format() {
    let env = test_env();
    for (format, json) in [("json", true), ("pretty", false)] {
        let out = binary()
            .arg("migrate")
            .env("DATABASE_ADMIN_URL", &env.admin_url)
            .env("DATABASE_URL", &env.database_url)
            .env("LOG_LEVEL", "info")
            .env("LOG_FORMAT", format)
            .output()
            .expect("binary runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let applied = stdout.lines().find(|l| l.contains("migrations applied")).unwrap_or_else(|| panic!("{stdout}"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(applied).is_ok(), json, "{format}: {applied}");
        assert!(!stdout.contains('\u{1b}'), "no ANSI colour codes: {stdout:?}");
    }
}
