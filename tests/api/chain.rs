//! On-chain registration end to end: the service, its outbox worker, and the chain simulator
//! (`tools/chain-sim`) over real JSON-RPC.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use event_service::domain::TenantId;
use resilience::BreakerState;
use serde_json::{Value, json};
use solana_keypair::Keypair;
use solana_signer::Signer;
use uuid::Uuid;

use crate::helpers::{ChainSim, TestApp, eventually, scheduled_event_body, spawn_app_as, tenant_tx};

/// The platform wallet of a test: a keypair file, funded on the simulator.
struct Wallet {
    _dir: tempfile::TempDir,
    path: String,
    pubkey: String,
}

async fn wallet(sim: &ChainSim) -> Wallet {
    let dir = tempfile::tempdir().expect("tempdir");
    let keypair = Keypair::new();
    let path = dir.path().join("platform-wallet.json");
    solana_keypair::write_keypair_file(&keypair, &path).expect("keypair file");
    let pubkey = keypair.pubkey().to_string();
    sim.airdrop(&pubkey, 100_000_000_000).await;
    Wallet { _dir: dir, path: path.to_str().expect("utf-8").to_owned(), pubkey }
}

/// Registration on, against `sim`, with timings short enough for tests.
fn chain_vars(vars: &mut HashMap<String, String>, sim: &ChainSim, wallet: &Wallet) {
    for (k, v) in [
        ("SOLANA_REGISTRATION_ENABLED", "true"),
        ("SOLANA_RPC_URL", sim.url.as_str()),
        ("PLATFORM_WALLET_PATH", wallet.path.as_str()),
        ("SOLANA_REGISTRATION_POLL_INTERVAL_MS", "100"),
        ("SOLANA_REGISTRATION_RETRY_BASE_MS", "100"),
        ("SOLANA_REGISTRATION_RETRY_MAX_MS", "400"),
        ("SOLANA_REGISTRATION_LEASE_SECONDS", "10"),
        ("SOLANA_CONFIRM_TIMEOUT_MS", "1500"),
        ("SOLANA_CONFIRM_POLL_MS", "50"),
        ("RESILIENCE_SOLANA_READ_ATTEMPT_TIMEOUT_MS", "1000"),
        ("RESILIENCE_SOLANA_READ_DEADLINE_MS", "2500"),
        ("RESILIENCE_SOLANA_READ_RETRY_BASE_MS", "50"),
        ("RESILIENCE_SOLANA_READ_RETRY_MAX_MS", "100"),
        ("RESILIENCE_SOLANA_READ_BREAKER_OPEN_MS", "1000"),
        ("RESILIENCE_SOLANA_SEND_ATTEMPT_TIMEOUT_MS", "1000"),
        ("RESILIENCE_SOLANA_SEND_DEADLINE_MS", "1000"),
        ("RESILIENCE_SOLANA_SEND_BREAKER_OPEN_MS", "1000"),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
}

struct Chain {
    sim: ChainSim,
    wallet: Wallet,
    app: TestApp,
}

async fn chain_app() -> Chain {
    chain_app_with(|_| {}).await
}

/// [`chain_app`] with `extra` settings on top of the chain ones.
async fn chain_app_with(extra: impl FnOnce(&mut HashMap<String, String>)) -> Chain {
    let sim = ChainSim::start().await;
    let wallet = wallet(&sim).await;
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let app = spawn_chain_app(&sim, &wallet, tenant, extra).await;
    Chain { sim, wallet, app }
}

/// An app whose worker registers `tenant`'s events only: the test database is shared by tests
/// running in parallel, each with its own simulator.
async fn spawn_chain_app(
    sim: &ChainSim,
    wallet: &Wallet,
    tenant: TenantId,
    extra: impl FnOnce(&mut HashMap<String, String>),
) -> TestApp {
    spawn_app_as(tenant, |v| {
        chain_vars(v, sim, wallet);
        v.insert("SOLANA_REGISTRATION_TENANTS".to_owned(), tenant.to_string());
        extra(v);
    })
    .await
}

/// A registrable event body on `venue`: schedule, capacity and an artist wallet.
fn registrable(name: &str, venue: Uuid) -> Value {
    let mut body = scheduled_event_body(name);
    body["venue_id"] = json!(venue);
    body["artist_wallet"] = json!(Keypair::new().pubkey().to_string());
    body["artist_percentage"] = json!(5);
    body["venue_percentage"] = json!(2.5);
    body
}

/// `(blockchain_status, event_pda, signature, error)` of an event, read under the tenant.
async fn chain_state(
    app: &TestApp,
    tenant: TenantId,
    id: &str,
) -> (String, Option<String>, Option<String>, Option<String>) {
    let mut tx = tenant_tx(app.state.db.pool(), tenant).await.expect("tx");
    sqlx::query_as(
        "select blockchain_status, event_pda, blockchain_tx_signature, blockchain_error from events where id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .expect("event row")
}

/// `(status, attempts, tx_signature, last_error)` of an event's outbox row.
async fn outbox(app: &TestApp, tenant: TenantId, id: &str) -> (String, i32, Option<String>, Option<String>) {
    let mut tx = tenant_tx(app.state.db.pool(), tenant).await.expect("tx");
    sqlx::query_as("select status, attempts, tx_signature, last_error from blockchain_outbox where event_id = $1::uuid")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .expect("outbox row")
}

async fn wait_for_status(app: &TestApp, tenant: TenantId, id: &str, status: &str, limit: Duration) -> bool {
    eventually(limit, || async { chain_state(app, tenant, id).await.0 == status }).await
}

/// The simulator's event account decodes and matches what the service stored.
async fn assert_on_chain(c: &Chain, id: &str) -> String {
    let (status, pda, signature, _) = chain_state(&c.app, c.app.tenant, id).await;
    assert_eq!(status, "synced");
    assert!(signature.is_some(), "a signature is recorded");
    let pda = pda.expect("event_pda");
    let data = c.sim.account_data(&pda).await.expect("the simulator holds the event account");
    let account = chain::decode_event_account(&data).expect("an Event account");
    let mut tx = tenant_tx(c.app.state.db.pool(), c.app.tenant).await.expect("tx");
    let (chain_id, name): (i64, String) = sqlx::query_as("select chain_event_id, name from events where id = $1::uuid")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .expect("row");
    assert_eq!(account.event_id, chain_id as u64);
    assert_eq!(chain::trim_padding(&account.name), name.as_bytes());
    pda
}

#[tokio::test]
async fn a_created_event_is_registered_once_and_synced_with_the_pda_the_simulator_holds() {
    let c = chain_app().await;
    let venue = Uuid::new_v4();
    let venue_account = c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    let event = c.app.create_event(&c.app.token("admin"), registrable("Jazz Night", venue)).await;
    let id = event["id"].as_str().unwrap();
    assert_eq!(event["blockchain_status"], "pending", "201 without waiting for the chain");

    assert!(wait_for_status(&c.app, c.app.tenant, id, "synced", Duration::from_secs(20)).await);
    let pda = assert_on_chain(&c, id).await;
    assert_eq!(c.sim.venue_event_count(&venue_account).await, 1);

    // The PDA is the documented derivation: tenant-bound venue seed, persisted u64 id.
    let program = chain::program_id();
    let (venue_pda, _) = chain::venue_pda(&program, &chain::venue_seed(c.app.tenant.as_uuid(), &venue));
    assert_eq!(venue_pda.to_string(), venue_account);
    let (o_status, attempts, _, error) = outbox(&c.app, c.app.tenant, id).await;
    assert_eq!((o_status.as_str(), attempts, error), ("synced", 1, None));
    let _ = pda;
}

#[tokio::test]
async fn a_hung_rpc_never_slows_event_creation_and_the_event_syncs_once_it_clears() {
    let c = chain_app().await;
    let venue = Uuid::new_v4();
    c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    c.sim.faults(json!({"hang": true})).await;

    let token = c.app.token("admin");
    let mut ids = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        let event = c.app.create_event(&token, registrable(&format!("Hung {i}"), venue)).await;
        // Far below the 1 s RPC attempt timeout: creation does not touch the chain at all.
        assert!(started.elapsed() < Duration::from_millis(900), "POST took {:?}", started.elapsed());
        ids.push(event["id"].as_str().unwrap().to_owned());
    }
    // The worker has tried and been cut off by its timeouts; the events wait, pending.
    assert!(
        eventually(Duration::from_secs(10), || async { outbox(&c.app, c.app.tenant, &ids[0]).await.3.is_some() }).await
    );
    assert_eq!(chain_state(&c.app, c.app.tenant, &ids[0]).await.0, "pending");

    c.sim.clear_faults().await;
    for id in &ids {
        assert!(wait_for_status(&c.app, c.app.tenant, id, "synced", Duration::from_secs(30)).await, "{id}");
        assert_on_chain(&c, id).await;
    }
}

/// A row whose attempts the hung node never answered is due again as soon as a registration
/// succeeds, not at the end of its backoff: the outage said nothing about the row.
#[tokio::test]
async fn rows_backed_off_while_the_rpc_hung_are_due_again_once_a_registration_succeeds() {
    // A backoff of 60-120 s after the first failure: far beyond the wait below.
    let c = chain_app_with(|v| {
        v.insert("SOLANA_REGISTRATION_RETRY_BASE_MS".to_owned(), "120000".to_owned());
        v.insert("SOLANA_REGISTRATION_RETRY_MAX_MS".to_owned(), "120000".to_owned());
    })
    .await;
    let venue = Uuid::new_v4();
    c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    c.sim.faults(json!({"hang": true})).await;

    let token = c.app.token("admin");
    let hung = c.app.create_event(&token, registrable("Tried while hung", venue)).await;
    let hung = hung["id"].as_str().unwrap().to_owned();
    // Its attempt timed out and it went back to pending, due a minute or more from now.
    assert!(
        eventually(Duration::from_secs(15), || async {
            let (status, attempts, _, error) = outbox(&c.app, c.app.tenant, &hung).await;
            status == "pending" && attempts >= 1 && error.is_some()
        })
        .await,
        "the hung attempt is recorded"
    );
    let mut tx = tenant_tx(c.app.state.db.pool(), c.app.tenant).await.expect("tx");
    let (wait,): (f64,) = sqlx::query_as(
        "select extract(epoch from next_attempt_at - now())::float8 from blockchain_outbox where event_id = $1::uuid",
    )
    .bind(&hung)
    .fetch_one(&mut *tx)
    .await
    .expect("row");
    drop(tx);
    assert!(wait > 30.0, "backed off for {wait} s");

    c.sim.clear_faults().await;
    // A new registration succeeds: the node answers again, and the row waits no longer.
    let fresh = c.app.create_event(&token, registrable("Created after the hang", venue)).await;
    let fresh = fresh["id"].as_str().unwrap().to_owned();
    assert!(wait_for_status(&c.app, c.app.tenant, &fresh, "synced", Duration::from_secs(30)).await);
    assert!(
        wait_for_status(&c.app, c.app.tenant, &hung, "synced", Duration::from_secs(20)).await,
        "the row tried during the hang waited for its backoff"
    );
    assert_on_chain(&c, &hung).await;
    assert_on_chain(&c, &fresh).await;
    let metrics = c.app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("blockchain_registrations_pulled_forward_total"), "pull-forward counted");
}

