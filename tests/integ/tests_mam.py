# Integration tests of message archives (XEP-0313) and stanza-ids (XEP-0359): both sides archived,
# every filter, RSM paging both ways, preferences, hints, sealing at rest, real clients.
import os
import re
import subprocess
import time
import uuid

from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, local_name, run, stanza_error, test

NS_MAM = 'urn:xmpp:mam:2'
NS_SID = 'urn:xmpp:sid:0'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_FWD = 'urn:xmpp:forward:0'
NS_DELAY = 'urn:xmpp:delay'
NS_DATA = 'jabber:x:data'
NS_ROSTER = 'jabber:iq:roster'
SLIX_PYTHON = '/usr/bin/python3'


def is_message(el):
    return el.tag == '{%s}message' % NS_CLIENT


def body_of(el):
    b = el.find('{%s}body' % NS_CLIENT)
    return b.text if b is not None else None


def form(fields):
    """An XEP-0004 submit form of the MAM namespace; values may be lists (multi-valued)."""
    out = ["<x xmlns='%s' type='submit'><field var='FORM_TYPE' type='hidden'><value>%s</value>"
           "</field>" % (NS_DATA, NS_MAM)]
    for var, val in fields.items():
        vals = val if isinstance(val, list) else [val]
        out.append("<field var='%s'>%s</field>" % (var, ''.join('<value>%s</value>' % v
                                                                 for v in vals)))
    return ''.join(out) + '</x>'


def rsm(**kw):
    if not kw:
        return ''
    return "<set xmlns='%s'>%s</set>" % (NS_RSM, ''.join(
        '<%s/>' % k if v == '' else '<%s>%s</%s>' % (k, v, k) for k, v in kw.items()))


class Page:
    def __init__(self, iq, items):
        self.iq = iq
        self.items = items  # [(stanza-id, forwarded message, stamp)]
        fin = iq.find('{%s}fin' % NS_MAM)
        self.fin = fin
        self.complete = fin is not None and fin.get('complete') == 'true'
        s = fin.find('{%s}set' % NS_RSM) if fin is not None else None
        get = (lambda n: (s.find('{%s}%s' % (NS_RSM, n)).text
                          if s is not None and s.find('{%s}%s' % (NS_RSM, n)) is not None
                          else None))
        self.first, self.last = get('first'), get('last')
        self.count = int(get('count')) if get('count') is not None else None

    def ids(self):
        return [i for i, _, _ in self.items]

    def bodies(self):
        return [body_of(m) for _, m, _ in self.items]


def query(c, fields=None, timeout=20, **paging):
    """Runs one archive query; returns the Page, or raises Failure with the error condition."""
    qid = uuid.uuid4().hex[:10]
    payload = "<query xmlns='%s' queryid='%s'>%s%s</query>" % (
        NS_MAM, qid, form(fields) if fields is not None else '', rsm(**paging))
    iq = c.iq('set', payload, timeout=timeout)
    items = []
    for el in list(c.queue):
        res = el.find('{%s}result' % NS_MAM) if is_message(el) else None
        if res is None or res.get('queryid') != qid:
            continue
        c.queue.remove(el)
        check(el.get('to') == c.jid, 'result addressed to %s, not %s' % (el.get('to'), c.jid))
        fwd = res.find('{%s}forwarded' % NS_FWD)
        check(fwd is not None, 'result without <forwarded/>')
        delay = fwd.find('{%s}delay' % NS_DELAY)
        msg = fwd.find('{%s}message' % NS_CLIENT)
        check(delay is not None and msg is not None, 'forwarded without delay or message')
        items.append((res.get('id'), msg, delay.get('stamp')))
    return Page(iq, items) if iq.get('type') == 'result' else iq


def query_ok(c, fields=None, **paging):
    p = query(c, fields, **paging)
    check(isinstance(p, Page), 'archive query failed: %s' % (
        stanza_error(p) if not isinstance(p, Page) else ''))
    return p


def query_error(c, fields=None, **paging):
    p = query(c, fields, **paging)
    check(not isinstance(p, Page), 'archive query succeeded, wanted an error')
    return stanza_error(p)


