//! Background jobs. Each runs in its own task, watches the shutdown token, and coordinates
//! with other replicas through Postgres.

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// The running jobs; `shutdown` waits for them to finish their current iteration.
pub struct Jobs {
    set: JoinSet<()>,
}

impl Jobs {
    pub async fn shutdown(mut self) {
        while self.set.join_next().await.is_some() {}
    }
}

pub fn spawn_all(_state: &AppState, _shutdown: CancellationToken) -> Jobs {
    Jobs { set: JoinSet::new() }
}
