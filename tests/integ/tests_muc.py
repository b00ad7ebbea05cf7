# Integration tests of the MUC service (XEP-0045 with XEP-0249, XEP-0410, XEP-0421, XEP-0359):
# rooms' life cycle, configuration taking effect, roles and affiliations with their status codes
# and errors, history on join, nicknames, private rooms' member lists, persistence. Raw clients
# (several at once) and slixmpp's xep_0045.
import json
import os
import time

from wbinteg import NS_CLIENT, NS_DISCO_INFO, check, local_name, run, stanza_error, test

SVC = 'conference.localhost'
NS_MUC = 'http://jabber.org/protocol/muc'
NS_USER = NS_MUC + '#user'
NS_ADMIN = NS_MUC + '#admin'
NS_OWNER = NS_MUC + '#owner'
NS_DATA = 'jabber:x:data'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
SLIX_PYTHON = '/usr/bin/python3'


def rj(room, nick=None):
    return '%s@%s/%s' % (room, SVC, nick) if nick else '%s@%s' % (room, SVC)


def is_pres(frm, type_=None):
    def pred(el):
        return (el.tag == '{%s}presence' % NS_CLIENT and el.get('from') == frm and
                el.get('type') == type_)
    return pred


def is_msg(frm=None, body=None, type_=None):
    def pred(el):
        if el.tag != '{%s}message' % NS_CLIENT:
            return False
        if frm is not None and el.get('from') != frm:
            return False
        if type_ is not None and el.get('type') != type_:
            return False
        b = el.find('{%s}body' % NS_CLIENT)
        return body is None or (b is not None and b.text == body)
    return pred


def codes(el):
    x = el.find('{%s}x' % NS_USER)
    return set() if x is None else {int(s.get('code')) for s in x.findall('{%s}status' % NS_USER)}


def item(el):
    x = el.find('{%s}x' % NS_USER)
    it = x.find('{%s}item' % NS_USER) if x is not None else None
    return dict(it.attrib) if it is not None else {}


def join(c, room, nick, password=None, history='', muc=True, timeout=10):
    """Sends the join presence; returns the room's self-presence (status 110) or the error."""
    inner = ''
    if muc:
        pw = '<password>%s</password>' % password if password else ''
        inner = "<x xmlns='%s'>%s%s</x>" % (NS_MUC, pw, history)
    c.send("<presence to='%s'>%s</presence>" % (rj(room, nick), inner))
    return c.wait_for(lambda el: el.tag == '{%s}presence' % NS_CLIENT and
                      el.get('from') == rj(room, nick) and
                      (el.get('type') == 'error' or 110 in codes(el)), timeout,
                      'self-presence from %s' % rj(room, nick))


def join_ok(c, room, nick, **kw):
    el = join(c, room, nick, **kw)
    check(el.get('type') is None, 'join of %s refused: %s' % (rj(room, nick), stanza_error(el)))
    return el


def form(fields):
    f = "<field var='FORM_TYPE'><value>%s#roomconfig</value></field>" % NS_MUC
    for k, v in fields.items():
        f += "<field var='muc#roomconfig_%s'><value>%s</value></field>" % (k, v)
    return "<query xmlns='%s'><x xmlns='%s' type='submit'>%s</x></query>" % (NS_OWNER, NS_DATA, f)


def configure(c, room, **fields):
    el = c.iq('set', form(fields), rj(room))
    check(el.get('type') == 'result', 'configuration of %s refused: %s' % (room, stanza_error(el)))


def create(c, room, nick, **fields):
    """A room created by C (reserved, then configured with FIELDS)."""
    el = join_ok(c, room, nick)
    check(201 in codes(el), 'no status 201 for a new room: %s' % codes(el))
    configure(c, room, **fields)
    return el


def admin(c, room, items, type_='set'):
    return c.iq(type_, "<query xmlns='%s'>%s</query>" % (NS_ADMIN, items), rj(room))


def err_of(el):
    return stanza_error(el) if el.get('type') == 'error' else None


@test
def muc_service_is_listed_and_discoverable(suite):
    srv = suite.server()
    a = srv.login('mucdisco')
    el = a.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, 'localhost')
    jids = [i.get('jid') for i in el.iter('{%s}item' % NS_ITEMS)]
    check(SVC in jids, 'server disco#items lacks the MUC service: %s' % jids)
    el = a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, SVC)
    ident = el.find('.//{%s}identity' % NS_DISCO_INFO)
    check(ident is not None and ident.get('category') == 'conference' and
          ident.get('type') == 'text', 'service identity: %s' % (
              ident.attrib if ident is not None else None))
    feats = [f.get('var') for f in el.iter('{%s}feature' % NS_DISCO_INFO)]
    check(NS_MUC in feats, 'service features lack muc: %s' % feats)


