-- Message archives (XEP-0313) with server-assigned stanza-ids (XEP-0359), archiving preferences,
-- and retraction (XEP-0424). Payloads are sealed by the vault; only what queries need is clear.

-- One row per archived message per owner. payload: the stanza as delivered, sealed with the
-- owner's data key (AD "archive:<account_id>:<stanza_id>"); NULL once retracted (tombstone).
-- origin_hash: BLAKE2b of the sender's bare JID and the message's origin-id (or id), used only to
-- match a retraction from that same sender. peer: the other party's bare JID.
CREATE TABLE archive (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    stanza_id    uuid NOT NULL,
    ts           timestamptz NOT NULL,
    peer         text NOT NULL,
    outgoing     boolean NOT NULL,
    origin_hash  bytea NOT NULL,
    retracted    boolean NOT NULL DEFAULT false,
    retracted_at timestamptz,
    retract_id   text,
    payload      bytea,
    CHECK (retracted = (payload IS NULL)),
    UNIQUE (account_id, stanza_id)
);
CREATE INDEX archive_owner_ts ON archive (account_id, ts, id);
CREATE INDEX archive_owner_origin ON archive (account_id, origin_hash);

-- XEP-0313 preferences; no row means default 'always' with empty lists. JIDs are bare.
CREATE TABLE archive_prefs (
    account_id   bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    default_mode text NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
    always_jids  text[] NOT NULL DEFAULT '{}',
    never_jids   text[] NOT NULL DEFAULT '{}'
);

-- A queued offline message carries the same retraction key as its archive row (set just after
-- it is queued), so that a retraction from its sender removes it from the queue too.
ALTER TABLE offline_messages ADD COLUMN retract_key bytea;
CREATE INDEX offline_messages_retract ON offline_messages (account_id, retract_key)
    WHERE retract_key IS NOT NULL;

-- Whether the account's preferences want messages with p_peer archived: per-JID 'never' wins,
-- then per-JID 'always', then the default ('roster': the peer is in the roster or subscribed).
CREATE FUNCTION archive_wanted(acc bigint, p_peer text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p.account_id IS NULL THEN true
        WHEN p_peer = ANY (p.never_jids) THEN false
        WHEN p_peer = ANY (p.always_jids) THEN true
        WHEN p.default_mode = 'always' THEN true
        WHEN p.default_mode = 'never' THEN false
        ELSE EXISTS (SELECT 1 FROM roster_items r
                     WHERE r.account_id = acc AND r.contact = p_peer
                       AND (r.sub_to OR r.sub_from OR r.in_roster))
    END
    FROM (SELECT acc) x LEFT JOIN archive_prefs p ON p.account_id = acc
$$;

-- An archive query (XEP-0313 with XEP-0059 paging). p_marks: {after-id, before-id, RSM after,
-- RSM before} (NULL when absent); p_opts: {max, backward (0/1), index}. Returns first a summary
-- row (kind 1: total = rows matching the filters), then up to max + 1 items (kind 0) in paging
-- order (the extra row tells the page is not the last); or one row of kind 2 when a mark is not
-- in the archive. No row at all: no such account.
CREATE FUNCTION archive_query(p_domain text, p_node text, p_with text, p_start timestamptz,
                              p_end timestamptz, p_ids uuid[], p_marks uuid[], p_opts integer[])
RETURNS TABLE (o_kind smallint, o_account bigint, o_stanza_id text, o_ts_us bigint,
               o_outgoing boolean, o_peer text, o_retract_id text, o_retracted_us bigint,
               o_payload bytea, o_total bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    acc bigint;
    lo_ts timestamptz[] := ARRAY['-infinity', '-infinity']::timestamptz[];
    lo_id bigint[] := ARRAY[0, 0];
    hi_ts timestamptz[] := ARRAY['infinity', 'infinity']::timestamptz[];
    hi_id bigint[] := ARRAY[0, 0];
    m_ts timestamptz;
    m_id bigint;
    slot integer;
BEGIN
    SELECT a.id INTO acc FROM accounts a WHERE a.domain = p_domain AND a.node = p_node;
    IF acc IS NULL THEN
        RETURN;
    END IF;
    FOR i IN 1..4 LOOP
        CONTINUE WHEN p_marks[i] IS NULL;
        SELECT x.ts, x.id INTO m_ts, m_id FROM archive x
         WHERE x.account_id = acc AND x.stanza_id = p_marks[i];
        IF NOT FOUND THEN
            o_kind := 2;
            RETURN NEXT;
            RETURN;
        END IF;
        slot := CASE WHEN i <= 2 THEN 1 ELSE 2 END; -- 1: filter, 2: paging
        IF i % 2 = 1 THEN
            lo_ts[slot] := m_ts; lo_id[slot] := m_id;
        ELSE
            hi_ts[slot] := m_ts; hi_id[slot] := m_id;
        END IF;
    END LOOP;
    o_kind := 1;
    SELECT count(*) INTO o_total FROM archive x
     WHERE x.account_id = acc AND (p_with IS NULL OR x.peer = p_with)
       AND (p_start IS NULL OR x.ts >= p_start) AND (p_end IS NULL OR x.ts <= p_end)
       AND (p_ids IS NULL OR x.stanza_id = ANY (p_ids))
       AND (x.ts, x.id) > (lo_ts[1], lo_id[1]) AND (x.ts, x.id) < (hi_ts[1], hi_id[1]);
    RETURN NEXT;
    o_total := NULL;
    RETURN QUERY
    SELECT 0::smallint, acc, x.stanza_id::text,
           (extract(epoch FROM x.ts) * 1000000)::bigint, x.outgoing, x.peer, x.retract_id,
           (extract(epoch FROM x.retracted_at) * 1000000)::bigint, x.payload, NULL::bigint
      FROM archive x
     WHERE x.account_id = acc AND (p_with IS NULL OR x.peer = p_with)
       AND (p_start IS NULL OR x.ts >= p_start) AND (p_end IS NULL OR x.ts <= p_end)
       AND (p_ids IS NULL OR x.stanza_id = ANY (p_ids))
       AND (x.ts, x.id) > (lo_ts[1], lo_id[1]) AND (x.ts, x.id) < (hi_ts[1], hi_id[1])
       AND (x.ts, x.id) > (lo_ts[2], lo_id[2]) AND (x.ts, x.id) < (hi_ts[2], hi_id[2])
     ORDER BY CASE WHEN p_opts[2] = 1 THEN x.ts END DESC,
              CASE WHEN p_opts[2] = 1 THEN x.id END DESC, x.ts, x.id
     LIMIT p_opts[1] + 1 OFFSET p_opts[3];
END
$$;
