/* Persistent MUC rooms: per-room data keys (vault-wrapped), sealed room state, and the start-up
 * load. Not for the room state's meaning (server/modules/muc/muc_persist.c). */
#include "wb_store_muc.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_vault.h"

#define WB_MUC_STATE_MAX (4u << 20) /* bytes of one room's state */

struct wb_store_muc_key {
    wb_vault_key *key;
    uint8_t wrapped[WB_VAULT_WRAPPED_BYTES];
    uint8_t master_id[WB_VAULT_ID_BYTES];
};

static const char wb_muc_save_sql[] =
    "INSERT INTO muc_rooms (id, service, node, owner_account, wrapped, master_id, state) "
    "SELECT $1::bigint, $2, $3, a.id, $6, $7, $8 FROM accounts a "
    "WHERE a.domain = $4 AND a.node = $5 "
    "AND (NOT $9::boolean OR EXISTS (SELECT 1 FROM muc_rooms m WHERE m.id = $1::bigint)) "
    "ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()";
static const char wb_muc_exist_sql[] =
    "SELECT id FROM muc_rooms WHERE id = ANY (string_to_array($1, ',')::bigint[])";
static const char wb_muc_list_sql[] =
    "SELECT r.id, r.service, r.node, a.node || '@' || a.domain, "
    "extract(epoch FROM r.created_at)::bigint, extract(epoch FROM r.updated_at)::bigint, "
    "(SELECT count(*) FROM muc_archive x WHERE x.room_id = r.id) "
    "FROM muc_rooms r JOIN accounts a ON a.id = r.owner_account "
    "WHERE ($1 = '' OR (r.service = $1 AND r.node = $2)) ORDER BY r.node, r.service";
static const char wb_muc_delete_sql[] = "DELETE FROM muc_rooms WHERE id = $1::bigint";
static const char wb_muc_load_sql[] =
    "SELECT id, service, node, wrapped, master_id, state FROM muc_rooms ORDER BY id";

wb_store_muc_key *wb_store_muc_key_new(wb_vault *v, int64_t id)
{
    wb_store_muc_key *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->key = wb_vault_key_new(v, -id, k->wrapped, k->master_id);
    if (!k->key) {
        wb_error("storage: cannot make a data key for room %" PRId64, id);
        free(k);
        return NULL;
    }
    return k;
}

void wb_store_muc_key_free(wb_store_muc_key *k)
{
    if (!k)
        return;
    wb_vault_key_unref(k->key);
    free(k);
}

wb_vault_key *wb_store_muc_key_vault(const wb_store_muc_key *k)
{
    return k->key;
}

static void wb_muc_ad(char *ad, size_t size, int64_t id)
{
    snprintf(ad, size, "muc:%" PRId64, id);
}

static void wb_muc_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_muc_cb cb = (wb_store_muc_cb)r->cb;
    wb_store_status status = WB_STORE_OK;
    if (!res || !wb_store_result_ok(res, "muc room"))
        status = WB_STORE_UNAVAILABLE;
    else if (strcmp(PQcmdTuples((PGresult *)res), "0") == 0)
        status = WB_STORE_NOT_FOUND;
    cb(r->arg, status);
}

wb_store_req *wb_store_muc_save(wb_store *st, const wb_store_muc_key *k, int64_t id,
                                const char *service, const char *node, const char *owner_domain,
                                const char *owner_node, bool existing, const uint8_t *state,
                                size_t len, wb_store_muc_cb cb, void *arg)
{
    if (len > WB_MUC_STATE_MAX)
        return NULL;
    uint8_t *sealed = malloc(len + WB_VAULT_OVERHEAD);
    char ad[32], ids[24];
    if (!sealed)
        return NULL;
    wb_muc_ad(ad, sizeof(ad), id);
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    wb_store_req *r = NULL;
    if (wb_vault_seal(k->key, ad, state, len, sealed) == 0) {
        const wb_store_param p[] = {
            WB_SP_TEXT(ids),
            WB_SP_TEXT(service),
            WB_SP_TEXT(node),
            WB_SP_TEXT(owner_domain),
            WB_SP_TEXT(owner_node),
            WB_SP_BIN(k->wrapped, sizeof(k->wrapped)),
            WB_SP_BIN(k->master_id, sizeof(k->master_id)),
            WB_SP_BIN(sealed, len + WB_VAULT_OVERHEAD),
            WB_SP_TEXT(existing ? "true" : "false"),
        };
        r = wb_store_submit(st, wb_muc_save_sql, p, 9, wb_muc_deliver, (void (*)(void))cb, arg);
    }
    free(sealed);
    return r;
}

