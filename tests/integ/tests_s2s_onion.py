# Integration tests of federation part 2: GET /api/v1/federation with roles, the TLS 1.3 policy
# against scripted TLS 1.2 peers (both ways), and onion federation through a recording SOCKS5 proxy.
import os
import select
import socket
import ssl
import threading
import time

import fedlab
from tests_admin import Api, ctl_admin, fresh, role_token
from tests_s2s import bounce_of, is_el, messages_in_order, server_answers
from wbinteg import NS_STREAM, NS_TLS, check, free_ports, local_name, make_cert, test

NS_DB = 'jabber:server:dialback'
ONION = 'wb2x7kq3zsvuz2lpbxjrn5j2mjfd3kucn4yi7sykt4ltcm6m2ajd6qad.onion'


def with_lab(suite, name, fn):
    lab = fedlab.FedLab(suite, name)
    try:
        lab.start_dns()
        return fn(lab)
    finally:
        lab.close()


def route(domain, addr, port=5269):
    return '{ domain = "%s"; host = "%s"; port = %d; }' % (domain, addr, port)


def with_admin(srv):
    srv.admin_port = free_ports(1)[0]
    with open(srv.conf, 'a') as f:
        f.write('admin = { enabled = true; listen = "127.0.0.1"; port = %d; threads = 2;\n'
                '          login_failures = 1000; };\n' % srv.admin_port)
    srv.api = Api(srv.admin_port)
    return srv


def wait_streams(srv, domain, n, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        lines = [l.split() for l in srv.ctl('s2s', 'list').stdout.splitlines()]
        got = [l for l in lines if l and l[0] == domain]
        if len(got) >= n:
            return got
        check(time.monotonic() < deadline, 'streams with %s: %r' % (domain, lines))
        time.sleep(0.2)


@test
def s2s_federation_api_lists_streams_for_operator_and_superadmin_only(suite):
    def body(lab):
        r1 = 'routes = ( %s ); bidi = false;' % route('wb2.fed.test', '127.0.0.42')
        r2 = 'routes = ( %s );' % route('wb1.fed.test', '127.0.0.41')
        s1 = with_admin(fedlab.FedServer(suite, lab, 'api-w1', 'wb1.fed.test', '127.0.0.41', r1))
        s1.start()
        s2 = fedlab.FedServer(suite, lab, 'api-w2', 'wb2.fed.test', '127.0.0.42', r2).start()
        a, b = s1.login('fay', 'one'), s2.login('gus', 'two')
        messages_in_order(a, b, 5)
        messages_in_order(b, a, 5)
        wait_streams(s1, 'wb2.fed.test', 2)
        api = s1.api
        name = fresh('root')
        root = api.token(name, ctl_admin(s1, name, 'superadmin'))
        tokens = {'superadmin': root}
        for role in ('operator', 'auditor', 'dpo'):
            tokens[role] = role_token(api, root, role)
        for role, tok in sorted(tokens.items()):
            st, doc = api.call('GET', '/api/v1/federation', token=tok)
            if role in ('auditor', 'dpo'):
                check(st == 403, '%s listed federation: %d %s' % (role, st, doc))
                continue
            check(st == 200, '%s: %d %s' % (role, st, doc))
            items = [i for i in doc['items'] if i['remote'] == 'wb2.fed.test']
            check(sorted(i['direction'] for i in items) == ['in', 'out'] and
                  doc['total'] == len(doc['items']), '%s: items %s' % (role, doc))
            for i in items:
                check(i['mechanism'] == 'dialback' and i['local'] == 'wb1.fed.test' and
                      i['tls_version'] == 'TLSv1.3' and i['tls_cipher'].startswith('TLS_'),
                      'stream listed as %s' % i)
            out = [i for i in items if i['direction'] == 'out'][0]
            inn = [i for i in items if i['direction'] == 'in'][0]
            check(out['stanzas_out'] >= 5 and inn['stanzas_in'] >= 5,
                  'stanza counts %s' % items)
        st, doc = api.call('GET', '/api/v1/federation')
        check(st == 401, 'no token: %d %s' % (st, doc))
        s2.stop()
        deadline = time.monotonic() + 10
        while True:
            st, doc = api.call('GET', '/api/v1/federation', token=root)
            if st == 200 and doc['total'] == 0:
                break
            check(time.monotonic() < deadline, 'streams still listed after the peer left: %s'
                  % doc)
            time.sleep(0.2)
        s1.stop()
    with_lab(suite, 'fedapi', body)


# --- TLS 1.3 policy against scripted TLS 1.2 peers ---------------------------------------------

def tls12_server_ctx(directory, domain):
    make_cert(directory, 'p12', domain)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(directory, 'p12.crt'), os.path.join(directory, 'p12.key'))
    return ctx


