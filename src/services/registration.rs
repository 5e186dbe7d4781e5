//! What the API offers about on-chain registration: its state for one event, and re-queueing
//! failed registrations. The worker itself is `src/jobs/registration/`.

use futures::FutureExt;
use uuid::Uuid;

use crate::domain::TenantId;
use crate::domain::internal::Registration;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::storage::blockchain_outbox;

pub async fn registration_state(state: &AppState, tenant: TenantId, event_id: Uuid) -> ApiResult<Option<Registration>> {
    state
        .db
        .read(tenant, move |tx| async move { blockchain_outbox::registration_state(tx, event_id).await }.boxed())
        .await
}

/// Puts `failed` registrations of this tenant back in the queue with a fresh attempt budget (one
/// event, or all of them). Returns the re-queued event ids.
pub async fn requeue_failed(state: &AppState, tenant: TenantId, event_id: Option<Uuid>) -> ApiResult<Vec<Uuid>> {
    let ids = state
        .db
        .write(tenant, move |tx| async move { blockchain_outbox::requeue_failed(tx, event_id).await }.boxed())
        .await?;
    for id in &ids {
        state.cache.delete(tenant, &[&crate::services::events::event_key(*id)]).await;
    }
    Ok(ids)
}