@test
def muc_room_life_cycle_reserved_configured_used_destroyed(suite):
    srv = suite.server()
    a, b = srv.login('muclc_a'), srv.login('muclc_b')
    el = join_ok(a, 'lifecycle', 'alice')
    check(codes(el) >= {110, 201}, 'creator codes %s' % codes(el))
    check(item(el).get('affiliation') == 'owner' and item(el).get('role') == 'moderator',
          'creator item %s' % item(el))
    check(el.find('{urn:xmpp:occupant-id:0}occupant-id') is not None, 'no occupant-id')
    el = join(b, 'lifecycle', 'bob')
    check(err_of(el) == 'item-not-found', 'joining a locked room: %s' % err_of(el))
    el = b.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, rj('lifecycle'))
    check(err_of(el) == 'item-not-found', 'a locked room shows itself: %s' % el.get('type'))
    frm = a.iq('get', "<query xmlns='%s'/>" % NS_OWNER, rj('lifecycle'))
    vars_ = [f.get('var') for f in frm.iter('{%s}field' % NS_DATA)]
    for v in ('roomname', 'roomdesc', 'persistentroom', 'publicroom', 'membersonly',
              'passwordprotectedroom', 'roomsecret', 'moderatedroom', 'whois', 'changesubject',
              'allowinvites', 'allowpm', 'maxusers', 'historylength'):
        check('muc#roomconfig_' + v in vars_, 'form lacks %s' % v)
    configure(a, 'lifecycle', roomname='Life Cycle', roomdesc='A test room', publicroom='1')
    el = join_ok(b, 'lifecycle', 'bob')
    check(item(el).get('role') == 'participant' and 'jid' in item(el),
          'bob self item %s' % item(el))
    a.wait_for(is_pres(rj('lifecycle', 'bob')), 10, 'bob presence at alice')
    info = b.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, rj('lifecycle'))
    ident = info.find('.//{%s}identity' % NS_DISCO_INFO)
    check(ident is not None and ident.get('name') == 'Life Cycle', 'room name not in disco')
    fv = {f.get('var'): f.findtext('{%s}value' % NS_DATA) for f in info.iter('{%s}field' % NS_DATA)}
    check(fv.get('FORM_TYPE') == NS_MUC + '#roominfo' and
          fv.get('muc#roominfo_description') == 'A test room', 'roominfo form %s' % fv)
    items = b.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, SVC)
    check(rj('lifecycle') in [i.get('jid') for i in items.iter('{%s}item' % NS_ITEMS)],
          'public room not listed by the service')
    a.send("<message to='%s' type='groupchat' id='g1'><body>hello room</body></message>"
           % rj('lifecycle'))
    for c in (a, b):
        m = c.wait_for(is_msg(rj('lifecycle', 'alice'), 'hello room'), 10, 'groupchat')
        sid = m.find('{urn:xmpp:sid:0}stanza-id')
        check(sid is not None and sid.get('by') == rj('lifecycle'), 'no stanza-id by the room')
        check(m.find('{urn:xmpp:occupant-id:0}occupant-id') is not None, 'no occupant-id')
    el = a.iq('set', "<query xmlns='%s'><destroy jid='%s'><reason>moved</reason></destroy>"
              "</query>" % (NS_OWNER, rj('elsewhere')), rj('lifecycle'))
    check(el.get('type') == 'result', 'destroy: %s' % err_of(el))
    gone = b.wait_for(is_pres(rj('lifecycle', 'bob'), 'unavailable'), 10, 'destroy notice')
    d = gone.find('{%s}x/{%s}destroy' % (NS_USER, NS_USER))
    check(d is not None and d.get('jid') == rj('elsewhere') and
          d.findtext('{%s}reason' % NS_USER) == 'moved', 'destroy element missing or wrong')
    el = b.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, rj('lifecycle'))
    check(err_of(el) == 'item-not-found', 'destroyed room still answers: %s' % el.get('type'))


@test
def muc_nickname_conflict_and_change(suite):
    srv = suite.server()
    a, b = srv.login('mucnick_a'), srv.login('mucnick_b')
    create(a, 'nicks', 'alice')
    el = join(b, 'nicks', 'alice')
    check(err_of(el) == 'conflict', 'same nickname: %s' % err_of(el))
    join_ok(b, 'nicks', 'bob')
    a.wait_for(is_pres(rj('nicks', 'bob')), 10, 'bob joined')
    b.send("<presence to='%s'/>" % rj('nicks', 'alice'))
    el = b.wait_for(is_pres(rj('nicks', 'alice'), 'error'), 10, 'conflict on change')
    check(err_of(el) == 'conflict', 'nick change to a used nick: %s' % err_of(el))
    b.send("<presence to='%s'/>" % rj('nicks', 'robert'))
    el = a.wait_for(is_pres(rj('nicks', 'bob'), 'unavailable'), 10, '303 at alice')
    check(303 in codes(el) and item(el).get('nick') == 'robert', '303 presence %s %s' % (
        codes(el), item(el)))
    el = b.wait_for(is_pres(rj('nicks', 'bob'), 'unavailable'), 10, '303 at bob')
    check(codes(el) >= {303, 110}, 'self 303 codes %s' % codes(el))
    a.wait_for(is_pres(rj('nicks', 'robert')), 10, 'new nick at alice')
    el = join(b, 'nicks', 'x' * 100)
    check(err_of(el) in ('not-acceptable', 'conflict'), 'over-long nick: %s' % err_of(el))


