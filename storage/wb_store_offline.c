/* Offline message queue queries (XEP-0160): put under a quota, fetch in order, delete by id.
 * Every payload is sealed by wb_store_offline_encode/decode (the vault); nothing else reads it. */
#include "wb_store_offline.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_store_keys.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_STORE_ID_TEXT  21   /* an int64 in decimal, with its separator */

/* Finds the account and inserts only while it holds fewer than $5 messages, and only if the account
 * is the one the data key belongs to ($7); answers the account's id and whether a row went in.
 * $8: the XEP-0466 expiry in microseconds since the epoch, 0 for none. */
static const char wb_store_offline_put_sql[] =
    "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "ins AS (INSERT INTO offline_messages (account_id, sender, payload, seal_id, expires_at, "
    "retract_key) "
    "SELECT acc.id, $3, $4, $6::uuid, 'epoch'::timestamptz + NULLIF($8::bigint, 0) * "
    "interval '1 microsecond', NULLIF($9::bytea, ''::bytea) FROM acc "
    "WHERE acc.id = $7::bigint AND (SELECT count(*) "
    "FROM offline_messages o WHERE o.account_id = acc.id) < $5::bigint RETURNING 1) "
    "SELECT (SELECT id FROM acc), (SELECT count(*) FROM ins)";

static const char wb_store_offline_fetch_sql[] =
    "SELECT o.id, o.seal_id::text, o.payload, o.account_id FROM offline_messages o "
    "JOIN accounts a ON a.id = o.account_id "
    "WHERE a.domain = $1 AND a.node = $2 AND (o.expires_at IS NULL OR o.expires_at > now()) "
    "ORDER BY o.id LIMIT $3::int";

static const char wb_store_offline_delete_sql[] =
    "DELETE FROM offline_messages WHERE id = ANY($3::bigint[]) "
    "AND account_id = (SELECT id FROM accounts WHERE domain = $1 AND node = $2)";

#define WB_STORE_UUID_TEXT 37 /* canonical text form of a uuid, with its NUL */
#define WB_STORE_AD_MAX    (8 + WB_STORE_ID_TEXT + WB_STORE_UUID_TEXT)

/* One put or fetch in progress: the data key first, then the query. */
typedef struct wb_offline_op {
    wb_store *st;
    wb_store_req *h; /* the caller's handle (callback, argument, cancelled) */
    wb_vault_key *key;
    char domain[WB_STORE_PART_MAX + 1], node[WB_STORE_PART_MAX + 1];
    char *sender;
    char *payload;
    size_t len;
    uint32_t max;
    int64_t expires_us; /* put: XEP-0466 expiry (us since the epoch), 0 for none */
    uint8_t retract_key[WB_STORE_RETRACT_KEY_MAX]; /* put: matched by a later retraction */
    size_t retract_key_len;                        /* 0: none */
    bool retried;                                  /* the cached key was stale once already */
} wb_offline_op;

/* The cached key belonged to an earlier account of the same name (deleted and created again):
 * forgets it and starts again from the key, once. 0 when restarted, -1 otherwise. */
static int wb_offline_op_retry(wb_offline_op *op, wb_store_key_cb keyed)
{
    wb_store_account_key_forget(op->st, op->domain, op->node);
    if (op->retried)
        return -1;
    op->retried = true;
    wb_vault_key_unref(op->key);
    op->key = NULL;
    return wb_store_account_key(op->st, op->domain, op->node, keyed, op) != NULL ? 0 : -1;
}

static void wb_store_offline_put_keyed(void *arg, wb_store_status status, wb_vault_key *key);
static void wb_store_offline_fetch_keyed(void *arg, wb_store_status status, wb_vault_key *key);

static void wb_offline_op_done(wb_offline_op *op)
{
    wb_vault_key_unref(op->key);
    free(op->sender);
    if (op->payload)
        sodium_memzero(op->payload, op->len); /* plaintext never lingers in freed memory */
    free(op->payload);
    free(op->h);
    free(op);
}

static wb_offline_op *wb_offline_op_new(wb_store *st, const char *node, const char *domain,
                                        void (*cb)(void), void *arg)
{
    if (strlen(node) > WB_STORE_PART_MAX || strlen(domain) > WB_STORE_PART_MAX)
        return NULL;
    wb_offline_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->st = st;
    op->h = wb_store_handle_new(cb, arg);
    if (op->h == NULL) {
        free(op);
        return NULL;
    }
    memcpy(op->node, node, strlen(node) + 1);
    memcpy(op->domain, domain, strlen(domain) + 1);
    return op;
}

/* A fresh random (version 4) uuid in canonical text form. */
static void wb_store_offline_uuid(char out[WB_STORE_UUID_TEXT])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, WB_STORE_UUID_TEXT,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static void wb_store_offline_ad(char *ad, int64_t account, const char *seal_id)
{
    snprintf(ad, WB_STORE_AD_MAX, "offline:%" PRId64 ":%s", account, seal_id);
}

/* The one place a payload is turned into what the database holds: sealed with the owner's data
 * key, the row's identity as associated data. Returns a malloc'd buffer (caller frees) or NULL. */
static uint8_t *wb_store_offline_encode(const wb_vault_key *key, const char *seal_id,
                                        const char *in, size_t len, size_t *out_len)
{
    char ad[WB_STORE_AD_MAX];
    uint8_t *out = malloc(len + WB_VAULT_OVERHEAD);
    if (out == NULL)
        return NULL;
    wb_store_offline_ad(ad, wb_vault_key_account(key), seal_id);
    if (wb_vault_seal(key, ad, (const uint8_t *)in, len, out) < 0) {
        free(out);
        return NULL;
    }
    *out_len = len + WB_VAULT_OVERHEAD;
    return out;
}

/* The inverse of wb_store_offline_encode. Returns a malloc'd, NUL-terminated buffer (caller
 * frees) or NULL when the row does not open (altered, or moved from another row). */
static char *wb_store_offline_decode(const wb_vault_key *key, const char *seal_id,
                                     const uint8_t *in, size_t len, size_t *out_len)
{
    char ad[WB_STORE_AD_MAX];
    if (len < WB_VAULT_OVERHEAD)
        return NULL;
    char *out = malloc(len - WB_VAULT_OVERHEAD + 1);
    if (out == NULL)
        return NULL;
    wb_store_offline_ad(ad, wb_vault_key_account(key), seal_id);
    if (wb_vault_open_sealed(key, ad, in, len, (uint8_t *)out) < 0) {
        free(out);
        return NULL;
    }
    *out_len = len - WB_VAULT_OVERHEAD;
    out[*out_len] = '\0';
    return out;
}

static void wb_store_offline_put_answer(wb_offline_op *op, wb_offline_put_result result)
{
    if (!op->h->cancelled)
        ((wb_store_offline_put_cb)op->h->cb)(op->h->arg, result);
    wb_offline_op_done(op);
}

static void wb_store_offline_put_deliver(wb_store_req *r, const PGresult *res)
{
    wb_offline_op *op = r->arg;
    wb_offline_put_result result = WB_OFFLINE_UNAVAILABLE;
    if (res != NULL && wb_store_result_ok(res, "offline message insert") && PQntuples(res) == 1 &&
        PQgetlength(res, 0, 1) == 8) {
        if (PQgetisnull(res, 0, 0))
            result = WB_OFFLINE_NO_ACCOUNT;
        else if (wb_store_get_int(res, 0, 0) != wb_vault_key_account(op->key)) {
            if (wb_offline_op_retry(op, wb_store_offline_put_keyed) == 0)
                return;
        } else if (wb_store_get_int(res, 0, 1) == 0)
            result = WB_OFFLINE_FULL;
        else
            result = WB_OFFLINE_STORED;
    }
    wb_store_offline_put_answer(op, result);
}

static void wb_store_offline_put_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_offline_op *op = arg;
    char seal_id[WB_STORE_UUID_TEXT], max_text[16], acc[WB_STORE_ID_TEXT];
    char expires[WB_STORE_ID_TEXT];
    size_t enc_len = 0;
    if (op->h->cancelled || status != WB_STORE_OK) {
        wb_store_offline_put_answer(op, status == WB_STORE_NOT_FOUND ? WB_OFFLINE_NO_ACCOUNT
                                                                     : WB_OFFLINE_UNAVAILABLE);
        return;
    }
    op->key = wb_vault_key_ref(key);
    wb_store_offline_uuid(seal_id);
    uint8_t *enc = wb_store_offline_encode(key, seal_id, op->payload, op->len, &enc_len);
    if (enc == NULL) {
        wb_store_offline_put_answer(op, WB_OFFLINE_UNAVAILABLE);
        return;
    }
    snprintf(max_text, sizeof(max_text), "%" PRIu32, op->max);
    snprintf(acc, sizeof(acc), "%" PRId64, wb_vault_key_account(key));
    snprintf(expires, sizeof(expires), "%" PRId64, op->expires_us > 0 ? op->expires_us : 0);
    const wb_store_param p[] = {WB_SP_TEXT(op->domain),
                                WB_SP_TEXT(op->node),
                                WB_SP_TEXT(op->sender),
                                WB_SP_BIN(enc, enc_len),
                                WB_SP_TEXT(max_text),
                                WB_SP_TEXT(seal_id),
                                WB_SP_TEXT(acc),
                                WB_SP_TEXT(expires),
                                WB_SP_BIN(op->retract_key, op->retract_key_len)};
    wb_store_req *r = wb_store_submit(op->st, wb_store_offline_put_sql, p, 9,
                                      wb_store_offline_put_deliver, NULL, op);
    free(enc);
    if (r == NULL)
        wb_store_offline_put_answer(op, WB_OFFLINE_UNAVAILABLE);
}

wb_store_req *wb_store_offline_put(wb_store *st, const char *node, const char *domain,
                                   const char *sender, const char *payload, size_t len,
                                   uint32_t max, wb_store_offline_put_cb cb, void *arg)
{
    return wb_store_offline_put_until(st, node, domain, sender, payload, len, max, 0, NULL, 0, cb,
                                      arg);
}

wb_store_req *wb_store_offline_put_until(wb_store *st, const char *node, const char *domain,
                                         const char *sender, const char *payload, size_t len,
                                         uint32_t max, int64_t expires_us,
                                         const uint8_t *retract_key, size_t retract_key_len,
                                         wb_store_offline_put_cb cb, void *arg)
{
    if (len > INT32_MAX / 2 || retract_key_len > WB_STORE_RETRACT_KEY_MAX)
        return NULL;
    wb_offline_op *op = wb_offline_op_new(st, node, domain, (void (*)(void))cb, arg);
    if (op == NULL)
        return NULL;
    op->max = max;
    op->expires_us = expires_us;
    if (retract_key != NULL && retract_key_len > 0) {
        memcpy(op->retract_key, retract_key, retract_key_len);
        op->retract_key_len = retract_key_len;
    }
    op->len = len;
    op->sender = strdup(sender);
    op->payload = malloc(len ? len : 1);
    if (op->sender == NULL || op->payload == NULL)
        goto fail;
    memcpy(op->payload, payload, len);
    wb_store_req *h = op->h;
    if (wb_store_account_key(st, domain, node, wb_store_offline_put_keyed, op) == NULL)
        goto fail;
    return h;
fail:
    wb_offline_op_done(op);
    return NULL;
}

/* Opens every row into items (payloads in bufs). A row that does not open is logged and left
 * out; its id goes to bad[] (*n_bad). Returns how many items, -1 when a row is malformed, -2
 * when it belongs to another account than the key's (a stale cached key). */
static int wb_store_offline_rows(const PGresult *res, const wb_vault_key *key,
                                 wb_offline_item *items, char **bufs, int64_t *bad, size_t *n_bad)
{
    int k = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetlength(res, i, 0) != 8 || PQgetisnull(res, i, 1) || PQgetisnull(res, i, 2) ||
            PQgetlength(res, i, 1) >= WB_STORE_UUID_TEXT || PQgetlength(res, i, 3) != 8)
            return -1;
        if (wb_store_get_int(res, i, 3) != wb_vault_key_account(key))
            return -2;
        char seal_id[WB_STORE_UUID_TEXT];
        snprintf(seal_id, sizeof(seal_id), "%.*s", PQgetlength(res, i, 1), PQgetvalue(res, i, 1));
        const int64_t id = wb_store_get_int(res, i, 0);
        bufs[k] = wb_store_offline_decode(key, seal_id, (const uint8_t *)PQgetvalue(res, i, 2),
                                          (size_t)PQgetlength(res, i, 2), &items[k].len);
        if (bufs[k] == NULL) {
            wb_error("storage: sealed value does not open (account %" PRId64
                     ", table offline_messages, row %" PRId64 "): not delivered, removed",
                     wb_vault_key_account(key), id);
            bad[(*n_bad)++] = id;
            continue;
        }
        items[k].id = id;
        items[k].payload = bufs[k];
        k++;
    }
    return k;
}

