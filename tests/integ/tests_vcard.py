# Integration tests of vcard-temp (XEP-0054), avatar hashes in presence (XEP-0153) and private XML
# storage (XEP-0049): exact bytes back, access rules, limits, restarts, account deletion.
import base64
import os

from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, local_name, run, stanza_error, test

NS_VCARD = 'vcard-temp'
NS_PRIVATE = 'jabber:iq:private'

PHOTO = base64.b64encode(os.urandom(12000)).decode()
VCARD = ("<vCard xmlns='vcard-temp'>\n  <FN>Zoë Ünïcode &amp; 日本語 &lt;x&gt;</FN>\n"
         "  <N><FAMILY>Æsir</FAMILY><GIVEN>Zoë</GIVEN></N>\n"
         "  <NICKNAME xml:lang='fr'>zo\"ë\"</NICKNAME>\n"
         "  <PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO>\n</vCard>" % PHOTO)


def record_raw(conn):
    """Keeps every byte the connection receives in conn.raw (to check bytes, not just trees)."""
    conn.raw = bytearray()
    feed = conn._feed

    def recording_feed(data):
        conn.raw += data
        feed(data)
    conn._feed = recording_feed
    return conn


def answered(el, what):
    check(el.get('type') == 'result', '%s answered %s (%s)' % (what, el.get('type'),
                                                              stanza_error(el)))
    return el


def refused(el, condition, what):
    check(el.get('type') == 'error' and stanza_error(el) == condition,
          '%s answered %s (%s), wanted <%s/>' % (what, el.get('type'), stanza_error(el), condition))


def vcard_of(el):
    card = el.find('{%s}vCard' % NS_VCARD)
    check(card is not None, 'vCard result without a <vCard/> child')
    return card


def check_empty_vcard(el, what):
    card = vcard_of(answered(el, what))
    check(len(card) == 0 and not (card.text or '').strip(), '%s: vCard not empty' % what)


def get_vcard(conn, to=None):
    return conn.iq('get', "<vCard xmlns='vcard-temp'/>", to)


def private(conn, type_, payload, to=None):
    return conn.iq(type_, "<query xmlns='jabber:iq:private'>%s</query>" % payload, to)


def private_item(el):
    q = answered(el, 'private storage get').find('{%s}query' % NS_PRIVATE)
    check(q is not None and len(q) == 1, 'private storage result without exactly one element')
    return q[0]


@test
def vcard_set_then_get_returns_the_exact_bytes(suite):
    srv = suite.server()
    a = record_raw(srv.login('vcalice', 'pc'))
    b = record_raw(srv.login('vcbob', 'phone'))
    check_empty_vcard(get_vcard(a), 'get of a vCard never set')
    answered(a.iq('set', VCARD), 'vCard set')
    mark = len(a.raw)
    card = vcard_of(answered(get_vcard(a), 'own vCard get'))
    check(card.find('{%s}FN' % NS_VCARD).text == 'Zoë Ünïcode & 日本語 <x>', 'FN changed')
    check(VCARD.encode() in a.raw[mark:], 'own vCard not returned byte for byte')
    mark = len(a.raw)
    answered(get_vcard(a, 'vcalice@localhost'), 'own vCard get by bare JID')
    check(VCARD.encode() in a.raw[mark:], 'vCard got by bare JID not byte for byte')
    el = answered(get_vcard(b, 'vcalice@localhost'), "another user's vCard get")
    check(el.get('from') == 'vcalice@localhost', 'vCard result from %s' % el.get('from'))
    check(VCARD.encode() in b.raw, "another user's vCard not returned byte for byte")
    binval = vcard_of(el).find('{%s}PHOTO/{%s}BINVAL' % (NS_VCARD, NS_VCARD))
    check(binval is not None and binval.text == PHOTO, 'PHOTO BINVAL changed')


@test
def vcard_set_replaces_and_keeps_inherited_namespaces(suite):
    srv = suite.server()
    a = srv.login('vcprefix', 'pc')
    answered(a.iq('set', VCARD), 'first vCard set')
    iq_id = a.next_id()
    a.send("<iq type='set' id='%s' xmlns:v='vcard-temp'><v:vCard><v:FN>Second</v:FN>"
           "</v:vCard></iq>" % iq_id)
    answered(a.wait_for(lambda e: e.get('id') == iq_id, 10, 'prefixed set answer'),
             'prefixed vCard set')
    card = vcard_of(answered(get_vcard(a), 'get after replace'))
    fn = card.findall('{%s}FN' % NS_VCARD)
    check([f.text for f in fn] == ['Second'] and card.find('{%s}PHOTO' % NS_VCARD) is None,
          'vCard not replaced: %s' % [local_name(c.tag) for c in card])


