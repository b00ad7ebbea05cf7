# Integration tests of TLS and SASL: libstrophe logins (SCRAM-SHA-256, SCRAM-SHA-1), SCRAM-PLUS via
# plus_client, ALPN, STARTTLS enforcement and the 1,000-message slixmpp/libstrophe exchange.
import os
import select
import subprocess
import sys
import time

from wbinteg import NS_SASL, NS_TLS, Closed, XmppConn, check, run, test

HERE = os.path.dirname(os.path.abspath(__file__))
SLIX_PYTHON = '/usr/bin/python3'


def offered_mechanisms(srv, direct):
    c = XmppConn(srv.direct_port if direct else srv.starttls_port, direct=direct)
    try:
        if not direct:
            c.open('localhost')
            c.starttls()
        feats = c.open('localhost')
        return [m.text for m in feats.iter('{%s}mechanism' % NS_SASL)]
    finally:
        c.close()


def strophe_login(suite, srv, local, mode, expect_ok=True, password=None):
    jid, pw = srv.user(local)
    port = srv.direct_port if mode == 'direct' else srv.starttls_port
    r = run([suite.tool('strophe_client'), 'login', '127.0.0.1', str(port), jid,
             password or pw, mode], timeout=60)
    if expect_ok:
        check(r.returncode == 0, 'strophe_client login exit %d: %s' % (
            r.returncode, r.stderr.strip()[-200:]))
        check(('bound %s/' % jid) in r.stdout, 'unexpected bound JID: %r' % r.stdout[:200])
    return r


def check_strophe_uses(srv, direct, mech):
    """libstrophe 0.12.2 has no -PLUS and prefers SHA-512 > SHA-256 > SHA-1 > PLAIN: from the
    offer we know which one it used."""
    offered = offered_mechanisms(srv, direct)
    check(mech in offered, '%s not offered: %s' % (mech, offered))
    stronger = {'SCRAM-SHA-256': ['SCRAM-SHA-512'],
                'SCRAM-SHA-1': ['SCRAM-SHA-512', 'SCRAM-SHA-256']}[mech]
    check(not set(stronger) & set(offered), 'offer %s would not make libstrophe use %s' % (
        offered, mech))


@test
def strophe_login_starttls_scram_sha256(suite):
    srv = suite.server()
    check_strophe_uses(srv, False, 'SCRAM-SHA-256')
    strophe_login(suite, srv, 'st256', 'starttls')


@test
def strophe_login_direct_tls_scram_sha256(suite):
    srv = suite.server()
    check_strophe_uses(srv, True, 'SCRAM-SHA-256')
    strophe_login(suite, srv, 'dt256', 'direct')


@test
def strophe_login_starttls_scram_sha1_when_only_sha1_offered(suite):
    srv = suite.server('sha1only', mechanisms=['SCRAM-SHA-1'])
    offered = offered_mechanisms(srv, False)
    check(offered == ['SCRAM-SHA-1'], 'offer is %s, configured only SCRAM-SHA-1' % offered)
    strophe_login(suite, srv, 'st1', 'starttls')


@test
def strophe_login_direct_tls_scram_sha1_when_only_sha1_offered(suite):
    srv = suite.server('sha1only', mechanisms=['SCRAM-SHA-1'])
    offered = offered_mechanisms(srv, True)
    check(offered == ['SCRAM-SHA-1'], 'offer is %s, configured only SCRAM-SHA-1' % offered)
    strophe_login(suite, srv, 'dt1', 'direct')


@test
def raw_scram_sha1_login_when_only_sha1_offered(suite):
    srv = suite.server('sha1only', mechanisms=['SCRAM-SHA-1'])
    c = srv.login('raw1', mech='SCRAM-SHA-1')
    c.ping()


@test
def plain_login_over_direct_tls(suite):
    srv = suite.server()
    c = srv.login('plainer', direct=True, mech='PLAIN')
    c.ping()


