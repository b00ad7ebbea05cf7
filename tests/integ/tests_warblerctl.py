# Integration tests of the warblerctl commands that match the admin API: sessions list and kick
# and stats through the daemon's control socket, user disable/enable, and the GDPR requests
# (export, erase, rectification, register), each with its audit record and its bad inputs.
import json
import os
import socket
import stat

from tests_admin import xmpp_login, xmpp_refused
from tests_gdpr import archived, chat, roster_set, sql, uniq, wait_sql
from wbinteg import check, test


def ctl_server(suite):
    """The server these tests share (no admin API: warblerctl must not need it)."""
    return suite.server('ctl')


def ok(r, what):
    check(r.returncode == 0, '%s: exit %d: %s' % (what, r.returncode, (r.stderr or r.stdout)
                                                   .strip()[:300]))
    return r.stdout


def fails(r, code, what, message=None):
    """Exit status CODE with exactly one line on stderr (containing MESSAGE when given)."""
    lines = r.stderr.strip().splitlines()
    check(r.returncode == code, '%s: exit %d, wanted %d (%r)' % (what, r.returncode, code,
                                                                r.stderr[:300]))
    check(len(lines) == 1, '%s: %d lines on stderr: %r' % (what, len(lines), r.stderr[:300]))
    if message:
        check(message in lines[0], '%s: %r lacks %r' % (what, lines[0], message))


def audited(srv, action, target, ok_=True, what=None):
    """Waits for a record of ACTION by warblerctl (actor ctl, source local:USER) on TARGET."""
    wait_sql(srv, "SELECT count(*) > 0 FROM audit_log WHERE action = '%s' AND actor = 'ctl' AND "
             "source LIKE 'local:%%' AND %s AND target %s" % (
                 action, 'ok' if ok_ else 'NOT ok',
                 "= '%s'" % target if target else 'IS NULL'), 't',
             what=what or 'audit record %s %s' % (action, target))


def accounts(srv, *tags):
    """A new account per tag; their local parts."""
    names = [uniq(t) for t in tags]
    for n in names:
        srv.user(n)
    return names


def sessions(srv, *jid):
    """{full jid: {field: value}} from warblerctl sessions list [JID]."""
    out = ok(srv.ctl('sessions', 'list', *jid), 'sessions list')
    found = {}
    for line in out.splitlines():
        cols = line.split('\t')
        found[cols[0]] = dict(c.split('=', 1) for c in cols[1:])
    return found


@test
def warblerctl_sessions_list_and_kick_real_clients(suite):
    srv = ctl_server(suite)
    alice, bob = accounts(srv, 'csa', 'csb')
    a1 = xmpp_login(srv, alice, resource='phone')
    a2 = xmpp_login(srv, alice, resource='desk')
    b = xmpp_login(srv, bob, resource='r')
    listed = sessions(srv)
    for full in ('%s@localhost/phone' % alice, '%s@localhost/desk' % alice, '%s@localhost/r' % bob):
        check(full in listed, '%s not listed: %s' % (full, sorted(listed)))
    s = listed['%s@localhost/phone' % alice]
    check(s['address'] == '127.0.0.1' and s['tls'].startswith('TLSv1.') and
          s['since'].endswith('Z') and s['worker'] in ('0', '1'), 'session fields: %s' % s)
    only = sessions(srv, alice.upper() + '@LocalHost')
    check(sorted(only) == sorted(['%s@localhost/phone' % alice, '%s@localhost/desk' % alice]),
          'sessions list JID: %s' % sorted(only))
    out = ok(srv.ctl('sessions', 'kick', '%s@localhost/phone' % alice), 'kick one')
    check(out.strip() == 'kicked 1', 'kick answer: %r' % out)
    a1.expect_stream_error('policy-violation')
    a2.ping()
    b.ping()
    check('%s@localhost/phone' % alice not in sessions(srv, '%s@localhost' % alice),
          'kicked session still listed')
    fails(srv.ctl('sessions', 'kick', '%s@localhost/phone' % alice), 1, 'kick a gone session',
          'no such session')
    out = ok(srv.ctl('sessions', 'kick', '%s@localhost' % alice), 'kick an account')
    check(out.strip() == 'kicked 1', 'kick account answer: %r' % out)
    a2.expect_stream_error('policy-violation')
    b.ping()
    audited(srv, 'session.kick', '%s@localhost/phone' % alice)
    audited(srv, 'session.kick', '%s@localhost/phone' % alice, ok_=False)
    audited(srv, 'session.list', None)
    audited(srv, 'session.list', '%s@localhost' % alice)
    b.close()