static void wb_store_offline_fetch_answer(wb_offline_op *op, wb_store_status status,
                                          const wb_offline_item *items, size_t n)
{
    if (!op->h->cancelled)
        ((wb_store_offline_fetch_cb)op->h->cb)(op->h->arg, status, items, n);
    wb_offline_op_done(op);
}

static void wb_store_offline_fetch_deliver(wb_store_req *r, const PGresult *res)
{
    wb_offline_op *op = r->arg;
    if (res == NULL || !wb_store_result_ok(res, "offline message fetch")) {
        wb_store_offline_fetch_answer(op, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    const int n = PQntuples(res);
    int64_t bad[WB_STORE_OFFLINE_BATCH_MAX];
    size_t n_bad = 0;
    int k = -1;
    wb_offline_item *items = calloc((size_t)n + 1, sizeof(*items));
    char **bufs = calloc((size_t)n + 1, sizeof(*bufs));
    if (items != NULL && bufs != NULL && n <= WB_STORE_OFFLINE_BATCH_MAX)
        k = wb_store_offline_rows(res, op->key, items, bufs, bad, &n_bad);
    if (k == -2 && wb_offline_op_retry(op, wb_store_offline_fetch_keyed) == 0)
        goto out;
    if (k < 0)
        wb_warn("storage: the offline messages of an account could not be read");
    /* Rows that can never open again are removed, so that they block nothing behind them. */
    if (k >= 0 && n_bad > 0)
        wb_store_offline_delete(op->st, op->node, op->domain, bad, n_bad, NULL, NULL);
    if (k < 0)
        wb_store_offline_fetch_answer(op, WB_STORE_UNAVAILABLE, NULL, 0);
    else
        wb_store_offline_fetch_answer(op, WB_STORE_OK, items, (size_t)k);
out:
    for (int i = 0; bufs != NULL && i < n; i++) {
        if (bufs[i] && items)
            sodium_memzero(bufs[i], items[i].len);
        free(bufs[i]);
    }
    free(bufs);
    free(items);
}

static void wb_store_offline_fetch_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_offline_op *op = arg;
    char max_text[16];
    if (op->h->cancelled || status != WB_STORE_OK) {
        /* An unknown account simply has an empty queue. */
        wb_store_offline_fetch_answer(op, status == WB_STORE_NOT_FOUND ? WB_STORE_OK : status, NULL,
                                      0);
        return;
    }
    op->key = wb_vault_key_ref(key);
    snprintf(max_text, sizeof(max_text), "%" PRIu32, op->max);
    const wb_store_param p[] = {WB_SP_TEXT(op->domain), WB_SP_TEXT(op->node), WB_SP_TEXT(max_text)};
    if (wb_store_submit(op->st, wb_store_offline_fetch_sql, p, 3, wb_store_offline_fetch_deliver,
                        NULL, op) == NULL)
        wb_store_offline_fetch_answer(op, WB_STORE_UNAVAILABLE, NULL, 0);
}

wb_store_req *wb_store_offline_fetch(wb_store *st, const char *node, const char *domain, size_t max,
                                     wb_store_offline_fetch_cb cb, void *arg)
{
    if (max == 0 || max > WB_STORE_OFFLINE_BATCH_MAX)
        return NULL;
    wb_offline_op *op = wb_offline_op_new(st, node, domain, (void (*)(void))cb, arg);
    if (op == NULL)
        return NULL;
    op->max = (uint32_t)max;
    wb_store_req *h = op->h;
    if (wb_store_account_key(st, domain, node, wb_store_offline_fetch_keyed, op) == NULL) {
        wb_offline_op_done(op);
        return NULL;
    }
    return h;
}

static bool wb_store_offline_parts_ok(const char *node, const char *domain)
{
    return strlen(node) <= WB_STORE_PART_MAX && strlen(domain) <= WB_STORE_PART_MAX;
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
