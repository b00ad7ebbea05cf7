#!/usr/bin/python3
# Real clients on Warbler's PEP for tests_pep.py (run with /usr/bin/python3, which has slixmpp):
#   pep   JID1 PW1 JID2 PW2 HOST PORT: slixmpp's XEP-0172/0084/0223 plugins and XEP-0402 bookmarks
#   omemo JID1 PW1 JID2 PW2 HOST PORT: two python-omemo clients (oldmemo and twomemo backends)
#         exchange encrypted messages; prints one JSON line with what the test checks in pg_dump.
import asyncio
import base64
import json
import os
import ssl
import sys
import xml.etree.ElementTree as ET

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_BOOKMARKS = 'urn:xmpp:bookmarks:1'
TIMEOUT = 30


class Client(ClientXMPP):
    """A slixmpp client that accepts any certificate and subscribes both ways with its peer."""

    def __init__(self, jid, password, peer, plugins):
        super().__init__(jid, password, sasl_mech='SCRAM-SHA-256')
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.peer = peer
        self.auto_authorize = True
        self.auto_subscribe = True
        self.started = asyncio.Event()
        self.events = asyncio.Queue()
        for p in ['xep_0030', 'xep_0115', 'xep_0060', 'xep_0163'] + plugins:
            self.register_plugin(p)
        mechs = self['feature_mechanisms']
        default = mechs.sasl_callback

        def credentials(required, optional):
            creds = default(required, optional)
            if 'channel_binding' in creds:
                creds['channel_binding'] = None
            return creds
        mechs.sasl_callback = credentials
        self.add_event_handler('session_start', self.on_start)

    async def on_start(self, _event):
        await self.get_roster()
        self.send_presence()
        self.started.set()

    def subscribed(self):
        return self.client_roster[self.peer]['subscription'] == 'both'

    async def iq_xml(self, type_, payload, to=None):
        iq = self.make_iq(itype=type_, ito=to)
        iq.xml.append(ET.fromstring(payload))
        return await iq.send(timeout=10)


async def wait_until(pred, what):
    for _ in range(TIMEOUT * 10):
        if pred():
            return
        await asyncio.sleep(0.1)
    raise RuntimeError('timed out waiting for ' + what)


async def connect_pair(j1, p1, j2, p2, host, port, plugins):
    c1 = Client(j1, p1, j2, plugins)
    c2 = Client(j2, p2, j1, plugins)
    for c in (c1, c2):
        c.connect(address=(host, int(port)), force_starttls=True)
    await asyncio.wait_for(asyncio.gather(c1.started.wait(), c2.started.wait()), TIMEOUT)
    return c1, c2


def publish_options(**fields):
    f = ''.join("<field var='pubsub#%s'><value>%s</value></field>" % kv for kv in fields.items())
    return ("<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
            "type='hidden'><value>%s#publish-options</value></field>%s</x></publish-options>" %
            (NS_PUBSUB, f))


async def expect_refused(coro, what):
    try:
        await coro
    except IqError:
        return
    raise RuntimeError(what + ' was allowed')


# ---- pep: slixmpp's own plugins ----

