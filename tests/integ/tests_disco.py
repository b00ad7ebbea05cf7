# Integration tests of service discovery (server and accounts), the server's entity capabilities,
# entity time, last activity and software version. Raw clients; a private server for hide options.
import base64
import datetime
import hashlib
import re
import subprocess
import time

from wbinteg import (NS_BIND, NS_DISCO_INFO, XmppConn, check, local_name, run, stanza_error,
                     test)

NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_CAPS = 'http://jabber.org/protocol/caps'
NS_TIME = 'urn:xmpp:time'
NS_LAST = 'jabber:iq:last'
NS_VERSION = 'jabber:iq:version'
NS_XML = 'http://www.w3.org/XML/1998/namespace'
CAPS_NODE = 'https://warbler.example/caps'


def info_query(node=None):
    return "<query xmlns='%s'%s/>" % (NS_DISCO_INFO, " node='%s'" % node if node else '')


def features_of(el):
    return [f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)]


def identities_of(el):
    return [(i.get('category'), i.get('type'), i.get('{%s}lang' % NS_XML) or '',
             i.get('name') or '') for i in el.iter('{%s}identity' % NS_DISCO_INFO)]


def expect_result(el, what):
    check(el.get('type') == 'result', '%s answered %s (%s)' % (what, el.get('type'),
                                                             stanza_error(el)))
    return el


def expect_error(el, condition, what):
    check(el.get('type') == 'error' and stanza_error(el) == condition,
          '%s answered %s (%s), wanted <%s/>' % (what, el.get('type'), stanza_error(el),
                                                 condition))


def caps_ver(identities, features):
    """XEP-0115 section 5.1, written independently of the server's C code."""
    s = ''.join('%s/%s/%s/%s<' % i for i in sorted(identities))
    s += ''.join(f + '<' for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode('utf-8')).digest()).decode()


@test
def server_disco_info_has_identity_and_module_features(suite):
    c = suite.server().login('discosrv')
    el = expect_result(c.iq('get', info_query(), 'localhost'), 'server disco#info')
    check(('server', 'im', '', 'Warbler') in identities_of(el),
          'server identity missing: %s' % identities_of(el))
    feats = features_of(el)
    for f in (NS_DISCO_INFO, NS_DISCO_ITEMS, 'urn:xmpp:ping', NS_VERSION, NS_TIME, NS_LAST):
        check(f in feats, '%s not among the server features %s' % (f, feats))
    check(len(set(feats)) == len(feats), 'a feature is listed twice: %s' % feats)
    items = expect_result(c.iq('get', "<query xmlns='%s'/>" % NS_DISCO_ITEMS, 'localhost'),
                          'server disco#items')
    check(items.find('{%s}query' % NS_DISCO_ITEMS) is not None, 'disco#items without <query/>')


@test
def account_disco_info_answers_for_existing_account_only(suite):
    srv = suite.server()
    a = srv.login('discoa', 'r')
    srv.user('discob')
    el = expect_result(a.iq('get', info_query(), 'discob@localhost'), 'disco#info of an account')
    check(el.get('from') == 'discob@localhost', 'answer from %s' % el.get('from'))
    check(('account', 'registered', '', '') in identities_of(el),
          'account identity missing: %s' % identities_of(el))
    feats = features_of(el)
    check(NS_DISCO_INFO in feats and NS_LAST in feats, 'account features %s' % feats)
    check('urn:xmpp:ping' not in feats and NS_TIME not in feats,
          'server-only features offered for an account: %s' % feats)
    items = expect_result(a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_ITEMS, 'discob@localhost'),
                          'disco#items of an account')
    check(len(list(items.iter('{%s}item' % NS_DISCO_ITEMS))) == 0, 'account items not empty')
    for ns in (NS_DISCO_INFO, NS_DISCO_ITEMS):
        expect_error(a.iq('get', "<query xmlns='%s'/>" % ns, 'nosuchdiscouser@localhost'),
                     'service-unavailable', '%s of a nonexistent account' % ns)
    expect_error(a.iq('get', info_query('urn:x:unknown'), 'discob@localhost'), 'item-not-found',
                 'disco#info of an unknown account node')