@test
def warblerctl_sessions_and_stats_reject_bad_input(suite):
    srv = ctl_server(suite)
    fails(srv.ctl('sessions'), 2, 'sessions alone', 'usage')
    fails(srv.ctl('sessions', 'frob'), 2, 'sessions frob', 'usage')
    fails(srv.ctl('sessions', 'kick'), 2, 'kick without JID', 'usage')
    fails(srv.ctl('sessions', 'list', 'a@localhost', 'b@localhost'), 2, 'two JIDs', 'usage')
    fails(srv.ctl('stats', 'now'), 2, 'stats with an argument', 'usage')
    fails(srv.ctl('sessions', 'list', 'not a jid'), 1, 'bad JID', 'invalid account JID')
    fails(srv.ctl('sessions', 'list', 'x@localhost/res'), 1, 'list with a resource',
          'invalid account JID')
    fails(srv.ctl('sessions', 'kick', 'x@elsewhere.example'), 1, 'foreign domain',
          'unknown domain')
    fails(srv.ctl('sessions', 'kick', 'nobody@localhost'), 1, 'kick nobody', 'no such session')
    # The socket's own protocol: one line in, lines then "end" out; errors as "error ...".
    for line, want in ((b'frobnicate\n', b'error unknown command\nend\n'),
                       (b'stats extra\n', b'error unknown command\nend\n'),
                       (b'sessions close x@localhost kick\n', b'error expected: sessions close '
                        b'JID disabled|deleted|erased\nend\n'),
                       (b'sessions list x@\n', b'error invalid account JID (expected '
                        b'user@domain)\nend\n')):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(os.path.join(srv.dir, 'warblerd-ctl.sock'))
            s.sendall(line)
            got = b''
            while not got.endswith(b'end\n'):
                chunk = s.recv(4096)
                check(chunk, 'control socket closed after %r' % got)
                got += chunk
        check(got == want, '%r answered %r' % (line, got))


@test
def warblerctl_stats_shows_uptime_sessions_accounts_and_workers(suite):
    srv = ctl_server(suite)
    local, = accounts(srv, 'cst')
    c = xmpp_login(srv, local, resource='r')
    out = ok(srv.ctl('stats'), 'stats')
    got = dict(line.split(' ', 1) for line in out.splitlines())
    check(sorted(got) == ['accounts', 'sessions', 'uptime', 'workers'], 'stats: %r' % out)
    check(int(got['uptime']) >= 0 and got['workers'] == '2', 'stats: %r' % got)
    check(int(got['sessions']) == len(sessions(srv)) and int(got['sessions']) >= 1,
          'sessions %s, listed %d' % (got['sessions'], len(sessions(srv))))
    check(got['accounts'] == sql(srv, 'SELECT count(*) FROM accounts'), 'accounts: %r' % got)
    c.close()


