/* XEP-0191 blocking command: the block-list iq (get, block, unblock, pushes to interested
 * resources) and its enforcement on every stanza, inbound and outbound, from a shared in-memory
 * cache (blocking_cache.c) loaded on demand. Storage is storage/wb_store_block.c. Single server:
 * a cluster will need to invalidate the other nodes' caches when a list changes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocking_cache.h"
#include "wb_log.h"
#include "wb_modules.h"
#include "wb_router.h"
#include "wb_store_block.h"
#include "wb_xml.h"
#include "wb_xmpp_model.h"

#define WB_NS_BLOCKING        "urn:xmpp:blocking"
#define WB_NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define WB_NS_STANZA_ERRORS   "urn:ietf:params:xml:ns:xmpp-stanzas"
#define WB_BLOCK_MAX_ACCOUNTS 10000 /* block lists kept in memory */
#define WB_BLOCK_MAX_LIST     1000  /* items of one account */
#define WB_BLOCK_MAX_LOADS    4     /* list loads one stanza may wait for */
#define WB_BLOCK_MAX_TARGETS  64    /* resources of one account */

extern const wb_module wb_mod_blocking;

typedef struct wb_block_op wb_block_op;

typedef struct wb_block_state {
    wb_block_cache *cache;
    pthread_mutex_t lock;                /* pending */
    wb_block_op *pending, *pending_tail; /* in arrival order; freed at shutdown if never answered */
    uint64_t push_seq;                   /* atomic */
} wb_block_state;

typedef enum {
    WB_BOP_PRELOAD,
    WB_BOP_INBOUND,
    WB_BOP_OUTBOUND,
    WB_BOP_GET,
    WB_BOP_BLOCK,
    WB_BOP_UNBLOCK,
} wb_block_op_kind;

/* One asynchronous step: a list load for a stanza or a blocklist get, or a stored change. */
struct wb_block_op {
    wb_block_op *prev, *next;
    wb_block_state *bs;
    wb_worker *w;
    wb_block_op_kind kind;
    wb_msg *m;        /* referenced (NULL for a preload) */
    uint64_t sid;     /* outbound: the sending session */
    uint64_t version; /* cache version when the load started */
    int loads;
    bool loading;   /* a stanza whose list is being loaded (others of its worker wait behind) */
    wb_jid account; /* bare: whose list is loaded or changed */
    size_t n;
    char **jids; /* block/unblock: the prepared items */
};

/* A list just loaded, which may not have made it into the cache. */
typedef struct wb_block_loaded {
    const wb_jid *account;
    const char *const *items;
    size_t n;
} wb_block_loaded;

typedef enum {
    WB_BV_PASS,
    WB_BV_LOAD,        /* a list is missing (need says whose) */
    WB_BV_BLOCKED_IN,  /* the recipient blocks the sender */
    WB_BV_DROP,        /* presence from a user to a contact the user blocks */
    WB_BV_BLOCKED_OUT, /* the user sends to a contact the user blocks */
} wb_block_verdict;

static wb_block_state *wb_block_state_of(const wb_worker *w)
{
    return wb_modules_state(w->srv, &wb_mod_blocking);
}

/* ---- pending operations ---- */

static wb_block_op *wb_block_op_new(wb_block_state *bs, wb_worker *w, wb_block_op_kind kind,
                                    wb_msg *m, uint64_t sid)
{
    wb_block_op *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    op->bs = bs;
    op->w = w;
    op->kind = kind;
    op->m = m;
    op->sid = sid;
    pthread_mutex_lock(&bs->lock);
    op->prev = bs->pending_tail;
    if (op->prev)
        op->prev->next = op;
    else
        bs->pending = op;
    bs->pending_tail = op;
    pthread_mutex_unlock(&bs->lock);
    return op;
}

static void wb_block_op_release(wb_block_op *op)
{
    if (op->m)
        wb_msg_unref(op->m);
    for (size_t i = 0; op->jids && i < op->n; i++)
        free(op->jids[i]);
    free(op->jids);
    free(op);
}

static void wb_block_op_free(wb_block_op *op)
{
    wb_block_state *bs = op->bs;
    pthread_mutex_lock(&bs->lock);
    if (op->prev)
        op->prev->next = op->next;
    else
        bs->pending = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        bs->pending_tail = op->prev;
    pthread_mutex_unlock(&bs->lock);
    wb_block_op_release(op);
}

