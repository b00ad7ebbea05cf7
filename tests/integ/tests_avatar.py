# Integration tests of XEP-0398 (PEP avatar <-> vCard conversion): an open PEP avatar becomes the
# vCard PHOTO, presence carries its XEP-0153 hash (section 4 rules), a vCard PHOTO becomes a PEP
# avatar. Run as a program, this file is the slixmpp (XEP-0084) client of the first test.
import base64
import hashlib
import os
import subprocess
import sys
import time

from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, local_name, stanza_error, test
from tests_vcard import record_raw

HERE = os.path.abspath(__file__)
NS_VCARD = 'vcard-temp'
NS_UPDATE = 'vcard-temp:x:update'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_META = 'urn:xmpp:avatar:metadata'
NS_DATA = 'urn:xmpp:avatar:data'
OPEN = ("<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
        "type='hidden'><value>%s#publish-options</value></field><field "
        "var='pubsub#access_model'><value>open</value></field></x></publish-options>" % NS_PUBSUB)


def image(n=3000):
    return b'\x89PNG\r\n\x1a\n' + os.urandom(n)


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def answered(el, what):
    check(el.get('type') == 'result', '%s answered %s (%s)' % (what, el.get('type'),
                                                              stanza_error(el)))
    return el


def vcard_photo(conn, jid):
    """(TYPE, image bytes) of jid's vCard PHOTO, or None."""
    el = answered(conn.iq('get', "<vCard xmlns='vcard-temp'/>", jid), 'vCard get')
    card = el.find('{%s}vCard' % NS_VCARD)
    check(card is not None, 'vCard result without <vCard/>')
    binval = card.find('{%s}PHOTO/{%s}BINVAL' % (NS_VCARD, NS_VCARD))
    if binval is None:
        return None
    return (card.findtext('{%s}PHOTO/{%s}TYPE' % (NS_VCARD, NS_VCARD)),
            base64.b64decode(''.join((binval.text or '').split())))


def wait_photo(conn, jid, want, secs=8):
    deadline = time.monotonic() + secs
    while True:
        got = vcard_photo(conn, jid)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def publish(conn, node, item_id, payload, opts=''):
    return conn.iq('set', "<pubsub xmlns='%s'><publish node='%s'><item id='%s'>%s</item>"
                          "</publish>%s</pubsub>" % (NS_PUBSUB, node, item_id, payload, opts))


def publish_avatar(conn, data, mime='image/png', opts=OPEN, item_id=None):
    h = item_id or sha1(data)
    answered(publish(conn, NS_DATA, h, "<data xmlns='%s'>%s</data>" % (
        NS_DATA, base64.b64encode(data).decode()), opts), 'avatar data publish')
    answered(publish(conn, NS_META, h, "<metadata xmlns='%s'><info id='%s' bytes='%d' type='%s'/>"
                                       "</metadata>" % (NS_META, h, len(data), mime)),
             'avatar metadata publish')


def set_vcard(conn, data, mime='image/jpeg'):
    card = ("<vCard xmlns='vcard-temp'><FN>Av</FN><PHOTO><TYPE>%s</TYPE><BINVAL>%s</BINVAL>"
            "</PHOTO></vCard>" % (mime, base64.b64encode(data).decode()))
    answered(conn.iq('set', card), 'vCard set')


def is_presence_from(jid):
    return lambda e: local_name(e.tag) == 'presence' and e.get('from') == jid and \
        e.get('type') is None


def photo_of(el):
    """The text of the presence's vcard-temp:x:update photo ('' when empty), None without."""
    p = el.find('{%s}x/{%s}photo' % (NS_UPDATE, NS_UPDATE))
    return None if p is None else (p.text or '')


def pair(srv, user):
    """Two resources of user: the one that sends presence, and one that sees it (bytes kept)."""
    a = srv.login(user, 'pc')
    a2 = record_raw(srv.login(user, 'tablet'))
    a2.send('<presence/>')
    a2.wait_for(is_presence_from(a2.jid), 10, 'own presence')
    return a, a2


def presence_seen(a, a2, xml):
    a.send(xml)
    return a2.wait_for(is_presence_from(a.jid), 10, 'presence of the other resource')


@test
def avatar_conversion_feature_on_account(suite):
    a = suite.server().login('avdisco', 'pc')
    el = answered(a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, a.jid.split('/')[0]),
                  'account disco#info')
    feats = {f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)}
    check('urn:xmpp:pep-vcard-conversion:0' in feats, 'conversion feature missing: %s' % feats)


@test
def avatar_slixmpp_open_pep_avatar_becomes_vcard_photo_and_presence_hash(suite):
    srv = suite.server()
    jid, pw = srv.user('avslix')
    data = image()
    r = subprocess.run(['/usr/bin/python3', HERE, '127.0.0.1', str(srv.starttls_port), jid, pw,
                        base64.b64encode(data).decode()], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0 and 'published' in r.stdout,
          'slixmpp avatar publish failed: %s' % (r.stdout + r.stderr).strip()[-400:])
    b = srv.login('avslixpeer', 'pc')
    got = wait_photo(b, jid, ('image/png', data))
    check(got == ('image/png', data), 'vCard PHOTO after the PEP avatar: %r' % (
        got and (got[0], len(got[1])),))
    a, a2 = pair(srv, 'avslix')
    el = presence_seen(a, a2, '<presence><status>here</status></presence>')
    check(photo_of(el) == sha1(data), 'presence photo %r, wanted %s' % (photo_of(el), sha1(data)))
    check(el.findtext('{%s}status' % NS_CLIENT) == 'here', 'status lost in the rewritten presence')
    b.send('<presence/>')
    a.send("<presence to='%s'/>" % b.jid)
    el = b.wait_for(is_presence_from(a.jid), 10, 'directed presence')
    check(photo_of(el) == sha1(data), 'directed presence photo %r' % photo_of(el))