@test
def warblerctl_user_disable_closes_sessions_and_refuses_login_until_enabled(suite):
    srv = ctl_server(suite)
    local, = accounts(srv, 'cud')
    jid = local + '@localhost'
    c = xmpp_login(srv, local, resource='r')
    out = ok(srv.ctl('user', 'disable', jid), 'user disable')
    check(out.splitlines() == ['disabled ' + jid, 'closed 1 live session(s)'],
          'disable output: %r' % out)
    c.expect_stream_error('policy-violation')
    check(xmpp_refused(srv, local), 'a disabled account logged in')
    check(sql(srv, "SELECT disabled FROM accounts WHERE domain = 'localhost' AND node = '%s'"
              % local) == 't', 'account not disabled')
    check('(disabled)' in ok(srv.ctl('user', 'list'), 'user list'), 'list shows no disabled')
    out = ok(srv.ctl('user', 'enable', jid), 'user enable')
    check(out.strip() == 'enabled ' + jid, 'enable output: %r' % out)
    xmpp_login(srv, local, resource='r').close()
    audited(srv, 'account.disable', jid)
    audited(srv, 'account.enable', jid)
    fails(srv.ctl('user', 'disable', 'nobody-%s@localhost' % local), 1, 'disable nobody',
          'no such account')
    audited(srv, 'account.disable', 'nobody-%s@localhost' % local, ok_=False)
    fails(srv.ctl('user', 'enable', 'not a jid'), 1, 'enable a bad JID', 'invalid account JID')
    fails(srv.ctl('user', 'disable', 'x@elsewhere.example'), 1, 'foreign domain',
          'unknown domain')
    check(srv.ctl('user', 'disable').returncode == 2, 'disable without JID is no usage error')


@test
def warblerctl_gdpr_export_has_sent_and_received_messages_decrypted_and_nothing_of_others(suite):
    srv = ctl_server(suite)
    names = accounts(srv, 'cga', 'cgb', 'cgc')
    alice, bob, carol = names
    conns = [xmpp_login(srv, n, resource='r') for n in names]
    # alice -> bob, bob -> alice, carol -> bob: (from, to, text) by index.
    sent, received, foreign = texts = [uniq(t) for t in ('sentA2B-', 'recvB2A-', 'foreignC2B-')]
    for frm, to, text in zip((0, 1, 2), (1, 0, 1), texts):
        chat(conns[frm], names[to] + '@localhost', text)
    archived(srv, alice, 2)
    archived(srv, bob, 3)
    path = os.path.join(srv.dir, 'export-%s.json' % alice)
    out = ok(srv.ctl('gdpr', 'export', alice + '@localhost', '--out', path), 'gdpr export')
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, 'export file mode %o' %
          stat.S_IMODE(os.stat(path).st_mode))
    with open(path) as f:
        doc = json.load(f)
    check('exported %s@localhost to %s' % (alice, path) in out, 'export output: %r' % out)
    # Exactly the two messages, each decrypted, in its direction; nothing of carol's.
    seen = sorted((m['direction'], m['peer'], sent in (m['stanza'] or ''),
                   received in (m['stanza'] or '')) for m in doc['archive'])
    check(seen == [('received', bob + '@localhost', False, True),
                   ('sent', bob + '@localhost', True, False)], 'archive: %r' % seen)
    check(foreign not in json.dumps(doc) and carol not in json.dumps(doc),
          'another account\'s data in the export')
    check(doc['unreadable'] == 0, 'unreadable values: %s' % doc['unreadable'])
    req = doc['request']
    check(req['kind'] == 'export' and req['requested_by'].startswith('ctl:') and
          req['target'] == alice + '@localhost', 'request: %s' % req)
    check(sql(srv, "SELECT status || ' ' || actor FROM gdpr_requests WHERE id = '%s'" % req['id'])
          == 'completed ' + req['requested_by'], 'register row not completed')
    audited(srv, 'gdpr.export', alice + '@localhost')
    # The file is never overwritten; stdout gets the same archive.
    size = os.path.getsize(path)
    fails(srv.ctl('gdpr', 'export', alice + '@localhost', '--out', path), 1, 'overwrite',
          'exists')
    check(os.path.getsize(path) == size, 'the export file changed')
    doc2 = json.loads(ok(srv.ctl('gdpr', 'export', bob + '@localhost'), 'export to stdout'))
    check(len(doc2['archive']) == 3 and foreign in json.dumps(doc2), 'bob export: %d messages'
          % len(doc2['archive']))
    fails(srv.ctl('gdpr', 'export', 'nobody-%s@localhost' % alice), 1, 'export nobody',
          'no such account')
    audited(srv, 'gdpr.export', 'nobody-%s@localhost' % alice, ok_=False)
    for conn in conns:
        conn.close()


