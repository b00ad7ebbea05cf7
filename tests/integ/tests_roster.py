# Integration tests of rosters (RFC 6121 section 2) and roster versioning (XEP-0237): get, set,
# remove, pushes to interested resources only, limits and errors. Subscriptions: tests_presence.py.
from wbinteg import (NS_BIND, NS_CLIENT, NS_STREAM, XmppConn, check, local_name, run,
                     stanza_error, test)

NS_ROSTER = 'jabber:iq:roster'
NS_ROSTERVER = 'urn:xmpp:features:rosterver'
QUERY = "<query xmlns='%s'/>" % NS_ROSTER


def query_of(el):
    return el.find('{%s}query' % NS_ROSTER)


def items_of(el):
    """{jid: item element} of a roster result or push."""
    q = query_of(el)
    return {} if q is None else {i.get('jid'): i for i in q.findall('{%s}item' % NS_ROSTER)}


def groups_of(item):
    return sorted(g.text or '' for g in item.findall('{%s}group' % NS_ROSTER))


def is_push(jid=None):
    def pred(el):
        return (el.tag == '{%s}iq' % NS_CLIENT and el.get('type') == 'set' and
                query_of(el) is not None and (jid is None or jid in items_of(el)))
    return pred


def roster_get(c, ver=None):
    payload = QUERY if ver is None else "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, ver)
    el = c.iq('get', payload)
    check(el.get('type') == 'result', 'roster get answered with %s' % stanza_error(el))
    return el


def roster_set(c, item_xml):
    return c.iq('set', "<query xmlns='%s'>%s</query>" % (NS_ROSTER, item_xml))


def expect_error(el, cond, what):
    check(el.get('type') == 'error' and stanza_error(el) == cond,
          '%s answered with %s/%s, wanted %s' % (what, el.get('type'), stanza_error(el), cond))


def ack_push(c, push):
    c.send("<iq type='result' id='%s'/>" % push.get('id'))


@test
def roster_set_pushes_to_interested_resources_only(suite):
    srv = suite.server()
    a1 = srv.login('rosa', 'one')
    a2 = srv.login('rosa', 'two')
    a3 = srv.login('rosa', 'never-asked')
    check(items_of(roster_get(a1)) == {}, 'a new account has a non-empty roster')
    roster_get(a2)
    el = roster_set(a1, "<item jid='friend@localhost' name='Friend'>"
                        "<group>Pals</group><group>Work &amp; co</group></item>")
    check(el.get('type') == 'result', 'roster set answered with %s' % stanza_error(el))
    for c in (a1, a2):
        push = c.wait_for(is_push('friend@localhost'), 10, 'roster push')
        check(push.get('id'), 'roster push without id')
        item = items_of(push)['friend@localhost']
        check(item.get('name') == 'Friend' and item.get('subscription') == 'none' and
              groups_of(item) == ['Pals', 'Work & co'], 'push carries %s %s' % (
                  item.attrib, groups_of(item)))
        check(query_of(push).get('ver'), 'push without ver')
        ack_push(c, push)
    check(a3.silent_for(is_push(), 0.5), 'a resource that never asked got a roster push')
    item = items_of(roster_get(a2)).get('friend@localhost')
    check(item is not None and item.get('name') == 'Friend' and
          groups_of(item) == ['Pals', 'Work & co'], 'roster get misses the new item')


@test
def roster_item_update_and_remove(suite):
    srv = suite.server()
    a = srv.login('rosrm', 'r')
    roster_get(a)
    roster_set(a, "<item jid='pal@localhost' name='Old'><group>A</group></item>")
    a.wait_for(is_push('pal@localhost'), 10, 'first push')
    el = roster_set(a, "<item jid='pal@localhost' name='New' subscription='both'/>")
    check(el.get('type') == 'result', 'update answered with %s' % stanza_error(el))
    push = a.wait_for(is_push('pal@localhost'), 10, 'update push')
    item = items_of(push)['pal@localhost']
    check(item.get('name') == 'New' and groups_of(item) == [] and
          item.get('subscription') == 'none', 'the subscription attribute was not ignored or '
          'the update lost: %s %s' % (item.attrib, groups_of(item)))
    el = roster_set(a, "<item jid='pal@localhost' subscription='remove'/>")
    check(el.get('type') == 'result', 'remove answered with %s' % stanza_error(el))
    push = a.wait_for(is_push('pal@localhost'), 10, 'remove push')
    check(items_of(push)['pal@localhost'].get('subscription') == 'remove',
          'remove push is %s' % items_of(push)['pal@localhost'].attrib)
    check('pal@localhost' not in items_of(roster_get(a)), 'removed item still in the roster')
    expect_error(roster_set(a, "<item jid='pal@localhost' subscription='remove'/>"),
                 'item-not-found', 'removing an absent item')


