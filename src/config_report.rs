//! What `event-service config` prints, and the start-up check for unknown variables. Both
//! come from `config::catalogue`, which runs the configuration code itself, so they list
//! exactly the variables the service reads, with the defaults it applies.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::config::{ConfigError, ConfigProblem, Variable, catalogue};

/// Prefixes of the variable families this service owns. A variable with one of them that the
/// service does not read is most likely misspelt, and would otherwise silently leave the real
/// one at its default. Platform-wide names (`NODE_ENV`, `HOME`, `PATH`, `CARGO_*`, `TEST_*`,
/// `RUST_*`, ...) have none of these prefixes.
pub const POLICED_PREFIXES: &[&str] = &[
    "DB_",
    "DATABASE_",
    "REDIS_",
    "JWT_",
    "RESILIENCE_",
    "SOLANA_",
    "RATE_LIMIT_",
    "EVENT_",
    "RESERVATION_",
    "LOG_",
    "RABBITMQ_",
];

/// A variable with a policed prefix that the service does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub name: String,
    /// The closest variable the service does read, if one is close.
    pub suggestion: Option<String>,
}

impl Unknown {
    fn message(&self) -> String {
        match &self.suggestion {
            Some(known) => format!("is not a variable event-service reads; did you mean {known}?"),
            None => "is not a variable event-service reads".to_owned(),
        }
    }
}

/// The variables of `vars` that carry a policed prefix but are not read by the service.
pub fn unknown_variables(vars: &HashMap<String, String>, known: &BTreeMap<String, Variable>) -> Vec<Unknown> {
    let mut unknown: Vec<Unknown> = vars
        .iter()
        .filter(|(name, _)| POLICED_PREFIXES.iter().any(|p| name.starts_with(p)))
        .filter(|(name, value)| !known.contains_key(name.as_str()) && !injected_by_platform(name, value))
        .map(|(name, _)| Unknown { name: name.clone(), suggestion: closest(name, known) })
        .collect();
    unknown.sort_by(|a, b| a.name.cmp(&b.name));
    unknown
}

/// Kubernetes service links (and Docker links) inject `<SERVICE>_SERVICE_HOST`,
/// `<SERVICE>_SERVICE_PORT[_<NAME>]`, `<SERVICE>_PORT=tcp://...` and
/// `<SERVICE>_PORT_<N>_<PROTO>[_ADDR|_PORT|_PROTO]` for every Service of the namespace; a
/// Service named `event-service` or `redis` would otherwise trip the check. The manifests turn
/// the links off (`enableServiceLinks: false`); this keeps a cluster that does not from failing.
fn injected_by_platform(name: &str, value: &str) -> bool {
    if name.contains("_SERVICE_HOST") || name.contains("_SERVICE_PORT") {
        return true;
    }
    if name.ends_with("_PORT") && ["tcp://", "udp://", "sctp://"].iter().any(|s| value.starts_with(s)) {
        return true;
    }
    // <SERVICE>_PORT_<number>_<PROTO>...
    name.split("_PORT_").skip(1).any(|rest| {
        let mut parts = rest.split('_');
        parts.next().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            && parts.next().is_some_and(|p| matches!(p, "TCP" | "UDP" | "SCTP"))
    })
}

