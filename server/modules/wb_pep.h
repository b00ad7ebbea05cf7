/* Personal eventing (XEP-0163 on a XEP-0060 subset), shared by its files: pep.c (the module and
 * the pubsub iq), pep_owner.c (pubsub#owner), pep_notify.c (notifications, last items) and
 * pep_caps.c (XEP-0115 caps of local sessions). disco.c reads the account features. */
#ifndef WB_PEP_H
#define WB_PEP_H

#include <stdbool.h>
#include <stdint.h>

#include "wb_buf.h"
#include "wb_modules.h"
#include "wb_store_pep.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define WB_NS_PUBSUB        "http://jabber.org/protocol/pubsub"
#define WB_NS_PUBSUB_OWNER  "http://jabber.org/protocol/pubsub#owner"
#define WB_NS_PUBSUB_EVENT  "http://jabber.org/protocol/pubsub#event"
#define WB_NS_PUBSUB_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define WB_NS_XDATA         "jabber:x:data"

#define WB_PEP_MAX_ITEMS 256 /* the largest pubsub#max_items ("max") */
#define WB_PEP_MAX_NODES 256 /* nodes per account */

extern const wb_module wb_mod_pep;

/* What an account's bare JID offers for PEP (disco#info on the account, with the identity
 * below), NULL-terminated. */
extern const char *const wb_pep_account_features[];
#define WB_PEP_IDENTITY "<identity category='pubsub' type='pep'/>"

/* ---- pep.c: one request in flight ---- */
typedef struct wb_pep_req {
    wb_worker *w;
    wb_msg *m;    /* the iq (referenced) */
    wb_jid owner; /* the account whose node it is (bare) */
    char pnode[WB_PEP_NODE_MAX + 1];
    char item[WB_PEP_ID_MAX + 1];
    bool notify;
    wb_buf doc; /* publish: the payload */
} wb_pep_req;

/* A request on node pnode of the account m is addressed to; NULL when out of memory. */
wb_pep_req *wb_pep_req_new(wb_worker *w, const wb_msg *m, const char *pnode);
void wb_pep_req_free(wb_pep_req *r);
/* Whether the sender of m is the owner of the account m is addressed to. */
bool wb_pep_is_owner(const wb_msg *m);
/* An error reply with a XEP-0060 application condition (app may be NULL). */
void wb_pep_error(wb_worker *w, const wb_msg *m, wb_stanza_err e, const char *app);
/* Answers a failed store request (unavailable: internal-server-error; not found: item-not-found).
 */
void wb_pep_store_error(wb_worker *w, const wb_msg *m, wb_store_status status);
/* Whether a reader with roster state `state` (WB_RS_* in the owner's roster) may read a node. */
bool wb_pep_may_read(int access, bool owner, unsigned state);
/* Reads a data form's fields into cfg (fields not there stay "not given"). -1 when a known field
 * has an invalid value or FORM_TYPE is not form_type. */
int wb_pep_read_form(const struct wb_stanza *st, wb_el x, const char *form_type,
                     wb_pep_config *cfg);

/* ---- pep_owner.c: the pubsub#owner iq ---- */
wb_mod_result wb_pep_owner_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server);
wb_mod_result wb_pep_owner_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server);

/* ---- pep_notify.c ---- */
/* Sends <event>inner</event> from owner's node pnode to the owner's resources and to contacts
 * with a presence subscription that may read it (access), where a resource wants pnode+notify. */
void wb_pep_notify(wb_worker *w, const wb_jid *owner, const char *pnode, int access,
                   const char *inner, size_t len);
/* Sends the resource `to` (session sid) the last item of every node it may read and wants
 * notifications of: of every account, or only of owner's when owner is not NULL. Notifications go
 * through the inbound hooks (block lists apply). */
void wb_pep_last_items(wb_worker *w, const wb_jid *to, uint64_t sid, const wb_jid *owner);
/* The inbound hook: a new subscription's last items (the stanza passes on). */
wb_mod_result wb_pep_inbound(wb_worker *w, wb_msg *m);
/* Appends <items node=pnode><item id=id>payload</item></items>. */
void wb_pep_put_item_event(wb_buf *b, const char *pnode, const char *id, const char *payload,
                           size_t len);

/* ---- pep_caps.c: per-session notify interests from entity caps, and the verified cache ---- */
int wb_pep_caps_init(wb_server *srv, void **state);
void wb_pep_caps_shutdown(wb_server *srv, void *state);
void wb_pep_caps_presence(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial);
wb_mod_result wb_pep_caps_outbound(wb_worker *w, uint64_t sid, wb_msg *m);
void wb_pep_caps_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available);
/* Whether session sid advertised pnode+notify (thread-safe). */
bool wb_pep_caps_wants(wb_server *srv, uint64_t sid, const char *pnode);

/* ---- avatar.c: XEP-0398 conversion between the PEP avatar and the vCard ---- */
/* The owner published an item with payload on its node pnode (after the store said OK). */
void wb_avatar_pep_published(wb_worker *w, const wb_jid *owner, const char *pnode,
                             const char *payload, size_t len);
/* The account m->from stored the vCard of the vcard-temp set iq m. */
void wb_avatar_vcard_set(wb_worker *w, const wb_msg *m);

#endif
