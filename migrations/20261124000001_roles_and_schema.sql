-- Event-service schema, version 1.
--
-- Conventions (see migrations/README.md):
--   * every tenant table carries `tenant_id`, and every primary key, unique constraint and
--     foreign key between tenant tables includes it, so the schema can be distributed by
--     `tenant_id` with Citus without a rewrite;
--   * constraints and indexes are named `<table>_<what>_<kind>` so errors map to responses by name;
--   * row-level security is ENABLEd and FORCEd on every tenant table; the policy compares
--     `tenant_id` with the transaction-local setting `app.current_tenant_id`; an unset (or reset
--     to '') setting matches nothing.
--
-- This migration runs as the owner role (DATABASE_ADMIN_URL), which needs CREATEROLE for the
-- two NOLOGIN roles below. The application's login role is granted `event_service_app` by
-- `event-service migrate`; it never owns anything.

-- Roles -------------------------------------------------------------------------------------

do $$
begin
    -- Grant target for the application login role: table privileges only, no ownership.
    if not exists (select 1 from pg_roles where rolname = 'event_service_app') then
        create role event_service_app nologin nosuperuser nobypassrls nocreatedb nocreaterole;
    end if;
    -- Owner of the few SECURITY DEFINER functions that background jobs use to *discover* work
    -- across tenants. It can read ids, nothing else; the work itself runs tenant-scoped.
    if not exists (select 1 from pg_roles where rolname = 'event_service_system') then
        create role event_service_system nologin nosuperuser nobypassrls nocreatedb nocreaterole;
    end if;
end
$$;

-- The migrating role must be a member to hand function ownership to event_service_system.
grant event_service_system to current_user;

-- Shared helpers ------------------------------------------------------------------------------

create or replace function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end
$$;

-- Optimistic locking: every UPDATE bumps `version`; writers that care compare it in WHERE.
create or replace function increment_version() returns trigger
language plpgsql as $$
begin
    new.version := old.version + 1;
    return new;
end
$$;

-- Global reference data (a Citus *reference* table later) ------------------------------------

create table event_categories (
    id            uuid primary key default gen_random_uuid(),
    parent_id     uuid references event_categories (id) on delete set null,
    name          varchar(100) not null,
    slug          varchar(100) not null,
    description   text,
    icon          varchar(50),
    color         varchar(7),
    display_order integer not null default 0,
    is_active     boolean not null default true,
    is_featured   boolean not null default false,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint event_categories_slug_key unique (slug)
);

insert into event_categories (name, slug, display_order, icon, color) values
    ('Music',      'music',      1,  'music',      '#FF6B6B'),
    ('Sports',     'sports',     2,  'trophy',     '#4ECDC4'),
    ('Theater',    'theater',    3,  'drama',      '#95E1D3'),
    ('Comedy',     'comedy',     4,  'laugh',      '#F38181'),
    ('Arts',       'arts',       5,  'palette',    '#AA96DA'),
    ('Conference', 'conference', 6,  'briefcase',  '#FCBAD3'),
    ('Workshop',   'workshop',   7,  'tool',       '#A8D8EA'),
    ('Festival',   'festival',   8,  'flag',       '#FFD93D'),
    ('Family',     'family',     9,  'users',      '#6BCB77'),
    ('Nightlife',  'nightlife',  10, 'moon',       '#4D96FF');

-- events --------------------------------------------------------------------------------------

-- On-chain event ids are u64 and must never collide (the original used a 32-bit hash); a
-- sequence gives a persisted, collision-free id per event.
create sequence events_chain_event_id_seq as bigint minvalue 1;

