-- Distributes event-service's schema on a Citus coordinator, by tenant. Run once, after
-- `event-service migrate` (the plain migrations, as on any Postgres), as a superuser on the
-- coordinator: `psql -v ON_ERROR_STOP=1 -f deploy/citus/distribute.sql`. deploy/citus/README.md
-- says why each step is needed; scripts/scale-test (topology `citus`) runs it.
\set ON_ERROR_STOP on
begin;

-- 1. Citus requires every unique constraint of a distributed table to contain the distribution
--    column. `seq` is a global identity (the relay's per-event order), unique by construction;
--    (tenant_id, seq) keeps an index for the relay's lookups.
alter table event_outbox drop constraint event_outbox_seq_key;
alter table event_outbox add constraint event_outbox_tenant_seq_key unique (tenant_id, seq);

-- 2. Foreign keys between the tenant tables are dropped while the tables are distributed one
--    by one (a local table may not reference a distributed one, nor the other way round), and
--    put back afterwards, unchanged: every one of them includes tenant_id, so on co-located
--    tables each is checked inside one shard group.
create temporary table saved_fkeys as
    select c.conrelid::regclass as tbl, c.conname, pg_get_constraintdef(c.oid) as def
      from pg_constraint c
     where c.contype = 'f' and c.connamespace = 'public'::regnamespace
       and c.conrelid::regclass::text in ('events', 'event_schedules', 'event_capacity', 'section_stripes',
             'event_pricing', 'event_metadata', 'event_reservations', 'event_status_history', 'event_audit_log',
             'event_cancellation_reports', 'event_outbox', 'blockchain_outbox', 'idempotency_keys');
do $$
declare r record;
begin
    for r in select * from saved_fkeys loop
        execute format('alter table %s drop constraint %I', r.tbl, r.conname);
    end loop;
end
$$;
commit;

-- 3. The tenant tables, distributed by tenant_id and co-located with events: a tenant's rows of
--    every table live in one shard group, so a tenant's transaction is routed to one worker.
--    Their triggers run on the shards (citus.enable_unsafe_triggers; deploy/citus/README.md).
set citus.enable_unsafe_triggers = on;
select create_distributed_table('events', 'tenant_id');
select create_distributed_table(t, 'tenant_id', colocate_with => 'events')
  from unnest(array['event_schedules', 'event_capacity', 'section_stripes', 'event_pricing', 'event_metadata',
                    'event_reservations', 'event_status_history', 'event_audit_log', 'event_cancellation_reports',
                    'event_outbox', 'blockchain_outbox', 'idempotency_keys']) t;

-- 4. The global catalogue: a reference table, copied to every node.
select create_reference_table('event_categories');
select truncate_local_data_after_distributing_table('event_categories');

-- 5. The foreign keys, back (one connection per node: events references a reference table).
--    Citus refuses ON DELETE SET NULL on a key that includes the distribution column; those four
--    (capacity -> schedule, pricing -> schedule and capacity, reservation -> pricing) come back
--    as NO ACTION. The service never deletes those rows (it marks them deleted), so only a hard
--    delete by hand behaves differently: refused while referenced, instead of unlinking.
set citus.multi_shard_modify_mode to 'sequential';
do $$
declare r record;
begin
    for r in select * from saved_fkeys loop
        execute format('alter table %s add constraint %I %s', r.tbl, r.conname,
                       regexp_replace(r.def, ' ON DELETE SET NULL \([a-z_]+\)', ''));
    end loop;
end
$$;

-- 6. Functions whose plain-Postgres form Citus cannot plan, replaced by equivalents that it can.
--
-- The schedules trigger keeps events.start_date in step. It runs on the worker, on the
-- schedules shard; its one set-based UPDATE joins the transition table to a correlated
-- subquery, which Citus refuses ("correlated subqueries are not supported when the FROM clause
-- contains a CTE or subquery"). One UPDATE per changed event, each naming its tenant, is routed
-- to the co-located events shard.
create or replace function events_sync_start_date() returns trigger
language plpgsql as $$
declare
    r record;
begin
    for r in select distinct tenant_id, event_id from changed loop
        update events e
           set start_date = (select min(s.starts_at) from event_schedules s
                              where s.tenant_id = r.tenant_id and s.event_id = r.event_id and s.deleted_at is null)
         where e.tenant_id = r.tenant_id and e.id = r.event_id
           and e.start_date is distinct from (select min(s.starts_at) from event_schedules s
                              where s.tenant_id = r.tenant_id and s.event_id = r.event_id and s.deleted_at is null);
    end loop;
    return null;
end
$$;

-- The section invariant's trigger tells its two tables apart by name; on a worker it fires on a
-- shard, named `event_capacity_<shard id>`. Only that test changes.
do $$
declare
    old_def text := pg_get_functiondef('section_stripes_check_totals'::regproc);
    new_def text := replace(old_def, $q$if tg_table_name = 'event_capacity' then$q$,
                            $q$if tg_table_name = 'event_capacity' or tg_table_name like 'event\_capacity\_%' then$q$);
begin
    if new_def = old_def then
        raise exception 'section_stripes_check_totals changed: update deploy/citus/distribute.sql';
    end if;
    execute new_def;
end
$$;

-- 7. The claims of the registration worker and the relay lock rows with FOR UPDATE SKIP LOCKED,
--    which Citus allows only in a query routed to one shard. They become a loop over the tenants
--    with due rows (found without locks, oldest due first), each tenant claimed by a routed
--    statement of the same shape as before, until the limit is reached. Same signatures, same
--    rules, same owner (CREATE OR REPLACE keeps the SECURITY DEFINER owner).
create or replace function system_claim_blockchain_outbox(
    p_worker text, p_limit integer, p_lease_seconds integer, p_tenants uuid[] default null,
    p_after timestamptz default null)
returns table (tenant_id uuid, outbox_id uuid, event_id uuid, attempts integer, next_attempt_at timestamptz)
language plpgsql volatile security definer
set search_path = public, pg_temp
as $$
declare
    v_tenant uuid;
    v_left integer := greatest(least(p_limit, 100), 0);
    v_claimed integer;
begin
    for v_tenant in
        select o.tenant_id
          from blockchain_outbox o
         where ((o.status = 'pending' and o.next_attempt_at <= now())
                or (o.status = 'processing' and o.locked_until < now()))
           and (p_tenants is null or o.tenant_id = any(p_tenants))
           and o.next_attempt_at >= coalesce(p_after, '-infinity')
         group by o.tenant_id
         order by min(o.next_attempt_at)
    loop
        exit when v_left <= 0;
        return query
        with due as (
            select o.tenant_id, o.id
              from blockchain_outbox o
             where o.tenant_id = v_tenant
               and ((o.status = 'pending' and o.next_attempt_at <= now())
                    or (o.status = 'processing' and o.locked_until < now()))
               and o.next_attempt_at >= coalesce(p_after, '-infinity')
             order by o.next_attempt_at
             limit v_left
               for update skip locked
        )
        update blockchain_outbox o
           set status = 'processing',
               locked_by = left(p_worker, 100),
               locked_until = now() + make_interval(secs => greatest(least(p_lease_seconds, 600), 1)),
               attempts = o.attempts + 1
          from due
         where o.tenant_id = v_tenant and o.tenant_id = due.tenant_id and o.id = due.id
        returning o.tenant_id, o.id, o.event_id, o.attempts, o.next_attempt_at;
        get diagnostics v_claimed = row_count;
        v_left := v_left - v_claimed;
    end loop;
end
$$;

create or replace function system_claim_event_outbox(
    p_worker text, p_limit integer, p_lease_seconds integer, p_tenants uuid[] default null)
returns table (tenant_id uuid, id uuid, event_id uuid, seq bigint, exchange text, routing_key text,
               payload jsonb, created_at timestamptz, attempts integer)
language plpgsql volatile security definer
set search_path = public, pg_temp
as $$
declare
    v_tenant uuid;
    v_left integer := greatest(least(p_limit, 1000), 0);
    v_claimed integer;
begin
    for v_tenant in
        select o.tenant_id
          from event_outbox o
         where o.status = 'pending' and o.next_attempt_at <= now()
           and (o.locked_until is null or o.locked_until < now())
           and (p_tenants is null or o.tenant_id = any(p_tenants))
         group by o.tenant_id
         order by min(o.seq)
    loop
        exit when v_left <= 0;
        return query
        with heads as (
            select distinct on (o.event_id) o.seq, o.next_attempt_at, o.locked_until
              from event_outbox o
             where o.tenant_id = v_tenant and o.status = 'pending'
             order by o.event_id, o.seq
        ), candidates as (
            select h.seq
              from heads h
             where h.next_attempt_at <= now() and (h.locked_until is null or h.locked_until < now())
             order by h.seq
             limit v_left
        ), due as (
            select o.seq
              from event_outbox o
             where o.tenant_id = v_tenant and o.seq in (select c.seq from candidates c)
               and o.status = 'pending' and o.next_attempt_at <= now()
               and (o.locked_until is null or o.locked_until < now())
               for update of o skip locked
        )
        update event_outbox o
           set locked_by = left(p_worker, 100),
               locked_until = now() + make_interval(secs => greatest(least(p_lease_seconds, 300), 1)),
               attempts = o.attempts + 1
          from due
         where o.tenant_id = v_tenant and o.seq = due.seq and o.status = 'pending'
           and (o.locked_until is null or o.locked_until < now())
        returning o.tenant_id, o.id, o.event_id, o.seq, o.exchange::text, o.routing_key::text, o.payload,
                  o.created_at, o.attempts;
        get diagnostics v_claimed = row_count;
        v_left := v_left - v_claimed;
    end loop;
end
$$;

-- The other discovery functions are SQL functions with parameters, which Citus cannot plan
-- ("possibly this is caused by the use of parameters in SQL functions"). Each becomes a PL/pgSQL
-- function with the same signature, owner and body: a set-returning one returns its query, a
-- scalar one the single value its query yields. `use_column`: the body's column names win over
-- the names of the function's output columns, as they do in SQL functions.
do $$
declare
    f record;
    body text;
begin
    for f in
        select p.oid, p.proretset, format_type(p.prorettype, null) as rettype,
               case p.provolatile when 'v' then 'volatile' when 's' then 'stable' else 'immutable' end as volatility,
               regexp_replace(p.prosrc, ';?\s*$', '') as query
          from pg_proc p join pg_language l on l.oid = p.prolang
         where p.pronamespace = 'public'::regnamespace and p.proname like 'system\_%'
           and l.lanname = 'sql' and p.pronargs > 0
    loop
        body := E'#variable_conflict use_column\n' || case when f.proretset
            then E'begin\n    return query ' || f.query || E';\nend'
            else E'declare v_result ' || f.rettype || E';\nbegin\n    for v_result in ' || f.query
                 || E'\n    loop end loop;\n    return v_result;\nend' end;
        execute format('create or replace function %s(%s) returns %s language plpgsql %s security definer '
                       'set search_path = public, pg_temp as %L',
                       f.oid::regproc, pg_get_function_arguments(f.oid), pg_get_function_result(f.oid),
                       f.volatility, body);
    end loop;
end
$$;

-- 8. A SECURITY DEFINER function runs its distributed queries on the workers as its owner,
--    event_service_system, which must therefore be able to log in there (it has no password:
--    the nodes authenticate each other, deploy/citus/README.md). Citus carries this to the workers.
alter role event_service_system login;
