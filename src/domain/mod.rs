//! Domain types: parsed once at the boundary, trusted everywhere inside.

pub mod ids;

pub use ids::TenantId;
