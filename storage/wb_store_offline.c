/* Offline message queue queries (XEP-0160): put under a quota, fetch in order, delete by id.
 * Every payload is sealed by wb_store_offline_encode/decode (the vault); nothing else reads it. */
#include "wb_store_offline.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_archive_int.h"
#include "wb_store_int.h"
#include "wb_store_keys.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_STORE_ID_TEXT  21   /* an int64 in decimal, with its separator */

/* Finds the account and inserts only while it holds fewer than $5 messages, and only if the account
 * is the one the data key belongs to ($7); answers the account's id and whether a row went in.
 * $8: the XEP-0466 expiry in microseconds since the epoch, 0 for none. When the account's archive
 * holds the row $10 (written earlier on this connection, so already there unless it was refused
 * or failed), the queued row refers to it instead of keeping the sealed payload $4: one
 * statement, so that a queued row never refers to a missing archive row. */
static const char wb_store_offline_put_sql[] =
    "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "arc AS (SELECT x.stanza_id FROM archive x, acc WHERE x.account_id = acc.id "
    "AND x.stanza_id = NULLIF($10, '')::uuid), "
    "ins AS (INSERT INTO offline_messages (account_id, sender, payload, seal_id, expires_at, "
    "retract_key, archive_stanza_id, archive_ns) "
    "SELECT acc.id, $3, CASE WHEN EXISTS (SELECT 1 FROM arc) THEN NULL ELSE $4::bytea END, "
    "$6::uuid, 'epoch'::timestamptz + NULLIF($8::bigint, 0) * "
    "interval '1 microsecond', NULLIF($9::bytea, ''::bytea), (SELECT stanza_id FROM arc), "
    "$11::boolean AND EXISTS (SELECT 1 FROM arc) FROM acc "
    "WHERE acc.id = $7::bigint AND (SELECT count(*) "
    "FROM offline_messages o WHERE o.account_id = acc.id) < $5::bigint RETURNING 1) "
    "SELECT (SELECT id FROM acc), (SELECT count(*) FROM ins)";

/* Claims (FOR UPDATE SKIP LOCKED: a concurrent delivery neither waits nor takes the same rows)
 * and returns the oldest rows not claimed by another delivery, with the payload of those that
 * refer to the archive read from it (NULL when it was retracted). */
static const char wb_store_offline_fetch_sql[] =
    "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "c AS (UPDATE offline_messages o SET claim = $4::uuid, claimed_at = now() WHERE o.id IN ("
    "SELECT p.id FROM offline_messages p WHERE p.account_id = (SELECT id FROM acc) "
    "AND (p.expires_at IS NULL OR p.expires_at > now()) AND (p.claim IS NULL "
    "OR p.claim = $4::uuid OR p.claimed_at < now() - interval '30 seconds') "
    "ORDER BY p.id LIMIT $3::int FOR UPDATE SKIP LOCKED) "
    "RETURNING o.id, o.seal_id, o.payload, o.account_id, o.archive_stanza_id, o.archive_ns, "
    "o.received_at) "
    "SELECT c.id, c.seal_id::text, coalesce(c.payload, x.payload), c.account_id, "
    "c.archive_stanza_id::text, c.archive_ns, "
    "(extract(epoch FROM c.received_at) * 1000000)::bigint FROM c LEFT JOIN archive x "
    "ON x.account_id = c.account_id AND x.stanza_id = c.archive_stanza_id ORDER BY c.id";

static const char wb_store_offline_release_sql[] =
    "UPDATE offline_messages SET claim = NULL, claimed_at = NULL WHERE claim = $3::uuid "
    "AND account_id = (SELECT id FROM accounts WHERE domain = $1 AND node = $2)";

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
    char archive_sid[WB_STORE_UUID_TEXT]; /* put: the archive row to refer to, "" for none */
    bool archive_ns;
    char claim[WB_STORE_UUID_TEXT]; /* fetch: the delivery taking the rows */
    bool retried;                   /* the cached key was stale once already */
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
                                WB_SP_BIN(op->retract_key, op->retract_key_len),
                                WB_SP_TEXT(op->archive_sid),
                                WB_SP_TEXT(op->archive_ns ? "t" : "f")};
    wb_store_req *r = wb_store_submit(op->st, wb_store_offline_put_sql, p, 11,
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
    const wb_offline_entry e = {.node = node,
                                .domain = domain,
                                .sender = sender,
                                .payload = payload,
                                .len = len,
                                .max = max,
                                .expires_us = expires_us,
                                .retract_key = retract_key,
                                .retract_key_len = retract_key_len};
    return wb_store_offline_queue(st, &e, cb, arg);
}

static bool wb_store_offline_uuid_ok(const char *s)
{
    return s != NULL && strlen(s) == WB_STORE_UUID_TEXT - 1 &&
           strspn(s, "0123456789abcdef-") == WB_STORE_UUID_TEXT - 1;
}

wb_store_req *wb_store_offline_queue(wb_store *st, const wb_offline_entry *e,
                                     wb_store_offline_put_cb cb, void *arg)
{
    if (e->len > INT32_MAX / 2 || e->retract_key_len > WB_STORE_RETRACT_KEY_MAX ||
        (e->archive_stanza_id != NULL && !wb_store_offline_uuid_ok(e->archive_stanza_id)))
        return NULL;
    wb_offline_op *op = wb_offline_op_new(st, e->node, e->domain, (void (*)(void))cb, arg);
    if (op == NULL)
        return NULL;
    op->max = e->max;
    op->expires_us = e->expires_us;
    if (e->retract_key != NULL && e->retract_key_len > 0) {
        memcpy(op->retract_key, e->retract_key, e->retract_key_len);
        op->retract_key_len = e->retract_key_len;
    }
    if (e->archive_stanza_id != NULL) {
        memcpy(op->archive_sid, e->archive_stanza_id, WB_STORE_UUID_TEXT);
        op->archive_ns = e->archive_ns;
    }
    op->len = e->len;
    op->sender = strdup(e->sender);
    op->payload = malloc(e->len ? e->len : 1);
    if (op->sender == NULL || op->payload == NULL)
        goto fail;
    memcpy(op->payload, e->payload, e->len);
    wb_store_req *h = op->h;
    if (wb_store_account_key(st, e->domain, e->node, wb_store_offline_put_keyed, op) == NULL)
        goto fail;
    return h;
fail:
    wb_offline_op_done(op);
    return NULL;
}

/* Opens one row's payload: its own sealed copy (AD "offline:<account>:<seal_id>") or, when it
 * refers to the archive, the archive row's ("archive:<account>:<stanza_id>", as sealed by
 * wb_store_archive.c). NULL when it does not open. */
static char *wb_store_offline_open(const PGresult *res, int i, const wb_vault_key *key,
                                   wb_offline_item *it)
{
    char ad[WB_STORE_AD_MAX], sid[WB_STORE_UUID_TEXT];
    const bool arch = !PQgetisnull(res, i, 4);
    const int col = arch ? 4 : 1;
    const size_t len = (size_t)PQgetlength(res, i, 2);
    snprintf(sid, sizeof(sid), "%.*s", PQgetlength(res, i, col), PQgetvalue(res, i, col));
    if (!arch)
        return wb_store_offline_decode(key, sid, (const uint8_t *)PQgetvalue(res, i, 2), len,
                                       &it->len);
    wb_store_archive_ad(ad, sizeof(ad), wb_vault_key_account(key), sid);
    if (len < WB_VAULT_OVERHEAD)
        return NULL;
    char *out = malloc(len - WB_VAULT_OVERHEAD + 1);
    if (out == NULL || wb_vault_open_sealed(key, ad, (const uint8_t *)PQgetvalue(res, i, 2), len,
                                            (uint8_t *)out) < 0) {
        free(out);
        return NULL;
    }
    it->len = len - WB_VAULT_OVERHEAD;
    out[it->len] = '\0';
    it->from_archive = true;
    it->archive_ns = PQgetlength(res, i, 5) == 1 && wb_store_get_bool(res, i, 5);
    it->queued_us = PQgetlength(res, i, 6) == 8 ? wb_store_get_int(res, i, 6) : 0;
    return out;
}

/* Opens every row into items (payloads in bufs). A row that does not open is logged and left
 * out, and so is a row whose archived message was retracted (no payload any more); their ids go
 * to bad[] (*n_bad). Returns how many items, -1 when a row is malformed, -2 when it belongs to
 * another account than the key's (a stale cached key). */
static int wb_store_offline_rows(const PGresult *res, const wb_vault_key *key,
                                 wb_offline_item *items, char **bufs, int64_t *bad, size_t *n_bad)
{
    int k = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQnfields(res) != 7 || PQgetlength(res, i, 0) != 8 || PQgetisnull(res, i, 1) ||
            PQgetlength(res, i, 1) >= WB_STORE_UUID_TEXT || PQgetlength(res, i, 3) != 8 ||
            PQgetlength(res, i, 4) >= WB_STORE_UUID_TEXT)
            return -1;
        if (wb_store_get_int(res, i, 3) != wb_vault_key_account(key))
            return -2;
        const int64_t id = wb_store_get_int(res, i, 0);
        if (PQgetisnull(res, i, 2)) {
            bad[(*n_bad)++] = id; /* its archived copy was retracted: nothing to deliver */
            continue;
        }
        memset(&items[k], 0, sizeof(items[k]));
        bufs[k] = wb_store_offline_open(res, i, key, &items[k]);
        if (bufs[k] == NULL) {
            wb_error("storage: sealed value does not open (account %" PRId64
                     ", table %s, row %" PRId64 "): not delivered, removed",
                     wb_vault_key_account(key),
                     PQgetisnull(res, i, 4) ? "offline_messages" : "archive", id);
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
    const wb_store_param p[] = {WB_SP_TEXT(op->domain), WB_SP_TEXT(op->node), WB_SP_TEXT(max_text),
                                WB_SP_TEXT(op->claim)};
    if (wb_store_submit(op->st, wb_store_offline_fetch_sql, p, 4, wb_store_offline_fetch_deliver,
                        NULL, op) == NULL)
        wb_store_offline_fetch_answer(op, WB_STORE_UNAVAILABLE, NULL, 0);
}

wb_store_req *wb_store_offline_fetch(wb_store *st, const char *node, const char *domain, size_t max,
                                     const char *claim, wb_store_offline_fetch_cb cb, void *arg)
{
    if (max == 0 || max > WB_STORE_OFFLINE_BATCH_MAX || !wb_store_offline_uuid_ok(claim))
        return NULL;
    wb_offline_op *op = wb_offline_op_new(st, node, domain, (void (*)(void))cb, arg);
    if (op == NULL)
        return NULL;
    op->max = (uint32_t)max;
    memcpy(op->claim, claim, WB_STORE_UUID_TEXT);
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

static void wb_store_offline_release_deliver(wb_store_req *r, const PGresult *res)
{
    (void)r;
    if (res != NULL)
        wb_store_result_ok(res, "offline claim release");
}

wb_store_req *wb_store_offline_release(wb_store *st, const char *node, const char *domain,
                                       const char *claim)
{
    if (!wb_store_offline_parts_ok(node, domain) || !wb_store_offline_uuid_ok(claim))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(claim)};
    return wb_store_submit(st, wb_store_offline_release_sql, p, 3, wb_store_offline_release_deliver,
                           NULL, NULL);
}