#[tokio::test]
async fn http_503_bursts_open_the_breaker_and_registration_resumes_after_it_closes() {
    let c = chain_app().await;
    let venue = Uuid::new_v4();
    c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    c.sim.faults(json!({"http_status": 503})).await;

    let event = c.app.create_event(&c.app.token("admin"), registrable("Burst", venue)).await;
    let id = event["id"].as_str().unwrap();
    let read = c.app.state.solana.read_breaker();
    assert!(eventually(Duration::from_secs(10), || async { read.state() == BreakerState::Open }).await);
    // While open, rows are handed back without using up their attempts.
    assert_eq!(chain_state(&c.app, c.app.tenant, id).await.0, "pending");
    let metrics = c.app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("resilience_breaker_state{") && metrics.contains("solana_read"), "breaker metric");

    c.sim.clear_faults().await;
    assert!(wait_for_status(&c.app, c.app.tenant, id, "synced", Duration::from_secs(30)).await);
    assert_eq!(read.state(), BreakerState::Closed);
    assert_on_chain(&c, id).await;
}

#[tokio::test]
async fn a_dropped_transaction_whose_blockhash_expires_is_re_signed_and_lands_exactly_once() {
    let c = chain_app().await;
    let venue = Uuid::new_v4();
    let venue_account = c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    c.sim.faults(json!({"drop_sends": true})).await;

    let event = c.app.create_event(&c.app.token("admin"), registrable("Dropped", venue)).await;
    let id = event["id"].as_str().unwrap();
    // Sent (the signature is stored before sending), accepted, never executed: not confirmed.
    assert!(
        eventually(Duration::from_secs(15), || async {
            outbox(&c.app, c.app.tenant, id).await.3.is_some_and(|e| e.contains("not confirmed"))
        })
        .await
    );
    let dropped = outbox(&c.app, c.app.tenant, id).await.2.expect("the dropped signature");
    assert_eq!(chain_state(&c.app, c.app.tenant, id).await.0, "pending");

    // Its blockhash expires: that transaction can never land, so a new one is signed.
    c.sim.faults(json!({"drop_sends": false, "expire_blockhash": true})).await;
    assert!(wait_for_status(&c.app, c.app.tenant, id, "synced", Duration::from_secs(30)).await);
    assert_on_chain(&c, id).await;
    let landed = chain_state(&c.app, c.app.tenant, id).await.2.unwrap();
    assert_ne!(landed, dropped, "re-signed with a fresh blockhash");
    let status = c.sim.rpc("getSignatureStatuses", json!([[dropped]])).await;
    assert!(status["value"][0].is_null(), "the dropped transaction never executed");
    assert_eq!(c.sim.venue_event_count(&venue_account).await, 1, "exactly one event account");
}

