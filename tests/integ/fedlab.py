# Federation lab for the s2s tests: an /etc/hosts block, a loopback DNS stub answering NXDOMAIN,
# a private Prosody, Warbler servers with their own domain and 127.0.0.x address, and raw clients
# that connect to any loopback address. Everything is undone by FedLab.close(), even on failure.
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

from wbinteg import (DEFAULT_PASSWORD, NS_STREAM, NS_TLS, Failure, Server, XmppConn, check,
                     local_name, make_cert, run, tls_context)

HOSTS = '/etc/hosts'
# Answers NXDOMAIN, except SRV records given as NAME=PORT:TARGET arguments.
DNS_STUB = r'''
import socket, sys
srv = {}
for arg in sys.argv[3:]:
    name, rest = arg.split("=")
    port, target = rest.split(":")
    srv[name.lower()] = (int(port), target)
def wire(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(4096)
    if len(data) < 12:
        continue
    i, labels = 12, []
    try:
        while data[i] != 0:
            labels.append(data[i + 1:i + 1 + data[i]].decode("ascii", "replace"))
            i += 1 + data[i]
        qtype = int.from_bytes(data[i + 1:i + 3], "big")
        i += 5
    except IndexError:
        continue
    ans = srv.get(".".join(labels).lower()) if qtype == 33 else None
    flags = 0x8000 | (data[2] & 0x79) << 8 | 0x0080 | (0 if ans else 3)
    hdr = data[0:2] + flags.to_bytes(2, "big") + b"\x00\x01" + (b"\x00\x01" if ans else b"\x00\x00") + b"\x00\x00\x00\x00"
    out = hdr + data[12:i]
    if ans:
        rdata = b"\x00\x00\x00\x00" + ans[0].to_bytes(2, "big") + wire(ans[1])
        out += b"\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x3c" + len(rdata).to_bytes(2, "big") + rdata
    s.sendto(out, peer)
'''


def wait_port(addr, port, timeout, proc=None, what='server'):
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise Failure('%s exited with status %s at start-up' % (what, proc.returncode))
        try:
            socket.create_connection((addr, port), timeout=1).close()
            return
        except OSError:
            check(time.monotonic() < deadline, '%s: %s:%d not listening after %d s'
                  % (what, addr, port, timeout))
            time.sleep(0.1)


