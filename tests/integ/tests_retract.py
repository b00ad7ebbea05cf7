# Integration tests of message retraction (XEP-0424): a retraction from the original sender is
# forwarded and erases the payload from both archives (tombstone) and from the offline queue; a
# retraction by anyone else is forwarded and erases nothing.
import time

from tests_mam import NS_MAM, body_of, is_message, query_ok, wait_count
from tests_offline import queued, wait_queued
from wbinteg import check, run, test

NS_RETRACT = 'urn:xmpp:message-retract:1'
NS_SID = 'urn:xmpp:sid:0'


def original(to, body, origin):
    return ("<message to='%s' type='chat' id='%s'><body>%s</body>"
            "<origin-id xmlns='%s' id='%s'/></message>" % (to, origin, body, NS_SID, origin))


def retraction(to, target, rid):
    return ("<message to='%s' type='chat' id='%s'><retract id='%s' xmlns='%s'/>"
            "<fallback xmlns='urn:xmpp:fallback:0' for='%s'/><body>This person attempted to "
            "retract a previous message</body><origin-id xmlns='%s' id='%s'/></message>"
            % (to, rid, target, NS_RETRACT, NS_RETRACT, NS_SID, rid))


def tombstones(page):
    """{stanza-id: <retracted/>} for the tombstones of a page."""
    out = {}
    for sid, msg, _ in page.items:
        t = msg.find('{%s}retracted' % NS_RETRACT)
        if t is not None:
            out[sid] = t
    return out


def payloads_left(srv, owner, marker):
    """Rows of OWNER's archive still holding a payload, and whether any is retracted with one."""
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-Atc',
             "SELECT count(*) FILTER (WHERE x.payload IS NOT NULL), "
             "count(*) FILTER (WHERE x.retracted) FROM archive x JOIN accounts a "
             "ON a.id = x.account_id WHERE a.node = '%s'" % owner])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip())
    kept, retracted = (int(v) for v in r.stdout.strip().split('|'))
    return kept, retracted


