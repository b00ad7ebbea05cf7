/* What the archive module shares with other modules: how a message is referred to by a
 * retraction (XEP-0424), and which archive copy the offline queue may refer to instead of
 * keeping a copy of its own. */
#ifndef WB_MAM_H
#define WB_MAM_H

#include "wb_buf.h"
#include "wb_modules.h"
#include "wb_msg.h"

/* The message's origin-id, else its id, else NULL (not retractable). */
const char *wb_mam_ref(const wb_msg *m);
/* The stanza-id (XEP-0359) this server gave m for its recipient's archive (by = the recipient's
 * bare JID), or NULL when m was not archived for it. The archive write was queued on the
 * worker's store before m went on; it may still have been refused (preferences) or failed. */
const char *wb_mam_stanza_id(const wb_msg *m);
/* m's bytes as the archive stores them (the default namespace declared). 0 or -1. */
int wb_mam_archived_form(const wb_msg *m, wb_buf *out);

/* Preferences (mam_prefs.c): the iq handler of <prefs xmlns='urn:xmpp:mam:2'/>. */
wb_mod_result wb_mam_prefs(wb_worker *w, const wb_msg *m, const char *ns, bool to_server);

#endif
