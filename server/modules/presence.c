/* RFC 6121 sections 3 and 4: the subscription state machine of Appendix A on outbound and inbound
 * subscription presence, presence broadcast to subscribers, probes. Roster iq: roster.c. */
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_roster.h"
#include "wb_router.h"
#include "wb_xml.h"
#include "wb_xmpp_model.h"

#define WB_PRESENCE_MAX_RESOURCES 64
#define WB_PRESENCE_MAX_STATUS    1023 /* bytes of a request's status text kept while pending */

extern const wb_module wb_mod_presence;

/* A stanza waiting for the database (m referenced), or a broadcast (m may be NULL: unavailable
 * presence generated for a session that ended). */
typedef struct wb_presence_ctx {
    wb_worker *w;
    wb_msg *m;
    wb_roster_event ev;
    uint64_t sid;
    bool initial;
    wb_jid from; /* the broadcasting session's full JID */
} wb_presence_ctx;

static bool wb_presence_is_sub(const wb_msg *m)
{
    return m->kind == WB_MSG_PRESENCE && m->type >= WB_PT_SUBSCRIBE &&
           m->type <= WB_PT_UNSUBSCRIBED;
}

static wb_presence_ctx *wb_presence_ctx_new(wb_worker *w, wb_msg *m)
{
    wb_presence_ctx *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->w = w;
    x->m = m;
    return x;
}

static void wb_presence_ctx_free(wb_presence_ctx *x)
{
    if (x->m)
        wb_msg_unref(x->m);
    free(x);
}

/* Routes <presence type=TYPE from=FROM to=TO [extra]/> (from and to used as given). */
static void wb_presence_send(wb_worker *w, wb_msg_type type, const wb_jid *from, const wb_jid *to,
                             const char *status)
{
    char f[WB_JID_MAX + 1], t[WB_JID_MAX + 1];
    if (wb_jid_full(from, f, sizeof(f)) < 0 || wb_jid_full(to, t, sizeof(t)) < 0)
        return;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<presence");
    if (*wb_msg_type_name(type))
        wb_buf_printf(&b, " type='%s'", wb_msg_type_name(type));
    wb_buf_puts(&b, " from='");
    wb_buf_xml_escape_str(&b, f);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, t);
    if (status) {
        wb_buf_puts(&b, "'><status>");
        wb_buf_xml_escape_str(&b, status);
        wb_buf_puts(&b, "</status></presence>");
    } else {
        wb_buf_puts(&b, "'/>");
    }
    wb_msg *p =
        b.failed ? NULL : wb_xmpp_msg_from_text(WB_MSG_PRESENCE, type, from, to, b.data, b.len);
    wb_buf_free(&b);
    if (p)
        wb_route(w, p);
}

/* Routes a copy of presence p (its original bytes) with from and to set. */
static void wb_presence_send_copy(wb_worker *w, const wb_msg *p, const wb_jid *from,
                                  const wb_jid *to)
{
    char f[WB_JID_MAX + 1], t[WB_JID_MAX + 1];
    if (!p->xml || wb_jid_full(from, f, sizeof(f)) < 0 || wb_jid_full(to, t, sizeof(t)) < 0)
        return;
    wb_buf b;
    wb_buf_init(&b);
    wb_msg *c = NULL;
    if (wb_st_write_stamped(p->xml, f, t, &b) == 0 && !b.failed)
        c = wb_xmpp_msg_from_text(WB_MSG_PRESENCE, p->type, from, to, b.data, b.len);
    wb_buf_free(&b);
    if (c)
        wb_route(w, c);
}

void wb_presence_send_current(wb_worker *w, const wb_jid *user, const wb_jid *contact,
                              bool unavailable)
{
    wb_msg *last[WB_PRESENCE_MAX_RESOURCES];
    size_t n = wb_directory_presences(w->srv->dir, user, last, WB_PRESENCE_MAX_RESOURCES);
    wb_jid to = *contact;
    to.resource[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (unavailable)
            wb_presence_send(w, WB_PT_UNAVAILABLE, &last[i]->from, &to, NULL);
        else
            wb_presence_send_copy(w, last[i], &last[i]->from, &to);
        wb_msg_unref(last[i]);
    }
}

static bool wb_presence_bare(const wb_jid *j, wb_jid *out, char *s, size_t size)
{
    *out = *j;
    out->resource[0] = '\0';
    return wb_jid_bare(out, s, size) >= 0;
}

/* ---- outbound subscription presence (the user's side) ---- */

