-- Deleting an account: its own rows go by ON DELETE CASCADE; this also removes what other
-- accounts' rosters hold about it (subscriptions, pending requests, pre-approvals), so that a
-- later account with the same name inherits nothing, and bumps those rosters' versions so that
-- their clients reload. Roster version rows are locked first, in account order, the same order
-- roster changes take their locks, so that a deletion cannot deadlock with them.
CREATE FUNCTION account_delete(p_domain text, p_node text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
    jid text := p_node || '@' || p_domain;
BEGIN
    SELECT id INTO acc FROM accounts WHERE domain = p_domain AND node = p_node;
    IF acc IS NULL THEN
        RETURN NULL;
    END IF;
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
