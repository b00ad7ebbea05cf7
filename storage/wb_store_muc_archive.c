/* Room archives at rest: sealed writes, paged queries (keyset paging on the row id), tombstones,
 * expiry sweeps and the start-up history of a room. Not for MUC rules (muc_mam.c). */
#include "wb_store_muc_archive.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_store_retention.h"
#include "wb_vault.h"

#define WB_MA_AD_MAX    96
#define WB_MA_MARKS_LEN (4 * (WB_ARCHIVE_UUID_LEN + 1) + 3)

static const char wb_ma_put_sql[] =
    "INSERT INTO muc_archive (room_id, stanza_id, ts_us, nick_hash, real_hash, expires_us, "
    "payload) SELECT r.id, $2::uuid, $3::bigint, $4, $5, NULLIF($6, '0')::bigint, $7 "
    "FROM muc_rooms r WHERE r.id = $1::bigint";

static const char wb_ma_retract_sql[] =
    "UPDATE muc_archive SET payload = $4, retracted = true WHERE room_id = $1::bigint "
    "AND stanza_id = $2::uuid AND NOT retracted "
    "AND (length($3::bytea) = 0 OR real_hash = $3::bytea)";

/* m: the rows of the four marks; f: the rows the filters keep; p: one page (plus one row that
 * tells it is not the last). The summary row (kind 1) comes first. */
static const char wb_ma_query_sql[] =
    "WITH k AS (SELECT $6::uuid[] AS mk), "
    "m AS (SELECT k.mk, "
    "(SELECT id FROM muc_archive WHERE room_id = $1::bigint AND stanza_id = k.mk[1]) AS fa, "
    "(SELECT id FROM muc_archive WHERE room_id = $1::bigint AND stanza_id = k.mk[2]) AS fb, "
    "(SELECT id FROM muc_archive WHERE room_id = $1::bigint AND stanza_id = k.mk[3]) AS ra, "
    "(SELECT id FROM muc_archive WHERE room_id = $1::bigint AND stanza_id = k.mk[4]) AS rb "
    "FROM k), "
    "f AS (SELECT x.id, x.stanza_id, x.ts_us, x.retracted, x.payload FROM muc_archive x, m "
    "WHERE x.room_id = $1::bigint AND (x.expires_us IS NULL OR x.expires_us > $9::bigint) "
    "AND ($2::bigint = 0 OR x.ts_us >= $2::bigint) AND ($3::bigint = 0 OR x.ts_us <= $3::bigint) "
    "AND (length($4::bytea) = 0 OR x.nick_hash = $4::bytea OR x.real_hash = $4::bytea) "
    "AND ($5 = '' OR x.stanza_id = ANY (NULLIF($5, '')::uuid[])) "
    "AND (m.mk[1] IS NULL OR x.id > m.fa) AND (m.mk[2] IS NULL OR x.id < m.fb)), "
    "p AS (SELECT f.* FROM f, m WHERE (m.mk[3] IS NULL OR f.id > m.ra) "
    "AND (m.mk[4] IS NULL OR f.id < m.rb) "
    "ORDER BY CASE WHEN $7::boolean THEN -f.id ELSE f.id END LIMIT $8::integer + 1) "
    "SELECT 1::smallint, 0::bigint, NULL::text, NULL::bigint, NULL::boolean, NULL::bytea, "
    "(SELECT count(*) FROM f), ((m.mk[1] IS NOT NULL AND m.fa IS NULL) OR "
    "(m.mk[2] IS NOT NULL AND m.fb IS NULL) OR (m.mk[3] IS NOT NULL AND m.ra IS NULL) OR "
    "(m.mk[4] IS NOT NULL AND m.rb IS NULL)) FROM m "
    "UNION ALL SELECT 0::smallint, CASE WHEN $7::boolean THEN -p.id ELSE p.id END, "
    "p.stanza_id::text, p.ts_us, p.retracted, p.payload, NULL::bigint, NULL::boolean FROM p "
    "ORDER BY 1 DESC, 2";

