//! End-to-end tests over real HTTP on 127.0.0.1:0.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chain_sim::program::{self, CreateEventParams, Venue};
use chain_sim::server::Shared;
use serde_json::{Value, json};
use solana_address::Address;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;

struct Client {
    base: String,
    http: reqwest::Client,
    state: Shared,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Client {
    async fn start() -> Self {
        let (addr, state, _h) = chain_sim::server::spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        Self { base: format!("http://{addr}"), http: reqwest::Client::new(), state }
    }

    /// `POST /admin/venues` with `body`: (HTTP status, JSON answer).
    async fn admin_venue(&self, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}/admin/venues", self.base)).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// A venue with a fresh random seed, owned by `owner`: (PDA, seed).
    async fn venue_with(&self, owner: &Address, verified: bool, active: bool) -> (Address, [u8; 32]) {
        let seed = Address::new_unique().to_bytes();
        let body = json!({"seed_hex": hex(&seed), "owner": owner.to_string(), "verified": verified, "active": active});
        let (status, v) = self.admin_venue(body).await;
        assert_eq!(status, 200, "{v}");
        let (pda, bump) = program::venue_pda(&seed);
        assert_eq!(v, json!({"venue": pda.to_string(), "bump": bump}));
        (pda, seed)
    }

    /// A verified, active venue owned by `owner`.
    async fn venue(&self, owner: &Keypair) -> Address {
        self.venue_with(&owner.pubkey(), true, true).await.0
    }

    /// `GET /admin/venues/{address}`: (HTTP status, JSON answer).
    async fn get_venue(&self, a: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}/admin/venues/{a}", self.base)).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Rewrites the stored venue account in place through the shared simulator state.
    fn tamper(&self, venue: &Address, f: impl FnOnce(&mut Address, &mut Vec<u8>)) {
        let mut sim = self.state.lock().unwrap();
        let mut acc = sim.svm.get_account(venue).unwrap();
        f(&mut acc.owner, &mut acc.data);
        sim.svm.set_account(*venue, acc).unwrap();
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
    let venue = c.venue(&payer).await;
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
    let venue = c.venue(&payer).await;
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
    let venue = c.venue(&payer).await;
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
    assert_eq!(c.get_venue(&venue.to_string()).await.1["event_count"], json!(1));
}

#[tokio::test]
async fn fault_preflight_error() {
    let c = Client::start().await;
    let payer = c.funded_payer().await;
    let venue = c.venue(&payer).await;
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
    let venue = c.venue(&payer).await;
    let r = c.send(&create_tx(&payer, &venue, &params(9), old)).await;
    assert_eq!(r["error"]["code"], json!(-32002));
    assert_eq!(r["error"]["data"]["err"], json!("BlockhashNotFound"), "{r}");
    let r = c.send(&create_tx(&payer, &venue, &params(9), new)).await;
    assert!(r["result"].is_string(), "{r}");
}

fn custom(code: u32) -> Value {
    json!({"InstructionError":[0,{"Custom":code}]})
}

#[test]
fn venue_layout_golden() {
    assert_eq!(program::venue_discriminator(), [8, 155, 85, 226, 234, 173, 42, 242]);
    let v =
        Venue { owner: Address::new_from_array([4; 32]), verified: true, active: false, event_count: 258, bump: 253 };
    let d = v.encode();
    assert_eq!(d.len(), program::VENUE_ACCOUNT_SIZE);
    assert_eq!(d.len(), 51);
    assert_eq!(&d[..8], &[8, 155, 85, 226, 234, 173, 42, 242]);
    assert_eq!(&d[8..40], &[4; 32]);
    assert_eq!((d[40], d[41]), (1, 0));
    assert_eq!(&d[42..50], &258u64.to_le_bytes());
    assert_eq!(d[50], 253);
    assert_eq!(Venue::decode(&d), Some(v));
    assert_eq!(Venue::decode(&d[..50]), None);
    let seed = [7u8; 32];
    assert_eq!(program::venue_pda(&seed), Address::find_program_address(&[b"venue", &seed], &program::PROGRAM_ID));
}

#[tokio::test]
async fn admin_venues_endpoint() {
    let c = Client::start().await;
    let owner = Address::new_unique();
    let (pda, seed) = c.venue_with(&owner, true, true).await;
    // The stored account: program-owned, rent-exempt, 51 bytes in the pinned layout.
    let acc = c.account(&pda).await;
    assert_eq!(acc["owner"], json!(program::PROGRAM_ID.to_string()));
    assert_eq!(acc["space"], json!(51));
    let rent = c.result("getMinimumBalanceForRentExemption", json!([51])).await;
    assert_eq!(acc["lamports"], rent);
    let data = B64.decode(acc["data"][0].as_str().unwrap()).unwrap();
    let bump = program::venue_pda(&seed).1;
    assert_eq!(data, Venue { owner, verified: true, active: true, event_count: 0, bump }.encode());
    let (st, v) = c.get_venue(&pda.to_string()).await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"owner": owner.to_string(), "verified": true, "active": true, "event_count": 0, "bump": bump})
    );

    // Defaults: verified and active are true; upper-case hex is accepted; posting again overwrites.
    let (st, v) = c.admin_venue(json!({"seed_hex": hex(&seed).to_uppercase(), "owner": owner.to_string()})).await;
    assert_eq!((st, &v["venue"]), (200, &json!(pda.to_string())), "{v}");
    let (st, _) = c.admin_venue(json!({"seed_hex": hex(&seed), "owner": owner.to_string(), "verified": false})).await;
    assert_eq!(st, 200);
    assert_eq!(c.get_venue(&pda.to_string()).await.1["verified"], json!(false));

    // Validation: 400 with a JSON error message.
    let o = owner.to_string();
    let bad = [
        json!({"seed_hex": "zz".repeat(32), "owner": o}),
        json!({"seed_hex": "ab".repeat(31), "owner": o}),
        json!({"seed_hex": "ab".repeat(33), "owner": o}),
        json!({"seed_hex": hex(&seed), "owner": "not-base58-0OIl"}),
        json!({"seed_hex": hex(&seed), "owner": bs58::encode([1u8; 31]).into_string()}),
        json!({"seed_hex": hex(&seed), "owner": o, "colour": "red"}),
        json!({"seed_hex": hex(&seed)}),
        json!({"seed_hex": hex(&seed), "owner": o, "verified": "yes"}),
        json!([1, 2]),
    ];
    for body in bad {
        let (st, v) = c.admin_venue(body.clone()).await;
        assert_eq!(st, 400, "{body}: {v}");
        assert!(v["error"].is_string(), "{body}: {v}");
    }
    let r = c.http.post(format!("{}/admin/venues", c.base)).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Unknown address -> 404; a non-venue account -> 404; a malformed address -> 400.
    assert_eq!(c.get_venue(&Address::new_unique().to_string()).await.0, 404);
    let payer = c.funded_payer().await;
    assert_eq!(c.get_venue(&payer.pubkey().to_string()).await.0, 404);
    assert_eq!(c.get_venue("xyz").await.0, 400);
    // Admin routes are not affected by faults.
    c.faults(json!({"http_status": 503, "node_unhealthy": true})).await;
    assert_eq!(c.admin_venue(json!({"seed_hex": hex(&seed), "owner": o})).await.0, 200);
    assert_eq!(c.get_venue(&pda.to_string()).await.0, 200);
}

