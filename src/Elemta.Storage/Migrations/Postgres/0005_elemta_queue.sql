-- Elemta's own tables on PostgreSQL: the same schema and semantics as the SQLite migrations 0003 and 0004 (see
-- docs/architecture.md), in one script since PostgreSQL installations start at this version. Times are Unix
-- milliseconds (bigint) as in SQLite, so both stores share their queries' meaning and their tests.

-- Message content, stored once per message, with the envelope as accepted (JSON). Written in the same transaction
-- as the queue rows: that commit is what makes a message durable before the 250 reply.
CREATE TABLE IF NOT EXISTS elemta_message_body
(
    message_id text   NOT NULL PRIMARY KEY,
    created_at bigint NOT NULL,
    size       bigint NOT NULL,
    content    bytea  NOT NULL,
    envelope   text   NULL
);

-- One row per (domain, message) waiting for delivery; a held entry is never due until released.
CREATE TABLE IF NOT EXISTS elemta_queue
(
    domain     text    NOT NULL,
    message_id text    NOT NULL,
    priority   integer NOT NULL,
    due_at     bigint  NOT NULL,
    held       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (domain, message_id)
);

-- Due work of one domain, one priority class at a time, earliest first (entries not held only).
CREATE INDEX IF NOT EXISTS ix_elemta_queue_work ON elemta_queue (domain, priority, due_at) WHERE held = 0;
-- The earliest due time of one domain (its timer).
CREATE INDEX IF NOT EXISTS ix_elemta_queue_next ON elemta_queue (domain, due_at) WHERE held = 0;
-- The sweep that wakes queues with due entries after a restart, a deactivation or a silo's death.
CREATE INDEX IF NOT EXISTS ix_elemta_queue_due ON elemta_queue (due_at, domain) WHERE held = 0;
-- Operations on one message (hold, release, delete) find its entries in every domain.
CREATE INDEX IF NOT EXISTS ix_elemta_queue_message ON elemta_queue (message_id);

-- One row per message from acceptance until the retention period after it finished. state: 0 Active, 1 Deferred,
-- 2 Held, 3 Failed, 4 Delivered (MessageQueueState).
CREATE TABLE IF NOT EXISTS elemta_message
(
    message_id  text    NOT NULL PRIMARY KEY,
    state       integer NOT NULL,
    priority    integer NOT NULL,
    sender      text    NOT NULL,
    recipients  integer NOT NULL,
    size        bigint  NOT NULL,
    received_at bigint  NOT NULL,
    updated_at  bigint  NOT NULL,
    finished_at bigint  NULL,
    recipient_states text NULL, -- per-recipient state (JSON), written with every recorded attempt
    envelope    text    NULL    -- the envelope (JSON), kept here once the message finished and its content went
);

CREATE INDEX IF NOT EXISTS ix_elemta_message_state ON elemta_message (state, received_at);

-- Counters kept by triggers in the same transaction as the rows they count: statistics never scan the queue and
-- never drift from it. A transaction holds the lock of a counter row it changed until it commits, so one row per
-- counter would make every acceptance wait for the previous one's commit (no group commit). Each counter is
-- therefore split into 16 slots chosen by the server process of the connection (concurrent transactions run on
-- different connections, hence mostly different slots), and readers add the slots up.
CREATE TABLE IF NOT EXISTS elemta_state_count
(
    state integer  NOT NULL,
    slot  smallint NOT NULL,
    count bigint   NOT NULL,
    PRIMARY KEY (state, slot)
);
INSERT INTO elemta_state_count (state, slot, count)
SELECT s, n, 0 FROM generate_series(0, 4) s, generate_series(0, 15) n ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION elemta_message_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE elemta_state_count SET count = count + 1 WHERE state = NEW.state AND slot = pg_backend_pid() % 16;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE elemta_state_count SET count = count - 1 WHERE state = OLD.state AND slot = pg_backend_pid() % 16;
    ELSIF OLD.state <> NEW.state THEN
        UPDATE elemta_state_count SET count = count - 1 WHERE state = OLD.state AND slot = pg_backend_pid() % 16;
        UPDATE elemta_state_count SET count = count + 1 WHERE state = NEW.state AND slot = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS tr_elemta_message_count ON elemta_message;
CREATE TRIGGER tr_elemta_message_count AFTER INSERT OR DELETE OR UPDATE OF state ON elemta_message
    FOR EACH ROW EXECUTE FUNCTION elemta_message_count();

-- Entries per domain, and how many of them are held; slotted like the state counters, since one busy domain
-- would otherwise be one hot row.
CREATE TABLE IF NOT EXISTS elemta_domain_count
(
    domain text     NOT NULL,
    slot   smallint NOT NULL,
    queued bigint   NOT NULL,
    held   bigint   NOT NULL,
    PRIMARY KEY (domain, slot)
);

CREATE OR REPLACE FUNCTION elemta_queue_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO elemta_domain_count (domain, slot, queued, held) VALUES (NEW.domain, pg_backend_pid() % 16, 1, NEW.held)
        ON CONFLICT (domain, slot) DO UPDATE SET queued = elemta_domain_count.queued + 1, held = elemta_domain_count.held + NEW.held;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO elemta_domain_count (domain, slot, queued, held) VALUES (OLD.domain, pg_backend_pid() % 16, -1, -OLD.held)
        ON CONFLICT (domain, slot) DO UPDATE SET queued = elemta_domain_count.queued - 1, held = elemta_domain_count.held - OLD.held;
    ELSIF OLD.held <> NEW.held THEN
        INSERT INTO elemta_domain_count (domain, slot, queued, held) VALUES (NEW.domain, pg_backend_pid() % 16, 0, NEW.held - OLD.held)
        ON CONFLICT (domain, slot) DO UPDATE SET held = elemta_domain_count.held - OLD.held + NEW.held;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS tr_elemta_queue_count ON elemta_queue;
CREATE TRIGGER tr_elemta_queue_count AFTER INSERT OR DELETE OR UPDATE OF held ON elemta_queue
    FOR EACH ROW EXECUTE FUNCTION elemta_queue_count();

-- Delivery outcomes per minute (recipients delivered, deferred, failed), written with each recorded attempt.
-- Slotted like the counters above (slot = server process % 16).
CREATE TABLE IF NOT EXISTS elemta_delivery_rate
(
    minute    bigint   NOT NULL,
    slot      smallint NOT NULL,
    delivered bigint   NOT NULL,
    deferred  bigint   NOT NULL,
    failed    bigint   NOT NULL,
    PRIMARY KEY (minute, slot)
);

-- Every delivery attempt, per message and domain, kept as long as the message is listed.
CREATE TABLE IF NOT EXISTS elemta_delivery_attempt
(
    message_id     text   NOT NULL,
    domain         text   NOT NULL,
    started_at     bigint NOT NULL,
    duration_ms    bigint NOT NULL,
    remote_host    text   NULL,
    remote_address text   NULL,
    tls            text   NULL,
    results        text   NOT NULL,
    PRIMARY KEY (message_id, started_at, domain)
);
