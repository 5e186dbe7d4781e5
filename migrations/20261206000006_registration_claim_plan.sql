-- The registration claim reads the due index in order and stops at `p_limit` rows, whatever the
-- statistics say (issue 16, row 8).
--
-- The function's statement is planned at every call without its arguments (a SQL function
-- that is not inlined). With statistics taken while the outbox was nearly empty (the usual state
-- before a burst: the due index "holds 6 rows"), that plan was a bitmap scan of the whole due
-- index, a sort of every due row, and then the limit: each claim of 16-32 rows read and sorted
-- the whole backlog (2,455 rows, 800-1,100 buffers, 2-3 ms per claim in a 2,500-row drain,
-- seen with auto_explain), so draining a backlog cost more per row the larger it was.
--
-- With sorts and bitmap scans priced out for this function only, the one plan left that needs
-- neither is the ordered scan of `blockchain_outbox_due_idx` from `p_after`, which stops after
-- `p_limit` rows that pass the filter and lock. A `SET` on the function applies to its own
-- statements and is undone when it returns. Same body, rules, owner and grants; the Citus
-- version (deploy/citus/distribute.sql) routes per tenant and is not changed here.
alter function system_claim_blockchain_outbox(text, integer, integer, uuid[], timestamptz)
    set enable_sort = off;
alter function system_claim_blockchain_outbox(text, integer, integer, uuid[], timestamptz)
    set enable_bitmapscan = off;
