# Integration tests of the GDPR endpoints (export, erasure with receipt, rectification, register)
# and of the audit endpoints (list with filters and paging, verify), with allowed and denied roles.
import json
import time
import uuid

from tests_admin import admin_server, role_token, root_token, xmpp_login
from wbinteg import check, local_name, run, test

NS_ROSTER = 'jabber:iq:roster'


def sql(srv, statement):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-v',
             'ON_ERROR_STOP=1', '-XtAc', statement])
    check(r.returncode == 0, 'psql: %s' % r.stderr.strip()[:300])
    return r.stdout.strip()


def uniq(prefix):
    return '%s%s' % (prefix, uuid.uuid4().hex[:8])


def wait_sql(srv, statement, want, timeout=10, what='rows'):
    deadline = time.monotonic() + timeout
    got = sql(srv, statement)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)
        got = sql(srv, statement)
    check(got == want, '%s: %r, wanted %r' % (what, got, want))


def chat(sender, to, body):
    sender.send("<message type='chat' to='%s' id='%s'><body>%s</body></message>"
                % (to, uuid.uuid4().hex[:10], body))


def archived(srv, local, n):
    wait_sql(srv, "SELECT count(*) FROM archive x JOIN accounts a ON a.id = x.account_id "
             "WHERE a.domain = 'localhost' AND a.node = '%s'" % local, str(n),
             what='archive rows of %s' % local)


def roster_set(conn, contact, name, group):
    el = conn.iq('set', "<query xmlns='%s'><item jid='%s' name='%s'><group>%s</group></item>"
                 "</query>" % (NS_ROSTER, contact, name, group))
    check(el.get('type') == 'result', 'roster set refused')


def three_users(srv, tag):
    names = [uniq(tag + p) for p in ('a', 'b', 'c')]
    for n in names:
        srv.user(n)
    return names


@test
def gdpr_export_has_sent_and_received_messages_decrypted_and_nothing_of_others(suite):
    srv, api = admin_server(suite)
    alice, bob, carol = three_users(srv, 'gx')
    a, b, c = (xmpp_login(srv, n, resource='r') for n in (alice, bob, carol))
    sent, received, foreign = uniq('sentA2B-'), uniq('recvB2A-'), uniq('foreignC2B-')
    chat(a, bob + '@localhost', sent)
    chat(b, alice + '@localhost', received)
    chat(c, bob + '@localhost', foreign)
    roster_set(a, bob + '@localhost', 'Bobby Tables', 'Friends')
    v = a.iq('set', "<vCard xmlns='vcard-temp'><FN>Alice Export</FN></vCard>")
    check(v.get('type') == 'result', 'vCard set refused')
    p = a.iq('set', "<prefs xmlns='urn:xmpp:mam:2' default='always'><always><jid>%s@localhost"
             "</jid></always><never/></prefs>" % bob)
    check(p.get('type') == 'result', 'MAM prefs refused')
    archived(srv, alice, 2)
    archived(srv, bob, 3)
    dpo = role_token(api, root_token(srv, api), 'dpo')
    st, doc = api.call('POST', '/api/v1/gdpr/export/%s@localhost' % alice, token=dpo)
    check(st == 200, 'export: %d %s' % (st, doc))
    check(doc['account']['jid'] == alice + '@localhost', 'account: %s' % doc['account'])
    msgs = {(m['direction'], m['peer']): m['stanza'] or '' for m in doc['archive']}
    check(sent in msgs.get(('sent', bob + '@localhost'), ''), 'sent message missing: %s' % msgs)
    check(received in msgs.get(('received', bob + '@localhost'), ''),
          'received message missing: %s' % msgs)
    check(len(doc['archive']) == 2, '%d archive messages, wanted 2' % len(doc['archive']))
    text = json.dumps(doc)
    check(foreign not in text and carol not in text, 'another account\'s data in the export')
    item = [i for i in doc['roster'] if i['jid'] == bob + '@localhost']
    check(item and item[0]['name'] == 'Bobby Tables' and item[0]['groups'] == ['Friends'],
          'roster: %s' % doc['roster'])
    check('Alice Export' in (doc['vcard'] or {}).get('xml', ''), 'vcard: %s' % doc['vcard'])
    check(doc['archive_prefs'] == {'default': 'always', 'always': [bob + '@localhost'],
                                   'never': []}, 'archive prefs: %s' % doc['archive_prefs'])
    check(doc['unreadable'] == 0, 'unreadable values: %s' % doc['unreadable'])
    req = doc['request']
    check(req['kind'] == 'export' and req['requested_by'].startswith('admin:dpo'),
          'request: %s' % req)
    check(sql(srv, "SELECT status || ' ' || actor FROM gdpr_requests WHERE id = '%s'" % req['id'])
          == 'completed ' + req['requested_by'], 'register row not completed')
    wait_sql(srv, "SELECT count(*) FROM audit_log WHERE action = 'gdpr.export' AND ok AND "
             "target = '%s@localhost' AND role = 'dpo'" % alice, '1', what='export audit record')
    # The database never held the texts in clear.
    check(sql(srv, "SELECT count(*) FROM archive WHERE position(convert_to('%s', 'UTF8') IN "
              "payload) > 0" % sent) == '0', 'message text stored in clear')
    for conn in (a, b, c):
        conn.close()


