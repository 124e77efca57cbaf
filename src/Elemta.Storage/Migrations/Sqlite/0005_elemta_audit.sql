-- An append-only record of every credential and account change (who, what, when): user accounts and API keys.
-- Never holds a secret: the detail names what changed, not the new value.
CREATE TABLE IF NOT EXISTS elemta_audit
(
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL, -- Unix time, milliseconds
    actor   TEXT    NOT NULL, -- who: a user name, 'cli' or 'system'
    action  TEXT    NOT NULL, -- what: user.create, user.password, user.update, user.delete, apikey.create, apikey.revoke
    subject TEXT    NOT NULL, -- the account name or API key id acted on
    detail  TEXT    NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_elemta_audit_subject ON elemta_audit (subject, at);
