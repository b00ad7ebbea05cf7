/* wb_component_conn: one XEP-0114 component stream (jabber:component:accept) from accept to close:
 * socket through libevent, the XML parser with the c2s limits, the stream header, the handshake
 * (SHA-1 of stream id and secret), output, timers. Stanzas after the handshake: _stanza.c. */
#include "wb_component_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "wb_log.h"
#include "wb_ratelimit.h"
#include "wb_xmpp_model.h"

static void wb_comp_read_cb(struct bufferevent *bev, void *arg);
static void wb_comp_write_cb(struct bufferevent *bev, void *arg);
static void wb_comp_event_cb(struct bufferevent *bev, short what, void *arg);

static void wb_comp_arm(wb_comp_conn *c, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(c->timer, &tv);
}

static void wb_comp_send(wb_comp_conn *c, const char *data, size_t len)
{
    if (!c->bev || c->closing)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) + len > WB_COMP_MAX_OUTPUT) {
        wb_warn("component %llu: does not read; closing", (unsigned long long)c->id);
        wb_comp_conn_close(c, WB_SE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    bufferevent_write(c->bev, data, len);
}

void wb_comp_conn_deliver(wb_comp_conn *c, const wb_msg *m)
{
    wb_comp_send(c, m->bytes, m->bytes_len);
}

/* XEP-0114 3: the answering header carries the stream id and, once known, the component's domain
 * as 'from'; no version and no stream features. */
static void wb_comp_send_header(wb_comp_conn *c)
{
    const wb_comp_state *st = wb_comp_state_of(c->w->srv);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b,
                  "<?xml version='1.0'?><stream:stream xmlns:stream='" WB_NS_STREAMS
                  "' xmlns='" WB_NS_COMPONENT "' id='%s'",
                  c->stream_id);
    if (c->comp >= 0) {
        wb_buf_puts(&b, " from='");
        wb_buf_xml_escape_str(&b, st->e[c->comp].domain);
        wb_buf_puts(&b, "'");
    }
    wb_buf_puts(&b, ">");
    if (!b.failed)
        wb_comp_send(c, b.data, b.len);
    wb_buf_free(&b);
    c->header_sent = true;
}

void wb_comp_conn_close(wb_comp_conn *c, int stream_err, const char *text)
{
    if (c->closing)
        return;
    if (c->bev) {
        if (!c->header_sent)
            wb_comp_send_header(c);
        wb_buf b;
        wb_buf_init(&b);
        if (stream_err > 0)
            wb_xmpp_write_stream_error(&b, stream_err, text);
        else
            wb_buf_puts(&b, "</stream:stream>");
        if (!b.failed)
            wb_comp_send(c, b.data, b.len);
        wb_buf_free(&b);
        bufferevent_disable(c->bev, EV_READ);
    }
    c->closing = true;
    if (stream_err > 0)
        wb_info("component %llu (%s): closing with %s%s%s", (unsigned long long)c->id, c->peer,
                wb_stream_err_name(stream_err), text ? ": " : "", text ? text : "");
    const bool flushed = !c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
    wb_comp_arm(c, flushed && !c->in_feed ? 0 : WB_COMP_CLOSE_GRACE);
}

void wb_comp_conn_free(wb_comp_conn *c)
{
    wb_comp_state *st = wb_comp_state_of(c->w->srv);
    if (c->authed) {
        wb_comp_release(st, c);
        wb_info("component %llu: %s disconnected", (unsigned long long)c->id,
                st->e[c->comp].domain);
    }
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->timer)
        event_free(c->timer);
    if (c->xs)
        wb_xml_stream_free(c->xs);
    if (c->prev)
        c->prev->next = c->next;
    else
        st->conns[c->w->idx] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static int wb_comp_on_open(void *ud, const wb_stream_header *hdr)
{
    wb_comp_conn *c = ud;
    const wb_comp_state *st = wb_comp_state_of(c->w->srv);
    char to[WB_JID_PART_MAX + 1];
    if (!hdr->default_ns || strcmp(hdr->default_ns, WB_NS_COMPONENT) != 0)
        return WB_SE_INVALID_NAMESPACE;
    if (!hdr->to || wb_jid_prep_domain(to, hdr->to, strlen(hdr->to)) < 0 ||
        (c->comp = wb_comp_find(st, to)) < 0) {
        wb_info("component %llu (%s): stream for an unknown domain", (unsigned long long)c->id,
                c->peer);
        return WB_SE_HOST_UNKNOWN;
    }
    wb_comp_send_header(c);
    return WB_XML_CONTINUE;
}

