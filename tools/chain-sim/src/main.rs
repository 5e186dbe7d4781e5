//! `chain-sim`: serves the simulator on $CHAIN_SIM_HOST:$CHAIN_SIM_PORT (default 127.0.0.1:8899).
//!
//! Start-up variables are described in [`chain_sim::config`]. Once the venues and airdrops exist and the
//! socket is bound, exactly one line goes to stdout: `chain-sim listening on <ip>:<port>` (the real port
//! when `CHAIN_SIM_PORT=0`). Everything else goes to stderr. Invalid configuration exits with status 2.
use std::io::Write;

use chain_sim::config::Config;

fn fail(msg: &str) -> ! {
    eprintln!("chain-sim: {msg}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let cfg = Config::from_env().unwrap_or_else(|e| fail(&e));
    let state = chain_sim::server::new_shared();
    let venues = {
        let mut sim = state.lock().unwrap_or_else(|p| p.into_inner());
        cfg.apply(&mut sim).unwrap_or_else(|e| fail(&e))
    };
    let (addr, _state, handle) = chain_sim::server::spawn_with(cfg.addr(), state)
        .await
        .unwrap_or_else(|e| fail(&format!("cannot listen on {}: {e}", cfg.addr())));
    eprintln!("chain-sim: program {}", chain_sim::program::PROGRAM_ID);
    for (who, lamports) in &cfg.airdrops {
        eprintln!("chain-sim: funded {who} with {lamports} lamports");
    }
    for ((_, owner), (pda, bump)) in cfg.venues.iter().zip(&venues) {
        eprintln!("chain-sim: venue {pda} (bump {bump}) owned by {owner}, verified, active");
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "chain-sim listening on {addr}");
    let _ = out.flush();
    drop(out);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = handle => {}
    }
}