static void wb_block_bare(wb_jid *out, const wb_jid *j)
{
    memcpy(out->node, j->node, sizeof(out->node));
    memcpy(out->domain, j->domain, sizeof(out->domain));
    out->resource[0] = '\0';
}

static void wb_block_loaded_cb(void *arg, wb_store_status status, const char *const *jids,
                               size_t n);

/* Loads the list of account (bare) for op; the answer goes to wb_block_loaded_cb. */
static void wb_block_load(wb_block_op *op, const wb_jid *account)
{
    wb_block_bare(&op->account, account);
    op->version = wb_block_cache_version(op->bs->cache, &op->account);
    op->loads++;
    if (!wb_store_block_list(op->w->store, op->account.node, op->account.domain, wb_block_loaded_cb,
                             op))
        wb_block_loaded_cb(op, WB_STORE_UNAVAILABLE, NULL, 0);
}

/* ---- enforcement ---- */

static bool wb_block_is_server(const wb_worker *w, const wb_jid *j)
{
    return !wb_jid_has_node(j) && !wb_jid_has_resource(j) && wb_server_serves(w->srv, j->domain);
}

static wb_block_answer wb_block_ask(wb_block_state *bs, const wb_jid *account, const wb_jid *jid,
                                    const wb_block_loaded *ov)
{
    if (ov && wb_jid_bare_eq(ov->account, account))
        return wb_block_items_match(ov->items, ov->n, jid) ? WB_BLOCK_YES : WB_BLOCK_NO;
    return wb_block_cache_blocks(bs->cache, account, jid);
}

/* A stanza for the local account m->to. The user's own presence to a contact the user blocks is
 * caught here too: broadcasts and probe answers do not pass the outbound hook. Unavailable
 * presence still goes (it is what a block sends, and tells nothing). */
static wb_block_verdict wb_block_in_verdict(const wb_worker *w, wb_block_state *bs, const wb_msg *m,
                                            const wb_block_loaded *ov, wb_jid *need)
{
    if (!m->has_from || wb_jid_bare_eq(&m->from, &m->to) || wb_block_is_server(w, &m->from))
        return WB_BV_PASS;
    wb_block_answer a = wb_block_ask(bs, &m->to, &m->from, ov);
    if (a == WB_BLOCK_UNKNOWN) {
        *need = m->to;
        return WB_BV_LOAD;
    }
    if (a == WB_BLOCK_YES)
        return WB_BV_BLOCKED_IN;
    if (m->kind != WB_MSG_PRESENCE || m->type == WB_PT_UNAVAILABLE || !wb_jid_has_node(&m->from) ||
        !wb_server_serves(w->srv, m->from.domain))
        return WB_BV_PASS;
    a = wb_block_ask(bs, &m->from, &m->to, ov);
    if (a == WB_BLOCK_UNKNOWN) {
        *need = m->from;
        return WB_BV_LOAD;
    }
    return a == WB_BLOCK_YES ? WB_BV_DROP : WB_BV_PASS;
}

/* A stanza from a local session, before routing. */
static wb_block_verdict wb_block_out_verdict(const wb_worker *w, wb_block_state *bs,
                                             const wb_msg *m, const wb_block_loaded *ov,
                                             wb_jid *need)
{
    if (!m->has_to || !m->has_from || wb_jid_bare_eq(&m->from, &m->to) ||
        wb_block_is_server(w, &m->to))
        return WB_BV_PASS;
    const wb_block_answer a = wb_block_ask(bs, &m->from, &m->to, ov);
    if (a == WB_BLOCK_UNKNOWN) {
        *need = m->from;
        return WB_BV_LOAD;
    }
    return a == WB_BLOCK_YES ? WB_BV_BLOCKED_OUT : WB_BV_PASS;
}

