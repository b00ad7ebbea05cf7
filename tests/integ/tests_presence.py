# Integration tests of subscriptions (RFC 6121 section 3) and presence to contacts (section 4):
# the full flow to "both", pending requests, pre-approval, cancellation, probes, and slixmpp.
# Run as a script, this file is the slixmpp side of the last test (two clients in one loop).
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SLIX_PYTHON = '/usr/bin/python3'

# ---- the slixmpp side (run as a script) ----------------------------------------------------

def slix_main(j1, p1, j2, p2, host, port):
    import asyncio
    import ssl
    from slixmpp import ClientXMPP

    loop = asyncio.get_event_loop()
    seen = {}

    class Client(ClientXMPP):
        def __init__(self, jid, password, peer, first):
            super().__init__(jid, password, sasl_mech='SCRAM-SHA-256')
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
            self.peer, self.first = peer, first
            self.auto_authorize = True
            self.auto_subscribe = True
            mechs = self['feature_mechanisms']
            default = mechs.sasl_callback

            def credentials(required, optional):
                creds = default(required, optional)
                if 'channel_binding' in creds:
                    creds['channel_binding'] = None
                return creds
            mechs.sasl_callback = credentials
            self.add_event_handler('session_start', self.on_start)
            self.add_event_handler('presence_available', self.on_available)

        async def on_start(self, _event):
            await self.get_roster()
            self.send_presence()
            if self.first:
                await asyncio.sleep(0.3)  # the peer is online and may answer
                self.send_presence_subscription(pto=self.peer)

        def on_available(self, pres):
            if pres['from'].bare == self.peer:
                seen[self.boundjid.bare] = True

    def both_ways():
        return len(seen) == 2 and all(c.client_roster[c.peer]['subscription'] == 'both'
                                      for c in (c1, c2))

    async def watch():
        while not both_ways():
            await asyncio.sleep(0.1)

    c1 = Client(j1, p1, j2, True)
    c2 = Client(j2, p2, j1, False)
    c2.connect(address=(host, int(port)), force_starttls=True)
    c1.connect(address=(host, int(port)), force_starttls=True)
    try:
        loop.run_until_complete(asyncio.wait_for(watch(), 30))
    except asyncio.TimeoutError:
        print('timed out; available seen by: %s; subscriptions: %s' % (
            list(seen), [c.client_roster[c.peer]['subscription'] for c in (c1, c2)]),
            file=sys.stderr)
        sys.exit(1)
    finally:
        c1.disconnect()
        c2.disconnect()
        try:
            loop.run_until_complete(asyncio.wait_for(
                asyncio.gather(c1.disconnected, c2.disconnected), 5))
        except asyncio.TimeoutError:
            pass
    print('ok', flush=True)


if __name__ == '__main__':
    if len(sys.argv) != 7:
        sys.exit('usage: tests_presence.py JID1 PW1 JID2 PW2 HOST PORT')
    slix_main(*sys.argv[1:])
    sys.exit(0)

from wbinteg import NS_CLIENT, check, test  # noqa: E402
from tests_roster import is_push, items_of, roster_get  # noqa: E402



def is_presence(type_=None, from_=None):
    def pred(el):
        return (el.tag == '{%s}presence' % NS_CLIENT and el.get('type') == type_ and
                (from_ is None or el.get('from') == from_))
    return pred


def sub_of(push, jid):
    item = items_of(push)[jid]
    return item.get('subscription'), item.get('ask')


def online(srv, user, resource='r'):
    c = srv.login(user, resource)
    roster_get(c)
    c.send('<presence/>')
    c.wait_for(is_presence(None, c.jid), 10, 'own presence reflected')
    return c


def bare(c):
    return c.jid.split('/')[0]


def subscribe(a, b):
    """a subscribes to b, b approves; both see the pushes and a gets b's presence."""
    a.send("<presence to='%s' type='subscribe'/>" % bare(b))
    push = a.wait_for(is_push(bare(b)), 10, 'push of the pending subscription')
    check(sub_of(push, bare(b))[1] == 'subscribe', 'no ask=subscribe: %s' % (sub_of(push, bare(b)),))
    req = b.wait_for(is_presence('subscribe', bare(a)), 10, 'subscription request')
    check(req is not None, 'no request')
    b.send("<presence to='%s' type='subscribed'/>" % bare(a))
    push = b.wait_for(is_push(bare(a)), 10, 'push of the approval')
    check(sub_of(push, bare(a))[0] in ('from', 'both'), 'approval push %s' % (
        sub_of(push, bare(a)),))
    push = a.wait_for(is_push(bare(b)), 10, 'push of the new subscription')
    check(sub_of(push, bare(b)) in (('to', None), ('both', None)), 'subscriber push %s' % (
        sub_of(push, bare(b)),))
    a.wait_for(is_presence('subscribed', bare(b)), 10, 'subscribed')
    a.wait_for(is_presence(None, b.jid), 10, "the contact's presence after approval")


