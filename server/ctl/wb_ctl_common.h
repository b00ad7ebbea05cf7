/* Helpers every warblerctl command family shares: checking an account JID against the
 * configuration and naming the Unix user behind an action. Not for talking to the daemon. */
#ifndef WB_CTL_COMMON_H
#define WB_CTL_COMMON_H

#include <stddef.h>

#include "wb_config.h"
#include "wb_jid.h"

#define WB_CTL_ACTOR_MAX 80

/* Parses s as the bare JID of an account on one of the configured hosts. 0, or -1 after printing
 * the reason on stderr. */
int wb_ctl_account_jid(const wb_config *cfg, const char *s, wb_jid *jid);
/* "ctl:USER" for the Unix user running warblerctl (who asked, in the GDPR register). */
void wb_ctl_actor(char actor[WB_CTL_ACTOR_MAX]);

#endif