/* XEP-0191 3.5: <not-acceptable/> with <blocked/>, from the contact, to the sending session. */
static void wb_block_blocked_error(wb_worker *w, uint64_t sid, const wb_msg *m)
{
    if (m->kind == WB_MSG_PRESENCE || m->type == WB_T_ERROR || m->type == WB_IT_RESULT)
        return;
    const char *kind = wb_msg_kind_name(m->kind);
    char from[WB_JID_MAX + 1], to[WB_JID_MAX + 1];
    if (wb_jid_full(&m->to, from, sizeof(from)) < 0 || wb_jid_full(&m->from, to, sizeof(to)) < 0)
        return;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<%s type='error' from='", kind);
    wb_buf_xml_escape_str(&b, from);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to);
    if (m->id) {
        wb_buf_puts(&b, "' id='");
        wb_buf_xml_escape_str(&b, m->id);
    }
    wb_buf_printf(&b,
                  "'><error type='cancel'><not-acceptable xmlns='" WB_NS_STANZA_ERRORS "'/>"
                  "<blocked xmlns='" WB_NS_BLOCKING_ERRORS "'/></error></%s>",
                  kind);
    wb_msg *r = b.failed
                    ? NULL
                    : wb_xmpp_msg_from_text(m->kind, WB_T_ERROR, &m->to, &m->from, b.data, b.len);
    wb_buf_free(&b);
    if (r) {
        wb_route_to_session(w, w->idx, sid, r);
        wb_msg_unref(r);
    }
}

/* Applies a verdict other than PASS and LOAD; consumes m. */
static void wb_block_apply(wb_worker *w, wb_block_verdict v, uint64_t sid, wb_msg *m)
{
    if (v == WB_BV_BLOCKED_IN && m->kind != WB_MSG_PRESENCE)
        wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL); /* never for results, errors */
    else if (v == WB_BV_BLOCKED_OUT)
        wb_block_blocked_error(w, sid, m);
    wb_msg_unref(m);
}

