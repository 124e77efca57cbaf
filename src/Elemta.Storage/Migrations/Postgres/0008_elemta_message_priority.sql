-- The admin plane's queue listing by priority and its counts per priority (GET /api/queue/{state}?sort=priority,
-- GET /api/queue/stats).
--
-- Listing by priority, most urgent first, then oldest first: keyset paging over (priority, received_at, message_id)
-- reads one range of this index. Building it on a large queue blocks writes to elemta_message meanwhile; run
-- `elemta db migrate` in a quiet moment (docs/cluster.md).
LOCK TABLE elemta_message IN SHARE ROW EXCLUSIVE MODE;

CREATE INDEX IF NOT EXISTS ix_elemta_message_priority ON elemta_message (state, priority, received_at, message_id);

-- Messages per state and priority, kept by a trigger in the same transaction as the rows they count, slotted by
-- server process like elemta_state_count so concurrent acceptances do not queue on one row lock. Priorities are not
-- a fixed set, so slots are created on first use (upsert) and a slot may go negative; readers add the slots up.
CREATE TABLE IF NOT EXISTS elemta_priority_count
(
    state    integer  NOT NULL,
    priority integer  NOT NULL,
    slot     smallint NOT NULL,
    count    bigint   NOT NULL,
    PRIMARY KEY (state, priority, slot)
);

INSERT INTO elemta_priority_count (state, priority, slot, count)
SELECT state, priority, 0, COUNT(*) FROM elemta_message GROUP BY state, priority
ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION elemta_message_priority_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.state = NEW.state AND OLD.priority = NEW.priority THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO elemta_priority_count (state, priority, slot, count) VALUES (OLD.state, OLD.priority, pg_backend_pid() % 16, -1)
        ON CONFLICT (state, priority, slot) DO UPDATE SET count = elemta_priority_count.count - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO elemta_priority_count (state, priority, slot, count) VALUES (NEW.state, NEW.priority, pg_backend_pid() % 16, 1)
        ON CONFLICT (state, priority, slot) DO UPDATE SET count = elemta_priority_count.count + 1;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS tr_elemta_message_priority_count ON elemta_message;
CREATE TRIGGER tr_elemta_message_priority_count AFTER INSERT OR DELETE OR UPDATE OF state, priority ON elemta_message
    FOR EACH ROW EXECUTE FUNCTION elemta_message_priority_count();
