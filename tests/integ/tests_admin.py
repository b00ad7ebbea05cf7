# Integration tests of the REST admin API: admin users with TOTP (warblerctl and the API), tokens,
# API keys, roles on every endpoint, request errors, accounts, sessions and kicks.
import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import struct
import time
import urllib.error
import urllib.request

from wbinteg import DEFAULT_PASSWORD, Server, XmppConn, check, free_ports, run, test

ADMIN_PW = 'admin password 1'
BODY_MAX = 65536


def totp(secret, at=None, step=30):
    """RFC 6238 code (HMAC-SHA-1, 6 digits) of a base32 secret at time AT."""
    key = base64.b32decode(secret + '=' * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack('>Q', counter), hashlib.sha1).digest()
    off = mac[-1] & 15
    return '%06d' % ((struct.unpack('>I', mac[off:off + 4])[0] & 0x7fffffff) % 1000000)


class Api:
    def __init__(self, port, https=False):
        self.port = port
        self.scheme = 'https' if https else 'http'
        self.ctx = None
        if https:
            self.ctx = ssl.create_default_context()
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE

    def call(self, method, path, body=None, token=None, raw=None):
        """(status, decoded JSON body) of one request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request('%s://127.0.0.1:%d%s' % (self.scheme, self.port, path),
                                     data=data, method=method)
        if token:
            req.add_header('Authorization', 'Bearer ' + token)
        if data is not None:
            req.add_header('Content-Type', 'application/json')
        try:
            with urllib.request.urlopen(req, timeout=15, context=self.ctx) as r:
                status, text = r.status, r.read()
                ctype = r.headers.get('Content-Type')
        except urllib.error.HTTPError as e:
            status, text, ctype = e.code, e.read(), e.headers.get('Content-Type')
        check(ctype == 'application/json', '%s %s: Content-Type %s' % (method, path, ctype))
        doc = json.loads(text)
        if status >= 400:
            check(isinstance(doc.get('code'), str) and isinstance(doc.get('message'), str),
                  '%s %s: error %d without code and message: %s' % (method, path, status, doc))
        return status, doc

    def login(self, name, secret, password=ADMIN_PW, at=None):
        return self.call('POST', '/api/v1/auth/login',
                         {'username': name, 'password': password, 'totp': totp(secret, at)})

    def token(self, name, secret):
        st, doc = self.login(name, secret)
        check(st == 200 and doc.get('token'), 'login of %s: %d %s' % (name, st, doc))
        return doc['token']


def admin_server(suite, name='admin', lifetime=None):
    """A server with the admin API on a free port, started; kept for the run unless lifetime."""
    if lifetime is None and name in suite.named:
        srv = suite.named[name][0]
        suite.note_server(srv)
        return srv, srv.api
    srv = Server(suite, name) if lifetime is None else suite.private_server(name)
    srv.admin_port = free_ports(1)[0]
    with open(srv.conf, 'a') as f:
        f.write('admin = { enabled = true; listen = "127.0.0.1"; port = %d; threads = 2;\n'
                '          login_failures = 1000; %s };\n'
                % (srv.admin_port, 'token_lifetime = %d;' % lifetime if lifetime else ''))
    srv.api = Api(srv.admin_port)
    if lifetime is None:
        suite.named[name] = [srv, None]
        suite.note_server(srv)
    srv.start()
    return srv, srv.api


def ctl_admin(srv, name, role):
    """warblerctl admin add; returns the base32 secret from the otpauth URI it prints."""
    r = srv.ctl('admin', 'add', name, '--role', role, '--password-file',
                srv.password_file(ADMIN_PW))
    check(r.returncode == 0, 'warblerctl admin add %s: %s' % (name, (r.stderr or r.stdout)[:200]))
    m = re.search(r'otpauth://totp/Warbler:([^?\s]+)\?secret=([A-Z2-7]+)&issuer=Warbler', r.stdout)
    check(m is not None and m.group(1) == name, 'no otpauth URI in: %r' % r.stdout[:300])
    return m.group(2)


_seq = [0]


def fresh(prefix):
    _seq[0] += 1
    return '%s%d_%d' % (prefix, _seq[0], int(time.time() * 1000) % 100000)


def root_token(srv, api):
    """A superadmin token (a fresh admin each time: a TOTP code is accepted once)."""
    name = fresh('root')
    return api.token(name, ctl_admin(srv, name, 'superadmin'))


def role_token(api, root, role):
    name = fresh(role)
    st, doc = api.call('POST', '/api/v1/admins', {'name': name, 'role': role,
                                                   'password': ADMIN_PW}, token=root)
    check(st == 201, 'POST /admins (%s): %d %s' % (role, st, doc))
    m = re.search(r'secret=([A-Z2-7]+)', doc.get('totp_uri', ''))
    check(m is not None, 'no secret in totp_uri: %s' % doc)
    return api.token(name, m.group(1))


def xmpp_login(srv, local, password=DEFAULT_PASSWORD, resource=None):
    c = XmppConn(srv.starttls_port)
    c.login(local, password, resource=resource)
    return c


def xmpp_refused(srv, local, password=DEFAULT_PASSWORD):
    c = XmppConn(srv.starttls_port)
    c.open()
    c.starttls()
    c.open()
    ok, el = c.auth_scram(local, password)
    c.close()
    return not ok


# (method, path template, body, roles allowed) for the role matrix; {j} is an account JID.
ENDPOINTS = [
    ('GET', '/api/v1/accounts', None, ('superadmin', 'operator')),
    ('POST', '/api/v1/accounts', 'create', ('superadmin', 'operator')),
    ('GET', '/api/v1/accounts/{j}', None, ('superadmin', 'operator')),
    ('POST', '/api/v1/accounts/{j}/disable', None, ('superadmin', 'operator')),
    ('POST', '/api/v1/accounts/{j}/enable', None, ('superadmin', 'operator')),
    ('POST', '/api/v1/accounts/{j}/password', {'password': DEFAULT_PASSWORD},
     ('superadmin', 'operator')),
    ('DELETE', '/api/v1/accounts/{j}', None, ('superadmin', 'operator')),
    ('GET', '/api/v1/sessions', None, ('superadmin', 'operator')),
    ('DELETE', '/api/v1/sessions/nobody@localhost/none', None, ('superadmin', 'operator')),
    ('GET', '/api/v1/stats', None, ('superadmin', 'operator')),
    ('GET', '/api/v1/admins', None, ('superadmin',)),
    ('POST', '/api/v1/admins', 'admin', ('superadmin',)),
    ('DELETE', '/api/v1/admins/nobody', None, ('superadmin',)),
]
PERMS = {'accounts': 'accounts', 'sessions': 'sessions', 'stats': 'stats', 'admins': 'admins'}


def wanted_perm(method, path):
    kind = path.split('/')[3]
    if kind == 'stats':
        return 'stats.read'
    return '%s.%s' % (PERMS[kind], 'read' if method == 'GET' else 'write')


@test
def admin_every_endpoint_checks_the_role(suite):
    srv, api = admin_server(suite)
    root = root_token(srv, api)
    tokens = {role: role_token(api, root, role) for role in ('operator', 'auditor', 'dpo')}
    tokens['superadmin'] = root
    r = srv.ctl('apikey', 'add', fresh('key'), '--role', 'operator', '--expires', '1')
    check(r.returncode == 0 and r.stdout.startswith('wbk_'), 'apikey add: %s' % r.stdout[:200])
    tokens['apikey-operator'] = r.stdout.split()[0]
    for who, tok in tokens.items():
        role = 'operator' if who == 'apikey-operator' else who
        for method, path, body, allowed in ENDPOINTS:
            j = fresh('acct') + '@localhost'
            if '{j}' in path:
                api.call('POST', '/api/v1/accounts', {'jid': j, 'password': 'x'}, token=root)
            if body == 'create':
                body_v = {'jid': fresh('new') + '@localhost', 'password': 'pw'}
            elif body == 'admin':
                body_v = {'name': fresh('adm'), 'role': 'auditor', 'password': ADMIN_PW}
            else:
                body_v = body
            p = path.replace('{j}', j)
            st, doc = api.call(method, p, body_v, token=tok)
            if role in allowed:
                check(st < 400 or (st == 404 and 'nobody' in p),
                      '%s %s as %s: %d %s' % (method, p, who, st, doc))
            else:
                perm = wanted_perm(method, p)
                check(st == 403 and doc['code'] == 'forbidden' and perm in doc['message'],
                      '%s %s as %s: wanted 403 naming %s, got %d %s' % (method, p, who, perm,
                                                                       st, doc))
    # An auditor and a dpo may still log out; logging out is not a permission.
    st, doc = api.call('POST', '/api/v1/auth/logout', token=tokens['auditor'])
    check(st == 200 and doc.get('revoked') is True, 'logout as auditor: %d %s' % (st, doc))


@test
def admin_request_errors_are_json(suite):
    srv, api = admin_server(suite)
    root = root_token(srv, api)
    st, doc = api.call('POST', '/api/v1/accounts', raw=b'{"jid": ', token=root)
    check(st == 400 and doc['code'] == 'bad_json', 'bad JSON: %d %s' % (st, doc))
    st, doc = api.call('POST', '/api/v1/accounts', raw=b'[1, 2]', token=root)
    check(st == 400 and doc['code'] == 'bad_json', 'JSON array body: %d %s' % (st, doc))
    big = json.dumps({'jid': 'a@localhost', 'password': 'x' * (BODY_MAX + 10)}).encode()
    st, doc = api.call('POST', '/api/v1/accounts', raw=big, token=root)
    check(st == 413 and doc['code'] == 'too_large', 'oversized body: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/nothing', token=root)
    check(st == 404 and doc['code'] == 'not_found', 'unknown path: %d %s' % (st, doc))
    st, doc = api.call('PUT', '/api/v1/accounts', {}, token=root)
    check(st == 405 and doc['code'] == 'method_not_allowed', 'wrong method: %d %s' % (st, doc))
    req = urllib.request.Request('http://127.0.0.1:%d/api/v1/accounts/a@localhost' % api.port,
                                 method='PUT', data=b'{}')
    try:
        urllib.request.urlopen(req, timeout=10)
        allow = None
    except urllib.error.HTTPError as e:
        allow = e.headers.get('Allow')
    check(allow == 'GET, DELETE', '405 Allow header: %r' % allow)
    st, doc = api.call('GET', '/api/v1/accounts')
    check(st == 401 and doc['code'] == 'unauthorized', 'no token: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/accounts', token='not-a-token')
    check(st == 401, 'bad token: %d %s' % (st, doc))
    st, doc = api.call('POST', '/api/v1/accounts', {'jid': 'no-domain', 'password': 'x'},
                       token=root)
    check(st == 400 and doc['code'] == 'bad_jid', 'bad JID: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/accounts?limit=0', token=root)
    check(st == 400, 'limit=0: %d %s' % (st, doc))


@test
def admin_totp_wrong_replayed_and_revoked(suite):
    srv, api = admin_server(suite)
    name = fresh('ops')
    secret = ctl_admin(srv, name, 'operator')
    good = totp(secret)
    wrong = '%06d' % ((int(good) + 1) % 1000000)
    st, wrong_doc = api.call('POST', '/api/v1/auth/login',
                             {'username': name, 'password': ADMIN_PW, 'totp': wrong})
    check(st == 401, 'wrong TOTP accepted: %d %s' % (st, wrong_doc))
    st, doc = api.call('POST', '/api/v1/auth/login',
                       {'username': name, 'password': 'wrong password', 'totp': good})
    check(st == 401 and doc == wrong_doc, 'wrong password: %d %s (vs %s)' % (st, doc, wrong_doc))
    st, doc = api.call('POST', '/api/v1/auth/login',
                       {'username': 'nobody', 'password': ADMIN_PW, 'totp': good})
    check(st == 401 and doc == wrong_doc, 'unknown user answered differently: %s' % doc)
    st, doc = api.call('POST', '/api/v1/auth/login',
                       {'username': name, 'password': ADMIN_PW, 'totp': good})
    check(st == 200 and re.fullmatch(r'[A-Za-z0-9_-]{43}', doc.get('token', '')) and
          doc.get('expires_at', '').endswith('Z'), 'login: %d %s' % (st, doc))
    tok = doc['token']
    st, doc = api.call('POST', '/api/v1/auth/login',
                       {'username': name, 'password': ADMIN_PW, 'totp': good})
    check(st == 401 and doc == wrong_doc, 'replayed TOTP code accepted: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/stats', token=tok)
    check(st == 200 and doc['accounts'] >= 0 and doc['uptime'] >= 0, 'stats: %d %s' % (st, doc))
    st, doc = api.call('POST', '/api/v1/auth/logout', token=tok)
    check(st == 200, 'logout: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/stats', token=tok)
    check(st == 401, 'revoked token still works: %d %s' % (st, doc))


@test
def admin_token_expires_and_failed_logins_are_limited(suite):
    srv = suite.private_server('admin-expiry')
    port = free_ports(1)[0]
    with open(srv.conf, 'a') as f:
        f.write('admin = { enabled = true; port = %d; token_lifetime = 2; login_failures = 3;\n'
                '          login_window = 60; };\n' % port)
    srv.start()
    api = Api(port)
    name = fresh('root')
    secret = ctl_admin(srv, name, 'superadmin')
    tok = api.token(name, secret)
    st, doc = api.call('GET', '/api/v1/stats', token=tok)
    check(st == 200, 'fresh token refused: %d %s' % (st, doc))
    time.sleep(2.5)
    st, doc = api.call('GET', '/api/v1/stats', token=tok)
    check(st == 401 and doc['code'] == 'unauthorized', 'expired token: %d %s' % (st, doc))
    for _ in range(3):
        st, doc = api.login(name, secret, password='not it')
        check(st == 401, 'wrong password: %d %s' % (st, doc))
    st, doc = api.login(name, secret, at=time.time() + 30)
    check(st == 429 and doc['code'] == 'rate_limited', 'login after 3 failures: %d %s' % (st, doc))


def audit_row(suite, srv, where, timeout=5):
    """The first audit record matching WHERE as 'actor|role|action|target|source|ok|reason'."""
    q = ("SELECT actor || '|' || coalesce(role, '') || '|' || action || '|' || "
         "coalesce(target, '') || '|' || coalesce(source, '') || '|' || ok || '|' || "
         "coalesce(reason, '') FROM audit_log WHERE %s ORDER BY id LIMIT 1" % where)
    deadline = time.monotonic() + timeout
    while True:
        r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', srv.db, '-XtAc', q])
        check(r.returncode == 0, 'psql: %s' % r.stderr.strip()[:200])
        if r.stdout.strip() or time.monotonic() > deadline:
            return r.stdout.strip()
        time.sleep(0.1)


@test
def admin_calls_are_audited(suite):
    srv, api = admin_server(suite)
    name = fresh('root')
    secret = ctl_admin(srv, name, 'superadmin')
    st, _ = api.login(name, secret, password='wrong guess')
    check(st == 401, 'wrong password accepted')
    root = api.token(name, secret)
    row = audit_row(suite, srv, "actor = 'admin:%s' AND action = 'login' AND NOT ok" % name)
    check(row == 'admin:%s|superadmin|login||127.0.0.1|false|bad credentials' % name,
          'failed login record: %r' % row)
    row = audit_row(suite, srv, "action = 'admin.create' AND target = '%s'" % name)
    check(row.startswith('ctl|') and '|admin.create|%s|' % name in row and
          row.endswith('|true|superadmin'), 'warblerctl admin add record: %r' % row)
    row = audit_row(suite, srv, "actor = 'admin:%s' AND action = 'login' AND ok" % name)
    check(row.endswith('|login||127.0.0.1|true|'), 'login record: %r' % row)
    jid = fresh('erin') + '@localhost'
    api.call('POST', '/api/v1/accounts', {'jid': jid, 'password': 'secret-pw-123'}, token=root)
    row = audit_row(suite, srv, "action = 'account.create' AND target = '%s'" % jid)
    check(row == 'admin:%s|superadmin|account.create|%s|127.0.0.1|true|' % (name, jid),
          'account.create record: %r' % row)
    ops = role_token(api, root, 'operator')
    st, _ = api.call('GET', '/api/v1/admins', token=ops)
    check(st == 403, 'operator listed admins')
    row = audit_row(suite, srv, "action = 'admin.list' AND NOT ok")
    check(re.fullmatch(r'admin:operator\w+\|operator\|admin\.list\|\|127\.0\.0\.1\|false\|'
                       r'missing permission admins\.read', row), 'denial record: %r' % row)
    row = audit_row(suite, srv, "actor || role || action || coalesce(target, '') || "
                    "coalesce(reason, '') LIKE '%%secret-pw%%' OR reason LIKE '%%wrong guess%%'",
                    timeout=0)
    check(row == '', 'a password reached the audit log: %r' % row)


@test
def admin_ctl_admin_list_and_delete(suite):
    srv, api = admin_server(suite)
    name = fresh('gone')
    secret = ctl_admin(srv, name, 'auditor')
    r = srv.ctl('admin', 'list')
    check(r.returncode == 0 and re.search(r'^%s\tauditor\t' % name, r.stdout, re.M),
          'admin list: %s' % r.stdout[:300])
    r = srv.ctl('admin', 'add', name, '--role', 'auditor', '--password-file',
                srv.password_file(ADMIN_PW))
    check(r.returncode != 0, 'duplicate admin add succeeded')
    r = srv.ctl('admin', 'add', fresh('x'), '--role', 'king', '--password-file',
                srv.password_file(ADMIN_PW))
    check(r.returncode != 0, 'admin add with an unknown role succeeded')
    r = srv.ctl('admin', 'delete', name)
    check(r.returncode == 0, 'admin delete: %s' % r.stderr[:200])
    st, doc = api.login(name, secret)
    check(st == 401, 'deleted admin logged in: %d %s' % (st, doc))


@test
def admin_accounts_lifecycle(suite):
    srv, api = admin_server(suite)
    root = root_token(srv, api)
    local = fresh('carol')
    jid = local + '@localhost'
    st, doc = api.call('POST', '/api/v1/accounts', {'jid': jid, 'password': DEFAULT_PASSWORD},
                       token=root)
    check(st == 201 and doc.get('jid') == jid, 'create: %d %s' % (st, doc))
    st, doc = api.call('POST', '/api/v1/accounts', {'jid': jid, 'password': 'x'}, token=root)
    check(st == 409 and doc['code'] == 'exists', 'duplicate create: %d %s' % (st, doc))
    for i in range(3):
        api.call('POST', '/api/v1/accounts', {'jid': '%s_p%d@localhost' % (local, i),
                                              'password': 'x'}, token=root)
    st, doc = api.call('GET', '/api/v1/accounts?search=%s_P&limit=2&offset=1' % local,
                       token=root)
    check(st == 200 and doc['total'] == 3 and [a['jid'] for a in doc['items']] ==
          ['%s_p1@localhost' % local, '%s_p2@localhost' % local], 'search page: %s' % doc)
    c = xmpp_login(srv, local, resource='r1')
    st, doc = api.call('GET', '/api/v1/accounts/' + jid, token=root)
    check(st == 200 and doc['jid'] == jid and doc['disabled'] is False and doc['sessions'] == 1,
          'get: %d %s' % (st, doc))
    st, doc = api.call('POST', '/api/v1/accounts/%s/disable' % jid, token=root)
    check(st == 200 and doc['disabled'] is True, 'disable: %d %s' % (st, doc))
    c.expect_stream_error('policy-violation')
    check(xmpp_refused(srv, local), 'a disabled account logged in over XMPP')
    st, doc = api.call('POST', '/api/v1/accounts/%s/enable' % jid, token=root)
    check(st == 200 and doc['disabled'] is False, 'enable: %d %s' % (st, doc))
    st, doc = api.call('POST', '/api/v1/accounts/%s/password' % jid, {'password': 'new pass'},
                       token=root)
    check(st == 200, 'password: %d %s' % (st, doc))
    check(xmpp_refused(srv, local), 'the old password still works')
    xmpp_login(srv, local, password='new pass').close()
    st, doc = api.call('DELETE', '/api/v1/accounts/' + jid, token=root)
    check(st == 200 and doc.get('deleted') is True, 'delete: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/accounts/' + jid, token=root)
    check(st == 404 and doc['code'] == 'not_found', 'get after delete: %d %s' % (st, doc))


@test
def admin_kick_closes_the_session(suite):
    srv, api = admin_server(suite)
    root = root_token(srv, api)
    local = fresh('dave')
    api.call('POST', '/api/v1/accounts', {'jid': local + '@localhost',
                                          'password': DEFAULT_PASSWORD}, token=root)
    c = xmpp_login(srv, local, resource='phone')
    other = xmpp_login(srv, local, resource='laptop')
    st, doc = api.call('GET', '/api/v1/sessions', token=root)
    mine = sorted((s for s in doc.get('items', []) if s['jid'] == local + '@localhost'),
                  key=lambda s: s['resource'])
    check(st == 200 and [s['resource'] for s in mine] == ['laptop', 'phone'],
          'sessions: %d %s' % (st, doc))
    for s in mine:
        check(s.get('address') == '127.0.0.1' and s.get('tls') in ('TLSv1.2', 'TLSv1.3') and
              re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', s.get('since', '')) and
              s.get('worker') in (0, 1), 'session details: %s' % s)
    st, doc = api.call('DELETE', '/api/v1/sessions/%s@localhost/phone' % local, token=root)
    check(st == 200 and doc.get('kicked') is True, 'kick: %d %s' % (st, doc))
    c.expect_stream_error('policy-violation')
    other.ping()
    deadline = time.monotonic() + 5
    while True:
        st, doc = api.call('GET', '/api/v1/sessions', token=root)
        mine = [s['resource'] for s in doc['items'] if s['jid'] == local + '@localhost']
        if mine == ['laptop'] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(mine == ['laptop'], 'sessions after the kick: %s' % mine)
    st, doc = api.call('DELETE', '/api/v1/sessions/%s@localhost/phone' % local, token=root)
    check(st == 404, 'kick of a gone session: %d %s' % (st, doc))
    other.close()


@test
def admin_https_when_a_certificate_is_set(suite):
    srv = suite.private_server('admin-https')
    port = free_ports(1)[0]
    with open(srv.conf, 'a') as f:
        f.write('admin = { enabled = true; port = %d; certificate = "%s"; key = "%s"; };\n'
                % (port, os.path.join(srv.tls_dir, 'localhost.crt'),
                   os.path.join(srv.tls_dir, 'localhost.key')))
    srv.start()
    api = Api(port, https=True)
    st, doc = api.call('GET', '/api/v1/stats')
    check(st == 401 and doc['code'] == 'unauthorized', 'HTTPS without a token: %d %s' % (st, doc))
    name = fresh('tls')
    tok = api.token(name, ctl_admin(srv, name, 'operator'))
    st, doc = api.call('GET', '/api/v1/stats', token=tok)
    check(st == 200 and 'sessions' in doc, 'stats over HTTPS: %d %s' % (st, doc))
    try:
        Api(port).call('GET', '/api/v1/stats')
        plain = True
    except Exception:
        plain = False
    check(not plain, 'plain HTTP answered on the HTTPS port')


@test
def admin_logs_in_after_master_key_rotation(suite):
    srv, api = admin_server(suite, 'admin-rot', lifetime=900)
    name = fresh('rot')
    secret = ctl_admin(srv, name, 'operator')
    r = srv.ctl('keys', 'rotate-master', timeout=60)
    check(r.returncode == 0, 'rotate-master: %s' % r.stderr[-300:])
    srv.signal(1)
    time.sleep(0.5)
    st, doc = api.login(name, secret)
    check(st == 200, 'login after rotation: %d %s' % (st, doc))
