# Integration tests of push notifications (XEP-0357): enable and disable, a notification to a test
# app server (a second local account) with counts only, coalescing, hibernated sessions, and an
# app server's error disabling the registration. Raw clients.
from wbinteg import NS_CLIENT, check, local_name, run, stanza_error, test

NS_PUSH = 'urn:xmpp:push:0'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_XDATA = 'jabber:x:data'
NS_SM = 'urn:xmpp:sm:3'
QUIET = 1.0  # seconds a notification must not show up
SECRET = 'app-secret-42'
BODY = 'the secret plaintext'


def enable(c, app_jid, node, form=True):
    x = ''
    if form:
        x = ("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>"
             "http://jabber.org/protocol/pubsub#publish-options</value></field>"
             "<field var='secret'><value>%s</value></field></x>" % (NS_XDATA, SECRET))
    return c.iq('set', "<enable xmlns='%s' jid='%s' node='%s'>%s</enable>" % (
        NS_PUSH, app_jid, node, x))


def is_publish(el):
    return (el.tag == '{%s}iq' % NS_CLIENT and el.get('type') == 'set' and
            el.find('{%s}pubsub/{%s}publish' % (NS_PUBSUB, NS_PUBSUB)) is not None)


def fields(form):
    return {f.get('var'): [v.text for v in f.findall('{%s}value' % NS_XDATA)]
            for f in form.findall('{%s}field' % NS_XDATA)}


def notification(iq):
    """(node, summary fields, publish-options fields) of a publish."""
    pub = iq.find('{%s}pubsub/{%s}publish' % (NS_PUBSUB, NS_PUBSUB))
    form = pub.find('{%s}item/{%s}notification/{%s}x' % (NS_PUBSUB, NS_PUSH, NS_XDATA))
    check(form is not None, 'publish without a notification form')
    opts = iq.find('{%s}pubsub/{%s}publish-options/{%s}x' % (NS_PUBSUB, NS_PUBSUB, NS_XDATA))
    return pub.get('node'), fields(form), fields(opts) if opts is not None else {}


def go_offline(c):
    c.send('</stream:stream>')
    c.wait_closed(5)
    c.close()


def app_server(srv, name):
    """A local account standing in for an app server; returns (conn, its full JID)."""
    app = srv.login(name, 'push')
    return app, app.jid


def answer(app, iq, error=False):
    if error:
        app.send("<iq type='error' id='%s' to='%s'><error type='cancel'><item-not-found "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                 % (iq.get('id'), iq.get('from')))
    else:
        app.send("<iq type='result' id='%s' to='%s'/>" % (iq.get('id'), iq.get('from')))


def send_body(sender, to, text=BODY):
    sender.send("<message to='%s' type='chat'><body>%s</body></message>" % (to, text))


@test
def push_enable_checks_its_request(suite):
    srv = suite.server()
    c = srv.login('pushbad', 'r')
    el = c.iq('set', "<enable xmlns='%s' node='n'/>" % NS_PUSH)
    check(el.get('type') == 'error' and stanza_error(el) == 'bad-request',
          'enable without jid answered %s %s' % (el.get('type'), stanza_error(el)))
    el = c.iq('set', "<enable xmlns='%s' jid='push.example'/>" % NS_PUSH)
    check(el.get('type') == 'error' and stanza_error(el) == 'bad-request',
          'enable without node answered %s %s' % (el.get('type'), stanza_error(el)))
    srv.user('pushother')
    el = c.iq('set', "<enable xmlns='%s' jid='push.example' node='n'/>" % NS_PUSH,
              to='pushother@localhost')
    check(el.get('type') == 'error', 'enable for another account accepted')
    el = enable(c, 'push.example', 'n')
    check(el.get('type') == 'result', 'enable refused: %s' % stanza_error(el))
    el = c.iq('set', "<disable xmlns='%s' jid='push.example' node='n'/>" % NS_PUSH)
    check(el.get('type') == 'result', 'disable refused: %s' % stanza_error(el))


@test
def push_notifies_app_server_without_body_or_sender_and_coalesces(suite):
    srv = suite.server()
    app, app_jid = app_server(srv, 'pushapp1')
    u = srv.login('pushuser1', 'phone')
    el = enable(u, app_jid, 'node-1')
    check(el.get('type') == 'result', 'enable refused: %s' % stanza_error(el))
    rows = db_query(srv, "SELECT service || ' ' || node || ' ' || "
                    "(position(convert_to('%s', 'UTF8') IN options_sealed) > 0)::text "
                    "FROM push_registrations" % SECRET)
    check('%s node-1 false' % app_jid in rows, 'registration not kept sealed: %s' % rows)
    go_offline(u)
    s = srv.login('pushsender1', 'desk')
    send_body(s, 'pushuser1@localhost')
    iq = app.wait_for(is_publish, 10, 'a push notification')
    raw = ET_tostring(iq)
    check(iq.get('from') == 'pushuser1@localhost', 'notification from %s' % iq.get('from'))
    node, summary, opts = notification(iq)
    check(node == 'node-1', 'published to node %s' % node)
    check(summary.get('FORM_TYPE') == ['urn:xmpp:push:summary'], 'summary %s' % summary)
    check(summary.get('message-count') == ['1'], 'message-count %s' % summary.get('message-count'))
    check('last-message-body' not in summary and 'last-message-sender' not in summary,
          'notification carries %s' % sorted(summary))
    check(BODY not in raw and 'pushsender1' not in raw, 'notification leaks content: %s' % raw)
    check(opts.get('secret') == [SECRET], 'publish-options not passed on: %s' % opts)
    answer(app, iq)
    # A second message within the interval: no second notification.
    send_body(s, 'pushuser1@localhost', 'again')
    check(app.silent_for(is_publish, QUIET), 'second notification within the interval')
    # The messages themselves went to offline storage.
    u = srv.login('pushuser1', 'phone')
    u.send('<presence/>')
    got = u.wait_for(lambda e: local_name(e.tag) == 'message', 10, 'the offline message')
    check(got.find('{%s}body' % NS_CLIENT).text == BODY, 'offline message changed')


