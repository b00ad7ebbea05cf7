/* XEP-0402 section 5.3 (#compat): bookmarks kept with XEP-0049 private XML (storage:bookmarks)
 * are the account's urn:xmpp:bookmarks:1 PEP items and the other way round. Other private XML
 * is private.c's; PEP storage of storage:bookmarks (XEP-0411 #compat-pep) is not done. */
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_pep.h"
#include "wb_router.h"
#include "wb_store_xmlstore.h"
#include "wb_xmpp_model.h"

#define WB_NS_PRIVATE   "jabber:iq:private"
#define WB_NS_LEGACY    "storage:bookmarks"
#define WB_NS_BOOKMARKS "urn:xmpp:bookmarks:1"
#define WB_BM_KEY       "{" WB_NS_LEGACY "}storage"
#define WB_BM_EMPTY     "<storage xmlns='" WB_NS_LEGACY "'/>"

/* A private XML request on the bookmarks, waiting for the database. */
typedef struct wb_bm_op {
    wb_worker *w;
    wb_msg *m; /* the iq (referenced) */
    wb_jid owner;
    wb_buf doc; /* get: the stored legacy document */
    bool have_doc;
    int pending; /* set: PEP requests still out */
    bool failed; /* set: one of them failed */
} wb_bm_op;

/* One PEP request of a set: the item, for its notification. */
typedef struct wb_bm_item {
    wb_bm_op *op;
    char id[WB_PEP_ID_MAX + 1];
    wb_buf payload; /* empty for a retraction */
} wb_bm_item;

static wb_bm_op *wb_bm_op_new(wb_worker *w, const wb_msg *m)
{
    wb_bm_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->w = w;
    op->m = wb_msg_ref((wb_msg *)m);
    op->owner = m->from;
    op->owner.resource[0] = '\0';
    wb_buf_init(&op->doc);
    return op;
}

static void wb_bm_op_free(wb_bm_op *op)
{
    wb_buf_free(&op->doc);
    wb_msg_unref(op->m);
    free(op);
}

static void wb_bm_fail(wb_worker *w, const wb_msg *m, wb_store_status status)
{
    if (status == WB_STORE_NOT_FOUND)
        wb_route_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
    else
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, "Storage is unavailable, retry later");
}

/* The <storage xmlns='storage:bookmarks'/> element of a private XML iq, or -1. */
static wb_el wb_bm_storage(const wb_msg *m)
{
    const wb_el q = wb_st_first(m->xml, 0);
    const wb_el item = wb_st_first(m->xml, q);
    if (item < 0 || wb_st_next(m->xml, item) >= 0 || strcmp(wb_st_name(m->xml, item), "storage") ||
        strcmp(wb_st_ns(m->xml, item), WB_NS_LEGACY))
        return -1;
    return item;
}

/* Whether this module takes the request: the account's own bookmarks. */
static bool wb_bm_ours(const wb_msg *m, bool to_server)
{
    return !to_server && (!m->has_to || wb_jid_bare_eq(&m->to, &m->from)) && wb_bm_storage(m) >= 0;
}

