/* XEP-0199 XMPP ping: the server (and an account, on its behalf) answers pings. */
#include "wb_modules.h"

#define WB_NS_PING "urn:xmpp:ping"

static wb_mod_result wb_ping_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    /* An account answers pings from its own resources; for others the server does not
     * reveal whether the account exists (RFC 6121 8.5.2.2.3 and 8.5.2.1.3). */
    if (!to_server && m->has_to && !wb_jid_bare_eq(&m->to, &m->from))
        return WB_MOD_PASS;
    wb_modules_reply(w, m, NULL);
    return WB_MOD_HANDLED;
}

static const char *const wb_ping_features[] = {WB_NS_PING, NULL};
static const wb_iq_handler wb_ping_iq[] = {
    {WB_NS_PING, "ping", wb_ping_get, NULL},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_ping = {.name = "ping", .features = wb_ping_features, .iq = wb_ping_iq};
