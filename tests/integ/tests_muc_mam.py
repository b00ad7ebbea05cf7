# Integration tests of MUC part 2: the room archive (XEP-0313 on the room JID) with paging both
# ways, author retraction (XEP-0424) and moderation (XEP-0425) as tombstones, room expiry of
# archived messages, restart and sealing at rest, and room administration (warblerctl, admin API).
import os
import time

from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, run, stanza_error, test
from tests_muc import codes, configure, create, err_of, is_msg, join_ok, rj

NS_MAM = 'urn:xmpp:mam:2'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_FWD = 'urn:xmpp:forward:0'
NS_DATA = 'jabber:x:data'
NS_RETRACT = 'urn:xmpp:message-retract:1'
NS_MODERATE = 'urn:xmpp:message-moderate:1'
NS_SID = 'urn:xmpp:sid:0'
UNIT_MS = 40  # one "second" of retention lasts 40 ms in the expiry server


def mam_server(suite, name, extra='', muc=''):
    srv = suite.private_server(name)
    with open(srv.conf, 'a') as f:
        f.write('muc = { rate_messages = 100000; rate_window = 1; history_max = 50; %s };\n%s'
                % (muc, extra))
    return srv.start()


class Page:
    def __init__(self, items, fin):
        self.items = items  # [(stanza-id, inner <message/>)]
        self.fin = fin
        s = fin.find('{%s}set' % NS_RSM)
        self.first = s.findtext('{%s}first' % NS_RSM) if s is not None else None
        self.last = s.findtext('{%s}last' % NS_RSM) if s is not None else None
        cnt = s.findtext('{%s}count' % NS_RSM) if s is not None else None
        self.count = int(cnt) if cnt is not None else None
        self.complete = fin.get('complete') == 'true'

    def bodies(self):
        return [m.findtext('{%s}body' % NS_CLIENT) for _, m in self.items]


def mam_query(c, room, fields=None, timeout=20, **rsm):
    """Queries the room's archive; returns a Page, or the error iq."""
    qid = 'q%s' % c.next_id()
    iid = 'i' + qid
    form = ''
    if fields:
        form = "<x xmlns='%s' type='submit'><field var='FORM_TYPE' type='hidden'><value>%s" \
               "</value></field>" % (NS_DATA, NS_MAM)
        for k, v in fields.items():
            vals = v if isinstance(v, list) else [v]
            form += "<field var='%s'>%s</field>" % (k, ''.join('<value>%s</value>' % x
                                                                 for x in vals))
        form += '</x>'
    s = ''.join('<%s>%s</%s>' % (k, v, k) if v is not None else '<%s/>' % k
                for k, v in rsm.items())
    s = "<set xmlns='%s'>%s</set>" % (NS_RSM, s) if rsm else ''
    c.send("<iq type='set' id='%s' to='%s'><query xmlns='%s' queryid='%s'>%s%s</query></iq>"
           % (iid, rj(room), NS_MAM, qid, form, s))
    items = []

    def mine(el):
        if el.tag == '{%s}iq' % NS_CLIENT and el.get('id') == iid:
            return True
        r = el.find('{%s}result' % NS_MAM)
        return r is not None and r.get('queryid') == qid

    while True:
        el = c.wait_for(mine, timeout, 'archive results of %s' % room)
        if el.tag == '{%s}iq' % NS_CLIENT:
            if el.get('type') != 'result':
                return el
            return Page(items, el.find('{%s}fin' % NS_MAM))
        r = el.find('{%s}result' % NS_MAM)
        check(el.get('from') == rj(room), 'result from %s' % el.get('from'))
        m = r.find('{%s}forwarded/{%s}message' % (NS_FWD, NS_CLIENT))
        check(m is not None, 'result without a forwarded message')
        items.append((r.get('id'), m))


def page_ok(c, room, fields=None, **rsm):
    p = mam_query(c, room, fields, **rsm)
    check(isinstance(p, Page), 'room archive query failed: %s' % (
        stanza_error(p) if not isinstance(p, Page) else ''))
    return p


