/* Message archive queries (XEP-0313, XEP-0359, XEP-0424): paged reads (payloads opened with the
 * owner's data key), preferences, retraction. Writes are in wb_store_archive_put.c. */
#include "wb_store_archive.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_archive_int.h"
#include "wb_store_int.h"
#include "wb_store_keys.h"

#define WB_SA_PART_MAX   1023 /* bytes of a prepared node or domain */
#define WB_SA_HASH_LEN   32
#define WB_SA_AD_MAX     WB_STORE_ARCHIVE_AD_MAX
#define WB_SA_MARKS_TEXT (4 * (WB_ARCHIVE_UUID_LEN + 1) + 3)

static const char wb_sa_query_sql[] =
    "SELECT * FROM archive_query($1, $2, NULLIF($3, ''), NULLIF($4, '')::timestamptz, "
    "NULLIF($5, '')::timestamptz, NULLIF($6, '')::uuid[], $7::uuid[], $8::integer[])";

static const char wb_sa_prefs_get_sql[] =
    "SELECT p.default_mode, array_to_string(p.always_jids, E'\\x01'), "
    "array_to_string(p.never_jids, E'\\x01') "
    "FROM accounts a LEFT JOIN archive_prefs p ON p.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2";

static const char wb_sa_prefs_set_sql[] =
    "INSERT INTO archive_prefs AS p (account_id, default_mode, always_jids, never_jids) "
    "SELECT a.id, $3, coalesce(string_to_array(NULLIF($4, ''), E'\\x01'), '{}'), "
    "coalesce(string_to_array(NULLIF($5, ''), E'\\x01'), '{}') FROM accounts a "
    "WHERE a.domain = $1 AND a.node = $2 ON CONFLICT (account_id) DO UPDATE SET "
    "default_mode = EXCLUDED.default_mode, always_jids = EXCLUDED.always_jids, "
    "never_jids = EXCLUDED.never_jids RETURNING p.default_mode, "
    "array_to_string(p.always_jids, E'\\x01'), array_to_string(p.never_jids, E'\\x01')";

/* Rows of the sender's archive matched by stanza-id give their key too; only rows between these
 * two accounts in the right direction are erased, and the recipient's matching queued rows. */
static const char wb_sa_retract_sql[] =
    "WITH s AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "r AS (SELECT id FROM accounts WHERE domain = $3 AND node = $4), "
    "k AS (SELECT $5::bytea AS h UNION SELECT x.origin_hash FROM archive x "
    "WHERE x.account_id = (SELECT id FROM s) AND x.outgoing AND x.peer = $4 || '@' || $3 "
    "AND x.stanza_id = NULLIF($6, '')::uuid), "
    "up AS (UPDATE archive x SET payload = NULL, retracted = true, retracted_at = now(), "
    "retract_id = $7 WHERE x.origin_hash IN (SELECT h FROM k) AND NOT x.retracted AND ("
    "(x.account_id = (SELECT id FROM s) AND x.outgoing AND x.peer = $4 || '@' || $3) OR "
    "(x.account_id = (SELECT id FROM r) AND NOT x.outgoing AND x.peer = $2 || '@' || $1)) "
    "RETURNING 1), "
    "del AS (DELETE FROM offline_messages o WHERE o.account_id = (SELECT id FROM r) "
    "AND o.retract_key IN (SELECT h FROM k) RETURNING 1), "
    "rem AS (INSERT INTO archive_retractions (account_id, origin_hash, retract_id) "
    "SELECT a.id, k.h, $7 FROM k, (SELECT id FROM s UNION SELECT id FROM r) a "
    "ON CONFLICT DO NOTHING RETURNING 1) "
    "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM del), (SELECT count(*) FROM rem)";

static const char *const wb_sa_modes[] = {"always", "never", "roster"};

/* ---- small helpers ---- */

