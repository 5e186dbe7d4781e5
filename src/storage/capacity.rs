//! SQL for capacity sections and holds.
//!
//! Never oversell, without one hot row. A section's sellable seats are split across counter
//! rows, its *stripes* (`section_stripes`, see the migration `20261205000001`): a hold is one
//! conditional `UPDATE .. SET available = available - $q WHERE available >= $q` on *one*
//! stripe, plus the hold's own row (which records the stripe), in one transaction. Concurrent
//! holds on a hot section pick different stripes ([`take_and_hold`]: a random first stripe,
//! then the next ones, skipping stripes another hold has locked), so they no longer queue on
//! one row lock; when no single stripe has the seats but the section has, [`rebalance`] moves
//! available seats between stripes under the section's row lock. Each stripe's CHECK
//! (`available + reserved + sold = total`, all >= 0) and a deferred constraint trigger
//! (`sum(stripe total) = total - buffer`, at every commit that moves a total) keep the
//! section's invariant at every commit. Every hold transition (confirm, release, expire) is a
//! compare-and-set on the hold's status in the same transaction as its stripe's counter change,
//! so exactly one wins.
//!
//! The section's counters in responses are the sums of its stripes, read in the statement that
//! reads the section; the section row's own counter columns are a rollup for other readers of
//! the table ([`refresh_rollup`]).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::EventStatus;
use crate::domain::capacity::{CapacityTotals, HoldOut, SectionOut};
use crate::error::{ApiError, ApiResult};
use crate::storage::TenantTx;

// The two reads below, and `hold_target`, select the columns of [`SectionOut`], in table order.
// The counters are the sums of the section's stripes, and `version` counts the section's own
// changes (its row) plus every hold, confirm, release and expiry on its stripes (`changes`), as
// it did when each of those updated the section's row.

pub async fn section(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<SectionOut>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        SectionOut,
        r#"select c.tenant_id, c.id, c.event_id, c.schedule_id, c.section_name, c.section_code, c.tier, c.total_capacity,
                k.available as "available_capacity!", k.reserved as "reserved_capacity!", k.sold as "sold_count!",
                c.buffer_capacity, c.row_config as "row_config: Json<Value>", c.seat_map as "seat_map: Json<Value>",
                c.is_active, c.is_visible, c.minimum_purchase, c.maximum_purchase, c.created_at, c.updated_at,
                c.deleted_at, (c.version + k.changes)::int4 as "version!"
             from event_capacity c
             cross join lateral (
                 select coalesce(sum(s.available), 0)::int4 as available, coalesce(sum(s.reserved), 0)::int4 as reserved,
                        coalesce(sum(s.sold), 0)::int4 as sold, coalesce(sum(s.changes), 0)::int4 as changes
                   from section_stripes s where s.tenant_id = $1 and s.tenant_id = c.tenant_id and s.capacity_id = c.id) k
            where c.tenant_id = $1 and c.id = $2 and c.deleted_at is null"#,
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
        r#"select c.tenant_id, c.id, c.event_id, c.schedule_id, c.section_name, c.section_code, c.tier, c.total_capacity,
                k.available as "available_capacity!", k.reserved as "reserved_capacity!", k.sold as "sold_count!",
                c.buffer_capacity, c.row_config as "row_config: Json<Value>", c.seat_map as "seat_map: Json<Value>",
                c.is_active, c.is_visible, c.minimum_purchase, c.maximum_purchase, c.created_at, c.updated_at,
                c.deleted_at, (c.version + k.changes)::int4 as "version!"
             from event_capacity c
             cross join lateral (
                 select coalesce(sum(s.available), 0)::int4 as available, coalesce(sum(s.reserved), 0)::int4 as reserved,
                        coalesce(sum(s.sold), 0)::int4 as sold, coalesce(sum(s.changes), 0)::int4 as changes
                   from section_stripes s where s.tenant_id = $1 and s.tenant_id = c.tenant_id and s.capacity_id = c.id) k
            where c.tenant_id = $1 and c.event_id = $2 and c.deleted_at is null
            order by c.created_at, c.section_name"#,
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
        r#"select coalesce(sum(c.total_capacity), 0)::bigint as "total_capacity!",
                coalesce(sum(k.available), 0)::bigint as "available_capacity!",
                coalesce(sum(k.reserved), 0)::bigint as "reserved_capacity!",
                coalesce(sum(k.sold), 0)::bigint as "sold_count!",
                coalesce(sum(c.buffer_capacity), 0)::bigint as "buffer_capacity!"
           from event_capacity c
           cross join lateral (
               select sum(s.available) as available, sum(s.reserved) as reserved, sum(s.sold) as sold
                 from section_stripes s where s.tenant_id = $1 and s.tenant_id = c.tenant_id and s.capacity_id = c.id) k
          where c.tenant_id = $1 and c.event_id = $2 and c.deleted_at is null"#,
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
    let sellable = s.total - s.buffer;
    let id = sqlx::query_scalar!(
        "insert into event_capacity (tenant_id, event_id, schedule_id, section_name, section_code, tier, total_capacity,
                available_capacity, buffer_capacity, row_config, seat_map, is_active, is_visible, minimum_purchase,
                maximum_purchase, stripe_count)
         values ($1, $2, $3, $4, $5, $6, $7, $7::int4 - $8::int4, $8, $9, $10, $11, $12, $13, $14, $15)
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
        stripes_for(sellable),
    )
    .fetch_one(tx.conn())
    .await?;
    insert_stripes(tx, id, sellable).await?;
    Ok(id)
}

