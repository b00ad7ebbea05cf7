# Integration tests of stream management (XEP-0198): enable, acks both ways, resumption after a
# dropped TCP connection, re-routing of unacknowledged stanzas, refused resumptions. Raw clients.
import asyncio
import json
import os
import re
import socket
import sys
import time

from wbinteg import (NS_CLIENT, NS_STANZA_ERR, NS_STREAM, NS_STREAMS_ERR, Closed, Server,
                     XmppConn, check, local_name, run, test)

SLIX_PYTHON = '/usr/bin/python3'

NS_SM = 'urn:xmpp:sm:3'
RESUME_TIMEOUT = 2  # seconds a dropped session waits on the test server


def sm_server(suite):
    """One server for these tests, kept for the run, with a short resumption timeout."""
    entry = suite.named.get('sm')
    if entry is None:
        srv = Server(suite, 'sm')
        with open(srv.conf, 'a') as f:
            f.write('sm = { resume_timeout = %d; max_queue = 500; ack_every = 5; };\n'
                    % RESUME_TIMEOUT)
        entry = suite.named['sm'] = [srv, None]
        try:
            srv.start()
        except Exception as e:  # reported by every test that needs the server
            entry[1] = e
    srv, error = entry
    suite.note_server(srv)
    if error is not None:
        raise error
    return srv


def is_sm(name):
    return lambda el: el.tag == '{%s}%s' % (NS_SM, name)


def is_msg(el):
    return el.tag == '{%s}message' % NS_CLIENT


def authenticate(srv, user, direct=False):
    """A stream authenticated as USER and restarted, not bound; returns (conn, features)."""
    jid, pw = srv.user(user)
    c = XmppConn(srv.direct_port if direct else srv.starttls_port, direct=direct)
    if not direct:
        c.open('localhost')
        c.starttls()
    c.open('localhost')
    ok, el = c.auth_scram(user, pw)
    check(ok, 'login of %s refused' % user)
    return c, c.restart('localhost')


def sm_login(srv, user, resource, resume=True, direct=False):
    """A bound session with stream management on; returns (conn, <enabled/>)."""
    c, feats = authenticate(srv, user, direct)
    check(feats.find('{%s}sm' % NS_SM) is not None, '<sm/> not offered after authentication')
    c.bind(resource)
    c.send("<enable xmlns='%s'%s/>" % (NS_SM, " resume='true'" if resume else ''))
    el = c.wait_for(lambda e: ns_is(e, NS_SM), 10, 'answer to <enable/>')
    check(local_name(el.tag) == 'enabled', '<enable/> answered with %s' % el.tag)
    if resume:
        check(el.get('resume') in ('true', '1') and el.get('id'), '<enabled/> lacks resume/id: %s'
              % el.attrib)
    return c, el


def ns_is(el, ns):
    return el.tag.startswith('{%s}' % ns)


def drop(c):
    """Closes the TCP connection without </stream:stream> (a dead mobile link)."""
    c.close()


def resume(srv, user, previd, h, direct=False):
    """A new stream for USER sending <resume/>; returns (conn, answer)."""
    c, feats = authenticate(srv, user, direct)
    c.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, previd, h))
    el = c.wait_for(lambda e: ns_is(e, NS_SM) and local_name(e.tag) in ('resumed', 'failed'), 10,
                    'answer to <resume/>')
    return c, el


def send_messages(sender, to, ids):
    sender.send(''.join("<message to='%s' type='chat' id='%s'><body>n%s</body></message>"
                        % (to, i, i) for i in ids))


def collect(c, n, timeout=10, what='messages'):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        check(left > 0, 'only %d of %d %s arrived' % (len(got), n, what))
        got.append(c.wait_for(is_msg, left, what))
    return got


def failed_condition(el):
    return [local_name(x.tag) for x in el if ns_is(x, NS_STANZA_ERR)]


@test
def sm_enable_counts_stanzas_and_answers_requests(suite):
    srv = sm_server(suite)
    c, _ = sm_login(srv, 'smcount', 'r', resume=False)
    for _ in range(3):
        c.ping()
    c.send("<r xmlns='%s'/>" % NS_SM)
    a = c.wait_for(is_sm('a'), 10, '<a/> for our <r/>')
    check(a.get('h') == '3', 'server acknowledged h=%s after 3 stanzas' % a.get('h'))
    # The server asks for acks (three pings answered: the delay timer fires).
    r = c.wait_for(is_sm('r'), 5, 'an <r/> from the server')
    check(r is not None, 'no <r/>')
    c.send("<a xmlns='%s' h='3'/>" % NS_SM)
    c.ping()
    c.send("<r xmlns='%s'/>" % NS_SM)
    a = c.wait_for(is_sm('a'), 10, 'second <a/>')
    check(a.get('h') == '4', 'server acknowledged h=%s after 4 stanzas' % a.get('h'))