#[tokio::test]
async fn venue_checks() {
    let c = Client::start().await;
    let payer = c.funded_payer().await;
    let bh = c.blockhash().await;
    let mut next_id = 200;
    let mut send_with = async |venue: &Address| {
        next_id += 1;
        let r = c.send(&create_tx(&payer, venue, &params(next_id), bh)).await;
        r["error"]["data"]["err"].clone()
    };

    // Missing venue; a funded system account (empty data) -> 3012 AccountNotInitialized.
    assert_eq!(send_with(&Address::new_unique()).await, custom(3012));
    let wallet = c.funded_payer().await.pubkey();
    assert_eq!(send_with(&wallet).await, custom(3012));

    // Owned by another program -> 3007.
    let (v, _) = c.venue_with(&payer.pubkey(), true, true).await;
    c.tamper(&v, |owner, _| *owner = Address::new_unique());
    assert_eq!(send_with(&v).await, custom(3007));

    // Wrong discriminator, or too short -> 3002.
    let (v, _) = c.venue_with(&payer.pubkey(), true, true).await;
    c.tamper(&v, |_, data| data[0] ^= 1);
    assert_eq!(send_with(&v).await, custom(3002));
    let (v, _) = c.venue_with(&payer.pubkey(), true, true).await;
    c.tamper(&v, |_, data| data.truncate(50));
    assert_eq!(send_with(&v).await, custom(3002));

    // Not verified -> 6010 (also when inactive too); inactive -> 6011; authority != owner -> 6013.
    let (v, _) = c.venue_with(&payer.pubkey(), false, true).await;
    assert_eq!(send_with(&v).await, custom(6010));
    let (v, _) = c.venue_with(&payer.pubkey(), false, false).await;
    assert_eq!(send_with(&v).await, custom(6010));
    let (v, _) = c.venue_with(&payer.pubkey(), true, false).await;
    assert_eq!(send_with(&v).await, custom(6011));
    let (v, _) = c.venue_with(&Address::new_unique(), true, true).await;
    assert_eq!(send_with(&v).await, custom(6013));

    // Order: the venue load (3012) comes before the PDA checks (2006); the PDA checks before the
    // venue state (6010); the venue state before the parameters (6025).
    let mut ix = program::create_event_instruction(&payer.pubkey(), &Address::new_unique(), &params(300));
    ix.accounts[3].pubkey = Address::new_unique();
    let r = c.send(&Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&payer], bh)).await;
    assert_eq!(r["error"]["data"]["err"], custom(3012), "{r}");
    let (v, _) = c.venue_with(&payer.pubkey(), false, true).await;
    let mut ix = program::create_event_instruction(&payer.pubkey(), &v, &params(301));
    ix.accounts[3].pubkey = Address::new_unique();
    let r = c.send(&Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&payer], bh)).await;
    assert_eq!(r["error"]["data"]["err"], custom(2006), "{r}");
    let mut p = params(302);
    p.ticket_price = 1;
    let r = c.send(&create_tx(&payer, &v, &p, bh)).await;
    assert_eq!(r["error"]["data"]["err"], custom(6010), "{r}");
}

