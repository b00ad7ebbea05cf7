# Integration tests of the audit log: what logins, in-band registration and warblerctl record; the
# chain verified by warblerctl and by an independent Python recomputation; tampering by hand (as
# superuser, triggers off) caught and named; two servers on one database; outage; retention.
import hashlib
import json
import os
import struct
import threading
import time

from wbinteg import DEFAULT_PASSWORD, Server, XmppConn, check, local_name, run, test
from tests_register import configured, reg_config, register

COLS = 'id, time_us, actor, role, action, target, source, ok, reason, prev_hash, hash'


def sql(srv, statement):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-v',
             'ON_ERROR_STOP=1', '-XtAc', statement])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip()[:300])
    return r.stdout.strip()


def sql_error(srv, statement):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-v',
             'ON_ERROR_STOP=1', '-XtAc', statement])
    return r.stderr.strip() if r.returncode != 0 else None


def tamper(srv, statement):
    """Runs statement as superuser with the append-only triggers off."""
    return sql(srv, 'SET session_replication_role = replica; ' + statement)


def audit_server(suite, name, extra=''):
    srv = suite.private_server(name)
    with open(srv.conf, 'a') as f:
        f.write('audit = { checkpoint_records = 4; checkpoint_interval = 3600; %s };\n' % extra)
    return srv


def records(srv, where='true'):
    return int(sql(srv, 'SELECT count(*) FROM audit_log WHERE %s' % where))


def wait_records(srv, where, want, timeout=10):
    deadline = time.monotonic() + timeout
    n = records(srv, where)
    while n < want and time.monotonic() < deadline:
        time.sleep(0.05)
        n = records(srv, where)
    check(n >= want, 'audit_log WHERE %s: %d rows, wanted %d' % (where, n, want))


def verify(srv, *args):
    r = srv.ctl('audit', 'verify', *args)
    return r.returncode, (r.stdout + r.stderr).strip()


def check_verify_ok(srv, what):
    code, out = verify(srv)
    check(code == 0 and out.startswith('ok: '), '%s: verify exit %d: %s' % (what, code, out))
    return int(out.split()[1])


def check_verify_bad(srv, first_bad, word, what):
    code, out = verify(srv)
    check(code == 1, '%s: verify exit %d (wanted 1): %s' % (what, code, out))
    check(out.startswith('bad: record %d:' % first_bad),
          '%s: wanted first bad record %d, got: %s' % (what, first_bad, out))
    check(word in out, '%s: "%s" not in: %s' % (what, word, out))


def failed_login(srv, user, password):
    c = XmppConn(srv.starttls_port)
    try:
        c.open('localhost')
        c.starttls()
        c.open('localhost')
        ok, el = c.auth_scram(user, password)
        check(not ok, 'login with a wrong password succeeded')
        return [local_name(x.tag) for x in el]
    finally:
        c.close()


def make_chain(srv, logins):
    """Started server, alice created, `logins` successful logins; stopped (flushed, checkpoint)."""
    srv.start()
    for _ in range(logins):
        srv.login('alice').close()
    wait_records(srv, "action = 'login'", logins)
    srv.stop()


# ---- an independent verifier: the documented encoding, recomputed in Python ----

def enc_str(s):
    if s is None:
        return b'\0'
    b = s.encode()
    return b'\1' + struct.pack('>I', len(b)) + b


def rec_hash(row, prev):
    h = hashlib.blake2b(digest_size=32)
    h.update(enc_str('warbler audit record v1'))
    h.update(struct.pack('>QQ', row['id'], row['time_us']))
    for f in ('actor', 'role', 'action', 'target', 'source'):
        h.update(enc_str(row[f]))
    h.update(b'\1' if row['ok'] else b'\0')
    h.update(enc_str(row['reason']))
    h.update(prev)
    return h.digest()


def read_rows(srv):
    out = sql(srv, "SELECT json_agg(json_build_object('id', id, 'time_us', time_us, 'actor', "
                   "actor, 'role', role, 'action', action, 'target', target, 'source', source, "
                   "'ok', ok, 'reason', reason, 'prev', encode(prev_hash, 'hex'), 'hash', "
                   "encode(hash, 'hex')) ORDER BY id) FROM audit_log")
    return json.loads(out) if out else []


