/* XEP-0163 personal eventing on a XEP-0060 subset: the module, and the pubsub iq on an account's
 * bare JID (publish with publish-options, retract, create, items) with its access checks. Owner
 * operations are in pep_owner.c, notifications in pep_notify.c, caps tracking in pep_caps.c. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_pep.h"
#include "wb_router.h"
#include "wb_store_roster.h"
#include "wb_store_xmlstore.h"
#include "wb_xmpp_model.h"

#define WB_NS_STANZAS     "urn:ietf:params:xml:ns:xmpp-stanzas"
#define WB_PEP_FORM       "http://jabber.org/protocol/pubsub#publish-options"
#define WB_PEP_ANSWER_MAX (1024 * 1024) /* bytes of items in one items answer */

const char *const wb_pep_account_features[] = {
    WB_NS_PUBSUB,
    WB_NS_PUBSUB "#access-open",
    WB_NS_PUBSUB "#access-presence",
    WB_NS_PUBSUB "#access-roster",
    WB_NS_PUBSUB "#access-whitelist",
    WB_NS_PUBSUB "#auto-create",
    WB_NS_PUBSUB "#config-node",
    WB_NS_PUBSUB "#create-nodes",
    WB_NS_PUBSUB "#delete-items",
    WB_NS_PUBSUB "#delete-nodes",
    WB_NS_PUBSUB "#filtered-notifications",
    WB_NS_PUBSUB "#last-published",
    WB_NS_PUBSUB "#multi-items",
    WB_NS_PUBSUB "#persistent-items",
    WB_NS_PUBSUB "#presence-notifications",
    WB_NS_PUBSUB "#publish",
    WB_NS_PUBSUB "#publish-options",
    WB_NS_PUBSUB "#purge-nodes",
    WB_NS_PUBSUB "#retract-items",
    WB_NS_PUBSUB "#retrieve-items",
    "urn:xmpp:pep-vcard-conversion:0", /* avatar.c */
    "urn:xmpp:bookmarks:1#compat",     /* bookmarks_compat.c */
    NULL,
};

/* ---- shared helpers ---- */

wb_pep_req *wb_pep_req_new(wb_worker *w, const wb_msg *m, const char *pnode)
{
    wb_pep_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->w = w;
    r->m = wb_msg_ref((wb_msg *)m);
    r->owner = m->has_to ? m->to : m->from;
    r->owner.resource[0] = '\0';
    snprintf(r->pnode, sizeof(r->pnode), "%s", pnode);
    wb_buf_init(&r->doc);
    return r;
}

void wb_pep_req_free(wb_pep_req *r)
{
    if (r->doc.data)
        sodium_memzero(r->doc.data, r->doc.cap);
    wb_buf_free(&r->doc);
    wb_msg_unref(r->m);
    free(r);
}

bool wb_pep_is_owner(const wb_msg *m)
{
    return !m->has_to || wb_jid_bare_eq(&m->to, &m->from);
}

void wb_pep_error(wb_worker *w, const wb_msg *m, wb_stanza_err e, const char *app)
{
    char jid[WB_JID_MAX + 1];
    if (app == NULL || !m->has_from) {
        wb_route_error(w, m, e, NULL);
        return;
    }
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<iq type='error'");
    if (m->has_to && wb_jid_full(&m->to, jid, sizeof(jid)) >= 0) {
        wb_buf_puts(&b, " from='");
        wb_buf_xml_escape_str(&b, jid);
        wb_buf_puts(&b, "'");
    }
    if (wb_jid_full(&m->from, jid, sizeof(jid)) >= 0) {
        wb_buf_puts(&b, " to='");
        wb_buf_xml_escape_str(&b, jid);
        wb_buf_puts(&b, "'");
    }
    if (m->id) {
        wb_buf_puts(&b, " id='");
        wb_buf_xml_escape_str(&b, m->id);
        wb_buf_puts(&b, "'");
    }
    wb_buf_printf(&b,
                  "><error type='%s'><%s xmlns='" WB_NS_STANZAS "'/><%s xmlns='" WB_NS_PUBSUB_ERRORS
                  "'/></error></iq>",
                  wb_stanza_err_type(e), wb_stanza_err_name(e), app);
    wb_msg *r = b.failed ? NULL
                         : wb_xmpp_msg_from_text(WB_MSG_IQ, WB_T_ERROR, m->has_to ? &m->to : NULL,
                                                 &m->from, b.data, b.len);
    wb_buf_free(&b);
    if (r == NULL) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    if (m->id)
        r->id = strdup(m->id);
    wb_route(w, r);
}

