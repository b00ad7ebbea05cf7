# Integration tests of XEP-0077 in-band registration: closed by default, open and invite-only
# registration, invite tokens from warblerctl, per-address limit, password change, cancellation.
import threading

from wbinteg import Failure, Server, XmppConn, check, local_name, run, stanza_error, test

NS_REG = 'jabber:iq:register'
NS_REG_FEATURE = 'http://jabber.org/features/iq-register'
NS_DATA = 'jabber:x:data'


def reg_config(enabled=True, invite_only=False, per_address=100):
    return 'register = { enabled = %s; invite_only = %s; per_address = %d; window = 3600; };\n' % (
        'true' if enabled else 'false', 'true' if invite_only else 'false', per_address)


def configured(srv, text):
    with open(srv.conf, 'a') as f:
        f.write(text)
    return srv


def reg_server(suite, name, **kw):
    """A server with registration configured, started once and kept like suite.server()."""
    entry = suite.named.get(name)
    if entry is None:
        srv = configured(Server(suite, name), reg_config(**kw))
        entry = suite.named[name] = [srv, None]
        try:
            srv.start()
        except Failure as e:
            entry[1] = e
    srv, error = entry
    suite.note_server(srv)
    if error is not None:
        raise error
    return srv


def preauth(srv, domain='localhost'):
    """A stream after STARTTLS, not authenticated; returns (conn, features)."""
    c = XmppConn(srv.starttls_port, sni=domain)
    c.open(domain)
    c.starttls()
    return c, c.open(domain)


def query(user=None, password=None, token=None, extra=''):
    parts = []
    if user is not None:
        parts.append('<username>%s</username>' % user)
    if password is not None:
        parts.append('<password>%s</password>' % password)
    if token is not None:
        parts.append("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>%s</value></field>"
                     "<field var='token'><value>%s</value></field></x>" % (NS_DATA, NS_REG, token))
    return "<query xmlns='%s'>%s%s</query>" % (NS_REG, ''.join(parts), extra)


def register(srv, user, password, token=None):
    """Registers on a fresh stream; returns (conn, None) on success or (conn, error condition)."""
    c, _ = preauth(srv)
    el = c.iq('set', query(user, password, token))
    return c, (None if el.get('type') == 'result' else stanza_error(el) or 'error')


def login_error(srv, user, password):
    """None when user can log in with password (SCRAM, then bind), else the reason."""
    c = XmppConn(srv.starttls_port)
    try:
        c.login(user, password)
        return None
    except Failure as e:
        return str(e)
    finally:
        c.close()


def check_registered(srv, user, password, token=None):
    c, err = register(srv, user, password, token)
    c.close()
    check(err is None, 'registration of %s failed: %s' % (user, err))
    why = login_error(srv, user, password)
    check(why is None, 'login of the registered %s failed: %s' % (user, why))


def check_refused(srv, user, password, token, want, what):
    c, err = register(srv, user, password, token)
    c.close()
    check(err == want, '%s: registration answered %s, wanted %s' % (what, err, want))
    check(login_error(srv, user, password or 'x') is not None, '%s: account %s exists' % (
        what, user))


def has_register_feature(features):
    return features.find('{%s}register' % NS_REG_FEATURE) is not None


def create_invite(srv, *args):
    r = srv.ctl('invite', 'create', *args)
    check(r.returncode == 0, 'invite create: exit %d: %s' % (r.returncode, r.stderr.strip()[:200]))
    lines = r.stdout.splitlines()
    check(len(lines) >= 2 and len(lines[0]) >= 32, 'invite create printed %r' % r.stdout[:200])
    return lines[0]


def sql(srv, statement):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-v',
             'ON_ERROR_STOP=1', '-qAtc', statement])
    check(r.returncode == 0, 'psql: %s' % r.stderr.strip()[:200])
    return r.stdout.strip()