@test
def gdpr_endpoints_allow_dpo_and_deny_other_roles(suite):
    srv, api = admin_server(suite)
    local = uniq('groles')
    srv.user(local)
    jid = local + '@localhost'
    root = root_token(srv, api)
    tokens = {r: role_token(api, root, r) for r in ('operator', 'auditor', 'dpo')}
    calls = [('POST', '/api/v1/gdpr/export/' + jid, None, 'gdpr.read'),
             ('GET', '/api/v1/gdpr/requests', None, 'gdpr.read'),
             ('PUT', '/api/v1/gdpr/rectify/%s/vcard' % jid,
              {'vcard': "<vCard xmlns='vcard-temp'><FN>X</FN></vCard>"}, 'gdpr.write'),
             ('PUT', '/api/v1/gdpr/rectify/%s/roster/nobody@localhost' % jid, {'name': 'N'},
              'gdpr.write'),
             ('POST', '/api/v1/gdpr/erase/' + jid, None, 'gdpr.write')]
    for method, path, body, perm in calls:
        for role in ('operator', 'auditor'):
            st, doc = api.call(method, path, body, token=tokens[role])
            check(st == 403 and perm in doc['message'], '%s %s as %s: %d %s' % (
                method, path, role, st, doc))
        st, doc = api.call(method, path, body)
        check(st == 401, '%s %s without a token: %d' % (method, path, st))
    st, doc = api.call('PUT', '/api/v1/gdpr/rectify/%s/roster/nobody@localhost' % jid,
                       {'name': 'N'}, token=tokens['dpo'])
    check(st == 404, 'rectify of a missing roster item: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/gdpr/requests?limit=5', token=tokens['dpo'])
    check(st == 200 and doc['items'] and doc['items'][0]['kind'] == 'rectify' and
          doc['items'][0]['status'] == 'rejected', 'requests: %d %s' % (st, doc))
    st, doc = api.call('POST', '/api/v1/gdpr/export/nobody-%s@localhost' % local,
                       token=tokens['dpo'])
    check(st == 404, 'export of a missing account: %d' % st)
    st, doc = api.call('POST', '/api/v1/gdpr/export/not%20a%20jid', token=tokens['dpo'])
    check(st in (400, 404), 'export of a bad JID: %d' % st)
    st, doc = api.call('POST', '/api/v1/gdpr/export/%s@elsewhere.example' % local,
                       token=tokens['dpo'])
    check(st == 400 and doc['code'] == 'unknown_domain', 'foreign domain: %d %s' % (st, doc))
    st, doc = api.call('POST', '/api/v1/gdpr/export/' + jid, token=tokens['dpo'])
    check(st == 200 and doc['archive'] == [], 'export as dpo: %d' % st)
    st, doc = api.call('POST', '/api/v1/gdpr/export/' + jid, token=root)
    check(st == 200, 'export as superadmin: %d' % st)
    wait_sql(srv, "SELECT count(*) > 0 FROM audit_log WHERE action = 'gdpr.erase' AND NOT ok "
             "AND role = 'operator' AND reason LIKE '%%gdpr.write%%'", 't',
             what='audited denial')


