# Integration tests of routing (messages, presence, iq between clients), server features (disco,
# ping, service-unavailable) and resource binding and conflicts. Raw clients, shared server.
import os
import sys

from wbinteg import (NS_CLIENT, NS_DISCO_INFO, XmppConn, cert_der, check, local_name,
                     stanza_error, test)


def is_tag(name, **attrs):
    def pred(el):
        return el.tag == '{%s}%s' % (NS_CLIENT, name) and all(
            el.get(k.rstrip('_')) == v for k, v in attrs.items())
    return pred


def body_of(el):
    b = el.find('{%s}body' % NS_CLIENT)
    return b.text if b is not None else None


@test
def server_generates_resource_when_none_requested(suite):
    srv = suite.server()
    c = srv.login('nores')
    check(c.jid.startswith('nores@localhost/') and len(c.jid) > len('nores@localhost/'),
          'bound JID without a resource: %s' % c.jid)
    d = srv.login('nores')
    check(d.jid != c.jid, 'two generated resources are equal: %s' % d.jid)
    c.ping()


@test
def message_between_full_jids_is_routed(suite):
    srv = suite.server()
    a = srv.login('msga', 'laptop')
    b = srv.login('msgb', 'phone', direct=True)
    a.send("<message to='%s' type='chat' id='m1'><body>hello &amp; welcome</body></message>"
           % b.jid)
    el = b.wait_for(is_tag('message', id='m1'), 10, 'the message')
    check(el.get('from') == a.jid, 'from is %s, wanted %s' % (el.get('from'), a.jid))
    check(body_of(el) == 'hello & welcome', 'body changed: %r' % body_of(el))


@test
def iq_between_full_jids_is_routed_and_answered(suite):
    srv = suite.server()
    a = srv.login('iqa', 'r1')
    b = srv.login('iqb', 'r2')
    a.send("<iq type='get' id='q1' to='%s'><query xmlns='urn:example:private'/></iq>" % b.jid)
    el = b.wait_for(is_tag('iq', id='q1'), 10, 'the iq')
    check(el.get('from') == a.jid and el.get('type') == 'get', 'iq arrived as %s' % el.attrib)
    b.send("<iq type='result' id='q1' to='%s'/>" % a.jid)
    el = a.wait_for(is_tag('iq', id='q1'), 10, 'the answer')
    check(el.get('type') == 'result' and el.get('from') == b.jid, 'answer is %s' % el.attrib)


@test
def directed_presence_to_full_jid_arrives(suite):
    srv = suite.server()
    a = srv.login('presa', 'home')
    b = srv.login('presb', 'work')
    b.send('<presence/>')
    a.send("<presence to='%s'><status>directed</status></presence>" % b.jid)
    el = b.wait_for(lambda e: is_tag('presence')(e) and e.get('from') == a.jid, 10,
                    'directed presence')
    check(el.get('type') is None, 'directed presence arrived with type %s' % el.get('type'))


@test
def subscription_request_to_bare_jid_reaches_contact(suite):
    srv = suite.server()
    a = srv.login('suba', 'home')
    b = srv.login('subb', 'work')
    b.send('<presence/>')
    b.ping()  # the initial presence is processed before the request arrives
    a.send("<presence to='subb@localhost' type='subscribe' id='s1'/>")
    el = b.wait_for(is_tag('presence', type='subscribe'), 10, 'subscription request')
    check(el.get('from') == 'suba@localhost',
          'request from %s, wanted the bare JID suba@localhost' % el.get('from'))


