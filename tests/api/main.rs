//! The integration-test binary: one harness (`helpers`), one module per capability.

mod capacity;
mod chain;
mod events;
mod fault;
mod health;
mod helpers;
mod internal;
mod jobs;
mod openapi;
mod panic;
mod pricing;
mod resilience;
mod rls;
mod schedules;
mod startup;
mod tenancy;
mod venue;
