# Integration tests of personal eventing (XEP-0163 on XEP-0060): publish/items/retract/delete,
# access models, max_items, publish-options preconditions, +notify filtering through entity caps
# (XEP-0115), last items at presence, sealed payloads, and real clients on top (slixmpp, OMEMO).
import base64
import hashlib
import json
import os
import subprocess
import time

from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, local_name, run, stanza_error, test
from tests_presence import bare, subscribe  # noqa: F401 (shared helpers)
from tests_roster import roster_get

HERE = os.path.dirname(os.path.abspath(__file__))
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_OWNER = NS_PUBSUB + '#owner'
NS_EVENT = NS_PUBSUB + '#event'
NS_ERRORS = NS_PUBSUB + '#errors'
NS_CAPS = 'http://jabber.org/protocol/caps'
CAPS_NODE = 'https://warbler.test/client'


def caps_ver(identities, features):
    """XEP-0115 5.1 verification string (no forms)."""
    s = ''.join('%s/%s/%s/%s<' % i for i in sorted(identities))
    s += ''.join(f + '<' for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def is_caps_query(el):
    q = el.find('{%s}query' % NS_DISCO_INFO)
    return local_name(el.tag) == 'iq' and el.get('type') == 'get' and q is not None


def caps_presence(c, notify, name, answer=True, lie=False, wait=3):
    """Sends presence with caps advertising NODE+notify for each node; answers the server's
    disco#info query (when it comes) with the identities and features. Returns the query or
    None."""
    ids = [('client', 'pc', '', name)]
    feats = [NS_DISCO_INFO, NS_CAPS] + [n + '+notify' for n in notify]
    ver = caps_ver(ids, feats)
    c.send("<presence><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>" %
           (NS_CAPS, CAPS_NODE, ver))
    if not answer:
        return None
    try:
        q = c.wait_for(is_caps_query, wait, 'disco#info query from the server')
    except Exception:
        return None
    check(q.find('{%s}query' % NS_DISCO_INFO).get('node') == '%s#%s' % (CAPS_NODE, ver),
          'caps query for the wrong node: %s' % q.find('{%s}query' % NS_DISCO_INFO).get('node'))
    if lie:
        feats = feats[:2]  # answer without the +notify features: must not match ver
    body = "<identity category='client' type='pc' name='%s'/>" % name
    body += ''.join("<feature var='%s'/>" % f for f in feats)
    c.send("<iq type='result' id='%s' to='%s'><query xmlns='%s' node='%s#%s'>%s</query></iq>" % (
        q.get('id'), q.get('from'), NS_DISCO_INFO, CAPS_NODE, ver, body))
    return q


def pep_online(srv, user, notify=(), resource='r', name=None):
    c = srv.login(user, resource)
    roster_get(c)
    caps_presence(c, notify, name or ('%s-%s' % (user, resource)))
    c.wait_for(lambda e: local_name(e.tag) == 'presence' and e.get('from') == c.jid, 10,
               'own presence reflected')
    return c


def answered(el, what):
    check(el.get('type') == 'result', '%s answered %s (%s)' % (what, el.get('type'),
                                                              stanza_error(el)))
    return el


def app_error(el):
    err = el.find('{%s}error' % NS_CLIENT)
    if err is None:
        return None
    for child in err:
        if child.tag.startswith('{%s}' % NS_ERRORS):
            return local_name(child.tag)
    return None


def refused(el, condition, what, app=None):
    check(el.get('type') == 'error' and stanza_error(el) == condition,
          '%s answered %s (%s), wanted <%s/>' % (what, el.get('type'), stanza_error(el),
                                                 condition))
    if app:
        check(app_error(el) == app, '%s: pubsub condition %s, wanted %s' % (what, app_error(el),
                                                                             app))


def options(**kw):
    fields = ''.join("<field var='pubsub#%s'><value>%s</value></field>" % kv for kv in kw.items())
    return ("<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
            "type='hidden'><value>%s#publish-options</value></field>%s</x></publish-options>" % (
                NS_PUBSUB, fields))


def publish(c, node, payload, item_id=None, opts='', to=None):
    idattr = " id='%s'" % item_id if item_id else ''
    return c.iq('set', "<pubsub xmlns='%s'><publish node='%s'><item%s>%s</item></publish>%s"
                       "</pubsub>" % (NS_PUBSUB, node, idattr, payload, opts), to)


def items(c, node, to=None, max_items=None, ids=()):
    attr = " max_items='%d'" % max_items if max_items else ''
    sub = ''.join("<item id='%s'/>" % i for i in ids)
    return c.iq('get', "<pubsub xmlns='%s'><items node='%s'%s>%s</items></pubsub>" % (
        NS_PUBSUB, node, attr, sub), to)


def item_list(el):
    answered(el, 'items')
    its = el.find('{%s}pubsub/{%s}items' % (NS_PUBSUB, NS_PUBSUB))
    check(its is not None, 'items result without <items/>')
    return [(i.get('id'), i[0] if len(i) else None) for i in its.findall('{%s}item' % NS_PUBSUB)]


def owner(c, payload, type_='set'):
    return c.iq(type_, "<pubsub xmlns='%s'>%s</pubsub>" % (NS_OWNER, payload))


def is_event(node=None, frm=None):
    def pred(el):
        ev = el.find('{%s}event' % NS_EVENT)
        if local_name(el.tag) != 'message' or ev is None:
            return False
        if frm and el.get('from') != frm:
            return False
        return node is None or any(c.get('node') == node for c in ev)
    return pred


def event_items(el):
    its = el.find('{%s}event/{%s}items' % (NS_EVENT, NS_EVENT))
    check(its is not None, 'event without <items/>')
    return its


def tail(r):
    """The end of a client run's output on one line (the runner prints one line per failure)."""
    return ' | '.join((r.stdout.strip().splitlines() + r.stderr.strip().splitlines())[-6:])


def mutual(a, b):
    subscribe(a, b)
    subscribe(b, a)


@test
def pep_publish_items_retract_delete_round_trip(suite):
    srv = suite.server()
    a = pep_online(srv, 'pepalice')
    b = pep_online(srv, 'pepbob')
    node = 'urn:test:round'
    el = answered(publish(a, node, "<entry xmlns='urn:test:round'>first &amp; &lt;one&gt;</entry>",
                          'i1', options(max_items='10')), 'publish')
    pub = el.find('{%s}pubsub/{%s}publish' % (NS_PUBSUB, NS_PUBSUB))
    check(pub is not None and pub.get('node') == node and pub[0].get('id') == 'i1',
          'publish result does not name node and item')
    el = answered(publish(a, node, "<entry xmlns='urn:test:round'>second</entry>"),
                  'publish without id')
    gen = el.find('{%s}pubsub/{%s}publish/{%s}item' % (NS_PUBSUB, NS_PUBSUB, NS_PUBSUB)).get('id')
    check(gen and gen != 'i1', 'no generated item id')
    got = item_list(items(a, node))
    check([i for i, _ in got] == [gen, 'i1'], 'items (newest first) are %s' % [i for i, _ in got])
    check(got[1][1].text == 'first & <one>' and got[1][1].tag == '{urn:test:round}entry',
          'payload changed: %r' % got[1][1].text)
    got = item_list(items(a, node, to='pepalice@localhost', ids=['i1']))
    check([i for i, _ in got] == ['i1'], 'items by id: %s' % [i for i, _ in got])
    refused(publish(b, node, "<x xmlns='urn:test:round'/>", to='pepalice@localhost'),
            'forbidden', "publish to another account's node")
    refused(a.iq('set', "<pubsub xmlns='%s'><retract node='%s'><item id='nope'/></retract>"
                        "</pubsub>" % (NS_PUBSUB, node)), 'item-not-found', 'retract of no item')
    answered(a.iq('set', "<pubsub xmlns='%s'><retract node='%s' notify='true'><item id='i1'/>"
                         "</retract></pubsub>" % (NS_PUBSUB, node)), 'retract')
    got = item_list(items(a, node))
    check([i for i, _ in got] == [gen], 'after retract: %s' % [i for i, _ in got])
    answered(owner(a, "<purge node='%s'/>" % node), 'purge')
    check(item_list(items(a, node)) == [], 'purge left items')
    refused(b.iq('set', "<pubsub xmlns='%s'><delete node='%s'/></pubsub>" % (NS_OWNER, node),
                 'pepalice@localhost'), 'forbidden', 'delete by another account')
    answered(owner(a, "<delete node='%s'/>" % node), 'delete')
    refused(items(a, node), 'item-not-found', 'items of a deleted node')
    refused(owner(a, "<delete node='%s'/>" % node), 'item-not-found', 'delete twice')
    refused(publish(a, node, "<a xmlns='x'/><b xmlns='x'/>"), 'bad-request',
            'publish of two payloads', 'invalid-payload')
    refused(publish(a, node, ''), 'bad-request', 'publish without payload', 'payload-required')
    create = ("<pubsub xmlns='%s'><create node='n:created'/><configure><x xmlns='jabber:x:data' "
              "type='submit'><field var='pubsub#access_model'><value>open</value></field></x>"
              "</configure></pubsub>" % NS_PUBSUB)
    answered(a.iq('set', create), 'create')
    refused(a.iq('set', create), 'conflict', 'create of an existing node')
    check(item_list(items(b, 'n:created', 'pepalice@localhost')) == [],
          'a created open node is not empty or not readable')


@test
def pep_access_models_enforced(suite):
    srv = suite.server()
    a = pep_online(srv, 'pepacc-owner')
    s = pep_online(srv, 'pepacc-stranger')
    f = pep_online(srv, 'pepacc-friend')
    subscribe(f, a)  # f receives a's presence: 'from' in a's roster
    owner_jid = 'pepacc-owner@localhost'
    answered(publish(a, 'n:presence', "<p xmlns='n'>presence only</p>"), 'presence publish')
    answered(publish(a, 'n:open', "<p xmlns='n'>open</p>", opts=options(access_model='open')),
             'open publish')
    answered(publish(a, 'n:white', "<p xmlns='n'>owner only</p>",
                     opts=options(access_model='whitelist')), 'whitelist publish')
    answered(publish(a, 'n:roster', "<p xmlns='n'>roster</p>",
                     opts=options(access_model='roster')), 'roster publish')
    refused(items(s, 'n:presence', owner_jid), 'not-authorized',
            'stranger reading a presence node', 'presence-subscription-required')
    got = item_list(items(s, 'n:open', owner_jid))
    check(len(got) == 1 and got[0][1].text == 'open', 'stranger cannot read an open node')
    refused(items(s, 'n:white', owner_jid), 'not-allowed', 'stranger reading a whitelist node',
            'closed-node')
    refused(items(s, 'n:roster', owner_jid), 'not-authorized', 'stranger reading a roster node')
    got = item_list(items(f, 'n:presence', owner_jid))
    check(len(got) == 1 and got[0][1].text == 'presence only', 'subscriber cannot read')
    check(len(item_list(items(f, 'n:roster', owner_jid))) == 1, 'roster contact cannot read')
    refused(items(f, 'n:white', owner_jid), 'not-allowed', 'subscriber reading a whitelist node')
    check(len(item_list(items(a, 'n:white'))) == 1, 'owner cannot read its whitelist node')
    refused(items(s, 'n:none', owner_jid), 'item-not-found', 'reading a node that does not exist')


@test
def pep_max_items_honoured_and_node_config(suite):
    srv = suite.server()
    a = pep_online(srv, 'pepmax')
    for i in range(4):
        answered(publish(a, 'n:max', "<p xmlns='n'>%d</p>" % i, 'i%d' % i,
                         options(max_items='2')), 'publish %d' % i)
    got = item_list(items(a, 'n:max'))
    check([i for i, _ in got] == ['i3', 'i2'], 'max_items=2 kept %s' % [i for i, _ in got])
    got = item_list(items(a, 'n:max', max_items=1))
    check([i for i, _ in got] == ['i3'], 'max_items=1 request gave %s' % [i for i, _ in got])
    el = answered(owner(a, "<configure node='n:max'/>", 'get'), 'configure get')
    vals = {f.get('var'): f.findtext('{jabber:x:data}value')
            for f in el.iter('{jabber:x:data}field')}
    check(vals.get('pubsub#max_items') == '2' and vals.get('pubsub#access_model') == 'presence',
          'configuration form: %s' % vals)
    answered(owner(a, "<configure node='n:max'><x xmlns='jabber:x:data' type='submit'>"
                      "<field var='FORM_TYPE' type='hidden'><value>%s#node_config</value></field>"
                      "<field var='pubsub#max_items'><value>1</value></field>"
                      "<field var='pubsub#access_model'><value>open</value></field></x>"
                      "</configure>" % NS_PUBSUB), 'configure set')
    got = item_list(items(a, 'n:max'))
    check([i for i, _ in got] == ['i3'], 'lowering max_items kept %s' % [i for i, _ in got])
    refused(owner(a, "<configure node='n:max'><x xmlns='jabber:x:data' type='submit'>"
                     "<field var='pubsub#access_model'><value>everyone</value></field></x>"
                     "</configure>"), 'not-acceptable', 'configure with a bad access model')
    for i in range(3):
        answered(publish(a, 'n:big', "<p xmlns='n'>%d</p>" % i, 'b%d' % i,
                         options(max_items='max')), 'publish max %d' % i)
    check(len(item_list(items(a, 'n:big'))) == 3, 'max_items=max did not keep every item')


@test
def pep_publish_options_mismatch_is_precondition_not_met(suite):
    srv = suite.server()
    a = pep_online(srv, 'peppre')
    answered(publish(a, 'n:pre', "<p xmlns='n'/>", opts=options(access_model='open')), 'create')
    answered(publish(a, 'n:pre', "<p xmlns='n'/>", opts=options(access_model='open')),
             'publish with matching options')
    refused(publish(a, 'n:pre', "<p xmlns='n'/>", opts=options(access_model='whitelist')),
            'conflict', 'publish with another access model', 'precondition-not-met')
    refused(publish(a, 'n:pre', "<p xmlns='n'/>", opts=options(max_items='7')), 'conflict',
            'publish with another max_items', 'precondition-not-met')
    refused(publish(a, 'n:pre', "<p xmlns='n'/>", opts=options(persist_items='false')), 'conflict',
            'publish with another persist_items', 'precondition-not-met')


@test
def pep_notifications_only_to_notify_resources(suite):
    srv = suite.server()
    node = 'urn:test:mood'
    a = pep_online(srv, 'pepn-alice', [node])
    b1 = pep_online(srv, 'pepn-bob', [node], 'wants')
    b2 = pep_online(srv, 'pepn-bob', ['urn:test:other'], 'nowant')
    s = pep_online(srv, 'pepn-stranger', [node])
    mutual(a, b1)
    a.wait_for(lambda e: local_name(e.tag) == 'presence' and e.get('from') == b2.jid, 10,
               "bob's second resource's presence")
    answered(publish(a, node, "<mood xmlns='%s'>happy</mood>" % node, 'm1'), 'publish')
    ev = b1.wait_for(is_event(node, 'pepn-alice@localhost'), 10, 'notification to +notify')
    check(ev.get('type') == 'headline', 'notification of type %s' % ev.get('type'))
    it = event_items(ev).find('{%s}item' % NS_EVENT)
    check(it is not None and it.get('id') == 'm1' and it[0].text == 'happy', 'event content')
    a.wait_for(is_event(node), 10, "notification to the owner's +notify resource")
    check(b2.silent_for(is_event(), 0.4), 'a resource without +notify got a notification')
    check(s.silent_for(is_event(), 0.3), 'a stranger got a notification')
    answered(a.iq('set', "<pubsub xmlns='%s'><retract node='%s' notify='1'><item id='m1'/>"
                         "</retract></pubsub>" % (NS_PUBSUB, node)), 'retract')
    ev = b1.wait_for(is_event(node), 10, 'retract notification')
    check(event_items(ev).find('{%s}retract' % NS_EVENT).get('id') == 'm1', 'retract event')
    answered(publish(a, 'urn:test:secret', "<s xmlns='s'/>",
                     opts=options(access_model='whitelist')), 'whitelist publish')
    b3 = srv.login('pepn-bob', 'late')
    roster_get(b3)
    caps_presence(b3, ['urn:test:secret'], 'pepn-bob-late')
    check(b3.silent_for(is_event('urn:test:secret'), 0.4), 'whitelist item went to a contact')
    answered(b1.iq('set', "<block xmlns='urn:xmpp:blocking'><item jid='pepn-alice@localhost'/>"
                          "</block>"), 'block')
    answered(publish(a, node, "<mood xmlns='%s'>blocked</mood>" % node, 'm2'), 'publish 2')
    a.wait_for(is_event(node), 10, 'owner notification after the block')
    check(b1.silent_for(is_event(node), 0.4), 'a notification went to a resource that blocks')


@test
def pep_last_item_sent_at_presence(suite):
    srv = suite.server()
    node = 'urn:test:tune'
    a = pep_online(srv, 'pepl-alice', [node])
    b = pep_online(srv, 'pepl-bob', [node])
    mutual(a, b)
    answered(publish(a, node, "<tune xmlns='%s'>one</tune>" % node, 't1'), 'publish 1')
    answered(publish(a, node, "<tune xmlns='%s'>two</tune>" % node, 't2'), 'publish 2')
    b.wait_for(is_event(node), 10, 'live notification')
    b2 = srv.login('pepl-bob', 'second')
    roster_get(b2)
    caps_presence(b2, [node], 'pepl-bob-second')
    ev = b2.wait_for(is_event(node, 'pepl-alice@localhost'), 10, 'last item at presence')
    it = event_items(ev).find('{%s}item' % NS_EVENT)
    check(it.get('id') == 't2' and it[0].text == 'two', 'not the last item: %s' % it.get('id'))
    check(b2.silent_for(is_event(node), 0.5), 'more than the last item at presence')
    # own nodes too, and a second session with the same caps is served from the cache.
    a2 = srv.login('pepl-alice', 'second')
    roster_get(a2)
    caps_presence(a2, [node], 'pepl-alice-r', answer=False)
    a2.wait_for(is_event(node, 'pepl-alice@localhost'), 10, "own node's last item at presence")
    check(a2.silent_for(is_caps_query, 0.3), 'caps already verified were asked again')
    s = srv.login('pepl-stranger', 'r')
    roster_get(s)
    caps_presence(s, [node], 'pepl-stranger')
    check(s.silent_for(is_event(), 0.4), 'a stranger got a last item')


@test
def pep_last_item_sent_on_new_subscription(suite):
    srv = suite.server()
    node = 'urn:test:geoloc'
    a = pep_online(srv, 'peps-alice', [node])
    b = pep_online(srv, 'peps-bob', [node])
    answered(publish(a, node, "<geoloc xmlns='%s'>here</geoloc>" % node, 'g1'), 'publish')
    answered(publish(a, 'urn:test:other', "<o xmlns='o'/>"), 'publish on a node bob ignores')
    check(b.silent_for(is_event(), 0.3), 'a notification before any subscription')
    subscribe(b, a)
    ev = b.wait_for(is_event(node, 'peps-alice@localhost'), 10, 'last item on subscription')
    check(event_items(ev).find('{%s}item' % NS_EVENT).get('id') == 'g1', 'not the last item')
    check(b.silent_for(is_event(), 0.5), 'more than the wanted last item on subscription')


@test
def pep_unverified_caps_are_not_cached(suite):
    srv = suite.server()
    node = 'urn:test:lie'
    a = pep_online(srv, 'pepv-alice', [node])
    answered(publish(a, node, "<l xmlns='l'/>"), 'publish')
    b = srv.login('pepv-alice', 'liar')
    roster_get(b)
    q = caps_presence(b, [node], 'liar', lie=True)
    check(q is not None, 'no caps query for an unknown ver')
    check(b.silent_for(is_event(node), 0.4), 'a resource whose answer lacked +notify got items')
    c = srv.login('pepv-alice', 'honest')
    roster_get(c)
    q = caps_presence(c, [node], 'liar')
    check(q is not None, 'an unverified answer was cached')
    c.wait_for(is_event(node), 10, 'last item after a verified answer')


@test
def pep_account_disco_has_pep_identity(suite):
    srv = suite.server()
    a = pep_online(srv, 'pepdisco')
    el = answered(a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, 'pepdisco@localhost'),
                  'disco#info')
    q = el.find('{%s}query' % NS_DISCO_INFO)
    ids = [(i.get('category'), i.get('type')) for i in q.findall('{%s}identity' % NS_DISCO_INFO)]
    feats = [f.get('var') for f in q.findall('{%s}feature' % NS_DISCO_INFO)]
    check(('pubsub', 'pep') in ids, 'no pubsub/pep identity: %s' % ids)
    for f in ('publish', 'publish-options', 'access-whitelist', 'auto-create', 'last-published'):
        check(NS_PUBSUB + '#' + f in feats, 'feature %s missing' % f)


