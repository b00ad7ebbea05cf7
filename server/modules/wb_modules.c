/* The module table (which XEP lives in which file) and iq dispatch by child namespace. */
#include "wb_modules.h"

#include <string.h>

#include "wb_router.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

extern const wb_module wb_mod_blocking;  /* blocking.c: XEP-0191 */
extern const wb_module wb_mod_roster;    /* roster.c: RFC 6121 section 2, XEP-0237 */
extern const wb_module wb_mod_presence;  /* presence.c: RFC 6121 sections 3 and 4 */
extern const wb_module wb_mod_mam;       /* mam.c: XEP-0313, XEP-0359 */
extern const wb_module wb_mod_retract;   /* retract.c: XEP-0424 */
extern const wb_module wb_mod_retention; /* retention.c: XEP-0466, XEP-0050 retention command */
extern const wb_module wb_mod_push;      /* push.c: XEP-0357 */
extern const wb_module wb_mod_csi;       /* csi.c: XEP-0352 */
extern const wb_module wb_mod_offline;   /* offline.c: XEP-0160, XEP-0203 */
extern const wb_module wb_mod_carbons;   /* carbons.c: XEP-0280 */
extern const wb_module wb_mod_register;  /* register.c: XEP-0077 */
extern const wb_module wb_mod_disco;     /* disco.c: XEP-0030, XEP-0115 */
extern const wb_module wb_mod_ping;      /* ping.c: XEP-0199 */
extern const wb_module wb_mod_version;   /* version.c: XEP-0092 */
extern const wb_module wb_mod_time;      /* time.c: XEP-0202 */
extern const wb_module wb_mod_last;      /* last.c: XEP-0012 */
extern const wb_module wb_mod_vcard;     /* vcard.c: XEP-0054, XEP-0153 */
extern const wb_module wb_mod_private;   /* private.c: XEP-0049 */
extern const wb_module wb_mod_avatar;    /* avatar.c: XEP-0398 */
extern const wb_module wb_mod_bookmarks_compat; /* XEP-0402 #compat */
extern const wb_module wb_mod_pep;              /* pep*.c: XEP-0163, XEP-0060 */
extern const wb_module wb_mod_muc;              /* muc/: XEP-0045 and friends */
extern const wb_module wb_mod_component;        /* ../component/: XEP-0114 */
extern const wb_module wb_mod_upload;           /* upload.c: XEP-0363 */
extern const wb_module wb_mod_admin_sessions;   /* ../admin/: session list */

/* Order matters for the hooks: blocking filters first, then subscriptions, then push notes what
 * could not be delivered (and passes it on) before offline storage takes it. */
static const wb_module *const wb_modules[] = {
    &wb_mod_blocking,
    &wb_mod_roster,
    &wb_mod_presence,
    &wb_mod_mam,
    &wb_mod_retract,
    &wb_mod_retention,
    &wb_mod_push,
    &wb_mod_csi,
    &wb_mod_offline,
    &wb_mod_carbons,
    &wb_mod_register,
    &wb_mod_disco,
    &wb_mod_ping,
    &wb_mod_version,
    &wb_mod_time,
    &wb_mod_last,
    &wb_mod_vcard,
    &wb_mod_avatar,
    &wb_mod_bookmarks_compat,
    &wb_mod_private,
    &wb_mod_pep,
    &wb_mod_muc,
    &wb_mod_component,
    &wb_mod_upload,
    &wb_mod_admin_sessions,
};
#define WB_N_MODULES (sizeof(wb_modules) / sizeof(wb_modules[0]))
_Static_assert(WB_N_MODULES <= WB_SERVER_MAX_MODULES, "raise WB_SERVER_MAX_MODULES");

void wb_modules_iq(wb_worker *w, const wb_msg *m, bool to_server)
{
    wb_el child = m->xml ? wb_st_first(m->xml, 0) : -1;
    if (child >= 0) {
        const char *ns = wb_st_ns(m->xml, child), *name = wb_st_name(m->xml, child);
        for (size_t i = 0; i < WB_N_MODULES; i++) {
            for (const wb_iq_handler *h = wb_modules[i]->iq; h && h->ns; h++) {
                if (strcmp(h->ns, ns) != 0 || strcmp(h->name, name) != 0)
                    continue;
                wb_iq_fn fn = m->type == WB_IT_GET ? h->get : h->set;
                if (fn && fn(w, m, ns, to_server) == WB_MOD_HANDLED)
                    return;
            }
        }
    }
    wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
}

