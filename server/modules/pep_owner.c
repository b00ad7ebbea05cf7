/* XEP-0163 personal eventing: the owner's pubsub#owner operations on its own nodes (configure get
 * and set with a data form, delete, purge). Not for publishing or reading items (pep.c). */
#include <stdio.h>
#include <string.h>

#include "wb_pep.h"
#include "wb_router.h"

#define WB_PEP_CONFIG_FORM "http://jabber.org/protocol/pubsub#node_config"

typedef enum {
    WB_PEP_OP_CONFIG_GET = 0,
    WB_PEP_OP_CONFIG_SET,
    WB_PEP_OP_DELETE,
    WB_PEP_OP_PURGE
} wb_pep_owner_op;

static void wb_pep_config_form(wb_buf *b, const char *pnode, const wb_pep_config *cfg)
{
    wb_buf_puts(b, "<pubsub xmlns='" WB_NS_PUBSUB_OWNER "'><configure node='");
    wb_buf_xml_escape_str(b, pnode);
    wb_buf_puts(b,
                "'><x xmlns='" WB_NS_XDATA "' type='form'>"
                "<field var='FORM_TYPE' type='hidden'><value>" WB_PEP_CONFIG_FORM "</value></field>"
                "<field var='pubsub#access_model' type='list-single' label='Who may subscribe "
                "and retrieve items'>");
    for (int a = WB_PEP_PRESENCE; a <= WB_PEP_WHITELIST; a++)
        wb_buf_printf(b, "<option><value>%s</value></option>", wb_pep_access_name(a));
    wb_buf_printf(b,
                  "<value>%s</value></field>"
                  "<field var='pubsub#max_items' type='text-single' label='Max number of items "
                  "to persist'><value>%d</value></field>"
                  "<field var='pubsub#persist_items' type='boolean' label='Persist items to "
                  "storage'><value>%d</value></field></x></configure></pubsub>",
                  wb_pep_access_name(cfg->access), cfg->max_items, cfg->persist ? 1 : 0);
}

/* The notification a removal sends (<delete/> or <purge/>). */
static void wb_pep_removal_notify(wb_pep_req *r, const char *what, int access)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<%s node='", what);
    wb_buf_xml_escape_str(&b, r->pnode);
    wb_buf_puts(&b, "'/>");
    if (!b.failed)
        wb_pep_notify(r->w, &r->owner, r->pnode, access, b.data, b.len);
    wb_buf_free(&b);
}

static void wb_pep_owner_done(wb_pep_req *r, wb_pep_owner_op op, wb_store_status status,
                              wb_pep_result result, const wb_pep_config *cfg)
{
    if (status != WB_STORE_OK) {
        wb_pep_store_error(r->w, r->m, status);
        return;
    }
    if (result != WB_PEP_R_OK) {
        wb_route_error(r->w, r->m, WB_STE_ITEM_NOT_FOUND, NULL);
        return;
    }
    if (op == WB_PEP_OP_CONFIG_GET) {
        wb_buf b;
        wb_buf_init(&b);
        wb_pep_config_form(&b, r->pnode, cfg);
        if (b.failed)
            wb_route_error(r->w, r->m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        else
            wb_modules_reply(r->w, r->m, b.data);
        wb_buf_free(&b);
        return;
    }
    wb_modules_reply(r->w, r->m, NULL);
    if (op == WB_PEP_OP_DELETE)
        wb_pep_removal_notify(r, "delete", cfg->access);
    else if (op == WB_PEP_OP_PURGE)
        wb_pep_removal_notify(r, "purge", cfg->access);
}

#define WB_PEP_OWNER_CB(name, op)                                                                  \
    static void name(void *arg, wb_store_status status, wb_pep_result result,                      \
                     const wb_pep_config *cfg)                                                     \
    {                                                                                              \
        wb_pep_req *r = arg;                                                                       \
        wb_pep_owner_done(r, op, status, result, cfg);                                             \
        wb_pep_req_free(r);                                                                        \
    }
WB_PEP_OWNER_CB(wb_pep_config_got, WB_PEP_OP_CONFIG_GET)
WB_PEP_OWNER_CB(wb_pep_config_set, WB_PEP_OP_CONFIG_SET)
WB_PEP_OWNER_CB(wb_pep_deleted, WB_PEP_OP_DELETE)
WB_PEP_OWNER_CB(wb_pep_purged, WB_PEP_OP_PURGE)

/* The operation child of <pubsub xmlns=pubsub#owner> and its node; -1 after an error reply. */
static wb_el wb_pep_owner_op_el(wb_worker *w, const wb_msg *m, const char **pnode)
{
    const wb_el op = wb_st_first(m->xml, wb_st_first(m->xml, 0));
    if (op < 0) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, NULL);
        return -1;
    }
    if (!wb_pep_is_owner(m)) {
        wb_route_error(w, m, WB_STE_FORBIDDEN, NULL);
        return -1;
    }
    *pnode = wb_st_attr(m->xml, op, "node");
    if (*pnode == NULL || (*pnode)[0] == '\0') {
        wb_pep_error(w, m, WB_STE_BAD_REQUEST, "nodeid-required");
        return -1;
    }
    if (strlen(*pnode) > WB_PEP_NODE_MAX) {
        wb_route_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        return -1;
    }
    return op;
}

