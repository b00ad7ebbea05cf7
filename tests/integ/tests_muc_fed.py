# Integration tests of group chat across federation: a Prosody user in a Warbler room (presence
# with status codes, history, groupchat both ways, private messages, leave, kick, ban, members-only)
# and a Warbler user in a room of Prosody's MUC. The lab itself (hosts, DNS stub) is fedlab.py's.
import json
import os
import subprocess
import uuid

import fedlab
from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, stanza_error, test

WB1, PR = '127.0.0.21', '127.0.0.22'  # apart from tests_s2s.py's addresses and domains
WB_SVC, PR_SVC = 'conference.wbm.fed.test', 'conference.prm.fed.test'
NS_MUC = 'http://jabber.org/protocol/muc'
NS_USER = NS_MUC + '#user'
NS_ADMIN = NS_MUC + '#admin'
NS_OWNER = NS_MUC + '#owner'
NS_DATA = 'jabber:x:data'
NS_OCC = 'urn:xmpp:occupant-id:0'
NS_SID = 'urn:xmpp:sid:0'
NS_DELAY = 'urn:xmpp:delay'
PROSODY_MUC = 'Component "%s" "muc"\n' % PR_SVC
FED_WAIT = 20  # the first stanza to a domain waits for the stream and dialback
SLIX_PYTHON = '/usr/bin/python3'


def codes(el):
    x = el.find('{%s}x' % NS_USER)
    return set() if x is None else {int(s.get('code')) for s in x.findall('{%s}status' % NS_USER)}


def item(el):
    x = el.find('{%s}x' % NS_USER)
    it = x.find('{%s}item' % NS_USER) if x is not None else None
    return dict(it.attrib) if it is not None else {}


def is_pres(frm, type_=None):
    return lambda el: (el.tag == '{%s}presence' % NS_CLIENT and el.get('from') == frm and
                       el.get('type') == type_)


def is_msg(frm, body, type_='groupchat'):
    def pred(el):
        b = el.find('{%s}body' % NS_CLIENT)
        return (el.tag == '{%s}message' % NS_CLIENT and el.get('from') == frm and
                el.get('type') == type_ and b is not None and b.text == body)
    return pred


def join(c, occ, history='', timeout=FED_WAIT):
    """Sends a join to OCC (room/nick); returns the self-presence (status 110) or the error."""
    c.send("<presence to='%s'><x xmlns='%s'>%s</x></presence>" % (occ, NS_MUC, history))
    return c.wait_for(lambda el: el.tag == '{%s}presence' % NS_CLIENT and el.get('from') == occ
                      and (el.get('type') == 'error' or 110 in codes(el)), timeout,
                      'self-presence from %s' % occ)


def join_ok(c, occ, **kw):
    el = join(c, occ, **kw)
    check(el.get('type') is None, 'join of %s refused: %s' % (occ, stanza_error(el)))
    return el


def configure(c, room, **fields):
    f = "<field var='FORM_TYPE'><value>%s#roomconfig</value></field>" % NS_MUC
    for k, v in fields.items():
        f += "<field var='muc#roomconfig_%s'><value>%s</value></field>" % (k, v)
    el = c.iq('set', "<query xmlns='%s'><x xmlns='%s' type='submit'>%s</x></query>"
              % (NS_OWNER, NS_DATA, f), room, timeout=FED_WAIT)
    check(el.get('type') == 'result', 'configuration of %s refused: %s' % (room, stanza_error(el)))


def groupchat(sender, room, body, receivers, nick):
    sender.send("<message to='%s' type='groupchat'><body>%s</body></message>" % (room, body))
    got = [c.wait_for(is_msg('%s/%s' % (room, nick), body), FED_WAIT,
                      'groupchat %s from %s' % (body, nick)) for c in receivers]
    return got


def stanza_id_by(el, room):
    sid = el.find('{%s}stanza-id' % NS_SID)
    return sid is not None and sid.get('by') == room and bool(sid.get('id'))


def with_fed(suite, name, fn):
    lab = fedlab.FedLab(suite, name)
    try:
        lab.start_dns()
        for d, a in (('wbm.fed.test', WB1), (WB_SVC, WB1), ('prm.fed.test', PR), (PR_SVC, PR)):
            lab.add_host(d, a)
        pr = lab.prosody('prm.fed.test', PR, extra=PROSODY_MUC).start()
        wb = fedlab.FedServer(suite, lab, 'fed-' + name, 'wbm.fed.test', WB1).start()
        fn(wb, pr)
        wb.stop()
    finally:
        lab.close()


