# Integration tests of the server's life: SIGHUP certificate reload, restart keeping accounts,
# warblerctl account management, --check-config and the master key mode check. Private servers.
import os
import signal
import subprocess
import sys
import time

from wbinteg import (XmppConn, check, cert_der, fingerprint, local_name, make_cert,
                     run, test)


def presented_cert(port, direct):
    c = XmppConn(port, direct=direct)
    try:
        if not direct:
            c.open('localhost')
            c.starttls()
        return c.sock.getpeercert(True)
    finally:
        c.close()


def try_login(srv, local, password, direct=False):
    """Returns None when the login succeeded, else the SASL failure condition(s)."""
    c = XmppConn(srv.direct_port if direct else srv.starttls_port, direct=direct)
    try:
        if not direct:
            c.open('localhost')
            c.starttls()
        c.open('localhost')
        ok, el = c.auth_scram(local, password)
        if ok:
            return None
        return [local_name(x.tag) for x in el if local_name(x.tag) != 'text'] or [el.tag]
    finally:
        c.close()


@test
def sighup_reloads_certificate_and_keeps_sessions(suite):
    srv = suite.private_server('sighup').start()
    old = cert_der(os.path.join(srv.tls_dir, 'localhost.crt'))
    check(presented_cert(srv.direct_port, True) == old, 'server presents an unexpected cert')
    session = srv.login('stays', direct=True)
    new_dir = os.path.join(srv.dir, 'newtls')
    os.makedirs(new_dir)
    new = make_cert(new_dir, 'localhost', 'localhost')
    for ext in ('.key', '.crt'):
        os.replace(os.path.join(new_dir, 'localhost' + ext), os.path.join(srv.tls_dir,
                                                                         'localhost' + ext))
    srv.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    got = None
    while time.monotonic() < deadline:
        got = presented_cert(srv.direct_port, True)
        if got == new:
            break
        time.sleep(0.2)
    check(got == new, 'after SIGHUP direct TLS presents %s, new cert is %s' % (
        fingerprint(got)[:16], fingerprint(new)[:16]))
    check(presented_cert(srv.starttls_port, False) == new, 'STARTTLS still presents the old cert')
    session.ping()
    srv.login('after_reload').ping()


@test
def restart_keeps_accounts_and_sigterm_closes_streams(suite):
    srv = suite.private_server('restart').start()
    c = srv.login('survivor')
    c.ping()
    srv.stop()
    check(c.wait_closed(5), 'client not disconnected by SIGTERM')
    check(c.stream_ended, 'client got no </stream:stream> before the close')
    srv.start()
    srv.login('survivor', direct=True).ping()


@test
def warblerctl_manages_users(suite):
    srv = suite.private_server('ctl').start()
    jid = 'carol@localhost'
    r = srv.ctl('user', 'add', jid, '--password-file', srv.password_file('first pass'))
    check(r.returncode == 0, 'user add: exit %d: %s' % (r.returncode, r.stderr.strip()[:200]))
    r = srv.ctl('user', 'list')
    check(r.returncode == 0 and jid in r.stdout.split(), 'user list: exit %d, %r' % (
        r.returncode, r.stdout[:200]))
    check(try_login(srv, 'carol', 'first pass') is None, 'login with the first password failed')
    r = srv.ctl('user', 'passwd', jid, '--password-file', srv.password_file('second pass'))
    check(r.returncode == 0, 'user passwd: exit %d: %s' % (r.returncode, r.stderr.strip()[:200]))
    check(try_login(srv, 'carol', 'first pass') == ['not-authorized'],
          'the old password still works (or the failure is not not-authorized)')
    check(try_login(srv, 'carol', 'second pass', direct=True) is None, 'new password refused')
    r = srv.ctl('user', 'delete', jid)
    check(r.returncode == 0, 'user delete: exit %d: %s' % (r.returncode, r.stderr.strip()[:200]))
    check(jid not in srv.ctl('user', 'list').stdout.split(), 'deleted user still listed')
    check(try_login(srv, 'carol', 'second pass') is not None, 'deleted user can log in')
    pw = srv.password_file('dup pass')
    check(srv.ctl('user', 'add', 'dave@localhost', '--password-file', pw).returncode == 0,
          'user add dave failed')
    r = srv.ctl('user', 'add', 'dave@localhost', '--password-file', pw)
    check(r.returncode == 1, 'duplicate user add: exit %d, wanted 1' % r.returncode)
    r = srv.ctl('user', 'add', 'erin@unknown.invalid', '--password-file', pw)
    check(r.returncode != 0, 'user add on an unserved domain succeeded')


@test
def warblerctl_script_checks_pass(suite):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_warblerctl.sh')
    r = run(['sh', script, suite.tool('warblerctl')], timeout=120)
    check(r.returncode == 0, 'test_warblerctl.sh: exit %d: %s' % (
        r.returncode, (r.stdout + r.stderr).strip()[-400:]))


@test
def repeated_failures_for_an_account_are_rate_limited(suite):
    srv = suite.private_server('ratelimit')
    with open(srv.conf) as f:
        text = f.read()
    with open(srv.conf, 'w') as f:
        f.write(text.replace('auth_failures = 50;', 'auth_failures = 3;'))
    srv.start()
    srv.user('frank', password='right pass')
    for _ in range(3):
        check(try_login(srv, 'frank', 'wrong pass') == ['not-authorized'],
              'a wrong password did not get not-authorized')
    check(try_login(srv, 'frank', 'right pass') == ['temporary-auth-failure'],
          'the right password right after 3 failures was not refused as temporary-auth-failure')
    check(try_login(srv, 'frank', 'right pass', direct=True) == ['temporary-auth-failure'],
          'the limit did not hold over direct TLS')


@test
def check_config_accepts_good_and_rejects_bad_config(suite):
    srv = suite.private_server('checkconf')
    r = run([suite.tool('warblerd'), '-c', srv.conf, '--check-config'], timeout=30)
    check(r.returncode == 0, '--check-config on a good file: exit %d: %s' % (
        r.returncode, r.stderr.strip()[-200:]))
    bad = os.path.join(srv.dir, 'bad.conf')
    with open(srv.conf) as f, open(bad, 'w') as g:
        g.write(f.read().replace('c2s = {', 'c2s = { no_such_option = 1;'))
    r = run([suite.warblerd, '-c', bad, '--check-config'], timeout=30)
    check(r.returncode != 0, '--check-config accepted an unknown option')
    check('bad.conf' in r.stderr, 'error does not name the file: %r' % r.stderr[-200:])


@test
def server_refuses_master_key_readable_by_others(suite):
    srv = suite.private_server('widekey')
    suite.note_server(srv)
    check(os.access(suite.warblerd, os.X_OK), 'server missing: %s not built' % suite.warblerd)
    os.chmod(os.path.join(srv.dir, 'master.key'), 0o644)
    with open(srv.log_path, 'wb') as log:
        proc = subprocess.Popen([suite.warblerd, '-c', srv.conf], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, cwd=srv.dir)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
    check(rc not in (0, None), 'server started with a world-readable master key (status %s)' % rc)


if __name__ == '__main__':
    sys.exit('run these through run.py')
