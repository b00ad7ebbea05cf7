/* XEP-0363 uploads at rest: per-file keys sealed by the account's data key, secretstream chunks
 * in upload_chunks, quota and expiry queries. Not for HTTP, slots or tokens (server/upload/). */
#include "wb_store_upload.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_store_keys.h"
#include "wb_store_retention.h"

#define WB_UP_AD_MAX   (WB_STORE_UPLOAD_SLOT_MAX + 64)
#define WB_UP_META_MAX (WB_STORE_UPLOAD_CTYPE_MAX + 1 + WB_STORE_UPLOAD_NAME_MAX)
#define WB_UP_SEALED   (WB_STORE_UPLOAD_CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES)
#define WB_UP_FKEY     crypto_secretstream_xchacha20poly1305_KEYBYTES
#define WB_UP_HEADER   crypto_secretstream_xchacha20poly1305_HEADERBYTES

static const char wb_up_usage_sql[] =
    "SELECT coalesce(sum(u.size), 0)::bigint FROM uploads u JOIN accounts a "
    "ON a.id = u.account_id WHERE a.domain = $1 AND a.node = $2";
static const char wb_up_expire_sql[] =
    "DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE created_at < "
    "now() - make_interval(secs => $1::bigint / 1000.0) ORDER BY created_at LIMIT $2::int)";
static const char wb_up_key_sql[] =
    "SELECT a.id, k.wrapped, k.master_id FROM accounts a LEFT JOIN account_keys k "
    "ON k.account_id = a.id WHERE a.domain = $1 AND a.node = $2";
static const char wb_up_insert_sql[] =
    "INSERT INTO uploads (account_id, slot, size, file_key, header, meta) "
    "VALUES ($1::bigint, $2, $3::bigint, $4, $5, $6) ON CONFLICT (slot) DO NOTHING RETURNING id";
static const char wb_up_used_sql[] =
    "SELECT coalesce(sum(size), 0)::bigint FROM uploads WHERE account_id = $1::bigint";
static const char wb_up_chunk_sql[] =
    "INSERT INTO upload_chunks (upload_id, account_id, seq, data) "
    "VALUES ($1::bigint, $2::bigint, $3::int, $4)";
static const char wb_up_done_sql[] = "UPDATE uploads SET chunks = $2::int WHERE id = $1::bigint";
static const char wb_up_open_sql[] =
    "SELECT u.id, u.account_id, u.size, u.chunks, u.file_key, u.header, u.meta, k.wrapped, "
    "k.master_id FROM uploads u JOIN account_keys k ON k.account_id = u.account_id "
    "WHERE u.slot = $1";
static const char wb_up_read_sql[] =
    "SELECT data FROM upload_chunks WHERE upload_id = $1::bigint AND seq = $2::int";

/* ---- asynchronous ---- */

static void wb_up_usage_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_upload_usage_cb cb = (wb_store_upload_usage_cb)r->cb;
    if (!cb)
        return;
    if (!res || !wb_store_result_ok(res, "upload usage") || PQntuples(res) != 1)
        cb(r->arg, WB_STORE_UNAVAILABLE, 0);
    else
        cb(r->arg, WB_STORE_OK, wb_store_get_int(res, 0, 0));
}

wb_store_req *wb_store_upload_usage(wb_store *st, const char *domain, const char *node,
                                    wb_store_upload_usage_cb cb, void *arg)
{
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
    return wb_store_submit(st, wb_up_usage_sql, p, 2, wb_up_usage_deliver, (void (*)(void))cb, arg);
}

static void wb_up_expire_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_upload_expire_cb cb = (wb_store_upload_expire_cb)r->cb;
    if (!cb)
        return;
    if (!res || !wb_store_result_ok(res, "upload expiry")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, 0);
        return;
    }
    const uint64_t n = strtoull(PQcmdTuples((PGresult *)res), NULL, 10);
    cb(r->arg, n ? WB_STORE_OK : WB_STORE_NOT_FOUND, n);
}

