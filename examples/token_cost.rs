//! CPU cost of verifying an auth-service token, once per token (RS256 signature on
//! jsonwebtoken's `aws_lc_rs` backend) and for a token seen before (the verified-token cache
//! in `src/auth/mod.rs`: a SHA-256 of the token and a map lookup). Single-threaded, release
//! build, tokens signed with the test fixtures' key (2048-bit RSA, as auth-service's).
//!
//! ```sh
//! cargo run --release --example token_cost            # N=2000 by default
//! ```
//!
//! Prints one line of JSON: `{"uncached_us": .., "cached_us": .., "n": ..}`.

use std::time::Instant;

use event_service::auth::TokenVerifier;
use event_service::auth::keys::{KeyOrigin, KeySources};
use event_service::config::JwtConfig;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture key")
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("N").ok().map(|v| v.parse()).transpose()?.unwrap_or(2000);
    let verifier = TokenVerifier::from_config(&JwtConfig {
        keys: KeySources { current: KeyOrigin::Inline(fixture("jwt-test-public.pem")), previous: None },
        issuer: "tickettoken".into(),
        audience: "tickettoken".into(),
        reload_interval: std::time::Duration::from_secs(60),
    })?;
    let key = EncodingKey::from_rsa_pem(fixture("jwt-test-private.pem").as_bytes())?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("current".into());
    let exp = chrono::Utc::now().timestamp() + 3600;
    // Distinct tokens (distinct `jti`), so every first verification checks a signature.
    let tokens: Vec<String> = (0..n)
        .map(|i| {
            let claims = serde_json::json!({
                "sub": format!("user-{i}"), "tenant_id": uuid::Uuid::new_v4().to_string(), "type": "access",
                "role": "admin", "permissions": [], "jti": uuid::Uuid::new_v4().to_string(),
                "iss": "tickettoken", "aud": "tickettoken", "exp": exp,
            });
            jsonwebtoken::encode(&header, &claims, &key)
        })
        .collect::<Result<_, _>>()?;

    let started = Instant::now();
    for token in &tokens {
        verifier.verify(token).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let uncached = started.elapsed().as_secs_f64() * 1e6 / n as f64;

    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        for token in &tokens {
            std::hint::black_box(verifier.verify(token).map_err(|e| anyhow::anyhow!("{e:?}"))?);
        }
    }
    let cached = started.elapsed().as_secs_f64() * 1e6 / (n * rounds) as f64;
    println!(r#"{{"uncached_us": {uncached:.1}, "cached_us": {cached:.2}, "n": {n}}}"#);
    Ok(())
}
