# Integration tests of XEP-0402 #compat: bookmarks stored with XEP-0049 private XML
# (storage:bookmarks) are urn:xmpp:bookmarks:1 PEP items and the other way round.
import os
import time

from wbinteg import NS_DISCO_INFO, check, run, stanza_error, test
from tests_pep import psql

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_EVENT = NS_PUBSUB + '#event'
NS_BM = 'urn:xmpp:bookmarks:1'
NS_LEGACY = 'storage:bookmarks'
PEP_OPTS = ("<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
            "type='hidden'><value>%s#publish-options</value></field>"
            "<field var='pubsub#persist_items'><value>true</value></field>"
            "<field var='pubsub#max_items'><value>max</value></field>"
            "<field var='pubsub#access_model'><value>whitelist</value></field></x>"
            "</publish-options>" % NS_PUBSUB)


def answered(el, what):
    check(el.get('type') == 'result', '%s answered %s (%s)' % (what, el.get('type'),
                                                              stanza_error(el)))
    return el


def private(conn, type_, payload, to=None):
    return conn.iq(type_, "<query xmlns='jabber:iq:private'>%s</query>" % payload, to)


def legacy(conn):
    """{room jid: conference element} and the storage element of the private XML bookmarks."""
    el = answered(private(conn, 'get', "<storage xmlns='%s'/>" % NS_LEGACY), 'private get')
    st = el.find('{jabber:iq:private}query/{%s}storage' % NS_LEGACY)
    check(st is not None, 'private get without <storage/>')
    return {c.get('jid'): c for c in st.findall('{%s}conference' % NS_LEGACY)}, st


def pep_items(conn, to=None):
    el = conn.iq('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS_PUBSUB, NS_BM), to)
    if el.get('type') != 'result':
        return el
    its = el.find('{%s}pubsub/{%s}items' % (NS_PUBSUB, NS_PUBSUB))
    return {i.get('id'): i.find('{%s}conference' % NS_BM) for i in its.findall(
        '{%s}item' % NS_PUBSUB)}


STORAGE = ("<storage xmlns='storage:bookmarks'>"
           "<conference jid='council@conf.localhost' autojoin='true' name='The &amp; Council'>"
           "<nick>juliet</nick><password>s3cr&lt;t</password></conference>"
           "<conference jid='lobby@conf.localhost' name='Lobby'/>"
           "<conference name='no jid, ignored'/>"
           "<url name='Site' url='https://example.test/'/></storage>")


@test
def bookmarks_compat_feature_on_account(suite):
    a = suite.server().login('bmdisco', 'pc')
    el = answered(a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, a.jid.split('/')[0]),
                  'account disco#info')
    feats = {f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)}
    check(NS_BM + '#compat' in feats, 'bookmarks compat feature missing: %s' % sorted(feats))


@test
def bookmarks_private_xml_appears_as_pep_items_and_back(suite):
    srv = suite.server()
    a = srv.login('bmlegacy', 'pc')
    b = srv.login('bmother', 'pc')
    answered(private(a, 'set', STORAGE), 'private set of bookmarks')
    got = pep_items(a)
    check(isinstance(got, dict) and set(got) == {'council@conf.localhost', 'lobby@conf.localhost'},
          'PEP bookmarks after the private set: %s' % (got if isinstance(got, dict) else
                                                       stanza_error(got)))
    c = got['council@conf.localhost']
    check(c is not None and c.get('autojoin') in ('true', '1') and
          c.get('name') == 'The & Council' and c.findtext('{%s}nick' % NS_BM) == 'juliet' and
          c.findtext('{%s}password' % NS_BM) == 's3cr<t', 'council converted wrong')
    lob = got['lobby@conf.localhost']
    check(lob.get('autojoin') in ('false', '0', None), 'lobby autojoin %s' % lob.get('autojoin'))
    other = pep_items(b, a.jid.split('/')[0])
    check(not isinstance(other, dict), 'another account read the whitelist bookmarks node')
    confs, st = legacy(a)
    check(set(confs) == {'council@conf.localhost', 'lobby@conf.localhost'},
          'private get: %s' % sorted(confs))
    check(confs['council@conf.localhost'].findtext('{%s}nick' % NS_LEGACY) == 'juliet' and
          confs['council@conf.localhost'].get('autojoin') == 'true', 'council back wrong')
    check(st.find('{%s}url' % NS_LEGACY) is not None, 'the <url/> bookmark was lost')
    # Removing one in private XML retracts its PEP item.
    answered(private(a, 'set', "<storage xmlns='storage:bookmarks'>"
                               "<conference jid='lobby@conf.localhost'/></storage>"), 'second set')
    got = pep_items(a)
    check(isinstance(got, dict) and set(got) == {'lobby@conf.localhost'},
          'after removing the council: %s' % (sorted(got) if isinstance(got, dict) else got))