/// How many stripes a section of `sellable` seats gets when it is created: one per
/// [`SEATS_PER_STRIPE`], at least 1, at most [`MAX_STRIPES`]. A small section keeps one row
/// (nothing to gain, and its last seats would otherwise be spread thin); 16 stripes keep
/// collisions rare for the service's 20 pooled connections per replica, and a stripe of a big
/// section holds thousands of seats, so rebalancing happens only near sold-out or for
/// quantities larger than what is left in every stripe. The migration applies the same rule
/// to existing sections. The count never shrinks: holds name their stripe.
pub fn stripes_for(sellable: i32) -> i16 {
    i16::try_from((sellable / SEATS_PER_STRIPE).clamp(1, i32::from(MAX_STRIPES))).unwrap_or(1)
}
pub const SEATS_PER_STRIPE: i32 = 16;
pub const MAX_STRIPES: i16 = 16;

/// The stripes of a new section (numbered 0 .. `stripes_for(sellable)`), its sellable seats
/// spread evenly, all available. Must run in the transaction that inserted the section: the
/// deferred `section_stripes_sum_check` compares the two at commit.
pub async fn insert_stripes(tx: &mut TenantTx, section: Uuid, sellable: i32) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    let n = i32::from(stripes_for(sellable));
    sqlx::query!(
        // From the section's own row, so that on Citus the insert runs on the section's shard
        // (rows from a bare `generate_series` would go through the coordinator, with COPY,
        // which row-level security refuses).
        "insert into section_stripes (tenant_id, capacity_id, stripe, total, available)
         select c.tenant_id, c.id, k, $3::int4 / $4::int4 + (k < $3::int4 % $4::int4)::int4,
                $3::int4 / $4::int4 + (k < $3::int4 % $4::int4)::int4
           from event_capacity c cross join generate_series(0, $4::int4 - 1) k
          where c.tenant_id = $1 and c.id = $2",
        tenant,
        section,
        sellable,
        n,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
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

/// Counters of a section, its row locked for an update of its shape. The counters are the sums
/// of its stripes; `version` as in [`section`].
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    pub total: i32,
    pub available: i32,
    pub reserved: i32,
    pub sold: i32,
    pub buffer: i32,
    pub version: i32,
}