def wait_count(c, room, want, fields=None, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        p = page_ok(c, room, fields, max='0')
        if p.count == want or time.monotonic() > deadline:
            check(p.count == want, 'room archive holds %s items, wanted %s' % (p.count, want))
            return p
        time.sleep(0.05)


def say(c, room, body, mid):
    c.send("<message to='%s' type='groupchat' id='%s'><body>%s</body></message>"
           % (rj(room), mid, body))


def said(c, room, nick, body):
    """Waits for the room's echo; returns its stanza-id."""
    m = c.wait_for(is_msg(rj(room, nick), body), 10, 'echo of %s' % body)
    sid = m.find('{%s}stanza-id' % NS_SID)
    check(sid is not None, 'no stanza-id')
    return sid.get('id')


def persistent(c, room, nick, **fields):
    el = create(c, room, nick, persistentroom='1', **fields)
    return el


@test
def muc_mam_pages_through_1000_messages_both_ways(suite):
    srv = mam_server(suite, 'mucmam-page')
    a, b = srv.login('mmp_a'), srv.login('mmp_b')
    persistent(a, 'big', 'alice')
    info = a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, rj('big'))
    feats = [f.get('var') for f in info.iter('{%s}feature' % NS_DISCO_INFO)]
    check(NS_MAM in feats and NS_MODERATE in feats, 'room features lack mam/moderate: %s' % feats)
    el = join_ok(b, 'big', 'bob')
    check(170 in codes(el), 'no status 170 (archived room) on join: %s' % codes(el))
    n = 1000
    a.send(''.join("<message to='%s' type='groupchat' id='p%d'><body>m%04d</body></message>"
                   % (rj('big'), i, i) for i in range(n)))
    a.wait_for(is_msg(rj('big', 'alice'), 'm%04d' % (n - 1)), 30, 'the last echo')
    wait_count(a, 'big', n)
    seen, after = [], None
    while True:
        p = page_ok(a, 'big', max='100', after=after) if after else page_ok(a, 'big', max='100')
        check(p.count == n, 'count %s' % p.count)
        seen += p.bodies()
        if p.complete:
            break
        check(len(p.items) == 100, 'forward page of %d' % len(p.items))
        after = p.last
    check(seen == ['m%04d' % i for i in range(n)], 'forward paging: %d items, order %s...'
          % (len(seen), seen[:3]))
    back, before = [], ''
    while True:
        p = page_ok(b, 'big', max='100', before=before or None)
        back = p.bodies() + back
        if p.complete:
            break
        before = p.first
    check(back == seen, 'backward paging: %d items' % len(back))
    # filters: with (nick), ids, after-id/before-id, start; unknown marks
    sids = [i for i, _ in page_ok(a, 'big', max='5').items]
    p = page_ok(a, 'big', {'with': rj('big', 'alice')}, max='0')
    check(p.count == n, 'with=room/alice count %s' % p.count)
    p = page_ok(a, 'big', {'with': rj('big', 'bob')}, max='0')
    check(p.count == 0, 'with=room/bob count %s' % p.count)
    p = page_ok(a, 'big', {'ids': [sids[1], sids[3]]})
    check(p.bodies() == ['m0001', 'm0003'], 'ids filter: %s' % p.bodies())
    p = page_ok(a, 'big', {'after-id': sids[0], 'before-id': sids[4]})
    check(p.bodies() == ['m0001', 'm0002', 'm0003'], 'after-id/before-id: %s' % p.bodies())
    p = page_ok(a, 'big', {'start': '2999-01-01T00:00:00Z'})
    check(p.count == 0 and p.complete, 'start in the future: %s' % p.count)
    el = mam_query(a, 'big', after='00000000-0000-4000-8000-000000000000')
    check(err_of(el) == 'item-not-found', 'unknown RSM mark: %s' % err_of(el))
    el = mam_query(b, 'big', {'with': 'mmp_a@localhost'})
    check(err_of(el) == 'forbidden', 'real-JID filter in a semi-anonymous room: %s' % err_of(el))