bool wb_store_archive_uuid_ok(const char *s)
{
    if (s == NULL || strlen(s) != WB_ARCHIVE_UUID_LEN)
        return false;
    for (size_t i = 0; i < WB_ARCHIVE_UUID_LEN; i++) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        const char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

void wb_store_archive_uuid(char *out)
{
    uint8_t r[16];
    randombytes_buf(r, sizeof(r));
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    snprintf(out, WB_ARCHIVE_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}

static bool wb_sa_parts_ok(const char *node, const char *domain)
{
    return strlen(node) <= WB_SA_PART_MAX && strlen(domain) <= WB_SA_PART_MAX;
}

/* The retraction key of a message: a hash of its sender's bare JID and its reference, so that
 * only a retraction from that sender can match it. No reference: a random key (never matched). */
void wb_store_retract_key(const char *sender_bare, const char *ref, uint8_t *out)
{
    static const char tag[] = "warbler-retract";
    crypto_generichash_state h;
    if (ref == NULL) {
        randombytes_buf(out, WB_SA_HASH_LEN);
        return;
    }
    crypto_generichash_init(&h, NULL, 0, WB_SA_HASH_LEN);
    crypto_generichash_update(&h, (const uint8_t *)tag, sizeof(tag));
    crypto_generichash_update(&h, (const uint8_t *)sender_bare, strlen(sender_bare) + 1);
    crypto_generichash_update(&h, (const uint8_t *)ref, strlen(ref));
    crypto_generichash_final(&h, out, WB_SA_HASH_LEN);
}

void wb_store_archive_ad(char *ad, size_t size, int64_t account, const char *stanza_id)
{
    snprintf(ad, size, "archive:%" PRId64 ":%s", account, stanza_id);
}

static void wb_sa_ad(char *ad, int64_t account, const char *stanza_id)
{
    wb_store_archive_ad(ad, WB_SA_AD_MAX, account, stanza_id);
}

/* A text column (binary format: its bytes) as a malloc'd C string; NULL when SQL NULL. */
static char *wb_sa_text(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    const size_t n = (size_t)PQgetlength(res, row, col);
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, PQgetvalue(res, row, col), n);
        s[n] = '\0';
    }
    return s;
}

/* ---- query ---- */

typedef struct wb_sa_query {
    wb_store *st;
    wb_store_archive_query_cb cb;
    void *arg;
    wb_vault_key *key;
    unsigned max;
    bool backward;
    bool retried;  /* the key was found stale once and fetched again */
    char *text[8]; /* the parameters, as text: [0] domain, [1] node */
} wb_sa_query;

typedef struct wb_sa_row {
    char *stanza_id, *peer, *payload, *retract_id;
} wb_sa_row;

static void wb_sa_query_free(wb_sa_query *q)
{
    for (size_t i = 0; i < 8; i++)
        free(q->text[i]);
    if (q->key != NULL)
        wb_vault_key_unref(q->key);
    free(q);
}

/* Opens one item's payload into row->payload; -1 when it does not open (altered or moved). */
static int wb_sa_open(const wb_sa_query *q, const PGresult *res, int i, int64_t account,
                      wb_archive_item *it, wb_sa_row *row)
{
    char ad[WB_SA_AD_MAX];
    const size_t n = (size_t)PQgetlength(res, i, 8);
    if (n < WB_VAULT_OVERHEAD || (row->payload = malloc(n - WB_VAULT_OVERHEAD + 1)) == NULL)
        return -1;
    wb_sa_ad(ad, account, it->stanza_id);
    if (wb_vault_open_sealed(q->key, ad, (const uint8_t *)PQgetvalue(res, i, 8), n,
                             (uint8_t *)row->payload) != 0)
        return -1;
    it->len = n - WB_VAULT_OVERHEAD;
    row->payload[it->len] = '\0';
    it->payload = row->payload;
    return 0;
}