@test
def registration_is_closed_by_default(suite):
    srv = suite.server()
    c, feats = preauth(srv)
    check(not has_register_feature(feats), 'register feature offered although disabled')
    el = c.iq('get', query())
    check(stanza_error(el) == 'service-unavailable', 'form request answered %s' % el.attrib)
    el = c.iq('set', query('closeduser', 'some pass'))
    check(stanza_error(el) == 'service-unavailable', 'registration answered %s (%s)' % (
        el.get('type'), stanza_error(el)))
    c.close()
    check(login_error(srv, 'closeduser', 'some pass') is not None, 'account created anyway')


@test
def open_registration_creates_account_that_logs_in_on_same_stream(suite):
    srv = reg_server(suite, 'regopen')
    c, feats = preauth(srv)
    check(has_register_feature(feats), 'register feature not offered')
    el = c.iq('get', query())
    q = el.find('{%s}query' % NS_REG)
    check(el.get('type') == 'result' and q is not None, 'form request answered %s' % el.attrib)
    check(q.find('{%s}username' % NS_REG) is not None and
          q.find('{%s}password' % NS_REG) is not None, 'form lacks username/password')
    check(q.find('{%s}x/{%s}field[@var="token"]' % (NS_DATA, NS_DATA)) is None,
          'token asked for although registration is open')
    el = c.iq('set', query('newbie', 'fresh pass'))
    check(el.get('type') == 'result', 'registration answered %s' % stanza_error(el))
    ok, el = c.auth_scram('newbie', 'fresh pass')
    check(ok, 'SASL on the registering stream failed: %s' % [local_name(x.tag) for x in el])
    c.restart('localhost')
    check(c.bind('here') == 'newbie@localhost/here', 'bound as %s' % c.jid)
    c.ping()
    check(login_error(srv, 'newbie', 'fresh pass') is None, 'new stream login failed')


@test
def registration_with_taken_username_gets_conflict_and_keeps_password(suite):
    srv = reg_server(suite, 'regopen')
    check_registered(srv, 'taken', 'first pass')
    c, err = register(srv, 'Taken', 'second pass')
    c.close()
    check(err == 'conflict', 'second registration answered %s' % err)
    check(login_error(srv, 'taken', 'first pass') is None, 'the first password stopped working')
    check(login_error(srv, 'taken', 'second pass') is not None, 'the second password works')
    srv.user('ctluser')
    c, err = register(srv, 'ctluser', 'other pass')
    c.close()
    check(err == 'conflict', 'registering an account made by warblerctl answered %s' % err)


@test
def registration_with_missing_or_malformed_fields_is_refused(suite):
    srv = reg_server(suite, 'regopen')
    check_refused(srv, 'nopass', None, None, 'not-acceptable', 'no password')
    check_refused(srv, 'emptypass', '', None, 'not-acceptable', 'empty password')
    check_refused(srv, 'bad@name', 'some pass', None, 'jid-malformed', 'user name with @')
    c, _ = preauth(srv)
    el = c.iq('set', query(password='x'))
    check(stanza_error(el) == 'not-acceptable', 'no user name answered %s' % stanza_error(el))
    el = c.iq('set', query(extra='<remove/>'))
    check(stanza_error(el) == 'not-authorized', 'remove before login answered %s' %
          stanza_error(el))
    # The stream stays usable after refusals: a registration on it still works.
    el = c.iq('set', query('afterrefusals', 'pass word'))
    check(el.get('type') == 'result', 'registration after refusals: %s' % stanza_error(el))
    c.close()


