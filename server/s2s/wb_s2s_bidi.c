/* wb_s2s_bidi: the table of which stream carries a (local, remote) pair: XEP-0288 bidirectional
 * streams, and outbound XEP-0220 piggybacking of several local domains on one stream. Not for
 * the stream negotiation itself (wb_s2s_in/out.c). */
#include "wb_s2s_int.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "wb_log.h"
#include "wb_router.h"

/* What an entry says about its pair. */
enum {
    WB_S2S_ENT_BIDI = 0, /* a bidirectional stream carries it back (XEP-0288) */
    WB_S2S_ENT_OWN,      /* an outbound stream of its own (conn 0: not opened yet) */
    WB_S2S_ENT_CARRIER,  /* ... authenticated with dialback: may carry our other domains */
    WB_S2S_ENT_PIGGY,    /* the carrier `conn` decides: piggybacked, being asked, or refused */
};

struct wb_s2s_bidi_ent {
    wb_s2s_pair pair; /* remote: the peer's domain; local: ours */
    int worker;
    uint64_t conn;
    bool in;  /* an inbound stream (it may ask the peer for more of our domains) */
    int kind; /* WB_S2S_ENT_* */
};

void wb_s2s_bidi_init(wb_s2s *s)
{
    pthread_mutex_init(&s->bidi_lock, NULL);
    s->bidi_ready = true;
}

void wb_s2s_bidi_free(wb_s2s *s)
{
    if (!s->bidi_ready)
        return;
    free(s->bidi);
    s->bidi = NULL;
    s->n_bidi = s->cap_bidi = 0;
    pthread_mutex_destroy(&s->bidi_lock);
    s->bidi_ready = false;
}

/* Index of the bidi (or, with bidi false, the outbound) entry for (local, remote), or -1; under
 * the lock. */
static long wb_s2s_bidi_find(const wb_s2s *s, const char *local, const char *remote, bool bidi)
{
    for (size_t i = 0; i < s->n_bidi; i++)
        if ((s->bidi[i].kind == WB_S2S_ENT_BIDI) == bidi &&
            strcmp(s->bidi[i].pair.local, local) == 0 &&
            strcmp(s->bidi[i].pair.remote, remote) == 0)
            return (long)i;
    return -1;
}

/* Entry i, or (i < 0) a new one for (local, remote) at the end; NULL when out of memory. Under
 * the lock: the pointer is valid until the next call. */
static struct wb_s2s_bidi_ent *wb_s2s_bidi_slot(wb_s2s *s, long i, const char *local,
                                                const char *remote)
{
    if (i >= 0)
        return &s->bidi[i];
    if (s->n_bidi == s->cap_bidi) {
        size_t cap = s->cap_bidi ? 2 * s->cap_bidi : 8;
        struct wb_s2s_bidi_ent *t = realloc(s->bidi, cap * sizeof(*t));
        if (!t)
            return NULL;
        s->bidi = t;
        s->cap_bidi = cap;
    }
    struct wb_s2s_bidi_ent *e = &s->bidi[s->n_bidi++];
    memset(e, 0, sizeof(*e));
    snprintf(e->pair.local, sizeof(e->pair.local), "%s", local);
    snprintf(e->pair.remote, sizeof(e->pair.remote), "%s", remote);
    return e;
}

bool wb_s2s_bidi_add(wb_s2s_conn *c, const char *local, const char *remote)
{
    wb_s2s *s = wb_s2s_of(c->w);
    if (!s->bidi_ready)
        return true; /* no table (federation off, or a fuzzer's server): nothing to record */
    pthread_mutex_lock(&s->bidi_lock);
    /* The newest stream for the pair wins: an older one is closing or idle. */
    struct wb_s2s_bidi_ent *e =
        wb_s2s_bidi_slot(s, wb_s2s_bidi_find(s, local, remote, true), local, remote);
    const bool ok = e != NULL;
    if (ok) {
        e->worker = c->w->idx;
        e->conn = c->id;
        e->in = c->dir == WB_S2S_IN;
        e->kind = WB_S2S_ENT_BIDI;
    }
    pthread_mutex_unlock(&s->bidi_lock);
    if (ok)
        wb_debug("s2s %llu: bidirectional: %s -> %s goes over this stream",
                 (unsigned long long)c->id, local, remote);
    return ok;
}

