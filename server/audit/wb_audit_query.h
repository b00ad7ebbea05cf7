/* Reading the audit log: verifying the chain (hashes, links, checkpoint signatures, truncation
 * as far as checkpoints and the head go) and listing records. Blocking; for warblerctl and the
 * REST API's threads, never for a worker's event loop. */
#ifndef WB_AUDIT_QUERY_H
#define WB_AUDIT_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "wb_audit.h"
#include "wb_store_audit.h" /* wb_audit_rec, wb_audit_filter, wb_pg */

typedef struct wb_audit_verify_result {
    bool ok;
    int64_t checked;     /* records whose hash and link were checked and found good */
    int64_t checkpoints; /* checkpoint signatures checked and found good */
    int64_t first_bad;   /* the first bad record's id (0 when ok) */
    char reason[256];    /* why it is bad, or why verification could not run */
} wb_audit_verify_result;

/* Walks the whole chain on pg in one snapshot, record by record (memory does not grow with the
 * log), checking checkpoints against the public key pk. 0 when the walk ran (out->ok says the
 * verdict), -1 when it could not (database error; out->reason). */
int wb_audit_verify_pg(wb_pg *pg, const uint8_t pk[32], wb_audit_verify_result *out);
/* The same on a connection of its own to a's database, with a's public key. */
int wb_audit_verify(wb_audit *a, wb_audit_verify_result *out);

/* Records matching f, newest first (see wb_audit_filter for paging), on a connection of its own.
 * The number of records (free them with wb_audit_rows_free), or -1. */
int wb_audit_list(wb_audit *a, const wb_audit_filter *f, wb_audit_rec **rows);
void wb_audit_rows_free(wb_audit_rec *rows, int n);

/* The signing key's public half (auditors keep it to check checkpoints independently). */
const uint8_t *wb_audit_public_key(const wb_audit *a);

#endif
