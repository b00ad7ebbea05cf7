#!/usr/bin/python3
# slixmpp driver of the IM integration tests (tests_real_clients.py): runs one scenario with real
# slixmpp clients and prints what they observed as one JSON line; it does not judge the results.
import asyncio
import json
import ssl
import sys
import time

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ElementBase

TIMEOUT_S = 40
PLUGINS = ('xep_0030', 'xep_0049', 'xep_0054', 'xep_0191', 'xep_0092', 'xep_0202', 'xep_0012',
           'xep_0199', 'xep_0203')


class Note(ElementBase):
    """The payload stored in private XML storage (XEP-0049)."""
    name = 'note'
    namespace = 'urn:warbler:test:notes'
    plugin_attrib = 'wbnote'
    interfaces = {'text'}
    sub_interfaces = {'text'}


class Client(ClientXMPP):
    """A slixmpp client that trusts the test certificate and records stanzas for the scenario."""

    def __init__(self, jid, password):
        super().__init__(jid, password, sasl_mech='SCRAM-SHA-256')
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for plugin in PLUGINS:
            self.register_plugin(plugin)
        self['xep_0049'].register(Note)
        self.messages = []
        self.pushes = []
        self.available = set()
        self.unavailable = set()
        self.ready = asyncio.get_event_loop().create_future()
        self.add_event_handler('session_start', self._on_session)
        self.add_event_handler('failed_all_auth', self._on_auth_failed)
        self.add_event_handler('message', self.messages.append)
        self.add_event_handler('message_error', self.messages.append)
        self.add_event_handler('roster_update', self._on_roster)
        self.add_event_handler('presence_available', lambda p: self.available.add(p['from'].bare))
        self.add_event_handler('presence_unavailable',
                               lambda p: self.unavailable.add(p['from'].bare))
        # slixmpp binds only with tls-unique (undefined in TLS 1.3) and otherwise sends the "y"
        # flag, which a server offering -PLUS must refuse (RFC 5802): claim no binding at all.
        mechs = self['feature_mechanisms']
        default_credentials = mechs.sasl_callback

        def credentials(required, optional):
            creds = default_credentials(required, optional)
            if 'channel_binding' in creds:
                creds['channel_binding'] = None
            return creds
        mechs.sasl_callback = credentials

    def _on_session(self, _event):
        if not self.ready.done():
            self.ready.set_result(True)

    def _on_auth_failed(self, _event):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError('authentication of %s failed' % self.boundjid))

    def _on_roster(self, iq):
        if iq['type'] == 'set':
            self.pushes.append(items_of(iq))


def items_of(iq):
    """{jid: {'name', 'subscription', 'groups'}} of a roster result or push."""
    return {str(jid): {'name': v.get('name', ''), 'subscription': v.get('subscription', ''),
                       'groups': sorted(v.get('groups', []))}
            for jid, v in iq['roster']['items'].items()}


async def login(args, jid, password, presence=True):
    c = Client(jid, password)
    c.connect(address=(args['host'], int(args['port'])), force_starttls=True)
    await asyncio.wait_for(c.ready, 15)
    if presence:
        c.send_presence()
    return c


async def logout(c):
    c.disconnect(wait=2)
    try:
        await asyncio.wait_for(c.disconnected, 5)
    except asyncio.TimeoutError:
        pass


async def until(pred, timeout):
    """Waits until pred() is true; returns its final value."""
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return pred()


async def server_roster(c):
    """The full roster as the server has it (a get without ver, so never an empty answer)."""
    iq = c.Iq()
    iq['type'] = 'get'
    iq.enable('roster')
    return items_of(await iq.send(timeout=10))


def send_numbered(a, to, n, prefix):
    for i in range(n):
        msg = a.make_message(mto=to, mbody='%s %d' % (prefix, i), mtype='chat')
        msg['id'] = '%s%d' % (prefix, i)
        msg.send()


def error_of(exc):
    return exc.iq['error']['condition'] if isinstance(exc, IqError) else 'timeout'


# --- scenarios: each returns a dict of observations -----------------------------------------

