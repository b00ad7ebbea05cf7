-- Personal eventing (XEP-0163 on a subset of XEP-0060): each account's nodes with their
-- configuration, and their items. payload is sealed, written and read only by
-- storage/wb_store_pep.c; node names and item ids stay clear because queries select by them.
CREATE TABLE pep_nodes (
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    node          text NOT NULL,
    access_model  text NOT NULL DEFAULT 'presence'
                  CHECK (access_model IN ('open', 'presence', 'roster', 'whitelist')),
    max_items     integer NOT NULL DEFAULT 1 CHECK (max_items >= 1),
    persist_items boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, node)
);

-- seq orders the items of a node (a republished id becomes the newest).
CREATE TABLE pep_items (
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    node         text NOT NULL,
    item_id      text NOT NULL,
    seq          bigserial NOT NULL,
    payload      bytea NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, node, item_id),
    FOREIGN KEY (account_id, node) REFERENCES pep_nodes (account_id, node) ON DELETE CASCADE
);
CREATE INDEX pep_items_order ON pep_items (account_id, node, seq);

-- Keeps the newest p_max items of a node.
CREATE FUNCTION pep_trim(acc bigint, p_pnode text, p_max integer) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM pep_items WHERE account_id = acc AND node = p_pnode AND seq NOT IN (
        SELECT seq FROM pep_items WHERE account_id = acc AND node = p_pnode
        ORDER BY seq DESC LIMIT p_max)
$$;

-- Publish (XEP-0060 7.1) with auto-create (7.1.4) and publish-options preconditions (7.1.5; NULL
-- options are not given), or only create the node when p_item is NULL. p_acc: the account the
-- payload was sealed for (NULL when there is no payload). code: 0 done, 1 no such account,
-- 2 precondition not met, 3 node limit reached, 4 p_acc is another account, 5 node exists.
-- The node's configuration after the change comes back with it.
CREATE FUNCTION pep_publish(p_domain text, p_node text, p_pnode text, p_item text,
                            p_payload bytea, p_acc bigint, p_access text, p_max integer,
                            p_persist boolean, p_max_nodes integer,
                            OUT code integer, OUT access text, OUT max_items integer,
                            OUT persist boolean)
LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
    n pep_nodes;
    cnt integer;
BEGIN
    SELECT id INTO acc FROM accounts WHERE domain = p_domain AND node = p_node;
    IF acc IS NULL THEN
        code := 1;
        RETURN;
    END IF;
    IF p_acc IS NOT NULL AND acc <> p_acc THEN
        code := 4;
        RETURN;
    END IF;
    code := 0;
    SELECT * INTO n FROM pep_nodes WHERE account_id = acc AND node = p_pnode FOR UPDATE;
    IF FOUND THEN
        IF p_item IS NULL THEN
            code := 5;
        ELSIF (p_access IS NOT NULL AND p_access <> n.access_model)
           OR (p_max IS NOT NULL AND p_max <> n.max_items)
           OR (p_persist IS NOT NULL AND p_persist <> n.persist_items) THEN
            code := 2;
        END IF;
    ELSE
        SELECT count(*) INTO cnt FROM pep_nodes WHERE account_id = acc;
        IF cnt >= p_max_nodes THEN
            code := 3;
            RETURN;
        END IF;
        INSERT INTO pep_nodes (account_id, node, access_model, max_items, persist_items)
        VALUES (acc, p_pnode, coalesce(p_access, 'presence'), coalesce(p_max, 1),
                coalesce(p_persist, true))
        ON CONFLICT DO NOTHING;
        SELECT * INTO n FROM pep_nodes WHERE account_id = acc AND node = p_pnode FOR UPDATE;
    END IF;
    access := n.access_model;
    max_items := n.max_items;
    persist := n.persist_items;
    IF code <> 0 OR p_item IS NULL THEN
        RETURN;
    END IF;
    IF n.persist_items THEN
        INSERT INTO pep_items AS i (account_id, node, item_id, payload)
        VALUES (acc, p_pnode, p_item, p_payload)
        ON CONFLICT (account_id, node, item_id) DO UPDATE
            SET payload = EXCLUDED.payload, seq = DEFAULT, published_at = now();
        PERFORM pep_trim(acc, p_pnode, n.max_items);
    ELSE
        DELETE FROM pep_items WHERE account_id = acc AND node = p_pnode;
    END IF;
END
$$;

-- Node configuration set (XEP-0060 8.2.4; NULL: unchanged). found: the node exists.
CREATE FUNCTION pep_configure(p_domain text, p_node text, p_pnode text, p_access text,
                              p_max integer, p_persist boolean,
                              OUT ok boolean, OUT access text, OUT max_items integer,
                              OUT persist boolean)
LANGUAGE plpgsql AS $$
DECLARE
    n pep_nodes;
BEGIN
    UPDATE pep_nodes p SET access_model = coalesce(p_access, p.access_model),
                           max_items = coalesce(p_max, p.max_items),
                           persist_items = coalesce(p_persist, p.persist_items)
    FROM accounts a
    WHERE a.domain = p_domain AND a.node = p_node AND p.account_id = a.id AND p.node = p_pnode
    RETURNING p.* INTO n;
    ok := n.account_id IS NOT NULL;
    IF NOT ok THEN
        RETURN;
    END IF;
    access := n.access_model;
    max_items := n.max_items;
    persist := n.persist_items;
    IF n.persist_items THEN
        PERFORM pep_trim(n.account_id, p_pnode, n.max_items);
    ELSE
        DELETE FROM pep_items WHERE account_id = n.account_id AND node = p_pnode;
    END IF;
END
$$;