@test
def muc_mam_members_only_archive_is_for_members(suite):
    srv = suite.server()
    a, b, c = srv.login('mmo_a'), srv.login('mmo_b'), srv.login('mmo_c')
    persistent(a, 'closed', 'alice', membersonly='1', whois='anyone')
    el = a.iq('set', "<query xmlns='http://jabber.org/protocol/muc#admin'><item "
              "jid='mmo_b@localhost' affiliation='member'/></query>", rj('closed'))
    check(el.get('type') == 'result', 'add member: %s' % err_of(el))
    say(a, 'closed', 'secret words', 'c1')
    said(a, 'closed', 'alice', 'secret words')
    p = wait_count(b, 'closed', 1)
    p = page_ok(b, 'closed', {'with': 'mmo_a@localhost'})
    check(p.bodies() == ['secret words'], 'member reads by real JID (non-anonymous): %s'
          % p.bodies())
    el = mam_query(c, 'closed')
    check(err_of(el) == 'forbidden', 'a non-member reads a members-only archive: %s' % err_of(el))
    create(a, 'fleeting', 'alice')  # temporary: no archive
    el = mam_query(a, 'fleeting')
    check(err_of(el) == 'service-unavailable', 'archive of a temporary room: %s' % err_of(el))
    persistent(a, 'unlogged', 'alice', enablearchiving='0')
    join_ok(b, 'unlogged', 'bob')
    say(a, 'unlogged', 'not kept', 'u1')
    said(a, 'unlogged', 'alice', 'not kept')
    a.ping()
    p = page_ok(a, 'unlogged')
    check(p.count == 0, 'a room with archiving off archived %s' % p.count)
    configure(a, 'unlogged', enablearchiving='1')
    el = b.wait_for(lambda e: e.get('from') == rj('unlogged') and 170 in codes(e), 10,
                    'status 170 when archiving begins')


def retract(c, room, sid, mid):
    c.send("<message to='%s' type='groupchat' id='%s'><retract xmlns='%s' id='%s'/>"
           "<fallback xmlns='urn:xmpp:fallback:0' for='%s'/><body>retracted</body></message>"
           % (rj(room), mid, NS_RETRACT, sid, NS_RETRACT))


def moderate(c, room, sid, reason='spam'):
    return c.iq('set', "<moderate xmlns='%s' id='%s'><retract xmlns='%s'/><reason>%s</reason>"
                "</moderate>" % (NS_MODERATE, sid, NS_RETRACT, reason), rj(room))


def tombstone(p, sid):
    for i, m in p.items:
        if i == sid:
            return m
    check(False, 'message %s gone from the archive' % sid)


