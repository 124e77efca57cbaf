-- The admin plane's queue listing by priority and its counts per priority (GET /api/queue/{state}?sort=priority,
-- GET /api/queue/stats).
--
-- Listing by priority, most urgent first, then oldest first: keyset paging over (priority, received_at, message_id)
-- reads one range of this index (elemta_message is WITHOUT ROWID, so the index ends with message_id already).
CREATE INDEX IF NOT EXISTS ix_elemta_message_priority ON elemta_message (state, priority, received_at);

-- Messages per state and priority, kept by triggers in the same transaction as the rows they count (as
-- elemta_state_count), so the statistics never count the listing.
CREATE TABLE IF NOT EXISTS elemta_priority_count
(
    state    INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (state, priority)
) WITHOUT ROWID;

INSERT OR IGNORE INTO elemta_priority_count (state, priority, count)
SELECT state, priority, COUNT(*) FROM elemta_message GROUP BY state, priority;

CREATE TRIGGER IF NOT EXISTS tr_elemta_message_priority_insert AFTER INSERT ON elemta_message
BEGIN
    INSERT INTO elemta_priority_count (state, priority, count) VALUES (NEW.state, NEW.priority, 1)
    ON CONFLICT (state, priority) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER IF NOT EXISTS tr_elemta_message_priority_delete AFTER DELETE ON elemta_message
BEGIN
    UPDATE elemta_priority_count SET count = count - 1 WHERE state = OLD.state AND priority = OLD.priority;
END;

CREATE TRIGGER IF NOT EXISTS tr_elemta_message_priority_update AFTER UPDATE OF state, priority ON elemta_message
    WHEN OLD.state <> NEW.state OR OLD.priority <> NEW.priority
BEGIN
    UPDATE elemta_priority_count SET count = count - 1 WHERE state = OLD.state AND priority = OLD.priority;
    INSERT INTO elemta_priority_count (state, priority, count) VALUES (NEW.state, NEW.priority, 1)
    ON CONFLICT (state, priority) DO UPDATE SET count = count + 1;
END;