wb_store_req *wb_store_upload_expire(wb_store *st, int64_t max_age_ms, int batch,
                                     wb_store_upload_expire_cb cb, void *arg)
{
    char age[24], lim[16];
    if (batch < 1 || batch > WB_RETENTION_BATCH_MAX || max_age_ms < 0)
        return NULL;
    snprintf(age, sizeof(age), "%" PRId64, max_age_ms);
    snprintf(lim, sizeof(lim), "%d", batch);
    const wb_store_param p[] = {WB_SP_TEXT(age), WB_SP_TEXT(lim)};
    return wb_store_submit(st, wb_up_expire_sql, p, 2, wb_up_expire_deliver, (void (*)(void))cb,
                           arg);
}

/* ---- synchronous helpers ---- */

/* Runs sql with text parameters (lengths/formats NULL) or mixed ones; binary results. NULL and
 * logged unless the status is want. */
static PGresult *wb_up_exec(wb_pg *pg, const char *sql, int n, const char *const *values,
                            const int *lengths, const int *formats, ExecStatusType want)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, values, lengths, formats, 1);
    if (PQresultStatus(res) != want) {
        char why[256];
        const char *msg = PQresultErrorMessage(res);
        wb_store_reason(why, sizeof(why), msg[0] ? msg : PQerrorMessage(pg));
        wb_warn("upload storage: %s", why);
        PQclear(res);
        return NULL;
    }
    return res;
}

static int wb_up_simple(wb_pg *pg, const char *sql)
{
    PGresult *res = wb_up_exec(pg, sql, 0, NULL, NULL, NULL, PGRES_COMMAND_OK);
    PQclear(res);
    return res ? 0 : -1;
}

static void wb_up_ad(char *ad, int64_t account, const char *slot, const char *what)
{
    snprintf(ad, WB_UP_AD_MAX, "upload:%" PRId64 ":%s:%s", account, slot, what);
}

/* Unwraps the data key in columns col (wrapped) and col + 1 (master_id) of row 0. */
static wb_vault_key *wb_up_unwrap(wb_vault *v, int64_t account, const PGresult *res, int col)
{
    if (PQgetisnull(res, 0, col) || PQgetisnull(res, 0, col + 1))
        return NULL;
    return wb_vault_key_unwrap(v, account, (const uint8_t *)PQgetvalue(res, 0, col + 1),
                               (size_t)PQgetlength(res, 0, col + 1),
                               (const uint8_t *)PQgetvalue(res, 0, col),
                               (size_t)PQgetlength(res, 0, col));
}

/* The account id and data key of node@domain, the key created on first use. */
static wb_upload_rc wb_up_account_key(wb_pg *pg, wb_vault *v, const char *node, const char *domain,
                                      int64_t *account, wb_vault_key **key)
{
    const char *const who[] = {domain, node};
    *key = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *res = wb_up_exec(pg, wb_up_key_sql, 2, who, NULL, NULL, PGRES_TUPLES_OK);
        if (!res)
            return WB_UPLOAD_ERROR;
        if (PQntuples(res) != 1) {
            PQclear(res);
            return WB_UPLOAD_NOT_FOUND;
        }
        *account = wb_store_get_int(res, 0, 0);
        const bool missing = PQgetisnull(res, 0, 1);
        *key = wb_up_unwrap(v, *account, res, 1);
        PQclear(res);
        if (*key)
            return WB_UPLOAD_OK;
        char err[256];
        if (!missing || attempt > 0 ||
            wb_store_account_key_create(pg, v, node, domain, err, sizeof(err)) < 0)
            break;
    }
    wb_error("upload storage: the data key of account %" PRId64 " is not usable", *account);
    return WB_UPLOAD_ERROR;
}

/* ---- writing ---- */

struct wb_store_upload_writer {
    wb_pg *pg;
    int64_t id, account, size, received;
    int seq;
    crypto_secretstream_xchacha20poly1305_state state;
    size_t fill;
    uint8_t plain[WB_STORE_UPLOAD_CHUNK];
    uint8_t sealed[WB_UP_SEALED];
};

