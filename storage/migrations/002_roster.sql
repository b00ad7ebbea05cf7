-- Rosters (RFC 6121 section 2), subscription states (section 3 and Appendix A) and roster
-- versions (XEP-0237). Not for presence itself: that lives in memory, in the session directory.

-- The per-account roster version: incremented on every visible change of the roster. Its row is
-- also the lock that serialises changes to one account's roster.
CREATE TABLE roster_versions (
    account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    version    bigint NOT NULL DEFAULT 0
);

-- One row per (owner, contact bare JID). in_roster is false for a row that only holds a pending
-- inbound request or a pre-approval (not shown by a roster get). version: the roster version of
-- the item's last change. groups never holds an empty name.
CREATE TABLE roster_items (
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    contact        text NOT NULL,
    name           text,
    groups         text[] NOT NULL DEFAULT '{}',
    sub_to         boolean NOT NULL DEFAULT false,
    sub_from       boolean NOT NULL DEFAULT false,
    ask            boolean NOT NULL DEFAULT false,
    pending_in     boolean NOT NULL DEFAULT false,
    pending_status text,
    approved       boolean NOT NULL DEFAULT false,
    in_roster      boolean NOT NULL DEFAULT false,
    version        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, contact)
);

-- The state of an item as bits (wb_store_roster.h WB_RS_*): 1 to, 2 from, 4 ask (pending out),
-- 8 pending in, 16 pre-approved, 32 in roster. NULL fields (no row) count as false.
CREATE FUNCTION roster_state(sub_to boolean, sub_from boolean, ask boolean, pending_in boolean,
                             approved boolean, in_roster boolean)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN sub_to THEN 1 ELSE 0 END) | (CASE WHEN sub_from THEN 2 ELSE 0 END)
         | (CASE WHEN ask THEN 4 ELSE 0 END) | (CASE WHEN pending_in THEN 8 ELSE 0 END)
         | (CASE WHEN approved THEN 16 ELSE 0 END) | (CASE WHEN in_roster THEN 32 ELSE 0 END)
$$;

-- What a change returns: found (the account exists), refused (roster size limit), the
-- states before and after, push (the visible item changed: send a roster push), the roster
-- version, and the item after the change (groups joined with U+0001, which XML cannot carry).
CREATE TYPE roster_change AS (
    found     boolean,
    refused   boolean,
    old_state integer,
    new_state integer,
    push      boolean,
    version   bigint,
    name      text,
    groups    text,
    status    text
);

-- Locks the account's roster (creating its version row) and returns the account id, or NULL.
CREATE FUNCTION roster_lock(p_domain text, p_node text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
BEGIN
    SELECT id INTO acc FROM accounts WHERE domain = p_domain AND node = p_node;
    IF acc IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO roster_versions (account_id) VALUES (acc) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM roster_versions WHERE account_id = acc FOR UPDATE;
    RETURN acc;
END
$$;

CREATE FUNCTION roster_bump(acc bigint) RETURNS bigint LANGUAGE sql AS $$
    UPDATE roster_versions SET version = version + 1 WHERE account_id = acc RETURNING version
$$;

-- Roster set (RFC 6121 2.3): adds or updates the item; refused when a new item would exceed
-- p_max items.
CREATE FUNCTION roster_set(p_domain text, p_node text, p_contact text, p_name text,
                           p_groups text, p_max integer)
RETURNS roster_change LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
    r roster_items;
    res roster_change;
    n integer;
BEGIN
    res.found := false;
    res.refused := false;
    res.push := false;
    acc := roster_lock(p_domain, p_node);
    IF acc IS NULL THEN
        RETURN res;
    END IF;
    res.found := true;
    SELECT * INTO r FROM roster_items WHERE account_id = acc AND contact = p_contact;
    res.old_state := coalesce(roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in,
                                           r.approved, r.in_roster), 0);
    IF NOT coalesce(r.in_roster, false) THEN
        SELECT count(*) INTO n FROM roster_items WHERE account_id = acc AND in_roster;
        IF n >= p_max THEN
            res.refused := true;
            RETURN res;
        END IF;
    END IF;
    res.version := roster_bump(acc);
    INSERT INTO roster_items AS i (account_id, contact, name, groups, in_roster, version)
    VALUES (acc, p_contact, p_name, string_to_array(p_groups, E'\x01'), true, res.version)
    ON CONFLICT (account_id, contact) DO UPDATE
        SET name = EXCLUDED.name, groups = EXCLUDED.groups, in_roster = true,
            version = EXCLUDED.version
    RETURNING * INTO r;
    res.new_state := roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved,
                                  r.in_roster);
    res.push := true;
    res.name := r.name;
    res.groups := array_to_string(r.groups, E'\x01');
    RETURN res;
END
$$;