@test
def muc_history_on_join_with_each_parameter(suite):
    srv = suite.server()
    a = srv.login('muchist_a')
    create(a, 'history', 'alice', historylength='10')
    for i in range(5):
        a.send("<message to='%s' type='groupchat'><body>h%d</body></message>" % (rj('history'), i))
        a.wait_for(is_msg(rj('history', 'alice'), 'h%d' % i), 10, 'echo')
    cases = [("<history maxstanzas='2'/>", ['h3', 'h4']),
             ("<history maxstanzas='0'/>", []),
             ("<history maxchars='0'/>", []),
             ("<history seconds='3600'/>", ['h0', 'h1', 'h2', 'h3', 'h4']),
             ("<history since='2099-01-01T00:00:00Z'/>", []),
             ("<history since='2000-01-01T00:00:00Z' maxstanzas='3'/>", ['h2', 'h3', 'h4']),
             ('', ['h0', 'h1', 'h2', 'h3', 'h4'])]
    for n, (hist, want) in enumerate(cases):
        c = srv.login('muchist_b', 'r%d' % n)
        join_ok(c, 'history', 'reader%d' % n, history=hist)
        got = []
        while True:
            try:
                m = c.wait_for(is_msg(type_='groupchat'), 1.5, 'history')
            except Exception:
                break
            if m.find('{%s}subject' % NS_CLIENT) is not None:
                break
            check(m.find('{urn:xmpp:delay}delay') is not None, 'history without delay')
            got.append(m.findtext('{%s}body' % NS_CLIENT))
        check(got == want, 'history %r gave %s, wanted %s' % (hist, got, want))
        c.send("<presence type='unavailable' to='%s'/>" % rj('history', 'reader%d' % n))
        c.close()


@test
def muc_members_only_password_and_invitation(suite):
    srv = suite.server()
    a, b, c = srv.login('mucmo_a'), srv.login('mucmo_b'), srv.login('mucmo_c')
    create(a, 'private', 'alice', membersonly='1', allowinvites='0')
    b.send('<presence/>')  # invitations go to the bare JID: an available resource takes them
    el = join(b, 'private', 'bob')
    check(err_of(el) == 'registration-required', 'non-member joins: %s' % err_of(el))
    a.send("<message to='%s'><x xmlns='%s'><invite to='%s'><reason>come</reason></invite></x>"
           "</message>" % (rj('private'), NS_USER, 'mucmo_b@localhost'))
    inv = b.wait_for(lambda e: e.find('{%s}x/{%s}invite' % (NS_USER, NS_USER)) is not None,
                     10, 'mediated invitation')
    check(inv.get('from') == rj('private'), 'invitation from %s' % inv.get('from'))
    check(inv.find('{jabber:x:conference}x') is not None, 'no XEP-0249 element')
    join_ok(b, 'private', 'bob')
    b.send("<message to='%s'><x xmlns='%s'><invite to='mucmo_c@localhost'/></x></message>"
           % (rj('private'), NS_USER))
    el = b.wait_for(lambda e: is_msg(rj('private'), type_='error')(e), 10, 'refused invitation')
    check(el.get('type') == 'error' and err_of(el) == 'forbidden',
          'member invites without allowinvites: %s' % err_of(el))
    create(a, 'secret', 'alice', passwordprotectedroom='1', roomsecret='s3cret')
    el = join(c, 'secret', 'carol')
    check(err_of(el) == 'not-authorized', 'no password: %s' % err_of(el))
    el = join(c, 'secret', 'carol', password='wrong')
    check(err_of(el) == 'not-authorized', 'wrong password: %s' % err_of(el))
    join_ok(c, 'secret', 'carol', password='s3cret')


