/* wb_c2s: a client stream from accept to close: TLS (STARTTLS or direct), the stream header and
 * features, hand-off to SASL, resource binding, then stanzas into the model and the router.
 * Sessions are only freed from top-level event callbacks, never while their parser runs. */
#include "wb_c2s_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "wb_log.h"
#include "wb_modules.h"
#include "wb_router.h"
#include "wb_xmpp_model.h"

#define WB_C2S_CLOSE_GRACE 5          /* seconds to flush a closing stream */
#define WB_C2S_MAX_OUTPUT  (4u << 20) /* bytes queued to a slow client before we give up */

static void wb_c2s_read_cb(struct bufferevent *bev, void *arg);
static void wb_c2s_write_cb(struct bufferevent *bev, void *arg);
static void wb_c2s_event_cb(struct bufferevent *bev, short what, void *arg);
static int wb_c2s_on_open(void *ud, const wb_stream_header *hdr);
static int wb_c2s_on_stanza(void *ud, wb_stanza *st);
static int wb_c2s_on_close(void *ud);

static const wb_xml_stream_cbs wb_c2s_xml_cbs = {wb_c2s_on_open, wb_c2s_on_stanza, wb_c2s_on_close};

uint64_t wb_c2s_id(const wb_c2s *c)
{
    return c->id;
}

const wb_jid *wb_c2s_jid(const wb_c2s *c)
{
    return c->bound ? &c->jid : NULL;
}

wb_c2s *wb_c2s_next(const wb_c2s *c)
{
    return c->next;
}

void wb_c2s_send_raw(wb_c2s *c, const char *data, size_t len)
{
    wb_c2s_send(c, data, len);
}

const char *wb_c2s_domain(const wb_c2s *c)
{
    return c->domain;
}

const char *wb_c2s_peer(const wb_c2s *c)
{
    return c->peer;
}

bool wb_c2s_is_tls(const wb_c2s *c)
{
    return c->tls_on;
}

const char *wb_c2s_tls_version(const wb_c2s *c)
{
    return c->tls_on && c->ssl != NULL ? SSL_get_version(c->ssl) : NULL;
}

int wb_c2s_moved_to(const wb_c2s *c)
{
    return c->sm.moved ? c->sm.moved_to : -1;
}

wb_worker *wb_c2s_worker(const wb_c2s *c)
{
    return c->w;
}

unsigned wb_c2s_flags(const wb_c2s *c)
{
    return c->flags;
}

void wb_c2s_set_flags(wb_c2s *c, unsigned flags)
{
    c->flags |= flags;
}

void wb_c2s_clear_flags(wb_c2s *c, unsigned flags)
{
    c->flags &= ~flags;
}

bool wb_c2s_hibernating(const wb_c2s *c)
{
    return c->sm.hibernating;
}

bool wb_c2s_available(const wb_c2s *c)
{
    return c->available;
}

int wb_c2s_priority(const wb_c2s *c)
{
    return c->priority;
}

wb_c2s *wb_c2s_hnext(const wb_c2s *c)
{
    return c->hnext;
}

wb_store *wb_c2s_store(wb_c2s *c)
{
    return c->w->store;
}

void wb_c2s_arm_timer(wb_c2s *c, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(c->timer, &tv);
}

void wb_c2s_send(wb_c2s *c, const char *data, size_t len)
{
    if (!c->bev)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) + len > WB_C2S_MAX_OUTPUT && !c->closing) {
        wb_warn("c2s %llu: client does not read; closing", (unsigned long long)c->id);
        wb_c2s_close(c, WB_SE_RESOURCE_CONSTRAINT, "Too much queued output");
        return;
    }
    bufferevent_write(c->bev, data, len);
}

void wb_c2s_send_str(wb_c2s *c, const char *s)
{
    wb_c2s_send(c, s, strlen(s));
}

/* The one delivery point of a session: filters, then forwarding (a session resumed on another
 * worker), stream management (counted, kept until acknowledged), or a plain write. */
