//! The database writes of a worker's rows in flight, grouped: rows hand their write (a signed
//! transaction to store before it is sent, an outcome to record) to one task, which writes
//! everything that arrived meanwhile in one transaction per tenant (each row's own fenced
//! statements, one BEGIN and one COMMIT for the group), and then answers each row. Rows that
//! arrive while a transaction is in flight go into the next one, so groups grow with the load
//! and nobody waits for a timer (as `shared_rpc` does for status checks).
//!
//! A worker has two: signed transactions are stored with durable commits (a row sends only
//! what is on disk), outcomes with unflushed ones ([`Commit::Unflushed`]): an outcome lost in
//! a crash is found again by the next attempt. They differ in how many transactions run at
//! once ([`Groups`]): a row waits for its store before it sends, so stores run
//! [`Groups::Overlapping`] and a store arriving while a group commits starts the next group at
//! once; nothing waits for an outcome (the row's slot is free once its attempt ended, and the
//! row stays leased until the record commits), so outcomes run [`Groups::OneAtATime`], which
//! makes their groups as large as the load: the per-group costs (BEGIN, COMMIT, the round trip
//! of each kind of write) are shared by more rows.
//!
//! Per row nothing changes: every write is fenced on the row's lease in its own `WHERE`, so a
//! row another worker owns now is simply not written and its task hears `false`; a row's
//! signed transaction is committed before the row's task sends it. A transaction that fails
//! fails every row in it, each of which then ends its attempt as it would have alone (the lease
//! runs out, nothing is lost). After a commit the cached copies of the recorded events are
//! invalidated, one Redis call per tenant.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::domain::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::TenantTx;
use crate::storage::blockchain_outbox::{self as outbox, Retry, Sent, Synced};
use crate::storage::postgres::Commit;

/// Rows per group at most.
const MAX_GROUP: usize = 512;

/// How many group transactions of one writer run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    /// Up to four: for writes a row waits on.
    Overlapping,
    /// One: for writes nobody waits on (the largest groups).
    OneAtATime,
}

impl Groups {
    fn in_flight(self) -> usize {
        match self {
            Self::Overlapping => 4,
            Self::OneAtATime => 1,
        }
    }
}

/// A write failed for the whole group; every row in it hears the same error.
pub type GroupError = Arc<ApiError>;

/// What a row asks to have written.
#[derive(Debug, Clone)]
pub enum Write {
    /// A signed transaction, before it is sent.
    Store(Sent),
    /// The event account exists.
    Synced { event_id: Uuid, row: Synced },
    /// The registration will not succeed.
    Failed { event_id: Uuid, outbox_id: Uuid, reason: String },
    /// Try again later.
    Retry(Retry),
}

impl Write {
    fn outbox_id(&self) -> Uuid {
        match self {
            Self::Store(s) => s.outbox_id,
            Self::Synced { row, .. } => row.outbox_id,
            Self::Failed { outbox_id, .. } => *outbox_id,
            Self::Retry(r) => r.outbox_id,
        }
    }

    /// An outcome changes what the event shows, so its cached copy goes.
    fn event_to_invalidate(&self) -> Option<Uuid> {
        match self {
            Self::Synced { event_id, .. } | Self::Failed { event_id, .. } => Some(*event_id),
            Self::Store(_) | Self::Retry(_) => None,
        }
    }
}

type Answer = oneshot::Sender<Result<bool, GroupError>>;

struct Request {
    tenant: TenantId,
    write: Write,
    answer: Answer,
}

/// The handle rows write through. Cheap to clone; the task ends when the last clone is dropped.
#[derive(Clone)]
pub struct GroupWrites {
    queue: mpsc::UnboundedSender<Request>,
}

impl GroupWrites {
    /// `commit`: how each group's transaction commits; `groups`: how many run at once.
    pub fn spawn(state: AppState, worker: String, commit: Commit, groups: Groups) -> Self {
        let (queue, requests) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(state, worker, commit, groups, requests));
        Self { queue }
    }

    /// Writes `write` for a row of `tenant` with the next group. `Ok(false)`: the row is not
    /// this worker's any more, nothing was written.
    pub async fn write(&self, tenant: TenantId, write: Write) -> Result<bool, GroupError> {
        let (answer, wait) = oneshot::channel();
        if self.queue.send(Request { tenant, write, answer }).is_err() {
            return Err(Arc::new(stopped()));
        }
        wait.await.unwrap_or_else(|_| Err(Arc::new(stopped())))
    }
}