/* Our domain local's place on outbound carrier c, or NULL. */
static struct wb_s2s_mux *wb_s2s_mux_of(wb_s2s_conn *c, const char *local)
{
    for (int k = 0; k < c->n_mux; k++)
        if (strcmp(c->mux[k].local, local) == 0)
            return &c->mux[k];
    return NULL;
}

void wb_s2s_bidi_remove(wb_s2s_conn *c)
{
    wb_s2s *s = wb_s2s_of(c->w);
    if (c->dir == WB_S2S_VERIFY)
        return;
    /* Stanzas waiting for the peer to accept another of our domains take their own stream. */
    if (c->bidi && c->dir == WB_S2S_IN && (c->rev_local[0] || c->q_len))
        wb_s2s_bidi_flush(c, false);
    if (c->dir == WB_S2S_OUT && c->rev_local[0])
        wb_s2s_bidi_flush(c, false);
    c->carrier = false;
    if (!s->bidi_ready)
        return;
    pthread_mutex_lock(&s->bidi_lock);
    for (size_t i = 0; i < s->n_bidi;) {
        struct wb_s2s_bidi_ent *e = &s->bidi[i++];
        if (e->conn != c->id)
            continue;
        const struct wb_s2s_mux *x =
            e->kind == WB_S2S_ENT_PIGGY ? wb_s2s_mux_of(c, e->pair.local) : NULL;
        if (x && x->state == WB_S2S_MUX_REFUSED) {
            /* that domain has a stream of its own: it stays there (its order is kept) */
            e->kind = WB_S2S_ENT_OWN;
            e->worker = -1;
            e->conn = 0;
        } else {
            *e = s->bidi[--s->n_bidi];
            i--;
        }
    }
    pthread_mutex_unlock(&s->bidi_lock);
    for (int k = 0; k < c->n_mux; k++) {
        wb_s2s_reg_drop(s, c->mux[k].info);
        c->mux[k].info = NULL;
    }
    c->n_mux = 0;
}

/* The bidi stream of this worker (inbound, or outbound and ready) that authenticated remote for
 * local (local NULL: for any of our domains, inbound only), or NULL. */
static wb_s2s_conn *wb_s2s_bidi_conn(wb_worker *w, const char *local, const char *remote)
{
    for (wb_s2s_conn *c = wb_s2s_ws(w)->conns; c; c = c->next) {
        if (!c->bidi || c->closing || !c->bev || c->dir == WB_S2S_VERIFY ||
            (c->dir == WB_S2S_OUT && (!local || c->state != WB_S2S_READY)))
            continue;
        for (int i = 0; i < c->n_pairs; i++)
            if ((!local || strcmp(c->pairs[i].local, local) == 0) &&
                strcmp(c->pairs[i].remote, remote) == 0)
                return c;
    }
    return NULL;
}

/* Sends m (consumed) from our domain local on stream c, counting it on local's line. */
static void wb_s2s_bidi_write(wb_s2s_conn *c, wb_msg *m, const char *local)
{
    const struct wb_s2s_mux *x = c->dir == WB_S2S_OUT ? wb_s2s_mux_of(c, local) : NULL;
    wb_s2s_conn_send(c, m->bytes, m->bytes_len);
    if (x)
        wb_s2s_reg_count_info(x->info, true);
    else
        wb_s2s_reg_count(c, true);
    wb_s2s_conn_arm(c, wb_s2s_of(c->w)->conf->idle_timeout);
    wb_msg_unref(m);
}

