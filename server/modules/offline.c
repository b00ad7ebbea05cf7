/* XEP-0160 offline messages with XEP-0203 delay stamps: chat and normal messages for an account
 * with no available resource are queued (by reference to its archive copy when there is one) and
 * delivered once, at its next initial presence. Not for archives (MAM) nor for routing. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "wb_directory.h"
#include "wb_log.h"
#include "wb_mam.h"
#include "wb_modules.h"
#include "wb_retention.h"
#include "wb_router.h"
#include "wb_store_archive.h"
#include "wb_store_offline.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

#define WB_NS_HINTS        "urn:xmpp:hints"
#define WB_NS_CHATSTATES   "http://jabber.org/protocol/chatstates"
#define WB_NS_DELAY        "urn:xmpp:delay"
#define WB_FEATURE_OFFLINE "msgoffline"

/* Per-account quota. A constant: there is no limits.offline_max option in wb_config yet. */
#define WB_OFFLINE_MAX 1000
/* Rows per fetch, and bytes written to a session per fetch (at least one message), so that a
 * long queue is handed over in steps paced by the database round trips. */
#define WB_OFFLINE_BATCH       50
#define WB_OFFLINE_BATCH_BYTES (512u * 1024u)
#define WB_OFFLINE_BACKLOG     (1024u * 1024u) /* unsent bytes before the next batch waits */
#define WB_OFFLINE_PACE_USEC   100000

/* Every request in flight, so that those a stopping worker's store never answers are freed. */
typedef struct wb_offline_op wb_offline_op;
typedef struct wb_offline_state {
    pthread_mutex_t lock;
    wb_offline_op *ops;
} wb_offline_state;

struct wb_offline_op {
    wb_offline_op *prev, *next;
    wb_offline_state *state;
    wb_worker *w;
    uint64_t sid; /* fetch: the session taking the queue; 0 for a late delivery */
    wb_msg *m;    /* put, late delivery: the message stored (a reference), else NULL */
    char node[WB_JID_PART_MAX + 1];
    char domain[WB_JID_PART_MAX + 1];
    char claim[WB_ARCHIVE_UUID_LEN + 1]; /* fetch: this delivery's claim on the rows it takes */
};

typedef enum { WB_OFFLINE_STORE, WB_OFFLINE_DROP, WB_OFFLINE_REFUSE } wb_offline_policy;

extern const wb_module wb_mod_offline;

static wb_offline_op *wb_offline_op_new(wb_worker *w, const wb_jid *owner)
{
    wb_offline_state *s = wb_modules_state(w->srv, &wb_mod_offline);
    wb_offline_op *op = s ? calloc(1, sizeof(*op)) : NULL;
    if (op == NULL)
        return NULL;
    op->state = s;
    op->w = w;
    memcpy(op->node, owner->node, sizeof(op->node));
    memcpy(op->domain, owner->domain, sizeof(op->domain));
    pthread_mutex_lock(&s->lock);
    op->next = s->ops;
    if (s->ops != NULL)
        s->ops->prev = op;
    s->ops = op;
    pthread_mutex_unlock(&s->lock);
    return op;
}

static void wb_offline_op_free(wb_offline_op *op)
{
    wb_offline_state *s = op->state;
    pthread_mutex_lock(&s->lock);
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        s->ops = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    pthread_mutex_unlock(&s->lock);
    if (op->m != NULL)
        wb_msg_unref(op->m);
    free(op);
}

static int wb_offline_init(wb_server *srv, void **state)
{
    (void)srv;
    wb_offline_state *s = calloc(1, sizeof(*s));
    if (s == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        wb_error("offline: out of memory");
        return -1;
    }
    *state = s;
    return 0;
}

