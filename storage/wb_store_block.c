/* XEP-0191 block lists in PostgreSQL: list, add and remove for one account, each one statement
 * that finds the account by (domain, node) itself. Matching and caching live in the module. */
#include "wb_store_block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_buf.h"
#include "wb_store_int.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */

static const char wb_block_list_sql[] =
    "SELECT b.jid FROM blocklist b JOIN accounts a ON a.id = b.account_id "
    "WHERE a.domain = $1 AND a.node = $2 ORDER BY b.jid";

/* All or nothing: the new distinct JIDs must fit under the cap ($4). */
static const char wb_block_add_sql[] =
    "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "cur AS (SELECT jid FROM blocklist WHERE account_id IN (SELECT id FROM acc)), "
    "fit AS (SELECT (SELECT count(*) FROM cur) + (SELECT count(DISTINCT j) "
    "  FROM unnest($3::text[]) AS j WHERE j NOT IN (SELECT jid FROM cur)) <= $4::int AS ok), "
    "ins AS (INSERT INTO blocklist (account_id, jid) "
    "  SELECT DISTINCT acc.id, j FROM acc, fit, unnest($3::text[]) AS j WHERE fit.ok "
    "  ON CONFLICT DO NOTHING RETURNING 1) "
    "SELECT ok FROM fit";

static const char wb_block_remove_sql[] =
    "DELETE FROM blocklist b USING accounts a WHERE b.account_id = a.id AND a.domain = $1 "
    "AND a.node = $2 AND b.jid = ANY ($3::text[]) RETURNING b.jid";

static const char wb_block_clear_sql[] =
    "DELETE FROM blocklist b USING accounts a "
    "WHERE b.account_id = a.id AND a.domain = $1 AND a.node = $2 RETURNING b.jid";

/* Rows of one text column, for the list and remove callbacks. */
static void wb_block_jids_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_block_list_cb cb = (wb_store_block_list_cb)r->cb;
    if (!res || !wb_store_result_ok(res, "block list query")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    const int rows = PQntuples(res);
    const char **jids = rows > 0 ? calloc((size_t)rows, sizeof(*jids)) : NULL;
    if (rows > 0 && !jids) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    size_t n = 0;
    for (int i = 0; i < rows; i++)
        if (!PQgetisnull(res, i, 0))
            jids[n++] = PQgetvalue(res, i, 0); /* text in binary format: the bytes, NUL-ended */
    cb(r->arg, WB_STORE_OK, jids, n);
    free(jids);
}

static void wb_block_add_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_block_add_cb cb = (wb_store_block_add_cb)r->cb;
    if (!res || !wb_store_result_ok(res, "block list change") || PQntuples(res) != 1) {
        cb(r->arg, WB_STORE_UNAVAILABLE, false);
        return;
    }
    cb(r->arg, WB_STORE_OK, wb_store_get_bool(res, 0, 0));
}

static bool wb_block_parts_ok(const char *node, const char *domain)
{
    return strlen(node) <= WB_STORE_PART_MAX && strlen(domain) <= WB_STORE_PART_MAX;
}

/* A PostgreSQL array literal {"a","b"} with quotes and backslashes escaped. */
static int wb_block_array(wb_buf *b, const char *const *jids, size_t n)
{
    wb_buf_puts(b, "{");
    for (size_t i = 0; i < n; i++) {
        wb_buf_puts(b, i ? ",\"" : "\"");
        for (const char *p = jids[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                wb_buf_append(b, "\\", 1);
            wb_buf_append(b, p, 1);
        }
        wb_buf_puts(b, "\"");
    }
    wb_buf_puts(b, "}");
    return b->failed ? -1 : 0;
}

wb_store_req *wb_store_block_list(wb_store *st, const char *node, const char *domain,
                                  wb_store_block_list_cb cb, void *arg)
{
    if (!wb_block_parts_ok(node, domain))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
    return wb_store_submit(st, wb_block_list_sql, p, 2, wb_block_jids_deliver, (void (*)(void))cb,
                           arg);
}

wb_store_req *wb_store_block_add(wb_store *st, const char *node, const char *domain,
                                 const char *const *jids, size_t n, unsigned max_items,
                                 wb_store_block_add_cb cb, void *arg)
{
    if (!wb_block_parts_ok(node, domain) || n == 0 || n > WB_STORE_BLOCK_MAX_ITEMS)
        return NULL;
    char max[16];
    snprintf(max, sizeof(max), "%u", max_items);
    wb_buf arr;
    wb_buf_init(&arr);
    wb_store_req *r = NULL;
    if (wb_block_array(&arr, jids, n) == 0) {
        const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(arr.data),
                                    WB_SP_TEXT(max)};
        r = wb_store_submit(st, wb_block_add_sql, p, 4, wb_block_add_deliver, (void (*)(void))cb,
                            arg);
    }
    wb_buf_free(&arr);
    return r;
}

wb_store_req *wb_store_block_remove(wb_store *st, const char *node, const char *domain,
                                    const char *const *jids, size_t n, wb_store_block_list_cb cb,
                                    void *arg)
{
    if (!wb_block_parts_ok(node, domain) || n > WB_STORE_BLOCK_MAX_ITEMS)
        return NULL;
    if (n == 0) {
        const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
        return wb_store_submit(st, wb_block_clear_sql, p, 2, wb_block_jids_deliver,
                               (void (*)(void))cb, arg);
    }
    wb_buf arr;
    wb_buf_init(&arr);
    wb_store_req *r = NULL;
    if (wb_block_array(&arr, jids, n) == 0) {
        const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(arr.data)};
        r = wb_store_submit(st, wb_block_remove_sql, p, 3, wb_block_jids_deliver,
                            (void (*)(void))cb, arg);
    }
    wb_buf_free(&arr);
    return r;
}