@test
def muc_moderated_room_silences_visitors_until_voice(suite):
    srv = suite.server()
    a, b = srv.login('mucmod_a'), srv.login('mucmod_b')
    create(a, 'moderated', 'alice', moderatedroom='1')
    el = join_ok(b, 'moderated', 'bob')
    check(item(el).get('role') == 'visitor', 'role in a moderated room: %s' % item(el))
    b.send("<message to='%s' type='groupchat' id='v1'><body>may I?</body></message>"
           % rj('moderated'))
    el = b.wait_for(lambda e: e.get('id') == 'v1', 10, 'answer to a visitor')
    check(err_of(el) == 'forbidden', 'visitor speaks: %s' % err_of(el))
    el = admin(a, 'moderated', "<item nick='bob' role='participant'/>")
    check(el.get('type') == 'result', 'grant voice: %s' % err_of(el))
    el = b.wait_for(is_pres(rj('moderated', 'bob')), 10, 'voice presence')
    check(item(el).get('role') == 'participant', 'role after voice %s' % item(el))
    b.send("<message to='%s' type='groupchat'><body>thanks</body></message>" % rj('moderated'))
    a.wait_for(is_msg(rj('moderated', 'bob'), 'thanks'), 10, 'voiced message')
    el = admin(a, 'moderated', "<item nick='bob' role='visitor'/>")
    check(el.get('type') == 'result', 'revoke voice: %s' % err_of(el))
    el = b.wait_for(is_pres(rj('moderated', 'bob')), 10, 'revoke presence')
    check(item(el).get('role') == 'visitor', 'role after revoke %s' % item(el))


@test
def muc_roles_and_affiliations_with_codes_and_errors(suite):
    srv = suite.server()
    a, b, c = srv.login('mucra_a'), srv.login('mucra_b'), srv.login('mucra_c')
    create(a, 'roles', 'alice')
    join_ok(b, 'roles', 'bob')
    join_ok(c, 'roles', 'carol')
    el = admin(b, 'roles', "<item nick='carol' role='none'/>")
    check(err_of(el) == 'forbidden', 'participant kicks: %s' % err_of(el))
    el = admin(a, 'roles', "<item jid='mucra_b@localhost' affiliation='admin'/>")
    check(el.get('type') == 'result', 'owner makes an admin: %s' % err_of(el))
    el = b.wait_for(is_pres(rj('roles', 'bob')), 10, 'bob becomes admin')
    check(item(el).get('affiliation') == 'admin' and item(el).get('role') == 'moderator',
          'admin item %s' % item(el))
    el = admin(b, 'roles', "<item nick='alice' role='none'/>")
    check(err_of(el) == 'not-allowed', 'admin kicks the owner: %s' % err_of(el))
    el = admin(b, 'roles', "<item jid='mucra_c@localhost' affiliation='owner'/>")
    check(err_of(el) == 'forbidden', 'admin makes an owner: %s' % err_of(el))
    el = admin(b, 'roles', "<item nick='nobody' role='none'/>")
    check(err_of(el) == 'item-not-found', 'kick of an absent nick: %s' % err_of(el))
    el = admin(b, 'roles', "<item jid='@@bad' affiliation='member'/>")
    check(err_of(el) == 'jid-malformed', 'malformed jid: %s' % err_of(el))
    el = admin(a, 'roles', "<item jid='mucra_a@localhost' affiliation='member'/>")
    check(err_of(el) == 'conflict', 'last owner steps down: %s' % err_of(el))
    el = admin(b, 'roles', "<item nick='carol' role='none'><reason>out</reason></item>")
    check(el.get('type') == 'result', 'kick: %s' % err_of(el))
    el = c.wait_for(is_pres(rj('roles', 'carol'), 'unavailable'), 10, 'kick at carol')
    check(codes(el) >= {307, 110}, 'kick codes %s' % codes(el))
    el = a.wait_for(is_pres(rj('roles', 'carol'), 'unavailable'), 10, 'kick at alice')
    check(307 in codes(el), 'kick codes seen by others %s' % codes(el))
    join_ok(c, 'roles', 'carol')
    el = admin(b, 'roles', "<item jid='mucra_c@localhost' affiliation='outcast'/>")
    check(el.get('type') == 'result', 'ban: %s' % err_of(el))
    el = c.wait_for(is_pres(rj('roles', 'carol'), 'unavailable'), 10, 'ban at carol')
    check(301 in codes(el), 'ban codes %s' % codes(el))
    el = join(c, 'roles', 'carol')
    check(err_of(el) == 'forbidden', 'banned user joins: %s' % err_of(el))
    el = admin(b, 'roles', "<item affiliation='outcast'/>", 'get')
    check([i.get('jid') for i in el.iter('{%s}item' % NS_ADMIN)] == ['mucra_c@localhost'],
          'outcast list')
    el = admin(a, 'roles', "<item jid='mucra_b@localhost' affiliation='none'/>")
    check(el.get('type') == 'result', 'owner removes an admin: %s' % err_of(el))
    el = b.wait_for(lambda e: is_pres(rj('roles', 'bob'))(e) and
                    item(e).get('affiliation') == 'none', 10, 'admin removed')
    check(item(el).get('role') == 'participant', 'role after admin removed %s' % item(el))
    el = admin(b, 'roles', "<item affiliation='owner'/>", 'get')
    check(err_of(el) == 'forbidden', 'participant reads the owner list: %s' % err_of(el))
    configure(a, 'roles', maxusers='2')
    d = srv.login('mucra_d')
    el = join(d, 'roles', 'dave')
    check(err_of(el) == 'service-unavailable', 'room full: %s' % err_of(el))


