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
