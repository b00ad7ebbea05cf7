# Integration tests of XEP-0363 HTTP File Upload: the service's disco, slot requests and their
# errors, HTTP PUT/GET/HEAD with slixmpp and urllib, sealing at rest, account deletion and expiry.
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET

from wbinteg import (NS_CLIENT, NS_DISCO_INFO, NS_STANZA_ERR, check, free_ports, local_name, run,
                     stanza_error, test, tls_context)

NS_UPLOAD = 'urn:xmpp:http:upload:0'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_DATA = 'jabber:x:data'
SERVICE = 'upload.localhost'
MAX_SIZE = 1024 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))
SLIX_PYTHON = '/usr/bin/python3'


def drop_upload_group(srv):
    """Removes the test servers' default `upload = { enabled = false; }` (wbinteg.py) so that a
    test can write its own upload group."""
    with open(srv.conf) as f:
        lines = [line for line in f if not line.startswith('upload = ')]
    with open(srv.conf, 'w') as f:
        f.writelines(lines)


def up_server(suite, name, quota=4 * MAX_SIZE, extra=''):
    """A private server whose upload service listens on a free port of its own."""
    srv = suite.private_server(name)
    (port,) = free_ports(1)
    drop_upload_group(srv)
    with open(srv.conf, 'a') as f:
        f.write('upload = { http_port = %d; public_url = "http://127.0.0.1:%d/"; '
                'max_file_size = %d; quota_per_account = %d; %s };\n'
                % (port, port, MAX_SIZE, quota, extra))
    srv.http_port = port
    return srv.start()


def sql(srv, statement):
    r = run(['psql', '-h', srv.suite.pg.host, '-U', 'postgres', '-d', srv.db, '-XtAc', statement])
    check(r.returncode == 0, 'psql: %s' % r.stderr.strip()[:300])
    return r.stdout.strip()


def request_slot(conn, filename, size, ctype='application/octet-stream'):
    ct = " content-type='%s'" % ctype if ctype else ''
    return conn.iq('get', "<request xmlns='%s' filename='%s' size='%d'%s/>"
                   % (NS_UPLOAD, filename, size, ct), to=SERVICE)


def slot_of(el):
    """(put URL, headers, get URL) of a slot answer."""
    check(el.get('type') == 'result', 'slot refused: %s' % stanza_error(el))
    slot = el.find('{%s}slot' % NS_UPLOAD)
    check(slot is not None, 'no <slot/> in the answer')
    put, get = slot.find('{%s}put' % NS_UPLOAD), slot.find('{%s}get' % NS_UPLOAD)
    check(put is not None and get is not None, 'slot without put or get')
    headers = {h.get('name'): h.text for h in put.findall('{%s}header' % NS_UPLOAD)}
    return put.get('url'), headers, get.get('url')


def http(method, url, data=None, headers=None):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    ctx = tls_context(alpn=False) if url.startswith('https://') else None
    try:
        with urllib.request.urlopen(req, timeout=15, context=ctx) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def put(url, headers, body, ctype='application/octet-stream'):
    h = dict(headers)
    h['Content-Type'] = ctype
    return http('PUT', url, body, h)[0]


def uploaded(srv, conn, body, filename='f.bin', ctype='application/octet-stream'):
    """Uploads body through a raw slot request; its GET URL."""
    put_url, headers, get_url = slot_of(request_slot(conn, filename, len(body), ctype))
    st = put(put_url, headers, body, ctype)
    check(st == 201, 'PUT answered %d' % st)
    return get_url


@test
def upload_service_in_disco_items_with_identity_feature_and_max_size(suite):
    srv = up_server(suite, 'up-disco')
    a = srv.login('updisco', 'r')
    items = a.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to='localhost')
    jids = [i.get('jid') for i in items.iter('{%s}item' % NS_ITEMS)]
    check(SERVICE in jids, 'upload service not in disco#items: %s' % jids)
    info = a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=SERVICE)
    check(info.get('type') == 'result', 'disco#info refused: %s' % stanza_error(info))
    ids = [(i.get('category'), i.get('type')) for i in info.iter('{%s}identity' % NS_DISCO_INFO)]
    check(('store', 'file') in ids, 'identity store/file missing: %s' % ids)
    feats = [f.get('var') for f in info.iter('{%s}feature' % NS_DISCO_INFO)]
    check(NS_UPLOAD in feats, 'feature %s missing: %s' % (NS_UPLOAD, feats))
    values = {f.get('var'): f.findtext('{%s}value' % NS_DATA) for f in info.iter('{%s}field' % NS_DATA)}
    check(values.get('FORM_TYPE') == NS_UPLOAD, 'form type: %s' % values)
    check(values.get('max-file-size') == str(MAX_SIZE), 'max-file-size: %s' % values)


