# Integration tests of Message Carbons (XEP-0280): enable/disable, received and sent copies, the
# messages never copied, bare-JID delivery, and slixmpp's xep_0280 plugin (run as a subprocess).
import asyncio
import json
import os
import sys

from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, run, stanza_error, test

HERE = os.path.dirname(os.path.abspath(__file__))
SLIX_PYTHON = '/usr/bin/python3'
NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FORWARD = 'urn:xmpp:forward:0'
ENABLE = "<enable xmlns='%s'/>" % NS_CARBONS
DISABLE = "<disable xmlns='%s'/>" % NS_CARBONS


def forwarded(el, kind):
    """The forwarded message inside a <received/> or <sent/> carbon (KIND), or None."""
    if el.tag != '{%s}message' % NS_CLIENT:
        return None
    return el.find('{%s}%s/{%s}forwarded/{%s}message' % (NS_CARBONS, kind, NS_FORWARD, NS_CLIENT))


def is_carbon(kind, msg_id=None):
    def pred(el):
        inner = forwarded(el, kind)
        return inner is not None and (msg_id is None or inner.get('id') == msg_id)
    return pred


def is_message(msg_id):
    return lambda el: el.tag == '{%s}message' % NS_CLIENT and el.get('id') == msg_id and \
        el.find('{%s}received' % NS_CARBONS) is None and el.find('{%s}sent' % NS_CARBONS) is None


def carbons(conn, on=True):
    el = conn.iq('set', ENABLE if on else DISABLE)
    check(el.get('type') == 'result', 'carbons %s answered %s (%s)' % (
        'enable' if on else 'disable', el.get('type'), stanza_error(el)))


def online(srv, user, resource, priority=0, enable=False):
    """A session of USER/RESOURCE, available with PRIORITY, carbons enabled or not."""
    c = srv.login(user, resource)
    c.send('<presence><priority>%d</priority></presence>' % priority)
    c.ping()  # the presence is processed before anything else happens
    if enable:
        carbons(c)
    return c


def no_carbon_queued(conn, who):
    found = [el for el in conn.queue if is_carbon('received')(el) or is_carbon('sent')(el)]
    check(not found, '%s got a carbon it should not: %s' % (who, [
        (forwarded(e, 'received') if forwarded(e, 'received') is not None
         else forwarded(e, 'sent')).get('id') for e in found]))


def chat(sender, to, msg_id, extra='', type_='chat'):
    sender.send("<message to='%s' type='%s' id='%s'><body>carbon test %s</body>%s</message>"
                % (to, type_, msg_id, msg_id, extra))


@test
def carbons_feature_advertised_and_enable_answered(suite):
    srv = suite.server()
    c = srv.login('cb_feat', 'r')
    el = c.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, 'localhost')
    feats = [f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)]
    check(NS_CARBONS in feats, 'server features lack %s: %s' % (NS_CARBONS, feats))
    carbons(c)
    carbons(c, on=False)
    el = c.iq('set', ENABLE, 'cb_feat@localhost')  # to the own bare JID: also accepted
    check(el.get('type') == 'result', 'enable to own bare JID: %s' % stanza_error(el))


@test
def carbons_enable_for_another_account_or_as_get_is_refused(suite):
    srv = suite.server()
    srv.user('cb_other')
    c = srv.login('cb_refuse', 'r')
    el = c.iq('set', ENABLE, 'cb_other@localhost')
    check(el.get('type') == 'error', 'enabling carbons of another account answered %s'
          % el.get('type'))
    el = c.iq('get', ENABLE)
    check(el.get('type') == 'error', 'enable as iq get answered %s' % el.get('type'))


@test
def carbons_received_copy_reaches_enabled_resource_not_disabled_one(suite):
    srv = suite.server()
    alice = srv.login('cb_ra', 'desk')
    one = online(srv, 'cb_rb', 'one', enable=True)
    two = online(srv, 'cb_rb', 'two', enable=True)
    three = online(srv, 'cb_rb', 'three')
    chat(alice, two.jid, 'r1')
    orig = two.wait_for(is_message('r1'), 10, 'the original at bob/two')
    check(orig.get('from') == alice.jid, 'original from %s' % orig.get('from'))
    el = one.wait_for(is_carbon('received', 'r1'), 10, 'the received carbon at bob/one')
    check(el.get('from') == 'cb_rb@localhost' and el.get('to') == one.jid,
          'carbon from %s to %s, wanted the bare JID to %s' % (el.get('from'), el.get('to'),
                                                                one.jid))
    inner = forwarded(el, 'received')
    check(inner.get('from') == alice.jid and inner.get('to') == two.jid,
          'forwarded message from %s to %s' % (inner.get('from'), inner.get('to')))
    body = inner.find('{%s}body' % NS_CLIENT)
    check(body is not None and body.text == 'carbon test r1', 'forwarded body %r' % (
        body.text if body is not None else None))
    chat(alice, three.jid, 'r1-sentinel')  # same path as a wrong copy: arrives after it
    three.wait_for(is_message('r1-sentinel'), 10, 'the sentinel at bob/three')
    no_carbon_queued(three, 'bob/three (carbons not enabled)')
    check(two.silent_for(is_carbon('received', 'r1'), 0.3), 'bob/two got a carbon of its own message')


