/* XEP-0163 personal eventing: event notifications to the owner's and its contacts' resources that
 * want them (+notify caps), and the last items a resource gets when it comes online or its caps
 * become known. Not for deciding what was published (pep.c). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_pep.h"
#include "wb_router.h"
#include "wb_store_roster.h"
#include "wb_xmpp_model.h"

#define WB_PEP_LAST_MAX 200 /* nodes whose last item one resource gets at presence */

void wb_pep_put_item_event(wb_buf *b, const char *pnode, const char *id, const char *payload,
                           size_t len)
{
    wb_buf_puts(b, "<items node='");
    wb_buf_xml_escape_str(b, pnode);
    wb_buf_puts(b, "'><item id='");
    wb_buf_xml_escape_str(b, id);
    wb_buf_puts(b, "'>");
    wb_buf_append(b, payload, len);
    wb_buf_puts(b, "</item></items>");
}

/* The headline message carrying <event>inner</event> from owner to `to`; NULL if out of memory. */
static wb_msg *wb_pep_event_msg(const wb_jid *owner, const wb_jid *to, const char *inner,
                                size_t len)
{
    char from_s[WB_JID_MAX + 1], to_s[WB_JID_MAX + 1];
    if (wb_jid_bare(owner, from_s, sizeof(from_s)) < 0 || wb_jid_full(to, to_s, sizeof(to_s)) < 0)
        return NULL;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<message from='");
    wb_buf_xml_escape_str(&b, from_s);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to_s);
    wb_buf_puts(&b, "' type='headline'><event xmlns='" WB_NS_PUBSUB_EVENT "'>");
    wb_buf_append(&b, inner, len);
    wb_buf_puts(&b, "</event></message>");
    wb_msg *m =
        b.failed ? NULL
                 : wb_xmpp_msg_from_text(WB_MSG_MESSAGE, WB_MT_HEADLINE, owner, to, b.data, b.len);
    if (b.data)
        sodium_memzero(b.data, b.cap);
    wb_buf_free(&b);
    return m;
}

/* ---- notifications ---- */

typedef struct wb_pep_notice {
    wb_worker *w;
    wb_jid owner;
    char pnode[WB_PEP_NODE_MAX + 1];
    int access;
    char *inner;
    size_t len;
    wb_dir_target t[WB_ROUTE_MAX_TARGETS];
} wb_pep_notice;

static void wb_pep_notice_free(wb_pep_notice *x)
{
    if (x->inner)
        sodium_memzero(x->inner, x->len);
    free(x->inner);
    free(x);
}

/* To every available resource of account that wants the node's notifications. */
static void wb_pep_notify_account(wb_pep_notice *x, const wb_jid *account)
{
    wb_server *srv = x->w->srv;
    const size_t n = wb_directory_lookup(srv->dir, account, x->t, WB_ROUTE_MAX_TARGETS);
    for (size_t i = 0; i < n; i++) {
        if (!x->t[i].available || !wb_pep_caps_wants(srv, x->t[i].sid, x->pnode))
            continue;
        wb_jid to = *account;
        snprintf(to.resource, sizeof(to.resource), "%s", x->t[i].resource);
        wb_msg *m = wb_pep_event_msg(&x->owner, &to, x->inner, x->len);
        if (m != NULL)
            wb_modules_inbound(x->w, m, 0); /* block lists apply */
    }
}

static void wb_pep_notify_roster(void *arg, wb_store_status status, int64_t version,
                                 const wb_roster_item *items, size_t n)
{
    wb_pep_notice *x = arg;
    (void)version;
    wb_pep_notify_account(x, &x->owner);
    for (size_t i = 0; status == WB_STORE_OK && i < n; i++) {
        const unsigned s = items[i].state;
        wb_jid c;
        if (!wb_pep_may_read(x->access, false, s) || !(s & WB_RS_FROM) ||
            wb_jid_parse(&c, items[i].jid, strlen(items[i].jid)) < 0 ||
            wb_jid_bare_eq(&c, &x->owner))
            continue;
        wb_pep_notify_account(x, &c);
    }
    wb_pep_notice_free(x);
}

