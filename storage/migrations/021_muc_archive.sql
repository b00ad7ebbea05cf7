-- Room archives (XEP-0313 on a MUC room JID), author retraction (XEP-0424) and moderation
-- (XEP-0425), and room expiry of archived messages. Payloads are sealed by the room's data key.
--
-- One row per archived groupchat message of a persistent room. The row belongs to its room, whose
-- row belongs to the creator's account (muc_rooms.owner_account ON DELETE CASCADE): deleting the
-- room or that account deletes the archive with the room key (crypto-shredding).
-- payload: the message as the room broadcast it, sealed under the room key with associated data
-- "mucarch:<room_id>:<stanza_id>"; once retracted or moderated, a sealed tombstone instead.
-- nick_hash, real_hash: keyed hashes (the room's secret) of the author's nickname and bare real
-- JID, for the 'with' filter and to check that a retraction comes from the author; nothing in
-- clear names the author. expires_us: when the room's expiry setting wants the row gone
-- (microseconds since the epoch), NULL: kept.
CREATE TABLE muc_archive (
    id         bigserial PRIMARY KEY,
    room_id    bigint NOT NULL REFERENCES muc_rooms (id) ON DELETE CASCADE,
    stanza_id  uuid NOT NULL,
    ts_us      bigint NOT NULL,
    nick_hash  bytea NOT NULL,
    real_hash  bytea NOT NULL,
    expires_us bigint,
    retracted  boolean NOT NULL DEFAULT false,
    payload    bytea NOT NULL,
    UNIQUE (room_id, stanza_id)
);
CREATE INDEX muc_archive_room ON muc_archive (room_id, id);
CREATE INDEX muc_archive_expiry ON muc_archive (expires_us) WHERE expires_us IS NOT NULL;