def wait_count(c, want, fields=None, timeout=15):
    """Polls the archive (writes are queued behind delivery) until it holds WANT items."""
    deadline = time.monotonic() + timeout
    while True:
        p = query_ok(c, fields, max='0')
        if p.count == want or time.monotonic() > deadline:
            check(p.count == want, 'archive holds %s items, wanted %d' % (p.count, want))
            return
        time.sleep(0.05)


def chat(to, body, mid, extra=''):
    return "<message to='%s' type='chat' id='%s'><body>%s</body>%s</message>" % (
        to, mid, body, extra)


@test
def mam_archives_both_sides_and_delivers_the_archive_stanza_id(suite):
    srv = suite.server()
    a = srv.login('mam_a1', 'pc')
    b = srv.login('mam_b1', 'phone')
    b.send('<presence/>')
    b.ping()
    a.send(chat(b.jid.split('/')[0], 'first words', 'm1'))
    el = b.wait_for(lambda e: is_message(e) and e.get('id') == 'm1', 10, 'the message')
    sids = el.findall('{%s}stanza-id' % NS_SID)
    check(len(sids) == 1, 'delivered with %d stanza-ids' % len(sids))
    check(sids[0].get('by') == 'mam_b1@localhost', 'stanza-id by=%s' % sids[0].get('by'))
    wait_count(b, 1)
    p = query_ok(b)
    check(p.ids() == [sids[0].get('id')], 'archive id %s != delivered %s' % (
        p.ids(), sids[0].get('id')))
    check(p.bodies() == ['first words'], 'recipient archive holds %s' % p.bodies())
    check(p.items[0][1].get('from', '').startswith('mam_a1@localhost/'), 'archived from wrong')
    check(re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$', p.items[0][2] or ''),
          'bad delay stamp %r' % p.items[0][2])
    check(p.complete and p.count == 1 and p.first == p.last == p.ids()[0], 'fin wrong')
    wait_count(a, 1)
    pa = query_ok(a)
    check(pa.bodies() == ['first words'], 'sender archive holds %s' % pa.bodies())
    check(pa.ids() != p.ids(), 'the two archives share one stanza-id')


@test
def mam_spoofed_stanza_id_is_stripped(suite):
    srv = suite.server()
    a = srv.login('mam_a2', 'pc')
    b = srv.login('mam_b2', 'phone')
    b.send('<presence/>')
    b.ping()
    spoof = ("<stanza-id xmlns='%s' id='fake-1' by='mam_b2@localhost'/>"
             "<stanza-id xmlns='%s' id='fake-2' by='localhost'/>"
             "<stanza-id xmlns='%s' id='theirs' by='room@conference.remote.example'/>"
             % (NS_SID, NS_SID, NS_SID))
    a.send(chat('mam_b2@localhost', 'spoof', 's1', spoof))
    el = b.wait_for(lambda e: is_message(e) and e.get('id') == 's1', 10, 'the message')
    got = [(s.get('id'), s.get('by')) for s in el.findall('{%s}stanza-id' % NS_SID)]
    check(('fake-1', 'mam_b2@localhost') not in got and ('fake-2', 'localhost') not in got,
          'a spoofed stanza-id was delivered: %s' % got)
    check(('theirs', 'room@conference.remote.example') in got, 'a foreign stanza-id was lost')
    ours = [i for i, by in got if by == 'mam_b2@localhost']
    check(len(ours) == 1, 'wanted one stanza-id of ours, got %s' % got)
    check(body_of(el) == 'spoof', 'body changed')
    # Not archivable (no body) but spoofed: still stripped.
    a.send("<message to='mam_b2@localhost' id='s2'>%s</message>" % spoof)
    el = b.wait_for(lambda e: is_message(e) and e.get('id') == 's2', 10, 'the bodiless message')
    got = [s.get('by') for s in el.findall('{%s}stanza-id' % NS_SID)]
    check(got == ['room@conference.remote.example'], 'bodiless message has stanza-ids %s' % got)


