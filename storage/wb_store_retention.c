/* Retention queries: settings by (domain, node) in one statement each, the bounded sweep, and the
 * blocking variants for warblerctl. Erasure deletes rows; no payload is ever opened here. */
#include "wb_store_retention.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_store_int.h"

#define WB_SR_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_SR_JID_MAX  3071 /* bytes of a bare JID */
#define WB_SR_NUM      24   /* an int64 in decimal */

static const char wb_sr_set_sql[] = "SELECT retention_set($1, $2, $3, $4::bigint)";

static const char wb_sr_get_sql[] =
    "SELECT (SELECT s.seconds FROM retention_settings s WHERE s.account_id = a.id "
    "AND s.peer = ''), (SELECT s.seconds FROM retention_settings s WHERE s.account_id = a.id "
    "AND s.peer = $3 AND $3 <> '') FROM accounts a WHERE a.domain = $1 AND a.node = $2";

static const char wb_sr_sweep_sql[] =
    "SELECT o_archived, o_queued FROM retention_sweep($1::bigint, $2::bigint, $3::integer, "
    "NULLIF($4, ''), NULLIF($5, ''))";

static const char wb_sr_list_sql[] =
    "SELECT s.peer, s.seconds::text, a.id IS NOT NULL FROM accounts a "
    "LEFT JOIN retention_settings s ON s.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2 ORDER BY s.peer NULLS FIRST";

static bool wb_sr_parts_ok(const char *node, const char *domain, const char *peer)
{
    return strlen(node) <= WB_SR_PART_MAX && strlen(domain) <= WB_SR_PART_MAX &&
           (peer == NULL || strlen(peer) <= WB_SR_JID_MAX);
}

/* ---- set ---- */

static void wb_sr_set_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_retention_set_cb cb = (wb_store_retention_set_cb)r->cb;
    wb_store_status status = WB_STORE_UNAVAILABLE;
    if (res != NULL && wb_store_result_ok(res, "retention setting") && PQntuples(res) == 1)
        status = PQgetisnull(res, 0, 0) ? WB_STORE_NOT_FOUND : WB_STORE_OK;
    if (cb != NULL)
        cb(r->arg, status);
}

wb_store_req *wb_store_retention_set(wb_store *st, const char *node, const char *domain,
                                     const char *peer, int64_t seconds,
                                     wb_store_retention_set_cb cb, void *arg)
{
    char num[WB_SR_NUM];
    if (!wb_sr_parts_ok(node, domain, peer) || seconds > WB_RETENTION_MAX_SECONDS)
        return NULL;
    snprintf(num, sizeof(num), "%" PRId64, seconds < 0 ? (int64_t)-1 : seconds);
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(peer ? peer : ""),
                                WB_SP_TEXT(num)};
    return wb_store_submit(st, wb_sr_set_sql, p, 4, wb_sr_set_deliver, (void (*)(void))cb, arg);
}

/* ---- get ---- */

static int64_t wb_sr_opt_int(const PGresult *res, int col)
{
    if (PQgetisnull(res, 0, col) || PQgetlength(res, 0, col) != 8)
        return -1;
    return wb_store_get_int(res, 0, col);
}

static void wb_sr_get_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_retention_get_cb cb = (wb_store_retention_get_cb)r->cb;
    if (res == NULL || !wb_store_result_ok(res, "retention query") || PQnfields(res) != 2)
        cb(r->arg, WB_STORE_UNAVAILABLE, -1, -1);
    else if (PQntuples(res) == 0)
        cb(r->arg, WB_STORE_NOT_FOUND, -1, -1);
    else
        cb(r->arg, WB_STORE_OK, wb_sr_opt_int(res, 0), wb_sr_opt_int(res, 1));
}

wb_store_req *wb_store_retention_get(wb_store *st, const char *node, const char *domain,
                                     const char *peer, wb_store_retention_get_cb cb, void *arg)
{
    if (!wb_sr_parts_ok(node, domain, peer))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(peer ? peer : "")};
    return wb_store_submit(st, wb_sr_get_sql, p, 3, wb_sr_get_deliver, (void (*)(void))cb, arg);
}

/* ---- sweep ---- */