@test
def pep_payloads_sealed_in_database(suite):
    srv = suite.server()
    a = pep_online(srv, 'pepseal')
    marker = 'pepmarker%s' % os.urandom(6).hex()
    answered(publish(a, 'n:seal', "<p xmlns='n'>%s</p>" % marker, 'sealed'), 'publish')
    r = run(['pg_dump', '-h', suite.pg.host, '-U', 'postgres', srv.db])
    check(r.returncode == 0, 'pg_dump failed: %s' % r.stderr.strip()[:300])
    check('n:seal' in r.stdout, 'the dump does not even hold the node names')
    check(marker not in r.stdout, 'a payload marker is readable in the database dump')
    check(marker.encode().hex() not in r.stdout, 'a payload marker is in the dump as hex')
    got = item_list(items(a, 'n:seal'))
    check(got and got[0][1].text == marker, 'sealed payload does not read back')


def psql(srv, sql, db=None):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', db or srv.db, '-v',
             'ON_ERROR_STOP=1', '-XAtc', sql])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip()[:300])
    return r.stdout.strip()


@test
def pep_sealed_item_moved_to_another_item_does_not_open(suite):
    srv = suite.server()
    a = pep_online(srv, 'pepmoved')
    answered(publish(a, 'n:moved', "<p xmlns='n'>one</p>", 'i1', options(max_items='5')), 'pub 1')
    answered(publish(a, 'n:moved', "<p xmlns='n'>two</p>", 'i2'), 'publish 2')
    psql(srv, "UPDATE pep_items SET payload = (SELECT payload FROM pep_items WHERE item_id = 'i2' "
              "AND node = 'n:moved') WHERE item_id = 'i1' AND node = 'n:moved'")
    refused(items(a, 'n:moved', ids=['i1']), 'internal-server-error', 'reading a moved payload')
    check('sealed value does not open' in srv.log() and 'table pep_items' in srv.log(),
          'the moved sealed item was not logged')
    got = item_list(items(a, 'n:moved', ids=['i2']))
    check(len(got) == 1 and got[0][1].text == 'two', 'the intact item does not read')