@test
def mam_thousand_messages_paged_forward_and_backward(suite):
    srv = suite.server()
    a = srv.login('mam_a3', 'pc')
    srv.login('mam_b3', 'phone')
    n = 1000
    a.send(''.join(chat('mam_b3@localhost', 'n%04d' % i, 'p%d' % i) for i in range(n)))
    wait_count(a, n, timeout=30)
    want = ['n%04d' % i for i in range(n)]
    got, ids, after, pages = [], [], None, 0
    while True:
        p = query_ok(a, {'with': 'mam_b3@localhost'}, max='100', **({'after': after} if after
                                                                    else {}))
        pages += 1
        check(p.count == n, 'count %s, wanted %d' % (p.count, n))
        got += p.bodies()
        ids += p.ids()
        if p.complete:
            break
        check(len(p.items) == 100 and p.last == p.ids()[-1], 'forward page %d wrong' % pages)
        after = p.last
        check(pages < 20, 'forward paging does not end')
    check(got == want, 'forward paging: %d items, first differences %s' % (
        len(got), [(i, g) for i, g in enumerate(got) if i >= len(want) or want[i] != g][:3]))
    check(pages == 10, 'forward paging took %d pages' % pages)
    check(len(set(ids)) == n, 'stanza-ids repeat')
    back, before, pages = [], '', 0
    while True:
        p = query_ok(a, {'with': 'mam_b3@localhost'}, max='100', before=before)
        pages += 1
        back = p.bodies() + back
        if p.complete:
            break
        before = p.first
        check(pages < 20, 'backward paging does not end')
    check(back == want, 'backward paging gave %d items, not the sent ones in order' % len(back))
    p = query_ok(a, {'with': 'mam_b3@localhost'}, max='10', index='990')
    check(p.bodies() == want[990:] and p.complete, 'index paging gave %s' % p.bodies())


@test
def mam_filters_with_start_end_before_after_and_ids(suite):
    srv = suite.server()
    a = srv.login('mam_a4', 'pc')
    for peer, pre in (('mam_b4', 'b'), ('mam_c4', 'c'), ('mam_b4', 'b2'), ('mam_c4', 'c2')):
        srv.user(peer)
        a.send(chat('%s@localhost' % peer, pre, pre))
        wait_count(a, {'b': 1, 'c': 2, 'b2': 3, 'c2': 4}[pre])
        time.sleep(0.02)
    allp = query_ok(a)
    check(allp.bodies() == ['b', 'c', 'b2', 'c2'], 'archive holds %s' % allp.bodies())
    ids = allp.ids()
    stamps = [s for _, _, s in allp.items]
    check(query_ok(a, {'with': 'mam_b4@localhost'}).bodies() == ['b', 'b2'], 'with failed')
    check(query_ok(a, {'with': 'mam_c4@localhost/res'}).bodies() == ['c', 'c2'],
          'with a full JID failed')
    check(query_ok(a, {'start': stamps[1]}).bodies() == ['c', 'b2', 'c2'], 'start failed')
    check(query_ok(a, {'end': stamps[2]}).bodies() == ['b', 'c', 'b2'], 'end failed')
    check(query_ok(a, {'start': stamps[1], 'end': stamps[2]}).bodies() == ['c', 'b2'],
          'start and end failed')
    check(query_ok(a, {'start': '2000-01-01T00:00:00+02:00', 'end': '2001-01-01T00:00:00Z'})
          .bodies() == [], 'a past period is not empty')
    check(query_ok(a, {'after-id': ids[0]}).bodies() == ['c', 'b2', 'c2'], 'after-id failed')
    check(query_ok(a, {'before-id': ids[3]}).bodies() == ['b', 'c', 'b2'], 'before-id failed')
    check(query_ok(a, {'after-id': ids[0], 'before-id': ids[3]}).bodies() == ['c', 'b2'],
          'after-id with before-id failed')
    check(query_ok(a, {'ids': [ids[3], ids[1]]}).bodies() == ['c', 'c2'], 'ids failed')
    p = query_ok(a, {'with': 'mam_c4@localhost'}, max='1')
    check(p.bodies() == ['c'] and not p.complete and p.count == 2, 'max 1 page wrong')
    p = query_ok(a, {'with': 'mam_c4@localhost'}, max='1', after=p.last)
    check(p.bodies() == ['c2'] and p.complete, 'second page wrong: %s' % p.bodies())