def remote_disco(b, room):
    """The service and the room answer disco#info from a remote server's user."""
    for to, category in ((WB_SVC, 'conference'), (room, 'conference')):
        el = b.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to, timeout=FED_WAIT)
        check(el.get('type') == 'result', 'disco#info of %s: %s' % (to, stanza_error(el)))
        ident = el.find('.//{%s}identity' % NS_DISCO_INFO)
        feats = [f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)]
        check(ident is not None and ident.get('category') == category and NS_MUC in feats,
              'disco#info of %s: %s %s' % (to, ident is not None and ident.attrib, feats))


def remote_joins_and_chats(a, b, room):
    """B (on Prosody) joins ROOM where A (owner, 'alice') is; presence, history, messages."""
    self_el = join_ok(b, room + '/bob', history="<history maxstanzas='5'/>")
    check(item(self_el).get('role') == 'participant', 'remote self item %s' % item(self_el))
    check(self_el.find('{%s}occupant-id' % NS_OCC) is not None, 'remote self has no occupant-id')
    # Occupants come before the self-presence, then the history; they are queued in b.
    alice = b.wait_for(is_pres(room + '/alice'), 5, "alice's presence in bob's join")
    check(item(alice).get('affiliation') == 'owner', 'owner item seen remotely %s' % item(alice))
    check(alice.find('{%s}occupant-id' % NS_OCC) is not None, 'occupant-id missing remotely')
    hist = b.wait_for(is_msg(room + '/alice', 'before-bob'), 5, 'history on the remote join')
    check(hist.find('{%s}delay' % NS_DELAY) is not None, 'history without delay')
    seen = a.wait_for(is_pres(room + '/bob'), FED_WAIT, "bob's presence at alice")
    check(item(seen).get('jid', '').startswith('bob@prm.fed.test/'),
          'the owner does not see the remote real JID: %s' % item(seen))
    check(seen.find('{%s}occupant-id' % NS_OCC) is not None, 'remote occupant lacks occupant-id')
    got = groupchat(b, room, 'from-prosody', [a, b], 'bob')
    check(all(stanza_id_by(e, room) for e in got), 'remote message lacks a stanza-id')
    groupchat(a, room, 'from-warbler', [a, b], 'alice')
    b.send("<message to='%s/alice' type='chat'><body>pm-to-alice</body></message>" % room)
    a.wait_for(is_msg(room + '/bob', 'pm-to-alice', 'chat'), FED_WAIT, 'private message')
    a.send("<message to='%s/bob' type='chat'><body>pm-to-bob</body></message>" % room)
    b.wait_for(is_msg(room + '/alice', 'pm-to-bob', 'chat'), FED_WAIT, 'private answer')


def stream_loss_keeps_occupant(wb, a, b, room):
    """XEP-0045 ties occupancy to presence, not to a server-to-server stream: closing the
    streams removes nobody, and the room's traffic reaches the remote occupant again."""
    r = wb.ctl('s2s', 'close', 'prm.fed.test')
    check(r.returncode == 0 and 'closed' in r.stdout, 's2s close: %r %r' % (r.stdout, r.stderr))
    check(a.silent_for(is_pres(room + '/bob', 'unavailable'), 1),
          'the remote occupant was removed when the streams closed')
    groupchat(a, room, 'after-close', [a, b], 'alice')
    groupchat(b, room, 'back-again', [a, b], 'bob')


def kick_and_ban(a, b, room):
    el = a.iq('set', "<query xmlns='%s'><item nick='bob' role='none'/></query>" % NS_ADMIN, room)
    check(el.get('type') == 'result', 'kick refused: %s' % stanza_error(el))
    gone = b.wait_for(is_pres(room + '/bob', 'unavailable'), FED_WAIT, 'kick at the remote')
    check(307 in codes(gone) and 110 in codes(gone), 'kick codes %s' % codes(gone))
    gone = a.wait_for(is_pres(room + '/bob', 'unavailable'), FED_WAIT, 'kick at the owner')
    check(307 in codes(gone), 'kick codes at the owner %s' % codes(gone))
    join_ok(b, room + '/bob')
    a.wait_for(is_pres(room + '/bob'), FED_WAIT, 'bob back')
    el = a.iq('set', "<query xmlns='%s'><item jid='bob@prm.fed.test' affiliation='outcast'/>"
              "</query>" % NS_ADMIN, room)
    check(el.get('type') == 'result', 'ban refused: %s' % stanza_error(el))
    gone = b.wait_for(is_pres(room + '/bob', 'unavailable'), FED_WAIT, 'ban at the remote')
    check(301 in codes(gone), 'ban codes %s' % codes(gone))
    el = join(b, room + '/bob')
    check(stanza_error(el) == 'forbidden', 'a banned remote user joins: %s' % stanza_error(el))


