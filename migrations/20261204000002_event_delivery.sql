-- Delivery of every change to RabbitMQ through the transactional outbox, and the columns other
-- platform services read from `events` (reference/platform-contracts.md §4, §7).

-- The outbox ------------------------------------------------------------------------------------
--
-- One row per message: written in the transaction that makes the change (so a rolled-back
-- change has none), published later by the relay (src/jobs/relay.rs) with publisher confirms,
-- marked published only after the broker confirmed it. `id` is the AMQP message_id, stable
-- across every re-publication, so consumers can drop duplicates. `seq` orders one event's
-- messages: the relay only ever claims the oldest pending message of an event, so no message
-- about an event is published before the earlier ones are confirmed.

alter table event_outbox rename column topic to routing_key;
alter table event_outbox
    add column seq             bigint generated always as identity,
    add column exchange        varchar(100) not null default 'tickettoken_events',
    add column attempts        integer not null default 0,
    add column next_attempt_at timestamptz not null default now(),
    add column locked_by       varchar(100),
    add column locked_until    timestamptz,
    add column last_error      text;
alter table event_outbox alter column exchange drop default;
alter table event_outbox add constraint event_outbox_seq_key unique (seq);
alter table event_outbox add constraint event_outbox_exchange_check
    check (exchange in ('tickettoken_events', 'search.sync'));
alter table event_outbox add constraint event_outbox_attempts_check check (attempts >= 0);

drop index event_outbox_pending_idx;
-- The relay's question: the oldest pending message of each event.
create index event_outbox_pending_event_idx on event_outbox (tenant_id, event_id, seq) where status = 'pending';
create index event_outbox_pending_seq_idx on event_outbox (seq) where status = 'pending';
create index event_outbox_published_idx on event_outbox (published_at) where status = 'published';

-- The relay works across tenants, through the functions below only: the system role may see the
-- outbox, move the claim columns, mark a row published, and delete published rows past their
-- retention. It reads nothing else.
grant select, update (status, attempts, next_attempt_at, locked_by, locked_until, last_error, published_at),
    delete on event_outbox to event_service_system;
create policy event_outbox_system_select on event_outbox for select to event_service_system using (true);
create policy event_outbox_system_update on event_outbox for update to event_service_system
    using (status = 'pending') with check (true);
create policy event_outbox_system_purge on event_outbox for delete to event_service_system
    using (status = 'published');

-- Claims the oldest pending message of up to p_limit events whose oldest pending message is due
-- and not leased by a live worker. FOR UPDATE SKIP LOCKED: concurrent relays never claim the same
-- row; a relay that died is replaced when its lease runs out (at least once: the next relay may
-- publish a message the dead one had sent, with the same message_id). The lease is clamped to
-- 1-300 s and the batch to 1000, whatever the caller asks.
create function system_claim_event_outbox(
    p_worker text, p_limit integer, p_lease_seconds integer, p_tenants uuid[] default null)
returns table (tenant_id uuid, id uuid, event_id uuid, seq bigint, exchange text, routing_key text,
               payload jsonb, created_at timestamptz, attempts integer)
language sql volatile security definer
set search_path = public, pg_temp
as $$
    with heads as (
        select distinct on (o.tenant_id, o.event_id) o.tenant_id, o.id, o.seq, o.next_attempt_at, o.locked_until
          from event_outbox o
         where o.status = 'pending' and (p_tenants is null or o.tenant_id = any(p_tenants))
         order by o.tenant_id, o.event_id, o.seq
    ), due as (
        -- The conditions are on `o`, not on the snapshot in `heads`: a row another relay claimed
        -- or published after this statement's snapshot is re-checked in its newest version once
        -- its lock is free (READ COMMITTED re-evaluation), and then left alone.
        select o.tenant_id, o.id
          from event_outbox o
          join heads h on h.tenant_id = o.tenant_id and h.id = o.id
         where o.status = 'pending' and o.next_attempt_at <= now()
           and (o.locked_until is null or o.locked_until < now())
         order by h.seq
         limit greatest(least(p_limit, 1000), 0)
           for update of o skip locked
    )
    update event_outbox o
       set locked_by = left(p_worker, 100),
           locked_until = now() + make_interval(secs => greatest(least(p_lease_seconds, 300), 1)),
           attempts = o.attempts + 1
      from due
     where o.tenant_id = due.tenant_id and o.id = due.id and o.status = 'pending'
       and (o.locked_until is null or o.locked_until < now())
    returning o.tenant_id, o.id, o.event_id, o.seq, o.exchange::text, o.routing_key::text, o.payload,
              o.created_at, o.attempts
$$;

-- Marks confirmed messages published; fenced on the lease holder, so a relay whose lease ran out
-- (and whose row another relay now holds) writes nothing.
create function system_finish_event_outbox(p_worker text, p_tenants uuid[], p_ids uuid[])
returns integer
language sql volatile security definer
set search_path = public, pg_temp
as $$
    with done as (
        update event_outbox o
           set status = 'published', published_at = now(), locked_by = null, locked_until = null,
               last_error = null
          from unnest(p_tenants, p_ids) as f(tenant_id, id)
         where o.tenant_id = f.tenant_id and o.id = f.id and o.status = 'pending'
           and o.locked_by = left(p_worker, 100)
        returning 1
    )
    select count(*)::integer from done
$$;

