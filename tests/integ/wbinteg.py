# Integration-test helpers: PostgreSQL databases, certificates, a warblerd under test and a raw
# XMPP client (sockets, ssl, SCRAM). Standard library only; the tests themselves live in tests_*.py.
import base64
import collections
import hashlib
import hmac
import os
import signal
import socket
import ssl
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

NS_STREAM = 'http://etherx.jabber.org/streams'
NS_CLIENT = 'jabber:client'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_STREAMS_ERR = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_STANZA_ERR = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_PING = 'urn:xmpp:ping'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'

PG_BIN = '/usr/lib/postgresql/15/bin'
SANITIZER_MARKS = ('AddressSanitizer', 'LeakSanitizer', 'runtime error:')
DEFAULT_PASSWORD = 'correct horse battery staple'

TESTS = []


def test(fn):
    """Registers a test function f(suite); tests run in registration order."""
    TESTS.append(fn)
    return fn


class Failure(Exception):
    """A test assertion that failed; the message is the reason printed after FAIL."""


def check(cond, reason):
    if not cond:
        raise Failure(reason)


def free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def make_cert(directory, stem, domain):
    """Writes STEM.crt and STEM.key (self-signed ECDSA P-256) for DOMAIN; returns the DER cert."""
    crt = os.path.join(directory, stem + '.crt')
    key = os.path.join(directory, stem + '.key')
    r = run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-keyout', key,
             '-out', crt, '-subj', '/CN=' + domain, '-addext', 'subjectAltName=DNS:' + domain])
    if r.returncode != 0:
        raise RuntimeError('openssl req failed: ' + r.stderr.strip())
    return cert_der(crt)


def cert_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def fingerprint(der):
    return hashlib.sha256(der).hexdigest()


class Postgres:
    """The PostgreSQL to test against: WB_TEST_PGHOST, or a private cluster started here."""

    def __init__(self, workdir):
        self.own_dir = None
        self.host = os.environ.get('WB_TEST_PGHOST')
        if not self.host:
            self._start_private(workdir)

    def _as_postgres(self, cmd):
        if os.geteuid() == 0:
            return ['runuser', '-u', 'postgres', '--'] + cmd
        return cmd

    def _start_private(self, workdir):
        d = os.path.join(workdir, 'pg')
        os.makedirs(d)
        if os.geteuid() == 0:
            subprocess.run(['chown', '-R', 'postgres:postgres', workdir], check=True)
        r = run(self._as_postgres([PG_BIN + '/initdb', '-D', d + '/data', '-A', 'trust',
                                   '-U', 'postgres']), timeout=120)
        if r.returncode != 0:
            raise RuntimeError('initdb failed: ' + r.stderr.strip())
        opts = "-c listen_addresses='' -c unix_socket_directories='%s' -c fsync=off" % d
        r = run(self._as_postgres([PG_BIN + '/pg_ctl', '-D', d + '/data', '-l', d + '/log',
                                   '-w', '-o', opts, 'start']), timeout=120)
        if r.returncode != 0:
            raise RuntimeError('pg_ctl start failed: ' + r.stderr.strip())
        self.own_dir = d
        self.host = d

    def psql(self, sql):
        r = run(['psql', '-h', self.host, '-U', 'postgres', '-d', 'postgres', '-v',
                 'ON_ERROR_STOP=1', '-qc', sql])
        if r.returncode != 0:
            raise RuntimeError('psql failed: ' + r.stderr.strip())

    def stop(self):
        if self.own_dir:
            run(self._as_postgres([PG_BIN + '/pg_ctl', '-D', self.own_dir + '/data', '-m',
                                   'fast', '-w', 'stop']), timeout=60)
            self.own_dir = None