/* Lowercase hex SHA-1 of stream id and secret (XEP-0114 3, 5). 0 or -1. */
static int wb_comp_digest(const char *id, const char *secret, char hex[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
                   EVP_DigestUpdate(ctx, id, strlen(id)) == 1 &&
                   EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
                   EVP_DigestFinal_ex(ctx, md, &n) == 1 && n == 20;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    for (unsigned int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}

/* The component proved it knows the secret: it now holds its domain (an older stream of the same
 * domain is replaced, like a c2s resource conflict). */
static void wb_comp_authed(wb_comp_conn *c)
{
    wb_comp_state *st = wb_comp_state_of(c->w->srv);
    int old_worker = 0;
    c->authed = true;
    const uint64_t old = wb_comp_claim(st, c, &old_worker);
    if (old) {
        wb_info("component %llu: replaces stream %llu of %s", (unsigned long long)c->id,
                (unsigned long long)old, st->e[c->comp].domain);
        if (old_worker == c->w->idx)
            wb_comp_close_id(c->w, old, WB_SE_CONFLICT, "Replaced by new connection");
        else
            wb_worker_post_close(c->w->srv->workers[old_worker], old, WB_SE_CONFLICT,
                                 "Replaced by new connection");
    }
    evtimer_del(c->timer); /* components may stay quiet for long: no idle timeout */
    wb_comp_send(c, "<handshake/>", 12);
    wb_info("component %llu: %s connected from %s", (unsigned long long)c->id,
            st->e[c->comp].domain, c->peer);
}

static int wb_comp_handshake(wb_comp_conn *c, const wb_stanza *st)
{
    const wb_comp_state *s = wb_comp_state_of(c->w->srv);
    wb_ratelimit *rl = c->w->srv->auth_limit;
    char key[sizeof(c->peer) + 16];
    snprintf(key, sizeof(key), "component %s", c->peer); /* apart from c2s logins */
    if (strcmp(wb_st_ns(st, 0), WB_NS_COMPONENT) != 0 ||
        strcmp(wb_st_name(st, 0), "handshake") != 0)
        return WB_SE_NOT_AUTHORIZED;
    if (rl && wb_ratelimit_blocked(rl, key)) {
        wb_info("component %llu (%s): too many failed handshakes", (unsigned long long)c->id,
                c->peer);
        return WB_SE_POLICY_VIOLATION;
    }
    size_t len;
    const char *text = wb_st_text(st, 0, &len);
    char want[41], got[41];
    if (wb_comp_digest(c->stream_id, s->e[c->comp].secret, want) < 0)
        return WB_SE_INTERNAL_SERVER_ERROR;
    bool ok = len == 40;
    for (size_t i = 0; i < 40; i++) {
        const char ch = ok ? text[i] : '0';
        got[i] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
    }
    ok = CRYPTO_memcmp(want, got, 40) == 0 && ok;
    OPENSSL_cleanse(want, sizeof(want));
    if (!ok) {
        if (rl)
            wb_ratelimit_fail(rl, key);
        wb_info("component %llu (%s): handshake for %s failed", (unsigned long long)c->id, c->peer,
                s->e[c->comp].domain);
        return WB_SE_NOT_AUTHORIZED;
    }
    wb_comp_authed(c);
    return WB_XML_CONTINUE;
}

static int wb_comp_on_stanza(void *ud, wb_stanza *st)
{
    wb_comp_conn *c = ud;
    if (c->closing) {
        wb_stanza_free(st);
        return WB_XML_STOP;
    }
    if (c->authed)
        return wb_comp_stanza(c, st);
    const int rc = wb_comp_handshake(c, st);
    wb_stanza_free(st);
    return rc;
}

static int wb_comp_on_close(void *ud)
{
    wb_comp_conn_close(ud, 0, NULL);
    return WB_XML_STOP;
}

static const wb_xml_stream_cbs wb_comp_xml_cbs = {wb_comp_on_open, wb_comp_on_stanza,
                                                  wb_comp_on_close};

static void wb_comp_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_comp_conn *c = arg;
    if (c->closing)
        wb_comp_conn_free(c);
    else
        wb_comp_conn_close(c, WB_SE_CONNECTION_TIMEOUT, NULL);
}

wb_comp_conn *wb_comp_conn_new(wb_worker *w, const char *peer)
{
    wb_comp_state *st = wb_comp_state_of(w->srv);
    wb_comp_conn *c = st && w->idx < st->n_workers ? calloc(1, sizeof(*c)) : NULL;
    if (!c)
        return NULL;
    c->w = w;
    c->comp = -1;
    c->id = __atomic_add_fetch(&w->srv->next_sid, 1, __ATOMIC_RELAXED);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->next = st->conns[w->idx];
    if (c->next)
        c->next->prev = c;
    st->conns[w->idx] = c;
    unsigned char rnd[WB_COMP_ID_LEN / 2];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        wb_comp_conn_free(c);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(c->stream_id + 2 * i, 3, "%02x", rnd[i]);
    const wb_config *cfg = w->srv->cfg;
    const wb_xml_limits lim = {cfg->max_stanza_size, cfg->max_depth, cfg->max_attrs};
    c->xs = wb_xml_stream_new(&lim, &wb_comp_xml_cbs, c);
    c->timer = evtimer_new(w->base, wb_comp_timer_cb, c);
    if (!c->xs || !c->timer) {
        wb_comp_conn_free(c);
        return NULL;
    }
    return c;
}

void wb_comp_accept(wb_worker *w, int fd, const wb_conf_listener *lis, const char *peer)
{
    (void)lis;
    wb_comp_conn *c = wb_comp_conn_new(w, peer);
    if (!c) {
        close(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        close(fd);
        wb_comp_conn_free(c);
        return;
    }
    bufferevent_setcb(c->bev, wb_comp_read_cb, wb_comp_write_cb, wb_comp_event_cb, c);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0) {
        wb_comp_conn_free(c);
        return;
    }
    wb_comp_arm(c, w->srv->cfg->handshake_timeout);
    wb_debug("component %llu: connection from %s", (unsigned long long)c->id, peer);
}

static void wb_comp_read_cb(struct bufferevent *bev, void *arg)
{
    wb_comp_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->closing && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        c->in_feed = true;
        const int rc = wb_xml_stream_feed(c->xs, v.iov_base, v.iov_len);
        c->in_feed = false;
        evbuffer_drain(in, v.iov_len);
        if (rc > 0)
            wb_comp_conn_close(c, rc, NULL);
        else if (rc == WB_XML_STOP && !c->closing)
            wb_comp_conn_close(c, WB_SE_INTERNAL_SERVER_ERROR, NULL);
    }
    if (c->closing && (!c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0))
        wb_comp_arm(c, 0);
}

static void wb_comp_write_cb(struct bufferevent *bev, void *arg)
{
    wb_comp_conn *c = arg;
    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        wb_comp_arm(c, 0);
}

static void wb_comp_event_cb(struct bufferevent *bev, short what, void *arg)
{
    wb_comp_conn *c = arg;
    /* Stanzas that arrived together with the EOF are still handled. */
    if ((what & BEV_EVENT_EOF) && !c->closing && !c->in_feed &&
        evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        wb_comp_read_cb(bev, c);
    if (c->in_feed) {
        c->closing = true;
        wb_comp_arm(c, 0);
        return;
    }
    wb_comp_conn_free(c);
}