@test
def sm_server_requests_ack_after_a_few_stanzas(suite):
    srv = sm_server(suite)
    c, _ = sm_login(srv, 'smreq', 'r', resume=False)
    b = srv.login('smreqsender')
    send_messages(b, c.jid, ['q%d' % i for i in range(5)])
    collect(c, 5)
    c.wait_for(is_sm('r'), 2, '<r/> after 5 stanzas')
    c.send("<a xmlns='%s' h='5'/>" % NS_SM)
    c.ping()


@test
def sm_ack_beyond_sent_is_a_stream_error(suite):
    srv = sm_server(suite)
    c, _ = sm_login(srv, 'smover', 'r', resume=False)
    c.ping()  # one stanza sent; h=2^32-1 would be 2^32-1 ahead, not -1 behind
    c.send("<a xmlns='%s' h='4294967295'/>" % NS_SM)
    c.expect_stream_error('undefined-condition')


@test
def sm_ack_h_out_of_range_is_refused(suite):
    srv = sm_server(suite)
    c, _ = sm_login(srv, 'smrange', 'r', resume=False)
    c.send("<a xmlns='%s' h='4294967296'/>" % NS_SM)  # 2^32 is no valid h
    c.expect_stream_error('invalid-xml')


@test
def sm_too_many_unacked_stanzas_end_the_session(suite):
    srv = sm_server(suite)
    c, _ = sm_login(srv, 'smflood', 'r', resume=False)
    b = srv.login('smfloodsender')
    ids = ['z%d' % i for i in range(501)]
    send_messages(b, c.jid, ids)  # max_queue is 500: the 501st ends the session
    try:
        err = c.wait_for(lambda e: e.tag == '{%s}error' % NS_STREAM, 20, 'stream error')
        check(err.find('{%s}resource-constraint' % NS_STREAMS_ERR) is not None,
              'stream error %s' % [local_name(x.tag) for x in err])
    except Closed:  # a TCP reset may overtake the error: what matters is below
        pass
    check(c.wait_closed(10), 'session still open after 501 unacknowledged stanzas')
    # Never lost: the 501 unacknowledged messages went to offline storage.
    n = srv.login('smflood', 'again')
    n.send('<presence/>')
    got = collect(n, 501, timeout=20, what='re-routed messages')
    check(sorted(m.get('id') for m in got) == sorted(ids), 'offline ids differ')


@test
def sm_enable_before_bind_fails(suite):
    srv = sm_server(suite)
    c, feats = authenticate(srv, 'smearly')
    c.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    el = c.wait_for(lambda e: ns_is(e, NS_SM), 10, 'answer to <enable/>')
    check(local_name(el.tag) == 'failed', '<enable/> before bind answered with %s' % el.tag)
    c.bind('late')
    c.ping()


def handovers(srv):
    """(from worker, to worker) of every hand-over in the server log."""
    return [tuple(int(x) for x in re.findall(r'worker (\d+)', line))
            for line in srv.log().splitlines() if 'handed over from worker' in line]


