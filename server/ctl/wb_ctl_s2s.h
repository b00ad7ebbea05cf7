/* warblerctl s2s: lists the live server-to-server streams of a running warblerd and closes the
 * ones with a remote domain, through the daemon's control socket. Not for configuration. */
#ifndef WB_CTL_S2S_H
#define WB_CTL_S2S_H

#include "wb_config.h"

typedef struct wb_ctl_s2s_args {
    const char *cmd;    /* list, close */
    const char *domain; /* close: the remote domain */
} wb_ctl_s2s_args;

/* Checks the words after "s2s" (argv[i..argc-1]) into a. 0 or -1 (usage error). */
int wb_ctl_s2s_parse(wb_ctl_s2s_args *a, int argc, char **argv, int i);
/* Asks the daemon and prints its answer. 0, or -1 (reason printed). */
int wb_ctl_s2s_run(const wb_config *cfg, const wb_ctl_s2s_args *a);

#endif
