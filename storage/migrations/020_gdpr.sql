-- GDPR requests (issue 6): one row per export, rectification or erasure asked through the admin
-- API, with its status and who asked. Not the data itself, which is never copied here.
--
-- account_id is SET NULL (not CASCADE) when the account goes: the row is the controller's record
-- that a request was handled (the erasure receipt), not data the account owns; it keeps the JID
-- it was about (target) as the audit log does, and nothing else of the account.
CREATE TABLE gdpr_requests (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind        text NOT NULL CHECK (kind IN ('export', 'erase', 'rectify')),
    target      text NOT NULL,
    account_id  bigint REFERENCES accounts (id) ON DELETE SET NULL,
    actor       text NOT NULL,
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'completed', 'failed', 'rejected')),
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX gdpr_requests_created ON gdpr_requests (created_at DESC, id);