create table events (
    tenant_id                   uuid not null,
    id                          uuid not null default gen_random_uuid(),
    venue_id                    uuid not null,
    venue_layout_id             uuid,
    name                        varchar(300) not null,
    slug                        varchar(300) not null,
    description                 text,
    short_description           varchar(500),

    event_type                  varchar(50) not null default 'single',
    primary_category_id         uuid,
    secondary_category_ids      uuid[] not null default '{}',
    tags                        text[] not null default '{}',

    status                      varchar(50) not null default 'DRAFT',
    visibility                  varchar(50) not null default 'PUBLIC',
    is_featured                 boolean not null default false,
    priority_score              integer not null default 0,
    status_reason               varchar(500),
    status_changed_by           varchar(100),
    status_changed_at           timestamptz,

    banner_image_url            text,
    thumbnail_image_url         text,
    image_gallery               jsonb,
    video_url                   text,
    virtual_event_url           text,

    age_restriction             integer not null default 0,
    dress_code                  varchar(100),
    special_requirements        text[] not null default '{}',
    accessibility_info          jsonb,

    is_virtual                  boolean not null default false,
    is_hybrid                   boolean not null default false,
    streaming_platform          varchar(50),
    streaming_config            jsonb,

    cancellation_policy         text,
    refund_policy               text,
    cancellation_deadline_hours integer not null default 24,
    timezone                    varchar(50) not null default 'UTC',

    allow_transfers             boolean not null default true,
    max_transfers_per_ticket    integer,
    transfer_blackout_start     timestamptz,
    transfer_blackout_end       timestamptz,
    require_identity_verification boolean not null default false,

    -- Royalties and chain data. Returned only to admins and internal callers.
    artist_wallet               varchar(44),
    artist_percentage           numeric(5, 2) not null default 0,
    venue_percentage            numeric(5, 2) not null default 0,
    platform_percentage         numeric(5, 2),
    royalty_percentage          numeric(5, 2),
    max_resale_price_percentage numeric(7, 2),
    resaleable                  boolean not null default true,
    collection_address          varchar(44),
    mint_authority              varchar(44),
    merkle_tree_address         varchar(44),
    collection_mint             varchar(44),
    chain_event_id              bigint not null default nextval('events_chain_event_id_seq'),
    event_pda                   varchar(44),
    -- not_required: nothing to register; pending -> synced | failed via the outbox.
    blockchain_status           varchar(20) not null default 'not_required',
    blockchain_tx_signature     varchar(100),
    blockchain_error            text,
    blockchain_synced_at        timestamptz,

    meta_title                  varchar(70),
    meta_description            varchar(160),
    meta_keywords               text[] not null default '{}',
    view_count                  integer not null default 0,
    interest_count              integer not null default 0,
    share_count                 integer not null default 0,
    external_id                 varchar(100),
    metadata                    jsonb not null default '{}',

    published_at                timestamptz,
    cancelled_at                timestamptz,
    cancelled_by                varchar(100),
    cancellation_reason         text,

    created_by                  varchar(100),
    updated_by                  varchar(100),
    created_at                  timestamptz not null default now(),
    updated_at                  timestamptz not null default now(),
    deleted_at                  timestamptz,
    version                     integer not null default 1,

    constraint events_pkey primary key (tenant_id, id),
    constraint events_chain_event_id_key unique (tenant_id, chain_event_id),
    constraint events_primary_category_fkey foreign key (primary_category_id)
        references event_categories (id) on delete set null,
    -- Exactly the states of the state machine (src/domain/event_status.rs).
    constraint events_status_check check (status in (
        'DRAFT', 'REVIEW', 'APPROVED', 'PUBLISHED', 'ON_SALE', 'SALES_PAUSED', 'SOLD_OUT',
        'IN_PROGRESS', 'COMPLETED', 'CANCELLED', 'POSTPONED', 'RESCHEDULED')),
    constraint events_visibility_check check (visibility in ('PUBLIC', 'PRIVATE', 'UNLISTED')),
    constraint events_event_type_check check (event_type in ('single', 'recurring', 'series')),
    constraint events_blockchain_status_check check (
        blockchain_status in ('not_required', 'pending', 'synced', 'failed')),
    constraint events_royalty_range_check check (
        artist_percentage between 0 and 100 and venue_percentage between 0 and 100
        and (platform_percentage is null or platform_percentage between 0 and 100)
        and (royalty_percentage is null or royalty_percentage between 0 and 100)),
    constraint events_royalty_sum_check check (artist_percentage + venue_percentage <= 100),
    constraint events_age_restriction_check check (age_restriction between 0 and 100),
    constraint events_priority_score_check check (priority_score between 0 and 1000),
    constraint events_counters_check check (view_count >= 0 and interest_count >= 0 and share_count >= 0),
    constraint events_cancellation_deadline_check check (cancellation_deadline_hours between 0 and 8760),
    constraint events_virtual_url_check check (not is_virtual or virtual_event_url is not null)
);