@test
def muc_members_only_membership_removal_and_member_list_for_omemo(suite):
    srv = suite.server()
    a, b, c = srv.login('mucomemo_a'), srv.login('mucomemo_b'), srv.login('mucomemo_c')
    create(a, 'omemo', 'alice', membersonly='1', whois='anyone', publicroom='0')
    for j in ('mucomemo_b@localhost', 'mucomemo_c@localhost'):
        el = admin(a, 'omemo', "<item jid='%s' affiliation='member'/>" % j)
        check(el.get('type') == 'result', 'add member: %s' % err_of(el))
    el = join_ok(b, 'omemo', 'bob')
    check(100 in codes(el), 'non-anonymous room without status 100: %s' % codes(el))
    el = admin(b, 'omemo', "<item affiliation='member'/>", 'get')
    members = sorted(i.get('jid') for i in el.iter('{%s}item' % NS_ADMIN))
    check(members == ['mucomemo_b@localhost', 'mucomemo_c@localhost'],
          'member list read by an occupant: %s (%s)' % (members, err_of(el)))
    el = admin(b, 'omemo', "<item affiliation='owner'/>", 'get')
    check([i.get('jid') for i in el.iter('{%s}item' % NS_ADMIN)] == ['mucomemo_a@localhost'],
          'owner list read by an occupant')
    el = admin(c, 'omemo', "<item affiliation='member'/>", 'get')
    check(err_of(el) == 'forbidden', 'a non-occupant reads the member list: %s' % err_of(el))
    items = c.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, SVC)
    check(rj('omemo') not in [i.get('jid') for i in items.iter('{%s}item' % NS_ITEMS)],
          'hidden room listed')
    el = admin(a, 'omemo', "<item jid='mucomemo_b@localhost' affiliation='none'/>")
    check(el.get('type') == 'result', 'remove member: %s' % err_of(el))
    el = b.wait_for(is_pres(rj('omemo', 'bob'), 'unavailable'), 10, 'removal')
    check(321 in codes(el), 'membership removal codes %s' % codes(el))
    create(a, 'becomes', 'alice')
    join_ok(c, 'becomes', 'carol')
    configure(a, 'becomes', membersonly='1')
    el = c.wait_for(is_pres(rj('becomes', 'carol'), 'unavailable'), 10, 'members-only removal')
    check(322 in codes(el), 'members-only removal codes %s' % codes(el))


@test
def muc_private_messages_self_ping_and_session_end(suite):
    srv = suite.server()
    a, b, c = srv.login('mucpm_a'), srv.login('mucpm_b'), srv.login('mucpm_c')
    create(a, 'pm', 'alice')
    join_ok(b, 'pm', 'bob')
    b.send("<message to='%s' type='chat' id='p1'><body>psst</body></message>" % rj('pm', 'alice'))
    el = a.wait_for(is_msg(rj('pm', 'bob'), 'psst'), 10, 'private message')
    check(el.find('{%s}x' % NS_USER) is not None, 'private message without muc#user x')
    el = b.iq('get', "<ping xmlns='urn:xmpp:ping'/>", rj('pm', 'bob'))
    check(el.get('type') == 'result', 'self-ping: %s' % err_of(el))
    el = c.iq('get', "<ping xmlns='urn:xmpp:ping'/>", rj('pm', 'bob'))
    check(err_of(el) == 'not-acceptable', 'ping by a non-occupant: %s' % err_of(el))
    c.send("<message to='%s' type='groupchat' id='n1'><body>hi</body></message>" % rj('pm'))
    el = c.wait_for(lambda e: e.get('id') == 'n1', 10, 'refusal')
    check(err_of(el) == 'not-acceptable', 'non-occupant groupchat: %s' % err_of(el))
    configure(a, 'pm', allowpm='none')
    b.send("<message to='%s' type='chat' id='p2'><body>again</body></message>" % rj('pm', 'alice'))
    el = b.wait_for(lambda e: e.get('id') == 'p2', 10, 'refused private message')
    check(err_of(el) == 'forbidden', 'private message with allowpm=none: %s' % err_of(el))
    b.close()
    el = a.wait_for(is_pres(rj('pm', 'bob'), 'unavailable'), 10, 'bob gone with his session')
    el = a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, rj('pm'))
    n = [f.findtext('{%s}value' % NS_DATA) for f in el.iter('{%s}field' % NS_DATA)
         if f.get('var') == 'muc#roominfo_occupants']
    check(n == ['1'], 'occupants after bob left: %s' % n)