def drop_and_resume(srv, user, shift):
    """100 messages, 50 acknowledged, TCP dropped, resumed with h=50: exactly the other 50 come
    back, and the session goes on; dropped again, it resumes again with the same id. SHIFT extra
    connections before the resuming one move it to the other worker (accepted sockets go round
    robin)."""
    a, enabled = sm_login(srv, user, 'phone')
    full = a.jid
    b = srv.login(user + 'sender')
    ids = ['m%d' % i for i in range(100)]
    send_messages(b, full, ids)
    got = collect(a, 100)
    check([m.get('id') for m in got] == ids, 'messages arrived out of order')
    a.send("<a xmlns='%s' h='50'/>" % NS_SM)
    a.ping()  # the ack is processed before the drop
    drop(a)
    for _ in range(shift):
        socket.create_connection(('127.0.0.1', srv.starttls_port), timeout=5).close()
    time.sleep(0.3)
    c, el = resume(srv, user, enabled.get('id'), 50)
    check(local_name(el.tag) == 'resumed', 'resumption answered with %s (%s)' % (
        el.tag, failed_condition(el)))
    check(el.get('h') == '1', 'server says it handled h=%s of our stanzas, wanted 1 (the ping)'
          % el.get('h'))
    again = collect(c, 50, what='resent messages')
    check([m.get('id') for m in again] == ids[50:], 'resent ids: %s' % [
        m.get('id') for m in again][:8])
    check(all(m.find('{urn:xmpp:delay}delay') is not None for m in again),
          'resent messages carry no delay stamp')
    check(c.silent_for(is_msg, 0.5), 'more than the 50 unacknowledged messages were resent')
    # The session goes on with its resource: routing follows it (maybe to another worker).
    send_messages(b, full, ['after'])
    el2 = c.wait_for(is_msg, 10, 'a message after the resumption')
    check(el2.get('id') == 'after', 'got %s' % el2.get('id'))
    c.ping()
    c.send("<r xmlns='%s'/>" % NS_SM)
    a2 = c.wait_for(is_sm('a'), 10, '<a/> after resumption')
    check(a2.get('h') == '2', 'h after resumption is %s, wanted 2' % a2.get('h'))
    check(el.get('previd') == enabled.get('id'), '<resumed/> previd %s is not the id'
          % el.get('previd'))
    # Again: the id stays valid for the session, wherever it lives now.
    send_messages(b, full, ['again'])
    c.wait_for(is_msg, 10, 'a message before the second drop')
    drop(c)
    for _ in range(shift):
        socket.create_connection(('127.0.0.1', srv.starttls_port), timeout=5).close()
    time.sleep(0.3)
    d, el = resume(srv, user, enabled.get('id'), 102)  # 101 + 'after'; not the ping, nor 'again'
    check(local_name(el.tag) == 'resumed', 'second resumption answered with %s' % el.tag)
    check(el.get('h') == '2', 'second resumption: server handled h=%s, wanted 2' % el.get('h'))
    resent = d.wait_for(lambda e: local_name(e.tag) == 'iq' and e.get('type') == 'result', 10,
                        'the ping result, resent')
    check(resent is not None, 'no ping result')
    check(d.wait_for(is_msg, 10, "'again', resent").get('id') == 'again', 'wrong message resent')
    check(d.silent_for(is_msg, 0.3), 'more was resent the second time')
    d.send("<a xmlns='%s' h='104'/></stream:stream>" % NS_SM)
    d.wait_closed(5)


@test
def sm_resume_after_tcp_drop_resends_exactly_the_unacked(suite):
    srv = sm_server(suite)
    for shift in (0, 1):
        drop_and_resume(srv, 'smres%d' % shift, shift)
    moves = handovers(srv)
    check(any(old != new for old, new in moves),
          'no resumption crossed workers (%s): the hand-over was not exercised' % moves)
    check(any(old == new for old, new in moves), 'no resumption stayed on its worker (%s)' % moves)


@test
def sm_resume_on_a_live_session_replaces_the_old_connection(suite):
    srv = sm_server(suite)
    a, enabled = sm_login(srv, 'smlive', 'tab', direct=True)
    b = srv.login('smlivesender')
    send_messages(b, a.jid, ['l1', 'l2', 'l3'])
    collect(a, 3)
    c, el = resume(srv, 'smlive', enabled.get('id'), 1)
    check(local_name(el.tag) == 'resumed', 'resumption answered with %s' % el.tag)
    a.expect_stream_error('conflict')
    again = collect(c, 2, what='resent messages')
    check([m.get('id') for m in again] == ['l2', 'l3'], 'resent %s' % [m.get('id') for m in again])
    c.ping()


@test
def sm_resume_with_unknown_or_foreign_id_fails(suite):
    srv = sm_server(suite)
    a, enabled = sm_login(srv, 'smowner', 'r')
    previd = enabled.get('id')
    for user, pid in (('smthief', previd), ('smowner', previd[:-2] + 'zz'),
                      ('smowner', '999999-00112233445566778899aabbccddeeff'),
                      ('smowner', previd[:-4] + ('0000' if previd[-4:] != '0000' else '1111'))):
        c, el = resume(srv, user, pid, 0)
        check(local_name(el.tag) == 'failed', '%s resuming %s got %s' % (user, pid, el.tag))
        check(failed_condition(el) == ['item-not-found'], 'failed with %s' % failed_condition(el))
        c.bind('fresh')  # the stream goes on: a new session may be bound
        c.ping()
        c.close()
    a.ping()  # the owner's session was not disturbed