class Server:
    """One warblerd with its own directory, config, certificates, master key and database."""

    def __init__(self, suite, name, mechanisms=None, db=None):
        self.suite = suite
        self.name = name
        self.dir = os.path.join(suite.workdir, name)
        self.tls_dir = os.path.join(self.dir, 'tls')
        os.makedirs(self.tls_dir)
        self.db = db or suite.create_db(name)
        self.mechanisms = mechanisms
        self.starttls_port, self.direct_port = free_ports(2)
        self.conf = os.path.join(self.dir, 'warbler.conf')
        self.log_path = os.path.join(self.dir, 'warblerd.log')
        self.proc = None
        self.log_file = None
        self.users = {}
        self.exit_problems = None
        for stem in ('localhost', 'ex'):
            for ext in ('.crt', '.key'):
                src = os.path.join(suite.cert_dir, stem + ext)
                with open(src, 'rb') as f, open(os.path.join(self.tls_dir, stem + ext), 'wb') as g:
                    g.write(f.read())
        self._write_master_key()
        self._write_config()

    def _write_master_key(self):
        path = os.path.join(self.dir, 'master.key')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as f:
            f.write(os.urandom(32))

    def _write_config(self):
        mechs = ''
        if self.mechanisms:
            mechs = 'sasl = { scram_iterations = 4096; mechanisms = [ %s ]; };\n' % ', '.join(
                '"%s"' % m for m in self.mechanisms)
        else:
            mechs = 'sasl = { scram_iterations = 4096; };\n'
        text = (
            'server = { workers = 2; log_level = "debug"; key_file = "master.key"; };\n'
            'storage = { dsn = "host=%s dbname=%s user=postgres"; wait = 10; };\n'
            'hosts = ( { domain = "localhost"; cert = "tls/localhost.crt"; '
            'key = "tls/localhost.key"; },\n'
            '          { domain = "example.test"; cert = "tls/ex.crt"; key = "tls/ex.key"; } );\n'
            'listeners = ( { type = "c2s"; address = "127.0.0.1"; port = %d; tls = "starttls"; },\n'
            '              { type = "c2s"; address = "127.0.0.1"; port = %d; tls = "direct"; } );\n'
            'c2s = { require_starttls = true; };\n'
            # The upload service's HTTP port is one per machine: tests_upload.py turns it on.
            'upload = { enabled = false; };\n'
            'limits = { max_stanza_size = 65536; handshake_timeout = 20; idle_timeout = 600;\n'
            '           auth_failures = 50; auth_window = 60; };\n'
            % (self.suite.pg.host, self.db, self.starttls_port, self.direct_port)) + mechs
        with open(self.conf, 'w') as f:
            f.write(text)

    # --- process control -------------------------------------------------------------------
    def start(self, timeout=20):
        check(os.access(self.suite.warblerd, os.X_OK),
              'server missing: %s not built' % self.suite.warblerd)
        self.log_file = open(self.log_path, 'ab')
        self.log_mark = self.log_file.tell()
        self.proc = subprocess.Popen([self.suite.warblerd, '-c', self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=self.log_file, cwd=self.dir)
        self.suite.note_server(self)
        deadline = time.monotonic() + timeout
        pending = [self.starttls_port, self.direct_port]
        while pending:
            rc = self.proc.poll()
            check(rc is None, 'server not working: warblerd exited with status %s at start-up' % rc)
            check(time.monotonic() < deadline, 'server not working: port %d not listening after %d s'
                  % (pending[0], timeout))
            try:
                socket.create_connection(('127.0.0.1', pending[0]), timeout=1).close()
                pending.pop(0)
            except OSError:
                time.sleep(0.1)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        check(self.running(), 'server not running (exit status %s)' % (
            self.proc.poll() if self.proc else None))
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM; raises Failure unless the exit status is 0 and the log has no sanitizer report."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        problems = []
        if proc.poll() is not None:
            problems.append('server had already exited with status %s' % proc.returncode)
        else:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                problems.append('server still running %d s after SIGTERM' % timeout)
        if proc.returncode not in (0, None) and not problems:
            problems.append('server exit status %d after SIGTERM' % proc.returncode)
        self.log_file.close()
        log = self.log()
        for mark in SANITIZER_MARKS:
            if mark in log:
                problems.append('server log contains "%s"' % mark)
        if problems:
            raise Failure('; '.join(problems))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self.log_file:
            self.log_file.close()

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_tail(self, n=30):
        return self.log().splitlines()[-n:]

    # --- accounts --------------------------------------------------------------------------
    def ctl(self, *args, timeout=30):
        check(os.access(self.suite.warblerctl, os.X_OK),
              'server missing: %s not built' % self.suite.warblerctl)
        return run([self.suite.warblerctl, '-c', self.conf] + list(args), timeout=timeout)

    def password_file(self, password):
        path = os.path.join(self.dir, 'pw-%s' % uuid.uuid4().hex[:8])
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(password)
        return path

    def user(self, local, domain='localhost', password=DEFAULT_PASSWORD):
        """Creates LOCAL@DOMAIN once (with warblerctl) and returns (bare jid, password)."""
        jid = '%s@%s' % (local, domain)
        if jid not in self.users:
            r = self.ctl('user', 'add', jid, '--password-file', self.password_file(password))
            check(r.returncode == 0, 'warblerctl user add %s: exit %d: %s' % (
                jid, r.returncode, (r.stderr or r.stdout).strip()[:200]))
            self.users[jid] = password
        return jid, self.users[jid]

    def login(self, local, resource=None, direct=False, domain='localhost', mech=None):
        mech = mech or (self.mechanisms[0] if self.mechanisms else 'SCRAM-SHA-256')
        jid, pw = self.user(local, domain)
        port = self.direct_port if direct else self.starttls_port
        c = XmppConn(port, direct=direct, sni=domain)
        c.login(jid.split('@')[0], pw, domain=domain, resource=resource, mech=mech)
        return c


class Closed(Exception):
    pass


def _b64(data):
    return base64.b64encode(data).decode()


def _xml_escape(s):
    return s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace("'", '&apos;')


def local_name(tag):
    return tag.rsplit('}', 1)[-1]


def ns_of(tag):
    return tag[1:].split('}', 1)[0] if tag.startswith('{') else ''


def stanza_error(elem):
    """The defined condition of a stanza error (e.g. 'service-unavailable') or None."""
    err = elem.find('{%s}error' % NS_CLIENT)
    if err is None:
        return None
    for child in err:
        if ns_of(child.tag) == NS_STANZA_ERR and local_name(child.tag) != 'text':
            return local_name(child.tag)
    return None


def tls_context(alpn=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(['xmpp-client'])
    return ctx


class XmppConn:
    """A raw client: send text, receive top-level elements of the server's stream."""

    def __init__(self, port, direct=False, sni='localhost', alpn=True, timeout=10):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.sni = sni
        self.queue = collections.deque()
        self.eof = False
        self.stream_ended = False
        self.header = None
        self.jid = None
        self.ids = 0
        if direct:
            self.sock = tls_context(alpn).wrap_socket(self.sock, server_hostname=sni)
        self._reset_parser()

    def _reset_parser(self):
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.depth = 0
        self.root = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def next_id(self):
        self.ids += 1
        return 'wbt%d' % self.ids

    # --- reading -----------------------------------------------------------------------------
    def _feed(self, data):
        if self.stream_ended:
            return
        try:
            self.parser.feed(data)
            events = list(self.parser.read_events())
        except ET.ParseError as e:
            raise Failure('server sent malformed XML: %s' % e)
        for ev, el in events:
            if ev == 'start':
                if self.depth == 0:
                    self.root, self.header = el, dict(el.attrib)
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.queue.append(el)
                    self.root.remove(el)
                elif self.depth == 0:
                    self.stream_ended = True

    def _pump(self, deadline):
        """Reads once; returns False at the deadline. Sets eof when the peer closed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b''
        except ssl.SSLError as e:
            raise Failure('TLS error while reading: %s' % e)
        if not data:
            self.eof = True
        else:
            self._feed(data)
        return True

    def wait_header(self, timeout=10):
        deadline = time.monotonic() + timeout
        while self.header is None:
            if self.eof:
                raise Closed('connection closed before the stream header')
            if not self._pump(deadline):
                raise Failure('no stream header within %d s' % timeout)
        return self.header

    def wait_for(self, pred=None, timeout=10, what='element'):
        """Returns the first queued or arriving top-level element matching pred (others stay)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for el in list(self.queue)[seen:]:
                if pred is None or pred(el):
                    self.queue.remove(el)
                    return el
            seen = len(self.queue)
            if self.eof or self.stream_ended:
                raise Closed('stream closed while waiting for %s' % what)
            if not self._pump(deadline):
                raise Failure('no %s within %g s' % (what, timeout))

    def silent_for(self, pred, seconds):
        """True when no element matching pred arrives within SECONDS."""
        try:
            self.wait_for(pred, timeout=seconds)
            return False
        except Failure:
            return True

    def wait_closed(self, timeout=5):
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._pump(deadline):
                return False
        return True

    def expect_stream_error(self, condition, timeout=10):
        """Checks that the next stream error is CONDITION and that the connection then closes."""
        try:
            err = self.wait_for(lambda e: e.tag == '{%s}error' % NS_STREAM, timeout,
                                'stream error <%s/>' % condition)
        except Closed:
            raise Failure('connection closed without a stream error (wanted <%s/>)' % condition)
        conds = [local_name(c.tag) for c in err if ns_of(c.tag) == NS_STREAMS_ERR
                 and local_name(c.tag) != 'text']
        check(conds == [condition], 'stream error %s instead of <%s/>' % (conds, condition))
        check(self.wait_closed(5), 'connection still open 5 s after <%s/>' % condition)
        self.close()

    # --- negotiation -------------------------------------------------------------------------
    def open(self, to='localhost', timeout=10):
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>" % to)
        self.wait_header(timeout)
        return self.wait_for(lambda e: e.tag == '{%s}features' % NS_STREAM, timeout,
                             'stream features')

    def starttls(self):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.wait_for(None, 10, 'STARTTLS answer')
        check(el.tag == '{%s}proceed' % NS_TLS, 'STARTTLS answered with %s' % el.tag)
        check(not self.queue, 'data after <proceed/>')
        self.sock = tls_context().wrap_socket(self.sock, server_hostname=self.sni)
        self._reset_parser()
        self.header = None

    def restart(self, to):
        self._reset_parser()
        self.header = None
        return self.open(to)

    def auth_plain(self, user, password):
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (
            NS_SASL, _b64(b'\0' + user.encode() + b'\0' + password.encode())))
        el = self.wait_for(None, 10, 'SASL answer')
        return local_name(el.tag) == 'success', el

    def auth_scram(self, user, password, mech='SCRAM-SHA-256'):
        """SCRAM without channel binding; returns (ok, last element). Checks the server proof."""
        hname = {'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-1': 'sha1'}[mech]
        nonce = _b64(os.urandom(18))
        name = user.replace('=', '=3D').replace(',', '=2C')
        first_bare = 'n=%s,r=%s' % (name, nonce)
        self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (
            NS_SASL, mech, _b64(('n,,' + first_bare).encode())))
        el = self.wait_for(None, 10, 'SASL challenge')
        if local_name(el.tag) != 'challenge':
            return False, el
        server_first = base64.b64decode(el.text or '').decode()
        attrs = dict(kv.split('=', 1) for kv in server_first.split(','))
        check(attrs.get('r', '').startswith(nonce) and len(attrs['r']) > len(nonce),
              'SCRAM server nonce does not extend the client nonce')
        salted = hashlib.pbkdf2_hmac(hname, password.encode(), base64.b64decode(attrs['s']),
                                     int(attrs['i']))
        client_key = hmac.new(salted, b'Client Key', hname).digest()
        stored_key = hashlib.new(hname, client_key).digest()
        final_bare = 'c=biws,r=%s' % attrs['r']
        auth_msg = ('%s,%s,%s' % (first_bare, server_first, final_bare)).encode()
        sig = hmac.new(stored_key, auth_msg, hname).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        self.send("<response xmlns='%s'>%s</response>" % (
            NS_SASL, _b64(('%s,p=%s' % (final_bare, _b64(proof))).encode())))
        el = self.wait_for(None, 10, 'SASL outcome')
        if local_name(el.tag) != 'success':
            return False, el
        server_key = hmac.new(salted, b'Server Key', hname).digest()
        want = 'v=' + _b64(hmac.new(server_key, auth_msg, hname).digest())
        check(base64.b64decode(el.text or '').decode() == want, 'SCRAM server signature wrong')
        return True, el

    def bind(self, resource=None):
        child = '<resource>%s</resource>' % _xml_escape(resource) if resource else ''
        iq_id = self.next_id()
        self.send("<iq type='set' id='%s'><bind xmlns='%s'>%s</bind></iq>" % (iq_id, NS_BIND, child))
        el = self.wait_for(lambda e: e.get('id') == iq_id, 10, 'bind result')
        check(el.get('type') == 'result', 'bind failed: %s' % stanza_error(el))
        jid = el.find('{%s}bind/{%s}jid' % (NS_BIND, NS_BIND))
        check(jid is not None and jid.text, 'bind result without a JID')
        self.jid = jid.text
        return self.jid

    def login(self, user, password, domain='localhost', resource=None, mech='SCRAM-SHA-256'):
        """Full negotiation up to a bound resource; raises Failure on any refusal."""
        if not isinstance(self.sock, ssl.SSLSocket):
            feats = self.open(domain)
            check(feats.find('{%s}starttls' % NS_TLS) is not None, 'STARTTLS not offered')
            self.starttls()
        feats = self.open(domain)
        mechs = [m.text for m in feats.iter('{%s}mechanism' % NS_SASL)]
        check(mech in mechs, '%s not offered (offered: %s)' % (mech, mechs))
        ok, el = self.auth_plain(user, password) if mech == 'PLAIN' else \
            self.auth_scram(user, password, mech)
        check(ok, 'login of %s@%s refused: %s' % (user, domain, [local_name(c.tag) for c in el]))
        feats = self.restart(domain)
        check(feats.find('{%s}bind' % NS_BIND) is not None, 'bind not offered after SASL')
        return self.bind(resource)

    # --- stanzas -----------------------------------------------------------------------------
    def iq(self, type_, payload, to=None, timeout=10):
        iq_id = self.next_id()
        to_attr = " to='%s'" % to if to else ''
        self.send("<iq type='%s' id='%s'%s>%s</iq>" % (type_, iq_id, to_attr, payload))
        return self.wait_for(lambda e: local_name(e.tag) == 'iq' and e.get('id') == iq_id and
                             e.get('type') in ('result', 'error'), timeout, 'answer to iq ' + iq_id)

    def ping(self, to='localhost', timeout=10):
        el = self.iq('get', "<ping xmlns='%s'/>" % NS_PING, to, timeout)
        check(el.get('type') == 'result', 'ping to %s answered with %s (%s)' % (
            to, el.get('type'), stanza_error(el)))
