-- MUC rooms that outlive their occupants (muc#roomconfig_persistentroom): the room's address in
-- clear (needed to route and to list rooms at start-up), everything else sealed.
--
-- id: chosen by the server (random, positive); the room's data key is wrapped under the master
-- key with associated data "-id" (the vault's account-key wrapping, negated so that a room key
-- can never pass for an account key). state: the room's configuration, subject, affiliations and
-- occupant-id secret, sealed under that key with associated data "muc:<id>". Deleting the row
-- destroys the key with it (crypto-shredding); deleting the creator's account deletes the room.
CREATE TABLE muc_rooms (
    id            bigint PRIMARY KEY CHECK (id > 0),
    service       text NOT NULL,
    node          text NOT NULL,
    owner_account bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    wrapped       bytea NOT NULL,
    master_id     bytea NOT NULL,
    state         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service, node)
);
CREATE INDEX muc_rooms_owner ON muc_rooms (owner_account);
