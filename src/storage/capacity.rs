//! SQL for capacity sections and holds.
//!
//! Never oversell: a hold is one conditional `UPDATE .. SET available = available - $q WHERE
//! available >= $q` on the section row, plus the hold's own row, in one transaction. The
//! update takes the row lock, so concurrent holds on a hot section serialize on that row for
//! the few microseconds of the statement and none can read a stale count (unlike read, check,
//! then write, which needs `FOR UPDATE` and an extra round trip). The table's CHECK
//! (`available + reserved + sold + buffer = total`, all >= 0) is the backstop if code ever
//! got it wrong. Every hold transition (confirm, release, expire) is a compare-and-set on the
//! hold's status in the same transaction as its counter change, so exactly one wins.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::EventStatus;
use crate::domain::capacity::{CapacityTotals, HoldOut, SectionOut};
use crate::error::{ApiError, ApiResult};
use crate::storage::TenantTx;

// The two reads below select the columns of [`SectionOut`], in table order.

pub async fn section(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<SectionOut>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        SectionOut,
        r#"select tenant_id, id, event_id, schedule_id, section_name, section_code, tier, total_capacity,
                available_capacity, reserved_capacity, sold_count, buffer_capacity,
                row_config as "row_config: Json<Value>", seat_map as "seat_map: Json<Value>", is_active, is_visible,
                minimum_purchase, maximum_purchase, created_at, updated_at, deleted_at, version
             from event_capacity
            where tenant_id = $1 and id = $2 and deleted_at is null"#,
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn sections(tx: &mut TenantTx, event_id: Uuid) -> ApiResult<Vec<SectionOut>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        SectionOut,
        r#"select tenant_id, id, event_id, schedule_id, section_name, section_code, tier, total_capacity,
                available_capacity, reserved_capacity, sold_count, buffer_capacity,
                row_config as "row_config: Json<Value>", seat_map as "seat_map: Json<Value>", is_active, is_visible,
                minimum_purchase, maximum_purchase, created_at, updated_at, deleted_at, version
             from event_capacity
            where tenant_id = $1 and event_id = $2 and deleted_at is null
            order by created_at, section_name"#,
        tenant,
        event_id,
    )
    .fetch_all(tx.conn())
    .await?)
}

pub async fn totals(tx: &mut TenantTx, event_id: Uuid) -> ApiResult<CapacityTotals> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        CapacityTotals,
        r#"select coalesce(sum(total_capacity), 0)::bigint as "total_capacity!",
                coalesce(sum(available_capacity), 0)::bigint as "available_capacity!",
                coalesce(sum(reserved_capacity), 0)::bigint as "reserved_capacity!",
                coalesce(sum(sold_count), 0)::bigint as "sold_count!",
                coalesce(sum(buffer_capacity), 0)::bigint as "buffer_capacity!"
           from event_capacity where tenant_id = $1 and event_id = $2 and deleted_at is null"#,
        tenant,
        event_id,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// How [`parent_event`] locks the event row for the rest of the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    /// Reads only need the event to exist in the tenant.
    None,
    /// Holds: a concurrent cancellation (which takes `FOR UPDATE`) waits for this
    /// transaction and then sees its holds.
    Share,
    /// Section shape changes of one event serialize here, so two concurrent creates cannot
    /// both fit under the venue's capacity.
    Update,
}

/// The parent event's status, creator and venue; 404 if it is not in the tenant.
pub async fn parent_event(
    tx: &mut TenantTx,
    event_id: Uuid,
    lock: RowLock,
) -> ApiResult<(EventStatus, Option<String>, Uuid)> {
    let tenant = *tx.tenant().as_uuid();
    // One statement per lock mode; they differ only in the locking clause.
    let row = match lock {
        RowLock::None => sqlx::query!(
            "select status, created_by, venue_id from events where tenant_id = $1 and id = $2 and deleted_at is null",
            tenant,
            event_id,
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.status, r.created_by, r.venue_id)),
        RowLock::Share => sqlx::query!(
            "select status, created_by, venue_id from events where tenant_id = $1 and id = $2 and deleted_at is null
                for share",
            tenant,
            event_id,
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.status, r.created_by, r.venue_id)),
        RowLock::Update => sqlx::query!(
            "select status, created_by, venue_id from events where tenant_id = $1 and id = $2 and deleted_at is null
                for update",
            tenant,
            event_id,
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.status, r.created_by, r.venue_id)),
    };
    let (status, created_by, venue) = row.ok_or_else(|| ApiError::not_found("Event"))?;
    let status = status.parse().map_err(|()| ApiError::internal(anyhow::anyhow!("unknown status {status}")))?;
    Ok((status, created_by, venue))
}

