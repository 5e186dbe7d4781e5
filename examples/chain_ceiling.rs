//! The chain simulator's own ceiling for registrations: a plain client (no database, no
//! resilience stack, no outbox) that sends `create_event` transactions with preflight, as the
//! worker does, keeps `IN_FLIGHT` of them unconfirmed at once, and confirms them with
//! `getSignatureStatuses` in batches of up to 256. Row 8 of `scripts/bench/suite` divides the
//! worker's rate by this one, measured in the same run against the same simulator.
//!
//! ```sh
//! CHAIN_SIM_URL=http://127.0.0.1:8909 WALLET=platform-wallet.json COUNT=2000 IN_FLIGHT=64 \
//!   cargo run --release --example chain_ceiling
//! ```
//!
//! The wallet must be funded on the simulator. A fresh venue (random seed, owned by the wallet)
//! is created through the simulator's admin route. Prints one line of JSON:
//! `{"count": n, "seconds": s, "per_second": r, "failed": f}`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chain::CreateEventParams;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::config::RpcSendTransactionConfig;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use tokio::sync::{Mutex, Semaphore, oneshot};

type Waiting = Vec<(Signature, oneshot::Sender<bool>)>;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = env("CHAIN_SIM_URL", "http://127.0.0.1:8899");
    let count: usize = env("COUNT", "2000").parse()?;
    let in_flight: usize = env("IN_FLIGHT", "64").parse()?;
    let wallet = Arc::new(
        solana_keypair::read_keypair_file(env("WALLET", "platform-wallet.json"))
            .map_err(|e| anyhow::anyhow!("wallet: {e}"))?,
    );

    let seed: [u8; 32] = rand::random();
    let venue = reqwest::Client::new()
        .post(format!("{url}/admin/venues"))
        .json(&serde_json::json!({"seed_hex": hex::encode(seed), "owner": wallet.pubkey().to_string()}))
        .send()
        .await?
        .error_for_status()?;
    drop(venue);
    let program = chain::program_id();
    let (venue_pda, _) = chain::venue_pda(&program, &seed);

    let rpc = Arc::new(RpcClient::new_with_commitment(url, CommitmentConfig::confirmed()));
    let blockhash = rpc.get_latest_blockhash().await?;
    let base: u64 = rand::random::<u32>().into();
    let start_time = chrono::Utc::now().timestamp() + 30 * 86_400;

    let waiting: Arc<Mutex<Waiting>> = Arc::default();
    let poller = tokio::spawn(poll_statuses(rpc.clone(), waiting.clone()));
    let slots = Arc::new(Semaphore::new(in_flight));
    let config = RpcSendTransactionConfig {
        skip_preflight: false,
        preflight_commitment: Some(CommitmentConfig::confirmed().commitment),
        max_retries: Some(0),
        ..RpcSendTransactionConfig::default()
    };

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count as u64 {
        let slot = slots.clone().acquire_owned().await?;
        let params = CreateEventParams {
            event_id: base * 1_000_000 + i,
            name: format!("Ceiling {i}"),
            ticket_price: chain::instruction::MIN_TICKET_PRICE,
            total_tickets: 100,
            start_time,
            end_time: start_time + 3 * 3_600,
            refund_window: 0,
            metadata_uri: String::new(),
            oracle_feed: chain::Pubkey::default(),
            description: String::new(),
            transferable: true,
            resaleable: true,
            artist_wallet: wallet.pubkey(),
            artist_percentage: 500,
            venue_percentage: 250,
        };
        let ix = chain::create_event_instruction(&program, &wallet.pubkey(), &venue_pda, &params);
        let tx = Transaction::new_signed_with_payer(&[ix], Some(&wallet.pubkey()), &[wallet.as_ref()], blockhash);
        let (rpc, waiting) = (rpc.clone(), waiting.clone());
        tasks.spawn(async move {
            let _slot = slot;
            let Ok(signature) = rpc.send_transaction_with_config(&tx, config).await else { return false };
            let (done, confirmed) = oneshot::channel();
            waiting.lock().await.push((signature, done));
            confirmed.await.unwrap_or(false)
        });
    }
    let mut failed = 0;
    while let Some(ok) = tasks.join_next().await {
        if !ok? {
            failed += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    poller.abort();
    let per_second = (count - failed) as f64 / seconds;
    println!("{}", serde_json::json!({"count": count, "seconds": seconds, "per_second": per_second, "failed": failed}));
    Ok(())
}

/// Asks for up to 256 waiting signatures per call, back to back while any are waiting.
async fn poll_statuses(rpc: Arc<RpcClient>, waiting: Arc<Mutex<Waiting>>) {
    loop {
        let batch: Waiting = {
            let mut w = waiting.lock().await;
            let n = w.len().min(256);
            w.drain(..n).collect()
        };
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let signatures: Vec<Signature> = batch.iter().map(|(s, _)| *s).collect();
        let statuses = match rpc.get_signature_statuses(&signatures).await {
            Ok(r) => r.value,
            Err(_) => vec![None; signatures.len()],
        };
        let mut again = Vec::new();
        for ((signature, done), status) in batch.into_iter().zip(statuses) {
            match status {
                Some(s) if s.satisfies_commitment(CommitmentConfig::confirmed()) => {
                    let _ = done.send(s.err.is_none());
                }
                _ => again.push((signature, done)),
            }
        }
        waiting.lock().await.extend(again);
    }
}
