//! SQL for events. Every function takes a `TenantTx`, so row-level security scopes it; the
//! explicit `tenant_id` predicates stay as well (defence in depth, and they let the planner
//! use the tenant-leading indexes).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::event::{EventFields, Timing};
use crate::domain::event_out::{CapacityInfo, EventOut};
use crate::domain::messages::{self, Origin};
use crate::domain::schedule::ScheduleOut;
use crate::domain::{EventAction, EventStatus};
use crate::error::{ApiError, ApiResult};
use crate::storage::{TenantCall, TenantTx};

/// The columns of [`EventOut`]: the row (numerics as `float8`, as the API has always written
/// them), what the original's GET added (first schedule, capacity totals). The generated
/// lookup columns (`name_key`, `search_text`) are the service's own indexes and stay out.
///
/// Only [`list`] uses this text: its filters and sort column make its statement a run-time
/// string. [`find`] runs the same statement inside the `tenant_event` function (its migration
/// spells it out), so the two must select the same columns with the same expressions: change
/// one, change the other. Both bind the tenant as
/// `$1`, and every subquery names it (not only joins on it): on Citus that is what makes a
/// tenant's read a router plan on one shard; **tested** by `tests/api/citus.rs`, which is why
/// this is public.
pub const EVENT_SELECT: &str = "
    select e.tenant_id, e.id, e.venue_id, e.venue_layout_id, e.name, e.slug, e.description, e.short_description, e.event_type, e.primary_category_id, e.secondary_category_ids, e.tags, e.status, e.visibility, e.is_featured, e.priority_score, e.status_reason, e.status_changed_by, e.status_changed_at, e.banner_image_url, e.thumbnail_image_url, e.image_gallery, e.video_url, e.virtual_event_url, e.age_restriction, e.dress_code, e.special_requirements, e.accessibility_info, e.is_virtual, e.is_hybrid, e.streaming_platform, e.streaming_config, e.cancellation_policy, e.refund_policy, e.cancellation_deadline_hours, e.timezone, e.allow_transfers, e.max_transfers_per_ticket, e.transfer_blackout_start, e.transfer_blackout_end, e.require_identity_verification, e.artist_wallet, e.artist_percentage::float8 as artist_percentage, e.venue_percentage::float8 as venue_percentage, e.platform_percentage::float8 as platform_percentage, e.royalty_percentage::float8 as royalty_percentage, e.max_resale_price_percentage::float8 as max_resale_price_percentage, e.resaleable, e.collection_address, e.mint_authority, e.merkle_tree_address, e.collection_mint, e.chain_event_id, e.event_pda, e.blockchain_status, e.blockchain_tx_signature, e.blockchain_error, e.blockchain_synced_at, e.meta_title, e.meta_description, e.meta_keywords, e.view_count, e.interest_count, e.share_count, e.external_id, e.metadata, e.published_at, e.cancelled_at, e.cancelled_by, e.cancellation_reason, e.created_by, e.updated_by, e.created_at, e.updated_at, e.deleted_at, e.version, e.start_date,
        s.starts_at as event_date, s.starts_at, s.ends_at, s.doors_open_at as doors_open,
        to_jsonb(s) as schedule,
        c.total as capacity, c.available as available_capacity,
        jsonb_build_object(
            'total_capacity', coalesce(c.total, 0), 'available_capacity', coalesce(c.available, 0),
            'reserved_capacity', coalesce(c.reserved, 0), 'sold_count', coalesce(c.sold, 0)) as capacity_info
    from events e
    left join lateral (
        select * from event_schedules s
         where s.tenant_id = $1 and s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null
         order by s.starts_at limit 1) s on true
    left join lateral (
        select sum(c.total_capacity)::bigint as total, sum(k.available)::bigint as available,
               sum(k.reserved)::bigint as reserved, sum(k.sold)::bigint as sold
          from event_capacity c
          cross join lateral (
              select sum(s.available) as available, sum(s.reserved) as reserved, sum(s.sold) as sold
                from section_stripes s where s.tenant_id = $1 and s.tenant_id = c.tenant_id and s.capacity_id = c.id) k
         where c.tenant_id = $1 and c.tenant_id = e.tenant_id and c.event_id = e.id and c.deleted_at is null) c on true";

fn to_json<T: serde::Serialize>(v: &Option<T>) -> Option<Value> {
    v.as_ref().and_then(|x| serde_json::to_value(x).ok())
}

