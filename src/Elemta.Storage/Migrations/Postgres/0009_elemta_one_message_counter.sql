-- One set of counters per message row instead of two.
--
-- Since 0008, every insert, state change and delete of an elemta_message row fired two triggers: the per-state
-- counters of 0005 and the per-state-and-priority counters of 0008. The second holds the first (a state's count is the
-- sum over its priorities and slots), so the per-state trigger, its function and its table go, and the statistics add
-- up elemta_priority_count instead: one counter upsert per message event on the acceptance and delivery paths.
DROP TRIGGER IF EXISTS tr_elemta_message_count ON elemta_message;
DROP FUNCTION IF EXISTS elemta_message_count();
DROP TABLE IF EXISTS elemta_state_count;
