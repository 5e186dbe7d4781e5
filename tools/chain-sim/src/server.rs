//! JSON-RPC server (axum 0.8) around LiteSVM with fault switches (solana.md §5.1, §7).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use litesvm::LiteSVM;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use solana_address::Address;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;

/// Fault switches. `POST /admin/faults` sets the fields present in the body; `DELETE /admin/faults` clears all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Sleep this long before answering every JSON-RPC request.
    pub delay_ms: u64,
    /// Hold every JSON-RPC request open until the switch is cleared.
    pub hang: bool,
    /// Answer every JSON-RPC request with this HTTP status (e.g. 503).
    pub http_status: Option<u16>,
    /// Answer the next N JSON-RPC requests with HTTP 429 and `Retry-After: 1`.
    pub http_429: u32,
    /// `sendTransaction` runs preflight, returns the signature, but never executes (statuses stay null).
    pub drop_sends: bool,
    /// Every method, `getHealth` included, answers JSON-RPC error -32005.
    pub node_unhealthy: bool,
    /// `sendTransaction` answers -32002 with this `TransactionError` JSON as `data.err` (nothing executes).
    pub preflight_error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FaultPatch {
    delay_ms: Option<u64>,
    hang: Option<bool>,
    http_status: Option<u16>,
    http_429: Option<u32>,
    drop_sends: Option<bool>,
    node_unhealthy: Option<bool>,
    preflight_error: Option<Value>,
    /// Action, not a switch: `true` expires the current blockhash now.
    expire_blockhash: Option<bool>,
}

pub struct Sim {
    pub svm: LiteSVM,
    pub slot: u64,
    pub faults: Faults,
    /// Signatures answered by `sendTransaction` while `drop_sends` was on (never executed).
    pub dropped: HashMap<Signature, ()>,
}

pub type Shared = Arc<Mutex<Sim>>;

/// Blocks a blockhash stays valid for in `lastValidBlockHeight` (informational; validity is LiteSVM's).
pub const BLOCKHASH_VALIDITY: u64 = 150;

pub fn new_shared() -> Shared {
    let mut svm = crate::program::new_svm();
    // Cluster clock = wall clock, so the program's `start_time > now + 3600` check is meaningful.
    let mut clock = svm.get_sysvar::<solana_clock::Clock>();
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    clock.unix_timestamp = now;
    clock.slot = 1;
    svm.set_sysvar(&clock);
    Arc::new(Mutex::new(Sim { svm, slot: 1, faults: Faults::default(), dropped: HashMap::new() }))
}

impl Sim {
    /// Writes (creating or overwriting) the venue PDA `[b"venue", seed]`: rent-exempt, owned by the program,
    /// the 51-byte layout of [`crate::program::Venue`] with `event_count` 0. Returns the PDA and its bump.
    pub fn put_venue(
        &mut self,
        seed: &[u8; 32],
        owner: Address,
        verified: bool,
        active: bool,
    ) -> Result<(Address, u8), String> {
        let (pda, bump) = crate::program::venue_pda(seed);
        let data = crate::program::Venue { owner, verified, active, event_count: 0, bump }.encode();
        // `Account` is litesvm's (solana-account 4); start from the existing one or its Default.
        let mut acc = self.svm.get_account(&pda).unwrap_or_default();
        acc.lamports = self.svm.minimum_balance_for_rent_exemption(data.len());
        acc.data = data;
        acc.owner = crate::program::PROGRAM_ID;
        acc.executable = false;
        acc.rent_epoch = u64::MAX;
        self.svm.set_account(pda, acc).map_err(|e| format!("set_account failed: {e:?}"))?;
        Ok((pda, bump))
    }

    /// The decoded venue at `address`, if it is a program-owned account with the venue layout.
    pub fn venue(&self, address: &Address) -> Option<crate::program::Venue> {
        let acc = self.svm.get_account(address).filter(|a| a.lamports > 0 && a.owner == crate::program::PROGRAM_ID)?;
        crate::program::Venue::decode(&acc.data)
    }

    /// Funds `address` with `lamports` (an airdrop transaction; advances the slot like `requestAirdrop`).
    pub fn fund(&mut self, address: &Address, lamports: u64) -> Result<(), String> {
        self.svm.airdrop(address, lamports).map_err(|f| format!("airdrop to {address} failed: {:?}", f.err))?;
        self.slot += 1;
        Ok(())
    }
}