@test
def mam_refuses_unknown_ids_bad_forms_and_other_archives(suite):
    srv = suite.server()
    a = srv.login('mam_a5', 'pc')
    b, _ = srv.user('mam_b5')
    unknown = str(uuid.uuid4())
    for kw, fields in (({'after': unknown}, None), ({'before': unknown}, None),
                       ({}, {'after-id': unknown}), ({}, {'before-id': 'not-an-id'})):
        cond = query_error(a, fields, **kw)
        check(cond == 'item-not-found', 'unknown id %s %s answered %s' % (kw, fields, cond))
    for fields in ({'start': 'yesterday'}, {'with': 'a@b@c'}, {'colour': 'blue'},
                   {'end': '2020-13-01T00:00:00Z'}):
        cond = query_error(a, fields)
        check(cond == 'bad-request', 'form %s answered %s' % (fields, cond))
    cond = query_error(a, None, max='lots')
    check(cond == 'bad-request', 'RSM max=lots answered %s' % cond)
    el = a.iq('set', "<query xmlns='%s'/>" % NS_MAM, to=b)
    check(el.get('type') == 'error' and stanza_error(el) == 'forbidden',
          "another account's archive: %s" % stanza_error(el))
    el = a.iq('get', "<query xmlns='%s'/>" % NS_MAM)
    vars_ = [f.get('var') for f in el.iter('{%s}field' % NS_DATA)]
    check(el.get('type') == 'result' and {'with', 'start', 'end', 'ids'} <= set(vars_),
          'form fields: %s' % vars_)


def prefs_set(c, default, always=(), never=()):
    body = "<prefs xmlns='%s' default='%s'><always>%s</always><never>%s</never></prefs>" % (
        NS_MAM, default, ''.join('<jid>%s</jid>' % j for j in always),
        ''.join('<jid>%s</jid>' % j for j in never))
    el = c.iq('set', body)
    check(el.get('type') == 'result', 'prefs set failed: %s' % stanza_error(el))
    return el


def prefs_get(c):
    el = c.iq('get', "<prefs xmlns='%s'/>" % NS_MAM)
    check(el.get('type') == 'result', 'prefs get failed: %s' % stanza_error(el))
    p = el.find('{%s}prefs' % NS_MAM)
    lists = {}
    for n in ('always', 'never'):
        el = p.find('{%s}%s' % (NS_MAM, n))
        lists[n] = [j.text for j in el.findall('{%s}jid' % NS_MAM)] if el is not None else []
    return p.get('default'), lists['always'], lists['never']


@test
def mam_preferences_never_always_and_roster(suite):
    srv = suite.server()
    a = srv.login('mam_a6', 'pc')
    for u in ('mam_b6', 'mam_c6', 'mam_d6'):
        srv.user(u)
    check(prefs_get(a) == ('always', [], []), 'default prefs: %s' % (prefs_get(a),))
    prefs_set(a, 'never', always=['mam_c6@localhost/x'], never=['mam_d6@localhost'])
    check(prefs_get(a) == ('never', ['mam_c6@localhost'], ['mam_d6@localhost']),
          'stored prefs: %s' % (prefs_get(a),))
    a.send(chat('mam_b6@localhost', 'to b', 'n1') + chat('mam_c6@localhost', 'to c', 'n2'))
    wait_count(a, 1)
    a.ping()
    time.sleep(0.3)
    check(query_ok(a).bodies() == ['to c'], 'never/always gave %s' % query_ok(a).bodies())
    prefs_set(a, 'always', never=['mam_d6@localhost'])
    a.send(chat('mam_d6@localhost', 'to d', 'n3') + chat('mam_b6@localhost', 'to b2', 'n4'))
    wait_count(a, 2)
    time.sleep(0.3)
    check(query_ok(a).bodies() == ['to c', 'to b2'], 'always/never gave %s' % query_ok(a).bodies())
    prefs_set(a, 'roster')
    el = a.iq('set', "<query xmlns='%s'><item jid='mam_b6@localhost'/></query>" % NS_ROSTER)
    check(el.get('type') == 'result', 'roster set failed')
    a.send(chat('mam_c6@localhost', 'to c2', 'n5') + chat('mam_b6@localhost', 'to b3', 'n6'))
    wait_count(a, 3)
    time.sleep(0.3)
    check(query_ok(a).bodies() == ['to c', 'to b2', 'to b3'], 'roster gave %s' % (
        query_ok(a).bodies()))
    el = a.iq('set', "<prefs xmlns='%s' default='sometimes'/>" % NS_MAM)
    check(stanza_error(el) == 'bad-request', 'bad default answered %s' % stanza_error(el))


