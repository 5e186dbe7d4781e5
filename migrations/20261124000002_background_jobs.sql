-- Background jobs: coordination across replicas, and the discovery functions they use.

-- Global (not tenant) bookkeeping: when each job last ran, so a job runs once per interval
-- across all replicas. Rows are claimed under an advisory lock (see src/jobs/mod.rs).
create table background_job_runs (
    job_name         varchar(100) primary key,
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    last_status      varchar(20),
    last_error       text,
    last_affected    integer not null default 0,
    runs             bigint not null default 0,
    constraint background_job_runs_status_check check (last_status in ('running', 'succeeded', 'failed'))
);

grant select, insert, update on background_job_runs to event_service_app;

-- Time-based lifecycle transitions -------------------------------------------------------------
--
-- The original read columns that never existed (sales_start_date, end_date). The real ones:
-- pricing sales windows for sales, schedule times for the event itself.

create policy events_system_discovery on events for select to event_service_system using (true);
create policy event_schedules_system_discovery on event_schedules for select to event_service_system using (true);
create policy event_pricing_system_discovery on event_pricing for select to event_service_system using (true);

create function system_due_event_transitions(p_limit integer)
returns table (tenant_id uuid, event_id uuid, status text, action text)
language sql stable security definer
set search_path = public, pg_temp
as $$
    select distinct on (d.tenant_id, d.event_id) d.tenant_id, d.event_id, d.status, d.action
    from (
        -- END_EVENT first: an event that is over moves on, whatever else is due.
        select e.tenant_id, e.id as event_id, e.status::text, 'END_EVENT' as action, 1 as priority
          from events e
         where e.status = 'IN_PROGRESS' and e.deleted_at is null
           and (select max(s.ends_at) from event_schedules s
                 where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null) <= now()
        union all
        select e.tenant_id, e.id, e.status::text, 'START_EVENT', 2
          from events e
         where e.status in ('ON_SALE', 'SOLD_OUT', 'SALES_PAUSED') and e.deleted_at is null
           and (select min(s.starts_at) from event_schedules s
                 where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null) <= now()
        union all
        -- Sales close when every active price tier's sales window has ended.
        select e.tenant_id, e.id, e.status::text, 'PAUSE_SALES', 3
          from events e
         where e.status = 'ON_SALE' and e.deleted_at is null
           and exists (select 1 from event_pricing p
                        where p.tenant_id = e.tenant_id and p.event_id = e.id and p.deleted_at is null and p.is_active)
           and not exists (select 1 from event_pricing p
                            where p.tenant_id = e.tenant_id and p.event_id = e.id and p.deleted_at is null
                              and p.is_active and (p.sales_end_at is null or p.sales_end_at > now()))
        union all
        select e.tenant_id, e.id, e.status::text, 'START_SALES', 4
          from events e
         where e.status = 'PUBLISHED' and e.deleted_at is null
           and exists (select 1 from event_pricing p
                        where p.tenant_id = e.tenant_id and p.event_id = e.id and p.deleted_at is null
                          and p.is_active and p.sales_start_at <= now()
                          and (p.sales_end_at is null or p.sales_end_at > now()))
    ) d
    order by d.tenant_id, d.event_id, d.priority
    limit greatest(least(p_limit, 10000), 0)
$$;

-- Expired idempotency keys ---------------------------------------------------------------------
--
-- The system role may see and delete expired keys only: the policies say so, not just the
-- function body.
grant select, delete on idempotency_keys to event_service_system;
create policy idempotency_keys_system_select on idempotency_keys for select to event_service_system
    using (expires_at <= now());
create policy idempotency_keys_system_purge on idempotency_keys for delete to event_service_system
    using (expires_at <= now());

create function system_purge_expired_idempotency_keys(p_limit integer)
returns integer
language sql volatile security definer
set search_path = public, pg_temp
as $$
    with doomed as (
        select tenant_id, idempotency_key from idempotency_keys
         where expires_at <= now()
         order by expires_at
         limit greatest(least(p_limit, 10000), 0)
    ), deleted as (
        delete from idempotency_keys k using doomed d
         where k.tenant_id = d.tenant_id and k.idempotency_key = d.idempotency_key
        returning 1
    )
    select count(*)::integer from deleted
$$;

grant create on schema public to event_service_system;
alter function system_due_event_transitions(integer) owner to event_service_system;
alter function system_purge_expired_idempotency_keys(integer) owner to event_service_system;
revoke create on schema public from event_service_system;
revoke all on function system_due_event_transitions(integer) from public;
revoke all on function system_purge_expired_idempotency_keys(integer) from public;
grant execute on function system_due_event_transitions(integer) to event_service_app;
grant execute on function system_purge_expired_idempotency_keys(integer) to event_service_app;