def slix_main(argv):
    """Subprocess entry: uploads a file with slixmpp's xep_0363 plugin, prints its GET URL."""
    import asyncio
    import ssl
    from slixmpp import ClientXMPP

    port, jid, password, path, ctype = argv
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    class Uploader(ClientXMPP):
        def __init__(self):
            super().__init__(jid, password, sasl_mech='SCRAM-SHA-256')
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
            self.register_plugin('xep_0030')
            self.register_plugin('xep_0363')
            base = self['feature_mechanisms'].sasl_callback

            def credentials(required, optional):  # no channel binding (see slix_im.py)
                creds = base(required, optional)
                if 'channel_binding' in creds:
                    creds['channel_binding'] = None
                return creds
            self['feature_mechanisms'].sasl_callback = credentials
            self.result = loop.create_future()
            self.add_event_handler('session_start', self.go)

        async def discover(self):
            """The service by disco#items then disco#info, as the plugin does (its own helper
            hands coroutines to asyncio.wait, which Python 3.11 refuses)."""
            items = await self['xep_0030'].get_items(jid=self.boundjid.domain, timeout=10)
            for item in items['disco_items']['items']:
                info = await self['xep_0030'].get_info(jid=item[0], timeout=10)
                if ('store', 'file', None, 'HTTP File Upload') in info['disco_info']['identities'] \
                        and 'urn:xmpp:http:upload:0' in info['disco_info']['features']:
                    self['xep_0363'].upload_service = info['from']
                    for form in info['disco_info'].iterables:
                        values = form['values']
                        if values.get('FORM_TYPE') == ['urn:xmpp:http:upload:0']:
                            self['xep_0363'].max_file_size = int(values['max-file-size'])
                    return

        async def go(self, _event):
            try:
                await self.discover()
                url = await self['xep_0363'].upload_file(path, content_type=ctype, timeout=20)
                self.result.set_result(str(url))
            except Exception as e:  # reported, judged by the test
                self.result.set_result('ERROR %r' % e)
            self.disconnect()

    c = Uploader()
    c.connect(('127.0.0.1', int(port)))
    print(loop.run_until_complete(asyncio.wait_for(c.result, 40)))


@test
def upload_slixmpp_round_trip_is_byte_identical_with_safe_headers(suite):
    srv = up_server(suite, 'up-slix')
    jid, pw = srv.user('upslix')
    body = os.urandom(600 * 1024)  # three sealed chunks of at most 256 KiB
    path = os.path.join(srv.dir, 'holiday report.pdf')
    with open(path, 'wb') as f:
        f.write(body)
    r = run([SLIX_PYTHON, os.path.abspath(__file__), 'slix-upload', str(srv.starttls_port), jid,
             pw, path, 'application/pdf'], timeout=60)
    url = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ''
    check(r.returncode == 0 and url.startswith('http://'),
          'slixmpp upload failed: %s %s' % (url, r.stderr.strip()[-300:]))
    check(re.search(r'/upload/[0-9a-f]{32}/holiday%20report\.pdf$', url), 'URL shape: %s' % url)
    st, h, got = http('GET', url)
    check(st == 200, 'GET answered %d' % st)
    check(got == body, 'downloaded %d bytes differ from the %d uploaded' % (len(got), len(body)))
    check(h.get('Content-Type') == 'application/pdf', 'Content-Type: %s' % h.get('Content-Type'))
    check(h.get('Content-Length') == str(len(body)), 'Content-Length: %s' % h.get('Content-Length'))
    check((h.get('Content-Disposition') or '').startswith('attachment'),
          'Content-Disposition: %s' % h.get('Content-Disposition'))
    check(h.get('X-Content-Type-Options') == 'nosniff', 'nosniff missing')
    check('sandbox' in (h.get('Content-Security-Policy') or ''), 'CSP sandbox missing')
    check(h.get('Access-Control-Allow-Origin') == '*', 'CORS header missing')
    st, h, got = http('HEAD', url)
    check(st == 200 and got == b'' and h.get('Content-Length') == str(len(body)),
          'HEAD: %d %s %d bytes' % (st, h.get('Content-Length'), len(got)))
    st, h, _ = http('OPTIONS', url, headers={'Origin': 'https://web.example',
                                             'Access-Control-Request-Method': 'PUT'})
    check(st == 200 and 'PUT' in (h.get('Access-Control-Allow-Methods') or ''),
          'CORS preflight: %d %s' % (st, h.get('Access-Control-Allow-Methods')))


