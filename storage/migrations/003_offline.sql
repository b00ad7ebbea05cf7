-- Offline message queue (XEP-0160): stanzas kept for an account with no available resource,
-- delivered in id order and deleted once written. Not for message archives (MAM).
CREATE TABLE offline_messages (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    received_at timestamptz NOT NULL DEFAULT now(),
    sender      text NOT NULL,
    payload     bytea NOT NULL
);

-- Per-account order of delivery, and the quota count.
CREATE INDEX offline_messages_account ON offline_messages (account_id, id);
