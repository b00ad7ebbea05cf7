# Integration tests of DANE-TLSA on outbound s2s streams (RFC 7673): a DNSSEC-signed zone served by
# a private NSD on loopback, its DS record as Warbler's trust anchor, and Warblers whose TLSA records
# match, do not match, fail validation, or sit in an unsigned zone. Fails (not skips) without nsd.
import os
import time

import fedlab
from tests_s2s import bounce_of, error_condition, is_el
from wbinteg import check, local_name, make_cert, test

# 127.0.0.71-79 belong to these tests.
WB1, WB2, WB3, WB4, NSD, NOBODY, IMPOSTOR = ('127.0.0.71', '127.0.0.72', '127.0.0.73',
                                             '127.0.0.74', '127.0.0.75', '127.0.0.76',
                                             '127.0.0.77')
SIGNED, PLAIN = 'dane.example', 'plain.example'
D1, D2, D3, D4 = 'wb1.dane.example', 'wb2.dane.example', 'wb3.dane.example', 'wb4.plain.example'
BAD, BOGUS = 'bad.dane.example', 'wb5.dane.example'
GOOD_HASH, BAD_HASH = 'aa' * 32, 'bb' * 32


def with_lab(suite, name, fn):
    lab = fedlab.FedLab(suite, name)
    try:
        lab.start_dns()
        return fn(lab)
    finally:
        lab.close()


class Impostor(fedlab.ScriptedPeer):
    """A server on ADDR:5269 that answers for any domain: STARTTLS with its own self-signed
    certificate, then offers EXTERNAL and dialback. Records the TLS handshakes and anything it is
    sent after its features (a refused peer gets nothing)."""

    def __init__(self, lab, addr):
        self.handshakes, self.after = [], []
        fedlab.ScriptedPeer.__init__(self, lab, 'impostor', 'impostor.dane.example', addr,
                                     backlog=8)

    def on_error(self, n, exc):  # the peer hung up: what a refused impostor expects
        pass

    def session(self, sock, n):
        c, header = self.open_stream(sock)
        domain = header.get('to', '')
        self.starttls(c, sock, 'i1', domain=domain,
                      on_tls=lambda tls: self.handshakes.append(domain))
        self.features(c, 'i2', "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                      "<mechanism>EXTERNAL</mechanism></mechanisms>"
                      "<dialback xmlns='urn:xmpp:features:dialback'/>", domain)
        el = c.wait_for(None, 5, 'anything after the features')
        self.after.append(local_name(el.tag))


def delivered(a, b, mid):
    a.send("<message to='%s' type='chat' id='%s'><body>over DANE</body></message>" % (b.jid, mid))
    el = b.wait_for(lambda e: is_el('message')(e) and e.get('id') == mid, 10,
                    'message %s at %s' % (mid, b.jid))
    check(el.get('type') != 'error', 'message %s bounced: %s' % (mid, error_condition(el)))


def listed(srv, domain):
    """The outbound (or bidirectional) streams with DOMAIN in `warblerctl s2s list`."""
    r = srv.ctl('s2s', 'list')
    check(r.returncode == 0, 'warblerctl s2s list: %s' % (r.stderr or r.stdout).strip()[:200])
    rows = [line.split() for line in r.stdout.splitlines()]
    return [row for row in rows if len(row) > 2 and row[0] == domain and row[1] in ('out', 'bidi')]


def audit_has(srv, actor, reason, timeout=5):
    """Waits for a failed s2s.auth.out audit record of ACTOR whose reason starts with REASON."""
    deadline = time.monotonic() + timeout
    while True:
        r = srv.ctl('audit', 'list', '--action', 's2s.auth.out')
        rows = [line.split('\t') for line in r.stdout.splitlines()]
        if any(len(row) > 8 and row[2] == actor and row[7] == 'failed' and
               row[8].startswith(reason) for row in rows):
            return
        check(time.monotonic() < deadline, 'no audit record "%s" for %s: %r'
              % (reason, actor, r.stdout[-600:] or r.stderr))
        time.sleep(0.2)


