# Integration tests of the vault (ciphertext only at rest): what a database dump shows, sealed rows
# moved between rows, master-key rotation while a server runs, key status, crypto-shredding.
import os
import time
import uuid

from wbinteg import NS_CLIENT, check, run, stanza_error, test

NS_VCARD = 'vcard-temp'


def psql(srv, sql):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-v',
             'ON_ERROR_STOP=1', '-Atc', sql])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip()[:300])
    return r.stdout.strip()


def wait_rows(srv, sql, want, timeout=15):
    deadline = time.monotonic() + timeout
    n = int(psql(srv, sql))
    while n != want and time.monotonic() < deadline:
        time.sleep(0.05)
        n = int(psql(srv, sql))
    check(n == want, '%s: %d rows, wanted %d' % (sql, n, want))


def is_message(el):
    return el.tag == '{%s}message' % NS_CLIENT


def body_of(el):
    b = el.find('{%s}body' % NS_CLIENT)
    return b.text if b is not None else None


def answered(el, what):
    check(el.get('type') == 'result', '%s answered %s (%s)' % (what, el.get('type'),
                                                              stanza_error(el)))
    return el


def set_vcard(conn, fn):
    answered(conn.iq('set', "<vCard xmlns='vcard-temp'><FN>%s</FN></vCard>" % fn), 'vCard set')


def vcard_fn(conn, to=None):
    el = answered(conn.iq('get', "<vCard xmlns='vcard-temp'/>", to), 'vCard get')
    fn = el.find('{%s}vCard/{%s}FN' % (NS_VCARD, NS_VCARD))
    return fn.text if fn is not None else None


def queued_sql(node):
    return ("SELECT count(*) FROM offline_messages o JOIN accounts a ON a.id = o.account_id "
            "WHERE a.domain = 'localhost' AND a.node = '%s'" % node)


def ctl_ok(srv, *args):
    r = srv.ctl(*args)
    check(r.returncode == 0, 'warblerctl %s: exit %d: %s' % (
        ' '.join(args), r.returncode, (r.stderr or r.stdout).strip()[:300]))
    return r.stdout


@test
def vault_database_dump_holds_no_user_payload_in_clear(suite):
    srv = suite.private_server('vault-dump').start()
    marker = 'vaultmark%s' % uuid.uuid4().hex
    bob, _ = srv.user('vdbob')
    a = srv.login('vdalice', 'desk')
    a.send("<message to='%s' type='chat' id='m1'><body>%s offline</body></message>" % (bob, marker))
    set_vcard(a, marker + ' vcard')
    answered(a.iq('set', "<query xmlns='jabber:iq:private'><n xmlns='urn:example:vault'>%s private"
                         "</n></query>" % marker), 'private set')
    wait_rows(srv, queued_sql('vdbob'), 1)
    r = run(['pg_dump', '-h', suite.pg.host, '-U', 'postgres', srv.db])
    check(r.returncode == 0, 'pg_dump failed: %s' % r.stderr.strip()[:300])
    check('vdalice' in r.stdout, 'the dump does not even hold the account names')
    check(marker not in r.stdout, 'a payload marker is readable in the database dump')
    check(marker.encode().hex() not in r.stdout, 'a payload marker is in the dump as hex')
    check(int(psql(srv, 'SELECT count(*) FROM account_keys')) == 2, 'not one key per account')
    # The queued chat message is stored once, in the recipient's archive, sealed.
    check(psql(srv, queued_sql('vdbob') + ' AND o.payload IS NULL AND o.archive_stanza_id IN '
                    '(SELECT x.stanza_id FROM archive x WHERE x.account_id = a.id AND '
                    'x.payload IS NOT NULL)') == '1',
          'the queued message keeps a payload of its own instead of referring to the archive')
    b = srv.login('vdbob', 'phone')
    b.send('<presence/>')
    el = b.wait_for(is_message, 10, 'the offline message')
    check(body_of(el) == marker + ' offline', 'offline body changed: %r' % body_of(el))
    check(vcard_fn(b, 'vdalice@localhost') == marker + ' vcard', 'vCard does not read back')
    el = answered(a.iq('get', "<query xmlns='jabber:iq:private'><n xmlns='urn:example:vault'/>"
                              "</query>"), 'private get')
    item = el.find('{jabber:iq:private}query/{urn:example:vault}n')
    check(item is not None and item.text == marker + ' private', 'private XML does not read back')