@test
def upload_slot_too_large_not_acceptable_with_max_size(suite):
    srv = up_server(suite, 'up-large')
    a = srv.login('uplarge', 'r')
    el = request_slot(a, 'big.iso', MAX_SIZE + 1)
    check(el.get('type') == 'error' and stanza_error(el) == 'not-acceptable',
          'oversized slot answered %s %s' % (el.get('type'), stanza_error(el)))
    ftl = el.find('{%s}error/{%s}file-too-large' % (NS_CLIENT, NS_UPLOAD))
    check(ftl is not None and ftl.findtext('{%s}max-size' % NS_UPLOAD) == str(MAX_SIZE),
          'no <file-too-large><max-size>%d</max-size>' % MAX_SIZE)
    el = request_slot(a, 'ok.bin', MAX_SIZE)
    slot_of(el)  # exactly the limit is fine
    for bad in ("filename='' size='3'", "filename='a/b' size='3'", "filename='x' size='-1'",
                "filename='x' size='lots'", "size='3'"):
        el = a.iq('get', "<request xmlns='%s' %s/>" % (NS_UPLOAD, bad), to=SERVICE)
        check(stanza_error(el) == 'bad-request', '%s answered %s' % (bad, stanza_error(el)))


@test
def upload_quota_exceeded_is_resource_constraint(suite):
    srv = up_server(suite, 'up-quota', quota=1000)
    a = srv.login('upquota', 'r')
    uploaded(srv, a, b'q' * 600)
    el = request_slot(a, 'second.bin', 600)
    check(stanza_error(el) == 'resource-constraint',
          'slot over quota answered %s %s' % (el.get('type'), stanza_error(el)))
    slot_of(request_slot(a, 'small.bin', 400))  # what is left still fits
    b = srv.login('upquota2', 'r')  # the quota is per account
    slot_of(request_slot(b, 'other.bin', 600))


@test
def upload_bad_token_size_type_and_reuse_refused_by_http(suite):
    srv = up_server(suite, 'up-http')
    a = srv.login('uphttp', 'r')
    body = b'payload-' * 100
    put_url, headers, get_url = slot_of(request_slot(a, 'doc.txt', len(body), 'text/plain'))
    check(set(headers) == {'Authorization'}, 'put headers: %s' % headers)
    forged = dict(headers)
    forged['Authorization'] = headers['Authorization'][:-4] + (
        '0000' if not headers['Authorization'].endswith('0000') else '1111')
    check(put(put_url, forged, body, 'text/plain') == 403, 'forged token accepted')
    check(put(put_url, {}, body, 'text/plain') == 403, 'PUT without token accepted')
    check(put(put_url, headers, body, 'image/png') == 403, 'other content type accepted')
    check(put(put_url, headers, body + b'x', 'text/plain') in (400, 413), 'longer body accepted')
    check(put(put_url, headers, body[:-1], 'text/plain') == 400, 'shorter body accepted')
    other = re.sub(r'/upload/[0-9a-f]{32}/', '/upload/%s/' % ('0' * 32), put_url)
    check(put(other, headers, body, 'text/plain') == 403, 'token used for another slot')
    check(http('GET', get_url)[0] == 404, 'file there before its PUT')
    check(put(put_url, headers, body, 'text/plain') == 201, 'valid PUT refused')
    check(put(put_url, headers, body, 'text/plain') == 409, 'second PUT of the slot accepted')
    st, h, got = http('GET', get_url)
    check(st == 200 and got == body, 'GET after refused PUTs: %d, %d bytes' % (st, len(got)))
    check(http('GET', get_url[:-4] + '.exe')[0] == 404, 'file found under another name')
    check(http('GET', other)[0] == 404, 'unknown slot found')
    check(http('DELETE', get_url)[0] == 405, 'DELETE not refused')
    check(http('GET', get_url)[0] == 200, 'file gone after refused requests')