/// The event a section belongs to.
pub async fn section_event(tx: &mut TenantTx, section: Uuid) -> ApiResult<Uuid> {
    let tenant = *tx.tenant().as_uuid();
    sqlx::query_scalar!(
        "select event_id from event_capacity where tenant_id = $1 and id = $2 and deleted_at is null",
        tenant,
        section,
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| ApiError::not_found("Capacity section"))
}

pub struct NewSection<'a> {
    pub event_id: Uuid,
    pub schedule_id: Option<Uuid>,
    pub section_name: &'a str,
    pub section_code: Option<&'a str>,
    pub tier: Option<&'a str>,
    pub total: i32,
    pub buffer: i32,
    pub row_config: Option<Value>,
    pub seat_map: Option<Value>,
    pub is_active: bool,
    pub is_visible: bool,
    pub minimum_purchase: i32,
    pub maximum_purchase: Option<i32>,
}

pub async fn insert_section(tx: &mut TenantTx, s: &NewSection<'_>) -> ApiResult<Uuid> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        "insert into event_capacity (tenant_id, event_id, schedule_id, section_name, section_code, tier, total_capacity,
                available_capacity, buffer_capacity, row_config, seat_map, is_active, is_visible, minimum_purchase,
                maximum_purchase)
         values ($1, $2, $3, $4, $5, $6, $7, $7::int4 - $8::int4, $8, $9, $10, $11, $12, $13, $14)
         returning id",
        tenant,
        s.event_id,
        s.schedule_id,
        s.section_name,
        s.section_code,
        s.tier,
        s.total,
        s.buffer,
        s.row_config,
        s.seat_map,
        s.is_active,
        s.is_visible,
        s.minimum_purchase,
        s.maximum_purchase,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Sum of the event's section totals, excluding one section (for updates).
pub async fn event_total_excluding(tx: &mut TenantTx, event_id: Uuid, except: Option<Uuid>) -> ApiResult<i64> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        r#"select coalesce(sum(total_capacity), 0)::bigint as "total!" from event_capacity
          where tenant_id = $1 and event_id = $2 and deleted_at is null and ($3::uuid is null or id <> $3)"#,
        tenant,
        event_id,
        except,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Counters of a section, locked for an update of its shape.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    pub total: i32,
    pub available: i32,
    pub reserved: i32,
    pub sold: i32,
    pub buffer: i32,
    pub version: i32,
}

pub async fn lock_counters(tx: &mut TenantTx, id: Uuid) -> ApiResult<Counters> {
    let tenant = *tx.tenant().as_uuid();
    let row = sqlx::query!(
        "select total_capacity, available_capacity, reserved_capacity, sold_count, buffer_capacity, version
           from event_capacity where tenant_id = $1 and id = $2 and deleted_at is null for update",
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| ApiError::not_found("Capacity section"))?;
    Ok(Counters {
        total: row.total_capacity,
        available: row.available_capacity,
        reserved: row.reserved_capacity,
        sold: row.sold_count,
        buffer: row.buffer_capacity,
        version: row.version,
    })
}

/// Holds: the section is reduced and the hold written, or nothing happens.
/// Which of `seats` an active (unexpired) hold or a sale of the section already names.
pub async fn seats_taken(tx: &mut TenantTx, section: Uuid, seats: &[String]) -> ApiResult<Vec<String>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        r#"select distinct s as "s!" from event_reservations r, unnest(r.seat_ids) s
          where r.tenant_id = $1 and r.capacity_id = $2 and r.seat_ids && $3::text[] and s = any($3)
            and (r.status = 'confirmed' or (r.status = 'active' and r.expires_at > now()))
          order by 1"#,
        tenant,
        section,
        seats,
    )
    .fetch_all(tx.conn())
    .await?)
}

pub struct NewHold {
    pub section: Uuid,
    pub quantity: i32,
    pub minutes: i32,
    pub pricing_id: Option<Uuid>,
    pub locked_price: Option<Decimal>,
    pub locked_price_data: Option<Value>,
    pub seat_ids: Vec<String>,
    pub created_by: String,
}

