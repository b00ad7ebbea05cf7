/* warblerctl gdpr: export, erase, rectify-vcard, rectify-roster and requests, run and tracked
 * exactly as the admin API runs them (server/wb_gdpr.c), audited as warblerctl actions. */
#ifndef WB_CTL_GDPR_H
#define WB_CTL_GDPR_H

#include "wb_config.h"
#include "wb_store.h"

typedef struct wb_ctl_gdpr_args {
    const char *cmd;     /* export, erase, rectify-vcard, rectify-roster, requests */
    const char *jid;     /* the account */
    const char *out;     /* export --out FILE (created 0600, never overwritten) */
    const char *file;    /* rectify-vcard --file FILE */
    const char *contact; /* rectify-roster CONTACT NAME ("" removes the name) */
    const char *name;
    int limit; /* requests --limit N (default 100) */
} wb_ctl_gdpr_args;

/* Checks the words after "gdpr" (argv[i..argc-1]) into a. 0, or -1 after printing a one-line
 * usage error. */
int wb_ctl_gdpr_parse(wb_ctl_gdpr_args *a, int argc, char **argv, int i);
/* Runs the command on a migrated database and audits it; erase also closes the account's live
 * sessions through a running daemon. 0 or -1 (reason printed). */
int wb_ctl_gdpr_run(wb_pg *pg, const wb_config *cfg, const wb_ctl_gdpr_args *a);
/* The usage lines of the gdpr commands. */
extern const char wb_ctl_gdpr_usage[];

#endif
