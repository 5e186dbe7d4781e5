//! End-to-end tests over real HTTP on 127.0.0.1:0.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chain_sim::program::{self, CreateEventParams};
use serde_json::{Value, json};
use solana_address::Address;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn start() -> Self {
        let (addr, _state, _h) = chain_sim::server::spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        Self { base: format!("http://{addr}"), http: reqwest::Client::new() }
    }

    async fn raw(&self, method: &str, params: Value) -> reqwest::Result<reqwest::Response> {
        self.http.post(&self.base).json(&json!({"jsonrpc":"2.0","id":1,"method":method,"params":params})).send().await
    }

    /// The whole JSON-RPC response object.
    async fn call(&self, method: &str, params: Value) -> Value {
        let r = self.raw(method, params).await.unwrap();
        assert_eq!(r.status(), 200, "{method}");
        r.json().await.unwrap()
    }

    async fn result(&self, method: &str, params: Value) -> Value {
        let v = self.call(method, params).await;
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].clone()
    }

    async fn faults(&self, body: Value) {
        let r = self.http.post(format!("{}/admin/faults", self.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn clear_faults(&self) {
        let r = self.http.delete(format!("{}/admin/faults", self.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn blockhash(&self) -> Hash {
        let r = self.result("getLatestBlockhash", json!([{"commitment":"finalized"}])).await;
        let v = bs58::decode(r["value"]["blockhash"].as_str().unwrap()).into_vec().unwrap();
        Hash::new_from_array(v.try_into().unwrap())
    }

    async fn funded_payer(&self) -> Keypair {
        let kp = Keypair::new();
        self.result("requestAirdrop", json!([kp.pubkey().to_string(), 10_000_000_000u64])).await;
        kp
    }

    async fn send(&self, tx: &Transaction) -> Value {
        let b = B64.encode(bincode::serialize(tx).unwrap());
        self.call("sendTransaction", json!([b, {"encoding":"base64","preflightCommitment":"confirmed"}])).await
    }

    async fn account(&self, a: &Address) -> Value {
        self.result("getAccountInfo", json!([a.to_string(), {"encoding":"base64","commitment":"confirmed"}])).await["value"]
            .clone()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn params(event_id: u64) -> CreateEventParams {
    let start = now() + 7_200;
    CreateEventParams {
        event_id,
        name: "Test Concert".to_owned(),
        ticket_price: 1_000_000,
        total_tickets: 500,
        start_time: start,
        end_time: start + 3_600,
        refund_window: 86_400,
        metadata_uri: "https://example.com/m.json".to_owned(),
        oracle_feed: [7; 32],
        description: "desc".to_owned(),
        transferable: true,
        resaleable: false,
        artist_wallet: [9; 32],
        artist_percentage: 500,
        venue_percentage: 250,
    }
}

fn create_tx(payer: &Keypair, venue: &Address, p: &CreateEventParams, bh: Hash) -> Transaction {
    let ix = program::create_event_instruction(&payer.pubkey(), venue, p);
    Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[payer], bh)
}

fn b58_sig(tx: &Transaction) -> String {
    bs58::encode(tx.signatures[0].as_ref()).into_string()
}

#[test]
fn instruction_data_golden_prefix_and_roundtrip() {
    let p = params(42);
    let d = p.instruction_data();
    assert_eq!(&d[..8], &[49, 219, 29, 203, 22, 98, 100, 87]);
    assert_eq!(&d[8..16], &42u64.to_le_bytes());
    assert_eq!(&d[16..20], &12u32.to_le_bytes());
    assert_eq!(CreateEventParams::decode(&d[8..]).unwrap(), p);
    let acc = program::encode_event_account(&p, &Address::new_from_array([3; 32]), 254);
    assert_eq!(acc.len(), 499);
    assert_eq!(&acc[..8], &[125, 192, 125, 158, 9, 115, 152, 233]);
    assert_eq!(&acc[8..40], &[3; 32]);
    assert_eq!(&acc[48..60], b"Test Concert");
    assert_eq!(acc[490], 254);
}

#[tokio::test]
async fn basic_methods() {
    let c = Client::start().await;
    assert_eq!(c.result("getHealth", json!([])).await, json!("ok"));
    assert_eq!(c.result("getVersion", json!([])).await["solana-core"], json!("3.1.14"));
    assert!(c.result("getSlot", json!([])).await.is_u64());
    assert_eq!(c.result("getMinimumBalanceForRentExemption", json!([499])).await, json!(4_363_920u64));
    let kp = c.funded_payer().await;
    let bal = c.result("getBalance", json!([kp.pubkey().to_string()])).await;
    assert_eq!(bal["value"], json!(10_000_000_000u64));
    assert!(c.account(&Address::new_unique()).await.is_null());
    let bh = c.blockhash().await;
    let r = c.result("isBlockhashValid", json!([bh.to_string(), {"commitment":"processed"}])).await;
    assert_eq!(r["value"], json!(true));
    assert_eq!(c.call("noSuchMethod", json!([])).await["error"]["code"], json!(-32601));
}

#[tokio::test]
async fn create_event_then_duplicate() {
    let c = Client::start().await;
    let payer = c.funded_payer().await;
    let venue = Address::new_unique();
    let p = params(1);
    let tx = create_tx(&payer, &venue, &p, c.blockhash().await);

    let sim = c
        .result("simulateTransaction", json!([B64.encode(bincode::serialize(&tx).unwrap()), {"encoding":"base64"}]))
        .await;
    assert!(sim["value"]["err"].is_null(), "{sim}");

    let r = c.send(&tx).await;
    assert_eq!(r["result"], json!(b58_sig(&tx)), "{r}");
    let st = c.result("getSignatureStatuses", json!([[b58_sig(&tx)]])).await;
    assert_eq!(st["value"][0]["confirmationStatus"], json!("finalized"));
    assert!(st["value"][0]["err"].is_null());
    assert_eq!(st["value"][0]["status"], json!({"Ok": null}));

    let (event, bump) = program::event_pda(&venue, 1);
    let acc = c.account(&event).await;
    assert_eq!(acc["owner"], json!(program::PROGRAM_ID.to_string()));
    assert_eq!(acc["space"], json!(499));
    assert_eq!(acc["lamports"], json!(4_363_920u64));
    let data = B64.decode(acc["data"][0].as_str().unwrap()).unwrap();
    assert_eq!(data, program::encode_event_account(&p, &venue, bump));
    let (guard, _) = program::guard_pda(&event);
    let g = c.account(&guard).await;
    assert_eq!(g["space"], json!(10));
    assert_eq!(g["owner"], json!(program::PROGRAM_ID.to_string()));

    // Same event with a fresh blockhash: system program "already in use".
    c.faults(json!({"expire_blockhash": true})).await;
    let tx2 = create_tx(&payer, &venue, &p, c.blockhash().await);
    let r = c.send(&tx2).await;
    assert_eq!(r["error"]["code"], json!(-32002), "{r}");
    assert_eq!(r["error"]["data"]["err"], json!({"InstructionError":[0,{"Custom":0}]}));
    assert!(r["error"]["message"].as_str().unwrap().starts_with("Transaction simulation failed"));
    let logs = r["error"]["data"]["logs"].to_string();
    assert!(logs.contains("already in use"), "{logs}");
}

#[tokio::test]
async fn program_checks() {
    let c = Client::start().await;
    let payer = c.funded_payer().await;
    let venue = Address::new_unique();
    type Mutate = Box<dyn Fn(&mut CreateEventParams)>;
    let cases: Vec<(Mutate, u32)> = vec![
        (Box::new(|p| p.ticket_price = 99_999), 6025),
        (Box::new(|p| p.ticket_price = 1_000_000_000_001), 6026),
        (Box::new(|p| p.total_tickets = 0), 6015),
        (Box::new(|p| p.total_tickets = 16_385), 6015),
        (Box::new(|p| p.start_time = now()), 6019),
        (Box::new(|p| p.end_time = p.start_time), 6020),
        (Box::new(|p| p.end_time = p.start_time + 366 * 86_400), 6021),
        (Box::new(|p| p.name = "x".repeat(33)), 6031),
        (Box::new(|p| p.name = "tab\tname".to_owned()), 6031),
        (Box::new(|p| p.metadata_uri = "u".repeat(65)), 6031),
        (Box::new(|p| p.description = "d".repeat(201)), 6031),
        (Box::new(|p| p.refund_window = 172_801), 6032),
        (
            Box::new(|p| {
                p.artist_percentage = 9_000;
                p.venue_percentage = 3_000;
            }),
            6034,
        ),
    ];
    let bh = c.blockhash().await;
    for (i, (f, code)) in cases.into_iter().enumerate() {
        let mut p = params(100 + i as u64);
        f(&mut p);
        let r = c.send(&create_tx(&payer, &venue, &p, bh)).await;
        assert_eq!(r["error"]["data"]["err"], json!({"InstructionError":[0,{"Custom":code}]}), "case {i}: {r}");
    }
    // Wrong guard PDA -> 2006.
    let p = params(7);
    let mut ix = program::create_event_instruction(&payer.pubkey(), &venue, &p);
    ix.accounts[3].pubkey = Address::new_unique();
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&payer], bh);
    let r = c.send(&tx).await;
    assert_eq!(r["error"]["data"]["err"], json!({"InstructionError":[0,{"Custom":2006}]}), "{r}");
    // Wrong event PDA (other event id) -> 2006.
    let mut ix = program::create_event_instruction(&payer.pubkey(), &venue, &p);
    ix.accounts[2].pubkey = program::event_pda(&venue, 8).0;
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&payer], bh);
    let r = c.send(&tx).await;
    assert_eq!(r["error"]["data"]["err"], json!({"InstructionError":[0,{"Custom":2006}]}), "{r}");
    // Bad discriminator -> 101.
    let mut ix = program::create_event_instruction(&payer.pubkey(), &venue, &p);
    ix.data[0] ^= 1;
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&payer], bh);
    let r = c.send(&tx).await;
    assert_eq!(r["error"]["data"]["err"], json!({"InstructionError":[0,{"Custom":101}]}), "{r}");
}