def inbound_after_tls(addr, local, remote, max_version):
    """An inbound stream from REMOTE to Warbler at ADDR: STARTTLS with at most MAX_VERSION, then
    the restarted header; returns (conn, first element after the new header or None)."""
    sock = socket.create_connection((addr, 5269), timeout=10)
    c = fedlab.Conn.__new__(fedlab.Conn)
    c._init_from(sock, local)
    opening = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='%s' "
               "xmlns:db='%s' from='%s' to='%s' version='1.0'>" % (NS_STREAM, NS_DB, remote, local))
    c.send(opening)
    c.wait_for(lambda e: local_name(e.tag) == 'features', 10, 'features')
    c.send("<starttls xmlns='%s'/>" % NS_TLS)
    c.wait_for(lambda e: local_name(e.tag) == 'proceed', 10, 'proceed')
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = max_version
    c.sock = ctx.wrap_socket(sock, server_hostname=local)
    version = c.sock.version()
    c._reset_parser()
    c.header = None
    c.send(opening)
    c.wait_header()
    return c, version, c.wait_for(None, 10, 'features or a stream error')


class Tls12Peer(fedlab.ScriptedPeer):
    """DOMAIN on ADDR:5269 that offers STARTTLS and speaks at most TLS 1.2; records what Warbler
    sends after TLS (policy-violation expected). Takes one connection at a time."""

    def __init__(self, lab, addr, domain):
        self.seen, self.versions = [], []
        fedlab.ScriptedPeer.__init__(self, lab, 'p12-' + domain, domain, addr,
                                     ctx_factory=tls12_server_ctx, threaded=False)

    def on_error(self, n, exc):  # recorded; the test sees what was received
        self.seen.append('error: %s' % exc)

    def session(self, sock, n):
        c, _ = self.open_stream(sock)
        self.starttls(c, sock, 't1', on_tls=lambda tls: self.versions.append(tls.sock.version()))
        self.features(c, 't2', "<dialback xmlns='urn:xmpp:features:dialback'/>")
        el = c.wait_for(None, 10, 'what Warbler sends after TLS 1.2')
        self.seen.append(local_name(el.tag) + ':' + ','.join(local_name(x.tag) for x in el))