static void wb_presence_out_done(void *arg, wb_store_status status, const wb_roster_change *c)
{
    wb_presence_ctx *x = arg;
    wb_worker *w = x->w;
    if (status == WB_STORE_UNAVAILABLE || (status == WB_STORE_OK && c->refused)) {
        wb_route_error(w, x->m, c ? WB_STE_RESOURCE_CONSTRAINT : WB_STE_INTERNAL_SERVER_ERROR,
                       NULL);
        goto done;
    }
    if (status != WB_STORE_OK)
        goto done;
    if (c->push)
        wb_roster_push(w, &x->m->from, &c->item, false, c->version);
    bool route = false, current = false, unavailable = false;
    switch (x->ev) {
    case WB_RSE_OUT_SUBSCRIBE:
        route = true; /* also when subscribed already: the contact's server answers */
        break;
    case WB_RSE_OUT_SUBSCRIBED:
        route = current = (c->old_state & WB_RS_PENDING_IN) != 0; /* else a pre-approval */
        break;
    case WB_RSE_OUT_UNSUBSCRIBE:
        route = (c->old_state & (WB_RS_TO | WB_RS_ASK)) != 0;
        break;
    default:
        route = (c->old_state & (WB_RS_FROM | WB_RS_PENDING_IN)) != 0;
        unavailable = (c->old_state & WB_RS_FROM) != 0;
        break;
    }
    wb_jid user = x->m->from, contact;
    char bare[WB_JID_MAX + 1];
    wb_presence_bare(&x->m->to, &contact, bare, sizeof(bare));
    if (route) {
        wb_route(w, x->m);
        x->m = NULL;
    }
    if (current || unavailable)
        wb_presence_send_current(w, &user, &contact, unavailable);
done:
    wb_presence_ctx_free(x);
}

static wb_roster_event wb_presence_event(wb_msg_type t, bool out)
{
    switch (t) {
    case WB_PT_SUBSCRIBE:
        return out ? WB_RSE_OUT_SUBSCRIBE : WB_RSE_IN_SUBSCRIBE;
    case WB_PT_SUBSCRIBED:
        return out ? WB_RSE_OUT_SUBSCRIBED : WB_RSE_IN_SUBSCRIBED;
    case WB_PT_UNSUBSCRIBE:
        return out ? WB_RSE_OUT_UNSUBSCRIBE : WB_RSE_IN_UNSUBSCRIBE;
    default:
        return out ? WB_RSE_OUT_UNSUBSCRIBED : WB_RSE_IN_UNSUBSCRIBED;
    }
}

static wb_mod_result wb_presence_outbound(wb_worker *w, uint64_t sid, wb_msg *m)
{
    (void)sid;
    if (!wb_presence_is_sub(m) || !m->has_to)
        return WB_MOD_PASS;
    wb_jid contact;
    char bare[WB_JID_MAX + 1];
    wb_presence_ctx *x = wb_presence_ctx_new(w, m);
    if (!x || !wb_presence_bare(&m->to, &contact, bare, sizeof(bare))) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        if (x)
            wb_presence_ctx_free(x);
        else
            wb_msg_unref(m);
        return WB_MOD_HANDLED;
    }
    x->ev = wb_presence_event(m->type, true);
    if (!wb_store_roster_subscription(w->store, m->from.node, m->from.domain, bare, x->ev, NULL,
                                      WB_ROSTER_MAX_ROWS, wb_presence_out_done, x)) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_presence_ctx_free(x);
    }
    return WB_MOD_HANDLED;
}

/* ---- inbound subscription presence (the contact's side, a local account) ---- */

/* Whether the stanza reaches the account's clients, after the state change c. */
static bool wb_presence_in_deliver(wb_worker *w, wb_roster_event ev, const wb_roster_change *c,
                                   const wb_jid *account, const wb_jid *contact)
{
    unsigned o = c->old_state, n = c->new_state;
    switch (ev) {
    case WB_RSE_IN_SUBSCRIBE:
        if ((o | n) & WB_RS_FROM) {
            /* Subscribed already or pre-approved: answered on the account's behalf (3.1.3). */
            wb_presence_send(w, WB_PT_SUBSCRIBED, account, contact, NULL);
            if (!(o & WB_RS_FROM))
                wb_presence_send_current(w, account, contact, false);
            return false;
        }
        return !(o & WB_RS_PENDING_IN); /* a duplicate request is not delivered again */
    case WB_RSE_IN_SUBSCRIBED:
        return (n & WB_RS_TO) && !(o & WB_RS_TO);
    case WB_RSE_IN_UNSUBSCRIBE:
        if (o & WB_RS_FROM)
            wb_presence_send_current(w, account, contact, true);
        return (o & (WB_RS_FROM | WB_RS_PENDING_IN)) != 0;
    default:
        return (o & (WB_RS_TO | WB_RS_ASK)) != 0;
    }
}

