# Integration tests of offline messages (XEP-0160 with XEP-0203 delay): storage while the account
# has no available resource, delivery in order at the next initial presence, quota and refusals.
import re
import sys
import time

from wbinteg import (NS_CLIENT, NS_DISCO_INFO, check, local_name, run, stanza_error, test)

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