create unique index events_venue_slug_unique on events (tenant_id, venue_id, slug) where deleted_at is null;
create index events_tenant_status_idx on events (tenant_id, status) where deleted_at is null;
create index events_tenant_venue_idx on events (tenant_id, venue_id) where deleted_at is null;
create index events_tenant_created_idx on events (tenant_id, created_at desc) where deleted_at is null;
create index events_tenant_category_idx on events (tenant_id, primary_category_id) where deleted_at is null;
create index events_name_lower_idx on events (tenant_id, venue_id, lower(name)) where deleted_at is null;

create trigger events_set_updated_at before update on events
    for each row execute function set_updated_at();
create trigger events_increment_version before update on events
    for each row execute function increment_version();

-- event_schedules -----------------------------------------------------------------------------

create table event_schedules (
    tenant_id           uuid not null,
    id                  uuid not null default gen_random_uuid(),
    event_id            uuid not null,
    starts_at           timestamptz not null,
    ends_at             timestamptz not null,
    doors_open_at       timestamptz,
    is_recurring        boolean not null default false,
    recurrence_rule     text,
    recurrence_end_date date,
    occurrence_number   integer,
    timezone            varchar(50) not null default 'UTC',
    utc_offset          integer,
    status              varchar(50) not null default 'SCHEDULED',
    status_reason       text,
    capacity_override   integer,
    check_in_opens_at   timestamptz,
    check_in_closes_at  timestamptz,
    notes               text,
    metadata            jsonb not null default '{}',
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    deleted_at          timestamptz,
    version             integer not null default 1,

    constraint event_schedules_pkey primary key (tenant_id, id),
    constraint event_schedules_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade,
    constraint event_schedules_status_check check (status in (
        'SCHEDULED', 'CONFIRMED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED', 'POSTPONED', 'RESCHEDULED')),
    constraint event_schedules_time_order_check check (ends_at > starts_at),
    constraint event_schedules_doors_check check (doors_open_at is null or doors_open_at <= starts_at),
    constraint event_schedules_capacity_override_check check (capacity_override is null or capacity_override > 0)
);

create index event_schedules_event_idx on event_schedules (tenant_id, event_id, starts_at) where deleted_at is null;
create index event_schedules_starts_idx on event_schedules (starts_at) where deleted_at is null;

create trigger event_schedules_set_updated_at before update on event_schedules
    for each row execute function set_updated_at();
create trigger event_schedules_increment_version before update on event_schedules
    for each row execute function increment_version();

-- event_capacity (sections) -------------------------------------------------------------------

create table event_capacity (
    tenant_id          uuid not null,
    id                 uuid not null default gen_random_uuid(),
    event_id           uuid not null,
    schedule_id        uuid,
    section_name       varchar(100) not null,
    section_code       varchar(20),
    tier               varchar(50),
    total_capacity     integer not null,
    available_capacity integer not null,
    reserved_capacity  integer not null default 0,
    sold_count         integer not null default 0,
    buffer_capacity    integer not null default 0,
    row_config         jsonb,
    seat_map           jsonb,
    is_active          boolean not null default true,
    is_visible         boolean not null default true,
    minimum_purchase   integer not null default 1,
    maximum_purchase   integer,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    deleted_at         timestamptz,
    version            integer not null default 1,

    constraint event_capacity_pkey primary key (tenant_id, id),
    constraint event_capacity_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade,
    -- PG15 column list: deleting a schedule clears schedule_id only, never tenant_id.
    constraint event_capacity_schedule_fkey foreign key (tenant_id, schedule_id)
        references event_schedules (tenant_id, id) on delete set null (schedule_id),
    constraint event_capacity_total_check check (total_capacity > 0 and total_capacity <= 1000000),
    -- The one invariant of a section: every seat is in exactly one bucket.
    constraint event_capacity_counters_check check (
        available_capacity >= 0 and reserved_capacity >= 0 and sold_count >= 0 and buffer_capacity >= 0
        and available_capacity + reserved_capacity + sold_count + buffer_capacity = total_capacity),
    constraint event_capacity_purchase_check check (
        minimum_purchase >= 1 and (maximum_purchase is null or maximum_purchase >= minimum_purchase))
);