class TestCA:
    """A private certificate authority; leaf() signs ECDSA P-256 (or RSA) certificates."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.crt = os.path.join(directory, 'ca.crt')
        key = os.path.join(directory, 'ca.key')
        r = run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-subj',
                 '/CN=wbtest federation CA', '-keyout', key, '-out', self.crt,
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
        check(r.returncode == 0, 'openssl CA: %s' % r.stderr.strip()[:200])
        self.key = key
        os.chmod(directory, 0o755)

    def leaf(self, stem, domain, rsa=False):
        """Writes STEM.crt/STEM.key for DOMAIN signed by the CA; returns (crt, key)."""
        crt, key = os.path.join(self.dir, stem + '.crt'), os.path.join(self.dir, stem + '.key')
        csr, ext = os.path.join(self.dir, stem + '.csr'), os.path.join(self.dir, stem + '.ext')
        with open(ext, 'w') as f:
            f.write('basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
                    'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s\n' % domain)
        newkey = ['-newkey', 'rsa:2048'] if rsa else ['-newkey', 'ec', '-pkeyopt',
                                                      'ec_paramgen_curve:prime256v1']
        r = run(['openssl', 'req'] + newkey + ['-nodes', '-subj', '/CN=' + domain, '-keyout', key,
                                               '-out', csr])
        check(r.returncode == 0, 'openssl leaf: %s' % r.stderr.strip()[:200])
        r = run(['openssl', 'x509', '-req', '-in', csr, '-CA', self.crt, '-CAkey', self.key,
                 '-CAcreateserial', '-days', '30', '-extfile', ext, '-out', crt])
        check(r.returncode == 0, 'openssl sign: %s' % r.stderr.strip()[:200])
        os.chmod(key, 0o644)
        return crt, key


class FedLab:
    """Hosts entries, the DNS stub and peers of one test; close() undoes all of it."""

    def __init__(self, suite, name):
        self.suite = suite
        self.dir = os.path.join(suite.workdir, 'fedlab-%s-%d' % (name, len(suite.dbs)))
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.mark = 'wbtest-fedlab-%d-%s' % (os.getpid(), os.path.basename(self.dir))
        self.hosts = {}
        self.procs = []
        self.prosodies = []
        self.ejabberds = []
        self.resolv = os.path.join(self.dir, 'resolv.conf')
        with open(self.resolv, 'w') as f:
            f.write('nameserver 127.0.0.1\noptions timeout:1 attempts:1\n')
        self.stub = None

    def start_dns(self, srv=()):
        """The NXDOMAIN stub on 127.0.0.1:53 (shared when another lab already runs one), with
        SRV records given as "NAME=PORT:TARGET"."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(('127.0.0.1', 53))
        except OSError:
            return  # a stub is already answering there
        finally:
            s.close()
        self.stub = subprocess.Popen(['/usr/bin/python3', '-c', DNS_STUB, '127.0.0.1', '53']
                                     + list(srv),
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(self.stub)
        time.sleep(0.2)

    def add_host(self, domain, addr):
        self.hosts[domain] = addr
        self._write_hosts()

    def _strip_block(self, lines):
        out, inside = [], False
        for line in lines:
            if line.strip() == '# BEGIN ' + self.mark:
                inside = True
            elif line.strip() == '# END ' + self.mark:
                inside = False
            elif not inside:
                out.append(line)
        return out

    def _write_hosts(self):
        with open(HOSTS) as f:
            lines = self._strip_block(f.read().splitlines())
        if self.hosts:
            lines.append('# BEGIN ' + self.mark)
            lines += ['%s %s' % (a, d) for d, a in sorted(self.hosts.items())]
            lines.append('# END ' + self.mark)
        with open(HOSTS, 'w') as f:  # in place: /etc/hosts may be a bind mount
            f.write('\n'.join(lines) + '\n')

    def prosody(self, domain, addr, ca=None, extra=''):
        p = Prosody(self, domain, addr, ca, extra)
        self.prosodies.append(p)
        return p

    def ejabberd(self, domain, addr, ca, external=False, modules=''):
        e = Ejabberd(self, domain, addr, ca, external, modules)
        self.ejabberds.append(e)
        return e

    def close(self):
        for p in self.prosodies:
            p.stop()
        for e in self.ejabberds:
            e.stop()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.hosts = {}
        self._write_hosts()


class Prosody:
    """A private Prosody 0.12 on ADDR (c2s 5222, s2s 5269), dialback with a self-signed cert."""

    def __init__(self, lab, domain, addr, ca=None, extra=''):
        """With CA: external mode (CA-signed certificate, no dialback, secure auth); EXTRA:
        configuration text appended after the VirtualHost (a MUC Component, say)."""
        self.lab, self.domain, self.addr = lab, domain, addr
        self.exe = shutil.which('prosody') or '/usr/bin/prosody'
        check(os.access(self.exe, os.X_OK),
              'prosody is not installed (apt-get install prosody; deploy/lib/pkg.sh lists it)')
        self.dir = os.path.join(lab.dir, 'prosody-' + domain)
        for sub in ('data', 'certs'):
            os.makedirs(os.path.join(self.dir, sub))
        key, crt = os.path.join(self.dir, 'ss.key'), os.path.join(self.dir, 'ss.crt')
        r = run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
                 '-subj', '/CN=' + domain, '-keyout', key, '-out', crt,
                 '-addext', 'subjectAltName=DNS:' + domain,
                 '-addext', 'extendedKeyUsage=serverAuth,clientAuth'])
        check(r.returncode == 0, 'openssl for prosody failed: %s' % r.stderr.strip()[:200])
        modules, secure, cafile = '"dialback", ', 'false', ''
        if ca is not None:
            crt, key = ca.leaf('prosody-' + domain, domain, rsa=True)
            modules, secure, cafile = '', 'true', '; cafile = "%s"' % ca.crt
        self.conf = os.path.join(self.dir, 'prosody.cfg.lua')
        self.log = os.path.join(self.dir, 'prosody.log')
        with open(self.conf, 'w') as f:
            f.write('''run_as_root = true
certificates = "%(d)s/certs"
pidfile = "%(d)s/prosody.pid"
data_path = "%(d)s/data"
log = { debug = "%(d)s/prosody.log" }
interfaces = { "%(a)s" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
modules_enabled = { "roster", "saslauth", "tls", %(m)s"disco", "ping", "posix" }
authentication = "internal_hashed"
storage = "internal"
allow_registration = false
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = %(sec)s
ssl = { certificate = "%(crt)s"; key = "%(key)s"%(ca)s }
unbound = { hoststxt = true; resolvconf = "%(r)s" }
VirtualHost "%(dom)s"
''' % {'d': self.dir, 'a': addr, 'r': lab.resolv, 'dom': domain, 'm': modules, 'sec': secure,
       'crt': crt, 'key': key, 'ca': cafile})
            f.write(extra)
        self.proc = None

    def start(self):
        out = open(os.path.join(self.dir, 'stdout.log'), 'ab')
        self.proc = subprocess.Popen([self.exe, '-F', '--config', self.conf], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out, start_new_session=True)
        out.close()
        wait_port(self.addr, 5269, 20, self.proc, 'prosody')
        wait_port(self.addr, 5222, 20, self.proc, 'prosody')
        return self

    def register(self, user, password=DEFAULT_PASSWORD):
        r = run(['prosodyctl', '--config', self.conf, 'register', user, self.domain, password])
        check(r.returncode == 0, 'prosodyctl register: %s' % (r.stderr or r.stdout).strip()[:200])
        return '%s@%s' % (user, self.domain), password

    def login(self, user, resource=None):
        jid, pw = self.register(user)
        c = Conn(self.addr, 5222, sni=self.domain)
        c.login(user, pw, domain=self.domain, resource=resource, mech='SCRAM-SHA-1')
        return c

    def log_text(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


EJABBERD_YML = '''hosts:
  - %(dom)s
loglevel: info
log_rotate_count: 0
certfiles:
  - %(pem)s
ca_file: %(ca)s
listen:
  -
    port: 5222
    ip: "%(a)s"
    module: ejabberd_c2s
    starttls_required: true
  -
    port: 5269
    ip: "%(a)s"
    module: ejabberd_s2s_in
s2s_use_starttls: required
s2s_dns_timeout: 5
s2s_dns_retries: 1
outgoing_s2s_families:
  - ipv4
auth_method: internal
access_rules:
  c2s:
    allow: all
  s2s:
    allow: all
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_stream_mgmt: {}
%(db)s%(mods)s'''


class Ejabberd:
    """A private ejabberd 23.01 on ADDR (c2s 5222, s2s 5269), run as user ejabberd, epmd-less
    (Erlang distribution on 127.0.0.1:25371). Dialback with a self-signed certificate, or with
    EXTERNAL: a CA-signed certificate and no dialback module."""

    def __init__(self, lab, domain, addr, ca, external=False, modules=''):
        """MODULES: extra lines of the modules section (e.g. '  mod_muc: {}\\n')."""
        self.lab, self.domain, self.addr = lab, domain, addr
        self.exe = shutil.which('ejabberdctl') or '/usr/sbin/ejabberdctl'
        check(os.access(self.exe, os.X_OK),
              'ejabberd is not installed (apt-get install ejabberd; deploy/lib/pkg.sh lists it)')
        self.dir = os.path.join(lab.dir, 'ejabberd-' + domain)
        for sub in ('conf', 'db', 'logs'):
            os.makedirs(os.path.join(self.dir, sub))
        if external:
            crt, key = ca.leaf('ejabberd-' + domain, domain, rsa=True)
        else:
            crt, key = os.path.join(self.dir, 'ss.crt'), os.path.join(self.dir, 'ss.key')
            r = run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
                     '-subj', '/CN=' + domain, '-keyout', key, '-out', crt,
                     '-addext', 'subjectAltName=DNS:' + domain,
                     '-addext', 'extendedKeyUsage=serverAuth,clientAuth'])
            check(r.returncode == 0, 'openssl for ejabberd: %s' % r.stderr.strip()[:200])
        pem = os.path.join(self.dir, 'conf', 'server.pem')
        with open(pem, 'w') as out:
            for src in (crt, key):
                with open(src) as f:
                    out.write(f.read())
        conf = os.path.join(self.dir, 'conf')
        with open(os.path.join(conf, 'ejabberd.yml'), 'w') as f:
            f.write(EJABBERD_YML % {'dom': domain, 'pem': pem, 'ca': ca.crt, 'a': addr,
                                    'db': '' if external else '  mod_s2s_dialback: {}\n',
                                    'mods': modules})
        self.pidfile = os.path.join(self.dir, 'ejabberd.pid')
        with open(os.path.join(conf, 'ejabberdctl.cfg'), 'w') as f:
            f.write('ERLANG_NODE=fedlab@localhost\nERL_DIST_PORT=25371\n'
                    'INET_DIST_INTERFACE=127.0.0.1\nERL_OPTIONS="-setcookie wbfedlab"\n'
                    'EJABBERD_BYPASS_WARNINGS=true\nEJABBERD_PID_PATH=%s\n' % self.pidfile)
        with open(os.path.join(conf, 'inetrc'), 'w') as f:
            f.write('{lookup, [file, dns]}.\n{hosts_file, "/etc/hosts"}.\n'
                    '{resolv_conf, "%s"}.\n' % lab.resolv)
        self.log = os.path.join(self.dir, 'logs', 'ejabberd.log')
        run(['chown', '-R', 'ejabberd:ejabberd', self.dir])
        self.ctl_args = [self.exe, '--config-dir', conf, '--spool', os.path.join(self.dir, 'db'),
                         '--logs', os.path.join(self.dir, 'logs')]
        self.started = False

    def ctl(self, *args, timeout=90):
        return subprocess.run(self.ctl_args + list(args), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        self.started = True
        r = self.ctl('start')
        check(r.returncode == 0, 'ejabberdctl start: %s' % (r.stderr or r.stdout).strip()[:300])
        r = self.ctl('started')
        check(r.returncode == 0, 'ejabberd did not start: %s' % (r.stderr or r.stdout)[:300])
        wait_port(self.addr, 5269, 30, None, 'ejabberd')
        wait_port(self.addr, 5222, 30, None, 'ejabberd')
        return self

    def register(self, user, password=DEFAULT_PASSWORD):
        r = self.ctl('register', user, self.domain, password)
        check(r.returncode == 0, 'ejabberdctl register: %s' % (r.stderr or r.stdout).strip()[:200])
        return '%s@%s' % (user, self.domain), password

    def login(self, user, resource=None):
        jid, pw = self.register(user)
        c = Conn(self.addr, 5222, sni=self.domain)
        c.login(user, pw, domain=self.domain, resource=resource, mech='SCRAM-SHA-1')
        return c

    def log_text(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def _pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        if not self.started:
            return
        self.started = False
        pid = self._pid()
        try:
            self.ctl('stop', timeout=30)
            self.ctl('stopped', timeout=30)
        except subprocess.TimeoutExpired:
            pass
        if pid is not None:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            os.kill(pid, signal.SIGKILL)


def dns_query(addr, name, qtype, timeout=1.0):
    """One UDP query to ADDR:53; the rcode of the answer, or None when nothing answered."""
    q = os.urandom(2) + b'\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00'
    q += b''.join(bytes([len(p)]) + p.encode() for p in name.rstrip('.').split('.')) + b'\x00'
    q += qtype.to_bytes(2, 'big') + b'\x00\x01'
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (addr, 53))
        data = s.recv(4096)
        return data[3] & 0x0f if data[:2] == q[:2] else None
    except OSError:
        return None
    finally:
        s.close()


def spki_sha256(crt):
    """The hex SHA-256 of a PEM certificate's SubjectPublicKeyInfo: TLSA 3 1 1 (or 2 1 1) data."""
    pub = run(['openssl', 'x509', '-in', crt, '-noout', '-pubkey'])
    check(pub.returncode == 0, 'openssl x509 -pubkey: %s' % pub.stderr.strip()[:200])
    der = subprocess.run(['openssl', 'pkey', '-pubin', '-outform', 'DER'], input=pub.stdout.encode(),
                         capture_output=True, timeout=30)
    check(der.returncode == 0, 'openssl pkey: %s' % der.stderr.decode(errors='replace')[:200])
    import hashlib
    return hashlib.sha256(der.stdout).hexdigest()


class Nsd:
    """NSD (authoritative DNS) on ADDR:53 of loopback, run as a plain process of the test (never
    the system service), with zones signed by ldns-signzone (DNSSEC, ECDSA P-256, NSEC) or not.
    trust_anchor is the DS file of the signed zones (for s2s.dnssec_trust_anchor) and resolv a
    resolv.conf naming only this server. add() before start(); tamper() edits a signed zone
    after signing (a bogus answer)."""

    def __init__(self, lab, addr):
        check(addr.startswith('127.'), 'refusing a non-loopback address %s' % addr)
        self.tools = {}
        for tool in ('nsd', 'ldns-keygen', 'ldns-signzone'):
            self.tools[tool] = shutil.which(tool) or '/usr/sbin/' + tool
            check(os.access(self.tools[tool], os.X_OK), '%s is not installed (apt-get install nsd '
                  'ldnsutils; deploy/lib/pkg.sh lists them)' % tool)
        self.lab, self.addr = lab, addr
        self.dir = os.path.join(lab.dir, 'nsd-' + addr)
        os.makedirs(self.dir)
        self.zones = []  # (origin, records, signed)
        self.trust_anchor = os.path.join(self.dir, 'trust-anchor.ds')
        self.resolv = os.path.join(self.dir, 'resolv.conf')
        with open(self.resolv, 'w') as f:
            f.write('nameserver %s\noptions timeout:1 attempts:1\n' % addr)
        self.proc = None
        self.tampered = []

    def add(self, origin, records, signed=True):
        """A zone ORIGIN ("dane.example") with RECORDS (zone file lines relative to it); an SOA
        and NS are added."""
        self.zones.append((origin.rstrip('.'), records, signed))

    def tamper(self, old, new):
        """Replaces OLD by NEW in the signed zone files after signing (the RRSIG no longer fits)."""
        self.tampered.append((old, new))

    def _sign(self, origin, path):
        r = run([self.tools['ldns-keygen'], '-a', 'ECDSAP256SHA256', '-k', origin], cwd=self.dir)
        check(r.returncode == 0, 'ldns-keygen: %s' % (r.stderr or r.stdout).strip()[:200])
        base = r.stdout.strip()
        r = run([self.tools['ldns-signzone'], path, os.path.join(self.dir, base)], cwd=self.dir)
        check(r.returncode == 0, 'ldns-signzone: %s' % (r.stderr or r.stdout).strip()[:200])
        with open(os.path.join(self.dir, base + '.ds')) as f, open(self.trust_anchor, 'a') as ta:
            ta.write(f.read())
        signed = path + '.signed'
        with open(signed) as f:
            text = f.read()
        for old, new in self.tampered:
            if old in text:
                text = text.replace(old, new)
        with open(signed, 'w') as f:
            f.write(text)
        return signed

    def start(self):
        conf = ['server:', '  ip-address: %s' % self.addr, '  port: 53', '  do-ip6: no',
                '  username: ""', '  chroot: ""', '  zonesdir: "%s"' % self.dir,
                '  pidfile: "%s/nsd.pid"' % self.dir, '  database: ""',
                '  zonelistfile: "%s/zone.list"' % self.dir, '  xfrdfile: "%s/xfrd.state"' % self.dir,
                '  logfile: "%s/nsd.log"' % self.dir, '  server-count: 1', '  verbosity: 1',
                'remote-control:', '  control-enable: no']
        for origin, records, signed in self.zones:
            path = os.path.join(self.dir, origin + '.zone')
            with open(path, 'w') as f:
                f.write('$ORIGIN %s.\n$TTL 60\n@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n'
                        '@ IN NS ns.%s.\nns IN A %s\n%s\n'
                        % (origin, origin, origin, origin, self.addr, '\n'.join(records)))
            if signed:
                path = self._sign(origin, path)
            conf += ['zone:', '  name: "%s"' % origin, '  zonefile: "%s"' % path]
        cfg = os.path.join(self.dir, 'nsd.conf')
        with open(cfg, 'w') as f:
            f.write('\n'.join(conf) + '\n')
        out = open(os.path.join(self.dir, 'stdout.log'), 'ab')
        self.proc = subprocess.Popen([self.tools['nsd'], '-d', '-c', cfg], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out, start_new_session=True)
        out.close()
        self.lab.procs.append(self.proc)
        deadline = time.monotonic() + 10
        while dns_query(self.addr, self.zones[0][0], 6, 0.2) != 0:
            check(self.proc.poll() is None, 'nsd exited with status %s at start-up: %s'
                  % (self.proc.returncode, self.log_text()[-300:]))
            check(time.monotonic() < deadline, 'nsd does not answer on %s:53' % self.addr)
            time.sleep(0.1)
        return self

    def log_text(self):
        text = ''
        for name in ('nsd.log', 'stdout.log'):
            try:
                with open(os.path.join(self.dir, name), errors='replace') as f:
                    text += f.read()
            except OSError:
                pass
        return text


class Conn(XmppConn):
    """The raw client of wbinteg, connected to any loopback address."""

    def __init__(self, addr, port, sni, timeout=10):
        check(addr.startswith('127.'), 'refusing a non-loopback address %s' % addr)
        sock = socket.create_connection((addr, port), timeout=timeout)
        self._init_from(sock, sni)

    def _init_from(self, sock, sni):
        import collections
        self.sock = sock
        self.sni = sni
        self.queue = collections.deque()
        self.eof = False
        self.stream_ended = False
        self.header = None
        self.jid = None
        self.ids = 0
        self._reset_parser()


NS_DB = 'jabber:server:dialback'


def server_ctx(directory, domain):
    """A TLS server context with a new self-signed certificate for DOMAIN (peer.crt in DIRECTORY)."""
    make_cert(directory, 'peer', domain)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(directory, 'peer.crt'), os.path.join(directory, 'peer.key'))
    return ctx


