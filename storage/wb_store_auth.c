/* Credential lookup for logins: the account and its SCRAM credentials in one query. */
#include "wb_store_int.h"

#include <sodium.h>
#include <string.h>

#include "wb_log.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */

static const char wb_store_auth_sql[] =
    "SELECT a.id, a.disabled, s.hash, s.salt, s.iterations, s.stored_key, s.server_key "
    "FROM accounts a LEFT JOIN account_scram s ON s.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2";

/* One row of the auth query: the account, and one credential unless the join found none. */
static int wb_store_parse_row(const PGresult *res, int row, wb_account_auth *a)
{
    if (PQgetlength(res, row, 0) != 8 || PQgetlength(res, row, 1) != 1)
        return -1;
    a->id = wb_store_get_int(res, row, 0);
    a->disabled = wb_store_get_bool(res, row, 1);
    if (PQgetisnull(res, row, 2))
        return 0;
    if (PQgetlength(res, row, 2) != 2 || PQgetlength(res, row, 4) != 4)
        return -1;
    const int64_t h = wb_store_get_int(res, row, 2);
    if (h < 0 || h > WB_SCRAM_SHA256)
        return -1;
    wb_scram_cred *c = &a->scram[h];
    const size_t want = wb_scram_hash_len((wb_scram_hash)h);
    size_t klen1 = 0, klen2 = 0;
    c->iterations = (uint32_t)wb_store_get_int(res, row, 4);
    if (wb_store_get_bytes(res, row, 3, c->salt, WB_SCRAM_SALT_MAX, &c->salt_len) < 0 ||
        wb_store_get_bytes(res, row, 5, c->stored_key, WB_SCRAM_KEY_MAX, &klen1) < 0 ||
        wb_store_get_bytes(res, row, 6, c->server_key, WB_SCRAM_KEY_MAX, &klen2) < 0 ||
        klen1 != want || klen2 != want)
        return -1;
    return 0;
}

static void wb_store_auth_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_auth_cb cb = (wb_store_auth_cb)r->cb;
    wb_account_auth a;
    wb_store_status status = WB_STORE_OK;
    memset(&a, 0, sizeof(a)); /* a missing credential has iterations == 0 */
    if (!res || !wb_store_result_ok(res, "account query"))
        status = WB_STORE_UNAVAILABLE;
    else if (PQntuples(res) == 0)
        status = WB_STORE_NOT_FOUND;
    for (int i = 0; status == WB_STORE_OK && i < PQntuples(res); i++) {
        if (wb_store_parse_row(res, i, &a) < 0) {
            wb_warn("storage: malformed credentials in the database");
            status = WB_STORE_UNAVAILABLE;
        }
    }
    cb(r->arg, status, status == WB_STORE_OK ? &a : NULL);
    sodium_memzero(&a, sizeof(a));
}

wb_store_req *wb_store_account_auth(wb_store *st, const char *node, const char *domain,
                                    wb_store_auth_cb cb, void *arg)
{
    if (strlen(node) > WB_STORE_PART_MAX || strlen(domain) > WB_STORE_PART_MAX)
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
    return wb_store_submit(st, wb_store_auth_sql, p, 2, wb_store_auth_deliver, (void (*)(void))cb,
                           arg);
}
