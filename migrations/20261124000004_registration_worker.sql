-- On-chain registration worker (src/services/registration.rs).
--
-- The outbox row keeps everything an attempt needs to be repeated safely by any replica:
--   * instruction_data / venue_pda / event_pda: the exact `create_event` arguments, fixed at the
--     first attempt, so every later attempt (and the existence check) compares the same bytes
--     even if the event is edited meanwhile;
--   * pending_tx / pending_blockhash: the last signed transaction whose outcome is not known. While
--     its blockhash is valid it may still land, so it is re-sent as is (same signature, idempotent);
--     only once the blockhash has expired, and the event account is still missing, is a new
--     transaction signed.

alter table blockchain_outbox
    add column venue_pda          varchar(44),
    add column instruction_data   bytea,
    add column pending_tx         bytea,
    add column pending_blockhash  varchar(44),
    add column last_attempt_at    timestamptz;

-- Claiming across tenants ------------------------------------------------------------------------
--
-- Like the other jobs, the system role gets a narrow capability and no general bypass: it may see
-- outbox rows and move the claim columns only. Everything else (reading the event, writing the
-- result) happens in a tenant-scoped transaction under the tenant policy.

create policy blockchain_outbox_system_select on blockchain_outbox for select to event_service_system
    using (true);
create policy blockchain_outbox_system_claim on blockchain_outbox for update to event_service_system
    using (status in ('pending', 'processing')) with check (status = 'processing');
grant update (status, attempts, locked_by, locked_until) on blockchain_outbox to event_service_system;

-- FOR UPDATE SKIP LOCKED: concurrent workers (threads or replicas) never claim the same row and
-- never wait for each other. A `processing` row whose lease has run out belonged to a worker that
-- died; it is claimed again (the attempt is safe to repeat, see above). `p_tenants` limits a worker
-- to some tenants (SOLANA_REGISTRATION_TENANTS: a pilot group, or a test's own tenant).
create function system_claim_blockchain_outbox(
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
           locked_until = now() + make_interval(secs => greatest(p_lease_seconds, 1)),
           attempts = o.attempts + 1
      from due
     where o.tenant_id = due.tenant_id and o.id = due.id
    returning o.tenant_id, o.id, o.event_id, o.attempts
$$;

-- Aggregates only (no tenant ids), for the outbox metrics.
create function system_blockchain_outbox_stats()
returns table (status text, depth bigint, oldest_age_seconds double precision)
language sql stable security definer
set search_path = public, pg_temp
as $$
    select o.status::text, count(*),
           coalesce(extract(epoch from now() - min(o.created_at))::double precision, 0)
      from blockchain_outbox o
     where o.status in ('pending', 'processing', 'failed')
     group by o.status
$$;

grant create on schema public to event_service_system;
alter function system_claim_blockchain_outbox(text, integer, integer, uuid[]) owner to event_service_system;
alter function system_blockchain_outbox_stats() owner to event_service_system;
revoke create on schema public from event_service_system;
revoke all on function system_claim_blockchain_outbox(text, integer, integer, uuid[]) from public;
revoke all on function system_blockchain_outbox_stats() from public;
grant execute on function system_claim_blockchain_outbox(text, integer, integer, uuid[]) to event_service_app;
grant execute on function system_blockchain_outbox_stats() to event_service_app;
