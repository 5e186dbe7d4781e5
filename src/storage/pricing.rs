//! SQL for pricing tiers (`event_pricing`), which the ticket-type routes share. Every function
//! takes a `TenantTx` (row-level security) and filters on `tenant_id` explicitly as well. A tier
//! of a deleted event is treated as absent.

use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::pricing::{PricingFields, Tier};
use crate::error::ApiResult;
use crate::storage::TenantTx;

// The reads below select the columns of [`Tier`] from the live tiers of a live event:
//   from event_pricing p
//   join events e on e.tenant_id = p.tenant_id and e.id = p.event_id and e.deleted_at is null
//  where p.tenant_id = $1 and p.deleted_at is null

/// Tiers of an event, in display order. `active_only`: active, visible and inside the sales
/// window (`sales_start_at <= now < sales_end_at`, open ends allowed).
pub async fn list(tx: &mut TenantTx, event_id: Uuid, active_only: bool) -> ApiResult<Vec<Tier>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Tier,
        "select p.id, p.tenant_id, p.event_id, p.schedule_id, p.capacity_id, p.name, p.description, p.tier,
                p.base_price, p.service_fee, p.facility_fee, p.tax_rate, p.is_dynamic, p.min_price, p.max_price,
                p.price_adjustment_rules, p.current_price, p.early_bird_price, p.early_bird_ends_at,
                p.last_minute_price, p.last_minute_starts_at, p.group_size_min, p.group_discount_percentage,
                p.currency, p.sales_start_at, p.sales_end_at, p.max_per_order, p.max_per_customer, p.is_active,
                p.is_visible, p.display_order, p.created_at, p.updated_at, p.version
           from event_pricing p
           join events e on e.tenant_id = p.tenant_id and e.id = p.event_id and e.deleted_at is null
          where p.tenant_id = $1 and p.deleted_at is null and p.event_id = $2
            and (not $3 or (p.is_active and p.is_visible
                 and (p.sales_start_at is null or p.sales_start_at <= now())
                 and (p.sales_end_at is null or p.sales_end_at > now())))
          order by p.display_order, p.created_at, p.id",
        tenant,
        event_id,
        active_only,
    )
    .fetch_all(tx.conn())
    .await?)
}

pub async fn find(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<Tier>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Tier,
        "select p.id, p.tenant_id, p.event_id, p.schedule_id, p.capacity_id, p.name, p.description, p.tier,
                p.base_price, p.service_fee, p.facility_fee, p.tax_rate, p.is_dynamic, p.min_price, p.max_price,
                p.price_adjustment_rules, p.current_price, p.early_bird_price, p.early_bird_ends_at,
                p.last_minute_price, p.last_minute_starts_at, p.group_size_min, p.group_discount_percentage,
                p.currency, p.sales_start_at, p.sales_end_at, p.max_per_order, p.max_per_customer, p.is_active,
                p.is_visible, p.display_order, p.created_at, p.updated_at, p.version
           from event_pricing p
           join events e on e.tenant_id = p.tenant_id and e.id = p.event_id and e.deleted_at is null
          where p.tenant_id = $1 and p.deleted_at is null and p.id = $2",
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// The tier, locked for an update (`FOR UPDATE` on the pricing row only).
pub async fn lock(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<Tier>> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Tier,
        "select p.id, p.tenant_id, p.event_id, p.schedule_id, p.capacity_id, p.name, p.description, p.tier,
                p.base_price, p.service_fee, p.facility_fee, p.tax_rate, p.is_dynamic, p.min_price, p.max_price,
                p.price_adjustment_rules, p.current_price, p.early_bird_price, p.early_bird_ends_at,
                p.last_minute_price, p.last_minute_starts_at, p.group_size_min, p.group_discount_percentage,
                p.currency, p.sales_start_at, p.sales_end_at, p.max_per_order, p.max_per_customer, p.is_active,
                p.is_visible, p.display_order, p.created_at, p.updated_at, p.version
           from event_pricing p
           join events e on e.tenant_id = p.tenant_id and e.id = p.event_id and e.deleted_at is null
          where p.tenant_id = $1 and p.deleted_at is null and p.id = $2
          for update of p",
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// Does `id` name a live row of `table` (`event_schedules` or `event_capacity`) of this event?
pub async fn belongs_to_event(tx: &mut TenantTx, table: ChildTable, id: Uuid, event_id: Uuid) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    let exists = match table {
        ChildTable::Schedules => sqlx::query_scalar!(
            r#"select exists (select 1 from event_schedules
                               where tenant_id = $1 and id = $2 and event_id = $3 and deleted_at is null) as "exists!""#,
            tenant,
            id,
            event_id,
        )
        .fetch_one(tx.conn())
        .await?,
        ChildTable::Capacity => sqlx::query_scalar!(
            r#"select exists (select 1 from event_capacity
                               where tenant_id = $1 and id = $2 and event_id = $3 and deleted_at is null) as "exists!""#,
            tenant,
            id,
            event_id,
        )
        .fetch_one(tx.conn())
        .await?,
    };
    Ok(exists)
}

#[derive(Debug, Clone, Copy)]
pub enum ChildTable {
    Schedules,
    Capacity,
}

/// Seats sold for the event, over all its sections.
pub async fn sold_count(tx: &mut TenantTx, event_id: Uuid) -> ApiResult<i64> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        r#"select coalesce(sum(s.sold), 0)::bigint as "sold!" from event_capacity c
             join section_stripes s on s.tenant_id = c.tenant_id and s.capacity_id = c.id
            where c.tenant_id = $1 and c.event_id = $2"#,
        tenant,
        event_id,
    )
    .fetch_one(tx.conn())
    .await?)
}