@test
def muc_subject_change_rules_and_delivery_on_join(suite):
    srv = suite.server()
    a, b = srv.login('mucsubj_a'), srv.login('mucsubj_b')
    create(a, 'subject', 'alice', changesubject='0')
    a.send("<message to='%s' type='groupchat'><subject>Topic one</subject></message>"
           % rj('subject'))
    a.wait_for(lambda e: e.findtext('{%s}subject' % NS_CLIENT) == 'Topic one', 10, 'subject')
    join_ok(b, 'subject', 'bob')
    el = b.wait_for(lambda e: e.find('{%s}subject' % NS_CLIENT) is not None, 10, 'subject on join')
    check(el.findtext('{%s}subject' % NS_CLIENT) == 'Topic one', 'subject on join wrong')
    b.send("<message to='%s' type='groupchat' id='s2'><subject>mine</subject></message>"
           % rj('subject'))
    el = b.wait_for(lambda e: e.get('id') == 's2', 10, 'subject refusal')
    check(err_of(el) == 'forbidden', 'participant changes subject: %s' % err_of(el))


def dump_has(srv, marker):
    r = run(['runuser', '-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_dump', '-h',
             srv.suite.pg.host, '-U', 'postgres', srv.db], timeout=60)
    check(r.returncode == 0, 'pg_dump failed: %s' % r.stderr[-200:])
    check('muc_rooms' in r.stdout, 'pg_dump has no muc_rooms table')
    return marker in r.stdout


@test
def muc_persistent_room_survives_restart_sealed_at_rest(suite):
    srv = suite.private_server('mucpersist').start()
    a, b = srv.login('mucp_a'), srv.login('mucp_b')
    marker = 'Zebra%dQuartz' % os.getpid()
    create(a, 'keeper', 'alice', persistentroom='1', membersonly='1', roomname=marker + 'Name',
           roomdesc='kept')
    el = admin(a, 'keeper', "<item jid='mucp_b@localhost' affiliation='member'/>")
    check(el.get('type') == 'result', 'add member: %s' % err_of(el))
    a.send("<message to='%s' type='groupchat' id='subj'><subject>%sSubject</subject></message>"
           % (rj('keeper'), marker))
    a.wait_for(lambda e: e.get('id') == 'subj', 10, 'subject echo')
    create(a, 'temporary', 'alice')
    a.ping()
    time.sleep(0.3)
    check(not dump_has(srv, marker), 'a room name or subject is in clear in pg_dump')
    a.close()
    b.close()
    srv.stop()
    srv.start()
    b = srv.login('mucp_b')
    el = join_ok(b, 'keeper', 'bob')
    check(item(el).get('affiliation') == 'member', 'member after restart: %s' % item(el))
    el = b.wait_for(lambda e: e.find('{%s}subject' % NS_CLIENT) is not None, 10, 'subject')
    check(el.findtext('{%s}subject' % NS_CLIENT) == marker + 'Subject', 'subject lost')
    info = b.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, rj('keeper'))
    ident = info.find('.//{%s}identity' % NS_DISCO_INFO)
    check(ident is not None and ident.get('name') == marker + 'Name', 'room name lost')
    el = b.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, rj('temporary'))
    check(err_of(el) == 'item-not-found', 'a temporary room survived the restart')
    a = srv.login('mucp_a')
    join_ok(a, 'keeper', 'alice')
    el = a.iq('set', "<query xmlns='%s'><destroy/></query>" % NS_OWNER, rj('keeper'))
    check(el.get('type') == 'result', 'destroy: %s' % err_of(el))
    a.ping()
    time.sleep(0.3)
    check(not dump_has(srv, marker), 'marker in dump after destroy')


SLIX_SCRIPT = r'''
import asyncio, json, ssl, sys
from slixmpp import ClientXMPP
host, port, jid1, jid2, pw, room = sys.argv[1:7]
out = {}
class C(ClientXMPP):
    def __init__(self, jid):
        super().__init__(jid, pw, sasl_mech='SCRAM-SHA-256')
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin('xep_0030'); self.register_plugin('xep_0045')
        self.ready = asyncio.get_event_loop().create_future()
        self.got = asyncio.get_event_loop().create_future()
        self.add_event_handler('session_start', lambda e: self.ready.set_result(True))
        self.add_event_handler('groupchat_message', self.on_msg)
        # as in slix_im.py: slixmpp's "y" flag must be refused by a server offering -PLUS
        mechs = self['feature_mechanisms']
        default = mechs.sasl_callback
        def creds(required, optional):
            c = default(required, optional)
            if 'channel_binding' in c:
                c['channel_binding'] = None
            return c
        mechs.sasl_callback = creds
    def on_msg(self, m):
        if m['body'] == 'from slixmpp' and not self.got.done():
            self.got.set_result(m['from'].resource)
async def main():
    a, b = C(jid1), C(jid2)
    for c in (a, b):
        c.connect(address=(host, int(port)), force_starttls=True)
    await asyncio.wait_for(asyncio.gather(a.ready, b.ready), 20)
    for c in (a, b):
        c.send_presence()
    await asyncio.wait_for(a['xep_0045'].join_muc_wait(room, 'slixa', maxstanzas=0), 20)
    await asyncio.wait_for(b['xep_0045'].join_muc_wait(room, 'slixb', maxstanzas=0), 20)
    out['roster_a'] = sorted(a['xep_0045'].get_roster(room))
    a.send_message(mto=room, mbody='from slixmpp', mtype='groupchat')
    out['got_b'] = await asyncio.wait_for(b.got, 20)
    out['affiliation_b'] = b['xep_0045'].get_jid_property(room, 'slixb', 'affiliation')
    for c in (a, b):
        c.disconnect()
    print(json.dumps(out))
asyncio.get_event_loop().run_until_complete(main())
'''