@test
def pep_database_outage_answers_a_temporary_error(suite):
    srv = suite.private_server('pep-outage')
    srv.user('pepout')
    srv.start()
    a = pep_online(srv, 'pepout')
    answered(publish(a, 'n:out', "<p xmlns='n'>before</p>", 'b'), 'publish before the outage')
    psql(srv, 'ALTER DATABASE %s ALLOW_CONNECTIONS false' % srv.db, 'postgres')
    try:
        psql(srv, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                  "datname = '%s'" % srv.db, 'postgres')
        refused(publish(a, 'n:out', "<p xmlns='n'>during</p>", 'd'), 'internal-server-error',
                'publish during an outage')
        refused(items(a, 'n:out'), 'internal-server-error', 'items during an outage')
    finally:
        psql(srv, 'ALTER DATABASE %s ALLOW_CONNECTIONS true' % srv.db, 'postgres')
    deadline = time.monotonic() + 15
    while True:
        el = items(a, 'n:out')
        if el.get('type') == 'result' or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    got = item_list(el)
    check([i for i, _ in got] == ['b'], 'after the outage: %s' % [i for i, _ in got])


@test
def pep_slixmpp_avatar_bookmarks_nick(suite):
    """Real clients: slixmpp's XEP-0084, XEP-0402, XEP-0172 and XEP-0223 plugins on Warbler."""
    srv = suite.server()
    j1, p1 = srv.user('pepslix-a')
    j2, p2 = srv.user('pepslix-b')
    r = subprocess.run(['/usr/bin/python3', os.path.join(HERE, 'omemo_client.py'), 'pep', j1, p1,
                        j2, p2,
                        '127.0.0.1', str(srv.starttls_port)], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0 and 'ok' in r.stdout,
          'slixmpp PEP run failed: %s' % tail(r))