-- Hands a message back after a failed publication, due again after p_delay_ms (0-10 min).
create function system_retry_event_outbox(p_worker text, p_tenant uuid, p_id uuid, p_error text, p_delay_ms integer)
returns boolean
language sql volatile security definer
set search_path = public, pg_temp
as $$
    with released as (
        update event_outbox o
           set locked_by = null, locked_until = null, last_error = left(p_error, 500),
               next_attempt_at = now() + make_interval(secs => greatest(least(p_delay_ms, 600000), 0) / 1000.0)
         where o.tenant_id = p_tenant and o.id = p_id and o.status = 'pending'
           and o.locked_by = left(p_worker, 100)
        returning 1
    )
    select exists (select 1 from released)
$$;

-- Aggregates only, for the metrics: pending depth and the age of the oldest pending message.
create function system_event_outbox_stats()
returns table (pending bigint, oldest_age_seconds double precision)
language sql stable security definer
set search_path = public, pg_temp
as $$
    select count(*), coalesce(extract(epoch from now() - min(o.created_at))::double precision, 0)
      from event_outbox o
     where o.status = 'pending'
$$;

-- Deletes published messages older than p_hours (at least 1), p_limit (at most 10000) at a time.
create function system_purge_event_outbox(p_hours integer, p_limit integer)
returns integer
language sql volatile security definer
set search_path = public, pg_temp
as $$
    with doomed as (
        select o.tenant_id, o.id from event_outbox o
         where o.status = 'published' and o.published_at < now() - make_interval(hours => greatest(p_hours, 1))
         order by o.published_at
         limit greatest(least(p_limit, 10000), 0)
    ), deleted as (
        delete from event_outbox o using doomed d
         where o.tenant_id = d.tenant_id and o.id = d.id
        returning 1
    )
    select count(*)::integer from deleted
$$;

grant create on schema public to event_service_system;
alter function system_claim_event_outbox(text, integer, integer, uuid[]) owner to event_service_system;
alter function system_finish_event_outbox(text, uuid[], uuid[]) owner to event_service_system;
alter function system_retry_event_outbox(text, uuid, uuid, text, integer) owner to event_service_system;
alter function system_event_outbox_stats() owner to event_service_system;
alter function system_purge_event_outbox(integer, integer) owner to event_service_system;
revoke create on schema public from event_service_system;
revoke all on function system_claim_event_outbox(text, integer, integer, uuid[]) from public;
revoke all on function system_finish_event_outbox(text, uuid[], uuid[]) from public;
revoke all on function system_retry_event_outbox(text, uuid, uuid, text, integer) from public;
revoke all on function system_event_outbox_stats() from public;
revoke all on function system_purge_event_outbox(integer, integer) from public;
grant execute on function system_claim_event_outbox(text, integer, integer, uuid[]) to event_service_app;
grant execute on function system_finish_event_outbox(text, uuid[], uuid[]) to event_service_app;
grant execute on function system_retry_event_outbox(text, uuid, uuid, text, integer) to event_service_app;
grant execute on function system_event_outbox_stats() to event_service_app;
grant execute on function system_purge_event_outbox(integer, integer) to event_service_app;
-- The application only writes messages; the relay moves them through the functions above.
revoke update on event_outbox from event_service_app;

-- Columns other services read ---------------------------------------------------------------------
--
-- About twelve platform services select `events.start_date` (PC §7): the first schedule's start,
-- kept in step by a trigger on event_schedules. It is derived data, so changing it alone does not
-- bump the event's optimistic-lock version.

alter table events add column start_date timestamptz;
update events e set start_date = (select min(s.starts_at) from event_schedules s
                                   where s.tenant_id = e.tenant_id and s.event_id = e.id and s.deleted_at is null);

-- One statement-level trigger per operation, reading the changed rows from a transition table:
-- a bulk insert of schedules updates each event once, not once per row.
create function events_sync_start_date() returns trigger
language plpgsql as $$
begin
    update events e
       set start_date = m.first_start
      from (select c.tenant_id, c.event_id,
                   (select min(s.starts_at) from event_schedules s
                     where s.tenant_id = c.tenant_id and s.event_id = c.event_id and s.deleted_at is null) as first_start
              from (select distinct tenant_id, event_id from changed) c) m
     where e.tenant_id = m.tenant_id and e.id = m.event_id and e.start_date is distinct from m.first_start;
    return null;
end
$$;

create trigger event_schedules_sync_start_date_insert after insert on event_schedules
    referencing new table as changed for each statement execute function events_sync_start_date();
create trigger event_schedules_sync_start_date_update after update on event_schedules
    referencing new table as changed for each statement execute function events_sync_start_date();
create trigger event_schedules_sync_start_date_delete after delete on event_schedules
    referencing old table as changed for each statement execute function events_sync_start_date();

-- `version` counts updates, as before; the update that only moves start_date is not one. It is
-- the only update of events made from inside a trigger, so the nesting depth tells it apart
-- (comparing whole rows as JSON cost 270 us per row: 2.7 s for a 10k-schedule load).
create function events_increment_version() returns trigger
language plpgsql as $$
begin
    if pg_trigger_depth() > 1 then
        return new;
    end if;
    new.version := old.version + 1;
    return new;
end
$$;
drop trigger events_increment_version on events;
create trigger events_increment_version before update on events
    for each row execute function events_increment_version();
