# Integration tests of disappearing messages: server default retention, per-account and
# per-conversation settings (ad-hoc command and warblerctl), XEP-0466 timers and the sweeper.
import time

from wbinteg import NS_DISCO_INFO, check, local_name, run, stanza_error, test
from tests_mam import body_of, chat, is_message, query_ok

NS_CMD = 'http://jabber.org/protocol/commands'
NS_DATA = 'jabber:x:data'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_EPH = 'urn:xmpp:ephemeral:0'
NODE = 'urn:xmpp:warbler:retention'
UNIT_MS = 40  # one "second" of retention lasts 40 ms in these servers


def ret_server(suite, name, default=0, interval=1, batch=2):
    srv = suite.private_server(name)
    with open(srv.conf, 'a') as f:
        f.write('retention = { default = %d; sweep_interval = %d; batch = %d; unit_ms = %d; };\n'
                % (default, interval, batch, UNIT_MS))
    return srv.start()


def sql(suite, srv, query):
    r = run(['psql', '-h', suite.pg.host, '-U', 'postgres', '-d', srv.db, '-XtAc', query])
    check(r.returncode == 0, 'psql failed: %s' % r.stderr.strip()[:200])
    return r.stdout.strip()


def archived(suite, srv, owner, peer=None, expiring=False):
    """Archive rows of owner (local part), with peer (local part) if given."""
    q = ("SELECT count(*) FROM archive x JOIN accounts a ON a.id = x.account_id "
         "WHERE a.node = '%s'" % owner)
    if peer:
        q += " AND x.peer = '%s@localhost'" % peer
    if expiring:
        q += ' AND x.expires_at IS NOT NULL'
    return int(sql(suite, srv, q))


def queued(suite, srv, owner, expiring=False):
    q = ("SELECT count(*) FROM offline_messages o JOIN accounts a ON a.id = o.account_id "
         "WHERE a.node = '%s'" % owner)
    if expiring:
        q += ' AND o.expires_at IS NOT NULL'
    return int(sql(suite, srv, q))