def wait_tombstones(c, want, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        p = query_ok(c)
        t = tombstones(p)
        if len(t) >= want or time.monotonic() > deadline:
            return p, t
        time.sleep(0.05)


@test
def retract_by_sender_erases_both_archives_leaving_tombstones(suite):
    srv = suite.server()
    a = srv.login('rt_a1', 'pc')
    b = srv.login('rt_b1', 'phone')
    b.send('<presence/>')
    b.ping()
    a.send(original('rt_b1@localhost', 'oops typo', 'orig-1') +
           original('rt_b1@localhost', 'keep me', 'orig-2'))
    for mid in ('orig-1', 'orig-2'):
        b.wait_for(lambda e, mid=mid: is_message(e) and e.get('id') == mid, 10, mid)
    wait_count(a, 2)
    wait_count(b, 2)
    a.send(retraction('rt_b1@localhost', 'orig-1', 'ret-1'))
    el = b.wait_for(lambda e: is_message(e) and e.get('id') == 'ret-1', 10, 'the retraction')
    r = el.find('{%s}retract' % NS_RETRACT)
    check(r is not None and r.get('id') == 'orig-1', 'the retraction was not forwarded as is')
    for c, who in ((a, 'sender'), (b, 'recipient')):
        p, t = wait_tombstones(c, 1)
        check(len(t) == 1, '%s archive has %d tombstones' % (who, len(t)))
        bodies = p.bodies()
        check('oops typo' not in bodies, '%s archive still shows the retracted body' % who)
        check('keep me' in bodies, '%s archive lost the other message' % who)
        stone = list(t.values())[0]
        check(stone.get('id') == 'ret-1' and stone.get('stamp'), 'tombstone %s' % stone.attrib)
        check(p.count == 3, '%s archive count %s (2 messages + the retraction)' % (who, p.count))
    for owner in ('rt_a1', 'rt_b1'):
        kept, retracted = payloads_left(srv, owner, 'oops typo')
        check(retracted == 1 and kept == 2, '%s: %d payloads kept, %d retracted' % (
            owner, kept, retracted))


@test
def retract_by_stanza_id_of_the_senders_archive(suite):
    srv = suite.server()
    a = srv.login('rt_a2', 'pc')
    srv.login('rt_b2', 'phone')
    a.send("<message to='rt_b2@localhost' type='chat'><body>no ids here</body></message>")
    wait_count(a, 1)
    sid = query_ok(a).ids()[0]
    a.send(retraction('rt_b2@localhost', sid, 'ret-2'))
    p, t = wait_tombstones(a, 1)
    check(list(t) == [sid], 'retraction by stanza-id left tombstones %s' % list(t))


@test
def retract_by_someone_else_erases_nothing(suite):
    srv = suite.server()
    a = srv.login('rt_a3', 'pc')
    b = srv.login('rt_b3', 'phone')
    b.send('<presence/>')
    a.send('<presence/>')
    b.ping()
    a.send(original('rt_b3@localhost', 'mine', 'orig-3'))
    b.wait_for(lambda e: is_message(e) and e.get('id') == 'orig-3', 10, 'the message')
    wait_count(b, 1)
    b_sid = query_ok(b).ids()[0]
    # bob retracts alice's message by its origin-id, then by its stanza-id in his archive;
    # mallory (another account) retracts it too.
    b.send(retraction('rt_a3@localhost', 'orig-3', 'evil-1') +
           retraction('rt_a3@localhost', b_sid, 'evil-2'))
    m = srv.login('rt_m3', 'pc')
    m.send(retraction('rt_b3@localhost', 'orig-3', 'evil-3'))
    a.wait_for(lambda e: is_message(e) and e.get('id') == 'evil-2', 10, 'the retractions')
    b.wait_for(lambda e: is_message(e) and e.get('id') == 'evil-3', 10, "mallory's retraction")
    time.sleep(0.3)
    for c, who in ((a, 'alice'), (b, 'bob')):
        p = query_ok(c)
        check(not tombstones(p), "%s's archive has tombstones" % who)
        check('mine' in p.bodies(), "%s's archive lost the message" % who)


@test
def retract_removes_the_message_from_the_offline_queue(suite):
    srv = suite.server()
    a = srv.login('rt_a4', 'pc')
    srv.user('rt_b4')
    a.send(original('rt_b4@localhost', 'regret', 'orig-4') +
           original('rt_b4@localhost', 'still fine', 'orig-5'))
    wait_queued(srv, 'rt_b4', 2)
    wait_count(a, 2)
    a.send(retraction('rt_b4@localhost', 'orig-4', 'ret-4'))
    wait_tombstones(a, 1)
    wait_queued(srv, 'rt_b4', 2)  # 'still fine' and the retraction itself
    b = srv.login('rt_b4', 'phone')
    b.send('<presence/>')
    got = []
    for _ in range(2):
        el = b.wait_for(is_message, 10, 'an offline message')
        got.append(el.get('id'))
    check(got == ['orig-5', 'ret-4'], 'offline delivery after the retraction: %s' % got)
    check(b.silent_for(is_message, 0.5), 'more offline messages arrived')
    p, t = wait_tombstones(b, 1)
    check(len(t) == 1 and 'regret' not in p.bodies(), "bob's archive kept the retracted body")
    check(queued(srv, 'rt_b4') == 0, 'the offline queue is not empty')


@test
def retracting_a_later_queued_message_leaves_the_earlier_one(suite):
    # The queued copy carries its own retraction key from the start: a retraction of the second
    # of two queued messages from one sender must remove that one and never the first.
    srv = suite.server()
    a = srv.login('rt_a6', 'pc')
    srv.user('rt_b6')
    a.send(original('rt_b6@localhost', 'first, keep', 'orig-61') +
           original('rt_b6@localhost', 'second, regret', 'orig-62'))
    wait_queued(srv, 'rt_b6', 2)
    a.send(retraction('rt_b6@localhost', 'orig-62', 'ret-62'))
    wait_queued(srv, 'rt_b6', 2)  # 'first, keep' and the retraction itself
    b = srv.login('rt_b6', 'phone')
    b.send('<presence/>')
    got = [b.wait_for(is_message, 10, 'an offline message').get('id') for _ in range(2)]
    check(got == ['orig-61', 'ret-62'], 'offline delivery after the retraction: %s' % got)
    check(b.silent_for(is_message, 0.5), 'more offline messages arrived')


@test
def a_copy_archived_after_its_retraction_is_a_tombstone(suite):
    # The recipient's archive write waits for the recipient's key and the retraction for the
    # sender's, so the retraction may be processed first. Forced here: the retraction comes first.
    srv = suite.server()
    a = srv.login('rt_a7', 'pc')
    b = srv.login('rt_b7', 'phone')
    b.send('<presence/>')
    b.ping()
    a.send(retraction('rt_b7@localhost', 'orig-7', 'ret-7'))
    b.wait_for(lambda e: is_message(e) and e.get('id') == 'ret-7', 10, 'the retraction')
    wait_count(b, 1)
    a.send(original('rt_b7@localhost', 'too late to keep', 'orig-7'))
    b.wait_for(lambda e: is_message(e) and e.get('id') == 'orig-7', 10, 'the message')
    for c, who in ((a, 'sender'), (b, 'recipient')):
        p, t = wait_tombstones(c, 1)
        check(len(t) == 1, '%s archive has %d tombstones' % (who, len(t)))
        check('too late to keep' not in p.bodies(), '%s archive kept the retracted body' % who)
    for owner in ('rt_a7', 'rt_b7'):
        kept, retracted = payloads_left(srv, owner, 'too late to keep')
        check(retracted == 1, '%s: %d rows retracted' % (owner, retracted))
