# Integration tests of the admin API's invites, retention settings, API-key and admin management
# (roles, revocation, disabling) and of the retention counters in /metrics.
import re
import time
import urllib.request

from wbinteg import Failure, Server, check, free_ports, test
from tests_admin import ADMIN_PW, Api, audit_row, ctl_admin, fresh, root_token
from tests_register import check_refused, check_registered
from tests_retention import UNIT_MS, archived, wait_value
from tests_mam import chat


def more_server(suite):
    """The admin API with invite-only registration and quick retention, started once per run."""
    entry = suite.named.get('adminmore')
    if entry is None:
        srv = Server(suite, 'adminmore')
        srv.admin_port = free_ports(1)[0]
        with open(srv.conf, 'a') as f:
            f.write('admin = { enabled = true; listen = "127.0.0.1"; port = %d; threads = 2;\n'
                    '          login_failures = 1000; };\n' % srv.admin_port)
            f.write('register = { enabled = true; invite_only = true; per_address = 100; '
                    'window = 3600; };\n')
            f.write('retention = { default = 0; sweep_interval = 1; batch = 2; unit_ms = %d; };\n'
                    % UNIT_MS)
        srv.api = Api(srv.admin_port)
        entry = suite.named['adminmore'] = [srv, None]
        try:
            srv.start()
        except Failure as e:
            entry[1] = e
    srv, error = entry
    suite.note_server(srv)
    if error is not None:
        raise error
    return srv, srv.api


def new_admin(api, root, role):
    """(name, TOTP secret) of a new admin made through the API."""
    name = fresh(role)
    st, doc = api.call('POST', '/api/v1/admins', {'name': name, 'role': role,
                                                   'password': ADMIN_PW}, token=root)
    check(st == 201, 'POST /admins (%s): %d %s' % (role, st, doc))
    return name, re.search(r'secret=([A-Z2-7]+)', doc['totp_uri']).group(1)


def ctl_apikey(srv, role):
    """(name, key) of a new API key made with warblerctl."""
    name = fresh('key')
    r = srv.ctl('apikey', 'add', name, '--role', role)
    check(r.returncode == 0 and r.stdout.startswith('wbk_'), 'apikey add: %s' % r.stdout[:200])
    return name, r.stdout.split()[0]


def metrics(srv):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % srv.admin_port, timeout=10) as r:
        return r.read().decode()


def metric(text, name):
    m = re.search(r'^%s (\d+)$' % re.escape(name), text, re.M)
    check(m is not None, 'no %s in /metrics' % name)
    return int(m.group(1))


# (method, path, body, roles allowed, permission named in a denial); {j}: an account JID.
ENDPOINTS = [
    ('GET', '/api/v1/invites', None, ('superadmin', 'operator'), 'invites.read'),
    ('POST', '/api/v1/invites', {'expires_days': 1}, ('superadmin', 'operator'), 'invites.write'),
    ('DELETE', '/api/v1/invites/999999999', None, ('superadmin', 'operator'), 'invites.write'),
    ('GET', '/api/v1/retention', None, ('superadmin', 'operator'), 'retention.read'),
    ('PUT', '/api/v1/retention', {'seconds': 5}, ('superadmin', 'operator'), 'retention.write'),
    ('GET', '/api/v1/accounts/{j}/retention', None, ('superadmin', 'operator'), 'retention.read'),
    ('PUT', '/api/v1/accounts/{j}/retention', {'seconds': 100}, ('superadmin', 'operator'),
     'retention.write'),
    ('DELETE', '/api/v1/accounts/{j}/retention', None, ('superadmin', 'operator'),
     'retention.write'),
    ('GET', '/api/v1/accounts/{j}/retention/peer@localhost', None, ('superadmin', 'operator'),
     'retention.read'),
    ('PUT', '/api/v1/accounts/{j}/retention/peer@localhost', {'seconds': 0},
     ('superadmin', 'operator'), 'retention.write'),
    ('DELETE', '/api/v1/accounts/{j}/retention/peer@localhost', None, ('superadmin', 'operator'),
     'retention.write'),
    ('GET', '/api/v1/apikeys', None, ('superadmin',), 'admins.read'),
    ('DELETE', '/api/v1/apikeys/nobody', None, ('superadmin',), 'admins.write'),
    ('POST', '/api/v1/admins/nobody/disable', None, ('superadmin',), 'admins.write'),
    ('POST', '/api/v1/admins/nobody/enable', None, ('superadmin',), 'admins.write'),
]
EXPECTED = {'/api/v1/invites/999999999': 404, '/api/v1/apikeys/nobody': 404,
            '/api/v1/admins/nobody/disable': 404, '/api/v1/admins/nobody/enable': 404}


