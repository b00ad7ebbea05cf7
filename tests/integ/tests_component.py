# Integration tests of external components (XEP-0114, jabber:component:accept): handshake, routing
# both ways between local users and a component, stream errors, bounces while it is offline, disco.
import hashlib
import subprocess

from wbinteg import (NS_CLIENT, Closed, Failure, Server, XmppConn, check, free_ports, local_name,
                     stanza_error, test)

NS_COMP = 'jabber:component:accept'
NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
BOT, BOT_SECRET = 'bot.localhost', 'bot s3cret & <more>'
OFF = 'offbot.localhost'
SLIX, SLIX_SECRET = 'slix.localhost', 'slix-secret'
SLIX_PYTHON = '/usr/bin/python3'
# The slixmpp component (run with SLIX_PYTHON): connects as DOMAIN with SECRET, prints "ready" after
# the handshake and echoes every chat message back as "echo: BODY" until terminated.
SLIX_ECHO = '''
import asyncio, sys
from slixmpp import ComponentXMPP

class Echo(ComponentXMPP):
    def __init__(self, domain, secret, host, port):
        super().__init__(domain, secret, host, port)
        self.add_event_handler('session_start', lambda _e: print('ready', flush=True))
        self.add_event_handler('message', self.on_message)

    def on_message(self, msg):
        if msg['type'] in ('chat', 'normal'):
            msg.reply('echo: %s' % msg['body']).send()

xmpp = Echo(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
xmpp.connect()
asyncio.get_event_loop().run_until_complete(asyncio.sleep(60))
'''


def comp_server(suite):
    """A shared server with a component listener and three components (started on first use)."""
    entry = suite.named.get('component')
    if entry is None:
        srv = Server(suite, 'component')
        srv.comp_port = free_ports(1)[0]
        with open(srv.conf) as f:
            text = f.read()
        text = text.replace('listeners = ( ', 'listeners = ( { type = "component"; port = %d; },\n'
                            '              ' % srv.comp_port, 1)
        text += ('components = ( { domain = "%s"; secret = "%s"; },\n'
                 '               { domain = "%s"; secret = "never-connected"; },\n'
                 '               { domain = "%s"; secret = "%s"; } );\n'
                 % (BOT, BOT_SECRET, OFF, SLIX, SLIX_SECRET))
        with open(srv.conf, 'w') as f:
            f.write(text)
        entry = suite.named['component'] = [srv, None]
        try:
            srv.start()
        except Failure as e:
            entry[1] = e
    srv, error = entry
    suite.note_server(srv)
    if error is not None:
        raise error
    return srv


