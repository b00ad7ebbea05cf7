# Integration tests of refusals: wrong password, stream errors (host-unknown, not-well-formed,
# restricted-xml, policy-violation, connection-timeout), each followed by a check that a logged-in
# client on the same server still works.
import sys
import time

from wbinteg import NS_SASL, XmppConn, check, local_name, run, test

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>")


def with_witness(suite, name, fn, srv=None):
    """Runs fn(server) while a logged-in client waits, then checks that client still works."""
    srv = srv or suite.server()
    witness = srv.login('witness_' + name)
    fn(srv)
    witness.ping()
    check(srv.running(), 'server died')


@test
def wrong_password_gets_not_authorized(suite):
    def body(srv):
        jid, pw = srv.user('wrongpw')
        c = XmppConn(srv.starttls_port)
        c.open('localhost')
        c.starttls()
        c.open('localhost')
        ok, el = c.auth_scram('wrongpw', pw + 'x')
        check(not ok, 'wrong password accepted')
        check(el.tag == '{%s}failure' % NS_SASL, 'answer is %s, not <failure/>' % el.tag)
        conds = [local_name(x.tag) for x in el if local_name(x.tag) != 'text']
        check(conds == ['not-authorized'], 'failure condition %s' % conds)
        r = run([suite.tool('strophe_client'), 'login', '127.0.0.1', str(srv.direct_port), jid,
                 'not the password', 'direct'], timeout=60)
        check(r.returncode == 1, 'libstrophe with a wrong password: exit %d' % r.returncode)
        srv.login('wrongpw').ping()
    # libstrophe retries with each weaker mechanism: keep these failures off the shared server,
    # whose per-address failure limit the other tests must not reach.
    with_witness(suite, 'wrongpw', body, suite.private_server('wrongpw').start())


@test
def unknown_domain_gets_host_unknown(suite):
    def body(srv):
        c = XmppConn(srv.starttls_port)
        c.send(HEADER % 'nowhere.invalid')
        c.expect_stream_error('host-unknown')
    with_witness(suite, 'hostunknown', body)


@test
def malformed_xml_gets_not_well_formed(suite):
    def body(srv):
        c = XmppConn(srv.starttls_port)
        c.open('localhost')
        c.send("<message to='a@localhost'><body>broken</bodyx></message>")
        c.expect_stream_error('not-well-formed')
    with_witness(suite, 'malformed', body)


@test
def doctype_gets_restricted_xml(suite):
    def body(srv):
        c = XmppConn(srv.starttls_port)
        c.send("<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY lol 'lol'>]>" +
               HEADER.split('?>', 1)[1] % 'localhost')
        c.expect_stream_error('restricted-xml')
    with_witness(suite, 'doctype', body)


@test
def comment_gets_restricted_xml(suite):
    def body(srv):
        c = XmppConn(srv.starttls_port)
        c.open('localhost')
        c.send('<!-- a comment -->')
        c.expect_stream_error('restricted-xml')
    with_witness(suite, 'comment', body)


@test
def processing_instruction_gets_restricted_xml(suite):
    def body(srv):
        c = XmppConn(srv.starttls_port)
        c.open('localhost')
        c.send("<?evil instruction?>")
        c.expect_stream_error('restricted-xml')
    with_witness(suite, 'pi', body)


def send_oversized(c, size=70000):
    """Sends one stanza of SIZE bytes in pieces, stopping once the server answered or closed."""
    c.send("<message to='nobody@localhost' type='chat' id='big'><body>")
    piece = b'a' * 4096
    for _ in range(size // len(piece) + 1):
        try:
            c.send(piece)
        except OSError:
            return
        c._pump(time.monotonic() + 0.005)
        if c.eof or any(local_name(e.tag) == 'error' for e in c.queue):
            return
    try:
        c.send('</body></message>')
    except OSError:
        pass


@test
def oversized_stanza_before_tls_gets_policy_violation(suite):
    def body(srv):
        c = XmppConn(srv.starttls_port)
        c.open('localhost')
        send_oversized(c)
        c.expect_stream_error('policy-violation')
    with_witness(suite, 'bigplain', body)


@test
def oversized_stanza_after_login_gets_policy_violation(suite):
    def body(srv):
        c = srv.login('bigsender')
        c.ping()
        send_oversized(c)
        c.expect_stream_error('policy-violation')
    with_witness(suite, 'bigtls', body)


@test
def stanza_just_under_limit_is_accepted(suite):
    def body(srv):
        a = srv.login('nearlimit_a')
        b = srv.login('nearlimit_b')
        text = 'b' * 60000
        a.send("<message to='%s' id='near'><body>%s</body></message>" % (b.jid, text))
        el = b.wait_for(lambda e: e.get('id') == 'near', 10, 'the 60 kB message')
        body_el = el.find('{jabber:client}body')
        check(body_el is not None and body_el.text == text, '60 kB body changed')
    with_witness(suite, 'nearlimit', body)


@test
def unfinished_header_gets_connection_timeout(suite):
    # Its own server with a short handshake timeout: the shared ones allow 20 s, so that logins
    # on a loaded machine (sanitizer builds on two cores) never hit it.
    srv = suite.private_server('timeout')
    with open(srv.conf) as f:
        text = f.read()
    with open(srv.conf, 'w') as f:
        f.write(text.replace('handshake_timeout = 20;', 'handshake_timeout = 3;'))
    srv.start()

    def body(srv):
        c = XmppConn(srv.starttls_port)
        started = time.monotonic()
        c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' to='localhost'")
        c.expect_stream_error('connection-timeout', timeout=15)
        elapsed = time.monotonic() - started
        check(2.0 <= elapsed <= 9.0, 'timed out after %.1f s, handshake_timeout is 3 s' % elapsed)
    with_witness(suite, 'timeout', body, srv)


if __name__ == '__main__':
    sys.exit('run these through run.py')
