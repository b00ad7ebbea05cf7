-- Invite tokens for in-band registration (XEP-0077, tokens as in XEP-0379/0401): only the
-- SHA-256 of a token is stored, never the token. Not for the accounts themselves (001).
CREATE TABLE invites (
    id         bigserial PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    domain     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    -- the account created with the invite; deleting it deletes the used invite too
    used_by    bigint REFERENCES accounts (id) ON DELETE CASCADE,
    CHECK ((used_at IS NULL) = (used_by IS NULL))
);
