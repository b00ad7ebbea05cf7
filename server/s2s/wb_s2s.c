/* wb_s2s: federation's shared state (the dialback secret, the TLS client context, per-worker
 * connection lists), routing to remote domains and worker start/stop. Streams live elsewhere. */
#include "wb_s2s_int.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <sodium.h>

#include "wb_audit.h"
#include "wb_log.h"
#include "muc/wb_muc_conf.h"
#include "wb_ratelimit.h"
#include "wb_router.h"
#include "wb_vault.h"
#include "wb_xmpp_model.h"

#define WB_S2S_SECRET_BYTES 32

wb_s2s *wb_s2s_of(const wb_worker *w)
{
    return w->srv->s2s;
}

/* Whether domain is the MUC service of host (named as muc_service.c names it). */
static bool wb_s2s_is_muc_of(const wb_muc_conf *muc, const char *host, const char *domain)
{
    char name[WB_S2S_DOMAIN_MAX], prepped[WB_S2S_DOMAIN_MAX];
    const char *pct = strstr(muc->domain, "%s");
    if (!muc->enabled)
        return false;
    if (pct)
        snprintf(name, sizeof(name), "%.*s%s%s", (int)(pct - muc->domain), muc->domain, host,
                 pct + 2);
    else
        snprintf(name, sizeof(name), "%s", muc->domain);
    return wb_jid_prep_domain(prepped, name, strlen(name)) == 0 && strcmp(prepped, domain) == 0;
}

int wb_s2s_host_index(const wb_server *srv, const char *domain)
{
    const wb_config *cfg = srv->cfg;
    for (size_t i = 0; i < cfg->n_hosts; i++)
        if (strcmp(cfg->hosts[i].domain, domain) == 0 ||
            wb_s2s_is_muc_of(wb_config_muc(cfg), cfg->hosts[i].domain, domain))
            return (int)i;
    return -1;
}

const char *wb_s2s_host_of(const wb_server *srv, const char *domain)
{
    const int i = domain && domain[0] ? wb_s2s_host_index(srv, domain) : -1;
    return i >= 0 ? srv->cfg->hosts[i].domain : NULL;
}

wb_s2s_worker *wb_s2s_ws(const wb_worker *w)
{
    return &w->srv->s2s->ws[w->idx];
}

/* Reads the 32-byte secret (created on first start), refusing a file others may read. */
static int wb_s2s_load_secret(wb_s2s *s, const char *path, char *err, size_t errsize)
{
    unsigned char secret[WB_S2S_SECRET_BYTES];
    if (wb_vault_create_key_file(path, err, errsize) < 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        snprintf(err, errsize, "dialback secret %s: cannot open", path);
        goto fail;
    }
    if (sb.st_mode & 077) {
        snprintf(err, errsize, "dialback secret %s: readable by group or others", path);
        goto fail;
    }
    if (sb.st_size != WB_S2S_SECRET_BYTES || read(fd, secret, sizeof(secret)) != sizeof(secret)) {
        snprintf(err, errsize, "dialback secret %s: must hold exactly 32 bytes", path);
        goto fail;
    }
    close(fd);
    /* XEP-0185: the HMAC key is the hex SHA-256 of the secret. */
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, secret, sizeof(secret));
    sodium_memzero(secret, sizeof(secret));
    s->secret_hash = sodium_malloc(2 * sizeof(h) + 1);
    if (!s->secret_hash) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    sodium_bin2hex((char *)s->secret_hash, 2 * sizeof(h) + 1, h, sizeof(h));
    sodium_memzero(h, sizeof(h));
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    sodium_memzero(secret, sizeof(secret));
    return -1;
}

int wb_s2s_init(wb_server *srv, char *err, size_t errsize)
{
    wb_s2s *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    srv->s2s = s;
    s->srv = srv;
    s->conf = srv->cfg->s2s;
    s->n_ws = srv->cfg->workers;
    s->ws = calloc((size_t)s->n_ws, sizeof(*s->ws));
    if (!s->ws) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (!s->conf->enabled)
        return 0;
    pthread_mutex_init(&s->reg_lock, NULL);
    s->reg_ready = true;
    wb_s2s_bidi_init(s);
    s->conn_rl = wb_ratelimit_new(s->conf->conn_per_minute, 60);
    s->stanza_rl =
        wb_ratelimit_new(s->conf->stanzas_per_second * WB_S2S_RATE_WINDOW, WB_S2S_RATE_WINDOW);
    if (!s->conn_rl || !s->stanza_rl) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if (wb_s2s_load_secret(s, s->conf->secret_file, err, errsize) < 0)
        return -1;
    return wb_s2s_cert_init(s, srv->cfg, err, errsize);
}

