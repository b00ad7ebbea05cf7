/* wb_s2s_conn: one server-to-server TCP stream, whatever its direction: socket and TLS through
 * libevent, the XML parser, output, timers and an orderly close. Protocol logic is in _in/_out. */
#include "wb_s2s_int.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "wb_log.h"
#include "wb_router.h"
#include "wb_tls.h"
#include "wb_xmpp_model.h"

#define WB_S2S_CLOSE_GRACE 5           /* seconds to flush a closing stream */
#define WB_S2S_MAX_OUTPUT  (16u << 20) /* bytes queued to a peer that does not read */

static void wb_s2s_read_cb(struct bufferevent *bev, void *arg);
static void wb_s2s_write_cb(struct bufferevent *bev, void *arg);
static void wb_s2s_event_cb(struct bufferevent *bev, short what, void *arg);

static int wb_s2s_on_open(void *ud, const wb_stream_header *hdr)
{
    wb_s2s_conn *c = ud;
    return c->dir == WB_S2S_IN ? wb_s2s_in_open(c, hdr) : wb_s2s_out_open(c, hdr);
}

static int wb_s2s_on_stanza(void *ud, wb_stanza *st)
{
    wb_s2s_conn *c = ud;
    if (c->closing) {
        wb_stanza_free(st);
        return WB_XML_STOP;
    }
    return c->dir == WB_S2S_IN ? wb_s2s_in_stanza(c, st) : wb_s2s_out_stanza(c, st);
}

static int wb_s2s_on_close(void *ud)
{
    wb_s2s_conn *c = ud;
    if (c->dir != WB_S2S_IN && c->state != WB_S2S_READY)
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "the peer closed the stream");
    else
        wb_s2s_conn_close(c, 0, NULL);
    return WB_XML_STOP;
}

static const wb_xml_stream_cbs wb_s2s_xml_cbs = {wb_s2s_on_open, wb_s2s_on_stanza, wb_s2s_on_close};

static void wb_s2s_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_s2s_conn *c = arg;
    if (c->closing) {
        wb_s2s_conn_free(c);
        return;
    }
    wb_debug("s2s %llu: timed out", (unsigned long long)c->id);
    if (c->dir != WB_S2S_IN)
        wb_s2s_out_fail(c, WB_S2S_TIMEOUT, "idle or handshake timeout");
    else
        wb_s2s_conn_close(c, WB_SE_CONNECTION_TIMEOUT, NULL);
}

void wb_s2s_conn_arm(wb_s2s_conn *c, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(c->timer, &tv);
}

wb_s2s_conn *wb_s2s_conn_new(wb_worker *w, wb_s2s_dir dir)
{
    wb_s2s_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->w = w;
    c->dir = dir;
    c->id = __atomic_add_fetch(&w->srv->next_sid, 1, __ATOMIC_RELAXED);
    c->since = time(NULL);
    c->state = dir == WB_S2S_IN ? WB_S2S_OPEN : WB_S2S_RESOLVING;
    wb_s2s_worker *ws = wb_s2s_ws(w);
    wb_s2s_reg_add(c);
    c->next = ws->conns;
    if (ws->conns)
        ws->conns->prev = c;
    ws->conns = c;
    const wb_config *cfg = w->srv->cfg;
    wb_xml_limits lim = {cfg->max_stanza_size, cfg->max_depth, cfg->max_attrs};
    c->xs = wb_xml_stream_new(&lim, &wb_s2s_xml_cbs, c);
    c->timer = evtimer_new(w->base, wb_s2s_timer_cb, c);
    if (!c->xs || !c->timer) {
        wb_s2s_conn_free(c);
        return NULL;
    }
    return c;
}

void wb_s2s_conn_free(wb_s2s_conn *c)
{
    wb_s2s_worker *ws = wb_s2s_ws(c->w);
    wb_s2s_dns_cancel(c);
    wb_s2s_bidi_remove(c);
    wb_s2s_out_drop_queue(c);
    wb_s2s_reg_remove(c);
    if (c->bev)
        bufferevent_free(c->bev);
    else if (c->ssl)
        SSL_free(c->ssl);
    if (c->tls)
        wb_tls_unref(c->tls);
    if (c->timer)
        event_free(c->timer);
    if (c->bounce_ev)
        event_free(c->bounce_ev);
    if (c->rev_ev)
        event_free(c->rev_ev);
    if (c->xs)
        wb_xml_stream_free(c->xs);
    if (c->prev)
        c->prev->next = c->next;
    else
        ws->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->queue);
    wb_debug("s2s %llu: freed", (unsigned long long)c->id);
    free(c);
}