@test
def subscription_flow_to_both_and_presence_both_ways(suite):
    srv = suite.server()
    a = online(srv, 'flowa')
    b = online(srv, 'flowb')
    subscribe(a, b)
    subscribe(b, a)
    check(sub_of(roster_get(a), bare(b)) == ('both', None), 'a has %s' % (
        sub_of(roster_get(a), bare(b)),))
    a.send("<presence><show>away</show><status>lunch</status></presence>")
    el = b.wait_for(is_presence(None, a.jid), 10, 'presence update of a')
    check(el.findtext('{%s}show' % NS_CLIENT) == 'away', 'update without <show>away</show>')
    b.send("<presence><show>dnd</show></presence>")
    el = a.wait_for(is_presence(None, b.jid), 10, 'presence update of b')
    check(el.findtext('{%s}show' % NS_CLIENT) == 'dnd', 'update without <show>dnd</show>')


@test
def pending_request_redelivered_at_next_login(suite):
    srv = suite.server()
    a = online(srv, 'penda')
    b = online(srv, 'pendb')
    a.send("<presence to='pendb@localhost' type='subscribe'><status>hi there</status></presence>")
    b.wait_for(is_presence('subscribe', 'penda@localhost'), 10, 'first delivery')
    b.close()
    b = srv.login('pendb', 'again')
    check(b.silent_for(is_presence('subscribe'), 0.3), 'request delivered before presence')
    b.send('<presence/>')
    el = b.wait_for(is_presence('subscribe', 'penda@localhost'), 10, 'redelivered request')
    check(el.findtext('{%s}status' % NS_CLIENT) == 'hi there', 'status text of the request lost')
    a.send("<presence to='pendb@localhost' type='subscribe'/>")  # a duplicate: not delivered
    check(b.silent_for(is_presence('subscribe'), 0.5), 'duplicate request delivered')
    b.send("<presence to='penda@localhost' type='subscribed'/>")
    a.wait_for(is_presence('subscribed', 'pendb@localhost'), 10, 'approval')


@test
def preapproved_request_is_answered_by_the_server(suite):
    srv = suite.server()
    a = online(srv, 'prea')
    b = online(srv, 'preb')
    b.send("<presence to='prea@localhost' type='subscribed'/>")  # pre-approval, not routed
    check(a.silent_for(is_presence('subscribed'), 0.5), 'a pre-approval was routed')
    # RFC 6121 3.4: the pre-approval shows as approved='true' (the server offers the feature).
    roster_set_item = "<query xmlns='jabber:iq:roster'><item jid='prea@localhost'/></query>"
    b.iq('set', roster_set_item)
    b.wait_for(is_push('prea@localhost'), 10, 'push of the new item')
    item = items_of(roster_get(b)).get('prea@localhost')
    check(item is not None and item.get('approved') == 'true',
          'roster item without approved=true: %r' % (item.attrib if item is not None else None))
    a.send("<presence to='preb@localhost' type='subscribe'/>")
    a.wait_for(is_presence('subscribed', 'preb@localhost'), 10, 'automatic approval')
    a.wait_for(is_presence(None, b.jid), 10, "contact's presence after automatic approval")
    push = b.wait_for(is_push('prea@localhost'), 10, 'push of the approved subscription')
    check(sub_of(push, 'prea@localhost')[0] == 'from', 'b has %s' % (
        sub_of(push, 'prea@localhost'),))
    check(b.silent_for(is_presence('subscribe'), 0.3), 'pre-approved request delivered')


@test
def unsubscribe_and_unsubscribed_from_both(suite):
    srv = suite.server()
    a = online(srv, 'unsa')
    b = online(srv, 'unsb')
    subscribe(a, b)
    subscribe(b, a)
    a.send("<presence to='unsb@localhost' type='unsubscribe'/>")
    check(sub_of(a.wait_for(is_push('unsb@localhost'), 10, 'push'), 'unsb@localhost')[0] ==
          'from', 'after unsubscribe a is not "from"')
    b.wait_for(is_presence('unsubscribe', 'unsa@localhost'), 10, 'unsubscribe')
    check(sub_of(b.wait_for(is_push('unsa@localhost'), 10, 'push'), 'unsa@localhost')[0] ==
          'to', 'after unsubscribe b is not "to"')
    a.wait_for(is_presence('unavailable', b.jid), 10, 'unavailable after unsubscribe')
    a.send("<presence to='unsb@localhost' type='unsubscribed'/>")
    check(sub_of(a.wait_for(is_push('unsb@localhost'), 10, 'push'), 'unsb@localhost')[0] ==
          'none', 'after unsubscribed a is not "none"')
    b.wait_for(is_presence('unsubscribed', 'unsa@localhost'), 10, 'unsubscribed')
    check(sub_of(b.wait_for(is_push('unsa@localhost'), 10, 'push'), 'unsa@localhost')[0] ==
          'none', 'after unsubscribed b is not "none"')
    b.wait_for(is_presence('unavailable', a.jid), 10, 'unavailable after unsubscribed')
    a.send("<presence><status>secret</status></presence>")
    check(b.silent_for(is_presence(None, a.jid), 0.5), 'presence still flows after cancelling')
    a.send("<presence to='unsb@localhost' type='unsubscribed'/>")  # out of state: ignored
    check(b.silent_for(is_presence('unsubscribed'), 0.3), 'out-of-state unsubscribed delivered')