@test
def approving_a_subscription_sends_the_contacts_current_presence(suite):
    srv = suite.server()
    a = srv.login('appra', 'home')
    b = srv.login('apprb', 'desk')
    a.send('<presence/>')
    b.send('<presence><show>dnd</show><status>in a meeting</status></presence>')
    a.ping()
    b.ping()
    a.send("<presence to='apprb@localhost' type='subscribe'/>")
    b.wait_for(is_tag('presence', type='subscribe'), 10, 'subscription request')
    b.send("<presence to='appra@localhost' type='subscribed'/>")
    el = a.wait_for(is_tag('presence', type='subscribed'), 10, 'the approval')
    check(el.get('from') == 'apprb@localhost', 'approval from %s' % el.get('from'))
    el = a.wait_for(lambda e: local_name(e.tag) == 'presence' and e.get('type') is None and
                    e.get('from') == 'apprb@localhost/desk', 10, "the contact's presence")
    status = [x.text for x in el if local_name(x.tag) == 'status']
    check(status == ['in a meeting'], 'status not carried over: %r' % status)


@test
def message_to_bare_jid_goes_to_highest_priority_resource(suite):
    srv = suite.server()
    a = srv.login('prioa')
    hi = srv.login('priob', 'high')
    lo = srv.login('priob', 'low')
    hi.send('<presence><priority>5</priority></presence>')
    lo.send('<presence><priority>1</priority></presence>')
    hi.ping()
    lo.ping()
    a.send("<message to='priob@localhost' type='chat' id='p1'><body>to the best</body></message>")
    el = hi.wait_for(is_tag('message', id='p1'), 10, 'the message on the priority-5 resource')
    check(body_of(el) == 'to the best', 'body changed')
    check(lo.silent_for(is_tag('message', id='p1'), 1.0),
          'the priority-1 resource got the message too')


@test
def server_disco_info_lists_ping(suite):
    c = suite.server().login('disco')
    el = c.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, 'localhost')
    check(el.get('type') == 'result', 'disco#info answered %s (%s)' % (el.get('type'),
                                                                     stanza_error(el)))
    feats = [f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)]
    check('urn:xmpp:ping' in feats, 'urn:xmpp:ping not in %s' % feats)
    check(NS_DISCO_INFO in feats, 'disco#info not in its own features %s' % feats)


@test
def ping_to_server_is_answered(suite):
    suite.server().login('pinger', direct=True).ping('localhost')


@test
def iq_with_unknown_namespace_to_server_is_service_unavailable(suite):
    c = suite.server().login('unknownns')
    el = c.iq('get', "<query xmlns='urn:example:nobody-knows'/>", 'localhost')
    check(el.get('type') == 'error', 'answered with type %s' % el.get('type'))
    check(stanza_error(el) == 'service-unavailable', 'error is %s' % stanza_error(el))


@test
def message_to_unknown_local_account_is_service_unavailable(suite):
    c = suite.server().login('lonely')
    c.send("<message to='nobody-here@localhost' type='chat' id='u1'><body>hi</body></message>")
    el = c.wait_for(is_tag('message', id='u1'), 10, 'an error for the message')
    check(el.get('type') == 'error', 'answered with type %s' % el.get('type'))
    check(stanza_error(el) == 'service-unavailable', 'error is %s' % stanza_error(el))
    c.ping()


@test
def resource_conflict_second_login_wins(suite):
    srv = suite.server()
    first = srv.login('conflict', 'same')
    second = srv.login('conflict', 'same', direct=True)
    check(second.jid == 'conflict@localhost/same', 'second login bound %s' % second.jid)
    first.expect_stream_error('conflict')
    second.ping()
    other = srv.login('conflict2')
    other.send("<message to='conflict@localhost/same' id='c1'><body>x</body></message>")
    second.wait_for(is_tag('message', id='c1'), 10, 'a message on the winning stream')


@test
def example_test_domain_is_served_separately(suite):
    srv = suite.server()
    _, pw = srv.user('exuser', 'example.test')
    c = XmppConn(srv.starttls_port, sni='example.test')
    c.login('exuser', pw, domain='example.test')
    check(c.jid.startswith('exuser@example.test/'), 'bound %s' % c.jid)
    check(c.sock.getpeercert(True) == cert_der(os.path.join(suite.cert_dir, 'ex.crt')),
          'example.test was presented another certificate')
    c.ping('example.test')

if __name__ == '__main__':
    sys.exit('run these through run.py')