@test
def admin_more_endpoints_check_the_role(suite):
    srv, api = more_server(suite)
    root = root_token(srv, api)
    tokens = {'superadmin': root}
    for role in ('operator', 'auditor', 'dpo'):
        name, secret = new_admin(api, root, role)
        tokens[role] = api.token(name, secret)
    tokens['apikey-operator'] = ctl_apikey(srv, 'operator')[1]
    jid = fresh('rolej') + '@localhost'
    st, _ = api.call('POST', '/api/v1/accounts', {'jid': jid, 'password': 'pw pw pw'}, token=root)
    check(st == 201, 'account not created: %d' % st)
    for who, tok in tokens.items():
        role = 'operator' if who == 'apikey-operator' else who
        for method, path, body, allowed, perm in ENDPOINTS:
            p = path.replace('{j}', jid)
            st, doc = api.call(method, p, body, token=tok)
            if role not in allowed:
                check(st == 403 and doc['code'] == 'forbidden' and perm in doc['message'],
                      '%s %s as %s: wanted 403 naming %s, got %d %s' % (method, p, who, perm,
                                                                       st, doc))
            elif p == '/api/v1/retention' and method == 'PUT':
                check(st == 409 and 'configuration file' in doc['message'],
                      'PUT /retention as %s: %d %s' % (who, st, doc))
            else:
                want = EXPECTED.get(p)
                check(st == want if want else st < 300,
                      '%s %s as %s: %d %s' % (method, p, who, st, doc))
    st, doc = api.call('GET', '/api/v1/retention', token=root)
    check(st == 200 and doc['default_seconds'] == 0 and doc['source'] == 'config' and
          doc['writable'] is False, 'GET /retention: %s' % doc)
    st, _ = api.call('GET', '/api/v1/invites', token='wbk_' + 'x' * 40)
    check(st == 401, 'a made-up API key was accepted: %d' % st)


@test
def admin_invite_from_the_api_registers_an_account(suite):
    srv, api = more_server(suite)
    root = root_token(srv, api)
    st, doc = api.call('POST', '/api/v1/invites', {'expires_days': 2}, token=root)
    check(st == 201 and re.fullmatch(r'[0-9a-f]{32}', doc.get('token', '')),
          'POST /invites: %d %s' % (st, doc))
    token, inv = doc['token'], doc['id']
    check(doc['uri'] == 'xmpp:localhost?register;preauth=%s' % token and
          doc['domain'] == 'localhost' and doc['valid_hours'] == 48, 'invite reply: %s' % doc)
    st, doc = api.call('GET', '/api/v1/invites', token=root)
    mine = [i for i in doc['items'] if i['id'] == inv]
    check(st == 200 and len(mine) == 1 and mine[0]['used'] is False and
          mine[0]['account'] is None and mine[0]['expires_at'], 'invite list: %s' % mine)
    check(token not in str(doc), 'the invite list shows a token')
    user = fresh('inv')
    check_registered(srv, user, 'pass word', token)
    check_refused(srv, fresh('inv'), 'pass word', token, 'not-authorized', 'used token')
    st, doc = api.call('GET', '/api/v1/invites', token=root)
    mine = [i for i in doc['items'] if i['id'] == inv]
    check(mine and mine[0]['used'] is True and mine[0]['account'] == user + '@localhost' and
          mine[0]['used_at'], 'used invite: %s' % mine)
    st, doc = api.call('DELETE', '/api/v1/invites/%d' % inv, token=root)
    check(st == 404, 'a used invite was revoked: %d %s' % (st, doc))
    # Revoked before use: the token is refused.
    st, doc = api.call('POST', '/api/v1/invites', {}, token=root)
    check(st == 201, 'POST /invites: %d' % st)
    st, out = api.call('DELETE', '/api/v1/invites/%d' % doc['id'], token=root)
    check(st == 200 and out == {'id': doc['id'], 'revoked': True}, 'revoke: %d %s' % (st, out))
    check_refused(srv, fresh('inv'), 'pass word', doc['token'], 'not-authorized', 'revoked')
    for body, what in (({'expires_days': 0}, 'zero days'), ({'expires_days': 'x'}, 'a string'),
                       ({'domain': 'elsewhere.example'}, 'another domain'),
                       ({'domain': 5}, 'a number as domain')):
        st, doc = api.call('POST', '/api/v1/invites', body, token=root)
        check(st == 400, 'invite with %s: %d %s' % (what, st, doc))
    st, doc = api.call('DELETE', '/api/v1/invites/abc', token=root)
    check(st == 400, 'DELETE /invites/abc: %d' % st)
    row = audit_row(suite, srv, "action = 'invite.create' AND ok")
    check('|invite.create|invite ' in row and token not in row, 'invite audit: %r' % row)