@test
def mam_hints_and_message_types_decide_what_is_archived(suite):
    srv = suite.server()
    a = srv.login('mam_a7', 'pc')
    srv.login('mam_b7', 'phone')
    to = 'mam_b7@localhost'
    hint = "<%s xmlns='urn:xmpp:hints'/>"
    a.send(chat(to, 'secret', 'h1', hint % 'no-store') +
           chat(to, 'secret2', 'h2', hint % 'no-permanent-store') +
           "<message to='%s' type='chat' id='h3'><active xmlns="
           "'http://jabber.org/protocol/chatstates'/></message>" % to +
           "<message to='%s' type='chat' id='h4'><active xmlns="
           "'http://jabber.org/protocol/chatstates'/>%s</message>" % (to, hint % 'store') +
           "<message to='%s' type='headline' id='h5'><body>news</body></message>" % to +
           "<message to='%s' id='h6'><body>normal</body></message>" % to +
           "<message to='%s' type='chat' id='h7'><encrypted xmlns='urn:xmpp:omemo:2'>"
           "<payload>AAAA</payload></encrypted></message>" % to)
    wait_count(a, 3)
    time.sleep(0.3)
    ids = [m.get('id') for _, m, _ in query_ok(a).items]
    check(ids == ['h4', 'h6', 'h7'], 'archived %s, wanted h4 h6 h7' % ids)


@test
def mam_is_advertised_on_the_account(suite):
    srv = suite.server()
    a = srv.login('mam_a8', 'pc')
    el = a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to='mam_a8@localhost')
    feats = {f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)}
    check({NS_MAM, NS_MAM + '#extended'} <= feats, 'account features: %s' % sorted(feats))
    el = a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to='localhost')
    feats = {f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)}
    check(NS_SID in feats, 'server features lack %s' % NS_SID)


@test
def mam_database_dump_does_not_contain_message_content(suite):
    srv = suite.server()
    a = srv.login('mam_a9', 'pc')
    srv.login('mam_b9', 'phone')
    marker = 'WBMARKER%s' % uuid.uuid4().hex
    a.send(chat('mam_b9@localhost', marker, 'd1'))
    wait_count(a, 1)
    b = srv.login('mam_b9', 'tablet')
    wait_count(b, 1)
    check(marker in query_ok(b).bodies()[0], 'the marker is not in the archive')
    r = run(['pg_dump', '-h', srv.suite.pg.host, '-U', 'postgres', srv.db], timeout=60)
    check(r.returncode == 0, 'pg_dump failed: %s' % r.stderr.strip()[:200])
    check('archive' in r.stdout and len(r.stdout) > 1000, 'pg_dump output looks empty')
    check(marker not in r.stdout, 'the database holds the message content in clear')


