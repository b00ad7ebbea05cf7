/* XEP-0352 client state indication: while a client says it is inactive, presence updates, chat
 * states and PEP notifications for it are held and coalesced, and flushed (in their order) before
 * anything urgent or on <active/>. Not for stream management (held stanzas count when written). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_modules.h"
#include "wb_push_conf.h"
#include "wb_xml.h"

#define WB_NS_CSI        "urn:xmpp:csi:0"
#define WB_NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define WB_NS_PUBSUB_EV  "http://jabber.org/protocol/pubsub#event"
#define WB_NS_MUC_USER   "http://jabber.org/protocol/muc#user"
#define WB_CSI_BUCKETS   256

/* What a stanza is to an inactive client. */
typedef enum {
    WB_CSI_URGENT = 0, /* flush everything held, then write it */
    WB_CSI_PRESENCE,   /* held; only the latest per sender's full JID */
    WB_CSI_CHATSTATE,  /* held; only the latest per sender's full JID */
    WB_CSI_PEP,        /* held as is */
} wb_csi_class;

typedef struct wb_csi_item {
    wb_msg *m; /* referenced */
    wb_csi_class cls;
} wb_csi_item;

/* The stanzas held for one session (by id: the session may move to another worker when it is
 * resumed, and its held stanzas follow it there). */
typedef struct wb_csi_held {
    struct wb_csi_held *next;
    uint64_t sid;
    wb_jid jid; /* the session's full JID (a newer session of that JID drops stale entries) */
    /* The stream that said it is inactive (compared, never followed): a resumed session lives
     * in another wb_c2s and starts active (XEP-0352 5.2: the state is not restored). */
    uintptr_t conn;
    wb_csi_item *items;
    size_t n, cap;
} wb_csi_held;

typedef struct wb_csi_state {
    pthread_mutex_t lock;
    wb_csi_held *buckets[WB_CSI_BUCKETS];
} wb_csi_state;

extern const wb_module wb_mod_csi;

static wb_csi_state *wb_csi_state_of(const wb_worker *w)
{
    return wb_modules_state(w->srv, &wb_mod_csi);
}

/* ---- classification ---- */

static bool wb_csi_is_self_presence(const wb_stanza *st)
{
    wb_el x = wb_st_child(st, 0, "x", WB_NS_MUC_USER);
    for (wb_el s = x >= 0 ? wb_st_first(st, x) : -1; s >= 0; s = wb_st_next(st, s)) {
        const char *code = wb_st_attr(st, s, "code");
        if (strcmp(wb_st_name(st, s), "status") == 0 && code && strcmp(code, "110") == 0)
            return true;
    }
    return false;
}

/* A message without a body: a chat state (alone, or with hints, ids and a thread), a PEP
 * notification, or something else (urgent: receipts, markers, encrypted payloads...). */
static wb_csi_class wb_csi_message_class(const wb_stanza *st)
{
    bool chatstate = false, pep = false, other = false;
    for (wb_el e = wb_st_first(st, 0); e >= 0; e = wb_st_next(st, e)) {
        const char *ns = wb_st_ns(st, e), *name = wb_st_name(st, e);
        if (strcmp(ns, WB_NS_CHATSTATES) == 0)
            chatstate = true;
        else if (strcmp(ns, WB_NS_PUBSUB_EV) == 0 && strcmp(name, "event") == 0)
            pep = true;
        else if (strcmp(ns, WB_NS_CLIENT) == 0 && strcmp(name, "body") == 0)
            return WB_CSI_URGENT;
        else if (strcmp(ns, "urn:xmpp:delay") == 0 ||
                 strcmp(ns, "http://jabber.org/protocol/address") == 0)
            continue; /* PEP notifications may carry these */
        else if (!(strcmp(ns, WB_NS_CLIENT) == 0 && strcmp(name, "thread") == 0) &&
                 strcmp(ns, "urn:xmpp:hints") != 0 && strcmp(ns, "urn:xmpp:sid:0") != 0)
            other = true;
    }
    if (pep && !chatstate && !other)
        return WB_CSI_PEP;
    if (chatstate && !pep && !other)
        return WB_CSI_CHATSTATE;
    return WB_CSI_URGENT;
}