/// 64 hex characters (either case) → 32 bytes.
pub fn parse_seed_hex(s: &str) -> Result<[u8; 32], String> {
    if s.len() != 64 {
        return Err(format!("seed_hex must be 64 hex characters (32 bytes), got {} characters", s.len()));
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => out[i] = (h << 4) | l,
            _ => return Err(format!("seed_hex is not hexadecimal: {s:?}")),
        }
    }
    Ok(out)
}

/// A base58 32-byte public key.
pub fn parse_pubkey(s: &str) -> Result<Address, String> {
    let v = bs58::decode(s).into_vec().map_err(|e| format!("{s:?} is not base58: {e}"))?;
    let a: [u8; 32] = v.try_into().map_err(|v: Vec<u8>| format!("{s:?} is {} bytes, not a 32-byte pubkey", v.len()))?;
    Ok(Address::new_from_array(a))
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", post(rpc))
        .route("/admin/faults", post(set_faults).delete(clear_faults).get(get_faults))
        .route("/admin/venues", post(create_venue))
        .route("/admin/venues/{address}", get(get_venue))
        .route("/admin/dropped", get(get_dropped))
        .with_state(state)
}

/// Binds `addr` and serves a fresh simulator in a background task. Returns the bound address.
pub async fn spawn(addr: SocketAddr) -> std::io::Result<(SocketAddr, Shared, tokio::task::JoinHandle<()>)> {
    spawn_with(addr, new_shared()).await
}

/// Binds `addr` and serves `state` (prepared beforehand, e.g. with venues) in a background task.
pub async fn spawn_with(
    addr: SocketAddr,
    state: Shared,
) -> std::io::Result<(SocketAddr, Shared, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(state.clone());
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((local, state, handle))
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Sim> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The distinct transactions `drop_sends` swallowed so far (a test control, not JSON-RPC): how
/// many different transactions a client had on the chain while sends were dropped.
async fn get_dropped(State(s): State<Shared>) -> Json<Value> {
    Json(json!({"signatures": lock(&s).dropped.len()}))
}

async fn get_faults(State(s): State<Shared>) -> Json<Faults> {
    Json(lock(&s).faults.clone())
}

async fn set_faults(State(s): State<Shared>, Json(p): Json<FaultPatch>) -> Json<Value> {
    let mut sim = lock(&s);
    let f = &mut sim.faults;
    if let Some(v) = p.delay_ms {
        f.delay_ms = v;
    }
    if let Some(v) = p.hang {
        f.hang = v;
    }
    if p.http_status.is_some() {
        f.http_status = p.http_status.filter(|c| *c != 200);
    }
    if let Some(v) = p.http_429 {
        f.http_429 = v;
    }
    if let Some(v) = p.drop_sends {
        f.drop_sends = v;
    }
    if let Some(v) = p.node_unhealthy {
        f.node_unhealthy = v;
    }
    if let Some(v) = p.preflight_error {
        f.preflight_error = Some(v).filter(|v| !v.is_null());
    }
    let faults = f.clone();
    if p.expire_blockhash == Some(true) {
        sim.svm.expire_blockhash();
        sim.slot += 1;
    }
    let blockhash = bs58::encode(sim.svm.latest_blockhash().to_bytes()).into_string();
    Json(json!({ "faults": faults, "blockhash": blockhash }))
}

async fn clear_faults(State(s): State<Shared>) -> Json<Faults> {
    let mut sim = lock(&s);
    sim.faults = Faults::default();
    Json(sim.faults.clone())
}

/// Body of `POST /admin/venues`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueRequest {
    seed_hex: String,
    owner: String,
    #[serde(default = "yes")]
    verified: bool,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn create_venue(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let req: VenueRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
    };
    let seed = match parse_seed_hex(&req.seed_hex) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, e),
    };
    let owner = match parse_pubkey(&req.owner) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("owner: {e}")),
    };
    match lock(&s).put_venue(&seed, owner, req.verified, req.active) {
        Ok((pda, bump)) => Json(json!({"venue": pda.to_string(), "bump": bump})).into_response(),
        Err(e) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn get_venue(State(s): State<Shared>, Path(address): Path<String>) -> Response {
    let address = match parse_pubkey(&address) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, e),
    };
    match lock(&s).venue(&address) {
        Some(v) => Json(json!({
            "owner": v.owner.to_string(),
            "verified": v.verified,
            "active": v.active,
            "event_count": v.event_count,
            "bump": v.bump,
        }))
        .into_response(),
        None => admin_error(StatusCode::NOT_FOUND, format!("no venue account at {address}")),
    }
}

struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

fn err(code: i64, message: impl Into<String>) -> RpcError {
    RpcError { code, message: message.into(), data: None }
}

