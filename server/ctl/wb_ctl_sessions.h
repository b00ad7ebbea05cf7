/* warblerctl sessions list [JID], sessions kick JID[/RESOURCE] and stats: asked of the running
 * daemon through its control socket (which audits them). Not for stored account data. */
#ifndef WB_CTL_SESSIONS_H
#define WB_CTL_SESSIONS_H

#include "wb_config.h"

typedef struct wb_ctl_sessions_args {
    const char *cmd; /* list, kick, stats */
    const char *jid; /* list: the account (or NULL); kick: the account or one of its sessions */
} wb_ctl_sessions_args;

/* Checks the words after "sessions" (or "stats", then stats is true) from argv[i]. 0, or -1
 * after printing a one-line usage error. */
int wb_ctl_sessions_parse(wb_ctl_sessions_args *a, bool stats, int argc, char **argv, int i);
/* Asks the daemon and prints its answer (stats: with the account count from the database).
 * 0, or -1 (reason printed). */
int wb_ctl_sessions_run(const wb_config *cfg, const wb_ctl_sessions_args *a);
/* The usage lines of these commands. */
extern const char wb_ctl_sessions_usage[];

#endif
