-- The registration worker's grouped writes in one call per group (issue 16, row 8).
--
-- The worker writes the rows it has in flight in groups, one transaction per tenant
-- (`jobs::registration::group_writes`). Each row's write was its own statement, one round trip
-- each: a group of eight stores was ten round trips, during which the rows waited to send (13.6
-- ms per store on average in a 4,400-row drain, more than the send and the confirmation
-- together). These functions run the same fenced statement for each row of a group inside the
-- server, so a group costs one round trip whatever its size. They are not array forms of the
-- statements (`UPDATE ... FROM unnest(...)`), which crashed the Citus 13.2 coordinator: each
-- row is still a single-row update by primary key.
--
-- They run as the caller (`security invoker`), inside the caller's tenant transaction:
-- row-level security applies to every row they touch, and the tenant they are given must be
-- the transaction's (a row of another tenant is invisible, so it is simply not written). Each
-- answers the ids of the rows it wrote; a row that is not `processing` under `p_worker`'s lease
-- any more is skipped (the fence of `storage::blockchain_outbox`). The status is compared
-- `collate "C"`, as in the statements they replace, so that the plan is the primary key's.

-- A signed transaction stored before it is sent, with the instruction and the addresses it was
-- built from. The arrays are parallel: element i of each belongs to row p_ids[i].
create function registration_store_pending(
    p_tenant uuid, p_worker text, p_ids uuid[], p_instruction_data bytea[], p_venue_pdas text[],
    p_event_pdas text[], p_signed bytea[], p_blockhashes text[], p_signatures text[])
returns setof uuid
language plpgsql volatile security invoker
set search_path = public, pg_temp
as $$
declare
    -- Each row's values go into plain variables first: the statement then has scalar
    -- parameters only, like the one it replaces (array subscripts in a statement's parameters
    -- crashed the Citus 13.2 coordinator).
    v_id uuid;
    v_instruction bytea;
    v_venue text;
    v_event text;
    v_signed bytea;
    v_blockhash text;
    v_signature text;
begin
    for i in 1 .. coalesce(array_length(p_ids, 1), 0) loop
        v_id := p_ids[i];
        v_instruction := p_instruction_data[i];
        v_venue := p_venue_pdas[i];
        v_event := p_event_pdas[i];
        v_signed := p_signed[i];
        v_blockhash := p_blockhashes[i];
        v_signature := p_signatures[i];
        update blockchain_outbox
           set instruction_data = v_instruction, venue_pda = v_venue, event_pda = v_event,
               pending_tx = v_signed, pending_blockhash = v_blockhash, tx_signature = v_signature,
               last_attempt_at = now()
         where tenant_id = p_tenant and id = v_id and locked_by = p_worker
           and status = 'processing' collate "C";
        if found then
            return next v_id;
        end if;
    end loop;
end
$$;

-- The event accounts exist: the rows are `synced`, and their events carry the PDA and the
-- signature. The event is updated row by row too, by its whole primary key. One statement for
-- the group's events would cost a fifth as much per row (every UPDATE of events pays ~70 us for
-- its CHECK constraints, generated columns and triggers before it touches a row), but every
-- form of it tried (`e.id = any(...)` with the tenant, or a join to the outbox rows) leaves the
-- planner a plan that reads all the tenant's events, and stale statistics make it the cheapest:
-- seen in a drain (2,657 events read to update 62) while the tenant had grown since the last
-- ANALYZE. A lookup by the whole primary key has no such alternative.
create function registration_mark_synced(
    p_tenant uuid, p_worker text, p_ids uuid[], p_event_pdas text[], p_signatures text[])
returns setof uuid
language plpgsql volatile security invoker
set search_path = public, pg_temp
as $$
declare
    -- Scalar parameters only (see registration_store_pending).
    v_id uuid;
    v_pda text;
    v_signature text;
    v_event uuid;
begin
    for i in 1 .. coalesce(array_length(p_ids, 1), 0) loop
        v_id := p_ids[i];
        v_pda := p_event_pdas[i];
        v_signature := p_signatures[i];
        update blockchain_outbox
           set status = 'synced', completed_at = now(), last_error = null, event_pda = v_pda,
               tx_signature = coalesce(v_signature, tx_signature), pending_tx = null,
               pending_blockhash = null, locked_by = null, locked_until = null
         where tenant_id = p_tenant and id = v_id and locked_by = p_worker
           and status = 'processing' collate "C"
        returning event_id, tx_signature into v_event, v_signature;
        if found then
            update events
               set blockchain_status = 'synced', event_pda = v_pda, blockchain_tx_signature = v_signature,
                   blockchain_error = null, blockchain_synced_at = now()
             where tenant_id = p_tenant and id = v_event;
            return next v_id;
        end if;
    end loop;
end
$$;

revoke all on function registration_store_pending(uuid, text, uuid[], bytea[], text[], text[], bytea[], text[], text[]) from public;
grant execute on function registration_store_pending(uuid, text, uuid[], bytea[], text[], text[], bytea[], text[], text[]) to event_service_app;
revoke all on function registration_mark_synced(uuid, text, uuid[], text[], text[]) from public;
grant execute on function registration_mark_synced(uuid, text, uuid[], text[], text[]) to event_service_app;
