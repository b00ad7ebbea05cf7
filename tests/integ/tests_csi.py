# Integration tests of client state indication (XEP-0352): the stream feature, presence and chat
# states held and coalesced while inactive, flushed in order on a message, an iq or <active/>.
from wbinteg import NS_CLIENT, XmppConn, check, local_name, test

NS_CSI = 'urn:xmpp:csi:0'
NS_CHATSTATES = 'http://jabber.org/protocol/chatstates'
NS_SM = 'urn:xmpp:sm:3'
QUIET = 0.6  # seconds a held stanza must not show up


def is_stanza(el):
    return el.tag in ('{%s}message' % NS_CLIENT, '{%s}presence' % NS_CLIENT,
                      '{%s}iq' % NS_CLIENT)


def describe(el):
    """A short, comparable form of a received stanza: (kind, sender's resource, what)."""
    kind = local_name(el.tag)
    who = (el.get('from') or '').split('/')[-1]
    if kind == 'presence':
        st = el.find('{%s}status' % NS_CLIENT)
        return ('presence', who, st.text if st is not None else '')
    if kind == 'message':
        body = el.find('{%s}body' % NS_CLIENT)
        if body is not None:
            return ('body', who, body.text)
        states = [local_name(c.tag) for c in el if c.tag.startswith('{%s}' % NS_CHATSTATES)]
        return ('chatstate', who, states[0]) if states else ('message', who, '')
    return ('iq', who, el.get('type'))


def collect(c, n, what):
    return [describe(c.wait_for(is_stanza, 10, '%s (%d of %d)' % (what, i + 1, n)))
            for i in range(n)]


def presence(sender, to, status):
    sender.send("<presence to='%s'><status>%s</status></presence>" % (to, status))


def chatstate(sender, to, state):
    sender.send("<message to='%s' type='chat'><%s xmlns='%s'/></message>" % (to, state,
                                                                            NS_CHATSTATES))


def inactive(c):
    c.send("<inactive xmlns='%s'/>" % NS_CSI)
    c.ping()  # processed in order: the state is set once the ping is answered


def sync(*senders):
    for s in senders:
        s.ping()  # their stanzas were routed before the ping's answer


@test
def csi_is_offered_after_authentication_only(suite):
    srv = suite.server()
    jid, pw = srv.user('csifeat')
    c = XmppConn(srv.starttls_port)
    feats = c.open('localhost')
    check(feats.find('{%s}csi' % NS_CSI) is None, '<csi/> offered before STARTTLS')
    c.starttls()
    feats = c.open('localhost')
    check(feats.find('{%s}csi' % NS_CSI) is None, '<csi/> offered before authentication')
    ok, _ = c.auth_scram('csifeat', pw)
    check(ok, 'login refused')
    feats = c.restart('localhost')
    check(feats.find('{%s}csi' % NS_CSI) is not None, '<csi/> not offered after authentication')
    c.bind('r')
    inactive(c)
    c.send("<active xmlns='%s'/>" % NS_CSI)
    c.ping()


@test
def csi_holds_and_coalesces_presence_and_chat_states_until_a_message(suite):
    srv = suite.server()
    b = srv.login('csib', 'phone')
    a1 = srv.login('csia', 'one')
    a2 = srv.login('csia', 'two')
    inactive(b)
    # Each sender's stanzas reach the server before the next sender's (pings in between).
    presence(a1, b.jid, 's1')
    sync(a1)
    presence(a2, b.jid, 's2')
    sync(a2)
    chatstate(a1, b.jid, 'composing')
    presence(a1, b.jid, 's3')  # replaces s1
    sync(a1)
    chatstate(a2, b.jid, 'composing')
    chatstate(a2, b.jid, 'paused')  # replaces a2's composing
    sync(a2)
    check(b.silent_for(is_stanza, QUIET), 'a stanza reached the inactive client at once')
    a1.send("<message to='%s' type='chat' id='m1'><body>wake up</body></message>" % b.jid)
    got = collect(b, 5, 'the flushed stanzas')
    want = [('presence', 'two', 's2'), ('chatstate', 'one', 'composing'),
            ('presence', 'one', 's3'), ('chatstate', 'two', 'paused'), ('body', 'one', 'wake up')]
    check(got == want, 'flushed %s, wanted %s' % (got, want))
    check(b.silent_for(is_stanza, 0.5), 'more stanzas after the flush (coalescing failed)')
    # Still inactive: a new presence is held again.
    presence(a2, b.jid, 's4')
    sync(a2)
    check(b.silent_for(is_stanza, QUIET), 'presence not held after a flush while inactive')


@test
def csi_flushes_in_order_on_active_and_stops_holding(suite):
    srv = suite.server()
    b = srv.login('csiact', 'phone')
    a = srv.login('csiactpeer', 'desk')
    inactive(b)
    presence(a, b.jid, 'p1')
    chatstate(a, b.jid, 'composing')
    sync(a)
    check(b.silent_for(is_stanza, QUIET), 'a stanza reached the inactive client at once')
    b.send("<active xmlns='%s'/>" % NS_CSI)
    got = collect(b, 2, 'the flushed stanzas')
    want = [('presence', 'desk', 'p1'), ('chatstate', 'desk', 'composing')]
    check(got == want, 'flushed %s, wanted %s' % (got, want))
    presence(a, b.jid, 'p2')
    got = collect(b, 1, 'a presence while active')
    check(got == [('presence', 'desk', 'p2')], 'active client got %s' % got)