static wb_csi_class wb_csi_classify(const wb_c2s *c, const wb_msg *m)
{
    const wb_jid *me = wb_c2s_jid(c);
    if (!m->xml || m->kind == WB_MSG_IQ || m->type == WB_T_ERROR || !m->has_from || !me)
        return WB_CSI_URGENT;
    if (wb_jid_bare_eq(&m->from, me))
        return WB_CSI_URGENT; /* the account's own: carbons, own resources, own PEP */
    if (m->kind == WB_MSG_PRESENCE) {
        if (m->type != WB_PT_AVAILABLE && m->type != WB_PT_UNAVAILABLE)
            return WB_CSI_URGENT; /* subscriptions */
        return wb_csi_is_self_presence(m->xml) ? WB_CSI_URGENT : WB_CSI_PRESENCE;
    }
    return wb_csi_message_class(m->xml);
}

/* ---- the held stanzas ---- */

static wb_csi_held **wb_csi_slot(wb_csi_state *s, uint64_t sid)
{
    wb_csi_held **h = &s->buckets[sid % WB_CSI_BUCKETS];
    while (*h && (*h)->sid != sid)
        h = &(*h)->next;
    return h;
}

static void wb_csi_held_free(wb_csi_held *h)
{
    for (size_t i = 0; i < h->n; i++)
        wb_msg_unref(h->items[i].m);
    free(h->items);
    free(h);
}

/* Takes the session's held stanzas out of the table (NULL if none); called under the lock. */
static wb_csi_held *wb_csi_take(wb_csi_state *s, uint64_t sid)
{
    wb_csi_held **slot = wb_csi_slot(s, sid), *h = *slot;
    if (h)
        *slot = h->next;
    return h;
}

/* Writes n held stanzas, oldest first, and frees them. */
static void wb_csi_write_items(wb_c2s *c, wb_csi_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        wb_c2s_deliver_held(c, items[i].m);
        wb_msg_unref(items[i].m);
    }
    free(items);
}

/* Writes what h held and frees it. */
static void wb_csi_write(wb_c2s *c, wb_csi_held *h)
{
    if (!h)
        return;
    wb_csi_write_items(c, h->items, h->n);
    free(h);
}

static void wb_csi_flush(wb_worker *w, wb_c2s *c)
{
    wb_csi_state *s = wb_csi_state_of(w);
    pthread_mutex_lock(&s->lock);
    wb_csi_held *h = wb_csi_take(s, wb_c2s_id(c));
    pthread_mutex_unlock(&s->lock);
    wb_csi_write(c, h);
}

/* Drops the older stanza of the same class from the same sender (presence, chat states). */
static void wb_csi_coalesce(wb_csi_held *h, const wb_msg *m, wb_csi_class cls)
{
    if (cls != WB_CSI_PRESENCE && cls != WB_CSI_CHATSTATE)
        return;
    for (size_t i = 0; i < h->n; i++) {
        if (h->items[i].cls != cls || !wb_jid_full_eq(&h->items[i].m->from, &m->from))
            continue;
        wb_msg_unref(h->items[i].m);
        memmove(&h->items[i], &h->items[i + 1], (h->n - i - 1) * sizeof(h->items[0]));
        h->n--;
        return; /* at most one: every earlier one was coalesced the same way */
    }
}

/* The held stanzas of c, created when it says it is inactive; NULL when memory is short. Under
 * the lock. */
static wb_csi_held *wb_csi_open(wb_csi_state *s, const wb_c2s *c)
{
    wb_csi_held **slot = wb_csi_slot(s, wb_c2s_id(c)), *h = *slot;
    if (!h) {
        if (!(h = calloc(1, sizeof(*h))))
            return NULL;
        h->sid = wb_c2s_id(c);
        h->jid = *wb_c2s_jid(c);
        *slot = h;
    }
    h->conn = (uintptr_t)c;
    return h;
}

/* Holds m in h; false when it must be written now (after what is held: full, no memory). Under
 * the lock. */
static bool wb_csi_hold(wb_csi_held *h, const wb_msg *m, wb_csi_class cls, size_t max)
{
    wb_csi_coalesce(h, m, cls);
    if (h->n >= max)
        return false;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        wb_csi_item *items = realloc(h->items, cap * sizeof(*items));
        if (!items)
            return false;
        h->items = items;
        h->cap = cap;
    }
    h->items[h->n].m = wb_msg_ref((wb_msg *)m); /* the model is immutable: only its count changes */
    h->items[h->n].cls = cls;
    h->n++;
    return true;
}

/* ---- hooks ---- */

