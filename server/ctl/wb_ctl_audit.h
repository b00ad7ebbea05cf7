/* warblerctl audit: init (the signing key), status (public key, counts), verify (the whole
 * chain) and list (records, newest first); and the record warblerctl leaves of its own actions. */
#ifndef WB_CTL_AUDIT_H
#define WB_CTL_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "wb_config.h"
#include "wb_store.h"
#include "wb_store_audit.h"

typedef struct wb_ctl_audit_args {
    const char *cmd;        /* init, status, verify, list */
    const char *public_key; /* verify --public-key HEX: check checkpoints against this key */
    wb_audit_filter filter; /* list */
} wb_ctl_audit_args;

/* Checks the words after "audit" (argv[i..argc-1]) into a. 0 or -1 (usage error). */
int wb_ctl_audit_parse(wb_ctl_audit_args *a, int argc, char **argv, int i);
/* Runs the command; returns the exit status (verify: 0 intact, 1 bad, 2 could not check). */
int wb_ctl_audit_main(const wb_ctl_audit_args *a, const wb_config *cfg);
/* The usage lines of the audit commands. */
extern const char wb_ctl_audit_usage[];

/* Records one warblerctl action (actor "ctl", source the Unix user) on pg right away. A failure
 * is printed as a warning: the action itself has already happened. */
void wb_ctl_audit_note(wb_pg *pg, const wb_config *cfg, const char *action, const char *target,
                       bool ok, const char *reason);

#endif