void wb_s2s_bidi_flush(wb_s2s_conn *c, bool valid)
{
    struct wb_s2s_mux *x = c->dir == WB_S2S_OUT ? wb_s2s_mux_of(c, c->rev_local) : NULL;
    if (x) { /* piggybacking: the carrier remembers the answer while it lives */
        x->state = valid && !c->closing ? WB_S2S_MUX_OK : WB_S2S_MUX_REFUSED;
        if (x->state == WB_S2S_MUX_OK)
            x->info = wb_s2s_reg_add_mux(c, x->local);
    }
    size_t n = c->q_len, head = c->q_head, cap = c->q_cap;
    wb_msg **q = c->queue;
    c->queue = NULL;
    c->q_len = c->q_cap = c->q_head = 0;
    if (c->rev_ev)
        evtimer_del(c->rev_ev);
    if (c->rev_local[0])
        wb_debug("s2s %llu: %s -> %s over this stream: %s; %zu waiting", (unsigned long long)c->id,
                 c->rev_local, c->remote, valid ? "accepted" : "not accepted", n);
    c->rev_local[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        wb_msg *m = q[(head + i) % cap];
        if (valid && !c->closing) {
            wb_s2s_bidi_write(c, m, m->from.domain);
        } else {
            wb_s2s_route_direct(c->w, m); /* a stream of their own, or a bounce */
        }
    }
    free(q);
}

static void wb_s2s_bidi_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_s2s_bidi_flush(arg, false);
}

/* XEP-0288 3 and XEP-0220 target piggybacking: inbound bidi stream c authenticated m's remote
 * domain for another of our domains; ask the peer to accept m's sending domain too (db:result)
 * and keep m until it answers. False (m not consumed) when that cannot be done. */
static bool wb_s2s_bidi_ask(wb_s2s_conn *c, wb_msg *m)
{
    const wb_s2s *s = wb_s2s_of(c->w);
    const char *local = m->from.domain;
    if (c->rev_local[0])
        return strcmp(c->rev_local, local) == 0 && wb_s2s_enqueue(c, m) == 0;
    if (!wb_s2s_conf_dialback(s->conf, wb_s2s_host_of(c->w->srv, local)) ||
        (!c->rev_ev && !(c->rev_ev = evtimer_new(c->w->base, wb_s2s_bidi_timeout_cb, c))) ||
        wb_s2s_enqueue(c, m) < 0)
        return false;
    char key[WB_S2S_KEY_HEX];
    wb_s2s_dialback_key(s, m->to.domain, local, c->stream_id, key);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<db:result from='");
    wb_buf_xml_escape_str(&b, local);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, m->to.domain);
    wb_buf_printf(&b, "'>%s</db:result>", key);
    wb_s2s_conn_send(c, b.data, b.len);
    wb_buf_free(&b);
    snprintf(c->rev_local, sizeof(c->rev_local), "%s", local);
    struct timeval tv = {s->conf->bounce_timeout, 0};
    evtimer_add(c->rev_ev, &tv);
    wb_debug("s2s %llu: asking %s to accept %s on this stream", (unsigned long long)c->id,
             m->to.domain, local);
    return true;
}

/* On the stream's worker: sends m (consumed), or routes it the usual way when the stream has
 * gone meanwhile (a new outbound stream then carries it: nothing is lost). */
static void wb_s2s_bidi_send(wb_worker *w, wb_msg *m)
{
    wb_s2s_conn *c = wb_s2s_bidi_conn(w, m->from.domain, m->to.domain);
    if (!c) {
        c = wb_s2s_bidi_conn(w, NULL, m->to.domain);
        if (!c || !wb_s2s_bidi_ask(c, m))
            wb_s2s_route_direct(w, m);
        return;
    }
    wb_s2s_bidi_write(c, m, m->from.domain);
}

static void wb_s2s_bidi_call(wb_worker *w, wb_msg *m)
{
    wb_s2s_bidi_send(w, wb_msg_ref(m));
}