static void wb_pep_owner_submit(wb_worker *w, const wb_msg *m, const char *pnode,
                                wb_pep_owner_op op, const wb_pep_config *set)
{
    wb_pep_req *r = wb_pep_req_new(w, m, pnode);
    if (r == NULL) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    wb_store_req *q = NULL;
    const char *n = r->owner.node, *d = r->owner.domain;
    switch (op) {
    case WB_PEP_OP_CONFIG_GET:
        q = wb_store_pep_configure(w->store, n, d, r->pnode, NULL, wb_pep_config_got, r);
        break;
    case WB_PEP_OP_CONFIG_SET:
        q = wb_store_pep_configure(w->store, n, d, r->pnode, set, wb_pep_config_set, r);
        break;
    case WB_PEP_OP_DELETE:
        q = wb_store_pep_remove(w->store, n, d, r->pnode, WB_PEP_DELETE, NULL, wb_pep_deleted, r);
        break;
    case WB_PEP_OP_PURGE:
        q = wb_store_pep_remove(w->store, n, d, r->pnode, WB_PEP_PURGE, NULL, wb_pep_purged, r);
        break;
    }
    if (q == NULL) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_pep_req_free(r);
    }
}

wb_mod_result wb_pep_owner_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    const char *pnode;
    if (to_server)
        return WB_MOD_PASS;
    const wb_el op = wb_pep_owner_op_el(w, m, &pnode);
    if (op < 0)
        return WB_MOD_HANDLED;
    if (strcmp(wb_st_name(m->xml, op), "configure") == 0)
        wb_pep_owner_submit(w, m, pnode, WB_PEP_OP_CONFIG_GET, NULL);
    else
        wb_route_error(w, m, WB_STE_FEATURE_NOT_IMPLEMENTED, NULL);
    return WB_MOD_HANDLED;
}

wb_mod_result wb_pep_owner_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    const char *pnode;
    if (to_server)
        return WB_MOD_PASS;
    const wb_el op = wb_pep_owner_op_el(w, m, &pnode);
    if (op < 0)
        return WB_MOD_HANDLED;
    const char *name = wb_st_name(m->xml, op);
    if (strcmp(name, "delete") == 0) {
        wb_pep_owner_submit(w, m, pnode, WB_PEP_OP_DELETE, NULL);
    } else if (strcmp(name, "purge") == 0) {
        wb_pep_owner_submit(w, m, pnode, WB_PEP_OP_PURGE, NULL);
    } else if (strcmp(name, "configure") == 0) {
        wb_pep_config set = {-1, 0, -1};
        const wb_el x = wb_st_child(m->xml, op, "x", WB_NS_XDATA);
        const char *type = x >= 0 ? wb_st_attr(m->xml, x, "type") : NULL;
        if (type != NULL && strcmp(type, "cancel") == 0)
            wb_modules_reply(w, m, NULL);
        else if (x < 0 || type == NULL || strcmp(type, "submit") != 0)
            wb_route_error(w, m, WB_STE_BAD_REQUEST, NULL);
        else if (wb_pep_read_form(m->xml, x, WB_PEP_CONFIG_FORM, &set) < 0)
            wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, NULL);
        else
            wb_pep_owner_submit(w, m, pnode, WB_PEP_OP_CONFIG_SET, &set);
    } else {
        wb_route_error(w, m, WB_STE_FEATURE_NOT_IMPLEMENTED, NULL);
    }
    return WB_MOD_HANDLED;
}
