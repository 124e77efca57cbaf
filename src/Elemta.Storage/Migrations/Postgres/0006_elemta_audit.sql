-- An append-only record of every credential and account change (who, what, when): user accounts and API keys.
-- Never holds a secret: the detail names what changed, not the new value. The same table as SQLite's 0005; the
-- cluster shares it, so every silo's changes are in one log.
CREATE TABLE IF NOT EXISTS elemta_audit
(
    id      bigserial NOT NULL PRIMARY KEY,
    at      bigint    NOT NULL, -- Unix time, milliseconds
    actor   text      NOT NULL, -- who: a user name, 'cli' or 'system'
    action  text      NOT NULL, -- what: user.create, user.password, user.update, user.delete, apikey.create, apikey.revoke
    subject text      NOT NULL, -- the account name or API key id acted on
    detail  text      NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_elemta_audit_subject ON elemta_audit (subject, at);