void wb_s2s_free(wb_server *srv)
{
    wb_s2s *s = srv->s2s;
    if (!s)
        return;
    if (s->secret_hash)
        sodium_free(s->secret_hash);
    wb_s2s_ctl_stop(s);
    wb_s2s_bidi_free(s);
    wb_s2s_cert_free(s);
    wb_ratelimit_free(s->conn_rl);
    wb_ratelimit_free(s->stanza_rl);
    free(s->ws);
    free(s);
    srv->s2s = NULL;
}

void wb_s2s_dialback_key(const wb_s2s *s, const char *receiving, const char *originating,
                         const char *sid, char out[WB_S2S_KEY_HEX])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, s->secret_hash, 2 * crypto_hash_sha256_BYTES);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)receiving, strlen(receiving));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)" ", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)originating, strlen(originating));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)" ", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)sid, strlen(sid));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, WB_S2S_KEY_HEX, mac, sizeof(mac));
}

bool wb_s2s_key_ok(const wb_s2s *s, const char *receiving, const char *originating, const char *sid,
                   const char *key, size_t key_len)
{
    char want[WB_S2S_KEY_HEX];
    wb_s2s_dialback_key(s, receiving, originating, sid, want);
    return key_len == WB_S2S_KEY_HEX - 1 && sodium_memcmp(want, key, key_len) == 0;
}

void wb_s2s_bounce(wb_worker *w, const wb_msg *m, const char *cond, const char *text)
{
    if (m->kind == WB_MSG_PRESENCE || m->type == WB_T_ERROR || m->type == WB_IT_RESULT ||
        !m->has_from)
        return;
    char from[WB_JID_MAX + 1], to[WB_JID_MAX + 1];
    if (wb_jid_full(&m->to, from, sizeof(from)) < 0 || wb_jid_full(&m->from, to, sizeof(to)) < 0)
        return;
    const char *kind = wb_msg_kind_name(m->kind);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<%s from='", kind);
    wb_buf_xml_escape_str(&b, from);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to);
    if (m->id) {
        wb_buf_puts(&b, "' id='");
        wb_buf_xml_escape_str(&b, m->id);
    }
    wb_buf_printf(&b,
                  "' type='error'><error type='%s'><%s "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>",
                  strcmp(cond, WB_S2S_NOT_FOUND) == 0 ? "cancel" : "wait", cond);
    if (text) {
        wb_buf_puts(&b, "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>");
        wb_buf_xml_escape_str(&b, text);
        wb_buf_puts(&b, "</text>");
    }
    wb_buf_printf(&b, "</error></%s>", kind);
    wb_msg *r = b.failed
                    ? NULL
                    : wb_xmpp_msg_from_text(m->kind, WB_T_ERROR, &m->to, &m->from, b.data, b.len);
    wb_buf_free(&b);
    if (!r)
        return;
    if (m->id && !(r->id = strdup(m->id))) {
        wb_msg_unref(r);
        return;
    }
    wb_route(w, r);
}

void wb_s2s_audit(const wb_s2s_conn *c, const char *remote, const char *local, bool ok,
                  const char *detail)
{
    char actor[WB_S2S_DOMAIN_MAX + 8];
    snprintf(actor, sizeof(actor), "server:%s", remote[0] ? remote : "?");
    const wb_audit_event ev = {.actor = actor,
                               .action = c->dir == WB_S2S_IN ? "s2s.auth.in" : "s2s.auth.out",
                               .target = local,
                               .source = c->peer,
                               .ok = ok,
                               .reason = detail};
    wb_audit_record(c->w->srv->audit, &ev);
}

