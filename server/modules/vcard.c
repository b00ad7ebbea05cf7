/* XEP-0054 vcard-temp: each account's vCard, stored as received and returned as stored. XEP-0153
 * avatar hashes in presence and the PEP avatar conversion (XEP-0398) are in avatar.c. */
#include <stdlib.h>
#include <string.h>

#include "wb_modules.h"
#include "wb_pep.h"
#include "wb_router.h"
#include "wb_store_xmlstore.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

#define WB_NS_VCARD    "vcard-temp"
#define WB_VCARD_EMPTY "<vCard xmlns='" WB_NS_VCARD "'/>"

/* A request waiting for the database: the worker it runs on and the iq to answer. */
typedef struct wb_vcard_op {
    wb_worker *w;
    wb_msg *m;
} wb_vcard_op;

static wb_vcard_op *wb_vcard_op_new(wb_worker *w, const wb_msg *m)
{
    wb_vcard_op *op = malloc(sizeof(*op));
    if (op == NULL)
        return NULL;
    op->w = w;
    op->m = wb_msg_ref((wb_msg *)m);
    return op;
}

static void wb_vcard_op_free(wb_vcard_op *op)
{
    wb_msg_unref(op->m);
    free(op);
}

static void wb_vcard_reply(wb_worker *w, const wb_msg *m, const char *payload, size_t len)
{
    wb_msg *r = wb_xmpp_iq_result(m, payload, len);
    if (r != NULL)
        wb_route(w, r);
}

/* Answers a failed request: no such account, or a temporary failure. */
static void wb_vcard_fail(wb_worker *w, const wb_msg *m, wb_store_status status)
{
    if (status == WB_STORE_NOT_FOUND)
        wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL); /* RFC 6121 8.5.1 */
    else
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, "Storage is unavailable, retry later");
}

static void wb_vcard_got(void *arg, wb_store_status status, const char *doc, size_t len)
{
    wb_vcard_op *op = arg;
    if (status != WB_STORE_OK)
        wb_vcard_fail(op->w, op->m, status);
    else if (doc == NULL)
        wb_vcard_reply(op->w, op->m, WB_VCARD_EMPTY, strlen(WB_VCARD_EMPTY));
    else
        wb_vcard_reply(op->w, op->m, doc, len);
    wb_vcard_op_free(op);
}

static void wb_vcard_stored(void *arg, wb_store_status status)
{
    wb_vcard_op *op = arg;
    if (status != WB_STORE_OK) {
        wb_vcard_fail(op->w, op->m, status);
    } else {
        wb_vcard_reply(op->w, op->m, NULL, 0);
        wb_avatar_vcard_set(op->w, op->m); /* XEP-0398: the hash for presence, the PEP avatar */
    }
    wb_vcard_op_free(op);
}

/* Anyone may read an account's vCard (no 'to': the sender's own); the server has none. */
static wb_mod_result wb_vcard_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server) {
        wb_modules_reply(w, m, WB_VCARD_EMPTY);
        return WB_MOD_HANDLED;
    }
    const wb_jid *account = m->has_to ? &m->to : &m->from;
    wb_vcard_op *op = wb_vcard_op_new(w, m);
    if (op == NULL || wb_store_xml_get(w->store, account->node, account->domain, WB_XMLSTORE_VCARD,
                                       "", wb_vcard_got, op) == NULL) {
        if (op != NULL)
            wb_vcard_op_free(op);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    return WB_MOD_HANDLED;
}

/* Only the account itself replaces its vCard, with the element exactly as it sent it. */
static wb_mod_result wb_vcard_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server || (m->has_to && !wb_jid_bare_eq(&m->to, &m->from))) {
        wb_route_error(w, m, WB_STE_FORBIDDEN, "Only the account itself may set its vCard");
        return WB_MOD_HANDLED;
    }
    wb_buf doc;
    wb_buf_init(&doc);
    wb_vcard_op *op = NULL;
    if (wb_xmlstore_document(m->xml, wb_st_first(m->xml, 0), &doc) < 0) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, "The vCard element cannot be stored alone");
    } else if (doc.len > WB_XMLSTORE_DOC_MAX) {
        wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, "The vCard is larger than 64 KiB");
    } else if ((op = wb_vcard_op_new(w, m)) == NULL ||
               wb_store_xml_put(w->store, m->from.node, m->from.domain, WB_XMLSTORE_VCARD, "",
                                doc.data, doc.len, wb_vcard_stored, op) == NULL) {
        if (op != NULL)
            wb_vcard_op_free(op);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    wb_buf_free(&doc);
    return WB_MOD_HANDLED;
}

static const char *const wb_vcard_features[] = {WB_NS_VCARD, NULL};
static const wb_iq_handler wb_vcard_iq[] = {
    {WB_NS_VCARD, "vCard", wb_vcard_get, wb_vcard_set},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_vcard = {.name = "vcard", .features = wb_vcard_features, .iq = wb_vcard_iq};
