# Integration tests of outbound XEP-0220 piggybacking (server/s2s/wb_s2s_bidi.c): a Warbler serving
# two hosts sends both over one outbound stream (to a second Warbler and to Prosody), and falls
# back to a stream of its own when a scripted peer refuses the second domain. Own 127.0.0.85-89.
import time

import fedlab
from tests_s2s import is_el, messages_in_order, with_lab
from tests_s2s_bidi import s2s_connections, streams
from wbinteg import check, local_name, make_cert, test

S1, S2, EV1, EV2, EV3, PRP = '127.0.0.85', '127.0.0.86', '127.0.0.87', '127.0.0.88', \
    '127.0.0.89', '127.0.0.86'
DA, DB, DC = 'a.pb.test', 'b.pb.test', 'c.pb.test'
DPR = 'ppb.pb.test'


def route(domain, addr):
    return '{ domain = "%s"; host = "%s"; port = 5269; }' % (domain, addr)


class TwoHostServer(fedlab.FedServer):
    """A FedServer serving DA and DB (each with its own self-signed certificate)."""

    def _write_config(self):
        fedlab.FedServer._write_config(self)
        make_cert(self.tls_dir, 'fed2', DB)
        with open(self.conf) as f:
            text = f.read()
        one = 'hosts = ( { domain = "%s"; cert = "tls/fed.crt"; key = "tls/fed.key"; } );' % DA
        check(one in text, 'the FedServer configuration changed')
        two = one.replace(' );', ',\n          { domain = "%s"; cert = "tls/fed2.crt"; '
                                 'key = "tls/fed2.key"; } );' % DB)
        with open(self.conf, 'w') as f:
            f.write(text.replace(one, two))


def wait_until(cond, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, what())
        time.sleep(0.2)


def out_lines(srv, remote):
    """local= of the outbound lines of `warblerctl s2s list` with REMOTE, sorted, with peers."""
    return sorted((l[5], l[6]) for l in streams(srv, remote) if l[1] == 'out')


def interleaved(a, b, c, n=10):
    """a and b (two hosts) send n messages each to c, alternating: each sender's arrive in order."""
    tag = 'il%d' % int(time.monotonic() * 1000)
    for i in range(n):
        for who, s in (('a', a), ('b', b)):
            s.send("<message to='%s' type='chat' id='%s-%s-%d'><body>%d</body></message>"
                   % (c.jid, tag, who, i, i))
    got = {'a': [], 'b': []}
    while len(got['a']) + len(got['b']) < 2 * n:
        el = c.wait_for(lambda e: is_el('message')(e) and (e.get('id') or '').startswith(tag), 20,
                        'interleaved message %d' % (len(got['a']) + len(got['b']) + 1))
        check(el.get('type') != 'error', 'a message bounced')
        who = el.get('id').split('-')[1]
        got[who].append(int(el.get('id').split('-')[2]))
    check(got['a'] == list(range(n)) and got['b'] == list(range(n)),
          'interleaved messages out of order: %s' % got)


@test
def s2s_piggyback_two_local_domains_share_one_outbound_connection(suite):
    def body(lab):
        s1 = TwoHostServer(suite, lab, 'pb-w1', DA, S1, 'bidi = false; routes = ( %s );'
                           % route(DC, S2)).start()
        s2 = fedlab.FedServer(suite, lab, 'pb-w2', DC, S2, 'bidi = false; routes = ( %s, %s );'
                              % (route(DA, S1), route(DB, S1))).start()
        a = s1.login('ann', 'one', domain=DA)
        b = s1.login('bea', 'one', domain=DB)
        c = s2.login('cid', 'two')
        messages_in_order(a, c, 20)       # opens a.pb.test's stream
        messages_in_order(b, c, 20)       # b.pb.test rides on it
        interleaved(a, b, c)
        messages_in_order(c, b, 10)       # the way back is the peer's own stream
        wait_until(lambda: s2s_connections([S2]) == 1,
                   lambda: '%d connections to %s, expected 1' % (s2s_connections([S2]), S2))
        lines = out_lines(s1, DC)
        check(lines == [('local=' + DA, 'peer=' + S2), ('local=' + DB, 'peer=' + S2)],
              'outbound lines: %s' % lines)
        check('outbound %s -> %s authenticated (dialback, piggybacked on the stream of %s'
              % (DB, DC, DA) in s1.log(), 'no piggybacking in the log')
        # Closing the carrier (and the peer's inbound stream; the piggybacked line is no stream of
        # its own): both domains reconnect, still over one connection.
        r = s1.ctl('s2s', 'close', DC)
        check('closed 2' in r.stdout, 'close: %r' % r.stdout)
        wait_until(lambda: s2s_connections([S2]) == 0, lambda: 'the stream did not close')
        messages_in_order(a, c, 5)
        messages_in_order(b, c, 5)
        check(s2s_connections([S2]) == 1, '%d connections after reconnecting'
              % s2s_connections([S2]))
        s1.stop()
        s2.stop()
    with_lab(suite, 'piggy', body)


