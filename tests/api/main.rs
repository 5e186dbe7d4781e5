//! The integration-test binary: one harness (`helpers`), one module per capability.

mod auth;
mod capacity;
mod chain;
mod cluster;
mod events;
mod fairness;
mod fault;
mod health;
mod helpers;
mod internal;
mod jobs;
mod messages;
mod openapi;
mod panic;
mod platform;
mod pooler;
mod pricing;
mod resilience;
mod rls;
mod schedules;
mod security;
mod shared_db;
mod startup;
mod tenancy;
mod venue;
mod wire;