@test
def gdpr_erase_shreds_the_key_deletes_the_account_and_returns_a_receipt(suite):
    srv, api = admin_server(suite)
    dave, erin, _ = three_users(srv, 'ge')
    d, e = xmpp_login(srv, dave, resource='r'), xmpp_login(srv, erin, resource='r')
    chat(d, erin + '@localhost', uniq('bye-'))
    chat(e, dave + '@localhost', uniq('hi-'))
    roster_set(d, erin + '@localhost', 'Erin', 'Work')
    archived(srv, dave, 2)
    acc = sql(srv, "SELECT id FROM accounts WHERE domain = 'localhost' AND node = '%s'" % dave)
    # A copy of the sealed rows, as a backup would keep them.
    backup = 'gdpr_backup_%s' % dave
    sql(srv, 'CREATE TABLE %s AS SELECT account_id, stanza_id, payload FROM archive '
        'WHERE account_id = %s' % (backup, acc))
    dpo = role_token(api, root_token(srv, api), 'dpo')
    st, doc = api.call('POST', '/api/v1/gdpr/erase/%s@localhost' % dave, token=dpo)
    check(st == 200, 'erase: %d %s' % (st, doc))
    rc = doc['receipt']
    check(rc['kind'] == 'erase' and rc['target'] == dave + '@localhost' and rc['id'] and
          rc['completed_at'], 'receipt: %s' % rc)
    er = rc['erased']
    check(er['data_key'] is True and er['account'] is True and er['archive_messages'] == 2 and
          er['roster_items'] >= 1, 'erased: %s' % er)
    d.expect_stream_error('not-authorized')
    for table in ('accounts WHERE id', 'account_keys WHERE account_id', 'archive WHERE account_id',
                  'roster_items WHERE account_id', 'xml_documents WHERE account_id',
                  'offline_messages WHERE account_id', 'account_scram WHERE account_id'):
        check(sql(srv, 'SELECT count(*) FROM %s = %s' % (table, acc)) == '0',
              'rows left in %s' % table.split()[0])
    # The backed-up rows stay sealed under a key that no longer exists anywhere.
    check(sql(srv, 'SELECT count(*) FROM %s b JOIN account_keys k USING (account_id)' % backup)
          == '0', 'the copied rows still have a key')
    sql(srv, 'DROP TABLE %s' % backup)
    check(sql(srv, "SELECT count(*) FROM roster_items WHERE contact = '%s@localhost'" % dave)
          == '0', 'other rosters still hold the erased account')
    # erin's own archive keeps erin's copies (they are erin's data).
    archived(srv, erin, 2)
    check(sql(srv, "SELECT status || ' ' || (account_id IS NULL)::text FROM gdpr_requests "
              "WHERE id = '%s'" % rc['id']) == 'completed true', 'register row')
    st, doc = api.call('POST', '/api/v1/gdpr/erase/%s@localhost' % dave, token=dpo)
    check(st == 404, 'second erase: %d' % st)
    st, doc = api.call('POST', '/api/v1/gdpr/export/%s@localhost' % dave, token=dpo)
    check(st == 404, 'export after erasure: %d' % st)
    wait_sql(srv, "SELECT count(*) FROM audit_log WHERE action = 'gdpr.erase' AND ok AND "
             "target = '%s@localhost'" % dave, '1', what='erase audit record')
    e.close()


@test
def gdpr_rectify_changes_vcard_and_roster_name_keeping_groups(suite):
    srv, api = admin_server(suite)
    fay, gus, _ = three_users(srv, 'gr')
    f = xmpp_login(srv, fay, resource='r')
    roster_set(f, gus + '@localhost', 'Old Name', 'Family')
    dpo = role_token(api, root_token(srv, api), 'dpo')
    base = '/api/v1/gdpr/rectify/%s@localhost' % fay
    st, doc = api.call('PUT', base + '/roster/%s@localhost' % gus, {'name': 'New Name'},
                       token=dpo)
    check(st == 200 and doc['name'] == 'New Name', 'roster rectify: %d %s' % (st, doc))
    el = f.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
    items = [i for i in el.iter('{%s}item' % NS_ROSTER) if i.get('jid') == gus + '@localhost']
    check(items and items[0].get('name') == 'New Name', 'roster name not rectified')
    groups = [g.text for g in items[0] if local_name(g.tag) == 'group']
    check(groups == ['Family'], 'groups changed: %s' % groups)
    st, doc = api.call('PUT', base + '/vcard',
                       {'vcard': "<vCard xmlns='vcard-temp'><FN>Fay Fixed</FN></vCard>"},
                       token=dpo)
    check(st == 200 and doc['request']['kind'] == 'rectify', 'vcard rectify: %d %s' % (st, doc))
    el = f.iq('get', "<vCard xmlns='vcard-temp'/>")
    fn = el.find('{vcard-temp}vCard/{vcard-temp}FN')
    check(fn is not None and fn.text == 'Fay Fixed', 'vCard not rectified')
    for bad in ("<vCard xmlns='other'/>", '<vCard', "<!DOCTYPE x [<!ENTITY a 'b'>]>"
                "<vCard xmlns='vcard-temp'/>", 42):
        st, doc = api.call('PUT', base + '/vcard', {'vcard': bad}, token=dpo)
        check(st == 400 and doc['code'] == 'bad_vcard', 'bad vCard %r: %d' % (bad, st))
    st, doc = api.call('PUT', base + '/roster/%s@localhost' % gus, {'nick': 'x'}, token=dpo)
    check(st == 400, 'roster rectify without name: %d' % st)
    st, doc = api.call('PUT', base + '/roster/%s@localhost' % gus, {'name': None}, token=dpo)
    check(st == 200, 'removing the name: %d %s' % (st, doc))
    el = f.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
    items = [i for i in el.iter('{%s}item' % NS_ROSTER) if i.get('jid') == gus + '@localhost']
    check(items and items[0].get('name') is None, 'name not removed')
    f.close()