fn rules(f: &PricingFields) -> Option<Value> {
    f.price_adjustment_rules.clone().map(Value::Object)
}

/// Inserts a tier; `current_price` starts at `base_price`.
pub async fn insert(tx: &mut TenantTx, event_id: Uuid, f: &PricingFields) -> ApiResult<Tier> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Tier,
        "insert into event_pricing (
            tenant_id, event_id, schedule_id, capacity_id, name, description, tier, base_price, service_fee,
            facility_fee, tax_rate, is_dynamic, min_price, max_price, price_adjustment_rules, current_price,
            early_bird_price, early_bird_ends_at, last_minute_price, last_minute_starts_at, group_size_min,
            group_discount_percentage, currency, sales_start_at, sales_end_at, max_per_order, max_per_customer,
            is_active, is_visible, display_order)
         values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9::numeric, 0), coalesce($10::numeric, 0), coalesce($11::numeric, 0),
            coalesce($12, false), $13, $14, $15, $8, $16, $17, $18, $19, $20, $21, coalesce($22, 'USD'), $23, $24,
            $25, $26, coalesce($27, true), coalesce($28, true), coalesce($29, 0))
         returning id, tenant_id, event_id, schedule_id, capacity_id, name, description, tier, base_price, service_fee,
                   facility_fee, tax_rate, is_dynamic, min_price, max_price, price_adjustment_rules, current_price,
                   early_bird_price, early_bird_ends_at, last_minute_price, last_minute_starts_at, group_size_min,
                   group_discount_percentage, currency, sales_start_at, sales_end_at, max_per_order,
                   max_per_customer, is_active, is_visible, display_order, created_at, updated_at, version",
        tenant,
        event_id,
        f.schedule_id,
        f.capacity_id,
        f.name.as_deref().map(str::trim),
        f.description.as_deref(),
        f.tier.as_deref(),
        f.base_price,
        f.service_fee,
        f.facility_fee,
        f.tax_rate,
        f.is_dynamic,
        f.min_price,
        f.max_price,
        rules(f),
        f.early_bird_price,
        f.early_bird_ends_at,
        f.last_minute_price,
        f.last_minute_starts_at,
        f.group_size_min,
        f.group_discount_percentage,
        f.currency.as_deref(),
        f.sales_start_at,
        f.sales_end_at,
        f.max_per_order,
        f.max_per_customer,
        f.is_active,
        f.is_visible,
        f.display_order,
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Applies the present fields (absent ones keep their value); `current_price` is set when
/// given. The trigger bumps `version`.
pub async fn update(tx: &mut TenantTx, id: Uuid, f: &PricingFields, current_price: Option<Decimal>) -> ApiResult<Tier> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_as!(
        Tier,
        "update event_pricing set
            schedule_id = coalesce($3, schedule_id), capacity_id = coalesce($4, capacity_id),
            name = coalesce($5, name), description = coalesce($6, description), tier = coalesce($7, tier),
            base_price = coalesce($8, base_price), service_fee = coalesce($9, service_fee),
            facility_fee = coalesce($10, facility_fee), tax_rate = coalesce($11, tax_rate),
            is_dynamic = coalesce($12, is_dynamic), min_price = coalesce($13, min_price),
            max_price = coalesce($14, max_price), price_adjustment_rules = coalesce($15, price_adjustment_rules),
            current_price = coalesce($16, current_price), early_bird_price = coalesce($17, early_bird_price),
            early_bird_ends_at = coalesce($18, early_bird_ends_at),
            last_minute_price = coalesce($19, last_minute_price),
            last_minute_starts_at = coalesce($20, last_minute_starts_at),
            group_size_min = coalesce($21, group_size_min),
            group_discount_percentage = coalesce($22, group_discount_percentage),
            currency = coalesce($23, currency), sales_start_at = coalesce($24, sales_start_at),
            sales_end_at = coalesce($25, sales_end_at), max_per_order = coalesce($26, max_per_order),
            max_per_customer = coalesce($27, max_per_customer), is_active = coalesce($28, is_active),
            is_visible = coalesce($29, is_visible), display_order = coalesce($30, display_order)
         where tenant_id = $1 and id = $2
         returning id, tenant_id, event_id, schedule_id, capacity_id, name, description, tier, base_price, service_fee,
                   facility_fee, tax_rate, is_dynamic, min_price, max_price, price_adjustment_rules, current_price,
                   early_bird_price, early_bird_ends_at, last_minute_price, last_minute_starts_at, group_size_min,
                   group_discount_percentage, currency, sales_start_at, sales_end_at, max_per_order,
                   max_per_customer, is_active, is_visible, display_order, created_at, updated_at, version",
        tenant,
        id,
        f.schedule_id,
        f.capacity_id,
        f.name.as_deref().map(str::trim),
        f.description.as_deref(),
        f.tier.as_deref(),
        f.base_price,
        f.service_fee,
        f.facility_fee,
        f.tax_rate,
        f.is_dynamic,
        f.min_price,
        f.max_price,
        rules(f),
        current_price,
        f.early_bird_price,
        f.early_bird_ends_at,
        f.last_minute_price,
        f.last_minute_starts_at,
        f.group_size_min,
        f.group_discount_percentage,
        f.currency.as_deref(),
        f.sales_start_at,
        f.sales_end_at,
        f.max_per_order,
        f.max_per_customer,
        f.is_active,
        f.is_visible,
        f.display_order,
    )
    .fetch_one(tx.conn())
    .await?)
}