@test
def vault_sealed_offline_row_moved_to_another_row_is_not_delivered(suite):
    # Messages MAM does not archive (normal, a subject and no body) keep their own sealed copy
    # in the offline queue.
    srv = suite.private_server('vault-moved').start()
    bob, _ = srv.user('vmbob')
    a = srv.login('vmalice', 'desk')
    a.send("<message to='%s' type='normal' id='k1'><subject>first</subject></message>"
           "<message to='%s' type='normal' id='k2'><subject>second</subject></message>"
           % (bob, bob))
    wait_rows(srv, queued_sql('vmbob') + ' AND o.payload IS NOT NULL', 2)
    psql(srv, 'UPDATE offline_messages SET payload = (SELECT payload FROM offline_messages '
              'ORDER BY id LIMIT 1) WHERE id = (SELECT max(id) FROM offline_messages)')
    b = srv.login('vmbob', 'phone')
    b.send('<presence/>')
    el = b.wait_for(is_message, 10, 'the untouched offline message')
    subject = el.find('{%s}subject' % NS_CLIENT)
    check(subject is not None and subject.text == 'first', 'first message changed')
    check(b.silent_for(is_message, 0.7), 'the moved sealed row was delivered')
    b.ping()
    a.ping()
    log = srv.log()
    check('sealed value does not open' in log and 'table offline_messages' in log,
          'the unreadable row is not reported in the log')
    check(srv.running(), 'the server died')


@test
def vault_archived_copy_moved_to_another_row_is_not_delivered_offline(suite):
    # A queued chat message refers to its archive row: a sealed archive payload moved to another
    # row opens neither in the archive nor for offline delivery.
    srv = suite.private_server('vault-moved-arc').start()
    bob, _ = srv.user('vabob')
    a = srv.login('vaalice', 'desk')
    a.send("<message to='%s' type='chat' id='k1'><body>first</body></message>"
           "<message to='%s' type='chat' id='k2'><body>second</body></message>" % (bob, bob))
    wait_rows(srv, queued_sql('vabob') + ' AND o.archive_stanza_id IS NOT NULL', 2)
    psql(srv, "UPDATE archive x SET payload = (SELECT y.payload FROM archive y WHERE "
              "y.account_id = x.account_id ORDER BY y.id LIMIT 1) WHERE x.id = (SELECT max(z.id) "
              "FROM archive z JOIN accounts c ON c.id = z.account_id WHERE c.node = 'vabob')")
    b = srv.login('vabob', 'phone')
    b.send('<presence/>')
    el = b.wait_for(is_message, 10, 'the untouched offline message')
    check(body_of(el) == 'first', 'first message body changed: %r' % body_of(el))
    check(b.silent_for(is_message, 0.7), 'the moved archived payload was delivered')
    b.ping()
    check('sealed value does not open' in srv.log() and 'table archive' in srv.log(),
          'the unreadable row is not reported in the log')
    wait_rows(srv, queued_sql('vabob'), 0)