/* Runs after the workers (and their stores) are gone: no callback can come any more. */
static void wb_offline_shutdown(wb_server *srv, void *state)
{
    wb_offline_state *s = state;
    size_t n = 0;
    (void)srv;
    for (; s->ops != NULL; n++)
        wb_offline_op_free(s->ops);
    if (n > 0)
        wb_debug("offline: %zu storage requests unanswered at shutdown", n);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* XEP-0334 hints and XEP-0160: what is worth keeping. Chat states alone are dropped. */
static wb_offline_policy wb_offline_policy_of(const wb_stanza *st)
{
    bool keep = false;
    for (wb_el el = wb_st_first(st, 0); el >= 0; el = wb_st_next(st, el)) {
        const char *ns = wb_st_ns(st, el), *name = wb_st_name(st, el);
        if (strcmp(ns, WB_NS_HINTS) == 0) {
            if (strcmp(name, "store") == 0)
                return WB_OFFLINE_STORE;
            if (strcmp(name, "no-store") == 0 || strcmp(name, "no-permanent-store") == 0)
                return WB_OFFLINE_REFUSE;
        } else if (strcmp(ns, WB_NS_CHATSTATES) != 0 && strcmp(name, "thread") != 0) {
            keep = true; /* a body, a subject, or any other payload */
        }
    }
    return keep ? WB_OFFLINE_STORE : WB_OFFLINE_DROP;
}

/* bytes with <delay from=domain stamp=us/> inserted before the closing tag; -1 for a
 * self-closing message (nothing worth keeping in it anyway). */
static int wb_offline_stamp_at(const char *bytes, size_t len, const char *domain, int64_t us,
                               wb_buf *out)
{
    size_t pos = len;
    while (pos >= 2 && !(bytes[pos - 2] == '<' && bytes[pos - 1] == '/'))
        pos--;
    if (pos < 2)
        return -1;
    pos -= 2;
    const time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    char stamp[40];
    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    wb_buf_append(out, bytes, pos);
    wb_buf_puts(out, "<delay xmlns='" WB_NS_DELAY "' from='");
    wb_buf_xml_escape_str(out, domain);
    wb_buf_printf(out, "' stamp='%s.%03dZ'/>", stamp, (int)(us % 1000000 / 1000));
    wb_buf_append(out, bytes + pos, len - pos);
    return out->failed ? -1 : 0;
}

/* The delivered bytes of m with its delay stamp (now). */
static int wb_offline_stamp(const wb_msg *m, wb_buf *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return wb_offline_stamp_at(m->bytes, m->bytes_len, m->to.domain, us, out);
}

/* A queued message read from the archive, as it would have been queued: the archived form
 * without the default namespace it added (archive_ns), stamped with when it was queued. */
static int wb_offline_from_archive(const wb_offline_item *it, const char *domain, wb_buf *out)
{
    static const char ns[] = " xmlns='" WB_NS_CLIENT "'";
    const size_t nl = sizeof(ns) - 1;
    size_t name_end = 1;
    while (name_end < it->len && !strchr(" \t\r\n/>", it->payload[name_end]))
        name_end++;
    if (!it->archive_ns)
        return wb_offline_stamp_at(it->payload, it->len, domain, it->queued_us, out);
    if (it->len - name_end < nl || memcmp(it->payload + name_end, ns, nl) != 0)
        return -1;
    wb_buf plain;
    wb_buf_init(&plain);
    wb_buf_append(&plain, it->payload, name_end);
    wb_buf_append(&plain, it->payload + name_end + nl, it->len - name_end - nl);
    const int rc =
        plain.failed ? -1 : wb_offline_stamp_at(plain.data, plain.len, domain, it->queued_us, out);
    wb_buf_free(&plain);
    return rc;
}

static void wb_offline_late(wb_worker *w, wb_msg *m);

static void wb_offline_stored(void *arg, wb_offline_put_result result)
{
    wb_offline_op *op = arg;
    switch (result) {
    case WB_OFFLINE_STORED:
        wb_offline_late(op->w, op->m);
        break;
    case WB_OFFLINE_NO_ACCOUNT:
        wb_route_error(op->w, op->m, WB_STE_SERVICE_UNAVAILABLE, NULL);
        break;
    case WB_OFFLINE_FULL:
        wb_route_error(op->w, op->m, WB_STE_RESOURCE_CONSTRAINT, "Offline storage is full");
        break;
    case WB_OFFLINE_UNAVAILABLE:
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR,
                       "Offline storage is unavailable: the message was not stored");
        break;
    }
    wb_offline_op_free(op);
}