/* One item row (kind 0): -1 when malformed, 1 when its payload does not open (skipped). */
static int wb_sa_item(const wb_sa_query *q, const PGresult *res, int i, wb_archive_item *it,
                      wb_sa_row *row)
{
    if (PQgetlength(res, i, 1) != 8 || PQgetlength(res, i, 3) != 8 || PQgetlength(res, i, 4) != 1 ||
        PQgetisnull(res, i, 5))
        return -1;
    const int64_t account = wb_store_get_int(res, i, 1);
    row->stanza_id = wb_sa_text(res, i, 2);
    row->peer = wb_sa_text(res, i, 5);
    if (row->stanza_id == NULL || row->peer == NULL || !wb_store_archive_uuid_ok(row->stanza_id))
        return -1;
    memset(it, 0, sizeof(*it));
    it->stanza_id = row->stanza_id;
    it->peer = row->peer;
    it->ts_us = wb_store_get_int(res, i, 3);
    it->outgoing = wb_store_get_bool(res, i, 4);
    if (PQgetisnull(res, i, 8)) {
        row->retract_id = wb_sa_text(res, i, 6);
        it->retract_id = row->retract_id ? row->retract_id : "";
        it->retracted_us = PQgetisnull(res, i, 7) ? it->ts_us : wb_store_get_int(res, i, 7);
        return 0;
    }
    if (wb_sa_open(q, res, i, account, it, row) < 0) {
        wb_warn("archive: an archived message failed to open (altered or moved); left out");
        return 1;
    }
    return 0;
}

/* Reads the item rows (after the summary) into items, chronological; returns how many. */
static int wb_sa_items(const wb_sa_query *q, const PGresult *res, wb_archive_item *items,
                       wb_sa_row *rows, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        const int rc = wb_sa_item(q, res, i + 1, &items[k], &rows[i]);
        if (rc < 0)
            return -1;
        if (rc == 0)
            k++;
    }
    for (int i = 0; q->backward && i < k / 2; i++) {
        const wb_archive_item t = items[i];
        items[i] = items[k - 1 - i];
        items[k - 1 - i] = t;
    }
    return k;
}

static void wb_sa_query_rows(wb_sa_query *q, const PGresult *res)
{
    const int total = PQntuples(res);
    if (total == 0 || PQgetlength(res, 0, 0) != 2 || wb_store_get_int(res, 0, 0) != 1) {
        q->cb(q->arg,
              total == 0 || PQgetlength(res, 0, 0) == 2 ? WB_STORE_NOT_FOUND : WB_STORE_UNAVAILABLE,
              NULL, 0, 0, false);
        return;
    }
    const uint64_t count = PQgetlength(res, 0, 9) == 8 ? (uint64_t)wb_store_get_int(res, 0, 9) : 0;
    int n = total - 1;
    const bool complete = n <= (int)q->max;
    if (!complete)
        n = (int)q->max;
    wb_archive_item *items = calloc((size_t)n + 1, sizeof(*items));
    wb_sa_row *rows = calloc((size_t)n + 1, sizeof(*rows));
    const int k = items && rows ? wb_sa_items(q, res, items, rows, n) : -1;
    if (k < 0) {
        wb_warn("archive: malformed archive rows");
        q->cb(q->arg, WB_STORE_UNAVAILABLE, NULL, 0, 0, false);
    } else {
        q->cb(q->arg, WB_STORE_OK, items, (size_t)k, count, complete);
    }
    for (int i = 0; rows != NULL && i < n; i++) {
        free(rows[i].stanza_id);
        free(rows[i].peer);
        free(rows[i].retract_id);
        if (rows[i].payload != NULL)
            sodium_memzero(rows[i].payload, strlen(rows[i].payload));
        free(rows[i].payload);
    }
    free(rows);
    free(items);
}

static void wb_sa_query_keyed(void *arg, wb_store_status status, wb_vault_key *key);

/* True when the rows belong to another account than the cached key (the account was deleted
 * and re-created under the same name while a worker kept its old key): the key is dropped and
 * fetched again, once, instead of every row failing to open. */
static bool wb_sa_query_stale_key(wb_sa_query *q, const PGresult *res)
{
    if (q->retried || PQntuples(res) < 2 || PQgetlength(res, 1, 1) != 8 ||
        wb_store_get_int(res, 1, 1) == wb_vault_key_account(q->key))
        return false;
    q->retried = true;
    wb_vault_key_unref(q->key);
    q->key = NULL;
    wb_store_account_key_forget(q->st, q->text[0], q->text[1]);
    if (wb_store_account_key(q->st, q->text[0], q->text[1], wb_sa_query_keyed, q) == NULL)
        return false;
    return true;
}