def wait_value(fn, want, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == want:
            return
        check(time.monotonic() < deadline, '%s: %s, wanted %s' % (what, got, want))
        time.sleep(0.05)


def command(c, inner='', sessionid=None, action=None, to=None, node=NODE):
    attrs = " node='%s'" % node
    if sessionid is not None:
        attrs += " sessionid='%s'" % sessionid
    if action is not None:
        attrs += " action='%s'" % action
    return c.iq('set', "<command xmlns='%s'%s>%s</command>" % (NS_CMD, attrs, inner), to)


def submit_form(seconds, with_=None):
    out = ["<x xmlns='%s' type='submit'><field var='FORM_TYPE' type='hidden'><value>%s</value>"
           "</field><field var='retention'><value>%s</value></field>" % (NS_DATA, NODE, seconds)]
    if with_ is not None:
        out.append("<field var='with'><value>%s</value></field>" % with_)
    return ''.join(out) + '</x>'


def start_command(c):
    """Executes the command; returns its session id after checking the form."""
    iq = command(c)
    check(iq.get('type') == 'result', 'execute answered %s' % stanza_error(iq))
    cmd = iq.find('{%s}command' % NS_CMD)
    check(cmd is not None and cmd.get('status') == 'executing' and cmd.get('sessionid'),
          'execute did not open a session: %s' % (cmd.attrib if cmd is not None else None))
    check(cmd.find('{%s}actions/{%s}complete' % (NS_CMD, NS_CMD)) is not None, 'no actions')
    x = cmd.find('{%s}x' % NS_DATA)
    check(x is not None and x.get('type') == 'form', 'no form')
    fields = {f.get('var') for f in x.findall('{%s}field' % NS_DATA)}
    check({'FORM_TYPE', 'retention', 'with'} <= fields, 'form fields %s' % fields)
    return cmd.get('sessionid')


def set_by_command(c, seconds, with_=None):
    sid = start_command(c)
    iq = command(c, submit_form(seconds, with_), sid, 'complete')
    check(iq.get('type') == 'result', 'submit answered %s' % stanza_error(iq))
    cmd = iq.find('{%s}command' % NS_CMD)
    check(cmd.get('status') == 'completed' and cmd.get('sessionid') == sid,
          'submit did not complete the session: %s' % cmd.attrib)


def ephemeral(timer):
    return "<ephemeral xmlns='%s' timer='%d'/>" % (NS_EPH, timer)


@test
def retention_server_default_erases_archived_and_queued_messages(suite):
    srv = ret_server(suite, 'ret-default', default=60)  # 2.4 s
    a = srv.login('rd_a', 'pc')
    srv.user('rd_b')
    for i in range(3):
        a.send(chat('rd_b@localhost', 'short-lived %d' % i, 'd%d' % i))
    a.ping()
    wait_value(lambda: (archived(suite, srv, 'rd_a'), archived(suite, srv, 'rd_b'),
                        queued(suite, srv, 'rd_b')), (3, 3, 3), 2, 'stored before the sweep')
    wait_value(lambda: (archived(suite, srv, 'rd_a'), archived(suite, srv, 'rd_b'),
                        queued(suite, srv, 'rd_b')), (0, 0, 0), 8, 'left after the retention')
    check('sweeper: erased' in srv.log(), 'no sweeper line in the log')
    check(query_ok(a).count == 0, 'the archive still answers with messages')
    b = srv.login('rd_b', 'phone')
    b.send('<presence/>')
    check(b.silent_for(is_message, 0.5), 'an erased queued message was delivered')


@test
def retention_account_and_conversation_settings_override_the_default(suite):
    srv = ret_server(suite, 'ret-override', default=0)  # the default keeps forever
    a, b, c = (srv.login(n, 'pc') for n in ('ro_a', 'ro_b', 'ro_c'))
    for x in (b, c):
        x.send('<presence/>')
        x.ping()
    items = a.iq('get', "<query xmlns='%s' node='%s'/>" % (NS_ITEMS, NS_CMD),
                 'ro_a@localhost')
    nodes = [i.get('node') for i in items.iter('{%s}item' % NS_ITEMS)]
    check(items.get('type') == 'result' and nodes == [NODE], 'command list %s' % nodes)
    set_by_command(a, 60)                         # ro_a: 2.4 s for everything...
    set_by_command(a, 0, 'ro_c@localhost/any')    # ...but kept forever with ro_c
    r = srv.ctl('retention', 'set', 'ro_b@localhost', '60', '--with', 'ro_a@localhost')
    check(r.returncode == 0, 'warblerctl retention set: %s' % (r.stderr or r.stdout))
    r = srv.ctl('retention', 'show', 'ro_a@localhost')
    check(r.returncode == 0 and 'account: 60 s' in r.stdout and
          'with ro_c@localhost: 0' in r.stdout, 'show: %r' % r.stdout)
    a.send(chat('ro_b@localhost', 'a to b', 'ab'))
    a.send(chat('ro_c@localhost', 'a to c', 'ac'))
    c.send(chat('ro_b@localhost', 'c to b', 'cb'))
    b.wait_for(lambda e: is_message(e) and e.get('id') == 'cb', 5, 'c to b')
    pairs = (('ro_a', 'ro_b'), ('ro_b', 'ro_a'), ('ro_a', 'ro_c'), ('ro_c', 'ro_a'),
             ('ro_b', 'ro_c'), ('ro_c', 'ro_b'))
    wait_value(lambda: [archived(suite, srv, o, p) for o, p in pairs], [1] * 6, 2,
               'archived before the sweep')
    wait_value(lambda: [archived(suite, srv, o, p) for o, p in pairs], [0, 0, 1, 1, 1, 1], 8,
               'archive rows after the retention')
    time.sleep(1.2)  # one more sweep: what is kept stays
    check([archived(suite, srv, o, p) for o, p in pairs] == [0, 0, 1, 1, 1, 1],
          'a message without expiry was erased')
    check([body_of(m) for _, m, _ in query_ok(a).items] == ['a to c'], 'archive of ro_a')


@test
def retention_ephemeral_timer_is_never_delivered_or_shown_after_it(suite):
    srv = ret_server(suite, 'ret-timer', default=0, interval=3600)  # no sweep meanwhile
    a = srv.login('re_a', 'pc')
    srv.user('re_b')
    a.send(chat('re_b@localhost', 'gone soon', 'e1', ephemeral(25)))  # 1 s
    a.send(chat('re_b@localhost', 'stays', 'e2'))
    a.ping()
    wait_value(lambda: (queued(suite, srv, 're_b'), queued(suite, srv, 're_b', True),
                        archived(suite, srv, 're_a', expiring=True),
                        archived(suite, srv, 're_b', expiring=True)), (2, 1, 1, 1), 2,
               'stored with their expiry')
    check(sql(suite, srv, "SELECT count(*) FROM offline_messages WHERE payload IS NULL AND "
                          "archive_stanza_id IS NOT NULL") == '2',
          'the queued messages do not refer to their archive rows')
    time.sleep(1.2)
    b = srv.login('re_b', 'phone')
    b.send('<presence/>')
    el = b.wait_for(lambda e: is_message(e) and e.get('id') == 'e2', 5, 'the lasting message')
    check(body_of(el) == 'stays', 'delivered %r' % body_of(el))
    check(b.silent_for(lambda e: is_message(e) and e.get('id') == 'e1', 0.5),
          'the ephemeral message was delivered after its timer')
    check([body_of(m) for _, m, _ in query_ok(a).items] == ['stays'], 'sender archive')
    check([body_of(m) for _, m, _ in query_ok(b).items] == ['stays'], 'recipient archive')
    check((archived(suite, srv, 're_a'), archived(suite, srv, 're_b')) == (1, 1),
          'expired rows still in the archive')


@test
def retention_sweeper_erases_ephemeral_messages_at_their_timer(suite):
    srv = ret_server(suite, 'ret-sweep', default=0)
    a = srv.login('rs_a', 'pc')
    srv.user('rs_b')
    a.send(chat('rs_b@localhost', 'gone soon', 's1', ephemeral(25)))
    a.send(chat('rs_b@localhost', 'stays', 's2', ephemeral(100000)))
    a.send(chat('rs_b@localhost', 'stays too', 's3'))
    a.ping()
    wait_value(lambda: (queued(suite, srv, 'rs_b'), archived(suite, srv, 'rs_a')), (3, 3), 2,
               'stored')
    wait_value(lambda: (queued(suite, srv, 'rs_b'), archived(suite, srv, 'rs_a'),
                        archived(suite, srv, 'rs_b')), (2, 2, 2), 6, 'left after the timer')
    check('sweeper: erased' in srv.log(), 'no sweeper line in the log')


@test
def retention_command_refuses_bad_values_sessions_and_other_accounts(suite):
    srv = suite.server()
    a = srv.login('rn_a', 'pc')
    srv.user('rn_b')
    info = a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, 'localhost')
    check(NS_CMD in [f.get('var') for f in info.iter('{%s}feature' % NS_DISCO_INFO)],
          'commands not advertised')
    node = a.iq('get', "<query xmlns='%s' node='%s'/>" % (NS_DISCO_INFO, NODE))
    ident = node.find('{%s}query/{%s}identity' % (NS_DISCO_INFO, NS_DISCO_INFO))
    check(ident is not None and ident.get('type') == 'command-node', 'command node info')
    sid = start_command(a)
    for bad in ('abc', '-5', '99999999999'):
        iq = command(a, submit_form(bad), sid, 'complete')
        check(stanza_error(iq) == 'bad-request', '%r accepted: %s' % (bad, stanza_error(iq)))
    iq = command(a, submit_form('60', 'not a jid@'), sid, 'complete')
    check(stanza_error(iq) == 'bad-request', 'bad JID accepted')
    iq = command(a, submit_form('60'), 'no-such-session', 'complete')
    check(stanza_error(iq) == 'bad-request', 'unknown session accepted')
    iq = command(a, '', sid, 'cancel')
    cmd = iq.find('{%s}command' % NS_CMD)
    check(cmd is not None and cmd.get('status') == 'canceled', 'cancel not confirmed')
    iq = command(a, submit_form('60'), sid, 'complete')
    check(stanza_error(iq) == 'bad-request', 'a canceled session was accepted')
    sid = start_command(a)
    iq = command(a, submit_form('0'), sid, 'complete')
    check(iq.get('type') == 'result', 'a good value refused: %s' % stanza_error(iq))
    iq = command(a, submit_form('0'), sid, 'complete')
    check(stanza_error(iq) == 'bad-request', 'a completed session was accepted again')
    iq = command(a, '', None, None, 'rn_b@localhost')
    check(iq.get('type') == 'error', 'command run on another account')
    iq = command(a, node='urn:example:none')
    check(stanza_error(iq) == 'item-not-found', 'unknown node: %s' % stanza_error(iq))
    for args, why in ((('set', 'rn_a@localhost', 'soon'), 'bad seconds'),
                      (('set', 'nobody@localhost', '60'), 'no such account'),
                      (('show', 'nobody@localhost'), 'no such account'),
                      (('set', 'rn_a@localhost'), 'missing seconds')):
        r = srv.ctl('retention', *args)
        check(r.returncode != 0, 'warblerctl retention %s succeeded (%s)' % (args, why))
    check(local_name(info.tag) == 'iq', 'disco answer')


@test
def retention_sweeper_trims_retractions_older_than_30_days(suite):
    srv = ret_server(suite, 'ret-trim', default=0)
    srv.user('rt_trim')
    added = sql(suite, srv, "INSERT INTO archive_retractions (account_id, origin_hash, "
                            "retract_id, at) SELECT id, decode(h, 'hex'), r, "
                            "now() - d * interval '1 day' FROM accounts, (VALUES ('01', 'old', "
                            "31), ('02', 'recent', 29)) v (h, r, d) WHERE node = 'rt_trim' "
                            "RETURNING retract_id")
    check(added.split()[:2] == ['old', 'recent'], 'the retractions were not inserted: %r' % added)
    left = lambda: sql(suite, srv, "SELECT string_agg(retract_id, ',' ORDER BY retract_id) FROM "
                                   "archive_retractions")
    wait_value(left, 'recent', 6, 'remembered retractions after a sweep')