@test
def admin_revoked_api_key_is_refused(suite):
    srv, api = more_server(suite)
    root = root_token(srv, api)
    name, key = ctl_apikey(srv, 'operator')
    st, _ = api.call('GET', '/api/v1/invites', token=key)
    check(st == 200, 'a fresh API key was refused: %d' % st)
    st, doc = api.call('GET', '/api/v1/apikeys', token=root)
    mine = [k for k in doc.get('items', []) if k['name'] == name]
    check(st == 200 and len(mine) == 1 and mine[0]['role'] == 'operator' and
          mine[0]['expires_at'] is None and mine[0]['created_at'] and not mine[0]['expired'] and
          re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', mine[0]['last_used_at'] or ''),
          'GET /apikeys: %d %s' % (st, mine))
    check('wbk_' not in str(doc), 'the API key list shows a key')
    st, doc = api.call('DELETE', '/api/v1/apikeys/%s' % name, token=root)
    check(st == 200 and doc == {'name': name, 'revoked': True}, 'revoke: %d %s' % (st, doc))
    st, _ = api.call('GET', '/api/v1/invites', token=key)
    check(st == 401, 'a revoked API key was accepted: %d' % st)
    st, _ = api.call('DELETE', '/api/v1/apikeys/%s' % name, token=root)
    check(st == 404, 'revoked twice: %d' % st)
    row = audit_row(suite, srv, "action = 'apikey.revoke' AND target = '%s'" % name)
    check(row.endswith('|true|'), 'apikey.revoke audit: %r' % row)
    # warblerctl apikey list and revoke.
    name, key = ctl_apikey(srv, 'superadmin')
    r = srv.ctl('apikey', 'list')
    check(r.returncode == 0 and 'wbk_' not in r.stdout and
          re.search(r'^%s\tsuperadmin\tcreated \S+\tnever expires\tnever used$' % name, r.stdout,
                    re.M), 'apikey list: %r' % r.stdout[:300])
    r = srv.ctl('apikey', 'revoke', name)
    check(r.returncode == 0 and 'revoked API key %s' % name in r.stdout, 'revoke: %r' % r.stdout)
    st, _ = api.call('GET', '/api/v1/apikeys', token=key)
    check(st == 401, 'an API key revoked by warblerctl was accepted: %d' % st)
    r = srv.ctl('apikey', 'revoke', name)
    check(r.returncode != 0, 'warblerctl revoked an unknown key')


