//! `chain-sim`: serves the simulator on 127.0.0.1:$CHAIN_SIM_PORT (default 8899).
use std::net::{Ipv4Addr, SocketAddr};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::var("CHAIN_SIM_PORT") {
        Ok(v) => v.parse().map_err(|_| std::io::Error::other(format!("CHAIN_SIM_PORT={v:?} is not a port")))?,
        Err(_) => 8899,
    };
    let (addr, _state, handle) = chain_sim::server::spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("chain-sim listening on http://{addr} (program BnYanHjkV6bBDFYfC7F76TyYk6NA9p3wvcAfY1XZCXYS)");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = handle => {}
    }
    Ok(())
}
