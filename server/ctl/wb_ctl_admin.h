/* warblerctl admin and apikey: creating, listing and deleting admin users of the REST admin API
 * (with their TOTP provisioning URI) and API keys. Not for chat accounts (user commands). */
#ifndef WB_CTL_ADMIN_H
#define WB_CTL_ADMIN_H

#include <stdbool.h>

#include "wb_config.h"
#include "wb_store.h"

typedef struct wb_ctl_admin_args {
    bool apikey;      /* "apikey" commands, else "admin" ones */
    const char *cmd;  /* admin: add, list, delete, disable, enable; apikey: add, list, revoke */
    const char *name; /* all but list */
    const char *role; /* add */
    const char *password_file;
    int days; /* apikey add --expires DAYS, 0: never */
} wb_ctl_admin_args;

/* Checks the words after "admin" or "apikey" (argv[i..argc-1]). 0 or -1 (usage error). */
int wb_ctl_admin_parse(wb_ctl_admin_args *a, bool apikey, int argc, char **argv, int i);
/* The audit action of the command ("admin.disable"...), NULL for a listing. */
const char *wb_ctl_admin_action(const wb_ctl_admin_args *a);
/* Runs the command on a migrated database, printing the result (secrets once). 0, or -1
 * (reason printed). */
int wb_ctl_admin_run(wb_pg *pg, const wb_config *cfg, const wb_ctl_admin_args *a);

#endif