static void wb_up_writer_free(wb_store_upload_writer *wr)
{
    sodium_memzero(wr, sizeof(*wr));
    free(wr);
}

void wb_store_upload_abort(wb_store_upload_writer *wr)
{
    if (!wr)
        return;
    wb_up_simple(wr->pg, "ROLLBACK");
    wb_up_writer_free(wr);
}

/* Seals the buffered bytes as the next chunk (the last one when final) and stores it. */
static int wb_up_flush(wb_store_upload_writer *wr, bool final)
{
    unsigned long long clen = 0;
    const unsigned char tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                    : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    if (crypto_secretstream_xchacha20poly1305_push(&wr->state, wr->sealed, &clen, wr->plain,
                                                   wr->fill, NULL, 0, tag) != 0)
        return -1;
    sodium_memzero(wr->plain, wr->fill);
    wr->fill = 0;
    char id[24], acc[24], seq[16];
    snprintf(id, sizeof(id), "%" PRId64, wr->id);
    snprintf(acc, sizeof(acc), "%" PRId64, wr->account);
    snprintf(seq, sizeof(seq), "%d", wr->seq);
    const char *const values[] = {id, acc, seq, (const char *)wr->sealed};
    const int lengths[] = {0, 0, 0, (int)clen};
    const int formats[] = {0, 0, 0, 1};
    PGresult *res =
        wb_up_exec(wr->pg, wb_up_chunk_sql, 4, values, lengths, formats, PGRES_COMMAND_OK);
    PQclear(res);
    if (!res)
        return -1;
    wr->seq++;
    return 0;
}

wb_upload_rc wb_store_upload_write(wb_store_upload_writer *wr, const void *data, size_t len)
{
    const uint8_t *p = data;
    if ((int64_t)len > wr->size - wr->received)
        return WB_UPLOAD_TOO_LONG;
    wr->received += (int64_t)len;
    while (len > 0) {
        if (wr->fill == sizeof(wr->plain) && wb_up_flush(wr, false) < 0)
            return WB_UPLOAD_ERROR;
        const size_t n = len < sizeof(wr->plain) - wr->fill ? len : sizeof(wr->plain) - wr->fill;
        memcpy(wr->plain + wr->fill, p, n);
        wr->fill += n;
        p += n;
        len -= n;
    }
    return WB_UPLOAD_OK;
}

wb_upload_rc wb_store_upload_commit(wb_store_upload_writer *wr)
{
    if (wr->received != wr->size) {
        wb_store_upload_abort(wr);
        return WB_UPLOAD_TOO_LONG;
    }
    if (wb_up_flush(wr, true) < 0)
        goto fail;
    char id[24], n[16];
    snprintf(id, sizeof(id), "%" PRId64, wr->id);
    snprintf(n, sizeof(n), "%d", wr->seq);
    const char *const values[] = {id, n};
    PGresult *res = wb_up_exec(wr->pg, wb_up_done_sql, 2, values, NULL, NULL, PGRES_COMMAND_OK);
    PQclear(res);
    if (!res || wb_up_simple(wr->pg, "COMMIT") < 0)
        goto fail;
    wb_up_writer_free(wr);
    return WB_UPLOAD_OK;
fail:
    wb_store_upload_abort(wr);
    return WB_UPLOAD_ERROR;
}

/* The sealed file key, stream header and sealed metadata of a new file (wr->state set). */
typedef struct wb_up_sealed_head {
    uint8_t fkey[WB_VAULT_OVERHEAD + WB_UP_FKEY];
    uint8_t header[WB_UP_HEADER];
    uint8_t meta[WB_VAULT_OVERHEAD + WB_UP_META_MAX];
    size_t meta_len;
} wb_up_sealed_head;