wb_s2s_conn *wb_s2s_conn_find(wb_worker *w, uint64_t id)
{
    for (wb_s2s_conn *c = wb_s2s_ws(w)->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

int wb_s2s_conn_attach(wb_s2s_conn *c, struct bufferevent *bev)
{
    c->bev = bev;
    bufferevent_setcb(bev, wb_s2s_read_cb, wb_s2s_write_cb, wb_s2s_event_cb, c);
    if (c->ssl)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void wb_s2s_conn_send(wb_s2s_conn *c, const char *data, size_t len)
{
    if (!c->bev || c->closing)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) + len > WB_S2S_MAX_OUTPUT) {
        wb_warn("s2s %llu: %s does not read; closing", (unsigned long long)c->id, c->remote);
        wb_s2s_conn_close(c, WB_SE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    bufferevent_write(c->bev, data, len);
}

void wb_s2s_conn_send_str(wb_s2s_conn *c, const char *s)
{
    wb_s2s_conn_send(c, s, strlen(s));
}

void wb_s2s_conn_send_header(wb_s2s_conn *c)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                    "xmlns:stream='http://etherx.jabber.org/streams' "
                    "xmlns:db='jabber:server:dialback'");
    if (c->dir == WB_S2S_IN) {
        unsigned char rnd[16];
        RAND_bytes(rnd, sizeof(rnd));
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(c->stream_id + 2 * i, 3, "%02x", rnd[i]);
        wb_buf_printf(&b, " id='%s'", c->stream_id);
    }
    if (c->local[0]) {
        wb_buf_puts(&b, " from='");
        wb_buf_xml_escape_str(&b, c->local);
        wb_buf_puts(&b, "'");
    }
    if (c->remote[0]) {
        wb_buf_puts(&b, " to='");
        wb_buf_xml_escape_str(&b, c->remote);
        wb_buf_puts(&b, "'");
    }
    wb_buf_puts(&b, " version='1.0' xml:lang='en'>");
    wb_s2s_conn_send(c, b.data, b.len);
    wb_buf_free(&b);
    c->header_sent = true;
}

void wb_s2s_conn_close(wb_s2s_conn *c, int stream_err, const char *text)
{
    if (c->closing)
        return;
    wb_s2s_bidi_remove(c); /* stanzas routed from now on take a stream of their own */
    if (c->bev && c->state != WB_S2S_RESOLVING && c->state != WB_S2S_CONNECTING) {
        if (!c->header_sent && c->dir == WB_S2S_IN)
            wb_s2s_conn_send_header(c);
        wb_buf b;
        wb_buf_init(&b);
        if (stream_err > 0)
            wb_xmpp_write_stream_error(&b, stream_err, text);
        else
            wb_buf_puts(&b, "</stream:stream>");
        wb_s2s_conn_send(c, b.data, b.len);
        wb_buf_free(&b);
        bufferevent_disable(c->bev, EV_READ);
    }
    c->closing = true;
    if (stream_err > 0)
        wb_info("s2s %llu: closing %s stream with %s: %s error %s%s%s", (unsigned long long)c->id,
                c->dir == WB_S2S_IN ? "inbound" : "outbound", c->remote[0] ? c->remote : c->peer,
                c->local, wb_stream_err_name(stream_err), text ? ": " : "", text ? text : "");
    if (c->bounce_ev)
        evtimer_del(c->bounce_ev);
    wb_s2s_dns_cancel(c);
    bool flushed = !c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
    wb_s2s_conn_arm(c, flushed && !c->in_feed ? 0 : WB_S2S_CLOSE_GRACE);
}

int wb_s2s_conn_start_tls(wb_s2s_conn *c)
{
    struct bufferevent *under = c->bev;
    evbuffer_drain(bufferevent_get_input(under), evbuffer_get_length(bufferevent_get_input(under)));
    enum bufferevent_ssl_state mode;
    if (c->dir == WB_S2S_IN) {
        c->tls = wb_server_tls(c->w->srv);
        c->ssl = wb_tls_new_ssl(c->tls, c->local, 0);
        if (c->ssl)
            wb_s2s_cert_ask_peer(c->ssl);
        mode = BUFFEREVENT_SSL_ACCEPTING;
    } else {
        c->ssl = wb_s2s_cert_client_ssl(wb_s2s_of(c->w), c->local);
        if (c->ssl)
            SSL_set_tlsext_host_name(c->ssl, c->remote);
        if (c->ssl && c->direct_out)
            SSL_set_alpn_protos(c->ssl, (const unsigned char *)"\x0bxmpp-server", 12);
        mode = BUFFEREVENT_SSL_CONNECTING;
    }
    struct bufferevent *bev = c->ssl ? bufferevent_openssl_filter_new(c->w->base, under, c->ssl,
                                                                      mode, BEV_OPT_CLOSE_ON_FREE)
                                     : NULL;
    if (!bev) {
        if (c->ssl)
            SSL_free(c->ssl);
        c->ssl = NULL;
        return -1;
    }
    c->bev = bev;
    c->tls_on = true;
    c->header_sent = false;
    if (wb_xml_stream_reset(c->xs) < 0 || wb_s2s_conn_attach(c, bev) < 0)
        return -1;
    if (c->dir != WB_S2S_IN)
        wb_s2s_conn_send_header(c);
    return 0;
}

/* After the parser stopped on a stream restart (STARTTLS). */
static void wb_s2s_after_stop(wb_s2s_conn *c)
{
    if (c->want_restart) {
        c->want_restart = false;
        c->header_sent = false;
        if (wb_xml_stream_reset(c->xs) < 0) {
            wb_s2s_conn_close(c, WB_SE_INTERNAL_SERVER_ERROR, NULL);
            return;
        }
        if (c->dir != WB_S2S_IN)
            wb_s2s_conn_send_header(c);
        return;
    }
    if (c->want_tls) {
        c->want_tls = false;
        if (wb_s2s_conn_start_tls(c) < 0) {
            if (c->dir == WB_S2S_IN)
                wb_s2s_conn_close(c, WB_SE_INTERNAL_SERVER_ERROR, NULL);
            else
                wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "cannot start TLS");
        }
    }
}