@test
def muc_mam_author_and_moderator_retraction_leave_tombstones(suite):
    srv = suite.server()
    a, b, c = srv.login('mmr_a'), srv.login('mmr_b'), srv.login('mmr_c')
    persistent(a, 'retr', 'alice')
    join_ok(b, 'retr', 'bob')
    join_ok(c, 'retr', 'carol')
    say(b, 'retr', 'oops typo', 'r1')
    s1 = said(b, 'retr', 'bob', 'oops typo')
    say(c, 'retr', 'rude words', 'r2')
    s2 = said(c, 'retr', 'carol', 'rude words')
    say(b, 'retr', 'kept words', 'r3')
    s3 = said(b, 'retr', 'bob', 'kept words')
    wait_count(a, 'retr', 3)
    # someone else's message: refused
    retract(c, 'retr', s1, 'x1')
    el = c.wait_for(lambda e: e.get('id') == 'x1' and e.get('type') == 'error', 10, 'refusal')
    check(stanza_error(el) in ('forbidden', 'item-not-found'), 'retracting another\'s message: %s'
          % stanza_error(el))
    # the author: broadcast and tombstone
    retract(b, 'retr', s1, 'x2')
    for cl in (a, c):
        m = cl.wait_for(lambda e: e.find('{%s}retract' % NS_RETRACT) is not None, 10,
                        'the retraction')
        check(m.find('{%s}retract' % NS_RETRACT).get('id') == s1, 'retraction of another id')
    # a participant may not moderate; a moderator may
    el = moderate(c, 'retr', s3)
    check(err_of(el) == 'forbidden', 'participant moderates: %s' % err_of(el))
    el = moderate(a, 'retr', s2, 'rude')
    check(el.get('type') == 'result', 'moderation: %s' % err_of(el))
    for cl in (b, c):
        m = cl.wait_for(lambda e: e.get('from') == rj('retr') and
                        e.find('{%s}retract' % NS_RETRACT) is not None, 10, 'moderation notice')
        r = m.find('{%s}retract' % NS_RETRACT)
        mod = r.find('{%s}moderated' % NS_MODERATE)
        check(r.get('id') == s2 and mod is not None and mod.get('by') == rj('retr', 'alice'),
              'moderation notice: %s' % r.attrib)
        check(r.findtext('{%s}reason' % NS_RETRACT) == 'rude', 'no reason')
    el = moderate(a, 'retr', '00000000-0000-4000-8000-000000000000')
    check(err_of(el) == 'item-not-found', 'moderating an unknown message: %s' % err_of(el))
    p = page_ok(a, 'retr')
    check(p.count == 3, 'archive count after retractions %s' % p.count)
    t1, t2, t3 = tombstone(p, s1), tombstone(p, s2), tombstone(p, s3)
    check(t1.findtext('{%s}body' % NS_CLIENT) is None and
          t1.find('{%s}retracted' % NS_RETRACT) is not None, 'author retraction: no tombstone')
    r2 = t2.find('{%s}retracted' % NS_RETRACT)
    check(t2.findtext('{%s}body' % NS_CLIENT) is None and r2 is not None and
          r2.find('{%s}moderated' % NS_MODERATE) is not None, 'moderation: no tombstone')
    check(t3.findtext('{%s}body' % NS_CLIENT) == 'kept words', 'an unrelated message changed')
    # history on join no longer shows them
    d = srv.login('mmr_d')
    join_ok(d, 'retr', 'dave')
    m = d.wait_for(is_msg(rj('retr', 'bob'), 'kept words'), 10, 'history')
    check(d.silent_for(is_msg(body='oops typo'), 0.3) and d.silent_for(is_msg(body='rude words'),
                                                                          0.1),
          'a retracted message came as history')


@test
def muc_mam_room_expiry_erases_archived_messages(suite):
    srv = mam_server(suite, 'mucmam-expiry',
                     'retention = { default = 0; sweep_interval = 1; batch = 2; unit_ms = %d; };\n'
                     % UNIT_MS)
    a = srv.login('mme_a')
    persistent(a, 'ephemeral', 'alice')
    frm = a.iq('get', "<query xmlns='http://jabber.org/protocol/muc#owner'/>", rj('ephemeral'))
    vars_ = [f.get('var') for f in frm.iter('{%s}field' % NS_DATA)]
    check('warbler#roomconfig_expiry' in vars_, 'config form lacks the expiry field: %s' % vars_)
    el = a.iq('set', "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='%s' "
              "type='submit'><field var='warbler#roomconfig_expiry'><value>-5</value></field>"
              "</x></query>" % NS_DATA, rj('ephemeral'))
    check(err_of(el) == 'not-acceptable', 'negative expiry: %s' % err_of(el))
    el = a.iq('set', "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='%s' "
              "type='submit'><field var='warbler#roomconfig_expiry'><value>25</value></field>"
              "</x></query>" % NS_DATA, rj('ephemeral'))  # 25 x 40 ms = 1 s
    check(el.get('type') == 'result', 'expiry setting: %s' % err_of(el))
    for i in range(5):
        say(a, 'ephemeral', 'vanishing %d' % i, 'e%d' % i)
    said(a, 'ephemeral', 'alice', 'vanishing 4')
    wait_count(a, 'ephemeral', 5, timeout=1)
    persistent(a, 'lasting', 'alice')
    say(a, 'lasting', 'stays', 'l1')
    said(a, 'lasting', 'alice', 'stays')
    wait_count(a, 'ephemeral', 0, timeout=8)
    deadline = time.monotonic() + 8
    while True:  # the sweeper erases them (every second, 2 rows per statement)
        r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', srv.db, '-XtAc',
                 'SELECT count(*) FROM muc_archive'])
        if r.stdout.strip() == '1' or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(r.stdout.strip() == '1', 'rows left in muc_archive: %s' % r.stdout.strip())
    check('expired room messages' in srv.log(), 'no sweeper line for rooms in the log')
    p = page_ok(a, 'lasting')
    check(p.bodies() == ['stays'], 'a room without expiry lost messages: %s' % p.bodies())
    b = srv.login('mme_b')
    join_ok(b, 'ephemeral', 'bob')
    check(b.silent_for(is_msg(body='vanishing 4'), 0.3), 'an expired message came as history')
    join_ok(b, 'lasting', 'bob')
    b.wait_for(is_msg(body='stays'), 5, 'history of the room without expiry')


