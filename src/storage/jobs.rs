//! SQL of the background jobs: the per-interval run claim on `background_job_runs`, and the
//! cross-tenant discovery functions (`system_*`, `SECURITY DEFINER`, returning ids only) that
//! tell a job which tenant rows to work on. The work itself runs in tenant transactions.

use uuid::Uuid;

use crate::error::ApiResult;
use crate::storage::postgres::SystemTx;

/// One atomic conditional upsert: true when this replica has `job` for the interval.
pub async fn claim_run(tx: &mut SystemTx, job: &str, interval_secs: f64) -> ApiResult<bool> {
    let claimed: Option<String> = sqlx::query_scalar!(
        "insert into background_job_runs (job_name, last_started_at, last_status, runs)
         values ($1, now(), 'running', 1)
         on conflict (job_name) do update
            set last_started_at = now(), last_status = 'running', runs = background_job_runs.runs + 1
          where background_job_runs.last_started_at is null
             or background_job_runs.last_started_at <= now() - make_interval(secs => $2)
         returning job_name",
        job,
        interval_secs,
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(claimed.is_some())
}

pub async fn finish_run(
    tx: &mut SystemTx,
    job: &str,
    status: &str,
    error: Option<&str>,
    affected: i32,
) -> ApiResult<()> {
    sqlx::query!(
        "update background_job_runs set last_finished_at = now(), last_status = $2, last_error = $3,
                last_affected = $4 where job_name = $1",
        job,
        status,
        error,
        affected,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// One `background_job_runs` row: name, started and finished (epoch seconds), status.
pub type JobRow = (String, Option<f64>, Option<f64>, Option<String>);

pub async fn runs(tx: &mut SystemTx) -> ApiResult<Vec<JobRow>> {
    let rows = sqlx::query!(
        "select job_name, extract(epoch from last_started_at)::float8 as started,
                extract(epoch from last_finished_at)::float8 as finished, last_status
           from background_job_runs",
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (r.job_name, r.started, r.finished, r.last_status)).collect())
}

/// Time-based transitions that are due: `(tenant, event, current status, action)`.
pub async fn due_transitions(tx: &mut SystemTx, batch: i32) -> ApiResult<Vec<(Uuid, Uuid, String, String)>> {
    let rows = sqlx::query!(
        r#"select tenant_id as "tenant_id!", event_id as "event_id!", status as "status!", action as "action!"
             from system_due_event_transitions($1)"#,
        batch,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (r.tenant_id, r.event_id, r.status, r.action)).collect())
}

/// Deletes up to `batch` expired idempotency keys; returns how many.
pub async fn purge_idempotency_keys(tx: &mut SystemTx, batch: i32) -> ApiResult<i32> {
    Ok(sqlx::query_scalar!(
        r#"select system_purge_expired_idempotency_keys($1) as "system_purge_expired_idempotency_keys!""#,
        batch,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Active holds past their expiry: `(tenant, hold)`.
pub async fn expired_reservations(tx: &mut SystemTx, batch: i32) -> ApiResult<Vec<(Uuid, Uuid)>> {
    let rows = sqlx::query!(
        r#"select tenant_id as "tenant_id!", reservation_id as "reservation_id!" from system_expired_reservations($1)"#,
        batch,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (r.tenant_id, r.reservation_id)).collect())
}

/// Live sections whose row's counter columns (the rollup other services read) differ from the
/// sums of their stripes: `(tenant, section)`.
pub async fn stale_section_rollups(tx: &mut SystemTx, batch: i32) -> ApiResult<Vec<(Uuid, Uuid)>> {
    let rows = sqlx::query!(
        r#"select tenant_id as "tenant_id!", capacity_id as "capacity_id!" from system_stale_section_rollups($1)"#,
        batch,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (r.tenant_id, r.capacity_id)).collect())
}