#[tokio::test]
async fn a_dropped_transaction_with_a_valid_blockhash_is_resent_as_is_and_lands_exactly_once() {
    let c = chain_app().await;
    let venue = Uuid::new_v4();
    let venue_account = c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    c.sim.faults(json!({"drop_sends": true})).await;

    let event = c.app.create_event(&c.app.token("admin"), registrable("Resent", venue)).await;
    let id = event["id"].as_str().unwrap();
    assert!(
        eventually(Duration::from_secs(15), || async {
            outbox(&c.app, c.app.tenant, id).await.3.is_some_and(|e| e.contains("not confirmed"))
        })
        .await
    );
    let first = outbox(&c.app, c.app.tenant, id).await.2.expect("signature");

    // The blockhash is still valid: the same bytes are sent again rather than a new transaction.
    c.sim.clear_faults().await;
    assert!(wait_for_status(&c.app, c.app.tenant, id, "synced", Duration::from_secs(30)).await);
    assert_eq!(chain_state(&c.app, c.app.tenant, id).await.2.as_deref(), Some(first.as_str()));
    assert_on_chain(&c, id).await;
    assert_eq!(c.sim.venue_event_count(&venue_account).await, 1);
}

/// A transaction the node dropped is sent again (same bytes) while the attempt waits for it,
/// so it lands as soon as the node takes it, in the same attempt, not after the confirm timeout.
#[tokio::test]
async fn a_dropped_transaction_is_resent_within_its_attempt_and_lands_once_the_node_takes_it() {
    // An attempt that would wait 20 s for its transaction without re-sending it.
    let c = chain_app_with(|v| {
        v.insert("SOLANA_CONFIRM_TIMEOUT_MS".to_owned(), "20000".to_owned());
        v.insert("SOLANA_REGISTRATION_LEASE_SECONDS".to_owned(), "60".to_owned());
    })
    .await;
    let venue = Uuid::new_v4();
    let venue_account = c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    c.sim.faults(json!({"drop_sends": true})).await;

    let event = c.app.create_event(&c.app.token("admin"), registrable("Dropped then taken", venue)).await;
    let id = event["id"].as_str().unwrap();
    // Stored and sent (and dropped): the attempt is waiting for it.
    assert!(
        eventually(Duration::from_secs(15), || async { outbox(&c.app, c.app.tenant, id).await.2.is_some() }).await,
        "the transaction is stored before its send"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = outbox(&c.app, c.app.tenant, id).await.2.expect("signature");
    c.sim.clear_faults().await;
    let started = Instant::now();
    assert!(wait_for_status(&c.app, c.app.tenant, id, "synced", Duration::from_secs(15)).await);
    assert!(started.elapsed() < Duration::from_secs(10), "landed only after {:?}", started.elapsed());
    let (status, attempts, signature, _) = outbox(&c.app, c.app.tenant, id).await;
    assert_eq!((status.as_str(), attempts), ("synced", 1), "in the attempt that sent it first");
    assert_eq!(signature.as_deref(), Some(first.as_str()), "the same bytes, not a new transaction");
    assert_on_chain(&c, id).await;
    assert_eq!(c.sim.venue_event_count(&venue_account).await, 1);
}

#[tokio::test]
async fn two_workers_on_one_outbox_never_register_an_event_twice() {
    let sim = ChainSim::start().await;
    let wallet = wallet(&sim).await;
    let one_at_a_time = |v: &mut HashMap<String, String>| {
        v.insert("SOLANA_REGISTRATION_BATCH".to_owned(), "1".to_owned());
        v.insert("SOLANA_REGISTRATION_POLL_INTERVAL_MS".to_owned(), "20".to_owned());
    };
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let a = spawn_chain_app(&sim, &wallet, tenant, one_at_a_time).await;
    let b = spawn_chain_app(&sim, &wallet, tenant, one_at_a_time).await;
    let venue = Uuid::new_v4();
    let venue_account = sim.venue(a.tenant, venue, &wallet.pubkey, true).await;

    let token = a.token("admin");
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            a.create_event(&token, registrable(&format!("Pair {i}"), venue)).await["id"].as_str().unwrap().to_owned(),
        );
    }
    for id in &ids {
        assert!(wait_for_status(&a, a.tenant, id, "synced", Duration::from_secs(40)).await, "{id}");
    }
    assert_eq!(sim.venue_event_count(&venue_account).await, 8, "one account per event, none twice");
    let mut tx = tenant_tx(a.state.db.pool(), a.tenant).await.unwrap();
    let attempts: Vec<i32> =
        sqlx::query_scalar("select attempts from blockchain_outbox").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(attempts, vec![1; 8], "each row claimed by exactly one worker, once");
    drop(b);
}