/// `for no key update`: resizes and rebalances of a section serialise on its row, while the
/// `for key share` locks that every hold's foreign keys take on it never wait (a plain `for
/// update` would make holds queue behind a rebalance, and deadlock with one that waits for
/// their stripes).
pub async fn lock_counters(tx: &mut TenantTx, id: Uuid) -> ApiResult<Counters> {
    let tenant = *tx.tenant().as_uuid();
    // The stripes' tenant is named as well as joined: Citus then routes the whole statement,
    // lock included, to the tenant's shard (a join alone makes it refuse FOR UPDATE).
    let row = sqlx::query!(
        r#"select c.total_capacity, c.buffer_capacity, (c.version + k.changes)::int4 as "version!",
                k.available as "available!", k.reserved as "reserved!", k.sold as "sold!"
           from event_capacity c
           cross join lateral (
               select coalesce(sum(s.available), 0)::int4 as available, coalesce(sum(s.reserved), 0)::int4 as reserved,
                      coalesce(sum(s.sold), 0)::int4 as sold, coalesce(sum(s.changes), 0)::int4 as changes
                 from section_stripes s where s.tenant_id = $1 and s.tenant_id = c.tenant_id and s.capacity_id = c.id) k
          where c.tenant_id = $1 and c.id = $2 and c.deleted_at is null
            for no key update of c"#,
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| ApiError::not_found("Capacity section"))?;
    Ok(Counters {
        total: row.total_capacity,
        available: row.available,
        reserved: row.reserved,
        sold: row.sold,
        buffer: row.buffer_capacity,
        version: row.version,
    })
}

/// Locks the section's row (as [`lock_counters`]): named-seat holds serialise here, so a named
/// seat is held or sold at most once, and so do rebalances. `false`: no such live section.
pub async fn lock_section(tx: &mut TenantTx, id: Uuid) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        r#"select 1 as "one!" from event_capacity where tenant_id = $1 and id = $2 and deleted_at is null
             for no key update"#,
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?
    .is_some())
}

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

/// What a hold needs to know before taking seats, read in one statement that also locks the
/// parent event `for share` (a concurrent cancellation, which takes `for update`, waits for
/// this transaction and then sees its hold) and the section `for key share` (the lock the
/// hold's foreign key takes anyway; it makes a section changed while this statement waited
/// for the event be read in its newest version). The section (its event, purchase limits and
/// whether it is active) is read with its stripes' totals, before the hold: the hold's answer is
/// that section moved by the hold ([`SectionOut::after_hold`]), so no second read is needed
/// while the hold keeps its stripe locked.
#[derive(Debug, Clone)]
pub struct HoldTarget {
    pub status: EventStatus,
    pub stripe_count: i16,
    pub section: SectionOut,
}