async def sc_roster(args):
    contact = args['contact']
    a1 = await login(args, args['jid'] + '/one', args['pw'])
    a2 = await login(args, args['jid'] + '/two', args['pw'])
    await a1.get_roster(timeout=10)
    await a2.get_roster(timeout=10)
    out = {'before': await server_roster(a1)}
    await a1.update_roster(contact, name='Friend', groups=['Pals'], timeout=10)
    await until(lambda: any(contact in p for p in a2.pushes), 5)
    out['push_add'] = next((p[contact] for p in a2.pushes if contact in p), None)
    out['after_add'] = await server_roster(a1)
    a2.pushes.clear()
    await a1.del_roster_item(contact)
    await until(lambda: any(contact in p for p in a2.pushes), 5)
    out['push_remove'] = next((p[contact] for p in a2.pushes if contact in p), None)
    out['after_remove'] = await server_roster(a2)
    await logout(a1)
    await logout(a2)
    return out


async def sc_presence(args):
    a_jid, b_jid = args['jid'], args['peer']
    a = await login(args, a_jid + '/sa', args['pw'])
    b = await login(args, b_jid + '/sb', args['peer_pw'])
    for c in (a, b):
        c.roster.auto_authorize = True
        c.roster.auto_subscribe = True
        await c.get_roster(timeout=10)
    a.send_presence(pto=b_jid, ptype='subscribe')
    out = {}

    def both():
        return (a.client_roster[b_jid]['subscription'] == 'both' and
                b.client_roster[a_jid]['subscription'] == 'both')
    await until(lambda: both() and b_jid in a.available and a_jid in b.available, 10)
    out['a_roster'] = await server_roster(a)
    out['b_roster'] = await server_roster(b)
    out['a_sees_b'] = b_jid in a.available and bool(a.client_roster[b_jid].resources)
    out['b_sees_a'] = a_jid in b.available and bool(b.client_roster[a_jid].resources)
    await logout(b)
    out['a_sees_b_offline'] = await until(
        lambda: b_jid in a.unavailable and not a.client_roster[b_jid].resources, 10)
    await logout(a)
    return out


async def sc_offline_send(args):
    a = await login(args, args['jid'] + '/sender', args['pw'])
    n, prefix = int(args['n']), args['prefix']
    send_numbered(a, args['peer'], n, prefix)
    await a['xep_0199'].ping('localhost', timeout=10)
    out = {'errors': [m['id'] for m in a.messages if m['type'] == 'error']}
    await logout(a)
    return out


async def sc_offline_recv(args):
    n = int(args['n'])
    b = await login(args, args['jid'] + '/receiver', args['pw'])
    await until(lambda: len(b.messages) >= n, 15)
    await asyncio.sleep(0.5)  # would show duplicates or extras
    got = []
    for m in b.messages:
        stamp = m['delay']['stamp']
        got.append({'id': m['id'], 'type': m['type'], 'from': str(m['from']),
                    'body': m['body'], 'stamp': stamp.isoformat() if stamp else None,
                    'delay_from': str(m['delay']['from'])})
    await logout(b)
    return {'messages': got}


async def sc_vcard(args):
    a = await login(args, args['jid'] + '/vc', args['pw'], presence=False)
    b = await login(args, args['peer'] + '/vc', args['peer_pw'], presence=False)
    card = a['xep_0054'].make_vcard()
    card['NICKNAME'] = args['nick']
    card['FN'] = args['fn']
    await a['xep_0054'].publish_vcard(card, timeout=10)
    got = await b['xep_0054'].get_vcard(args['jid'], timeout=10)
    own = await a['xep_0054'].get_vcard(args['jid'], timeout=10)
    out = {'peer_nick': got['vcard_temp']['NICKNAME'], 'peer_fn': got['vcard_temp']['FN'],
           'own_nick': own['vcard_temp']['NICKNAME'], 'own_fn': own['vcard_temp']['FN']}
    for key in ('peer_nick', 'own_nick'):  # slixmpp gives every NICKNAME, in a list
        if isinstance(out[key], list):
            out[key] = out[key][0] if len(out[key]) == 1 else out[key]
    await logout(a)
    await logout(b)
    return out


async def sc_private(args):
    a = await login(args, args['jid'] + '/p1', args['pw'], presence=False)
    note = Note()
    note['text'] = args['text']
    await a['xep_0049'].store(note, timeout=10)
    same = await a['xep_0049'].retrieve('wbnote', timeout=10)
    await logout(a)
    again = await login(args, args['jid'] + '/p2', args['pw'], presence=False)
    later = await again['xep_0049'].retrieve('wbnote', timeout=10)
    await logout(again)
    return {'same_session': same['private']['wbnote']['text'],
            'next_session': later['private']['wbnote']['text']}