/// At most `SOLANA_REGISTRATION_IN_FLIGHT` transactions are on the chain at once; as many more
/// rows prepare theirs (signed and stored) meanwhile and are sent only as slots free.
#[tokio::test]
async fn no_more_transactions_are_on_the_chain_at_once_than_the_in_flight_bound() {
    const EVENTS: usize = 10;
    let c = chain_app_with(|v| {
        v.insert("SOLANA_REGISTRATION_IN_FLIGHT".to_owned(), "3".to_owned());
        v.insert("ENABLE_RATE_LIMITING".to_owned(), "false".to_owned());
        // No attempt ends by its confirm timeout while the test looks.
        v.insert("SOLANA_CONFIRM_TIMEOUT_MS".to_owned(), "20000".to_owned());
        v.insert("SOLANA_REGISTRATION_LEASE_SECONDS".to_owned(), "60".to_owned());
    })
    .await;
    let venue = Uuid::new_v4();
    let venue_account = c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    // Sends are accepted and never executed: a slot, once taken, stays taken.
    c.sim.faults(json!({"drop_sends": true})).await;
    let token = c.app.token("admin");
    let created = futures::future::join_all(
        (0..EVENTS).map(|i| c.app.create_event(&token, registrable(&format!("Bounded {i}"), venue))),
    )
    .await;
    let ids: Vec<String> = created.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    let stored = || async {
        let mut tx = tenant_tx(c.app.state.db.pool(), c.app.tenant).await.expect("tx");
        let n: i64 = sqlx::query_scalar("select count(*) from blockchain_outbox where pending_tx is not null")
            .fetch_one(&mut *tx)
            .await
            .expect("count");
        n
    };
    assert!(
        eventually(Duration::from_secs(20), || async { stored().await == 6 }).await,
        "three rows on the chain and three prepared"
    );
    // Many re-send rounds of the rows on the chain (every 4 polls of 50 ms).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(c.sim.dropped().await, 3, "the node received three transactions, each re-sent as is");
    assert_eq!(stored().await, 6, "no more rows prepared than the slots");

    c.sim.clear_faults().await;
    for id in &ids {
        assert!(wait_for_status(&c.app, c.app.tenant, id, "synced", Duration::from_secs(30)).await, "{id}");
        assert_on_chain(&c, id).await;
    }
    assert_eq!(c.sim.venue_event_count(&venue_account).await, EVENTS as u64, "one account per event");
}

