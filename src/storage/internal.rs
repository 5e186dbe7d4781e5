//! SQL behind the internal routes other platform services call (`src/routes/internal.rs`).
//!
//! Tenant-scoped reads take a `TenantTx` like every other storage function. The three
//! `system_*` functions (migration `20261204000001`) are the only cross-tenant entry points,
//! for callers that send no tenant (`system`, `default`, absent): they return a tenant id, event
//! ids or plain counts, never an event's data.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::domain::TenantId;
use crate::error::ApiResult;
use crate::storage::TenantTx;
use crate::storage::postgres::SystemTx;

/// The tenant that owns `event_id` (deleted events included), for callers without a tenant.
pub async fn event_tenant(tx: &mut SystemTx, event_id: Uuid) -> ApiResult<Option<TenantId>> {
    let tenant: Option<Uuid> =
        sqlx::query_scalar!("select system_event_tenant($1)", event_id).fetch_one(tx.conn()).await?;
    Ok(tenant.map(TenantId::from_uuid))
}

/// `(tenant, event)` of events on sale across tenants, newest first.
pub async fn active_event_ids(tx: &mut SystemTx, limit: i32) -> ApiResult<Vec<(TenantId, Uuid)>> {
    let rows = sqlx::query!(
        r#"select tenant_id as "tenant_id!", event_id as "event_id!" from system_active_events($1)"#,
        limit,
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (TenantId::from_uuid(r.tenant_id), r.event_id)).collect())
}

/// Event counts over the period, for `/internal/events/metrics`.
#[derive(Debug, Clone, Copy, Default, FromRow)]
pub struct EventCounts {
    pub total_events: i64,
    pub published_events: i64,
    pub upcoming_events: i64,
    pub past_events: i64,
}

impl std::ops::AddAssign for EventCounts {
    fn add_assign(&mut self, o: Self) {
        self.total_events += o.total_events;
        self.published_events += o.published_events;
        self.upcoming_events += o.upcoming_events;
        self.past_events += o.past_events;
    }
}

pub async fn platform_counts(tx: &mut SystemTx, period_days: i32) -> ApiResult<EventCounts> {
    Ok(sqlx::query_as!(
        EventCounts,
        r#"select total_events as "total_events!", published_events as "published_events!",
                  upcoming_events as "upcoming_events!", past_events as "past_events!"
             from system_event_metrics($1)"#,
        period_days,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// The same counts for one tenant (the definitions match `system_event_metrics`).
pub async fn tenant_counts(tx: &mut TenantTx, period_days: i32) -> ApiResult<EventCounts> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        EventCounts,
        r#"with period as (
             select e.published_at,
                    (select min(s.starts_at) from event_schedules s
                      where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null) as first_start,
                    (select max(s.ends_at) from event_schedules s
                      where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null) as last_end
               from events e
              where e.tenant_id = $1 and e.deleted_at is null
                and e.created_at >= now() - make_interval(days => $2))
         select count(*) as "total_events!",
                count(*) filter (where published_at is not null) as "published_events!",
                count(*) filter (where first_start > now()) as "upcoming_events!",
                count(*) filter (where last_end < now()) as "past_events!"
           from period"#,
        tenant,
        period_days,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// One event in its sales period, as monitoring reads it.
#[derive(Debug, Clone, FromRow)]
pub struct ActiveEvent {
    pub id: Uuid,
    pub name: String,
    pub total_tickets: i64,
    pub tickets_sold: i64,
    pub remaining_tickets: i64,
    pub sale_start: Option<DateTime<Utc>>,
    pub sale_end: Option<DateTime<Utc>>,
}

/// This tenant's events on sale (all of them, or only `ids`), newest first.
pub async fn active_events(tx: &mut TenantTx, ids: Option<&[Uuid]>, limit: i64) -> ApiResult<Vec<ActiveEvent>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        ActiveEvent,
        r#"select e.id, e.name,
                coalesce(c.total, 0) as "total_tickets!", coalesce(c.sold, 0) as "tickets_sold!",
                coalesce(c.available, 0) as "remaining_tickets!", p.sale_start, p.sale_end
           from events e
           left join lateral (
               select sum(c.total_capacity)::bigint as total, sum(k.sold)::bigint as sold,
                      sum(k.available)::bigint as available
                 from event_capacity c
                 cross join lateral (
                     select sum(s.available) as available, sum(s.sold) as sold
                       from section_stripes s where s.tenant_id = c.tenant_id and s.capacity_id = c.id) k
                where c.tenant_id = e.tenant_id and c.event_id = e.id and c.deleted_at is null and c.is_active) c on true
           left join lateral (
               select min(sales_start_at) as sale_start, max(sales_end_at) as sale_end
                 from event_pricing p
                where p.tenant_id = e.tenant_id and p.event_id = e.id and p.deleted_at is null and p.is_active) p on true
          where e.tenant_id = $1 and e.status = 'ON_SALE' and e.deleted_at is null
            and ($2::uuid[] is null or e.id = any($2))
          order by e.created_at desc
          limit $3"#,
        tenant,
        ids,
        limit,
    )
    .fetch_all(tx.conn())
    .await?)
}