/* The list could not be read: a temporary error rather than a stanza that may be blocked. */
static void wb_block_fail(wb_worker *w, wb_block_op_kind kind, uint64_t sid, wb_msg *m)
{
    if (kind == WB_BOP_INBOUND) {
        if (m->kind != WB_MSG_PRESENCE)
            wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    } else if (m->kind != WB_MSG_PRESENCE) {
        wb_msg *r = wb_xmpp_error_reply(m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        if (r) {
            wb_route_to_session(w, w->idx, sid, r);
            wb_msg_unref(r);
        }
    }
    wb_msg_unref(m);
}

static wb_block_verdict wb_block_decide(wb_worker *w, wb_block_state *bs, wb_block_op_kind kind,
                                        const wb_msg *m, const wb_block_loaded *ov, wb_jid *need)
{
    return kind == WB_BOP_INBOUND ? wb_block_in_verdict(w, bs, m, ov, need)
                                  : wb_block_out_verdict(w, bs, m, ov, need);
}

/* The oldest stanza waiting on worker w: the stanzas a worker filters keep their order, so a new
 * one waits behind any stanza whose list is being loaded. */
static wb_block_op *wb_block_first_waiting(wb_block_state *bs, const wb_worker *w)
{
    pthread_mutex_lock(&bs->lock);
    wb_block_op *op = bs->pending;
    while (op && !(op->w == w && (op->kind == WB_BOP_INBOUND || op->kind == WB_BOP_OUTBOUND)))
        op = op->next;
    pthread_mutex_unlock(&bs->lock);
    return op;
}

/* Ends a waiting stanza: applies v, or goes on with the next modules, or fails. */
static void wb_block_finish(wb_block_op *op, wb_block_verdict v, bool failed)
{
    wb_worker *w = op->w;
    const wb_block_op_kind kind = op->kind;
    const uint64_t sid = op->sid;
    wb_msg *m = op->m;
    op->m = NULL;
    wb_block_op_free(op);
    const int next = wb_modules_index(&wb_mod_blocking) + 1;
    if (failed)
        wb_block_fail(w, kind, sid, m);
    else if (v != WB_BV_PASS)
        wb_block_apply(w, v, sid, m);
    else if (kind == WB_BOP_INBOUND)
        wb_modules_inbound(w, m, next);
    else
        wb_modules_outbound(w, sid, m, next);
}

/* Decides the waiting stanzas of w in order until one needs a list that is not cached. */
static void wb_block_drain(wb_block_state *bs, wb_worker *w)
{
    wb_block_op *op;
    while ((op = wb_block_first_waiting(bs, w)) && !op->loading) {
        wb_jid need;
        const wb_block_verdict v = wb_block_decide(w, bs, op->kind, op->m, NULL, &need);
        if (v == WB_BV_LOAD) {
            op->loading = true;
            wb_block_load(op, &need);
            return;
        }
        wb_block_finish(op, v, false);
    }
}

static wb_mod_result wb_block_filter(wb_worker *w, wb_block_op_kind kind, uint64_t sid, wb_msg *m)
{
    wb_block_state *bs = wb_block_state_of(w);
    if (!bs)
        return WB_MOD_PASS;
    wb_jid need;
    wb_block_verdict v = WB_BV_LOAD;
    const bool queued = wb_block_first_waiting(bs, w) != NULL;
    if (!queued) {
        v = wb_block_decide(w, bs, kind, m, NULL, &need);
        if (v == WB_BV_PASS)
            return WB_MOD_PASS;
        if (v != WB_BV_LOAD) {
            wb_block_apply(w, v, sid, m);
            return WB_MOD_HANDLED;
        }
    }
    wb_block_op *op = wb_block_op_new(bs, w, kind, m, sid);
    if (!op) {
        wb_block_fail(w, kind, sid, m);
    } else if (!queued) {
        op->loading = true;
        wb_block_load(op, &need);
    }
    return WB_MOD_HANDLED;
}

/* A waiting stanza's list arrived (ov) or could not be read (NULL): decide again, go on, and let
 * the stanzas queued behind it through. */
static void wb_block_filter_loaded(wb_block_op *op, const wb_block_loaded *ov)
{
    wb_block_state *bs = op->bs;
    wb_worker *w = op->w;
    wb_jid need;
    wb_block_verdict v = WB_BV_LOAD;
    if (ov)
        v = wb_block_decide(w, bs, op->kind, op->m, ov, &need);
    if (ov && v == WB_BV_LOAD && op->loads < WB_BLOCK_MAX_LOADS) {
        wb_block_load(op, &need);
        return;
    }
    wb_block_finish(op, v, v == WB_BV_LOAD);
    wb_block_drain(bs, w);
}

static wb_mod_result wb_block_inbound(wb_worker *w, wb_msg *m)
{
    return wb_block_filter(w, WB_BOP_INBOUND, 0, m);
}

static wb_mod_result wb_block_outbound(wb_worker *w, uint64_t sid, wb_msg *m)
{
    return wb_block_filter(w, WB_BOP_OUTBOUND, sid, m);
}

/* ---- the blocklist iq ---- */

static void wb_block_item_xml(void *arg, const char *item)
{
    wb_buf *b = arg;
    wb_buf_puts(b, "<item jid='");
    wb_buf_xml_escape_str(b, item);
    wb_buf_puts(b, "'/>");
}

/* Marks the requesting session as an interested resource (XEP-0191 3.2). */
static void wb_block_mark_interested(wb_worker *w, wb_block_state *bs, const wb_msg *m)
{
    wb_dir_target t;
    if (!wb_directory_find(w->srv->dir, &m->from, &t) || t.worker != w->idx)
        return;
    wb_c2s *c = wb_worker_session(w, t.sid);
    if (!c)
        return;
    wb_c2s_set_flags(c, wb_c2s_flags(c) | WB_C2S_F_BLOCKLIST_REQUESTED);
    wb_block_cache_set_interested(bs->cache, t.sid, true);
}

static void wb_block_answer_list(wb_worker *w, wb_block_state *bs, const wb_msg *m,
                                 const char *const *items, size_t n)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<blocklist xmlns='" WB_NS_BLOCKING "'>");
    for (size_t i = 0; i < n; i++)
        wb_block_item_xml(&b, items[i]);
    wb_buf_puts(&b, "</blocklist>");
    if (b.failed) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    } else {
        wb_block_mark_interested(w, bs, m);
        wb_modules_reply(w, m, b.data);
    }
    wb_buf_free(&b);
}

static void wb_block_loaded_cb(void *arg, wb_store_status status, const char *const *jids, size_t n)
{
    wb_block_op *op = arg;
    const wb_block_loaded ov = {&op->account, jids, n};
    if (status == WB_STORE_OK)
        wb_block_cache_put(op->bs->cache, &op->account, jids, n, op->version);
    else
        wb_warn("blocking: a block list could not be read (storage unavailable)");
    switch (op->kind) {
    case WB_BOP_INBOUND:
    case WB_BOP_OUTBOUND:
        wb_block_filter_loaded(op, status == WB_STORE_OK ? &ov : NULL);
        return;
    case WB_BOP_GET:
        if (status == WB_STORE_OK)
            wb_block_answer_list(op->w, op->bs, op->m, jids, n);
        else
            wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        break;
    default:
        break;
    }
    wb_block_op_free(op);
}

