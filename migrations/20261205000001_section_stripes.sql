-- A hot section that scales past one row (issue 16): a section's sellable seats are split
-- across several counter rows, its *stripes*, so concurrent holds on one section update
-- different rows instead of queueing on the section's row lock.
--
--   * `section_stripes` holds the counters: per stripe `available + reserved + sold = total`
--     (a CHECK, at every statement). The buffer stays on the section, so the stripes' totals
--     add up to the section's sellable seats: `sum(stripe total) = total_capacity -
--     buffer_capacity`, with stripes numbered 0 .. stripe_count - 1. That cross-row rule is a
--     DEFERRABLE INITIALLY DEFERRED constraint trigger, checked at every commit that moves a
--     total (a rebalance, a resize, a creation); holds, confirms and releases move seats between
--     the buckets of one stripe and never fire it. Together: the section's invariant
--     `available + reserved + sold + buffer = total` holds at every commit, checked by Postgres.
--   * A hold records its stripe (`event_reservations.stripe`), so confirm, release and expiry
--     return its seats to the stripe they came from.
--   * The section row keeps its counter columns as a *rollup* for readers outside the service
--     (analytics views read `event_capacity.available_capacity`, reference/platform-contracts.md
--     §7): refreshed by every transaction that locks the section anyway (resize, rebalance) and by
--     the reservation cleanup job. Keeping it exact per hold would put every hold back on one
--     row. The service itself reads the sums of the stripes, always exact. A rollup is a
--     consistent snapshot, so the section row's own CHECK still holds.
--   * A section's `version` counts changes of the section, counters included, as before: the
--     section row's version (its shape) plus its stripes' `changes` (one per hold, confirm,
--     release, expiry). Refreshing the rollup changes neither.

alter table event_capacity add column stripe_count smallint not null default 1;
alter table event_capacity add constraint event_capacity_stripe_count_check check (stripe_count between 1 and 64);

create table section_stripes (
    tenant_id   uuid not null,
    capacity_id uuid not null,
    stripe      smallint not null,
    total       integer not null,
    available   integer not null,
    reserved    integer not null default 0,
    sold        integer not null default 0,
    -- Holds, confirms, releases and expiries on this stripe; part of the section's version.
    changes     integer not null default 0,

    constraint section_stripes_pkey primary key (tenant_id, capacity_id, stripe),
    constraint section_stripes_capacity_fkey foreign key (tenant_id, capacity_id)
        references event_capacity (tenant_id, id) on delete cascade,
    constraint section_stripes_stripe_check check (stripe between 0 and 63),
    -- Every seat of a stripe is in exactly one bucket.
    constraint section_stripes_counters_check check (
        available >= 0 and reserved >= 0 and sold >= 0 and available + reserved + sold = total)
);
-- No updated_at/version triggers here: these are counter rows updated by every hold, and a
-- trigger per hold would cost exactly the hot path this table exists for. The section's
-- `version` and `updated_at` describe the section.

alter table event_reservations add column stripe smallint not null default 0;

-- Refreshing the rollup is not a change of the section: neither its version nor its
-- updated_at move when only the counter columns (or the number of stripes, which is internal)
-- are rewritten. Replaced before the backfill below, which sets `stripe_count`.
drop trigger event_capacity_increment_version on event_capacity;
drop trigger event_capacity_set_updated_at on event_capacity;
create trigger event_capacity_increment_version before update on event_capacity
    for each row
    when ((to_jsonb(old) - '{available_capacity,reserved_capacity,sold_count,stripe_count,updated_at,version}'::text[])
          is distinct from (to_jsonb(new) - '{available_capacity,reserved_capacity,sold_count,stripe_count,updated_at,version}'::text[]))
    execute function increment_version();
create trigger event_capacity_set_updated_at before update on event_capacity
    for each row
    when ((to_jsonb(old) - '{available_capacity,reserved_capacity,sold_count,stripe_count,updated_at,version}'::text[])
          is distinct from (to_jsonb(new) - '{available_capacity,reserved_capacity,sold_count,stripe_count,updated_at,version}'::text[]))
    execute function set_updated_at();

-- Existing sections: stripes by the same rule as the service (`storage::capacity::stripes_for`:
-- one stripe per 16 sellable seats, at least 1, at most 16). Existing holds are on stripe 0, so
-- stripe 0 takes all reserved and sold seats; available seats are spread evenly.
-- FORCE RLS applies to the owner too: lifted for this backfill, inside this transaction.
alter table event_capacity no force row level security;
alter table event_capacity disable row level security;
update event_capacity
   set stripe_count = least(16, greatest(1, (total_capacity - buffer_capacity) / 16));
insert into section_stripes (tenant_id, capacity_id, stripe, total, available, reserved, sold)
select c.tenant_id, c.id, k,
       a.share + case when k = 0 then c.reserved_capacity + c.sold_count else 0 end,
       a.share, case when k = 0 then c.reserved_capacity else 0 end, case when k = 0 then c.sold_count else 0 end
  from event_capacity c
 cross join lateral generate_series(0, c.stripe_count - 1) k
 cross join lateral (select c.available_capacity / c.stripe_count
                            + case when k < c.available_capacity % c.stripe_count then 1 else 0 end as share) a;
alter table event_capacity enable row level security;
alter table event_capacity force row level security;

-- The cross-row rule, checked at commit for each section whose totals moved.
create function section_stripes_check_totals() returns trigger
language plpgsql as $$
declare
    v_tenant  uuid;
    v_section uuid;
    v_count   smallint;
    v_sellable integer;
    v_stripes bigint;
    v_sum     bigint;
    v_max     smallint;
begin
    if tg_table_name = 'event_capacity' then
        v_tenant := new.tenant_id; v_section := new.id;
    elsif tg_op = 'DELETE' then
        v_tenant := old.tenant_id; v_section := old.capacity_id;
    else
        v_tenant := new.tenant_id; v_section := new.capacity_id;
    end if;
    select c.stripe_count, c.total_capacity - c.buffer_capacity into v_count, v_sellable
      from event_capacity c where c.tenant_id = v_tenant and c.id = v_section;
    if not found then
        return null; -- the section itself is gone (cascade)
    end if;
    select count(*), coalesce(sum(s.total), 0), max(s.stripe) into v_stripes, v_sum, v_max
      from section_stripes s where s.tenant_id = v_tenant and s.capacity_id = v_section;
    if v_sum <> v_sellable or v_stripes <> v_count or v_max <> v_count - 1 then
        raise exception 'section % has % stripes holding % seats; it sells % seats in % stripes',
            v_section, v_stripes, v_sum, v_sellable, v_count
            using errcode = 'check_violation', constraint = 'section_stripes_sum_check',
                  table = 'section_stripes';
    end if;
    return null;
end
$$;

create constraint trigger section_stripes_sum_check
    after insert or delete or update of total on section_stripes
    deferrable initially deferred
    for each row execute function section_stripes_check_totals();
create constraint trigger event_capacity_stripes_sum_check
    after insert or update of total_capacity, buffer_capacity, stripe_count on event_capacity
    deferrable initially deferred
    for each row execute function section_stripes_check_totals();

-- Row-level security, as on every tenant table.
alter table section_stripes enable row level security;
alter table section_stripes force row level security;
create policy section_stripes_tenant_isolation on section_stripes as permissive for all to public
    using (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

revoke all on section_stripes from public;
-- Stripes are never deleted by the service (a section is soft-deleted; a hold names its stripe).
grant select, insert, update on section_stripes to event_service_app;

-- The cleanup job refreshes rollups that fell behind: discovery of (tenant, section) ids only,
-- the refresh itself runs in the tenant's transaction.
grant select on event_capacity, section_stripes to event_service_system;
create policy event_capacity_system_discovery on event_capacity for select to event_service_system using (true);
create policy section_stripes_system_discovery on section_stripes for select to event_service_system using (true);

create function system_stale_section_rollups(p_limit integer)
returns table (tenant_id uuid, capacity_id uuid)
language sql stable security definer
set search_path = public, pg_temp
as $$
    select c.tenant_id, c.id
      from event_capacity c
      join lateral (
          select sum(s.available) as available, sum(s.reserved) as reserved, sum(s.sold) as sold
            from section_stripes s
           where s.tenant_id = c.tenant_id and s.capacity_id = c.id) k on true
     where c.deleted_at is null
       and (c.available_capacity, c.reserved_capacity, c.sold_count) is distinct from (k.available, k.reserved, k.sold)
     limit greatest(least(p_limit, 10000), 0)
$$;

grant create on schema public to event_service_system;
alter function system_stale_section_rollups(integer) owner to event_service_system;
revoke create on schema public from event_service_system;
revoke all on function system_stale_section_rollups(integer) from public;
grant execute on function system_stale_section_rollups(integer) to event_service_app;
