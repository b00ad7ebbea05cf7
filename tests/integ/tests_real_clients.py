# Integration tests of the IM features with real client libraries: slixmpp (through slix_im.py) for
# rosters, subscriptions, offline, vCard, private storage, blocking and disco; libstrophe for rosters
# and offline. Protocol details and error cases are tested with the raw client in the other files.
import datetime
import json
import os
import sys

from tests_offline import wait_queued
from wbinteg import check, run, test

HERE = os.path.dirname(os.path.abspath(__file__))
SLIX_PYTHON = '/usr/bin/python3'
NS_ROSTER = 'jabber:iq:roster'


def slix(srv, scenario, **kw):
    """Runs one slix_im.py scenario against SRV (STARTTLS port); returns its observations."""
    cmd = [SLIX_PYTHON, os.path.join(HERE, 'slix_im.py'), scenario, '127.0.0.1',
           str(srv.starttls_port)] + ['%s=%s' % kv for kv in kw.items()]
    r = run(cmd, timeout=60)
    check(r.returncode == 0, 'slixmpp %s: exit %d: %s' % (
        scenario, r.returncode, r.stderr.strip()[-300:]))
    lines = r.stdout.strip().splitlines()
    check(lines, 'slixmpp %s printed nothing' % scenario)
    return json.loads(lines[-1])


@test
def slixmpp_roster_add_get_remove_pushed_to_second_resource(suite):
    srv = suite.server()
    jid, pw = srv.user('rc_slixroster')
    contact = 'rc-friend@example.test'
    out = slix(srv, 'roster', jid=jid, pw=pw, contact=contact)
    check(contact not in out['before'], 'contact on the roster before it was added')
    want = {'name': 'Friend', 'subscription': 'none', 'groups': ['Pals']}
    check(out['push_add'] == want, 'second resource got push %s, wanted %s' % (
        out['push_add'], want))
    check(out['after_add'].get(contact) == want, 'roster get after the add has %s' % (
        out['after_add'].get(contact)))
    check(out['push_remove'] is not None and out['push_remove']['subscription'] == 'remove',
          'second resource got removal push %s' % out['push_remove'])
    check(contact not in out['after_remove'], 'contact still on the roster after removal: %s' %
          out['after_remove'])


@test
def slixmpp_mutual_subscription_and_presence(suite):
    srv = suite.server()
    a, apw = srv.user('rc_slixsuba')
    b, bpw = srv.user('rc_slixsubb')
    out = slix(srv, 'presence', jid=a, pw=apw, peer=b, peer_pw=bpw)
    sub_a = out['a_roster'].get(b, {}).get('subscription')
    sub_b = out['b_roster'].get(a, {}).get('subscription')
    check(sub_a == 'both' and sub_b == 'both', 'subscriptions ended %s (a->b) and %s (b->a), '
          'wanted both' % (sub_a, sub_b))
    check(out['a_sees_b'], '%s never saw %s available' % (a, b))
    check(out['b_sees_a'], '%s never saw %s available' % (b, a))
    check(out['a_sees_b_offline'], '%s did not see %s go unavailable' % (a, b))


@test
def slixmpp_offline_messages_in_order_with_delay(suite):
    srv = suite.server()
    a, apw = srv.user('rc_slixoffa')
    b, bpw = srv.user('rc_slixoffb')
    n = 20
    sent = slix(srv, 'offline-send', jid=a, pw=apw, peer=b, n=n, prefix='so')
    check(sent['errors'] == [], 'the sender got errors for %s' % sent['errors'])
    wait_queued(srv, 'rc_slixoffb', n)
    got = slix(srv, 'offline-recv', jid=b, pw=bpw, n=n)['messages']
    ids = [m['id'] for m in got]
    check(ids == ['so%d' % i for i in range(n)], 'received ids %s' % ids)
    for i, m in enumerate(got):
        check(m['body'] == 'so %d' % i, 'message %d has body %r' % (i, m['body']))
        check(m['from'].startswith(a + '/'), 'message %d from %s' % (i, m['from']))
        check(m['stamp'], 'message %d has no delay stamp' % i)
        check(m['delay_from'] == 'localhost', 'message %d delay from %r' % (i, m['delay_from']))
    stamps = [datetime.datetime.fromisoformat(m['stamp']) for m in got]
    check(stamps == sorted(stamps), 'delay stamps out of order: %s' % [m['stamp'] for m in got])
    wait_queued(srv, 'rc_slixoffb', 0)


@test
def slixmpp_vcard_publish_and_fetch_from_another_account(suite):
    srv = suite.server()
    a, apw = srv.user('rc_slixvca')
    b, bpw = srv.user('rc_slixvcb')
    nick, fn = 'zoë', 'Zoë Łukasiewicz-Núñez 日本'
    out = slix(srv, 'vcard', jid=a, pw=apw, peer=b, peer_pw=bpw, nick=nick, fn=fn)
    check(out['peer_nick'] == nick and out['peer_fn'] == fn,
          'another account fetched NICKNAME %r FN %r' % (out['peer_nick'], out['peer_fn']))
    check(out['own_nick'] == nick and out['own_fn'] == fn,
          'the owner fetched NICKNAME %r FN %r' % (out['own_nick'], out['own_fn']))