/* The worker that owns the outbound stream from local to remote. */
static int wb_s2s_owner(const wb_server *srv, const char *local, const char *remote)
{
    uint32_t h = 2166136261u;
    for (const char *p = local; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ ' ') * 16777619u;
    for (const char *p = remote; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return (int)(h % (uint32_t)srv->n_workers);
}

static void wb_s2s_route_call(wb_worker *w, wb_msg *m)
{
    wb_s2s_route_owned(w, wb_msg_ref(m));
}

void wb_s2s_route(wb_worker *w, wb_msg *m)
{
    const wb_s2s *s = wb_s2s_of(w);
    if (!m->has_from || wb_s2s_host_index(w->srv, m->from.domain) < 0) {
        wb_debug("s2s: dropping a stanza for %s that no local sender sent", m->to.domain);
        wb_msg_unref(m);
        return;
    }
    /* The policy of the sender's host (RFC 6120 10.4: no route, remote-server-not-found). */
    const char *why =
        s ? wb_s2s_conf_refuses(s->conf, wb_s2s_host_of(w->srv, m->from.domain), m->to.domain)
          : "federation is disabled";
    if (why) {
        if (s && s->conf->enabled)
            wb_info("s2s: not routing to %s: %s", m->to.domain, why);
        wb_route_error(w, m, WB_STE_REMOTE_SERVER_NOT_FOUND, NULL);
        wb_msg_unref(m);
        return;
    }
    /* XEP-0288: a stream the peer opened carries our stanzas too; no connection of our own.
     * XEP-0220: else another of our domains' outbound stream may carry them. */
    if (!wb_s2s_bidi_route(w, m) && !wb_s2s_mux_route(w, m))
        wb_s2s_route_direct(w, m);
}

void wb_s2s_route_direct(wb_worker *w, wb_msg *m)
{
    int owner = wb_s2s_owner(w->srv, m->from.domain, m->to.domain);
    if (owner == w->idx) {
        wb_s2s_route_owned(w, m);
        return;
    }
    if (wb_worker_post_call(w->srv->workers[owner], wb_s2s_route_call, m) < 0)
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    wb_msg_unref(m);
}

/* The outbound stream for local -> remote on this worker, if one is open or opening. */
static wb_s2s_conn *wb_s2s_find_out(wb_worker *w, const char *local, const char *remote)
{
    for (wb_s2s_conn *c = wb_s2s_ws(w)->conns; c; c = c->next)
        if (c->dir == WB_S2S_OUT && !c->closing && strcmp(c->local, local) == 0 &&
            strcmp(c->remote, remote) == 0)
            return c;
    return NULL;
}

static void wb_s2s_bounce_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_s2s_conn *c = arg;
    wb_s2s_out_fail(c, WB_S2S_TIMEOUT, "timed out before authentication");
}

wb_s2s_conn *wb_s2s_open(wb_worker *w, wb_s2s_dir dir, const char *local, const char *remote)
{
    if (w->stopping)
        return NULL; /* the worker is ending: nothing new may start (its events would leak) */
    wb_s2s_conn *c = wb_s2s_conn_new(w, dir);
    if (!c)
        return NULL;
    snprintf(c->local, sizeof(c->local), "%s", local);
    snprintf(c->remote, sizeof(c->remote), "%s", remote);
    const wb_s2s_conf *conf = wb_s2s_of(w)->conf;
    if (dir == WB_S2S_VERIFY) {
        wb_s2s_conn_arm(c, w->srv->cfg->handshake_timeout);
        return c;
    }
    c->bounce_ev = evtimer_new(w->base, wb_s2s_bounce_cb, c);
    if (!c->bounce_ev) {
        wb_s2s_conn_free(c);
        return NULL;
    }
    struct timeval tv = {conf->bounce_timeout, 0};
    evtimer_add(c->bounce_ev, &tv);
    wb_info("s2s %llu: connecting %s -> %s", (unsigned long long)c->id, local, remote);
    return c;
}

int wb_s2s_enqueue(wb_s2s_conn *c, wb_msg *m)
{
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    if (c->q_len >= (size_t)conf->queue_max)
        return -1;
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? 2 * c->q_cap : 16;
        wb_msg **q = malloc(cap * sizeof(*q));
        if (!q)
            return -1;
        for (size_t i = 0; i < c->q_len; i++)
            q[i] = c->queue[(c->q_head + i) % c->q_cap];
        free(c->queue);
        c->queue = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->queue[(c->q_head + c->q_len) % c->q_cap] = m;
    c->q_len++;
    return 0;
}

