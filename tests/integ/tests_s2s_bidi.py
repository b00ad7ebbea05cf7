# Integration tests of bidirectional server-to-server streams (XEP-0288, server/s2s/wb_s2s_bidi.c):
# two Warblers on one TCP connection, bidi switched off on one side, Prosody with and without its
# mod_s2s_bidi, and a scripted peer spoofing the from of the reverse direction. Own 127.0.0.81-89.
import subprocess
import time

import fedlab
from tests_muc import NS_MUC, NS_USER, codes, form
from tests_s2s import federate, is_el, messages_in_order, with_lab
from wbinteg import NS_CLIENT, NS_STREAM, check, local_name, stanza_error, test

B1, B2, PRB, EVIL = '127.0.0.81', '127.0.0.82', '127.0.0.83', '127.0.0.84'
D1, D2, DPR, DEVIL = 'bd1.fed.test', 'bd2.fed.test', 'prb.fed.test', 'evilb.fed.test'
DPR2 = 'prc.fed.test'
DOTHER = 'other.evilb.fed.test'
NS_DB = 'jabber:server:dialback'


def route(domain, addr):
    return '{ domain = "%s"; host = "%s"; port = 5269; }' % (domain, addr)


def s2s_connections(addrs):
    """Established TCP connections to port 5269 of these addresses (seen from the connecting end)."""
    r = subprocess.run(['ss', '-Htn', 'state', 'established'], capture_output=True, text=True)
    check(r.returncode == 0, 'ss failed: %s' % r.stderr.strip()[:200])
    peers = ['%s:5269' % a for a in addrs]
    return sum(1 for l in r.stdout.splitlines() if len(l.split()) >= 4 and l.split()[3] in peers)


def wait_connections(addrs, n, timeout=8):
    """Waits until exactly n connections remain (dialback verifications are short-lived)."""
    deadline = time.monotonic() + timeout
    while True:
        got = s2s_connections(addrs)
        if got == n:
            return
        check(time.monotonic() < deadline, '%d s2s connections between %s, expected %d'
              % (got, addrs, n))
        time.sleep(0.2)


def streams(srv, remote):
    """The `warblerctl s2s list` lines of streams with REMOTE, split."""
    r = srv.ctl('s2s', 'list')
    check(r.returncode == 0, 'warblerctl s2s list: %s' % (r.stderr or r.stdout).strip()[:200])
    return [l.split() for l in r.stdout.splitlines() if l.split() and l.split()[0] == remote]


def wait_streams(srv, remote, dirs, timeout=8):
    deadline = time.monotonic() + timeout
    while True:
        got = sorted(l[1] for l in streams(srv, remote))
        if got == sorted(dirs):
            return
        check(time.monotonic() < deadline, '%s lists streams with %s: %s, expected %s'
              % (srv.name, remote, got, sorted(dirs)))
        time.sleep(0.2)


def two_servers(suite, lab, extra1='', extra2=''):
    s1 = fedlab.FedServer(suite, lab, 'bidi-w1', D1, B1, 'routes = ( %s, %s ); %s'
                          % (route(D2, B2), route('conference.' + D2, B2), extra1)).start()
    s2 = fedlab.FedServer(suite, lab, 'bidi-w2', D2, B2,
                          'routes = ( %s ); %s' % (route(D1, B1), extra2)).start()
    return s1, s2


def muc_over_the_same_stream(a, b):
    """The receiving server's MUC service (another of its domains) invites a user of the
    initiating server: it asks for the pair with db:result on the bidi stream, the initiator
    verifies it; then the user joins and chats over the same stream."""
    room = 'bidiroom@conference.' + D2
    b.send("<presence to='%s/ben'><x xmlns='%s'/></presence>" % (room, NS_MUC))
    el = b.wait_for(lambda e: e.get('from') == room + '/ben' and 110 in codes(e), 10, 'the room')
    el = b.iq('set', form({}), room)
    check(el.get('type') == 'result', 'room configuration: %s' % stanza_error(el))
    b.send("<message to='%s'><x xmlns='%s'><invite to='%s'/></x></message>"
           % (room, NS_USER, a.jid.split('/')[0]))
    inv = a.wait_for(lambda e: e.find('{%s}x/{%s}invite' % (NS_USER, NS_USER)) is not None, 20,
                     'the invitation from the room')
    check(inv.get('from') == room, 'invitation from %s' % inv.get('from'))
    a.send("<presence to='%s/amy'><x xmlns='%s'/></presence>" % (room, NS_MUC))
    el = a.wait_for(lambda e: e.get('from') == room + '/amy' and
                    (e.get('type') == 'error' or 110 in codes(e)), 20, 'the join')
    check(el.get('type') is None, 'join refused: %s' % stanza_error(el))
    a.send("<message to='%s' type='groupchat'><body>over bidi</body></message>" % room)
    b.wait_for(lambda e: e.get('from') == room + '/amy' and
               e.findtext('{%s}body' % NS_CLIENT) == 'over bidi', 20, 'the groupchat message')


