-- Room on each page of `events` and `blockchain_outbox` for a row's next version.
--
-- An update that changes no indexed column (nor a column of a partial index's predicate) can
-- stay on the row's page as a HOT update, which writes no index entry at all; with full pages
-- it cannot, and Postgres writes a new entry into every index of the table for a change no
-- index cares about. Each on-chain registration updates its event (blockchain_status,
-- event_pda, the signature, blockchain_synced_at: none indexed; events has eight indexes) and
-- stores its signed transaction on its outbox row before the send (instruction bytes,
-- pending_tx, blockhash: none indexed). Both were written into full pages: the rows are
-- inserted densely by event creation. Status changes, publishing and edits of events gain the
-- same way. The outbox row also grows at that store (the signed transaction), hence more room.
-- Only pages filled from now on keep the room; existing pages get it back as they are
-- rewritten (VACUUM FULL, pg_repack), which this migration does not force.
alter table events set (fillfactor = 80);
alter table blockchain_outbox set (fillfactor = 60);
