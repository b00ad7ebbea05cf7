/* XEP-0030 service discovery of the server (identity, every module's features, the caps node)
 * and of accounts (existence checked in storage), and the XEP-0115 caps stream feature. */
#include <stdlib.h>
#include <string.h>

#include "wb_buf.h"
#include "wb_caps.h"
#include "wb_log.h"
#include "muc/wb_muc.h"
#include "upload/wb_upload.h"
#include "wb_component.h"
#include "wb_modules.h"
#include "wb_pep.h"
#include "wb_router.h"
#include "wb_store_last.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define WB_NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define WB_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define WB_CAPS_NODE      "https://warbler.example/caps"

static const wb_caps_identity wb_disco_server_identity = {"server", "im", NULL, "Warbler"};

/* What an account's bare JID offers (answered by the server on its behalf: last activity in
 * last.c, vCards in vcard.c, archives in mam.c); not server-only features such as ping, version or
 * time. */
static const char *const wb_disco_account_features[] = {
    WB_NS_DISCO_INFO,  WB_NS_DISCO_ITEMS, "jabber:iq:last",          "vcard-temp",
    "urn:xmpp:push:0", "urn:xmpp:mam:2",  "urn:xmpp:mam:2#extended", NULL};

/* ---- the server's features, sorted and without repeats ---- */

typedef struct wb_disco_list {
    const char *v[WB_CAPS_MAX_ITEMS];
    size_t n;
} wb_disco_list;

static void wb_disco_collect(void *arg, const char *feature)
{
    wb_disco_list *l = arg;
    if (l->n < WB_CAPS_MAX_ITEMS)
        l->v[l->n++] = feature;
}

static int wb_disco_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void wb_disco_server_features(wb_disco_list *l)
{
    l->n = 0;
    wb_modules_disco_features(wb_disco_collect, l);
    qsort(l->v, l->n, sizeof(l->v[0]), wb_disco_cmp);
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        if (k == 0 || strcmp(l->v[k - 1], l->v[i]) != 0)
            l->v[k++] = l->v[i];
    l->n = k;
}

/* The caps 'ver' of the server's disco#info answer; -1 if it cannot be computed. */
static int wb_disco_server_ver(char *ver, size_t size)
{
    wb_disco_list l;
    wb_disco_server_features(&l);
    return wb_caps_ver(&wb_disco_server_identity, 1, l.v, l.n, ver, size);
}

/* ---- answers ---- */

static void wb_disco_put_features(wb_buf *b, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        wb_buf_puts(b, "<feature var='");
        wb_buf_xml_escape_str(b, v[i]);
        wb_buf_puts(b, "'/>");
    }
}

static void wb_disco_reply_buf(wb_worker *w, const wb_msg *m, wb_buf *b)
{
    if (b->failed)
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b->data);
    wb_buf_free(b);
}

static void wb_disco_server_info_reply(wb_worker *w, const wb_msg *m, const char *node)
{
    wb_disco_list l;
    wb_disco_server_features(&l);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_DISCO_INFO "'");
    if (node) {
        wb_buf_puts(&b, " node='");
        wb_buf_xml_escape_str(&b, node);
        wb_buf_puts(&b, "'");
    }
    wb_buf_printf(&b, "><identity category='%s' type='%s' name='%s'/>",
                  wb_disco_server_identity.category, wb_disco_server_identity.type,
                  wb_disco_server_identity.name);
    wb_disco_put_features(&b, l.v, l.n);
    wb_buf_puts(&b, "</query>");
    wb_disco_reply_buf(w, m, &b);
}

/* The server's items: its MUC service (server/modules/muc/), external components
 * (server/component/). */
static void wb_disco_server_items(wb_worker *w, const wb_msg *m)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_DISCO_ITEMS "'>");
    wb_muc_disco_items(w->srv, m->has_to ? m->to.domain : m->from.domain, &b);
    wb_upload_disco_items(w->srv, m->has_to ? m->to.domain : m->from.domain, &b);
    wb_comp_disco_items(w->srv, &b);
    wb_buf_puts(&b, "</query>");
    wb_disco_reply_buf(w, m, &b);
}

static void wb_disco_account_reply(wb_worker *w, const wb_msg *m, bool items)
{
    if (items) {
        wb_modules_reply(w, m, "<query xmlns='" WB_NS_DISCO_ITEMS "'/>");
        return;
    }
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_DISCO_INFO "'>"
                    "<identity category='account' type='registered'/>" WB_PEP_IDENTITY);
    size_t n = 0;
    while (wb_disco_account_features[n])
        n++;
    wb_disco_put_features(&b, wb_disco_account_features, n);
    for (n = 0; wb_pep_account_features[n]; n++)
        ;
    wb_disco_put_features(&b, wb_pep_account_features, n);
    wb_buf_puts(&b, "</query>");
    wb_disco_reply_buf(w, m, &b);
}