/// One event, read by the `tenant_event` function (the statement is [`EVENT_SELECT`] with the
/// id predicate, written out in migration `20261206000001_tenant_event_read.sql`: keep the two
/// in sync). Overrides: `Json<_>` for the jsonb columns; `!` on every column the function fills
/// from a non-null one (a function's columns are all nullable to sqlx); `?` on everything from
/// the two lateral joins, which is null when the event has no schedule or no section. The
/// [`Visible`](crate::domain::event_out::Visible) fields take the plain column: `query_as!`
/// converts each column with `Into`, and `Visible<T>: From<T>` gives `Visible::Shown`.
pub async fn find(tx: &mut TenantTx, id: Uuid) -> ApiResult<Option<EventOut>> {
    find_on(TenantCall::from(tx), id).await
}

/// [`find`] as a tenant call: one statement (`Db::read_call`), the hot path of `GET /events/:id`.
pub async fn find_on(call: TenantCall<'_>, id: Uuid) -> ApiResult<Option<EventOut>> {
    let tenant = *call.tenant().as_uuid();
    Ok(sqlx::query_as!(
        EventOut,
        r#"select tenant_id as "tenant_id!", id as "id!", venue_id as "venue_id!", venue_layout_id,
                name as "name!", slug as "slug!", description, short_description, event_type as "event_type!",
                primary_category_id, secondary_category_ids as "secondary_category_ids!", tags as "tags!",
                status as "status!", visibility as "visibility!", is_featured as "is_featured!",
                priority_score as "priority_score!", status_reason, status_changed_by, status_changed_at,
                banner_image_url, thumbnail_image_url, image_gallery as "image_gallery: Json<Value>", video_url,
                virtual_event_url, age_restriction as "age_restriction!", dress_code,
                special_requirements as "special_requirements!",
                accessibility_info as "accessibility_info: Json<Value>", is_virtual as "is_virtual!",
                is_hybrid as "is_hybrid!", streaming_platform,
                streaming_config as "streaming_config: Json<Value>", cancellation_policy, refund_policy,
                cancellation_deadline_hours as "cancellation_deadline_hours!", timezone as "timezone!",
                allow_transfers as "allow_transfers!", max_transfers_per_ticket, transfer_blackout_start,
                transfer_blackout_end, require_identity_verification as "require_identity_verification!",
                artist_wallet, artist_percentage as "artist_percentage!",
                venue_percentage as "venue_percentage!", platform_percentage as "platform_percentage?",
                royalty_percentage as "royalty_percentage?",
                max_resale_price_percentage as "max_resale_price_percentage?", resaleable as "resaleable!",
                collection_address, mint_authority, merkle_tree_address, collection_mint,
                chain_event_id as "chain_event_id!", event_pda, blockchain_status as "blockchain_status!",
                blockchain_tx_signature, blockchain_error, blockchain_synced_at, meta_title, meta_description,
                meta_keywords as "meta_keywords!", view_count as "view_count!",
                interest_count as "interest_count!", share_count as "share_count!", external_id,
                metadata as "metadata!: Json<Value>", published_at, cancelled_at, cancelled_by,
                cancellation_reason, created_by, updated_by, created_at as "created_at!",
                updated_at as "updated_at!", deleted_at, version as "version!", start_date,
                event_date as "event_date?", starts_at as "starts_at?", ends_at as "ends_at?",
                doors_open as "doors_open?", schedule as "schedule?: Json<ScheduleOut>",
                capacity as "capacity?", available_capacity as "available_capacity?",
                capacity_info as "capacity_info!: Json<CapacityInfo>"
             from tenant_event($1, $2)"#,
        tenant,
        id,
    )
    .fetch_optional(call.conn())
    .await?)
}

