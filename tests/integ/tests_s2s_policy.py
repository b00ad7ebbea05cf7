# Integration tests of the federation policy per virtual host (hosts[i].s2s) and of static routes
# with direct TLS (XEP-0368): two Warblers from fedlab on 127.0.0.91-94, both directions per host.
import re
import time
import uuid

import fedlab
from wbinteg import NS_STREAM, check, local_name, make_cert, test
from tests_s2s import bounce_of, error_condition, is_el, with_lab

S1, S2, S3, S4 = '127.0.0.91', '127.0.0.92', '127.0.0.93', '127.0.0.94'
HOST_A, HOST_B = 'a.vh.test', 'b.vh.test'  # on S1: A allowlists P only, B does not federate
PEER_P, PEER_Q = 'p.vh.test', 'q.vh.test'  # on S2: global policy, federates with everyone


class VhostServer(fedlab.FedServer):
    """A FedServer serving several virtual hosts: [(domain, s2s policy group or '')]."""

    def __init__(self, suite, lab, name, addr, hosts, s2s_extra='', direct=False):
        self.vhosts = hosts
        fedlab.FedServer.__init__(self, suite, lab, name, hosts[0][0], addr, s2s_extra,
                                  direct=direct)

    def _write_config(self):
        fedlab.FedServer._write_config(self)
        entries = []
        for i, (domain, policy) in enumerate(self.vhosts):
            make_cert(self.tls_dir, 'vh%d' % i, domain)
            entries.append('{ domain = "%s"; cert = "tls/vh%d.crt"; key = "tls/vh%d.key";%s }'
                           % (domain, i, i, ' s2s = { %s };' % policy if policy else ''))
        with open(self.conf) as f:
            lines = f.read().splitlines(True)
        lines = ['hosts = ( %s );\n' % ',\n          '.join(entries)
                 if l.startswith('hosts = ') else l for l in lines]
        with open(self.conf, 'w') as f:
            f.write(''.join(lines))


def routes(*pairs):
    return 'routes = ( %s );' % ', '.join(
        '{ domain = "%s"; host = "%s"; %s}' % (d, h, extra) for d, h, extra in pairs)


def delivered(a, b, what):
    mid = 'm-' + uuid.uuid4().hex[:8]
    a.send("<message to='%s' type='chat' id='%s'><body>hi</body></message>" % (b.jid, mid))
    el = b.wait_for(lambda e: is_el('message', id=mid)(e) or (
        is_el('message')(e) and e.get('type') == 'error'), 15, what)
    check(el.get('type') != 'error', '%s bounced: %s' % (what, error_condition(el)))


def refused(c, to, what):
    cond, took = bounce_of(c, to, 15)
    check(cond == ['remote-server-not-found'] and took < 10,
          '%s: %s after %.1f s' % (what, cond, took))


def log_has(srv, text, what, timeout=5):
    deadline = time.monotonic() + timeout
    while text not in srv.log():
        check(time.monotonic() < deadline, '%s: "%s" not in the log of %s' % (what, text, srv.name))
        time.sleep(0.1)


def log_line(srv, pattern, what, timeout=5):
    deadline = time.monotonic() + timeout
    while not re.search(pattern, srv.log()):
        check(time.monotonic() < deadline, '%s: /%s/ not in the log of %s' % (what, pattern,
                                                                              srv.name))
        time.sleep(0.1)


def raw_stream(addr, to, frm=None):
    c = fedlab.Conn(addr, 5269, to)
    c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s'%s "
           "to='%s' version='1.0'>" % (NS_STREAM, " from='%s'" % frm if frm else '', to))
    return c


