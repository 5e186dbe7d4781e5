-- Costs that do not grow with other tenants' data, and the claim function's lease clamped.

-- The duplicate-name check on creation is an index lookup under RLS: `lower()` and
-- `timezone()` are not leakproof, so under row-level security they could not be index
-- conditions (29.5 ms at 11k events of a venue). The normalised name is stored, and the day
-- bounds are computed by the service, so the check compares a column with constants.
alter table events add column name_key text generated always as (lower(btrim(name))) stored;
drop index events_name_lower_idx;
create index events_name_key_idx on events (tenant_id, venue_id, name_key) where deleted_at is null;
create index event_schedules_event_starts_idx on event_schedules (tenant_id, event_id, starts_at) where deleted_at is null;

-- Search reads a bounded text per event (the name, the short description and the first 1000
-- characters of the description, lower-cased), not whole 10 KB descriptions: one tenant's
-- search costs at most 2 KB per event of that tenant.
alter table events add column search_text text generated always as (
    lower(left(name || ' ' || coalesce(short_description, '') || ' ' || coalesce(left(description, 1000), ''), 2000))
) stored;

-- Named seats: the check that a seat is held or sold once per section.
create index event_reservations_seats_idx on event_reservations using gin (seat_ids)
    where status in ('active', 'confirmed');

-- The registration claim's lease is clamped (1 s to 10 min), whatever the caller asks: the app
-- role could otherwise park any tenant's rows for decades.
create or replace function system_claim_blockchain_outbox(
    p_worker text, p_limit integer, p_lease_seconds integer, p_tenants uuid[] default null)
returns table (tenant_id uuid, outbox_id uuid, event_id uuid, attempts integer)
language sql volatile security definer
set search_path = public, pg_temp
as $$
    with due as (
        select o.tenant_id, o.id
          from blockchain_outbox o
         where ((o.status = 'pending' and o.next_attempt_at <= now())
                or (o.status = 'processing' and o.locked_until < now()))
           and (p_tenants is null or o.tenant_id = any(p_tenants))
         order by o.next_attempt_at
         limit greatest(least(p_limit, 100), 0)
           for update skip locked
    )
    update blockchain_outbox o
       set status = 'processing',
           locked_by = left(p_worker, 100),
           locked_until = now() + make_interval(secs => greatest(least(p_lease_seconds, 600), 1)),
           attempts = o.attempts + 1
      from due
     where o.tenant_id = due.tenant_id and o.id = due.id
    returning o.tenant_id, o.id, o.event_id, o.attempts
$$;
