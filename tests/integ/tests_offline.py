# Integration tests of offline messages (XEP-0160 with XEP-0203 delay): storage while the account
# has no available resource, delivery in order at the next initial presence, quota and refusals.
import re
import sys
import time
import uuid

from wbinteg import (NS_CLIENT, NS_DISCO_INFO, Failure, check, local_name, run, stanza_error,
                     test)

NS_DELAY = 'urn:xmpp:delay'
NS_HINTS = 'urn:xmpp:hints'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
STAMP = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
OFFLINE_MAX = 1000  # WB_OFFLINE_MAX in server/modules/offline.c


def is_message(el):
    return el.tag == '{%s}message' % NS_CLIENT


def body_of(el):
    b = el.find('{%s}body' % NS_CLIENT)
    return b.text if b is not None else None


def queued(srv, node):
    """How many offline messages the database holds for NODE@localhost."""
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-Atc',
             "SELECT count(*) FROM offline_messages o JOIN accounts a ON a.id = o.account_id "
             "WHERE a.domain = 'localhost' AND a.node = '%s'" % node])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip())
    return int(r.stdout.strip())


def wait_queued(srv, node, want, timeout=15):
    deadline = time.monotonic() + timeout
    n = queued(srv, node)
    while n != want and time.monotonic() < deadline:
        time.sleep(0.05)
        n = queued(srv, node)
    check(n == want, '%d offline messages queued for %s, wanted %d' % (n, node, want))


def send_numbered(a, to, n, prefix):
    a.send(''.join("<message to='%s' type='chat' id='%s%d'><body>%s %d</body></message>"
                   % (to, prefix, i, prefix, i) for i in range(n)))


def expect_numbered(b, sender_bare, n, prefix):
    """Reads N offline messages and checks order, bodies and the delay element."""
    for i in range(n):
        el = b.wait_for(is_message, 10, 'offline message %d of %d' % (i + 1, n))
        check(el.get('id') == '%s%d' % (prefix, i),
              'offline message %d has id %s (order or duplicates wrong)' % (i, el.get('id')))
        check(body_of(el) == '%s %d' % (prefix, i), 'body changed: %r' % body_of(el))
        check((el.get('from') or '').startswith(sender_bare + '/'),
              'from is %s, wanted a full JID of %s' % (el.get('from'), sender_bare))
        delay = el.find('{%s}delay' % NS_DELAY)
        check(delay is not None, 'offline message %d has no <delay/>' % i)
        check(delay.get('from') == 'localhost', 'delay from is %s' % delay.get('from'))
        check(STAMP.match(delay.get('stamp') or ''), 'bad delay stamp %r' % delay.get('stamp'))


def no_more_messages(c, secs=0.7):
    check(c.silent_for(is_message, secs), 'an unexpected message arrived')


def error_for(c, msg_id, what):
    el = c.wait_for(lambda e: is_message(e) and e.get('id') == msg_id, 10, what)
    check(el.get('type') == 'error', '%s: answered with type %s' % (what, el.get('type')))
    return el


@test
def offline_messages_arrive_in_order_once_with_delay(suite):
    srv = suite.server()
    bob, _ = srv.user('offbob')
    a = srv.login('offalice', 'desk')
    send_numbered(a, bob, 100, 'n')
    wait_queued(srv, 'offbob', 100)
    check(not [e for e in a.queue if e.get('type') == 'error'], 'the sender got an error')
    b = srv.login('offbob', 'phone')
    no_more_messages(b, 0.3)  # nothing before the initial presence
    b.send('<presence/>')
    expect_numbered(b, 'offalice@localhost', 100, 'n')
    no_more_messages(b)
    wait_queued(srv, 'offbob', 0)
    b.close()
    again = srv.login('offbob', 'phone')
    again.send('<presence/>')
    again.ping()
    no_more_messages(again)


@test
def offline_messages_survive_a_restart(suite):
    srv = suite.private_server('offline-restart').start()
    bob, _ = srv.user('rbob')
    a = srv.login('ralice')
    send_numbered(a, bob, 20, 'r')
    wait_queued(srv, 'rbob', 20)
    a.close()
    srv.stop()
    srv.start()
    b = srv.login('rbob')
    b.send("<presence><priority>1</priority></presence>")
    expect_numbered(b, 'ralice@localhost', 20, 'r')
    no_more_messages(b)


