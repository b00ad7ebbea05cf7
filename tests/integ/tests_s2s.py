# Integration tests of federation (server/s2s/): Warbler <-> Prosody and Warbler <-> Warbler over
# dialback, and the negative cases: spoofed from, bad dialback key, unresolvable and unreachable
# domains, policy refusals, malformed XML. Each test sets up its own lab (fedlab.py) and undoes it.
import os
import socket
import time
import uuid

import fedlab
from wbinteg import (NS_CLIENT, NS_DISCO_INFO, NS_STREAM, Failure, check, local_name, stanza_error,
                     test, tls_context)

NS_ROSTER = 'jabber:iq:roster'
NS_DB = 'jabber:server:dialback'
WB1, WB2, PR = '127.0.0.4', '127.0.0.5', '127.0.0.2'


def with_lab(suite, name, fn, srv=()):
    lab = fedlab.FedLab(suite, name)
    try:
        lab.start_dns(srv)
        return fn(lab)
    finally:
        lab.close()


def is_el(name, **attrs):
    def pred(el):
        return local_name(el.tag) == name and all(el.get(k.rstrip('_')) == v
                                                  for k, v in attrs.items())
    return pred


def from_bare(bare):
    return lambda el: (el.get('from') or '').split('/')[0] == bare


def error_condition(el):
    err = el.find('{%s}error' % NS_CLIENT)
    return [local_name(c.tag) for c in err if local_name(c.tag) != 'text'] if err is not None else []


def roster_item(c, jid):
    el = c.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
    check(el.get('type') == 'result', 'roster get failed: %s' % stanza_error(el))
    for item in el.iter('{%s}item' % NS_ROSTER):
        if item.get('jid') == jid:
            return item
    return None


def subscribe_both_ways(a, a_bare, b, b_bare):
    for c in (a, b):
        c.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
        c.send('<presence/>')
    a.send("<presence to='%s' type='subscribe'/>" % b_bare)
    b.wait_for(lambda e: is_el('presence', type='subscribe')(e) and from_bare(a_bare)(e), 20,
               'subscription request from %s' % a_bare)
    b.send("<presence to='%s' type='subscribed'/>" % a_bare)
    b.send("<presence to='%s' type='subscribe'/>" % a_bare)
    a.wait_for(lambda e: is_el('presence', type='subscribe')(e) and from_bare(b_bare)(e), 20,
               'subscription request from %s' % b_bare)
    a.send("<presence to='%s' type='subscribed'/>" % b_bare)
    deadline = time.monotonic() + 20
    while True:
        ia, ib = roster_item(a, b_bare), roster_item(b, a_bare)
        sa = ia.get('subscription') if ia is not None else None
        sb = ib.get('subscription') if ib is not None else None
        if sa == 'both' and sb == 'both':
            return
        check(time.monotonic() < deadline, 'subscriptions not both after 20 s: %s has %s, %s has %s'
              % (a_bare, sa, b_bare, sb))
        time.sleep(0.3)


def presence_seen(a, b, a_bare):
    status = 'st-' + uuid.uuid4().hex[:8]
    a.send('<presence><status>%s</status></presence>' % status)

    def pred(el):
        st = el.find('{%s}status' % NS_CLIENT)
        return is_el('presence')(el) and from_bare(a_bare)(el) and st is not None and \
            st.text == status
    b.wait_for(pred, 20, 'presence of %s with status %s' % (a_bare, status))


def messages_in_order(a, b, n=100):
    tag = uuid.uuid4().hex[:6]
    a.send(''.join("<message to='%s' type='chat' id='%s-%d'><body>msg %d</body></message>"
                   % (b.jid, tag, i, i) for i in range(n)))
    got = []
    while len(got) < n:
        el = b.wait_for(lambda e: is_el('message')(e) and (e.get('id') or '').startswith(tag),
                        30, 'message %d of %d' % (len(got) + 1, n))
        check(el.get('type') != 'error', 'message bounced: %s' % error_condition(el))
        got.append(el.get('id'))
    check(got == ['%s-%d' % (tag, i) for i in range(n)], 'messages lost or out of order')
    check(b.silent_for(lambda e: is_el('message')(e) and (e.get('id') or '').startswith(tag), 0.3),
          'a message arrived twice')


