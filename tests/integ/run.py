#!/usr/bin/python3
# Integration-test runner: starts real warblerd instances on free ports against PostgreSQL and runs
# the tests of tests_*.py in order, printing PASS/FAIL lines and "N passed, N failed" last.
import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wbinteg  # noqa: E402
from wbinteg import Failure, Server  # noqa: E402
import importlib  # noqa: E402

# Every tests_*.py beside this file registers its tests with @test when imported.
for _name in sorted(os.listdir(os.path.dirname(os.path.abspath(__file__)))):
    if _name.startswith('tests_') and _name.endswith('.py'):
        importlib.import_module(_name[:-3])


class Suite:
    """What tests share: paths, PostgreSQL, certificates, long-lived servers and databases."""

    def __init__(self, build, keep):
        self.build = build
        self.keep = keep
        self.warblerd = os.path.join(build, 'warblerd')
        self.warblerctl = os.path.join(build, 'warblerctl')
        self.workdir = tempfile.mkdtemp(prefix='wb-integ-')
        os.chmod(self.workdir, 0o755)
        self.dbs = []
        self.named = {}
        self.used = []
        self.pg = None
        self.cert_dir = os.path.join(self.workdir, 'certs')
        os.makedirs(self.cert_dir)
        wbinteg.make_cert(self.cert_dir, 'localhost', 'localhost')
        wbinteg.make_cert(self.cert_dir, 'ex', 'example.test')
        self.pg = wbinteg.Postgres(self.workdir)

    def tool(self, name):
        path = os.path.join(self.build, name)
        wbinteg.check(os.access(path, os.X_OK), '%s missing in %s' % (name, self.build))
        return path

    def create_db(self, name):
        db = 'wbinteg_%d_%d_%s' % (os.getpid(), len(self.dbs), name.replace('-', '_'))
        self.pg.psql('create database %s' % db)
        self.dbs.append(db)
        return db

    def note_server(self, srv):
        if srv not in self.used:
            self.used.append(srv)

    def server(self, name='shared', mechanisms=None):
        """A server started on first use and kept until the end of the run."""
        entry = self.named.get(name)
        if entry is None:
            srv = Server(self, name, mechanisms=mechanisms)
            entry = self.named[name] = [srv, None]
            try:
                srv.start()
            except Failure as e:
                entry[1] = e
        srv, error = entry
        self.note_server(srv)
        if error is not None:
            raise error
        return srv

    def private_server(self, name, mechanisms=None):
        """A server for one test; the runner stops it (and checks the stop) after the test."""
        return Server(self, '%s-%d' % (name, len(self.dbs)), mechanisms=mechanisms)

    def cleanup(self):
        for db in self.dbs:
            try:
                self.pg.psql('drop database if exists %s with (force)' % db)
            except RuntimeError as e:
                print('warning: %s' % e, file=sys.stderr)
        if self.pg:
            self.pg.stop()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def print_tails(servers):
    for srv in servers:
        tail = srv.log_tail()
        if not tail:
            continue
        print('    --- %s: last lines of %s' % (srv.name, srv.log_path))
        for line in tail:
            print('    | ' + line)


def stop_private(suite, test_failed):
    """Stops the per-test servers; returns the problems of a stop when the test passed."""
    problems = []
    for srv in suite.used:
        if srv.name in suite.named or srv.proc is None:
            continue
        if test_failed:
            srv.kill()
            continue
        try:
            srv.stop()
        except Failure as e:
            problems.append('%s: %s' % (srv.name, e))
    return problems


def run_one(suite, fn, verbose):
    suite.used = []
    reason = None
    started = time.monotonic()
    try:
        fn(suite)
    except (Failure, wbinteg.Closed) as e:
        reason = str(e)
    except Exception as e:  # a crash of the test is a failure too, with its cause
        reason = '%s: %s' % (type(e).__name__, e)
        if verbose:
            traceback.print_exc()
    problems = stop_private(suite, reason is not None)
    if problems and reason is None:
        reason = '; '.join(problems)
    name = fn.__name__
    if reason is None:
        print('PASS %s (%.1f s)' % (name, time.monotonic() - started), flush=True)
        return True
    print('FAIL %s: %s' % (name, reason.splitlines()[0] if reason else 'failed'), flush=True)
    print_tails(suite.used)
    return False


def stop_named(suite):
    """Stops the long-lived servers; each stop is reported like a test."""
    results = []
    for name, (srv, error) in suite.named.items():
        if error is not None or srv.proc is None:
            continue
        test = 'server_%s_exits_cleanly_on_sigterm' % name
        try:
            witness = srv.login('stopwitness')
            srv.stop()
            wbinteg.check(witness.wait_closed(5), 'a logged-in client was not disconnected')
            wbinteg.check(witness.stream_ended, 'a logged-in client got no </stream:stream>')
            print('PASS %s' % test, flush=True)
            results.append(True)
        except (Failure, wbinteg.Closed, OSError) as e:
            srv.kill()
            print('FAIL %s: %s' % (test, e), flush=True)
            print_tails([srv])
            results.append(False)
    return results


def main():
    ap = argparse.ArgumentParser(description='Warbler integration tests')
    ap.add_argument('--build', required=True, help='build directory with warblerd, warblerctl...')
    ap.add_argument('-k', action='append', default=[],
                    help='run only tests whose name contains this (repeatable)')
    ap.add_argument('--list', action='store_true', help='list the tests and exit')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory')
    ap.add_argument('-v', action='store_true', help='print tracebacks of crashed tests')
    args = ap.parse_args()
    tests = [t for t in wbinteg.TESTS if not args.k or any(k in t.__name__ for k in args.k)]
    if args.list:
        for t in tests:
            print(t.__name__)
        return 0
    passed = failed = 0
    suite = None
    try:
        suite = Suite(os.path.abspath(args.build), args.keep)
    except (RuntimeError, OSError, Failure) as e:
        for t in tests:
            print('FAIL %s: setup: %s' % (t.__name__, e))
        failed = len(tests)
    if suite is not None:
        try:
            for t in tests:
                if run_one(suite, t, args.v):
                    passed += 1
                else:
                    failed += 1
            for ok in stop_named(suite):
                passed, failed = passed + ok, failed + (not ok)
        finally:
            for srv, _ in suite.named.values():
                srv.kill()
            suite.cleanup()
            if args.keep:
                print('kept %s' % suite.workdir, file=sys.stderr)
    if not tests:
        print('no test matches %s' % args.k, file=sys.stderr)
        failed += 1
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