@test
def admin_disabled_admin_is_refused(suite):
    srv, api = more_server(suite)
    root = root_token(srv, api)
    name, secret = new_admin(api, root, 'operator')
    tok = api.token(name, secret)
    st, doc = api.call('POST', '/api/v1/admins/%s/disable' % name, token=root)
    check(st == 200 and doc == {'name': name, 'disabled': True}, 'disable: %d %s' % (st, doc))
    st, _ = api.call('GET', '/api/v1/invites', token=tok)
    check(st == 401, 'the token of a disabled admin was accepted: %d' % st)
    st, _ = api.login(name, secret, at=time.time() + 30)
    check(st == 401, 'a disabled admin logged in: %d' % st)
    st, doc = api.call('GET', '/api/v1/admins', token=root)
    check([a['disabled'] for a in doc['items'] if a['name'] == name] == [True],
          'admin list: %s' % doc)
    st, doc = api.call('POST', '/api/v1/admins/%s/enable' % name, token=root)
    check(st == 200 and doc == {'name': name, 'disabled': False}, 'enable: %d %s' % (st, doc))
    st, doc = api.login(name, secret, at=time.time() + 30)
    check(st == 200 and doc.get('token'), 'an enabled admin cannot log in: %d %s' % (st, doc))
    st, _ = api.call('GET', '/api/v1/invites', token=tok)
    check(st == 401, 'a token from before the disabling works again: %d' % st)
    st, _ = api.call('GET', '/api/v1/invites', token=doc['token'])
    check(st == 200, 'the new token was refused: %d' % st)
    # Another superadmin disables it; warblerctl admin enable and disable.
    me = root_token(srv, api)
    st, doc = api.call('POST', '/api/v1/admins/%s/disable' % name, token=me)
    check(st == 200, 'disable by another superadmin: %d' % st)
    r = srv.ctl('admin', 'enable', name)
    check(r.returncode == 0 and 'enabled admin %s' % name in r.stdout, 'ctl enable: %r' % r.stdout)
    other, osecret = new_admin(api, root, 'auditor')
    otok = api.token(other, osecret)
    r = srv.ctl('admin', 'disable', other)
    check(r.returncode == 0 and 'disabled admin %s' % other in r.stdout,
          'ctl disable: %r' % r.stdout)
    st, _ = api.call('GET', '/api/v1/audit', token=otok)
    check(st == 401, 'token of an admin disabled by warblerctl accepted: %d' % st)
    r = srv.ctl('admin', 'disable', 'nobody-here')
    check(r.returncode != 0, 'warblerctl disabled an unknown admin')
    row = audit_row(suite, srv, "action = 'admin.disable' AND target = '%s' AND actor = 'ctl'"
                    % other)
    check(row.endswith('|true|'), 'ctl admin.disable audit: %r' % row)
    row = audit_row(suite, srv, "action = 'admin.disable' AND target = '%s' AND actor <> 'ctl'"
                    % name)
    check('|superadmin|admin.disable|%s|127.0.0.1|true|' % name in row, 'audit: %r' % row)


@test
def admin_cannot_disable_itself(suite):
    srv, api = more_server(suite)
    root = root_token(srv, api)
    name, secret = new_admin(api, root, 'superadmin')
    tok = api.token(name, secret)
    st, doc = api.call('POST', '/api/v1/admins/%s/disable' % name, token=tok)
    check(st == 409, 'an admin disabled itself: %d %s' % (st, doc))
    st, _ = api.call('GET', '/api/v1/apikeys', token=tok)
    check(st == 200, 'the admin lost its access: %d' % st)


