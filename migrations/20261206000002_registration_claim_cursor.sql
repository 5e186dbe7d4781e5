-- The registration claim resumes where the worker's last claim stopped (issue 16, row 8).
--
-- Claims take due rows oldest first through `blockchain_outbox_due_idx` (next_attempt_at, for
-- pending and processing rows). Every row a worker has finished leaves index entries of its
-- old versions at the front of that index until VACUUM removes them, and every row in flight
-- keeps its old next_attempt_at there too; a claim from the start of the index visited all of
-- them (their heap tuples included) before reaching a due row. Draining a backlog made each
-- claim slower than the last: 5.3 ms per claim on average over a 5,000-row drain, most of the
-- worker's time, against 0.08 ms once the entries are marked dead.
--
-- `p_after`: only rows due at or after it are claimed (`>=`, so rows sharing the last claimed
-- timestamp are not skipped; written as `>= coalesce(p_after, '-infinity')`, an index bound where
-- the scan starts, not `p_after is null or ...`, which a generic plan can only filter with);
-- the worker passes the latest next_attempt_at it has claimed so
-- far, and null at every poll tick, which also finds rows whose lease expired (their
-- next_attempt_at is older) and rows of transactions that committed late. The claim now also
-- returns each row's next_attempt_at, for that cursor. Same rules otherwise, same clamps, same
-- owner and grants; deploy/citus/distribute.sql replaces it with its routed version.

drop function system_claim_blockchain_outbox(text, integer, integer, uuid[]);

create function system_claim_blockchain_outbox(
    p_worker text, p_limit integer, p_lease_seconds integer, p_tenants uuid[] default null,
    p_after timestamptz default null)
returns table (tenant_id uuid, outbox_id uuid, event_id uuid, attempts integer, next_attempt_at timestamptz)
language sql volatile security definer
set search_path = public, pg_temp
as $$
    with due as (
        select o.tenant_id, o.id
          from blockchain_outbox o
         where ((o.status = 'pending' and o.next_attempt_at <= now())
                or (o.status = 'processing' and o.locked_until < now()))
           and (p_tenants is null or o.tenant_id = any(p_tenants))
           and o.next_attempt_at >= coalesce(p_after, '-infinity')
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
    returning o.tenant_id, o.id, o.event_id, o.attempts, o.next_attempt_at
$$;

grant create on schema public to event_service_system;
alter function system_claim_blockchain_outbox(text, integer, integer, uuid[], timestamptz) owner to event_service_system;
revoke create on schema public from event_service_system;
revoke all on function system_claim_blockchain_outbox(text, integer, integer, uuid[], timestamptz) from public;
grant execute on function system_claim_blockchain_outbox(text, integer, integer, uuid[], timestamptz) to event_service_app;