@test
def bookmarks_pep_item_appears_in_private_xml(suite):
    srv = suite.server()
    a = srv.login('bmpep', 'pc')
    el = a.iq('set', "<pubsub xmlns='%s'><publish node='%s'><item id='orchard@conf.localhost'>"
                     "<conference xmlns='%s' name='Orchard' autojoin='true'><nick>romeo</nick>"
                     "</conference></item></publish>%s</pubsub>" % (NS_PUBSUB, NS_BM, NS_BM,
                                                                     PEP_OPTS))
    answered(el, 'PEP bookmark publish')
    confs, _ = legacy(a)
    c = confs.get('orchard@conf.localhost')
    check(c is not None and c.get('name') == 'Orchard' and c.get('autojoin') == 'true' and
          c.findtext('{%s}nick' % NS_LEGACY) == 'romeo', 'PEP bookmark in private XML: %s' % (
              sorted(confs)))
    answered(a.iq('set', "<pubsub xmlns='%s'><retract node='%s'><item id='orchard@conf.localhost'"
                         "/></retract></pubsub>" % (NS_PUBSUB, NS_BM)), 'PEP retract')
    confs, _ = legacy(a)
    check(confs == {}, 'retracted bookmark still in private XML: %s' % sorted(confs))


@test
def bookmarks_of_another_account_refused(suite):
    srv = suite.server()
    a = srv.login('bmowner', 'pc')
    b = srv.login('bmthief', 'pc')
    el = private(b, 'set', STORAGE, a.jid.split('/')[0])
    check(el.get('type') == 'error' and stanza_error(el) == 'forbidden',
          'set of another account\'s bookmarks: %s %s' % (el.get('type'), stanza_error(el)))
    el = private(b, 'get', "<storage xmlns='%s'/>" % NS_LEGACY, a.jid.split('/')[0])
    check(el.get('type') == 'error', 'get of another account\'s bookmarks answered')
    got = pep_items(a)
    check(not isinstance(got, dict) or got == {}, 'bookmarks appeared for the owner: %s' % got)
    many = ''.join("<conference jid='r%d@conf.localhost'/>" % i for i in range(257))
    el = private(a, 'set', "<storage xmlns='storage:bookmarks'>%s</storage>" % many)
    check(el.get('type') == 'error' and stanza_error(el) == 'policy-violation',
          '257 bookmarks: %s %s' % (el.get('type'), stanza_error(el)))


@test
def bookmarks_sealed_in_database(suite):
    srv = suite.server()
    a = srv.login('bmseal', 'pc')
    marker = 'bmnick%s' % os.urandom(6).hex()
    answered(private(a, 'set', "<storage xmlns='storage:bookmarks'><conference "
                               "jid='s@conf.localhost'><nick>%s</nick></conference></storage>"
                               % marker), 'private set')
    got = pep_items(a)
    check(isinstance(got, dict) and got['s@conf.localhost'].findtext('{%s}nick' % NS_BM) == marker,
          'converted bookmark does not read back')
    r = run(['pg_dump', '-h', suite.pg.host, '-U', 'postgres', srv.db])
    check(r.returncode == 0, 'pg_dump failed: %s' % r.stderr.strip()[:300])
    check(NS_BM in r.stdout, 'the dump does not hold the bookmarks node')
    check(marker not in r.stdout and marker.encode().hex() not in r.stdout,
          'a bookmark nick is readable in the database dump')


@test
def bookmarks_database_outage_answers_a_temporary_error(suite):
    srv = suite.private_server('bm-outage')
    srv.user('bmout')
    srv.start()
    a = srv.login('bmout', 'pc')
    answered(private(a, 'set', STORAGE), 'set before the outage')
    psql(srv, 'ALTER DATABASE %s ALLOW_CONNECTIONS false' % srv.db, 'postgres')
    try:
        psql(srv, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                  "datname = '%s'" % srv.db, 'postgres')
        for type_, payload in (('set', STORAGE), ('get', "<storage xmlns='%s'/>" % NS_LEGACY)):
            el = private(a, type_, payload)
            check(el.get('type') == 'error' and stanza_error(el) == 'internal-server-error',
                  '%s during an outage: %s %s' % (type_, el.get('type'), stanza_error(el)))
    finally:
        psql(srv, 'ALTER DATABASE %s ALLOW_CONNECTIONS true' % srv.db, 'postgres')
    deadline = time.monotonic() + 15
    while True:
        el = private(a, 'get', "<storage xmlns='%s'/>" % NS_LEGACY)
        if el.get('type') == 'result' or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    confs, _ = legacy(a)
    check(set(confs) == {'council@conf.localhost', 'lobby@conf.localhost'},
          'after the outage: %s' % sorted(confs))