@test
def own_account_disco_info_without_to(suite):
    c = suite.server().login('discoself')
    el = expect_result(c.iq('get', info_query()), 'disco#info without to')
    check(('account', 'registered', '', '') in identities_of(el),
          'own account identity missing: %s' % identities_of(el))


def login_keeping_features(srv, user):
    """Logs in like XmppConn.login but returns (conn, features before auth, features after)."""
    jid, pw = srv.user(user)
    c = XmppConn(srv.direct_port, direct=True)
    before = c.open('localhost')
    ok, el = c.auth_scram(user, pw)
    check(ok, 'login of %s refused' % user)
    after = c.restart('localhost')
    check(after.find('{%s}bind' % NS_BIND) is not None, 'bind not offered after SASL')
    c.bind('caps')
    return c, before, after


@test
def caps_in_stream_features_match_server_disco_info(suite):
    srv = suite.server()
    c, before, after = login_keeping_features(srv, 'capsuser')
    check(before.find('{%s}c' % NS_CAPS) is None, 'caps offered before authentication')
    caps = after.find('{%s}c' % NS_CAPS)
    check(caps is not None, 'no caps element in the features after authentication')
    check(caps.get('hash') == 'sha-1' and caps.get('node') == CAPS_NODE,
          'caps attributes %s' % caps.attrib)
    ver = caps.get('ver') or ''
    node = '%s#%s' % (CAPS_NODE, ver)
    el = expect_result(c.iq('get', info_query(node), 'localhost'), 'disco#info of the caps node')
    q = el.find('{%s}query' % NS_DISCO_INFO)
    check(q is not None and q.get('node') == node, 'node not echoed: %s' % (
        q.attrib if q is not None else None))
    want = caps_ver(identities_of(el), features_of(el))
    check(ver == want, 'caps ver %s, computed from disco#info: %s' % (ver, want))
    plain = expect_result(c.iq('get', info_query(), 'localhost'), 'server disco#info')
    check(caps_ver(identities_of(plain), features_of(plain)) == want,
          'the caps node answer differs from the plain disco#info')
    expect_error(c.iq('get', info_query(CAPS_NODE + '#AAAA'), 'localhost'), 'item-not-found',
                 'disco#info of a wrong caps node')


