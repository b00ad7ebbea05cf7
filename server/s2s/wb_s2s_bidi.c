/* wb_s2s_bidi: XEP-0288 routing: which inbound bidirectional stream (worker, stream id) may carry
 * stanzas from a local domain back to a remote one. Not for the negotiation (wb_s2s_in/out.c). */
#include "wb_s2s_int.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "wb_log.h"
#include "wb_router.h"

struct wb_s2s_bidi_ent {
    wb_s2s_pair pair; /* remote: the peer's domain; local: ours */
    int worker;
    uint64_t conn;
    bool in; /* an inbound stream (it may ask the peer for more of our domains) */
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

/* Index of the entry for (local, remote), or -1; under the lock. */
static long wb_s2s_bidi_find(const wb_s2s *s, const char *local, const char *remote)
{
    for (size_t i = 0; i < s->n_bidi; i++)
        if (strcmp(s->bidi[i].pair.local, local) == 0 &&
            strcmp(s->bidi[i].pair.remote, remote) == 0)
            return (long)i;
    return -1;
}

bool wb_s2s_bidi_add(wb_s2s_conn *c, const char *local, const char *remote)
{
    wb_s2s *s = wb_s2s_of(c->w);
    bool ok = true;
    if (!s->bidi_ready)
        return true; /* no table (federation off, or a fuzzer's server): nothing to record */
    pthread_mutex_lock(&s->bidi_lock);
    long i = wb_s2s_bidi_find(s, local, remote);
    if (i < 0 && s->n_bidi == s->cap_bidi) {
        size_t cap = s->cap_bidi ? 2 * s->cap_bidi : 8;
        struct wb_s2s_bidi_ent *t = realloc(s->bidi, cap * sizeof(*t));
        ok = t != NULL;
        if (ok) {
            s->bidi = t;
            s->cap_bidi = cap;
        }
    }
    if (ok) {
        /* The newest stream for the pair wins: an older one is closing or idle. */
        struct wb_s2s_bidi_ent *e = &s->bidi[i < 0 ? (long)s->n_bidi++ : i];
        snprintf(e->pair.local, sizeof(e->pair.local), "%s", local);
        snprintf(e->pair.remote, sizeof(e->pair.remote), "%s", remote);
        e->worker = c->w->idx;
        e->conn = c->id;
        e->in = c->dir == WB_S2S_IN;
    }
    pthread_mutex_unlock(&s->bidi_lock);
    if (ok)
        wb_debug("s2s %llu: bidirectional: %s -> %s goes over this stream",
                 (unsigned long long)c->id, local, remote);
    return ok;
}

void wb_s2s_bidi_remove(wb_s2s_conn *c)
{
    wb_s2s *s = wb_s2s_of(c->w);
    if (!c->bidi || c->dir == WB_S2S_VERIFY)
        return;
    if (c->dir == WB_S2S_IN && (c->rev_local[0] || c->q_len))
        wb_s2s_bidi_flush(c, false);
    if (!s->bidi_ready)
        return;
    pthread_mutex_lock(&s->bidi_lock);
    for (size_t i = 0; i < s->n_bidi;) {
        if (s->bidi[i].conn == c->id)
            s->bidi[i] = s->bidi[--s->n_bidi];
        else
            i++;
    }
    pthread_mutex_unlock(&s->bidi_lock);
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

void wb_s2s_bidi_flush(wb_s2s_conn *c, bool valid)
{
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
            wb_s2s_conn_send(c, m->bytes, m->bytes_len);
            wb_s2s_reg_count(c, true);
            wb_msg_unref(m);
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
    wb_s2s_conn_send(c, m->bytes, m->bytes_len);
    wb_s2s_reg_count(c, true);
    wb_s2s_conn_arm(c, wb_s2s_of(w)->conf->idle_timeout);
    wb_msg_unref(m);
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
    long i = s->n_bidi ? wb_s2s_bidi_find(s, m->from.domain, m->to.domain) : -1;
    if (i >= 0)
        worker = s->bidi[i].worker;
    for (size_t j = 0; i < 0 && worker < 0 && j < s->n_bidi; j++)
        if (s->bidi[j].in && strcmp(s->bidi[j].pair.remote, m->to.domain) == 0)
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