static wb_mod_result wb_csi_deliver(wb_worker *w, wb_c2s *c, const wb_msg *m)
{
    if (!(wb_c2s_flags(c) & WB_C2S_F_CSI_INACTIVE) || wb_c2s_closing(c) || !wb_c2s_jid(c))
        return WB_MOD_PASS;
    const wb_csi_class cls = wb_csi_classify(c, m);
    wb_csi_state *s = wb_csi_state_of(w);
    const size_t max = (size_t)wb_config_csi(w->srv->cfg)->max_held;
    wb_csi_held *gone = NULL;
    wb_csi_item *out = NULL;
    size_t n_out = 0;
    pthread_mutex_lock(&s->lock);
    wb_csi_held *h = *wb_csi_slot(s, wb_c2s_id(c));
    const bool resumed = !h || h->conn != (uintptr_t)c;
    const bool held = !resumed && cls != WB_CSI_URGENT && wb_csi_hold(h, m, cls, max);
    if (resumed) {
        gone = wb_csi_take(s, wb_c2s_id(c));
    } else if (!held) { /* still inactive: the entry stays, emptied */
        out = h->items;
        n_out = h->n;
        h->items = NULL;
        h->n = h->cap = 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (resumed)
        wb_c2s_clear_flags(c, WB_C2S_F_CSI_INACTIVE);
    if (held)
        return WB_MOD_HANDLED;
    wb_csi_write(c, gone);
    wb_csi_write_items(c, out, n_out);
    return WB_MOD_PASS; /* written after what was held */
}

static wb_mod_result wb_csi_nonza(wb_worker *w, wb_c2s *c, const wb_stanza *st)
{
    if (strcmp(wb_st_ns(st, 0), WB_NS_CSI) != 0)
        return WB_MOD_PASS;
    const char *name = wb_st_name(st, 0);
    if (strcmp(name, "inactive") == 0) {
        wb_csi_state *s = wb_csi_state_of(w);
        pthread_mutex_lock(&s->lock);
        const bool ok = wb_c2s_jid(c) && wb_csi_open(s, c);
        pthread_mutex_unlock(&s->lock);
        if (ok) /* otherwise it stays active: nothing is held */
            wb_c2s_set_flags(c, WB_C2S_F_CSI_INACTIVE);
        return WB_MOD_HANDLED;
    }
    if (strcmp(name, "active") == 0) {
        wb_c2s_clear_flags(c, WB_C2S_F_CSI_INACTIVE);
        wb_csi_flush(w, c);
        return WB_MOD_HANDLED;
    }
    return WB_MOD_PASS;
}

static void wb_csi_stream_features(wb_c2s *c, wb_buf *b, bool authed)
{
    (void)c;
    if (authed)
        wb_buf_puts(b, "<csi xmlns='" WB_NS_CSI "'/>");
}

static void wb_csi_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available)
{
    (void)full;
    (void)was_available;
    wb_csi_state *s = wb_csi_state_of(w);
    pthread_mutex_lock(&s->lock);
    wb_csi_held *h = wb_csi_take(s, sid);
    pthread_mutex_unlock(&s->lock);
    if (h)
        wb_csi_held_free(h); /* presence, chat states and notifications for a gone session */
}

/* A session replaced by a newer one of the same full JID ends without the ended hook: what it
 * held goes when the newer one binds. */
static void wb_csi_bound(wb_worker *w, wb_c2s *c)
{
    wb_csi_state *s = wb_csi_state_of(w);
    const wb_jid *jid = wb_c2s_jid(c);
    wb_csi_held *stale = NULL;
    if (!jid)
        return;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < WB_CSI_BUCKETS; i++) {
        for (wb_csi_held **h = &s->buckets[i]; *h;) {
            if ((*h)->sid != wb_c2s_id(c) && wb_jid_full_eq(&(*h)->jid, jid)) {
                wb_csi_held *x = *h;
                *h = x->next;
                x->next = stale;
                stale = x;
            } else {
                h = &(*h)->next;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    while (stale) {
        wb_csi_held *next = stale->next;
        wb_csi_held_free(stale);
        stale = next;
    }
}

static int wb_csi_init(wb_server *srv, void **state)
{
    (void)srv;
    wb_csi_state *s = calloc(1, sizeof(*s));
    if (!s || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        wb_error("csi: out of memory");
        return -1;
    }
    *state = s;
    return 0;
}

static void wb_csi_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_csi_state *s = state;
    for (size_t i = 0; i < WB_CSI_BUCKETS; i++) {
        while (s->buckets[i]) {
            wb_csi_held *h = s->buckets[i];
            s->buckets[i] = h->next;
            wb_csi_held_free(h);
        }
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const wb_module wb_mod_csi = {
    .name = "csi",
    .bound = wb_csi_bound,
    .ended = wb_csi_ended,
    .stream_features = wb_csi_stream_features,
    .deliver = wb_csi_deliver,
    .nonza = wb_csi_nonza,
    .init = wb_csi_init,
    .shutdown = wb_csi_shutdown,
};