static bool wb_bm_true(const char *v)
{
    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Appends <tag>text</tag> for the child tag (in ns) of el, when there is one. */
static void wb_bm_copy_text(wb_buf *b, const wb_stanza *st, wb_el el, const char *tag,
                            const char *ns)
{
    const wb_el c = wb_st_child(st, el, tag, ns);
    if (c < 0)
        return;
    wb_buf_printf(b, "<%s>", tag);
    wb_buf_xml_escape_str(b, wb_st_text(st, c, NULL));
    wb_buf_printf(b, "</%s>", tag);
}

/* ---- get: the stored legacy document with the PEP conferences ---- */

/* Appends the legacy form of one PEP item (<conference jid=id .../>). */
static void wb_bm_to_legacy(wb_buf *b, const wb_pep_item *it)
{
    wb_stanza *st = wb_stanza_parse(it->payload, it->len);
    if (st == NULL || strcmp(wb_st_name(st, 0), "conference") != 0 ||
        strcmp(wb_st_ns(st, 0), WB_NS_BOOKMARKS) != 0) {
        if (st != NULL)
            wb_stanza_free(st);
        return;
    }
    const char *name = wb_st_attr(st, 0, "name");
    wb_buf_puts(b, "<conference jid='");
    wb_buf_xml_escape_str(b, it->id);
    wb_buf_printf(b, "' autojoin='%s'",
                  wb_bm_true(wb_st_attr(st, 0, "autojoin")) ? "true" : "false");
    if (name != NULL) {
        wb_buf_puts(b, " name='");
        wb_buf_xml_escape_str(b, name);
        wb_buf_puts(b, "'");
    }
    wb_buf_puts(b, ">");
    wb_bm_copy_text(b, st, 0, "nick", WB_NS_BOOKMARKS);
    wb_bm_copy_text(b, st, 0, "password", WB_NS_BOOKMARKS);
    wb_buf_puts(b, "</conference>");
    wb_stanza_free(st);
}

/* <query><storage> with what the stored document has besides conferences (urls), then the
 * conferences of the PEP node (oldest first). */
static void wb_bm_answer(wb_bm_op *op, const wb_pep_items *res)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_stanza *st = op->have_doc ? wb_stanza_parse(op->doc.data, op->doc.len) : NULL;
    wb_buf_puts(&b, "<query xmlns='" WB_NS_PRIVATE "'><storage xmlns='" WB_NS_LEGACY "'>");
    for (wb_el c = st ? wb_st_first(st, 0) : -1; c >= 0; c = wb_st_next(st, c))
        if (strcmp(wb_st_name(st, c), "conference") != 0 && wb_xmlstore_document(st, c, &b) < 0)
            b.failed = true;
    for (size_t i = res->n; i > 0; i--)
        wb_bm_to_legacy(&b, &res->v[i - 1]);
    wb_buf_puts(&b, "</storage></query>");
    if (b.failed)
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    else
        wb_modules_reply(op->w, op->m, b.data);
    if (st != NULL)
        wb_stanza_free(st);
    wb_buf_free(&b);
}

static void wb_bm_items_got(void *arg, wb_store_status status, const wb_pep_items *res)
{
    wb_bm_op *op = arg;
    if (status != WB_STORE_OK) {
        wb_bm_fail(op->w, op->m, status);
    } else if (res->result != WB_PEP_R_OK) {
        /* No PEP bookmarks yet: the document as stored. */
        wb_buf b;
        wb_buf_init(&b);
        wb_buf_puts(&b, "<query xmlns='" WB_NS_PRIVATE "'>");
        if (op->have_doc)
            wb_buf_append(&b, op->doc.data, op->doc.len);
        else
            wb_buf_puts(&b, WB_BM_EMPTY);
        wb_buf_puts(&b, "</query>");
        if (b.failed)
            wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        else
            wb_modules_reply(op->w, op->m, b.data);
        wb_buf_free(&b);
    } else {
        wb_bm_answer(op, res);
    }
    wb_bm_op_free(op);
}

static void wb_bm_doc_got(void *arg, wb_store_status status, const char *doc, size_t len)
{
    wb_bm_op *op = arg;
    if (status != WB_STORE_OK) {
        wb_bm_fail(op->w, op->m, status);
        wb_bm_op_free(op);
        return;
    }
    if (doc != NULL) {
        wb_buf_append(&op->doc, doc, len);
        op->have_doc = !op->doc.failed;
    }
    if (wb_store_pep_items(op->w->store, op->owner.node, op->owner.domain, WB_NS_BOOKMARKS, "", "",
                           WB_PEP_MAX_ITEMS, wb_bm_items_got, op) == NULL) {
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_bm_op_free(op);
    }
}

static wb_mod_result wb_bm_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!wb_bm_ours(m, to_server))
        return WB_MOD_PASS;
    wb_bm_op *op = wb_bm_op_new(w, m);
    if (op == NULL || wb_store_xml_get(w->store, op->owner.node, op->owner.domain,
                                       WB_XMLSTORE_PRIVATE, WB_BM_KEY, wb_bm_doc_got, op) == NULL) {
        if (op != NULL)
            wb_bm_op_free(op);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    return WB_MOD_HANDLED;
}

/* ---- set: stored as sent, then the PEP node made to hold the same conferences ---- */

