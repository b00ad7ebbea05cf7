-- XEP-0191 block lists: the JIDs each account blocks, in prepared (normalised) form.
-- Not for privacy lists (XEP-0016) or roster data; deleting an account removes its list.
CREATE TABLE blocklist (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    jid        text NOT NULL CHECK (length(jid) BETWEEN 1 AND 3071),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, jid)
);