@test
def push_disable_stops_notifications(suite):
    srv = suite.server()
    app, app_jid = app_server(srv, 'pushapp2')
    u = srv.login('pushuser2', 'phone')
    check(enable(u, app_jid, 'node-2').get('type') == 'result', 'enable refused')
    el = u.iq('set', "<disable xmlns='%s' jid='%s'/>" % (NS_PUSH, app_jid))
    check(el.get('type') == 'result', 'disable refused: %s' % stanza_error(el))
    go_offline(u)
    s = srv.login('pushsender2', 'desk')
    send_body(s, 'pushuser2@localhost')
    check(app.silent_for(is_publish, QUIET), 'notification after disable')


@test
def push_chat_state_alone_is_not_notified_but_encrypted_payload_is(suite):
    srv = suite.server()
    app, app_jid = app_server(srv, 'pushapp3')
    u = srv.login('pushuser3', 'phone')
    check(enable(u, app_jid, 'node-3').get('type') == 'result', 'enable refused')
    go_offline(u)
    s = srv.login('pushsender3', 'desk')
    s.send("<message to='pushuser3@localhost' type='chat'><composing "
           "xmlns='http://jabber.org/protocol/chatstates'/></message>")
    check(app.silent_for(is_publish, QUIET), 'a chat state was notified')
    # An encrypted payload without a body is worth a notification.
    s.send("<message to='pushuser3@localhost' type='chat'><encrypted "
           "xmlns='eu.siacs.conversations.axolotl'><header sid='1'/><payload>AAAA</payload>"
           "</encrypted></message>")
    iq = app.wait_for(is_publish, 10, 'a notification for an encrypted message')
    _, summary, _ = notification(iq)
    check(summary.get('message-count') == ['1'], 'count %s' % summary.get('message-count'))
    check('AAAA' not in ET_tostring(iq), 'the ciphertext reached the app server')


@test
def push_notifies_for_a_hibernated_session(suite):
    srv = suite.server()
    app, app_jid = app_server(srv, 'pushapp4')
    u = srv.login('pushuser4', 'phone')
    u.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    u.wait_for(lambda e: e.tag == '{%s}enabled' % NS_SM, 10, '<enabled/>')
    u.send('<presence/>')
    check(enable(u, app_jid, 'node-4').get('type') == 'result', 'enable refused')
    s = srv.login('pushsender4', 'desk')
    send_body(s, u.jid, 'while connected')
    u.wait_for(lambda e: local_name(e.tag) == 'message', 10, 'the message while connected')
    check(app.silent_for(is_publish, 0.5), 'notification for a connected session')
    mark = 'connection lost, session kept'
    before = srv.log().count(mark)
    u.close()  # TCP gone without </stream:stream>: the session hibernates
    for _ in range(50):
        if srv.log().count(mark) > before:
            break
        app.silent_for(is_publish, 0.1)
    check(srv.log().count(mark) > before, 'the session did not hibernate')
    send_body(s, 'pushuser4@localhost', 'while hibernated')
    iq = app.wait_for(is_publish, 10, 'a notification for the hibernated session')
    node, summary, _ = notification(iq)
    check(node == 'node-4' and summary.get('message-count') == ['1'],
          'notification %s %s' % (node, summary))
    answer(app, iq)


@test
def push_error_from_app_server_disables_registration_and_config_adds_body(suite):
    srv = suite.private_server('push-err')
    with open(srv.conf, 'a') as f:
        f.write('push = { min_interval = 0; include_sender = true; include_body = true; };\n')
    srv.start()
    app, app_jid = app_server(srv, 'pushapp5')
    u = srv.login('pushuser5', 'phone')
    check(enable(u, app_jid, 'node-5', form=False).get('type') == 'result', 'enable refused')
    go_offline(u)
    s = srv.login('pushsender5', 'desk')
    send_body(s, 'pushuser5@localhost', 'first')
    iq = app.wait_for(is_publish, 10, 'the first notification')
    _, summary, opts = notification(iq)
    check(summary.get('message-count') == ['1'], 'first count %s' % summary.get('message-count'))
    check(summary.get('last-message-body') == ['first'], 'body not included: %s' % summary)
    check(summary.get('last-message-sender') == ['pushsender5@localhost'],
          'sender not included: %s' % summary)
    check(opts == {}, 'publish-options without a form: %s' % opts)
    answer(app, iq)
    send_body(s, 'pushuser5@localhost', 'second')
    iq = app.wait_for(is_publish, 10, 'the second notification (no coalescing at 0 s)')
    _, summary, _ = notification(iq)
    check(summary.get('message-count') == ['2'], 'second count %s' % summary.get('message-count'))
    answer(app, iq, error=True)
    app.ping()
    app.silent_for(is_publish, 0.5)  # the registration's removal reaches the database
    send_body(s, 'pushuser5@localhost', 'third')
    check(app.silent_for(is_publish, QUIET), 'notification after the app server refused one')


def db_query(srv, q):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-XtAc', q])
    check(r.returncode == 0, 'psql: %s' % r.stderr.strip()[:200])
    return r.stdout.splitlines()


def ET_tostring(el):
    import xml.etree.ElementTree as ET
    return ET.tostring(el, encoding='unicode')