/// Takes `quantity` seats from an active section; `Ok(None)` when not enough are available.
pub async fn take_seats(tx: &mut TenantTx, section: Uuid, quantity: i32) -> ApiResult<Option<Uuid>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        "update event_capacity set available_capacity = available_capacity - $3, reserved_capacity = reserved_capacity + $3
          where tenant_id = $1 and id = $2 and deleted_at is null and is_active and available_capacity >= $3
          returning event_id",
        tenant,
        section,
        quantity,
    )
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn insert_hold(tx: &mut TenantTx, event_id: Uuid, h: &NewHold) -> ApiResult<Uuid> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        "insert into event_reservations (tenant_id, event_id, capacity_id, pricing_id, quantity, expires_at, locked_price,
                locked_price_data, seat_ids, created_by)
         values ($1, $2, $3, $4, $5, now() + make_interval(mins => $6), $7, $8, $9, $10)
         returning id",
        tenant,
        event_id,
        h.section,
        h.pricing_id,
        h.quantity,
        h.minutes,
        h.locked_price,
        h.locked_price_data,
        &h.seat_ids,
        h.created_by,
    )
    .fetch_one(tx.conn())
    .await?)
}

pub async fn hold(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<HoldOut>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        HoldOut,
        r#"select tenant_id, id, event_id, capacity_id, pricing_id, quantity, status, expires_at, locked_price,
                locked_price_data as "locked_price_data: Json<Value>", seat_ids, created_by, created_at, updated_at,
                confirmed_at, released_at, release_reason, version
           from event_reservations where tenant_id = $1 and id = $2"#,
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

#[derive(Debug, Clone)]
pub struct HoldState {
    pub event_id: Uuid,
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub created_by: Option<String>,
}

pub async fn hold_state(tx: &mut TenantTx, id: Uuid) -> ApiResult<HoldState> {
    let tenant = *tx.tenant().as_uuid();
    sqlx::query_as!(
        HoldState,
        "select event_id, status, expires_at, created_by from event_reservations where tenant_id = $1 and id = $2",
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| ApiError::not_found("Reservation"))
}

/// How a hold leaves `active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldEnd {
    /// Sold: reserved -> sold.
    Confirm,
    /// Given back by the client: reserved -> available.
    Release,
    /// Timed out: reserved -> available. Only when `expires_at` has passed.
    Expire,
}

/// Compare-and-set from `active`, with the counter change in the same transaction. Returns the
/// hold's event when this transition won, `None` when the hold was no longer active (or, for
/// confirm, already expired): another transition won.
pub async fn end_hold(tx: &mut TenantTx, id: Uuid, end: HoldEnd) -> ApiResult<Option<Uuid>> {
    let tenant = *tx.tenant().as_uuid();
    // One statement per way out; they differ only in the expiry condition. The new status is
    // bound as `$3` and the same `set` list serves all three.
    let ended = match end {
        HoldEnd::Confirm => sqlx::query!(
            "update event_reservations set status = $3::text,
                    confirmed_at = case when $3 = 'confirmed' then now() else confirmed_at end,
                    released_at = case when $3 <> 'confirmed' then now() else released_at end,
                    release_reason = case when $3 <> 'confirmed' then $3 else release_reason end
              where tenant_id = $1 and id = $2 and status = 'active' and expires_at > now()
              returning capacity_id, quantity, event_id",
            tenant,
            id,
            "confirmed",
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.capacity_id, r.quantity, r.event_id)),
        HoldEnd::Release => sqlx::query!(
            "update event_reservations set status = $3::text,
                    confirmed_at = case when $3 = 'confirmed' then now() else confirmed_at end,
                    released_at = case when $3 <> 'confirmed' then now() else released_at end,
                    release_reason = case when $3 <> 'confirmed' then $3 else release_reason end
              where tenant_id = $1 and id = $2 and status = 'active'
              returning capacity_id, quantity, event_id",
            tenant,
            id,
            "released",
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.capacity_id, r.quantity, r.event_id)),
        HoldEnd::Expire => sqlx::query!(
            "update event_reservations set status = $3::text,
                    confirmed_at = case when $3 = 'confirmed' then now() else confirmed_at end,
                    released_at = case when $3 <> 'confirmed' then now() else released_at end,
                    release_reason = case when $3 <> 'confirmed' then $3 else release_reason end
              where tenant_id = $1 and id = $2 and status = 'active' and expires_at <= now()
              returning capacity_id, quantity, event_id",
            tenant,
            id,
            "expired",
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.capacity_id, r.quantity, r.event_id)),
    };
    let Some((section, quantity, event)) = ended else { return Ok(None) };
    match end {
        HoldEnd::Confirm => {
            sqlx::query!(
                "update event_capacity set reserved_capacity = reserved_capacity - $3, sold_count = sold_count + $3
                  where tenant_id = $1 and id = $2",
                tenant,
                section,
                quantity,
            )
            .execute(tx.conn())
            .await?;
        }
        HoldEnd::Release | HoldEnd::Expire => {
            sqlx::query!(
                "update event_capacity set reserved_capacity = reserved_capacity - $3,
                        available_capacity = available_capacity + $3
                  where tenant_id = $1 and id = $2",
                tenant,
                section,
                quantity,
            )
            .execute(tx.conn())
            .await?;
        }
    }
    Ok(Some(event))
}

