//! Clients of other services, each behind a trait.

pub mod solana;
pub mod venue;
