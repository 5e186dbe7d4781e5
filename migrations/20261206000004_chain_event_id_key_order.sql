-- `events_chain_event_id_key` leads with chain_event_id instead of tenant_id.
--
-- The constraint is the same (a chain id is used once per tenant; Citus wants the tenant in
-- every unique constraint, in any position), but as (tenant_id, chain_event_id) its index
-- was a second non-partial index starting with tenant_id, beside the primary key. Whenever
-- the statistics put a tenant at one row (a tenant absent from the last ANALYZE, or one
-- that has grown by thousands of rows since, as a registration backlog does), a primary-key
-- look-up `tenant_id = $1 and id = $2` costs the same through either index, and the planner
-- took this one, with `id` as a filter: a walk of all the tenant's events per look-up (the
-- registration worker's event update: ~2,000 buffers and 1-1.6 ms each in a 2,000-row
-- drain, auto_explain). Nothing looks events up by chain id within a tenant; the uniqueness
-- check works in either order.
alter table events drop constraint events_chain_event_id_key;
alter table events add constraint events_chain_event_id_key unique (chain_event_id, tenant_id);