@test
def s2s_tls13_policy_refuses_tls12_peers_both_ways_with_policy_violation(suite):
    def body(lab):
        peer = Tls12Peer(lab, '127.0.0.45', 'old.fed.test')
        try:
            # Per domain: old.fed.test must use TLS 1.3, others may use 1.2.
            s = fedlab.FedServer(suite, lab, 'tls13-dom', 'wb1.fed.test', '127.0.0.43',
                                 'require_tls13_for = [ "old.fed.test" ];').start()
            c, ver, el = inbound_after_tls('127.0.0.43', 'wb1.fed.test', 'old.fed.test',
                                           ssl.TLSVersion.TLSv1_2)
            check(ver == 'TLSv1.2', 'peer negotiated %s' % ver)
            check(local_name(el.tag) == 'error' and
                  [local_name(x.tag) for x in el] == ['policy-violation'],
                  'TLS 1.2 from old.fed.test answered with %s' % local_name(el.tag))
            c.close()
            c, ver, el = inbound_after_tls('127.0.0.43', 'wb1.fed.test', 'other.fed.test',
                                           ssl.TLSVersion.TLSv1_2)
            check(local_name(el.tag) == 'features', 'TLS 1.2 from another domain refused')
            c.close()
            c, ver, el = inbound_after_tls('127.0.0.43', 'wb1.fed.test', 'old.fed.test',
                                           ssl.TLSVersion.TLSv1_3)
            check(ver == 'TLSv1.3' and local_name(el.tag) == 'features',
                  'TLS 1.3 from old.fed.test refused')
            c.close()
            check('TLS 1.3 is required, it uses TLSv1.2' in s.log(), 'inbound refusal not logged')
            s.stop()
            # Global: every stream, outbound too (the queued stanza bounces).
            extra = 'require_tls13 = true; routes = ( %s );' % route('old.fed.test', '127.0.0.45')
            g = fedlab.FedServer(suite, lab, 'tls13-all', 'wb1.fed.test', '127.0.0.44',
                                 extra).start()
            c, ver, el = inbound_after_tls('127.0.0.44', 'wb1.fed.test', 'other.fed.test',
                                           ssl.TLSVersion.TLSv1_2)
            check(local_name(el.tag) == 'error' and
                  [local_name(x.tag) for x in el] == ['policy-violation'],
                  'global policy: TLS 1.2 answered with %s' % local_name(el.tag))
            c.close()
            a = g.login('hal')
            cond, took = bounce_of(a, 'x@old.fed.test', 10)
            check(cond == ['remote-server-not-found'] and took < 5,
                  'outbound to a TLS 1.2 peer: %s after %.1f s' % (cond, took))
            # The bounce may reach the client before the peer's thread has read the error.
            deadline = time.monotonic() + 5
            while not peer.seen and time.monotonic() < deadline:
                time.sleep(0.05)
            check(peer.versions[:1] == ['TLSv1.2'] and
                  peer.seen[:1] == ['error:policy-violation'],
                  'the TLS 1.2 peer saw %s over %s' % (peer.seen, peer.versions))
            check('TLS 1.3 is required, the peer negotiated TLSv1.2' in g.log(),
                  'outbound refusal not logged')
            g.stop()
        finally:
            peer.close()
    with_lab(suite, 'tls13', body)


# --- onion federation through SOCKS5 -----------------------------------------------------------

class Socks5Proxy:
    """A SOCKS5 proxy on 127.0.0.1 that records every CONNECT (ATYP, name, port), relays names in
    MAP (name -> (addr, port)) and answers REFUSE (a reply code) for any other name."""

    def __init__(self, mapping, refuse=4):
        self.map, self.refuse = mapping, refuse
        self.requests = []
        self.lsock = socket.socket()
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.5)
        self.port = self.lsock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                sock, _ = self.lsock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._one, args=(sock,), daemon=True).start()

    @staticmethod
    def _read(sock, n):
        data = b''
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise OSError('closed')
            data += chunk
        return data

    def _one(self, sock):
        sock.settimeout(10)
        try:
            ver, n = self._read(sock, 2)
            methods = self._read(sock, n)
            if ver != 5 or 0 not in methods:
                sock.sendall(b'\x05\xff')
                return
            sock.sendall(b'\x05\x00')
            ver, cmd, _, atyp = self._read(sock, 4)
            if atyp == 3:
                name = self._read(sock, self._read(sock, 1)[0]).decode('ascii', 'replace')
            else:
                name = socket.inet_ntop(socket.AF_INET if atyp == 1 else socket.AF_INET6,
                                        self._read(sock, 4 if atyp == 1 else 16))
            port = int.from_bytes(self._read(sock, 2), 'big')
            self.requests.append((atyp, name, port))
            target = self.map.get(name)
            if cmd != 1 or target is None:
                sock.sendall(bytes([5, self.refuse, 0, 1, 0, 0, 0, 0, 0, 0]))
                return
            up = socket.create_connection(target, timeout=10)
            sock.sendall(b'\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00')
            self._relay(sock, up)
        except OSError:
            pass
        finally:
            sock.close()

    def _relay(self, a, b):
        try:
            while not self.stop:
                r, _, _ = select.select([a, b], [], [], 0.5)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        finally:
            b.close()

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.lsock.close()