/* The node attribute of the query, or NULL. */
static const char *wb_disco_node(const wb_msg *m)
{
    wb_el q = m->xml ? wb_st_first(m->xml, 0) : -1;
    return q >= 0 ? wb_st_attr(m->xml, q, "node") : NULL;
}

/* Whether node is this server's caps node#ver. */
static bool wb_disco_is_caps_node(const char *node)
{
    char ver[WB_CAPS_VER_SIZE];
    const size_t plen = strlen(WB_CAPS_NODE "#");
    return strncmp(node, WB_CAPS_NODE "#", plen) == 0 &&
           wb_disco_server_ver(ver, sizeof(ver)) == 0 && strcmp(node + plen, ver) == 0;
}

/* An account lookup in flight. The store answers every request, with UNAVAILABLE when it
 * closes at shutdown, so the callback always frees it. */
typedef struct wb_disco_req {
    wb_worker *w;
    wb_msg *m;
    bool items;
} wb_disco_req;

static void wb_disco_exists_cb(void *arg, wb_store_status status)
{
    wb_disco_req *r = arg;
    if (status == WB_STORE_UNAVAILABLE)
        wb_route_error(r->w, r->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    else if (status == WB_STORE_NOT_FOUND)
        wb_route_error(r->w, r->m, WB_STE_SERVICE_UNAVAILABLE, NULL); /* reveals nothing */
    else if (wb_disco_node(r->m))
        wb_route_error(r->w, r->m, WB_STE_ITEM_NOT_FOUND, NULL);
    else
        wb_disco_account_reply(r->w, r->m, r->items);
    wb_msg_unref(r->m);
    free(r);
}

/* Answers for the account once storage says it exists. */
static void wb_disco_check_account(wb_worker *w, const wb_msg *m, const wb_jid *account, bool items)
{
    wb_disco_req *r = calloc(1, sizeof(*r));
    if (!r) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    r->w = w;
    r->m = wb_msg_ref((wb_msg *)m);
    r->items = items;
    if (!wb_store_account_exists(w->store, account->node, account->domain, wb_disco_exists_cb, r))
        wb_disco_exists_cb(r, WB_STORE_UNAVAILABLE);
}

static wb_mod_result wb_disco_get(wb_worker *w, const wb_msg *m, bool to_server, bool items)
{
    const char *node = wb_disco_node(m);
    if (to_server) {
        if (node && (items || !wb_disco_is_caps_node(node)))
            wb_route_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        else if (items)
            wb_disco_server_items(w, m);
        else
            wb_disco_server_info_reply(w, m, node);
        return WB_MOD_HANDLED;
    }
    const wb_jid *account = m->has_to ? &m->to : &m->from;
    if (wb_jid_bare_eq(account, &m->from)) {
        /* The account's own resources: it exists. */
        if (node)
            wb_route_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        else
            wb_disco_account_reply(w, m, items);
    } else {
        wb_disco_check_account(w, m, account, items);
    }
    return WB_MOD_HANDLED;
}

static wb_mod_result wb_disco_info(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    return wb_disco_get(w, m, to_server, false);
}

static wb_mod_result wb_disco_items(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    return wb_disco_get(w, m, to_server, true);
}

/* XEP-0115: the server's own capabilities, once the client is authenticated. */
static void wb_disco_stream_features(wb_c2s *c, wb_buf *b, bool authed)
{
    (void)c;
    char ver[WB_CAPS_VER_SIZE];
    if (!authed)
        return;
    if (wb_disco_server_ver(ver, sizeof(ver)) < 0) {
        wb_warn("disco: caps verification string not computable (repeated feature?)");
        return;
    }
    wb_buf_printf(b, "<c xmlns='" WB_NS_CAPS "' hash='sha-1' node='" WB_CAPS_NODE "' ver='%s'/>",
                  ver);
}

static const char *const wb_disco_features[] = {WB_NS_DISCO_INFO, WB_NS_DISCO_ITEMS, NULL};
static const wb_iq_handler wb_disco_iq[] = {
    {WB_NS_DISCO_INFO, "query", wb_disco_info, NULL},
    {WB_NS_DISCO_ITEMS, "query", wb_disco_items, NULL},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_disco = {
    .name = "disco",
    .features = wb_disco_features,
    .iq = wb_disco_iq,
    .stream_features = wb_disco_stream_features,
};