bool wb_c2s_deliver(wb_c2s *c, const wb_msg *m)
{
    if ((m->flags & WB_MSG_F_ROSTER_PUSH) && !(c->flags & WB_C2S_F_ROSTER_REQUESTED))
        return false;
    if (!m->bytes)
        return false;
    /* A module may hold it back (XEP-0352) on the worker that holds the session's state. */
    if (!c->sm.moved && wb_modules_deliver(c->w, c, m) == WB_MOD_HANDLED)
        return true;
    return wb_c2s_deliver_held(c, m);
}

bool wb_c2s_deliver_held(wb_c2s *c, const wb_msg *m)
{
    if (c->sm.moved) /* the message model is immutable: only its reference count changes */
        return wb_worker_post_deliver(c->w->srv->workers[c->sm.moved_to], c->id, (wb_msg *)m) == 0;
    if (c->sm.enabled)
        return wb_c2s_sm_deliver(c, m);
    if (c->closing)
        return false;
    wb_c2s_send(c, m->bytes, m->bytes_len);
    return !c->closing; /* the send itself may have closed a client that does not read */
}

bool wb_c2s_closing(const wb_c2s *c)
{
    return c->closing;
}

size_t wb_c2s_output_pending(const wb_c2s *c)
{
    return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

static void wb_c2s_send_header(wb_c2s *c)
{
    unsigned char rnd[12];
    char id[25];
    RAND_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(id + 2 * i, 3, "%02x", rnd[i]);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams' id='");
    wb_buf_puts(&b, id);
    if (c->domain[0]) {
        wb_buf_puts(&b, "' from='");
        wb_buf_xml_escape_str(&b, c->domain);
    }
    wb_buf_puts(&b, "' version='1.0' xml:lang='en'>");
    wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
    c->header_sent = true;
}

void wb_c2s_send_features(wb_c2s *c)
{
    const wb_config *cfg = c->w->srv->cfg;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<stream:features>");
    if (!c->tls_on && !c->authed)
        wb_buf_printf(&b, "<starttls xmlns='" WB_NS_TLS "'>%s</starttls>",
                      cfg->require_starttls ? "<required/>" : "");
    if (!c->authed && (c->tls_on || !cfg->require_starttls))
        wb_c2s_sasl_write_mechanisms(c, &b);
    if (c->authed)
        wb_buf_puts(&b, "<bind xmlns='" WB_NS_BIND "'/><session xmlns='" WB_NS_SESSION
                        "'><optional/></session><sm xmlns='" WB_NS_SM "'/>");
    if (c->tls_on || !cfg->require_starttls)
        wb_modules_stream_features(c, &b, c->authed);
    wb_buf_puts(&b, "</stream:features>");
    wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
}

/* ---- lifetime ---- */

static void wb_c2s_link(wb_c2s *c)
{
    wb_worker *w = c->w;
    c->next = w->sessions;
    if (w->sessions)
        w->sessions->prev = c;
    w->sessions = c;
    w->n_sessions++;
    wb_c2s **chain = &w->by_sid[c->id % WB_WORKER_SID_BUCKETS];
    c->hnext = *chain;
    *chain = c;
}

static void wb_c2s_unlink(wb_c2s *c)
{
    wb_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->sessions = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_sessions--;
    wb_c2s **chain = &w->by_sid[c->id % WB_WORKER_SID_BUCKETS];
    while (*chain != c)
        chain = &(*chain)->hnext;
    *chain = c->hnext;
}

void wb_c2s_set_id(wb_c2s *c, uint64_t id)
{
    wb_c2s_unlink(c);
    c->id = id;
    wb_c2s_link(c);
}

static void wb_c2s_timer_cb(evutil_socket_t fd, short what, void *arg);

int wb_c2s_attach(wb_worker *w, wb_c2s *c)
{
    c->w = w;
    wb_c2s_link(c);
    c->timer = evtimer_new(w->base, wb_c2s_timer_cb, c);
    return c->timer ? 0 : -1;
}

void wb_c2s_release_conn(wb_c2s *c)
{
    wb_c2s_sasl_free(c);
    if (c->bev)
        bufferevent_free(c->bev); /* frees the SSL too (BEV_OPT_CLOSE_ON_FREE) */
    else if (c->ssl)
        SSL_free(c->ssl);
    c->bev = NULL;
    c->ssl = NULL;
    if (c->tls)
        wb_tls_unref(c->tls);
    c->tls = NULL;
    if (c->xs)
        wb_xml_stream_free(c->xs);
    c->xs = NULL;
}

void wb_c2s_free(wb_c2s *c)
{
    if (c->bound && !c->sm.moved) {
        /* A session replaced by a newer one for the same full JID announces nothing. */
        if (wb_directory_unbind(c->w->srv->dir, &c->jid, c->id)) {
            bool was_available = c->available;
            wb_c2s_presence_end(c);
            wb_modules_ended(c->w, &c->jid, c->id, was_available);
        }
        wb_c2s_sm_reroute(c); /* once unbound: nothing comes back to this session */
        char full[WB_JID_MAX + 1];
        wb_jid_full(&c->jid, full, sizeof(full));
        wb_info("c2s %llu: %s disconnected", (unsigned long long)c->id, full);
    }
    wb_c2s_release_conn(c);
    wb_c2s_sm_free(c);
    if (c->timer)
        event_free(c->timer);
    free(c->directed);
    wb_worker *w = c->w;
    wb_c2s_unlink(c);
    free(c);
    wb_worker_session_gone(w);
}

/* The connection is over (flushed after a close, failed, or silent too long). A resumable
 * session hibernates (XEP-0198: only a clean close or a server-side error ends it); a session
 * whose state moved to another worker lingers a moment to forward late deliveries; any other
 * session ends. */
static void wb_c2s_conn_done(wb_c2s *c, bool lost)
{
    if (c->sm.moved) {
        if (!c->sm.lingering && !c->w->stopping) {
            wb_c2s_release_conn(c);
            c->sm.lingering = true;
            wb_c2s_arm_timer(c, WB_C2S_MOVED_LINGER);
            return;
        }
    } else if (lost && c->bound && c->sm.resumable && !c->closing && !c->sm.hibernating &&
               !c->w->stopping) {
        wb_c2s_release_conn(c);
        wb_c2s_sm_pause(c);
        c->sm.hibernating = true;
        c->lost_pending = false;
        wb_c2s_arm_timer(c, c->sm.resume_timeout);
        wb_info("c2s %llu: connection lost, session kept %d s for resumption",
                (unsigned long long)c->id, c->sm.resume_timeout);
        return;
    }
    wb_c2s_free(c);
}

static void wb_c2s_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_c2s *c = arg;
    if (c->closing || c->sm.moved || c->sm.hibernating || c->lost_pending) {
        wb_c2s_conn_done(c, c->lost_pending);
        return;
    }
    wb_debug("c2s %llu: timed out", (unsigned long long)c->id);
    if (c->bound && c->sm.resumable)
        wb_c2s_conn_done(c, true);
    else
        wb_c2s_close(c, WB_SE_CONNECTION_TIMEOUT, NULL);
}