static const char wb_ma_expire_sql[] =
    "DELETE FROM muc_archive WHERE id IN (SELECT id FROM muc_archive "
    "WHERE expires_us IS NOT NULL AND expires_us <= $1::bigint ORDER BY expires_us "
    "LIMIT $2::integer)";

static const char wb_ma_recent_sql[] =
    "SELECT stanza_id::text, ts_us, payload FROM (SELECT id, stanza_id, ts_us, payload "
    "FROM muc_archive WHERE room_id = $1::bigint AND NOT retracted "
    "AND (expires_us IS NULL OR expires_us > $3::bigint) ORDER BY id DESC LIMIT $2::integer) x "
    "ORDER BY id";

static void wb_ma_ad(char *ad, int64_t room, const char *stanza_id)
{
    snprintf(ad, WB_MA_AD_MAX, "mucarch:%" PRId64 ":%s", room, stanza_id);
}

/* Seals len bytes of plain for row (room, stanza_id); NULL on failure. */
static uint8_t *wb_ma_seal(const wb_store_muc_key *k, int64_t room, const char *stanza_id,
                           const char *plain, size_t len)
{
    char ad[WB_MA_AD_MAX];
    uint8_t *sealed = len <= WB_MUC_ARCH_MAX ? malloc(len + WB_VAULT_OVERHEAD) : NULL;
    wb_ma_ad(ad, room, stanza_id);
    if (sealed &&
        wb_vault_seal(wb_store_muc_key_vault(k), ad, (const uint8_t *)plain, len, sealed) != 0) {
        free(sealed);
        return NULL;
    }
    return sealed;
}

/* Opens a sealed payload into a malloc'd NUL-terminated string; NULL when it does not open. */
static char *wb_ma_open(const wb_vault_key *key, int64_t room, const char *stanza_id,
                        const uint8_t *sealed, size_t n, size_t *len)
{
    char ad[WB_MA_AD_MAX];
    char *out = n >= WB_VAULT_OVERHEAD ? malloc(n - WB_VAULT_OVERHEAD + 1) : NULL;
    if (!out)
        return NULL;
    wb_ma_ad(ad, room, stanza_id);
    if (wb_vault_open_sealed(key, ad, sealed, n, (uint8_t *)out) != 0) {
        free(out);
        return NULL;
    }
    *len = n - WB_VAULT_OVERHEAD;
    out[*len] = '\0';
    return out;
}

static void wb_ma_count_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_muc_arch_cb cb = (wb_store_muc_arch_cb)r->cb;
    if (!cb)
        return;
    if (!res || !wb_store_result_ok(res, "room archive")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, 0);
        return;
    }
    const uint64_t n = strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
    cb(r->arg, n ? WB_STORE_OK : WB_STORE_NOT_FOUND, n);
}

int wb_store_muc_archive_put(wb_store *st, const wb_store_muc_key *k, const wb_muc_arch_entry *e,
                             wb_store_muc_arch_cb cb, void *arg)
{
    if (!wb_store_archive_uuid_ok(e->stanza_id))
        return -1;
    uint8_t *sealed = wb_ma_seal(k, e->room_id, e->stanza_id, e->payload, e->len);
    char room[24], ts[24], exp[24];
    if (!sealed)
        return -1;
    snprintf(room, sizeof(room), "%" PRId64, e->room_id);
    snprintf(ts, sizeof(ts), "%" PRId64, e->ts_us);
    snprintf(exp, sizeof(exp), "%" PRId64, e->expires_us > 0 ? e->expires_us : 0);
    const wb_store_param p[] = {
        WB_SP_TEXT(room),
        WB_SP_TEXT(e->stanza_id),
        WB_SP_TEXT(ts),
        WB_SP_BIN(e->nick_hash, WB_MUC_ARCH_HASH_LEN),
        WB_SP_BIN(e->real_hash, WB_MUC_ARCH_HASH_LEN),
        WB_SP_TEXT(exp),
        WB_SP_BIN(sealed, e->len + WB_VAULT_OVERHEAD),
    };
    wb_store_req *r =
        wb_store_submit(st, wb_ma_put_sql, p, 7, wb_ma_count_deliver, (void (*)(void))cb, arg);
    free(sealed);
    return r ? 0 : -1;
}