static void wb_presence_in_done(void *arg, wb_store_status status, const wb_roster_change *c)
{
    wb_presence_ctx *x = arg;
    wb_worker *w = x->w;
    wb_jid account, contact;
    char bare[WB_JID_MAX + 1];
    wb_presence_bare(&x->m->to, &account, bare, sizeof(bare));
    wb_presence_bare(&x->m->from, &contact, bare, sizeof(bare));
    if (status == WB_STORE_UNAVAILABLE) {
        if (x->ev == WB_RSE_IN_SUBSCRIBE) /* not stored: the sender must learn it */
            wb_route_error(w, x->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    } else if (status == WB_STORE_NOT_FOUND) {
        /* RFC 6121 3.1.3: a request to an account that does not exist. */
        if (x->ev == WB_RSE_IN_SUBSCRIBE)
            wb_presence_send(w, WB_PT_UNSUBSCRIBED, &account, &contact, NULL);
    } else if (!c->refused) {
        if (c->push)
            wb_roster_push(w, &account, &c->item, false, c->version);
        if (wb_presence_in_deliver(w, x->ev, c, &account, &contact)) {
            wb_msg *m = x->m;
            x->m = NULL;
            wb_modules_inbound(w, m, wb_modules_index(&wb_mod_presence) + 1);
        }
    }
    wb_presence_ctx_free(x);
}

static const char *wb_presence_status(const wb_msg *m)
{
    if (!m->xml)
        return NULL;
    wb_el s = wb_st_child(m->xml, 0, "status", WB_NS_CLIENT);
    size_t len = 0;
    const char *t = s >= 0 ? wb_st_text(m->xml, s, &len) : NULL;
    return t && len > 0 && len <= WB_PRESENCE_MAX_STATUS ? t : NULL;
}

static void wb_presence_inbound_sub(wb_worker *w, wb_msg *m)
{
    wb_jid contact;
    char bare[WB_JID_MAX + 1];
    wb_presence_ctx *x = wb_presence_ctx_new(w, m);
    if (!x || !wb_presence_bare(&m->from, &contact, bare, sizeof(bare))) {
        if (x)
            wb_presence_ctx_free(x);
        else
            wb_msg_unref(m);
        return;
    }
    x->ev = wb_presence_event(m->type, false);
    const char *status = x->ev == WB_RSE_IN_SUBSCRIBE ? wb_presence_status(m) : NULL;
    if (!wb_store_roster_subscription(w->store, m->to.node, m->to.domain, bare, x->ev, status,
                                      WB_ROSTER_MAX_ROWS, wb_presence_in_done, x)) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_presence_ctx_free(x);
    }
}

/* ---- probes (RFC 6121 4.3.2) ---- */

static void wb_presence_probe_done(void *arg, wb_store_status status, unsigned state)
{
    wb_presence_ctx *x = arg;
    wb_worker *w = x->w;
    if (status == WB_STORE_OK && (state & WB_RS_FROM)) {
        wb_jid account;
        char bare[WB_JID_MAX + 1];
        wb_presence_bare(&x->m->to, &account, bare, sizeof(bare));
        wb_msg *last[WB_PRESENCE_MAX_RESOURCES];
        size_t n = wb_directory_presences(w->srv->dir, &account, last, WB_PRESENCE_MAX_RESOURCES);
        if (n == 0)
            wb_presence_send(w, WB_PT_UNAVAILABLE, &account, &x->m->from, NULL);
        for (size_t i = 0; i < n; i++) {
            wb_presence_send_copy(w, last[i], &last[i]->from, &x->m->from);
            wb_msg_unref(last[i]);
        }
    }
    wb_presence_ctx_free(x);
}

static void wb_presence_probe(wb_worker *w, wb_msg *m)
{
    wb_jid contact;
    char bare[WB_JID_MAX + 1];
    wb_presence_ctx *x = wb_presence_ctx_new(w, m);
    if (!x || !wb_presence_bare(&m->from, &contact, bare, sizeof(bare)) ||
        !wb_store_roster_state(w->store, m->to.node, m->to.domain, bare, wb_presence_probe_done,
                               x)) {
        if (x)
            wb_presence_ctx_free(x);
        else
            wb_msg_unref(m);
    }
}