static void wb_sa_query_deliver(wb_store_req *r, const PGresult *res)
{
    wb_sa_query *q = r->arg;
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && wb_sa_query_stale_key(q, res))
        return;
    if (res == NULL || !wb_store_result_ok(res, "archive query"))
        q->cb(q->arg, WB_STORE_UNAVAILABLE, NULL, 0, 0, false);
    else
        wb_sa_query_rows(q, res);
    wb_sa_query_free(q);
}

static void wb_sa_query_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_sa_query *q = arg;
    if (status != WB_STORE_OK) {
        q->cb(q->arg, status, NULL, 0, 0, false);
        wb_sa_query_free(q);
        return;
    }
    q->key = wb_vault_key_ref(key);
    wb_store_param p[8];
    for (size_t i = 0; i < 8; i++)
        p[i] = WB_SP_TEXT(q->text[i]);
    if (wb_store_submit(q->st, wb_sa_query_sql, p, 8, wb_sa_query_deliver, NULL, q) == NULL) {
        q->cb(q->arg, WB_STORE_UNAVAILABLE, NULL, 0, 0, false);
        wb_sa_query_free(q);
    }
}

/* "{a,b,...}" of the ids, "" when the filter has none. */
static char *wb_sa_ids_text(const wb_archive_filter *f)
{
    if (!f->has_ids)
        return strdup("");
    char *s = malloc(f->n_ids * (WB_ARCHIVE_UUID_LEN + 1) + 3);
    if (s == NULL)
        return NULL;
    size_t off = 0;
    s[off++] = '{';
    for (size_t i = 0; i < f->n_ids; i++) {
        if (i > 0)
            s[off++] = ',';
        memcpy(s + off, f->ids[i], WB_ARCHIVE_UUID_LEN);
        off += WB_ARCHIVE_UUID_LEN;
    }
    s[off++] = '}';
    s[off] = '\0';
    return s;
}

static char *wb_sa_marks_text(const wb_archive_filter *f)
{
    const char *m[4] = {f->after_id, f->before_id, f->rsm_after, f->rsm_before};
    char *s = malloc(WB_SA_MARKS_TEXT);
    if (s == NULL)
        return NULL;
    size_t off = 0;
    s[off++] = '{';
    for (size_t i = 0; i < 4; i++)
        off += (size_t)snprintf(s + off, WB_SA_MARKS_TEXT - off, "%s%s", i ? "," : "",
                                m[i] ? m[i] : "NULL");
    snprintf(s + off, WB_SA_MARKS_TEXT - off, "}");
    return s;
}

static bool wb_sa_filter_ok(const wb_archive_filter *f)
{
    const char *m[4] = {f->after_id, f->before_id, f->rsm_after, f->rsm_before};
    for (size_t i = 0; i < 4; i++)
        if (m[i] != NULL && !wb_store_archive_uuid_ok(m[i]))
            return false;
    for (size_t i = 0; f->has_ids && i < f->n_ids; i++)
        if (!wb_store_archive_uuid_ok(f->ids[i]))
            return false;
    return f->max <= WB_ARCHIVE_MAX_PAGE && f->n_ids <= WB_ARCHIVE_MAX_IDS &&
           (f->with == NULL || strlen(f->with) <= 2 * WB_SA_PART_MAX + 1);
}

int wb_store_archive_query(wb_store *st, const char *node, const char *domain,
                           const wb_archive_filter *f, wb_store_archive_query_cb cb, void *arg)
{
    if (!wb_sa_parts_ok(node, domain) || !wb_sa_filter_ok(f))
        return -1;
    wb_sa_query *q = calloc(1, sizeof(*q));
    char opts[48];
    if (q == NULL)
        return -1;
    q->st = st;
    q->cb = cb;
    q->arg = arg;
    q->max = f->max;
    q->backward = f->backward;
    snprintf(opts, sizeof(opts), "{%u,%d,%u}", f->max, f->backward ? 1 : 0,
             f->backward ? 0 : f->index);
    q->text[0] = strdup(domain);
    q->text[1] = strdup(node);
    q->text[2] = strdup(f->with ? f->with : "");
    q->text[3] = strdup(f->start ? f->start : "");
    q->text[4] = strdup(f->end ? f->end : "");
    q->text[5] = wb_sa_ids_text(f);
    q->text[6] = wb_sa_marks_text(f);
    q->text[7] = strdup(opts);
    for (size_t i = 0; i < 8; i++)
        if (q->text[i] == NULL)
            goto fail;
    if (wb_store_account_key(st, domain, node, wb_sa_query_keyed, q) == NULL)
        goto fail;
    return 0;
fail:
    wb_sa_query_free(q);
    return -1;
}

