-- One set of counters per message row instead of two.
--
-- Since 0006, every insert, state change and delete of an elemta_message row fired two sets of triggers: the per-state
-- counters of 0004 and the per-state-and-priority counters of 0006. The second holds the first (a state's count is the
-- sum over its priorities, at most a few rows), so the per-state triggers and their table go, and the statistics add
-- up elemta_priority_count instead: one counter update per message event on the acceptance and delivery paths.
DROP TRIGGER IF EXISTS tr_elemta_message_insert;
DROP TRIGGER IF EXISTS tr_elemta_message_delete;
DROP TRIGGER IF EXISTS tr_elemta_message_state;
DROP TABLE IF EXISTS elemta_state_count;