static int wb_up_seal_head(wb_store_upload_writer *wr, const wb_vault_key *key,
                           const wb_store_upload_file *f, wb_up_sealed_head *h)
{
    uint8_t fkey[WB_UP_FKEY];
    char ad[WB_UP_AD_MAX], meta[WB_UP_META_MAX + 1];
    const int mlen = snprintf(meta, sizeof(meta), "%s\n%s", f->content_type, f->filename);
    if (mlen < 0 || (size_t)mlen > WB_UP_META_MAX)
        return -1;
    crypto_secretstream_xchacha20poly1305_keygen(fkey);
    int rc = crypto_secretstream_xchacha20poly1305_init_push(&wr->state, h->header, fkey);
    wb_up_ad(ad, wr->account, f->slot, "key");
    if (rc == 0)
        rc = wb_vault_seal(key, ad, fkey, sizeof(fkey), h->fkey);
    wb_up_ad(ad, wr->account, f->slot, "meta");
    if (rc == 0)
        rc = wb_vault_seal(key, ad, (const uint8_t *)meta, (size_t)mlen, h->meta);
    h->meta_len = WB_VAULT_OVERHEAD + (size_t)mlen;
    sodium_memzero(fkey, sizeof(fkey));
    sodium_memzero(meta, sizeof(meta));
    return rc;
}

/* Inserts the file's row (EXISTS when the slot is taken) and checks the quota with it. */
static wb_upload_rc wb_up_insert(wb_store_upload_writer *wr, const wb_store_upload_file *f,
                                 const wb_up_sealed_head *h)
{
    char acc[24], size[24];
    snprintf(acc, sizeof(acc), "%" PRId64, wr->account);
    snprintf(size, sizeof(size), "%" PRId64, f->size);
    const char *const values[] = {
        acc, f->slot, size, (const char *)h->fkey, (const char *)h->header, (const char *)h->meta};
    const int lengths[] = {0, 0, 0, (int)sizeof(h->fkey), (int)sizeof(h->header), (int)h->meta_len};
    const int formats[] = {0, 0, 0, 1, 1, 1};
    PGresult *res =
        wb_up_exec(wr->pg, wb_up_insert_sql, 6, values, lengths, formats, PGRES_TUPLES_OK);
    if (!res)
        return WB_UPLOAD_ERROR;
    const bool inserted = PQntuples(res) == 1;
    if (inserted)
        wr->id = wb_store_get_int(res, 0, 0);
    PQclear(res);
    if (!inserted)
        return WB_UPLOAD_EXISTS;
    if (f->quota <= 0)
        return WB_UPLOAD_OK;
    const char *const qv[] = {acc};
    res = wb_up_exec(wr->pg, wb_up_used_sql, 1, qv, NULL, NULL, PGRES_TUPLES_OK);
    if (!res)
        return WB_UPLOAD_ERROR;
    const int64_t used = PQntuples(res) == 1 ? wb_store_get_int(res, 0, 0) : 0;
    PQclear(res);
    return used > f->quota ? WB_UPLOAD_QUOTA : WB_UPLOAD_OK;
}

wb_upload_rc wb_store_upload_begin(wb_pg *pg, wb_vault *v, const wb_store_upload_file *f,
                                   wb_store_upload_writer **out)
{
    wb_vault_key *key = NULL;
    wb_up_sealed_head h;
    *out = NULL;
    if (f->size < 0 || strlen(f->slot) > WB_STORE_UPLOAD_SLOT_MAX)
        return WB_UPLOAD_ERROR;
    wb_store_upload_writer *wr = calloc(1, sizeof(*wr));
    if (!wr)
        return WB_UPLOAD_ERROR;
    wr->pg = pg;
    wr->size = f->size;
    wb_upload_rc rc = wb_up_account_key(pg, v, f->node, f->domain, &wr->account, &key);
    if (rc != WB_UPLOAD_OK)
        goto fail;
    rc = WB_UPLOAD_ERROR;
    if (wb_up_seal_head(wr, key, f, &h) < 0 || wb_up_simple(pg, "BEGIN") < 0)
        goto fail;
    rc = wb_up_insert(wr, f, &h);
    if (rc != WB_UPLOAD_OK) {
        wb_up_simple(pg, "ROLLBACK");
        goto fail;
    }
    wb_vault_key_unref(key);
    *out = wr;
    return WB_UPLOAD_OK;
fail:
    if (key)
        wb_vault_key_unref(key);
    wb_up_writer_free(wr);
    return rc;
}

