-- The archive as the source of truth for offline delivery, claims on queued messages, and the
-- trimming of remembered retractions. Not for what is archived (010) nor for retention (011).

-- A queued message that is also archived for its recipient refers to that archive row
-- (archive_stanza_id) and holds no payload: the payload is read from the archive at delivery, and
-- whatever erases the archived copy (retraction, retention, XEP-0466 timer, account deletion)
-- erases what would be delivered. archive_ns: the archived form declares xmlns='jabber:client' on
-- its start tag where the delivered stanza did not (removed again at delivery). Messages that are
-- not archived keep their own sealed payload, as before. Exactly one of the two is set.
-- claim, claimed_at: the delivery that took the row (a random id per delivery); a claim older
-- than 30 seconds is void (a server that stopped between taking and deleting).
ALTER TABLE offline_messages
    ALTER COLUMN payload DROP NOT NULL,
    ADD COLUMN archive_stanza_id uuid,
    ADD COLUMN archive_ns boolean NOT NULL DEFAULT false,
    ADD COLUMN claim uuid,
    ADD COLUMN claimed_at timestamptz,
    ADD CONSTRAINT offline_messages_archive_row FOREIGN KEY (account_id, archive_stanza_id)
        REFERENCES archive (account_id, stanza_id) ON DELETE CASCADE,
    ADD CONSTRAINT offline_messages_one_copy
        CHECK ((payload IS NULL) <> (archive_stanza_id IS NULL));
CREATE INDEX offline_messages_archive_ref ON offline_messages (account_id, archive_stanza_id)
    WHERE archive_stanza_id IS NOT NULL;

-- Remembered retractions are needed only until a late archive copy (seconds) has been written:
-- the server's sweep trims those older than 30 days.
CREATE INDEX archive_retractions_at ON archive_retractions (at);

-- As in 011, plus (server-wide sweeps only) at most p_batch remembered retractions older than 30
-- days (a data-modifying WITH runs whether or not it is read). Queued rows that refer to an erased archive row go with it (foreign key cascade).
CREATE OR REPLACE FUNCTION retention_sweep(p_default bigint, p_unit_ms bigint, p_batch integer,
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
        RETURNING 1),
    r AS (
        DELETE FROM archive_retractions WHERE ctid IN (
            SELECT x.ctid FROM archive_retractions x
             WHERE p_domain IS NULL AND x.at < now() - interval '30 days'
             LIMIT p_batch)
        RETURNING 1)
    SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM q)
$$;