void wb_pep_store_error(wb_worker *w, const wb_msg *m, wb_store_status status)
{
    wb_route_error(
        w, m, status == WB_STORE_NOT_FOUND ? WB_STE_ITEM_NOT_FOUND : WB_STE_INTERNAL_SERVER_ERROR,
        NULL);
}

bool wb_pep_may_read(int access, bool owner, unsigned state)
{
    if (owner)
        return true;
    switch (access) {
    case WB_PEP_OPEN:
        return true;
    case WB_PEP_PRESENCE:
        return (state & WB_RS_FROM) != 0;
    case WB_PEP_ROSTER: /* simplified: any roster item, whatever its groups */
        return (state & WB_RS_IN_ROSTER) != 0;
    default:
        return false;
    }
}

/* One field's first value ("" if none). */
static const char *wb_pep_field_value(const wb_stanza *st, wb_el field)
{
    const wb_el v = wb_st_child(st, field, "value", WB_NS_XDATA);
    return v >= 0 ? wb_st_text(st, v, NULL) : "";
}

static int wb_pep_parse_bool(const char *s)
{
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
        return 1;
    if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
        return 0;
    return -1;
}

static int wb_pep_parse_max(const char *s)
{
    if (strcmp(s, "max") == 0)
        return WB_PEP_MAX_ITEMS;
    char *end;
    const long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > WB_PEP_MAX_ITEMS)
        return -1;
    return (int)v;
}