@test
def sm_never_resumed_messages_go_offline_exactly_once_and_the_id_expires(suite):
    srv = sm_server(suite)
    a, enabled = sm_login(srv, 'smoff', 'gone')
    b = srv.login('smoffsender')
    ids = ['o%d' % i for i in range(10)]
    send_messages(b, a.jid, ids)
    collect(a, 10)
    a.send("<a xmlns='%s' h='4'/>" % NS_SM)
    a.ping()
    drop(a)
    time.sleep(RESUME_TIMEOUT + 1)
    c, el = resume(srv, 'smoff', enabled.get('id'), 4)
    check(local_name(el.tag) == 'failed', 'resumption after the timeout answered with %s' % el.tag)
    c.close()
    n = srv.login('smoff', 'back')
    n.send('<presence/>')
    got = collect(n, 6, what='offline messages')
    check(sorted(m.get('id') for m in got) == sorted(ids[4:]), 'offline ids: %s' % [
        m.get('id') for m in got])
    check(n.silent_for(is_msg, 0.5), 'a message came twice')
    n.close()
    m = srv.login('smoff', 'again')
    m.send('<presence/>')
    check(m.silent_for(is_msg, 0.5), 'offline messages delivered a second time')


@test
def sm_unacked_messages_from_offline_storage_go_back_there(suite):
    srv = sm_server(suite)
    srv.user('smflush')
    b = srv.login('smflushsender')
    send_messages(b, 'smflush@localhost', ['f1', 'f2', 'f3'])
    b.ping()  # stored offline by now
    time.sleep(0.3)
    a, enabled = sm_login(srv, 'smflush', 'phone')
    a.send('<presence/>')
    check([m.get('id') for m in collect(a, 3, what='offline messages')] == ['f1', 'f2', 'f3'],
          'offline messages out of order')
    drop(a)  # none acknowledged
    time.sleep(RESUME_TIMEOUT + 1)
    n = srv.login('smflush', 'later')
    n.send('<presence/>')
    got = collect(n, 3, what='offline messages, stored again')
    check(sorted(m.get('id') for m in got) == ['f1', 'f2', 'f3'], 'got %s' % [
        m.get('id') for m in got])
    check(n.silent_for(is_msg, 0.5), 'a message came twice')


@test
def sm_unacked_messages_go_to_another_available_resource(suite):
    srv = sm_server(suite)
    a, enabled = sm_login(srv, 'smother', 'one')
    other = srv.login('smother', 'two')
    other.send("<presence/>")
    b = srv.login('smothersender')
    send_messages(b, a.jid, ['x1', 'x2'])
    collect(a, 2)
    check(other.silent_for(is_msg, 0.3), 'the other resource got a full-JID message at once')
    a.send("<a xmlns='%s' h='0'/>" % NS_SM)
    drop(a)
    got = collect(other, 2, timeout=RESUME_TIMEOUT + 5, what='re-routed messages')
    check([m.get('id') for m in got] == ['x1', 'x2'], 're-routed %s' % [m.get('id') for m in got])
    check(other.silent_for(is_msg, 0.5), 'a re-routed message came twice')


@test
def sm_bare_jid_message_not_duplicated_and_unavailable_sent_only_at_expiry(suite):
    srv = sm_server(suite)
    a, enabled = sm_login(srv, 'smbare', 'one')
    a.send('<presence/>')
    other = srv.login('smbare', 'two')
    other.send('<presence/>')
    a.wait_for(lambda e: local_name(e.tag) == 'presence' and e.get('from') == other.jid, 10,
               "the other resource's presence")
    b = srv.login('smbaresender')
    send_messages(b, 'smbare@localhost', ['y1'])
    a.wait_for(is_msg, 10, 'the message on the hibernating resource')
    other.wait_for(is_msg, 10, 'the message on the other resource')
    full = a.jid
    drop(a)

    def gone(e):
        return local_name(e.tag) == 'presence' and e.get('from') == full and \
            e.get('type') == 'unavailable'
    check(other.silent_for(gone, RESUME_TIMEOUT / 2),
          'unavailable presence broadcast while the session waits for a resumption')
    other.wait_for(gone, RESUME_TIMEOUT + 3, 'unavailable presence once the session expired')
    check(other.silent_for(is_msg, 0.3),
          'a bare-JID message was delivered twice to the same resource')
    other.close()
    n = srv.login('smbare', 'three')
    n.send('<presence/>')
    check(n.silent_for(is_msg, 0.5), 'a message already delivered was also stored offline')