@test
def offline_message_to_full_jid_of_offline_user_is_stored(suite):
    srv = suite.server()
    srv.user('offfull')
    a = srv.login('offfullsender')
    a.send("<message to='offfull@localhost/phone' type='chat' id='f0'><body>f 0</body></message>")
    wait_queued(srv, 'offfull', 1)
    b = srv.login('offfull', 'laptop')
    b.send('<presence/>')
    expect_numbered(b, 'offfullsender@localhost', 1, 'f')
    no_more_messages(b)


@test
def offline_message_to_unknown_account_is_service_unavailable(suite):
    a = suite.server().login('offnobody')
    a.send("<message to='offline-ghost@localhost' id='g1'><body>anyone?</body></message>")
    el = error_for(a, 'g1', 'an error for the message to an unknown account')
    check(stanza_error(el) == 'service-unavailable', 'error is %s' % stanza_error(el))


@test
def offline_negative_priority_gets_no_offline_messages(suite):
    srv = suite.server()
    bob, _ = srv.user('offneg')
    a = srv.login('offnegsender')
    send_numbered(a, bob, 3, 'p')
    wait_queued(srv, 'offneg', 3)
    neg = srv.login('offneg', 'shy')
    neg.send('<presence><priority>-1</priority></presence>')
    neg.ping()
    no_more_messages(neg)
    check(queued(srv, 'offneg') == 3, 'the queue changed for a negative priority')
    b = srv.login('offneg', 'main')
    b.send('<presence/>')
    expect_numbered(b, 'offnegsender@localhost', 3, 'p')


@test
def offline_headline_hints_and_chat_states(suite):
    srv = suite.server()
    bob, _ = srv.user('offhints')
    a = srv.login('offhintsender')
    a.send("<message to='%s' type='headline' id='h1'><body>news</body></message>" % bob)
    a.send("<message to='%s' type='chat' id='ns1'><body>secret</body>"
           "<no-store xmlns='%s'/></message>" % (bob, NS_HINTS))
    a.send("<message to='%s' type='chat' id='np1'><body>secret</body>"
           "<no-permanent-store xmlns='%s'/></message>" % (bob, NS_HINTS))
    a.send("<message to='%s' type='chat' id='cs1'>"
           "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>" % bob)
    a.send("<message to='%s' type='groupchat' id='gc1'><body>room</body></message>" % bob)
    a.send("<message to='%s' type='chat' id='st1'><store xmlns='%s'/>"
           "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>" % (bob, NS_HINTS))
    a.send("<message to='%s' id='nm1'><body>normal</body></message>" % bob)
    for msg_id in ('ns1', 'np1', 'gc1'):
        el = error_for(a, msg_id, 'an error for %s' % msg_id)
        check(stanza_error(el) == 'service-unavailable', '%s: error is %s' % (
            msg_id, stanza_error(el)))
    wait_queued(srv, 'offhints', 2)
    a.ping()
    check(not [e for e in a.queue if e.get('id') in ('h1', 'cs1', 'st1', 'nm1')],
          'an error came back for a headline, a chat state or a stored message')
    b = srv.login('offhints')
    b.send('<presence/>')
    got = [b.wait_for(is_message, 10, 'a stored message').get('id') for _ in range(2)]
    check(got == ['st1', 'nm1'], 'delivered %s, wanted st1 and nm1' % got)
    no_more_messages(b)


@test
def offline_quota_full_is_resource_constraint(suite):
    srv = suite.private_server('offline-quota').start()
    bob, _ = srv.user('qbob')
    a = srv.login('qalice')
    send_numbered(a, bob, OFFLINE_MAX, 'q')
    wait_queued(srv, 'qbob', OFFLINE_MAX, timeout=30)
    a.send("<message to='%s' type='chat' id='over'><body>one too many</body></message>" % bob)
    el = error_for(a, 'over', 'an error for the message over quota')
    check(stanza_error(el) == 'resource-constraint', 'error is %s' % stanza_error(el))
    text = el.find('{%s}error/{%s}text' % (NS_CLIENT, NS_STANZAS))
    check(text is not None and 'full' in (text.text or ''), 'no "storage is full" text')
    check(not [e for e in a.queue if e.get('type') == 'error'], 'messages under quota refused')
    check(queued(srv, 'qbob') == OFFLINE_MAX, 'the queue grew over the quota')


