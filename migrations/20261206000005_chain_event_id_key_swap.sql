-- `events_chain_event_id_key` onto the index the previous migration built, (chain_event_id,
-- tenant_id): the old (tenant_id, chain_event_id) index goes with the old constraint, and the
-- new index takes the constraint's name. A moment's lock, no index build.
alter table events
    drop constraint events_chain_event_id_key,
    add constraint events_chain_event_id_key unique using index events_chain_event_id_tenant_key;
