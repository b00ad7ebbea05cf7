# Integration tests of the blocking command (XEP-0191): the blocklist iq, pushes to interested
# resources, enforcement in both directions (messages, iq, presence), domain items, persistence.
import subprocess
import time

from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, run, stanza_error, test

NS_BLOCKING = 'urn:xmpp:blocking'
NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors'
QUIET = 0.6  # seconds to wait for something that must not arrive


def items_xml(jids):
    return ''.join("<item jid='%s'/>" % j for j in jids)


def blocklist(c):
    el = c.iq('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING)
    check(el.get('type') == 'result', 'blocklist get answered %s (%s)' % (
        el.get('type'), stanza_error(el)))
    bl = el.find('{%s}blocklist' % NS_BLOCKING)
    check(bl is not None, 'blocklist result without <blocklist/>')
    return sorted(i.get('jid') for i in bl.findall('{%s}item' % NS_BLOCKING))


def block(c, *jids, want='result'):
    el = c.iq('set', "<block xmlns='%s'>%s</block>" % (NS_BLOCKING, items_xml(jids)))
    check(el.get('type') == want, 'block %s answered %s (%s), wanted %s' % (
        list(jids), el.get('type'), stanza_error(el), want))
    return el


def unblock(c, *jids, want='result'):
    el = c.iq('set', "<unblock xmlns='%s'>%s</unblock>" % (NS_BLOCKING, items_xml(jids)))
    check(el.get('type') == want, 'unblock %s answered %s (%s), wanted %s' % (
        list(jids), el.get('type'), stanza_error(el), want))
    return el


def is_msg(id_):
    return lambda e: e.tag == '{%s}message' % NS_CLIENT and e.get('id') == id_


def is_push(name):
    return lambda e: (e.tag == '{%s}iq' % NS_CLIENT and e.get('type') == 'set' and
                      e.find('{%s}%s' % (NS_BLOCKING, name)) is not None)


def is_presence_from(jid):
    return lambda e: e.tag == '{%s}presence' % NS_CLIENT and e.get('from') == jid


def send_chat(c, to, id_):
    c.send("<message to='%s' type='chat' id='%s'><body>text %s</body></message>" % (to, id_, id_))


def expect_delivered(sender, receiver, id_):
    send_chat(sender, receiver.jid, id_)
    el = receiver.wait_for(is_msg(id_), 10, 'message %s' % id_)
    check(stanza_error(el) is None, 'message %s arrived as an error %s' % (id_, stanza_error(el)))


def expect_refused(sender, receiver, id_):
    """A message from a blocked sender: service-unavailable back, nothing delivered."""
    send_chat(sender, receiver.jid, id_)
    el = sender.wait_for(is_msg(id_), 10, 'an error for message %s' % id_)
    check(el.get('type') == 'error' and stanza_error(el) == 'service-unavailable',
          'blocked sender got %s/%s, wanted service-unavailable' % (
              el.get('type'), stanza_error(el)))
    check(el.find('.//{%s}blocked' % NS_BLOCKING_ERRORS) is None,
          'the blocked sender is told about the block')
    check(receiver.silent_for(is_msg(id_), QUIET), 'message from a blocked JID was delivered')


def blocked_error(el):
    err = el.find('{%s}error' % NS_CLIENT)
    return (stanza_error(el) == 'not-acceptable' and err is not None and
            err.find('{%s}blocked' % NS_BLOCKING_ERRORS) is not None)


@test
def blocking_feature_is_advertised(suite):
    c = suite.server().login('blk_disco')
    el = c.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to='localhost')
    feats = [f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)]
    check(NS_BLOCKING in feats, '%s not among the disco features %s' % (NS_BLOCKING, feats))


@test
def blocklist_get_returns_blocked_items(suite):
    srv = suite.server()
    a = srv.login('blk_list_a', 'r1')
    check(blocklist(a) == [], 'a new account has a non-empty block list')
    block(a, 'Spammer@LocalHost', 'example.test', 'x@example.test/Res')
    want = sorted(['spammer@localhost', 'example.test', 'x@example.test/Res'])
    check(blocklist(a) == want, 'block list is %s, wanted %s (prepared forms)' % (blocklist(a), want))
    block(a, 'spammer@localhost')  # blocking again changes nothing
    b = srv.login('blk_list_a', 'r2')
    check(blocklist(b) == want, 'another resource sees %s, wanted %s' % (blocklist(b), want))


