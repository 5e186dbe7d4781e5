//! Contract test: the real `solana-rpc-client 3.1.14` (3.x SDK types) against the simulator over HTTP.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use chain_sim::program::{self, CreateEventParams};
use solana_address::Address;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::client_error::ErrorKind;
use solana_rpc_client_api::request::RpcError;
use solana_signer::Signer;
use solana_transaction_error::TransactionError;

fn params(event_id: u64) -> CreateEventParams {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    CreateEventParams {
        event_id,
        name: "Client Test".to_owned(),
        ticket_price: 100_000,
        total_tickets: 10,
        start_time: now + 7_200,
        end_time: now + 10_800,
        refund_window: 0,
        metadata_uri: String::new(),
        oracle_feed: [0; 32],
        description: String::new(),
        transferable: false,
        resaleable: false,
        artist_wallet: [1; 32],
        artist_percentage: 0,
        venue_percentage: 0,
    }
}

/// Signs with the 4.x crates, converts to the client's 3.x `Transaction` through bincode.
fn signed(payer: &Keypair, venue: &Address, p: &CreateEventParams, bh: [u8; 32]) -> tx3::Transaction {
    let ix = program::create_event_instruction(&payer.pubkey(), venue, p);
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &[ix],
        Some(&payer.pubkey()),
        &[payer],
        solana_hash::Hash::new_from_array(bh),
    );
    bincode::deserialize(&bincode::serialize(&tx).unwrap()).unwrap()
}