wb_store_req *wb_store_muc_delete(wb_store *st, int64_t id, wb_store_muc_cb cb, void *arg)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    const wb_store_param p[] = {WB_SP_TEXT(ids)};
    return wb_store_submit(st, wb_muc_delete_sql, p, 1, wb_muc_deliver, (void (*)(void))cb, arg);
}

static void wb_muc_exist_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_muc_exist_cb cb = (wb_store_muc_exist_cb)r->cb;
    if (!res || !wb_store_result_ok(res, "muc rooms")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    const int n = PQntuples(res);
    int64_t *ids = calloc((size_t)n + 1, sizeof(*ids));
    if (!ids) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    for (int i = 0; i < n; i++)
        ids[i] = wb_store_get_int(res, i, 0);
    cb(r->arg, WB_STORE_OK, ids, (size_t)n);
    free(ids);
}

wb_store_req *wb_store_muc_exist(wb_store *st, const int64_t *ids, size_t n,
                                 wb_store_muc_exist_cb cb, void *arg)
{
    if (n > WB_STORE_MUC_EXIST_MAX)
        return NULL;
    char *list = malloc(n * 21 + 1);
    size_t off = 0;
    if (!list)
        return NULL;
    list[0] = '\0';
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(list + off, n * 21 + 1 - off, "%s%" PRId64, i ? "," : "", ids[i]);
    const wb_store_param p[] = {WB_SP_TEXT(list)};
    wb_store_req *r =
        wb_store_submit(st, wb_muc_exist_sql, p, 1, wb_muc_exist_deliver, (void (*)(void))cb, arg);
    free(list);
    return r;
}

int wb_store_muc_list(wb_pg *pg, const char *service, const char *node, wb_store_muc_info_fn fn,
                      void *arg, char *err, size_t errsize)
{
    const char *const values[] = {node ? service : "", node ? node : ""};
    PGresult *res = PQexecParams(pg, wb_muc_list_sql, 2, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        wb_store_reason(err, errsize, PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    const int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        const wb_store_muc_info info = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .service = PQgetvalue(res, i, 1),
            .node = PQgetvalue(res, i, 2),
            .owner = PQgetvalue(res, i, 3),
            .created = strtoll(PQgetvalue(res, i, 4), NULL, 10),
            .updated = strtoll(PQgetvalue(res, i, 5), NULL, 10),
            .archived = strtoll(PQgetvalue(res, i, 6), NULL, 10),
        };
        fn(arg, &info);
    }
    PQclear(res);
    return n;
}

int wb_store_muc_delete_sync(wb_pg *pg, const char *service, const char *node, int64_t *id,
                             char *err, size_t errsize)
{
    const char *const values[] = {service, node};
    PGresult *res = PQexecParams(pg,
                                 "DELETE FROM muc_rooms WHERE service = $1 AND node = $2 "
                                 "RETURNING id",
                                 2, NULL, values, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        rc = PQntuples(res) > 0 ? 1 : 0;
        *id = rc ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    } else {
        wb_store_reason(err, errsize, PQresultErrorMessage(res));
    }
    PQclear(res);
    return rc;
}

/* Opens one row (text format); false when its key or state does not open. */
static bool wb_muc_load_row(wb_vault *v, const PGresult *res, int i, wb_store_muc_room_fn fn,
                            void *arg)
{
    const int64_t id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    size_t wl = 0, ml = 0, sl = 0;
    unsigned char *w = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 3), &wl);
    unsigned char *mid = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 4), &ml);
    unsigned char *s = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 5), &sl);
    wb_store_muc_key *k = calloc(1, sizeof(*k));
    uint8_t *plain = NULL;
    char ad[32];
    bool ok = false;
    if (!w || !mid || !s || !k || wl != sizeof(k->wrapped) || ml != sizeof(k->master_id) ||
        sl < WB_VAULT_OVERHEAD)
        goto done;
    memcpy(k->wrapped, w, wl);
    memcpy(k->master_id, mid, ml);
    k->key = wb_vault_key_unwrap(v, -id, mid, ml, w, wl);
    plain = malloc(sl - WB_VAULT_OVERHEAD + 1);
    wb_muc_ad(ad, sizeof(ad), id);
    if (!k->key || !plain || wb_vault_open_sealed(k->key, ad, s, sl, plain) < 0)
        goto done;
    fn(arg, id, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), k, plain, sl - WB_VAULT_OVERHEAD);
    k = NULL;
    ok = true;