@test
def entity_time_is_answered_by_server_not_account(suite):
    srv = suite.server()
    c = srv.login('timeuser', 'r')
    el = expect_result(c.iq('get', "<time xmlns='%s'/>" % NS_TIME, 'localhost'), 'entity time')
    tzo = el.findtext('{%s}time/{%s}tzo' % (NS_TIME, NS_TIME)) or ''
    utc = el.findtext('{%s}time/{%s}utc' % (NS_TIME, NS_TIME)) or ''
    check(re.fullmatch(r'[+-]\d\d:\d\d', tzo), 'tzo %r not [+-]hh:mm' % tzo)
    check(re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z', utc), 'utc %r malformed' % utc)
    then = datetime.datetime.strptime(utc[:19], '%Y-%m-%dT%H:%M:%S').replace(
        tzinfo=datetime.timezone.utc)
    skew = abs((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())
    check(skew < 60, 'server time %s is %d s off' % (utc, skew))
    srv.user('timeother')
    expect_error(c.iq('get', "<time xmlns='%s'/>" % NS_TIME, 'timeother@localhost'),
                 'service-unavailable', 'entity time of an account')


def last_query(c, to=None):
    return c.iq('get', "<query xmlns='%s'/>" % NS_LAST, to)


def seconds_of(el):
    q = el.find('{%s}query' % NS_LAST)
    check(q is not None, 'last activity result without <query/>')
    check(re.fullmatch(r'\d+', q.get('seconds') or ''), 'seconds=%r' % q.get('seconds'))
    return int(q.get('seconds')), q.text or ''


@test
def last_activity_of_server_is_its_uptime(suite):
    c = suite.server().login('lastsrv')
    first, _ = seconds_of(expect_result(last_query(c, 'localhost'), 'server last activity'))
    time.sleep(1.2)
    second, _ = seconds_of(expect_result(last_query(c, 'localhost'), 'server last activity'))
    check(first >= 0 and 1 <= second - first <= 3,
          'uptime went from %d to %d in 1.2 s' % (first, second))


def wait_last(c, to, pred, timeout=5):
    """The logout is written on the session's worker: poll until the answer satisfies pred."""
    deadline = time.monotonic() + timeout
    while True:
        el = last_query(c, to)
        if pred(el) or time.monotonic() > deadline:
            return el
        time.sleep(0.1)


@test
def last_activity_of_account_after_logout(suite):
    srv = suite.server()
    # Never logged out: no information.
    fresh = srv.login('lastfresh', 'r')
    expect_error(last_query(fresh, 'lastfresh@localhost'), 'item-not-found',
                 'last activity of an account that never logged out')
    u = srv.login('lastuser', 'one')
    u.send('<presence/>')
    u.send("<presence type='unavailable'><status>Gone &amp; fishing</status></presence>")
    u.ping()
    u.close()
    time.sleep(1.1)
    q = srv.login('lastuser', 'two')  # no presence sent: the account is offline
    el = wait_last(q, 'lastuser@localhost', lambda e: e.get('type') == 'result')
    secs, text = seconds_of(expect_result(el, 'last activity after logout'))
    check(1 <= secs <= 30, '%d seconds since a logout 1.1 s ago' % secs)
    check(text == 'Gone & fishing', 'status text %r' % text)
    # An available resource: 0 seconds.
    q.send('<presence/>')
    q.ping()
    secs, _ = seconds_of(expect_result(last_query(q), 'last activity while available'))
    check(secs == 0, '%d seconds while a resource is available' % secs)
    # A disconnection without unavailable presence is a logout without status.
    q.close()
    r = srv.login('lastuser', 'three')
    el = wait_last(r, None, lambda e: e.get('type') == 'result' and not seconds_of(e)[1])
    secs, text = seconds_of(expect_result(el, 'last activity after a dropped stream'))
    check(secs <= 5 and text == '', 'after a dropped stream: %d s, status %r' % (secs, text))


@test
def last_activity_refused_to_strangers_alike(suite):
    srv = suite.server()
    s = srv.login('laststranger', 'r')
    owner = srv.login('lastowner', 'r')
    owner.send('<presence/>')
    owner.close()
    expect_error(last_query(s, 'lastowner@localhost'), 'forbidden',
                 'last activity of an account without subscription')
    expect_error(last_query(s, 'nosuchlastuser@localhost'), 'forbidden',
                 'last activity of a nonexistent account')


def db_exec(srv, sql):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-v',
             'ON_ERROR_STOP=1', '-qc', sql])
    check(r.returncode == 0, 'psql: %s' % r.stderr.strip())


def set_subscription(srv, owner, contact, sub_to, sub_from):
    """Writes the owner's roster item for contact straight into the roster table."""
    db_exec(srv, "INSERT INTO roster_items (account_id, contact, sub_to, sub_from, in_roster) "
                 "SELECT id, '%s', %s, %s, true FROM accounts WHERE domain = 'localhost' "
                 "AND node = '%s'" % (contact, sub_to, sub_from, owner))