@test
def carbons_sent_copy_reaches_other_enabled_resource(suite):
    srv = suite.server()
    alice = srv.login('cb_sa', 'desk')
    one = online(srv, 'cb_sb', 'one', enable=True)
    two = online(srv, 'cb_sb', 'two', enable=True)
    three = online(srv, 'cb_sb', 'three')
    chat(two, alice.jid, 's1')
    alice.wait_for(is_message('s1'), 10, 'the message at alice')
    el = one.wait_for(is_carbon('sent', 's1'), 10, 'the sent carbon at bob/one')
    check(el.get('from') == 'cb_sb@localhost' and el.get('to') == one.jid,
          'sent carbon from %s to %s' % (el.get('from'), el.get('to')))
    inner = forwarded(el, 'sent')
    check(inner.get('from') == two.jid and inner.get('to') == alice.jid,
          'forwarded sent message from %s to %s' % (inner.get('from'), inner.get('to')))
    chat(two, three.jid, 's1-sentinel')
    three.wait_for(is_message('s1-sentinel'), 10, 'the sentinel at bob/three')
    no_carbon_queued(three, 'bob/three (carbons not enabled)')
    check(two.silent_for(is_carbon('sent'), 0.3), 'the sender got a carbon of its own message')


@test
def carbons_private_no_copy_and_non_chat_messages_not_copied(suite):
    srv = suite.server()
    alice = srv.login('cb_pa', 'desk')
    one = online(srv, 'cb_pb', 'one', enable=True)
    two = online(srv, 'cb_pb', 'two', enable=True)
    cases = [
        ('p-private', "<private xmlns='%s'/>" % NS_CARBONS, 'chat'),
        ('p-nocopy', "<no-copy xmlns='urn:xmpp:hints'/>", 'chat'),
        ('p-headline', '', 'headline'),
        ('p-muc', "<x xmlns='http://jabber.org/protocol/muc#user'/>", 'chat'),
    ]
    for msg_id, extra, type_ in cases:
        chat(alice, two.jid, msg_id, extra, type_)  # received side
        chat(two, alice.jid, msg_id + '-out', extra, type_)  # sent side
    alice.send("<message to='%s' id='p-nobody'><thread>t</thread></message>" % two.jid)
    chat(alice, two.jid, 'p-normal', type_='normal')  # normal with a body: copied
    one.wait_for(is_carbon('received', 'p-normal'), 10, 'the carbon of a normal message')
    chat(two, alice.jid, 'p-sentinel')
    one.wait_for(is_carbon('sent', 'p-sentinel'), 10, 'the sentinel sent carbon')
    no_carbon_queued(one, 'bob/one')
    el = two.wait_for(is_message('p-private'), 10, 'the private original')
    check(el.find('{%s}private' % NS_CARBONS) is not None, 'the <private/> element was removed')
    for msg_id, _, _ in cases:
        alice.wait_for(is_message(msg_id + '-out'), 10, 'the original ' + msg_id + '-out')


@test
def carbons_disable_stops_copies(suite):
    srv = suite.server()
    alice = srv.login('cb_da', 'desk')
    one = online(srv, 'cb_db', 'one', enable=True)
    two = online(srv, 'cb_db', 'two', enable=True)
    chat(alice, two.jid, 'd1')
    one.wait_for(is_carbon('received', 'd1'), 10, 'the carbon while enabled')
    carbons(one, on=False)
    chat(alice, two.jid, 'd2')
    chat(two, alice.jid, 'd3')
    two.wait_for(is_message('d2'), 10, 'the original d2')
    alice.wait_for(is_message('d3'), 10, 'the original d3')
    chat(alice, one.jid, 'd-sentinel')
    chat(two, one.jid, 'd-sentinel2')
    one.wait_for(is_message('d-sentinel'), 10, 'the sentinel')
    one.wait_for(is_message('d-sentinel2'), 10, 'the second sentinel')
    no_carbon_queued(one, 'bob/one after disabling')
    carbons(one)
    chat(alice, two.jid, 'd4')
    one.wait_for(is_carbon('received', 'd4'), 10, 'the carbon after enabling again')