bool wb_s2s_bidi_route(wb_worker *w, wb_msg *m)
{
    wb_s2s *s = wb_s2s_of(w);
    int worker = -1;
    if (!s->bidi_ready || !s->conf->bidi)
        return false;
    pthread_mutex_lock(&s->bidi_lock);
    long i = s->n_bidi ? wb_s2s_bidi_find(s, m->from.domain, m->to.domain, true) : -1;
    if (i >= 0)
        worker = s->bidi[i].worker;
    for (size_t j = 0; i < 0 && worker < 0 && j < s->n_bidi; j++)
        if (s->bidi[j].in && s->bidi[j].kind == WB_S2S_ENT_BIDI &&
            strcmp(s->bidi[j].pair.remote, m->to.domain) == 0)
            worker = s->bidi[j].worker; /* the peer may accept this domain of ours too */
    pthread_mutex_unlock(&s->bidi_lock);
    if (worker < 0)
        return false;
    if (worker == w->idx) {
        wb_s2s_bidi_send(w, m);
        return true;
    }
    if (wb_worker_post_call(w->srv->workers[worker], wb_s2s_bidi_call, m) < 0)
        return false;
    wb_msg_unref(m);
    return true;
}

/* XEP-0220 piggybacking. The carrier for our domain local to remote on this worker: an
 * authenticated outbound stream of another of our domains that already knows local, else the
 * first one; NULL when none is left. */
static wb_s2s_conn *wb_s2s_mux_carrier_of(wb_worker *w, const char *local, const char *remote)
{
    wb_s2s_conn *first = NULL;
    for (wb_s2s_conn *c = wb_s2s_ws(w)->conns; c; c = c->next) {
        if (c->dir != WB_S2S_OUT || !c->carrier || c->closing || !c->bev ||
            c->state != WB_S2S_READY || strcmp(c->remote, remote) != 0 ||
            strcmp(c->local, local) == 0)
            continue;
        if (wb_s2s_mux_of(c, local))
            return c;
        if (!first)
            first = c;
    }
    return first;
}

/* On the carrier's worker: sends m (consumed) when the peer accepted its domain on the carrier,
 * keeps it while the peer is asked (the first stanza asks), else hands it to a stream of its
 * own; the carrier remembers a refusal, so all of the domain's stanzas keep one path. */
static void wb_s2s_mux_send(wb_worker *w, wb_msg *m)
{
    const char *local = m->from.domain;
    wb_s2s_conn *c = wb_s2s_mux_carrier_of(w, local, m->to.domain);
    struct wb_s2s_mux *x = c ? wb_s2s_mux_of(c, local) : NULL;
    if (c && !x && c->n_mux < WB_S2S_MAX_PAIRS) {
        x = &c->mux[c->n_mux++];
        snprintf(x->local, sizeof(x->local), "%s", local);
        x->info = NULL;
        x->state = WB_S2S_MUX_ASKED;
        if (!c->rev_local[0] && wb_s2s_bidi_ask(c, m))
            return;
        x->state = WB_S2S_MUX_REFUSED; /* one domain is asked at a time: this one goes alone */
    }
    if (x && x->state == WB_S2S_MUX_OK) {
        wb_s2s_bidi_write(c, m, local);
        return;
    }
    if (x && x->state == WB_S2S_MUX_ASKED) {
        if (wb_s2s_enqueue(c, m) < 0) {
            wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT,
                           "Too many stanzas queued for this domain");
            wb_msg_unref(m);
        }
        return;
    }
    wb_s2s_route_direct(w, m);
}

static void wb_s2s_mux_call(wb_worker *w, wb_msg *m)
{
    wb_s2s_mux_send(w, wb_msg_ref(m));
}