@test
def audit_log_records_logins_registration_and_ctl_actions(suite):
    srv = audit_server(suite, 'audit-rec')
    configured(srv, reg_config())
    srv.user('alice')
    srv.start()
    srv.login('alice').close()
    conds = failed_login(srv, 'alice', 'wrong horse')
    check('not-authorized' in conds, 'wrong password answered %s' % conds)
    c, err = register(srv, 'carol', 'carol secret')
    c.close()
    check(err is None, 'in-band registration failed: %s' % err)
    wait_records(srv, "action = 'login'", 2)
    wait_records(srv, "action = 'account.register'", 1)
    row = sql(srv, "SELECT actor, target, source, reason FROM audit_log "
                   "WHERE action = 'login' AND ok")
    check(row == 'user:alice@localhost|alice@localhost|127.0.0.1|SCRAM-SHA-256',
          'successful login recorded as %r' % row)
    row = sql(srv, "SELECT actor, source, reason FROM audit_log WHERE action = 'login' AND NOT ok")
    check(row == 'user:alice@localhost|127.0.0.1|SCRAM-SHA-256: not-authorized',
          'failed login recorded as %r' % row)
    row = sql(srv, "SELECT actor, target, ok FROM audit_log WHERE action = 'account.register'")
    check(row == 'anonymous|carol@localhost|t', 'registration recorded as %r' % row)
    r = srv.ctl('user', 'passwd', 'alice@localhost', '--password-file',
                srv.password_file('new secret'))
    check(r.returncode == 0, 'user passwd failed: %s' % r.stderr)
    r = srv.ctl('user', 'delete', 'carol@localhost')
    check(r.returncode == 0, 'user delete failed: %s' % r.stderr)
    r = srv.ctl('user', 'delete', 'nobody@localhost')
    check(r.returncode != 0, 'deleting a missing account succeeded')
    r = srv.ctl('retention', 'set', 'alice@localhost', '3600')
    check(r.returncode == 0, 'retention set failed: %s' % r.stderr)
    row = sql(srv, "SELECT target || '|' || reason FROM audit_log WHERE action = 'retention.set'")
    check(row == 'alice@localhost|seconds 3600', 'retention change recorded as %r' % row)
    rows = sql(srv, "SELECT action || ':' || coalesce(target, '-') || ':' || ok FROM audit_log "
                    "WHERE actor = 'ctl' AND action LIKE 'account.%' ORDER BY id").split('\n')
    check(rows == ['account.create:alice@localhost:true', 'account.password:alice@localhost:true',
                   'account.delete:carol@localhost:true', 'account.delete:nobody@localhost:false'],
          'warblerctl actions recorded as %s' % rows)
    dump = sql(srv, 'SELECT a::text FROM audit_log a')
    for secret in (DEFAULT_PASSWORD, 'wrong horse', 'carol secret', 'new secret'):
        check(secret not in dump, 'a password is in the audit log')
    r = srv.ctl('audit', 'list', '--action', 'account.*', '--limit', '2')
    lines = r.stdout.strip().split('\n')
    check(r.returncode == 0 and len(lines) == 2 and 'nobody@localhost' in lines[0] and
          'carol@localhost' in lines[1], 'audit list (newest first) printed %s' % lines)
    check(check_verify_ok(srv, 'fresh log') == records(srv), 'verify did not check every record')


