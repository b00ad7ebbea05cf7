-- Accounts and their SCRAM credentials (RFC 5802): passwords themselves are never stored.
-- Not for rosters or any other per-user data (later migrations).
CREATE TABLE accounts (
    id         bigserial PRIMARY KEY,
    domain     text NOT NULL,
    node       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled   boolean NOT NULL DEFAULT false,
    UNIQUE (domain, node)
);

-- hash: 0 = SHA-1, 1 = SHA-256 (wb_scram_hash).
CREATE TABLE account_scram (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    hash       smallint NOT NULL CHECK (hash IN (0, 1)),
    salt       bytea NOT NULL,
    iterations integer NOT NULL CHECK (iterations > 0),
    stored_key bytea NOT NULL,
    server_key bytea NOT NULL,
    PRIMARY KEY (account_id, hash)
);