#[tokio::test]
async fn create_event_increments_event_count() {
    let c = Client::start().await;
    let payer = c.funded_payer().await;
    let (venue, seed) = c.venue_with(&payer.pubkey(), true, true).await;
    let count = async || c.get_venue(&venue.to_string()).await.1["event_count"].clone();
    let raw_count = async || {
        let acc = c.account(&venue).await;
        let data = B64.decode(acc["data"][0].as_str().unwrap()).unwrap();
        assert_eq!(data.len(), 51);
        Venue::decode(&data).unwrap().event_count
    };
    assert_eq!(count().await, json!(0));

    let bh = c.blockhash().await;
    let r = c.send(&create_tx(&payer, &venue, &params(1), bh)).await;
    assert!(r["result"].is_string(), "{r}");
    assert_eq!(count().await, json!(1));
    assert_eq!(raw_count().await, 1);

    // A failing create leaves the count alone; a duplicate too.
    let mut p = params(2);
    p.total_tickets = 0;
    assert_eq!(c.send(&create_tx(&payer, &venue, &p, bh)).await["error"]["data"]["err"], custom(6015));
    c.faults(json!({"expire_blockhash": true})).await;
    let bh = c.blockhash().await;
    assert_eq!(c.send(&create_tx(&payer, &venue, &params(1), bh)).await["error"]["data"]["err"], custom(0));
    assert_eq!(count().await, json!(1));

    // Simulation does not commit the increment.
    let tx = create_tx(&payer, &venue, &params(2), bh);
    let sim = c
        .result("simulateTransaction", json!([B64.encode(bincode::serialize(&tx).unwrap()), {"encoding":"base64"}]))
        .await;
    assert!(sim["value"]["err"].is_null(), "{sim}");
    assert_eq!(count().await, json!(1));

    let r = c.send(&tx).await;
    assert!(r["result"].is_string(), "{r}");
    assert_eq!(count().await, json!(2));
    assert_eq!(raw_count().await, 2);
    let (event, _) = program::event_pda(&venue, 2);
    assert_eq!(c.account(&event).await["space"], json!(499));

    // The other fields are untouched by the increment.
    let v = c.get_venue(&venue.to_string()).await.1;
    let bump = program::venue_pda(&seed).1;
    assert_eq!(
        v,
        json!({"owner": payer.pubkey().to_string(), "verified": true, "active": true, "event_count": 2, "bump": bump})
    );
}
