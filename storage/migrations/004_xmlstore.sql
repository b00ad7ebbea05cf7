-- Per-account XML documents: the vCard (XEP-0054, kind 'vcard', key '') and private XML storage
-- (XEP-0049, kind 'private', key '{namespace}name'). value is written and read only by
-- storage/wb_store_xmlstore.c. Not for rosters, offline messages or anything else.
CREATE TABLE xml_documents (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('vcard', 'private')),
    key        text NOT NULL,
    value      bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, kind, key)
);