/// `POST /admin/venues`: a verified, active venue owned by `owner` with a random seed.
async fn create_venue(url: &str, owner: &Address) -> Address {
    let seed = Address::new_unique().to_bytes();
    let seed_hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let r = reqwest::Client::new()
        .post(format!("{url}/admin/venues"))
        .json(&serde_json::json!({"seed_hex": seed_hex, "owner": owner.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let venue = program::venue_pda(&seed).0;
    assert_eq!(v["venue"], serde_json::json!(venue.to_string()));
    venue
}

#[tokio::test]
async fn solana_rpc_client_create_duplicate_unhealthy() {
    let (addr, _state, _h) = chain_sim::server::spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
    let url = format!("http://{addr}");
    let client =
        RpcClient::new_with_timeout_and_commitment(url.clone(), Duration::from_secs(2), CommitmentConfig::confirmed());
    client.get_health().await.unwrap();
    assert_eq!(client.get_version().await.unwrap().solana_core, "3.1.14");

    let payer = Keypair::new();
    let sig = client.request_airdrop(&payer.pubkey(), 5_000_000_000).await.unwrap();
    assert!(client.confirm_transaction(&sig).await.unwrap());
    assert_eq!(client.get_balance(&payer.pubkey()).await.unwrap(), 5_000_000_000);

    let venue = create_venue(&url, &payer.pubkey()).await;
    let p = params(77);
    let (bh, _) = client.get_latest_blockhash_with_commitment(CommitmentConfig::confirmed()).await.unwrap();
    let tx = signed(&payer, &venue, &p, bh.to_bytes());
    tokio::time::timeout(Duration::from_secs(10), client.send_and_confirm_transaction(&tx)).await.unwrap().unwrap();

    let (event, bump) = program::event_pda(&venue, 77);
    let acc = client.get_account_with_commitment(&event, CommitmentConfig::confirmed()).await.unwrap().value.unwrap();
    assert_eq!(acc.owner, program::PROGRAM_ID);
    assert_eq!(acc.data, program::encode_event_account(&p, &venue, bump));
    let v = client.get_account_with_commitment(&venue, CommitmentConfig::confirmed()).await.unwrap().value.unwrap();
    assert_eq!(program::Venue::decode(&v.data).unwrap().event_count, 1);

    // A venue the payer does not own -> UnauthorizedVenue (6013) through the client's error type.
    let other = create_venue(&url, &Address::new_unique()).await;
    let err = client.send_transaction(&signed(&payer, &other, &params(79), bh.to_bytes())).await.unwrap_err();
    assert_eq!(
        err.get_transaction_error(),
        Some(TransactionError::InstructionError(0, solana_instruction::error::InstructionError::Custom(6013)))
    );

    // Duplicate with a fresh blockhash.
    reqwest::Client::new()
        .post(format!("{url}/admin/faults"))
        .json(&serde_json::json!({"expire_blockhash": true}))
        .send()
        .await
        .unwrap();
    let (bh2, _) = client.get_latest_blockhash_with_commitment(CommitmentConfig::confirmed()).await.unwrap();
    assert_ne!(bh, bh2);
    let err = client.send_transaction(&signed(&payer, &venue, &p, bh2.to_bytes())).await.unwrap_err();
    assert_eq!(
        err.get_transaction_error(),
        Some(TransactionError::InstructionError(0, solana_instruction::error::InstructionError::Custom(0)))
    );
    // The stale blockhash is reported as such.
    let err = client.send_transaction(&signed(&payer, &venue, &params(78), bh.to_bytes())).await.unwrap_err();
    assert_eq!(err.get_transaction_error(), Some(TransactionError::BlockhashNotFound));

    // Node unhealthy -> RpcResponseError -32005.
    reqwest::Client::new()
        .post(format!("{url}/admin/faults"))
        .json(&serde_json::json!({"node_unhealthy": true}))
        .send()
        .await
        .unwrap();
    let err = client.get_health().await.unwrap_err();
    match err.kind() {
        ErrorKind::RpcError(RpcError::RpcResponseError { code, .. }) => assert_eq!(*code, -32005),
        other => panic!("unexpected {other:?}"),
    }
}

async fn set_faults(url: &str, body: serde_json::Value) {
    let r = reqwest::Client::new().post(format!("{url}/admin/faults")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn solana_rpc_client_transport_faults() {
    let (addr, _state, _h) = chain_sim::server::spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
    let url = format!("http://{addr}");
    let client = RpcClient::new_with_timeout_and_commitment(
        url.clone(),
        Duration::from_millis(800),
        CommitmentConfig::confirmed(),
    );

    // 503: immediate error, no retry by the client.
    set_faults(&url, serde_json::json!({"http_status": 503})).await;
    let t = std::time::Instant::now();
    let e = client.get_slot().await.unwrap_err();
    assert!(e.to_string().contains("503"), "{e}");
    assert!(t.elapsed() < Duration::from_millis(500));
    set_faults(&url, serde_json::json!({"http_status": null})).await;
    reqwest::Client::new().delete(format!("{url}/admin/faults")).send().await.unwrap();

    // 429 twice: the client retries by itself, honouring Retry-After: 1.
    set_faults(&url, serde_json::json!({"http_429": 2})).await;
    let t = std::time::Instant::now();
    client.get_slot().await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(2));

    // Hang: the client's per-request timeout fires.
    set_faults(&url, serde_json::json!({"hang": true})).await;
    let t = std::time::Instant::now();
    let e = client.get_slot().await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2), "{e}");
    reqwest::Client::new().delete(format!("{url}/admin/faults")).send().await.unwrap();
    client.get_slot().await.unwrap();

    // Accept-but-drop: the send "succeeds", the status stays null, and after expiry the client gives up.
    let payer = Keypair::new();
    client.request_airdrop(&payer.pubkey(), 1_000_000_000).await.unwrap();
    let venue = create_venue(&url, &payer.pubkey()).await;
    let (bh, _) = client.get_latest_blockhash_with_commitment(CommitmentConfig::confirmed()).await.unwrap();
    set_faults(&url, serde_json::json!({"drop_sends": true})).await;
    let tx = signed(&payer, &venue, &params(1), bh.to_bytes());
    let sig = client.send_transaction(&tx).await.unwrap();
    assert!(client.get_signature_statuses(&[sig]).await.unwrap().value[0].is_none());
    let u = url.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        set_faults(&u, serde_json::json!({"expire_blockhash": true})).await;
    });
    let e = tokio::time::timeout(Duration::from_secs(10), client.send_and_confirm_transaction(&tx))
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("unable to confirm transaction"), "{e}");
    let (event, _) = program::event_pda(&venue, 1);
    assert!(client.get_account_with_commitment(&event, CommitmentConfig::confirmed()).await.unwrap().value.is_none());
}