def server_answers(c, domain):
    c.ping(to=domain, timeout=20)
    el = c.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=domain, timeout=20)
    check(el.get('type') == 'result', 'disco#info of %s: %s' % (domain, stanza_error(el)))
    check(el.find('{%s}query/{%s}identity' % (NS_DISCO_INFO, NS_DISCO_INFO)) is not None,
          'disco#info of %s has no identity' % domain)


def bounce_of(c, to, timeout, kind='message'):
    mid = 'b-' + uuid.uuid4().hex[:8]
    started = time.monotonic()
    if kind == 'message':
        c.send("<message to='%s' type='chat' id='%s'><body>x</body></message>" % (to, mid))
    else:
        c.send("<iq to='%s' type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % (to, mid))
    el = c.wait_for(is_el(kind, id=mid), timeout, 'bounce of the stanza to %s' % to)
    check(el.get('type') == 'error', 'stanza to %s answered with %s' % (to, el.get('type')))
    return error_condition(el), time.monotonic() - started


def federate(a, a_bare, b, b_bare):
    subscribe_both_ways(a, a_bare, b, b_bare)
    presence_seen(a, b, a_bare)
    presence_seen(b, a, b_bare)
    messages_in_order(a, b)
    messages_in_order(b, a)
    server_answers(a, b_bare.split('@')[1])
    server_answers(b, a_bare.split('@')[1])


@test
def s2s_warbler_and_prosody_federate_over_dialback(suite):
    def body(lab):
        lab.add_host('wb1.fed.test', WB1)
        lab.add_host('pr.fed.test', PR)
        pr = lab.prosody('pr.fed.test', PR).start()
        wb = fedlab.FedServer(suite, lab, 'fed-pr', 'wb1.fed.test', WB1)
        wb.start()
        a = wb.login('alice', 'wb')
        b = pr.login('bob', 'pr')
        federate(a, 'alice@wb1.fed.test', b, 'bob@pr.fed.test')
        cond, took = bounce_of(a, 'x@nowhere.invalid', 10)
        check(cond == ['remote-server-not-found'], 'bounce condition %s' % cond)
        log = pr.log_text()
        check('belongs to them' in log or 'verified dialback' in log.lower() or
              'is now authenticated' in log, 'prosody log shows no dialback')
        wb.stop()
    with_lab(suite, 'prosody', body)


def ctl_list_and_close(s1, a, b):
    """warblerctl s2s list shows both streams with wb2; close ends them; traffic reconnects."""
    r = s1.ctl('s2s', 'list')
    check(r.returncode == 0, 'warblerctl s2s list: %s' % (r.stderr or r.stdout).strip()[:200])
    lines = [l.split() for l in r.stdout.splitlines()]
    dirs = sorted(l[1] for l in lines if l and l[0] == 'wb2.fed.test')
    check(dirs == ['in', 'out'], 'streams listed: %r' % r.stdout)
    for l in lines:
        check(l[2] == 'dialback' and l[3].startswith('TLSv1.'), 'listed as %r' % ' '.join(l))
        check(any(f.startswith('out=') and int(f[4:]) > 0 for f in l) or l[1] == 'in',
              'no stanzas counted: %r' % ' '.join(l))
    r = s1.ctl('s2s', 'close', 'wb2.fed.test')
    check(r.returncode == 0 and 'closed 2' in r.stdout, 'close: %r %r' % (r.stdout, r.stderr))
    deadline = time.monotonic() + 5
    while s1.ctl('s2s', 'list').stdout.strip():
        check(time.monotonic() < deadline, 'streams still listed after close')
        time.sleep(0.2)
    a.send("<message to='%s' type='chat' id='after-close'><body>again</body></message>" % b.jid)
    b.wait_for(is_el('message', id='after-close'), 10, 'a message after the close')
    r = s1.ctl('s2s', 'list', 'extra')
    check(r.returncode == 2, 'a bad s2s command exits %d' % r.returncode)


def two_warblers(suite, lab, extra1='', extra2=''):
    r1 = 'routes = ( { domain = "wb2.fed.test"; host = "%s"; port = 5269; } );' % WB2
    r2 = 'routes = ( { domain = "wb1.fed.test"; host = "%s"; port = 5269; } );' % WB1
    s1 = fedlab.FedServer(suite, lab, 'fed-w1', 'wb1.fed.test', WB1, r1 + extra1).start()
    s2 = fedlab.FedServer(suite, lab, 'fed-w2', 'wb2.fed.test', WB2, r2 + extra2).start()
    return s1, s2


@test
def s2s_two_warblers_federate_over_static_routes(suite):
    def body(lab):
        s1, s2 = two_warblers(suite, lab, ' bidi = false;')  # one stream each way
        a = s1.login('carol', 'one')
        b = s2.login('dave', 'two')
        federate(a, 'carol@wb1.fed.test', b, 'dave@wb2.fed.test')
        # The peer's server answers for an account that does not exist.
        cond, _ = bounce_of(a, 'nobody@wb2.fed.test', 10)
        check(cond in (['service-unavailable'], ['item-not-found']), 'no-user answer %s' % cond)
        check('authenticated (dialback' in s1.log() and 'authenticated (dialback' in s2.log(),
              'no dialback authentication logged')
        ctl_list_and_close(s1, a, b)
        # The peer dies: stanzas bounce at once; once it is back, traffic flows again.
        s2.kill()
        # (A stanza written in the instant the peer dies is lost: no XEP-0198 on s2s yet.)
        deadline = time.monotonic() + 5
        while s1.ctl('s2s', 'list').stdout.strip():
            check(time.monotonic() < deadline, 'streams with the dead peer still listed')
            time.sleep(0.1)
        cond, took = bounce_of(a, 'dave@wb2.fed.test', 10)
        check(cond == ['remote-server-not-found'] and took < 5,
              'peer down: %s after %.1f s' % (cond, took))
        s2.start()
        b = s2.login('dave', 'again')
        a.send("<message to='%s' type='chat' id='after-restart'><body>back</body></message>"
               % b.jid)
        b.wait_for(is_el('message', id='after-restart'), 10, 'a message after the restart')
        s1.stop()
        s2.stop()
    with_lab(suite, 'w2w', body)


@test
def s2s_unresolvable_and_unreachable_domains_bounce_in_time(suite):
    def body(lab):
        # 127.0.0.9:5269 refuses; 127.0.0.10 accepts and never answers.
        hole = socket.socket()
        hole.bind(('127.0.0.10', 5269))
        hole.listen(4)
        try:
            extra = ('bounce_timeout = 2; max_connections_per_minute = 3; routes = ( '
                     '{ domain = "closed.fed.test"; host = "127.0.0.9"; }, '
                     '{ domain = "hole.fed.test"; host = "127.0.0.10"; } );')
            s = fedlab.FedServer(suite, lab, 'fed-bounce', 'wb1.fed.test', WB1, extra).start()
            a = s.login('erin')
            cond, took = bounce_of(a, 'x@nowhere.invalid', 10)
            check(cond == ['remote-server-not-found'] and took < 5,
                  'unresolvable: %s after %.1f s' % (cond, took))
            cond, took = bounce_of(a, 'x@closed.fed.test', 10, kind='iq')
            check(cond == ['remote-server-not-found'] and took < 5,
                  'refused: %s after %.1f s' % (cond, took))
            cond, took = bounce_of(a, 'x@hole.fed.test', 10)
            check(cond == ['remote-server-timeout'] and 1.5 < took < 6,
                  'silent peer: %s after %.1f s' % (cond, took))
            a.send("<presence to='x@closed.fed.test' type='subscribe'/>")
            check(a.silent_for(is_el('presence', type='error'), 1.5), 'presence was bounced')
            # Connection limit per remote address: 3 a minute (the start-up probe was one).
            opening = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                       "xmlns:stream='%s' to='wb1.fed.test' version='1.0'>" % NS_STREAM)
            seen = []
            for _ in range(4):
                c = fedlab.Conn(WB1, 5269, 'wb1.fed.test')
                c.send(opening)
                el = c.wait_for(None, 10, 'features or a stream error')
                seen.append(local_name(el.tag) if local_name(el.tag) == 'features' else
                            [local_name(x.tag) for x in el][0])
                c.close()
            check(seen[0] == 'features' and seen[-1] == 'policy-violation' and
                  seen.count('features') <= 2, 'connections answered %s' % seen)
            check('too many connections from that address' in s.log(), 'refusal not logged')
            a.ping(to='wb1.fed.test')
            s.stop()
        finally:
            hole.close()
    with_lab(suite, 'bounce', body)