async def sc_blocking(args):
    a_jid, b_jid = args['jid'], args['peer']
    a = await login(args, a_jid + '/blk', args['pw'])
    b = await login(args, b_jid + '/blk', args['peer_pw'])
    await a['xep_0191'].block(b_jid, timeout=10)
    out = {'blocked': sorted(str(j) for j in
                             (await a['xep_0191'].get_blocked(timeout=10))['blocklist']['items'])}
    send_numbered(b, a_jid, 1, 'blocked')
    await until(lambda: any(m['type'] == 'error' for m in b.messages), 5)
    err = next((m for m in b.messages if m['type'] == 'error'), None)
    out['error_id'] = err['id'] if err else None
    out['error_condition'] = err['error']['condition'] if err else None
    await a['xep_0199'].ping('localhost', timeout=10)
    out['delivered_while_blocked'] = [m['id'] for m in a.messages if m['type'] != 'error']
    await a['xep_0191'].unblock(b_jid, timeout=10)
    out['blocked_after_unblock'] = sorted(
        str(j) for j in (await a['xep_0191'].get_blocked(timeout=10))['blocklist']['items'])
    send_numbered(b, a_jid, 1, 'free')
    await until(lambda: any(m['id'] == 'free0' for m in a.messages), 5)
    out['delivered_after_unblock'] = [m['id'] for m in a.messages if m['type'] != 'error']
    out['errors_after_unblock'] = [m['id'] for m in b.messages if m['type'] == 'error'
                                   and m['id'] != 'blocked0']
    await logout(a)
    await logout(b)
    return out


async def sc_disco(args):
    a = await login(args, args['jid'] + '/disco', args['pw'], presence=False)
    info = await a['xep_0030'].get_info(jid='localhost', timeout=10)
    out = {'features': sorted(info['disco_info']['features']),
           'identities': sorted('%s/%s' % (i[0], i[1])
                                for i in info['disco_info']['identities'])}
    ver = await a['xep_0092'].get_version('localhost', timeout=10)
    out['version'] = {k: ver['software_version'][k] for k in ('name', 'version', 'os')}
    tm = await a['xep_0202'].get_entity_time('localhost', timeout=10)
    # slixmpp 1.8 appends a second 'Z' to <utc/> before parsing it: read the raw text.
    out['time_utc'] = tm['entity_time'].xml.findtext('{urn:xmpp:time}utc')
    out['time_tzo'] = tm['entity_time'].xml.findtext('{urn:xmpp:time}tzo')
    out['local_utc'] = time.time()
    last = await a['xep_0012'].get_last_activity('localhost', timeout=10)
    out['uptime'] = last['last_activity']['seconds']
    try:
        acct = await a['xep_0030'].get_info(jid=args['jid'], timeout=10)
        out['account_identities'] = sorted('%s/%s' % (i[0], i[1])
                                           for i in acct['disco_info']['identities'])
    except (IqError, IqTimeout) as e:
        out['account_identities'] = 'error: %s' % error_of(e)
    await logout(a)
    return out


SCENARIOS = {'roster': sc_roster, 'presence': sc_presence, 'offline-send': sc_offline_send,
             'offline-recv': sc_offline_recv, 'vcard': sc_vcard, 'private': sc_private,
             'blocking': sc_blocking, 'disco': sc_disco}


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in SCENARIOS:
        sys.exit('usage: slix_im.py %s HOST PORT KEY=VALUE...' % '|'.join(SCENARIOS))
    args = {'host': sys.argv[2], 'port': sys.argv[3]}
    args.update(kv.split('=', 1) for kv in sys.argv[4:])
    loop = asyncio.get_event_loop()
    try:
        out = loop.run_until_complete(asyncio.wait_for(SCENARIOS[sys.argv[1]](args), TIMEOUT_S))
    except asyncio.TimeoutError:
        sys.exit('slix_im: %s timed out after %d s' % (sys.argv[1], TIMEOUT_S))
    except (IqError, IqTimeout) as e:
        sys.exit('slix_im: %s: an iq failed: %s' % (sys.argv[1], error_of(e)))
    except RuntimeError as e:
        sys.exit('slix_im: %s: %s' % (sys.argv[1], e))
    finally:
        for task in asyncio.all_tasks(loop):  # slixmpp leaves filter tasks behind
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
    print(json.dumps(out, ensure_ascii=True), flush=True)


if __name__ == '__main__':
    main()
