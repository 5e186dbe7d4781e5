//! TicketToken event-service.
//!
//! Layout: `routes` (HTTP surface) → `services` (domain rules) → `storage` (Postgres under
//! row-level security, tenant-prefixed Redis) and `clients` (venue-service, Solana), with every
//! outbound call passing through the `resilience` crate. `startup` wires it together.

pub mod auth;
pub mod clients;
pub mod config;
pub mod config_report;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod redact;
pub mod routes;
pub mod services;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