/* Queues m; on any local failure the sender learns that it was not stored. When the recipient's
 * archive took m (mam.c, earlier on this store), the queued row refers to that copy. */
static void wb_offline_put(wb_worker *w, wb_msg *m)
{
    char sender[WB_JID_MAX + 1], sender_bare[WB_JID_MAX + 1];
    uint8_t rkey[WB_RETRACT_KEY_LEN];
    wb_buf b, arch;
    wb_buf_init(&b);
    wb_buf_init(&arch);
    wb_offline_op *op = wb_offline_op_new(w, &m->to);
    if (op == NULL || wb_offline_stamp(m, &b) < 0 ||
        wb_jid_full(&m->from, sender, sizeof(sender)) < 0)
        goto fail;
    op->m = wb_msg_ref(m);
    /* The same key the archive gives the message, so that a retraction finds this copy. */
    const char *ref = wb_mam_ref(m);
    const bool has_rkey = ref && wb_jid_bare(&m->from, sender_bare, sizeof(sender_bare)) >= 0;
    if (has_rkey)
        wb_store_retract_key(sender_bare, ref, rkey);
    const char *sid = wb_mam_stanza_id(m);
    if (sid != NULL && wb_mam_archived_form(m, &arch) < 0)
        sid = NULL;
    const wb_offline_entry e = {.node = op->node,
                                .domain = op->domain,
                                .sender = sender,
                                .payload = b.data,
                                .len = b.len,
                                .max = WB_OFFLINE_MAX,
                                .expires_us = wb_retention_expiry_us(w->srv->cfg, m),
                                .retract_key = has_rkey ? rkey : NULL,
                                .retract_key_len = has_rkey ? sizeof(rkey) : 0,
                                .archive_stanza_id = sid,
                                .archive_ns = sid != NULL && arch.len != m->bytes_len};
    if (!wb_store_offline_queue(w->store, &e, wb_offline_stored, op))
        goto fail;
    wb_buf_free(&b);
    wb_buf_free(&arch);
    return;
fail:
    wb_buf_free(&b);
    wb_buf_free(&arch);
    if (op != NULL)
        wb_offline_op_free(op);
    wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, "The message could not be stored");
}

/* RFC 6121 8.5.2: chat and normal messages are stored; headline and error messages dropped;
 * groupchat left to the router (service-unavailable). */
static wb_mod_result wb_offline_undeliverable(wb_worker *w, wb_msg *m)
{
    if (m->kind != WB_MSG_MESSAGE || m->type == WB_MT_GROUPCHAT || !wb_jid_has_node(&m->to))
        return WB_MOD_PASS;
    if (m->type != WB_MT_NORMAL && m->type != WB_MT_CHAT)
        return WB_MOD_HANDLED;
    if (m->xml == NULL || m->bytes == NULL || !m->has_from)
        return WB_MOD_PASS;
    switch (wb_offline_policy_of(m->xml)) {
    case WB_OFFLINE_DROP:
        return WB_MOD_HANDLED;
    case WB_OFFLINE_REFUSE:
        return WB_MOD_PASS; /* not stored: the sender gets service-unavailable */
    case WB_OFFLINE_STORE:
        break;
    }
    wb_offline_put(w, m);
    return WB_MOD_HANDLED;
}

static void wb_offline_fetch_next(wb_offline_op *op);
static void wb_offline_pace(wb_offline_op *op);

/* Ends a delivery: rows it still holds claimed (not written) are given back for the next one. */
static void wb_offline_fetch_end(wb_offline_op *op)
{
    if (!wb_store_offline_release(op->w->store, op->node, op->domain, op->claim))
        wb_warn("offline: could not give back undelivered messages (they wait 30 s)");
    wb_offline_op_free(op);
}