/* One reference to the op dropped: after the last, the iq is answered. */
static void wb_bm_release(wb_bm_op *op)
{
    if (--op->pending > 0)
        return;
    if (op->failed)
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR,
                       "Bookmarks stored, but not all of them as PEP items: retry");
    else
        wb_modules_reply(op->w, op->m, NULL);
    wb_bm_op_free(op);
}

/* One PEP request done: its notification sent (a publish or a retraction). */
static void wb_bm_item_done(wb_bm_item *x, bool ok, int access)
{
    wb_bm_op *op = x->op;
    wb_buf ev;
    wb_buf_init(&ev);
    if (!ok) {
        op->failed = true;
    } else if (x->payload.len) {
        wb_pep_put_item_event(&ev, WB_NS_BOOKMARKS, x->id, x->payload.data, x->payload.len);
    } else {
        wb_buf_puts(&ev, "<items node='" WB_NS_BOOKMARKS "'><retract id='");
        wb_buf_xml_escape_str(&ev, x->id);
        wb_buf_puts(&ev, "'/></items>");
    }
    if (ok && !ev.failed)
        wb_pep_notify(op->w, &op->owner, WB_NS_BOOKMARKS, access, ev.data, ev.len);
    wb_buf_free(&ev);
    wb_buf_free(&x->payload);
    free(x);
    wb_bm_release(op);
}

static void wb_bm_item_cb(void *arg, wb_store_status status, wb_pep_result result,
                          const wb_pep_config *cfg)
{
    wb_bm_item *x = arg;
    const bool ok = status == WB_STORE_OK && (result == WB_PEP_R_OK || result == WB_PEP_R_NO_ITEM);
    wb_bm_item_done(x, ok, ok ? cfg->access : WB_PEP_WHITELIST);
}

/* The PEP payload of one legacy <conference/> into x; -1 when it names no room. */
static int wb_bm_to_pep(const wb_stanza *st, wb_el conf, wb_bm_item *x)
{
    const char *jid = wb_st_attr(st, conf, "jid"), *name = wb_st_attr(st, conf, "name");
    wb_jid j;
    if (jid == NULL || strlen(jid) > WB_PEP_ID_MAX || wb_jid_parse(&j, jid, strlen(jid)) < 0 ||
        j.node[0] == '\0' || j.resource[0] != '\0')
        return -1;
    snprintf(x->id, sizeof(x->id), "%s", jid);
    wb_buf_printf(&x->payload, "<conference xmlns='" WB_NS_BOOKMARKS "' autojoin='%s'",
                  wb_bm_true(wb_st_attr(st, conf, "autojoin")) ? "true" : "false");
    if (name != NULL) {
        wb_buf_puts(&x->payload, " name='");
        wb_buf_xml_escape_str(&x->payload, name);
        wb_buf_puts(&x->payload, "'");
    }
    wb_buf_puts(&x->payload, ">");
    wb_bm_copy_text(&x->payload, st, conf, "nick", WB_NS_LEGACY);
    wb_bm_copy_text(&x->payload, st, conf, "password", WB_NS_LEGACY);
    wb_buf_puts(&x->payload, "</conference>");
    return x->payload.failed || x->payload.len > WB_PEP_PAYLOAD_MAX ? -1 : 0;
}

/* Whether the legacy storage of m names the room id. */
static bool wb_bm_listed(const wb_stanza *st, wb_el storage, const char *id)
{
    for (wb_el c = wb_st_child(st, storage, "conference", WB_NS_LEGACY); c >= 0;
         c = wb_st_next(st, c)) {
        const char *jid = wb_st_attr(st, c, "jid");
        if (strcmp(wb_st_name(st, c), "conference") == 0 && jid && strcmp(jid, id) == 0)
            return true;
    }
    return false;
}

/* Starts one PEP request for the op (publish when x has a payload, else retract). */
static void wb_bm_start(wb_bm_op *op, wb_bm_item *x, const wb_pep_config *opts)
{
    wb_store_req *q;
    x->op = op;
    op->pending++;
    if (x->payload.len)
        q = wb_store_pep_publish(op->w->store, op->owner.node, op->owner.domain, WB_NS_BOOKMARKS,
                                 x->id, x->payload.data, x->payload.len, opts, WB_PEP_MAX_NODES,
                                 wb_bm_item_cb, x);
    else
        q = wb_store_pep_remove(op->w->store, op->owner.node, op->owner.domain, WB_NS_BOOKMARKS,
                                WB_PEP_RETRACT, x->id, wb_bm_item_cb, x);
    if (q == NULL)
        wb_bm_item_done(x, false, WB_PEP_WHITELIST);
}