@test
def s2s_bidi_two_warblers_share_one_connection(suite):
    def body(lab):
        s1, s2 = two_servers(suite, lab)
        a, b = s1.login('amy', 'one'), s2.login('ben', 'two')
        federate(a, 'amy@' + D1, b, 'ben@' + D2)
        wait_connections((B1, B2), 1)
        wait_streams(s1, D2, ['bidi'])
        wait_streams(s2, D1, ['bidi'])
        for srv, remote in ((s1, D2), (s2, D1)):
            l = streams(srv, remote)[0]
            counts = dict(f.split('=') for f in l if f.startswith(('in=', 'out=')))
            check(l[2] == 'dialback' and l[3].startswith('TLSv1.') and int(counts['in']) >= 100
                  and int(counts['out']) >= 100, '%s lists %s' % (srv.name, ' '.join(l)))
        check('authenticated (dialback, 127.0.0.1, bidirectional)' in s2.log(),
              'the receiving server did not log a bidirectional stream')
        muc_over_the_same_stream(a, b)
        wait_connections((B1, B2), 1)
        log1 = s1.log()
        check('reverse conference.%s -> %s authenticated (dialback' % (D2, D1) in log1,
              'the MUC service was not authenticated over the bidi stream')
        check('connecting %s -> conference.%s' % (D1, D2) not in log1 and
              'outbound %s -> %s authenticated' % (D2, D1) not in s2.log(),
              'a stream of its own was opened')
        # The stream closes: traffic takes a new one (bidirectional again), nothing is lost.
        r = s2.ctl('s2s', 'close', D1)
        check('closed 1' in r.stdout, 'close: %r' % r.stdout)
        messages_in_order(b, a, 20)
        messages_in_order(a, b, 20)
        wait_connections((B1, B2), 1)
        wait_streams(s2, D1, ['bidi'])
        s1.stop()
        s2.stop()
    with_lab(suite, 'bidi', body)


@test
def s2s_bidi_switched_off_on_one_side_uses_two_streams(suite):
    def body(lab):
        s1, s2 = two_servers(suite, lab, extra2='bidi = false;')
        # The server with bidi off does not offer it.
        c = fedlab.Conn(B2, 5269, D2)
        opening = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
                   "xmlns:db='%s' from='%s' to='%s' version='1.0'>" % (NS_STREAM, NS_DB, D1, D2))
        c.send(opening)
        c.wait_for(lambda e: local_name(e.tag) == 'features', 10, 'features')
        c.starttls()
        c.send(opening)
        f = c.wait_for(lambda e: local_name(e.tag) == 'features', 10, 'features after TLS')
        check('bidi' not in [local_name(x.tag) for x in f], 'bidi offered while switched off')
        c.close()
        c = fedlab.Conn(B1, 5269, D1)
        c.send(opening.replace("from='%s' to='%s'" % (D1, D2), "from='%s' to='%s'" % (D2, D1)))
        c.wait_for(lambda e: local_name(e.tag) == 'features', 10, 'features')
        c.starttls()
        c.send(opening.replace("from='%s' to='%s'" % (D1, D2), "from='%s' to='%s'" % (D2, D1)))
        f = c.wait_for(lambda e: local_name(e.tag) == 'features', 10, 'features after TLS')
        check('{urn:xmpp:features:bidi}bidi' in [x.tag for x in f], 'bidi not offered after TLS')
        c.close()
        a, b = s1.login('cat', 'one'), s2.login('dan', 'two')
        messages_in_order(a, b, 20)
        messages_in_order(b, a, 20)
        a.ping(to=D2, timeout=20)
        b.ping(to=D1, timeout=20)
        wait_streams(s1, D2, ['in', 'out'])
        wait_streams(s2, D1, ['in', 'out'])
        wait_connections((B1, B2), 2)
        s1.stop()
        s2.stop()
    with_lab(suite, 'bidioff', body)