void wb_s2s_route_owned(wb_worker *w, wb_msg *m)
{
    wb_s2s_conn *c = wb_s2s_find_out(w, m->from.domain, m->to.domain);
    bool fresh = !c;
    if (fresh)
        c = wb_s2s_open(w, WB_S2S_OUT, m->from.domain, m->to.domain);
    if (!c && w->stopping) {
        wb_s2s_bounce(w, m, WB_S2S_TIMEOUT, "server shutting down");
        wb_msg_unref(m);
        return;
    }
    if (!c) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_msg_unref(m);
        return;
    }
    wb_s2s_mux_own(c); /* the pair leaves on this stream: not piggybacked meanwhile */
    if (c->state == WB_S2S_READY) {
        wb_s2s_conn_send(c, m->bytes, m->bytes_len);
        wb_s2s_reg_count(c, true);
        wb_s2s_conn_arm(c, wb_s2s_of(w)->conf->idle_timeout);
        wb_msg_unref(m);
        return;
    }
    if (wb_s2s_enqueue(c, m) < 0) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, "Too many stanzas queued for this domain");
        wb_msg_unref(m);
    }
    /* Started once the stanza is queued: a failure found at once bounces it too. */
    if (fresh && wb_s2s_dns_start(c) < 0)
        wb_s2s_out_resolved(c, "cannot start the DNS lookup");
}

void wb_s2s_accept(wb_worker *w, int fd, const wb_conf_listener *lis, const char *peer)
{
    wb_s2s *s = wb_s2s_of(w);
    wb_s2s_conn *c = s && s->conf->enabled ? wb_s2s_conn_new(w, WB_S2S_IN) : NULL;
    if (!c) {
        close(fd);
        return;
    }
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    evutil_make_socket_nonblocking(fd);
    struct bufferevent *bev = NULL;
    if (lis->tls == WB_TLS_DIRECT) {
        c->tls = wb_server_tls(w->srv);
        c->ssl = wb_tls_new_ssl(c->tls, NULL, 0);
        if (c->ssl)
            wb_s2s_cert_ask_peer(c->ssl);
        if (c->ssl)
            bev = bufferevent_openssl_socket_new(w->base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
        c->tls_on = c->direct_tls = true;
    } else {
        bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev || wb_s2s_conn_attach(c, bev) < 0) {
        if (!bev)
            close(fd);
        wb_s2s_conn_free(c);
        return;
    }
    wb_s2s_conn_arm(c, w->srv->cfg->handshake_timeout);
    wb_debug("s2s %llu: connection from %s", (unsigned long long)c->id, peer);
    if (!wb_ratelimit_take(s->conn_rl, peer)) {
        wb_info("s2s %llu: refused a connection from %s: too many connections from that address",
                (unsigned long long)c->id, peer);
        wb_s2s_conn_close(c, WB_SE_POLICY_VIOLATION, "Too many connections");
    }
}

bool wb_s2s_close_id(wb_worker *w, uint64_t id)
{
    wb_s2s_conn *c = w->srv->s2s ? wb_s2s_conn_find(w, id) : NULL;
    if (!c)
        return false;
    if (c->dir == WB_S2S_OUT)
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "closed by the administrator");
    else
        wb_s2s_conn_close(c, 0, NULL);
    return true;
}

void wb_s2s_worker_stop(wb_worker *w)
{
    if (!w->srv->s2s)
        return;
    wb_s2s_conn *c = wb_s2s_ws(w)->conns;
    while (c) {
        wb_s2s_conn *next = c->next;
        if (c->dir == WB_S2S_OUT)
            wb_s2s_out_fail(c, WB_S2S_TIMEOUT, "server shutting down");
        else
            wb_s2s_conn_close(c, WB_SE_SYSTEM_SHUTDOWN, NULL);
        c = next;
    }
}

void wb_s2s_worker_end(wb_worker *w)
{
    if (!w->srv->s2s)
        return;
    wb_s2s_worker *ws = wb_s2s_ws(w);
    while (ws->conns) {
        wb_s2s_out_drop_queue(ws->conns);
        wb_s2s_conn_free(ws->conns);
    }
    wb_s2s_dns_free(ws);
    /* TLS bufferevents are released by deferred callbacks: let the loop run them once. */
    event_base_loop(w->base, EVLOOP_NONBLOCK);
}