@test
def audit_verify_names_first_tampered_record(suite):
    srv = audit_server(suite, 'audit-tamper')
    srv.user('alice')
    make_chain(srv, 8)
    n = records(srv)
    check(n >= 9 and int(sql(srv, 'SELECT count(*) FROM audit_checkpoints')) >= 2,
          'expected >= 9 records and 2 checkpoints, got %d' % n)
    check(check_verify_ok(srv, 'untouched') == n, 'not every record checked')
    check_independently(srv)
    # The server's role cannot change the log even by mistake (the superuser can, below).
    err = sql_error(srv, "UPDATE audit_log SET target = 'x' WHERE id = 3")
    check(err is not None and 'append-only' in err, 'UPDATE was not refused: %s' % err)
    err = sql_error(srv, 'DELETE FROM audit_log WHERE id = 3')
    check(err is not None and 'append-only' in err, 'DELETE was not refused: %s' % err)
    # Altered target of a middle record.
    target = sql(srv, 'SELECT target FROM audit_log WHERE id = 5')
    tamper(srv, "UPDATE audit_log SET target = 'mallory@localhost' WHERE id = 5")
    check_verify_bad(srv, 5, 'altered', 'altered record')
    tamper(srv, "UPDATE audit_log SET target = '%s' WHERE id = 5" % target)
    check_verify_ok(srv, 'restored record')
    # A deleted record.
    tamper(srv, 'CREATE TABLE audit_saved AS SELECT %s FROM audit_log WHERE id = 4; '
                'DELETE FROM audit_log WHERE id = 4' % COLS)
    check_verify_bad(srv, 4, 'missing', 'deleted record')
    tamper(srv, 'INSERT INTO audit_log (%s) SELECT %s FROM audit_saved; DROP TABLE audit_saved'
           % (COLS, COLS))
    check_verify_ok(srv, 'record put back')
    # Two records swapped (ids kept).
    swap = ('UPDATE audit_log a SET (time_us, actor, role, action, target, source, ok, reason, '
            'prev_hash, hash) = (SELECT time_us, actor, role, action, target, source, ok, reason, '
            'prev_hash, hash FROM audit_log b WHERE b.id = 9 - a.id) WHERE a.id IN (3, 6)')
    tamper(srv, swap)
    check_verify_bad(srv, 3, 'altered', 'swapped records')
    tamper(srv, swap)
    check_verify_ok(srv, 'records swapped back')
    # The tail cut after the last checkpoint, head moved back too: the checkpoint names it.
    last = int(sql(srv, 'SELECT max(id) FROM audit_log'))
    tamper(srv, 'CREATE TABLE audit_saved AS SELECT %s FROM audit_log WHERE id >= %d; '
                'DELETE FROM audit_log WHERE id >= %d; UPDATE audit_head SET last_id = %d, '
                'last_hash = (SELECT hash FROM audit_log WHERE id = %d)'
           % (COLS, last - 1, last - 1, last - 2, last - 2))
    check_verify_bad(srv, last - 1, 'truncated', 'truncated tail')
    tamper(srv, 'INSERT INTO audit_log (%s) SELECT %s FROM audit_saved; DROP TABLE audit_saved; '
                'UPDATE audit_head SET last_id = %d, last_hash = (SELECT hash FROM audit_log '
                'WHERE id = %d)' % (COLS, COLS, last, last))
    check_verify_ok(srv, 'tail put back')
    # A checkpoint whose signature does not match.
    cp = sql(srv, 'SELECT id || \':\' || last_id FROM audit_checkpoints ORDER BY id LIMIT 1')
    cp_id, cp_last = (int(x) for x in cp.split(':'))
    tamper(srv, "UPDATE audit_checkpoints SET sig = overlay(sig placing '\\x00'::bytea from 1) "
                "WHERE id = %d" % cp_id)
    check_verify_bad(srv, cp_last, 'signature', 'forged checkpoint')
    # Another key than the server's: every checkpoint fails; a malformed key is a usage error.
    code, out = verify(srv, '--public-key', '00' * 32)
    check(code == 1, 'verify with a foreign key: exit %d: %s' % (code, out))
    code, out = verify(srv, '--public-key', 'zz')
    check(code == 2, 'verify with a malformed key: exit %d: %s' % (code, out))


def check_independently(srv):
    """The stored chain is the documented encoding (recomputed here), and the public key
    printed by status is all an auditor needs; a key file others can read is refused."""
    rows = read_rows(srv)
    check(len(rows) >= 4, 'only %d records' % len(rows))
    prev = bytes(32)
    for row in rows:
        check(row['prev'] == prev.hex(),
              'record %d: prev_hash is not the previous hash' % row['id'])
        h = rec_hash(row, prev)
        check(h.hex() == row['hash'], 'record %d: stored hash differs from the documented '
              'encoding' % row['id'])
        prev = h
    r = srv.ctl('audit', 'status')
    check(r.returncode == 0 and 'public key: ' in r.stdout, 'status: %s' % r.stdout)
    pk = r.stdout.split('public key: ')[1].split()[0]
    r = srv.ctl('audit', 'init')
    check(r.returncode == 0 and ('public key: %s' % pk) in r.stdout,
          'audit init on an existing key printed %s' % r.stdout)
    code, out = verify(srv, '--public-key', pk)
    check(code == 0, 'verify with the printed public key: %s' % out)
    # An auditor needs only the public key, not the signing key file.
    key = os.path.join(srv.dir, 'master.key.audit')
    os.rename(key, key + '.away')
    try:
        code, out = verify(srv)
        check(code == 2, 'verify without key file or public key: exit %d: %s' % (code, out))
        code, out = verify(srv, '--public-key', pk)
        check(code == 0, 'verify with only the public key: exit %d: %s' % (code, out))
    finally:
        os.rename(key + '.away', key)
    os.chmod(key, 0o640)
    code, out = verify(srv)
    check(code == 2 and 'too open' in out, 'a key file readable by its group was used: %s' % out)
    os.chmod(key, 0o600)