def prosody_bidi(lab):
    """A Prosody for DPR on PRB with its mod_s2s_bidi loaded (not loaded by default in 0.12)."""
    p = lab.prosody(DPR, PRB)
    with open(p.conf) as f:
        text = f.read()
    check('"ping", "posix" }' in text, 'the lab Prosody configuration changed')
    with open(p.conf, 'w') as f:
        f.write(text.replace('"ping", "posix" }', '"ping", "posix", "s2s_bidi" }'))
    return p.start()


@test
def s2s_bidi_with_prosody_one_stream_when_it_offers_bidi_two_when_not(suite):
    def body(lab):
        lab.add_host(D1, B1)
        lab.add_host(DPR, PRB)
        pr = prosody_bidi(lab)
        wb = fedlab.FedServer(suite, lab, 'bidi-pr', D1, B1).start()
        a, b = wb.login('eve', 'wb'), pr.login('fay', 'pr')
        # Prosody opens the stream (and asks for bidi), Warbler answers on it.
        federate(b, 'fay@' + DPR, a, 'eve@' + D1)
        wait_streams(wb, DPR, ['bidi'])
        wait_connections((B1, PRB), 1)
        check('Requesting bidirectional stream' in pr.log_text(), 'Prosody did not ask for bidi')
        # Warbler opens the next stream (and asks for bidi), Prosody answers on it.
        r = wb.ctl('s2s', 'close', DPR)
        check('closed 1' in r.stdout, 'close: %r' % r.stdout)
        wait_connections((B1, PRB), 0)
        messages_in_order(a, b, 20)
        messages_in_order(b, a, 20)
        a.ping(to=DPR, timeout=20)
        # Prosody checks our dialback key over a connection of its own, which it keeps as its
        # outgoing stream (bidirectional too): our stream is bidirectional, not necessarily alone.
        check(any(l[1] == 'bidi' and 'peer=%s' % PRB in l for l in streams(wb, DPR)),
              'our stream to Prosody is not bidirectional: %s' % streams(wb, DPR))
        check('requesting a bidirectional stream with %s' % DPR in wb.log() and
              'Requested bidirectional stream' in pr.log_text(),
              'Warbler did not ask Prosody for bidi')
        wb.stop()
        pr.stop()
        # A Prosody without mod_s2s_bidi: one stream each way, as before.
        lab.add_host(DPR2, PRB)
        pr2 = lab.prosody(DPR2, PRB).start()
        wb = fedlab.FedServer(suite, lab, 'bidi-pr2', D1, B1).start()
        a, b = wb.login('gil', 'wb'), pr2.login('hal', 'pr')
        messages_in_order(a, b, 20)
        messages_in_order(b, a, 20)
        wait_streams(wb, DPR2, ['in', 'out'])
        wb.stop()
    with_lab(suite, 'bidipr', body)