pub async fn hold_target(tx: &mut TenantTx, section: Uuid) -> ApiResult<HoldTarget> {
    let tenant = *tx.tenant().as_uuid();
    let row = sqlx::query!(
        r#"select e.status, c.stripe_count,
                c.tenant_id, c.id, c.event_id, c.schedule_id, c.section_name, c.section_code, c.tier, c.total_capacity,
                k.available as "available_capacity!", k.reserved as "reserved_capacity!", k.sold as "sold_count!",
                c.buffer_capacity, c.row_config as "row_config: Json<Value>", c.seat_map as "seat_map: Json<Value>",
                c.is_active, c.is_visible, c.minimum_purchase, c.maximum_purchase, c.created_at, c.updated_at,
                c.deleted_at, (c.version + k.changes)::int4 as "version!"
           from event_capacity c
           join events e on e.tenant_id = c.tenant_id and e.id = c.event_id and e.deleted_at is null
           cross join lateral (
               select coalesce(sum(s.available), 0)::int4 as available, coalesce(sum(s.reserved), 0)::int4 as reserved,
                      coalesce(sum(s.sold), 0)::int4 as sold, coalesce(sum(s.changes), 0)::int4 as changes
                 from section_stripes s where s.tenant_id = $1 and s.tenant_id = c.tenant_id and s.capacity_id = c.id) k
          where c.tenant_id = $1 and c.id = $2 and c.deleted_at is null
            for share of e for key share of c"#,
        tenant,
        section,
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(r) = row else {
        // Which one is missing, for the right 404.
        let event_id = section_event(tx, section).await?;
        parent_event(tx, event_id, RowLock::None).await?;
        return Err(ApiError::not_found("Capacity section"));
    };
    let status = r.status.parse().map_err(|()| ApiError::internal(anyhow::anyhow!("unknown status {}", r.status)))?;
    Ok(HoldTarget {
        status,
        stripe_count: r.stripe_count,
        section: SectionOut {
            tenant_id: r.tenant_id,
            id: r.id,
            event_id: r.event_id,
            schedule_id: r.schedule_id,
            section_name: r.section_name,
            section_code: r.section_code,
            tier: r.tier,
            total_capacity: r.total_capacity,
            available_capacity: r.available_capacity,
            reserved_capacity: r.reserved_capacity,
            sold_count: r.sold_count,
            buffer_capacity: r.buffer_capacity,
            row_config: r.row_config,
            seat_map: r.seat_map,
            is_active: r.is_active,
            is_visible: r.is_visible,
            minimum_purchase: r.minimum_purchase,
            maximum_purchase: r.maximum_purchase,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
            version: r.version,
        },
    })
}

pub struct NewHold {
    pub section: Uuid,
    pub event_id: Uuid,
    pub quantity: i32,
    pub minutes: i32,
    pub pricing_id: Option<Uuid>,
    pub locked_price: Option<Decimal>,
    pub locked_price_data: Option<Value>,
    pub seat_ids: Vec<String>,
    pub created_by: String,
}

/// Where [`take_and_hold`] takes the seats from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The first stripe with enough seats that no other transaction has locked, starting at
    /// this one and going round (`for no key update skip locked`): never waits.
    AnyFrom(i16),
    /// This stripe, waiting for its lock if another hold has it.
    Exactly(i16),
}

/// Takes `quantity` seats from one stripe and writes the hold naming that stripe, in one
/// statement (one round trip under the stripe's lock instead of two). `Ok(None)`: no stripe
/// that `pick` allows had the seats, and nothing was written.
pub async fn take_and_hold(tx: &mut TenantTx, pick: Pick, h: &NewHold) -> ApiResult<Option<HoldOut>> {
    let tenant = *tx.tenant().as_uuid();
    // The two statements differ only in how `pick` chooses the stripe.
    let hold = match pick {
        Pick::AnyFrom(start) => {
            sqlx::query_as!(
                HoldOut,
                r#"with pick as (
                   select s.stripe from section_stripes s
                    where s.tenant_id = $1 and s.capacity_id = $2 and s.available >= $4
                    order by (s.stripe - $11::int2 + 64) % 64
                    limit 1
                      for no key update skip locked
               ), taken as (
                   update section_stripes s
                      set available = s.available - $4, reserved = s.reserved + $4, changes = s.changes + 1
                     from pick
                    where s.tenant_id = $1 and s.capacity_id = $2 and s.stripe = pick.stripe and s.available >= $4
                   returning s.stripe
               )
               insert into event_reservations (tenant_id, event_id, capacity_id, pricing_id, quantity, expires_at,
                       locked_price, locked_price_data, seat_ids, created_by, stripe)
               select $1, $3, $2, $5, $4, now() + make_interval(mins => $6), $7, $8, $9, $10, taken.stripe from taken
               returning tenant_id, id, event_id, capacity_id, pricing_id, quantity, status, expires_at, locked_price,
                   locked_price_data as "locked_price_data: Json<Value>", seat_ids, created_by, created_at, updated_at,
                   confirmed_at, released_at, release_reason, version"#,
                tenant,
                h.section,
                h.event_id,
                h.quantity,
                h.pricing_id,
                h.minutes,
                h.locked_price,
                h.locked_price_data,
                &h.seat_ids,
                h.created_by,
                start,
            )
            .fetch_optional(tx.conn())
            .await?
        }
        Pick::Exactly(stripe) => {
            sqlx::query_as!(
                HoldOut,
                r#"with taken as (
                   update section_stripes s
                      set available = s.available - $4, reserved = s.reserved + $4, changes = s.changes + 1
                    where s.tenant_id = $1 and s.capacity_id = $2 and s.stripe = $11 and s.available >= $4
                   returning s.stripe
               )
               insert into event_reservations (tenant_id, event_id, capacity_id, pricing_id, quantity, expires_at,
                       locked_price, locked_price_data, seat_ids, created_by, stripe)
               select $1, $3, $2, $5, $4, now() + make_interval(mins => $6), $7, $8, $9, $10, taken.stripe from taken
               returning tenant_id, id, event_id, capacity_id, pricing_id, quantity, status, expires_at, locked_price,
                   locked_price_data as "locked_price_data: Json<Value>", seat_ids, created_by, created_at, updated_at,
                   confirmed_at, released_at, release_reason, version"#,
                tenant,
                h.section,
                h.event_id,
                h.quantity,
                h.pricing_id,
                h.minutes,
                h.locked_price,
                h.locked_price_data,
                &h.seat_ids,
                h.created_by,
                stripe,
            )
            .fetch_optional(tx.conn())
            .await?
        }
    };
    Ok(hold)
}

