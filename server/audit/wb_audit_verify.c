/* Verification of the audit chain: one pass over a snapshot, record by record, with the
 * checkpoints merged in by the record they name; and listing. Nothing here writes. */
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_audit_int.h"
#include "wb_audit_query.h"

#define WB_AV_BATCH 256 /* records fetched at a time */

typedef struct wb_av {
    const wb_audit_source *src;
    const uint8_t *pk;
    wb_audit_head head;
    wb_audit_checkpoint cp; /* the next checkpoint not yet checked, when have_cp */
    int have_cp;            /* 1, 0 at the end, -1 on error */
    int64_t expect;         /* the id the next record must have */
    uint8_t prev[WB_AUDIT_HASH_BYTES];
    wb_audit_verify_result *out;
} wb_av;

static int wb_av_bad(wb_av *v, int64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the verdict (the first problem found); returns 1 so that callers can stop. */
static int wb_av_bad(wb_av *v, int64_t id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->out->reason, sizeof(v->out->reason), fmt, ap);
    va_end(ap);
    v->out->ok = false;
    v->out->first_bad = id;
    return 1;
}

static void wb_av_next_cp(wb_av *v)
{
    v->have_cp = v->src->checkpoint(v->src->ctx, &v->cp);
}

/* Checks every checkpoint naming a record up to id (whose hash is hash); 0 good, 1 bad, -1
 * database error. Checkpoints older than the pruning anchor only have their signature checked. */
static int wb_av_checkpoints(wb_av *v, int64_t id, const uint8_t *hash)
{
    for (; v->have_cp == 1 && v->cp.last_id <= id; wb_av_next_cp(v)) {
        if (!wb_audit_checkpoint_valid(&v->cp, v->pk))
            return wb_av_bad(v, v->cp.last_id,
                             "checkpoint %" PRId64 " (naming record %" PRId64
                             ") has an invalid signature",
                             v->cp.id, v->cp.last_id);
        v->out->checkpoints++;
        const uint8_t *want = v->cp.last_id == id                  ? hash
                              : v->cp.last_id == v->head.pruned_id ? v->head.pruned_hash
                                                                   : NULL;
        if (want != NULL && v->cp.last_id > 0 &&
            sodium_memcmp(want, v->cp.last_hash, WB_AUDIT_HASH_BYTES) != 0)
            return wb_av_bad(v, v->cp.last_id,
                             "record %" PRId64
                             " differs from the one signed in checkpoint %" PRId64,
                             v->cp.last_id, v->cp.id);
    }
    return v->have_cp < 0 ? -1 : 0;
}

/* 0 good, 1 bad (verdict recorded), -1 database error. */
static int wb_av_record(wb_av *v, const wb_audit_rec *r)
{
    uint8_t h[WB_AUDIT_HASH_BYTES];
    if (r->id > v->expect)
        return wb_av_bad(v, v->expect,
                         "record %" PRId64 " is missing (the next one stored is %" PRId64 ")",
                         v->expect, r->id);
    if (r->id < v->expect)
        return wb_av_bad(v, r->id,
                         "record %" PRId64 " should have been pruned (the anchor is %" PRId64 ")",
                         r->id, v->head.pruned_id);
    wb_audit_hash(r, h);
    if (sodium_memcmp(h, r->hash, sizeof(h)) != 0)
        return wb_av_bad(v, r->id, "record %" PRId64 " was altered (its hash does not match)",
                         r->id);
    if (sodium_memcmp(v->prev, r->prev_hash, sizeof(h)) != 0)
        return wb_av_bad(v, r->id,
                         "record %" PRId64 " does not follow record %" PRId64
                         " (prev_hash differs: records removed, replaced or reordered)",
                         r->id, r->id - 1);
    const int rc = wb_av_checkpoints(v, r->id, r->hash);
    if (rc != 0)
        return rc;
    memcpy(v->prev, r->hash, sizeof(h));
    v->expect++;
    v->out->checked++;
    return 0;
}

