/* Storage of the audit log (migration 016): the chain head, records, checkpoints and pruning, on
 * a synchronous connection (the audit writer's own, or warblerctl's). No hashing or signing here.
 */
#ifndef WB_STORE_AUDIT_H
#define WB_STORE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"

#define WB_AUDIT_HASH_BYTES 32 /* BLAKE2b-256 */
#define WB_AUDIT_SIG_BYTES  64 /* Ed25519 */

/* One record as stored. Strings may be NULL (only actor and action are always set). */
typedef struct wb_audit_rec {
    int64_t id;
    int64_t time_us; /* microseconds since the Unix epoch */
    char *actor, *role, *action, *target, *source, *reason;
    bool ok;
    uint8_t prev_hash[WB_AUDIT_HASH_BYTES];
    uint8_t hash[WB_AUDIT_HASH_BYTES];
} wb_audit_rec;

/* Frees the strings of a record (not the record itself). */
void wb_audit_rec_clear(wb_audit_rec *r);

/* The chain's head: the newest record, and the anchor left by pruning (records up to pruned_id
 * were deleted; pruned_hash is the hash of record pruned_id, all zero when nothing was pruned). */
typedef struct wb_audit_head {
    int64_t last_id;
    uint8_t last_hash[WB_AUDIT_HASH_BYTES];
    int64_t pruned_id;
    uint8_t pruned_hash[WB_AUDIT_HASH_BYTES];
} wb_audit_head;

typedef struct wb_audit_checkpoint {
    int64_t id;      /* the checkpoint's own row id */
    int64_t last_id; /* the record it names */
    uint8_t last_hash[WB_AUDIT_HASH_BYTES];
    int64_t time_us;
    uint8_t sig[WB_AUDIT_SIG_BYTES];
} wb_audit_checkpoint;

/* ---- the writer's transaction: begin_append, then insert..., head_set, checkpoint, commit ----
 * All return 0, or -1 with the reason logged (the caller then calls wb_store_audit_rollback). */

/* BEGIN, then locks the one-row head table (SELECT ... FOR UPDATE) and reads it, with the newest
 * checkpoint's last_id and time (0 and 0 when there is none). */
int wb_store_audit_begin_append(wb_pg *pg, wb_audit_head *head, int64_t *cp_last_id,
                                int64_t *cp_time_us);
int wb_store_audit_insert(wb_pg *pg, const wb_audit_rec *r);
int wb_store_audit_head_set(wb_pg *pg, int64_t last_id, const uint8_t *last_hash);
int wb_store_audit_checkpoint_add(wb_pg *pg, const wb_audit_checkpoint *cp);
int wb_store_audit_commit(wb_pg *pg);
void wb_store_audit_rollback(wb_pg *pg);
/* Names the writer's connection "warbler-audit" (pg_stat_activity.application_name). 0 or -1. */
int wb_store_audit_session_init(wb_pg *pg);
/* Whether the connection is still usable (false: close it and connect again). */
bool wb_store_audit_conn_ok(wb_pg *pg);

/* Retention: deletes at most batch of the oldest records older than cutoff_us (a prefix of the
 * chain) and moves the pruning anchor. The number deleted, or -1. */
long wb_store_audit_prune(wb_pg *pg, int64_t cutoff_us, int batch);

/* ---- reading: a consistent snapshot walked with cursors (verify) ---- */

/* BEGIN a read-only repeatable-read transaction, read the head, and open cursors over records
 * (by id) and checkpoints (by last_id, then id). */
int wb_store_audit_scan_begin(wb_pg *pg, wb_audit_head *head);
/* Up to max next records into out (strings owned by the caller afterwards); the number read
 * (0 at the end) or -1. */
int wb_store_audit_scan_records(wb_pg *pg, wb_audit_rec *out, int max);
/* The next checkpoint (by last_id, then id): 1 read, 0 at the end, -1 on error. */
int wb_store_audit_scan_checkpoint(wb_pg *pg, wb_audit_checkpoint *out);
void wb_store_audit_scan_end(wb_pg *pg);

/* The newest checkpoint: 1, 0 when there is none, -1 on error. */
int wb_store_audit_last_checkpoint(wb_pg *pg, wb_audit_checkpoint *out);
/* Counts: records stored, checkpoints stored. 0 or -1. */
int wb_store_audit_counts(wb_pg *pg, wb_audit_head *head, int64_t *records, int64_t *checkpoints);

/* Listing, newest first. NULL / 0 fields do not filter. */
typedef struct wb_audit_filter {
    const char *actor;
    const char *action; /* exact, or a prefix when it ends with '.' or '*' ("account.*") */
    const char *target;
    int64_t since_us, until_us; /* time range [since, until) */
    int64_t before_id;          /* paging: only records with a smaller id */
    int limit;                  /* 1..1000; 0 means 100 */
} wb_audit_filter;

/* Fills *out with up to limit records (free each with wb_audit_rec_clear, then the array with
 * free). The number of records, or -1. */
int wb_store_audit_list(wb_pg *pg, const wb_audit_filter *f, wb_audit_rec **out);

#endif
