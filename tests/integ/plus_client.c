/* Raw XMPP test client for SCRAM and SCRAM-PLUS (STARTTLS or direct TLS), because libstrophe 0.12
 * has no channel binding. A test tool: it reads only the elements it expects, not general XML. */
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium/utils.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "wb_buf.h"
#include "wb_scram.h"

#define PC_BUF     65536
#define PC_TIMEOUT 15 /* seconds per read or write */
#define PC_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define PC_NS_TLS  "urn:ietf:params:xml:ns:xmpp-tls"
#define PC_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"

typedef struct pc_args {
    const char *host, *port, *domain, *user, *password, *mech, *cb_type;
    bool direct;
} pc_args;

typedef struct pc_sess {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char in[PC_BUF]; /* received, not yet consumed */
    size_t in_len;
    char reason[256];
} pc_sess;

static int pc_fail(pc_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the one-line reason for exiting 1; returns -1 for the caller to pass up. */
static int pc_fail(pc_sess *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
    va_end(ap);
    return -1;
}

static int pc_connect(pc_sess *s, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    const struct timeval tv = {.tv_sec = PC_TIMEOUT};
    const int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return pc_fail(s, "resolve %s: %s", host, gai_strerror(rc));
    for (const struct addrinfo *ai = res; ai && s->fd < 0; ai = ai->ai_next) {
        s->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (s->fd >= 0 && connect(s->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(s->fd);
            s->fd = -1;
        }
    }
    freeaddrinfo(res);
    if (s->fd < 0)
        return pc_fail(s, "connect %s:%s failed", host, port);
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return 0;
}

static int pc_write(pc_sess *s, const char *data, size_t len)
{
    while (len > 0) {
        const int n = s->ssl ? SSL_write(s->ssl, data, (int)len) : (int)send(s->fd, data, len, 0);
        if (n <= 0)
            return pc_fail(s, "write failed");
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int pc_read(pc_sess *s)
{
    if (s->in_len >= sizeof(s->in))
        return pc_fail(s, "element too large");
    const size_t room = sizeof(s->in) - s->in_len;
    const int n = s->ssl ? SSL_read(s->ssl, s->in + s->in_len, (int)room)
                         : (int)recv(s->fd, s->in + s->in_len, room, 0);
    if (n <= 0)
        return pc_fail(s, "connection closed or timed out");
    s->in_len += (size_t)n;
    return 0;
}

/* Index of the '>' closing the tag that starts at b[i], outside quotes; 0 if not there yet. */
static size_t pc_tag_end(const char *b, size_t len, size_t i)
{
    char q = 0;
    for (size_t k = i + 1; k < len; k++) {
        if (q) {
            if (b[k] == q)
                q = 0;
        } else if (b[k] == '"' || b[k] == '\'') {
            q = b[k];
        } else if (b[k] == '>') {
            return k;
        }
    }
    return 0;
}

/* Local name of the element whose tag starts at el ("<p:name ..."), copied into out. */
static void pc_name(const char *el, char *out, size_t size)
{
    size_t n = 0;
    const char *p = el + 1 + (el[1] == '/');
    const char *start = p;
    for (; *p && !strchr(" \t\r\n/>", *p); p++) {
        if (*p == ':')
            start = p + 1;
    }
    n = (size_t)(p - start) < size - 1 ? (size_t)(p - start) : size - 1;
    memcpy(out, start, n);
    out[n] = '\0';
}

/* Finds the next complete top-level element in b, skipping XML declarations and stream
 * headers. 1 = found at *off, *elen, 0 = need more bytes, -1 = the stream was closed. */
static int pc_scan(const char *b, size_t len, size_t *off, size_t *elen)
{
    int depth = 0;
    size_t start = 0;
    char name[64];
    for (size_t i = 0; i < len; i++) {
        if (b[i] != '<')
            continue;
        const size_t j = pc_tag_end(b, len, i);
        if (j == 0)
            return 0;
        const bool close = b[i + 1] == '/', empty = b[j - 1] == '/';
        pc_name(b + i, name, sizeof(name));
        if (b[i + 1] == '?' || b[i + 1] == '!' || (depth == 0 && strcmp(name, "stream") == 0)) {
            if (close)
                return -1;
            i = j;
            continue;
        }
        if (depth == 0)
            start = i;
        depth += close ? -1 : (empty ? 0 : 1);
        if (depth <= 0) {
            *off = start;
            *elen = j + 1 - start;
            return 1;
        }
        i = j;
    }
    return 0;
}

/* Reads the next top-level element into el (NUL-terminated) and its local name into name. */
static int pc_next(pc_sess *s, wb_buf *el, char *name, size_t size)
{
    size_t off = 0, elen = 0;
    for (;;) {
        const int rc = pc_scan(s->in, s->in_len, &off, &elen);
        if (rc < 0)
            return pc_fail(s, "server closed the stream");
        if (rc > 0)
            break;
        if (pc_read(s) < 0)
            return -1;
    }
    wb_buf_reset(el);
    if (wb_buf_append(el, s->in + off, elen) < 0)
        return pc_fail(s, "out of memory");
    memmove(s->in, s->in + off + elen, s->in_len - off - elen);
    s->in_len -= off + elen;
    pc_name(el->data, name, size);
    if (strcmp(name, "error") == 0) {
        char cond[64] = "";
        const char *child = strchr(el->data + 1, '<');
        if (child)
            pc_name(child, cond, sizeof(cond));
        return pc_fail(s, "stream error: %s", cond);
    }
    return 0;
}

/* Character data right after the start tag (up to the next tag), as a NUL-terminated copy. */
static int pc_text(const char *el, char *out, size_t size)
{
    const char *gt = strchr(el, '>');
    if (!gt || gt[-1] == '/') {
        out[0] = '\0';
        return 0;
    }
    const char *lt = strchr(gt + 1, '<');
    const size_t n = lt ? (size_t)(lt - gt - 1) : 0;
    if (n >= size)
        return -1;
    memcpy(out, gt + 1, n);
    out[n] = '\0';
    return 0;
}

static int pc_open_stream(pc_sess *s, const char *domain, wb_buf *features)
{
    wb_buf b;
    char name[64];
    wb_buf_init(&b);
    wb_buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='");
    wb_buf_xml_escape_str(&b, domain);
    wb_buf_puts(&b, "'>");
    const int rc = b.failed ? pc_fail(s, "out of memory") : pc_write(s, b.data, b.len);
    wb_buf_free(&b);
    if (rc < 0 || pc_next(s, features, name, sizeof(name)) < 0)
        return -1;
    if (strcmp(name, "features") != 0)
        return pc_fail(s, "expected stream features, got <%s>", name);
    return 0;
}

static int pc_tls(pc_sess *s, const pc_args *a)
{
    static const unsigned char alpn[] = "\x0bxmpp-client";
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (!s->ctx || !SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION))
        return pc_fail(s, "TLS context");
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_NONE, NULL); /* self-signed test certificates */
    s->ssl = SSL_new(s->ctx);
    if (!s->ssl || !SSL_set_tlsext_host_name(s->ssl, a->domain) || !SSL_set_fd(s->ssl, s->fd))
        return pc_fail(s, "TLS setup");
    if (a->direct && SSL_set_alpn_protos(s->ssl, alpn, sizeof(alpn) - 1) != 0)
        return pc_fail(s, "TLS ALPN");
    if (SSL_connect(s->ssl) != 1) {
        char err[160];
        ERR_error_string_n(ERR_get_error(), err, sizeof(err));
        SSL_free(s->ssl);
        s->ssl = NULL;
        return pc_fail(s, "TLS handshake failed: %s", err);
    }
    return 0;
}

static int pc_starttls(pc_sess *s, const pc_args *a, const wb_buf *features)
{
    static const char req[] = "<starttls xmlns='" PC_NS_TLS "'/>";
    wb_buf el;
    char name[64];
    int rc = -1;
    if (!strstr(features->data, PC_NS_TLS))
        return pc_fail(s, "STARTTLS not offered");
    wb_buf_init(&el);
    if (pc_write(s, req, sizeof(req) - 1) < 0 || pc_next(s, &el, name, sizeof(name)) < 0)
        goto done;
    if (strcmp(name, "proceed") != 0) {
        rc = pc_fail(s, "STARTTLS refused: <%s>", name);
        goto done;
    }
    if (s->in_len != 0) {
        rc = pc_fail(s, "data after <proceed/> before TLS");
        goto done;
    }
    rc = pc_tls(s, a);
done:
    wb_buf_free(&el);
    return rc;
}

/* Channel-binding data of this connection for the type (RFC 9266 / RFC 5929). */
static int pc_cb_data(pc_sess *s, const char *type, uint8_t *out, size_t *len)
{
    if (strcmp(type, "tls-exporter") == 0) {
        static const char label[] = "EXPORTER-Channel-Binding";
        if (SSL_export_keying_material(s->ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) != 1)
            return pc_fail(s, "tls-exporter: keying material export failed");
        *len = 32;
        return 0;
    }
    X509 *cert = SSL_get1_peer_certificate(s->ssl);
    int md_nid = NID_undef, pk_nid = NID_undef;
    unsigned char *der = NULL;
    unsigned int n = 0;
    int rc = -1;
    if (!cert || !OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pk_nid)) {
        rc = pc_fail(s, "tls-server-end-point: no usable server certificate");
        goto done;
    }
    /* RFC 5929 4.1: MD5/SHA-1 become SHA-256; like wb_tls, also when undefined (Ed25519). */
    if (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_undef)
        md_nid = NID_sha256;
    const EVP_MD *md = EVP_get_digestbynid(md_nid);
    const int der_len = i2d_X509(cert, &der);
    if (!md || der_len <= 0 || EVP_Digest(der, (size_t)der_len, out, &n, md, NULL) != 1) {
        rc = pc_fail(s, "tls-server-end-point: undefined for this certificate's signature");
        goto done;
    }
    *len = n;
    rc = 0;
done:
    OPENSSL_free(der);
    X509_free(cert);
    return rc;
}

/* Sends <auth> or <response> with base64 data ("=" for an empty initial response). */
static int pc_send_sasl(pc_sess *s, const char *what, const char *mech, const wb_buf *data)
{
    wb_buf b;
    const size_t b64_len = sodium_base64_ENCODED_LEN(data->len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    if (!b64)
        return pc_fail(s, "out of memory");
    sodium_bin2base64(b64, b64_len, (const unsigned char *)data->data, data->len,
                      sodium_base64_VARIANT_ORIGINAL);
    wb_buf_init(&b);
    wb_buf_printf(&b, "<%s xmlns='%s'", what, PC_NS_SASL);
    if (mech)
        wb_buf_printf(&b, " mechanism='%s'", mech);
    wb_buf_printf(&b, ">%s</%s>", (mech && data->len == 0) ? "=" : b64, what);
    const int rc = b.failed ? pc_fail(s, "out of memory") : pc_write(s, b.data, b.len);
    wb_buf_free(&b);
    free(b64);
    return rc;
}

/* Base64 payload of a challenge or success element, decoded into out. */
static int pc_payload(pc_sess *s, const char *el, wb_buf *out)
{
    char text[4096];
    unsigned char bin[3072];
    size_t len = 0;
    if (pc_text(el, text, sizeof(text)) < 0)
        return pc_fail(s, "SASL payload too long");
    wb_buf_reset(out);
    if (strcmp(text, "=") == 0 || text[0] == '\0')
        return wb_buf_append(out, "", 0);
    if (sodium_base642bin(bin, sizeof(bin), text, strlen(text), " \t\r\n", &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return pc_fail(s, "SASL payload is not base64");
    return wb_buf_append(out, bin, len);
}

/* Name of the first child element (the SASL failure condition), or "". */
static void pc_child(const char *el, char *out, size_t size)
{
    const char *gt = strchr(el, '>');
    const char *lt = gt && gt[-1] != '/' ? strchr(gt, '<') : NULL;
    out[0] = '\0';
    if (lt && lt[1] != '/')
        pc_name(lt, out, size);
}

/* After <auth>: answers the challenges and checks the server signature. */
static int pc_sasl_steps(pc_sess *s, wb_scram_client *c, const uint8_t *cb, size_t cb_len)
{
    wb_buf el, pl, msg;
    char name[64], cond[64];
    bool answered = false, verified = false;
    int rc = -1;
    wb_buf_init(&el);
    wb_buf_init(&pl);
    wb_buf_init(&msg);
    for (;;) {
        if (pc_next(s, &el, name, sizeof(name)) < 0)
            break;
        if (strcmp(name, "failure") == 0) {
            pc_child(el.data, cond, sizeof(cond));
            rc = pc_fail(s, "sasl failure: %s", cond[0] ? cond : "(none)");
            break;
        }
        const bool success = strcmp(name, "success") == 0;
        if ((!success && strcmp(name, "challenge") != 0) || pc_payload(s, el.data, &pl) < 0) {
            rc = s->reason[0] ? -1 : pc_fail(s, "unexpected <%s> during SASL", name);
            break;
        }
        wb_buf_reset(&msg);
        if (!success && !answered) {
            answered = true;
            if (wb_scram_client_final(c, pl.data, pl.len, cb, cb_len, &msg) < 0) {
                rc = pc_fail(s, "bad server-first-message");
                break;
            }
            if (pc_send_sasl(s, "response", NULL, &msg) < 0)
                break;
            continue;
        }
        if (answered && pl.len > 0) {
            if (wb_scram_client_verify(c, pl.data, pl.len) < 0) {
                rc = pc_fail(s, "server signature does not verify");
                break;
            }
            verified = true;
        }
        if (!success) {
            if (pc_send_sasl(s, "response", NULL, &msg) < 0) /* empty: v= came as challenge */
                break;
            continue;
        }
        rc = verified ? 0 : pc_fail(s, "no server signature in <success>");
        break;
    }
    wb_buf_free(&el);
    wb_buf_free(&pl);
    wb_buf_free(&msg);
    return rc;
}

static int pc_sasl(pc_sess *s, const pc_args *a, const wb_buf *features)
{
    char want[128];
    uint8_t cb[EVP_MAX_MD_SIZE];
    size_t cb_len = 0;
    const size_t ml = strlen(a->mech);
    const bool plus = ml > 5 && strcmp(a->mech + ml - 5, "-PLUS") == 0;
    const wb_scram_hash h =
        strncmp(a->mech, "SCRAM-SHA-256", 13) == 0 ? WB_SCRAM_SHA256 : WB_SCRAM_SHA1;
    snprintf(want, sizeof(want), "<mechanism>%s</mechanism>", a->mech);
    if (!strstr(features->data, want))
        return pc_fail(s, "mechanism %s not offered", a->mech);
    if (plus && pc_cb_data(s, a->cb_type, cb, &cb_len) < 0)
        return -1;
    wb_scram_client *c = wb_scram_client_new(h, a->user, a->password, plus ? a->cb_type : NULL);
    if (!c)
        return pc_fail(s, "bad user name or password");
    wb_buf msg;
    wb_buf_init(&msg);
    int rc = -1;
    if (wb_scram_client_first(c, &msg) < 0)
        rc = pc_fail(s, "SCRAM client-first failed");
    else if (pc_send_sasl(s, "auth", a->mech, &msg) == 0)
        rc = pc_sasl_steps(s, c, cb, cb_len);
    wb_buf_free(&msg);
    wb_scram_client_free(c);
    return rc;
}

static int pc_bind(pc_sess *s, const wb_buf *features, char *jid, size_t size)
{
    static const char req[] = "<iq type='set' id='bind1'><bind xmlns='" PC_NS_BIND "'>"
                              "<resource>plus_client</resource></bind></iq>";
    wb_buf el;
    char name[64];
    int rc = -1;
    if (!strstr(features->data, PC_NS_BIND))
        return pc_fail(s, "resource binding not offered");
    if (pc_write(s, req, sizeof(req) - 1) < 0)
        return -1;
    wb_buf_init(&el);
    while (pc_next(s, &el, name, sizeof(name)) == 0) {
        if (strcmp(name, "iq") != 0 ||
            (!strstr(el.data, "id='bind1'") && !strstr(el.data, "id=\"bind1\"")))
            continue; /* anything else the server sends first */
        const char *j = strstr(el.data, "<jid");
        if ((!strstr(el.data, "type='result'") && !strstr(el.data, "type=\"result\"")) || !j ||
            pc_text(j, jid, size) < 0 || !jid[0]) {
            rc = pc_fail(s, "resource binding failed");
            break;
        }
        rc = 0;
        break;
    }
    wb_buf_free(&el);
    return rc;
}

static int pc_run(pc_sess *s, const pc_args *a, char *jid, size_t size)
{
    static const char end[] = "</stream:stream>";
    wb_buf features;
    int rc = -1;
    wb_buf_init(&features);
    if (pc_connect(s, a->host, a->port) < 0 || (a->direct && pc_tls(s, a) < 0))
        goto done;
    if (pc_open_stream(s, a->domain, &features) < 0)
        goto done;
    if (!a->direct &&
        (pc_starttls(s, a, &features) < 0 || pc_open_stream(s, a->domain, &features) < 0))
        goto done;
    if (pc_sasl(s, a, &features) < 0 || pc_open_stream(s, a->domain, &features) < 0)
        goto done;
    if (pc_bind(s, &features, jid, size) < 0 || pc_write(s, end, sizeof(end) - 1) < 0)
        goto done;
    rc = 0;
done:
    wb_buf_free(&features);
    return rc;
}

static bool pc_parse_args(int argc, char **argv, pc_args *a)
{
    static const char *mechs[] = {"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                                  "SCRAM-SHA-256-PLUS"};
    bool mech_ok = false;
    if (argc != 9)
        return false;
    *a = (pc_args){argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], false};
    for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
        mech_ok = mech_ok || strcmp(a->mech, mechs[i]) == 0;
    if (!mech_ok || (strcmp(a->cb_type, "tls-exporter") != 0 &&
                     strcmp(a->cb_type, "tls-server-end-point") != 0))
        return false;
    a->direct = strcmp(argv[8], "direct") == 0;
    return a->direct || strcmp(argv[8], "starttls") == 0;
}

int main(int argc, char **argv)
{
    pc_args a;
    char jid[3200];
    if (!pc_parse_args(argc, argv, &a)) {
        printf("usage: plus_client HOST PORT DOMAIN USER PASSWORD SCRAM-SHA-{1,256}[-PLUS] "
               "tls-exporter|tls-server-end-point starttls|direct\n");
        return 1;
    }
    pc_sess *s = calloc(1, sizeof(*s));
    if (!s) {
        printf("out of memory\n");
        return 1;
    }
    s->fd = -1;
    const int rc = pc_run(s, &a, jid, sizeof(jid));
    if (rc == 0)
        printf("ok %s\n", jid);
    else
        printf("%s\n", s->reason[0] ? s->reason : "failed");
    if (s->ssl) {
        SSL_shutdown(s->ssl);
        SSL_free(s->ssl);
    }
    SSL_CTX_free(s->ctx);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
    return rc == 0 ? 0 : 1;
}