/// Many rows in flight at once, through dropped sends, expired blockhashes and a worker killed
/// mid-batch: every event ends with exactly one account, the one its row records.
#[tokio::test]
async fn many_registrations_in_flight_through_faults_and_a_crash_end_with_exactly_one_account_each() {
    const EVENTS: usize = 120;
    let sim = ChainSim::start().await;
    let wallet = wallet(&sim).await;
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let wide = |v: &mut HashMap<String, String>| {
        v.insert("SOLANA_REGISTRATION_IN_FLIGHT".to_owned(), "48".to_owned());
        v.insert("SOLANA_REGISTRATION_BATCH".to_owned(), "16".to_owned());
        v.insert("SOLANA_REGISTRATION_LEASE_SECONDS".to_owned(), "5".to_owned());
        v.insert("SOLANA_REGISTRATION_MAX_ATTEMPTS".to_owned(), "1000".to_owned());
        v.insert("ENABLE_RATE_LIMITING".to_owned(), "false".to_owned());
    };
    let first = spawn_chain_app(&sim, &wallet, tenant, wide).await;
    let venue = Uuid::new_v4();
    let venue_account = sim.venue(tenant, venue, &wallet.pubkey, true).await;

    // Sends are accepted and never executed while the events are created.
    sim.faults(json!({"drop_sends": true})).await;
    let token = first.token("admin");
    let mut ids = Vec::new();
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(20) {
        let created = futures::future::join_all(
            chunk.iter().map(|i| first.create_event(&token, registrable(&format!("Busy {i}"), venue))),
        )
        .await;
        ids.extend(created.into_iter().map(|e| e["id"].as_str().unwrap().to_owned()));
    }
    let sent = |app: &TestApp| {
        let pool = app.state.db.pool().clone();
        async move {
            let mut tx = tenant_tx(&pool, tenant).await.expect("tx");
            let n: i64 = sqlx::query_scalar("select count(*) from blockchain_outbox where pending_tx is not null")
                .fetch_one(&mut *tx)
                .await
                .expect("count");
            n as usize
        }
    };
    assert!(
        eventually(Duration::from_secs(20), || async { sent(&first).await >= 40 }).await,
        "many rows sent (and dropped) at once"
    );
    // Killed mid-batch: its rows stay `processing` under its lease, signed transactions stored.
    first.crash().await;
    let processing: i64 = {
        let mut tx = tenant_tx(first.state.db.pool(), tenant).await.unwrap();
        sqlx::query_scalar("select count(*) from blockchain_outbox where status = 'processing'")
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    };
    assert!(processing > 0, "the crash left rows in progress");

    // The blockhash of the dropped transactions expires; a new worker takes over once the dead
    // worker's leases run out, while sends are dropped once more and the blockhash expires again.
    sim.faults(json!({"drop_sends": false, "expire_blockhash": true})).await;
    let second = spawn_chain_app(&sim, &wallet, tenant, wide).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.faults(json!({"drop_sends": true})).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    sim.faults(json!({"drop_sends": false, "expire_blockhash": true})).await;

    for id in &ids {
        assert!(wait_for_status(&second, tenant, id, "synced", Duration::from_secs(60)).await, "{id}");
    }
    assert_eq!(sim.venue_event_count(&venue_account).await, EVENTS as u64, "one account per event, none twice");
    let mut tx = tenant_tx(second.state.db.pool(), tenant).await.unwrap();
    let rows: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
        "select o.status, o.event_pda, e.event_pda, e.chain_event_id
           from blockchain_outbox o join events e on e.tenant_id = o.tenant_id and e.id = o.event_id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(rows.len(), EVENTS);
    for (status, outbox_pda, event_pda, chain_id) in rows {
        assert_eq!(status, "synced");
        assert_eq!(event_pda.as_deref(), Some(outbox_pda.as_str()));
        let data = sim.account_data(&outbox_pda).await.expect("the account the row records exists");
        assert_eq!(chain::decode_event_account(&data).expect("an Event").event_id, chain_id as u64);
    }
}