@test
def roster_remove_cancels_both_subscriptions(suite):
    srv = suite.server()
    a = online(srv, 'rema')
    b = online(srv, 'remb')
    subscribe(a, b)
    subscribe(b, a)
    el = a.iq('set', "<query xmlns='jabber:iq:roster'><item jid='remb@localhost' "
                     "subscription='remove'/></query>")
    check(el.get('type') == 'result', 'remove answered with %s' % el.get('type'))
    b.wait_for(is_presence('unsubscribe', 'rema@localhost'), 10, 'unsubscribe on remove')
    b.wait_for(is_presence('unsubscribed', 'rema@localhost'), 10, 'unsubscribed on remove')
    b.wait_for(is_presence('unavailable', a.jid), 10, 'unavailable on remove')
    check(sub_of(roster_get(b), 'rema@localhost')[0] == 'none', 'the contact still subscribed')


@test
def subscribe_to_unknown_account_answered_unsubscribed(suite):
    srv = suite.server()
    a = online(srv, 'ghostfan')
    a.send("<presence to='nosuchuser@localhost' type='subscribe'/>")
    a.wait_for(is_presence('unsubscribed', 'nosuchuser@localhost'), 10,
               'unsubscribed from the server on behalf of a missing account')


@test
def probes_answered_at_login_and_unavailable_on_disconnect(suite):
    srv = suite.server()
    a = online(srv, 'proba')
    b = online(srv, 'probb')
    subscribe(a, b)
    subscribe(b, a)
    a.close()
    b.wait_for(is_presence('unavailable', a.jid), 10, 'unavailable when the contact disconnects')
    a = srv.login('proba', 'later')
    a.send('<presence/>')
    a.wait_for(is_presence(None, b.jid), 10, "the contact's presence answering the probe")
    b.wait_for(is_presence(None, a.jid), 10, 'the new resource announced to the contact')
    b.close()
    a.wait_for(is_presence('unavailable', b.jid), 10, 'unavailable from b')
    a.close()
    a = srv.login('proba', 'third')
    a.send('<presence/>')
    el = a.wait_for(is_presence('unavailable', 'probb@localhost'), 10,
                    'unavailable answering a probe of an offline contact')
    check(el is not None, 'no answer')


@test
def presence_not_sent_without_subscription(suite):
    srv = suite.server()
    a = online(srv, 'nosuba')
    c = online(srv, 'nosubc')
    a.send("<presence><status>private</status></presence>")
    check(c.silent_for(is_presence(None, a.jid), 0.5), 'presence leaked to a non-subscriber')
    c.send("<presence to='nosuba@localhost' type='probe'/>")
    check(c.silent_for(is_presence(None, a.jid), 0.5), 'a probe without subscription answered')


@test
def slixmpp_clients_subscribe_and_see_each_other(suite):
    srv = suite.server()
    j1, p1 = srv.user('slixroster1')
    j2, p2 = srv.user('slixroster2')
    try:
        r = subprocess.run([SLIX_PYTHON, os.path.abspath(__file__), j1, p1, j2, p2, '127.0.0.1',
                            str(srv.starttls_port)], capture_output=True, text=True, timeout=40)
    except subprocess.TimeoutExpired:
        check(False, 'slixmpp clients still running after 40 s')
    check(r.returncode == 0 and 'ok' in r.stdout,
          'slixmpp clients: %s %s' % (r.stdout.strip()[-300:], r.stderr.strip()[-500:]))


@test
def deleted_account_name_inherits_no_subscription(suite):
    srv = suite.server()
    a = online(srv, 'inha')
    b = online(srv, 'inhb')
    subscribe(a, b)
    subscribe(b, a)
    b.close()
    r = srv.ctl('user', 'delete', 'inhb@localhost')
    check(r.returncode == 0, 'user delete: %s' % r.stderr.strip()[:200])
    r = srv.ctl('user', 'add', 'inhb@localhost', '--password-file',
                srv.password_file(srv.users['inhb@localhost']))
    check(r.returncode == 0, 'user add again: %s' % r.stderr.strip()[:200])
    check('inhb@localhost' not in items_of(roster_get(a)),
          "the deleted account is still in its contact's roster")
    nb = online(srv, 'inhb', 'new')
    check(not items_of(roster_get(nb)), 'the new account starts with a roster')
    a.send("<presence><status>still here</status></presence>")
    check(nb.silent_for(is_presence(None, a.jid), 1.0),
          "the new account with the old name got the old contact's presence")


@test
def subscription_request_to_a_full_jid_is_treated_as_bare(suite):
    srv = suite.server()
    a = online(srv, 'fsuba')
    b1 = online(srv, 'fsubb', 'one')
    b2 = online(srv, 'fsubb', 'two')
    a.send("<presence to='%s' type='subscribe'/>" % b1.jid)
    for c in (b1, b2):
        el = c.wait_for(is_presence('subscribe', 'fsuba@localhost'), 10,
                        'the request on every resource of the contact')
        check(el.get('to') in (None, 'fsubb@localhost'), 'request addressed to %s' % el.get('to'))