/* The user's own account: no 'to', or the user's bare JID (XEP-0191 3.2). */
static bool wb_block_own(const wb_msg *m, bool to_server)
{
    return !to_server && m->has_from && (!m->has_to || wb_jid_bare_eq(&m->to, &m->from));
}

static wb_mod_result wb_block_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    wb_block_state *bs = wb_block_state_of(w);
    if (!bs || !wb_block_own(m, to_server))
        return WB_MOD_PASS;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<blocklist xmlns='" WB_NS_BLOCKING "'>");
    const long n = wb_block_cache_each(bs->cache, &m->from, wb_block_item_xml, &b);
    wb_buf_puts(&b, "</blocklist>");
    if (n >= 0 && !b.failed) {
        wb_block_mark_interested(w, bs, m);
        wb_modules_reply(w, m, b.data);
    } else if (n >= 0) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    } else {
        wb_msg *ref = wb_msg_ref((wb_msg *)m); /* the count is atomic; the content stays */
        wb_block_op *op = wb_block_op_new(bs, w, WB_BOP_GET, ref, 0);
        if (op) {
            wb_block_load(op, &m->from);
        } else {
            wb_msg_unref(ref);
            wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        }
    }
    wb_buf_free(&b);
    return WB_MOD_HANDLED;
}

/* Reads the <item jid=.../> children of el into op->jids (prepared). Returns -1, or the stanza
 * error to answer. */
static int wb_block_parse_items(const wb_stanza *st, wb_el el, wb_block_op *op)
{
    op->jids = calloc(WB_STORE_BLOCK_MAX_ITEMS, sizeof(*op->jids));
    if (!op->jids)
        return WB_STE_INTERNAL_SERVER_ERROR;
    for (wb_el it = wb_st_first(st, el); it >= 0; it = wb_st_next(st, it)) {
        if (strcmp(wb_st_name(st, it), "item") != 0 || strcmp(wb_st_ns(st, it), WB_NS_BLOCKING))
            continue;
        const char *text = wb_st_attr(st, it, "jid");
        wb_jid j;
        char prepared[WB_JID_MAX + 1];
        if (!text)
            return WB_STE_BAD_REQUEST;
        if (wb_jid_parse(&j, text, strlen(text)) < 0 ||
            wb_jid_full(&j, prepared, sizeof(prepared)) < 0)
            return WB_STE_JID_MALFORMED;
        if (op->n == WB_STORE_BLOCK_MAX_ITEMS)
            return WB_STE_POLICY_VIOLATION;
        if (!(op->jids[op->n] = strdup(prepared)))
            return WB_STE_INTERNAL_SERVER_ERROR;
        op->n++;
    }
    return -1;
}

/* XEP-0191 3.3/3.4: the same block or unblock to every interested resource of the account. */
static void wb_block_push(wb_block_op *op, const char *name)
{
    wb_dir_target t[WB_BLOCK_MAX_TARGETS];
    const size_t nt = wb_directory_lookup(op->w->srv->dir, &op->account, t, WB_BLOCK_MAX_TARGETS);
    for (size_t i = 0; i < nt; i++) {
        if (!wb_block_cache_interested(op->bs->cache, t[i].sid))
            continue;
        wb_jid to = op->account;
        char full[WB_JID_MAX + 1];
        snprintf(to.resource, sizeof(to.resource), "%s", t[i].resource);
        if (wb_jid_full(&to, full, sizeof(full)) < 0)
            continue;
        wb_buf b;
        wb_buf_init(&b);
        wb_buf_printf(
            &b, "<iq type='set' id='block-push-%llu' to='",
            (unsigned long long)__atomic_add_fetch(&op->bs->push_seq, 1, __ATOMIC_RELAXED));
        wb_buf_xml_escape_str(&b, full);
        wb_buf_printf(&b, "'><%s xmlns='" WB_NS_BLOCKING "'>", name);
        for (size_t k = 0; k < op->n; k++)
            wb_block_item_xml(&b, op->jids[k]);
        wb_buf_printf(&b, "</%s></iq>", name);
        wb_msg *p =
            b.failed ? NULL : wb_xmpp_msg_from_text(WB_MSG_IQ, WB_IT_SET, NULL, &to, b.data, b.len);
        wb_buf_free(&b);
        if (p) {
            wb_route_to_session(op->w, t[i].worker, t[i].sid, p);
            wb_msg_unref(p);
        }
    }
}