create unique index event_capacity_section_unique on event_capacity
    (tenant_id, event_id, section_name, coalesce(schedule_id, '00000000-0000-0000-0000-000000000000'::uuid))
    where deleted_at is null;
create index event_capacity_event_idx on event_capacity (tenant_id, event_id) where deleted_at is null;

create trigger event_capacity_set_updated_at before update on event_capacity
    for each row execute function set_updated_at();
create trigger event_capacity_increment_version before update on event_capacity
    for each row execute function increment_version();

-- event_pricing -------------------------------------------------------------------------------

create table event_pricing (
    tenant_id                 uuid not null,
    id                        uuid not null default gen_random_uuid(),
    event_id                  uuid not null,
    schedule_id               uuid,
    capacity_id               uuid,
    name                      varchar(100) not null,
    description               text,
    tier                      varchar(50),
    base_price                numeric(10, 2) not null,
    service_fee               numeric(10, 2) not null default 0,
    facility_fee              numeric(10, 2) not null default 0,
    tax_rate                  numeric(5, 4) not null default 0,
    is_dynamic                boolean not null default false,
    min_price                 numeric(10, 2),
    max_price                 numeric(10, 2),
    price_adjustment_rules    jsonb,
    current_price             numeric(10, 2),
    early_bird_price          numeric(10, 2),
    early_bird_ends_at        timestamptz,
    last_minute_price         numeric(10, 2),
    last_minute_starts_at     timestamptz,
    group_size_min            integer,
    group_discount_percentage numeric(5, 2),
    currency                  varchar(3) not null default 'USD',
    sales_start_at            timestamptz,
    sales_end_at              timestamptz,
    max_per_order             integer,
    max_per_customer          integer,
    is_active                 boolean not null default true,
    is_visible                boolean not null default true,
    display_order             integer not null default 0,
    created_at                timestamptz not null default now(),
    updated_at                timestamptz not null default now(),
    deleted_at                timestamptz,
    version                   integer not null default 1,

    constraint event_pricing_pkey primary key (tenant_id, id),
    constraint event_pricing_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade,
    constraint event_pricing_schedule_fkey foreign key (tenant_id, schedule_id)
        references event_schedules (tenant_id, id) on delete set null (schedule_id),
    constraint event_pricing_capacity_fkey foreign key (tenant_id, capacity_id)
        references event_capacity (tenant_id, id) on delete set null (capacity_id),
    constraint event_pricing_prices_check check (
        base_price >= 0 and service_fee >= 0 and facility_fee >= 0
        and coalesce(min_price, 0) >= 0 and coalesce(max_price, 0) >= 0
        and coalesce(current_price, 0) >= 0 and coalesce(early_bird_price, 0) >= 0
        and coalesce(last_minute_price, 0) >= 0),
    constraint event_pricing_tax_rate_check check (tax_rate between 0 and 1),
    constraint event_pricing_group_discount_check check (
        group_discount_percentage is null or group_discount_percentage between 0 and 100),
    constraint event_pricing_currency_check check (currency ~ '^[A-Z]{3}$'),
    constraint event_pricing_sales_window_check check (
        sales_start_at is null or sales_end_at is null or sales_end_at > sales_start_at)
);

create index event_pricing_event_idx on event_pricing (tenant_id, event_id) where deleted_at is null;

create trigger event_pricing_set_updated_at before update on event_pricing
    for each row execute function set_updated_at();
create trigger event_pricing_increment_version before update on event_pricing
    for each row execute function increment_version();

-- event_metadata (1:1 with events) ------------------------------------------------------------

