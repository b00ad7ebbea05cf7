-- XEP-0357 push notifications: the app servers (service JID and node) each account enabled, with
-- the publish-options form sealed (it holds the app server's secret). Written and read only by
-- storage/wb_store_push.c; service and node stay clear because queries select by them.
CREATE TABLE push_registrations (
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    service        text NOT NULL,
    node           text NOT NULL,
    options_sealed bytea,
    enabled_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, service, node)
);