@test
def avatar_presence_rules_empty_photo_left_alone(suite):
    srv = suite.server()
    a, a2 = pair(srv, 'avrules')
    data = image(500)
    set_vcard(a, data)
    h = sha1(data)
    el = presence_seen(a, a2, "<presence><x xmlns='%s'><photo/></x></presence>" % NS_UPDATE)
    check(photo_of(el) == '', 'empty <photo/> changed into %r' % photo_of(el))
    el = presence_seen(a, a2, "<presence><x xmlns='%s'/></presence>" % NS_UPDATE)
    check(photo_of(el) == h, 'update without photo: %r, wanted %s' % (photo_of(el), h))
    el = presence_seen(a, a2, "<presence><x xmlns='%s'><photo>%s</photo></x></presence>" % (
        NS_UPDATE, '0' * 40))
    check(photo_of(el) == h, 'another hash left as %r, wanted %s' % (photo_of(el), h))
    a2.raw = bytearray()
    el = presence_seen(a, a2, '<presence><status>hi</status></presence>')
    check(photo_of(el) == h, 'plain presence photo %r, wanted %s' % (photo_of(el), h))
    check(b'<status>hi</status>' in a2.raw, 'status not copied as sent: %r' % bytes(a2.raw[-300:]))
    xs = el.findall('{%s}x' % NS_UPDATE)
    check(len(xs) == 1, '%d update elements' % len(xs))


@test
def avatar_not_converted_unless_open_and_matching(suite):
    srv = suite.server()
    a = srv.login('avclosed', 'pc')
    publish_avatar(a, image(400), opts='')  # default access model: presence
    bad = image(400)
    a2 = srv.login('avbadhash', 'pc')
    publish_avatar(a2, bad, item_id=sha1(b'something else'))
    a.ping()
    a2.ping()
    time.sleep(0.5)
    check(vcard_photo(a, a.jid.split('/')[0]) is None, 'a presence-only avatar went into the vCard')
    check(vcard_photo(a2, a2.jid.split('/')[0]) is None, 'an avatar with a wrong id was converted')
    a3, a4 = pair(srv, 'avclosed')
    el = presence_seen(a3, a4, '<presence/>')
    check(photo_of(el) is None, 'presence carries %r without a vCard photo' % photo_of(el))


@test
def avatar_vcard_photo_published_as_pep_avatar(suite):
    srv = suite.server()
    a = srv.login('avvcard', 'pc')
    data = image(800)
    set_vcard(a, data, 'image/jpeg')
    h = sha1(data)
    deadline = time.monotonic() + 8
    while True:
        el = a.iq('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS_PUBSUB, NS_META))
        info = el.find('.//{%s}info' % NS_META) if el.get('type') == 'result' else None
        if info is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(info is not None and info.get('id') == h and info.get('type') == 'image/jpeg' and
          info.get('bytes') == str(len(data)), 'metadata item: %s' % (
              info is not None and info.attrib))
    el = answered(a.iq('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (
        NS_PUBSUB, NS_DATA)), 'data items')
    d = el.find('.//{%s}data' % NS_DATA)
    check(d is not None and base64.b64decode(d.text) == data, 'data item differs from the vCard')


@test
def avatar_hash_loaded_from_stored_vcard_after_restart(suite):
    srv = suite.private_server('avrestart')
    srv.start()
    a = srv.login('avrestart', 'pc')
    data = image(300)
    set_vcard(a, data)
    a.close()
    srv.stop()
    srv.start()
    a, a2 = pair(srv, 'avrestart')
    el = presence_seen(a, a2, '<presence/>')
    check(photo_of(el) == sha1(data), 'after restart: photo %r' % photo_of(el))


def slixmpp_publish(host, port, jid, pw, b64):
    """Publishes an avatar with slixmpp's XEP-0084 plugin on an open data node."""
    import asyncio
    import ssl

    from slixmpp import ClientXMPP
    from slixmpp.plugins.xep_0004 import Form

    data = base64.b64decode(b64)
    c = ClientXMPP(jid + '/slix', pw, sasl_mech='SCRAM-SHA-256')
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    for p in ('xep_0030', 'xep_0060', 'xep_0163', 'xep_0084'):
        c.register_plugin(p)
    mechs = c['feature_mechanisms']
    default_credentials = mechs.sasl_callback

    def credentials(required, optional):
        creds = default_credentials(required, optional)
        if 'channel_binding' in creds:
            creds['channel_binding'] = None
        return creds
    mechs.sasl_callback = credentials
    ready = asyncio.get_event_loop().create_future()
    c.add_event_handler('session_start', lambda _e: ready.done() or ready.set_result(True))

    async def run():
        c.connect(address=(host, int(port)), force_starttls=True)
        await asyncio.wait_for(ready, 15)
        form = Form()
        form['type'] = 'submit'
        form.add_field(var='FORM_TYPE', ftype='hidden',
                       value='http://jabber.org/protocol/pubsub#publish-options')
        form.add_field(var='pubsub#access_model', value='open')
        await c['xep_0084'].publish_avatar(data, options=form, timeout=10)
        await c['xep_0084'].publish_avatar_metadata(
            {'id': c['xep_0084'].generate_id(data), 'type': 'image/png', 'bytes': len(data)},
            timeout=10)
        print('published')
        c.disconnect()
    asyncio.get_event_loop().run_until_complete(asyncio.wait_for(run(), 40))


if __name__ == '__main__':
    slixmpp_publish(*sys.argv[1:6])
