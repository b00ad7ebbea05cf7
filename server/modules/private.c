/* XEP-0049 private XML storage: an account keeps namespaced elements for itself, one per
 * namespace and name. Not for storage:bookmarks (bookmarks_compat.c converts it to PEP). */
#include <stdlib.h>
#include <string.h>

#include "wb_modules.h"
#include "wb_router.h"
#include "wb_store_xmlstore.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

#define WB_NS_PRIVATE "jabber:iq:private"

/* A request waiting for the database: the worker it runs on and the iq to answer. */
typedef struct wb_private_op {
    wb_worker *w;
    wb_msg *m;
} wb_private_op;

static wb_private_op *wb_private_op_new(wb_worker *w, const wb_msg *m)
{
    wb_private_op *op = malloc(sizeof(*op));
    if (op == NULL)
        return NULL;
    op->w = w;
    op->m = wb_msg_ref((wb_msg *)m);
    return op;
}

static void wb_private_op_free(wb_private_op *op)
{
    wb_msg_unref(op->m);
    free(op);
}

/* The one namespaced child of <query/> (-1 when there is none or more than one). */
static wb_el wb_private_item(const wb_msg *m)
{
    const wb_el item = wb_st_first(m->xml, wb_st_first(m->xml, 0));
    if (item < 0 || wb_st_next(m->xml, item) >= 0 || wb_st_ns(m->xml, item)[0] == '\0')
        return -1;
    return item;
}

/* Checks the request (answering its error) and builds the key "{namespace}name" of its item.
 * Returns the item, or -1 when the request was answered with an error. */
static wb_el wb_private_check(wb_worker *w, const wb_msg *m, bool to_server, wb_buf *key)
{
    if (to_server || (m->has_to && !wb_jid_bare_eq(&m->to, &m->from))) {
        wb_route_error(w, m, WB_STE_FORBIDDEN, "Private storage belongs to the account only");
        return -1;
    }
    const wb_el item = wb_private_item(m);
    if (item < 0) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, "Exactly one namespaced element is needed");
        return -1;
    }
    const char *ns = wb_st_ns(m->xml, item);
    if (strncmp(ns, "jabber:", 7) == 0 || strcmp(ns, "vcard-temp") == 0) {
        wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, "This namespace is reserved");
        return -1;
    }
    wb_buf_printf(key, "{%s}%s", ns, wb_st_name(m->xml, item));
    if (key->failed || key->len > WB_XMLSTORE_KEY_MAX) {
        wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, "The namespace is too long");
        return -1;
    }
    return item;
}

/* Answers with <query/> around doc, or around the empty requested element when doc is NULL. */
static void wb_private_reply(wb_worker *w, const wb_msg *m, const char *doc, size_t len)
{
    const wb_el item = wb_private_item(m);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_PRIVATE "'>");
    if (doc != NULL) {
        wb_buf_append(&b, doc, len);
    } else {
        wb_buf_printf(&b, "<%s xmlns='", wb_st_name(m->xml, item));
        wb_buf_xml_escape_str(&b, wb_st_ns(m->xml, item));
        wb_buf_puts(&b, "'/>");
    }
    wb_buf_puts(&b, "</query>");
    wb_msg *r = b.failed ? NULL : wb_xmpp_iq_result(m, b.data, b.len);
    if (r != NULL)
        wb_route(w, r);
    else
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    wb_buf_free(&b);
}

static void wb_private_fail(wb_worker *w, const wb_msg *m, wb_store_status status)
{
    if (status == WB_STORE_NOT_FOUND)
        wb_route_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
    else
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, "Storage is unavailable, retry later");
}

static void wb_private_got(void *arg, wb_store_status status, const char *doc, size_t len)
{
    wb_private_op *op = arg;
    if (status != WB_STORE_OK)
        wb_private_fail(op->w, op->m, status);
    else
        wb_private_reply(op->w, op->m, doc, len);
    wb_private_op_free(op);
}

static void wb_private_stored(void *arg, wb_store_status status)
{
    wb_private_op *op = arg;
    if (status != WB_STORE_OK) {
        wb_private_fail(op->w, op->m, status);
    } else {
        wb_msg *r = wb_xmpp_iq_result(op->m, NULL, 0);
        if (r != NULL)
            wb_route(op->w, r);
    }
    wb_private_op_free(op);
}

static wb_mod_result wb_private_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    wb_buf key;
    wb_buf_init(&key);
    wb_private_op *op = NULL;
    if (wb_private_check(w, m, to_server, &key) >= 0 &&
        ((op = wb_private_op_new(w, m)) == NULL ||
         wb_store_xml_get(w->store, m->from.node, m->from.domain, WB_XMLSTORE_PRIVATE, key.data,
                          wb_private_got, op) == NULL)) {
        if (op != NULL)
            wb_private_op_free(op);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    wb_buf_free(&key);
    return WB_MOD_HANDLED;
}

static wb_mod_result wb_private_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    wb_buf key, doc;
    wb_buf_init(&key);
    wb_buf_init(&doc);
    wb_private_op *op = NULL;
    const wb_el item = wb_private_check(w, m, to_server, &key);
    if (item < 0) {
        /* answered */
    } else if (wb_xmlstore_document(m->xml, item, &doc) < 0) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, "The element cannot be stored alone");
    } else if (doc.len > WB_XMLSTORE_DOC_MAX) {
        wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, "The element is larger than 64 KiB");
    } else if ((op = wb_private_op_new(w, m)) == NULL ||
               wb_store_xml_put(w->store, m->from.node, m->from.domain, WB_XMLSTORE_PRIVATE,
                                key.data, doc.data, doc.len, wb_private_stored, op) == NULL) {
        if (op != NULL)
            wb_private_op_free(op);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    wb_buf_free(&key);
    wb_buf_free(&doc);
    return WB_MOD_HANDLED;
}

static const char *const wb_private_features[] = {WB_NS_PRIVATE, NULL};
static const wb_iq_handler wb_private_iq[] = {
    {WB_NS_PRIVATE, "query", wb_private_get, wb_private_set},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_private = {
    .name = "private", .features = wb_private_features, .iq = wb_private_iq};