@test
def warblerctl_gdpr_erase_shreds_the_account_kicks_it_and_prints_a_receipt(suite):
    srv = ctl_server(suite)
    dave, erin = accounts(srv, 'cge', 'cgf')
    d, e = xmpp_login(srv, dave, resource='r'), xmpp_login(srv, erin, resource='r')
    chat(d, erin + '@localhost', uniq('bye-'))
    chat(e, dave + '@localhost', uniq('hi-'))
    archived(srv, dave, 2)
    acc = sql(srv, "SELECT id FROM accounts WHERE domain = 'localhost' AND node = '%s'" % dave)
    fails(srv.ctl('gdpr', 'erase', dave + '@localhost'), 2, 'erase without --yes', '--yes')
    d.ping()
    r = srv.ctl('gdpr', 'erase', dave + '@localhost', '--yes')
    rc = json.loads(ok(r, 'gdpr erase'))['receipt']
    check(rc['kind'] == 'erase' and rc['target'] == dave + '@localhost' and rc['id'] and
          rc['completed_at'] and rc['requested_by'].startswith('ctl:'), 'receipt: %s' % rc)
    check(rc['erased']['data_key'] is True and rc['erased']['archive_messages'] == 2,
          'erased: %s' % rc['erased'])
    check('closed 1 live session(s)' in r.stderr, 'erase stderr: %r' % r.stderr)
    d.expect_stream_error('not-authorized')
    for table in ('accounts WHERE id', 'account_keys WHERE account_id', 'archive WHERE account_id',
                  'roster_items WHERE account_id', 'offline_messages WHERE account_id'):
        check(sql(srv, 'SELECT count(*) FROM %s = %s' % (table, acc)) == '0',
              'rows left in %s' % table.split()[0])
    check(sql(srv, "SELECT status FROM gdpr_requests WHERE id = '%s'" % rc['id']) == 'completed',
          'register row')
    audited(srv, 'gdpr.erase', dave + '@localhost')
    fails(srv.ctl('gdpr', 'erase', dave + '@localhost', '--yes'), 1, 'second erase',
          'no such account')
    check(xmpp_refused(srv, dave), 'an erased account logged in')
    e.close()


