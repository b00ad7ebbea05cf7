/* warblerctl s2s list|close DOMAIN: one line to the daemon's control socket (wb_ctl_daemon.c),
 * its answer printed. The daemon does the work; nothing here touches state. */
#include "wb_ctl_s2s.h"

#include <stdio.h>
#include <string.h>

#include "wb_ctl_daemon.h"
#include "wb_jid.h"
#include "wb_s2s_conf.h"

int wb_ctl_s2s_parse(wb_ctl_s2s_args *a, int argc, char **argv, int i)
{
    memset(a, 0, sizeof(*a));
    if (i < argc && strcmp(argv[i], "list") == 0 && i + 1 == argc) {
        a->cmd = "list";
        return 0;
    }
    if (i + 2 == argc && strcmp(argv[i], "close") == 0) {
        a->cmd = "close";
        a->domain = argv[i + 1];
        return 0;
    }
    return -1;
}

int wb_ctl_s2s_run(const wb_config *cfg, const wb_ctl_s2s_args *a)
{
    char domain[WB_JID_PART_MAX + 1], cmd[WB_JID_PART_MAX + 16];
    if (!cfg->s2s->enabled) {
        fprintf(stderr, "federation is disabled (s2s.enabled = false)\n");
        return -1;
    }
    if (a->domain && wb_jid_prep_domain(domain, a->domain, strlen(a->domain)) < 0) {
        fprintf(stderr, "invalid domain\n");
        return -1;
    }
    if (a->domain)
        snprintf(cmd, sizeof(cmd), "s2s close %s", domain);
    else
        snprintf(cmd, sizeof(cmd), "s2s list");
    return wb_ctl_daemon_ask(cfg, cmd, NULL, NULL, false) == 0 ? 0 : -1;
}