/// `GET /events` filters; every one of them is applied.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<EventStatus>,
    pub visibility: Option<&'static str>,
    pub category_id: Option<Uuid>,
    pub venue_id: Option<Uuid>,
    pub is_featured: Option<bool>,
    pub search: Option<String>,
    pub sort_column: &'static str,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list(tx: &mut TenantTx, f: &ListFilter) -> ApiResult<(Vec<EventOut>, i64)> {
    let tenant = *tx.tenant().as_uuid();
    // `search` is a literal, case-insensitive substring of the stored, bounded `search_text`
    // (name, short description, the description's first 1000 characters). `strpos` searches in
    // linear time; `LIKE '%…%'` with a long pattern can take quadratic time per row.
    let pattern = f.search.as_ref().map(|s| s.to_lowercase());
    let predicate = "e.tenant_id = $1 and e.deleted_at is null
        and ($2::text is null or e.status = $2)
        and ($3::text is null or e.visibility = $3)
        and ($4::uuid is null or e.primary_category_id = $4 or $4 = any(e.secondary_category_ids))
        and ($5::uuid is null or e.venue_id = $5)
        and ($6::bool is null or e.is_featured = $6)
        and ($7::text is null or strpos(e.search_text, $7) > 0)";
    let order = format!("e.{} {}, e.id", f.sort_column, if f.descending { "desc" } else { "asc" });
    let sql = format!("{EVENT_SELECT} where {predicate} order by {order} limit $8 offset $9");
    let status = f.status.map(EventStatus::as_str);
    let events: Vec<EventOut> = sqlx::query_as(&sql)
        .bind(tenant)
        .bind(status)
        .bind(f.visibility)
        .bind(f.category_id)
        .bind(f.venue_id)
        .bind(f.is_featured)
        .bind(&pattern)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(tx.conn())
        .await?;
    let total: i64 = sqlx::query_scalar(&format!("select count(*) from events e where {predicate}"))
        .bind(tenant)
        .bind(status)
        .bind(f.visibility)
        .bind(f.category_id)
        .bind(f.venue_id)
        .bind(f.is_featured)
        .bind(&pattern)
        .fetch_one(tx.conn())
        .await?;
    Ok((events, total))
}

/// Is there an event of this name at this venue starting within `[day_start, day_end)` (the
/// local day, computed by the caller)? Only column-to-constant comparisons, so under row-level
/// security it is an index lookup (`events_name_key_idx`), whatever the venue holds.
pub async fn duplicate_exists(
    tx: &mut TenantTx,
    venue_id: Uuid,
    name: &str,
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> ApiResult<bool> {
    let tenant = *tx.tenant().as_uuid();
    Ok(sqlx::query_scalar!(
        r#"select exists (
            select 1 from events e
              join event_schedules s on s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null
             where e.tenant_id = $1 and e.venue_id = $2 and e.deleted_at is null and e.name_key = lower(btrim($3))
               and s.starts_at >= $4 and s.starts_at < $5) as "exists!""#,
        tenant,
        venue_id,
        name,
        day_start,
        day_end,
    )
    .fetch_one(tx.conn())
    .await?)
}

pub struct NewEvent<'a> {
    pub fields: &'a EventFields,
    pub venue_id: Uuid,
    pub name: &'a str,
    pub slug: &'a str,
    pub timezone: &'a str,
    pub timing: Option<Timing>,
    pub created_by: &'a str,
    pub needs_registration: bool,
}

