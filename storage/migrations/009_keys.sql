-- The vault's account data keys, stored only wrapped by the master key (storage/wb_vault.c), and
-- sealed payloads from now on. Not for the master key itself, which never enters the database.
--
-- Rows written before this migration hold clear payloads. Nothing has been deployed yet, so they
-- are deleted here (development databases only) rather than sealed: no clear payload remains.
DELETE FROM offline_messages;
DELETE FROM xml_documents;

-- wrapped: XChaCha20-Poly1305 of the 32-byte data key (associated data: the account id);
-- master_id: 8-byte fingerprint of the master key that wraps it (rotation re-wraps by batches).
CREATE TABLE account_keys (
    account_id   bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    wrapped      bytea NOT NULL,
    master_id    bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz
);
CREATE INDEX account_keys_master ON account_keys (master_id);

-- Stores a new data key unless the account already has one (another worker was first), and
-- returns the one that stays; no row when the account does not exist (any more).
CREATE FUNCTION account_key_put(p_account bigint, p_wrapped bytea, p_master bytea)
RETURNS TABLE (wrapped bytea, master_id bytea)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_keys (account_id, wrapped, master_id)
    SELECT a.id, p_wrapped, p_master FROM accounts a WHERE a.id = p_account
    ON CONFLICT (account_id) DO NOTHING;
    RETURN QUERY SELECT k.wrapped, k.master_id FROM account_keys k WHERE k.account_id = p_account;
END
$$;

-- Offline payloads are sealed with "offline:<account_id>:<seal_id>" as associated data; the id is
-- chosen by the server before the insert (the row's bigserial is not known then).
ALTER TABLE offline_messages ADD COLUMN seal_id uuid NOT NULL;

-- Crypto-shredding: deleting an account destroys its data key first, explicitly, so that any copy
-- of its sealed rows left anywhere (backups, replicas) can no longer be opened; then as before
-- (008): what other rosters hold about it, and the account with everything it owns (cascade).
CREATE OR REPLACE FUNCTION account_delete(p_domain text, p_node text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
    jid text := p_node || '@' || p_domain;
BEGIN
    SELECT id INTO acc FROM accounts WHERE domain = p_domain AND node = p_node;
    IF acc IS NULL THEN
        RETURN NULL;
    END IF;
    DELETE FROM account_keys WHERE account_id = acc;
    INSERT INTO roster_versions (account_id) VALUES (acc) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM roster_versions
     WHERE account_id = acc
        OR account_id IN (SELECT account_id FROM roster_items WHERE contact = jid)
     ORDER BY account_id FOR UPDATE;
    WITH gone AS (
        DELETE FROM roster_items WHERE contact = jid AND account_id <> acc RETURNING account_id
    )
    UPDATE roster_versions SET version = version + 1
     WHERE account_id IN (SELECT account_id FROM gone);
    DELETE FROM accounts WHERE id = acc;
    RETURN acc;
END
$$;