def dump(srv):
    r = run(['runuser', '-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_dump', '-h',
             srv.suite.pg.host, '-U', 'postgres', srv.db], timeout=60)
    check(r.returncode == 0, 'pg_dump failed: %s' % r.stderr[-200:])
    check('muc_archive' in r.stdout, 'pg_dump has no muc_archive table')
    return r.stdout


@test
def muc_mam_restart_loses_no_archived_message_and_nothing_is_in_clear(suite):
    srv = mam_server(suite, 'mucmam-restart')
    a, b = srv.login('mmx_a'), srv.login('mmx_b')
    marker = 'Okapi%dMarimba' % os.getpid()
    persistent(a, 'durable', 'alice')
    join_ok(b, 'durable', 'bob')
    for i in range(30):
        say(a if i % 2 == 0 else b, 'durable', '%s %d' % (marker, i), 'd%d' % i)
    said(b, 'durable', 'bob', '%s 29' % marker)
    wait_count(a, 'durable', 30)
    text = dump(srv)
    check(marker not in text, 'a room message is in clear in pg_dump')
    check('alice' not in text.split('COPY public.muc_archive')[1].split('\\.')[0],
          'a nickname is in clear in muc_archive')
    a.close()
    b.close()
    srv.stop()
    srv.start()
    c = srv.login('mmx_c')
    p = page_ok(c, 'durable')
    check(sorted(p.bodies()) == sorted('%s %d' % (marker, i) for i in range(30)),
          'archive after restart: %d items' % len(p.items))
    join_ok(c, 'durable', 'carol', history="<history maxstanzas='3'/>")
    for body in p.bodies()[-3:]:  # the newest three, in the room's order
        g = c.wait_for(is_msg(type_='groupchat', body=body), 10, 'history after restart')
        check(g.find('{urn:xmpp:delay}delay') is not None, 'history without delay')
    check(c.silent_for(is_msg(body=p.bodies()[-4]), 0.2), 'more history than asked for')
    s0 = p.items[0][0]
    el = moderate(c, 'durable', s0)
    check(err_of(el) == 'forbidden', 'a participant moderates after restart: %s' % err_of(el))


def sql(srv, query):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-XtAc', query])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip()[:200])
    return r.stdout.strip()


def wait_audit(srv, where, timeout=10):
    deadline = time.monotonic() + timeout
    while int(sql(srv, 'SELECT count(*) FROM audit_log WHERE %s' % where)) == 0:
        check(time.monotonic() < deadline, 'no audit record WHERE %s' % where)
        time.sleep(0.05)