def dane_zones(nsd, certs):
    """Signed: wb2 through SRV with its key's TLSA 3 1 1; wb3 through SRV, first to the impostor
    (whose key is not wb3's), then to wb3; bad.dane.example (no SRV: the domain on 5269) at the
    impostor with wb2's key; wb5's TLSA record altered after signing. Unsigned: wb4 with a TLSA
    record that matches nothing, to be ignored."""
    wb2, wb3 = (fedlab.spki_sha256(os.path.join(certs, n + '.crt')) for n in ('wb2', 'wb3'))
    nsd.add(SIGNED, ['_xmpp-server._tcp.wb2 IN SRV 0 0 5269 xmpp2',
                     'xmpp2 IN A %s' % WB2,
                     '_5269._tcp.xmpp2 IN TLSA 3 1 1 %s' % wb2,
                     '_xmpp-server._tcp.wb3 IN SRV 0 0 5269 imp',
                     '_xmpp-server._tcp.wb3 IN SRV 10 0 5269 xmpp3',
                     'imp IN A %s' % IMPOSTOR,
                     '_5269._tcp.imp IN TLSA 3 1 1 %s' % wb3,
                     'xmpp3 IN A %s' % WB3,
                     '_5269._tcp.xmpp3 IN TLSA 3 1 1 %s' % wb3,
                     'bad IN A %s' % IMPOSTOR,
                     '_5269._tcp.bad IN TLSA 3 1 1 %s' % wb2,
                     'wb5 IN A %s' % NOBODY,
                     '_5269._tcp.wb5 IN TLSA 3 1 1 %s' % GOOD_HASH])
    nsd.tamper(GOOD_HASH, BAD_HASH)
    nsd.add(PLAIN, ['wb4 IN A %s' % WB4, '_5269._tcp.wb4 IN TLSA 3 1 1 %s' % wb2], signed=False)


@test
def s2s_dane_tlsa_authenticates_matching_peers_and_refuses_mismatches(suite):
    def body(lab):
        ca = fedlab.TestCA(os.path.join(lab.dir, 'ca'))
        certs = os.path.join(lab.dir, 'selfsigned')
        os.makedirs(certs)
        for name, domain in (('wb2', D2), ('wb3', D3)):
            make_cert(certs, name, domain)  # self-signed: only DANE can vouch for them
        nsd = fedlab.Nsd(lab, NSD)
        dane_zones(nsd, certs)
        nsd.start()
        imp = Impostor(lab, IMPOSTOR)
        try:
            run_cases(suite, lab, ca, certs, nsd, imp)
        finally:
            imp.close()
    with_lab(suite, 'dane', body)