/// The known name nearest to `name` (edit distance up to a fifth of its length, at least 2).
fn closest(name: &str, known: &BTreeMap<String, Variable>) -> Option<String> {
    let limit = (name.len() / 5).max(2);
    known.keys().map(|k| (distance(name, k), k)).filter(|(d, _)| *d <= limit).min().map(|(_, k)| k.clone())
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// Whether `vars` configure a production process (`APP_ENV`, or `NODE_ENV`, as `Config` reads it).
pub fn is_production(vars: &HashMap<String, String>) -> bool {
    let value = |name: &str| vars.get(name).map(|v| v.trim().to_ascii_lowercase()).filter(|v| !v.is_empty());
    value("APP_ENV").or_else(|| value("NODE_ENV")).is_some_and(|v| v == "production" || v == "prod")
}

/// The start-up check of `serve` and `migrate`: unknown variables with the service's prefixes
/// are logged as warnings, and in production refused (exit 78 like any configuration error).
pub fn check_unknown_variables(vars: &HashMap<String, String>) -> Result<(), ConfigError> {
    let (known, _) = catalogue(vars);
    let unknown = unknown_variables(vars, &known);
    if unknown.is_empty() {
        return Ok(());
    }
    if is_production(vars) {
        // Leaked once at start-up, like the resilience variable names: `ConfigProblem` holds
        // `&'static str` names, and the process is about to exit.
        let problems = unknown
            .iter()
            .map(|u| ConfigProblem { variable: Box::leak(u.name.clone().into_boxed_str()), message: u.message() })
            .collect();
        return Err(ConfigError(problems));
    }
    for u in &unknown {
        tracing::warn!(variable = %u.name, suggestion = u.suggestion.as_deref(), "{} {}", u.name, u.message());
    }
    Ok(())
}

/// What `event-service config` prints: every variable, as an env file a person can read, with
/// its default and the value this environment gives it; then the unknown variables. Secrets
/// are never printed.
pub fn render(vars: &HashMap<String, String>, known: &BTreeMap<String, Variable>) -> String {
    let mut out = String::from(
        "# event-service configuration: every environment variable that `serve` and `migrate` read,\n\
         # with the value this environment gives it, and its default. Secrets show as <redacted>.\n",
    );
    let lines: Vec<(String, String)> = known
        .values()
        .map(|v| {
            let value = vars.get(&v.name).map(|s| s.trim()).filter(|s| !s.is_empty());
            let shown = match value {
                Some(_) if v.secret => "<redacted>".to_owned(),
                Some(value) => redact_url_password(value),
                None => v.default.clone().unwrap_or_default(),
            };
            let mut notes = vec![match (&v.default, v.required) {
                (_, true) => "required".to_owned(),
                (Some(default), false) => format!("default: {default}"),
                (None, false) => "no default".to_owned(),
            }];
            if value.is_some() {
                notes.push("set".to_owned());
            }
            if v.secret {
                notes.push("secret".to_owned());
            }
            (format!("{}={shown}", v.name), notes.join(", "))
        })
        .collect();
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0).min(60);
    for (line, notes) in lines {
        let _ = writeln!(out, "{line:<width$}  # {notes}");
    }
    let unknown = unknown_variables(vars, known);
    if !unknown.is_empty() {
        let _ = writeln!(out, "\n# Set here but not read by event-service (refused when APP_ENV=production):");
        for u in unknown {
            let _ = writeln!(out, "# {} {}", u.name, u.message());
        }
    }
    out
}