/// When no stripe alone has `quantity` seats: under the section's row lock (rebalances
/// serialise; holds do not take it), locks every stripe in order, and if the section as a whole
/// has the seats, moves available seats (and the same number of `total`) from the fullest other
/// stripes to the fullest one, which it returns; the hold then takes them with
/// [`Pick::Exactly`]. `Ok(None)`: the section has fewer than `quantity` available seats (or is
/// closed). Moving totals fires the deferred `section_stripes_sum_check` at commit; the section's
/// total is unchanged, so it passes. The rollup is refreshed while the section is locked anyway.
pub async fn rebalance(tx: &mut TenantTx, section: Uuid, quantity: i32) -> ApiResult<Option<i16>> {
    let tenant = *tx.tenant().as_uuid();
    let open = sqlx::query_scalar!(
        "select is_active from event_capacity where tenant_id = $1 and id = $2 and deleted_at is null
            for no key update",
        tenant,
        section,
    )
    .fetch_optional(tx.conn())
    .await?;
    if open != Some(true) {
        return Ok(None);
    }
    let stripes: Vec<(i16, i32)> = sqlx::query!(
        "select stripe, available from section_stripes where tenant_id = $1 and capacity_id = $2
          order by stripe for no key update",
        tenant,
        section,
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|r| (r.stripe, r.available))
    .collect();
    let Some((target, moves)) = crate::services::stripes::plan_rebalance(&stripes, quantity) else { return Ok(None) };
    if !moves.is_empty() {
        apply_moves(tx, section, &moves).await?;
        metrics::counter!("capacity_stripe_rebalances_total").increment(1);
    }
    refresh_rollup(tx, section).await?;
    Ok(Some(target))
}