def run_cases(suite, lab, ca, certs, nsd, imp):
    back = 'routes = ( { domain = "%s"; host = "%s"; } ); ca_file = "%s";' % (D1, WB1, ca.crt)
    # wb1 trusts the test CA (wb4's issuer) but no issuer of wb2's or wb3's certificates, and has
    # no dialback: DANE is the only way it can authenticate wb2 or wb3.
    s1 = fedlab.FedServer(suite, lab, 'dane-w1', D1, WB1,
                          'dialback = false; ca_file = "%s"; dnssec_trust_anchor = "%s";'
                          ' bounce_timeout = 5;' % (ca.crt, nsd.trust_anchor),
                          cert=ca.leaf('dane-wb1', D1), resolv=nsd.resolv).start()
    own = [(os.path.join(certs, n + '.crt'), os.path.join(certs, n + '.key')) for n in ('wb2', 'wb3')]
    s2 = fedlab.FedServer(suite, lab, 'dane-w2', D2, WB2, back, cert=own[0]).start()
    s3 = fedlab.FedServer(suite, lab, 'dane-w3', D3, WB3, back, cert=own[1]).start()
    s4 = fedlab.FedServer(suite, lab, 'dane-w4', D4, WB4, back, cert=ca.leaf('dane-wb4', D4)).start()
    a = s1.login('alice')
    b, c, d = s2.login('bob'), s3.login('carl'), s4.login('dora')

    # (1) TLSA 3 1 1 of wb2's self-signed key, found through SRV: DANE, then EXTERNAL.
    delivered(a, b, 'dane-1')
    log = s1.log()
    check('DANE: the certificate of %s (%s) matches TLSA 3 1 1 of _5269._tcp.xmpp2.%s'
          % (D2, WB2, SIGNED) in log, 'no DANE match logged for wb2')
    check('outbound %s -> %s authenticated (DANE+EXTERNAL' % (D1, D2) in log,
          'wb2 not authenticated with DANE+EXTERNAL')
    rows = listed(s1, D2)
    check([row[2] for row in rows] == ['DANE+EXTERNAL'], 'warblerctl s2s list shows %r' % rows)
    if rows[0][1] == 'bidi':  # XEP-0288: wb2 answers over the stream DANE authenticated
        delivered(b, a, 'dane-1-back')

    # The first SRV target of wb3 presents another key: refused, then the next target.
    delivered(a, c, 'dane-next')
    log = s1.log()
    check('DANE mismatch: the certificate of %s (%s) matches no TLSA record of _5269._tcp.imp.%s'
          % (D3, IMPOSTOR, SIGNED) in log, 'the impostor for wb3 was not refused')
    check('outbound %s -> %s authenticated (DANE+EXTERNAL, %s' % (D1, D3, WB3) in log,
          'wb3 not authenticated with DANE+EXTERNAL at its second target')
    check(D3 in imp.handshakes, 'the impostor saw no TLS handshake for wb3')

    # (2) the only target presents a key its TLSA record does not name: refused, bounced at once.
    cond, took = bounce_of(a, 'x@' + BAD, 8)
    check(cond == ['remote-server-not-found'] and took < 5,
          'mismatch: %s after %.1f s' % (cond, took))
    log = s1.log()
    check('DANE mismatch: the certificate of %s (%s) matches no TLSA record of _5269._tcp.%s'
          % (BAD, IMPOSTOR, BAD) in log, 'the DANE mismatch is not logged')
    check('outbound %s -> %s authenticated' % (D1, BAD) not in log, 'the impostor was accepted')
    check(BAD in imp.handshakes and not imp.after, 'the impostor was sent %r' % imp.after)
    check(not listed(s1, BAD), 'a stream with the impostor is listed')
    audit_has(s1, 'server:%s' % BAD, 'DANE mismatch')
    audit_has(s1, 'server:%s' % D3, 'DANE mismatch')  # the refused first target

    # A TLSA answer that fails DNSSEC validation: nothing is even connected to.
    cond, took = bounce_of(a, 'x@' + BOGUS, 8)
    check(cond == ['remote-server-not-found'] and took < 5,
          'bogus TLSA: %s after %.1f s' % (cond, took))
    check('DNSSEC validation of the TLSA records of _5269._tcp.%s failed' % BOGUS in s1.log(),
          'the bogus TLSA answer is not logged')
    check('connecting to %s port' % NOBODY not in s1.log(), 'connected despite a bogus TLSA')

    # (3) an unsigned zone: its TLSA record is ignored and the usual PKIX rules apply.
    delivered(a, d, 'dane-3')
    log = s1.log()
    check('outbound %s -> %s authenticated (EXTERNAL' % (D1, D4) in log,
          'wb4 not authenticated with plain EXTERNAL')
    check('DANE mismatch: the certificate of %s' % D4 not in log, 'an insecure TLSA was used')
    rows = listed(s1, D4)
    check([row[2] for row in rows] == ['EXTERNAL'], 'warblerctl s2s list shows %r' % rows)

    delivered(a, b, 'dane-again')  # wb2 still reachable after the refusals

    # s2s.dane = false: no TLSA lookups, so wb2's self-signed certificate is refused.
    s1.stop()
    with open(s1.conf) as f:
        text = f.read()
    with open(s1.conf, 'w') as f:
        f.write(text.replace('dialback = false;', 'dialback = false; dane = false;'))
    mark = len(s1.log())
    s1.start()
    a = s1.login('alice', 'again')
    cond, _ = bounce_of(a, b.jid, 8)
    check(cond == ['remote-server-not-found'], 'dane = false, to wb2: %s' % cond)
    log = s1.log()[mark:]
    check("the peer's certificate is not acceptable" in log and 'DNS TLSA' not in log and
          'DANE' not in log, 'dane = false still used DANE')
    for s in (s1, s2, s3, s4):
        s.stop()
