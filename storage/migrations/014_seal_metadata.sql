-- Seals the user content that 002 and 006 kept in clear: roster item names and groups, the text
-- of pending subscription requests, last-activity status texts. Not the contact JIDs nor the
-- subscription states: the state machine, presence routing and archive preferences run on them.
--
-- Existing clear values are wiped, not kept for reading: SQL has no key to seal them with, and a
-- legacy column read until the next write would keep names of items never edited again readable
-- for ever. Nothing has been deployed yet (see 009); what is lost is cosmetic (a contact's
-- nickname and groups, the text of a request still pending, the last status text), never a
-- subscription or a pending request itself. The clear columns are dropped so nothing can write
-- them again.
--
-- Sealed values (storage/wb_store_roster.c, wb_store_last.c) name their row in the associated
-- data: "roster:<account_id>:<contact>:item" (name, NUL, groups joined with U+0001),
-- "roster:<account_id>:<contact>:pending" (the request's status text, sealed with the key of the
-- account that receives it), "last:<account_id>:status".

DROP FUNCTION roster_set(text, text, text, text, text, integer);
DROP FUNCTION roster_remove(text, text, text);
DROP FUNCTION roster_subscription(text, text, text, text, text, integer);
DROP TYPE roster_change;

ALTER TABLE roster_items DROP COLUMN name, DROP COLUMN groups, DROP COLUMN pending_status,
    ADD COLUMN item_sealed bytea, ADD COLUMN pending_sealed bytea;
ALTER TABLE last_activity DROP COLUMN status, ADD COLUMN status_sealed bytea;

-- What a change returns: found (the account exists), account (its id: a caller whose data key
-- is another account's gets no change and asks again), refused (size limit), the states before
-- and after, push (the visible item changed), the roster version, the item's sealed name and
-- groups and the sealed status of a pending inbound request, after the change.
CREATE TYPE roster_change AS (
    found     boolean,
    account   bigint,
    refused   boolean,
    old_state integer,
    new_state integer,
    push      boolean,
    version   bigint,
    item      bytea,
    status    bytea
);

-- Roster set (RFC 6121 2.3): adds or updates the item (p_item sealed by the caller with the key of
-- account p_account); refused when a new item would exceed p_max items.
CREATE FUNCTION roster_set(p_domain text, p_node text, p_contact text, p_item bytea,
                           p_account bigint, p_max integer)
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
    res.account := acc;
    IF acc <> p_account THEN
        RETURN res;
    END IF;
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
    INSERT INTO roster_items AS i (account_id, contact, item_sealed, in_roster, version)
    VALUES (acc, p_contact, p_item, true, res.version)
    ON CONFLICT (account_id, contact) DO UPDATE
        SET item_sealed = EXCLUDED.item_sealed, in_roster = true, version = EXCLUDED.version
    RETURNING * INTO r;
    res.new_state := roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved,
                                  r.in_roster);
    res.push := true;
    res.item := r.item_sealed;
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
    res.account := acc;
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
-- p_status: the sealed status text of an inbound request (key of p_account), kept while it
-- waits. A new row is refused when the account already has p_max rows.
CREATE FUNCTION roster_subscription(p_domain text, p_node text, p_contact text, p_event text,
                                    p_status bytea, p_account bigint, p_max integer)
RETURNS roster_change LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
    r roster_items;
    res roster_change;
    t boolean; f boolean; a boolean; pi boolean; ap boolean; ir boolean; st bytea;
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
    res.account := acc;
    IF acc <> p_account THEN
        RETURN res;
    END IF;
    SELECT * INTO r FROM roster_items WHERE account_id = acc AND contact = p_contact;
    existed := FOUND;
    t := coalesce(r.sub_to, false); f := coalesce(r.sub_from, false);
    a := coalesce(r.ask, false); pi := coalesce(r.pending_in, false);
    ap := coalesce(r.approved, false); ir := coalesce(r.in_roster, false);
    st := r.pending_sealed;
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
    IF res.new_state = res.old_state AND st IS NOT DISTINCT FROM r.pending_sealed THEN
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
    ELSIF res.new_state <> res.old_state OR st IS DISTINCT FROM r.pending_sealed THEN
        INSERT INTO roster_items AS i (account_id, contact, sub_to, sub_from, ask, pending_in,
                                       pending_sealed, approved, in_roster, version)
        VALUES (acc, p_contact, t, f, a, pi, st, ap, ir, coalesce(res.version, 0))
        ON CONFLICT (account_id, contact) DO UPDATE
            SET sub_to = EXCLUDED.sub_to, sub_from = EXCLUDED.sub_from, ask = EXCLUDED.ask,
                pending_in = EXCLUDED.pending_in, pending_sealed = EXCLUDED.pending_sealed,
                approved = EXCLUDED.approved, in_roster = EXCLUDED.in_roster,
                version = CASE WHEN res.push THEN EXCLUDED.version ELSE i.version END
        RETURNING * INTO r;
    END IF;
    res.item := r.item_sealed;
    res.status := st;
    RETURN res;
END
$$;
