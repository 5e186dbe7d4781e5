-- The relay's claim, rewritten so its cost does not grow with the backlog.
--
-- The first version joined every pending message with the set of per-event heads (a DISTINCT ON
-- over all pending rows). Without fresh statistics (a backlog that built up while RabbitMQ was
-- down, before autovacuum analysed it) the planner re-ran that DISTINCT ON per candidate row: 3 s
-- per claim of 100 at a backlog of 4,000 messages, so a relay drained 84 messages/s
-- (scripts/bench/relay). Now a message is a head when no earlier pending message about the same
-- event exists: pending messages are read in `seq` order (event_outbox_pending_seq_idx), each
-- checked with one probe of event_outbox_pending_event_idx, until the batch is full.
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
    with due as (
        select o.tenant_id, o.id
          from event_outbox o
         where o.status = 'pending' and o.next_attempt_at <= now()
           and (o.locked_until is null or o.locked_until < now())
           and (p_tenants is null or o.tenant_id = any(p_tenants))
           and not exists (
               select 1 from event_outbox earlier
                where earlier.tenant_id = o.tenant_id and earlier.event_id = o.event_id
                  and earlier.status = 'pending' and earlier.seq < o.seq)
         order by o.seq
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
