//! Domain types: parsed once at the boundary, trusted everywhere inside.

pub(crate) mod check;
pub mod event;
pub mod event_status;
pub mod ids;
pub mod messages;
pub mod pricing;

pub use event_status::{EventAction, EventStatus};
pub use ids::TenantId;