/* A server-generated presence of `type` from `from` to `to`, routed. */
static void wb_block_send_presence(wb_worker *w, const char *type, wb_msg_type t,
                                   const wb_jid *from, const wb_jid *to)
{
    char f[WB_JID_MAX + 1], d[WB_JID_MAX + 1];
    if (wb_jid_full(from, f, sizeof(f)) < 0 || wb_jid_full(to, d, sizeof(d)) < 0)
        return;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<presence type='%s' from='", type);
    wb_buf_xml_escape_str(&b, f);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, d);
    wb_buf_puts(&b, "'/>");
    wb_msg *m =
        b.failed ? NULL : wb_xmpp_msg_from_text(WB_MSG_PRESENCE, t, from, to, b.data, b.len);
    wb_buf_free(&b);
    if (m)
        wb_route(w, m);
}

/* Items that name a local account (federation is not there yet: others get nothing). */
static bool wb_block_local_contact(const wb_worker *w, const char *item, wb_jid *out)
{
    return wb_jid_parse(out, item, strlen(item)) == 0 && wb_jid_has_node(out) &&
           wb_server_serves(w->srv, out->domain);
}

/* XEP-0191 3.3: the blocked contact sees the user's available resources go unavailable. */
static void wb_block_unavailable_to_blocked(wb_block_op *op)
{
    wb_dir_target t[WB_BLOCK_MAX_TARGETS];
    const size_t nt = wb_directory_lookup(op->w->srv->dir, &op->account, t, WB_BLOCK_MAX_TARGETS);
    for (size_t k = 0; k < op->n; k++) {
        wb_jid contact;
        if (!wb_block_local_contact(op->w, op->jids[k], &contact))
            continue;
        for (size_t i = 0; i < nt; i++) {
            if (!t[i].available)
                continue;
            wb_jid from = op->account;
            snprintf(from.resource, sizeof(from.resource), "%s", t[i].resource);
            wb_block_send_presence(op->w, "unavailable", WB_PT_UNAVAILABLE, &from, &contact);
        }
    }
}

/* XEP-0191 3.4: presence flows again once unblocked. Internal probes both ways let the presence
 * module answer them from the roster (only subscribed contacts learn anything). */
static void wb_block_probe_unblocked(wb_block_op *op, const char *const *jids, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        wb_jid contact;
        if (!wb_block_local_contact(op->w, jids[k], &contact))
            continue;
        contact.resource[0] = '\0';
        wb_block_send_presence(op->w, "probe", WB_PT_PROBE, &contact, &op->account);
        wb_block_send_presence(op->w, "probe", WB_PT_PROBE, &op->account, &contact);
    }
}

static void wb_block_added(void *arg, wb_store_status status, bool fits)
{
    wb_block_op *op = arg;
    if (status != WB_STORE_OK) {
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    } else if (!fits) {
        wb_route_error(op->w, op->m, WB_STE_RESOURCE_CONSTRAINT, "The block list is full");
    } else {
        wb_block_cache_invalidate(op->bs->cache, &op->account);
        wb_block_unavailable_to_blocked(op);
        wb_block_push(op, "block");
        wb_modules_reply(op->w, op->m, NULL);
    }
    wb_block_op_free(op);
}

static void wb_block_removed(void *arg, wb_store_status status, const char *const *jids, size_t n)
{
    wb_block_op *op = arg;
    if (status != WB_STORE_OK) {
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    } else {
        wb_block_cache_invalidate(op->bs->cache, &op->account);
        wb_block_push(op, "unblock");
        wb_modules_reply(op->w, op->m, NULL);
        wb_block_probe_unblocked(op, jids, n);
    }
    wb_block_op_free(op);
}

