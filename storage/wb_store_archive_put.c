/* Archive writes (XEP-0313, XEP-0359): each entry sealed with its owner's data key, then written
 * in multi-row INSERTs that coalesce the entries of one event-loop turn. Not for reads. */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_buf.h"
#include "wb_log.h"
#include "wb_store_archive.h"
#include "wb_store_archive_int.h"
#include "wb_store_int.h"
#include "wb_store_keys.h"
#include "wb_metrics.h"

#define WB_SAP_PART_MAX    1023                 /* bytes of a prepared node or domain */
#define WB_SAP_BATCH_BYTES (4u * 1024u * 1024u) /* text bytes of one batch's parameters */
#define WB_SAP_COLS        10

/* The rows are written only where the key that sealed them is the account's current one (key_acc):
 * an account deleted and re-created under the same name while a worker cached the old key must
 * not get rows nobody can open. A copy whose retraction is remembered is stored as a tombstone.
 * Answers, per entry in order, whether the key matched and whether a row was written. */
static const char wb_sap_sql[] =
    "WITH e AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[], "
    "$5::bigint[], $6::text[], $7::boolean[], $8::bytea[], $9::bytea[], $10::bigint[]) "
    "WITH ORDINALITY AS e(domain, node, key_acc, stanza_id, ts_us, peer, outgoing, origin_hash, "
    "payload, expires_us, n)), "
    "a AS (SELECT e.*, acc.id AS acc_id, x.retract_id AS r_id, x.at AS r_at, "
    "x.account_id IS NOT NULL AS r_found FROM e "
    "LEFT JOIN accounts acc ON acc.domain = e.domain AND acc.node = e.node "
    "LEFT JOIN archive_retractions x ON x.account_id = acc.id AND x.origin_hash = e.origin_hash), "
    "ins AS (INSERT INTO archive (account_id, stanza_id, ts, peer, outgoing, origin_hash, payload, "
    "expires_at, retracted, retracted_at, retract_id) "
    "SELECT a.acc_id, a.stanza_id, 'epoch'::timestamptz + a.ts_us * interval '1 microsecond', "
    "a.peer, a.outgoing, a.origin_hash, CASE WHEN a.r_found THEN NULL ELSE a.payload END, "
    "'epoch'::timestamptz + NULLIF(a.expires_us, 0) * interval '1 microsecond', a.r_found, "
    "a.r_at, a.r_id FROM a WHERE a.acc_id = a.key_acc AND archive_wanted(a.acc_id, a.peer) "
    "ORDER BY a.n RETURNING account_id, stanza_id) "
    "SELECT a.n, coalesce(a.acc_id = a.key_acc, false), EXISTS (SELECT 1 FROM ins "
    "WHERE ins.account_id = a.acc_id AND ins.stanza_id = a.stanza_id) FROM a ORDER BY a.n";

struct wb_archive_batcher {
    struct wb_sap_batch *open; /* the batch entries may still join, or NULL */
};

/* One entry's answer. */
typedef struct wb_sap_slot {
    wb_store_archive_put_cb cb;
    void *arg;
    char *node, *domain;
} wb_sap_slot;

/* One INSERT: its request sits in the store's queue from its first entry on; entries join it
 * (its parameters are rewritten) until the store sends it. */
typedef struct wb_sap_batch {
    wb_store *st;
    wb_archive_batcher *owner; /* NULL when not batched or detached */
    wb_store_req *req;
    wb_buf col[WB_SAP_COLS]; /* each always a complete array literal */
    size_t bytes;
    bool broken; /* out of memory while joining: every entry fails */
    size_t n;
    wb_sap_slot slots[WB_ARCHIVE_BATCH_MAX];
} wb_sap_batch;

/* One entry waiting for its owner's key. */
typedef struct wb_sap_put {
    wb_store *st;
    wb_archive_batcher *b;
    wb_store_archive_put_cb cb;
    void *arg;
    char stanza_id[WB_ARCHIVE_UUID_LEN + 1];
    int64_t ts_us, expires_us;
    bool outgoing;
    uint8_t key[WB_RETRACT_KEY_LEN];
    char *node, *domain, *peer;
    uint8_t *payload;
    size_t len;
} wb_sap_put;

static void wb_sap_put_free(wb_sap_put *op)
{
    free(op->node);
    free(op->domain);
    free(op->peer);
    if (op->payload != NULL)
        sodium_memzero(op->payload, op->len);
    free(op->payload);
    free(op);
}

static void wb_sap_answer(wb_store_archive_put_cb cb, void *arg, wb_store_status status,
                          bool archived)
{
    if (status != WB_STORE_OK)
        wb_warn("archive: a message could not be archived (database unavailable)");
    if (cb != NULL)
        cb(arg, status, archived);
}

/* ---- the batch ---- */

static void wb_sap_batch_free(wb_sap_batch *bt)
{
    if (bt->owner != NULL && bt->owner->open == bt)
        bt->owner->open = NULL;
    for (size_t i = 0; i < bt->n; i++) {
        free(bt->slots[i].node);
        free(bt->slots[i].domain);
    }
    for (size_t i = 0; i < WB_SAP_COLS; i++)
        wb_buf_free(&bt->col[i]);
    free(bt);
}

