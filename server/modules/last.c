/* XEP-0012 last activity: the server's uptime, and for an account (to itself or to a contact
 * with a from/both subscription) the time since it went offline and its last status text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wb_buf.h"
#include "wb_directory.h"
#include "wb_log.h"
#include "wb_modules.h"
#include "wb_router.h"
#include "wb_store_last.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define WB_NS_LAST       "jabber:iq:last"
#define WB_LAST_MAX_SEEN 64 /* resources looked at to tell whether the account is online */

/* Whether some resource of the account is available now. */
static bool wb_last_online(wb_worker *w, const wb_jid *account)
{
    wb_dir_target t[WB_LAST_MAX_SEEN];
    const size_t n = wb_directory_lookup(w->srv->dir, account, t, WB_LAST_MAX_SEEN);
    for (size_t i = 0; i < n; i++)
        if (t[i].available)
            return true;
    return false;
}

static void wb_last_reply(wb_worker *w, const wb_msg *m, long long seconds, const char *status)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<query xmlns='" WB_NS_LAST "' seconds='%lld'", seconds);
    if (status && status[0]) {
        wb_buf_puts(&b, ">");
        wb_buf_xml_escape_str(&b, status);
        wb_buf_puts(&b, "</query>");
    } else {
        wb_buf_puts(&b, "/>");
    }
    if (b.failed)
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b.data);
    wb_buf_free(&b);
}

/* A query in flight. The store answers every request, with UNAVAILABLE when it closes at
 * shutdown, so the callback always frees it. */
typedef struct wb_last_req {
    wb_worker *w;
    wb_msg *m;
    wb_jid account;
} wb_last_req;

static void wb_last_get_cb(void *arg, wb_store_status status, const wb_last_activity *la)
{
    wb_last_req *r = arg;
    if (status == WB_STORE_UNAVAILABLE)
        wb_route_error(r->w, r->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    else if (status != WB_STORE_OK || !la->allowed)
        /* No account, or no subscription: the same answer, so that nothing is revealed. */
        wb_route_error(r->w, r->m, WB_STE_FORBIDDEN, NULL);
    else if (wb_last_online(r->w, &r->account))
        wb_last_reply(r->w, r->m, 0, NULL);
    else if (!la->known)
        wb_route_error(r->w, r->m, WB_STE_ITEM_NOT_FOUND, NULL);
    else
        wb_last_reply(r->w, r->m, (long long)la->seconds, la->status);
    wb_msg_unref(r->m);
    free(r);
}

/* Asks storage for the account's last activity as the requester may see it. */
static void wb_last_query_account(wb_worker *w, const wb_msg *m)
{
    wb_last_req *r = calloc(1, sizeof(*r));
    if (!r) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    r->w = w;
    r->m = wb_msg_ref((wb_msg *)m);
    r->account = m->has_to ? m->to : m->from;
    r->account.resource[0] = '\0';
    char contact[WB_JID_MAX + 1];
    const bool self = wb_jid_bare_eq(&r->account, &m->from);
    if (!self && wb_jid_bare(&m->from, contact, sizeof(contact)) < 0)
        contact[0] = '\0';
    if (!self && !contact[0])
        wb_last_get_cb(r, WB_STORE_NOT_FOUND, NULL);
    else if (!wb_store_last_get(w->store, r->account.node, r->account.domain, self ? NULL : contact,
                                wb_last_get_cb, r))
        wb_last_get_cb(r, WB_STORE_UNAVAILABLE, NULL);
}

static wb_mod_result wb_last_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server) {
        const time_t up = time(NULL) - w->srv->started;
        wb_last_reply(w, m, up > 0 ? (long long)up : 0, NULL);
    } else {
        wb_last_query_account(w, m);
    }
    return WB_MOD_HANDLED;
}

/* ---- recording when an account goes offline ---- */

/* Stores now as the account's last activity with status (may be NULL), cut to the size kept
 * at a UTF-8 character boundary. */
static void wb_last_record(wb_worker *w, const wb_jid *account, const char *status, size_t len)
{
    char text[WB_STORE_LAST_STATUS_MAX + 1];
    if (len > WB_STORE_LAST_STATUS_MAX) {
        len = WB_STORE_LAST_STATUS_MAX;
        while (len > 0 && ((unsigned char)status[len] & 0xC0) == 0x80)
            len--;
    }
    if (len)
        memcpy(text, status, len);
    text[len] = '\0';
    if (wb_store_last_set(w->store, account->node, account->domain, text) < 0)
        wb_warn("last: last activity not recorded: request not queued");
}

/* Explicit unavailable presence: when it takes the account's last available resource away,
 * that is the logout, with this presence's status text. */
static void wb_last_presence(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial)
{
    (void)initial;
    const wb_jid *jid = wb_c2s_jid(c);
    if (m->type != WB_PT_UNAVAILABLE || !jid || !(wb_c2s_flags(c) & WB_C2S_F_INITIAL_PRESENCE) ||
        wb_last_online(w, jid))
        return;
    size_t len = 0;
    const char *status = NULL;
    wb_el el = m->xml ? wb_st_child(m->xml, 0, "status", WB_NS_CLIENT) : -1;
    if (el >= 0)
        status = wb_st_text(m->xml, el, &len);
    wb_last_record(w, jid, status, len);
}

/* An available session ended without saying goodbye (or the stream just closed). */
static void wb_last_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available)
{
    (void)sid;
    if (was_available && !wb_last_online(w, full))
        wb_last_record(w, full, NULL, 0);
}

static const char *const wb_last_features[] = {WB_NS_LAST, NULL};
static const wb_iq_handler wb_last_iq[] = {
    {WB_NS_LAST, "query", wb_last_get, NULL},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_last = {
    .name = "last",
    .features = wb_last_features,
    .iq = wb_last_iq,
    .presence = wb_last_presence,
    .ended = wb_last_ended,
};