/* block (at least one item) or unblock (none: everything). */
static wb_mod_result wb_block_change(wb_worker *w, const wb_msg *m, bool to_server, bool block)
{
    wb_block_state *bs = wb_block_state_of(w);
    if (!bs || !wb_block_own(m, to_server))
        return WB_MOD_PASS;
    wb_msg *ref = wb_msg_ref((wb_msg *)m); /* the count is atomic; the content stays */
    wb_block_op *op = wb_block_op_new(bs, w, block ? WB_BOP_BLOCK : WB_BOP_UNBLOCK, ref, 0);
    if (!op) {
        wb_msg_unref(ref);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        return WB_MOD_HANDLED;
    }
    wb_block_bare(&op->account, &m->from);
    int err = wb_block_parse_items(m->xml, wb_st_first(m->xml, 0), op);
    if (err < 0 && block && op->n == 0)
        err = WB_STE_BAD_REQUEST; /* XEP-0191 3.3: at least one item */
    if (err < 0) {
        const char *const *items = (const char *const *)op->jids;
        wb_store_req *r =
            block ? wb_store_block_add(w->store, op->account.node, op->account.domain, items, op->n,
                                       WB_BLOCK_MAX_LIST, wb_block_added, op)
                  : wb_store_block_remove(w->store, op->account.node, op->account.domain, items,
                                          op->n, wb_block_removed, op);
        if (r)
            return WB_MOD_HANDLED;
        err = WB_STE_INTERNAL_SERVER_ERROR;
    }
    wb_route_error(w, m, err, NULL);
    wb_block_op_free(op);
    return WB_MOD_HANDLED;
}

static wb_mod_result wb_block_set_block(wb_worker *w, const wb_msg *m, const char *ns,
                                        bool to_server)
{
    (void)ns;
    return wb_block_change(w, m, to_server, true);
}

static wb_mod_result wb_block_set_unblock(wb_worker *w, const wb_msg *m, const char *ns,
                                          bool to_server)
{
    (void)ns;
    return wb_block_change(w, m, to_server, false);
}

/* ---- session hooks and life cycle ---- */

/* Loads the list at bind time so that the session's first stanzas need not wait for it. */
static void wb_block_bound(wb_worker *w, wb_c2s *c)
{
    wb_block_state *bs = wb_block_state_of(w);
    const wb_jid *jid = wb_c2s_jid(c);
    if (!bs || !jid || wb_block_cache_blocks(bs->cache, jid, jid) != WB_BLOCK_UNKNOWN)
        return;
    wb_block_op *op = wb_block_op_new(bs, w, WB_BOP_PRELOAD, NULL, 0);
    if (op)
        wb_block_load(op, jid);
}

/* Bounded memory: the list of an account goes when its last resource does. */
static void wb_block_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available)
{
    (void)was_available;
    wb_block_state *bs = wb_block_state_of(w);
    if (!bs)
        return;
    wb_block_cache_set_interested(bs->cache, sid, false);
    wb_dir_target t;
    if (wb_directory_lookup(w->srv->dir, full, &t, 1) == 0)
        wb_block_cache_evict(bs->cache, full);
}

static int wb_block_init(wb_server *srv, void **state)
{
    (void)srv;
    wb_block_state *bs = calloc(1, sizeof(*bs));
    if (!bs || pthread_mutex_init(&bs->lock, NULL) != 0)
        goto fail;
    if (!(bs->cache = wb_block_cache_new(WB_BLOCK_MAX_ACCOUNTS))) {
        pthread_mutex_destroy(&bs->lock);
        goto fail;
    }
    *state = bs;
    return 0;
fail:
    free(bs);
    wb_error("blocking: out of memory");
    return -1;
}

/* Runs after the workers stopped: requests that never got an answer are freed here. */
static void wb_block_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_block_state *bs = state;
    for (wb_block_op *op = bs->pending, *next; op; op = next) {
        next = op->next;
        wb_block_op_release(op);
    }
    wb_block_cache_free(bs->cache);
    pthread_mutex_destroy(&bs->lock);
    free(bs);
}

static const char *const wb_block_features[] = {WB_NS_BLOCKING, NULL};
static const wb_iq_handler wb_block_iq[] = {
    {WB_NS_BLOCKING, "blocklist", wb_block_get, NULL},
    {WB_NS_BLOCKING, "block", NULL, wb_block_set_block},
    {WB_NS_BLOCKING, "unblock", NULL, wb_block_set_unblock},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_blocking = {
    .name = "blocking",
    .features = wb_block_features,
    .iq = wb_block_iq,
    .bound = wb_block_bound,
    .ended = wb_block_ended,
    .outbound = wb_block_outbound,
    .inbound = wb_block_inbound,
    .init = wb_block_init,
    .shutdown = wb_block_shutdown,
};