/// Adds `delta` to both `total` and `available` of each listed stripe (a rebalance or a
/// resize). Totals move, so the deferred sum check runs at commit.
async fn apply_moves(tx: &mut TenantTx, section: Uuid, moves: &[(i16, i32)]) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    let (stripes, deltas): (Vec<i16>, Vec<i32>) = moves.iter().copied().unzip();
    sqlx::query!(
        "update section_stripes s set total = s.total + m.delta, available = s.available + m.delta
           from unnest($3::int2[], $4::int4[]) as m(stripe, delta)
          where s.tenant_id = $1 and s.capacity_id = $2 and s.stripe = m.stripe",
        tenant,
        section,
        &stripes,
        &deltas,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A resize: the section's sellable seats (`total - buffer`) become `sellable`. The caller holds
/// the section's row lock ([`lock_counters`]) and has checked that enough seats are available;
/// this locks the stripes, adds stripes if the new size calls for more ([`stripes_for`]; never
/// fewer), and spreads the difference over them (growth evenly, shrinking from the fullest).
pub async fn resize_stripes(tx: &mut TenantTx, section: Uuid, sellable: i32) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    let rows = sqlx::query!(
        "select stripe, total, available from section_stripes where tenant_id = $1 and capacity_id = $2
          order by stripe for no key update",
        tenant,
        section,
    )
    .fetch_all(tx.conn())
    .await?;
    let current: i32 = rows.iter().map(|r| r.total).sum();
    let mut stripes: Vec<(i16, i32)> = rows.iter().map(|r| (r.stripe, r.available)).collect();
    if current == sellable {
        return Ok(());
    }
    let have = i16::try_from(stripes.len()).unwrap_or(MAX_STRIPES);
    let want = stripes_for(sellable).max(have);
    if want > have {
        sqlx::query!(
            // From the section's row: see `insert_stripes`.
            "insert into section_stripes (tenant_id, capacity_id, stripe, total, available)
             select c.tenant_id, c.id, k, 0, 0
               from event_capacity c cross join generate_series($3::int4, $4::int4 - 1) k
              where c.tenant_id = $1 and c.id = $2",
            tenant,
            section,
            i32::from(have),
            i32::from(want),
        )
        .execute(tx.conn())
        .await?;
        sqlx::query!(
            "update event_capacity set stripe_count = $3 where tenant_id = $1 and id = $2",
            tenant,
            section,
            want,
        )
        .execute(tx.conn())
        .await?;
        stripes.extend((have..want).map(|k| (k, 0)));
    }
    let moves = crate::services::stripes::plan_resize(&stripes, sellable - current)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("resize of section {section} below its committed seats")))?;
    apply_moves(tx, section, &moves).await
}

