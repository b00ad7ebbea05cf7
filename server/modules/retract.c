/* XEP-0424 message retraction: a retraction from the original sender is forwarded as it is and
 * erases the retracted payload from both archives and the recipient's offline queue (tombstone).
 * Not for deciding what a retraction refers to in SQL (storage/wb_store_archive.c). */
#include <string.h>

#include "wb_log.h"
#include "wb_modules.h"
#include "wb_store_archive.h"
#include "wb_xml.h"

#define WB_NS_RETRACT "urn:xmpp:message-retract:1"
#define WB_NS_SID     "urn:xmpp:sid:0"

static void wb_retract_done(void *arg, wb_store_status status, uint64_t erased, uint64_t dropped)
{
    (void)arg;
    if (status == WB_STORE_OK)
        wb_debug("retract: %llu archived and %llu queued messages erased",
                 (unsigned long long)erased, (unsigned long long)dropped);
}

/* The retraction's own id (shown in tombstones): its origin-id, else its id, else "". */
static const char *wb_retract_own_id(const wb_msg *m)
{
    const wb_el o = wb_st_child(m->xml, 0, "origin-id", WB_NS_SID);
    const char *id = o >= 0 ? wb_st_attr(m->xml, o, "id") : NULL;
    if (id == NULL || *id == '\0')
        id = m->id;
    return id != NULL && strlen(id) <= WB_ARCHIVE_REF_MAX ? id : "";
}

/* Only the sender's own archive and messages it sent can match: the storage keys every
 * archived message by its sender's bare JID, so a retraction by anyone else erases nothing. */
static wb_mod_result wb_retract_outbound(wb_worker *w, uint64_t sid, wb_msg *m)
{
    (void)sid;
    if (m->kind != WB_MSG_MESSAGE || m->xml == NULL || !m->has_from || !m->has_to ||
        !wb_jid_has_node(&m->to) || m->type == WB_MT_GROUPCHAT || m->type == WB_T_ERROR)
        return WB_MOD_PASS;
    const wb_el el = wb_st_child(m->xml, 0, "retract", WB_NS_RETRACT);
    const char *target = el >= 0 ? wb_st_attr(m->xml, el, "id") : NULL;
    if (target == NULL || *target == '\0' || strlen(target) > WB_ARCHIVE_REF_MAX)
        return WB_MOD_PASS;
    const wb_archive_retraction r = {
        .s_node = m->from.node,
        .s_domain = m->from.domain,
        .r_node = m->to.node,
        .r_domain = m->to.domain,
        .target = target,
        .retract_id = wb_retract_own_id(m),
    };
    if (wb_store_archive_retract(w->store, &r, wb_retract_done, NULL) < 0)
        wb_warn("retract: a retraction could not be applied to the archives");
    return WB_MOD_PASS;
}

static const char *const wb_retract_features[] = {WB_NS_RETRACT, NULL};

const wb_module wb_mod_retract = {
    .name = "retract",
    .features = wb_retract_features,
    .outbound = wb_retract_outbound,
};