# --- a scripted remote server for the negative cases -------------------------------------------

class FakePeer(fedlab.ScriptedPeer):
    """evil.fed.test on ADDR: answers Warbler's dialback verify with VERDICT, and opens an inbound
    stream to Warbler that authenticates with dialback."""

    def __init__(self, suite, lab, addr, verdict):
        self.verdict, self.verifies = verdict, []
        fedlab.ScriptedPeer.__init__(self, lab, 'evil', 'evil.fed.test', addr)

    def on_error(self, n, exc):  # recorded; the test sees no valid answer
        self.verifies.append('error: %s' % exc)

    def session(self, sock, n):
        c, _ = self.open_stream(sock)
        self.starttls(c, sock, 'v1')
        self.features(c, 'v2', "<dialback xmlns='urn:xmpp:features:dialback'/>")
        v = c.wait_for(lambda e: local_name(e.tag) == 'verify', 10, 'db:verify')
        self.verifies.append(v.text)
        c.send("<db:verify from='evil.fed.test' to='%s' id='%s' type='%s'/>"
               % (v.get('from'), v.get('id'), self.verdict))
        c.wait_closed(5)

    def connect(self, addr, domain):
        return dialback_stream(addr, domain)


def dialback_stream(addr, domain):
    """An inbound stream from evil.fed.test to Warbler at ADDR for DOMAIN: STARTTLS, db:result."""
    sock = socket.create_connection((addr, 5269), timeout=10)
    c = fedlab.Conn.__new__(fedlab.Conn)
    c._init_from(sock, domain)
    opening = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
               "xmlns:db='%s' from='evil.fed.test' to='%s' version='1.0'>"
               % (NS_STREAM, NS_DB, domain))
    c.send(opening)
    c.wait_for(lambda e: local_name(e.tag) == 'features', 10, 'features')
    c.starttls()
    c.send(opening)
    c.wait_header()
    c.wait_for(lambda e: local_name(e.tag) == 'features', 10, 'features after TLS')
    c.send("<db:result from='evil.fed.test' to='%s'>%s</db:result>" % (domain, 'k' * 64))
    return c


