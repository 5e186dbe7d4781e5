//! SQL for schedules (`event_schedules`) and for the parent-event checks that schedules and
//! pricing share. Every function takes a `TenantTx` (row-level security) and filters on
//! `tenant_id` explicitly as well. Schedules are read into [`ScheduleOut`], the response type.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::schedule::{CurrentTimes, ScheduleFields, ScheduleOut};
use crate::error::ApiResult;
use crate::storage::TenantTx;

/// What child routes need to know about their (live) event.
#[derive(Debug, Clone)]
pub struct Parent {
    pub venue_id: Uuid,
    pub status: String,
    pub created_by: Option<String>,
    pub timezone: String,
}

/// The event, if it exists in this tenant and is not deleted. `for_share` locks it against a
/// concurrent status change (cancel, complete) for the rest of the transaction.
pub async fn parent(tx: &mut TenantTx, event_id: Uuid, for_share: bool) -> ApiResult<Option<Parent>> {
    let tenant = *tx.tenant().as_uuid();
    let parent = if for_share {
        sqlx::query_as!(
            Parent,
            "select venue_id, status, created_by, timezone from events
              where tenant_id = $1 and id = $2 and deleted_at is null for share",
            tenant,
            event_id,
        )
        .fetch_optional(tx.conn())
        .await?
    } else {
        sqlx::query_as!(
            Parent,
            "select venue_id, status, created_by, timezone from events
              where tenant_id = $1 and id = $2 and deleted_at is null",
            tenant,
            event_id,
        )
        .fetch_optional(tx.conn())
        .await?
    };
    Ok(parent)
}

// The three reads below select the columns of [`ScheduleOut`], in table order.

pub async fn list(tx: &mut TenantTx, event_id: Uuid) -> ApiResult<Vec<ScheduleOut>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        ScheduleOut,
        r#"select tenant_id, id, event_id, starts_at, ends_at, doors_open_at, is_recurring, recurrence_rule,
                recurrence_end_date, occurrence_number, timezone, utc_offset, status, status_reason,
                capacity_override, check_in_opens_at, check_in_closes_at, notes,
                metadata as "metadata: Json<Map<String, Value>>", created_at, updated_at, deleted_at, version
             from event_schedules
            where tenant_id = $1 and event_id = $2 and deleted_at is null
            order by starts_at, id"#,
        tenant,
        event_id,
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Schedules still ahead (`starts_at > now`) and on (SCHEDULED or CONFIRMED), soonest first.
pub async fn upcoming(tx: &mut TenantTx, event_id: Uuid, limit: i64) -> ApiResult<Vec<ScheduleOut>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        ScheduleOut,
        r#"select tenant_id, id, event_id, starts_at, ends_at, doors_open_at, is_recurring, recurrence_rule,
                recurrence_end_date, occurrence_number, timezone, utc_offset, status, status_reason,
                capacity_override, check_in_opens_at, check_in_closes_at, notes,
                metadata as "metadata: Json<Map<String, Value>>", created_at, updated_at, deleted_at, version
             from event_schedules
            where tenant_id = $1 and event_id = $2 and deleted_at is null
              and starts_at > now() and status in ('SCHEDULED', 'CONFIRMED')
            order by starts_at, id
            limit $3"#,
        tenant,
        event_id,
        limit,
    )
    .fetch_all(tx.conn())
    .await?)
}

pub async fn find(tx: &mut TenantTx, event_id: Uuid, id: Uuid) -> ApiResult<Option<ScheduleOut>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        ScheduleOut,
        r#"select tenant_id, id, event_id, starts_at, ends_at, doors_open_at, is_recurring, recurrence_rule,
                recurrence_end_date, occurrence_number, timezone, utc_offset, status, status_reason,
                capacity_override, check_in_opens_at, check_in_closes_at, notes,
                metadata as "metadata: Json<Map<String, Value>>", created_at, updated_at, deleted_at, version
             from event_schedules
            where tenant_id = $1 and event_id = $2 and id = $3 and deleted_at is null"#,
        tenant,
        event_id,
        id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// The times an update is validated against, and the version; the row is locked.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Current {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub doors_open_at: Option<DateTime<Utc>>,
    pub check_in_opens_at: Option<DateTime<Utc>>,
    pub check_in_closes_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl Current {
    pub fn times(&self) -> CurrentTimes {
        CurrentTimes {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            doors_open_at: self.doors_open_at,
            check_in_opens_at: self.check_in_opens_at,
            check_in_closes_at: self.check_in_closes_at,
        }
    }
}

pub async fn lock(tx: &mut TenantTx, event_id: Uuid, id: Uuid) -> ApiResult<Option<Current>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Current,
        "select starts_at, ends_at, doors_open_at, check_in_opens_at, check_in_closes_at, version
           from event_schedules
          where tenant_id = $1 and event_id = $2 and id = $3 and deleted_at is null
          for update",
        tenant,
        event_id,
        id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn insert(tx: &mut TenantTx, event_id: Uuid, f: &ScheduleFields, timezone: &str) -> ApiResult<Uuid> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        "insert into event_schedules (
            tenant_id, event_id, starts_at, ends_at, doors_open_at, is_recurring, recurrence_rule,
            recurrence_end_date, occurrence_number, timezone, status, status_reason, capacity_override,
            check_in_opens_at, check_in_closes_at, notes, metadata)
         values ($1, $2, $3, $4, $5, coalesce($6, false), $7, $8, $9, $10, coalesce($11, 'SCHEDULED'), $12, $13,
            $14, $15, $16, coalesce($17::jsonb, '{}'))
         returning id",
        tenant,
        event_id,
        f.starts_at,
        f.ends_at,
        f.doors_open_at,
        f.is_recurring,
        f.recurrence_rule.as_deref(),
        f.recurrence_end_date,
        f.occurrence_number,
        timezone,
        f.status.map(|s| s.as_str()),
        f.status_reason.as_deref(),
        f.capacity_override,
        f.check_in_opens_at,
        f.check_in_closes_at,
        f.notes.as_deref(),
        f.metadata.clone().map(Value::Object),
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Applies the present fields (absent ones keep their value). The trigger bumps `version`.
pub async fn update(tx: &mut TenantTx, id: Uuid, f: &ScheduleFields) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    sqlx::query!(
        "update event_schedules set
            starts_at = coalesce($3, starts_at), ends_at = coalesce($4, ends_at),
            doors_open_at = coalesce($5, doors_open_at), is_recurring = coalesce($6, is_recurring),
            recurrence_rule = coalesce($7, recurrence_rule),
            recurrence_end_date = coalesce($8, recurrence_end_date),
            occurrence_number = coalesce($9, occurrence_number), timezone = coalesce($10, timezone),
            status = coalesce($11, status), status_reason = coalesce($12, status_reason),
            capacity_override = coalesce($13, capacity_override),
            check_in_opens_at = coalesce($14, check_in_opens_at),
            check_in_closes_at = coalesce($15, check_in_closes_at), notes = coalesce($16, notes),
            metadata = coalesce($17, metadata)
         where tenant_id = $1 and id = $2",
        tenant,
        id,
        f.starts_at,
        f.ends_at,
        f.doors_open_at,
        f.is_recurring,
        f.recurrence_rule.as_deref(),
        f.recurrence_end_date,
        f.occurrence_number,
        f.timezone.as_deref(),
        f.status.map(|s| s.as_str()),
        f.status_reason.as_deref(),
        f.capacity_override,
        f.check_in_opens_at,
        f.check_in_closes_at,
        f.notes.as_deref(),
        f.metadata.clone().map(Value::Object),
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
