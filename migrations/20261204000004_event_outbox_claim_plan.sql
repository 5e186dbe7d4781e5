-- The relay's claim, rewritten so that no plan joins two sets the size of the backlog.
--
-- The first version joined every pending message with the set of per-event heads (a DISTINCT ON
-- over all pending rows). In a fresh database the outbox has never been analysed, the planner
-- expects a handful of rows and picks a nested loop: the join is quadratic in the backlog. A
-- backlog of 4,000 messages (RabbitMQ down for a while) took 2.5-3 s per claim of 100, and the
-- relay drained 84 messages/s (scripts/bench/relay). Materialising the heads does not help (the
-- nested loop rescans them).
--
-- Now: the heads are computed once (one pass over the pending rows), filtered to the due and
-- unleased ones, and at most p_limit of them (oldest first) are locked by `seq`, which is
-- unique, so every lookup is one probe whatever index the planner picks. Without statistics
-- (a never-analysed table holding 4,000 pending messages) the claim takes 16 ms; matching on
-- (tenant_id, id) instead, the planner chose the (tenant_id, event_id, seq) index and took 300.
--
-- Same rules as before: at most one message per event in flight (a later one waits while an
-- earlier one is pending, due or not, claimed or not); a row claimed or published by another
-- relay after this statement's snapshot is re-checked in its newest version once its lock is
-- free (READ COMMITTED re-evaluation of the conditions on `o`) and then left alone.
create or replace function system_claim_event_outbox(
    p_worker text, p_limit integer, p_lease_seconds integer, p_tenants uuid[] default null)
returns table (tenant_id uuid, id uuid, event_id uuid, seq bigint, exchange text, routing_key text,
               payload jsonb, created_at timestamptz, attempts integer)
language sql volatile security definer
set search_path = public, pg_temp
as $$
    with heads as (
        select distinct on (o.tenant_id, o.event_id) o.seq, o.next_attempt_at, o.locked_until
          from event_outbox o
         where o.status = 'pending' and (p_tenants is null or o.tenant_id = any(p_tenants))
         order by o.tenant_id, o.event_id, o.seq
    ), candidates as (
        select h.seq
          from heads h
         where h.next_attempt_at <= now() and (h.locked_until is null or h.locked_until < now())
         order by h.seq
         limit greatest(least(p_limit, 1000), 0)
    ), due as (
        select o.seq
          from event_outbox o
         where o.seq in (select c.seq from candidates c)
           and o.status = 'pending' and o.next_attempt_at <= now()
           and (o.locked_until is null or o.locked_until < now())
           for update of o skip locked
    )
    update event_outbox o
       set locked_by = left(p_worker, 100),
           locked_until = now() + make_interval(secs => greatest(least(p_lease_seconds, 300), 1)),
           attempts = o.attempts + 1
      from due
     where o.seq = due.seq and o.status = 'pending'
       and (o.locked_until is null or o.locked_until < now())
    returning o.tenant_id, o.id, o.event_id, o.seq, o.exchange::text, o.routing_key::text, o.payload,
              o.created_at, o.attempts
$$;