@test
def s2s_spoofed_from_gets_invalid_from_and_bad_key_not_authorized(suite):
    def body(lab):
        extra = ('max_stanzas_per_second = 1; '
                 'routes = ( { domain = "evil.fed.test"; host = "127.0.0.6"; } );')
        s = fedlab.FedServer(suite, lab, 'fed-evil', 'wb1.fed.test', WB1, extra).start()
        victim = s.login('frank')
        peer = FakePeer(suite, lab, '127.0.0.6', 'valid')
        try:
            c = peer.connect(WB1, 'wb1.fed.test')
            r = c.wait_for(lambda e: local_name(e.tag) == 'result', 10, 'db:result answer')
            check(r.get('type') == 'valid', 'dialback answered %s' % r.get('type'))
            check(peer.verifies == ['k' * 64], 'verify carried %s' % peer.verifies)
            c.send("<message from='mallory@evil.fed.test' to='%s' id='ok1'><body>hi</body>"
                   "</message>" % victim.jid)
            victim.wait_for(is_el('message', id='ok1'), 10, 'the authenticated message')
            # 1 stanza per second over 10 s windows: the 11th and 12th are refused.
            c.send(''.join("<message from='mallory@evil.fed.test' to='%s' id='ok%d'><body>x"
                           "</body></message>" % (victim.jid, i) for i in range(2, 13)))
            for i in range(2, 11):
                victim.wait_for(is_el('message', id='ok%d' % i), 10, 'message ok%d' % i)
            check(victim.silent_for(lambda e: e.get('id') in ('ok11', 'ok12'), 0.5),
                  'messages over the rate were delivered')
            c.send("<message from='boss@wb1.fed.test' to='%s' id='spoof'><body>pay</body>"
                   "</message>" % victim.jid)
            c.expect_stream_error('invalid-from')
            check(victim.silent_for(is_el('message', id='spoof'), 0.5), 'spoofed message delivered')
            peer.verdict = 'invalid'
            c = peer.connect(WB1, 'wb1.fed.test')
            r = c.wait_for(lambda e: local_name(e.tag) == 'result', 10, 'db:result answer')
            check(r.get('type') == 'invalid', 'bad key answered %s' % r.get('type'))
            c.expect_stream_error('not-authorized')
        finally:
            peer.close()
        victim.ping(to='wb1.fed.test')
        s.stop()
    with_lab(suite, 'evil', body)