@test
def last_activity_of_account_to_contact_needs_from_subscription(suite):
    srv = suite.server()
    owner = srv.login('lastowner2', 'r')
    owner.send('<presence/>')
    owner.send("<presence type='unavailable'><status>brb</status></presence>")
    owner.ping()
    owner.close()
    srv.user('lastfan')
    srv.user('lastfollowed')
    set_subscription(srv, 'lastowner2', 'lastfan@localhost', 'false', 'true')
    set_subscription(srv, 'lastowner2', 'lastfollowed@localhost', 'true', 'false')
    fan = srv.login('lastfan', 'r')
    el = wait_last(fan, 'lastowner2@localhost', lambda e: e.get('type') == 'result')
    secs, text = seconds_of(expect_result(el, 'last activity for a from-subscribed contact'))
    check(secs <= 30 and text == 'brb', 'contact sees %d s, status %r' % (secs, text))
    followed = srv.login('lastfollowed', 'r')
    expect_error(last_query(followed, 'lastowner2@localhost'), 'forbidden',
                 'last activity for a contact the account only subscribes to')


@test
def storage_failure_gives_temporary_errors(suite):
    srv = suite.private_server('discostore').start()
    srv.user('dbfriend')
    c = srv.login('dbdown', 'r')
    db_exec(srv, 'ALTER TABLE last_activity RENAME TO last_activity_away')
    try:
        expect_error(last_query(c), 'internal-server-error', 'last activity, table gone')
        c.send('<presence/>')
        c.send("<presence type='unavailable'/>")  # its record fails: logged, not fatal
        c.ping()
    finally:
        db_exec(srv, 'ALTER TABLE last_activity_away RENAME TO last_activity')
    db_exec(srv, 'ALTER TABLE accounts RENAME TO accounts_away')
    try:
        expect_error(c.iq('get', info_query(), 'dbfriend@localhost'), 'internal-server-error',
                     'disco#info of an account, table gone')
    finally:
        db_exec(srv, 'ALTER TABLE accounts_away RENAME TO accounts')
    expect_result(c.iq('get', info_query(), 'dbfriend@localhost'), 'disco#info after repair')
    check('last activity not recorded' in srv.log(), 'the lost last activity was not logged')


@test
def requests_pending_at_shutdown_are_released(suite):
    srv = suite.private_server('discostop').start()
    srv.user('stopfriend')
    c = srv.login('stopper', 'r')
    expect_result(c.iq('get', info_query(), 'stopfriend@localhost'), 'disco#info before')
    # A transaction holding the tables keeps the disco and last activity queries waiting.
    locker = subprocess.Popen(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db,
                               '-q'], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        locker.stdin.write('BEGIN; LOCK TABLE accounts, last_activity IN ACCESS EXCLUSIVE MODE; '
                           'SELECT pg_sleep(30);\n')
        locker.stdin.flush()
        time.sleep(0.3)
        c.send("<iq type='get' id='held1' to='stopfriend@localhost'>%s</iq>" % info_query())
        c.send("<iq type='get' id='held2'><query xmlns='%s'/></iq>" % NS_LAST)
        check(c.silent_for(lambda e: e.get('id') in ('held1', 'held2'), 0.5),
              'answered although the tables were locked')
        srv.stop()  # fails on a leak or a crash
    finally:
        locker.kill()
        locker.wait()


def version_of(c):
    el = expect_result(c.iq('get', "<query xmlns='%s'/>" % NS_VERSION, 'localhost'), 'version')
    q = el.find('{%s}query' % NS_VERSION)
    check(q is not None, 'version result without <query/>')
    return {local_name(ch.tag): ch.text for ch in q}


@test
def software_version_respects_hide_options(suite):
    shown = version_of(suite.server().login('versionuser'))
    check(shown.get('name') == 'Warbler' and shown.get('version') and shown.get('os'),
          'default version answer %s' % shown)
    srv = suite.private_server('hideversion')
    with open(srv.conf) as f:
        text = f.read()
    check('c2s = { require_starttls = true; };' in text, 'unexpected c2s group in the config')
    with open(srv.conf, 'w') as f:
        f.write(text.replace('c2s = { require_starttls = true; };',
                             'c2s = { require_starttls = true; hide_os = true; '
                             'hide_version = true; };'))
    srv.start()
    hidden = version_of(srv.login('versionhidden'))
    check(hidden == {'name': 'Warbler'}, 'with hide_os and hide_version: %s' % hidden)
