/* Presence state of one client session (RFC 6121 section 4): available/unavailable broadcast to
 * the account's own resources, directed presence remembered so that it is undone when the session
 * goes away. Subscriptions and roster broadcast belong to the roster module, not here. */
#include "wb_c2s_int.h"

#include <stdlib.h>
#include <string.h>

#include "wb_modules.h"
#include "wb_router.h"
#include "wb_xmpp_model.h"

#define WB_C2S_MAX_DIRECTED 256

static void wb_presence_track(wb_c2s *c, const wb_jid *to, bool add)
{
    for (size_t i = 0; i < c->n_directed; i++) {
        if (wb_jid_full_eq(&c->directed[i], to)) {
            if (!add)
                c->directed[i] = c->directed[--c->n_directed];
            return;
        }
    }
    if (!add || c->n_directed >= WB_C2S_MAX_DIRECTED)
        return;
    if (c->n_directed == c->cap_directed) {
        size_t cap = c->cap_directed ? c->cap_directed * 2 : 4;
        wb_jid *d = realloc(c->directed, cap * sizeof(*d));
        if (!d)
            return;
        c->directed = d;
        c->cap_directed = cap;
    }
    c->directed[c->n_directed++] = *to;
}

/* Sends m to every available resource of the session's own account. */
static void wb_presence_to_own_resources(wb_c2s *c, wb_msg *m)
{
    wb_dir_target t[32];
    size_t n = wb_directory_lookup(c->w->srv->dir, &c->jid, t, 32);
    for (size_t i = 0; i < n; i++)
        if (t[i].available)
            wb_route_to_session(c->w, t[i].worker, t[i].sid, m);
}

static void wb_presence_unavailable_to_directed(wb_c2s *c)
{
    char full[WB_JID_MAX + 1], to[WB_JID_MAX + 1];
    wb_jid_full(&c->jid, full, sizeof(full));
    for (size_t i = 0; i < c->n_directed; i++) {
        wb_buf b;
        wb_buf_init(&b);
        wb_jid_full(&c->directed[i], to, sizeof(to));
        wb_buf_puts(&b, "<presence type='unavailable' from='");
        wb_buf_xml_escape_str(&b, full);
        wb_buf_puts(&b, "' to='");
        wb_buf_xml_escape_str(&b, to);
        wb_buf_puts(&b, "'/>");
        wb_msg *m = b.failed ? NULL
                             : wb_xmpp_msg_from_text(WB_MSG_PRESENCE, WB_PT_UNAVAILABLE, &c->jid,
                                                     &c->directed[i], b.data, b.len);
        wb_buf_free(&b);
        if (m)
            wb_route(c->w, m);
    }
    c->n_directed = 0;
}

bool wb_c2s_presence_out(wb_c2s *c, wb_msg *m)
{
    if (m->has_to) {
        if (m->type == WB_PT_AVAILABLE || m->type == WB_PT_UNAVAILABLE)
            wb_presence_track(c, &m->to, m->type == WB_PT_AVAILABLE);
        return false; /* the router delivers it */
    }
    if (m->type == WB_PT_AVAILABLE || m->type == WB_PT_UNAVAILABLE) {
        bool avail = m->type == WB_PT_AVAILABLE;
        c->available = avail;
        c->priority = m->priority;
        wb_directory_set_presence(c->w->srv->dir, &c->jid, c->id, avail, m->priority, m);
        wb_presence_to_own_resources(c, m);
        bool initial = avail && !(c->flags & WB_C2S_F_INITIAL_PRESENCE);
        if (initial)
            c->flags |= WB_C2S_F_INITIAL_PRESENCE;
        wb_modules_presence(c->w, c, m, initial);
        if (!avail) {
            /* RFC 6121 4.5.2: the session itself also learns it is now unavailable. */
            wb_c2s_deliver(c, m);
            wb_presence_unavailable_to_directed(c);
        }
    }
    wb_msg_unref(m); /* subscription types without 'to' mean nothing: dropped */
    return true;
}

void wb_c2s_presence_end(wb_c2s *c)
{
    if (c->available) {
        char full[WB_JID_MAX + 1];
        wb_buf b;
        wb_buf_init(&b);
        wb_jid_full(&c->jid, full, sizeof(full));
        wb_buf_puts(&b, "<presence type='unavailable' from='");
        wb_buf_xml_escape_str(&b, full);
        wb_buf_puts(&b, "'/>");
        wb_msg *m = b.failed ? NULL
                             : wb_xmpp_msg_from_text(WB_MSG_PRESENCE, WB_PT_UNAVAILABLE, &c->jid,
                                                     NULL, b.data, b.len);
        wb_buf_free(&b);
        c->available = false;
        if (m) {
            wb_presence_to_own_resources(c, m); /* this session is already unbound */
            wb_msg_unref(m);
        }
    }
    wb_presence_unavailable_to_directed(c);
}