@test
def muc_slixmpp_clients_join_and_chat(suite):
    srv = suite.server()
    a, _ = srv.user('mucslix_a')
    b, pw = srv.user('mucslix_b')
    c = srv.login('mucslix_c')
    create(c, 'slixroom', 'owner')
    r = run([SLIX_PYTHON, '-c', SLIX_SCRIPT, '127.0.0.1', str(srv.starttls_port), a, b, pw,
             rj('slixroom')], timeout=90)
    check(r.returncode == 0, 'slixmpp: exit %d: %s' % (r.returncode, r.stderr.strip()[-1500:]))
    out = json.loads(r.stdout.strip().splitlines()[-1])
    check(out['roster_a'] == ['owner', 'slixa', 'slixb'] or
          out['roster_a'] == ['owner', 'slixa'],
          'slixmpp roster %s' % out['roster_a'])
    check(out['got_b'] == 'slixa', 'slixmpp message from %s' % out['got_b'])
    check(out['affiliation_b'] == 'none', 'slixmpp sees affiliation %s' % out['affiliation_b'])


@test
def muc_public_rooms_listed_with_result_set_paging(suite):
    srv = suite.server()
    a = srv.login('mucrsm_a')
    for n in ('rsm1', 'rsm2', 'rsm3'):
        create(a, n, 'alice', roomname='Paged ' + n)
    q = "<query xmlns='%s'><set xmlns='http://jabber.org/protocol/rsm'><max>%d</max>%s</set></query>"
    seen, after = [], ''
    for _ in range(50):
        el = a.iq('get', q % (NS_ITEMS, 2, after), SVC)
        page = [i.get('jid') for i in el.iter('{%s}item' % NS_ITEMS)]
        check(len(page) <= 2, 'page larger than max: %s' % page)
        if not page:
            break
        seen += page
        last = el.findtext('.//{http://jabber.org/protocol/rsm}last')
        check(last == page[-1], 'rsm last %s, page ends with %s' % (last, page[-1]))
        after = '<after>%s</after>' % last
    for n in ('rsm1', 'rsm2', 'rsm3'):
        check(rj(n) in seen, '%s missing from the paged listing' % n)
    check(len(seen) == len(set(seen)), 'a room listed twice across pages')


@test
def muc_direct_invitation_and_voice_request_reach_their_targets(suite):
    srv = suite.server()
    a, b = srv.login('mucdi_a'), srv.login('mucdi_b', 'phone')
    b.send('<presence/>')
    create(a, 'direct', 'alice', moderatedroom='1')
    a.send("<message to='mucdi_b@localhost'><x xmlns='jabber:x:conference' jid='%s' "
           "reason='join us'/></message>" % rj('direct'))
    el = b.wait_for(lambda e: e.find('{jabber:x:conference}x') is not None, 10, 'direct invite')
    check(el.find('{jabber:x:conference}x').get('jid') == rj('direct'), 'direct invite jid')
    join_ok(b, 'direct', 'bob')
    b.send("<message to='%s'><x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>"
           "%s#request</value></field><field var='muc#role'><value>participant</value></field>"
           "</x></message>" % (rj('direct'), NS_DATA, NS_MUC))
    el = a.wait_for(lambda e: e.find('{%s}x' % NS_DATA) is not None and
                    e.get('from') == rj('direct'), 10, 'voice request at the moderator')
    fv = {f.get('var'): f.findtext('{%s}value' % NS_DATA) for f in el.iter('{%s}field' % NS_DATA)}
    check(fv.get('muc#roomnick') == 'bob', 'voice request names %s' % fv.get('muc#roomnick'))
    a.send("<message to='%s'><x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>"
           "%s#request</value></field><field var='muc#roomnick'><value>bob</value></field>"
           "<field var='muc#request_allow'><value>true</value></field></x></message>"
           % (rj('direct'), NS_DATA, NS_MUC))
    el = b.wait_for(is_pres(rj('direct', 'bob')), 10, 'voice granted')
    check(item(el).get('role') == 'participant', 'role after the approved request %s' % item(el))