-- Roster remove (RFC 6121 2.5): deletes the row (with any pending request or pre-approval);
-- old_state tells the caller which unsubscribe/unsubscribed to send.
CREATE FUNCTION roster_remove(p_domain text, p_node text, p_contact text)
RETURNS roster_change LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
    r roster_items;
    res roster_change;
BEGIN
    res.found := false;
    res.refused := false;
    res.push := false;
    res.new_state := 0;
    acc := roster_lock(p_domain, p_node);
    IF acc IS NULL THEN
        RETURN res;
    END IF;
    res.found := true;
    DELETE FROM roster_items WHERE account_id = acc AND contact = p_contact RETURNING * INTO r;
    res.old_state := coalesce(roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in,
                                           r.approved, r.in_roster), 0);
    IF coalesce(r.in_roster, false) THEN
        res.version := roster_bump(acc);
        res.push := true;
    END IF;
    RETURN res;
END
$$;

-- One subscription event for the owner's item about p_contact (RFC 6121 Appendix A): out_* are
-- stanzas the owner sends, in_* stanzas the owner receives. Out-of-state events change nothing.
-- A new row is refused when the account already has p_max rows.
CREATE FUNCTION roster_subscription(p_domain text, p_node text, p_contact text, p_event text,
                                    p_status text, p_max integer)
RETURNS roster_change LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
    r roster_items;
    res roster_change;
    t boolean; f boolean; a boolean; pi boolean; ap boolean; ir boolean; st text;
    existed boolean;
    n integer;
BEGIN
    res.found := false;
    res.refused := false;
    res.push := false;
    acc := roster_lock(p_domain, p_node);
    IF acc IS NULL THEN
        RETURN res;
    END IF;
    res.found := true;
    SELECT * INTO r FROM roster_items WHERE account_id = acc AND contact = p_contact;
    existed := FOUND;
    t := coalesce(r.sub_to, false); f := coalesce(r.sub_from, false);
    a := coalesce(r.ask, false); pi := coalesce(r.pending_in, false);
    ap := coalesce(r.approved, false); ir := coalesce(r.in_roster, false);
    st := r.pending_status;
    res.old_state := roster_state(t, f, a, pi, ap, ir);
    CASE p_event
    WHEN 'out_subscribe' THEN
        IF NOT t THEN a := true; END IF;
        ir := true;
    WHEN 'in_subscribe' THEN
        IF f THEN
            NULL;
        ELSIF ap THEN
            f := true; ap := false; ir := true;
        ELSIF NOT pi THEN
            pi := true; st := p_status;
        END IF;
    WHEN 'out_subscribed' THEN
        IF pi THEN
            f := true; pi := false; st := NULL; ir := true;
        ELSIF NOT f THEN
            ap := true;
        END IF;
    WHEN 'in_subscribed' THEN
        IF a THEN t := true; a := false; END IF;
    WHEN 'out_unsubscribe', 'in_unsubscribed' THEN
        t := false; a := false;
    WHEN 'in_unsubscribe' THEN
        f := false; pi := false; st := NULL;
    WHEN 'out_unsubscribed' THEN
        f := false; pi := false; st := NULL; ap := false;
    ELSE
        RAISE EXCEPTION 'unknown subscription event %', p_event;
    END CASE;
    res.new_state := roster_state(t, f, a, pi, ap, ir);
    IF res.new_state = res.old_state AND coalesce(st, '') = coalesce(r.pending_status, '') THEN
        res.new_state := res.old_state;
    ELSIF NOT existed THEN
        SELECT count(*) INTO n FROM roster_items WHERE account_id = acc;
        IF n >= p_max THEN
            res.refused := true;
            res.new_state := res.old_state;
            RETURN res;
        END IF;
    END IF;
    IF (res.new_state & 39) <> (res.old_state & 39) AND ir THEN
        res.version := roster_bump(acc);
        res.push := true;
    END IF;
    IF res.new_state = 0 THEN
        DELETE FROM roster_items WHERE account_id = acc AND contact = p_contact;
    ELSIF res.new_state <> res.old_state OR coalesce(st, '') <> coalesce(r.pending_status, '') THEN
        INSERT INTO roster_items AS i (account_id, contact, sub_to, sub_from, ask, pending_in,
                                       pending_status, approved, in_roster, version)
        VALUES (acc, p_contact, t, f, a, pi, st, ap, ir, coalesce(res.version, 0))
        ON CONFLICT (account_id, contact) DO UPDATE
            SET sub_to = EXCLUDED.sub_to, sub_from = EXCLUDED.sub_from, ask = EXCLUDED.ask,
                pending_in = EXCLUDED.pending_in, pending_status = EXCLUDED.pending_status,
                approved = EXCLUDED.approved, in_roster = EXCLUDED.in_roster,
                version = CASE WHEN res.push THEN EXCLUDED.version ELSE i.version END
        RETURNING * INTO r;
    END IF;
    res.name := r.name;
    res.groups := array_to_string(coalesce(r.groups, '{}'), E'\x01');
    res.status := st;
    RETURN res;
END
$$;