done:
    wb_store_muc_key_free(k);
    free(plain);
    PQfreemem(w);
    PQfreemem(mid);
    PQfreemem(s);
    if (!ok)
        wb_error("storage: room %" PRId64 " does not open with the master key (wrong key file, or "
                 "the row was altered); skipped",
                 id);
    return ok;
}

int wb_store_muc_load(wb_pg *pg, wb_vault *v, wb_store_muc_room_fn fn, void *arg, char *err,
                      size_t errsize)
{
    PGresult *res = PQexec(pg, wb_muc_load_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        wb_store_reason(err, errsize, PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++)
        (void)wb_muc_load_row(v, res, i, fn, arg);
    PQclear(res);
    return 0;
}

/* Re-wraps one room key of res (id, wrapped, master_id) under the next master key. */
static int wb_muc_rewrap_row(PGconn *pg, wb_vault *v, const PGresult *res, int i,
                             const uint8_t next_id[WB_VAULT_ID_BYTES], char *err, size_t errsize)
{
    const int64_t id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    size_t wl = 0, ml = 0;
    unsigned char *w = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 1), &wl);
    unsigned char *mid = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 2), &ml);
    uint8_t out[WB_VAULT_WRAPPED_BYTES];
    int rc = -1;
    if (!w || !mid || wb_vault_rewrap(v, -id, mid, ml, w, wl, out) < 0) {
        snprintf(err, errsize, "the key of room %" PRId64 " opens with neither master key", id);
        goto done;
    }
    char ids[24];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    const char *const values[] = {ids, (const char *)out, (const char *)next_id};
    const int lengths[] = {0, (int)sizeof(out), WB_VAULT_ID_BYTES};
    const int formats[] = {0, 1, 1};
    PGresult *u = PQexecParams(pg,
                               "UPDATE muc_rooms SET wrapped = $2, master_id = $3 "
                               "WHERE id = $1::bigint",
                               3, NULL, values, lengths, formats, 0);
    if (PQresultStatus(u) == PGRES_COMMAND_OK)
        rc = 0;
    else
        wb_store_reason(err, errsize, PQresultErrorMessage(u));
    PQclear(u);
done:
    PQfreemem(w);
    PQfreemem(mid);
    return rc;
}

int wb_store_muc_rewrap(wb_pg *pg, wb_vault *v, char *err, size_t errsize)
{
    uint8_t next_id[WB_VAULT_ID_BYTES];
    char hex[2 * WB_VAULT_ID_BYTES + 1];
    if (!wb_vault_rotating(v, NULL, next_id)) {
        snprintf(err, errsize, "no rotation in progress");
        return -1;
    }
    for (size_t i = 0; i < sizeof(next_id); i++)
        snprintf(hex + 2 * i, 3, "%02x", next_id[i]);
    const char *const values[] = {hex};
    PQclear(PQexec(pg, "BEGIN"));
    PGresult *res = PQexecParams(pg,
                                 "SELECT id, wrapped, master_id FROM muc_rooms "
                                 "WHERE master_id <> decode($1, 'hex') ORDER BY id FOR UPDATE",
                                 1, NULL, values, NULL, NULL, 0);
    int n = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        wb_store_reason(err, errsize, PQresultErrorMessage(res));
        goto done;
    }
    for (int i = 0; i < PQntuples(res); i++)
        if (wb_muc_rewrap_row(pg, v, res, i, next_id, err, errsize) < 0)
            goto done;
    PGresult *c = PQexec(pg, "COMMIT");
    if (PQresultStatus(c) == PGRES_COMMAND_OK)
        n = PQntuples(res);
    else
        wb_store_reason(err, errsize, PQresultErrorMessage(c));
    PQclear(c);
done:
    if (n < 0)
        PQclear(PQexec(pg, "ROLLBACK"));
    PQclear(res);
    return n;
}