/* ---- reading ---- */

struct wb_store_upload_reader {
    wb_pg *pg;
    int64_t id, size, sent;
    int seq, chunks;
    bool ended;
    crypto_secretstream_xchacha20poly1305_state state;
    char content_type[WB_STORE_UPLOAD_CTYPE_MAX + 1];
    size_t fill, pos;
    uint8_t plain[WB_STORE_UPLOAD_CHUNK];
};

/* Opens the sealed file key and metadata of row 0 and checks the file name; 0 or -1. */
static int wb_up_open_head(wb_store_upload_reader *rd, const wb_vault_key *key, int64_t account,
                           const char *slot, const char *filename, const PGresult *res)
{
    uint8_t fkey[WB_UP_FKEY];
    char ad[WB_UP_AD_MAX], meta[WB_UP_META_MAX + 1];
    const size_t klen = (size_t)PQgetlength(res, 0, 4), hlen = (size_t)PQgetlength(res, 0, 5);
    const size_t mlen = (size_t)PQgetlength(res, 0, 6);
    if (klen != WB_VAULT_OVERHEAD + WB_UP_FKEY || hlen != WB_UP_HEADER ||
        mlen < WB_VAULT_OVERHEAD || mlen > WB_VAULT_OVERHEAD + WB_UP_META_MAX)
        return -1;
    wb_up_ad(ad, account, slot, "key");
    int rc = wb_vault_open_sealed(key, ad, (const uint8_t *)PQgetvalue(res, 0, 4), klen, fkey);
    wb_up_ad(ad, account, slot, "meta");
    if (rc == 0)
        rc = wb_vault_open_sealed(key, ad, (const uint8_t *)PQgetvalue(res, 0, 6), mlen,
                                  (uint8_t *)meta);
    if (rc == 0)
        rc = crypto_secretstream_xchacha20poly1305_init_pull(
            &rd->state, (const uint8_t *)PQgetvalue(res, 0, 5), fkey);
    sodium_memzero(fkey, sizeof(fkey));
    if (rc != 0) {
        wb_error("upload storage: a file of account %" PRId64 " does not open", account);
        return -1;
    }
    meta[mlen - WB_VAULT_OVERHEAD] = '\0';
    char *nl = strchr(meta, '\n');
    rc = nl && strcmp(nl + 1, filename) == 0 ? 0 : 1;
    if (rc == 0 && (size_t)(nl - meta) < sizeof(rd->content_type)) {
        memcpy(rd->content_type, meta, (size_t)(nl - meta));
        rd->content_type[nl - meta] = '\0';
    } else {
        rc = rc ? rc : -1;
    }
    sodium_memzero(meta, sizeof(meta));
    return rc;
}