/// Writes the event, its metadata row, its first schedule and a General Admission section
/// (when given), the creation history row and, when the event must go on chain, the outbox
/// row: all in the caller's transaction.
pub async fn insert(tx: &mut TenantTx, n: &NewEvent<'_>) -> ApiResult<Uuid> {
    let tenant = *tx.tenant().as_uuid();
    let f = n.fields;
    let id = sqlx::query_scalar!(
        "insert into events (
            tenant_id, venue_id, venue_layout_id, name, slug, description, short_description, event_type,
            primary_category_id, secondary_category_ids, tags, visibility, is_featured, priority_score,
            banner_image_url, thumbnail_image_url, video_url, virtual_event_url, age_restriction, dress_code,
            special_requirements, accessibility_info, is_virtual, is_hybrid, streaming_platform, streaming_config,
            cancellation_policy, refund_policy, cancellation_deadline_hours, timezone, artist_wallet,
            artist_percentage, venue_percentage, resaleable, meta_title, meta_description, meta_keywords,
            external_id, metadata, blockchain_status, created_by, updated_by)
         values ($1, $2, $3, $4, $5, $6, $7, coalesce($8, 'single'), $9, coalesce($10::uuid[], '{}'),
            coalesce($11::text[], '{}'), coalesce($12, 'PUBLIC'), coalesce($13, false), coalesce($14, 0), $15, $16,
            $17, $18, coalesce($19, 0), $20, coalesce($21::text[], '{}'), $22, coalesce($23, false),
            coalesce($24, false), $25, $26, $27, $28, coalesce($29, 24), $30, $31, coalesce($32::numeric, 0),
            coalesce($33::numeric, 0), coalesce($34, true), $35, $36, coalesce($37::text[], '{}'), $38,
            coalesce($39::jsonb, '{}'), $40, $41, $41)
         returning id",
        tenant,
        n.venue_id,
        f.venue_layout_id,
        n.name,
        n.slug,
        f.description.as_deref(),
        f.short_description.as_deref(),
        f.event_type.map(|t| t.as_str()),
        f.primary_category_id,
        f.secondary_category_ids.as_deref(),
        f.tags.as_deref(),
        f.visibility.map(|v| v.as_str()),
        f.is_featured,
        f.priority_score,
        f.banner_image_url.as_deref(),
        f.thumbnail_image_url.as_deref(),
        f.video_url.as_deref(),
        f.virtual_event_url.as_deref(),
        f.age_restriction,
        f.dress_code.as_deref(),
        f.special_requirements.as_deref(),
        to_json(&f.accessibility_info),
        f.is_virtual,
        f.is_hybrid,
        f.streaming_platform.as_deref(),
        to_json(&f.streaming_config),
        f.cancellation_policy.as_deref(),
        f.refund_policy.as_deref(),
        f.cancellation_deadline_hours,
        n.timezone,
        f.artist_wallet.as_deref(),
        f.artist_percentage,
        f.venue_percentage,
        f.resaleable,
        f.meta_title.as_deref(),
        f.meta_description.as_deref(),
        f.meta_keywords.as_deref(),
        f.external_id.as_deref(),
        f.metadata.clone().map(Value::Object),
        if n.needs_registration { "pending" } else { "not_required" },
        n.created_by,
    )
    .fetch_one(tx.conn())
    .await?;

    sqlx::query!(
        "insert into event_metadata (tenant_id, event_id, performers, headliner, supporting_acts, custom_fields)
         values ($1, $2, coalesce($3::jsonb, '[]'), $4, coalesce($5::text[], '{}'), coalesce($6::jsonb, '{}'))",
        tenant,
        id,
        f.performers.clone().map(Value::Array),
        f.headliner.as_deref(),
        f.supporting_acts.as_deref(),
        f.custom_metadata.clone().map(Value::Object),
    )
    .execute(tx.conn())
    .await?;

    if let Some(t) = n.timing {
        sqlx::query!(
            "insert into event_schedules (tenant_id, event_id, starts_at, ends_at, doors_open_at, timezone)
             values ($1, $2, $3, $4, $5, $6)",
            tenant,
            id,
            t.starts_at,
            t.ends_at,
            t.doors_open,
            n.timezone,
        )
        .execute(tx.conn())
        .await?;
    }
    if let Some(capacity) = f.capacity {
        let section = sqlx::query_scalar!(
            "insert into event_capacity (tenant_id, event_id, section_name, total_capacity, available_capacity, stripe_count)
             values ($1, $2, 'General Admission', $3, $3, $4)
             returning id",
            tenant,
            id,
            capacity,
            crate::storage::capacity::stripes_for(capacity),
        )
        .fetch_one(tx.conn())
        .await?;
        crate::storage::capacity::insert_stripes(tx, section, capacity).await?;
    }
    record_transition(tx, id, None, EventStatus::Draft, "CREATE", None, n.created_by).await?;
    if n.needs_registration {
        sqlx::query!("insert into blockchain_outbox (tenant_id, event_id) values ($1, $2)", tenant, id)
            .execute(tx.conn())
            .await?;
    }
    Ok(id)
}

/// What an update or a transition must know about the current row; the row is locked.
#[derive(Debug, Clone)]
pub struct Current {
    pub status: EventStatus,
    pub version: i32,
    pub venue_id: Uuid,
    pub created_by: Option<String>,
    pub sold: i64,
}

pub async fn lock(tx: &mut TenantTx, id: Uuid) -> ApiResult<Current> {
    let tenant = *tx.tenant().as_uuid();
    let row = sqlx::query!(
        "select status, version, venue_id, created_by from events
          where tenant_id = $1 and id = $2 and deleted_at is null for update",
        tenant,
        id,
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| ApiError::not_found("Event"))?;
    let sold = sqlx::query_scalar!(
        r#"select coalesce(sum(s.sold), 0)::bigint as "sold!" from event_capacity c
             join section_stripes s on s.tenant_id = c.tenant_id and s.capacity_id = c.id
            where c.tenant_id = $1 and c.event_id = $2"#,
        tenant,
        id,
    )
    .fetch_one(tx.conn())
    .await?;
    let status = row.status;
    let status = status.parse().map_err(|()| ApiError::internal(anyhow::anyhow!("unknown status {status}")))?;
    Ok(Current { status, version: row.version, venue_id: row.venue_id, created_by: row.created_by, sold })
}

