-- One tenant-scoped read in one statement (issue 16, row 2 of the benchmark suite).
--
-- Every tenant transaction of the service is three round trips: `BEGIN; SET LOCAL
-- app.current_tenant_id = ...` (one batch), the statement, `COMMIT`. For the hottest read, an
-- event by id, this function does the same work in one: it sets the tenant with
-- `set_config(..., true)` (transaction-local, exactly like `SET LOCAL`) and only then runs the
-- read, in PL/pgSQL, whose statements run in order. Called on its own, outside an explicit
-- transaction, the statement is its own implicit transaction: the setting is gone when it
-- ends, so the connection goes back to the pool with no tenant set, as after a `COMMIT`.
--
-- It grants nothing new: it runs as the caller (`security invoker`), so row-level security
-- applies to every row it reads, and any role that may call it could call `set_config` itself.
-- The tenant it is given is the one the service verified from the token; the service calls it
-- inside a tenant transaction too (same tenant, so the setting is unchanged).
--
-- The query is `storage::events::find`'s statement (`EVENT_SELECT` with the id predicate);
-- change one, change the other. Not used on Citus or behind a transaction-mode pooler, where a
-- tenant setting must be a `SET LOCAL` in a transaction (see `storage::postgres`).

create function tenant_event(p_tenant uuid, p_id uuid)
returns table (
    tenant_id uuid,
    id uuid,
    venue_id uuid,
    venue_layout_id uuid,
    name character varying(300),
    slug character varying(300),
    description text,
    short_description character varying(500),
    event_type character varying(50),
    primary_category_id uuid,
    secondary_category_ids uuid[],
    tags text[],
    status character varying(50),
    visibility character varying(50),
    is_featured boolean,
    priority_score integer,
    status_reason character varying(500),
    status_changed_by character varying(100),
    status_changed_at timestamp with time zone,
    banner_image_url text,
    thumbnail_image_url text,
    image_gallery jsonb,
    video_url text,
    virtual_event_url text,
    age_restriction integer,
    dress_code character varying(100),
    special_requirements text[],
    accessibility_info jsonb,
    is_virtual boolean,
    is_hybrid boolean,
    streaming_platform character varying(50),
    streaming_config jsonb,
    cancellation_policy text,
    refund_policy text,
    cancellation_deadline_hours integer,
    timezone character varying(50),
    allow_transfers boolean,
    max_transfers_per_ticket integer,
    transfer_blackout_start timestamp with time zone,
    transfer_blackout_end timestamp with time zone,
    require_identity_verification boolean,
    artist_wallet character varying(44),
    artist_percentage double precision,
    venue_percentage double precision,
    platform_percentage double precision,
    royalty_percentage double precision,
    max_resale_price_percentage double precision,
    resaleable boolean,
    collection_address character varying(44),
    mint_authority character varying(44),
    merkle_tree_address character varying(44),
    collection_mint character varying(44),
    chain_event_id bigint,
    event_pda character varying(44),
    blockchain_status character varying(20),
    blockchain_tx_signature character varying(100),
    blockchain_error text,
    blockchain_synced_at timestamp with time zone,
    meta_title character varying(70),
    meta_description character varying(160),
    meta_keywords text[],
    view_count integer,
    interest_count integer,
    share_count integer,
    external_id character varying(100),
    metadata jsonb,
    published_at timestamp with time zone,
    cancelled_at timestamp with time zone,
    cancelled_by character varying(100),
    cancellation_reason text,
    created_by character varying(100),
    updated_by character varying(100),
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    deleted_at timestamp with time zone,
    version integer,
    start_date timestamp with time zone,
    event_date timestamp with time zone,
    starts_at timestamp with time zone,
    ends_at timestamp with time zone,
    doors_open timestamp with time zone,
    schedule jsonb,
    capacity bigint,
    available_capacity bigint,
    capacity_info jsonb
)
language plpgsql
volatile
security invoker
as $$
#variable_conflict use_column
begin
    perform set_config('app.current_tenant_id', p_tenant::text, true);
    return query
      select e.tenant_id, e.id, e.venue_id, e.venue_layout_id, e.name, e.slug, e.description, e.short_description,
           e.event_type, e.primary_category_id, e.secondary_category_ids, e.tags, e.status, e.visibility,
           e.is_featured, e.priority_score, e.status_reason, e.status_changed_by, e.status_changed_at,
           e.banner_image_url, e.thumbnail_image_url, e.image_gallery,
           e.video_url, e.virtual_event_url, e.age_restriction, e.dress_code, e.special_requirements,
           e.accessibility_info, e.is_virtual, e.is_hybrid,
           e.streaming_platform, e.streaming_config, e.cancellation_policy,
           e.refund_policy, e.cancellation_deadline_hours, e.timezone, e.allow_transfers,
           e.max_transfers_per_ticket, e.transfer_blackout_start, e.transfer_blackout_end,
           e.require_identity_verification, e.artist_wallet,
           e.artist_percentage::float8 as artist_percentage,
           e.venue_percentage::float8 as venue_percentage,
           e.platform_percentage::float8 as platform_percentage,
           e.royalty_percentage::float8 as royalty_percentage,
           e.max_resale_price_percentage::float8 as max_resale_price_percentage,
           e.resaleable, e.collection_address, e.mint_authority, e.merkle_tree_address, e.collection_mint,
           e.chain_event_id, e.event_pda, e.blockchain_status, e.blockchain_tx_signature, e.blockchain_error,
           e.blockchain_synced_at, e.meta_title, e.meta_description, e.meta_keywords, e.view_count,
           e.interest_count, e.share_count, e.external_id, e.metadata,
           e.published_at, e.cancelled_at, e.cancelled_by, e.cancellation_reason, e.created_by, e.updated_by,
           e.created_at, e.updated_at, e.deleted_at, e.version, e.start_date,
           s.starts_at as event_date, s.starts_at, s.ends_at,
           s.doors_open_at as doors_open,
           to_jsonb(s) as schedule,
           c.total as capacity, c.available as available_capacity,
           jsonb_build_object(
               'total_capacity', coalesce(c.total, 0), 'available_capacity', coalesce(c.available, 0),
               'reserved_capacity', coalesce(c.reserved, 0), 'sold_count', coalesce(c.sold, 0))
               as capacity_info
        from events e
        left join lateral (
            select * from event_schedules s
             where s.tenant_id = p_tenant and s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null
             order by s.starts_at limit 1) s on true
        left join lateral (
            select sum(c.total_capacity)::bigint as total, sum(k.available)::bigint as available,
                   sum(k.reserved)::bigint as reserved, sum(k.sold)::bigint as sold
              from event_capacity c
              cross join lateral (
                  select sum(s.available) as available, sum(s.reserved) as reserved, sum(s.sold) as sold
                    from section_stripes s where s.tenant_id = p_tenant and s.tenant_id = c.tenant_id and s.capacity_id = c.id) k
             where c.tenant_id = p_tenant and c.tenant_id = e.tenant_id and c.event_id = e.id and c.deleted_at is null) c on true
       where e.tenant_id = p_tenant and e.id = p_id and e.deleted_at is null;
end
$$;

revoke all on function tenant_event(uuid, uuid) from public;
grant execute on function tenant_event(uuid, uuid) to event_service_app;