void wb_pep_notify(wb_worker *w, const wb_jid *owner, const char *pnode, int access,
                   const char *inner, size_t len)
{
    wb_pep_notice *x = calloc(1, sizeof(*x));
    if (x == NULL || (x->inner = malloc(len + 1)) == NULL) {
        free(x);
        return;
    }
    x->w = w;
    x->owner = *owner;
    x->owner.resource[0] = '\0';
    snprintf(x->pnode, sizeof(x->pnode), "%s", pnode);
    x->access = access;
    memcpy(x->inner, inner, len);
    x->inner[len] = '\0';
    x->len = len;
    if (wb_store_roster_presence(w->store, owner->node, owner->domain, false, wb_pep_notify_roster,
                                 x) == NULL)
        wb_pep_notify_roster(x, WB_STORE_UNAVAILABLE, 0, NULL, 0);
}

/* ---- last items ---- */

typedef struct wb_pep_last {
    wb_worker *w;
    uint64_t sid;
    wb_jid to;    /* the resource */
    wb_jid owner; /* per node: whose node */
    char pnode[WB_PEP_NODE_MAX + 1];
} wb_pep_last;

static void wb_pep_last_item(void *arg, wb_store_status status, const wb_pep_items *res)
{
    wb_pep_last *x = arg;
    if (status == WB_STORE_OK && res->result == WB_PEP_R_OK && res->n > 0 &&
        wb_pep_may_read(res->cfg.access, wb_jid_bare_eq(&x->to, &x->owner), res->reader_state)) {
        wb_buf b;
        wb_buf_init(&b);
        wb_pep_put_item_event(&b, x->pnode, res->v[0].id, res->v[0].payload, res->v[0].len);
        wb_msg *m = b.failed ? NULL : wb_pep_event_msg(&x->owner, &x->to, b.data, b.len);
        if (m != NULL)
            wb_modules_inbound(x->w, m, 0); /* block lists apply */
        if (b.data)
            sodium_memzero(b.data, b.cap);
        wb_buf_free(&b);
    }
    free(x);
}

static void wb_pep_last_nodes(void *arg, wb_store_status status, const wb_pep_readable *v, size_t n)
{
    wb_pep_last *x = arg;
    char reader[WB_JID_MAX + 1];
    if (wb_jid_bare(&x->to, reader, sizeof(reader)) < 0)
        n = 0;
    for (size_t i = 0; status == WB_STORE_OK && i < n; i++) {
        if (!wb_pep_caps_wants(x->w->srv, x->sid, v[i].pnode))
            continue;
        wb_pep_last *y = malloc(sizeof(*y));
        if (y == NULL)
            break;
        *y = *x;
        snprintf(y->owner.node, sizeof(y->owner.node), "%s", v[i].node);
        snprintf(y->owner.domain, sizeof(y->owner.domain), "%s", v[i].domain);
        y->owner.resource[0] = '\0';
        snprintf(y->pnode, sizeof(y->pnode), "%s", v[i].pnode);
        const bool own = wb_jid_bare_eq(&x->to, &y->owner);
        if (wb_store_pep_items(x->w->store, v[i].node, v[i].domain, v[i].pnode, own ? "" : reader,
                               "", 1, wb_pep_last_item, y) == NULL)
            free(y);
    }
    free(x);
}

void wb_pep_last_items(wb_worker *w, const wb_jid *to, uint64_t sid, const wb_jid *owner)
{
    wb_pep_last *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return;
    x->w = w;
    x->sid = sid;
    x->to = *to;
    if (wb_store_pep_readable(w->store, to->node, to->domain, owner ? owner->node : "",
                              owner ? owner->domain : "", WB_PEP_LAST_MAX, wb_pep_last_nodes,
                              x) == NULL)
        free(x);
}

wb_mod_result wb_pep_inbound(wb_worker *w, wb_msg *m)
{
    if (m->kind != WB_MSG_PRESENCE || m->type != WB_PT_SUBSCRIBED || !m->has_from || !m->has_to ||
        !wb_jid_has_node(&m->to) || !wb_jid_has_node(&m->from))
        return WB_MOD_PASS;
    /* XEP-0163 4.3.3: a new subscriber's available resources get the last items. */
    wb_dir_target *t = malloc(WB_ROUTE_MAX_TARGETS * sizeof(*t));
    if (t == NULL)
        return WB_MOD_PASS;
    wb_jid owner = m->from;
    owner.resource[0] = '\0';
    const size_t n = wb_directory_lookup(w->srv->dir, &m->to, t, WB_ROUTE_MAX_TARGETS);
    for (size_t i = 0; i < n; i++) {
        if (!t[i].available)
            continue;
        wb_jid to = m->to;
        snprintf(to.resource, sizeof(to.resource), "%s", t[i].resource);
        wb_pep_last_items(w, &to, t[i].sid, &owner);
    }
    free(t);
    return WB_MOD_PASS;
}
