/* warblerctl's side of the running daemon's control socket (server/wb_control.c): one command
 * line sent, the answer read up to "end". Not for commands that work on the database. */
#ifndef WB_CTL_DAEMON_H
#define WB_CTL_DAEMON_H

#include <stdbool.h>
#include <stdio.h>

#include "wb_config.h"

#define WB_CTL_DAEMON_DOWN (-2) /* nothing listens on the control socket */

/* One answer line, without its newline. */
typedef void wb_ctl_daemon_fn(void *arg, const char *line);

/* Sends cmd (one line, no newline) to the daemon at cfg->control_socket. Answer lines go to fn
 * (NULL: printed on stdout), "error TEXT" lines to stderr as "warblerd: TEXT". Returns 0; -1 when
 * the daemon reported an error or the connection failed (printed); WB_CTL_DAEMON_DOWN when no
 * daemon listens (printed unless quiet_down). */
int wb_ctl_daemon_ask(const wb_config *cfg, const char *cmd, wb_ctl_daemon_fn *fn, void *arg,
                      bool quiet_down);
/* After the account jid (bare, prepared) was disabled, deleted or erased (why: "disabled",
 * "deleted", "erased"): asks a running daemon to close its live sessions and says on say how
 * many were closed, or that no daemon runs. */
void wb_ctl_daemon_close_sessions(const wb_config *cfg, const char *jid, const char *why,
                                  FILE *say);

#endif