int wb_store_muc_archive_retract(wb_store *st, const wb_store_muc_key *k, int64_t room_id,
                                 const char *stanza_id, const uint8_t *real_hash,
                                 const char *tombstone, size_t len, wb_store_muc_arch_cb cb,
                                 void *arg)
{
    static const uint8_t none[1];
    if (!wb_store_archive_uuid_ok(stanza_id))
        return -1;
    uint8_t *sealed = wb_ma_seal(k, room_id, stanza_id, tombstone, len);
    char room[24];
    if (!sealed)
        return -1;
    snprintf(room, sizeof(room), "%" PRId64, room_id);
    const wb_store_param p[] = {
        WB_SP_TEXT(room),
        WB_SP_TEXT(stanza_id),
        real_hash ? WB_SP_BIN(real_hash, WB_MUC_ARCH_HASH_LEN) : WB_SP_BIN(none, 0),
        WB_SP_BIN(sealed, len + WB_VAULT_OVERHEAD),
    };
    wb_store_req *r =
        wb_store_submit(st, wb_ma_retract_sql, p, 4, wb_ma_count_deliver, (void (*)(void))cb, arg);
    free(sealed);
    return r ? 0 : -1;
}

/* ---- query ---- */

typedef struct wb_ma_query {
    wb_store_muc_arch_query_cb cb;
    void *arg;
    wb_vault_key *key;
    int64_t room;
    unsigned max;
    bool backward;
} wb_ma_query;

/* A text column (binary format: its bytes) as a malloc'd string; NULL when SQL NULL. */
static char *wb_ma_text(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    const size_t n = (size_t)PQgetlength(res, row, col);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, PQgetvalue(res, row, col), n);
        s[n] = '\0';
    }
    return s;
}

/* One item row: -1 when malformed, 1 when its payload does not open (left out). */
static int wb_ma_item(const wb_ma_query *q, const PGresult *res, int i, wb_muc_arch_item *it,
                      char **sid, char **payload)
{
    if (PQgetlength(res, i, 3) != 8 || PQgetlength(res, i, 4) != 1 || PQgetisnull(res, i, 5))
        return -1;
    *sid = wb_ma_text(res, i, 2);
    if (!*sid || !wb_store_archive_uuid_ok(*sid))
        return -1;
    it->stanza_id = *sid;
    it->ts_us = wb_store_get_int(res, i, 3);
    it->retracted = wb_store_get_bool(res, i, 4);
    *payload = wb_ma_open(q->key, q->room, *sid, (const uint8_t *)PQgetvalue(res, i, 5),
                          (size_t)PQgetlength(res, i, 5), &it->len);
    if (!*payload) {
        wb_warn("room archive: an archived message failed to open (altered or moved); left out");
        return 1;
    }
    it->payload = *payload;
    return 0;
}

static void wb_ma_query_rows(wb_ma_query *q, const PGresult *res)
{
    const int total = PQntuples(res);
    if (total < 1 || PQgetlength(res, 0, 0) != 2 || wb_store_get_int(res, 0, 0) != 1 ||
        PQgetlength(res, 0, 6) != 8 || PQgetlength(res, 0, 7) != 1) {
        q->cb(q->arg, WB_STORE_UNAVAILABLE, NULL, 0, 0, false);
        return;
    }
    if (wb_store_get_bool(res, 0, 7)) {
        q->cb(q->arg, WB_STORE_NOT_FOUND, NULL, 0, 0, false);
        return;
    }
    const uint64_t count = (uint64_t)wb_store_get_int(res, 0, 6);
    int n = total - 1;
    const bool complete = n <= (int)q->max;
    if (!complete)
        n = (int)q->max;
    wb_muc_arch_item *items = calloc((size_t)n + 1, sizeof(*items));
    char **strs = calloc(2 * (size_t)n + 2, sizeof(*strs));
    int k = 0, rc = items && strs ? 0 : -1;
    for (int i = 0; rc >= 0 && i < n; i++) {
        rc = wb_ma_item(q, res, i + 1, &items[k], &strs[2 * i], &strs[2 * i + 1]);
        if (rc == 0)
            k++;
    }
    for (int i = 0; rc >= 0 && q->backward && i < k / 2; i++) {
        const wb_muc_arch_item t = items[i];
        items[i] = items[k - 1 - i];
        items[k - 1 - i] = t;
    }
    if (rc < 0)
        q->cb(q->arg, WB_STORE_UNAVAILABLE, NULL, 0, 0, false);
    else
        q->cb(q->arg, WB_STORE_OK, items, (size_t)k, count, complete);
    for (int i = 0; strs && i < 2 * n; i++) {
        if (strs[i] && (i & 1))
            sodium_memzero(strs[i], strlen(strs[i]));
        free(strs[i]);
    }
    free(strs);
    free(items);
}