@test
def sm_slixmpp_resumes_after_tcp_abort_without_loss_or_duplicates(suite):
    srv = sm_server(suite)
    x, xpw = srv.user('smslix')
    p, ppw = srv.user('smslixpeer')
    cmd = [SLIX_PYTHON, os.path.abspath(__file__), '127.0.0.1', str(srv.starttls_port),
           'jid=' + x, 'pw=' + xpw, 'peer=' + p, 'peer_pw=' + ppw]
    r = run(cmd, timeout=60)
    check(r.returncode == 0, 'slixmpp: exit %d: %s' % (r.returncode, r.stderr.strip()[-300:]))
    lines = r.stdout.strip().splitlines()
    check(lines, 'slixmpp printed nothing')
    out = json.loads(lines[-1])
    check(out['enabled'] == 1 and out['resumed'] == 1,
          'slixmpp: %d <enabled/>, %d <resumed/>' % (out['enabled'], out['resumed']))
    want = ['a%d' % i for i in range(10)] + ['b%d' % i for i in range(10)]
    check(out['ids'] == want, 'slixmpp received %s' % out['ids'])


@test
def sm_unacked_messages_go_offline_when_the_server_stops(suite):
    srv = suite.private_server('smstop')
    with open(srv.conf, 'a') as f:
        f.write('sm = { resume_timeout = 300; };\n')
    srv.start()
    a, enabled = sm_login(srv, 'smstop', 'r')
    b = srv.login('smstopsender')
    send_messages(b, a.jid, ['s1', 's2', 's3'])
    collect(a, 3)
    a.send("<a xmlns='%s' h='1'/>" % NS_SM)
    a.ping()
    drop(a)  # hibernating, with two stanzas unacknowledged, when the server stops
    time.sleep(0.3)
    srv.stop()
    r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', srv.db, '-Atc',
             "SELECT count(*) FROM offline_messages o JOIN accounts a ON a.id = o.account_id "
             "WHERE a.domain = 'localhost' AND a.node = 'smstop'"])
    check(r.returncode == 0 and r.stdout.strip() == '2',
          'offline rows after the stop: %r %s' % (r.stdout.strip(), r.stderr.strip()[:200]))
    srv.start()
    n = srv.login('smstop', 'later')
    n.send('<presence/>')
    got = collect(n, 2, what='offline messages')
    check([m.get('id') for m in got] == ['s2', 's3'], 'offline ids: %s' % [
        m.get('id') for m in got])
    check(n.silent_for(is_msg, 0.5), 'a message came twice')


# --- the slixmpp side, run as: tests_sm.py HOST PORT KEY=VALUE... -----------------------------

async def _slix_scenario(args):
    from slix_im import Client, logout, until
    addr = (args['host'], int(args['port']))
    seen = {'enabled': 0, 'resumed': 0}

    def count(name):
        return lambda _e: seen.__setitem__(name, seen[name] + 1)

    x = Client(args['jid'] + '/mobile', args['pw'])
    x.register_plugin('xep_0198')
    x.add_event_handler('sm_enabled', count('enabled'))
    x.add_event_handler('session_resumed', count('resumed'))
    x.connect(address=addr, force_starttls=True)
    await asyncio.wait_for(x.ready, 15)
    await until(lambda: seen['enabled'], 10)
    peer = Client(args['peer'] + '/desk', args['peer_pw'])
    peer.connect(address=addr, force_starttls=True)
    await asyncio.wait_for(peer.ready, 15)

    def burst(prefix):
        for i in range(10):
            m = peer.make_message(mto=x.boundjid, mbody='%s%d' % (prefix, i), mtype='chat')
            m['id'] = '%s%d' % (prefix, i)
            m.send()

    def ids():
        return [m['id'] for m in x.messages if m['type'] == 'chat']

    burst('a')
    await until(lambda: len(ids()) >= 10, 10)
    lost = asyncio.get_event_loop().create_future()
    x.add_event_handler('disconnected', lambda _e: lost.done() or lost.set_result(True))
    x.transport.abort()  # the TCP connection dies: no </stream:stream>
    await asyncio.wait_for(lost, 10)
    burst('b')  # for the hibernating session
    await asyncio.sleep(0.3)
    x.connect(address=addr, force_starttls=True)
    await until(lambda: seen['resumed'] and len(ids()) >= 20, 15)
    await asyncio.sleep(0.5)  # anything sent twice would arrive now
    out = dict(seen, ids=ids())
    for c in (x, peer):
        await logout(c)
    return out


def _slix_main():
    args = {'host': sys.argv[1], 'port': sys.argv[2]}
    args.update(kv.split('=', 1) for kv in sys.argv[3:])
    loop = asyncio.get_event_loop()
    try:
        out = loop.run_until_complete(asyncio.wait_for(_slix_scenario(args), 40))
    except Exception as e:  # reported to the test, which fails with it
        sys.exit('slixmpp sm: %s: %s' % (type(e).__name__, e))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
    print(json.dumps(out))


if __name__ == '__main__':
    _slix_main()