class BidiPeer(fedlab.ScriptedPeer):
    """DEVIL (and DOTHER) on ADDR as a receiving server that offers XEP-0288 and takes Warbler's
    dialback key unchecked. On its first stream it sends, in the reverse direction, a stanza it may
    send, authenticates DOTHER too with dialback (answering Warbler's verification itself), sends
    from it, then sends a stanza whose from is one of Warbler's own domains. On the next stream it
    waits for a message, then tries DOTHER with a wrong key."""

    def __init__(self, lab, addr, victim):
        self.victim = victim
        self.events, self.received = [], []
        fedlab.ScriptedPeer.__init__(self, lab, 'evilb', DEVIL, addr)

    def on_error(self, n, exc):  # recorded; the test sees the missing events
        self.events.append('error %d: %s' % (n, exc))

    def _record(self, c):
        for el in list(c.queue):
            if local_name(el.tag) == 'message':
                self.received.append(el.get('id'))
                c.queue.remove(el)

    def session(self, sock, n):
        c, _ = self.open_stream(sock)
        self.starttls(c, sock, 'b%d-1' % n, "<bidi xmlns='urn:xmpp:features:bidi'/>")
        self.features(c, 'b%d-2' % n, "<dialback xmlns='urn:xmpp:features:dialback'/>"
                      "<bidi xmlns='urn:xmpp:features:bidi'/>")
        first = c.wait_for(lambda e: local_name(e.tag) in ('bidi', 'result', 'verify'), 10,
                           'bidi')
        if local_name(first.tag) == 'verify':
            self.events.append('verify %s' % first.get('to'))
            c.send("<db:verify from='%s' to='%s' id='%s' type='%s'/>"
                   % (first.get('to'), first.get('from'), first.get('id'),
                      'valid' if first.text == 'other-key' else 'invalid'))
            c.wait_closed(10)
            return
        if local_name(first.tag) == 'bidi':
            self.events.append('bidi')
            first = c.wait_for(lambda e: local_name(e.tag) == 'result', 10, 'db:result')
        c.send("<db:result from='%s' to='%s' type='valid'/>" % (DEVIL, first.get('from')))
        if n == 0:
            c.send("<message from='mal@%s/x' to='%s' id='rev-ok' type='chat'><body>hi</body>"
                   "</message><db:result from='%s' to='%s'>other-key</db:result>"
                   % (DEVIL, self.victim, DOTHER, D1))
            r = c.wait_for(lambda e: local_name(e.tag) == 'result', 10, 'the answer for DOTHER')
            self.events.append('%s %s' % (r.get('to'), r.get('type')))
            c.send("<message from='oz@%s' to='%s' id='rev-other' type='chat'><body>hi</body>"
                   "</message><message from='boss@%s' to='%s' id='rev-spoof' type='chat'>"
                   "<body>pay</body></message>" % (DOTHER, self.victim, D1, self.victim))
            c.expect_stream_error('invalid-from')
            self.events.append('invalid-from')
        else:
            m = c.wait_for(lambda e: local_name(e.tag) == 'message', 10, 'a message')
            self.received.append(m.get('id'))
            c.send("<db:result from='%s' to='%s'>bad-key</db:result>" % (DOTHER, D1))
            r = c.wait_for(lambda e: local_name(e.tag) == 'result', 10, 'the answer for DOTHER')
            self.events.append('%s %s' % (r.get('to'), r.get('type')))
            c.expect_stream_error('not-authorized')
            self.events.append('not-authorized')
        self._record(c)


@test
def s2s_bidi_peer_adds_a_domain_by_dialback_and_a_spoofed_from_gets_invalid_from(suite):
    def body(lab):
        s = fedlab.FedServer(suite, lab, 'bidi-evil', D1, B1,
                             'idle_timeout = 2; routes = ( %s, %s );'
                             % (route(DEVIL, EVIL), route(DOTHER, EVIL))).start()
        victim = s.login('ida')
        peer = BidiPeer(lab, EVIL, victim.jid)
        try:
            victim.send("<message to='mal@%s' id='fwd1' type='chat'><body>1</body></message>"
                        % DEVIL)
            victim.wait_for(is_el('message', id='rev-ok'), 10, 'the reverse stanza it may send')
            victim.wait_for(is_el('message', id='rev-other'), 10,
                            'the stanza of the domain authenticated in reverse')
            check(victim.silent_for(is_el('message', id='rev-spoof'), 1),
                  'the spoofed stanza was delivered')
            deadline = time.monotonic() + 10
            while 'invalid-from' not in peer.events:
                check(time.monotonic() < deadline, 'no invalid-from: %s' % peer.events)
                time.sleep(0.1)
            check(peer.events[:3] == ['bidi', 'verify %s' % DOTHER, '%s valid' % DOTHER],
                  'bidi and the reverse dialback: %s' % peer.events)
            check('fwd1' in peer.received, 'the first message did not arrive: %s' % peer.received)
            check('stanza from %s to %s on a stream that did not authenticate it' % (D1, D1)
                  in s.log(), 'the refusal is not logged')
            # Traffic goes on over a new stream; nothing is bounced.
            victim.send("<message to='mal@%s' id='fwd2' type='chat'><body>2</body></message>"
                        % DEVIL)
            deadline = time.monotonic() + 10
            while 'fwd2' not in peer.received:
                check(time.monotonic() < deadline, 'the next message did not arrive: %s %s'
                      % (peer.received, peer.events))
                time.sleep(0.2)
            check(victim.silent_for(lambda e: e.get('type') == 'error', 0.5),
                  'a message bounced')
            deadline = time.monotonic() + 10
            while 'not-authorized' not in peer.events:
                check(time.monotonic() < deadline, 'wrong key not refused: %s' % peer.events)
                time.sleep(0.1)
            check(peer.events[3:] == ['invalid-from', 'bidi', 'verify %s' % DOTHER,
                                      '%s invalid' % DOTHER, 'not-authorized'],
                  'events %s' % peer.events)
            check(not [e for e in peer.events if e.startswith('error')], 'peer: %s' % peer.events)
        finally:
            peer.close()
        victim.ping(to=D1)
        s.stop()
    with_lab(suite, 'bidievil', body)
