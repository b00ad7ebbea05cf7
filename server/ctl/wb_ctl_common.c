/* Helpers every warblerctl command family shares: the account JID check and the actor name.
 * Nothing here reads the database or the daemon. */
#include "wb_ctl_common.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int wb_ctl_account_jid(const wb_config *cfg, const char *s, wb_jid *jid)
{
    if (wb_jid_parse(jid, s, strlen(s)) < 0 || !wb_jid_has_node(jid) || wb_jid_has_resource(jid)) {
        fprintf(stderr, "invalid account JID (expected user@domain)\n");
        return -1;
    }
    if (wb_config_host(cfg, jid->domain) == NULL) {
        fprintf(stderr, "unknown domain %s\n", jid->domain);
        return -1;
    }
    return 0;
}

void wb_ctl_actor(char actor[WB_CTL_ACTOR_MAX])
{
    const struct passwd *pw = getpwuid(getuid());
    snprintf(actor, WB_CTL_ACTOR_MAX, "ctl:%s", pw != NULL ? pw->pw_name : "?");
}
