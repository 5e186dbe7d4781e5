//! Clients of other services, each behind a trait.

pub mod venue;
