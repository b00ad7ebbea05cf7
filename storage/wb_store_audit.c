/* Audit log queries on a synchronous connection: the writer's locked append, checkpoints, the
 * retention call, the verification scan (cursors) and listing. Hashes travel as hex text. */
#include "wb_store_audit.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"

#define WB_SA_NUM        24 /* an int64 in decimal */
#define WB_SA_HEX        (2 + 2 * WB_AUDIT_SIG_BYTES + 1)
#define WB_SA_FETCH      "500"
#define WB_SA_LIMIT_MAX  1000
#define WB_SA_LIMIT_DEF  100
#define WB_SA_PREFIX_MAX 256

#define WB_SA_REC_COLS                                                                             \
    "id, time_us, actor, role, action, target, source, ok, reason, encode(prev_hash, 'hex'), "     \
    "encode(hash, 'hex')"

/* Runs one statement with text parameters (NULL entries are SQL NULLs); the result when its
 * status is want, else NULL with the reason logged. */
static PGresult *wb_sa_exec(wb_pg *pg, const char *what, const char *sql, int n,
                            const char *const *params, ExecStatusType want)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == want)
        return res;
    const char *msg = PQresultErrorMessage(res);
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(pg);
    wb_warn("audit: %s failed: %.*s", what, (int)strcspn(msg, "\r\n"), msg);
    PQclear(res);
    return NULL;
}

static int wb_sa_cmd(wb_pg *pg, const char *what, const char *sql, int n, const char *const *params)
{
    PGresult *res = wb_sa_exec(pg, what, sql, n, params, PGRES_COMMAND_OK);
    PQclear(res);
    return res != NULL ? 0 : -1;
}

static void wb_sa_hex(char *out, const uint8_t *bin, size_t len)
{
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 2 * len + 1, bin, len);
}

static int wb_sa_unhex(uint8_t *out, size_t len, const char *hex)
{
    size_t got = 0;
    if (sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) != 0 || got != len)
        return -1;
    return 0;
}