@test
def s2s_policy_refusals_and_malformed_xml_get_stream_errors(suite):
    def body(lab):
        extra = 'deny = [ "bad.fed.test" ]; require_valid_cert_for = [ "evil.fed.test" ];'
        s = fedlab.FedServer(suite, lab, 'fed-policy', 'wb1.fed.test', WB1, extra,
                             direct=True).start()
        # Direct TLS (XEP-0368) listener: no STARTTLS offered, dialback is.
        sock = tls_context(alpn=False).wrap_socket(socket.create_connection((WB1, 5270), timeout=10),
                                                   server_hostname='wb1.fed.test')
        c = fedlab.Conn.__new__(fedlab.Conn)
        c._init_from(sock, 'wb1.fed.test')
        c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
               "from='some.fed.test' to='wb1.fed.test' version='1.0'>" % NS_STREAM)
        f = c.wait_for(lambda e: local_name(e.tag) == 'features', 10, 'direct TLS features')
        names = [local_name(x.tag) for x in f]
        check('starttls' not in names and 'dialback' in names, 'direct TLS features: %s' % names)
        c.close()
        a = s.login('gina')
        cond, _ = bounce_of(a, 'x@bad.fed.test', 5)
        check(cond == ['remote-server-not-found'], 'denied domain: %s' % cond)
        c = fedlab.Conn(WB1, 5269, 'wb1.fed.test')
        c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
               "from='bad.fed.test' to='wb1.fed.test' version='1.0'>" % NS_STREAM)
        c.expect_stream_error('policy-violation')
        check('refused inbound stream from bad.fed.test' in s.log(), 'refusal not logged')
        c = fedlab.Conn(WB1, 5269, 'wb1.fed.test')
        c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
               "to='wb1.fed.test' version='1.0'><a><b></a>" % NS_STREAM)
        c.expect_stream_error('not-well-formed')
        c = fedlab.Conn(WB1, 5269, 'wb1.fed.test')
        c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
               "to='other.fed.test' version='1.0'>" % NS_STREAM)
        c.expect_stream_error('host-unknown')
        c = fedlab.Conn(WB1, 5269, 'wb1.fed.test')
        c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
               "to='wb1.fed.test' version='1.0'><message from='x@y.test' to='gina@wb1.fed.test'/>"
               % NS_STREAM)
        c.expect_stream_error('invalid-from')
        c = dialback_stream(WB1, 'wb1.fed.test')
        c.expect_stream_error('not-authorized')
        check('refused dialback from evil.fed.test' in s.log(), 'dialback refusal not logged')
        a.ping(to='wb1.fed.test')
        s.stop()
    with_lab(suite, 'policy', body)