/* ---- preferences ---- */

/* Splits s (JIDs joined by U+0001) in place into v; returns how many. */
static size_t wb_sa_split(char *s, const char **v, size_t max)
{
    size_t n = 0;
    while (s != NULL && *s != '\0' && n < max) {
        v[n++] = s;
        s = strchr(s, '\x01');
        if (s != NULL)
            *s++ = '\0';
    }
    return n;
}

static void wb_sa_prefs_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_archive_prefs_cb cb = (wb_store_archive_prefs_cb)r->cb;
    if (res == NULL || !wb_store_result_ok(res, "archive preferences")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL);
        return;
    }
    if (PQntuples(res) != 1) {
        cb(r->arg, WB_STORE_NOT_FOUND, NULL);
        return;
    }
    const char **always = calloc(WB_ARCHIVE_JIDS_MAX, sizeof(*always));
    const char **never = calloc(WB_ARCHIVE_JIDS_MAX, sizeof(*never));
    char *mode = wb_sa_text(res, 0, 0), *a = wb_sa_text(res, 0, 1), *n = wb_sa_text(res, 0, 2);
    wb_archive_prefs p = {.mode = WB_ARCHIVE_ALWAYS, .always = always, .never = never};
    for (size_t i = 0; mode != NULL && i < 3; i++)
        if (strcmp(mode, wb_sa_modes[i]) == 0)
            p.mode = (wb_archive_mode)i;
    if (always == NULL || never == NULL || (PQgetisnull(res, 0, 1) != PQgetisnull(res, 0, 0)) ||
        (!PQgetisnull(res, 0, 1) && (a == NULL || n == NULL))) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL);
    } else {
        p.n_always = wb_sa_split(a, always, WB_ARCHIVE_JIDS_MAX);
        p.n_never = wb_sa_split(n, never, WB_ARCHIVE_JIDS_MAX);
        cb(r->arg, WB_STORE_OK, &p);
    }
    free(mode);
    free(a);
    free(n);
    free(always);
    free(never);
}

wb_store_req *wb_store_archive_prefs_get(wb_store *st, const char *node, const char *domain,
                                         wb_store_archive_prefs_cb cb, void *arg)
{
    if (!wb_sa_parts_ok(node, domain))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
    return wb_store_submit(st, wb_sa_prefs_get_sql, p, 2, wb_sa_prefs_deliver, (void (*)(void))cb,
                           arg);
}

/* The JIDs joined by U+0001 (which XML cannot carry); NULL when out of memory. */
static char *wb_sa_join(const char *const *v, size_t n)
{
    size_t size = 1;
    for (size_t i = 0; i < n; i++)
        size += strlen(v[i]) + 1;
    char *s = malloc(size);
    if (s == NULL)
        return NULL;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t l = strlen(v[i]);
        if (i > 0)
            s[off++] = '\x01';
        memcpy(s + off, v[i], l);
        off += l;
    }
    s[off] = '\0';
    return s;
}

wb_store_req *wb_store_archive_prefs_set(wb_store *st, const char *node, const char *domain,
                                         const wb_archive_prefs *pr, wb_store_archive_prefs_cb cb,
                                         void *arg)
{
    if (!wb_sa_parts_ok(node, domain) || pr->n_always > WB_ARCHIVE_JIDS_MAX ||
        pr->n_never > WB_ARCHIVE_JIDS_MAX || (unsigned)pr->mode > WB_ARCHIVE_ROSTER)
        return NULL;
    char *a = wb_sa_join(pr->always, pr->n_always), *n = wb_sa_join(pr->never, pr->n_never);
    wb_store_req *r = NULL;
    if (a != NULL && n != NULL) {
        const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node),
                                    WB_SP_TEXT(wb_sa_modes[pr->mode]), WB_SP_TEXT(a),
                                    WB_SP_TEXT(n)};
        r = wb_store_submit(st, wb_sa_prefs_set_sql, p, 5, wb_sa_prefs_deliver, (void (*)(void))cb,
                            arg);
    }
    free(a);
    free(n);
    return r;
}

