-- Internal routes called without a tenant (reference/platform-contracts.md §1.2): monitoring and
-- marketplace send `X-Tenant-ID: system`, notification and ticket-service may send `default`,
-- order-service sends `system` when it has no context. As everywhere else, the system role only
-- *discovers* (returns tenant ids, event ids, or counts); the event itself is then read in its
-- tenant's transaction under row-level security.

-- The tenant of one event. Deleted events are included: order-service asks for the status of an
-- event to judge refunds, and ticket-service its transfer rules, also after it was deleted.
-- Event ids are generated (gen_random_uuid), so two tenants sharing one is not a real case; if it
-- ever happened the answer is NULL (not found) rather than a guess.
create function system_event_tenant(p_event_id uuid)
returns uuid
language sql stable security definer
set search_path = public, pg_temp
as $$
    select case when count(*) = 1 then min(tenant_id::text)::uuid end
      from events where id = p_event_id
$$;

-- Events in their sales period, across tenants: ids only, newest first, bounded.
create function system_active_events(p_limit integer)
returns table (tenant_id uuid, event_id uuid)
language sql stable security definer
set search_path = public, pg_temp
as $$
    select e.tenant_id, e.id from events e
     where e.status = 'ON_SALE' and e.deleted_at is null
     order by e.created_at desc
     limit greatest(least(p_limit, 1000), 0)
$$;

-- Platform-wide event counts for monitoring (numbers only, nothing identifying).
create function system_event_metrics(p_period_days integer)
returns table (total_events bigint, published_events bigint, upcoming_events bigint, past_events bigint)
language sql stable security definer
set search_path = public, pg_temp
as $$
    with period as (
        select e.tenant_id, e.id, e.published_at,
               (select min(s.starts_at) from event_schedules s
                 where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null) as first_start,
               (select max(s.ends_at) from event_schedules s
                 where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null) as last_end
          from events e
         where e.deleted_at is null
           and e.created_at >= now() - make_interval(days => greatest(least(p_period_days, 3650), 1))
    )
    select count(*), count(*) filter (where published_at is not null),
           count(*) filter (where first_start > now()), count(*) filter (where last_end < now())
      from period
$$;

grant create on schema public to event_service_system;
alter function system_event_tenant(uuid) owner to event_service_system;
alter function system_active_events(integer) owner to event_service_system;
alter function system_event_metrics(integer) owner to event_service_system;
revoke create on schema public from event_service_system;
revoke all on function system_event_tenant(uuid) from public;
revoke all on function system_active_events(integer) from public;
revoke all on function system_event_metrics(integer) from public;
grant execute on function system_event_tenant(uuid) to event_service_app;
grant execute on function system_active_events(integer) to event_service_app;
grant execute on function system_event_metrics(integer) to event_service_app;