@test
def warblerctl_gdpr_rectify_and_requests(suite):
    srv = ctl_server(suite)
    fay, gus = accounts(srv, 'cgr', 'cgs')
    f = xmpp_login(srv, fay, resource='r')
    roster_set(f, gus + '@localhost', 'Gus Old', 'Work')
    f.close()
    jid = fay + '@localhost'
    vcard = os.path.join(srv.dir, 'vcard-%s.xml' % fay)
    with open(vcard, 'w') as fh:
        fh.write("<vCard xmlns='vcard-temp'><FN>Fay Rectified</FN></vCard>")
    out = ok(srv.ctl('gdpr', 'rectify-vcard', jid, '--file', vcard), 'rectify-vcard')
    check(out.startswith('rectified the vCard of ' + jid), 'rectify-vcard output: %r' % out)
    out = ok(srv.ctl('gdpr', 'rectify-roster', jid, gus + '@localhost', 'Gus New'),
             'rectify-roster')
    check(out.startswith('rectified the roster name of %s@localhost' % gus), 'output: %r' % out)
    doc = json.loads(ok(srv.ctl('gdpr', 'export', jid), 'export after rectify'))
    check('Fay Rectified' in (doc['vcard'] or {}).get('xml', ''), 'vcard: %s' % doc['vcard'])
    item = [i for i in doc['roster'] if i['jid'] == gus + '@localhost']
    check(item and item[0]['name'] == 'Gus New' and item[0]['groups'] == ['Work'],
          'roster: %s' % doc['roster'])
    audited(srv, 'gdpr.rectify', jid)
    bad = os.path.join(srv.dir, 'bad-%s.xml' % fay)
    with open(bad, 'w') as fh:
        fh.write("<!DOCTYPE x [<!ENTITY a 'b'>]><vCard xmlns='vcard-temp'/>")
    fails(srv.ctl('gdpr', 'rectify-vcard', jid, '--file', bad), 1, 'vCard with a DTD', 'vCard')
    fails(srv.ctl('gdpr', 'rectify-vcard', jid), 2, 'rectify-vcard without --file', 'usage')
    fails(srv.ctl('gdpr', 'rectify-roster', jid, 'nobody@localhost', 'N'), 1,
          'rectify a missing item', 'roster item')
    fails(srv.ctl('gdpr', 'rectify-roster', jid, 'no body@@', 'N'), 1, 'bad contact',
          'contact')
    out = ok(srv.ctl('gdpr', 'requests', '--limit', '5'), 'gdpr requests')
    rows = [l.split('\t') for l in out.splitlines()]
    check(len(rows) == 5 and rows[0][1] == 'rectify' and rows[0][3] == 'rejected' and
          rows[0][2] == jid and rows[0][4].startswith('ctl:'), 'requests: %r' % out[:500])
    audited(srv, 'gdpr.list', None)
    fails(srv.ctl('gdpr'), 2, 'gdpr alone')
    fails(srv.ctl('gdpr', 'requests', '--limit', '0'), 2, 'limit 0', 'usage')
    fails(srv.ctl('gdpr', 'export', jid, '--yes'), 2, 'export --yes', 'usage')
    fails(srv.ctl('gdpr', 'frob', jid), 2, 'gdpr frob')


@test
def warblerctl_daemon_commands_without_daemon_and_the_control_socket_settings(suite):
    srv = suite.private_server('ctlsock')
    local, = accounts(srv, 'cds')
    fails(srv.ctl('sessions', 'list'), 1, 'sessions list without daemon', 'cannot reach warblerd')
    fails(srv.ctl('stats'), 1, 'stats without daemon', 'cannot reach warblerd')
    out = ok(srv.ctl('user', 'disable', local + '@localhost'), 'disable without daemon')
    check('warblerd is not running' in out, 'disable output: %r' % out)
    ok(srv.ctl('user', 'enable', local + '@localhost'), 'enable')
    # The deprecated s2s.control_socket still names the socket when server.control_socket does not.
    with open(srv.conf, 'a') as f:
        f.write('s2s = { control_socket = "alias.sock"; };\n')
    srv.start()
    path = os.path.join(srv.dir, 'alias.sock')
    check(stat.S_ISSOCK(os.stat(path).st_mode) and stat.S_IMODE(os.stat(path).st_mode) == 0o600,
          'control socket %s: mode %o' % (path, stat.S_IMODE(os.stat(path).st_mode)))
    c = xmpp_login(srv, local, resource='r')
    check('%s@localhost/r' % local in sessions(srv), 'session not listed through the alias')
    c.close()
    srv.stop()
    check(not os.path.exists(path), 'control socket left behind after stop')
    # server.control_socket wins.
    with open(srv.conf) as f:
        text = f.read()
    with open(srv.conf, 'w') as f:
        f.write(text.replace('key_file = "master.key";',
                             'key_file = "master.key"; control_socket = "run/ctl.sock";'))
    os.makedirs(os.path.join(srv.dir, 'run'))
    srv.start()
    check(os.path.exists(os.path.join(srv.dir, 'run', 'ctl.sock')), 'server.control_socket unused')
    check(not os.path.exists(path), 'the alias was used over server.control_socket')
    out = ok(srv.ctl('stats'), 'stats through server.control_socket')
    check(out.startswith('uptime '), 'stats: %r' % out)
