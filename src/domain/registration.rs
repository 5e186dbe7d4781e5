//! The answers of the registration controls (re-queueing failed on-chain registrations).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::TenantId;

/// One event's failed registration, queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationRequeued {
    pub event_id: Uuid,
    /// `pending`.
    #[schema(value_type = String)]
    pub blockchain_status: &'static str,
}

impl RegistrationRequeued {
    pub fn new(event_id: Uuid) -> Self {
        Self { event_id, blockchain_status: "pending" }
    }
}

/// A tenant's failed registrations, queued again. `tenant_id` is set on the operator's route,
/// which names the tenant in its path.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationsRequeued {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub tenant_id: Option<TenantId>,
    pub requeued: usize,
    pub event_ids: Vec<Uuid>,
}

impl RegistrationsRequeued {
    pub fn new(tenant_id: Option<TenantId>, event_ids: Vec<Uuid>) -> Self {
        Self { tenant_id, requeued: event_ids.len(), event_ids }
    }
}
