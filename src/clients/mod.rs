//! Clients of other services, each behind a trait, and what their calls have in common.

pub mod broker;
pub mod outbound;
pub mod solana;
pub mod tickets;
pub mod venue;