#[tokio::test]
async fn a_venue_of_another_tenant_fails_the_row_permanently_without_a_chain_call() {
    // Without the 5-minute venue copy, so the worker asks venue-service again.
    let sim = ChainSim::start().await;
    let wallet = wallet(&sim).await;
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let app = spawn_chain_app(&sim, &wallet, tenant, |v| {
        v.insert("VENUE_CACHE_TTL_SECONDS".to_owned(), "0".to_owned());
    })
    .await;
    let c = Chain { sim, wallet, app };
    let venue = Uuid::new_v4();
    // The venue-service vouches for the venue once (at creation), then says it is another
    // tenant's (its internal route is cross-tenant, so it answers with that tenant's id).
    let record =
        platform_fakes::venue_service::VenueRecord::active(venue, *c.app.tenant.as_uuid(), "Moving Hall", 5000, "UTC");
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(format!("/internal/venues/{venue}")))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({ "venue": record.to_json() })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&c.app.venue_server)
        .await;
    c.app.venues.register(platform_fakes::venue_service::VenueRecord { tenant_id: Some(Uuid::new_v4()), ..record });
    // Even if the tenant check were skipped, the chain would have this venue.
    c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;

    let event = c.app.create_event(&c.app.token("admin"), registrable("Foreign", venue)).await;
    let id = event["id"].as_str().unwrap();
    assert!(wait_for_status(&c.app, c.app.tenant, id, "failed", Duration::from_secs(20)).await);
    let (_, pda, _, error) = chain_state(&c.app, c.app.tenant, id).await;
    assert!(error.as_deref().unwrap().contains("does not belong to this tenant"), "{error:?}");
    assert!(pda.is_none());
    let (status, attempts, signature, _) = outbox(&c.app, c.app.tenant, id).await;
    assert_eq!((status.as_str(), attempts, signature), ("failed", 1, None), "failed at once, nothing sent");
}