bool wb_s2s_mux_route(wb_worker *w, wb_msg *m)
{
    wb_s2s *s = wb_s2s_of(w);
    const char *local = m->from.domain, *remote = m->to.domain;
    if (!s->bidi_ready)
        return false;
    /* Only with dialback allowed for the sender's host (and no certificate or TLS 1.3 demand). */
    const char *host = wb_s2s_host_of(w->srv, local);
    const bool may = wb_s2s_conf_dialback(s->conf, host) &&
                     !wb_s2s_conf_cert_required(s->conf, host, remote) &&
                     !wb_s2s_conf_tls13_required(s->conf, host, remote);
    int worker = -1;
    uint64_t conn = 0;
    pthread_mutex_lock(&s->bidi_lock);
    long i = wb_s2s_bidi_find(s, local, remote, false);
    if (i >= 0 && s->bidi[i].kind == WB_S2S_ENT_PIGGY)
        worker = s->bidi[i].worker;
    for (size_t j = 0; i < 0 && may && worker < 0 && j < s->n_bidi; j++)
        if (s->bidi[j].kind == WB_S2S_ENT_CARRIER && strcmp(s->bidi[j].pair.remote, remote) == 0) {
            worker = s->bidi[j].worker;
            conn = s->bidi[j].conn;
        }
    if (i < 0) {
        /* Decided once for the pair, so that its stanzas keep one path and their order. */
        struct wb_s2s_bidi_ent *e = wb_s2s_bidi_slot(s, -1, local, remote);
        if (e) {
            e->kind = worker >= 0 ? WB_S2S_ENT_PIGGY : WB_S2S_ENT_OWN;
            e->worker = worker;
            e->conn = conn;
        } else {
            worker = -1;
        }
    }
    pthread_mutex_unlock(&s->bidi_lock);
    if (worker < 0)
        return false;
    if (worker == w->idx) {
        wb_s2s_mux_send(w, m);
        return true;
    }
    if (wb_worker_post_call(w->srv->workers[worker], wb_s2s_mux_call, m) < 0)
        return false;
    wb_msg_unref(m);
    return true;
}

/* Records outbound stream c for its pair as `kind` unless the pair is piggybacked (or c is
 * already recorded as a carrier); true when recorded. */
static bool wb_s2s_mux_record(wb_s2s_conn *c, int kind)
{
    wb_s2s *s = wb_s2s_of(c->w);
    bool done = false;
    if (!s->bidi_ready)
        return false;
    pthread_mutex_lock(&s->bidi_lock);
    long i = wb_s2s_bidi_find(s, c->local, c->remote, false);
    const struct wb_s2s_bidi_ent *old = i >= 0 ? &s->bidi[i] : NULL;
    if (!old || (old->kind == WB_S2S_ENT_OWN && (old->conn != c->id || kind != old->kind)) ||
        (old->kind == WB_S2S_ENT_CARRIER && old->conn != c->id)) {
        struct wb_s2s_bidi_ent *e = wb_s2s_bidi_slot(s, i, c->local, c->remote);
        if (e) {
            e->kind = kind;
            e->worker = c->w->idx;
            e->conn = c->id;
            done = true;
        }
    }
    pthread_mutex_unlock(&s->bidi_lock);
    return done;
}

void wb_s2s_mux_own(wb_s2s_conn *c)
{
    wb_s2s_mux_record(c, WB_S2S_ENT_OWN);
}

void wb_s2s_mux_carrier(wb_s2s_conn *c)
{
    c->carrier = wb_s2s_mux_record(c, WB_S2S_ENT_CARRIER);
}

void wb_s2s_mux_answer(wb_s2s_conn *c, const wb_stanza *st)
{
    char remote[WB_S2S_DOMAIN_MAX], local[WB_S2S_DOMAIN_MAX];
    const char *from = wb_st_attr(st, 0, "from"), *to = wb_st_attr(st, 0, "to");
    const char *type = wb_st_attr(st, 0, "type");
    if (!c->rev_local[0] || !from || !to || !type ||
        wb_jid_prep_domain(remote, from, strlen(from)) < 0 ||
        wb_jid_prep_domain(local, to, strlen(to)) < 0 || strcmp(remote, c->remote) != 0 ||
        strcmp(local, c->rev_local) != 0)
        return; /* an answer we did not ask for proves nothing */
    const bool valid = strcmp(type, "valid") == 0;
    if (valid)
        wb_info("s2s %llu: outbound %s -> %s authenticated (dialback, piggybacked on the stream "
                "of %s, %s); %zu queued",
                (unsigned long long)c->id, local, remote, c->local, c->peer, c->q_len);
    else
        wb_info("s2s %llu: %s refused %s on the stream of %s (%s); it takes a stream of its own",
                (unsigned long long)c->id, remote, local, c->local, type);
    wb_s2s_audit(c, remote, local, valid, valid ? c->auth : "piggybacked dialback refused");
    wb_s2s_bidi_flush(c, valid);
}
