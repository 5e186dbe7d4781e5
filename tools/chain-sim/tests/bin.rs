//! The `chain-sim` binary: start-up variables, the single stdout line, exit status on bad configuration.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use chain_sim::program;
use serde_json::{Value, json};
use solana_address::Address;

const BIN: &str = env!("CARGO_BIN_EXE_chain-sim");

/// Kills the child on drop (also when an assertion fails).
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_env_venues_airdrop_and_listening_line() {
    let owner = Address::new_unique();
    let funded = Address::new_unique();
    let seed = [0x5a_u8; 32];
    let seed_hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = Child(
        Command::new(BIN)
            .env("CHAIN_SIM_PORT", "0")
            .env_remove("CHAIN_SIM_HOST")
            .env("CHAIN_SIM_VENUES", format!("{seed_hex}:{owner}"))
            .env("CHAIN_SIM_AIRDROP", format!("{funded}:1234567, {owner}:1000000000,"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (line, mut reader) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            (line, r)
        }),
    )
    .await
    .expect("no listening line within 30 s")
    .unwrap();
    let addr = line.strip_prefix("chain-sim listening on ").and_then(|l| l.strip_suffix('\n')).expect(&line);
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{line}");

    let http = reqwest::Client::new();
    let url = format!("http://{addr}");
    let rpc = async |method: &str, params: Value| -> Value {
        let v: Value = http
            .post(&url)
            .json(&json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["result"].clone()
    };
    assert_eq!(rpc("getBalance", json!([funded.to_string()])).await["value"], json!(1_234_567));
    assert_eq!(rpc("getBalance", json!([owner.to_string()])).await["value"], json!(1_000_000_000u64));
    let (venue, bump) = program::venue_pda(&seed);
    let v: Value = http.get(format!("{url}/admin/venues/{venue}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        v,
        json!({"owner": owner.to_string(), "verified": true, "active": true, "event_count": 0, "bump": bump})
    );

    // Exactly one line on stdout: nothing more arrives before the process ends.
    drop(child);
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
}

#[test]
fn binary_rejects_invalid_configuration() {
    let owner = Address::new_unique();
    for (k, v) in [
        ("CHAIN_SIM_VENUES", format!("abcd:{owner}")),
        ("CHAIN_SIM_VENUES", "nocolon".to_owned()),
        ("CHAIN_SIM_AIRDROP", format!("{owner}:lots")),
        ("CHAIN_SIM_PORT", "http".to_owned()),
        ("CHAIN_SIM_HOST", "example.com".to_owned()),
    ] {
        let out = Command::new(BIN).env("CHAIN_SIM_PORT", "0").env(k, &v).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{k}={v}");
        assert!(out.stdout.is_empty(), "{k}={v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(k), "{k}={v}: {err}");
    }
}