@test
def vault_master_key_rotation_online_interrupted_and_resumed(suite):
    srv = suite.private_server('vault-rotate').start()
    key_file = os.path.join(srv.dir, 'master.key')
    with open(key_file, 'rb') as f:
        old_key = f.read()
    names = ['vr%d' % i for i in range(5)]
    for n in names:
        c = srv.login(n, 'r')
        set_vcard(c, 'card of ' + n)
        c.close()
    out = ctl_ok(srv, 'keys', 'status')
    check('rotation: none in progress' in out, 'status before: %r' % out)
    check('account keys: 5' in out and '(current): 5 keys' in out, 'status before: %r' % out)
    check('oldest key created: ' in out and 'age' in out, 'status shows no key ages: %r' % out)

    out = ctl_ok(srv, 'keys', 'rotate-master', '--batch-size', '2', '--stop-after', '1')
    check('rotate-master: 2/5 keys' in out, 'no progress line: %r' % out)
    check('stopped after 1 batch' in out, 'rotation did not stop as asked: %r' % out)
    check(os.path.exists(key_file + '.next'), 'KEY_FILE.next missing half-way')
    check(os.stat(key_file + '.next').st_mode & 0o777 == 0o600, 'KEY_FILE.next is not 0600')
    out = ctl_ok(srv, 'keys', 'status')
    check('rotation: in progress' in out and '(next): 2 keys' in out and
          '(current): 3 keys' in out, 'status half-way: %r' % out)
    # during: logins, reads of keys under either master key, a new account
    for n in names:
        c = srv.login(n, 'r2')
        check(vcard_fn(c) == 'card of ' + n, 'vCard of %s unreadable half-way' % n)
        c.close()
    late = srv.login('vrlate', 'r')
    set_vcard(late, 'card of vrlate')

    out = ctl_ok(srv, 'keys', 'rotate-master', '--batch-size', '2')
    check('resuming' in out and '/6 keys' in out and 'done' in out, 'resume: %r' % out)
    check(not os.path.exists(key_file + '.next'), 'KEY_FILE.next still there after the rotation')
    with open(key_file, 'rb') as f:
        new_key = f.read()
    check(len(new_key) == 32 and new_key != old_key, 'the master key file was not replaced')
    check(os.stat(key_file).st_mode & 0o777 == 0o600, 'the new key file is not 0600')
    out = ctl_ok(srv, 'keys', 'status')
    check('rotation: none in progress' in out and '(current): 6 keys' in out, 'after: %r' % out)
    check('last re-wrap: never' not in out, 'status does not show the re-wrap: %r' % out)
    for n in names + ['vrlate']:
        c = srv.login(n, 'r3')
        check(vcard_fn(c) == 'card of ' + n, 'vCard of %s unreadable after rotation' % n)
        c.close()
    srv.stop()
    srv.start()  # only the new key file now: every data key must open under it
    for n in names + ['vrlate']:
        c = srv.login(n, 'r4')
        check(vcard_fn(c) == 'card of ' + n, 'vCard of %s unreadable after a restart' % n)
        c.close()
    out = ctl_ok(srv, 'keys', 'rotate-master')  # nothing half-done: a fresh, complete rotation
    check('6/6 keys' in out and 'done' in out, 'second rotation: %r' % out)


@test
def vault_account_deletion_destroys_its_data_key_first(suite):
    srv = suite.private_server('vault-shred').start()
    a = srv.login('vshred', 'r')
    set_vcard(a, 'to be shredded')
    a.close()
    acc = psql(srv, "SELECT id FROM accounts WHERE node = 'vshred'")
    check(psql(srv, 'SELECT count(*) FROM account_keys WHERE account_id = %s' % acc) == '1',
          'the account has no data key')
    # a "backup" of its sealed rows, and a probe of the order of deletion
    psql(srv, 'CREATE TABLE stolen AS SELECT * FROM xml_documents WHERE account_id = %s;'
              'CREATE TABLE shred_probe (account_id bigint, account_still_there boolean);'
              'CREATE FUNCTION shred_probe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
              'INSERT INTO shred_probe VALUES (OLD.account_id, EXISTS (SELECT 1 FROM accounts '
              'WHERE id = OLD.account_id)); RETURN OLD; END $$;'
              'CREATE TRIGGER shred_probe AFTER DELETE ON account_keys FOR EACH ROW '
              'EXECUTE FUNCTION shred_probe()' % acc)
    ctl_ok(srv, 'user', 'delete', 'vshred@localhost')
    check(psql(srv, 'SELECT count(*) FROM account_keys WHERE account_id = %s' % acc) == '0',
          'the data key survived the account')
    check(psql(srv, 'SELECT count(*) FROM stolen') == '1', 'the copy vanished (test broken)')
    check(psql(srv, 'SELECT account_still_there FROM shred_probe') == 't',
          'the data key was not destroyed first (only by cascade)')


@test
def vault_server_refuses_a_wide_key_file_with_a_clear_message(suite):
    srv = suite.private_server('vault-wide')
    os.chmod(os.path.join(srv.dir, 'master.key'), 0o640)
    r = run([suite.warblerd, '-c', srv.conf, '--check-config'], timeout=30)
    check(r.returncode != 0, '--check-config accepted a master key readable by the group')
    check('is too open; run: chmod 600' in r.stderr + r.stdout, 'unclear message: %r'
          % (r.stderr + r.stdout)[-300:])
    os.chmod(os.path.join(srv.dir, 'master.key'), 0o600)
    with open(os.path.join(srv.dir, 'master.key'), 'ab') as f:
        f.write(b'x')
    r = run([suite.warblerd, '-c', srv.conf, '--check-config'], timeout=30)
    check(r.returncode != 0 and 'exactly 32 bytes' in r.stderr + r.stdout,
          'a 33-byte key file was not refused clearly: %r' % (r.stderr + r.stdout)[-300:])


