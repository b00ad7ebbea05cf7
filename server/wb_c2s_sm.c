/* XEP-0198 stream management for client streams: <enable/>, acks both ways, the queue of
 * unacknowledged stanzas, hibernation, resumption across workers and re-routing at the end.
 * Stream-level (nonzas and counters of the c2s stream), so it lives beside wb_c2s.c, not in a
 * module.
 *
 * Resumption across workers moves the session's state, never the connection. A bufferevent
 * (and the OpenSSL one above all, whose BIO may wrap another bufferevent after STARTTLS) belongs
 * to its worker's event_base for good, so the new connection stays where it was accepted. Its
 * worker N posts a takeover request to the owner O of the old session (the directory says which
 * worker holds that session id among the account's resources); O checks the request
 * (token, account), copies the state (JID, presence, flags, directed presence, counters, the
 * unacknowledged queue) into a connection-less wb_c2s, posts it to N, then points the directory
 * at N. The old wb_c2s on O stays a few seconds as a forwarding stub: deliveries that were
 * already on their way to O (mailbox, database answers) follow the session to N. N's new stream
 * adopts the state and the session id; if it is gone meanwhile, the state hibernates on N. */
#include "wb_c2s_int.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "wb_log.h"
#include "wb_router.h"
#include "wb_xmpp_model.h"

#define WB_SM_ACK_DELAY 1 /* seconds before a stanza not yet covered by <r/> gets one */

/* ---- counters and ids (wb_c2s_sm.h) ---- */

uint32_t wb_sm_unacked(uint32_t sent, uint32_t acked)
{
    return sent - acked; /* unsigned arithmetic is mod 2^32 */
}

int wb_sm_ack(uint32_t acked, uint32_t sent, uint32_t h, uint32_t *newly)
{
    const uint32_t n = h - acked;
    if (n > wb_sm_unacked(sent, acked))
        return -1;
    *newly = n;
    return 0;
}

