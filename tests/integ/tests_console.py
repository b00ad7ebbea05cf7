# Integration tests of the admin console: its static files and their security headers, and a
# real browser session (headless Chromium driven by playwright-core through console_test.js).
import json
import os
import shutil
import urllib.error
import urllib.request
import uuid

from tests_admin import ADMIN_PW, admin_server, ctl_admin, totp
from wbinteg import check, run, test

HERE = os.path.dirname(os.path.abspath(__file__))


def get(port, path, method='GET'):
    """(status, headers, body bytes) of one request to the admin listener."""
    req = urllib.request.Request('http://127.0.0.1:%d%s' % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@test
def console_files_are_served_with_a_strict_policy(suite):
    srv, _api = admin_server(suite)
    st, h, body = get(srv.admin_port, '/')
    check(st == 200 and h['Content-Type'].startswith('text/html'), '/: %d %s' % (
        st, h['Content-Type']))
    check(b'/console/app.js' in body and b'login-totp' in body, 'not the console page')
    check("default-src 'self'" in (h['Content-Security-Policy'] or ''), 'no CSP: %s' % h)
    check(h['X-Frame-Options'] == 'DENY' and h['Cache-Control'] == 'no-store', 'headers: %s' % h)
    for path, ctype in (('/console/app.js', 'text/javascript'), ('/console/style.css', 'text/css'),
                        ('/console/index.html', 'text/html')):
        st, h, body = get(srv.admin_port, path)
        check(st == 200 and h['Content-Type'].startswith(ctype) and body, '%s: %d %s' % (
            path, st, h['Content-Type']))
    for path in ('/console/secret.txt', '/console/..%2f..%2fwb_admin_http.c', '/console/',
                 '/console/app.js/x'):
        st, h, body = get(srv.admin_port, path)
        check(st == 404 and json.loads(body)['code'] == 'not_found', '%s: %d' % (path, st))
    st, h, body = get(srv.admin_port, '/', method='POST')
    check(st == 405, 'POST /: %d' % st)


def playwright_dir(suite):
    """A test-local node_modules with playwright-core (installed with npm on first use)."""
    d = os.environ.get('WB_CONSOLE_NODE') or os.path.join(suite.build, 'console-node')
    if not os.path.isdir(os.path.join(d, 'node_modules', 'playwright-core')):
        os.makedirs(d, exist_ok=True)
        r = run(['npm', 'install', '--prefix', d, '--no-audit', '--no-fund', 'playwright-core@1'],
                timeout=300)
        check(r.returncode == 0, 'npm install playwright-core: %s' % r.stderr.strip()[-300:])
    return d


@test
def console_in_chromium_logs_in_creates_an_account_and_shows_its_audit_entry(suite):
    check(shutil.which('node') and os.access('/usr/bin/chromium', os.X_OK),
          'node and chromium are needed (deploy/lib/pkg.sh WB_PKGS_TEST)')
    srv, api = admin_server(suite)
    name = 'console%s' % uuid.uuid4().hex[:6]
    secret = ctl_admin(srv, name, 'superadmin')
    jid = 'webmade%s@localhost' % uuid.uuid4().hex[:6]
    out = os.path.join(suite.build, 'integ-output')
    os.makedirs(out, exist_ok=True)
    shot = os.path.join(out, 'console.png')
    if os.path.exists(shot):
        os.unlink(shot)
    env = dict(os.environ, NODE_PATH=os.path.join(playwright_dir(suite), 'node_modules'))
    r = run(['node', os.path.join(HERE, 'console_test.js'), 'http://127.0.0.1:%d' % srv.admin_port,
             name, ADMIN_PW, totp(secret), jid, 'web password 1', shot], timeout=90, env=env)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith('{')]
    check(lines, 'console_test.js printed nothing: %s' % (r.stderr or r.stdout)[-500:])
    res = json.loads(lines[-1])
    check(r.returncode == 0 and res['ok'], 'browser session failed: %s' % res['errors'])
    st = res['status']
    check(st['storage'].startswith('up') and name in st['who'] and 'localhost' in
          st['certificates'], 'status panel: %s' % st)
    check(os.path.getsize(shot) > 1000, 'no screenshot')
    shutil.copy(shot, os.path.join(srv.dir, 'console.png'))
    st, doc = api.call('GET', '/api/v1/accounts/' + jid, token=api.token(
        name + 'x', ctl_admin(srv, name + 'x', 'operator')))
    check(st == 200 and doc['jid'] == jid, 'account made in the browser: %d %s' % (st, doc))