@test
def muc_configured_service_name_and_limits_are_enforced(suite):
    srv = suite.private_server('muclimits')
    with open(srv.conf, 'a') as f:
        f.write('muc = { domain = "chat.%s"; max_rooms_per_owner = 1; max_nick_length = 8;\n'
                '        max_message_size = 600; rate_messages = 3; rate_window = 60;\n'
                '        max_occupants = 2; };\n')
    srv.start()
    a, b = srv.login('muclim_a'), srv.login('muclim_b')
    el = a.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, 'localhost')
    jids = [i.get('jid') for i in el.iter('{%s}item' % NS_ITEMS)]
    check('chat.localhost' in jids and 'conference.localhost' not in jids,
          'services listed: %s' % jids)  # other components (upload...) may be listed too
    room = 'limited@chat.localhost'
    a.send("<presence to='%s/alice'><x xmlns='%s'/></presence>" % (room, NS_MUC))
    el = a.wait_for(lambda e: (e.get('from') or '').startswith(room), 10, 'self-presence')
    check(201 in codes(el), 'room not created on the configured service: %s' % err_of(el))
    el = a.iq('set', form({'maxusers': '3'}), room)
    check(err_of(el) == 'not-acceptable', 'maxusers above the limit: %s' % err_of(el))
    el = a.iq('set', form({}), room)
    check(el.get('type') == 'result', 'instant room: %s' % err_of(el))
    a.send("<presence to='second@chat.localhost/alice'><x xmlns='%s'/></presence>" % NS_MUC)
    el = a.wait_for(lambda e: e.get('from') == 'second@chat.localhost/alice', 10, 'refusal')
    check(err_of(el) == 'not-allowed', 'second room of one owner: %s' % err_of(el))
    b.send("<presence to='%s/ninechars'><x xmlns='%s'/></presence>" % (room, NS_MUC))
    el = b.wait_for(lambda e: e.get('from') == room + '/ninechars', 10, 'long nick refusal')
    check(err_of(el) == 'not-acceptable', 'nick over the limit: %s' % err_of(el))
    a.send("<message to='%s' type='groupchat' id='big'><body>%s</body></message>" % (room, 'x' * 700))
    el = a.wait_for(lambda e: e.get('id') == 'big', 10, 'big message answer')
    check(err_of(el) == 'not-acceptable', 'message over the size limit: %s' % err_of(el))
    answers = []
    for i in range(4):
        a.send("<message to='%s' type='groupchat' id='r%d'><body>r</body></message>" % (room, i))
        answers.append(a.wait_for(lambda e: e.get('id') == 'r%d' % i, 10, 'rate answer'))
    check([x.get('type') for x in answers] == ['groupchat'] * 3 + ['error'],
          'rate limit of 3: %s' % [x.get('type') for x in answers])
    check(err_of(answers[3]) == 'resource-constraint', 'rate error %s' % err_of(answers[3]))


@test
def muc_one_account_joins_from_two_sessions_under_one_nick(suite):
    srv = suite.server()
    a = srv.login('mucms_a')
    b1, b2 = srv.login('mucms_b', 'phone'), srv.login('mucms_b', 'laptop')
    create(a, 'multi', 'alice')
    join_ok(b1, 'multi', 'bob')
    a.wait_for(is_pres(rj('multi', 'bob')), 10, 'bob joined')
    el = join_ok(b2, 'multi', 'bob')
    check(item(el).get('role') == 'participant', 'second session item %s' % item(el))
    b2.wait_for(is_pres(rj('multi', 'alice')), 10, 'occupants sent to the second session')
    check(a.silent_for(is_pres(rj('multi', 'bob')), 0.5), 'second session announced again')
    a.send("<message to='%s' type='groupchat'><body>both</body></message>" % rj('multi'))
    for c in (b1, b2):
        c.wait_for(is_msg(rj('multi', 'alice'), 'both'), 10, 'groupchat at each session')
    b1.send("<presence type='unavailable' to='%s'/>" % rj('multi', 'bob'))
    el = b1.wait_for(is_pres(rj('multi', 'bob'), 'unavailable'), 10, 'leave of one session')
    check(110 in codes(el), 'self codes %s' % codes(el))
    check(a.silent_for(is_pres(rj('multi', 'bob'), 'unavailable'), 0.5),
          'bob announced gone while a session stays')
    b2.send("<message to='%s' type='groupchat'><body>still here</body></message>" % rj('multi'))
    a.wait_for(is_msg(rj('multi', 'bob'), 'still here'), 10, 'message of the remaining session')
    b2.close()
    a.wait_for(is_pres(rj('multi', 'bob'), 'unavailable'), 10, 'bob gone with his last session')