static void wb_sr_sweep_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_retention_sweep_cb cb = (wb_store_retention_sweep_cb)r->cb;
    if (res == NULL || !wb_store_result_ok(res, "retention sweep") || PQntuples(res) != 1 ||
        PQgetlength(res, 0, 0) != 8 || PQgetlength(res, 0, 1) != 8) {
        if (cb != NULL)
            cb(r->arg, WB_STORE_UNAVAILABLE, 0, 0);
        return;
    }
    if (cb != NULL)
        cb(r->arg, WB_STORE_OK, (uint64_t)wb_store_get_int(res, 0, 0),
           (uint64_t)wb_store_get_int(res, 0, 1));
}

wb_store_req *wb_store_retention_sweep_run(wb_store *st, const wb_retention_sweep *s,
                                           wb_store_retention_sweep_cb cb, void *arg)
{
    char def[WB_SR_NUM], unit[WB_SR_NUM], batch[WB_SR_NUM];
    const bool one = s->node != NULL && s->domain != NULL;
    if (s->batch < 1 || s->batch > WB_RETENTION_BATCH_MAX || s->unit_ms < 1 || s->default_s < 0 ||
        (one && !wb_sr_parts_ok(s->node, s->domain, NULL)))
        return NULL;
    snprintf(def, sizeof(def), "%" PRId64, s->default_s);
    snprintf(unit, sizeof(unit), "%" PRId64, s->unit_ms);
    snprintf(batch, sizeof(batch), "%d", s->batch);
    const wb_store_param p[] = {WB_SP_TEXT(def), WB_SP_TEXT(unit), WB_SP_TEXT(batch),
                                WB_SP_TEXT(one ? s->domain : ""), WB_SP_TEXT(one ? s->node : "")};
    return wb_store_submit(st, wb_sr_sweep_sql, p, 5, wb_sr_sweep_deliver, (void (*)(void))cb, arg);
}

/* ---- blocking ---- */

static void wb_sr_db_error(char *err, size_t errsize, PGconn *pg, const PGresult *res)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (msg[0] == '\0')
        msg = PQerrorMessage(pg);
    const int n = (int)strcspn(msg, "\r\n");
    snprintf(err, errsize, "database error: %.*s", n, msg);
}

/* Runs a statement returning rows (text results); NULL with err set on failure. */
static PGresult *wb_sr_query(PGconn *pg, const char *sql, int n, const char *const *values,
                             char *err, size_t errsize)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        wb_sr_db_error(err, errsize, pg, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

int wb_store_retention_set_sync(wb_pg *pg, const char *node, const char *domain, const char *peer,
                                int64_t seconds, char *err, size_t errsize)
{
    char num[WB_SR_NUM];
    if (!wb_sr_parts_ok(node, domain, peer) || seconds > WB_RETENTION_MAX_SECONDS) {
        snprintf(err, errsize, "invalid account, peer or retention");
        return -1;
    }
    snprintf(num, sizeof(num), "%" PRId64, seconds < 0 ? (int64_t)-1 : seconds);
    const char *const values[] = {domain, node, peer ? peer : "", num};
    PGresult *res = wb_sr_query(pg, wb_sr_set_sql, 4, values, err, errsize);
    if (res == NULL)
        return -1;
    const bool found = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    PQclear(res);
    if (!found) {
        snprintf(err, errsize, "no such account %s@%s", node, domain);
        return -1;
    }
    return 0;
}

int wb_store_retention_list(wb_pg *pg, const char *node, const char *domain,
                            void (*fn)(void *arg, const char *peer, int64_t seconds), void *arg,
                            char *err, size_t errsize)
{
    if (!wb_sr_parts_ok(node, domain, NULL)) {
        snprintf(err, errsize, "invalid account");
        return -1;
    }
    const char *const values[] = {domain, node};
    PGresult *res = wb_sr_query(pg, wb_sr_list_sql, 2, values, err, errsize);
    if (res == NULL)
        return -1;
    const int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        snprintf(err, errsize, "no such account %s@%s", node, domain);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!PQgetisnull(res, i, 0))
            fn(arg, PQgetvalue(res, i, 0), strtoll(PQgetvalue(res, i, 1), NULL, 10));
    PQclear(res);
    return 0;
}