static int64_t wb_sa_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static char *wb_sa_str(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

void wb_audit_rec_clear(wb_audit_rec *r)
{
    free(r->actor);
    free(r->role);
    free(r->action);
    free(r->target);
    free(r->source);
    free(r->reason);
    r->actor = r->role = r->action = r->target = r->source = r->reason = NULL;
}

/* Reads one row of WB_SA_REC_COLS. A bad hash column (not 32 bytes) reads as all zero bytes,
 * which verification reports as a mismatch. */
static int wb_sa_rec(const PGresult *res, int row, wb_audit_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->id = wb_sa_int(res, row, 0);
    r->time_us = wb_sa_int(res, row, 1);
    r->actor = wb_sa_str(res, row, 2);
    r->role = wb_sa_str(res, row, 3);
    r->action = wb_sa_str(res, row, 4);
    r->target = wb_sa_str(res, row, 5);
    r->source = wb_sa_str(res, row, 6);
    r->ok = PQgetvalue(res, row, 7)[0] == 't';
    r->reason = wb_sa_str(res, row, 8);
    if (wb_sa_unhex(r->prev_hash, WB_AUDIT_HASH_BYTES, PQgetvalue(res, row, 9)) < 0)
        memset(r->prev_hash, 0, WB_AUDIT_HASH_BYTES);
    if (wb_sa_unhex(r->hash, WB_AUDIT_HASH_BYTES, PQgetvalue(res, row, 10)) < 0)
        memset(r->hash, 0, WB_AUDIT_HASH_BYTES);
    if (r->actor == NULL || r->action == NULL) {
        wb_audit_rec_clear(r);
        return -1;
    }
    return 0;
}

static int wb_sa_head(wb_pg *pg, const char *sql, wb_audit_head *h)
{
    PGresult *res = wb_sa_exec(pg, "reading the head", sql, 0, NULL, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 1) {
        h->last_id = wb_sa_int(res, 0, 0);
        h->pruned_id = wb_sa_int(res, 0, 2);
        rc = wb_sa_unhex(h->last_hash, WB_AUDIT_HASH_BYTES, PQgetvalue(res, 0, 1)) == 0 &&
                     wb_sa_unhex(h->pruned_hash, WB_AUDIT_HASH_BYTES, PQgetvalue(res, 0, 3)) == 0
                 ? 0
                 : -1;
    }
    if (rc < 0)
        wb_warn("audit: the head row is missing or malformed");
    PQclear(res);
    return rc;
}

/* ---- the writer's transaction ---- */

int wb_store_audit_begin_append(wb_pg *pg, wb_audit_head *head, int64_t *cp_last_id,
                                int64_t *cp_time_us)
{
    if (wb_sa_cmd(pg, "begin", "BEGIN", 0, NULL) < 0)
        return -1;
    if (wb_sa_head(pg,
                   "SELECT last_id, encode(last_hash, 'hex'), pruned_id, encode(pruned_hash, "
                   "'hex') FROM audit_head WHERE one FOR UPDATE",
                   head) < 0)
        return -1;
    PGresult *res = wb_sa_exec(pg, "reading the newest checkpoint",
                               "SELECT last_id, time_us FROM audit_checkpoints "
                               "ORDER BY last_id DESC, id DESC LIMIT 1",
                               0, NULL, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    *cp_last_id = PQntuples(res) == 1 ? wb_sa_int(res, 0, 0) : 0;
    *cp_time_us = PQntuples(res) == 1 ? wb_sa_int(res, 0, 1) : 0;
    PQclear(res);
    return 0;
}

int wb_store_audit_insert(wb_pg *pg, const wb_audit_rec *r)
{
    char id[WB_SA_NUM], t[WB_SA_NUM], prev[WB_SA_HEX], hash[WB_SA_HEX];
    snprintf(id, sizeof(id), "%" PRId64, r->id);
    snprintf(t, sizeof(t), "%" PRId64, r->time_us);
    wb_sa_hex(prev, r->prev_hash, WB_AUDIT_HASH_BYTES);
    wb_sa_hex(hash, r->hash, WB_AUDIT_HASH_BYTES);
    const char *const p[] = {id,        t,         r->actor,  r->role,
                             r->action, r->target, r->source, r->ok ? "t" : "f",
                             r->reason, prev,      hash};
    return wb_sa_cmd(pg, "storing a record",
                     "INSERT INTO audit_log (id, time_us, actor, role, action, target, source, "
                     "ok, reason, prev_hash, hash) VALUES ($1::bigint, $2::bigint, $3, $4, $5, "
                     "$6, $7, $8::boolean, $9, $10::bytea, $11::bytea)",
                     11, p);
}

int wb_store_audit_head_set(wb_pg *pg, int64_t last_id, const uint8_t *last_hash)
{
    char id[WB_SA_NUM], hash[WB_SA_HEX];
    snprintf(id, sizeof(id), "%" PRId64, last_id);
    wb_sa_hex(hash, last_hash, WB_AUDIT_HASH_BYTES);
    const char *const p[] = {id, hash};
    return wb_sa_cmd(pg, "moving the head",
                     "UPDATE audit_head SET last_id = $1::bigint, last_hash = $2::bytea WHERE one",
                     2, p);
}

int wb_store_audit_checkpoint_add(wb_pg *pg, const wb_audit_checkpoint *cp)
{
    char id[WB_SA_NUM], t[WB_SA_NUM], hash[WB_SA_HEX], sig[WB_SA_HEX];
    snprintf(id, sizeof(id), "%" PRId64, cp->last_id);
    snprintf(t, sizeof(t), "%" PRId64, cp->time_us);
    wb_sa_hex(hash, cp->last_hash, WB_AUDIT_HASH_BYTES);
    wb_sa_hex(sig, cp->sig, WB_AUDIT_SIG_BYTES);
    const char *const p[] = {id, hash, t, sig};
    return wb_sa_cmd(pg, "storing a checkpoint",
                     "INSERT INTO audit_checkpoints (last_id, last_hash, time_us, sig) "
                     "VALUES ($1::bigint, $2::bytea, $3::bigint, $4::bytea)",
                     4, p);
}

int wb_store_audit_commit(wb_pg *pg)
{
    return wb_sa_cmd(pg, "commit", "COMMIT", 0, NULL);
}

void wb_store_audit_rollback(wb_pg *pg)
{
    if (PQtransactionStatus(pg) != PQTRANS_IDLE)
        PQclear(PQexec(pg, "ROLLBACK"));
}

int wb_store_audit_session_init(wb_pg *pg)
{
    return wb_sa_cmd(pg, "naming the connection", "SET application_name = 'warbler-audit'", 0,
                     NULL);
}

bool wb_store_audit_conn_ok(wb_pg *pg)
{
    return pg != NULL && PQstatus(pg) == CONNECTION_OK;
}

long wb_store_audit_prune(wb_pg *pg, int64_t cutoff_us, int batch)
{
    char t[WB_SA_NUM], b[WB_SA_NUM];
    snprintf(t, sizeof(t), "%" PRId64, cutoff_us);
    snprintf(b, sizeof(b), "%d", batch);
    const char *const p[] = {t, b};
    PGresult *res = wb_sa_exec(pg, "pruning", "SELECT audit_prune($1::bigint, $2::integer)", 2, p,
                               PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    const long n = PQntuples(res) == 1 ? (long)wb_sa_int(res, 0, 0) : -1;
    PQclear(res);
    return n;
}

/* ---- reading ---- */

int wb_store_audit_scan_begin(wb_pg *pg, wb_audit_head *head)
{
    if (wb_sa_cmd(pg, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL) < 0)
        goto fail;
    if (wb_sa_head(pg,
                   "SELECT last_id, encode(last_hash, 'hex'), pruned_id, encode(pruned_hash, "
                   "'hex') FROM audit_head WHERE one",
                   head) < 0)
        goto fail;
    if (wb_sa_cmd(pg, "opening the record cursor",
                  "DECLARE wb_audit_rc NO SCROLL CURSOR FOR SELECT " WB_SA_REC_COLS
                  " FROM audit_log ORDER BY id",
                  0, NULL) < 0)
        goto fail;
    if (wb_sa_cmd(pg, "opening the checkpoint cursor",
                  "DECLARE wb_audit_cc NO SCROLL CURSOR FOR SELECT id, last_id, "
                  "encode(last_hash, 'hex'), time_us, encode(sig, 'hex') FROM audit_checkpoints "
                  "ORDER BY last_id, id",
                  0, NULL) < 0)
        goto fail;
    return 0;
fail:
    wb_store_audit_rollback(pg);
    return -1;
}

int wb_store_audit_scan_records(wb_pg *pg, wb_audit_rec *out, int max)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "FETCH %d FROM wb_audit_rc", max);
    PGresult *res = wb_sa_exec(pg, "reading records", sql, 0, NULL, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    const int n = PQntuples(res) < max ? PQntuples(res) : max;
    for (int i = 0; i < n; i++) {
        if (wb_sa_rec(res, i, &out[i]) < 0) {
            while (i-- > 0)
                wb_audit_rec_clear(&out[i]);
            PQclear(res);
            return -1;
        }
    }
    PQclear(res);
    return n;
}

/* A bad hash or signature column reads as zero bytes: verification then reports it. */
static void wb_sa_checkpoint(const PGresult *res, int row, wb_audit_checkpoint *cp)
{
    memset(cp, 0, sizeof(*cp));
    cp->id = wb_sa_int(res, row, 0);
    cp->last_id = wb_sa_int(res, row, 1);
    if (wb_sa_unhex(cp->last_hash, WB_AUDIT_HASH_BYTES, PQgetvalue(res, row, 2)) < 0)
        memset(cp->last_hash, 0, WB_AUDIT_HASH_BYTES);
    cp->time_us = wb_sa_int(res, row, 3);
    if (wb_sa_unhex(cp->sig, WB_AUDIT_SIG_BYTES, PQgetvalue(res, row, 4)) < 0)
        memset(cp->sig, 0, WB_AUDIT_SIG_BYTES);
}

int wb_store_audit_scan_checkpoint(wb_pg *pg, wb_audit_checkpoint *out)
{
    PGresult *res =
        wb_sa_exec(pg, "reading checkpoints", "FETCH 1 FROM wb_audit_cc", 0, NULL, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    const int n = PQntuples(res) > 0 ? 1 : 0;
    if (n == 1)
        wb_sa_checkpoint(res, 0, out);
    PQclear(res);
    return n;
}

void wb_store_audit_scan_end(wb_pg *pg)
{
    wb_store_audit_rollback(pg);
}

int wb_store_audit_last_checkpoint(wb_pg *pg, wb_audit_checkpoint *out)
{
    PGresult *res = wb_sa_exec(pg, "reading the newest checkpoint",
                               "SELECT id, last_id, encode(last_hash, 'hex'), time_us, "
                               "encode(sig, 'hex') FROM audit_checkpoints "
                               "ORDER BY last_id DESC, id DESC LIMIT 1",
                               0, NULL, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    const int n = PQntuples(res) > 0 ? 1 : 0;
    if (n == 1)
        wb_sa_checkpoint(res, 0, out);
    PQclear(res);
    return n;
}

int wb_store_audit_counts(wb_pg *pg, wb_audit_head *head, int64_t *records, int64_t *checkpoints)
{
    if (wb_sa_head(pg,
                   "SELECT last_id, encode(last_hash, 'hex'), pruned_id, encode(pruned_hash, "
                   "'hex') FROM audit_head WHERE one",
                   head) < 0)
        return -1;
    PGresult *res = wb_sa_exec(pg, "counting",
                               "SELECT (SELECT count(*) FROM audit_log), "
                               "(SELECT count(*) FROM audit_checkpoints)",
                               0, NULL, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    *records = wb_sa_int(res, 0, 0);
    *checkpoints = wb_sa_int(res, 0, 1);
    PQclear(res);
    return 0;
}

/* "account.*" and "account." select every action beginning with "account.". */
static bool wb_sa_action_prefix(const char *action, char *prefix, size_t size)
{
    const size_t n = strlen(action);
    if (n == 0 || n >= size || (action[n - 1] != '*' && action[n - 1] != '.'))
        return false;
    memcpy(prefix, action, n);
    prefix[action[n - 1] == '*' ? n - 1 : n] = '\0';
    return true;
}

int wb_store_audit_list(wb_pg *pg, const wb_audit_filter *f, wb_audit_rec **out)
{
    char since[WB_SA_NUM], until[WB_SA_NUM], before[WB_SA_NUM], limit[WB_SA_NUM];
    char prefix[WB_SA_PREFIX_MAX];
    const bool is_prefix =
        f->action != NULL && wb_sa_action_prefix(f->action, prefix, sizeof(prefix));
    int lim = f->limit <= 0 ? WB_SA_LIMIT_DEF : f->limit;
    lim = lim > WB_SA_LIMIT_MAX ? WB_SA_LIMIT_MAX : lim;
    snprintf(since, sizeof(since), "%" PRId64, f->since_us);
    snprintf(until, sizeof(until), "%" PRId64, f->until_us);
    snprintf(before, sizeof(before), "%" PRId64, f->before_id);
    snprintf(limit, sizeof(limit), "%d", lim);
    const char *const p[] = {f->actor,
                             is_prefix ? NULL : f->action,
                             is_prefix ? prefix : NULL,
                             f->target,
                             f->since_us > 0 ? since : NULL,
                             f->until_us > 0 ? until : NULL,
                             f->before_id > 0 ? before : NULL,
                             limit};
    PGresult *res = wb_sa_exec(
        pg, "listing",
        "SELECT " WB_SA_REC_COLS " FROM audit_log WHERE ($1::text IS NULL OR actor = $1) "
        "AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR starts_with(action, $3)) "
        "AND ($4::text IS NULL OR target = $4) AND ($5::bigint IS NULL OR time_us >= $5) "
        "AND ($6::bigint IS NULL OR time_us < $6) AND ($7::bigint IS NULL OR id < $7) "
        "ORDER BY id DESC LIMIT $8::integer",
        8, p, PGRES_TUPLES_OK);
    if (res == NULL)
        return -1;
    const int n = PQntuples(res);
    *out = calloc(n > 0 ? (size_t)n : 1, sizeof(**out));
    int got = 0;
    for (int i = 0; *out != NULL && i < n; i++)
        if (wb_sa_rec(res, i, &(*out)[got]) == 0)
            got++;
    PQclear(res);
    return *out != NULL ? got : -1;
}