def plus_login(suite, cbtype, mode):
    srv = suite.server()
    jid, pw = srv.user('plus_%s_%s' % (cbtype.replace('-', '_'), mode))
    port = srv.direct_port if mode == 'direct' else srv.starttls_port
    r = run([suite.tool('plus_client'), '127.0.0.1', str(port), 'localhost', jid.split('@')[0],
             pw, 'SCRAM-SHA-256-PLUS', cbtype, mode], timeout=60)
    check(r.returncode == 0, 'plus_client exit %d: %s' % (r.returncode,
                                                        (r.stderr or r.stdout).strip()[-200:]))
    check(r.stdout.startswith('ok %s/' % jid), 'plus_client printed %r' % r.stdout[:200])


@test
def scram_sha256_plus_tls_exporter_starttls(suite):
    plus_login(suite, 'tls-exporter', 'starttls')


@test
def scram_sha256_plus_tls_exporter_direct_tls(suite):
    plus_login(suite, 'tls-exporter', 'direct')


@test
def scram_sha256_plus_tls_server_end_point_starttls(suite):
    plus_login(suite, 'tls-server-end-point', 'starttls')


@test
def scram_sha256_plus_tls_server_end_point_direct_tls(suite):
    plus_login(suite, 'tls-server-end-point', 'direct')


@test
def direct_tls_negotiates_alpn_xmpp_client(suite):
    srv = suite.server()
    c = XmppConn(srv.direct_port, direct=True)
    check(c.sock.selected_alpn_protocol() == 'xmpp-client', 'ALPN selected %r' %
          c.sock.selected_alpn_protocol())
    c.close()
    c = XmppConn(srv.direct_port, direct=True, alpn=False)
    feats = c.open('localhost')
    check(feats.find('{%s}mechanisms' % NS_SASL) is not None, 'no SASL offer without ALPN')
    c.close()


@test
def starttls_required_before_sasl(suite):
    srv = suite.server()
    _, pw = srv.user('notls')
    c = XmppConn(srv.starttls_port)
    feats = c.open('localhost')
    tls = feats.find('{%s}starttls' % NS_TLS)
    check(tls is not None, 'STARTTLS not offered')
    check(tls.find('{%s}required' % NS_TLS) is not None, 'STARTTLS not marked <required/>')
    try:
        ok, _ = c.auth_plain('notls', pw)
    except Closed:  # closing the stream is a fine answer too
        ok = False
    check(not ok, 'PLAIN accepted before TLS')
    c.close()


def read_line(proc, timeout):
    deadline = time.monotonic() + timeout
    line = b''
    while not line.endswith(b'\n'):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            return None
        ch = os.read(proc.stdout.fileno(), 1)
        if not ch:
            return line.decode() or None
        line += ch
    return line.decode().strip()


@test
def thousand_messages_each_way_slixmpp_and_libstrophe_in_order(suite):
    srv = suite.server()
    n = 1000
    slix_jid, slix_pw = srv.user('slix1k')
    st_jid, st_pw = srv.user('strophe1k')
    strophe = suite.tool('strophe_client')
    peer = subprocess.Popen([SLIX_PYTHON, os.path.join(HERE, 'slix_peer.py'), slix_jid, slix_pw,
                             '127.0.0.1', str(srv.starttls_port), str(n), st_jid],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = read_line(peer, 30)
        check(ready is not None and ready.startswith('ready '), 'slixmpp peer not ready: %s %s' % (
            ready, peer.stderr.read().decode()[-300:] if peer.poll() is not None else ''))
        r = run([strophe, 'chat', '127.0.0.1', str(srv.direct_port), st_jid, st_pw, 'direct',
                 ready.split()[1], str(n)], timeout=90)
        check(r.returncode == 0 and r.stdout.strip().endswith('ok %d' % n),
              'libstrophe side: exit %d: %s' % (r.returncode, r.stderr.strip()[-200:]))
        out, err = peer.communicate(timeout=30)
        check(peer.returncode == 0 and out.decode().strip().endswith('ok %d' % n),
              'slixmpp side: exit %d: %s' % (peer.returncode, err.decode().strip()[-300:]))
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()


if __name__ == '__main__':
    sys.exit('run these through run.py')
