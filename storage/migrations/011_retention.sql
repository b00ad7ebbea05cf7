-- Disappearing messages: per-account and per-conversation retention settings, XEP-0466 timers on
-- archived and queued messages, and the sweep that erases what outlived them. Not for the server
-- default retention, which comes from the configuration as a parameter of the sweep.

-- peer '' is the account's own setting; otherwise the other party's bare JID (a conversation).
-- seconds: how long messages are kept; 0 keeps them forever.
CREATE TABLE retention_settings (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    peer       text NOT NULL DEFAULT '',
    seconds    bigint NOT NULL CHECK (seconds >= 0),
    PRIMARY KEY (account_id, peer)
);

-- XEP-0466: when a message carrying a timer must be gone (NULL: no timer).
ALTER TABLE archive ADD COLUMN expires_at timestamptz;
ALTER TABLE offline_messages ADD COLUMN expires_at timestamptz;
CREATE INDEX archive_expires ON archive (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX offline_messages_expires ON offline_messages (expires_at)
    WHERE expires_at IS NOT NULL;

-- Messages received before this instant have outlived a retention of p_seconds (scaled by
-- p_unit_ms milliseconds per second); -infinity when p_seconds is 0 (kept forever).
CREATE FUNCTION retention_cutoff(p_seconds bigint, p_unit_ms bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_seconds IS NULL OR p_seconds <= 0 THEN '-infinity'::timestamptz
                ELSE now() - p_seconds * p_unit_ms * interval '1 millisecond' END
$$;

-- Erases at most p_batch archived and p_batch queued messages whose timer ran out or whose
-- effective retention (the conversation's setting, else the account's, else p_default) has
-- passed; of one account when p_domain is not NULL. Returns how many of each went.
CREATE FUNCTION retention_sweep(p_default bigint, p_unit_ms bigint, p_batch integer,
                                p_domain text, p_node text)
RETURNS TABLE (o_archived bigint, o_queued bigint)
LANGUAGE sql AS $$
    WITH acc AS (SELECT id FROM accounts WHERE domain = p_domain AND node = p_node),
    a AS (
        DELETE FROM archive WHERE id IN (
            SELECT x.id FROM archive x
              LEFT JOIN retention_settings c ON c.account_id = x.account_id AND c.peer = x.peer
              LEFT JOIN retention_settings s ON s.account_id = x.account_id AND s.peer = ''
             WHERE (p_domain IS NULL OR x.account_id = (SELECT id FROM acc))
               AND (x.expires_at <= now() OR
                    x.ts <= retention_cutoff(coalesce(c.seconds, s.seconds, p_default), p_unit_ms))
             LIMIT p_batch)
        RETURNING 1),
    q AS (
        DELETE FROM offline_messages WHERE id IN (
            SELECT o.id FROM offline_messages o
              LEFT JOIN retention_settings c
                     ON c.account_id = o.account_id AND c.peer = split_part(o.sender, '/', 1)
              LEFT JOIN retention_settings s ON s.account_id = o.account_id AND s.peer = ''
             WHERE (p_domain IS NULL OR o.account_id = (SELECT id FROM acc))
               AND (o.expires_at <= now() OR
                    o.received_at <= retention_cutoff(coalesce(c.seconds, s.seconds, p_default),
                                                      p_unit_ms))
             LIMIT p_batch)
        RETURNING 1)
    SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM q)
$$;

-- Sets (p_seconds >= 0) or removes (p_seconds < 0) the setting of node@domain for p_peer ('':
-- the account's own). Returns the account's id, NULL when there is no such account.
CREATE FUNCTION retention_set(p_domain text, p_node text, p_peer text, p_seconds bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
BEGIN
    SELECT id INTO acc FROM accounts WHERE domain = p_domain AND node = p_node;
    IF acc IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_seconds < 0 THEN
        DELETE FROM retention_settings WHERE account_id = acc AND peer = p_peer;
    ELSE
        INSERT INTO retention_settings (account_id, peer, seconds) VALUES (acc, p_peer, p_seconds)
        ON CONFLICT (account_id, peer) DO UPDATE SET seconds = EXCLUDED.seconds;
    END IF;
    RETURN acc;
END
$$;