class ScriptedPeer:
    """A scripted remote server DOMAIN on ADDR:5269 (a directory NAME in the lab, a self-signed
    certificate, or the context of CTX_FACTORY(directory, domain)). Each accepted connection n runs
    session(sock, n) in a thread of its own (in the accept thread when not THREADED); what it
    raises goes to on_error(n, exc). Subclasses set what they record before calling __init__,
    which starts listening."""

    def __init__(self, lab, name, domain, addr, ctx_factory=None, backlog=4, threaded=True):
        self.domain, self.threaded = domain, threaded
        self.dir = os.path.join(lab.dir, name)
        os.makedirs(self.dir)
        self.ctx = (ctx_factory or server_ctx)(self.dir, domain)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((addr, 5269))
        self.lsock.listen(backlog)
        self.lsock.settimeout(0.5)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def session(self, sock, n):
        raise NotImplementedError('a ScriptedPeer subclass scripts session()')

    def on_error(self, n, exc):
        raise NotImplementedError('a ScriptedPeer subclass records its failures in on_error()')

    def _serve(self):
        n = 0
        while not self.stopping:
            try:
                sock, _ = self.lsock.accept()
            except (socket.timeout, OSError):
                continue
            if self.threaded:
                threading.Thread(target=self._one, args=(sock, n), daemon=True).start()
            else:
                self._one(sock, n)
            n += 1

    def _one(self, sock, n):
        try:
            self.session(sock, n)
        except Exception as e:  # the subclass records it; the test sees what is missing
            self.on_error(n, e)
        finally:
            sock.close()

    def header(self, c, sid, domain=None):
        c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
               "xmlns:db='%s' id='%s' from='%s' version='1.0'>"
               % (NS_STREAM, NS_DB, sid, domain or self.domain))

    def features(self, c, sid, inner, domain=None):
        """Our stream header with id SID, then stream features INNER."""
        self.header(c, sid, domain)
        c.send('<stream:features>%s</stream:features>' % inner)

    def open_stream(self, sock):
        """A Conn on the accepted SOCK (10 s timeout) once its stream header came; returns
        (conn, header attributes)."""
        sock.settimeout(10)
        c = Conn.__new__(Conn)
        c._init_from(sock, self.domain)
        return c, c.wait_header()

    def starttls(self, c, sock, sid, extra_features='', domain=None, on_tls=None):
        """Offers required STARTTLS (and EXTRA_FEATURES) under header SID, proceeds, calls
        ON_TLS(c) once the handshake is done and returns C after the restarted stream header."""
        self.features(c, sid, "<starttls xmlns='%s'><required/></starttls>%s"
                      % (NS_TLS, extra_features), domain)
        c.wait_for(lambda e: local_name(e.tag) == 'starttls', 10, 'starttls')
        c.send("<proceed xmlns='%s'/>" % NS_TLS)
        c.sock = self.ctx.wrap_socket(sock, server_side=True)
        if on_tls is not None:
            on_tls(c)
        c._reset_parser()
        c.header = None
        c.wait_header()
        return c

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.lsock.close()