static void wb_ma_query_deliver(wb_store_req *r, const PGresult *res)
{
    wb_ma_query *q = r->arg;
    if (!res || !wb_store_result_ok(res, "room archive query"))
        q->cb(q->arg, WB_STORE_UNAVAILABLE, NULL, 0, 0, false);
    else
        wb_ma_query_rows(q, res);
    wb_vault_key_unref(q->key);
    free(q);
}

static bool wb_ma_filter_ok(const wb_muc_arch_filter *f)
{
    const char *m[4] = {f->after_id, f->before_id, f->rsm_after, f->rsm_before};
    for (size_t i = 0; i < 4; i++)
        if (m[i] && !wb_store_archive_uuid_ok(m[i]))
            return false;
    for (size_t i = 0; f->has_ids && i < f->n_ids; i++)
        if (!wb_store_archive_uuid_ok(f->ids[i]))
            return false;
    return f->max <= WB_ARCHIVE_MAX_PAGE && f->n_ids <= WB_ARCHIVE_MAX_IDS;
}

/* "{a,b}" of the ids ("{}" when has_ids with none), "" when the filter has none. */
static char *wb_ma_ids_text(const wb_muc_arch_filter *f)
{
    char *s = malloc(f->n_ids * (WB_ARCHIVE_UUID_LEN + 1) + 3);
    size_t off = 0;
    if (!s || !f->has_ids) {
        if (s)
            s[0] = '\0';
        return s;
    }
    s[off++] = '{';
    for (size_t i = 0; i < f->n_ids; i++) {
        if (i)
            s[off++] = ',';
        memcpy(s + off, f->ids[i], WB_ARCHIVE_UUID_LEN);
        off += WB_ARCHIVE_UUID_LEN;
    }
    s[off++] = '}';
    s[off] = '\0';
    return s;
}

static void wb_ma_marks_text(const wb_muc_arch_filter *f, char *s)
{
    const char *m[4] = {f->after_id, f->before_id, f->rsm_after, f->rsm_before};
    size_t off = 0;
    s[off++] = '{';
    for (size_t i = 0; i < 4; i++)
        off += (size_t)snprintf(s + off, WB_MA_MARKS_LEN - off, "%s%s", i ? "," : "",
                                m[i] ? m[i] : "NULL");
    snprintf(s + off, WB_MA_MARKS_LEN - off, "}");
}