static void wb_bm_sync(void *arg, wb_store_status status, const wb_pep_items *res)
{
    wb_bm_op *op = arg;
    const wb_stanza *st = op->m->xml;
    const wb_el storage = wb_bm_storage(op->m);
    /* XEP-0402 section 3: a new node is created whitelist, persistent, with room for all. */
    const wb_pep_config create = {WB_PEP_WHITELIST, WB_PEP_MAX_ITEMS, 1}, keep = {-1, 0, -1};
    const bool exists = status == WB_STORE_OK && res->result == WB_PEP_R_OK;
    if (status != WB_STORE_OK) {
        wb_bm_fail(op->w, op->m, status);
        wb_bm_op_free(op);
        return;
    }
    op->pending = 1; /* held until every request is started */
    for (size_t i = 0; exists && i < res->n; i++) {
        if (wb_bm_listed(st, storage, res->v[i].id))
            continue;
        wb_bm_item *x = calloc(1, sizeof(*x));
        if (x == NULL) {
            op->failed = true;
            continue;
        }
        wb_buf_init(&x->payload);
        snprintf(x->id, sizeof(x->id), "%s", res->v[i].id);
        wb_bm_start(op, x, &keep);
    }
    for (wb_el c = wb_st_child(st, storage, "conference", WB_NS_LEGACY); c >= 0;
         c = wb_st_next(st, c)) {
        if (strcmp(wb_st_name(st, c), "conference") != 0)
            continue;
        wb_bm_item *x = calloc(1, sizeof(*x));
        if (x == NULL) {
            op->failed = true;
            continue;
        }
        wb_buf_init(&x->payload);
        if (wb_bm_to_pep(st, c, x) < 0) {
            wb_buf_free(&x->payload);
            free(x);
            continue;
        }
        wb_bm_start(op, x, exists ? &keep : &create);
    }
    wb_bm_release(op);
}

static void wb_bm_stored(void *arg, wb_store_status status)
{
    wb_bm_op *op = arg;
    if (status != WB_STORE_OK ||
        wb_store_pep_items(op->w->store, op->owner.node, op->owner.domain, WB_NS_BOOKMARKS, "", "",
                           WB_PEP_MAX_ITEMS, wb_bm_sync, op) == NULL) {
        wb_bm_fail(op->w, op->m, status == WB_STORE_OK ? WB_STORE_UNAVAILABLE : status);
        wb_bm_op_free(op);
    }
}

static wb_mod_result wb_bm_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!wb_bm_ours(m, to_server))
        return WB_MOD_PASS;
    wb_buf doc;
    wb_buf_init(&doc);
    wb_bm_op *op = NULL;
    size_t n = 0;
    for (wb_el c = wb_st_first(m->xml, wb_bm_storage(m)); c >= 0; c = wb_st_next(m->xml, c))
        n += strcmp(wb_st_name(m->xml, c), "conference") == 0;
    if (n > WB_PEP_MAX_ITEMS) {
        wb_route_error(w, m, WB_STE_POLICY_VIOLATION, "At most 256 conference bookmarks");
    } else if (wb_xmlstore_document(m->xml, wb_bm_storage(m), &doc) < 0) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, "The element cannot be stored alone");
    } else if (doc.len > WB_XMLSTORE_DOC_MAX) {
        wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, "The element is larger than 64 KiB");
    } else if ((op = wb_bm_op_new(w, m)) == NULL ||
               wb_store_xml_put(w->store, op->owner.node, op->owner.domain, WB_XMLSTORE_PRIVATE,
                                WB_BM_KEY, doc.data, doc.len, wb_bm_stored, op) == NULL) {
        if (op != NULL)
            wb_bm_op_free(op);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    wb_buf_free(&doc);
    return WB_MOD_HANDLED;
}

static const wb_iq_handler wb_bm_iq[] = {
    {WB_NS_PRIVATE, "query", wb_bm_get, wb_bm_set},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_bookmarks_compat = {.name = "bookmarks_compat", .iq = wb_bm_iq};
