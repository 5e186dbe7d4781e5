//! Domain services: the rules between the HTTP surface and storage.

pub mod cancellation;
pub mod capacity;
pub mod events;
pub mod internal;
pub mod pricing;
pub mod registration;
pub mod schedules;