@test
def vcard_of_unknown_account_is_item_not_found(suite):
    a = suite.server().login('vcasker', 'pc')
    refused(get_vcard(a, 'nosuchvcarduser@localhost'), 'service-unavailable', 'get of unknown account')
    check_empty_vcard(get_vcard(a, 'localhost'), 'get of the server vCard')


@test
def vcard_set_on_another_account_is_forbidden(suite):
    srv = suite.server()
    a = srv.login('vcowner', 'pc')
    b = srv.login('vcintruder', 'pc')
    answered(a.iq('set', "<vCard xmlns='vcard-temp'><FN>Owner</FN></vCard>"), 'owner set')
    refused(b.iq('set', "<vCard xmlns='vcard-temp'><FN>Evil</FN></vCard>", 'vcowner@localhost'),
            'forbidden', "set on another's JID")
    refused(b.iq('set', "<vCard xmlns='vcard-temp'/>", 'localhost'), 'forbidden',
            'set on the server JID')
    card = vcard_of(answered(get_vcard(b, 'vcowner@localhost'), 'get after refused set'))
    check(card.find('{%s}FN' % NS_VCARD).text == 'Owner', 'a refused set changed the vCard')


def raise_stanza_limit(srv, size):
    with open(srv.conf) as f:
        text = f.read()
    check('max_stanza_size = 65536;' in text, 'unexpected limits group in the config')
    with open(srv.conf, 'w') as f:
        f.write(text.replace('max_stanza_size = 65536;', 'max_stanza_size = %d;' % size))


@test
def vcard_and_private_over_64k_are_not_acceptable(suite):
    srv = suite.private_server('vcard-big')
    raise_stanza_limit(srv, 262144)
    srv.start()
    a = srv.login('vcbig', 'pc')
    answered(a.iq('set', "<vCard xmlns='vcard-temp'><FN>Small</FN></vCard>"), 'small set')
    big = 'A' * 70000
    el = a.iq('set', "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>%s</BINVAL></PHOTO></vCard>" % big)
    refused(el, 'not-acceptable', 'oversize vCard set')
    text = el.find('{%s}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text' % NS_CLIENT)
    check(text is not None and text.text, 'oversize refusal without a text')
    card = vcard_of(answered(get_vcard(a), 'get after oversize set'))
    check(card.find('{%s}FN' % NS_VCARD).text == 'Small', 'oversize set changed the vCard')
    refused(private(a, 'set', "<big xmlns='urn:example:big'>%s</big>" % big), 'not-acceptable',
            'oversize private set')
    a.ping()


@test
def vcard_survives_restart_and_goes_with_the_account(suite):
    srv = suite.private_server('vcard-life').start()
    a = srv.login('vclife', 'pc')
    answered(a.iq('set', VCARD), 'vCard set')
    answered(private(a, 'set', "<n xmlns='urn:example:n'>kept</n>"), 'private set')
    srv.stop()
    srv.start()
    a = record_raw(srv.login('vclife', 'pc'))
    answered(get_vcard(a), 'get after restart')
    check(VCARD.encode() in a.raw, 'vCard after a restart differs')
    a.close()
    r = srv.ctl('user', 'delete', 'vclife@localhost')
    check(r.returncode == 0, 'user delete: exit %d: %s' % (r.returncode, r.stderr.strip()[:200]))
    del srv.users['vclife@localhost']
    a = srv.login('vclife', 'pc')
    check_empty_vcard(get_vcard(a), 'get after delete and re-add')
    item = private_item(private(a, 'get', "<n xmlns='urn:example:n'/>"))
    check(item.text is None, 'private data survived the account deletion')


@test
def vcard_storage_failure_answers_temporary_error(suite):
    srv = suite.private_server('vcard-dbfail').start()
    a = srv.login('vcdbfail', 'pc')
    answered(a.iq('set', "<vCard xmlns='vcard-temp'><FN>Before</FN></vCard>"), 'first set')

    def psql(sql):
        r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', srv.db, '-qc', sql])
        check(r.returncode == 0, 'psql: %s' % r.stderr.strip()[:200])
    psql('ALTER TABLE xml_documents RENAME TO xml_documents_away')
    try:
        refused(get_vcard(a), 'internal-server-error', 'get while storage fails')
        refused(a.iq('set', "<vCard xmlns='vcard-temp'/>"), 'internal-server-error',
                'set while storage fails')
        refused(private(a, 'get', "<n xmlns='urn:example:n'/>"), 'internal-server-error',
                'private get while storage fails')
    finally:
        psql('ALTER TABLE xml_documents_away RENAME TO xml_documents')
    card = vcard_of(answered(get_vcard(a), 'get once storage is back'))
    check(card.find('{%s}FN' % NS_VCARD).text == 'Before', 'vCard lost after a failure')