@test
def blocked_contact_messages_get_service_unavailable(suite):
    srv = suite.server()
    a = srv.login('blk_msg_a', 'home')
    m = srv.login('blk_msg_m', 'evil')
    a.send('<presence/>')
    expect_delivered(m, a, 'before')
    block(a, 'blk_msg_m@localhost')
    expect_refused(m, a, 'after')
    # to the bare JID too, and an iq get is refused the same way
    send_chat(m, 'blk_msg_a@localhost', 'bare')
    el = m.wait_for(is_msg('bare'), 10, 'an error for the message to the bare JID')
    check(stanza_error(el) == 'service-unavailable', 'bare JID: %s' % stanza_error(el))
    el = m.iq('get', "<query xmlns='urn:example:x'/>", to=a.jid)
    check(stanza_error(el) == 'service-unavailable', 'iq from a blocked JID: %s/%s' % (
        el.get('type'), stanza_error(el)))


@test
def blocked_contact_presence_is_not_delivered(suite):
    srv = suite.server()
    a = srv.login('blk_pres_a', 'home')
    m = srv.login('blk_pres_m', 'evil')
    a.send('<presence/>')
    m.send('<presence/>')
    a.ping()
    a.send("<presence to='%s'/>" % m.jid)  # directed presence: the contact sees the user online
    m.wait_for(is_presence_from(a.jid), 10, 'directed presence before the block')
    block(a, 'blk_pres_m@localhost')
    el = m.wait_for(is_presence_from(a.jid), 10, 'unavailable presence on block (XEP-0191 3.3)')
    check(el.get('type') == 'unavailable', 'presence on block has type %s' % el.get('type'))
    m.send("<presence to='%s'><status>hi</status></presence>" % a.jid)
    m.send("<presence to='blk_pres_a@localhost' type='subscribe'/>")
    check(a.silent_for(is_presence_from(m.jid), QUIET) and
          a.silent_for(lambda e: (e.get('from') or '').startswith('blk_pres_m@'), 0.1),
          'presence from a blocked JID was delivered')
    a.send("<presence to='%s'/>" % m.jid)  # the user's own presence to the contact is dropped
    check(m.silent_for(is_presence_from(a.jid), QUIET), "the user's presence reached a blocked JID")


@test
def message_to_blocked_contact_gets_blocked_error(suite):
    srv = suite.server()
    a = srv.login('blk_out_a', 'home')
    m = srv.login('blk_out_m', 'evil')
    block(a, 'blk_out_m@localhost')
    send_chat(a, m.jid, 'out1')
    el = a.wait_for(is_msg('out1'), 10, 'the blocked error')
    check(el.get('type') == 'error' and blocked_error(el),
          'message to a blocked JID answered %s/%s without <blocked/>' % (
              el.get('type'), stanza_error(el)))
    check(el.get('from') == m.jid, 'the error comes from %s' % el.get('from'))
    check(m.silent_for(is_msg('out1'), QUIET), 'message to a blocked JID was delivered')
    el = a.iq('get', "<query xmlns='urn:example:x'/>", to=m.jid)
    check(el.get('type') == 'error' and blocked_error(el), 'iq to a blocked JID: %s/%s' % (
        el.get('type'), stanza_error(el)))


@test
def block_pushes_reach_interested_resources_only(suite):
    srv = suite.server()
    a1 = srv.login('blk_push_a', 'one')
    a2 = srv.login('blk_push_a', 'two')
    a3 = srv.login('blk_push_a', 'three', direct=True)  # never asks for its block list
    blocklist(a1)
    blocklist(a2)
    block(a1, 'pushed@localhost')
    for c in (a1, a2):
        el = c.wait_for(is_push('block'), 10, 'block push on %s' % c.jid)
        got = [i.get('jid') for i in el.iter('{%s}item' % NS_BLOCKING)]
        check(got == ['pushed@localhost'], 'block push carries %s' % got)
        check(el.get('to') == c.jid, 'push addressed to %s' % el.get('to'))
    unblock(a2, 'pushed@localhost')
    for c in (a1, a2):
        el = c.wait_for(is_push('unblock'), 10, 'unblock push on %s' % c.jid)
        got = [i.get('jid') for i in el.iter('{%s}item' % NS_BLOCKING)]
        check(got == ['pushed@localhost'], 'unblock push carries %s' % got)
    check(a3.silent_for(is_push('block'), 0.2) and a3.silent_for(is_push('unblock'), 0.2),
          'a resource that never retrieved its block list got a push')