int wb_pep_read_form(const wb_stanza *st, wb_el x, const char *form_type, wb_pep_config *cfg)
{
    for (wb_el f = wb_st_first(st, x); f >= 0; f = wb_st_next(st, f)) {
        const char *var = wb_st_attr(st, f, "var");
        if (strcmp(wb_st_name(st, f), "field") != 0 || var == NULL)
            continue;
        const char *v = wb_pep_field_value(st, f);
        if (strcmp(var, "FORM_TYPE") == 0) {
            if (strcmp(v, form_type) != 0)
                return -1;
        } else if (strcmp(var, "pubsub#access_model") == 0) {
            if ((cfg->access = wb_pep_access_parse(v)) < 0)
                return -1;
        } else if (strcmp(var, "pubsub#max_items") == 0) {
            if ((cfg->max_items = wb_pep_parse_max(v)) < 0)
                return -1;
        } else if (strcmp(var, "pubsub#persist_items") == 0) {
            if ((cfg->persist = wb_pep_parse_bool(v)) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- publish and create ---- */

static void wb_pep_published(void *arg, wb_store_status status, wb_pep_result result,
                             const wb_pep_config *cfg)
{
    wb_pep_req *r = arg;
    wb_buf b;
    wb_buf_init(&b);
    if (status != WB_STORE_OK) {
        wb_pep_store_error(r->w, r->m, status);
    } else if (result == WB_PEP_R_PRECONDITION) {
        wb_pep_error(r->w, r->m, WB_STE_CONFLICT, "precondition-not-met");
    } else if (result == WB_PEP_R_NODE_LIMIT) {
        wb_pep_error(r->w, r->m, WB_STE_NOT_ALLOWED, "max-nodes-exceeded");
    } else if (result == WB_PEP_R_EXISTS) {
        wb_route_error(r->w, r->m, WB_STE_CONFLICT, NULL);
    } else if (result != WB_PEP_R_OK) {
        wb_route_error(r->w, r->m, WB_STE_ITEM_NOT_FOUND, NULL);
    } else if (r->item[0] == '\0') {
        wb_modules_reply(r->w, r->m, NULL); /* created */
    } else {
        wb_buf_puts(&b, "<pubsub xmlns='" WB_NS_PUBSUB "'><publish node='");
        wb_buf_xml_escape_str(&b, r->pnode);
        wb_buf_puts(&b, "'><item id='");
        wb_buf_xml_escape_str(&b, r->item);
        wb_buf_puts(&b, "'/></publish></pubsub>");
        wb_modules_reply(r->w, r->m, b.failed ? NULL : b.data);
        wb_buf_reset(&b);
        wb_pep_put_item_event(&b, r->pnode, r->item, r->doc.data, r->doc.len);
        if (!b.failed)
            wb_pep_notify(r->w, &r->owner, r->pnode, cfg->access, b.data, b.len);
        wb_avatar_pep_published(r->w, &r->owner, r->pnode, r->doc.data, r->doc.len);
    }
    wb_buf_free(&b);
    wb_pep_req_free(r);
}

/* The item's payload (one element) into r->doc; the XEP-0060 error condition otherwise. */
static const char *wb_pep_payload(wb_pep_req *r, wb_el item, wb_stanza_err *e)
{
    const wb_stanza *st = r->m->xml;
    const wb_el payload = wb_st_first(st, item);
    *e = WB_STE_BAD_REQUEST;
    if (payload < 0)
        return "payload-required";
    if (wb_st_next(st, payload) >= 0)
        return "invalid-payload";
    if (wb_xmlstore_document(st, payload, &r->doc) < 0 || r->doc.data == NULL) {
        *e = WB_STE_INTERNAL_SERVER_ERROR;
        return "";
    }
    if (r->doc.len > WB_PEP_PAYLOAD_MAX) {
        *e = WB_STE_NOT_ACCEPTABLE;
        return "payload-too-big";
    }
    return NULL;
}

static void wb_pep_publish(wb_worker *w, const wb_msg *m, wb_el ps, wb_el pub, const char *pnode)
{
    const wb_stanza *st = m->xml;
    wb_pep_config opts = {-1, 0, -1};
    wb_stanza_err e;
    const wb_el item = wb_st_child(st, pub, "item", WB_NS_PUBSUB);
    if (item < 0 || wb_st_next(st, item) >= 0) {
        wb_pep_error(w, m, WB_STE_BAD_REQUEST, item < 0 ? "item-required" : "invalid-payload");
        return;
    }
    const wb_el po = wb_st_child(st, ps, "publish-options", WB_NS_PUBSUB);
    const wb_el x = po >= 0 ? wb_st_child(st, po, "x", WB_NS_XDATA) : -1;
    if (x >= 0 && wb_pep_read_form(st, x, WB_PEP_FORM, &opts) < 0) {
        wb_pep_error(w, m, WB_STE_CONFLICT, "precondition-not-met");
        return;
    }
    wb_pep_req *r = wb_pep_req_new(w, m, pnode);
    if (r == NULL) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    const char *id = wb_st_attr(st, item, "id");
    if (id != NULL && id[0] != '\0' && strlen(id) <= WB_PEP_ID_MAX) {
        snprintf(r->item, sizeof(r->item), "%s", id);
    } else {
        uint8_t rnd[12];
        randombytes_buf(rnd, sizeof(rnd));
        sodium_bin2hex(r->item, sizeof(r->item), rnd, sizeof(rnd));
    }
    const char *app = wb_pep_payload(r, item, &e);
    if (app != NULL) {
        wb_pep_error(w, m, e, app[0] ? app : NULL);
        wb_pep_req_free(r);
        return;
    }
    if (wb_store_pep_publish(w->store, r->owner.node, r->owner.domain, r->pnode, r->item,
                             r->doc.data, r->doc.len, &opts, WB_PEP_MAX_NODES, wb_pep_published,
                             r) == NULL) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_pep_req_free(r);
    }
}

static void wb_pep_create(wb_worker *w, const wb_msg *m, wb_el ps, const char *pnode)
{
    const wb_stanza *st = m->xml;
    wb_pep_config opts = {-1, 0, -1};
    const wb_el conf = wb_st_child(st, ps, "configure", WB_NS_PUBSUB);
    const wb_el x = conf >= 0 ? wb_st_child(st, conf, "x", WB_NS_XDATA) : -1;
    if (x >= 0 &&
        wb_pep_read_form(st, x, "http://jabber.org/protocol/pubsub#node_config", &opts) < 0) {
        wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, NULL);
        return;
    }
    wb_pep_req *r = wb_pep_req_new(w, m, pnode);
    if (r == NULL) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    if (wb_store_pep_publish(w->store, r->owner.node, r->owner.domain, r->pnode, NULL, NULL, 0,
                             &opts, WB_PEP_MAX_NODES, wb_pep_published, r) == NULL) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_pep_req_free(r);
    }
}

/* ---- retract ---- */

static void wb_pep_retracted(void *arg, wb_store_status status, wb_pep_result result,
                             const wb_pep_config *cfg)
{
    wb_pep_req *r = arg;
    if (status != WB_STORE_OK) {
        wb_pep_store_error(r->w, r->m, status);
    } else if (result != WB_PEP_R_OK) {
        wb_route_error(r->w, r->m, WB_STE_ITEM_NOT_FOUND, NULL);
    } else {
        wb_modules_reply(r->w, r->m, NULL);
        if (r->notify) {
            wb_buf b;
            wb_buf_init(&b);
            wb_buf_puts(&b, "<items node='");
            wb_buf_xml_escape_str(&b, r->pnode);
            wb_buf_puts(&b, "'><retract id='");
            wb_buf_xml_escape_str(&b, r->item);
            wb_buf_puts(&b, "'/></items>");
            if (!b.failed)
                wb_pep_notify(r->w, &r->owner, r->pnode, cfg->access, b.data, b.len);
            wb_buf_free(&b);
        }
    }
    wb_pep_req_free(r);
}

static void wb_pep_retract(wb_worker *w, const wb_msg *m, wb_el ret, const char *pnode)
{
    const wb_stanza *st = m->xml;
    const wb_el item = wb_st_child(st, ret, "item", WB_NS_PUBSUB);
    const char *id = item >= 0 ? wb_st_attr(st, item, "id") : NULL;
    if (id == NULL || id[0] == '\0' || strlen(id) > WB_PEP_ID_MAX) {
        wb_pep_error(w, m, WB_STE_BAD_REQUEST, "item-required");
        return;
    }
    const char *notify = wb_st_attr(st, ret, "notify");
    wb_pep_req *r = wb_pep_req_new(w, m, pnode);
    if (r == NULL) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    snprintf(r->item, sizeof(r->item), "%s", id);
    r->notify = notify && (strcmp(notify, "1") == 0 || strcmp(notify, "true") == 0);
    if (wb_store_pep_remove(w->store, r->owner.node, r->owner.domain, r->pnode, WB_PEP_RETRACT,
                            r->item, wb_pep_retracted, r) == NULL) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_pep_req_free(r);
    }
}