/// A URL's password (and `password=` query parameters) replaced, so a value that embeds a
/// credential is shown without it even when its variable is not known to be secret.
fn redact_url_password(value: &str) -> String {
    let Ok(mut url) = url::Url::parse(value) else { return value.to_owned() };
    let mut changed = false;
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
        changed = true;
    }
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if pairs.iter().any(|(k, _)| k.to_ascii_lowercase().contains("password")) {
        url.query_pairs_mut().clear().extend_pairs(pairs.iter().map(|(k, v)| {
            let secret = k.to_ascii_lowercase().contains("password");
            (k.as_str(), if secret { "REDACTED" } else { v.as_str() })
        }));
        changed = true;
    }
    if changed { url.to_string() } else { value.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_catalogue_holds_every_variable_that_config_rs_reads_on_any_branch() {
        let (known, _) = catalogue(&HashMap::new());
        // Every name passed to an `Env` reader in config.rs, as written in the source.
        let source = include_str!("config.rs");
        let mut named = Vec::new();
        for call in [
            "raw(\"",
            "string(\"",
            "required(\"",
            "parse(\"",
            "ranged(\"",
            "millis(\"",
            "url(\"",
            "_url(&mut env, \"",
            "_url(env, \"",
        ] {
            for (at, _) in source.match_indices(call) {
                let rest = &source[at + call.len()..];
                let name = &rest[..rest.find('"').expect("closing quote")];
                if name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
                    named.push(name);
                }
            }
        }
        assert!(named.len() > 60, "the scan found too few names: {named:?}");
        let missing: Vec<_> = named.iter().filter(|n| !known.contains_key(**n)).collect();
        assert!(
            missing.is_empty(),
            "read by config.rs but missing from config::catalogue (add an environment that takes \
             their branch to `catalogue`): {missing:?}"
        );
        for generated in
            ["RESILIENCE_VENUE_BREAKER_SLOW_CALL_MS", "RESILIENCE_SOLANA_SEND_RETRIES", "DATABASE_ADMIN_URL"]
        {
            assert!(known.contains_key(generated), "{generated}");
        }
    }

    #[test]
    fn defaults_secrets_and_required_are_recorded() {
        let (known, _) = catalogue(&HashMap::new());
        assert_eq!(known["DB_POOL_MAX"].default.as_deref(), Some("10"));
        assert_eq!(known["PORT"].default.as_deref(), Some("3003"));
        assert_eq!(known["LOG_FORMAT"].default.as_deref(), Some("pretty"));
        assert!(known["JWT_PUBLIC_KEY_PATH"].required && !known["JWT_PUBLIC_KEY_PATH"].secret);
        assert!(!known["TICKETTOKEN_PROGRAM_ID"].secret, "TOKEN inside a word is not a secret");
        for secret in ["DB_PASSWORD", "REDIS_PASSWORD", "INTERNAL_HMAC_SECRET", "DATABASE_URL", "DATABASE_ADMIN_URL"] {
            assert!(known[secret].secret, "{secret}");
        }
        // Defaults that depend on other variables are those of the environment listed.
        let (production, _) = catalogue(&vars(&[("APP_ENV", "production")]));
        assert_eq!(production["LOG_FORMAT"].default.as_deref(), Some("json"));
    }

    #[test]
    fn a_misspelt_variable_is_unknown_with_a_suggestion_and_platform_variables_are_not() {
        let env = vars(&[
            ("DB_POOL_MAXX", "5"),
            ("RESILIENCE_VENUE_RETRYS", "2"),
            ("EVENT_MIN_ADVANCE_HOURS", "1"),
            ("DB_POOL_MAX", "5"),
            ("NODE_ENV", "production"),
            ("HOME", "/root"),
            ("PATH", "/usr/bin"),
            ("HOSTNAME", "pod-1"),
            ("CARGO_TARGET_DIR", "/t"),
            ("TEST_DATABASE_URL", "postgres://x"),
            ("RUST_LOG", "debug"),
            ("EVENT_SERVICE_SERVICE_HOST", "10.0.0.1"),
            ("EVENT_SERVICE_SERVICE_PORT_HTTP", "3003"),
            ("EVENT_SERVICE_PORT", "tcp://10.0.0.1:3003"),
            ("EVENT_SERVICE_PORT_3003_TCP_ADDR", "10.0.0.1"),
            ("REDIS_PORT_6379_TCP", "tcp://10.0.0.2:6379"),
        ]);
        let (known, _) = catalogue(&env);
        let unknown = unknown_variables(&env, &known);
        assert_eq!(
            unknown,
            [
                Unknown { name: "DB_POOL_MAXX".to_owned(), suggestion: Some("DB_POOL_MAX".to_owned()) },
                Unknown {
                    name: "RESILIENCE_VENUE_RETRYS".to_owned(),
                    suggestion: Some("RESILIENCE_VENUE_RETRIES".to_owned())
                },
            ]
        );
        assert!(is_production(&env));
        let refused = check_unknown_variables(&env).unwrap_err().to_string();
        assert!(
            refused.contains("DB_POOL_MAXX: is not a variable event-service reads; did you mean DB_POOL_MAX?"),
            "{refused}"
        );
        let mut development = env;
        development.insert("APP_ENV".to_owned(), "development".to_owned());
        assert!(check_unknown_variables(&development).is_ok(), "only warned outside production");
    }

    #[test]
    fn the_listing_shows_defaults_and_values_and_never_a_secret() {
        let env = vars(&[
            ("DATABASE_URL", "postgres://app:s3cret-db@db:5432/events"),
            ("DB_PASSWORD", "s3cret-part"),
            ("INTERNAL_HMAC_SECRET", "s3cret-hmac-with-at-least-32-characters"),
            ("SOLANA_RPC_URL", "https://user:s3cret-rpc@rpc.example/?api-key=k"),
            ("VENUE_SERVICE_URL", "https://venue.internal/?password=s3cret-q&x=1"),
            ("DB_POOL_MAX", "7"),
            ("DB_POOL_MAXX", "7"),
        ]);
        let (known, _) = catalogue(&env);
        let text = render(&env, &known);
        assert!(!text.contains("s3cret"), "{text}");
        let line = |name: &str| {
            text.lines().find(|l| l.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{name}: {text}"))
        };
        assert!(
            line("DATABASE_URL").starts_with("DATABASE_URL=<redacted> ")
                && line("DATABASE_URL").contains("set, secret")
        );
        assert!(
            line("DB_POOL_MAX").starts_with("DB_POOL_MAX=7 ") && line("DB_POOL_MAX").ends_with("# default: 10, set")
        );
        assert!(line("DB_POOL_MIN").starts_with("DB_POOL_MIN=2 ") && line("DB_POOL_MIN").ends_with("# default: 2"));
        assert!(line("SOLANA_RPC_URL").contains("user:REDACTED@rpc.example"), "{}", line("SOLANA_RPC_URL"));
        assert!(line("VENUE_SERVICE_URL").contains("password=REDACTED&x=1"), "{}", line("VENUE_SERVICE_URL"));
        assert!(
            text.contains("# DB_POOL_MAXX is not a variable event-service reads; did you mean DB_POOL_MAX?"),
            "{text}"
        );
    }
}
