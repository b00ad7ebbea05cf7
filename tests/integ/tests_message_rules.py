# Integration tests of RFC 6121 section 8: what the server does with each message type sent to a
# bare or full JID of an existing account (with and without available resources) or of an
# account that does not exist, and with iq and presence to nonexistent accounts. Shared server.
from wbinteg import NS_CLIENT, check, stanza_error, test


def is_msg(msg_id, type_=None):
    def pred(el):
        return (el.tag == '{%s}message' % NS_CLIENT and el.get('id') == msg_id and
                (type_ is None or el.get('type') == type_))
    return pred


def is_iq(iq_id):
    return lambda el: el.tag == '{%s}iq' % NS_CLIENT and el.get('id') == iq_id


@test
def groupchat_to_an_account_is_service_unavailable(suite):
    srv = suite.server()
    bob, _ = srv.user('mrgcbob')
    a = srv.login('mrgcalice')
    b = srv.login('mrgcbob', 'phone')
    b.send('<presence/>')
    b.ping()
    a.send("<message to='%s' type='groupchat' id='g1'><body>x</body></message>" % bob)
    el = a.wait_for(is_msg('g1', 'error'), 10, 'an error for the groupchat message')
    check(stanza_error(el) == 'service-unavailable', 'error is %s' % stanza_error(el))
    check(b.silent_for(is_msg('g1'), 0.5), 'the groupchat message was delivered')


@test
def headline_to_bare_jid_reaches_every_nonnegative_resource(suite):
    srv = suite.server()
    bob, _ = srv.user('mrhlbob')
    a = srv.login('mrhlalice')
    hi = srv.login('mrhlbob', 'hi')
    lo = srv.login('mrhlbob', 'lo')
    neg = srv.login('mrhlbob', 'neg')
    hi.send('<presence><priority>5</priority></presence>')
    lo.send('<presence><priority>0</priority></presence>')
    neg.send('<presence><priority>-1</priority></presence>')
    for c in (hi, lo, neg):
        c.ping()
    a.send("<message to='%s' type='headline' id='h1'><body>news</body></message>" % bob)
    hi.wait_for(is_msg('h1'), 10, 'the headline on the priority-5 resource')
    lo.wait_for(is_msg('h1'), 10, 'the headline on the priority-0 resource')
    check(neg.silent_for(is_msg('h1'), 0.5), 'a negative-priority resource got the headline')


@test
def headline_to_unavailable_full_jid_is_dropped_silently(suite):
    srv = suite.server()
    bob, _ = srv.user('mrhfbob')
    a = srv.login('mrhfalice')
    a.send("<message to='%s/gone' type='headline' id='h2'><body>news</body></message>" % bob)
    check(a.silent_for(is_msg('h2', 'error'), 1.0), 'an error came back for a headline')


@test
def chat_to_unavailable_full_jid_goes_to_another_resource(suite):
    srv = suite.server()
    bob, _ = srv.user('mrcfbob')
    a = srv.login('mrcfalice')
    b = srv.login('mrcfbob', 'desk')
    b.send('<presence/>')
    b.ping()
    a.send("<message to='%s/gone' type='chat' id='c1'><body>hello</body></message>" % bob)
    el = b.wait_for(is_msg('c1'), 10, 'the message on the other resource')
    check(el.get('type') == 'chat', 'type changed')


@test
def iq_to_nonexistent_account_is_service_unavailable(suite):
    srv = suite.server()
    a = srv.login('mriqalice')
    a.send("<iq type='get' to='nobody-here@localhost' id='q1'>"
           "<query xmlns='jabber:iq:version'/></iq>")
    el = a.wait_for(is_iq('q1'), 10, 'the answer')
    check(el.get('type') == 'error' and stanza_error(el) == 'service-unavailable',
          'answer %s/%s' % (el.get('type'), stanza_error(el)))


@test
def error_message_to_nonexistent_account_gets_no_reply(suite):
    srv = suite.server()
    a = srv.login('mrerralice')
    a.send("<message to='nobody-here@localhost' type='error' id='e1'>"
           "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
           "</error></message>")
    check(a.silent_for(is_msg('e1'), 1.0), 'an error message was answered')


@test
def message_to_remote_domain_is_remote_server_not_found(suite):
    srv = suite.server()
    a = srv.login('mrremalice')
    a.send("<message to='someone@elsewhere.invalid' type='chat' id='r1'><body>hi</body></message>")
    el = a.wait_for(is_msg('r1', 'error'), 10, 'the error')
    check(stanza_error(el) == 'remote-server-not-found', 'error is %s' % stanza_error(el))