@test
def offline_storage_failure_is_internal_server_error(suite):
    srv = suite.private_server('offline-dbfail').start()
    bob, _ = srv.user('fbob')
    a = srv.login('falice')
    r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', srv.db, '-qc',
             'ALTER TABLE offline_messages RENAME TO offline_messages_away'])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip())
    a.send("<message to='%s' type='chat' id='lost'><body>x</body></message>" % bob)
    el = error_for(a, 'lost', 'an error for the message that could not be stored')
    check(stanza_error(el) == 'internal-server-error', 'error is %s' % stanza_error(el))
    a.ping()


@test
def offline_feature_is_advertised(suite):
    c = suite.server().login('offdisco')
    el = c.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, 'localhost')
    feats = [f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)]
    check('msgoffline' in feats, 'msgoffline not in %s' % feats)
    check(local_name(el.tag) == 'iq', 'answer is %s' % el.tag)


if __name__ == '__main__':
    sys.exit('run these through run.py')


# ---- the archive as the source of truth; claims ----

NS_SID = 'urn:xmpp:sid:0'


def psql_rows(srv, sql):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-v',
             'ON_ERROR_STOP=1', '-XAtF', '|', '-c', sql])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip()[:300])
    return [line.split('|') for line in r.stdout.splitlines() if line]


def queue_rows(srv, node):
    """(sender's local part, has its own payload, archive stanza-id) per queued row, in order."""
    return [(s.split('@')[0], p == 't', a) for s, p, a in psql_rows(
        srv, "SELECT o.sender, o.payload IS NOT NULL, coalesce(o.archive_stanza_id::text, '') "
             "FROM offline_messages o JOIN accounts a ON a.id = o.account_id "
             "WHERE a.domain = 'localhost' AND a.node = '%s' ORDER BY o.id" % node)]


def drain(c, secs):
    """Ids of the messages c receives until none comes for SECS."""
    out = []
    while True:
        try:
            out.append(c.wait_for(is_message, secs, 'a message').get('id'))
        except Failure:
            return out


def normalized(el):
    """The stanza with what differs between two messages blanked: ids, sender, texts, stamps."""
    import copy
    import xml.etree.ElementTree as ET
    e = copy.deepcopy(el)
    for x in e.iter():
        for attr in ('id', 'from', 'stamp'):
            if attr in x.attrib and not (x.tag == '{%s}delay' % NS_DELAY and attr == 'from'):
                x.set(attr, '')
        if x.text and x is not e:
            x.text = ''
    return ET.tostring(e)