@test
def private_storage_sets_gets_replaces_and_keeps_keys_apart(suite):
    srv = suite.server()
    a = record_raw(srv.login('pvalice', 'pc'))
    b = srv.login('pvbob', 'pc')
    item = private_item(private(a, 'get', "<storage xmlns='storage:bookmarks'/>"))
    check(item.tag == '{storage:bookmarks}storage' and len(item) == 0,
          'unknown key not answered with the empty element')
    marks = ("<storage xmlns='storage:bookmarks'><conference jid='r@muc.example' "
             "name='Zoë &amp; co' autojoin='true'><nick>zo</nick></conference></storage>")
    notes = "<storage xmlns='storage:rosternotes'><note jid='x@y'>é</note></storage>"
    answered(private(a, 'set', marks), 'bookmarks set')
    answered(private(a, 'set', notes), 'notes set')
    # Bookmarks are kept in step with PEP (XEP-0402 #compat, bookmarks_compat.c): the answer is
    # rebuilt, so compare what it says rather than its bytes.
    item = private_item(private(a, 'get', "<storage xmlns='storage:bookmarks'/>"))
    confs = item.findall('{storage:bookmarks}conference')
    check(len(confs) == 1 and confs[0].get('jid') == 'r@muc.example' and
          confs[0].get('name') == 'Zoë & co' and confs[0].get('autojoin') in ('true', '1') and
          confs[0].findtext('{storage:bookmarks}nick') == 'zo',
          'bookmarks not returned: %s' % [(c.attrib, c.findtext('{storage:bookmarks}nick'))
                                          for c in confs])
    mark = len(a.raw)
    private_item(private(a, 'get', "<storage xmlns='storage:rosternotes'/>"))
    check(notes.encode() in a.raw[mark:] and marks.encode() not in a.raw[mark:],
          'notes not returned alone and byte for byte')
    answered(private(a, 'set', "<storage xmlns='storage:bookmarks'/>"), 'bookmarks replace')
    item = private_item(private(a, 'get', "<storage xmlns='storage:bookmarks'/>"))
    check(len(item) == 0, 'bookmarks not replaced')
    item = private_item(private(a, 'get', "<other xmlns='storage:bookmarks'/>"))
    check(item.tag == '{storage:bookmarks}other' and len(item) == 0,
          'same namespace, other name: not kept apart')
    item = private_item(private(b, 'get', "<storage xmlns='storage:rosternotes'/>"))
    check(len(item) == 0, "another account sees pvalice's private data")


@test
def private_storage_refuses_reserved_foreign_and_malformed_requests(suite):
    srv = suite.server()
    a = srv.login('pvrules', 'pc')
    srv.login('pvother', 'pc').close()
    for ns in ('jabber:iq:roster', 'jabber:client', 'vcard-temp'):
        refused(private(a, 'set', "<query xmlns='%s'/>" % ns), 'not-acceptable', 'set in ' + ns)
        refused(private(a, 'get', "<query xmlns='%s'/>" % ns), 'not-acceptable', 'get in ' + ns)
    refused(private(a, 'get', "<s xmlns='urn:example:s'/>", 'pvother@localhost'), 'forbidden',
            "get of another account's data")
    refused(private(a, 'set', "<s xmlns='urn:example:s'/>", 'pvother@localhost'), 'forbidden',
            "set of another account's data")
    refused(private(a, 'get', ''), 'bad-request', 'get without an element')
    refused(private(a, 'set', "<s xmlns='urn:example:s'/><t xmlns='urn:example:t'/>"),
            'bad-request', 'set with two elements')
    answered(private(a, 'get', "<s xmlns='urn:example:s'/>", 'pvrules@localhost'),
             'get addressed to the own bare JID')


@test
def presence_avatar_hash_reaches_contact_unchanged(suite):
    srv = suite.server()
    a = srv.login('avalice', 'pc')
    a2 = record_raw(srv.login('avalice', 'tablet'))
    b = record_raw(srv.login('avbob', 'phone'))
    a2.send('<presence/>')
    b.send('<presence/>')
    b.ping()
    update = "<x xmlns='vcard-temp:x:update'><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo></x>"
    a.send("<presence to='%s'><status>hi</status>%s</presence>" % (b.jid, update))
    b.wait_for(lambda e: local_name(e.tag) == 'presence' and e.get('from') == a.jid, 10,
               'directed presence with the avatar hash')
    check(update.encode() in b.raw, 'vcard-temp:x:update changed on its way to the contact')
    a.send('<presence>%s</presence>' % update)
    a2.wait_for(lambda e: local_name(e.tag) == 'presence' and e.get('from') == a.jid, 10,
                'own-resource presence with the avatar hash')
    check(update.encode() in a2.raw, 'vcard-temp:x:update changed on its way to own resource')


@test
def disco_lists_vcard_and_private_storage(suite):
    a = suite.server().login('vcdisco', 'pc')
    el = answered(a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, 'localhost'), 'disco#info')
    feats = {f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)}
    check(NS_VCARD in feats and NS_PRIVATE in feats, 'features missing: %s' % sorted(feats))
