# Integration tests of GET /metrics (Prometheus text, loopback only, counters that move with the
# events they count, no personal data) and of GET /api/v1/status (roles, fields).
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

from tests_admin import Api, admin_server, role_token, root_token, xmpp_login, xmpp_refused
from wbinteg import check, free_ports, test

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? '
                    r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def scrape(host, port):
    req = urllib.request.Request('http://%s:%d/metrics' % (host, port))
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers.get('Content-Type'), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get('Content-Type'), e.read().decode()


def parse(text):
    """Checks the text exposition format strictly; returns {sample name with labels: value}."""
    types, values = {}, {}
    check(text.endswith('\n'), 'exposition does not end with a newline')
    for line in text.splitlines():
        if line.startswith('# TYPE '):
            _h, _t, name, kind = line.split(' ')
            check(kind in ('counter', 'gauge', 'histogram'), 'type %s' % kind)
            check(name not in types, 'TYPE %s twice' % name)
            types[name] = kind
            continue
        if line.startswith('# HELP '):
            continue
        m = SAMPLE.match(line)
        check(m is not None, 'not a sample line: %r' % line)
        name = m.group(1)
        family = re.sub(r'_(bucket|sum|count)$', '', name) if name not in types else name
        check(family in types, 'sample %s without a TYPE' % name)
        key = name + (m.group(2) or '')
        check(key not in values, 'sample %s twice' % key)
        values[key] = float(m.group(4))
    return types, values


def check_histogram(types, values, name):
    check(types.get(name) == 'histogram', '%s is not a histogram' % name)
    buckets = [(k, v) for k, v in values.items() if k.startswith(name + '_bucket{')]
    check(buckets and buckets[-1][0].endswith('le="+Inf"}'), 'no +Inf bucket')
    counts = [v for _k, v in buckets]
    check(counts == sorted(counts), 'buckets not cumulative: %s' % counts)
    check(counts[-1] == values[name + '_count'], '+Inf bucket != count')


@test
def metrics_are_prometheus_text_and_count_logins_routing_and_archive_writes(suite):
    srv, api = admin_server(suite)
    st, ctype, text = scrape('127.0.0.1', srv.admin_port)
    check(st == 200 and ctype.startswith('text/plain; version=0.0.4'), '%d %s' % (st, ctype))
    types, before = parse(text)
    for name in ('warbler_c2s_logins_total', 'warbler_c2s_login_failures_total',
                 'warbler_routed_stanzas_total', 'warbler_archive_writes_total'):
        check(types.get(name) == 'counter', '%s missing or not a counter' % name)
    check(types.get('warbler_sessions') == 'gauge' and before['warbler_storage_up'] == 1,
          'gauges: %s' % types)
    check_histogram(types, before, 'warbler_storage_latency_seconds')
    a_name, b_name = 'met%s' % uuid.uuid4().hex[:8], 'met%s' % uuid.uuid4().hex[:8]
    srv.user(a_name)
    srv.user(b_name)
    a, b = xmpp_login(srv, a_name, resource='r'), xmpp_login(srv, b_name, resource='r')
    check(xmpp_refused(srv, a_name, 'wrong password'), 'a wrong password was accepted')
    a.send("<message type='chat' to='%s@localhost/r' id='m1'><body>hello</body></message>" % b_name)
    b.wait_for(lambda e: e.get('id') == 'm1', 10, 'the message')
    deadline = time.monotonic() + 10
    while True:
        types, after = parse(scrape('127.0.0.1', srv.admin_port)[2])
        grew = {k: after[k] - before[k] for k in before if not k.startswith('warbler_uptime')}
        if grew['warbler_archive_writes_total'] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(grew['warbler_c2s_logins_total'] >= 2, 'logins: %s' % grew)
    check(grew['warbler_c2s_login_failures_total'] >= 1, 'failures: %s' % grew)
    check(grew['warbler_routed_stanzas_total'] >= 1, 'routed: %s' % grew)
    check(grew['warbler_archive_writes_total'] >= 2, 'archive writes: %s' % grew)
    check(grew['warbler_storage_latency_seconds_count'] >= 1, 'latency: %s' % grew)
    check(after['warbler_sessions'] >= 2, 'sessions: %s' % after['warbler_sessions'])
    check_histogram(types, after, 'warbler_storage_latency_seconds')
    text = scrape('127.0.0.1', srv.admin_port)[2]
    check(a_name not in text and b_name not in text and '127.0.0.1' not in text and
          'localhost' not in text, 'personal data in the metrics')
    a.close()
    b.close()


def outside_address():
    """A non-loopback address of this machine, or None."""
    out = subprocess.run(['hostname', '-I'], capture_output=True, text=True).stdout.split()
    v4 = [a for a in out if ':' not in a and not a.startswith('127.')]
    return v4[0] if v4 else None


@test
def metrics_are_refused_to_callers_outside_loopback(suite):
    addr = outside_address()
    check(addr is not None, 'this machine has no non-loopback IPv4 address to test from')
    srv = suite.private_server('admin-metrics-wide')
    port = free_ports(1)[0]
    with open(srv.conf, 'a') as f:
        f.write('admin = { enabled = true; listen = "0.0.0.0"; port = %d; threads = 2; };\n' % port)
    srv.start()
    st, _ctype, text = scrape(addr, port)
    check(st == 403 and 'loopback' in text, 'metrics from %s: %d %s' % (addr, st, text[:200]))
    st, _ctype, text = scrape('127.0.0.1', port)
    check(st == 200 and 'warbler_sessions' in text, 'metrics from loopback: %d' % st)
    s = socket.create_connection((addr, port), timeout=5)
    s.close()


@test
def status_endpoint_reports_health_to_operators_only(suite):
    srv, api = admin_server(suite)
    root = root_token(srv, api)
    op = role_token(api, root, 'operator')
    st, doc = api.call('GET', '/api/v1/status', token=op)
    check(st == 200, 'status as operator: %d %s' % (st, doc))
    check(doc['uptime'] >= 0 and doc['sessions'] >= 0 and doc['accounts'] >= 1 and
          doc['storage']['ok'] is True and doc['counters']['logins'] >= 0, 'status: %s' % doc)
    certs = {c['domain']: c for c in doc['certificates']}
    check('localhost' in certs and certs['localhost']['days_left'] > 0 and
          certs['localhost']['not_after'].endswith('Z'), 'certificates: %s' % certs)
    for role in ('auditor', 'dpo'):
        st, doc = api.call('GET', '/api/v1/status', token=role_token(api, root, role))
        check(st == 403 and 'stats.read' in doc['message'], 'status as %s: %d' % (role, st))
    st, doc = Api(srv.admin_port).call('GET', '/api/v1/status')
    check(st == 401, 'status without a token: %d' % st)