@test
def s2s_policy_per_virtual_host_allowlist_and_federation_off(suite):
    def body(lab):
        s1 = VhostServer(suite, lab, 'vh-s1', S1,
                         [(HOST_A, 'allow = [ "%s" ];' % PEER_P), (HOST_B, 'enabled = false;')],
                         routes((PEER_P, S2, ''), (PEER_Q, S2, ''))).start()
        s2 = VhostServer(suite, lab, 'vh-s2', S2, [(PEER_P, ''), (PEER_Q, '')],
                         routes((HOST_A, S1, ''), (HOST_B, S1, ''))).start()
        alice = s1.login('alice', 'a', domain=HOST_A)
        bob = s1.login('bob', 'b', domain=HOST_B)
        pat = s2.login('pat', 'p', domain=PEER_P)
        quinn = s2.login('quinn', 'q', domain=PEER_Q)
        # Host A and the allowlisted domain federate both ways.
        delivered(alice, pat, 'a message from host A to its allowlisted peer')
        delivered(pat, alice, 'a message from the allowlisted peer to host A')
        # Host A with a domain not on its allowlist: refused both ways.
        refused(alice, quinn.jid, 'host A to a domain not on its allowlist')
        log_has(s1, 'not routing to %s: domain is not on the allowlist of host %s'
                % (PEER_Q, HOST_A), 'outbound allowlist refusal')
        refused(quinn, alice.jid, 'a domain not on the allowlist to host A')
        log_line(s1, r'refused inbound stream from %s \([0-9.]+\): domain is not on the '
                 r'allowlist of host %s' % (re.escape(PEER_Q), re.escape(HOST_A)),
                 'inbound allowlist refusal')
        # Host B does not federate at all, while host A does.
        refused(bob, pat.jid, 'host B (federation off) to a remote domain')
        log_has(s1, 'not routing to %s: federation is disabled for host %s' % (PEER_P, HOST_B),
                'outbound refusal of host B')
        refused(pat, bob.jid, 'a remote domain to host B (federation off)')
        log_line(s1, r'refused inbound stream from %s \([0-9.]+\): federation is disabled for '
                 r'host %s' % (re.escape(PEER_P), re.escape(HOST_B)), 'inbound refusal of host B')
        # The stream errors themselves, header by header.
        for frm, to in ((PEER_Q, HOST_A), (PEER_P, HOST_B), (None, HOST_B),
                        (PEER_P, 'conference.' + HOST_B)):
            raw_stream(S1, to, frm).expect_stream_error('policy-violation')
        c = raw_stream(S1, HOST_A, PEER_P)
        f = c.wait_for(lambda e: local_name(e.tag) == 'features', 10,
                       'features for an allowed peer')
        check(any(local_name(x.tag) == 'starttls' for x in f), 'no STARTTLS offered to the peer')
        c.close()
        # The refusals leave host A's federation with P, and local traffic between hosts, alone.
        delivered(pat, alice, 'the allowlisted peer to host A after the refusals')
        delivered(bob, alice, 'local traffic between the two hosts')
        for s in (s1, s2):
            s.stop()
    with_lab(suite, 'vhost', body)


@test
def s2s_static_route_with_direct_tls_skips_starttls(suite):
    def body(lab):
        d1, d2 = 'd1.vh.test', 'd2.vh.test'
        s3 = fedlab.FedServer(suite, lab, 'vh-direct1', d1, S3,
                              routes((d2, S4, 'port = 5270; tls = "direct"; '))).start()
        s4 = fedlab.FedServer(suite, lab, 'vh-direct2', d2, S4, routes((d1, S3, '')),
                              direct=True).start()
        a = s3.login('dora')
        b = s4.login('eli')
        delivered(a, b, 'a message over the direct-TLS route')
        log_has(s3, 'connecting to %s port 5270 for %s (direct TLS)' % (S4, d2),
                'the route did not connect with direct TLS')
        log_has(s3, 'outbound %s -> %s authenticated (dialback, %s' % (d1, d2, S4),
                'no authenticated outbound stream')
        line = [l for l in s3.log().splitlines()
                if 'outbound %s -> %s authenticated' % (d1, d2) in l][-1]
        check(line.rstrip().endswith('direct TLS); 1 queued') or ', direct TLS)' in line,
              'outbound stream not marked direct TLS: %s' % line)
        log_has(s4, 'inbound %s -> %s authenticated' % (d1, d2), 'no inbound stream on the peer')
        inbound = [l for l in s4.log().splitlines()
                   if 'inbound %s -> %s authenticated' % (d1, d2) in l][-1]
        check(', direct TLS)' in inbound, 'the peer did not see direct TLS: %s' % inbound)
        r = s3.ctl('s2s', 'list')
        out = [l.split() for l in r.stdout.splitlines()
               if l.split()[:1] == [d2] and l.split()[1] in ('out', 'bidi')]
        check(len(out) == 1 and out[0][3].startswith('TLSv1.'), 's2s list: %r' % r.stdout)
        # The default (STARTTLS) route back: a stream of its own (unless XEP-0288 reuses the
        # first one) is not marked direct.
        delivered(b, a, 'a message back')
        for l in s4.log().splitlines():
            check(not ('outbound %s -> %s authenticated' % (d2, d1) in l and 'direct TLS' in l),
                  'the STARTTLS route is marked direct: %s' % l)
        s3.stop()
        s4.stop()
    with_lab(suite, 'vhdirect', body)