async def pep_run(c1, c2):
    c1.send_presence_subscription(pto=c2.boundjid.bare)
    await wait_until(lambda: c1.subscribed() or c2.subscribed(), 'subscription')
    if not (c1.subscribed() and c2.subscribed()):
        c2.send_presence_subscription(pto=c1.boundjid.bare)
    await wait_until(lambda: c1.subscribed() and c2.subscribed(), 'subscriptions both ways')
    got = {}
    c2.add_event_handler('user_nick_publish', lambda m: got.setdefault('nick', m))
    c2.add_event_handler('avatar_metadata_publish', lambda m: got.setdefault('avatar', m))
    await asyncio.sleep(0.5)  # caps of both are known to the server
    await c1['xep_0172'].publish_nick('Alice «nick»')
    await wait_until(lambda: 'nick' in got, 'nick notification')
    if got['nick']['pubsub_event']['items']['item']['nick']['nick'] != 'Alice «nick»':
        raise RuntimeError('nick changed')
    avatar = os.urandom(300)
    import hashlib
    aid = hashlib.sha1(avatar).hexdigest()
    await c1['xep_0084'].publish_avatar(avatar)
    await c1['xep_0084'].publish_avatar_metadata([{'id': aid, 'type': 'image/png',
                                                  'bytes': len(avatar)}])
    await wait_until(lambda: 'avatar' in got, 'avatar metadata notification')
    res = await c2['xep_0084'].retrieve_avatar(c1.boundjid.bare, aid)
    data = res['pubsub']['items']['item']['avatar_data']['value']
    if data != avatar:
        raise RuntimeError('avatar data changed')
    # XEP-0223: persistent, whitelist: the owner reads it back, the contact cannot.
    secret = ET.fromstring("<secret xmlns='urn:example:pep-private'>only mine</secret>")
    from slixmpp.xmlstream import ElementBase

    class Secret(ElementBase):
        namespace = 'urn:example:pep-private'
        name = 'secret'
    s = Secret(xml=secret)
    await c1['xep_0223'].store(s, node='urn:example:pep-private', id='current')
    res = await c1['xep_0223'].retrieve('urn:example:pep-private', id='current')
    if 'only mine' not in str(res):
        raise RuntimeError('private storage does not read back')
    await expect_refused(c2['xep_0060'].get_items(c1.boundjid.bare, 'urn:example:pep-private'),
                         'reading whitelisted private storage')
    # XEP-0402 bookmarks (no slixmpp plugin): max_items=max, whitelist.
    for room in ('room1@muc.example', 'room2@muc.example'):
        await c1.iq_xml('set', "<pubsub xmlns='%s'><publish node='%s'><item id='%s'><conference "
                               "xmlns='%s' name='R' autojoin='true'><nick>al</nick></conference>"
                               "</item></publish>%s</pubsub>" % (
                                   NS_PUBSUB, NS_BOOKMARKS, room, NS_BOOKMARKS,
                                   publish_options(persist_items='true', max_items='max',
                                                   send_last_published_item='never',
                                                   access_model='whitelist')))
    res = await c1.iq_xml('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (
        NS_PUBSUB, NS_BOOKMARKS))
    ids = sorted(i.get('id') for i in res.xml.iter('{%s}item' % NS_PUBSUB))
    if ids != ['room1@muc.example', 'room2@muc.example']:
        raise RuntimeError('bookmarks read back as %s' % ids)
    await expect_refused(c2.iq_xml('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (
        NS_PUBSUB, NS_BOOKMARKS), c1.boundjid.bare), 'reading bookmarks of another account')
    print('ok', flush=True)


# ---- omemo: python-omemo with both backends ----

def omemo_classes():
    import oldmemo
    import oldmemo.etree
    import twomemo
    import twomemo.etree
    from omemo.session_manager import BundleNotFound, SessionManager
    from omemo.storage import Just, Nothing, Storage
    from omemo.types import TrustLevel

    class MemStorage(Storage):
        def __init__(self):
            super().__init__()
            self.data = {}

        async def _load(self, key):
            return Just(self.data[key]) if key in self.data else Nothing()

        async def _store(self, key, value):
            self.data[key] = value

        async def _delete(self, key):
            self.data.pop(key, None)

    def bundle_node(ns, device_id):
        if ns == oldmemo.oldmemo.NAMESPACE:
            return 'eu.siacs.conversations.axolotl.bundles:%d' % device_id, 'current'
        return 'urn:xmpp:omemo:2:bundles', str(device_id)

    def list_node(ns):
        return ('eu.siacs.conversations.axolotl.devicelist' if ns == oldmemo.oldmemo.NAMESPACE
                else 'urn:xmpp:omemo:2:devices')

    def etree_of(ns):
        return oldmemo.etree if ns == oldmemo.oldmemo.NAMESPACE else twomemo.etree

    class Manager(SessionManager):
        client = None

        async def _publish(self, node, item, element, **opts):
            await self.client.iq_xml('set', "<pubsub xmlns='%s'><publish node='%s'><item id='%s'>"
                                            "%s</item></publish>%s</pubsub>" % (
                                                NS_PUBSUB, node, item,
                                                ET.tostring(element, encoding='unicode'),
                                                publish_options(access_model='open', **opts)))

        async def _fetch(self, bare_jid, node, item):
            try:
                res = await self.client.iq_xml('get', "<pubsub xmlns='%s'><items node='%s'>"
                                                      "<item id='%s'/></items></pubsub>" % (
                                                          NS_PUBSUB, node, item), bare_jid)
            except IqError:
                return None
            for it in res.xml.iter('{%s}item' % NS_PUBSUB):
                if it.get('id') == item and len(it):
                    return it[0]
            return None

        async def _upload_bundle(self, bundle):
            node, item = bundle_node(bundle.namespace, bundle.device_id)
            extra = {} if item == 'current' else {'max_items': 'max'}
            await self._publish(node, item, etree_of(bundle.namespace).serialize_bundle(bundle),
                                **extra)

        async def _download_bundle(self, namespace, bare_jid, device_id):
            node, item = bundle_node(namespace, device_id)
            el = await self._fetch(bare_jid, node, item)
            if el is None:
                raise BundleNotFound('no bundle %s/%s' % (node, item))
            return etree_of(namespace).parse_bundle(el, bare_jid, device_id)

        async def _delete_bundle(self, namespace, device_id):
            node, item = bundle_node(namespace, device_id)
            await self.client.iq_xml('set', "<pubsub xmlns='%s'><retract node='%s'><item id='%s'/>"
                                            "</retract></pubsub>" % (NS_PUBSUB, node, item))

        async def _upload_device_list(self, namespace, device_list):
            await self._publish(list_node(namespace), 'current',
                                etree_of(namespace).serialize_device_list(device_list))

        async def _download_device_list(self, namespace, bare_jid):
            el = await self._fetch(bare_jid, list_node(namespace), 'current')
            return {} if el is None else etree_of(namespace).parse_device_list(el)

        async def _evaluate_custom_trust_level(self, device):
            return TrustLevel.TRUSTED  # blind trust: the test is about the server, not trust

        async def _make_trust_decision(self, undecided, identifier):
            for d in undecided:
                await self.set_trust(d.bare_jid, d.identity_key, 'trusted')

        async def _send_message(self, message, bare_jid):
            self.client.send_omemo(message, bare_jid, None)

    return Manager, MemStorage, oldmemo, twomemo


