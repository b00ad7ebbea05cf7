/* warblerctl retention: setting, removing and showing how long an account (or one of its
 * conversations) keeps messages. Not for erasing anything: the server's sweeper does that. */
#ifndef WB_CTL_RETENTION_H
#define WB_CTL_RETENTION_H

#include "wb_config.h"
#include "wb_store.h"

typedef struct wb_ctl_retention_args {
    const char *cmd;     /* set, unset, show */
    const char *jid;     /* the account */
    const char *seconds; /* set: a whole number of seconds, 0 for forever */
    const char *with;    /* set, unset: a conversation's JID, or NULL for the account */
} wb_ctl_retention_args;

/* Checks the words after "retention" (argv[i..argc-1]) into a. 0 or -1 (usage error). */
int wb_ctl_retention_parse(wb_ctl_retention_args *a, int argc, char **argv, int i);
/* Runs the command on a migrated database, printing the result. 0, or -1 (reason printed). */
int wb_ctl_retention_run(wb_pg *pg, const wb_config *cfg, const wb_ctl_retention_args *a);

#endif
