//! Local Solana chain simulator: LiteSVM + native `create_event` stand-in behind JSON-RPC with fault switches.
pub mod config;
pub mod program;
pub mod server;