/* Row i of the result for entry i: key matched, row written; false when malformed. */
static bool wb_sap_row(const PGresult *res, size_t i, bool *key_ok, bool *written)
{
    if (res == NULL || (size_t)PQntuples(res) <= i || PQnfields(res) != 3 ||
        PQgetlength(res, (int)i, 0) != 8 || wb_store_get_int(res, (int)i, 0) != (int64_t)i + 1 ||
        PQgetlength(res, (int)i, 1) != 1 || PQgetlength(res, (int)i, 2) != 1)
        return false;
    *key_ok = wb_store_get_bool(res, (int)i, 1);
    *written = wb_store_get_bool(res, (int)i, 2);
    return true;
}

static void wb_sap_deliver(wb_store_req *r, const PGresult *res)
{
    wb_sap_batch *bt = r->arg;
    if (bt->owner != NULL && bt->owner->open == bt)
        bt->owner->open = NULL; /* answered: nothing joins it any more */
    const bool ok = res != NULL && wb_store_result_ok(res, "archive insert");
    if (ok && bt->n > 1)
        wb_debug("archive: %zu messages written in one statement", bt->n);
    for (size_t i = 0; i < bt->n; i++) {
        wb_sap_slot *s = &bt->slots[i];
        bool key_ok = false, written = false;
        if (!ok || !wb_sap_row(res, i, &key_ok, &written)) {
            wb_sap_answer(s->cb, s->arg, WB_STORE_UNAVAILABLE, false);
        } else if (!key_ok) {
            /* A stale cached key (the account was re-created): drop it; this one is not kept. */
            wb_warn("archive: the key of %s@%s changed; a message was not archived", s->node,
                    s->domain);
            wb_store_account_key_forget(bt->st, s->domain, s->node);
            wb_sap_answer(s->cb, s->arg, WB_STORE_OK, false);
        } else {
            wb_sap_answer(s->cb, s->arg, WB_STORE_OK, written);
            if (written)
                wb_metrics_inc(WB_METRIC_ARCHIVE_WRITES);
        }
    }
    wb_sap_batch_free(bt);
}

/* Opens the next element of the array literal in b, which is "" or a complete "{...}": every
 * element writer closes it again with "}". */
static void wb_sap_elem_start(wb_buf *b)
{
    if (b->failed)
        return;
    if (b->len == 0)
        wb_buf_puts(b, "{");
    else
        b->data[b->len - 1] = ',';
}

static void wb_sap_text(wb_buf *b, const char *s)
{
    wb_sap_elem_start(b);
    wb_buf_puts(b, "\"");
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            wb_buf_append(b, "\\", 1);
        wb_buf_append(b, p, 1);
    }
    wb_buf_puts(b, "\"}");
}

static void wb_sap_plain(wb_buf *b, const char *s)
{
    wb_sap_elem_start(b);
    wb_buf_puts(b, s);
    wb_buf_puts(b, "}");
}