def destroyed(c, room, nick, timeout=6):
    el = c.wait_for(lambda e: e.tag == '{%s}presence' % NS_CLIENT and
                    e.get('from') == rj(room, nick) and e.get('type') == 'unavailable', timeout,
                    'destroy notice of %s' % room)
    d = el.find('{http://jabber.org/protocol/muc#user}x/{http://jabber.org/protocol/muc#user}'
                'destroy')
    check(d is not None, 'unavailable presence without <destroy/>')
    return d


@test
def muc_warblerctl_room_list_info_destroy_and_creator_deletion(suite):
    srv = mam_server(suite, 'mucmam-ctl', muc='check_interval = 1;')
    a, b = srv.login('mmc_a'), srv.login('mmc_b')
    persistent(a, 'ctlroom', 'alice')
    join_ok(b, 'ctlroom', 'bob')
    say(a, 'ctlroom', 'counted', 'k1')
    said(a, 'ctlroom', 'alice', 'counted')
    wait_count(a, 'ctlroom', 1)
    persistent(a, 'orphan', 'alice')
    join_ok(b, 'orphan', 'bob')
    persistent(b, 'survivor', 'bob')
    r = srv.ctl('room', 'list')
    check(r.returncode == 0, 'room list: %s' % r.stderr)
    lines = r.stdout.splitlines()
    check(any(l.startswith(rj('ctlroom') + ' owner=mmc_a@localhost') and 'archived=1' in l
              for l in lines), 'room list: %s' % r.stdout)
    check(len([l for l in lines if 'conference.localhost' in l]) == 3, 'room list: %s' % r.stdout)
    r = srv.ctl('room', 'info', rj('ctlroom'))
    check(r.returncode == 0 and 'archived messages: 1' in r.stdout and 'counted' not in r.stdout,
          'room info: %s %s' % (r.stdout, r.stderr))
    r = srv.ctl('room', 'info', rj('nosuchroom'))
    check(r.returncode != 0 and 'no such stored room' in r.stderr, 'info of no room: %s'
          % r.stderr)
    r = srv.ctl('room', 'destroy', 'not a jid@@')
    check(r.returncode != 0, 'destroy of a malformed JID succeeded')
    r = srv.ctl('room', 'destroy', rj('ctlroom'))
    check(r.returncode == 0, 'room destroy: %s' % r.stderr)
    destroyed(b, 'ctlroom', 'bob')  # the running server drops it at its next check
    el = b.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, rj('ctlroom'))
    check(err_of(el) == 'item-not-found', 'destroyed room still answers: %s' % el.get('type'))
    check(sql(srv, "SELECT count(*) FROM muc_archive") == '0', 'archive left after destroy')
    wait_audit(srv, "action = 'room.destroy' AND actor = 'ctl' AND target = '%s'" % rj('ctlroom'))
    wait_audit(srv, "action = 'room.create' AND actor = 'user:mmc_a@localhost'")
    # the creator's account goes: its rooms go (rows and memory); others' rooms stay
    r = srv.ctl('user', 'delete', 'mmc_a@localhost')
    check(r.returncode == 0, 'user delete: %s' % r.stderr)
    destroyed(b, 'orphan', 'bob')
    r = srv.ctl('room', 'list')
    check(rj('orphan') not in r.stdout and rj('survivor') in r.stdout, 'room list after the '
          'creator went: %s' % r.stdout)
    say(b, 'survivor', 'still here', 's1')
    said(b, 'survivor', 'bob', 'still here')