@test
def invite_only_registration_without_or_with_bad_token_fails(suite):
    srv = reg_server(suite, 'reginvite', invite_only=True)
    c, feats = preauth(srv)
    check(has_register_feature(feats), 'register feature not offered')
    el = c.iq('get', query())
    field = el.find('{%s}query/{%s}x/{%s}field[@var="token"]' % (NS_REG, NS_DATA, NS_DATA))
    check(field is not None, 'the form does not ask for a token')
    c.close()
    check_refused(srv, 'notoken', 'pass word', None, 'not-authorized', 'no token')
    check_refused(srv, 'wrongtoken', 'pass word', '0' * 32, 'not-authorized', 'wrong token')
    other = create_invite(srv, 'example.test')
    check_refused(srv, 'otherdomain', 'pass word', other, 'not-authorized',
                  'token of another domain')
    expired = create_invite(srv, '--expires', '1')
    sql(srv, "UPDATE invites SET expires_at = now() - interval '1 minute' WHERE id = "
             "(SELECT max(id) FROM invites)")
    check_refused(srv, 'expired', 'pass word', expired, 'not-authorized', 'expired token')
    revoked = create_invite(srv)
    invite_id = sql(srv, 'SELECT max(id) FROM invites')
    r = srv.ctl('invite', 'revoke', invite_id)
    check(r.returncode == 0, 'invite revoke: exit %d: %s' % (r.returncode, r.stderr.strip()))
    check_refused(srv, 'revoked', 'pass word', revoked, 'not-authorized', 'revoked token')


@test
def fresh_invite_token_works_once(suite):
    srv = reg_server(suite, 'reginvite', invite_only=True)
    r = srv.ctl('invite', 'create', 'localhost', '--expires', '2')
    check(r.returncode == 0, 'invite create: exit %d: %s' % (r.returncode, r.stderr.strip()))
    token = r.stdout.splitlines()[0]
    check('xmpp:localhost?register;preauth=%s' % token in r.stdout.splitlines(),
          'no preauth URI in %r' % r.stdout)
    check(token not in sql(srv, "SELECT encode(token_hash, 'hex') || domain FROM invites"),
          'the token is stored in clear')
    check_registered(srv, 'invited', 'pass word', ' %s ' % token.upper())
    check_refused(srv, 'secondinvited', 'pass word', token, 'not-authorized', 'used token')
    r = srv.ctl('invite', 'list')
    check(r.returncode == 0 and 'used by invited@localhost' in r.stdout and token not in r.stdout,
          'invite list: %r' % r.stdout[:300])
    # Two registrations racing with one token: exactly one account.
    token = create_invite(srv)
    results = {}

    def attempt(user):
        c, err = register(srv, user, 'race pass', token)
        c.close()
        results[user] = err
    threads = [threading.Thread(target=attempt, args=(u,)) for u in ('racer1', 'racer2')]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    check(sorted(results.values(), key=str) == sorted([None, 'not-authorized'], key=str),
          'racing registrations answered %s' % results)


@test
def registrations_per_address_are_limited(suite):
    srv = configured(suite.private_server('reglimit'), reg_config(per_address=2)).start()
    check_registered(srv, 'limit1', 'pass one')
    c, err = register(srv, 'limit1', 'pass again')
    c.close()
    check(err == 'conflict', 'taken name answered %s' % err)
    check_registered(srv, 'limit2', 'pass two')
    check_refused(srv, 'limit3', 'pass three', None, 'resource-constraint', 'third registration')


@test
def password_change_then_login_with_new_password(suite):
    srv = suite.server()
    jid, old = srv.user('pwchanger')
    a = srv.login('pwchanger', 'one')
    el = a.iq('get', query(), to='localhost')
    q = el.find('{%s}query' % NS_REG)
    check(el.get('type') == 'result' and q is not None and
          q.find('{%s}registered' % NS_REG) is not None, 'get answered %s' % el.attrib)
    el = a.iq('set', query('someoneelse', 'stolen pass'), to='localhost')
    check(stanza_error(el) == 'not-allowed', 'changing another password: %s' % stanza_error(el))
    el = a.iq('set', query('pwchanger'))
    check(stanza_error(el) == 'not-acceptable', 'no password answered %s' % stanza_error(el))
    el = a.iq('set', query('pwchanger', 'brand new pass'), to='localhost')
    check(el.get('type') == 'result', 'password change answered %s' % stanza_error(el))
    srv.users[jid] = 'brand new pass'
    check(login_error(srv, 'pwchanger', old) is not None, 'the old password still works')
    check(login_error(srv, 'pwchanger', 'brand new pass') is None, 'the new password fails')
    check(login_error(srv, 'someoneelse', 'stolen pass') is not None, 'someoneelse was created')
    a.ping()