wb_upload_rc wb_store_upload_open(wb_pg *pg, wb_vault *v, const char *slot, const char *filename,
                                  wb_store_upload_reader **out)
{
    *out = NULL;
    /* One snapshot for the metadata and every chunk (ended by wb_store_upload_close): a file the
     * sweeper expires meanwhile is still served whole, never cut short. */
    if (wb_up_simple(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") < 0)
        return WB_UPLOAD_ERROR;
    const char *const values[] = {slot};
    PGresult *res = wb_up_exec(pg, wb_up_open_sql, 1, values, NULL, NULL, PGRES_TUPLES_OK);
    if (!res) {
        wb_up_simple(pg, "ROLLBACK");
        return WB_UPLOAD_ERROR;
    }
    wb_upload_rc rc = WB_UPLOAD_NOT_FOUND;
    wb_vault_key *key = NULL;
    wb_store_upload_reader *rd = NULL;
    if (PQntuples(res) != 1)
        goto done;
    const int64_t account = wb_store_get_int(res, 0, 1);
    rc = WB_UPLOAD_ERROR;
    key = wb_up_unwrap(v, account, res, 7);
    rd = calloc(1, sizeof(*rd));
    if (!key || !rd)
        goto done;
    rd->pg = pg;
    rd->id = wb_store_get_int(res, 0, 0);
    rd->size = wb_store_get_int(res, 0, 2);
    rd->chunks = (int)wb_store_get_int(res, 0, 3);
    const int opened = wb_up_open_head(rd, key, account, slot, filename, res);
    rc = opened == 0 ? WB_UPLOAD_OK : opened > 0 ? WB_UPLOAD_NOT_FOUND : WB_UPLOAD_ERROR;
done:
    PQclear(res);
    if (key)
        wb_vault_key_unref(key);
    if (rc == WB_UPLOAD_OK) {
        *out = rd;
    } else {
        if (rd)
            rd->pg = NULL; /* the snapshot ends here, not in wb_store_upload_close */
        wb_store_upload_close(rd);
        wb_up_simple(pg, "ROLLBACK");
    }
    return rc;
}

int64_t wb_store_upload_size(const wb_store_upload_reader *rd)
{
    return rd->size;
}

const char *wb_store_upload_content_type(const wb_store_upload_reader *rd)
{
    return rd->content_type;
}

/* Fetches and opens the next chunk into rd->plain; 0 or -1. */
static int wb_up_next_chunk(wb_store_upload_reader *rd)
{
    char id[24], seq[16];
    snprintf(id, sizeof(id), "%" PRId64, rd->id);
    snprintf(seq, sizeof(seq), "%d", rd->seq);
    const char *const values[] = {id, seq};
    PGresult *res = wb_up_exec(rd->pg, wb_up_read_sql, 2, values, NULL, NULL, PGRES_TUPLES_OK);
    if (!res)
        return -1;
    unsigned long long plen = 0;
    unsigned char tag = 0;
    int rc = -1;
    const size_t clen = PQntuples(res) == 1 ? (size_t)PQgetlength(res, 0, 0) : 0;
    if (clen >= crypto_secretstream_xchacha20poly1305_ABYTES && clen <= WB_UP_SEALED)
        rc = crypto_secretstream_xchacha20poly1305_pull(&rd->state, rd->plain, &plen, &tag,
                                                        (const uint8_t *)PQgetvalue(res, 0, 0),
                                                        clen, NULL, 0);
    PQclear(res);
    const bool last = rd->seq + 1 == rd->chunks;
    if (rc != 0 || last != (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)) {
        wb_error("upload storage: chunk %d of file %" PRId64 " is missing or altered", rd->seq,
                 rd->id);
        return -1;
    }
    rd->seq++;
    rd->ended = last;
    rd->fill = (size_t)plen;
    rd->pos = 0;
    return 0;
}

ssize_t wb_store_upload_read(wb_store_upload_reader *rd, void *buf, size_t max)
{
    while (rd->pos == rd->fill) {
        if (rd->ended || rd->seq >= rd->chunks)
            return rd->sent == rd->size ? 0 : -1;
        if (wb_up_next_chunk(rd) < 0)
            return -1;
    }
    size_t n = rd->fill - rd->pos;
    if (n > max)
        n = max;
    if ((int64_t)n > rd->size - rd->sent)
        return -1;
    memcpy(buf, rd->plain + rd->pos, n);
    rd->pos += n;
    rd->sent += (int64_t)n;
    return (ssize_t)n;
}

void wb_store_upload_close(wb_store_upload_reader *rd)
{
    if (!rd)
        return;
    if (rd->pg)
        wb_up_simple(rd->pg, "ROLLBACK"); /* the read-only snapshot of wb_store_upload_open */
    sodium_memzero(rd, sizeof(*rd));
    free(rd);
}