/* ---- items ---- */

static void wb_pep_items_done(void *arg, wb_store_status status, const wb_pep_items *res)
{
    wb_pep_req *r = arg;
    const bool owner = wb_pep_is_owner(r->m);
    if (status != WB_STORE_OK) {
        wb_pep_store_error(r->w, r->m, status);
    } else if (res->result != WB_PEP_R_OK) {
        wb_route_error(r->w, r->m, WB_STE_ITEM_NOT_FOUND, NULL);
    } else if (!wb_pep_may_read(res->cfg.access, owner, res->reader_state)) {
        if (res->cfg.access == WB_PEP_PRESENCE)
            wb_pep_error(r->w, r->m, WB_STE_NOT_AUTHORIZED, "presence-subscription-required");
        else if (res->cfg.access == WB_PEP_ROSTER)
            wb_pep_error(r->w, r->m, WB_STE_NOT_AUTHORIZED, "not-in-roster-group");
        else
            wb_pep_error(r->w, r->m, WB_STE_NOT_ALLOWED, "closed-node");
    } else {
        wb_buf b;
        wb_buf_init(&b);
        wb_buf_puts(&b, "<pubsub xmlns='" WB_NS_PUBSUB "'><items node='");
        wb_buf_xml_escape_str(&b, r->pnode);
        wb_buf_puts(&b, "'>");
        /* Newest first, until the answer would exceed what a stanza should carry. */
        for (size_t i = 0; i < res->n && b.len + res->v[i].len <= WB_PEP_ANSWER_MAX; i++) {
            wb_buf_puts(&b, "<item id='");
            wb_buf_xml_escape_str(&b, res->v[i].id);
            wb_buf_puts(&b, "'>");
            wb_buf_append(&b, res->v[i].payload, res->v[i].len);
            wb_buf_puts(&b, "</item>");
        }
        wb_buf_puts(&b, "</items></pubsub>");
        if (b.failed)
            wb_route_error(r->w, r->m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        else
            wb_modules_reply(r->w, r->m, b.data);
        if (b.data)
            sodium_memzero(b.data, b.cap);
        wb_buf_free(&b);
    }
    wb_pep_req_free(r);
}

/* The item ids asked for, joined with '\x01' (XML cannot carry it); -1 when too many. */
static int wb_pep_item_ids(const wb_stanza *st, wb_el items, wb_buf *ids)
{
    int n = 0;
    for (wb_el it = wb_st_child(st, items, "item", WB_NS_PUBSUB); it >= 0;
         it = wb_st_next(st, it)) {
        const char *id = wb_st_attr(st, it, "id");
        if (strcmp(wb_st_name(st, it), "item") != 0 || id == NULL || id[0] == '\0')
            continue;
        if (++n > WB_PEP_IDS_MAX || strlen(id) > WB_PEP_ID_MAX)
            return -1;
        if (ids->len)
            wb_buf_append(ids, "\x01", 1);
        wb_buf_puts(ids, id);
    }
    return ids->failed ? -1 : 0;
}

static void wb_pep_get_items(wb_worker *w, const wb_msg *m, wb_el items, const char *pnode)
{
    const wb_stanza *st = m->xml;
    char reader[WB_JID_MAX + 1] = "";
    int max = WB_PEP_MAX_ITEMS;
    const char *mi = wb_st_attr(st, items, "max_items");
    if (mi != NULL && (max = atoi(mi)) < 1) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, NULL);
        return;
    }
    if (max > WB_PEP_MAX_ITEMS)
        max = WB_PEP_MAX_ITEMS;
    wb_pep_req *r = wb_pep_req_new(w, m, pnode);
    if (r == NULL) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    if (!wb_pep_is_owner(m) && wb_jid_bare(&m->from, reader, sizeof(reader)) < 0)
        reader[0] = '\0';
    if (wb_pep_item_ids(st, items, &r->doc) < 0) {
        wb_route_error(w, m, WB_STE_POLICY_VIOLATION, NULL);
        wb_pep_req_free(r);
        return;
    }
    if (wb_store_pep_items(w->store, r->owner.node, r->owner.domain, r->pnode, reader,
                           r->doc.data ? r->doc.data : "", max, wb_pep_items_done, r) == NULL) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_pep_req_free(r);
    }
}

