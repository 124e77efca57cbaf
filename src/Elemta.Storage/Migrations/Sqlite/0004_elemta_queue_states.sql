-- Queue states, priorities and statistics (issue 4).
--
-- elemta_queue gains a held flag: a held entry is never due, whatever its due time, until an operator releases it.
-- The indexes that find due work cover only entries that are not held (partial indexes), and the due-work index
-- leads with priority so a domain's higher-priority entries are found first without scanning lower ones.
ALTER TABLE elemta_queue ADD COLUMN held INTEGER NOT NULL DEFAULT 0;

DROP INDEX IF EXISTS ix_elemta_queue_domain_due;
DROP INDEX IF EXISTS ix_elemta_queue_due;
-- Due work of one domain, one priority class at a time, earliest first.
CREATE INDEX IF NOT EXISTS ix_elemta_queue_work ON elemta_queue (domain, priority, due_at) WHERE held = 0;
-- The earliest due time of one domain (its timer).
CREATE INDEX IF NOT EXISTS ix_elemta_queue_next ON elemta_queue (domain, due_at) WHERE held = 0;
-- The sweep that wakes queues with due entries after a restart or a deactivation.
CREATE INDEX IF NOT EXISTS ix_elemta_queue_due ON elemta_queue (due_at, domain) WHERE held = 0;
-- Operations on one message (hold, release, delete) find its entries in every domain.
CREATE INDEX IF NOT EXISTS ix_elemta_queue_message ON elemta_queue (message_id);

-- One row per message from acceptance until the retention period after it finished: the queue state an operator
-- lists and counts by, and the message's record: its per-recipient state (JSON, written with every attempt's outcome)
-- and, once finished, its envelope (JSON; the content and its envelope copy are deleted then).
-- state: 0 Active, 1 Deferred, 2 Held, 3 Failed, 4 Delivered (MessageQueueState).
CREATE TABLE IF NOT EXISTS elemta_message
(
    message_id  TEXT    NOT NULL PRIMARY KEY,
    state       INTEGER NOT NULL,
    priority    INTEGER NOT NULL,
    sender      TEXT    NOT NULL,
    recipients  INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    received_at INTEGER NOT NULL, -- Unix time, milliseconds
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER NULL,
    recipient_states TEXT NULL,
    envelope    TEXT    NULL
) WITHOUT ROWID;

-- Listing by state, oldest first; the oldest pending message; retention of finished ones.
CREATE INDEX IF NOT EXISTS ix_elemta_message_state ON elemta_message (state, received_at);

-- Counters kept by triggers in the same transaction as the rows they count, so statistics never scan the queue
-- and never drift from it, even across a crash.
CREATE TABLE IF NOT EXISTS elemta_state_count
(
    state INTEGER NOT NULL PRIMARY KEY,
    count INTEGER NOT NULL
);
INSERT OR IGNORE INTO elemta_state_count (state, count) VALUES (0, 0), (1, 0), (2, 0), (3, 0), (4, 0);

CREATE TRIGGER IF NOT EXISTS tr_elemta_message_insert AFTER INSERT ON elemta_message
BEGIN
    UPDATE elemta_state_count SET count = count + 1 WHERE state = NEW.state;
END;

CREATE TRIGGER IF NOT EXISTS tr_elemta_message_delete AFTER DELETE ON elemta_message
BEGIN
    UPDATE elemta_state_count SET count = count - 1 WHERE state = OLD.state;
END;

CREATE TRIGGER IF NOT EXISTS tr_elemta_message_state AFTER UPDATE OF state ON elemta_message WHEN OLD.state <> NEW.state
BEGIN
    UPDATE elemta_state_count SET count = count - 1 WHERE state = OLD.state;
    UPDATE elemta_state_count SET count = count + 1 WHERE state = NEW.state;
END;

-- Entries per domain, and how many of them are held.
CREATE TABLE IF NOT EXISTS elemta_domain_count
(
    domain TEXT    NOT NULL PRIMARY KEY,
    queued INTEGER NOT NULL,
    held   INTEGER NOT NULL
) WITHOUT ROWID;

INSERT OR IGNORE INTO elemta_domain_count (domain, queued, held)
SELECT domain, COUNT(*), SUM(held) FROM elemta_queue GROUP BY domain;

CREATE TRIGGER IF NOT EXISTS tr_elemta_queue_insert AFTER INSERT ON elemta_queue
BEGIN
    INSERT INTO elemta_domain_count (domain, queued, held) VALUES (NEW.domain, 1, NEW.held)
    ON CONFLICT (domain) DO UPDATE SET queued = queued + 1, held = held + NEW.held;
END;

CREATE TRIGGER IF NOT EXISTS tr_elemta_queue_delete AFTER DELETE ON elemta_queue
BEGIN
    UPDATE elemta_domain_count SET queued = queued - 1, held = held - OLD.held WHERE domain = OLD.domain;
END;

CREATE TRIGGER IF NOT EXISTS tr_elemta_queue_held AFTER UPDATE OF held ON elemta_queue WHEN OLD.held <> NEW.held
BEGIN
    UPDATE elemta_domain_count SET held = held - OLD.held + NEW.held WHERE domain = NEW.domain;
END;

-- Delivery outcomes per minute (recipients delivered, deferred, failed), written with each recorded attempt.
CREATE TABLE IF NOT EXISTS elemta_delivery_rate
(
    minute    INTEGER NOT NULL PRIMARY KEY, -- Unix time, minutes
    delivered INTEGER NOT NULL,
    deferred  INTEGER NOT NULL,
    failed    INTEGER NOT NULL
);

-- Messages already queued before this migration get their row, Active: their grains know the rest.
INSERT OR IGNORE INTO elemta_message (message_id, state, priority, sender, recipients, size, received_at, updated_at)
SELECT b.message_id, 0, COALESCE(MIN(q.priority), 200), '', 0, b.size, b.created_at, b.created_at
FROM elemta_message_body b LEFT JOIN elemta_queue q ON q.message_id = b.message_id
GROUP BY b.message_id;

-- Every delivery attempt, per message and domain, kept as long as the message is listed: when, where, over what
-- TLS, how long, and each recipient's reply and error class (JSON). Written in the same transaction as the outcome.
CREATE TABLE IF NOT EXISTS elemta_delivery_attempt
(
    message_id     TEXT    NOT NULL,
    domain         TEXT    NOT NULL,
    started_at     INTEGER NOT NULL, -- Unix time, milliseconds
    duration_ms    INTEGER NOT NULL,
    remote_host    TEXT    NULL,
    remote_address TEXT    NULL,
    tls            TEXT    NULL,
    results        TEXT    NOT NULL,
    PRIMARY KEY (message_id, started_at, domain)
) WITHOUT ROWID;