@test
def muc_fed_prosody_user_joins_a_warbler_room_and_chats(suite):
    def body(wb, pr):
        a = wb.login('alice', 'wb')
        room = 'fed-%s@%s' % (uuid.uuid4().hex[:6], WB_SVC)
        el = join_ok(a, room + '/alice', timeout=10)
        check(201 in codes(el), 'no status 201: %s' % codes(el))
        configure(a, room, whois='moderators')
        groupchat(a, room, 'before-bob', [a], 'alice')
        b = pr.login('bob', 'pr')
        remote_disco(b, room)
        remote_joins_and_chats(a, b, room)
        stream_loss_keeps_occupant(wb, a, b, room)
        b.send("<presence to='%s/bob' type='unavailable'/>" % room)
        left = a.wait_for(is_pres(room + '/bob', 'unavailable'), FED_WAIT, 'bob leaving')
        check(item(left).get('role') == 'none', 'leave item %s' % item(left))
        b.wait_for(is_pres(room + '/bob', 'unavailable'), FED_WAIT, 'own leave echoed')
        join_ok(b, room + '/bob')
        a.wait_for(is_pres(room + '/bob'), FED_WAIT, 'bob rejoining')
        kick_and_ban(a, b, room)
        members = 'mem-%s@%s' % (uuid.uuid4().hex[:6], WB_SVC)
        join_ok(a, members + '/alice', timeout=10)
        configure(a, members, membersonly='1')
        el = join(b, members + '/bob')
        check(stanza_error(el) == 'registration-required',
              'a remote non-member joins a members-only room: %s' % stanza_error(el))
    with_fed(suite, 'mucpr', body)


@test
def muc_fed_warbler_user_joins_a_prosody_room_and_chats(suite):
    def body(wb, pr):
        b = pr.login('carol', 'pr')
        room = 'pr-%s@%s' % (uuid.uuid4().hex[:6], PR_SVC)
        join_ok(b, room + '/carol', timeout=10)
        configure(b, room)
        a = wb.login('dave', 'wb')
        self_el = join_ok(a, room + '/dave')
        check(item(self_el).get('role') in ('participant', 'moderator'), 'item %s' % item(self_el))
        a.wait_for(is_pres(room + '/carol'), 5, "carol's presence at the Warbler user")
        b.wait_for(is_pres(room + '/dave'), FED_WAIT, "dave's presence at carol")
        groupchat(a, room, 'wb-to-pr', [a, b], 'dave')
        groupchat(b, room, 'pr-to-wb', [a, b], 'carol')
        a.send("<presence to='%s/dave' type='unavailable'/>" % room)
        b.wait_for(is_pres(room + '/dave', 'unavailable'), FED_WAIT, 'dave leaving')
    with_fed(suite, 'mucwb', body)


SLIX_SCRIPT = r"""
import asyncio, json, ssl, sys
from slixmpp import ClientXMPP
host, jid, pw, room = sys.argv[1:5]
out = {}
class C(ClientXMPP):
    def __init__(self):
        super().__init__(jid, pw, sasl_mech='SCRAM-SHA-1')
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for p in ('xep_0030', 'xep_0045'):
            self.register_plugin(p)
        loop = asyncio.get_event_loop()
        self.ready, self.got = loop.create_future(), loop.create_future()
        self.add_event_handler('session_start', lambda e: self.ready.set_result(True))
        self.add_event_handler('groupchat_message', self.on_msg)
    def on_msg(self, m):
        if m['body'] == 'to-slixmpp' and not self.got.done():
            self.got.set_result(m['from'].resource)
async def main():
    c = C()
    c.connect(address=(host, 5222), force_starttls=True)
    await asyncio.wait_for(c.ready, 20)
    c.send_presence()
    await asyncio.wait_for(c['xep_0045'].join_muc_wait(room, 'slix', maxstanzas=0), 20)
    out['roster'] = sorted(c['xep_0045'].get_roster(room))
    out['role'] = c['xep_0045'].get_jid_property(room, 'slix', 'role')
    info = await c['xep_0030'].get_info(jid=room, timeout=20)
    out['features'] = sorted(info['disco_info']['features'])
    c.send_message(mto=room, mbody='from-slixmpp', mtype='groupchat')
    out['got'] = await asyncio.wait_for(c.got, 20)
    c['xep_0045'].leave_muc(room, 'slix')
    await asyncio.sleep(0.2)
    c.disconnect()
    print(json.dumps(out))
asyncio.get_event_loop().run_until_complete(main())
"""