SLIX_SCRIPT = r'''
import asyncio, json, ssl, sys
from slixmpp import ClientXMPP
jid, pw, port, peer = sys.argv[1:5]
c = ClientXMPP(jid, pw, sasl_mech='SCRAM-SHA-256')
c.ssl_context.check_hostname = False
c.ssl_context.verify_mode = ssl.CERT_NONE
for p in ('xep_0030', 'xep_0059', 'xep_0297', 'xep_0313'):
    c.register_plugin(p)
mechs = c['feature_mechanisms']
default_credentials = mechs.sasl_callback
def credentials(required, optional):
    # tls-unique is undefined in TLS 1.3: claim no channel binding (see slix_im.py).
    creds = default_credentials(required, optional)
    if 'channel_binding' in creds:
        creds['channel_binding'] = None
    return creds
mechs.sasl_callback = credentials
ready = asyncio.get_event_loop().create_future()
c.add_event_handler('session_start', lambda _e: ready.done() or ready.set_result(True))
out = {}
async def main():
    c.connect(address=('127.0.0.1', int(port)), force_starttls=True)
    await asyncio.wait_for(ready, 20)
    bodies = []
    async for rsm in c['xep_0313'].retrieve(with_jid=peer, iterator=True, rsm={'max': 7}):
        for msg in rsm['mam']['results']:
            bodies.append(msg['mam_result']['forwarded']['stanza']['body'])
    out['bodies'] = bodies
    c.disconnect()
asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), 40))
print(json.dumps(out))
'''


@test
def mam_slixmpp_and_libstrophe_retrieve_the_history(suite):
    import json
    srv = suite.server()
    a = srv.login('mam_a10', 'pc')
    b, bpw = srv.user('mam_b10')
    sent = ['real %d' % i for i in range(20)]
    a.send(''.join(chat(b, s, 'r%d' % i) for i, s in enumerate(sent)))
    wait_count(a, 20)
    time.sleep(0.3)
    r = run([SLIX_PYTHON, '-c', SLIX_SCRIPT, b, bpw, str(srv.starttls_port), 'mam_a10@localhost'],
            timeout=60)
    check(r.returncode == 0, 'slixmpp: exit %d: %s' % (r.returncode, r.stderr.strip()[-300:]))
    got = json.loads(r.stdout.strip().splitlines()[-1])['bodies']
    check(got == sent, 'slixmpp retrieved %s' % got[:5])
    r = run([suite.tool('strophe_client'), 'mam', '127.0.0.1', str(srv.direct_port), b, bpw,
             'direct', 'mam_a10@localhost'], timeout=60)
    check(r.returncode == 0, 'strophe_client mam: exit %d: %s' % (
        r.returncode, (r.stderr or r.stdout).strip()[-300:]))
    lines = [ln[len('mam '):] for ln in r.stdout.splitlines() if ln.startswith('mam ')]
    check(lines == sent, 'libstrophe retrieved %s' % lines[:5])


@test
def mam_many_messages_are_archived_in_batches_and_all_query_back(suite):
    # 200 messages sent at once: their archive writes are coalesced into multi-row INSERTs (the
    # server logs each one that wrote more than one row), and every one is archived on both
    # sides, each with its own stanza-id, and reads back in order.
    srv = suite.private_server('mam-batch').start()
    a = srv.login('mb_a', 'pc')
    b = srv.login('mb_b', 'phone')
    b.send('<presence/>')
    b.ping()
    a.send(''.join(chat('mb_b@localhost', 'batch %d' % i, 'b%d' % i) for i in range(200)))
    sids = []
    for i in range(200):
        el = b.wait_for(is_message, 10, 'message %d' % i)
        check(el.get('id') == 'b%d' % i, 'message %d has id %s' % (i, el.get('id')))
        sids.append(el.find('{%s}stanza-id' % NS_SID).get('id'))
    check(len(set(sids)) == 200, 'stanza-ids are not distinct')
    deadline = time.monotonic() + 15
    while True:
        pa, pb = query_ok(a), query_ok(b)
        if (pa.count, pb.count) == (200, 200) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check((pa.count, pb.count) == (200, 200), 'archived %s and %s of 200'
          % (pa.count, pb.count))
    want = ['batch %d' % i for i in range(200)]
    check(pa.bodies() == want, 'the sender archive does not read back in order')
    check(pb.bodies() == want, 'the recipient archive does not read back in order')
    check(pb.ids() == sids, 'the recipient archive ids are not the delivered stanza-ids')
    sizes = [int(n) for n in re.findall(r'archive: (\d+) messages written in one statement',
                                        srv.log())]
    check(sizes and max(sizes) > 1, 'no archive write took more than one message')
    check(max(sizes) <= 128, 'a batch of %d rows (more than the bound)' % max(sizes))