@test
def upload_expired_slot_token_refused(suite):
    srv = up_server(suite, 'up-expired', extra='slot_lifetime = 1;')
    a = srv.login('upexp', 'r')
    put_url, headers, _ = slot_of(request_slot(a, 'late.bin', 5))
    m = re.match(r'Bearer (\d+)\.(.*)$', headers['Authorization'])
    check(m, 'token shape: %s' % headers['Authorization'])
    # an expiry moved back in time breaks the signature; the real one passes after 1 s
    older = dict(headers)
    older['Authorization'] = 'Bearer %d.%s' % (int(m.group(1)) - 3600, m.group(2))
    check(put(put_url, older, b'12345') == 403, 'token with altered expiry accepted')
    time.sleep(2.1)
    check(put(put_url, headers, b'12345') == 403, 'expired token accepted')


def half_request(url, head, body_part):
    """Sends the start of an HTTP request on a raw socket and drops the connection."""
    m = re.match(r'http://([^:/]+):(\d+)(/.*)$', url)
    check(m, 'URL shape: %s' % url)
    with socket.create_connection((m.group(1), int(m.group(2))), timeout=5) as s:
        s.sendall(head.encode() + body_part)
        time.sleep(0.3)


@test
def upload_interrupted_transfers_leave_nothing_and_slot_retries(suite):
    srv = up_server(suite, 'up-cut')
    a = srv.login('upcut', 'r')
    body = os.urandom(700 * 1024)
    put_url, headers, get_url = slot_of(request_slot(a, 'cut.bin', len(body)))
    path = re.sub(r'^http://[^/]+', '', put_url)
    half_request(put_url, 'PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n'
                 'Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n'
                 % (path, headers['Authorization'], len(body)), body[:300 * 1024])
    deadline = time.monotonic() + 5
    while sql(srv, 'SELECT count(*) FROM upload_chunks') != '0' and time.monotonic() < deadline:
        time.sleep(0.1)
    check(sql(srv, 'SELECT count(*) FROM uploads') == '0', 'an interrupted upload was kept')
    check(put(put_url, headers, body) == 201, 'the slot could not be used after an interruption')
    half_request(get_url, 'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path, b'')
    st, _, got = http('GET', get_url)
    check(st == 200 and got == body, 'GET after an interrupted GET: %d, %d bytes' % (st, len(got)))


@test
def upload_dump_holds_no_clear_byte_of_file_or_name(suite):
    srv = up_server(suite, 'up-dump')
    a = srv.login('updump', 'r')
    marker = 'UPLOADMARKER%s' % uuid.uuid4().hex
    name = 'secret-%s.txt' % uuid.uuid4().hex[:12]
    body = (marker + '\n').encode() * 5000
    url = uploaded(srv, a, body, name, 'text/plain')
    check(http('GET', url)[2] == body, 'round trip failed')
    r = run(['pg_dump', '-h', suite.pg.host, '-U', 'postgres', srv.db], timeout=60)
    check(r.returncode == 0, 'pg_dump failed: %s' % r.stderr.strip()[:300])
    check('upload_chunks' in r.stdout, 'dump has no upload_chunks table (test broken)')
    check(marker not in r.stdout, 'the file content is in clear in the dump')
    check(marker.encode().hex() not in r.stdout, 'the file content is in the dump as hex')
    check(name not in r.stdout and name.encode().hex() not in r.stdout,
          'the file name is in clear in the dump')


@test
def upload_files_of_deleted_account_are_gone(suite):
    srv = up_server(suite, 'up-delete')
    a = srv.login('updel', 'r')
    url = uploaded(srv, a, b'to be deleted' * 50)
    check(http('GET', url)[0] == 200, 'file not there before the deletion')
    a.close()
    r = srv.ctl('user', 'delete', 'updel@localhost')
    check(r.returncode == 0, 'warblerctl user delete: %s' % (r.stderr or r.stdout).strip()[:300])
    check(http('GET', url)[0] == 404, 'file of a deleted account still served')
    check(sql(srv, 'SELECT count(*) FROM uploads') == '0', 'upload rows survived the account')
    check(sql(srv, 'SELECT count(*) FROM upload_chunks') == '0', 'chunks survived the account')


@test
def upload_files_expire_by_the_sweeper(suite):
    srv = suite.private_server('up-expire')
    (port,) = free_ports(1)
    drop_upload_group(srv)
    with open(srv.conf, 'a') as f:
        f.write('upload = { http_port = %d; public_url = "http://127.0.0.1:%d"; '
                'expire_seconds = 2; };\nretention = { sweep_interval = 1; };\n' % (port, port))
    srv.start()
    a = srv.login('upexpire', 'r')
    url = uploaded(srv, a, b'short-lived' * 10)
    check(http('GET', url)[0] == 200, 'file not there right after its upload')
    deadline = time.monotonic() + 10
    while http('GET', url)[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.3)
    check(http('GET', url)[0] == 404, 'file still served 10 s after it expired')
    check(sql(srv, 'SELECT count(*) FROM upload_chunks') == '0', 'chunks of an expired file left')


@test
def upload_over_https_with_the_host_certificate(suite):
    srv = suite.private_server('up-tls')
    (port,) = free_ports(1)
    drop_upload_group(srv)
    with open(srv.conf, 'a') as f:
        f.write('upload = { http_port = %d; public_url = "https://127.0.0.1:%d"; };\n'
                % (port, port))
    srv.start()
    a = srv.login('uptls', 'r')
    body = b'sealed and served over TLS ' * 40
    url = uploaded(srv, a, body, 'photo.png', 'image/png')
    check(url.startswith('https://127.0.0.1:%d/upload/' % port), 'GET URL: %s' % url)
    st, h, got = http('GET', url)
    check(st == 200 and got == body, 'HTTPS GET: %d, %d bytes' % (st, len(got)))
    check((h.get('Content-Disposition') or '').startswith('inline'),
          'an image is not inline: %s' % h.get('Content-Disposition'))
    plain = url.replace('https://', 'http://')
    try:
        urllib.request.urlopen(plain, timeout=5)
        check(False, 'plain HTTP answered on the HTTPS port')
    except (urllib.error.URLError, ConnectionError, OSError):
        pass


@test
def upload_port_taken_hides_service_and_server_runs_on(suite):
    first = up_server(suite, 'up-port1')
    second = suite.private_server('up-port2')
    drop_upload_group(second)
    with open(second.conf, 'a') as f:
        f.write('upload = { http_port = %d; };\n' % first.http_port)
    second.start()
    b = second.login('upport', 'r')
    items = b.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to='localhost')
    jids = [i.get('jid') for i in items.iter('{%s}item' % NS_ITEMS)]
    check(SERVICE not in jids, 'service listed without its HTTP listener: %s' % jids)
    el = request_slot(b, 'x.bin', 10)
    check(stanza_error(el) == 'service-unavailable', 'slot without HTTP answered %s %s'
          % (el.get('type'), stanza_error(el)))
    check('upload: cannot listen' in second.log(), 'the failed listener was not logged')
    slot_of(request_slot(first.login('upport', 'r'), 'x.bin', 10))


@test
def upload_service_refuses_messages_and_unknown_iqs(suite):
    srv = up_server(suite, 'up-misc')
    a = srv.login('upmisc', 'r')
    el = a.iq('get', "<query xmlns='jabber:iq:version'/>", to=SERVICE)
    check(stanza_error(el) == 'service-unavailable', 'version iq answered %s' % stanza_error(el))
    el = a.iq('set', "<request xmlns='%s' filename='x' size='1'/>" % NS_UPLOAD, to=SERVICE)
    check(stanza_error(el) == 'service-unavailable', 'slot by iq set answered %s' % stanza_error(el))
    el = a.iq('get', "<request xmlns='%s' filename='x' size='1'/>" % NS_UPLOAD,
              to='someone@' + SERVICE)
    check(stanza_error(el) == 'service-unavailable', 'slot from a node answered %s'
          % stanza_error(el))
    a.ping(SERVICE)


if __name__ == '__main__' and len(sys.argv) > 1 and sys.argv[1] == 'slix-upload':
    slix_main(sys.argv[2:])