@test
def unblock_restores_delivery(suite):
    srv = suite.server()
    a = srv.login('blk_unb_a', 'home')
    m = srv.login('blk_unb_m', 'evil')
    block(a, 'blk_unb_m@localhost', 'other@localhost')
    expect_refused(m, a, 'u1')
    unblock(a, 'blk_unb_m@localhost')
    check(blocklist(a) == ['other@localhost'], 'after unblock the list is %s' % blocklist(a))
    expect_delivered(m, a, 'u2')
    expect_delivered(a, m, 'u3')


@test
def unblock_all_empties_the_list(suite):
    srv = suite.server()
    a = srv.login('blk_all_a', 'home')
    m = srv.login('blk_all_m', 'evil')
    blocklist(a)
    block(a, 'blk_all_m@localhost', 'one@localhost', 'example.test')
    a.wait_for(is_push('block'), 10, 'block push')
    expect_refused(m, a, 'all1')
    unblock(a)
    el = a.wait_for(is_push('unblock'), 10, 'unblock-all push')
    check(el.find('{%s}unblock/{%s}item' % (NS_BLOCKING, NS_BLOCKING)) is None,
          'the unblock-all push lists items')
    check(blocklist(a) == [], 'after unblock-all the list is %s' % blocklist(a))
    expect_delivered(m, a, 'all2')


@test
def domain_block_blocks_everyone_at_the_domain(suite):
    srv = suite.server()
    a = srv.login('blk_dom_a', 'home')
    x = srv.login('blk_dom_x', 'r', domain='example.test')
    y = srv.login('blk_dom_y', 'r')
    block(a, 'example.test')
    expect_refused(x, a, 'd1')
    expect_delivered(y, a, 'd2')  # another domain is not concerned
    send_chat(a, x.jid, 'd3')
    el = a.wait_for(is_msg('d3'), 10, 'the blocked error for a domain item')
    check(blocked_error(el), 'message to a blocked domain answered %s' % stanza_error(el))


@test
def full_jid_item_blocks_only_that_resource(suite):
    srv = suite.server()
    a = srv.login('blk_full_a', 'home')
    m1 = srv.login('blk_full_m', 'bad')
    m2 = srv.login('blk_full_m', 'good')
    block(a, m1.jid)
    expect_refused(m1, a, 'f1')
    expect_delivered(m2, a, 'f2')


@test
def blocks_survive_a_server_restart(suite):
    srv = suite.private_server('blocking').start()
    a = srv.login('keeper', 'home')
    block(a, 'pest@localhost', 'example.test')
    srv.stop()
    srv.start()
    a = srv.login('keeper', 'home')
    check(blocklist(a) == ['example.test', 'pest@localhost'],
          'after a restart the list is %s' % blocklist(a))
    p = srv.login('pest', 'r')
    expect_refused(p, a, 'r1')


@test
def block_with_invalid_jid_is_jid_malformed(suite):
    srv = suite.server()
    a = srv.login('blk_bad_a', 'home')
    for bad in ('@localhost', 'a@b@c', 'user@', 'x@localhost/'):
        el = block(a, 'fine@localhost', bad, want='error')
        check(stanza_error(el) == 'jid-malformed', 'block of %r answered %s' % (
            bad, stanza_error(el)))
    el = unblock(a, 'a@b@c', want='error')
    check(stanza_error(el) == 'jid-malformed', 'unblock of an invalid JID: %s' % stanza_error(el))
    check(blocklist(a) == [], 'a refused block changed the list: %s' % blocklist(a))


@test
def block_without_items_is_bad_request(suite):
    srv = suite.server()
    a = srv.login('blk_empty_a', 'home')
    el = block(a, want='error')
    check(stanza_error(el) == 'bad-request', 'empty block answered %s' % stanza_error(el))


