/* XEP-0363 HTTP side: the libmicrohttpd listener (a thread per connection, each request with its
 * own database connection), PUT checked against its slot token, GET/HEAD streamed back, CORS.
 * Not for sealing or SQL (storage/wb_store_upload.c) nor for slots (server/modules/upload.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store.h"
#include "wb_store_upload.h"
#include "wb_upload.h"

#define WB_UP_PEM_MAX   (1024 * 1024)
#define WB_UP_CONN_TIME 60    /* seconds a connection may stay idle */
#define WB_UP_BLOCK     65536 /* bytes handed to libmicrohttpd per read */

struct wb_upload_http {
    struct MHD_Daemon *d;
    wb_server *srv;
    wb_upload *u;
    char *cert_pem, *key_pem;
};

/* One request: its database connection and, for a PUT, the file being written. */
typedef struct wb_up_req {
    bool put;
    wb_pg *pg;
    wb_store_upload_writer *wr;
    unsigned status; /* an error found while the body came, answered at its end */
} wb_up_req;

/* A GET's body: the stored file read chunk by chunk. */
typedef struct wb_up_body {
    wb_pg *pg;
    wb_store_upload_reader *rd;
} wb_up_body;

/* ---- responses ---- */

static void wb_up_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; sandbox");
}

static enum MHD_Result wb_up_respond(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    wb_up_headers(r);
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, HEAD, PUT, OPTIONS");
    const enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- URLs ---- */

/* Splits "/upload/SLOT/NAME" (already unescaped); false when it is not one. */
static bool wb_up_parse_url(const char *url, wb_upload_slot *s)
{
    static const char prefix[] = "/upload/";
    if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *p = url + sizeof(prefix) - 1;
    if (strspn(p, "0123456789abcdef") != WB_UPLOAD_SLOT_HEX || p[WB_UPLOAD_SLOT_HEX] != '/')
        return false;
    memcpy(s->slot, p, WB_UPLOAD_SLOT_HEX);
    s->slot[WB_UPLOAD_SLOT_HEX] = '\0';
    const char *name = p + WB_UPLOAD_SLOT_HEX + 1;
    if (!wb_upload_filename_ok(name))
        return false;
    snprintf(s->filename, sizeof(s->filename), "%s", name);
    return true;
}

/* ---- PUT ---- */

static unsigned wb_up_status(wb_upload_rc rc)
{
    switch (rc) {
    case WB_UPLOAD_OK:
        return MHD_HTTP_CREATED;
    case WB_UPLOAD_NOT_FOUND:
        return MHD_HTTP_FORBIDDEN;
    case WB_UPLOAD_EXISTS:
        return MHD_HTTP_CONFLICT;
    case WB_UPLOAD_QUOTA:
    case WB_UPLOAD_TOO_LONG:
        return MHD_HTTP_CONTENT_TOO_LARGE;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* Checks the token, length and type of a PUT and starts writing: 0, or the error status. */
static unsigned wb_up_put_begin(wb_upload_http *h, struct MHD_Connection *c, const char *url,
                                wb_up_req *r)
{
    wb_upload_slot s;
    memset(&s, 0, sizeof(s));
    if (!wb_up_parse_url(url, &s))
        return MHD_HTTP_NOT_FOUND;
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    snprintf(s.content_type, sizeof(s.content_type), "%s",
             ctype && ctype[0] ? ctype : "application/octet-stream");
    if (wb_upload_token_check(h->u, auth, &s, time(NULL)) < 0)
        return MHD_HTTP_FORBIDDEN;
    if (!clen)
        return MHD_HTTP_LENGTH_REQUIRED;
    char *end = NULL;
    errno = 0;
    const long long len = strtoll(clen, &end, 10);
    if (errno || end == clen || *end != '\0' || len != s.size)
        return len > s.size ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_BAD_REQUEST;
    char node[WB_UPLOAD_ACCOUNT_MAX];
    snprintf(node, sizeof(node), "%s", s.account);
    char *at = strchr(node, '@');
    if (!at)
        return MHD_HTTP_FORBIDDEN;
    *at = '\0';
    if (!(r->pg = wb_store_sync_connect(h->srv->cfg->dsn, 0)))
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    const wb_store_upload_file f = {.node = node,
                                    .domain = at + 1,
                                    .slot = s.slot,
                                    .filename = s.filename,
                                    .content_type = s.content_type,
                                    .size = s.size,
                                    .quota = h->u->conf->quota};
    const wb_upload_rc rc = wb_store_upload_begin(r->pg, h->srv->vault, &f, &r->wr);
    return rc == WB_UPLOAD_OK ? 0 : wb_up_status(rc);
}

static enum MHD_Result wb_up_put(struct MHD_Connection *c, wb_up_req *r, const char *data,
                                 size_t *size)
{
    if (*size > 0) {
        if (r->status == 0) {
            const wb_upload_rc rc = wb_store_upload_write(r->wr, data, *size);
            if (rc != WB_UPLOAD_OK) {
                r->status = wb_up_status(rc);
                wb_store_upload_abort(r->wr);
                r->wr = NULL;
            }
        }
        *size = 0;
        return MHD_YES;
    }
    if (r->status == 0) {
        const wb_upload_rc rc = wb_store_upload_commit(r->wr);
        r->wr = NULL;
        r->status = rc == WB_UPLOAD_TOO_LONG ? MHD_HTTP_BAD_REQUEST : wb_up_status(rc);
    }
    return wb_up_respond(c, r->status, r->status == MHD_HTTP_CREATED ? "Created\n" : "Refused\n");
}

/* ---- GET and HEAD ---- */

static ssize_t wb_up_body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    wb_up_body *b = cls;
    const ssize_t n = wb_store_upload_read(b->rd, buf, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void wb_up_body_free(void *cls)
{
    wb_up_body *b = cls;
    wb_store_upload_close(b->rd);
    wb_store_sync_close(b->pg);
    free(b);
}

/* attachment unless an image a browser shows without running it (not SVG). */
static void wb_up_disposition(struct MHD_Response *resp, const char *ctype, const char *name)
{
    const bool inline_ok = strncmp(ctype, "image/", 6) == 0 && !strstr(ctype, "svg");
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "%s; filename*=UTF-8''", inline_ok ? "inline" : "attachment");
    wb_upload_escape(name, &b);
    if (!b.failed && b.data)
        MHD_add_response_header(resp, "Content-Disposition", b.data);
    wb_buf_free(&b);
}

static enum MHD_Result wb_up_get(wb_upload_http *h, struct MHD_Connection *c, const char *url,
                                 wb_up_req *r)
{
    wb_upload_slot s;
    memset(&s, 0, sizeof(s));
    if (!wb_up_parse_url(url, &s))
        return wb_up_respond(c, MHD_HTTP_NOT_FOUND, "Not found\n");
    if (!(r->pg = wb_store_sync_connect(h->srv->cfg->dsn, 0)))
        return wb_up_respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Unavailable\n");
    wb_store_upload_reader *rd = NULL;
    const wb_upload_rc rc = wb_store_upload_open(r->pg, h->srv->vault, s.slot, s.filename, &rd);
    if (rc != WB_UPLOAD_OK)
        return rc == WB_UPLOAD_NOT_FOUND
                   ? wb_up_respond(c, MHD_HTTP_NOT_FOUND, "Not found\n")
                   : wb_up_respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "Error\n");
    wb_up_body *b = calloc(1, sizeof(*b));
    if (!b) {
        wb_store_upload_close(rd);
        return MHD_NO;
    }
    b->pg = r->pg;
    b->rd = rd;
    r->pg = NULL; /* the response owns it now */
    struct MHD_Response *resp = MHD_create_response_from_callback(
        (uint64_t)wb_store_upload_size(rd), WB_UP_BLOCK, wb_up_body_read, b, wb_up_body_free);
    if (!resp) {
        wb_up_body_free(b);
        return MHD_NO;
    }
    wb_up_headers(resp);
    MHD_add_response_header(resp, "Content-Type", wb_store_upload_content_type(rd));
    MHD_add_response_header(resp, "Cache-Control", "private, max-age=86400, immutable");
    wb_up_disposition(resp, wb_store_upload_content_type(rd), s.filename);
    const enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the daemon ---- */

static enum MHD_Result wb_up_access(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *data,
                                    size_t *size, void **con_cls)
{
    (void)version;
    wb_upload_http *h = cls;
    wb_up_req *r = *con_cls;
    if (r)
        return r->put ? wb_up_put(c, r, data, size) : MHD_NO;
    if (!(r = calloc(1, sizeof(*r))))
        return MHD_NO;
    *con_cls = r;
    if (strcmp(method, MHD_HTTP_METHOD_PUT) == 0) {
        const unsigned status = wb_up_put_begin(h, c, url, r);
        if (status != 0)
            return wb_up_respond(c, status, "Refused\n");
        r->put = true;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
        return wb_up_get(h, c, url, r);
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
        return wb_up_respond(c, MHD_HTTP_OK, "");
    return wb_up_respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed\n");
}

static void wb_up_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    wb_up_req *r = *con_cls;
    if (!r)
        return;
    wb_store_upload_abort(r->wr);
    if (r->pg)
        wb_store_sync_close(r->pg);
    free(r);
    *con_cls = NULL;
}

static void wb_up_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    wb_warn("upload http: %s", line);
}

/* Reads a PEM file whole (NUL-terminated); NULL on failure (logged). */
static char *wb_up_read_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = f ? malloc(WB_UP_PEM_MAX + 1) : NULL;
    size_t n = buf ? fread(buf, 1, WB_UP_PEM_MAX, f) : 0;
    if (f)
        fclose(f);
    if (!buf || n == 0 || n == WB_UP_PEM_MAX) {
        wb_error("upload: cannot read %s", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* HTTPS with upload.certificate/key, or with the first host's certificate when public_url is
 * https and none is given; 0 or -1. */
static int wb_up_tls(wb_upload_http *h)
{
    const wb_upload_conf *conf = h->u->conf;
    const char *cert = conf->cert[0] ? conf->cert : NULL, *key = conf->key[0] ? conf->key : NULL;
    if (!cert && strncmp(conf->public_url, "https://", 8) == 0 && h->srv->cfg->n_hosts > 0) {
        cert = h->srv->cfg->hosts[0].cert;
        key = h->srv->cfg->hosts[0].key;
    }
    if (!cert || !key)
        return 0;
    h->cert_pem = wb_up_read_pem(cert);
    h->key_pem = wb_up_read_pem(key);
    return h->cert_pem && h->key_pem ? 0 : -1;
}

static struct MHD_Daemon *wb_up_daemon(wb_upload_http *h)
{
    const wb_upload_conf *conf = h->u->conf;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    const bool v6 = strchr(conf->listen, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)conf->port);
        if (inet_pton(AF_INET6, conf->listen, &a->sin6_addr) != 1)
            return NULL;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)conf->port);
        if (inet_pton(AF_INET, conf->listen, &a->sin_addr) != 1)
            return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (h->cert_pem ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls[] = {
        {h->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->cert_pem},
        {h->cert_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, h->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(
        flags, (uint16_t)conf->port, NULL, NULL, wb_up_access, h, MHD_OPTION_EXTERNAL_LOGGER,
        wb_up_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)conf->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WB_UP_CONN_TIME,
        MHD_OPTION_NOTIFY_COMPLETED, wb_up_completed, h, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}

wb_upload_http *wb_upload_http_start(wb_server *srv)
{
    wb_upload *u = (wb_upload *)wb_upload_of(srv); /* only http_up is written */
    if (!u)
        return NULL;
    wb_upload_http *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->srv = srv;
    h->u = u;
    if (wb_up_tls(h) < 0 || !(h->d = wb_up_daemon(h))) {
        wb_error("upload: cannot listen on %s port %d", u->conf->listen, u->conf->port);
        wb_upload_http_stop(h);
        return NULL;
    }
    __atomic_store_n(&u->http_up, 1, __ATOMIC_RELEASE);
    wb_info("upload: HTTP%s on %s port %d, URLs under %s", h->cert_pem ? "S" : "", u->conf->listen,
            u->conf->port, u->conf->public_url);
    return h;
}

void wb_upload_http_stop(wb_upload_http *h)
{
    if (!h)
        return;
    __atomic_store_n(&h->u->http_up, 0, __ATOMIC_RELEASE);
    if (h->d)
        MHD_stop_daemon(h->d);
    free(h->cert_pem);
    free(h->key_pem);
    free(h);
}