@test
def audit_api_lists_newest_first_with_filters_and_paging(suite):
    srv, api = admin_server(suite)
    root = root_token(srv, api)
    auditor = role_token(api, root, 'auditor')
    local = uniq('aud')
    for _ in range(3):
        st, _doc = api.call('GET', '/api/v1/accounts/%s@localhost' % local, token=root)
        check(st == 404, 'account get: %d' % st)
    wait_sql(srv, "SELECT count(*) FROM audit_log WHERE target = '%s@localhost'" % local, '3',
             what='audit records')
    st, doc = api.call('GET', '/api/v1/audit?target=%s@localhost&limit=2' % local, token=auditor)
    check(st == 200 and len(doc['items']) == 2, 'page 1: %d %s' % (st, doc))
    ids = [r['id'] for r in doc['items']]
    check(ids[0] > ids[1] and doc['next_before'] == ids[1], 'not newest first: %s' % doc)
    check(all(r['action'] == 'account.read' and r['ok'] is False for r in doc['items']),
          'records: %s' % doc['items'])
    st, doc2 = api.call('GET', '/api/v1/audit?target=%s@localhost&limit=2&before=%d'
                        % (local, doc['next_before']), token=auditor)
    check(st == 200 and len(doc2['items']) == 1 and doc2['items'][0]['id'] < ids[1] and
          doc2['next_before'] is None, 'page 2: %s' % doc2)
    st, doc = api.call('GET', '/api/v1/audit?action=account.*&target=%s@localhost&actor=nobody'
                       % local, token=auditor)
    check(st == 200 and doc['items'] == [], 'actor filter: %s' % doc)
    st, doc = api.call('GET', '/api/v1/audit?target=%s@localhost&since=2100-01-01T00:00:00Z'
                       % local, token=root)
    check(st == 200 and doc['items'] == [], 'since filter: %s' % doc)
    st, doc = api.call('GET', '/api/v1/audit?target=%s@localhost&until=%d' % (
        local, int(time.time()) + 60), token=root)
    check(st == 200 and len(doc['items']) == 3, 'until filter: %s' % doc)
    for bad in ('since=yesterday', 'limit=0', 'limit=100000', 'before=-3'):
        st, doc = api.call('GET', '/api/v1/audit?' + bad, token=auditor)
        check(st == 400, '%s: %d' % (bad, st))
    for role in ('operator', 'dpo'):
        tok = role_token(api, root, role)
        for method, path in (('GET', '/api/v1/audit'), ('POST', '/api/v1/audit/verify')):
            st, doc = api.call(method, path, token=tok)
            check(st == 403 and 'audit.read' in doc['message'], '%s %s as %s: %d' % (
                method, path, role, st))
    st, doc = api.call('GET', '/api/v1/audit')
    check(st == 401, 'no token: %d' % st)


@test
def audit_api_verify_reports_the_first_tampered_record(suite):
    srv, api = admin_server(suite, 'admin-gdpr-verify', lifetime=600)
    root = root_token(srv, api)
    auditor = role_token(api, root, 'auditor')
    for _ in range(4):
        api.call('GET', '/api/v1/accounts/nobody@localhost', token=root)
    wait_sql(srv, "SELECT count(*) >= 6 FROM audit_log", 't', what='audit records')
    st, doc = api.call('POST', '/api/v1/audit/verify', token=auditor)
    check(st == 200 and doc['ok'] is True and doc['first_bad'] is None and doc['checked'] >= 6,
          'verify of an intact chain: %d %s' % (st, doc))
    bad = int(sql(srv, 'SELECT min(id) + 2 FROM audit_log'))
    sql(srv, "SET session_replication_role = replica; UPDATE audit_log SET reason = 'edited' "
        "WHERE id = %d" % bad)
    st, doc = api.call('POST', '/api/v1/audit/verify', token=root)
    check(st == 200 and doc['ok'] is False and doc['first_bad'] == bad,
          'verify after tampering with %d: %s' % (bad, doc))
    wait_sql(srv, "SELECT count(*) > 0 FROM audit_log WHERE action = 'audit.verify'", 't',
             what='verify audited')