@test
def carbons_bare_jid_message_no_copy_to_resource_that_got_original(suite):
    srv = suite.server()
    alice = srv.login('cb_ba', 'desk')
    high = online(srv, 'cb_bb', 'high', priority=5, enable=True)
    low = online(srv, 'cb_bb', 'low', priority=1, enable=True)
    chat(alice, 'cb_bb@localhost', 'b1')
    high.wait_for(is_message('b1'), 10, 'the original at the highest priority')
    el = low.wait_for(is_carbon('received', 'b1'), 10, 'the carbon at the lower priority')
    check(forwarded(el, 'received').get('to') == 'cb_bb@localhost', 'forwarded to %s' %
          forwarded(el, 'received').get('to'))
    chat(alice, low.jid, 'b1-sentinel')  # high gets a carbon of this one, after any wrong copy
    high.wait_for(is_carbon('received', 'b1-sentinel'), 10, 'the sentinel carbon')
    no_carbon_queued(high, 'the resource that got the original')
    check(low.silent_for(is_message('b1'), 0.2), 'the lower priority got the original too')
    # Equal priorities: both get the original, neither a copy.
    low.send('<presence><priority>5</priority></presence>')
    low.ping()
    chat(alice, 'cb_bb@localhost', 'b2')
    high.wait_for(is_message('b2'), 10, 'b2 at high')
    low.wait_for(is_message('b2'), 10, 'b2 at low')
    chat(alice, low.jid, 'b2-sentinel')
    high.wait_for(is_carbon('received', 'b2-sentinel'), 10, 'the second sentinel carbon')
    no_carbon_queued(high, 'high, with equal priorities')


def slix(srv, **kw):
    cmd = [SLIX_PYTHON, os.path.abspath(__file__), '127.0.0.1', str(srv.starttls_port)] + \
        ['%s=%s' % kv for kv in kw.items()]
    r = run(cmd, timeout=60)
    check(r.returncode == 0, 'slixmpp carbons: exit %d: %s' % (r.returncode,
                                                               r.stderr.strip()[-300:]))
    lines = r.stdout.strip().splitlines()
    check(lines, 'slixmpp carbons printed nothing')
    return json.loads(lines[-1])


@test
def slixmpp_carbons_enable_and_receive_copies(suite):
    srv = suite.server()
    a, apw = srv.user('cb_slixa')
    b, bpw = srv.user('cb_slixb')
    out = slix(srv, jid=a, pw=apw, peer=b, peer_pw=bpw)
    check(out['received'] == [{'from': a + '/other', 'to': b + '/phone', 'body': 'to phone'}],
          'slixmpp received carbons: %s' % out['received'])
    check(out['sent'] == [{'from': b + '/phone', 'to': a + '/other', 'body': 'from phone'}],
          'slixmpp sent carbons: %s' % out['sent'])
    check(out['direct'] == ['to phone'], 'bob/phone got %s' % out['direct'])


# --- the slixmpp side, run by slix() as: tests_carbons.py HOST PORT KEY=VALUE... ----------------

async def _slix_scenario(args):
    from slix_im import Client, logout, until

    async def login(jid, pw):
        c = Client(jid, pw)
        c.register_plugin('xep_0280')
        c.connect(address=(args['host'], int(args['port'])), force_starttls=True)
        await asyncio.wait_for(c.ready, 15)
        c.send_presence()
        return c

    desk = await login(args['peer'] + '/desk', args['peer_pw'])
    phone = await login(args['peer'] + '/phone', args['peer_pw'])
    other = await login(args['jid'] + '/other', args['pw'])
    got = {'received': [], 'sent': []}

    def keep(kind):
        def on(msg):
            inner = msg['carbon_%s' % kind]
            got[kind].append({'from': str(inner['from']), 'to': str(inner['to']),
                              'body': inner['body']})
        return on

    desk.add_event_handler('carbon_received', keep('received'))
    desk.add_event_handler('carbon_sent', keep('sent'))
    await desk['xep_0280'].enable(timeout=10)
    other.send_message(mto=phone.boundjid, mbody='to phone', mtype='chat')
    phone.send_message(mto=other.boundjid, mbody='from phone', mtype='chat')
    await until(lambda: got['received'] and got['sent'], 10)
    await until(lambda: any(m['body'] == 'from phone' for m in other.messages), 5)
    got['direct'] = [m['body'] for m in phone.messages if m['type'] == 'chat']
    for c in (desk, phone, other):
        await logout(c)
    return got


def _slix_main():
    args = {'host': sys.argv[1], 'port': sys.argv[2]}
    args.update(kv.split('=', 1) for kv in sys.argv[3:])
    loop = asyncio.get_event_loop()
    try:
        out = loop.run_until_complete(asyncio.wait_for(_slix_scenario(args), 40))
    except Exception as e:  # reported to the test, which fails with it
        sys.exit('slixmpp carbons: %s: %s' % (type(e).__name__, e))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
    print(json.dumps(out))


if __name__ == '__main__':
    _slix_main()