static wb_mod_result wb_presence_inbound(wb_worker *w, wb_msg *m)
{
    if (m->kind != WB_MSG_PRESENCE || !m->has_from || !m->has_to || !wb_jid_has_node(&m->to))
        return WB_MOD_PASS;
    if (m->type == WB_PT_PROBE)
        wb_presence_probe(w, m); /* never delivered to clients */
    else if (wb_presence_is_sub(m))
        wb_presence_inbound_sub(w, m);
    else
        return WB_MOD_PASS;
    return WB_MOD_HANDLED;
}

/* ---- broadcast to subscribers (RFC 6121 4.2, 4.4, 4.5) ---- */

/* Redelivers the pending inbound requests to the session that just became available. */
static void wb_presence_redeliver(wb_presence_ctx *x, const wb_roster_item *items, size_t n)
{
    wb_c2s *c = wb_worker_session(x->w, x->sid);
    wb_jid account = x->from, contact;
    account.resource[0] = '\0';
    for (size_t i = 0; c && i < n; i++) {
        if (!(items[i].state & WB_RS_PENDING_IN) ||
            wb_jid_parse(&contact, items[i].jid, strlen(items[i].jid)) < 0)
            continue;
        wb_buf b;
        wb_buf_init(&b);
        wb_buf_puts(&b, "<presence type='subscribe' from='");
        wb_buf_xml_escape_str(&b, items[i].jid);
        wb_buf_puts(&b, "' to='");
        wb_buf_xml_escape_str(&b, account.node);
        wb_buf_puts(&b, "@");
        wb_buf_xml_escape_str(&b, account.domain);
        if (items[i].status) {
            wb_buf_puts(&b, "'><status>");
            wb_buf_xml_escape_str(&b, items[i].status);
            wb_buf_puts(&b, "</status></presence>");
        } else {
            wb_buf_puts(&b, "'/>");
        }
        wb_msg *p = b.failed ? NULL
                             : wb_xmpp_msg_from_text(WB_MSG_PRESENCE, WB_PT_SUBSCRIBE, &contact,
                                                     &account, b.data, b.len);
        wb_buf_free(&b);
        if (p) {
            wb_c2s_deliver(c, p);
            wb_msg_unref(p);
        }
    }
}

static void wb_presence_broadcast_done(void *arg, wb_store_status status, int64_t version,
                                       const wb_roster_item *items, size_t n)
{
    wb_presence_ctx *x = arg;
    (void)version;
    if (status != WB_STORE_OK)
        goto done;
    wb_jid contact;
    for (size_t i = 0; i < n; i++) {
        if (!(items[i].state & (WB_RS_FROM | WB_RS_TO)) ||
            wb_jid_parse(&contact, items[i].jid, strlen(items[i].jid)) < 0)
            continue;
        if ((items[i].state & WB_RS_FROM) && x->m)
            wb_presence_send_copy(x->w, x->m, &x->from, &contact);
        else if (items[i].state & WB_RS_FROM)
            wb_presence_send(x->w, WB_PT_UNAVAILABLE, &x->from, &contact, NULL);
        if (x->initial && (items[i].state & WB_RS_TO))
            wb_presence_send(x->w, WB_PT_PROBE, &x->from, &contact, NULL);
    }
    if (x->initial)
        wb_presence_redeliver(x, items, n);
done:
    wb_presence_ctx_free(x);
}

static void wb_presence_broadcast(wb_worker *w, const wb_jid *from, uint64_t sid, const wb_msg *m,
                                  bool initial)
{
    wb_presence_ctx *x = wb_presence_ctx_new(w, m ? wb_msg_ref((wb_msg *)m) : NULL);
    if (!x) {
        if (m)
            wb_msg_unref((wb_msg *)m);
        return;
    }
    x->from = *from;
    x->sid = sid;
    x->initial = initial;
    if (!wb_store_roster_presence(w->store, from->node, from->domain, initial,
                                  wb_presence_broadcast_done, x))
        wb_presence_ctx_free(x);
}

static void wb_presence_hook(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial)
{
    if (m->type == WB_PT_AVAILABLE || m->type == WB_PT_UNAVAILABLE)
        wb_presence_broadcast(w, wb_c2s_jid(c), wb_c2s_id(c), m, initial);
}

static void wb_presence_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available)
{
    if (was_available)
        wb_presence_broadcast(w, full, sid, NULL, false);
}

const wb_module wb_mod_presence = {
    .name = "presence",
    .presence = wb_presence_hook,
    .ended = wb_presence_ended,
    .outbound = wb_presence_outbound,
    .inbound = wb_presence_inbound,
};
