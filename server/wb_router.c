/* wb_router: delivery rules for local accounts (RFC 6121 section 8) on the model only; the bytes
 * delivered are the ones the adapter prepared, never re-serialised here. */
#include "wb_router.h"
#include "wb_s2s.h"
#include "wb_component.h"

#include <string.h>

#include "wb_c2s.h"
#include "wb_log.h"
#include "muc/wb_muc.h"
#include "upload/wb_upload.h"
#include "wb_modules.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"
#include "wb_metrics.h"

void wb_route_to_session(wb_worker *w, int worker, uint64_t sid, wb_msg *m)
{
    if (worker == w->idx) {
        wb_c2s *c = wb_worker_session(w, sid);
        if (c)
            wb_c2s_deliver(c, m);
        return;
    }
    wb_worker_post_deliver(w->srv->workers[worker], sid, m);
}

void wb_route_error(wb_worker *w, const wb_msg *m, int stanza_err, const char *text)
{
    wb_msg *r = wb_xmpp_error_reply(m, (wb_stanza_err)stanza_err, text);
    if (r)
        wb_route(w, r);
}

size_t wb_route_bare_targets(const wb_msg *m, const wb_dir_target *t, size_t n, bool *pick)
{
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (t[i].available && t[i].priority >= 0 && t[i].priority > best)
            best = t[i].priority;
    size_t picked = 0;
    for (size_t i = 0; i < n; i++) {
        pick[i] = m->type == WB_MT_HEADLINE
                      ? (t[i].available && t[i].priority >= 0)
                      : (t[i].available && best >= 0 && t[i].priority == best);
        picked += pick[i];
    }
    return picked;
}

/* Message to a bare JID (RFC 6121 8.5.2.1.1): the available resources with the highest
 * non-negative priority; none: the modules (offline storage) or service-unavailable. */
static void wb_route_message_bare(wb_worker *w, wb_msg *m, const wb_dir_target *t, size_t n)
{
    bool pick[WB_ROUTE_MAX_TARGETS];
    const size_t sent = wb_route_bare_targets(m, t, n, pick);
    for (size_t i = 0; i < n; i++)
        if (pick[i])
            wb_route_to_session(w, t[i].worker, t[i].sid, m);
    if (!sent && m->type != WB_MT_HEADLINE && wb_modules_undeliverable(w, m) == WB_MOD_PASS)
        wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
}

static void wb_route_bare(wb_worker *w, wb_msg *m)
{
    wb_dir_target t[WB_ROUTE_MAX_TARGETS];
    size_t n = wb_directory_lookup(w->srv->dir, &m->to, t, WB_ROUTE_MAX_TARGETS);
    switch (m->kind) {
    case WB_MSG_MESSAGE:
        if (m->type == WB_MT_GROUPCHAT)
            wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
        else if (m->type != WB_T_ERROR)
            wb_route_message_bare(w, m, t, n);
        break;
    case WB_MSG_PRESENCE:
        if (m->type == WB_PT_PROBE)
            break; /* answered from the roster by the presence module once it exists */
        for (size_t i = 0; i < n; i++)
            if (t[i].available)
                wb_route_to_session(w, t[i].worker, t[i].sid, m);
        break;
    case WB_MSG_IQ:
        /* RFC 6121 8.5.2.1.3: the server answers on behalf of the account. */
        if (m->type == WB_IT_GET || m->type == WB_IT_SET)
            wb_modules_iq(w, m, false);
        break;
    }
}

static void wb_route_full(wb_worker *w, wb_msg *m)
{
    wb_dir_target t;
    if (wb_directory_find(w->srv->dir, &m->to, &t)) {
        wb_route_to_session(w, t.worker, t.sid, m);
        return;
    }
    /* RFC 6121 8.5.3.2: no such resource. */
    if (m->kind == WB_MSG_MESSAGE && m->type != WB_MT_GROUPCHAT)
        wb_route_bare(w, m);
    else if (m->kind == WB_MSG_PRESENCE && m->type >= WB_PT_SUBSCRIBE &&
             m->type <= WB_PT_UNSUBSCRIBED)
        wb_route_bare(w, m);
    else if (m->kind != WB_MSG_PRESENCE)
        wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
}

void wb_route_local(wb_worker *w, wb_msg *m)
{
    if (wb_jid_has_resource(&m->to))
        wb_route_full(w, m);
    else
        wb_route_bare(w, m);
    wb_msg_unref(m);
}

void wb_route(wb_worker *w, wb_msg *m)
{
    wb_metrics_inc(WB_METRIC_ROUTED);
    if (!m->has_to) {
        /* No 'to': addressed to the sender's own account (RFC 6120 10.3). */
        if (m->kind == WB_MSG_IQ && (m->type == WB_IT_GET || m->type == WB_IT_SET))
            wb_modules_iq(w, m, false);
        else if (m->kind == WB_MSG_MESSAGE) {
            m->to = m->from;
            m->to.resource[0] = '\0';
            m->has_to = true;
            wb_modules_inbound(w, m, 0);
            return;
        }
    } else if (wb_muc_route(w, m)) {
        return; /* a MUC service, its rooms and occupants (server/modules/muc/) */
    } else if (wb_upload_route(w, m)) {
        return; /* an HTTP File Upload service (server/modules/upload.c) */
    } else if (wb_comp_route(w, m)) {
        return; /* an external component's domain (server/component/) */
    } else if (!wb_server_serves(w->srv, m->to.domain)) {
        wb_s2s_route(w, m); /* federation (server/s2s/): consumes m */
        return;
    } else if (!wb_jid_has_node(&m->to)) {
        if (wb_jid_has_resource(&m->to))
            wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
        else if (m->kind == WB_MSG_IQ && (m->type == WB_IT_GET || m->type == WB_IT_SET))
            wb_modules_iq(w, m, true);
    } else {
        wb_modules_inbound(w, m, 0); /* then wb_route_local */
        return;
    }
    wb_msg_unref(m);
}
