-- Message content, stored once per message whatever its number of recipient domains, with the envelope as
-- accepted (JSON). Together with the queue rows below, written in the same transaction, this is what makes a
-- message durable before the 250 reply; the MessageGrain's own state records what happens afterwards.
CREATE TABLE IF NOT EXISTS elemta_message_body
(
    message_id TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL, -- Unix time, milliseconds
    size       INTEGER NOT NULL,
    content    BLOB    NOT NULL,
    envelope   TEXT    NULL
);

-- One row per (domain, message) waiting for delivery. Enqueue, reschedule and remove each touch one row, so
-- their cost does not grow with the queue (see docs/architecture.md).
CREATE TABLE IF NOT EXISTS elemta_queue
(
    domain     TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    priority   INTEGER NOT NULL,
    due_at     INTEGER NOT NULL, -- Unix time, milliseconds
    PRIMARY KEY (domain, message_id)
) WITHOUT ROWID;

-- A domain's due entries, earliest first, without touching the ones not yet due.
CREATE INDEX IF NOT EXISTS ix_elemta_queue_domain_due ON elemta_queue (domain, due_at);
-- The sweep that wakes queues with due entries after a restart or a deactivation.
CREATE INDEX IF NOT EXISTS ix_elemta_queue_due ON elemta_queue (due_at, domain);