#[tokio::test]
async fn fault_http_503_and_429() {
    let c = Client::start().await;
    c.faults(json!({"http_status": 503})).await;
    let r = c.raw("getHealth", json!([])).await.unwrap();
    assert_eq!(r.status(), 503);
    c.clear_faults().await;
    assert_eq!(c.result("getHealth", json!([])).await, json!("ok"));

    c.faults(json!({"http_429": 2})).await;
    for _ in 0..2 {
        let r = c.raw("getSlot", json!([])).await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
    }
    assert!(c.result("getSlot", json!([])).await.is_u64());
}

#[tokio::test]
async fn fault_delay_and_hang() {
    let c = Client::start().await;
    c.faults(json!({"delay_ms": 300})).await;
    let t = Instant::now();
    c.result("getHealth", json!([])).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    c.clear_faults().await;

    c.faults(json!({"hang": true})).await;
    let short = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let t = Instant::now();
    let e = short.post(&c.base).json(&json!({"jsonrpc":"2.0","id":1,"method":"getHealth"})).send().await.unwrap_err();
    assert!(e.is_timeout());
    assert!(t.elapsed() < Duration::from_secs(2));
    // A request held by the hang completes once the switch is cleared.
    let base = c.base.clone();
    let pending = tokio::spawn(async move {
        reqwest::Client::new().post(&base).json(&json!({"jsonrpc":"2.0","id":1,"method":"getHealth"})).send().await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished());
    c.clear_faults().await;
    let r = tokio::time::timeout(Duration::from_secs(2), pending).await.unwrap().unwrap().unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn fault_drop_sends() {
    let c = Client::start().await;
    let payer = c.funded_payer().await;
    let venue = Address::new_unique();
    let p = params(5);
    c.faults(json!({"drop_sends": true})).await;
    let tx = create_tx(&payer, &venue, &p, c.blockhash().await);
    let r = c.send(&tx).await;
    assert_eq!(r["result"], json!(b58_sig(&tx)));
    let st = c.result("getSignatureStatuses", json!([[b58_sig(&tx)]])).await;
    assert!(st["value"][0].is_null());
    let (event, _) = program::event_pda(&venue, 5);
    assert!(c.account(&event).await.is_null());
    c.clear_faults().await;
    // After expiry the old transaction can no longer land; a re-signed one does, exactly once.
    c.faults(json!({"expire_blockhash": true})).await;
    let r = c.send(&tx).await;
    assert_eq!(r["error"]["data"]["err"], json!("BlockhashNotFound"), "{r}");
    let tx2 = create_tx(&payer, &venue, &p, c.blockhash().await);
    assert!(c.send(&tx2).await["result"].is_string());
    assert_eq!(c.account(&event).await["space"], json!(499));
}

#[tokio::test]
async fn fault_preflight_error() {
    let c = Client::start().await;
    let payer = c.funded_payer().await;
    let venue = Address::new_unique();
    c.faults(json!({"preflight_error": {"InstructionError":[0,{"Custom":6010}]}})).await;
    let tx = create_tx(&payer, &venue, &params(3), c.blockhash().await);
    let r = c.send(&tx).await;
    assert_eq!(r["error"]["code"], json!(-32002));
    assert_eq!(r["error"]["data"]["err"], json!({"InstructionError":[0,{"Custom":6010}]}));
    c.clear_faults().await;
    assert!(c.send(&tx).await["result"].is_string());
}

#[tokio::test]
async fn fault_node_unhealthy() {
    let c = Client::start().await;
    c.faults(json!({"node_unhealthy": true})).await;
    for m in ["getHealth", "getSlot", "getLatestBlockhash"] {
        let v = c.call(m, json!([])).await;
        assert_eq!(v["error"]["code"], json!(-32005), "{m}: {v}");
    }
    c.clear_faults().await;
    assert_eq!(c.result("getHealth", json!([])).await, json!("ok"));
}

#[tokio::test]
async fn fault_expire_blockhash() {
    let c = Client::start().await;
    let payer = c.funded_payer().await;
    let old = c.blockhash().await;
    c.faults(json!({"expire_blockhash": true})).await;
    let v = c.result("isBlockhashValid", json!([old.to_string()])).await;
    assert_eq!(v["value"], json!(false));
    let new = c.blockhash().await;
    assert_ne!(old, new);
    let venue = Address::new_unique();
    let r = c.send(&create_tx(&payer, &venue, &params(9), old)).await;
    assert_eq!(r["error"]["code"], json!(-32002));
    assert_eq!(r["error"]["data"]["err"], json!("BlockhashNotFound"), "{r}");
    let r = c.send(&create_tx(&payer, &venue, &params(9), new)).await;
    assert!(r["result"].is_string(), "{r}");
}