create table event_metadata (
    tenant_id               uuid not null,
    id                      uuid not null default gen_random_uuid(),
    event_id                uuid not null,
    performers              jsonb not null default '[]',
    headliner               varchar(200),
    supporting_acts         text[] not null default '{}',
    production_company      varchar(200),
    technical_requirements  jsonb,
    stage_setup_time_hours  integer,
    sponsors                jsonb,
    primary_sponsor         varchar(200),
    performance_rights_org  varchar(100),
    licensing_requirements  text[] not null default '{}',
    insurance_requirements  jsonb,
    press_release           text,
    marketing_copy          jsonb,
    social_media_copy       jsonb,
    sound_requirements      jsonb,
    lighting_requirements   jsonb,
    video_requirements      jsonb,
    catering_requirements   jsonb,
    rider_requirements      jsonb,
    production_budget       numeric(12, 2),
    marketing_budget        numeric(12, 2),
    projected_revenue       numeric(12, 2),
    break_even_capacity     integer,
    previous_events         jsonb,
    custom_fields           jsonb not null default '{}',
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),

    constraint event_metadata_pkey primary key (tenant_id, id),
    constraint event_metadata_event_key unique (tenant_id, event_id),
    constraint event_metadata_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade
);

create trigger event_metadata_set_updated_at before update on event_metadata
    for each row execute function set_updated_at();

-- event_status_history ------------------------------------------------------------------------

create table event_status_history (
    tenant_id       uuid not null,
    id              uuid not null default gen_random_uuid(),
    event_id        uuid not null,
    previous_status varchar(50),
    new_status      varchar(50) not null,
    transition_type varchar(50),
    reason          text,
    changed_at      timestamptz not null default now(),
    changed_by      varchar(100) not null default 'system-job',
    metadata        jsonb not null default '{}',

    constraint event_status_history_pkey primary key (tenant_id, id),
    constraint event_status_history_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade
);

create index event_status_history_event_idx on event_status_history (tenant_id, event_id, changed_at);

-- event_reservations: one row per hold --------------------------------------------------------------

create table event_reservations (
    tenant_id         uuid not null,
    id                uuid not null default gen_random_uuid(),
    event_id          uuid not null,
    capacity_id       uuid not null,
    pricing_id        uuid,
    quantity          integer not null,
    status            varchar(20) not null default 'active',
    expires_at        timestamptz not null,
    locked_price      numeric(10, 2),
    locked_price_data jsonb,
    seat_ids          text[] not null default '{}',
    created_by        varchar(100),
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    confirmed_at      timestamptz,
    released_at       timestamptz,
    release_reason    varchar(50),
    version           integer not null default 1,

    constraint event_reservations_pkey primary key (tenant_id, id),
    constraint event_reservations_capacity_fkey foreign key (tenant_id, capacity_id)
        references event_capacity (tenant_id, id) on delete cascade,
    constraint event_reservations_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade,
    constraint event_reservations_pricing_fkey foreign key (tenant_id, pricing_id)
        references event_pricing (tenant_id, id) on delete set null (pricing_id),
    constraint event_reservations_quantity_check check (quantity between 1 and 100),
    constraint event_reservations_status_check check (status in ('active', 'confirmed', 'released', 'expired'))
);

-- The cleanup job scans only active holds, oldest expiry first.
create index event_reservations_active_expiry_idx on event_reservations (expires_at) where status = 'active';
create index event_reservations_capacity_idx on event_reservations (tenant_id, capacity_id);

create trigger event_reservations_set_updated_at before update on event_reservations
    for each row execute function set_updated_at();
create trigger event_reservations_increment_version before update on event_reservations
    for each row execute function increment_version();

-- idempotency_keys ----------------------------------------------------------------------------

-- Written in the same transaction as the creation it guards, so a retry after a crash or a
-- timeout can never create twice.
create table idempotency_keys (
    tenant_id       uuid not null,
    idempotency_key varchar(256) not null,
    request_method  varchar(10) not null,
    request_path    text not null,
    request_hash    varchar(64) not null,
    response_status smallint not null,
    response_body   jsonb,
    created_at      timestamptz not null default now(),
    expires_at      timestamptz not null default now() + interval '24 hours',

    constraint idempotency_keys_pkey primary key (tenant_id, idempotency_key)
);

create index idempotency_keys_expires_idx on idempotency_keys (expires_at);

-- blockchain_outbox ---------------------------------------------------------------------------