/* ---- retraction ---- */

typedef struct wb_sa_retract {
    wb_store *st;
    wb_store_archive_retract_cb cb;
    void *arg;
    uint8_t key[WB_SA_HASH_LEN];
    char *text[6]; /* s_domain, s_node, r_domain, r_node, target stanza-id or "", retract id */
} wb_sa_retract;

static void wb_sa_retract_free(wb_sa_retract *op)
{
    for (size_t i = 0; i < 6; i++)
        free(op->text[i]);
    free(op);
}

static void wb_sa_retract_done(wb_sa_retract *op, wb_store_status status, uint64_t erased,
                               uint64_t dropped)
{
    if (status != WB_STORE_OK)
        wb_warn("archive: a retraction could not be applied (database unavailable)");
    if (op->cb != NULL)
        op->cb(op->arg, status, erased, dropped);
    wb_sa_retract_free(op);
}

static void wb_sa_retract_deliver(wb_store_req *r, const PGresult *res)
{
    wb_sa_retract *op = r->arg;
    if (res == NULL || !wb_store_result_ok(res, "archive retraction") || PQntuples(res) != 1 ||
        PQgetlength(res, 0, 0) != 8 || PQgetlength(res, 0, 1) != 8) {
        wb_sa_retract_done(op, WB_STORE_UNAVAILABLE, 0, 0);
        return;
    }
    wb_sa_retract_done(op, WB_STORE_OK, (uint64_t)wb_store_get_int(res, 0, 0),
                       (uint64_t)wb_store_get_int(res, 0, 1));
}

/* Waiting for the sender's key first keeps the erase behind archive writes queued before it. */
static void wb_sa_retract_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_sa_retract *op = arg;
    (void)key;
    if (status == WB_STORE_UNAVAILABLE) {
        wb_sa_retract_done(op, status, 0, 0);
        return;
    }
    const wb_store_param p[] = {WB_SP_TEXT(op->text[0]),
                                WB_SP_TEXT(op->text[1]),
                                WB_SP_TEXT(op->text[2]),
                                WB_SP_TEXT(op->text[3]),
                                WB_SP_BIN(op->key, WB_SA_HASH_LEN),
                                WB_SP_TEXT(op->text[4]),
                                WB_SP_TEXT(op->text[5])};
    if (wb_store_submit(op->st, wb_sa_retract_sql, p, 7, wb_sa_retract_deliver, NULL, op) == NULL)
        wb_sa_retract_done(op, WB_STORE_UNAVAILABLE, 0, 0);
}

int wb_store_archive_retract(wb_store *st, const wb_archive_retraction *rt,
                             wb_store_archive_retract_cb cb, void *arg)
{
    char sender[2 * WB_SA_PART_MAX + 2];
    if (!wb_sa_parts_ok(rt->s_node, rt->s_domain) || !wb_sa_parts_ok(rt->r_node, rt->r_domain) ||
        strlen(rt->target) > WB_ARCHIVE_REF_MAX || strlen(rt->retract_id) > WB_ARCHIVE_REF_MAX)
        return -1;
    wb_sa_retract *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return -1;
    op->st = st;
    op->cb = cb;
    op->arg = arg;
    snprintf(sender, sizeof(sender), "%s@%s", rt->s_node, rt->s_domain);
    wb_store_retract_key(sender, rt->target, op->key);
    op->text[0] = strdup(rt->s_domain);
    op->text[1] = strdup(rt->s_node);
    op->text[2] = strdup(rt->r_domain);
    op->text[3] = strdup(rt->r_node);
    op->text[4] = strdup(wb_store_archive_uuid_ok(rt->target) ? rt->target : "");
    op->text[5] = strdup(rt->retract_id);
    for (size_t i = 0; i < 6; i++)
        if (op->text[i] == NULL)
            goto fail;
    if (wb_store_account_key(st, rt->s_domain, rt->s_node, wb_sa_retract_keyed, op) == NULL)
        goto fail;
    return 0;
fail:
    wb_sa_retract_free(op);
    return -1;
}