@test
def admin_retention_set_via_api_takes_effect_and_shows_in_metrics(suite):
    srv, api = more_server(suite)
    root = root_token(srv, api)
    before = metrics(srv)
    a_local, b_local, c_local = fresh('ra'), fresh('rb'), fresh('rc')
    a = srv.login(a_local, 'pc')
    for x in (b_local, c_local):
        srv.user(x)
    aj, bj, cj = (x + '@localhost' for x in (a_local, b_local, c_local))
    st, doc = api.call('PUT', '/api/v1/accounts/%s/retention' % aj, {'seconds': 0}, token=root)
    check(st == 200 and doc == {'jid': aj, 'seconds': 0}, 'PUT account: %d %s' % (st, doc))
    # 50 "seconds" of 40 ms: two seconds for the conversation with b, forever for the rest.
    st, doc = api.call('PUT', '/api/v1/accounts/%s/retention/%s' % (aj, bj), {'seconds': 50},
                       token=root)
    check(st == 200 and doc == {'jid': aj, 'peer': bj, 'seconds': 50},
          'PUT conversation: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/accounts/%s/retention' % aj, token=root)
    check(st == 200 and doc['seconds'] == 0 and doc['default_seconds'] == 0 and
          doc['conversations'] == [{'peer': bj, 'seconds': 50}], 'GET account: %s' % doc)
    st, doc = api.call('GET', '/api/v1/accounts/%s/retention/%s' % (aj, bj), token=root)
    check(st == 200 and doc['seconds'] == 50 and doc['account_seconds'] == 0,
          'GET conversation: %s' % doc)
    a.send(chat(bj, 'to b', 'mb'))
    a.send(chat(cj, 'to c', 'mc'))
    a.ping()
    wait_value(lambda: (archived(suite, srv, a_local, b_local),
                        archived(suite, srv, a_local, c_local)), (1, 1), 2, 'archived')
    wait_value(lambda: (archived(suite, srv, a_local, b_local),
                        archived(suite, srv, a_local, c_local)), (0, 1), 8, 'after retention')
    after = metrics(srv)
    erased = 'warbler_retention_erased_total{kind="archive"}'
    check(metric(after, erased) > metric(before, erased), 'archive erasures not counted')
    wait_value(lambda: metric(metrics(srv), 'warbler_retention_sweeps_total') >
               metric(before, 'warbler_retention_sweeps_total'), True, 3, 'sweeps counted')
    for kind in ('offline', 'rooms'):
        metric(after, 'warbler_retention_erased_total{kind="%s"}' % kind)
    check(after.count('# TYPE warbler_retention_erased_total counter') == 1,
          'the family is declared more than once')
    st, doc = api.call('DELETE', '/api/v1/accounts/%s/retention/%s' % (aj, bj), token=root)
    check(st == 200 and doc == {'jid': aj, 'peer': bj, 'seconds': None}, 'DELETE: %s' % doc)
    st, doc = api.call('DELETE', '/api/v1/accounts/%s/retention' % aj, token=root)
    st, doc = api.call('GET', '/api/v1/accounts/%s/retention' % aj, token=root)
    check(st == 200 and doc['seconds'] is None and doc['conversations'] == [],
          'settings left after DELETE: %s' % doc)
    r = srv.ctl('retention', 'show', aj)
    check(r.returncode == 0 and 'account:' not in r.stdout and 'with ' not in r.stdout,
          'warblerctl still shows settings: %r' % r.stdout)
    row = audit_row(suite, srv, "action = 'retention.set' AND target = '%s with %s'" % (aj, bj))
    check(row.endswith('|true|'), 'retention.set audit: %r' % row)
    row = audit_row(suite, srv, "action = 'retention.unset' AND target = '%s'" % aj)
    check(row.endswith('|true|'), 'retention.unset audit: %r' % row)
    # Refusals.
    for method, path, body, want in (
            ('PUT', '/api/v1/accounts/%s/retention' % aj, {'seconds': -1}, 400),
            ('PUT', '/api/v1/accounts/%s/retention' % aj, {'seconds': '5'}, 400),
            ('PUT', '/api/v1/accounts/%s/retention' % aj, None, 400),
            ('PUT', '/api/v1/accounts/%s/retention' % aj, {'seconds': 10 ** 12}, 400),
            ('GET', '/api/v1/accounts/nobody-here@localhost/retention', None, 404),
            ('PUT', '/api/v1/accounts/nobody-here@localhost/retention', {'seconds': 1}, 404),
            ('GET', '/api/v1/accounts/x@elsewhere.example/retention', None, 400),
            ('GET', '/api/v1/accounts/localhost/retention', None, 400)):
        st, doc = api.call(method, path, body, token=root)
        check(st == want, '%s %s %s: %d %s, wanted %d' % (method, path, body, st, doc, want))
