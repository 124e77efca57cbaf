-- Keyset paging of the queue listing (the admin plane's GET /api/queue/{state}) reads in (received_at, message_id)
-- order, the id breaking ties between messages received in the same millisecond. The index gains the id so a page is
-- one range read of it, without a sort of each millisecond's rows. It serves every query of the index it replaces
-- (the same leading columns). SQLite needs no such migration: its elemta_message is a WITHOUT ROWID table, whose
-- indexes end with the primary key already.
CREATE INDEX IF NOT EXISTS ix_elemta_message_listing ON elemta_message (state, received_at, message_id);
DROP INDEX IF EXISTS ix_elemta_message_state;