@test
def offline_archived_message_is_stored_once_and_delivered_as_before(suite):
    srv = suite.server()
    marker = 'oncemark%s' % uuid.uuid4().hex
    b = srv.login('ob_bob', 'phone')  # bound without presence: messages to it are queued
    r = b.iq('set', "<prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never>"
                    "<jid>ob_carol@localhost</jid></never></prefs>")
    check(r.get('type') == 'result', 'prefs set: %s' % r.get('type'))
    a, c = srv.login('ob_alice', 'pc'), srv.login('ob_carol', 'pc')
    msg = ("<message to='ob_bob@localhost' type='chat' id='%s'><body>%s from %s</body>"
           "<thread>t1</thread><origin-id xmlns='" + NS_SID + "' id='o-%s'/></message>")
    a.send(msg % ('from-a', marker, 'a', 'a'))
    c.send(msg % ('from-c', marker, 'c', 'c'))
    wait_queued(srv, 'ob_bob', 2)
    rows = {s: (own, sid) for s, own, sid in queue_rows(srv, 'ob_bob')}
    check(rows['ob_alice'][0] is False and rows['ob_alice'][1],
          'the archived message is queued with a payload of its own: %s' % (rows,))
    check(rows['ob_carol'] == (True, ''), 'the message the archive refused: %s' % (rows,))
    archived = psql_rows(srv, "SELECT x.stanza_id::text FROM archive x JOIN accounts a ON "
                              "a.id = x.account_id WHERE a.node = 'ob_bob' AND "
                              "x.payload IS NOT NULL")
    check(archived == [[rows['ob_alice'][1]]], 'bob archive rows %s' % archived)
    dump = run(['pg_dump', '-h', suite.pg.host, '-U', 'postgres', srv.db])
    check(dump.returncode == 0, 'pg_dump failed')
    check(marker not in dump.stdout and marker.encode().hex() not in dump.stdout,
          'the marker is readable in a dump')
    b.send('<presence/>')
    got = {}
    for _ in range(2):
        el = b.wait_for(is_message, 10, 'an offline message')
        got[el.get('id')] = el
    check(set(got) == {'from-a', 'from-c'}, 'delivered %s' % sorted(got))
    for mid, el in got.items():
        check(body_of(el) == '%s from %s' % (marker, mid[-1]), 'body of %s changed' % mid)
        delay = el.find('{%s}delay' % NS_DELAY)
        check(delay is not None and delay.get('from') == 'localhost' and
              STAMP.match(delay.get('stamp') or ''), '%s: bad delay' % mid)
        sid = el.find('{%s}stanza-id' % NS_SID)
        check(sid is not None and sid.get('by') == 'ob_bob@localhost', '%s: no stanza-id' % mid)
        check([x.tag.split('}')[1] for x in el] ==
              ['body', 'thread', 'origin-id', 'stanza-id', 'delay'], '%s: children %s'
              % (mid, [x.tag for x in el]))
    check(got['from-a'].find('{%s}stanza-id' % NS_SID).get('id') == rows['ob_alice'][1],
          'the stanza-id delivered is not the archive row')
    check(normalized(got['from-a']) == normalized(got['from-c']),
          'a message delivered from the archive differs from a sealed one:\n%s\n%s'
          % (normalized(got['from-a']), normalized(got['from-c'])))
    no_more_messages(b)
    check(queued(srv, 'ob_bob') == 0, 'the queue is not empty after delivery')


@test
def offline_queued_copy_goes_with_its_archive_row(suite):
    # Whatever erases the archived copy (retention, a timer, a retraction) erases the queued one.
    srv = suite.server()
    srv.user('og_bob')
    a = srv.login('og_alice', 'pc')
    a.send("<message to='og_bob@localhost' type='chat' id='g1'><body>erased</body></message>"
           "<message to='og_bob@localhost' type='chat' id='g2'><body>kept</body></message>")
    wait_queued(srv, 'og_bob', 2)
    psql_rows(srv, "DELETE FROM archive WHERE stanza_id = (SELECT o.archive_stanza_id FROM "
                   "offline_messages o JOIN accounts a ON a.id = o.account_id "
                   "WHERE a.node = 'og_bob' ORDER BY o.id LIMIT 1)")
    check(queued(srv, 'og_bob') == 1, 'the queued copy outlived its archive row')
    b = srv.login('og_bob', 'phone')
    b.send('<presence/>')
    el = b.wait_for(is_message, 10, 'the kept message')
    check(el.get('id') == 'g2', 'delivered %s' % el.get('id'))
    no_more_messages(b)


