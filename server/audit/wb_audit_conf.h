/* The audit log's configuration (group `audit`), loaded by wb_config.c and reached through
 * wb_config_audit(). Not the writer's run-time state (see wb_audit.h). */
#ifndef WB_AUDIT_CONF_H
#define WB_AUDIT_CONF_H

#include <stdbool.h>

struct wb_config;

typedef struct wb_audit_conf {
    bool enabled;            /* default true */
    char *key_file;          /* Ed25519 signing key seed; default KEY_FILE.audit */
    int checkpoint_records;  /* a signed checkpoint every this many records (default 1000) */
    int checkpoint_interval; /* ... or every this many seconds when records came (default 3600) */
    int retention_days;      /* records older are pruned; 0 keeps them forever (default 365) */
    int queue_size;          /* events waiting for the database, at most (default 10000) */
    int flush_wait;          /* seconds the shutdown waits to store the queue (default 5) */
} wb_audit_conf;

const wb_audit_conf *wb_config_audit(const struct wb_config *c);

#endif