/// Rewrites the section row's counter columns (the rollup other readers of `event_capacity` see)
/// from its stripes, when they differ. Locks the row first, so the sums are read in a snapshot
/// taken after any rebalance or resize committed: the row's own CHECK then holds. Neither the
/// section's `version` nor its `updated_at` move (their triggers ignore the counter columns).
pub async fn refresh_rollup(tx: &mut TenantTx, section: Uuid) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    if !lock_section(tx, section).await? {
        return Ok(false);
    }
    let updated = sqlx::query!(
        "update event_capacity c
            set available_capacity = k.available, reserved_capacity = k.reserved, sold_count = k.sold
           from (select coalesce(sum(s.available), 0)::int4 as available, coalesce(sum(s.reserved), 0)::int4 as reserved,
                        coalesce(sum(s.sold), 0)::int4 as sold
                   from section_stripes s where s.tenant_id = $1 and s.capacity_id = $2) k
          where c.tenant_id = $1 and c.id = $2
            and (c.available_capacity, c.reserved_capacity, c.sold_count) is distinct from (k.available, k.reserved, k.sold)",
        tenant,
        section,
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(updated > 0)
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
    // bound as `$3` and the same `set` list serves all three. `now()` comes from a subquery:
    // Citus refuses non-immutable functions inside CASE (deploy/citus/README.md).
    let ended = match end {
        HoldEnd::Confirm => sqlx::query!(
            "update event_reservations set status = $3::text,
                    confirmed_at = case when $3 = 'confirmed' then t.now else confirmed_at end,
                    released_at = case when $3 <> 'confirmed' then t.now else released_at end,
                    release_reason = case when $3 <> 'confirmed' then $3 else release_reason end
               from (select now() as now) t
              where tenant_id = $1 and id = $2 and status = 'active' and expires_at > t.now
              returning capacity_id, quantity, event_id, stripe",
            tenant,
            id,
            "confirmed",
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.capacity_id, r.quantity, r.event_id, r.stripe)),
        HoldEnd::Release => sqlx::query!(
            "update event_reservations set status = $3::text,
                    confirmed_at = case when $3 = 'confirmed' then t.now else confirmed_at end,
                    released_at = case when $3 <> 'confirmed' then t.now else released_at end,
                    release_reason = case when $3 <> 'confirmed' then $3 else release_reason end
               from (select now() as now) t
              where tenant_id = $1 and id = $2 and status = 'active'
              returning capacity_id, quantity, event_id, stripe",
            tenant,
            id,
            "released",
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.capacity_id, r.quantity, r.event_id, r.stripe)),
        HoldEnd::Expire => sqlx::query!(
            "update event_reservations set status = $3::text,
                    confirmed_at = case when $3 = 'confirmed' then t.now else confirmed_at end,
                    released_at = case when $3 <> 'confirmed' then t.now else released_at end,
                    release_reason = case when $3 <> 'confirmed' then $3 else release_reason end
               from (select now() as now) t
              where tenant_id = $1 and id = $2 and status = 'active' and expires_at <= t.now
              returning capacity_id, quantity, event_id, stripe",
            tenant,
            id,
            "expired",
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|r| (r.capacity_id, r.quantity, r.event_id, r.stripe)),
    };
    let Some((section, quantity, event, stripe)) = ended else { return Ok(None) };
    // The seats go back to (or are sold from) the stripe the hold took them from.
    let moved = match end {
        HoldEnd::Confirm => {
            sqlx::query!(
                "update section_stripes set reserved = reserved - $4, sold = sold + $4, changes = changes + 1
                  where tenant_id = $1 and capacity_id = $2 and stripe = $3",
                tenant,
                section,
                stripe,
                quantity,
            )
            .execute(tx.conn())
            .await?
        }
        HoldEnd::Release | HoldEnd::Expire => {
            sqlx::query!(
                "update section_stripes set reserved = reserved - $4, available = available + $4, changes = changes + 1
                  where tenant_id = $1 and capacity_id = $2 and stripe = $3",
                tenant,
                section,
                stripe,
                quantity,
            )
            .execute(tx.conn())
            .await?
        }
    };
    if moved.rows_affected() != 1 {
        return Err(ApiError::internal(anyhow::anyhow!(
            "hold {id} names stripe {stripe} of section {section}, which does not exist"
        )));
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

/// A section's new values; `None` keeps the stored one. The caller holds the section's row lock
/// and has resized its stripes ([`resize_stripes`]); the row's counters are rewritten from them.
pub struct SectionUpdate<'a> {
    pub section_name: Option<&'a str>,
    pub section_code: Option<&'a str>,
    pub tier: Option<&'a str>,
    pub total: i32,
    pub buffer: i32,
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
        "update event_capacity c set section_name = coalesce($3, section_name), section_code = coalesce($4, section_code),
                tier = coalesce($5, tier), total_capacity = $6, buffer_capacity = $7,
                available_capacity = k.available, reserved_capacity = k.reserved, sold_count = k.sold,
                row_config = coalesce($8, row_config), seat_map = coalesce($9, seat_map),
                is_active = coalesce($10, is_active), is_visible = coalesce($11, is_visible),
                minimum_purchase = coalesce($12, minimum_purchase), maximum_purchase = coalesce($13, maximum_purchase)
           from (select coalesce(sum(s.available), 0)::int4 as available, coalesce(sum(s.reserved), 0)::int4 as reserved,
                        coalesce(sum(s.sold), 0)::int4 as sold
                   from section_stripes s where s.tenant_id = $1 and s.capacity_id = $2) k
          where c.tenant_id = $1 and c.id = $2",
        tenant,
        id,
        u.section_name,
        u.section_code,
        u.tier,
        u.total,
        u.buffer,
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