static void wb_s2s_read_cb(struct bufferevent *bev, void *arg)
{
    wb_s2s_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->closing && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        c->in_feed = true;
        int rc = wb_xml_stream_feed(c->xs, v.iov_base, v.iov_len);
        c->in_feed = false;
        evbuffer_drain(in, v.iov_len);
        if (rc > 0) {
            if (c->dir == WB_S2S_IN)
                wb_s2s_conn_close(c, rc, NULL);
            else
                wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "the peer sent bad XML");
        } else if (rc == WB_XML_STOP) {
            wb_s2s_after_stop(c);
            return;
        }
    }
    if (c->closing) {
        if (!c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            wb_s2s_conn_arm(c, 0);
        return;
    }
    if (c->dir == WB_S2S_IN ? c->n_pairs > 0 : c->state == WB_S2S_READY)
        wb_s2s_conn_arm(c, wb_s2s_of(c->w)->conf->idle_timeout);
}

static void wb_s2s_write_cb(struct bufferevent *bev, void *arg)
{
    wb_s2s_conn *c = arg;
    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        wb_s2s_conn_arm(c, 0);
}

static void wb_s2s_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    wb_s2s_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == WB_S2S_CONNECTING)
            wb_s2s_out_connected(c);
        return;
    }
    unsigned long e = (what & BEV_EVENT_ERROR) ? bufferevent_get_openssl_error(c->bev) : 0;
    char reason[128] = "connection lost";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    if (c->state == WB_S2S_CONNECTING) {
        wb_s2s_out_connect_failed(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return;
    }
    /* Stanzas that arrived together with the EOF are still handled. */
    if ((what & BEV_EVENT_EOF) && !c->closing && !c->in_feed &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        wb_s2s_read_cb(c->bev, c);
    if (!c->closing) {
        wb_info("s2s %llu: %s stream %s -> %s ended: %s", (unsigned long long)c->id,
                c->dir == WB_S2S_IN ? "inbound" : "outbound", c->local,
                c->remote[0] ? c->remote : c->peer, reason);
        if (c->dir != WB_S2S_IN)
            wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, reason);
    }
    if (c->in_feed) {
        c->closing = true;
        wb_s2s_conn_arm(c, 0);
        return;
    }
    wb_s2s_conn_free(c);
}
