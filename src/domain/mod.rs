//! Domain types: parsed once at the boundary, trusted everywhere inside.

pub mod cancellation;
pub mod capacity;
pub(crate) mod check;
pub mod event;
pub mod event_out;
pub mod event_status;
pub mod ids;
pub mod internal;
pub mod messages;
pub mod pricing;
pub mod registration;
pub mod schedule;
pub mod schema;
pub mod wire_time;

pub use event_status::{EventAction, EventStatus};

/// Which request a body belongs to: creation requires what update leaves optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}
pub use ids::TenantId;