async def omemo_run(c1, c2):
    Manager, MemStorage, oldmemo, twomemo = omemo_classes()
    managers = {}
    for c in (c1, c2):
        Manager.client = c
        st = MemStorage()
        managers[c] = await Manager.create([oldmemo.Oldmemo(st), twomemo.Twomemo(st)], st,
                                           c.boundjid.bare, None, 'trusted')
        managers[c].client = c
    received = asyncio.Queue()
    NS_OLD, NS_TWO = oldmemo.oldmemo.NAMESPACE, twomemo.twomemo.NAMESPACE

    def send_omemo(c, message, bare_jid, body):
        el = (oldmemo.etree if message.namespace == NS_OLD else twomemo.etree).serialize_message(
            message)
        msg = c.make_message(mto=bare_jid, mtype='chat', mbody=body)
        msg.xml.append(el)
        msg.send()
    for c in (c1, c2):
        c.send_omemo = lambda message, bare_jid, body, c=c: send_omemo(c, message, bare_jid, body)

    async def on_message(msg):
        for ns, mod in ((NS_OLD, oldmemo.etree), (NS_TWO, twomemo.etree)):
            el = msg.xml.find('{%s}encrypted' % ns)
            if el is None:
                continue
            sender = msg['from'].bare
            if ns == NS_OLD:
                m = await mod.parse_message(el, sender, c2.boundjid.bare, managers[c2])
            else:
                m = mod.parse_message(el, sender)
            plain, _, _ = await managers[c2].decrypt(m)
            if plain is not None:
                await received.put((ns, plain.decode()))
    c2.add_event_handler('message', on_message)
    out = {'plaintexts': [], 'payloads': []}
    for ns in (NS_OLD, NS_TWO):
        await managers[c1].refresh_device_list(ns, c2.boundjid.bare)
        text = 'omemo secret %s %s' % (ns[:8], base64.b16encode(os.urandom(6)).decode())
        plain = text.encode()
        if ns == NS_TWO:  # XEP-0420 content for OMEMO 2 (enough for the library)
            plain = ("<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>%s"
                     "</body></content></envelope>" % text).encode()
        messages, errors = await managers[c1].encrypt(frozenset([c2.boundjid.bare]), {ns: plain},
                                                      [ns])
        if errors:
            raise RuntimeError('encryption errors: %s' % errors)
        for message in messages:
            el = (oldmemo.etree if ns == NS_OLD else twomemo.etree).serialize_message(message)
            payload = el.find('{%s}payload' % ns)
            out['payloads'].append(payload.text)
            send_omemo(c1, message, c2.boundjid.bare, 'This message is OMEMO encrypted.')
        got_ns, got = await asyncio.wait_for(received.get(), TIMEOUT)
        if got_ns != ns or text not in got:
            raise RuntimeError('decrypted %r in %s, sent %r' % (got, got_ns, text))
        out['plaintexts'].append(text)
    await asyncio.sleep(0.5)  # archived before the test dumps the database
    print(json.dumps(out), flush=True)


def main(mode, j1, p1, j2, p2, host, port):
    plugins = ['xep_0004', 'xep_0084', 'xep_0172', 'xep_0223'] if mode == 'pep' else ['xep_0004']
    loop = asyncio.get_event_loop()
    c1, c2 = loop.run_until_complete(connect_pair(j1, p1, j2, p2, host, port, plugins))
    try:
        run = pep_run if mode == 'pep' else omemo_run
        loop.run_until_complete(asyncio.wait_for(run(c1, c2), TIMEOUT * 2))
    finally:
        for c in (c1, c2):
            c.disconnect()
        try:
            loop.run_until_complete(asyncio.wait_for(
                asyncio.gather(c1.disconnected, c2.disconnected), 5))
        except asyncio.TimeoutError:
            pass


if __name__ == '__main__':
    if len(sys.argv) != 8 or sys.argv[1] not in ('pep', 'omemo'):
        sys.exit('usage: omemo_client.py pep|omemo JID1 PW1 JID2 PW2 HOST PORT')
    main(*sys.argv[1:])