def comp_open(srv, domain=BOT, ns=NS_COMP):
    """A raw component connection with its stream opened (header received)."""
    c = XmppConn(srv.comp_port)
    c.send("<?xml version='1.0'?><stream:stream xmlns='%s' "
           "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % (ns, domain))
    c.wait_header()
    return c


def comp_login(srv, domain=BOT, secret=BOT_SECRET):
    c = comp_open(srv, domain)
    check(c.header.get('from') == domain, 'stream header from %s' % c.header.get('from'))
    sid = c.header.get('id')
    check(sid, 'no stream id in the header')
    c.send('<handshake>%s</handshake>' % hashlib.sha1((sid + secret).encode()).hexdigest())
    el = c.wait_for(None, 10, 'the handshake answer')
    check(el.tag == '{%s}handshake' % NS_COMP and len(el) == 0 and not (el.text or '').strip(),
          'handshake answered with %s' % el.tag)
    return c


def ctag(name):
    return lambda el: el.tag == '{%s}%s' % (NS_COMP, name)


def is_tag(name, **attrs):
    def pred(el):
        return el.tag == '{%s}%s' % (NS_CLIENT, name) and all(
            el.get(k) == v for k, v in attrs.items())
    return pred


def body_of(el, ns=NS_CLIENT):
    b = el.find('{%s}body' % ns)
    return b.text if b is not None else None


@test
def component_handshake_then_messages_both_ways(suite):
    srv = comp_server(suite)
    bot = comp_login(srv)
    u = srv.login('compuser', 'pc')
    u.send("<message to='%s' type='chat' id='c1'><body>hi bot</body></message>" % BOT)
    el = bot.wait_for(lambda e: ctag('message')(e) and e.get('id') == 'c1', 10, 'the message')
    check(el.get('from') == u.jid and el.get('to') == BOT, 'component got %s' % el.attrib)
    check(body_of(el, NS_COMP) == 'hi bot', 'body %r' % body_of(el, NS_COMP))
    bot.send("<message from='%s' to='%s' type='chat' id='r1'><body>hello &amp; welcome</body>"
             "</message>" % (BOT, u.jid))
    el = u.wait_for(is_tag('message', id='r1'), 10, "the component's reply")
    check(el.get('from') == BOT and body_of(el) == 'hello & welcome',
          'user got %s %r' % (el.attrib, body_of(el)))
    # Any JID at the component's domain goes down its stream; the component speaks for its users.
    u.send("<message to='eliza@%s/x' id='c2'><body>to a bot user</body></message>" % BOT)
    el = bot.wait_for(lambda e: ctag('message')(e) and e.get('id') == 'c2', 10, 'message 2')
    check(el.get('to') == 'eliza@%s/x' % BOT, 'to is %s' % el.get('to'))
    bot.send("<message from='eliza@%s/x' to='%s' id='r2'><body>I am Eliza</body></message>"
             % (BOT, u.jid))
    el = u.wait_for(is_tag('message', id='r2'), 10, "Eliza's reply")
    check(el.get('from') == 'eliza@%s/x' % BOT, 'from is %s' % el.get('from'))
    # A stanza that declares the component namespace itself reaches the user in jabber:client.
    bot.send("<message xmlns='%s' from='%s' to='%s' id='r3'><body>declared</body></message>"
             % (NS_COMP, BOT, u.jid))
    el = u.wait_for(is_tag('message', id='r3'), 10, 'the message with its own xmlns')
    check(body_of(el) == 'declared', 'body %r' % body_of(el))
    bot.close()


@test
def component_iq_round_trips(suite):
    srv = comp_server(suite)
    bot = comp_login(srv)
    u = srv.login('compiq', 'pc')
    u.send("<iq type='get' id='q1' to='%s'><query xmlns='%s'/></iq>" % (BOT, NS_DISCO_INFO))
    el = bot.wait_for(lambda e: ctag('iq')(e) and e.get('id') == 'q1', 10, 'the iq')
    check(el.get('type') == 'get' and el.get('from') == u.jid, 'component got %s' % el.attrib)
    bot.send("<iq type='result' id='q1' from='%s' to='%s'><query xmlns='%s'>"
             "<identity category='component' type='generic' name='Bot'/></query></iq>"
             % (BOT, u.jid, NS_DISCO_INFO))
    el = u.wait_for(is_tag('iq', id='q1'), 10, 'the result')
    check(el.get('type') == 'result' and el.get('from') == BOT, 'user got %s' % el.attrib)
    # The component asks the server itself (a ping) and gets the answer down its stream.
    bot.send("<iq type='get' id='p1' from='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
             % BOT)
    el = bot.wait_for(lambda e: ctag('iq')(e) and e.get('id') == 'p1', 10, 'the ping answer')
    check(el.get('type') == 'result' and el.get('from') == 'localhost' and el.get('to') == BOT,
          'ping answered with %s' % el.attrib)
    # An iq without an id is refused with bad-request, to the component.
    bot.send("<iq type='get' from='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>" % BOT)
    el = bot.wait_for(ctag('iq'), 10, 'the bad-request')
    check(el.get('type') == 'error', 'iq without id answered with %s' % el.attrib)
    bot.close()


@test
def component_wrong_secret_gets_not_authorized(suite):
    srv = comp_server(suite)
    c = comp_open(srv)
    sid = c.header.get('id')
    c.send('<handshake>%s</handshake>' % hashlib.sha1((sid + 'wrong').encode()).hexdigest())
    c.expect_stream_error('not-authorized')
    # A stanza instead of the handshake is refused the same way.
    c = comp_open(srv)
    c.send("<message from='%s' to='compuser@localhost'><body>x</body></message>" % BOT)
    c.expect_stream_error('not-authorized')
    # The right digest in upper case is fine (hex is case-insensitive).
    c = comp_open(srv)
    sid = c.header.get('id')
    c.send('<handshake>%s</handshake>'
           % hashlib.sha1((sid + BOT_SECRET).encode()).hexdigest().upper())
    el = c.wait_for(None, 10, 'the handshake answer')
    check(el.tag == '{%s}handshake' % NS_COMP, 'upper-case digest answered with %s' % el.tag)
    c.close()


@test
def component_unknown_domain_gets_host_unknown(suite):
    srv = comp_server(suite)
    c = comp_open(srv, 'nobody.localhost')
    c.expect_stream_error('host-unknown')
    c = comp_open(srv, 'localhost')  # a host, not a component
    c.expect_stream_error('host-unknown')


@test
def component_wrong_namespace_gets_invalid_namespace(suite):
    srv = comp_server(suite)
    c = comp_open(srv, BOT, ns=NS_CLIENT)
    c.expect_stream_error('invalid-namespace')


@test
def component_spoofed_or_missing_addresses_close_the_stream(suite):
    srv = comp_server(suite)
    u = srv.login('compvictim', 'pc')
    bot = comp_login(srv)
    bot.send("<message from='admin@localhost' to='%s' id='s1'><body>spoof</body></message>"
             % u.jid)
    bot.expect_stream_error('invalid-from')
    check(u.silent_for(is_tag('message', id='s1'), 0.5), 'the spoofed message was delivered')
    bot = comp_login(srv)
    bot.send("<message to='%s' id='s2'><body>no from</body></message>" % u.jid)
    bot.expect_stream_error('invalid-from')
    bot = comp_login(srv)
    bot.send("<message from='%s' id='s3'><body>no to</body></message>" % BOT)
    bot.expect_stream_error('improper-addressing')
    bot = comp_login(srv)
    bot.send("<message from='x@%s' to='y@%s' id='s4'><body>spoof</body></message>" % (OFF, OFF))
    bot.expect_stream_error('invalid-from')
    u.ping()


@test
def component_offline_bounces_service_unavailable(suite):
    srv = comp_server(suite)
    u = srv.login('compoff', 'pc')
    u.send("<message to='%s' type='chat' id='o1'><body>anyone?</body></message>" % OFF)
    el = u.wait_for(is_tag('message', id='o1'), 10, 'the bounce')
    check(el.get('type') == 'error' and stanza_error(el) == 'service-unavailable',
          'message bounce: %s %s' % (el.attrib, stanza_error(el)))
    u.send("<iq type='get' id='o2' to='someone@%s'><query xmlns='%s'/></iq>" % (OFF, NS_DISCO_INFO))
    el = u.wait_for(is_tag('iq', id='o2'), 10, 'the iq bounce')
    check(el.get('type') == 'error' and stanza_error(el) == 'service-unavailable',
          'iq bounce: %s %s' % (el.attrib, stanza_error(el)))
    # After the component disconnects, its domain bounces too.
    bot = comp_login(srv)
    bot.send('</stream:stream>')
    check(bot.wait_closed(5), 'the server did not close the ended stream')
    bot.close()
    u.send("<message to='%s' type='chat' id='o3'><body>gone?</body></message>" % BOT)
    el = u.wait_for(is_tag('message', id='o3'), 10, 'the bounce after disconnect')
    check(stanza_error(el) == 'service-unavailable', 'bounce: %s' % stanza_error(el))


@test
def component_second_connection_replaces_first(suite):
    srv = comp_server(suite)
    first = comp_login(srv)
    second = comp_login(srv)
    first.expect_stream_error('conflict')
    u = srv.login('comprepl', 'pc')
    u.send("<message to='%s' id='n1'><body>which one?</body></message>" % BOT)
    second.wait_for(lambda e: ctag('message')(e) and e.get('id') == 'n1', 10,
                    'the message on the new stream')
    second.close()


@test
def component_listed_in_server_disco_items(suite):
    srv = comp_server(suite)
    u = srv.login('compdisco', 'pc')
    u.send("<iq type='get' id='d1' to='localhost'><query xmlns='%s'/></iq>" % NS_DISCO_ITEMS)
    el = u.wait_for(is_tag('iq', id='d1'), 10, 'disco#items')
    check(el.get('type') == 'result', 'disco#items answered %s' % el.attrib)
    items = [i.get('jid') for i in el.iter('{%s}item' % NS_DISCO_ITEMS)]
    check(BOT in items and OFF in items, 'items are %s' % items)


@test
def component_slixmpp_echo_bot_answers_user(suite):
    srv = comp_server(suite)
    p = subprocess.Popen([SLIX_PYTHON, '-c', SLIX_ECHO, SLIX, SLIX_SECRET,
                          '127.0.0.1', str(srv.comp_port)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()
        check(line == 'ready', 'slixmpp component: %r %s' % (line, p.stderr.read()[-300:]
                                                              if p.poll() is not None else ''))
        u = srv.login('compslix', 'pc')
        u.send("<message to='echo@%s' type='chat' id='e1'><body>ping &lt;1&gt;</body></message>"
               % SLIX)
        el = u.wait_for(is_tag('message', type='chat'), 10, 'the echo')
        check(el.get('from') == 'echo@%s' % SLIX and body_of(el) == 'echo: ping <1>',
              'echo is %s %r' % (el.attrib, body_of(el)))
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@test
def component_config_errors_are_reported(suite):
    srv = suite.private_server('compconf')
    with open(srv.conf) as f:
        text = f.read()
    text = text.replace('listeners = ( ', 'listeners = ( { type = "component"; tls = "direct"; '
                        'port = %d; },\n              ' % free_ports(1)[0], 1)
    text += ('components = ( { domain = "localhost"; secret = "x"; },\n'
             '               { domain = "dup.localhost"; secret = "x"; },\n'
             '               { domain = "dup.localhost"; secret = "y"; },\n'
             '               { domain = "nosecret.localhost"; secret = ""; },\n'
             '               { domain = "k.localhost"; secret = "x"; color = "red"; } );\n')
    with open(srv.conf, 'w') as f:
        f.write(text)
    r = subprocess.run([suite.warblerd, '-c', srv.conf], capture_output=True, text=True, timeout=20,
                       cwd=srv.dir)
    check(r.returncode != 0, 'warblerd started with a bad components list')
    for want in ("component listeners are plain TCP", "component domain 'localhost' is also a host",
                 "duplicate component domain 'dup.localhost'", "needs 'domain' and a non-empty",
                 "unknown option 'components[4].color'"):
        check(want in r.stderr, 'no error "%s" in: %s' % (want, r.stderr[-600:]))
