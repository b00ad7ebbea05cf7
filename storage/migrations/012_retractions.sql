-- Retractions remembered per account (XEP-0424): a copy archived after its retraction (the two
-- writes wait for different accounts' keys and can pass each other) is stored as a tombstone.
-- origin_hash is the same keyed hash as archive.origin_hash (sender and reference), so a
-- retraction by anyone but the original sender matches nothing.
CREATE TABLE archive_retractions (
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    origin_hash bytea NOT NULL,
    retract_id  text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, origin_hash)
);