def features_after_login(srv, user):
    """Logs in by hand and returns the stream features offered after SASL."""
    jid, pw = srv.user(user)
    c = XmppConn(srv.starttls_port)
    c.open('localhost')
    c.starttls()
    c.open('localhost')
    ok, _ = c.auth_scram(user, pw)
    check(ok, 'login refused')
    feats = c.restart('localhost')
    check(feats.find('{%s}bind' % NS_BIND) is not None, 'bind not offered')
    c.close()
    return feats


@test
def roster_versioning_empty_result_when_current(suite):
    srv = suite.server()
    feats = features_after_login(srv, 'rosver')
    check(feats.find('{%s}ver' % NS_ROSTERVER) is not None,
          'rosterver stream feature not offered after authentication')
    a = srv.login('rosver', 'r')
    v1 = query_of(roster_get(a)).get('ver')
    check(v1 is not None, 'roster result without ver')
    el = roster_get(a, v1)
    check(query_of(el) is None or len(query_of(el)) == 0,
          'roster get with the current ver returned items')
    roster_set(a, "<item jid='v@localhost'/>")
    push = a.wait_for(is_push('v@localhost'), 10, 'push')
    v2 = query_of(push).get('ver')
    check(v2 and v2 != v1, 'push ver %s after %s' % (v2, v1))
    el = roster_get(a, v1)
    check('v@localhost' in items_of(el) and query_of(el).get('ver') == v2,
          'roster get with an old ver did not return the roster with the new ver')
    el = roster_get(a, v2)
    check(query_of(el) is None or len(query_of(el)) == 0, 'roster get with the new ver not empty')


@test
def roster_set_errors(suite):
    srv = suite.server()
    a = srv.login('roserr', 'r')
    srv.user('rosother')
    long_name = 'x' * 1024
    cases = [
        ("<item jid='a@localhost'/><item jid='b@localhost'/>", 'bad-request', 'two items'),
        ("", 'bad-request', 'no item'),
        ("<item jid='@localhost'/>", 'jid-malformed', 'an invalid JID'),
        ("<item jid='a@localhost/res'/>", 'bad-request', 'a full JID'),
        ("<item jid='a@localhost' name='%s'/>" % long_name, 'not-acceptable', 'a long name'),
        ("<item jid='a@localhost'><group>%s</group></item>" % long_name, 'not-acceptable',
         'a long group'),
        ("<item jid='a@localhost'><group></group></item>", 'not-acceptable', 'an empty group'),
        ("<item jid='a@localhost'>%s</item>" % ''.join('<group>g%d</group>' % i
                                                      for i in range(33)),
         'not-acceptable', '33 groups'),
        ("<item jid='a@localhost'><group>g</group><group>g</group></item>", 'bad-request',
         'a repeated group'),
    ]
    for item, cond, what in cases:
        expect_error(roster_set(a, item), cond, 'roster set with ' + what)
    el = a.iq('get', QUERY, to='rosother@localhost')
    expect_error(el, 'forbidden', "roster get of someone else's account")
    el = a.iq('set', "<query xmlns='%s'><item jid='z@localhost'/></query>" % NS_ROSTER,
              to='rosother@localhost')
    expect_error(el, 'forbidden', "roster set on someone else's account")
    check(items_of(roster_get(a)) == {}, 'a refused set changed the roster')


@test
def roster_size_limit(suite):
    srv = suite.server()
    a = srv.login('rosfull', 'r')
    r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', srv.db, '-v', 'ON_ERROR_STOP=1',
             '-qc', "INSERT INTO roster_items (account_id, contact, in_roster) "
             "SELECT a.id, 'c' || g || '@localhost', true FROM accounts a, "
             "generate_series(1, 1000) g WHERE a.domain = 'localhost' AND a.node = 'rosfull'"])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip()[:200])
    el = roster_set(a, "<item jid='one-too-many@localhost'/>")
    expect_error(el, 'resource-constraint', 'the 1001st item')
    el = roster_set(a, "<item jid='c7@localhost' name='still editable'/>")
    check(el.get('type') == 'result', 'updating an item of a full roster: %s' % stanza_error(el))
    check(len(items_of(roster_get(a))) == 1000, 'a full roster does not have 1000 items')
