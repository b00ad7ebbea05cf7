/* Offline message queue queries (XEP-0160): put under a quota, fetch in order, delete by id.
 * Every payload goes through wb_store_offline_encode/decode; nothing else reads the column. */
#include "wb_store_offline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_STORE_ID_TEXT  21   /* an int64 in decimal, with its separator */

/* Finds the account and inserts only while it holds fewer than $5 messages; answers whether the
 * account exists and whether a row went in. */
static const char wb_store_offline_put_sql[] =
    "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "ins AS (INSERT INTO offline_messages (account_id, sender, payload) "
    "SELECT acc.id, $3, $4 FROM acc WHERE (SELECT count(*) FROM offline_messages o "
    "WHERE o.account_id = acc.id) < $5::bigint RETURNING 1) "
    "SELECT (SELECT count(*) FROM acc), (SELECT count(*) FROM ins)";

static const char wb_store_offline_fetch_sql[] =
    "SELECT o.id, o.payload FROM offline_messages o JOIN accounts a ON a.id = o.account_id "
    "WHERE a.domain = $1 AND a.node = $2 ORDER BY o.id LIMIT $3::int";

static const char wb_store_offline_delete_sql[] =
    "DELETE FROM offline_messages WHERE id = ANY($3::bigint[]) "
    "AND account_id = (SELECT id FROM accounts WHERE domain = $1 AND node = $2)";

/* The one place a payload is turned into what the database holds. The next issue seals payloads
 * at rest here (libsodium, with the master key); for now the bytes are copied as they are.
 * Returns a malloc'd buffer (caller frees) or NULL. */
static uint8_t *wb_store_offline_encode(const char *in, size_t len, size_t *out_len)
{
    uint8_t *out = malloc(len ? len : 1);
    if (out == NULL)
        return NULL;
    memcpy(out, in, len);
    *out_len = len;
    return out;
}

/* The inverse of wb_store_offline_encode (opening sealed payloads comes with the next issue).
 * Returns a malloc'd, NUL-terminated buffer (caller frees) or NULL when the row is unreadable. */
static char *wb_store_offline_decode(const uint8_t *in, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, in, len);
    out[len] = '\0';
    *out_len = len;
    return out;
}

static bool wb_store_offline_parts_ok(const char *node, const char *domain)
{
    return strlen(node) <= WB_STORE_PART_MAX && strlen(domain) <= WB_STORE_PART_MAX;
}

static void wb_store_offline_put_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_offline_put_cb cb = (wb_store_offline_put_cb)r->cb;
    wb_offline_put_result result = WB_OFFLINE_UNAVAILABLE;
    if (res != NULL && wb_store_result_ok(res, "offline message insert") && PQntuples(res) == 1 &&
        PQgetlength(res, 0, 0) == 8 && PQgetlength(res, 0, 1) == 8) {
        if (wb_store_get_int(res, 0, 0) == 0)
            result = WB_OFFLINE_NO_ACCOUNT;
        else if (wb_store_get_int(res, 0, 1) == 0)
            result = WB_OFFLINE_FULL;
        else
            result = WB_OFFLINE_STORED;
    }
    cb(r->arg, result);
}

wb_store_req *wb_store_offline_put(wb_store *st, const char *node, const char *domain,
                                   const char *sender, const char *payload, size_t len,
                                   uint32_t max, wb_store_offline_put_cb cb, void *arg)
{
    if (!wb_store_offline_parts_ok(node, domain) || len > INT32_MAX / 2)
        return NULL;
    size_t enc_len = 0;
    uint8_t *enc = wb_store_offline_encode(payload, len, &enc_len);
    if (enc == NULL)
        return NULL;
    char max_text[16];
    snprintf(max_text, sizeof(max_text), "%" PRIu32, max);
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(sender),
                                WB_SP_BIN(enc, enc_len), WB_SP_TEXT(max_text)};
    wb_store_req *r = wb_store_submit(st, wb_store_offline_put_sql, p, 5,
                                      wb_store_offline_put_deliver, (void (*)(void))cb, arg);
    free(enc);
    return r;
}

/* Decodes every row into items (payloads in bufs); -1 when a row is malformed. */
static int wb_store_offline_rows(const PGresult *res, wb_offline_item *items, char **bufs, int n)
{
    for (int i = 0; i < n; i++) {
        if (PQgetlength(res, i, 0) != 8 || PQgetisnull(res, i, 1))
            return -1;
        items[i].id = wb_store_get_int(res, i, 0);
        bufs[i] = wb_store_offline_decode((const uint8_t *)PQgetvalue(res, i, 1),
                                          (size_t)PQgetlength(res, i, 1), &items[i].len);
        if (bufs[i] == NULL)
            return -1;
        items[i].payload = bufs[i];
    }
    return 0;
}

static void wb_store_offline_fetch_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_offline_fetch_cb cb = (wb_store_offline_fetch_cb)r->cb;
    if (res == NULL || !wb_store_result_ok(res, "offline message fetch")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    const int n = PQntuples(res);
    wb_offline_item *items = calloc((size_t)n + 1, sizeof(*items));
    char **bufs = calloc((size_t)n + 1, sizeof(*bufs));
    if (items == NULL || bufs == NULL || wb_store_offline_rows(res, items, bufs, n) < 0) {
        wb_warn("storage: an offline message could not be read");
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
    } else {
        cb(r->arg, WB_STORE_OK, items, (size_t)n);
    }
    for (int i = 0; bufs != NULL && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(items);
}

wb_store_req *wb_store_offline_fetch(wb_store *st, const char *node, const char *domain, size_t max,
                                     wb_store_offline_fetch_cb cb, void *arg)
{
    if (!wb_store_offline_parts_ok(node, domain) || max == 0 || max > WB_STORE_OFFLINE_BATCH_MAX)
        return NULL;
    char max_text[16];
    snprintf(max_text, sizeof(max_text), "%zu", max);
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(max_text)};
    return wb_store_submit(st, wb_store_offline_fetch_sql, p, 3, wb_store_offline_fetch_deliver,
                           (void (*)(void))cb, arg);
}

static void wb_store_offline_delete_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_offline_done_cb cb = (wb_store_offline_done_cb)r->cb;
    const bool ok = res != NULL && wb_store_result_ok(res, "offline message delete");
    if (cb != NULL)
        cb(r->arg, ok ? WB_STORE_OK : WB_STORE_UNAVAILABLE);
}

wb_store_req *wb_store_offline_delete(wb_store *st, const char *node, const char *domain,
                                      const int64_t *ids, size_t n, wb_store_offline_done_cb cb,
                                      void *arg)
{
    if (!wb_store_offline_parts_ok(node, domain) || n == 0 || n > WB_STORE_OFFLINE_BATCH_MAX)
        return NULL;
    char list[WB_STORE_OFFLINE_BATCH_MAX * WB_STORE_ID_TEXT + 3];
    size_t off = 0;
    list[off++] = '{';
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%" PRId64, i ? "," : "", ids[i]);
    snprintf(list + off, sizeof(list) - off, "}");
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(list)};
    return wb_store_submit(st, wb_store_offline_delete_sql, p, 3, wb_store_offline_delete_deliver,
                           (void (*)(void))cb, arg);
}