NS_ROSTER = 'jabber:iq:roster'
NS_LAST = 'jabber:iq:last'


def account_sql(node):
    return "(SELECT id FROM accounts WHERE domain = 'localhost' AND node = '%s')" % node


def roster_set_item(conn, jid, name=None, groups=()):
    attrs = " name='%s'" % name if name is not None else ''
    xml = ''.join('<group>%s</group>' % g for g in groups)
    answered(conn.iq('set', "<query xmlns='%s'><item jid='%s'%s>%s</item></query>" % (
        NS_ROSTER, jid, attrs, xml)), 'roster set of %s' % jid)


def roster_item(conn, jid):
    """(name, [groups]) of jid in conn's roster, or None when it is not there."""
    el = answered(conn.iq('get', "<query xmlns='%s'/>" % NS_ROSTER), 'roster get')
    for item in el.iter('{%s}item' % NS_ROSTER):
        if item.get('jid') == jid:
            return item.get('name'), sorted(g.text for g in item.iter('{%s}group' % NS_ROSTER))
    return None


def last_status(conn, to=None):
    el = answered(conn.iq('get', "<query xmlns='%s'/>" % NS_LAST, to), 'last activity')
    q = el.find('{%s}query' % NS_LAST)
    check(q is not None, 'last activity result without <query/>')
    return q.text or ''


def logout_with_status(conn, text):
    conn.send('<presence/>')
    conn.send("<presence type='unavailable'><status>%s</status></presence>" % text)
    conn.ping()
    conn.close()


def is_subscribe_from(jid):
    return lambda el: (el.tag == '{%s}presence' % NS_CLIENT and el.get('type') == 'subscribe'
                       and el.get('from') == jid)


@test
def vault_dump_holds_no_roster_name_group_request_or_last_status(suite):
    srv = suite.private_server('vault-meta').start()
    mark = uuid.uuid4().hex
    name, group, status, last = ('MARKER-' + mark, 'G-' + mark, 'S-' + mark, 'L-' + mark)
    bob, _ = srv.user('vmbob2')
    a = srv.login('vmalice2', 'desk')
    roster_set_item(a, bob, name, [group, 'Plain'])
    a.send('<presence/>')
    a.send("<presence to='%s' type='subscribe'><status>%s</status></presence>" % (bob, status))
    wait_rows(srv, 'SELECT count(*) FROM roster_items WHERE pending_in AND pending_sealed IS NOT '
                   'NULL AND account_id = %s' % account_sql('vmbob2'), 1)
    logout_with_status(a, last)
    wait_rows(srv, 'SELECT count(*) FROM last_activity WHERE status_sealed IS NOT NULL AND '
                   'account_id = %s' % account_sql('vmalice2'), 1)
    r = run(['pg_dump', '-h', suite.pg.host, '-U', 'postgres', srv.db])
    check(r.returncode == 0, 'pg_dump failed: %s' % r.stderr.strip()[:300])
    check('vmalice2' in r.stdout and bob in r.stdout, 'the dump does not hold the accounts')
    for what, m in (('roster name', name), ('roster group', group), ('request status', status),
                    ('last status', last), ('marker', mark)):
        check(m not in r.stdout, 'the %s is readable in the database dump' % what)
        check(m.encode().hex() not in r.stdout, 'the %s is in the dump as hex' % what)
    # everything still reads back
    a = srv.login('vmalice2', 'again')
    check(last_status(a) == last, 'last activity status does not read back')
    check(roster_item(a, bob) == (name, sorted([group, 'Plain'])),
          'roster item reads back as %r' % (roster_item(a, bob),))
    b = srv.login('vmbob2', 'phone')
    b.send('<presence/>')
    el = b.wait_for(is_subscribe_from('vmalice2@localhost'), 10, 'the pending request')
    check(el.findtext('{%s}status' % NS_CLIENT) == status, 'request status does not read back')


