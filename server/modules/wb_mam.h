/* What the archive module shares with other modules: how a message is referred to by a
 * retraction (XEP-0424), so that the offline queue keys its copies the same way. */
#ifndef WB_MAM_H
#define WB_MAM_H

#include "wb_msg.h"

/* The message's origin-id, else its id, else NULL (not retractable). */
const char *wb_mam_ref(const wb_msg *m);

#endif