class DnsLog:
    """A DNS server on ADDR:53 answering NXDOMAIN and recording every query name."""

    def __init__(self, addr):
        self.names = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 53))
        self.sock.settimeout(0.3)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            i, labels = 12, []
            try:
                while data[i] != 0:
                    labels.append(data[i + 1:i + 1 + data[i]].decode('ascii', 'replace'))
                    i += 1 + data[i]
            except IndexError:
                continue
            self.names.append('.'.join(labels).lower())
            flags = 0x8000 | (data[2] & 0x79) << 8 | 0x0080 | 3
            self.sock.sendto(data[0:2] + flags.to_bytes(2, 'big') + b'\x00\x01' + b'\x00' * 6 +
                             data[12:i + 5], peer)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


@test
def s2s_onion_domain_is_reached_through_socks5_without_dns(suite):
    def body(lab):
        proxy = Socks5Proxy({ONION: ('127.0.0.47', 5269)})
        dns = DnsLog('127.0.0.48')
        try:
            with open(lab.resolv, 'w') as f:
                f.write('nameserver 127.0.0.48\noptions timeout:1 attempts:1\n')
            socks = 'socks5 = "127.0.0.1:%d"; socks5_domains = [ "hidden.fed.test" ];' % proxy.port
            s1 = fedlab.FedServer(suite, lab, 'onion-w1', 'wb1.fed.test', '127.0.0.46',
                                  socks).start()
            r2 = 'routes = ( %s );' % route('wb1.fed.test', '127.0.0.46')
            s2 = fedlab.FedServer(suite, lab, 'onion-w2', ONION, '127.0.0.47', r2).start()
            a, b = s1.login('ivy', 'one'), s2.login('jon', 'two')
            messages_in_order(a, b, 5)
            messages_in_order(b, a, 5)
            server_answers(a, ONION)
            conn = [r for r in proxy.requests if r[1] == ONION]
            check(conn and all(r == (3, ONION, 5269) for r in conn),
                  'proxy requests: %s' % proxy.requests)
            check(not [n for n in dns.names if 'onion' in n], 'DNS queries: %s' % dns.names)
            lines = [l for l in s1.ctl('s2s', 'list').stdout.splitlines() if l.startswith(ONION)]
            check(any((' out ' in l or ' bidi ' in l) and 'peer=127.0.0.1' in l for l in lines),
                  'outbound stream not listed through the proxy: %s' % lines)
            # A listed (non-onion) domain the proxy refuses (host unreachable): a quick bounce.
            cond, took = bounce_of(a, 'x@hidden.fed.test', 10)
            check(cond == ['remote-server-not-found'] and took < 5,
                  'refused by the proxy: %s after %.1f s' % (cond, took))
            check((3, 'hidden.fed.test', 5269) in proxy.requests, 'proxy: %s' % proxy.requests)
            check('CONNECT refused: host unreachable (4)' in s1.log(), 'refusal not logged')
            check(not [n for n in dns.names if 'hidden' in n or 'onion' in n],
                  'DNS queries: %s' % dns.names)
            s1.stop()
            s2.stop()
        finally:
            proxy.close()
            dns.close()
    with_lab(suite, 'onion', body)


@test
def s2s_socks5_proxy_down_or_silent_bounces_queued_stanzas(suite):
    def body(lab):
        down = free_ports(1)[0]
        silent = socket.socket()
        silent.bind(('127.0.0.1', 0))
        silent.listen(4)
        try:
            s = fedlab.FedServer(suite, lab, 'onion-down', 'wb1.fed.test', '127.0.0.49',
                                 'socks5 = "127.0.0.1:%d";' % down).start()
            a = s.login('kim')
            cond, took = bounce_of(a, 'x@' + ONION, 10)
            check(cond == ['remote-server-not-found'] and took < 5,
                  'proxy down: %s after %.1f s' % (cond, took))
            s.stop()
            s = fedlab.FedServer(suite, lab, 'onion-silent', 'wb1.fed.test', '127.0.0.49',
                                 'bounce_timeout = 2; socks5 = "127.0.0.1:%d";'
                                 % silent.getsockname()[1]).start()
            a = s.login('kim')
            cond, took = bounce_of(a, 'x@' + ONION, 10)
            check(cond == ['remote-server-timeout'] and 1.5 < took < 6,
                  'silent proxy: %s after %.1f s' % (cond, took))
            s.stop()
        finally:
            silent.close()
    with_lab(suite, 'onion-down', body)