/// Applies the present fields of an update (absent fields keep their value).
pub async fn update(tx: &mut TenantTx, id: Uuid, f: &EventFields, slug: Option<&str>, user: &str) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    sqlx::query!(
        "update events set
            name = coalesce($3, name), slug = coalesce($4, slug), venue_id = coalesce($5, venue_id),
            description = coalesce($6, description), short_description = coalesce($7, short_description),
            venue_layout_id = coalesce($8, venue_layout_id), event_type = coalesce($9, event_type),
            primary_category_id = coalesce($10, primary_category_id),
            secondary_category_ids = coalesce($11, secondary_category_ids), tags = coalesce($12, tags),
            visibility = coalesce($13, visibility), is_featured = coalesce($14, is_featured),
            priority_score = coalesce($15, priority_score), banner_image_url = coalesce($16, banner_image_url),
            thumbnail_image_url = coalesce($17, thumbnail_image_url), video_url = coalesce($18, video_url),
            virtual_event_url = coalesce($19, virtual_event_url), age_restriction = coalesce($20, age_restriction),
            dress_code = coalesce($21, dress_code), special_requirements = coalesce($22, special_requirements),
            accessibility_info = coalesce($23, accessibility_info), is_virtual = coalesce($24, is_virtual),
            is_hybrid = coalesce($25, is_hybrid), streaming_platform = coalesce($26, streaming_platform),
            streaming_config = coalesce($27, streaming_config),
            cancellation_policy = coalesce($28, cancellation_policy), refund_policy = coalesce($29, refund_policy),
            cancellation_deadline_hours = coalesce($30, cancellation_deadline_hours),
            timezone = coalesce($31, timezone), resaleable = coalesce($32, resaleable),
            meta_title = coalesce($33, meta_title), meta_description = coalesce($34, meta_description),
            meta_keywords = coalesce($35, meta_keywords), external_id = coalesce($36, external_id),
            metadata = coalesce($37, metadata), updated_by = $38
         where tenant_id = $1 and id = $2",
        tenant,
        id,
        f.name.as_deref(),
        slug,
        f.venue_id,
        f.description.as_deref(),
        f.short_description.as_deref(),
        f.venue_layout_id,
        f.event_type.map(|t| t.as_str()),
        f.primary_category_id,
        f.secondary_category_ids.as_deref(),
        f.tags.as_deref(),
        f.visibility.map(|v| v.as_str()),
        f.is_featured,
        f.priority_score,
        f.banner_image_url.as_deref(),
        f.thumbnail_image_url.as_deref(),
        f.video_url.as_deref(),
        f.virtual_event_url.as_deref(),
        f.age_restriction,
        f.dress_code.as_deref(),
        f.special_requirements.as_deref(),
        to_json(&f.accessibility_info),
        f.is_virtual,
        f.is_hybrid,
        f.streaming_platform.as_deref(),
        to_json(&f.streaming_config),
        f.cancellation_policy.as_deref(),
        f.refund_policy.as_deref(),
        f.cancellation_deadline_hours,
        f.timezone.as_deref(),
        f.resaleable,
        f.meta_title.as_deref(),
        f.meta_description.as_deref(),
        f.meta_keywords.as_deref(),
        f.external_id.as_deref(),
        f.metadata.clone().map(Value::Object),
        user,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The slug an update leads to: the (new or current) name plus the local date of the (new or
/// current) first start in the (new or current) time zone, as at creation.
pub async fn slug_for(
    tx: &mut TenantTx,
    id: Uuid,
    name: Option<&str>,
    timezone: Option<&str>,
    starts_at: Option<DateTime<Utc>>,
) -> ApiResult<String> {
    let tenant = *tx.tenant().as_uuid();
    let current = sqlx::query!(
        r#"select e.name, e.timezone, (select min(s.starts_at) from event_schedules s
                                 where s.tenant_id = $1 and s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null)
                               as "first_start?"
             from events e where e.tenant_id = $1 and e.id = $2"#,
        tenant,
        id,
    )
    .fetch_one(tx.conn())
    .await?;
    let tz: chrono_tz::Tz = timezone.unwrap_or(&current.timezone).parse().unwrap_or(chrono_tz::UTC);
    let start = starts_at.or(current.first_start).map(|s| s.with_timezone(&tz).date_naive());
    Ok(crate::domain::event::slug(name.unwrap_or(&current.name).trim(), start))
}

/// Moves the first schedule (or creates it) to the new timing.
pub async fn set_timing(tx: &mut TenantTx, id: Uuid, t: Timing, timezone: &str) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    let moved = sqlx::query!(
        "update event_schedules set starts_at = $3, ends_at = $4, doors_open_at = $5
          where tenant_id = $1 and id = (select id from event_schedules where tenant_id = $1 and event_id = $2
                                   and deleted_at is null order by starts_at limit 1)",
        tenant,
        id,
        t.starts_at,
        t.ends_at,
        t.doors_open,
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if moved == 0 {
        sqlx::query!(
            "insert into event_schedules (tenant_id, event_id, starts_at, ends_at, doors_open_at, timezone)
             values ($1, $2, $3, $4, $5, $6)",
            tenant,
            id,
            t.starts_at,
            t.ends_at,
            t.doors_open,
            timezone,
        )
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// A compare-and-set status change plus its history row. Returns false if the row was no
/// longer in `from` (another writer or job got there first).
pub async fn transition(
    tx: &mut TenantTx,
    id: Uuid,
    from: EventStatus,
    action: EventAction,
    reason: Option<&str>,
    actor: &str,
) -> ApiResult<bool> {
    let to = from.apply(action).ok_or_else(|| invalid_transition(from, action))?;
    let tenant = *tx.tenant().as_uuid();
    let changed = sqlx::query!(
        // `now()` from a subquery: Citus refuses non-immutable functions inside CASE/COALESCE.
        "update events set status = $4::text, status_changed_at = t.now, status_changed_by = $5, status_reason = left($6, 500),
                published_at = case when $4 = 'PUBLISHED' then coalesce(published_at, t.now) else published_at end,
                cancelled_at = case when $4 = 'CANCELLED' then t.now else cancelled_at end,
                cancelled_by = case when $4 = 'CANCELLED' then $5 else cancelled_by end,
                cancellation_reason = case when $4 = 'CANCELLED' then $6 else cancellation_reason end
           from (select now() as now) t
          where tenant_id = $1 and id = $2 and status = $3 and deleted_at is null",
        tenant,
        id,
        from.as_str(),
        to.as_str(),
        actor,
        reason,
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    record_transition(tx, id, Some(from), to, action.as_str(), reason, actor).await?;
    // Every status change, whoever makes it, is announced (search.sync `event.status.changed`).
    let origin = Origin { tenant: tx.tenant(), actor, at: chrono::Utc::now() };
    let message = messages::status_changed(&origin, id, from.as_str(), to.as_str());
    crate::storage::event_outbox::enqueue(tx, id, &[message]).await?;
    Ok(true)
}

pub fn invalid_transition(from: EventStatus, action: EventAction) -> ApiError {
    ApiError::conflict("INVALID_EVENT_STATE", format!("cannot {} an event in state {from}", action.as_str()))
}

async fn record_transition(
    tx: &mut TenantTx,
    event_id: Uuid,
    from: Option<EventStatus>,
    to: EventStatus,
    transition: &str,
    reason: Option<&str>,
    actor: &str,
) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    sqlx::query!(
        // The first start at the moment of the change: a later reschedule moves the schedule,
        // and order-service asks for the date an event was postponed from (`/status`).
        // `events.start_date` is that first start (the schedules' trigger keeps it in step). From
        // the event's row, with the id given, so that on Citus the insert runs on the event's
        // shard (a subquery in VALUES is refused there, and a volatile default sends an
        // INSERT ... SELECT through the coordinator, with COPY, which row-level security refuses).
        "insert into event_status_history
             (tenant_id, id, event_id, previous_status, new_status, transition_type, reason, changed_by, metadata)
         select e.tenant_id, $8, e.id, $3, $4, $5, $6, $7, jsonb_strip_nulls(jsonb_build_object('starts_at', e.start_date))
           from events e where e.tenant_id = $1 and e.id = $2",
        tenant,
        event_id,
        from.map(EventStatus::as_str),
        to.as_str(),
        transition,
        reason,
        actor,
        Uuid::new_v4(),
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn soft_delete(tx: &mut TenantTx, id: Uuid, user: &str) -> ApiResult<()> {
    let tenant = *tx.tenant().as_uuid();
    sqlx::query!(
        "update events set deleted_at = now(), updated_by = $3 where tenant_id = $1 and id = $2",
        tenant,
        id,
        user,
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
