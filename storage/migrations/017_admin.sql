-- The REST admin API's principals: admin users (separate from chat accounts), their login
-- tokens and API keys for automation. Secrets are stored only hashed or sealed; no chat data here.
CREATE TABLE admin_users (
    id             bigint PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    role           text NOT NULL CHECK (role IN ('superadmin', 'operator', 'auditor', 'dpo')),
    pw_hash        text NOT NULL,            -- Argon2id (crypto_pwhash_str)
    totp_master_id bytea NOT NULL,           -- master key that wraps totp_key
    totp_key       bytea NOT NULL,           -- the row's data key, wrapped by the master key
    totp_sealed    bytea NOT NULL,           -- the TOTP secret, sealed with that data key
    totp_last_step bigint NOT NULL DEFAULT 0, -- last TOTP time step accepted (no replay)
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE admin_users_id_seq OWNED BY admin_users.id;

-- Login tokens: only their BLAKE2b hash is kept.
CREATE TABLE admin_tokens (
    hash       bytea PRIMARY KEY,
    admin_id   bigint NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked    boolean NOT NULL DEFAULT false
);
CREATE INDEX admin_tokens_expiry ON admin_tokens (expires_at);

CREATE TABLE admin_apikeys (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    role       text NOT NULL CHECK (role IN ('superadmin', 'operator', 'auditor', 'dpo')),
    hash       bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