void wb_modules_disco_features(void (*fn)(void *arg, const char *feature), void *arg)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        for (const char *const *f = wb_modules[i]->features; f && *f; f++)
            fn(arg, *f);
}

int wb_modules_index(const wb_module *mod)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i] == mod)
            return (int)i;
    return (int)WB_N_MODULES;
}

int wb_modules_init(wb_server *srv)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->init && wb_modules[i]->init(srv, &srv->mod_state[i]) < 0)
            return -1;
    return 0;
}

void wb_modules_shutdown(wb_server *srv)
{
    for (size_t i = 0; i < WB_N_MODULES; i++) {
        if (wb_modules[i]->shutdown && srv->mod_state[i])
            wb_modules[i]->shutdown(srv, srv->mod_state[i]);
        srv->mod_state[i] = NULL;
    }
}

void *wb_modules_state(const wb_server *srv, const wb_module *mod)
{
    int i = wb_modules_index(mod);
    return i < WB_SERVER_MAX_MODULES ? srv->mod_state[i] : NULL;
}

void wb_modules_bound(wb_worker *w, wb_c2s *c)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->bound)
            wb_modules[i]->bound(w, c);
}

void wb_modules_presence(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->presence)
            wb_modules[i]->presence(w, c, m, initial);
}

void wb_modules_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->ended)
            wb_modules[i]->ended(w, full, sid, was_available);
}

void wb_modules_outbound(wb_worker *w, uint64_t sid, wb_msg *m, int from_index)
{
    for (size_t i = (size_t)from_index; i < WB_N_MODULES; i++)
        if (wb_modules[i]->outbound && wb_modules[i]->outbound(w, sid, m) == WB_MOD_HANDLED)
            return;
    wb_c2s_outbound_done(w, sid, m);
}

void wb_modules_inbound(wb_worker *w, wb_msg *m, int from_index)
{
    for (size_t i = (size_t)from_index; i < WB_N_MODULES; i++)
        if (wb_modules[i]->inbound && wb_modules[i]->inbound(w, m) == WB_MOD_HANDLED)
            return;
    wb_route_local(w, m);
}

wb_mod_result wb_modules_undeliverable(wb_worker *w, wb_msg *m)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->undeliverable && wb_modules[i]->undeliverable(w, m) == WB_MOD_HANDLED)
            return WB_MOD_HANDLED;
    return WB_MOD_PASS;
}

void wb_modules_stream_features(wb_c2s *c, wb_buf *b, bool authed)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->stream_features)
            wb_modules[i]->stream_features(c, b, authed);
}

wb_mod_result wb_modules_preauth_iq(wb_worker *w, wb_c2s *c, const wb_stanza *st)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->preauth_iq && wb_modules[i]->preauth_iq(w, c, st) == WB_MOD_HANDLED)
            return WB_MOD_HANDLED;
    return WB_MOD_PASS;
}

wb_mod_result wb_modules_deliver(wb_worker *w, wb_c2s *c, const wb_msg *m)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->deliver && wb_modules[i]->deliver(w, c, m) == WB_MOD_HANDLED)
            return WB_MOD_HANDLED;
    return WB_MOD_PASS;
}

wb_mod_result wb_modules_nonza(wb_worker *w, wb_c2s *c, const wb_stanza *st)
{
    for (size_t i = 0; i < WB_N_MODULES; i++)
        if (wb_modules[i]->nonza && wb_modules[i]->nonza(w, c, st) == WB_MOD_HANDLED)
            return WB_MOD_HANDLED;
    return WB_MOD_PASS;
}

void wb_modules_reply(wb_worker *w, const wb_msg *m, const char *payload)
{
    wb_msg *r = wb_xmpp_iq_result(m, payload, payload ? strlen(payload) : 0);
    if (r)
        wb_route(w, r);
}
