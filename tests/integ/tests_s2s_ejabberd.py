# Integration tests of federation between Warbler and a private ejabberd 23.01: dialback with
# self-signed certificates, then SASL EXTERNAL with a test CA (one ejabberd per mode); and a
# Warbler peer killed while stanzas wait in the outbound queue (each bounced or delivered once).
import os
import signal
import time
import uuid

import fedlab
from tests_s2s import bounce_of, error_condition, federate, is_el, two_warblers, with_lab
from wbinteg import Failure, check, test

WB, EJ = '127.0.0.4', '127.0.0.3'


def ejabberd_lab(suite, lab, name, external):
    """Warbler wb1.fed.test first, then ejabberd: no cross-domain traffic before both are up (an
    early failure would put wb1 in ejabberd's s2s failure cache for minutes)."""
    lab.add_host('wb1.fed.test', WB)
    lab.add_host('ej.fed.test', EJ)
    ca = fedlab.TestCA(os.path.join(lab.dir, 'ca'))
    extra, cert = '', None
    if external:
        extra = 'dialback = false; ca_file = "%s";' % ca.crt
        cert = ca.leaf('wb1', 'wb1.fed.test', rsa=True)
    wb = fedlab.FedServer(suite, lab, name, 'wb1.fed.test', WB, extra, cert=cert).start()
    ej = lab.ejabberd('ej.fed.test', EJ, ca, external=external).start()
    return wb, ej


@test
def s2s_warbler_and_ejabberd_federate_over_dialback(suite):
    def body(lab):
        wb, ej = ejabberd_lab(suite, lab, 'ej-db', external=False)
        a = wb.login('alice', 'wb')
        b = ej.login('bob', 'ej')
        federate(a, 'alice@wb1.fed.test', b, 'bob@ej.fed.test')
        cond, _ = bounce_of(a, 'nobody@ej.fed.test', 10)
        check(cond == ['service-unavailable'], 'ejabberd answer for a missing user: %s' % cond)
        log = wb.log()
        check('inbound ej.fed.test -> wb1.fed.test authenticated (dialback' in log,
              'ejabberd did not authenticate with dialback')
        check('outbound wb1.fed.test -> ej.fed.test authenticated (dialback' in log,
              'warbler did not authenticate with dialback')
        elog = ej.log_text()
        check('Accepted inbound s2s dialback authentication wb1.fed.test -> ej.fed.test' in elog,
              'ejabberd log shows no inbound dialback')
        check('Accepted outbound s2s dialback authentication ej.fed.test -> wb1.fed.test' in elog,
              'ejabberd log shows no outbound dialback')
        wb.stop()
    with_lab(suite, 'ejdb', body)


@test
def s2s_warbler_and_ejabberd_authenticate_with_sasl_external(suite):
    def body(lab):
        wb, ej = ejabberd_lab(suite, lab, 'ej-ext', external=True)
        a = wb.login('carol', 'wb')
        b = ej.login('dave', 'ej')
        federate(a, 'carol@wb1.fed.test', b, 'dave@ej.fed.test')
        log = wb.log()
        check('inbound ej.fed.test -> wb1.fed.test authenticated (EXTERNAL' in log,
              'ejabberd did not authenticate with EXTERNAL')
        check('outbound wb1.fed.test -> ej.fed.test authenticated (EXTERNAL' in log,
              'warbler did not authenticate with EXTERNAL')
        check('authenticated (dialback' not in log, 'dialback used in external mode')
        elog = ej.log_text()
        check('Accepted inbound s2s EXTERNAL authentication wb1.fed.test -> ej.fed.test' in elog,
              'ejabberd log shows no inbound EXTERNAL')
        check('Accepted outbound s2s EXTERNAL authentication ej.fed.test -> wb1.fed.test' in elog,
              'ejabberd log shows no outbound EXTERNAL')
        wb.stop()
    with_lab(suite, 'ejext', body)


def collect(c, tag, into, seconds):
    """Moves the messages with ids starting with TAG that arrive on C within SECONDS into INTO
    (a list of (id, type, conditions))."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            el = c.wait_for(lambda e: is_el('message')(e) and (e.get('id') or '').startswith(tag),
                            left, 'a queued message')
        except Failure:
            return
        into.append((el.get('id'), el.get('type'), error_condition(el)))


@test
def s2s_peer_killed_with_stanzas_queued_bounces_or_delivers_each_once(suite):
    def body(lab):
        s1, s2 = two_warblers(suite, lab)
        a = s1.login('erin', 'one')
        b = s2.login('fred', 'two')
        a.send("<message to='%s' type='chat' id='warm'><body>up</body></message>" % b.jid)
        b.wait_for(is_el('message', id='warm'), 10, 'the first message over s2s')
        r = s1.ctl('s2s', 'close', 'wb2.fed.test')
        check(r.returncode == 0, 'close: %r' % r.stderr)
        deadline = time.monotonic() + 5
        while s1.ctl('s2s', 'list').stdout.strip():
            check(time.monotonic() < deadline, 'streams still listed after close')
            time.sleep(0.1)
        b.close()
        # wb2 frozen: its kernel accepts the TCP connection, nobody answers the stream header, so
        # wb1 keeps the messages in the domain's outbound queue; then wb2 dies with them queued.
        os.kill(s2.proc.pid, signal.SIGSTOP)
        tag, n = 'q-' + uuid.uuid4().hex[:6], 20
        a.send(''.join("<message to='fred@wb2.fed.test' type='chat' id='%s-%d'><body>queued %d"
                       "</body></message>" % (tag, i, i) for i in range(n)))
        time.sleep(1)
        early = []
        collect(a, tag, early, 0.1)
        check(not early, 'stanzas bounced while the peer was only slow: %r' % early[:3])
        s2.kill()
        bounced = []
        collect(a, tag, bounced, 3)
        s2.start()
        b = s2.login('fred', 'again')
        b.send('<presence/>')
        delivered = []
        deadline = time.monotonic() + 40
        while len(bounced) + len(delivered) < n and time.monotonic() < deadline:
            collect(b, tag, delivered, 0.5)
            collect(a, tag, bounced, 0.5)
        collect(b, tag, delivered, 0.5)
        collect(a, tag, bounced, 0.3)
        for mid, typ, cond in bounced:
            check(typ == 'error' and cond in (['remote-server-not-found'],
                                              ['remote-server-timeout']),
                  'queued message %s came back as %s %s' % (mid, typ, cond))
        ids = [m[0] for m in bounced] + [m[0] for m in delivered]
        check(len(ids) == len(set(ids)), 'a queued message came twice (or bounced and delivered):'
              ' %r' % sorted(i for i in ids if ids.count(i) > 1)[:5])
        lost = set('%s-%d' % (tag, i) for i in range(n)) - set(ids)
        check(not lost, '%d queued messages neither bounced nor delivered: %r'
              % (len(lost), sorted(lost)[:5]))
        got = [m[0] for m in delivered]
        check(got == sorted(got, key=lambda i: int(i.rsplit('-', 1)[1])),
              'delivered out of order: %r' % got)
        a.send("<message to='%s' type='chat' id='after'><body>back</body></message>" % b.jid)
        b.wait_for(is_el('message', id='after'), 15, 'a message after the restart')
        s1.stop()
        s2.stop()
    with_lab(suite, 'qkill', body)