async fn rpc(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    // HTTP-level faults first.
    let (delay, status) = {
        let mut sim = lock(&s);
        if sim.faults.http_429 > 0 {
            sim.faults.http_429 -= 1;
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
        (sim.faults.delay_ms, sim.faults.http_status)
    };
    if let Some(code) = status {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (code, code.canonical_reason().unwrap_or("error")).into_response();
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    while lock(&s).faults.hang {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Json(
                json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":format!("Parse error: {e}")}}),
            )
            .into_response();
        }
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("").to_owned();
    let params = req.get("params").cloned().unwrap_or(Value::Array(vec![]));
    let out = {
        let mut sim = lock(&s);
        if sim.faults.node_unhealthy {
            Err(RpcError {
                code: -32005,
                message: "Node is unhealthy".to_owned(),
                data: Some(json!({"numSlotsBehind": null})),
            })
        } else {
            dispatch(&mut sim, &method, &params)
        }
    };
    let body = match out {
        Ok(result) => json!({"jsonrpc":"2.0","id":id,"result":result}),
        Err(e) => {
            let mut eo = json!({"code": e.code, "message": e.message});
            if let Some(d) = e.data {
                eo["data"] = d;
            }
            json!({"jsonrpc":"2.0","id":id,"error":eo})
        }
    };
    Json(body).into_response()
}

fn param_str(params: &Value, i: usize) -> Result<&str, RpcError> {
    params
        .get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| err(-32602, format!("Invalid params: missing string param {i}")))
}

fn parse_address(s: &str) -> Result<Address, RpcError> {
    let v = bs58::decode(s).into_vec().map_err(|_| err(-32602, "Invalid param: Invalid"))?;
    let a: [u8; 32] = v.try_into().map_err(|_| err(-32602, "Invalid param: WrongSize"))?;
    Ok(Address::new_from_array(a))
}

fn parse_signature(s: &str) -> Option<Signature> {
    let v = bs58::decode(s).into_vec().ok()?;
    let a: [u8; 64] = v.try_into().ok()?;
    Some(Signature::from(a))
}

fn b58<T: AsRef<[u8]>>(v: T) -> String {
    bs58::encode(v).into_string()
}

fn decode_tx(params: &Value) -> Result<VersionedTransaction, RpcError> {
    let raw = param_str(params, 0)?;
    let enc = params.get(1).and_then(|c| c.get("encoding")).and_then(Value::as_str).unwrap_or("base58");
    let bytes = match enc {
        "base64" => B64.decode(raw).map_err(|e| err(-32602, format!("invalid base64 encoding: {e}")))?,
        "base58" => bs58::decode(raw).into_vec().map_err(|e| err(-32602, format!("invalid base58 encoding: {e}")))?,
        other => return Err(err(-32602, format!("unsupported encoding: {other}"))),
    };
    bincode::deserialize::<VersionedTransaction>(&bytes)
        .map_err(|e| err(-32602, format!("failed to deserialize transaction: {e}")))
}

fn tx_err_value(e: &solana_transaction_error::TransactionError) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

fn ctx(sim: &Sim) -> Value {
    json!({"slot": sim.slot})
}

fn dispatch(sim: &mut Sim, method: &str, params: &Value) -> Result<Value, RpcError> {
    match method {
        "getHealth" => Ok(json!("ok")),
        "getVersion" => Ok(json!({"solana-core": "3.1.14", "feature-set": 0})),
        "getSlot" | "getBlockHeight" => Ok(json!(sim.slot)),
        "getLatestBlockhash" => Ok(json!({
            "context": ctx(sim),
            "value": {
                "blockhash": b58(sim.svm.latest_blockhash().to_bytes()),
                "lastValidBlockHeight": sim.slot + BLOCKHASH_VALIDITY,
            }
        })),
        "isBlockhashValid" => {
            let h = param_str(params, 0)?;
            let valid = h == b58(sim.svm.latest_blockhash().to_bytes());
            Ok(json!({"context": ctx(sim), "value": valid}))
        }
        "getMinimumBalanceForRentExemption" => {
            let len = params.get(0).and_then(Value::as_u64).unwrap_or(0) as usize;
            Ok(json!(sim.svm.minimum_balance_for_rent_exemption(len)))
        }
        "getBalance" => {
            let a = parse_address(param_str(params, 0)?)?;
            Ok(json!({"context": ctx(sim), "value": sim.svm.get_balance(&a).unwrap_or(0)}))
        }
        "getAccountInfo" => {
            let a = parse_address(param_str(params, 0)?)?;
            // base58 is honoured; every other encoding (base64, base64+zstd as solana-rpc-client asks,
            // jsonParsed) is answered as ["<b64>", "base64"], which clients decode by the returned tag.
            let b58_data = params.get(1).and_then(|c| c.get("encoding")).and_then(Value::as_str) == Some("base58");
            let value = sim.svm.get_account(&a).filter(|acc| acc.lamports > 0).map(|acc| {
                json!({
                    "lamports": acc.lamports,
                    "data": if b58_data { json!([b58(&acc.data), "base58"]) } else { json!([B64.encode(&acc.data), "base64"]) },
                    "owner": b58(acc.owner.as_ref()),
                    "executable": acc.executable,
                    "rentEpoch": acc.rent_epoch,
                    "space": acc.data.len(),
                })
            });
            Ok(json!({"context": ctx(sim), "value": value}))
        }
        "requestAirdrop" => {
            let a = parse_address(param_str(params, 0)?)?;
            let lamports = params.get(1).and_then(Value::as_u64).ok_or_else(|| err(-32602, "missing lamports"))?;
            match sim.svm.airdrop(&a, lamports) {
                Ok(meta) => {
                    sim.slot += 1;
                    Ok(json!(b58(meta.signature.as_ref())))
                }
                Err(f) => Err(err(-32600, format!("airdrop failed: {:?}", f.err))),
            }
        }
        "getSignatureStatuses" => {
            let sigs = params.get(0).and_then(Value::as_array).ok_or_else(|| err(-32602, "missing signatures"))?;
            // A validator's limit (MAX_GET_SIGNATURE_STATUSES_QUERY_ITEMS), with its message.
            if sigs.len() > 256 {
                return Err(err(-32602, "Too many inputs provided; max 256"));
            }
            let mut out = Vec::with_capacity(sigs.len());
            for s in sigs {
                let status =
                    s.as_str().and_then(parse_signature).and_then(|sig| sim.svm.get_transaction(&sig).cloned());
                out.push(match status {
                    None => Value::Null,
                    Some(Ok(_)) => json!({
                        "slot": sim.slot, "confirmations": null, "err": null,
                        "status": {"Ok": null}, "confirmationStatus": "finalized"
                    }),
                    Some(Err(f)) => {
                        let e = tx_err_value(&f.err);
                        json!({
                            "slot": sim.slot, "confirmations": null, "err": e,
                            "status": {"Err": e}, "confirmationStatus": "finalized"
                        })
                    }
                });
            }
            Ok(json!({"context": ctx(sim), "value": out}))
        }
        "simulateTransaction" => {
            let tx = decode_tx(params)?;
            let value = match sim.svm.simulate_transaction(tx) {
                Ok(info) => json!({
                    "err": null, "logs": info.meta.logs, "accounts": null,
                    "unitsConsumed": info.meta.compute_units_consumed, "returnData": null
                }),
                Err(f) => json!({
                    "err": tx_err_value(&f.err), "logs": f.meta.logs, "accounts": null,
                    "unitsConsumed": f.meta.compute_units_consumed, "returnData": null
                }),
            };
            Ok(json!({"context": ctx(sim), "value": value}))
        }
        "sendTransaction" => {
            let tx = decode_tx(params)?;
            if let Some(e) = sim.faults.preflight_error.clone() {
                return Err(RpcError {
                    code: -32002,
                    message: format!("Transaction simulation failed: {e}"),
                    data: Some(json!({
                        "err": e, "logs": ["chain-sim: injected preflight_error"], "accounts": null,
                        "unitsConsumed": 0, "returnData": null
                    })),
                });
            }
            let sig = *tx.signatures.first().ok_or_else(|| err(-32602, "transaction has no signatures"))?;
            let skip_preflight =
                params.get(1).and_then(|c| c.get("skipPreflight")).and_then(Value::as_bool).unwrap_or(false);
            if !skip_preflight && let Err(f) = sim.svm.simulate_transaction(tx.clone()) {
                return Err(RpcError {
                    code: -32002,
                    message: format!("Transaction simulation failed: {}", f.err),
                    data: Some(json!({
                        "err": tx_err_value(&f.err), "logs": f.meta.logs, "accounts": null,
                        "unitsConsumed": f.meta.compute_units_consumed, "returnData": null
                    })),
                });
            }
            if sim.faults.drop_sends {
                sim.dropped.insert(sig, ());
                return Ok(json!(b58(sig.as_ref())));
            }
            // With skipPreflight a failure is recorded by LiteSVM (if included) and shows in the status.
            let _ = sim.svm.send_transaction(tx);
            sim.slot += 1;
            Ok(json!(b58(sig.as_ref())))
        }
        _ => Err(err(-32601, format!("Method not found: {method}"))),
    }
}