/* ---- dispatch ---- */

/* The single operation child of <pubsub> (not publish-options / configure), or -1. */
static wb_el wb_pep_operation(const wb_stanza *st, wb_el ps)
{
    for (wb_el c = wb_st_first(st, ps); c >= 0; c = wb_st_next(st, c)) {
        const char *name = wb_st_name(st, c);
        if (strcmp(name, "publish-options") != 0 && strcmp(name, "configure") != 0)
            return c;
    }
    return -1;
}

/* The node attribute of op checked; NULL after answering with an error. */
static const char *wb_pep_node_of(wb_worker *w, const wb_msg *m, wb_el op)
{
    const char *pnode = wb_st_attr(m->xml, op, "node");
    if (pnode == NULL || pnode[0] == '\0') {
        wb_pep_error(w, m, WB_STE_BAD_REQUEST, "nodeid-required");
        return NULL;
    }
    if (strlen(pnode) > WB_PEP_NODE_MAX) {
        wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, NULL);
        return NULL;
    }
    return pnode;
}

static wb_mod_result wb_pep_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server)
        return WB_MOD_PASS;
    const wb_el ps = wb_st_first(m->xml, 0);
    const wb_el op = wb_pep_operation(m->xml, ps);
    const char *pnode;
    if (op < 0 || strcmp(wb_st_name(m->xml, op), "items") != 0)
        wb_route_error(w, m, WB_STE_FEATURE_NOT_IMPLEMENTED, NULL);
    else if ((pnode = wb_pep_node_of(w, m, op)) != NULL)
        wb_pep_get_items(w, m, op, pnode);
    return WB_MOD_HANDLED;
}

static wb_mod_result wb_pep_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server)
        return WB_MOD_PASS;
    const wb_el ps = wb_st_first(m->xml, 0);
    const wb_el op = wb_pep_operation(m->xml, ps);
    const char *name = op >= 0 ? wb_st_name(m->xml, op) : "";
    const bool known =
        strcmp(name, "publish") == 0 || strcmp(name, "retract") == 0 || strcmp(name, "create") == 0;
    const char *pnode;
    if (!known)
        wb_route_error(w, m, WB_STE_FEATURE_NOT_IMPLEMENTED, NULL);
    else if (!wb_pep_is_owner(m))
        wb_route_error(w, m, WB_STE_FORBIDDEN, NULL);
    else if ((pnode = wb_pep_node_of(w, m, op)) == NULL)
        ;
    else if (strcmp(name, "publish") == 0)
        wb_pep_publish(w, m, ps, op, pnode);
    else if (strcmp(name, "retract") == 0)
        wb_pep_retract(w, m, op, pnode);
    else
        wb_pep_create(w, m, ps, pnode);
    return WB_MOD_HANDLED;
}

static const wb_iq_handler wb_pep_iq[] = {
    {WB_NS_PUBSUB, "pubsub", wb_pep_get, wb_pep_set},
    {WB_NS_PUBSUB_OWNER, "pubsub", wb_pep_owner_get, wb_pep_owner_set},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_pep = {
    .name = "pep",
    .iq = wb_pep_iq,
    .presence = wb_pep_caps_presence,
    .ended = wb_pep_caps_ended,
    .outbound = wb_pep_caps_outbound,
    .inbound = wb_pep_inbound,
    .init = wb_pep_caps_init,
    .shutdown = wb_pep_caps_shutdown,
};