#[tokio::test]
async fn a_program_rejection_fails_the_row_with_its_reason_and_an_operator_can_requeue_it() {
    let c = chain_app().await;
    let venue = Uuid::new_v4();
    c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, false).await; // not verified
    let admin = c.app.token("admin");
    let event = c.app.create_event(&admin, registrable("Unverified", venue)).await;
    let id = event["id"].as_str().unwrap().to_owned();
    assert!(wait_for_status(&c.app, c.app.tenant, &id, "failed", Duration::from_secs(20)).await);
    let error = chain_state(&c.app, c.app.tenant, &id).await.3.unwrap();
    assert!(error.contains("6010") && error.contains("not verified"), "{error}");
    assert_eq!(outbox(&c.app, c.app.tenant, &id).await.1, 1, "permanent: not retried");

    // Only admins of the tenant may re-queue; another tenant's admin gets 404.
    let path = format!("/api/v1/admin/blockchain/events/{id}/retry");
    let other = crate::helpers::token_for(c.app.other_tenant().await, "admin");
    assert_eq!(c.app.post_json(&path, &other, &json!({})).await.status(), 404);
    assert_eq!(c.app.post_json(&path, &c.app.token("user"), &json!({})).await.status(), 403);

    c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await; // fixed on chain
    let r = c.app.client.post(c.app.url(&path)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(wait_for_status(&c.app, c.app.tenant, &id, "synced", Duration::from_secs(20)).await);
    assert_on_chain(&c, &id).await;
    // A second retry of a synced registration is a conflict, not a re-registration.
    let r = c.app.client.post(c.app.url(&path)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 409);
}