@test
def cancellation_removes_account_and_closes_its_streams(suite):
    srv = suite.server()
    jid, pw = srv.user('leaver')
    a = srv.login('leaver', 'one')
    others = [srv.login('leaver', 'two', direct=True), srv.login('leaver', 'three')]
    bystander = srv.login('stayer')
    el = a.iq('set', query(extra='<remove/>'), to='localhost')
    check(el.get('type') == 'result', 'cancellation answered %s' % stanza_error(el))
    for c in [a] + others:
        c.expect_stream_error('not-authorized')
    check(login_error(srv, 'leaver', pw) is not None, 'the removed account still logs in')
    r = srv.ctl('user', 'list')
    check(r.returncode == 0 and jid not in r.stdout.split(), 'user list: %r' % r.stdout[:300])
    del srv.users[jid]
    bystander.ping()


@test
def slixmpp_registers_with_xep_0077(suite):
    srv = reg_server(suite, 'regopen')
    script = r'''
import asyncio, ssl, sys
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
class Reg(ClientXMPP):
    def __init__(self, jid, pw):
        super().__init__(jid, pw, sasl_mech='SCRAM-SHA-256')
        mechs = self['feature_mechanisms']
        default = mechs.sasl_callback
        def creds(required, optional):
            c = default(required, optional)
            c.pop('channel_binding', None)
            return c
        mechs.sasl_callback = creds
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        # slixmpp 1.8 queues every iq until the session starts, registration ones included.
        self._always_send_everything = True
        self.register_plugin('xep_0077')
        self['xep_0077'].force_registration = True
        self.result = 'no registration'
        self.add_event_handler('register', self.on_register)
        self.add_event_handler('session_start', self.on_session)
        self.add_event_handler('failed_all_auth', lambda e: self.disconnect())
    async def on_register(self, _):
        iq = self.Iq()
        iq['type'] = 'set'
        iq['register']['username'] = self.boundjid.user
        iq['register']['password'] = self.password
        try:
            await iq.send()
            self.result = 'registered'
        except (IqError, IqTimeout) as e:
            self.result = 'refused %s' % e
            self.disconnect()
    def on_session(self, _):
        print(self.result, 'session', flush=True)
        self.disconnect()
x = Reg(sys.argv[1], sys.argv[2])
x.connect(('127.0.0.1', int(sys.argv[3])))
x.loop.run_until_complete(asyncio.wait_for(x.disconnected, 20))
'''
    r = run(['/usr/bin/python3', '-c', script, 'slixuser@localhost', 'slix pass',
             str(srv.starttls_port)], timeout=40)
    check('registered session' in r.stdout, 'slixmpp: exit %d: %s %s' % (
        r.returncode, r.stdout.strip()[-200:], r.stderr.strip()[-300:]))
    check(login_error(srv, 'slixuser', 'slix pass') is None, 'slixmpp account cannot log in')



@test
def registration_while_database_is_gone_gets_temporary_error(suite):
    srv = configured(suite.private_server('regnodb'), reg_config()).start()
    check_registered(srv, 'beforedrop', 'pass word')
    suite.pg.psql('drop database %s with (force)' % srv.db)
    c, err = register(srv, 'afterdrop', 'pass word')
    check(err == 'internal-server-error', 'registration without database answered %s' % err)
    c.close()
    check(srv.running(), 'server died when the database went away')
