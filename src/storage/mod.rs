//! Storage: Postgres (tenant-scoped transactions under RLS), the Redis cache, migrations.

pub mod blockchain_outbox;
pub mod cache;
pub mod cancellation;
pub mod capacity;
pub mod event_outbox;
pub mod events;
pub mod idempotency;
pub mod internal;
pub mod jobs;
pub mod local_cache;
pub mod migrate;
pub mod platform;
pub mod postgres;
pub mod pricing;
pub mod schedules;

pub use cache::Cache;
pub use postgres::{Db, TenantCall, TenantTx};