int wb_sm_parse_h(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    if (!s || !s[0])
        return -1;
    for (; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int wb_sm_format_id(char *out, size_t size, uint64_t sid,
                    const unsigned char token[WB_SM_TOKEN_LEN])
{
    int n = snprintf(out, size, "%llu-", (unsigned long long)sid);
    if (n < 0 || (size_t)n + 2 * WB_SM_TOKEN_LEN + 1 > size)
        return -1;
    for (size_t i = 0; i < WB_SM_TOKEN_LEN; i++)
        n += snprintf(out + n, size - (size_t)n, "%02x", token[i]);
    return 0;
}

static int wb_sm_hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

int wb_sm_parse_id(const char *s, uint64_t *sid, unsigned char token[WB_SM_TOKEN_LEN])
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9' && p - s < 19; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (p == s || *p++ != '-' || strlen(p) != 2 * WB_SM_TOKEN_LEN)
        return -1;
    for (size_t i = 0; i < WB_SM_TOKEN_LEN; i++) {
        int hi = wb_sm_hex(p[2 * i]), lo = wb_sm_hex(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        token[i] = (unsigned char)(hi << 4 | lo);
    }
    *sid = v;
    return 0;
}

/* ---- the queue of unacknowledged stanzas ---- */

static int wb_sm_push(wb_c2s_sm *sm, const wb_msg *m)
{
    if (sm->q_len == sm->q_cap) {
        size_t cap = sm->q_cap ? sm->q_cap * 2 : 16;
        wb_c2s_sm_item *q = malloc(cap * sizeof(*q));
        if (!q)
            return -1;
        for (size_t i = 0; i < sm->q_len; i++)
            q[i] = sm->q[(sm->q_head + i) % sm->q_cap];
        free(sm->q);
        sm->q = q;
        sm->q_cap = cap;
        sm->q_head = 0;
    }
    wb_c2s_sm_item *it = &sm->q[(sm->q_head + sm->q_len) % sm->q_cap];
    it->m = wb_msg_ref((wb_msg *)m); /* the model is immutable: only its count changes */
    it->queued = time(NULL);
    sm->q_len++;
    return 0;
}

static const wb_c2s_sm_item *wb_sm_at(const wb_c2s_sm *sm, size_t i)
{
    return &sm->q[(sm->q_head + i) % sm->q_cap];
}

/* Removes the oldest stanza; returns its reference. */
static wb_msg *wb_sm_pop(wb_c2s_sm *sm)
{
    wb_msg *m = sm->q[sm->q_head].m;
    sm->q_head = (sm->q_head + 1) % sm->q_cap;
    sm->q_len--;
    return m;
}

static void wb_sm_trim(wb_c2s_sm *sm, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        wb_msg_unref(wb_sm_pop(sm));
    sm->acked += n;
}

void wb_c2s_sm_free(wb_c2s *c)
{
    while (c->sm.q_len)
        wb_msg_unref(wb_sm_pop(&c->sm));
    free(c->sm.q);
    c->sm.q = NULL;
    c->sm.q_cap = 0;
    if (c->sm.ack_timer)
        event_free(c->sm.ack_timer);
    c->sm.ack_timer = NULL;
}

/* ---- acks ---- */

static void wb_sm_request(wb_c2s *c)
{
    wb_c2s_send_str(c, "<r xmlns='" WB_NS_SM "'/>");
    c->sm.requested = c->sm.h_out;
}

static void wb_sm_ack_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_c2s *c = arg;
    if (c->bev && !c->closing && c->sm.q_len && c->sm.requested != c->sm.h_out)
        wb_sm_request(c);
}

void wb_c2s_sm_pause(wb_c2s *c)
{
    if (c->sm.ack_timer)
        evtimer_del(c->sm.ack_timer);
}

void wb_c2s_sm_count_in(wb_c2s *c)
{
    if (c->sm.enabled)
        c->sm.h_in++;
}

bool wb_c2s_sm_deliver(wb_c2s *c, const wb_msg *m)
{
    if (wb_sm_push(&c->sm, m) < 0) {
        wb_c2s_close(c, WB_SE_INTERNAL_SERVER_ERROR, NULL);
        return false;
    }
    c->sm.h_out++;
    if (c->sm.q_len > c->w->srv->cfg->sm_max_queue) {
        /* Kept all the same: the end of the session re-routes the whole queue. */
        if (c->sm.hibernating)
            wb_c2s_arm_timer(c, 0);
        else
            wb_c2s_close(c, WB_SE_RESOURCE_CONSTRAINT, "Too many unacknowledged stanzas");
        return true;
    }
    if (c->closing || c->sm.hibernating || !c->bev)
        return true; /* kept for the resumption, or re-routed when the session ends */
    wb_c2s_send(c, m->bytes, m->bytes_len);
    if (c->closing)
        return true;
    if (wb_sm_unacked(c->sm.h_out, c->sm.requested) >= (uint32_t)c->w->srv->cfg->sm_ack_every)
        wb_sm_request(c);
    else if (c->sm.ack_timer && !evtimer_pending(c->sm.ack_timer, NULL)) {
        struct timeval tv = {WB_SM_ACK_DELAY, 0};
        evtimer_add(c->sm.ack_timer, &tv);
    }
    return true;
}

/* ---- the end of a session: unacknowledged stanzas go elsewhere, once ---- */

static wb_msg_type wb_sm_message_type(const char *type)
{
    if (!type || strcmp(type, "normal") == 0)
        return WB_MT_NORMAL;
    if (strcmp(type, "chat") == 0)
        return WB_MT_CHAT;
    return WB_T_ERROR; /* not re-routed */
}

/* A message as the router needs it (parsed, with from and to): the delivered one when it is, or
 * one rebuilt from its bytes (stanzas written from offline storage have neither). */
static wb_msg *wb_sm_routable(const wb_c2s *c, wb_msg *m)
{
    if (m->xml && m->has_from && m->has_to)
        return wb_msg_ref(m);
    wb_stanza *st = wb_stanza_parse(m->bytes, m->bytes_len);
    if (!st)
        return NULL;
    const char *from = wb_st_attr(st, 0, "from");
    wb_msg_type type = wb_sm_message_type(wb_st_attr(st, 0, "type"));
    wb_jid fj, to = c->jid;
    to.resource[0] = '\0';
    wb_msg *r = NULL;
    if (from && type != WB_T_ERROR && wb_jid_parse(&fj, from, strlen(from)) == 0)
        r = wb_xmpp_msg_from_text(WB_MSG_MESSAGE, type, &fj, &to, m->bytes, m->bytes_len);
    if (r && !r->xml) {
        r->xml = st;
        st = NULL;
    }
    if (st)
        wb_stanza_free(st);
    return r;
}

/* Whether a message sent to the bare JID also reached another resource: one that is available
 * with at least this session's priority got it too (RFC 6121 8.5.2.1.1), so it is not sent again;
 * otherwise it goes to the best remaining resources or offline storage. */
static bool wb_sm_delivered_elsewhere(const wb_c2s *c)
{
    wb_dir_target t[WB_ROUTE_MAX_TARGETS];
    const int mine = c->priority > 0 ? c->priority : 0;
    size_t n = wb_directory_lookup(c->w->srv->dir, &c->jid, t, WB_ROUTE_MAX_TARGETS);
    for (size_t i = 0; i < n; i++)
        if (t[i].sid != c->id && t[i].available && t[i].priority >= mine)
            return true;
    return false;
}

/* RFC 6121 section 8 for a stanza the client never acknowledged: chat and normal messages go to
 * the account's other resources or offline storage, requests get an error, the rest is dropped
 * (presence, results, errors, groupchat, headline, and what the server sent on the account's
 * behalf: carbons and archive results, which come from the bare JID). */
static void wb_sm_reroute_one(wb_c2s *c, wb_msg *m)
{
    if (m->kind == WB_MSG_IQ) {
        if (m->type == WB_IT_GET || m->type == WB_IT_SET)
            wb_route_error(c->w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    if (m->kind != WB_MSG_MESSAGE || (m->xml && m->type != WB_MT_NORMAL && m->type != WB_MT_CHAT))
        return;
    wb_msg *r = wb_sm_routable(c, m);
    if (!r)
        return;
    /* A rebuilt message came from offline storage to this session only: never a duplicate. */
    const bool to_bare = r == m && !wb_jid_has_resource(&r->to);
    if (!wb_jid_has_node(&r->to) ||
        (wb_jid_bare_eq(&r->from, &c->jid) && !wb_jid_has_resource(&r->from)) ||
        (to_bare && wb_sm_delivered_elsewhere(c))) {
        wb_msg_unref(r);
        return;
    }
    wb_route_local(c->w, r);
}

void wb_c2s_sm_reroute(wb_c2s *c)
{
    if (c->sm.q_len && c->w->stopping)
        c->w->stop_drain = true;
    if (c->sm.q_len)
        wb_info("c2s %llu: re-routing %zu unacknowledged stanzas", (unsigned long long)c->id,
                c->sm.q_len);
    while (c->sm.q_len) {
        wb_msg *m = wb_sm_pop(&c->sm);
        wb_sm_reroute_one(c, m);
        wb_msg_unref(m);
    }
}

/* ---- nonzas ---- */

static void wb_sm_failed(wb_c2s *c, const char *cond)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b,
                  "<failed xmlns='" WB_NS_SM "'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                  "</failed>",
                  cond);
    wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
}

static int wb_sm_enable(wb_c2s *c, const wb_stanza *st)
{
    if (!c->bound || c->sm.enabled) {
        wb_sm_failed(c, "unexpected-request");
        return WB_XML_CONTINUE;
    }
    const wb_config *cfg = c->w->srv->cfg;
    const char *resume = wb_st_attr(st, 0, "resume"), *max = wb_st_attr(st, 0, "max");
    uint32_t want = 0;
    c->sm.ack_timer = evtimer_new(c->w->base, wb_sm_ack_timer_cb, c);
    if (!c->sm.ack_timer)
        return WB_SE_INTERNAL_SERVER_ERROR;
    c->sm.enabled = true;
    c->sm.resumable = resume && (strcmp(resume, "true") == 0 || strcmp(resume, "1") == 0);
    c->sm.resume_timeout = cfg->sm_resume_timeout;
    if (max && wb_sm_parse_h(max, &want) == 0 && want > 0 &&
        want < (uint32_t)cfg->sm_resume_timeout)
        c->sm.resume_timeout = (int)want;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<enabled xmlns='" WB_NS_SM "'");
    if (c->sm.resumable) {
        char id[WB_SM_ID_MAX];
        RAND_bytes(c->sm.token, sizeof(c->sm.token));
        wb_sm_format_id(id, sizeof(id), c->id, c->sm.token);
        wb_buf_printf(&b, " id='%s' resume='true' max='%d'", id, c->sm.resume_timeout);
    }
    wb_buf_puts(&b, "/>");
    wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
    wb_debug("c2s %llu: stream management on%s", (unsigned long long)c->id,
             c->sm.resumable ? ", resumable" : "");
    return WB_XML_CONTINUE;
}

static int wb_sm_on_ack(wb_c2s *c, const wb_stanza *st)
{
    uint32_t h, n;
    if (wb_sm_parse_h(wb_st_attr(st, 0, "h"), &h) < 0)
        return WB_SE_INVALID_XML;
    if (wb_sm_ack(c->sm.acked, c->sm.h_out, h, &n) < 0) {
        wb_c2s_close(c, WB_SE_UNDEFINED_CONDITION, "Acknowledged more stanzas than were sent");
        return WB_XML_CONTINUE;
    }
    wb_sm_trim(&c->sm, n);
    return WB_XML_CONTINUE;
}

/* The worker holding session sid of the stream's own account (so another account's id is
 * unknown here), or -1. */
static int wb_sm_owner(const wb_c2s *c, uint64_t sid)
{
    wb_dir_target t[WB_ROUTE_MAX_TARGETS];
    wb_jid bare;
    memset(&bare, 0, sizeof(bare));
    snprintf(bare.node, sizeof(bare.node), "%s", c->node);
    snprintf(bare.domain, sizeof(bare.domain), "%s", c->domain);
    size_t n = wb_directory_lookup(c->w->srv->dir, &bare, t, WB_ROUTE_MAX_TARGETS);
    for (size_t i = 0; i < n; i++)
        if (t[i].sid == sid)
            return t[i].worker;
    return -1;
}

static int wb_sm_resume(wb_c2s *c, const wb_stanza *st)
{
    const char *previd = wb_st_attr(st, 0, "previd");
    wb_sm_takeover rq;
    int worker = -1;
    memset(&rq, 0, sizeof(rq));
    if (c->bound || c->sm.enabled || c->sm.resuming) {
        wb_sm_failed(c, "unexpected-request");
        return WB_XML_CONTINUE;
    }
    if (wb_sm_parse_h(wb_st_attr(st, 0, "h"), &c->sm.resume_h) < 0) {
        wb_sm_failed(c, "bad-request");
        return WB_XML_CONTINUE;
    }
    if (previd && wb_sm_parse_id(previd, &rq.sid, rq.token) == 0)
        worker = wb_sm_owner(c, rq.sid);
    if (worker < 0 || worker >= c->w->srv->n_workers) {
        wb_sm_failed(c, "item-not-found");
        return WB_XML_CONTINUE;
    }
    rq.new_sid = c->id;
    rq.new_worker = c->w->idx;
    snprintf(rq.node, sizeof(rq.node), "%s", c->node);
    snprintf(rq.domain, sizeof(rq.domain), "%s", c->domain);
    if (wb_worker_post_sm_takeover(c->w->srv->workers[worker], &rq) < 0)
        return WB_SE_INTERNAL_SERVER_ERROR;
    /* Nothing more is read until the state arrives (the read loop stops on `resuming`). */
    c->sm.resuming = true;
    bufferevent_disable(c->bev, EV_READ);
    return WB_XML_CONTINUE;
}

int wb_c2s_sm_nonza(wb_c2s *c, const wb_stanza *st)
{
    const char *name = wb_st_name(st, 0);
    if (strcmp(name, "enable") == 0)
        return wb_sm_enable(c, st);
    if (strcmp(name, "resume") == 0)
        return wb_sm_resume(c, st);
    if (!c->sm.enabled)
        return WB_SE_UNSUPPORTED_STANZA_TYPE;
    if (strcmp(name, "r") == 0) {
        char a[64];
        snprintf(a, sizeof(a), "<a xmlns='" WB_NS_SM "' h='%u'/>", c->sm.h_in);
        wb_c2s_send_str(c, a);
        return WB_XML_CONTINUE;
    }
    if (strcmp(name, "a") == 0)
        return wb_sm_on_ack(c, st);
    return WB_SE_UNSUPPORTED_STANZA_TYPE;
}

/* ---- resumption: the owner's side ---- */

static bool wb_sm_may_take(const wb_c2s *s, const wb_sm_takeover *rq)
{
    return s->bound && s->sm.resumable && !s->sm.moved && !s->closing &&
           CRYPTO_memcmp(s->sm.token, rq->token, WB_SM_TOKEN_LEN) == 0 &&
           strcmp(s->node, rq->node) == 0 && strcmp(s->domain, rq->domain) == 0;
}

/* Moves the session's state out of s into a new connection-less wb_c2s; s becomes a stub. */
static wb_c2s *wb_sm_detach(wb_c2s *s, int to)
{
    wb_c2s *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->id = s->id;
    st->lis = s->lis;
    memcpy(st->peer, s->peer, sizeof(st->peer));
    st->authed = st->bound = true;
    st->available = s->available;
    st->priority = s->priority;
    st->flags = s->flags;
    memcpy(st->domain, s->domain, sizeof(st->domain));
    memcpy(st->node, s->node, sizeof(st->node));
    st->jid = s->jid;
    st->directed = s->directed;
    st->n_directed = s->n_directed;
    st->cap_directed = s->cap_directed;
    s->directed = NULL;
    s->n_directed = s->cap_directed = 0;
    st->sm = s->sm;
    st->sm.ack_timer = NULL;
    st->sm.hibernating = false;
    s->sm.q = NULL;
    s->sm.q_len = s->sm.q_cap = s->sm.q_head = 0;
    s->sm.moved = true;
    s->sm.moved_to = to;
    wb_c2s_sm_pause(s);
    return st;
}

/* A state with no stream to take it hibernates on w (directory already pointing here). */
static void wb_sm_hibernate_state(wb_worker *w, wb_c2s *st)
{
    if (wb_c2s_attach(w, st) < 0) {
        wb_c2s_free(st); /* ends it: unbinds and re-routes the queue */
        return;
    }
    st->sm.hibernating = true;
    wb_c2s_arm_timer(st, w->stopping ? 0 : st->sm.resume_timeout);
}

void wb_c2s_sm_takeover(wb_worker *w, const wb_sm_takeover *rq)
{
    wb_c2s *s = wb_worker_session(w, rq->sid), *st = NULL;
    /* Moved on already (the directory was not yet updated): the request follows it. */
    if (s && s->sm.moved && wb_worker_post_sm_takeover(w->srv->workers[s->sm.moved_to], rq) == 0)
        return;
    if (s && wb_sm_may_take(s, rq))
        st = wb_sm_detach(s, rq->new_worker);
    if (wb_worker_post_sm_handoff(w->srv->workers[rq->new_worker], rq->new_sid, st) < 0) {
        if (st) {
            s->sm.moved = false; /* keep it here: the stub ends silently, the state hibernates */
            s->bound = false;
            wb_sm_hibernate_state(w, st);
            wb_c2s_close(s, WB_SE_INTERNAL_SERVER_ERROR, NULL);
        }
        return;
    }
    if (!st)
        return;
    /* After the post: whatever reaches the new worker directly comes after the state. */
    wb_directory_move(w->srv->dir, &s->jid, s->id, rq->new_worker);
    wb_info("c2s %llu: session handed over from worker %d to worker %d for resumption",
            (unsigned long long)s->id, w->idx, rq->new_worker);
    if (s->sm.hibernating) {
        s->sm.hibernating = false;
        s->sm.lingering = true;
        wb_c2s_arm_timer(s, WB_C2S_MOVED_LINGER);
    } else {
        wb_c2s_close(s, WB_SE_CONFLICT, "Replaced by new connection");
    }
}

/* ---- resumption: the new stream's side ---- */

static void wb_sm_resend(wb_c2s *c, const wb_c2s_sm_item *it)
{
    static const char tail[] = "</message>";
    const size_t tl = sizeof(tail) - 1;
    const wb_msg *m = it->m;
    if (m->kind != WB_MSG_MESSAGE || m->bytes_len <= tl ||
        memcmp(m->bytes + m->bytes_len - tl, tail, tl) != 0 ||
        memmem(m->bytes, m->bytes_len, "urn:xmpp:delay", 14)) {
        wb_c2s_send(c, m->bytes, m->bytes_len);
        return;
    }
    char stamp[32];
    struct tm tm;
    gmtime_r(&it->queued, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_append(&b, m->bytes, m->bytes_len - tl);
    wb_buf_puts(&b, "<delay xmlns='urn:xmpp:delay' from='");
    wb_buf_xml_escape_str(&b, c->domain);
    wb_buf_printf(&b, "' stamp='%s'/>%s", stamp, tail);
    if (!b.failed)
        wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
}

/* The resuming stream c takes the session state st over (XEP-0198 section 5). */
static void wb_sm_adopt(wb_c2s *c, wb_c2s *st)
{
    const uint32_t h = c->sm.resume_h;
    wb_c2s_set_id(c, st->id);
    c->jid = st->jid;
    c->bound = true;
    c->available = st->available;
    c->priority = st->priority;
    c->flags = st->flags;
    free(c->directed);
    c->directed = st->directed;
    c->n_directed = st->n_directed;
    c->cap_directed = st->cap_directed;
    c->sm = st->sm;
    c->sm.resuming = c->sm.hibernating = c->sm.moved = c->sm.lingering = false;
    c->sm.ack_timer = evtimer_new(c->w->base, wb_sm_ack_timer_cb, c);
    free(st);
    char full[WB_JID_MAX + 1], id[WB_SM_ID_MAX], hdr[WB_SM_ID_MAX + 96];
    wb_jid_full(&c->jid, full, sizeof(full));
    uint32_t n;
    if (!c->sm.ack_timer || wb_sm_ack(c->sm.acked, c->sm.h_out, h, &n) < 0) {
        wb_c2s_close(c, c->sm.ack_timer ? WB_SE_UNDEFINED_CONDITION : WB_SE_INTERNAL_SERVER_ERROR,
                     "Acknowledged more stanzas than were sent");
        return;
    }
    wb_sm_trim(&c->sm, n);
    wb_sm_format_id(id, sizeof(id), c->id, c->sm.token); /* the same id: XEP-0198 5 */
    snprintf(hdr, sizeof(hdr), "<resumed xmlns='" WB_NS_SM "' h='%u' previd='%s'/>", c->sm.h_in,
             id);
    wb_c2s_send_str(c, hdr);
    for (size_t i = 0; i < c->sm.q_len && !c->closing; i++)
        wb_sm_resend(c, wb_sm_at(&c->sm, i));
    if (c->sm.q_len && !c->closing)
        wb_sm_request(c);
    wb_info("c2s %llu: %s resumed, %zu stanzas resent", (unsigned long long)c->id, full,
            c->sm.q_len);
    wb_c2s_resume_reading(c);
}

void wb_c2s_sm_handoff(wb_worker *w, uint64_t sid, wb_c2s *st)
{
    wb_c2s *c = wb_worker_session(w, sid);
    const bool waiting = c && c->sm.resuming && !c->closing && c->bev;
    if (!st) {
        if (waiting) {
            c->sm.resuming = false;
            wb_sm_failed(c, "item-not-found");
            wb_c2s_resume_reading(c);
        }
        return;
    }
    if (waiting)
        wb_sm_adopt(c, st);
    else
        wb_sm_hibernate_state(w, st);
}

void wb_c2s_sm_discard(wb_c2s *st)
{
    wb_c2s_sm_free(st);
    free(st->directed);
    free(st);
}