/// What order-service needs for refund eligibility (deleted events included: deleting an
/// event cancels it).
#[derive(Debug, Clone, FromRow)]
pub struct StatusFacts {
    pub status: String,
    pub deleted: bool,
    pub current_start: Option<DateTime<Utc>>,
    /// The first start recorded when the event was last postponed.
    pub postponed_from: Option<DateTime<Utc>>,
    pub was_rescheduled: bool,
}

pub async fn status_facts(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<StatusFacts>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        StatusFacts,
        r#"select e.status::text as "status!", e.deleted_at is not null as "deleted!",
                (select min(s.starts_at) from event_schedules s
                  where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null) as current_start,
                (select (h.metadata->>'starts_at')::timestamptz from event_status_history h
                  where h.tenant_id = e.tenant_id and h.event_id = e.id and h.transition_type = 'POSTPONE'
                  order by h.changed_at desc limit 1) as postponed_from,
                exists (select 1 from event_status_history h
                         where h.tenant_id = e.tenant_id and h.event_id = e.id
                           and h.transition_type = 'RESCHEDULE') as "was_rescheduled!"
           from events e
          where e.tenant_id = $1 and e.id = $2"#,
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// What ticket-service needs to allow a transfer (deleted events included).
#[derive(Debug, Clone, FromRow)]
pub struct TransferFacts {
    pub status: String,
    pub deleted: bool,
    pub allow_transfers: bool,
    pub require_identity_verification: bool,
    pub max_transfers_per_ticket: Option<i32>,
    pub transfer_blackout_start: Option<DateTime<Utc>>,
    pub transfer_blackout_end: Option<DateTime<Utc>>,
    pub start_date: Option<DateTime<Utc>>,
}

pub async fn transfer_facts(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<TransferFacts>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        TransferFacts,
        r#"select e.status::text as "status!", e.deleted_at is not null as "deleted!", e.allow_transfers,
                e.require_identity_verification, e.max_transfers_per_ticket,
                e.transfer_blackout_start, e.transfer_blackout_end,
                (select min(s.starts_at) from event_schedules s
                  where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null) as start_date
           from events e
          where e.tenant_id = $1 and e.id = $2"#,
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// A registration outcome reported by another service (`PUT .../blockchain-status`).
pub struct ChainOutcome<'a> {
    pub synced: bool,
    pub event_pda: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub error: Option<&'a str>,
    pub synced_at: Option<DateTime<Utc>>,
    pub actor: &'a str,
}

/// Records it on the event and keeps the registration outbox in step, so the worker does not
/// register the event again. Returns the event's PDA, or `None` when there is no such event.
pub async fn record_chain_outcome(
    tx: &mut TenantTx,
    id: Uuid,
    o: &ChainOutcome<'_>,
) -> ApiResult<Option<Option<String>>> {
    let tenant = *tx.tenant().as_uuid();
    let status = if o.synced { "synced" } else { "failed" };
    let found: Option<Option<String>> = sqlx::query_scalar!(
        "update events set blockchain_status = $3::text, event_pda = coalesce($4, event_pda),
                blockchain_tx_signature = coalesce($5, blockchain_tx_signature),
                blockchain_error = case when $3 = 'failed' then $6 else null end,
                blockchain_synced_at = case when $3 = 'synced' then coalesce($7, t.now) else blockchain_synced_at end,
                updated_by = $8
           from (select now() as now) t
          where tenant_id = $1 and id = $2 and deleted_at is null
          returning event_pda",
        tenant,
        id,
        status,
        o.event_pda,
        o.signature,
        o.error,
        o.synced_at,
        o.actor,
    )
    .fetch_optional(tx.conn())
    .await?;
    if found.is_none() {
        return Ok(None);
    }
    sqlx::query!(
        "update blockchain_outbox set status = $3::text, tx_signature = coalesce($4, tx_signature),
                event_pda = coalesce($5, event_pda), last_error = $6,
                completed_at = case when $3 = 'synced' then t.now else completed_at end
           from (select now() as now) t
          where tenant_id = $1 and event_id = $2",
        tenant,
        id,
        status,
        o.signature,
        o.event_pda,
        o.error,
    )
    .execute(tx.conn())
    .await?;
    Ok(found)
}
