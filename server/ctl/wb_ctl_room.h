/* warblerctl room list|info|destroy: the stored (persistent) MUC rooms, through
 * storage/wb_store_muc.c. Never shows a room's sealed configuration, members or messages. */
#ifndef WB_CTL_ROOM_H
#define WB_CTL_ROOM_H

#include "wb_config.h"
#include "wb_store.h"

typedef struct wb_ctl_room_args {
    const char *cmd; /* list, info, destroy */
    const char *jid; /* info, destroy: the room's bare JID */
} wb_ctl_room_args;

/* Checks the words after "room" (argv[i..argc-1]) into a. 0 or -1 (usage error). */
int wb_ctl_room_parse(wb_ctl_room_args *a, int argc, char **argv, int i);
/* Runs the command on a migrated database, printing the result and noting it in the audit log.
 * 0, or -1 (reason printed). */
int wb_ctl_room_run(wb_pg *pg, const wb_config *cfg, const wb_ctl_room_args *a);

#endif