/* One queued item as a message to deliver; NULL when an archived one cannot be rebuilt (*bad). */
static wb_msg *wb_offline_msg(const wb_offline_item *it, const char *domain, bool *bad)
{
    wb_buf b;
    wb_buf_init(&b);
    const char *p = it->payload;
    size_t len = it->len;
    *bad = false;
    if (it->from_archive) {
        if (wb_offline_from_archive(it, domain, &b) < 0) {
            wb_warn("offline: a queued message could not be rebuilt from the archive; removed");
            wb_buf_free(&b);
            *bad = true;
            return NULL;
        }
        p = b.data;
        len = b.len;
    }
    wb_msg *d = wb_xmpp_msg_from_text(WB_MSG_MESSAGE, WB_MT_NORMAL, NULL, NULL, p, len);
    wb_buf_free(&b);
    return d;
}

/* Writes the batch to the session (within the byte budget); returns how many were written (or
 * are to be removed as unreadable), their ids in ids. */
static size_t wb_offline_write(wb_c2s *c, const char *domain, const wb_offline_item *items,
                               size_t n, int64_t *ids)
{
    size_t k = 0, bytes = 0;
    for (; k < n && (k == 0 || bytes + items[k].len <= WB_OFFLINE_BATCH_BYTES); k++) {
        bool bad;
        wb_msg *d = wb_offline_msg(&items[k], domain, &bad);
        if (d == NULL && !bad)
            break;
        const bool written = d == NULL || wb_c2s_deliver(c, d);
        if (d != NULL)
            wb_msg_unref(d);
        if (!written)
            break; /* the stream is closing: what was not written stays queued */
        ids[k] = items[k].id;
        bytes += items[k].len;
    }
    return k;
}

/* The next batch waits while the client has not read much of what it got: a big queue on a slow
 * link must not overflow the session's output limit (which would close it). */
static void wb_offline_pace_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_offline_pace(arg);
}

static void wb_offline_pace(wb_offline_op *op)
{
    wb_c2s *c = wb_worker_session(op->w, op->sid);
    if (c == NULL || wb_c2s_closing(c)) {
        wb_offline_fetch_end(op);
        return;
    }
    if (wb_c2s_output_pending(c) <= WB_OFFLINE_BACKLOG) {
        wb_offline_fetch_next(op);
        return;
    }
    const struct timeval tv = {0, WB_OFFLINE_PACE_USEC};
    if (event_base_once(op->w->base, -1, EV_TIMEOUT, wb_offline_pace_cb, op, &tv) < 0)
        wb_offline_fetch_end(op);
}

/* The session may be gone, or unavailable now: then the queue stays for the next login. Rows are
 * deleted only after being written (a crash in between may duplicate, never lose); the claim
 * keeps a concurrent delivery (another login, a late delivery) from taking them meanwhile. */
static void wb_offline_fetched(void *arg, wb_store_status status, const wb_offline_item *items,
                               size_t n)
{
    wb_offline_op *op = arg;
    wb_c2s *c = wb_worker_session(op->w, op->sid);
    int64_t ids[WB_OFFLINE_BATCH];
    if (status != WB_STORE_OK || n == 0 || n > WB_OFFLINE_BATCH || c == NULL || wb_c2s_closing(c) ||
        !wb_c2s_available(c) || wb_c2s_priority(c) < 0)
        goto done;
    const size_t k = wb_offline_write(c, op->domain, items, n, ids);
    if (k == 0)
        goto done;
    if (!wb_store_offline_delete(op->w->store, op->node, op->domain, ids, k, NULL, NULL)) {
        wb_warn("offline: could not delete delivered messages (they may come again)");
        goto done;
    }
    if (k < n || n == WB_OFFLINE_BATCH) {
        wb_offline_pace(op); /* then the next batch, after the delete: answers come in order */
        return;
    }
done:
    wb_offline_fetch_end(op);
}

static void wb_offline_fetch_next(wb_offline_op *op)
{
    if (!wb_store_offline_fetch(op->w->store, op->node, op->domain, WB_OFFLINE_BATCH, op->claim,
                                wb_offline_fetched, op)) {
        wb_warn("offline: could not fetch queued messages");
        wb_offline_op_free(op);
    }
}

/* ---- late delivery ---- */