@test
def muc_admin_api_rooms_with_roles_and_audit(suite):
    from tests_admin import Api, role_token, root_token
    srv = suite.private_server('mucmam-api')
    srv.admin_port = free_port()
    with open(srv.conf, 'a') as f:
        f.write('admin = { enabled = true; listen = "127.0.0.1"; port = %d; threads = 2; '
                'login_failures = 1000; };\nmuc = { check_interval = 30; };\n' % srv.admin_port)
    srv.start()
    api = Api(srv.admin_port)
    a, b = srv.login('mma_a'), srv.login('mma_b')
    marker = 'Quokka%dLantern' % os.getpid()
    persistent(a, 'apiroom', 'alice', roomname=marker)
    join_ok(b, 'apiroom', 'bob')
    say(a, 'apiroom', marker, 'q1')
    said(a, 'apiroom', 'alice', marker)
    wait_count(a, 'apiroom', 1)
    root = root_token(srv, api)
    op = role_token(api, root, 'operator')
    aud = role_token(api, root, 'auditor')
    for tok in (root, op):
        st, doc = api.call('GET', '/api/v1/rooms', token=tok)
        check(st == 200 and doc.get('count') == 1, 'GET /rooms: %d %s' % (st, doc))
        room = doc['rooms'][0]
        check(room.get('jid') == rj('apiroom') and room.get('owner') == 'mma_a@localhost' and
              room.get('archived') == 1, 'room entry %s' % room)
        check(marker not in str(doc), 'room content in the listing')
    st, doc = api.call('GET', '/api/v1/rooms', token=aud)
    check(st == 403, 'auditor lists rooms: %d' % st)
    st, doc = api.call('GET', '/api/v1/rooms/' + rj('apiroom'), token=op)
    check(st == 200 and doc.get('jid') == rj('apiroom') and marker not in str(doc),
          'GET /rooms/jid: %d %s' % (st, doc))
    st, doc = api.call('GET', '/api/v1/rooms/' + rj('nothere'), token=op)
    check(st == 404, 'GET of no room: %d' % st)
    st, doc = api.call('GET', '/api/v1/rooms/not@a@jid', token=op)
    check(st == 400, 'GET of a malformed JID: %d' % st)
    st, doc = api.call('DELETE', '/api/v1/rooms/' + rj('apiroom'), token=aud)
    check(st == 403, 'auditor destroys a room: %d' % st)
    st, doc = api.call('DELETE', '/api/v1/rooms/' + rj('apiroom'), token=op)
    check(st == 200 and doc.get('destroyed') is True, 'DELETE /rooms/jid: %d %s' % (st, doc))
    d = destroyed(b, 'apiroom', 'bob', timeout=5)  # at once, not at the next check
    check('administrator' in (d.findtext('{http://jabber.org/protocol/muc#user}reason') or ''),
          'destroy reason: %s' % d.findtext('{http://jabber.org/protocol/muc#user}reason'))
    st, doc = api.call('DELETE', '/api/v1/rooms/' + rj('apiroom'), token=op)
    check(st == 404, 'second DELETE: %d' % st)
    for action in ('room.list', 'room.read', 'room.destroy'):
        wait_audit(srv, "action = '%s' AND actor LIKE 'admin:%%'" % action)
    wait_audit(srv, "action = 'room.destroy' AND NOT ok")


def free_port():
    from wbinteg import free_ports
    return free_ports(1)[0]


@test
def muc_libstrophe_client_joins_speaks_and_reads_the_room_archive_by_nick(suite):
    srv = suite.server()
    a = srv.login('mms_a')
    b, bpw = srv.user('mms_b')
    persistent(a, 'strophe', 'alice')
    for i in range(3):
        say(a, 'strophe', 'other %d' % i, 'o%d' % i)
    said(a, 'strophe', 'alice', 'other 2')
    r = run([suite.tool('strophe_client'), 'muc', '127.0.0.1', str(srv.direct_port), b, bpw,
             'direct', rj('strophe', 'stroph'), '12'], timeout=60)
    check(r.returncode == 0, 'strophe_client muc: exit %d: %s' % (
        r.returncode, (r.stderr or r.stdout).strip()[-300:]))
    lines = [ln[len('mam '):] for ln in r.stdout.splitlines() if ln.startswith('mam ')]
    check(lines == ['msg %d' % i for i in range(12)], 'libstrophe read back %s' % lines[:5])
    p = page_ok(a, 'strophe', max='0')
    check(p.count == 15, 'room archive count %s' % p.count)
