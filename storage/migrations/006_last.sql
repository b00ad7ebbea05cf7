-- XEP-0012 last activity: when each account last went offline and its last status text.
-- One row per account at most; not a history of sessions.
CREATE TABLE last_activity (
    account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    logout_at  timestamptz NOT NULL,
    status     text
);