@test
def s2s_two_warblers_authenticate_with_sasl_external_only(suite):
    def body(lab):
        ca = fedlab.TestCA(os.path.join(lab.dir, 'ca'))
        extra = ' dialback = false; ca_file = "%s";' % ca.crt
        r1 = 'routes = ( { domain = "wb2.fed.test"; host = "%s"; } );' % WB2
        r2 = 'routes = ( { domain = "wb1.fed.test"; host = "%s"; }, ' \
             '{ domain = "wb3.fed.test"; host = "127.0.0.7"; } );' % WB1
        s1 = fedlab.FedServer(suite, lab, 'ext-w1', 'wb1.fed.test', WB1, r1 + extra,
                              cert=ca.leaf('wb1', 'wb1.fed.test')).start()
        s2 = fedlab.FedServer(suite, lab, 'ext-w2', 'wb2.fed.test', WB2, r2 + extra,
                              cert=ca.leaf('wb2', 'wb2.fed.test')).start()
        # wb3 presents a CA-signed certificate for another domain: nothing may authenticate it.
        s3 = fedlab.FedServer(suite, lab, 'ext-w3', 'wb3.fed.test', '127.0.0.7',
                              'routes = ( { domain = "wb2.fed.test"; host = "%s"; } );' % WB2
                              + extra, cert=ca.leaf('wb3', 'other.fed.test')).start()
        a = s1.login('hank', 'one')
        b = s2.login('iris', 'two')
        federate(a, 'hank@wb1.fed.test', b, 'iris@wb2.fed.test')
        for s in (s1, s2):
            check('authenticated (EXTERNAL' in s.log(), '%s logged no EXTERNAL' % s.name)
            check('authenticated (dialback' not in s.log(), '%s used dialback' % s.name)
        c = s3.login('jack')
        cond, _ = bounce_of(c, 'iris@wb2.fed.test', 10)
        check(cond == ['remote-server-not-found'], 'wrong-name certificate: %s' % cond)
        cond, _ = bounce_of(b, 'jack@wb3.fed.test', 10)
        check(cond == ['remote-server-not-found'], 'to the wrong-name server: %s' % cond)
        check('EXTERNAL from 127.0.0.1 refused' in s2.log() or 'no EXTERNAL for wb3' in s2.log(),
              'the refusal of wb3 is not logged')
        for s in (s1, s2, s3):
            s.stop()
    with_lab(suite, 'ext', body)


@test
def s2s_warbler_and_prosody_authenticate_with_sasl_external(suite):
    def body(lab):
        lab.add_host('wb1.fed.test', WB1)
        lab.add_host('pr.fed.test', PR)
        ca = fedlab.TestCA(os.path.join(lab.dir, 'ca'))
        pr = lab.prosody('pr.fed.test', PR, ca=ca).start()
        wb = fedlab.FedServer(suite, lab, 'ext-pr', 'wb1.fed.test', WB1,
                              'dialback = false; ca_file = "%s";' % ca.crt,
                              cert=ca.leaf('wb1', 'wb1.fed.test')).start()
        a = wb.login('kate', 'wb')
        b = pr.login('liam', 'pr')
        federate(a, 'kate@wb1.fed.test', b, 'liam@pr.fed.test')
        log = wb.log()
        check('inbound pr.fed.test -> wb1.fed.test authenticated (EXTERNAL' in log,
              'prosody did not authenticate with EXTERNAL')
        check('outbound wb1.fed.test -> pr.fed.test authenticated (EXTERNAL' in log,
              'warbler did not authenticate with EXTERNAL')
        wb.stop()
    with_lab(suite, 'extpr', body)


@test
def s2s_outbound_stream_follows_srv_records_with_direct_tls_first(suite):
    def body(lab):
        # wb2.fedlab.example has no address: only its SRV record leads to 127.0.0.5. (libunbound
        # answers .test names itself, from the hosts file only: the SRV domain is not one.)
        lab.add_host('xmpp-two.fed.test', WB2)
        s1 = fedlab.FedServer(suite, lab, 'srv-w1', 'wb1.fed.test', WB1).start()
        s2 = fedlab.FedServer(suite, lab, 'srv-w2', 'wb2.fedlab.example', WB2,
                              'routes = ( { domain = "wb1.fed.test"; host = "%s"; } );' % WB1,
                              direct=True).start()
        a = s1.login('mona')
        b = s2.login('ned')
        a.send("<message to='%s' type='chat' id='srv1'><body>via SRV</body></message>" % b.jid)
        el = b.wait_for(is_el('message', id='srv1'), 10, 'the message routed by SRV')
        check(el.get('from') == a.jid, 'from is %s' % el.get('from'))
        log = s1.log()
        check('DNS SRV xmpps of wb2.fedlab.example: ok, rcode 0, data' in log, 'SRV not used')
        check('port 5270 for wb2.fedlab.example (direct TLS)' in log, 'direct TLS not used')
        cond, _ = bounce_of(a, 'x@nosrv.fedlab.example', 10)
        check(cond == ['remote-server-not-found'], 'no SRV and no address: %s' % cond)
        s1.stop()
        s2.stop()
    with_lab(suite, 'srv', body,
             srv=['_xmpps-server._tcp.wb2.fedlab.example=5270:xmpp-two.fed.test',
                  '_xmpp-server._tcp.wb2.fedlab.example=5269:xmpp-two.fed.test'])