@test
def csi_flushes_before_an_iq_or_an_encrypted_message(suite):
    srv = suite.server()
    b = srv.login('csiiq', 'phone')
    a = srv.login('csiiqpeer', 'desk')
    inactive(b)
    presence(a, b.jid, 'held')
    sync(a)
    check(b.silent_for(is_stanza, QUIET), 'presence reached the inactive client at once')
    a.send("<iq type='get' id='q1' to='%s'><query xmlns='urn:example:csi'/></iq>" % b.jid)
    got = collect(b, 2, 'the flushed stanzas')
    check(got == [('presence', 'desk', 'held'), ('iq', 'desk', 'get')],
          'got %s, wanted the presence then the iq' % got)
    # An encrypted payload without a body flushes too.
    presence(a, b.jid, 'held2')
    sync(a)
    check(b.silent_for(is_stanza, QUIET), 'presence reached the inactive client at once')
    a.send("<message to='%s' type='chat' id='e1'><encrypted xmlns='urn:xmpp:omemo:2'>"
           "<payload>AAAA</payload></encrypted></message>" % b.jid)
    got = collect(b, 2, 'the flushed stanzas')
    check(got == [('presence', 'desk', 'held2'), ('message', 'desk', '')],
          'got %s, wanted the presence then the encrypted message' % got)


@test
def csi_flushed_stanzas_count_for_stream_management(suite):
    srv = suite.server()
    b = srv.login('csism', 'phone')
    a = srv.login('csismpeer', 'desk')
    b.send("<enable xmlns='%s'/>" % NS_SM)
    b.wait_for(lambda e: e.tag == '{%s}enabled' % NS_SM, 10, '<enabled/>')
    inactive(b)  # the ping's answer: 1 stanza sent
    presence(a, b.jid, 'held')
    sync(a)
    check(b.silent_for(is_stanza, QUIET), 'presence reached the inactive client at once')
    b.send("<active xmlns='%s'/>" % NS_CSI)
    collect(b, 1, 'the flushed presence')
    b.send("<a xmlns='%s' h='2'/>" % NS_SM)  # the ping's answer and the presence
    b.ping()  # the stream is still fine: the count was exact
    b.send("<a xmlns='%s' h='4'/>" % NS_SM)  # ping answer 3, nothing else was sent
    err = b.wait_for(lambda e: local_name(e.tag) == 'error', 10, 'a stream error for h=4')
    check(err is not None, 'acknowledging unsent stanzas was accepted')


@test
def csi_flushes_when_the_buffer_is_full(suite):
    srv = suite.private_server('csi-full')
    with open(srv.conf, 'a') as f:
        f.write('csi = { max_held = 3; };\n')
    srv.start()
    b = srv.login('csifull', 'phone')
    senders = [srv.login('csifullpeer', 'r%d' % i) for i in range(4)]
    inactive(b)
    for i, s in enumerate(senders[:3]):
        presence(s, b.jid, 'p%d' % i)
        sync(s)
    check(b.silent_for(is_stanza, QUIET), 'presence reached the inactive client at once')
    presence(senders[3], b.jid, 'p3')
    got = collect(b, 4, 'the flushed stanzas')
    want = [('presence', 'r%d' % i, 'p%d' % i) for i in range(4)]
    check(got == want, 'flushed %s, wanted %s' % (got, want))


def sm_resumable(srv, user, resource):
    """A bound session with resumable stream management; returns (conn, resumption id)."""
    c = srv.login(user, resource)
    c.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    el = c.wait_for(lambda e: e.tag == '{%s}enabled' % NS_SM, 10, '<enabled/>')
    return c, el.get('id')


def sm_resume(srv, user, previd, h):
    jid, pw = srv.user(user)
    c = XmppConn(srv.starttls_port)
    c.open('localhost')
    c.starttls()
    c.open('localhost')
    ok, _ = c.auth_scram(user, pw)
    check(ok, 'login of %s refused' % user)
    c.restart('localhost')
    c.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, previd, h))
    el = c.wait_for(lambda e: e.tag.startswith('{%s}' % NS_SM) and
                    local_name(e.tag) in ('resumed', 'failed'), 10, 'answer to <resume/>')
    check(local_name(el.tag) == 'resumed', 'resumption refused')
    return c


@test
def csi_state_is_not_restored_on_resumption(suite):
    srv = suite.server()
    b, previd = sm_resumable(srv, 'csires', 'phone')
    a = srv.login('csirespeer', 'desk')
    inactive(b)  # one stanza sent: the ping's answer
    presence(a, b.jid, 'held')
    sync(a)
    check(b.silent_for(is_stanza, QUIET), 'presence reached the inactive client at once')
    mark = 'connection lost, session kept'
    before = srv.log().count(mark)
    b.close()  # the TCP connection dies; the session hibernates
    for _ in range(50):
        if srv.log().count(mark) > before:
            break
        a.silent_for(is_stanza, 0.1)
    check(srv.log().count(mark) > before, 'the session did not hibernate')
    c = sm_resume(srv, 'csires', previd, 1)
    presence(a, b.jid, 'after')
    got = collect(c, 2, 'presence after the resumption')
    check(got == [('presence', 'desk', 'held'), ('presence', 'desk', 'after')],
          'resumed stream got %s (the held presence, then the new one, at once)' % got)
