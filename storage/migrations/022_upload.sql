-- XEP-0363 HTTP File Upload: uploaded files, sealed at rest (storage/wb_store_upload.c). Not for
-- slots, which are stateless (an HMAC token checked by the HTTP side, server/upload/).
--
-- Each file has its own random key, stored only sealed by the uploader's data key (file_key), so
-- that deleting the account (which destroys its data key first) shreds every copy of its files.
-- The content is a libsodium secretstream (header, then chunks of at most 256 KiB); the file's
-- name and content type are sealed too (meta). Only the random slot and the size are in clear.
CREATE TABLE uploads (
    id         bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    slot       text NOT NULL UNIQUE,
    size       bigint NOT NULL CHECK (size >= 0),
    file_key   bytea NOT NULL,
    header     bytea NOT NULL,
    meta       bytea NOT NULL,
    chunks     integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_account ON uploads (account_id);
CREATE INDEX uploads_created ON uploads (created_at);

CREATE TABLE upload_chunks (
    upload_id  bigint NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (upload_id, seq)
);
-- Chunks are stored sealed already: no point in compressing them.
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