class FedServer(Server):
    """A warblerd serving DOMAIN with an s2s listener on ADDR:5269 and the lab's resolver."""

    def __init__(self, suite, lab, name, domain, addr, s2s_extra='', cert=None, direct=False,
                 resolv=None):
        """CERT: (crt, key) to use instead of a self-signed certificate; DIRECT: also a
        direct-TLS s2s listener on ADDR:5270."""
        self.domain, self.addr, self.lab, self.s2s_extra = domain, addr, lab, s2s_extra
        self.cert, self.direct = cert, direct
        self.resolv = resolv or lab.resolv  # RESOLV: another resolv.conf (Nsd.resolv, say)
        self.s2s_port = 5269
        base, n = name, 1
        while os.path.exists(os.path.join(suite.workdir, name)):  # the same name in another test
            n += 1
            name = '%s-%d' % (base, n)
        Server.__init__(self, suite, name)

    def _write_config(self):
        if self.cert:
            for src, ext in zip(self.cert, ('.crt', '.key')):
                shutil.copy(src, os.path.join(self.tls_dir, 'fed' + ext))
        else:
            make_cert(self.tls_dir, 'fed', self.domain)
        text = (
            'server = { workers = 2; log_level = "debug"; key_file = "master.key"; };\n'
            'storage = { dsn = "host=%s dbname=%s user=postgres"; wait = 10; };\n'
            'hosts = ( { domain = "%s"; cert = "tls/fed.crt"; key = "tls/fed.key"; } );\n'
            'listeners = ( { type = "c2s"; address = "127.0.0.1"; port = %d; tls = "starttls"; },\n'
            '              { type = "c2s"; address = "127.0.0.1"; port = %d; tls = "direct"; },\n'
            '              { type = "s2s"; address = "%s"; port = %d; }%s );\n'
            'c2s = { require_starttls = true; };\n'
            'limits = { max_stanza_size = 65536; handshake_timeout = 20; idle_timeout = 600;\n'
            '           auth_failures = 50; auth_window = 60; };\n'
            'sasl = { scram_iterations = 4096; };\n'
            'upload = { enabled = false; };\n'
            's2s = { enabled = true; resolv_conf = "%s"; %s };\n'
            % (self.suite.pg.host, self.db, self.domain, self.starttls_port, self.direct_port,
               self.addr, self.s2s_port,
               (',\n              { type = "s2s"; address = "%s"; port = 5270; tls = "direct"; }'
                % self.addr) if self.direct else '', self.resolv, self.s2s_extra))
        with open(self.conf, 'w') as f:
            f.write(text)

    def start(self, timeout=20):
        Server.start(self, timeout)
        wait_port(self.addr, self.s2s_port, timeout, self.proc, 'warblerd s2s')
        return self

    def login(self, local, resource=None, direct=False, domain=None, mech=None):
        return Server.login(self, local, resource, direct, domain or self.domain, mech)

    def user(self, local, domain=None, password=DEFAULT_PASSWORD):
        return Server.user(self, local, domain or self.domain, password)