@test
def audit_two_servers_on_one_database_form_one_chain(suite):
    a = audit_server(suite, 'audit-node-a')
    a.user('alice')
    b = Server(suite, 'audit-node-b-%d' % len(suite.dbs), db=a.db)
    # A cluster shares the master key and the audit signing key.
    for name in ('master.key', 'master.key.audit'):
        with open(os.path.join(a.dir, name), 'rb') as f:
            data = f.read()
        fd = os.open(os.path.join(b.dir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'wb') as g:
            g.write(data)
    a.start()
    b.start()
    b.users = a.users
    errors = []

    def logins(srv, n):
        try:
            for _ in range(n):
                srv.login('alice').close()
        except Exception as e:  # reported below
            errors.append(str(e))
    threads = [threading.Thread(target=logins, args=(s, 6)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, 'logins failed: %s' % errors[:1])
    wait_records(a, "action = 'login'", 24)
    b.stop()
    a.stop()
    n = records(a)
    check(sql(a, 'SELECT max(id) - min(id) + 1 FROM audit_log') == str(n), 'ids are not contiguous')
    check(check_verify_ok(a, 'two writers') == n, 'not every record checked')


def allow_connections(srv, allow):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', 'postgres', '-v',
             'ON_ERROR_STOP=1', '-XtAc',
             'ALTER DATABASE %s ALLOW_CONNECTIONS %s' % (srv.db, 'true' if allow else 'false')])
    check(r.returncode == 0, 'ALTER DATABASE failed: %s' % r.stderr.strip()[:200])


@test
def audit_writer_keeps_events_through_a_database_outage(suite):
    srv = audit_server(suite, 'audit-outage')
    srv.user('alice')
    srv.start()
    srv.login('alice').close()
    wait_records(srv, "action = 'login'", 1)
    # The writer's connection drops and the database refuses new ones (the workers keep theirs).
    allow_connections(srv, False)
    try:
        r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', 'postgres', '-XtAc',
                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                 "'%s' AND application_name = 'warbler-audit'" % srv.db])
        killed = r.stdout.strip()
        check(killed == '1', 'the writer connection was not found (%s)' % killed)
        srv.login('alice').close()
        failed_login(srv, 'alice', 'bad')
        deadline = time.monotonic() + 10
        while 'audit: database unavailable' not in srv.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        check('audit: database unavailable' in srv.log(), 'the outage was not logged')
    finally:
        allow_connections(srv, True)
    wait_records(srv, "action = 'login'", 3, timeout=20)
    srv.stop()
    check_verify_ok(srv, 'after an outage')


@test
def audit_shutdown_waits_for_the_database_a_bounded_time(suite):
    srv = audit_server(suite, 'audit-flush', 'flush_wait = 1;')
    srv.user('alice')
    srv.start()
    srv.login('alice').close()
    wait_records(srv, "action = 'login'", 1)
    allow_connections(srv, False)
    try:
        r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', 'postgres', '-XtAc',
                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                 "'%s' AND application_name = 'warbler-audit'" % srv.db])
        check(r.stdout.strip() == '1', 'the writer connection was not found')
        srv.login('alice').close()
        started = time.monotonic()
        srv.stop()
        took = time.monotonic() - started
    finally:
        allow_connections(srv, True)
    check(took < 5, 'stopping took %.1f s with flush_wait = 1' % took)
    check('events not stored (database unavailable)' in srv.log(),
          'the events lost at shutdown were not logged')


@test
def audit_retention_prunes_old_records_and_chain_still_verifies(suite):
    srv = audit_server(suite, 'audit-retention', 'retention_days = 30;')
    srv.user('alice')
    make_chain(srv, 4)
    # Age the first three records by 40 days, re-chaining them as a faithful writer would have
    # (an old log), and drop the checkpoints that signed the previous hashes.
    rows = read_rows(srv)
    prev = bytes(32)
    stmts = []
    for row in rows:
        if row['id'] <= 3:
            row['time_us'] -= 40 * 86400 * 1000000
        h = rec_hash(row, prev)
        stmts.append("UPDATE audit_log SET time_us = %d, prev_hash = '\\x%s', hash = '\\x%s' "
                     "WHERE id = %d" % (row['time_us'], prev.hex(), h.hex(), row['id']))
        prev = h
    stmts.append("UPDATE audit_head SET last_hash = '\\x%s'" % prev.hex())
    stmts.append('DELETE FROM audit_checkpoints')
    tamper(srv, '; '.join(stmts))
    n = check_verify_ok(srv, 'aged log')
    srv.start()  # the writer prunes at start
    deadline = time.monotonic() + 10
    while sql(srv, 'SELECT pruned_id FROM audit_head') != '3' and time.monotonic() < deadline:
        time.sleep(0.05)
    check(sql(srv, 'SELECT pruned_id FROM audit_head') == '3', 'records older than 30 days kept')
    srv.stop()
    check(records(srv, 'id <= 3') == 0, 'pruned records still there')
    got = check_verify_ok(srv, 'pruned log')
    check(got == n - 3 + records(srv, 'id > %d' % n), 'verify checked %d records' % got)
    # Removing the oldest remaining record by hand is still caught.
    tamper(srv, 'DELETE FROM audit_log WHERE id = 4')
    check_verify_bad(srv, 4, 'missing', 'oldest remaining record removed')