async fn write_loop(
    state: AppState,
    worker: String,
    commit: Commit,
    groups: Groups,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(groups.in_flight()));
    let worker: Arc<str> = worker.into();
    let mut batch = Vec::with_capacity(MAX_GROUP);
    loop {
        // A free slot first: requests arriving meanwhile make the next group bigger.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        if requests.recv_many(&mut batch, MAX_GROUP).await == 0 {
            return;
        }
        metrics::histogram!("blockchain_registration_write_group_size").record(batch.len() as f64);
        let mut groups: HashMap<TenantId, Vec<Request>> = HashMap::new();
        for request in batch.drain(..) {
            groups.entry(request.tenant).or_default().push(request);
        }
        let (state, worker) = (state.clone(), worker.clone());
        tokio::spawn(async move {
            let _slot = slot;
            // Tenants' groups run side by side, each in its own transaction.
            let writes = groups.into_iter().map(|(tenant, group)| write_group(&state, &worker, commit, tenant, group));
            futures::future::join_all(writes).await;
        });
    }
}

async fn write_group(state: &AppState, worker: &Arc<str>, commit: Commit, tenant: TenantId, group: Vec<Request>) {
    let writes: Arc<Vec<Write>> = Arc::new(group.iter().map(|r| r.write.clone()).collect());
    let written = state
        .db
        .write_with(tenant, commit, |tx| {
            let (writes, worker) = (writes.clone(), worker.clone());
            async move { group_tx(tx, &writes, &worker).await }.boxed()
        })
        .await;
    let written: HashSet<Uuid> = match written {
        Ok(ids) => ids.into_iter().collect(),
        Err(e) => {
            let e = Arc::new(e);
            for request in group {
                let _ = request.answer.send(Err(e.clone()));
            }
            return;
        }
    };
    // One row has at most one write in flight, so an id written is that row's write.
    let invalidate: Vec<String> = group
        .iter()
        .filter(|r| written.contains(&r.write.outbox_id()))
        .filter_map(|r| r.write.event_to_invalidate())
        .map(crate::services::events::event_key)
        .collect();
    if !invalidate.is_empty() {
        let keys: Vec<&str> = invalidate.iter().map(String::as_str).collect();
        state.cache.delete(tenant, &keys).await;
    }
    for request in group {
        let done = written.contains(&request.write.outbox_id());
        let _ = request.answer.send(Ok(done));
    }
}

fn stopped() -> ApiError {
    ApiError::unavailable("REGISTRATION_WRITER_STOPPED", "the registration writer has stopped", None)
}

/// One group's statements: the stores and the synced rows each in one call, the rare outcomes
/// (failed, retry) each in its own statement; every row fenced. Answers the outbox ids written.
async fn group_tx(tx: &mut TenantTx, writes: &[Write], worker: &str) -> ApiResult<Vec<Uuid>> {
    let (mut stores, mut synced) = (Vec::new(), Vec::new());
    let mut written = Vec::with_capacity(writes.len());
    for write in writes {
        match write {
            Write::Store(sent) => stores.push(sent),
            Write::Synced { row, .. } => synced.push(row),
            Write::Failed { outbox_id, reason, .. } => {
                if outbox::mark_failed(tx, worker, *outbox_id, reason).await? {
                    written.push(*outbox_id);
                }
            }
            Write::Retry(row) => {
                if outbox::mark_retry(tx, worker, row).await? {
                    written.push(row.outbox_id);
                }
            }
        }
    }
    if !stores.is_empty() {
        written.extend(outbox::store_pending(tx, worker, &stores).await?);
    }
    if !synced.is_empty() {
        written.extend(outbox::mark_synced(tx, worker, &synced).await?);
    }
    Ok(written)
}
