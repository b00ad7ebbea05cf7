-- The audit log (issue 6): hash-chained records, the chain head (one row, locked by every writer
-- so that several servers on one database form one chain), signed checkpoints, and pruning by
-- age. Records are not tied to accounts: deleting an account keeps the record of its deletion.

CREATE TABLE audit_log (
    id        bigint PRIMARY KEY,
    time_us   bigint NOT NULL, -- microseconds since the Unix epoch (hashed exactly)
    at        timestamptz GENERATED ALWAYS AS (to_timestamp(time_us / 1000000.0)) STORED,
    actor     text NOT NULL,
    role      text,
    action    text NOT NULL,
    target    text,
    source    text,
    ok        boolean NOT NULL,
    reason    text,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_target ON audit_log (target, id) WHERE target IS NOT NULL;
CREATE INDEX audit_log_time ON audit_log (time_us);

-- last_*: the newest record; pruned_*: records up to pruned_id were deleted by retention, and
-- pruned_hash (the hash of record pruned_id) anchors the oldest remaining record.
CREATE TABLE audit_head (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id     bigint NOT NULL,
    last_hash   bytea NOT NULL,
    pruned_id   bigint NOT NULL,
    pruned_hash bytea NOT NULL
);
INSERT INTO audit_head VALUES (true, 0, '\x0000000000000000000000000000000000000000000000000000000000000000',
                               0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Ed25519 signature over (last_id, last_hash, time_us), by the key in audit.key_file.
CREATE TABLE audit_checkpoints (
    id        bigserial PRIMARY KEY,
    last_id   bigint NOT NULL,
    last_hash bytea NOT NULL,
    time_us   bigint NOT NULL,
    sig       bytea NOT NULL
);
CREATE INDEX audit_checkpoints_last ON audit_checkpoints (last_id);

-- Append-only where PostgreSQL allows: no UPDATE, no TRUNCATE, DELETE only from audit_prune().
-- A superuser can still disable this; verification does not rely on it.
CREATE FUNCTION audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_log'
       AND current_setting('warbler.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_guard();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_guard();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_guard();

-- The head only moves forward.
CREATE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.last_id < OLD.last_id OR NEW.pruned_id < OLD.pruned_id THEN
        RAISE EXCEPTION 'the audit head only moves forward' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_guard();

-- Retention: deletes the oldest records (a prefix of the chain, at most p_batch) whose time is
-- before p_cutoff_us, and moves the pruning anchor to the last one deleted. Returns how many went.
CREATE FUNCTION audit_prune(p_cutoff_us bigint, p_batch integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    h audit_head%ROWTYPE;
    r record;
    upto bigint;
    upto_hash bytea;
    n bigint;
BEGIN
    SELECT * INTO h FROM audit_head WHERE one FOR UPDATE;
    FOR r IN SELECT id, time_us, hash FROM audit_log WHERE id > h.pruned_id ORDER BY id
             LIMIT p_batch LOOP
        EXIT WHEN r.time_us >= p_cutoff_us;
        upto := r.id;
        upto_hash := r.hash;
    END LOOP;
    IF upto IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM set_config('warbler.audit_prune', 'on', true);
    DELETE FROM audit_log WHERE id <= upto;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('warbler.audit_prune', 'off', true);
    UPDATE audit_head SET pruned_id = upto, pruned_hash = upto_hash WHERE one;
    RETURN n;
END
$$;
