/* warblerctl keys: creating the master key file, master-key rotation (online, resumable, with
 * progress) and key status. Not for sealing anything: that is storage/wb_vault.c. */
#ifndef WB_CTL_KEYS_H
#define WB_CTL_KEYS_H

#include "wb_config.h"
#include "wb_store.h"
#include "wb_vault.h"

#define WB_CTL_KEYS_BATCH 100 /* data keys re-wrapped per transaction by default */

typedef struct wb_ctl_keys_opts {
    int batch;      /* rotate-master: keys per transaction */
    int stop_after; /* rotate-master: stop after this many batches (0: never; for tests) */
} wb_ctl_keys_opts;

/* Opens the vault of cfg, creating the key file (32 random bytes, mode 0600) first if it does
 * not exist yet (then says so on stderr). NULL after printing the reason. */
wb_vault *wb_ctl_keys_vault(const wb_config *cfg);
/* keys init: creates the key file unless it exists. 0 or -1 (reason printed). */
int wb_ctl_keys_init(const wb_config *cfg);
/* keys status / keys rotate-master on a migrated database. 0 or -1 (reason printed). */
int wb_ctl_keys_status(wb_pg *pg, const wb_config *cfg);
int wb_ctl_keys_rotate(wb_pg *pg, const wb_config *cfg, const wb_ctl_keys_opts *opts);

#endif