@test
def pep_omemo_clients_exchange_encrypted_messages(suite):
    """Two python-omemo clients (eu.siacs.conversations.axolotl and urn:xmpp:omemo:2) publish device
    lists and bundles with access_model=open, fetch each other's, and exchange encrypted messages;
    the database holds neither the plaintext nor the ciphertext unsealed."""
    srv = suite.server()
    j1, p1 = srv.user('pepomemo-a')
    j2, p2 = srv.user('pepomemo-b')
    r = subprocess.run(['/usr/bin/python3', os.path.join(HERE, 'omemo_client.py'), 'omemo', j1, p1,
                        j2, p2, '127.0.0.1', str(srv.starttls_port)], capture_output=True,
                       text=True, timeout=90)
    check(r.returncode == 0 and r.stdout.strip(),
          'OMEMO run failed: %s' % tail(r))
    out = json.loads(r.stdout.strip().splitlines()[-1])
    check(len(out['plaintexts']) == 2 and len(out['payloads']) == 2, 'not two messages: %s' % out)
    d = run(['pg_dump', '-h', suite.pg.host, '-U', 'postgres', srv.db])
    check(d.returncode == 0, 'pg_dump failed: %s' % d.stderr.strip()[:300])
    check('eu.siacs.conversations.axolotl.devicelist' in d.stdout, 'no OMEMO node in the dump')
    for text in out['plaintexts']:
        check(text not in d.stdout, 'an OMEMO plaintext is in the database dump')
    for payload in out['payloads']:
        check(payload not in d.stdout and payload[:24] not in d.stdout,
              'an OMEMO ciphertext is readable in the database dump')