void wb_c2s_close(wb_c2s *c, int stream_err, const char *text)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->bev) {
        if (!c->header_sent)
            wb_c2s_send_header(c);
        wb_buf b;
        wb_buf_init(&b);
        if (stream_err > 0)
            wb_xmpp_write_stream_error(&b, stream_err, text);
        else
            wb_buf_puts(&b, "</stream:stream>");
        bufferevent_write(c->bev, b.data, b.len);
        wb_buf_free(&b);
        bufferevent_disable(c->bev, EV_READ);
    }
    if (stream_err > 0)
        wb_debug("c2s %llu: stream error %s", (unsigned long long)c->id,
                 wb_stream_err_name(stream_err));
    /* Freed once the output is flushed (write callback) or after the grace period. */
    wb_c2s_arm_timer(c, WB_C2S_CLOSE_GRACE);
    if (!c->bev || (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 && !c->in_feed))
        wb_c2s_arm_timer(c, 0);
}

static int wb_c2s_setup_bev(wb_c2s *c, struct bufferevent *bev)
{
    if (!bev)
        return -1;
    c->bev = bev;
    bufferevent_setcb(bev, wb_c2s_read_cb, wb_c2s_write_cb, wb_c2s_event_cb, c);
    return bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static wb_xml_limits wb_c2s_limits(const wb_config *cfg)
{
    wb_xml_limits lim = {cfg->max_stanza_size, cfg->max_depth, cfg->max_attrs};
    return lim;
}

wb_c2s *wb_c2s_new(wb_worker *w, int fd, const wb_conf_listener *lis, const char *peer)
{
    wb_c2s *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return NULL;
    }
    c->w = w;
    c->lis = lis;
    c->id = __atomic_add_fetch(&w->srv->next_sid, 1, __ATOMIC_RELAXED);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    wb_c2s_link(c);
    wb_xml_limits lim = wb_c2s_limits(w->srv->cfg);
    c->xs = wb_xml_stream_new(&lim, &wb_c2s_xml_cbs, c);
    c->timer = evtimer_new(w->base, wb_c2s_timer_cb, c);
    if (!c->xs || !c->timer)
        goto fail;
    evutil_make_socket_nonblocking(fd);
    struct bufferevent *bev = NULL;
    if (lis->tls == WB_TLS_DIRECT) {
        c->tls = wb_server_tls(w->srv);
        c->ssl = wb_tls_new_ssl(c->tls, NULL, 1);
        if (c->ssl)
            bev = bufferevent_openssl_socket_new(w->base, fd, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
        c->tls_on = true;
    } else {
        bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev)
        goto fail;
    fd = -1; /* owned by bev from now on */
    if (wb_c2s_setup_bev(c, bev) < 0)
        goto fail;
    if (c->tls_on)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    wb_c2s_arm_timer(c, w->srv->cfg->handshake_timeout);
    wb_debug("c2s %llu: connection from %s (%s)", (unsigned long long)c->id, peer,
             c->tls_on ? "direct TLS" : "STARTTLS");
    return c;
fail:
    wb_warn("c2s: cannot set up connection from %s", peer);
    if (fd >= 0)
        close(fd);
    wb_c2s_free(c);
    return NULL;
}

/* ---- input ---- */

static void wb_c2s_start_tls(wb_c2s *c)
{
    struct bufferevent *under = c->bev;
    /* Bytes behind <starttls/> were sent in clear and are dropped (STARTTLS injection). */
    evbuffer_drain(bufferevent_get_input(under), evbuffer_get_length(bufferevent_get_input(under)));
    c->tls = wb_server_tls(c->w->srv);
    c->ssl = wb_tls_new_ssl(c->tls, c->domain, 0);
    struct bufferevent *bev =
        c->ssl ? bufferevent_openssl_filter_new(c->w->base, under, c->ssl,
                                                BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
               : NULL;
    if (!bev) {
        if (c->ssl)
            SSL_free(c->ssl);
        c->ssl = NULL;
        wb_c2s_close(c, WB_SE_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    c->bev = NULL;
    wb_c2s_setup_bev(c, bev);
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    c->tls_on = true;
    wb_c2s_restart_stream(c);
}

void wb_c2s_restart_stream(wb_c2s *c)
{
    if (c->in_feed) {
        c->pending = WB_C2S_RESTART;
        return;
    }
    c->header_sent = false;
    if (wb_xml_stream_reset(c->xs) < 0)
        wb_c2s_close(c, WB_SE_INTERNAL_SERVER_ERROR, NULL);
}

static void wb_c2s_read_cb(struct bufferevent *bev, void *arg)
{
    wb_c2s *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->closing && !c->lost_pending && !c->sm.resuming && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        c->in_feed = true;
        int rc = wb_xml_stream_feed(c->xs, v.iov_base, v.iov_len);
        c->in_feed = false;
        evbuffer_drain(in, v.iov_len);
        if (rc > 0) {
            wb_c2s_close(c, rc, NULL);
        } else if (rc == WB_XML_STOP) {
            wb_c2s_pending p = c->pending;
            c->pending = WB_C2S_NONE;
            if (p == WB_C2S_STARTTLS) {
                wb_c2s_start_tls(c);
                return;
            }
            if (p == WB_C2S_RESTART)
                wb_c2s_restart_stream(c);
        }
    }
    if (c->lost_pending || (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0))
        wb_c2s_arm_timer(c, 0);
    else if (c->bound && !c->closing)
        wb_c2s_arm_timer(c, c->w->srv->cfg->idle_timeout);
}

void wb_c2s_resume_reading(wb_c2s *c)
{
    if (!c->bev || c->closing)
        return;
    bufferevent_enable(c->bev, EV_READ);
    wb_c2s_arm_timer(c, c->w->srv->cfg->idle_timeout);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        wb_c2s_read_cb(c->bev, c);
}

static void wb_c2s_write_cb(struct bufferevent *bev, void *arg)
{
    wb_c2s *c = arg;
    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        wb_c2s_arm_timer(c, 0);
}

static void wb_c2s_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    wb_c2s *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(c->bev);
        if (e) {
            char reason[128];
            ERR_error_string_n(e, reason, sizeof(reason));
            wb_debug("c2s %llu: TLS error: %s", (unsigned long long)c->id, reason);
        }
    }
    if (c->in_feed) {
        /* Reported from inside a write made by the parser's callbacks: handled once it returns
         * (wb_c2s_read_cb arms the timer). */
        c->lost_pending = true;
        return;
    }
    /* Stanzas that arrived together with the EOF are still handled. */
    if ((what & BEV_EVENT_EOF) && !c->closing && !c->sm.resuming &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        wb_c2s_read_cb(c->bev, c);
    /* The peer is gone; nothing more can be written. */
    wb_c2s_conn_done(c, !c->closing);
}

/* ---- the stream ---- */

static int wb_c2s_on_open(void *ud, const wb_stream_header *hdr)
{
    wb_c2s *c = ud;
    wb_server *srv = c->w->srv;
    char domain[WB_JID_PART_MAX + 1];
    bool served = hdr->to && wb_jid_prep_domain(domain, hdr->to, strlen(hdr->to)) == 0 &&
                  wb_server_serves(srv, domain);
    if (!c->domain[0])
        snprintf(c->domain, sizeof(c->domain), "%s", served ? domain : srv->cfg->hosts[0].domain);
    if (strcmp(hdr->name, "stream") != 0 || !hdr->ns || strcmp(hdr->ns, WB_NS_STREAMS) != 0)
        return WB_SE_INVALID_NAMESPACE;
    if (!hdr->default_ns || strcmp(hdr->default_ns, WB_NS_CLIENT) != 0)
        return WB_SE_INVALID_NAMESPACE;
    if (!served)
        return WB_SE_HOST_UNKNOWN;
    if (strcmp(domain, c->domain) != 0)
        return WB_SE_INVALID_FROM; /* a restarted stream must stay on its host */
    if (!hdr->version || strncmp(hdr->version, "1.", 2) != 0)
        return WB_SE_UNSUPPORTED_VERSION;
    wb_c2s_send_header(c);
    wb_c2s_send_features(c);
    return WB_XML_CONTINUE;
}

static int wb_c2s_on_close(void *ud)
{
    wb_c2s *c = ud;
    wb_c2s_close(c, 0, NULL);
    return WB_XML_STOP;
}

static void wb_c2s_iq_error(wb_c2s *c, const wb_stanza *st, wb_stanza_err e)
{
    const char *id = wb_st_attr(st, 0, "id");
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<iq type='error' id='");
    wb_buf_xml_escape_str(&b, id ? id : "");
    wb_buf_printf(&b,
                  "'><error type='%s'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                  "</error></iq>",
                  wb_stanza_err_type(e), wb_stanza_err_name(e));
    wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
}

static void wb_c2s_random_resource(char *out, size_t size)
{
    unsigned char rnd[8];
    RAND_bytes(rnd, sizeof(rnd));
    int n = snprintf(out, size, "wb-");
    for (size_t i = 0; i < sizeof(rnd) && (size_t)n + 2 < size; i++)
        n += snprintf(out + n, size - (size_t)n, "%02x", rnd[i]);
}

/* RFC 6120 section 7: resource binding, newest session wins a conflict. */
static int wb_c2s_bind(wb_c2s *c, const wb_stanza *st, wb_el bind)
{
    wb_el r = wb_st_child(st, bind, "resource", WB_NS_BIND);
    size_t len = 0;
    const char *want = r >= 0 ? wb_st_text(st, r, &len) : "";
    wb_jid jid;
    memset(&jid, 0, sizeof(jid));
    snprintf(jid.node, sizeof(jid.node), "%s", c->node);
    snprintf(jid.domain, sizeof(jid.domain), "%s", c->domain);
    if (len == 0)
        wb_c2s_random_resource(jid.resource, sizeof(jid.resource));
    else if (wb_jid_prep_resource(jid.resource, want, len) < 0) {
        wb_c2s_iq_error(c, st, WB_STE_BAD_REQUEST);
        return WB_XML_CONTINUE;
    }
    wb_server *srv = c->w->srv;
    wb_dir_target old;
    if (wb_directory_bind(srv->dir, &jid, c->id, c->w->idx, srv->cfg->max_resources, &old) < 0) {
        wb_c2s_iq_error(c, st, WB_STE_RESOURCE_CONSTRAINT);
        return WB_XML_CONTINUE;
    }
    c->jid = jid;
    c->bound = true;
    if (old.sid) {
        if (old.worker == c->w->idx) {
            wb_c2s *prev = wb_worker_session(c->w, old.sid);
            if (prev)
                wb_c2s_close(prev, WB_SE_CONFLICT, "Replaced by new connection");
        } else {
            wb_worker_post_conflict(srv->workers[old.worker], old.sid);
        }
    }
    char full[WB_JID_MAX + 1];
    wb_jid_full(&jid, full, sizeof(full));
    const char *id = wb_st_attr(st, 0, "id");
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<iq type='result' id='");
    wb_buf_xml_escape_str(&b, id ? id : "");
    wb_buf_puts(&b, "'><bind xmlns='" WB_NS_BIND "'><jid>");
    wb_buf_xml_escape_str(&b, full);
    wb_buf_puts(&b, "</jid></bind></iq>");
    wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
    wb_info("c2s %llu: bound %s", (unsigned long long)c->id, full);
    wb_c2s_arm_timer(c, srv->cfg->idle_timeout);
    wb_modules_bound(c->w, c);
    return WB_XML_CONTINUE;
}

/* Before binding only bind and the (optional) session establishment are allowed. */
static int wb_c2s_unbound_iq(wb_c2s *c, const wb_stanza *st)
{
    const char *type = wb_st_attr(st, 0, "type");
    if (strcmp(wb_st_name(st, 0), "iq") != 0 || strcmp(wb_st_ns(st, 0), WB_NS_CLIENT) != 0)
        return WB_SE_NOT_AUTHORIZED;
    wb_el bind = wb_st_child(st, 0, "bind", WB_NS_BIND);
    if (bind >= 0 && type && strcmp(type, "set") == 0)
        return wb_c2s_bind(c, st, bind);
    wb_c2s_iq_error(c, st, WB_STE_NOT_AUTHORIZED);
    return WB_XML_CONTINUE;
}

/* Through wb_c2s_deliver: a stanza like any other (stream management counts it). */
static int wb_c2s_session_iq(wb_c2s *c, const wb_stanza *st)
{
    const char *id = wb_st_attr(st, 0, "id");
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<iq type='result' id='");
    wb_buf_xml_escape_str(&b, id ? id : "");
    wb_buf_puts(&b, "'/>");
    wb_msg *m = b.failed
                    ? NULL
                    : wb_xmpp_msg_from_text(WB_MSG_IQ, WB_IT_RESULT, NULL, &c->jid, b.data, b.len);
    wb_buf_free(&b);
    if (m) {
        wb_c2s_deliver(c, m);
        wb_msg_unref(m);
    }
    return WB_XML_CONTINUE;
}

static int wb_c2s_bound_stanza(wb_c2s *c, wb_stanza *st)
{
    const char *type = wb_st_attr(st, 0, "type");
    if (strcmp(wb_st_name(st, 0), "iq") == 0 && type && strcmp(type, "set") == 0 &&
        wb_st_child(st, 0, "session", WB_NS_SESSION) >= 0 && !wb_st_attr(st, 0, "to")) {
        int rc = wb_c2s_session_iq(c, st);
        wb_stanza_free(st);
        return rc;
    }
    wb_msg *m = NULL;
    wb_stanza_err err;
    wb_stream_err serr;
    int rc = wb_xmpp_to_msg(st, &c->jid, &m, &err, &serr);
    if (rc == -2)
        return serr;
    if (rc < 0) {
        if (m) {
            wb_route_error(c->w, m, err, NULL);
            wb_msg_unref(m);
        }
        return WB_XML_CONTINUE;
    }
    wb_modules_outbound(c->w, c->id, m, 0); /* then wb_c2s_outbound_done */
    return WB_XML_CONTINUE;
}

void wb_c2s_outbound_done(wb_worker *w, uint64_t sid, wb_msg *m)
{
    if (m->kind == WB_MSG_PRESENCE) {
        wb_c2s *c = wb_worker_session(w, sid);
        if (!c || c->closing) {
            wb_msg_unref(m);
            return;
        }
        if (wb_c2s_presence_out(c, m))
            return;
    }
    wb_route(w, m);
}

static int wb_c2s_on_stanza(void *ud, wb_stanza *st)
{
    wb_c2s *c = ud;
    const char *ns = wb_st_ns(st, 0), *name = wb_st_name(st, 0);
    int rc;
    if (c->closing) {
        rc = WB_XML_STOP;
    } else if (!c->tls_on && !c->authed && strcmp(ns, WB_NS_TLS) == 0 &&
               strcmp(name, "starttls") == 0) {
        wb_c2s_send_str(c, "<proceed xmlns='" WB_NS_TLS "'/>");
        c->pending = WB_C2S_STARTTLS;
        rc = WB_XML_STOP;
    } else if (!c->authed && strcmp(ns, WB_NS_SASL) == 0) {
        if (strcmp(name, "auth") == 0)
            rc = wb_c2s_sasl_auth(c, st);
        else if (strcmp(name, "response") == 0)
            rc = wb_c2s_sasl_response(c, st);
        else if (strcmp(name, "abort") == 0)
            rc = wb_c2s_sasl_abort(c);
        else
            rc = WB_SE_UNSUPPORTED_STANZA_TYPE;
    } else if (!c->authed && (c->tls_on || !c->w->srv->cfg->require_starttls) &&
               strcmp(name, "iq") == 0 && strcmp(ns, WB_NS_CLIENT) == 0 &&
               wb_modules_preauth_iq(c->w, c, st) == WB_MOD_HANDLED) {
        rc = WB_XML_CONTINUE;
    } else if (!c->authed) {
        rc = (!c->tls_on && c->w->srv->cfg->require_starttls) ? WB_SE_POLICY_VIOLATION
                                                              : WB_SE_NOT_AUTHORIZED;
    } else if (strcmp(ns, WB_NS_SM) == 0) {
        rc = wb_c2s_sm_nonza(c, st);
    } else if (c->bound && strcmp(ns, WB_NS_CLIENT) != 0 &&
               wb_modules_nonza(c->w, c, st) == WB_MOD_HANDLED) {
        rc = WB_XML_CONTINUE; /* XEP-0352 <active/>, <inactive/> */
    } else if (c->sm.resuming) {
        rc = WB_SE_POLICY_VIOLATION; /* nothing may come before <resumed/> or <failed/> */
    } else if (!c->bound) {
        rc = wb_c2s_unbound_iq(c, st);
    } else {
        wb_c2s_sm_count_in(c);
        return wb_c2s_bound_stanza(c, st); /* takes st */
    }
    wb_stanza_free(st);
    return rc;
}