@test
def offline_message_retracted_before_login_is_not_delivered_only_the_retraction(suite):
    srv = suite.server()
    srv.user('or_bob')
    a = srv.login('or_alice', 'pc')
    a.send("<message to='or_bob@localhost' type='chat' id='r1'><body>regret</body></message>")
    wait_queued(srv, 'or_bob', 1)
    # By the stanza-id of the sender's archive copy (XEP-0424 allows either id).
    page = a.iq('set', "<query xmlns='urn:xmpp:mam:2'/>")
    check(page.get('type') == 'result', 'archive query')
    res = [e for e in list(a.queue) if is_message(e) and
           e.find('{urn:xmpp:mam:2}result') is not None]
    check(len(res) == 1, 'the sender archive holds %d messages' % len(res))
    sid = res[0].find('{urn:xmpp:mam:2}result').get('id')
    a.send("<message to='or_bob@localhost' type='chat' id='r2'><retract "
           "xmlns='urn:xmpp:message-retract:1' id='%s'/><fallback xmlns='urn:xmpp:fallback:0' "
           "for='urn:xmpp:message-retract:1'/><body>retracted</body>"
           "<store xmlns='urn:xmpp:hints'/></message>" % sid)
    wait_queued(srv, 'or_bob', 1)  # only the retraction
    b = srv.login('or_bob', 'phone')
    b.send('<presence/>')
    el = b.wait_for(is_message, 10, 'the retraction')
    check(el.get('id') == 'r2', 'delivered %s first (the retracted message?)' % el.get('id'))
    no_more_messages(b)


@test
def offline_two_simultaneous_logins_get_each_message_once(suite):
    srv = suite.server()
    srv.user('oc_bob')
    a = srv.login('oc_alice', 'pc')
    send_numbered(a, 'oc_bob@localhost', 40, 'c')
    wait_queued(srv, 'oc_bob', 40)
    b1, b2 = srv.login('oc_bob', 'one'), srv.login('oc_bob', 'two')
    b1.send('<presence/>')
    b2.send('<presence/>')
    ids = []
    deadline = time.monotonic() + 15
    while len(ids) < 40 and time.monotonic() < deadline:
        for c in (b1, b2):
            ids.extend(drain(c, 0.05))
    for c in (b1, b2):  # and nothing more comes
        ids.extend(drain(c, 0.5))
    check(sorted(ids) == sorted('c%d' % i for i in range(40)),
          'two logins got %d messages, %d distinct' % (len(ids), len(set(ids))))
    wait_queued(srv, 'oc_bob', 0)


@test
def offline_message_stored_while_the_login_fetch_runs_is_delivered_at_once(suite):
    # The message's queue insert is held (a lock on the recipient's account row) until the
    # recipient has logged in and its fetch found an empty queue; it must not wait for the next
    # login.
    import subprocess
    srv = suite.server()
    b = srv.login('ol_bob', 'phone')
    b.send('<presence/>')
    b.ping()
    b.close()
    deadline = time.monotonic() + 10  # its logout is written before the account row is locked
    while psql_rows(srv, "SELECT count(*) FROM last_activity l JOIN accounts a ON "
                         "a.id = l.account_id WHERE a.node = 'ol_bob'") != [['1']]:
        check(time.monotonic() < deadline, 'the logout of ol_bob was not recorded')
        time.sleep(0.05)
    a = srv.login('ol_alice', 'pc')
    lock = subprocess.Popen(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', srv.db, '-XAqt'],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lock.stdin.write("BEGIN;\nSELECT 1 FROM accounts WHERE node = 'ol_bob' FOR UPDATE;\n"
                         "\\echo locked\n")
        lock.stdin.flush()
        out = [lock.stdout.readline().strip() for _ in range(2)]
        check(out == ['1', 'locked'], 'the lock was not taken: %s' % out)
        a.send("<message to='ol_bob@localhost' type='chat' id='late'><body>late</body>"
               "</message>")
        waiting = 0
        deadline = time.monotonic() + 10
        while waiting == 0 and time.monotonic() < deadline:
            waiting = int(psql_rows(srv, "SELECT count(*) FROM pg_stat_activity WHERE "
                                         "datname = current_database() AND "
                                         "wait_event_type = 'Lock'")[0][0])
            time.sleep(0.05)
        check(waiting >= 1, 'the message writes are not waiting for the lock')
        b = srv.login('ol_bob', 'phone')
        b.send('<presence/>')
        b.ping()
        check(b.silent_for(is_message, 0.3), 'delivered before it was stored')
        lock.stdin.write('COMMIT;\n')
        lock.stdin.flush()
        el = b.wait_for(is_message, 10, 'the message stored during the login')
        check(el.get('id') == 'late', 'delivered %s' % el.get('id'))
    finally:
        lock.stdin.close()
        lock.wait(10)
    wait_queued(srv, 'ol_bob', 0)