/* After the last record: later checkpoints and the head must not name records beyond it. */
static int wb_av_tail(wb_av *v)
{
    const int64_t last = v->expect - 1;
    if (v->have_cp == 1) {
        if (!wb_audit_checkpoint_valid(&v->cp, v->pk))
            return wb_av_bad(v, v->cp.last_id,
                             "checkpoint %" PRId64 " (naming record %" PRId64
                             ") has an invalid signature",
                             v->cp.id, v->cp.last_id);
        return wb_av_bad(v, v->expect,
                         "record %" PRId64 " is missing: the log ends at %" PRId64
                         " but checkpoint %" PRId64 " names record %" PRId64 " (truncated)",
                         v->expect, last, v->cp.id, v->cp.last_id);
    }
    if (v->head.last_id > last)
        return wb_av_bad(v, v->expect,
                         "record %" PRId64 " is missing: the log ends at %" PRId64
                         " but the head names record %" PRId64 " (truncated)",
                         v->expect, last, v->head.last_id);
    if (v->head.last_id < last || sodium_memcmp(v->head.last_hash, v->prev, sizeof(v->prev)))
        return wb_av_bad(v, v->head.last_id < last ? v->head.last_id + 1 : last,
                         "the head (record %" PRId64 ") does not match the log's last record",
                         v->head.last_id);
    return 0;
}

static int wb_av_walk(wb_av *v, wb_audit_rec *batch)
{
    int rc = wb_av_checkpoints(v, v->head.pruned_id, v->head.pruned_hash);
    while (rc == 0) {
        const int n = v->src->records(v->src->ctx, batch, WB_AV_BATCH);
        if (n <= 0) {
            rc = n < 0 ? -1 : wb_av_tail(v);
            break;
        }
        for (int i = 0; i < n; i++) {
            if (rc == 0)
                rc = wb_av_record(v, &batch[i]);
            wb_audit_rec_clear(&batch[i]);
        }
    }
    return rc;
}

int wb_audit_verify_walk(const wb_audit_head *head, const wb_audit_source *src,
                         const uint8_t pk[32], wb_audit_verify_result *out)
{
    memset(out, 0, sizeof(*out));
    wb_av v = {.src = src, .pk = pk, .out = out, .head = *head};
    wb_audit_rec *batch = calloc(WB_AV_BATCH, sizeof(*batch));
    if (batch == NULL) {
        snprintf(out->reason, sizeof(out->reason), "out of memory");
        return -1;
    }
    v.expect = v.head.pruned_id + 1;
    memcpy(v.prev, v.head.pruned_hash, sizeof(v.prev));
    out->ok = true;
    wb_av_next_cp(&v);
    const int rc = wb_av_walk(&v, batch);
    free(batch);
    if (rc < 0) {
        out->ok = false;
        out->first_bad = 0;
        snprintf(out->reason, sizeof(out->reason), "cannot read the audit log");
        return -1;
    }
    return 0;
}

static int wb_av_pg_records(void *ctx, wb_audit_rec *out, int max)
{
    return wb_store_audit_scan_records(ctx, out, max);
}

static int wb_av_pg_checkpoint(void *ctx, wb_audit_checkpoint *out)
{
    return wb_store_audit_scan_checkpoint(ctx, out);
}

int wb_audit_verify_pg(wb_pg *pg, const uint8_t pk[32], wb_audit_verify_result *out)
{
    wb_audit_head head;
    const wb_audit_source src = {pg, wb_av_pg_records, wb_av_pg_checkpoint};
    if (wb_store_audit_scan_begin(pg, &head) < 0) {
        memset(out, 0, sizeof(*out));
        snprintf(out->reason, sizeof(out->reason), "cannot read the audit log");
        return -1;
    }
    const int rc = wb_audit_verify_walk(&head, &src, pk, out);
    wb_store_audit_scan_end(pg);
    return rc;
}

int wb_audit_verify(wb_audit *a, wb_audit_verify_result *out)
{
    wb_pg *pg = wb_store_sync_connect(wb_audit_dsn(a), 0);
    if (pg == NULL) {
        memset(out, 0, sizeof(*out));
        snprintf(out->reason, sizeof(out->reason), "cannot connect to the database");
        return -1;
    }
    const int rc = wb_audit_verify_pg(pg, wb_audit_public_key(a), out);
    wb_store_sync_close(pg);
    return rc;
}

int wb_audit_list(wb_audit *a, const wb_audit_filter *f, wb_audit_rec **rows)
{
    *rows = NULL;
    wb_pg *pg = wb_store_sync_connect(wb_audit_dsn(a), 0);
    if (pg == NULL)
        return -1;
    const int n = wb_store_audit_list(pg, f, rows);
    wb_store_sync_close(pg);
    return n;
}

void wb_audit_rows_free(wb_audit_rec *rows, int n)
{
    for (int i = 0; rows != NULL && i < n; i++)
        wb_audit_rec_clear(&rows[i]);
    free(rows);
}
