/* XEP-0280 Message Carbons: per-session enable/disable, and copies of a user's chat messages
 * (received and sent) to the account's other carbons-enabled resources. Not for archiving. */
#include <string.h>

#include "wb_directory.h"
#include "wb_log.h"
#include "wb_modules.h"
#include "wb_router.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

#define WB_NS_CARBONS  "urn:xmpp:carbons:2"
#define WB_NS_FORWARD  "urn:xmpp:forward:0"
#define WB_NS_HINTS    "urn:xmpp:hints"
#define WB_NS_MUC_USER "http://jabber.org/protocol/muc#user"

/* XEP-0280 section 6 (which messages): chat, and normal messages with a body; never errors,
 * groupchat, headline, private or no-copy messages, carbons themselves, or MUC messages. */
static bool wb_carbons_eligible(const wb_msg *m)
{
    if (m->kind != WB_MSG_MESSAGE || m->xml == NULL || m->bytes == NULL)
        return false;
    if (m->type != WB_MT_CHAT &&
        !(m->type == WB_MT_NORMAL && wb_st_child(m->xml, 0, "body", WB_NS_CLIENT) >= 0))
        return false;
    for (wb_el el = wb_st_first(m->xml, 0); el >= 0; el = wb_st_next(m->xml, el)) {
        const char *ns = wb_st_ns(m->xml, el), *name = wb_st_name(m->xml, el);
        if (strcmp(ns, WB_NS_CARBONS) == 0)
            return false; /* <private/>, or already a carbon (<received/>, <sent/>) */
        if (strcmp(ns, WB_NS_HINTS) == 0 && strcmp(name, "no-copy") == 0)
            return false;
        if (strcmp(ns, WB_NS_MUC_USER) == 0 && strcmp(name, "x") == 0)
            return false;
    }
    return true;
}

/* Whether the start tag of bytes (length len, starting after "<message") declares a default
 * namespace; *end gets the offset of the tag's closing '>'. */
/* The delivered bytes of m as a forwarded stanza: inside <forwarded/> the default namespace is
 * urn:xmpp:forward:0, so the message gets its jabber:client declaration back. -1 when the
 * bytes are not a plain <message> element. */
static int wb_carbons_inner(const wb_msg *m, wb_buf *out)
{
    static const char open[] = "<message";
    const size_t n = sizeof(open) - 1;
    if (m->bytes_len <= n || memcmp(m->bytes, open, n) != 0 ||
        strchr(" \t\r\n/>", m->bytes[n]) == NULL)
        return -1;
    return wb_xml_with_default_ns(m->bytes, m->bytes_len, WB_NS_CLIENT, out);
}

/* Sends one copy: <message from=owner's bare JID to=that resource><DIR><forwarded>inner. */
static void wb_carbons_send(wb_worker *w, const wb_msg *m, const char *dir, const wb_jid *owner,
                            const wb_dir_target *t, const wb_buf *inner)
{
    char bare[WB_JID_MAX + 1], full[WB_JID_MAX + 1];
    wb_jid to = *owner;
    memcpy(to.resource, t->resource, sizeof(to.resource));
    wb_jid from = *owner;
    from.resource[0] = '\0';
    if (wb_jid_bare(owner, bare, sizeof(bare)) < 0 || wb_jid_full(&to, full, sizeof(full)) < 0)
        return;
    const char *type = wb_msg_type_name(m->type);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<message from='");
    wb_buf_xml_escape_str(&b, bare);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, full);
    if (type[0] != '\0')
        wb_buf_printf(&b, "' type='%s", type);
    wb_buf_printf(&b, "'><%s xmlns='" WB_NS_CARBONS "'><forwarded xmlns='" WB_NS_FORWARD "'>", dir);
    wb_buf_append(&b, inner->data, inner->len);
    wb_buf_printf(&b, "</forwarded></%s></message>", dir);
    wb_msg *copy =
        b.failed ? NULL : wb_xmpp_msg_from_text(WB_MSG_MESSAGE, m->type, &from, &to, b.data, b.len);
    wb_buf_free(&b);
    if (copy == NULL) {
        wb_warn("carbons: out of memory, a copy was not sent");
        return;
    }
    wb_route_to_session(w, t->worker, t->sid, copy);
    wb_msg_unref(copy);
}