#[tokio::test]
async fn the_internal_pda_route_reflects_the_registration() {
    let c = chain_app().await;
    let venue = Uuid::new_v4();
    c.sim.venue(c.app.tenant, venue, &c.wallet.pubkey, true).await;
    let event = c.app.create_event(&c.app.token("admin"), registrable("Pda", venue)).await;
    let id = event["id"].as_str().unwrap();
    assert!(wait_for_status(&c.app, c.app.tenant, id, "synced", Duration::from_secs(20)).await);
    let pda = assert_on_chain(&c, id).await;
    let path = format!("/api/v1/internal/events/{id}/pda");
    let r = crate::internal::signed(&c.app, reqwest::Method::GET, &path, c.app.tenant, None, None).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["blockchain"]["eventPda"], pda.as_str());
    assert_eq!(body["blockchain"]["status"], "synced");
    assert_eq!(body["registration"]["status"], "synced");
    assert_eq!(body["registration"]["attempts"], 1);
}

#[test]
fn a_missing_or_malformed_wallet_refuses_start_up_while_registration_is_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let mismatched = dir.path().join("mismatched.json");
    std::fs::write(&mismatched, serde_json::to_string(&vec![7u8; 64]).unwrap()).unwrap();
    let missing = dir.path().join("missing.json");
    for (path, expected) in [
        (None, "is required"),
        (Some(&missing), "cannot read"),
        (Some(&garbage), "not a Solana keypair file"),
        (Some(&mismatched), "valid ed25519 keypair"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_event-service"))
            .arg("serve")
            .env_clear()
            .env("JWT_PUBLIC_KEY_PATH", crate::helpers::fixture("jwt-test-public.pem"))
            .env("DATABASE_URL", "postgres://u:p@127.0.0.1:9/db")
            .env("SOLANA_REGISTRATION_ENABLED", "true")
            .envs(path.map(|p| ("PLATFORM_WALLET_PATH", p.to_str().unwrap().to_owned())))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{stderr}");
        assert!(stderr.contains("PLATFORM_WALLET_PATH") && stderr.contains(expected), "{expected}: {stderr}");
    }
    // Disabled, no wallet is needed (the config is valid up to the database).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_event-service"))
        .args(["serve"])
        .env_clear()
        .env("JWT_PUBLIC_KEY_PATH", crate::helpers::fixture("jwt-test-public.pem"))
        .env("DATABASE_URL", "postgres://u:p@127.0.0.1:9/db")
        .env("DB_CONNECT_RETRIES", "1")
        .env("SOLANA_REGISTRATION_ENABLED", "false")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(78), "{}", String::from_utf8_lossy(&out.stderr));
}