/// Whether `schedule` is a live schedule of `event_id` (a section may belong to one).
pub async fn schedule_of_event(tx: &mut TenantTx, event_id: Uuid, schedule: Uuid) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        r#"select exists (select 1 from event_schedules
                           where tenant_id = $1 and id = $2 and event_id = $3 and deleted_at is null) as "exists!""#,
        tenant,
        schedule,
        event_id,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// A section's new values; `None` keeps the stored one. The counters are computed by the caller
/// under the section's row lock.
pub struct SectionUpdate<'a> {
    pub section_name: Option<&'a str>,
    pub section_code: Option<&'a str>,
    pub tier: Option<&'a str>,
    pub total: i32,
    pub buffer: i32,
    pub available: i32,
    pub row_config: Option<Value>,
    pub seat_map: Option<Value>,
    pub is_active: Option<bool>,
    pub is_visible: Option<bool>,
    pub minimum_purchase: Option<i32>,
    pub maximum_purchase: Option<i32>,
}

pub async fn update_section(tx: &mut TenantTx, id: Uuid, u: &SectionUpdate<'_>) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    sqlx::query!(
        "update event_capacity set section_name = coalesce($3, section_name), section_code = coalesce($4, section_code),
                tier = coalesce($5, tier), total_capacity = $6, buffer_capacity = $7, available_capacity = $8,
                row_config = coalesce($9, row_config), seat_map = coalesce($10, seat_map),
                is_active = coalesce($11, is_active), is_visible = coalesce($12, is_visible),
                minimum_purchase = coalesce($13, minimum_purchase), maximum_purchase = coalesce($14, maximum_purchase)
          where tenant_id = $1 and id = $2",
        tenant,
        id,
        u.section_name,
        u.section_code,
        u.tier,
        u.total,
        u.buffer,
        u.available,
        u.row_config,
        u.seat_map,
        u.is_active,
        u.is_visible,
        u.minimum_purchase,
        u.maximum_purchase,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A section's purchase limits: `(minimum, maximum)`.
pub async fn purchase_limits(tx: &mut TenantTx, section: Uuid) -> ApiResult<(i32, Option<i32>)> {
    let tenant = *tx.tenant().as_uuid();
    let row = sqlx::query!(
        "select minimum_purchase, maximum_purchase from event_capacity where tenant_id = $1 and id = $2",
        tenant,
        section,
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((row.minimum_purchase, row.maximum_purchase))
}

/// The price a hold locks from an active tier of the event, with the locked terms as the hold
/// stores them (money as exact decimal strings, as in pricing responses). `None`: no such tier.
pub async fn price_to_lock(tx: &mut TenantTx, event_id: Uuid, pricing: Uuid) -> ApiResult<Option<(Decimal, Value)>> {
    let tenant = *tx.tenant().as_uuid();
    let row = sqlx::query!(
        r#"select coalesce(current_price, base_price) as "price!",
                jsonb_build_object('pricing_id', id, 'locked_price', coalesce(current_price, base_price)::text,
                    'service_fee', service_fee::text, 'facility_fee', facility_fee::text,
                    'tax_rate', tax_rate::text,
                    'currency', currency, 'locked_at', now()) as "terms!"
           from event_pricing
          where tenant_id = $1 and id = $2 and event_id = $3 and deleted_at is null and is_active"#,
        tenant,
        pricing,
        event_id,
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| (r.price, r.terms)))
}