/* The resources a message to the account goes to now (RFC 6121 8.5.2.1.1); how many picked. */
static size_t wb_offline_targets(wb_worker *w, const wb_msg *m, wb_dir_target *t, bool *pick,
                                 size_t *n)
{
    wb_jid bare = m->to;
    bare.resource[0] = '\0';
    *n = wb_directory_lookup(w->srv->dir, &bare, t, WB_ROUTE_MAX_TARGETS);
    return wb_route_bare_targets(m, t, *n, pick);
}

static void wb_offline_late_next(wb_offline_op *op);

/* Delivers what a late delivery took to the resources available now, like a live message. */
static void wb_offline_late_fetched(void *arg, wb_store_status status, const wb_offline_item *items,
                                    size_t n)
{
    wb_offline_op *op = arg;
    wb_dir_target t[WB_ROUTE_MAX_TARGETS];
    bool pick[WB_ROUTE_MAX_TARGETS];
    int64_t ids[WB_OFFLINE_BATCH];
    size_t nt = 0, k = 0;
    if (status != WB_STORE_OK || n == 0 || n > WB_OFFLINE_BATCH ||
        wb_offline_targets(op->w, op->m, t, pick, &nt) == 0)
        goto done;
    for (; k < n; k++) {
        bool bad;
        wb_msg *d = wb_offline_msg(&items[k], op->domain, &bad);
        if (d == NULL && !bad)
            break;
        for (size_t i = 0; d != NULL && i < nt; i++)
            if (pick[i])
                wb_route_to_session(op->w, t[i].worker, t[i].sid, d);
        if (d != NULL)
            wb_msg_unref(d);
        ids[k] = items[k].id;
    }
    if (k > 0 && !wb_store_offline_delete(op->w->store, op->node, op->domain, ids, k, NULL, NULL))
        wb_warn("offline: could not delete delivered messages (they may come again)");
    else if (k == WB_OFFLINE_BATCH) {
        wb_offline_late_next(op);
        return;
    }
done:
    wb_offline_fetch_end(op);
}

static void wb_offline_late_next(wb_offline_op *op)
{
    if (!wb_store_offline_fetch(op->w->store, op->node, op->domain, WB_OFFLINE_BATCH, op->claim,
                                wb_offline_late_fetched, op)) {
        wb_warn("offline: could not fetch queued messages");
        wb_offline_op_free(op);
    }
}

/* m was just queued, but a resource of its recipient became available meanwhile (its login's
 * fetch may have run before m was stored): the queue is delivered to it now. */
static void wb_offline_late(wb_worker *w, wb_msg *m)
{
    wb_dir_target t[WB_ROUTE_MAX_TARGETS];
    bool pick[WB_ROUTE_MAX_TARGETS];
    size_t nt;
    if (wb_offline_targets(w, m, t, pick, &nt) == 0)
        return;
    wb_offline_op *op = wb_offline_op_new(w, &m->to);
    if (op == NULL) {
        wb_warn("offline: out of memory");
        return;
    }
    op->m = wb_msg_ref(m);
    wb_store_archive_uuid(op->claim);
    wb_offline_late_next(op);
}

/* ---- login ---- */

/* RFC 6121 / XEP-0160: queued messages go to the first available presence with a non-negative
 * priority. */
static void wb_offline_presence(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial)
{
    (void)m;
    const wb_jid *jid = wb_c2s_jid(c);
    if (!initial || jid == NULL || wb_c2s_priority(c) < 0)
        return;
    wb_offline_op *op = wb_offline_op_new(w, jid);
    if (op == NULL) {
        wb_warn("offline: out of memory");
        return;
    }
    op->sid = wb_c2s_id(c);
    wb_store_archive_uuid(op->claim);
    wb_offline_fetch_next(op);
}

static const char *const wb_offline_features[] = {WB_FEATURE_OFFLINE, NULL};

const wb_module wb_mod_offline = {
    .name = "offline",
    .features = wb_offline_features,
    .presence = wb_offline_presence,
    .undeliverable = wb_offline_undeliverable,
    .init = wb_offline_init,
    .shutdown = wb_offline_shutdown,
};