int wb_store_muc_archive_query(wb_store *st, const wb_store_muc_key *k, int64_t room_id,
                               const wb_muc_arch_filter *f, wb_store_muc_arch_query_cb cb,
                               void *arg)
{
    static const uint8_t none[1];
    char room[24], start[24], end[24], marks[WB_MA_MARKS_LEN], max[16], now[24];
    if (!wb_ma_filter_ok(f))
        return -1;
    char *ids = wb_ma_ids_text(f);
    wb_ma_query *q = calloc(1, sizeof(*q));
    if (!ids || !q) {
        free(ids);
        free(q);
        return -1;
    }
    q->cb = cb;
    q->arg = arg;
    q->room = room_id;
    q->max = f->max;
    q->backward = f->backward;
    q->key = wb_vault_key_ref(wb_store_muc_key_vault(k));
    snprintf(room, sizeof(room), "%" PRId64, room_id);
    snprintf(start, sizeof(start), "%" PRId64, f->start_us);
    snprintf(end, sizeof(end), "%" PRId64, f->end_us);
    snprintf(max, sizeof(max), "%u", f->max);
    snprintf(now, sizeof(now), "%" PRId64, (int64_t)time(NULL) * 1000000);
    wb_ma_marks_text(f, marks);
    const wb_store_param p[] = {
        WB_SP_TEXT(room),
        WB_SP_TEXT(start),
        WB_SP_TEXT(end),
        f->with_hash ? WB_SP_BIN(f->with_hash, WB_MUC_ARCH_HASH_LEN) : WB_SP_BIN(none, 0),
        WB_SP_TEXT(ids),
        WB_SP_TEXT(marks),
        WB_SP_TEXT(f->backward ? "true" : "false"),
        WB_SP_TEXT(max),
        WB_SP_TEXT(now),
    };
    wb_store_req *r = wb_store_submit(st, wb_ma_query_sql, p, 9, wb_ma_query_deliver, NULL, q);
    free(ids);
    if (!r) {
        wb_vault_key_unref(q->key);
        free(q);
        return -1;
    }
    return 0;
}

wb_store_req *wb_store_muc_archive_expire(wb_store *st, int64_t now_us, int batch,
                                          wb_store_muc_arch_cb cb, void *arg)
{
    char now[24], lim[16];
    if (batch < 1 || batch > WB_RETENTION_BATCH_MAX)
        return NULL;
    snprintf(now, sizeof(now), "%" PRId64, now_us);
    snprintf(lim, sizeof(lim), "%d", batch);
    const wb_store_param p[] = {WB_SP_TEXT(now), WB_SP_TEXT(lim)};
    return wb_store_submit(st, wb_ma_expire_sql, p, 2, wb_ma_count_deliver, (void (*)(void))cb,
                           arg);
}

/* ---- synchronous ---- */

int wb_store_muc_archive_recent(wb_pg *pg, const wb_store_muc_key *k, int64_t room_id, int n,
                                int64_t now_us, wb_store_muc_arch_recent_fn fn, void *arg,
                                char *err, size_t errsize)
{
    char room[24], lim[16], now[24];
    snprintf(room, sizeof(room), "%" PRId64, room_id);
    snprintf(lim, sizeof(lim), "%d", n < 0 ? 0 : n);
    snprintf(now, sizeof(now), "%" PRId64, now_us);
    const char *const values[] = {room, lim, now};
    PGresult *res = PQexecParams(pg, wb_ma_recent_sql, 3, NULL, values, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        wb_store_reason(err, errsize, PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        char *sid = wb_ma_text(res, i, 0);
        size_t len = 0;
        char *plain = sid && PQgetlength(res, i, 1) == 8
                          ? wb_ma_open(wb_store_muc_key_vault(k), room_id, sid,
                                       (const uint8_t *)PQgetvalue(res, i, 2),
                                       (size_t)PQgetlength(res, i, 2), &len)
                          : NULL;
        if (plain)
            fn(arg, sid, wb_store_get_int(res, i, 1), plain, len);
        else
            wb_warn("room archive: a message of room %" PRId64 " does not open; left out", room_id);
        if (plain)
            sodium_memzero(plain, len);
        free(plain);
        free(sid);
    }
    PQclear(res);
    return 0;
}

int64_t wb_store_muc_archive_count(wb_pg *pg, int64_t room_id, char *err, size_t errsize)
{
    char room[24];
    snprintf(room, sizeof(room), "%" PRId64, room_id);
    const char *const values[] = {room};
    PGresult *res = PQexecParams(pg, "SELECT count(*) FROM muc_archive WHERE room_id = $1::bigint",
                                 1, NULL, values, NULL, NULL, 0);
    int64_t n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        wb_store_reason(err, errsize, PQresultErrorMessage(res));
    PQclear(res);
    return n;
}