@test
def muc_fed_slixmpp_on_prosody_chats_in_a_warbler_room(suite):
    def body(wb, pr):
        a = wb.login('erin', 'wb')
        room = 'slix-%s@%s' % (uuid.uuid4().hex[:6], WB_SVC)
        join_ok(a, room + '/erin', timeout=10)
        configure(a, room)
        jid, pw = pr.register('frank')
        proc = subprocess.Popen([SLIX_PYTHON, '-c', SLIX_SCRIPT, PR, jid, pw, room],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            a.wait_for(is_pres(room + '/slix'), 40, 'the slixmpp user joining')
            a.wait_for(is_msg(room + '/slix', 'from-slixmpp'), 40, 'the slixmpp message')
            a.send("<message to='%s' type='groupchat'><body>to-slixmpp</body></message>" % room)
            a.wait_for(is_pres(room + '/slix', 'unavailable'), 40, 'the slixmpp user leaving')
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        check(proc.returncode == 0, 'slixmpp: exit %d: %s' % (proc.returncode,
                                                             stderr.strip()[-1500:]))
        out = json.loads(stdout.strip().splitlines()[-1])
        check(out['roster'] == ['erin', 'slix'], 'slixmpp sees the occupants %s' % out['roster'])
        check(out['role'] == 'participant', 'slixmpp role %s' % out['role'])
        check(NS_MUC in out['features'], 'room features seen by slixmpp %s' % out['features'])
        check(out['got'] == 'erin', 'slixmpp got the message from %s' % out['got'])
    with_fed(suite, 'mucslix', body)


WBJ, EJM = '127.0.0.61', '127.0.0.62'  # apart from the other federation tests' addresses
WBJ_SVC, EJM_SVC = 'conference.wbj.fed.test', 'conference.ejm.fed.test'


@test
def muc_fed_ejabberd_user_joins_a_warbler_room_and_warbler_user_an_ejabberd_room(suite):
    lab = fedlab.FedLab(suite, 'mucej')
    try:
        lab.start_dns()
        for d, addr in (('wbj.fed.test', WBJ), (WBJ_SVC, WBJ), ('ejm.fed.test', EJM),
                        (EJM_SVC, EJM)):
            lab.add_host(d, addr)
        ca = fedlab.TestCA(os.path.join(lab.dir, 'ca'))
        # Warbler first: no traffic to it before it listens (ejabberd caches s2s failures).
        wb = fedlab.FedServer(suite, lab, 'fed-mucej', 'wbj.fed.test', WBJ).start()
        ej = lab.ejabberd('ejm.fed.test', EJM, ca,
                          modules='  mod_muc:\n    host: "conference.@HOST@"\n').start()
        # An ejabberd user in a Warbler room.
        a = wb.login('alice', 'wb')
        room = 'ej-%s@%s' % (uuid.uuid4().hex[:6], WBJ_SVC)
        el = join_ok(a, room + '/alice', timeout=10)
        check(201 in codes(el), 'no status 201: %s' % codes(el))
        configure(a, room, whois='moderators')
        b = ej.login('bob')
        self_el = join_ok(b, room + '/bob')
        check(item(self_el).get('role') == 'participant', 'ejabberd self item %s' % item(self_el))
        alice = b.wait_for(is_pres(room + '/alice'), 5, "alice's presence at the ejabberd user")
        check(item(alice).get('affiliation') == 'owner', 'owner item at ejabberd %s' % item(alice))
        seen = a.wait_for(is_pres(room + '/bob'), FED_WAIT, "bob's presence at alice")
        check(item(seen).get('jid', '').startswith('bob@ejm.fed.test/'),
              'the owner does not see the ejabberd real JID: %s' % item(seen))
        groupchat(b, room, 'from-ejabberd', [a, b], 'bob')
        groupchat(a, room, 'from-warbler', [a, b], 'alice')
        # A Warbler user in a room of ejabberd's mod_muc.
        c = ej.login('carol')
        eroom = 'ej-%s@%s' % (uuid.uuid4().hex[:6], EJM_SVC)
        el = join_ok(c, eroom + '/carol', timeout=10)
        check(201 in codes(el), 'no status 201 from ejabberd: %s' % codes(el))
        configure(c, eroom)
        d = wb.login('dave', 'wb')
        self_el = join_ok(d, eroom + '/dave')
        check(item(self_el).get('role') in ('participant', 'moderator'), 'item %s' % item(self_el))
        d.wait_for(is_pres(eroom + '/carol'), 5, "carol's presence at the Warbler user")
        c.wait_for(is_pres(eroom + '/dave'), FED_WAIT, "dave's presence at carol")
        groupchat(d, eroom, 'wb-to-ej', [c, d], 'dave')
        groupchat(c, eroom, 'ej-to-wb', [c, d], 'carol')
        d.send("<presence to='%s/dave' type='unavailable'/>" % eroom)
        c.wait_for(is_pres(eroom + '/dave', 'unavailable'), FED_WAIT, 'dave leaving')
        wb.stop()
    finally:
        lab.close()