class RefusingPeer(fedlab.ScriptedPeer):
    """DOMAIN on ADDR: takes the first db:result of each stream unchecked (valid) and answers any
    further one with MODE: 'invalid', 'error' (a dialback error) or 'silent' (no answer). Records
    (connection number, from, id) of each message."""

    def __init__(self, lab, domain, addr, mode):
        self.mode = mode
        self.messages, self.events = [], []
        fedlab.ScriptedPeer.__init__(self, lab, 'refuser-' + mode, domain, addr)

    def on_error(self, n, exc):  # recorded; the test sees the missing messages
        self.events.append('error %d: %s' % (n, exc))

    def _answer(self, c, n, el, first):
        if first or self.mode != 'silent':
            self.events.append('%d result %s %s' % (n, el.get('from'),
                                                    'valid' if first else self.mode))
        if first:
            c.send("<db:result from='%s' to='%s' type='valid'/>" % (self.domain, el.get('from')))
        elif self.mode == 'invalid':
            c.send("<db:result from='%s' to='%s' type='invalid'/>"
                   % (self.domain, el.get('from')))
        elif self.mode == 'error':
            c.send("<db:result from='%s' to='%s' type='error'><error type='cancel'>"
                   "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                   "</db:result>" % (self.domain, el.get('from')))

    def session(self, sock, n):
        c, _ = self.open_stream(sock)
        self.starttls(c, sock, 'r%d-1' % n)
        self.features(c, 'r%d-2' % n,
                      "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>")
        first = True
        while not self.stopping:
            try:
                el = c.wait_for(None, 0.5)
            except Exception as e:
                if c.eof or c.stream_ended:
                    return
                if 'within' not in str(e):
                    raise
                continue
            if local_name(el.tag) == 'result' and el.get('type') is None:
                self._answer(c, n, el, first)
                first = False
            elif local_name(el.tag) == 'message':
                self.messages.append((n, el.get('from').split('/')[0].split('@')[1],
                                      el.get('id')))


@test
def s2s_piggyback_refused_or_unanswered_falls_back_to_an_own_stream(suite):
    def body(lab):
        peers = [('invalid', 'rinv.pb.test', EV1), ('error', 'rerr.pb.test', EV2),
                 ('silent', 'rsil.pb.test', EV3)]
        s1 = TwoHostServer(suite, lab, 'pb-ref', DA, S1, 'bidi = false; bounce_timeout = 3; '
                           'routes = ( %s );' % ', '.join(route(d, ad) for _, d, ad in peers)
                           ).start()
        a = s1.login('ann', 'one', domain=DA)
        b = s1.login('bea', 'one', domain=DB)
        for mode, dom, addr in peers:
            peer = RefusingPeer(lab, dom, addr, mode)
            try:
                a.send("<message to='x@%s' id='%s-a0' type='chat'><body>0</body></message>"
                       % (dom, mode))
                wait_until(lambda: len(peer.messages) == 1,
                           lambda: '%s: the first message did not arrive: %s %s'
                           % (mode, peer.messages, peer.events))
                for i in range(5):
                    b.send("<message to='x@%s' id='%s-b%d' type='chat'><body>%d</body></message>"
                           % (dom, mode, i, i))
                a.send("<message to='x@%s' id='%s-a1' type='chat'><body>1</body></message>"
                       % (dom, mode))
                wait_until(lambda: len(peer.messages) == 7,
                           lambda: '%s: messages %s, events %s' % (mode, peer.messages,
                                                                   peer.events), 15)
                check(b.silent_for(lambda e: e.get('type') == 'error', 0.5),
                      '%s: a message bounced' % mode)
                bs = [m for m in peer.messages if m[1] == DB]
                check([m[2] for m in bs] == ['%s-b%d' % (mode, i) for i in range(5)],
                      '%s: b.pb.test messages lost, doubled or out of order: %s' % (mode, bs))
                check(all(m[0] == 1 for m in bs), '%s: b.pb.test did not use a stream of its own: '
                      '%s' % (mode, peer.messages))
                check([m for m in peer.messages if m[1] == DA] ==
                      [(0, DA, mode + '-a0'), (0, DA, mode + '-a1')],
                      '%s: a.pb.test messages: %s' % (mode, peer.messages))
                want = ['0 result %s valid' % DA, '1 result %s valid' % DB]
                if mode != 'silent':
                    want.insert(1, '0 result %s %s' % (DB, mode))
                check(peer.events == want, '%s: events %s' % (mode, peer.events))
            finally:
                peer.close()
        check('%s refused %s on the stream of %s (invalid)' % (peers[0][1], DB, DA) in s1.log(),
              'the refusal is not logged')
        s1.stop()
    with_lab(suite, 'piggyref', body)


@test
def s2s_piggyback_to_prosody_carries_both_domains(suite):
    def body(lab):
        lab.add_host(DA, S1)
        lab.add_host(DB, S1)
        lab.add_host(DPR, PRP)
        pr = lab.prosody(DPR, PRP).start()
        s1 = TwoHostServer(suite, lab, 'pb-pr', DA, S1, 'bidi = false;').start()
        a = s1.login('ann', 'one', domain=DA)
        b = s1.login('bea', 'one', domain=DB)
        p = pr.login('pat', 'pr')
        messages_in_order(a, p, 20)
        messages_in_order(b, p, 20)
        interleaved(a, b, p)
        lines = out_lines(s1, DPR)
        check(lines == [('local=' + DA, 'peer=' + PRP), ('local=' + DB, 'peer=' + PRP)],
              'outbound lines: %s' % lines)
        check(s2s_connections([PRP]) == 1, '%d connections to Prosody, expected 1'
              % s2s_connections([PRP]))
        s1.stop()
        pr.stop()
    with_lab(suite, 'piggypr', body)