@test
def slixmpp_private_storage_set_and_get(suite):
    srv = suite.server()
    a, apw = srv.user('rc_slixpriv')
    text = 'remember the milk & the ‘eggs’'
    out = slix(srv, 'private', jid=a, pw=apw, text=text)
    check(out['same_session'] == text, 'retrieved %r in the same session' % out['same_session'])
    check(out['next_session'] == text, 'retrieved %r in the next session' % out['next_session'])


@test
def slixmpp_blocking_block_list_refuse_unblock(suite):
    srv = suite.server()
    a, apw = srv.user('rc_slixblka')
    b, bpw = srv.user('rc_slixblkb')
    out = slix(srv, 'blocking', jid=a, pw=apw, peer=b, peer_pw=bpw)
    check(out['blocked'] == [b], 'blocklist after block is %s' % out['blocked'])
    check(out['delivered_while_blocked'] == [], 'delivered while blocked: %s' %
          out['delivered_while_blocked'])
    check(out['error_id'] == 'blocked0', 'the blocked sender got no error for its message')
    check(out['error_condition'] == 'service-unavailable',  # XEP-0191 section 3.5
          'the blocked sender got %s, wanted service-unavailable' % out['error_condition'])
    check(out['blocked_after_unblock'] == [], 'blocklist after unblock is %s' %
          out['blocked_after_unblock'])
    check(out['delivered_after_unblock'] == ['free0'], 'delivered after unblock: %s' %
          out['delivered_after_unblock'])
    check(out['errors_after_unblock'] == [], 'errors after unblock: %s' %
          out['errors_after_unblock'])


@test
def slixmpp_disco_version_time_last_of_server(suite):
    srv = suite.server()
    a, apw = srv.user('rc_slixdisco')
    out = slix(srv, 'disco', jid=a, pw=apw)
    for feat in ('urn:xmpp:ping', 'jabber:iq:version', 'urn:xmpp:time', 'jabber:iq:last',
                 'urn:xmpp:blocking', 'msgoffline', 'http://jabber.org/protocol/disco#info'):
        check(feat in out['features'], '%s not among the server features %s' % (
            feat, out['features']))
    check('server/im' in out['identities'], 'server identities %s' % out['identities'])
    check(out['version']['name'] == 'Warbler' and out['version']['version'],
          'software version %s' % out['version'])
    utc = datetime.datetime.fromisoformat(out['time_utc'])
    check(utc.tzinfo is not None, 'entity time without a zone: %s' % out['time_utc'])
    skew = abs(utc.timestamp() - out['local_utc'])
    check(skew < 10, 'server time %s is %.0f s off' % (out['time_utc'], skew))
    check(isinstance(out['uptime'], int) and 0 <= out['uptime'] < 24 * 3600,
          'server last activity (uptime) %r' % out['uptime'])
    check(sorted(out['account_identities']) == ['account/registered', 'pubsub/pep'],
          'own account identities %s' % out['account_identities'])


def strophe(suite, srv, *args, timeout=60):
    r = run([suite.tool('strophe_client'), args[0], '127.0.0.1', str(srv.direct_port)] +
            list(args[1:3]) + ['direct'] + list(args[3:]), timeout=timeout)
    check(r.returncode == 0, 'strophe_client %s: exit %d: %s' % (
        args[0], r.returncode, r.stderr.strip()[-300:]))
    return r.stdout.splitlines()


@test
def strophe_roster_lists_items_set_by_another_client(suite):
    srv = suite.server()
    jid, pw = srv.user('rc_stroster')
    c = srv.login('rc_stroster', 'raw')
    want = {'rc-one@localhost': 'none', 'rc-two@example.test': 'none',
            'rc-three@localhost': 'none'}
    for contact in want:
        el = c.iq('set', "<query xmlns='%s'><item jid='%s' name='x'/></query>" % (
            NS_ROSTER, contact))
        check(el.get('type') == 'result', 'raw roster set of %s answered %s' % (
            contact, el.get('type')))
    c.close()
    lines = strophe(suite, srv, 'roster', jid, pw)
    items = dict(line.split()[1:3] for line in lines if line.startswith('item '))
    check(items == want, 'libstrophe saw roster %s, wanted %s' % (items, want))


@test
def strophe_offline_messages_in_order_with_delay(suite):
    srv = suite.server()
    jid, pw = srv.user('rc_stoff')
    n = 15
    a = srv.login('rc_stoffsender')
    a.send(''.join("<message to='%s' type='chat' id='st%d'><body>hello %d</body></message>"
                   % (jid, i, i) for i in range(n)))
    wait_queued(srv, 'rc_stoff', n)
    check(not [e for e in a.queue if e.get('type') == 'error'], 'the sender got an error')
    lines = strophe(suite, srv, 'offline', jid, pw, str(n), '10')
    got = [line.split() for line in lines if line.startswith('msg ')]
    want = [['msg', 'st%d' % i, 'hello', str(i), '1'] for i in range(n)]
    bad = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), n))
    check(got == want, 'libstrophe got %d messages; number %d is %s, wanted %s' % (
        len(got), bad, got[bad] if bad < len(got) else None, want[bad] if bad < n else None))
    wait_queued(srv, 'rc_stoff', 0)
    a.close()


if __name__ == '__main__':
    sys.exit('run these through run.py')