static void wb_sap_bytes(wb_buf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    wb_sap_elem_start(b);
    wb_buf_puts(b, "\"\\\\x");
    for (size_t i = 0; i < n; i++) {
        const char two[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        wb_buf_append(b, two, 2);
    }
    wb_buf_puts(b, "\"}");
}

/* Text bytes an entry adds to the batch's parameters (a bound, not exact). */
static size_t wb_sap_cost(const wb_sap_put *op)
{
    return 2 * (strlen(op->node) + strlen(op->domain) + strlen(op->peer)) +
           2 * (op->len + WB_VAULT_OVERHEAD + WB_RETRACT_KEY_LEN) + 200;
}

/* Adds the entry (payload already sealed) as the batch's next row and points the request's
 * parameters at the grown arrays (the store copies them only when it sends the request). */
static void wb_sap_add(wb_sap_batch *bt, wb_sap_put *op, int64_t account, const uint8_t *sealed,
                       size_t sealed_len)
{
    char acc[24], ts[24], expires[24];
    const size_t cost = wb_sap_cost(op);
    snprintf(acc, sizeof(acc), "%" PRId64, account);
    snprintf(ts, sizeof(ts), "%" PRId64, op->ts_us);
    snprintf(expires, sizeof(expires), "%" PRId64, op->expires_us > 0 ? op->expires_us : 0);
    wb_sap_text(&bt->col[0], op->domain);
    wb_sap_text(&bt->col[1], op->node);
    wb_sap_plain(&bt->col[2], acc);
    wb_sap_plain(&bt->col[3], op->stanza_id);
    wb_sap_plain(&bt->col[4], ts);
    wb_sap_text(&bt->col[5], op->peer);
    wb_sap_plain(&bt->col[6], op->outgoing ? "t" : "f");
    wb_sap_bytes(&bt->col[7], op->key, sizeof(op->key));
    wb_sap_bytes(&bt->col[8], sealed, sealed_len);
    wb_sap_plain(&bt->col[9], expires);
    bt->slots[bt->n] = (wb_sap_slot){op->cb, op->arg, op->node, op->domain};
    op->node = op->domain = NULL; /* now the slot's */
    bt->n++;
    bt->bytes += cost;
    for (size_t i = 0; i < WB_SAP_COLS; i++) {
        bt->broken = bt->broken || bt->col[i].failed;
        bt->req->values[i] = bt->broken ? "not an array" : bt->col[i].data;
        bt->req->lengths[i] = bt->broken ? 12 : (int)bt->col[i].len;
        bt->req->formats[i] = 0;
    }
}

/* The batch op may join, or a new one queued in the store (NULL when out of memory). */
static wb_sap_batch *wb_sap_batch_for(wb_sap_put *op)
{
    wb_sap_batch *bt = op->b != NULL ? op->b->open : NULL;
    if (bt != NULL && bt->st == op->st && !bt->req->sent && !bt->broken &&
        bt->n < WB_ARCHIVE_BATCH_MAX && bt->bytes + wb_sap_cost(op) <= WB_SAP_BATCH_BYTES)
        return bt;
    bt = calloc(1, sizeof(*bt));
    if (bt == NULL)
        return NULL;
    bt->st = op->st;
    for (size_t i = 0; i < WB_SAP_COLS; i++)
        wb_buf_init(&bt->col[i]);
    wb_store_param p[WB_SAP_COLS];
    for (size_t i = 0; i < WB_SAP_COLS; i++)
        p[i] = WB_SP_TEXT("{}");
    bt->req = wb_store_submit(op->st, wb_sap_sql, p, WB_SAP_COLS, wb_sap_deliver, NULL, bt);
    if (bt->req == NULL) {
        free(bt);
        return NULL;
    }
    if (op->b != NULL) {
        if (op->b->open != NULL)
            op->b->open->owner = NULL; /* full or sent: it no longer takes entries */
        op->b->open = bt;
        bt->owner = op->b;
    }
    return bt;
}

static void wb_sap_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_sap_put *op = arg;
    char ad[WB_STORE_ARCHIVE_AD_MAX];
    if (status != WB_STORE_OK) {
        wb_sap_answer(op->cb, op->arg, status == WB_STORE_NOT_FOUND ? WB_STORE_OK : status, false);
        wb_sap_put_free(op);
        return;
    }
    const size_t sealed_len = op->len + WB_VAULT_OVERHEAD;
    uint8_t *sealed = malloc(sealed_len);
    wb_store_archive_ad(ad, sizeof(ad), wb_vault_key_account(key), op->stanza_id);
    wb_sap_batch *bt = NULL;
    if (sealed == NULL || wb_vault_seal(key, ad, op->payload, op->len, sealed) != 0 ||
        (bt = wb_sap_batch_for(op)) == NULL) {
        free(sealed);
        wb_sap_answer(op->cb, op->arg, WB_STORE_UNAVAILABLE, false);
        wb_sap_put_free(op);
        return;
    }
    wb_sap_add(bt, op, wb_vault_key_account(key), sealed, sealed_len);
    free(sealed);
    wb_sap_put_free(op); /* its names are the slot's now */
}

int wb_store_archive_put_batched(wb_store *st, wb_archive_batcher *b, const wb_archive_entry *e,
                                 wb_store_archive_put_cb cb, void *arg)
{
    if (strlen(e->node) > WB_SAP_PART_MAX || strlen(e->domain) > WB_SAP_PART_MAX ||
        !wb_store_archive_uuid_ok(e->stanza_id) || e->len > INT32_MAX / 4)
        return -1;
    wb_sap_put *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return -1;
    op->st = st;
    op->b = b;
    op->cb = cb;
    op->arg = arg;
    op->outgoing = e->outgoing;
    memcpy(op->stanza_id, e->stanza_id, sizeof(op->stanza_id));
    op->ts_us = e->ts_us;
    op->expires_us = e->expires_us;
    wb_store_retract_key(e->sender, e->ref, op->key);
    op->node = strdup(e->node);
    op->domain = strdup(e->domain);
    op->peer = strdup(e->peer);
    op->payload = malloc(e->len ? e->len : 1);
    op->len = e->len;
    if (op->node == NULL || op->domain == NULL || op->peer == NULL || op->payload == NULL)
        goto fail;
    memcpy(op->payload, e->payload, e->len);
    if (wb_store_account_key(st, op->domain, op->node, wb_sap_keyed, op) == NULL)
        goto fail;
    return 0;
fail:
    wb_sap_put_free(op);
    return -1;
}

int wb_store_archive_put(wb_store *st, const wb_archive_entry *e, wb_store_archive_put_cb cb,
                         void *arg)
{
    return wb_store_archive_put_batched(st, NULL, e, cb, arg);
}

wb_archive_batcher *wb_store_archive_batcher_new(void)
{
    return calloc(1, sizeof(wb_archive_batcher));
}

void wb_store_archive_batcher_free(wb_archive_batcher *b)
{
    if (b == NULL)
        return;
    if (b->open != NULL)
        b->open->owner = NULL;
    free(b);
}