create table blockchain_outbox (
    tenant_id       uuid not null,
    id              uuid not null default gen_random_uuid(),
    event_id        uuid not null,
    status          varchar(20) not null default 'pending',
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    locked_by       varchar(100),
    locked_until    timestamptz,
    last_error      text,
    tx_signature    varchar(100),
    event_pda       varchar(44),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    completed_at    timestamptz,

    constraint blockchain_outbox_pkey primary key (tenant_id, id),
    constraint blockchain_outbox_event_key unique (tenant_id, event_id),
    constraint blockchain_outbox_event_fkey foreign key (tenant_id, event_id)
        references events (tenant_id, id) on delete cascade,
    constraint blockchain_outbox_status_check check (status in ('pending', 'processing', 'synced', 'failed')),
    constraint blockchain_outbox_attempts_check check (attempts >= 0)
);

create index blockchain_outbox_due_idx on blockchain_outbox (next_attempt_at) where status in ('pending', 'processing');

create trigger blockchain_outbox_set_updated_at before update on blockchain_outbox
    for each row execute function set_updated_at();

-- Row-level security --------------------------------------------------------------------------

do $$
declare
    t text;
begin
    foreach t in array array[
        'events', 'event_schedules', 'event_capacity', 'event_pricing', 'event_metadata',
        'event_status_history', 'event_reservations', 'idempotency_keys', 'blockchain_outbox']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        -- `nullif(.., '')`: after a transaction-local set_config on a pooled connection the
        -- setting reads back as '' rather than NULL; both must match no row.
        execute format(
            'create policy %I on %I as permissive for all to public '
            'using (tenant_id = nullif(current_setting(''app.current_tenant_id'', true), '''')::uuid) '
            'with check (tenant_id = nullif(current_setting(''app.current_tenant_id'', true), '''')::uuid)',
            t || '_tenant_isolation', t);
    end loop;
end
$$;

-- Privileges ----------------------------------------------------------------------------------

-- Only our own tables: in the platform's shared database other services' tables sit in the same
-- schema, and are not ours to touch.
revoke all on event_categories, events, event_schedules, event_capacity, event_pricing, event_metadata,
    event_status_history, event_reservations, idempotency_keys, blockchain_outbox from public;
grant usage on schema public to event_service_app, event_service_system;
grant select on event_categories to event_service_app;
grant select, insert, update on
    events, event_schedules, event_capacity, event_pricing, event_metadata,
    event_reservations, idempotency_keys, blockchain_outbox
    to event_service_app;
-- History is append-only for the service.
grant select, insert on event_status_history to event_service_app;
-- Expired idempotency keys are purged; every other table is soft-deleted.
grant delete on idempotency_keys to event_service_app;
grant usage on sequence events_chain_event_id_seq to event_service_app;

-- System context --------------------------------------------------------------------------------
--
-- Background jobs must find work across all tenants, but must never get a general bypass.
-- event_service_system may SELECT (only) the tables below, through policies that apply to it
-- alone; the app reaches it only through SECURITY DEFINER functions that return ids. The work
-- is then done in a tenant-scoped transaction per row, so every write still passes the tenant
-- policy. No GUC grants cross-tenant access, so no request can switch it on.

grant select on event_reservations, events, event_schedules, event_pricing, blockchain_outbox to event_service_system;

create policy event_reservations_system_discovery on event_reservations for select to event_service_system using (true);

create function system_expired_reservations(p_limit integer)
returns table (tenant_id uuid, reservation_id uuid)
language sql stable security definer
set search_path = public, pg_temp
as $$
    select r.tenant_id, r.id
    from event_reservations r
    where r.status = 'active' and r.expires_at <= now()
    order by r.expires_at
    limit greatest(least(p_limit, 10000), 0)
$$;

-- ALTER OWNER needs the new owner to hold CREATE on the schema; it keeps it for that moment only.
grant create on schema public to event_service_system;
alter function system_expired_reservations(integer) owner to event_service_system;
revoke create on schema public from event_service_system;
revoke all on function system_expired_reservations(integer) from public;
grant execute on function system_expired_reservations(integer) to event_service_app;