/* Copies m to every target with skip[i] false that is available and has carbons enabled. */
static void wb_carbons_copy(wb_worker *w, const wb_msg *m, const char *dir, const wb_jid *owner,
                            const wb_dir_target *t, size_t n, const bool *skip)
{
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = !skip[i] && t[i].available && (t[i].flags & WB_DIR_F_CARBONS);
    if (!any)
        return;
    wb_buf inner;
    wb_buf_init(&inner);
    if (wb_carbons_inner(m, &inner) < 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (!skip[i] && t[i].available && (t[i].flags & WB_DIR_F_CARBONS))
            wb_carbons_send(w, m, dir, owner, &t[i], &inner);
done:
    wb_buf_free(&inner);
}

/* Received copies: the resources that do not get the original (the router's rule: the full
 * JID's resource if bound, else the bare JID rule), nor the sender itself. */
static wb_mod_result wb_carbons_inbound(wb_worker *w, wb_msg *m)
{
    wb_dir_target t[WB_ROUTE_MAX_TARGETS];
    bool skip[WB_ROUTE_MAX_TARGETS] = {false};
    if (!wb_carbons_eligible(m))
        return WB_MOD_PASS;
    const size_t n = wb_directory_lookup(w->srv->dir, &m->to, t, WB_ROUTE_MAX_TARGETS);
    bool full = false;
    for (size_t i = 0; i < n && wb_jid_has_resource(&m->to); i++)
        if (strcmp(t[i].resource, m->to.resource) == 0)
            full = skip[i] = true;
    if (!full)
        wb_route_bare_targets(m, t, n, skip);
    const bool from_self = m->has_from && wb_jid_bare_eq(&m->from, &m->to);
    for (size_t i = 0; i < n && from_self; i++)
        skip[i] = skip[i] || strcmp(t[i].resource, m->from.resource) == 0;
    wb_carbons_copy(w, m, "received", &m->to, t, n, skip);
    return WB_MOD_PASS;
}

/* Sent copies: the sender's other resources. A message to the sender's own account is left to
 * the received copies (one copy per resource). */
static wb_mod_result wb_carbons_outbound(wb_worker *w, uint64_t sid, wb_msg *m)
{
    wb_dir_target t[WB_ROUTE_MAX_TARGETS];
    bool skip[WB_ROUTE_MAX_TARGETS];
    if (!m->has_from || !m->has_to || wb_jid_bare_eq(&m->from, &m->to) || !wb_carbons_eligible(m))
        return WB_MOD_PASS;
    const size_t n = wb_directory_lookup(w->srv->dir, &m->from, t, WB_ROUTE_MAX_TARGETS);
    for (size_t i = 0; i < n; i++)
        skip[i] = t[i].sid == sid;
    wb_carbons_copy(w, m, "sent", &m->from, t, n, skip);
    return WB_MOD_PASS;
}

/* <enable/> and <disable/>: the flag lives in the directory so that every worker sees it. */
static wb_mod_result wb_carbons_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (m->has_to &&
        (to_server ? strcmp(m->to.domain, m->from.domain) != 0 : !wb_jid_bare_eq(&m->to, &m->from)))
        return WB_MOD_PASS;
    const bool enable = strcmp(wb_st_name(m->xml, wb_st_first(m->xml, 0)), "enable") == 0;
    wb_dir_target t;
    if (!m->has_from || !wb_directory_find(w->srv->dir, &m->from, &t) || t.worker != w->idx ||
        wb_worker_session(w, t.sid) == NULL ||
        !wb_directory_set_flags(w->srv->dir, &m->from, t.sid, enable ? WB_DIR_F_CARBONS : 0,
                                enable ? 0 : WB_DIR_F_CARBONS)) {
        wb_route_error(w, m, WB_STE_UNEXPECTED_REQUEST, NULL);
        return WB_MOD_HANDLED;
    }
    wb_modules_reply(w, m, NULL);
    return WB_MOD_HANDLED;
}

static const char *const wb_carbons_features[] = {WB_NS_CARBONS, NULL};
static const wb_iq_handler wb_carbons_iq[] = {
    {WB_NS_CARBONS, "enable", NULL, wb_carbons_set},
    {WB_NS_CARBONS, "disable", NULL, wb_carbons_set},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_carbons = {
    .name = "carbons",
    .features = wb_carbons_features,
    .iq = wb_carbons_iq,
    .inbound = wb_carbons_inbound,
    .outbound = wb_carbons_outbound,
};