@test
def blocklist_of_another_account_is_refused(suite):
    srv = suite.server()
    a = srv.login('blk_other_a', 'home')
    srv.login('blk_other_b', 'home')
    el = a.iq('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING, to='blk_other_b@localhost')
    check(el.get('type') == 'error' and stanza_error(el) == 'service-unavailable',
          "another account's block list answered %s/%s" % (el.get('type'), stanza_error(el)))
    el = a.iq('set', "<block xmlns='%s'>%s</block>" % (NS_BLOCKING, items_xml(['z@localhost'])),
              to='blk_other_b@localhost')
    check(el.get('type') == 'error', "blocking on another account's behalf succeeded")
    el = a.iq('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING, to='blk_other_a@localhost')
    check(el.get('type') == 'result', 'own bare JID as to: %s' % stanza_error(el))


def db_exec(srv, sql):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-qc', sql])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip())


@test
def blocking_storage_failure_gives_temporary_errors(suite):
    srv = suite.private_server('blockfail').start()
    srv.user('blk_fail_off')  # never logs in: its list is not cached
    a = srv.login('blk_fail_a', 'home')
    m = srv.login('blk_fail_m', 'r')
    a.ping()
    db_exec(srv, 'ALTER TABLE blocklist RENAME TO blocklist_away')
    try:
        el = block(a, 'blk_fail_m@localhost', want='error')
        check(stanza_error(el) == 'internal-server-error', 'block with storage down: %s' % (
            stanza_error(el)))
        send_chat(m, 'blk_fail_off@localhost', 'f1')
        el = m.wait_for(is_msg('f1'), 10, 'an error while the list cannot be read')
        check(stanza_error(el) == 'internal-server-error',
              'message to an account whose list cannot be read: %s' % stanza_error(el))
    finally:
        db_exec(srv, 'ALTER TABLE blocklist_away RENAME TO blocklist')
    block(a, 'blk_fail_m@localhost')
    expect_refused(m, a, 'f2')


@test
def blocking_list_reload_keeps_message_order(suite):
    srv = suite.server()
    a = srv.login('blk_order_a', 'home')
    b = srv.login('blk_order_b', 'home')
    b.send('<presence/>')
    b.ping()
    block(a, 'someone@localhost')  # a's list is reloaded for the burst below
    a.send(''.join("<message to='%s' type='chat' id='o%d'><body>%d</body></message>"
                   % (b.jid, i, i) for i in range(300)))
    got = [b.wait_for(lambda e: e.tag == '{%s}message' % NS_CLIENT, 10, 'message %d' % i).get('id')
           for i in range(300)]
    want = ['o%d' % i for i in range(300)]
    first = next((i for i, g in enumerate(got) if g != want[i]), None)
    check(first is None, 'messages reordered: %s arrived as message %s' % (got[first or 0], first))


@test
def blocking_server_stops_cleanly_with_a_list_load_pending(suite):
    srv = suite.private_server('blockstop').start()
    srv.user('blk_stop_off')
    m = srv.login('blk_stop_m', 'r')
    m.ping()
    lock = subprocess.Popen(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-qc',
                             'BEGIN; LOCK TABLE blocklist; SELECT pg_sleep(3); COMMIT'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        send_chat(m, 'blk_stop_off@localhost', 's1')  # waits for the locked table
        check(m.silent_for(is_msg('s1'), 0.3), 'the message was answered despite the lock')
        srv.stop()  # fails on a leak report or an unclean exit
    finally:
        lock.wait(10)


@test
def unblock_sends_current_presence_to_a_subscribed_contact(suite):
    srv = suite.server()
    a = srv.login('blk_sub_a', 'home')
    m = srv.login('blk_sub_m', 'phone')
    a.send('<presence><status>here</status></presence>')
    m.send('<presence/>')
    a.ping()
    m.send("<presence to='blk_sub_a@localhost' type='subscribe'/>")
    a.wait_for(lambda e: e.get('type') == 'subscribe', 10, 'the subscription request')
    a.send("<presence to='blk_sub_m@localhost' type='subscribed'/>")
    m.wait_for(lambda e: is_presence_from(a.jid)(e) and e.get('type') is None, 10,
               "a's presence once subscribed")
    block(a, 'blk_sub_m@localhost')
    m.wait_for(lambda e: is_presence_from(a.jid)(e) and e.get('type') == 'unavailable', 10,
               'unavailable presence on block')
    unblock(a, 'blk_sub_m@localhost')
    el = m.wait_for(is_presence_from(a.jid), 10, "a's presence again after the unblock")
    check(el.get('type') is None, 'presence after unblock has type %s' % el.get('type'))