@test
def vault_sealed_roster_value_copied_to_another_row_does_not_open(suite):
    srv = suite.private_server('vault-meta-moved').start()
    one = srv.login('vmone', 'r')
    two = srv.login('vmtwo', 'r')
    roster_set_item(one, 'pal@localhost', 'Secret One', ['Group One'])
    roster_set_item(one, 'pal2@localhost', 'Second')
    roster_set_item(two, 'pal@localhost', 'Mine', ['Mine too'])
    logout_with_status(one, 'away for good')
    logout_with_status(two, 'my own status')
    wait_rows(srv, 'SELECT count(*) FROM last_activity WHERE status_sealed IS NOT NULL', 2)
    psql(srv, "UPDATE roster_items SET item_sealed = (SELECT item_sealed FROM roster_items "
              "WHERE account_id = %s AND contact = 'pal@localhost') WHERE account_id = %s "
              "AND contact = 'pal@localhost'" % (account_sql('vmone'), account_sql('vmtwo')))
    psql(srv, "UPDATE roster_items SET item_sealed = (SELECT item_sealed FROM roster_items "
              "WHERE account_id = %s AND contact = 'pal@localhost') WHERE account_id = %s "
              "AND contact = 'pal2@localhost'" % (account_sql('vmone'), account_sql('vmone')))
    psql(srv, 'UPDATE last_activity SET status_sealed = (SELECT status_sealed FROM last_activity '
              'WHERE account_id = %s) WHERE account_id = %s' % (account_sql('vmone'),
                                                                  account_sql('vmtwo')))
    two = srv.login('vmtwo', 'again')
    check(roster_item(two, 'pal@localhost') == (None, []),
          "another account's sealed item was opened: %r" % (roster_item(two, 'pal@localhost'),))
    check(last_status(two) == '', "another account's sealed status was opened")
    one = srv.login('vmone', 'again')
    check(roster_item(one, 'pal2@localhost') == (None, []),
          "another contact's sealed item was opened: %r" % (roster_item(one, 'pal2@localhost'),))
    check(roster_item(one, 'pal@localhost') == ('Secret One', ['Group One']),
          'the untouched item changed: %r' % (roster_item(one, 'pal@localhost'),))
    check(last_status(one) == 'away for good', 'the untouched status changed')
    roster_set_item(two, 'pal@localhost', 'Mine again')  # a write seals it afresh
    check(roster_item(two, 'pal@localhost') == ('Mine again', []), 'rewritten item unreadable')
    log = srv.log()
    for column in ('table roster_items, column item_sealed',
                   'table last_activity, column status_sealed'):
        check('sealed value does not open' in log and column in log,
              'the unreadable value is not reported in the log (%s)' % column)
    check(srv.running(), 'the server died')


@test
def vault_recreated_account_roster_and_last_activity_use_its_new_key(suite):
    srv = suite.private_server('vault-meta-again').start()
    olds = [srv.login('vmagain', 'r%d' % i) for i in range(2)]  # both workers cache the old key
    for i, c in enumerate(olds):
        roster_set_item(c, 'pal%d@localhost' % i, 'old name %d' % i, ['old'])
        check(roster_item(c, 'pal%d@localhost' % i) == ('old name %d' % i, ['old']),
              'roster item of the first account unreadable')
    logout_with_status(olds[0], 'old status')
    olds[1].close()
    wait_rows(srv, 'SELECT count(*) FROM last_activity WHERE status_sealed IS NOT NULL', 1)
    ctl_ok(srv, 'user', 'delete', 'vmagain@localhost')
    ctl_ok(srv, 'user', 'add', 'vmagain@localhost', '--password-file',
           srv.password_file(srv.users['vmagain@localhost']))
    news = [srv.login('vmagain', 'n%d' % i) for i in range(2)]
    for i, c in enumerate(news):
        check(roster_item(c, 'pal%d@localhost' % i) is None, 'the new account inherited an item')
        roster_set_item(c, 'new%d@localhost' % i, 'new name %d' % i, ['new'])
        check(roster_item(c, 'new%d@localhost' % i) == ('new name %d' % i, ['new']),
              'roster item of the new account unreadable: %r' % (
                  roster_item(c, 'new%d@localhost' % i),))
    logout_with_status(news[0], 'new status')
    wait_rows(srv, 'SELECT count(*) FROM last_activity WHERE status_sealed IS NOT NULL', 1)
    check(last_status(news[1]) == 'new status', 'the new last status is unreadable')
    check('sealed value does not open' not in srv.log(), 'a value of the new account did not open')
