/* Account data keys: per-store cache (bounded LRU) and fetch-or-create for the async side, and the
 * synchronous creation, master-key rotation and status queries for warblerctl. */
#include "wb_store_keys.h"

#include <event2/event.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_KC_NAME_MAX    (2 * WB_STORE_PART_MAX + 2)
#define WB_KC_SIZE        256 /* cached keys per store (worker) */
#define WB_KC_TTL         300 /* seconds a cached key is trusted before being fetched again */

static const char wb_kc_fetch_sql[] =
    "SELECT a.id, k.wrapped, k.master_id FROM accounts a "
    "LEFT JOIN account_keys k ON k.account_id = a.id WHERE a.domain = $1 AND a.node = $2";
static const char wb_kc_create_sql[] =
    "SELECT wrapped, master_id FROM account_key_put($1::bigint, $2, $3)";

typedef struct wb_kc_waiter {
    struct wb_kc_waiter *next;
    wb_store_req *h; /* the caller's handle: its cb, arg and cancelled flag */
    wb_store_status status;
    wb_vault_key *key; /* referenced; ready list only */
} wb_kc_waiter;

typedef struct wb_kc_fetch {
    struct wb_kc_fetch *next;
    wb_store_keycache *kc;
    int64_t account;
    wb_kc_waiter *head, *tail;
    char name[WB_KC_NAME_MAX + 1]; /* "node@domain" */
} wb_kc_fetch;

typedef struct wb_kc_entry {
    char *name; /* NULL: free slot */
    wb_vault_key *key;
    time_t loaded; /* monotonic seconds */
    uint64_t used;
} wb_kc_entry;

struct wb_store_keycache {
    wb_store *st;
    wb_vault *vault;
    struct event *ready_ev; /* answers from the cache, given from the event loop */
    wb_kc_waiter *ready_head, *ready_tail;
    wb_kc_fetch *fetches; /* one per name being fetched; later requests join it */
    wb_kc_entry entries[WB_KC_SIZE];
    uint64_t clock;
    bool closing;
};

static time_t wb_kc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

wb_store_req *wb_store_handle_new(void (*cb)(void), void *arg)
{
    wb_store_req *h = calloc(1, sizeof(*h));
    if (h != NULL) {
        h->cb = cb;
        h->arg = arg;
    }
    return h;
}

/* Gives one answer (unless cancelled) and frees the waiter and its handle. */
static void wb_kc_answer(wb_kc_waiter *w, wb_store_status status, wb_vault_key *key)
{
    if (!w->h->cancelled) {
        w->h->answered = true;
        ((wb_store_key_cb)w->h->cb)(w->h->arg, status, status == WB_STORE_OK ? key : NULL);
    }
    free(w->h);
    free(w);
}

static void wb_kc_ready_cb(evutil_socket_t fd, short what, void *arg)
{
    wb_store_keycache *kc = arg;
    (void)fd;
    (void)what;
    wb_kc_waiter *w = kc->ready_head;
    kc->ready_head = kc->ready_tail = NULL;
    while (w != NULL) {
        wb_kc_waiter *next = w->next;
        wb_vault_key *key = w->key;
        wb_kc_answer(w, w->status, key);
        wb_vault_key_unref(key);
        w = next;
    }
}

static void wb_kc_ready(wb_store_keycache *kc, wb_kc_waiter *w, wb_store_status status,
                        wb_vault_key *key)
{
    w->status = status;
    w->key = key;
    w->next = NULL;
    if (kc->ready_tail != NULL)
        kc->ready_tail->next = w;
    else
        kc->ready_head = w;
    kc->ready_tail = w;
    event_active(kc->ready_ev, EV_TIMEOUT, 0);
}

/* ---- the cache ---- */

static wb_kc_entry *wb_kc_lookup(wb_store_keycache *kc, const char *name)
{
    for (size_t i = 0; i < WB_KC_SIZE; i++)
        if (kc->entries[i].name != NULL && strcmp(kc->entries[i].name, name) == 0)
            return &kc->entries[i];
    return NULL;
}

static void wb_kc_evict(wb_kc_entry *e)
{
    free(e->name);
    wb_vault_key_unref(e->key);
    memset(e, 0, sizeof(*e));
}

/* A fresh cached key (referenced), or NULL; stale entries are dropped. */
static wb_vault_key *wb_kc_get(wb_store_keycache *kc, const char *name)
{
    wb_kc_entry *e = wb_kc_lookup(kc, name);
    if (e == NULL)
        return NULL;
    if (wb_kc_now() - e->loaded > WB_KC_TTL) {
        wb_kc_evict(e);
        return NULL;
    }
    e->used = ++kc->clock;
    return wb_vault_key_ref(e->key);
}

static void wb_kc_put(wb_store_keycache *kc, const char *name, wb_vault_key *key)
{
    wb_kc_entry *e = wb_kc_lookup(kc, name);
    if (e == NULL) {
        e = &kc->entries[0];
        for (size_t i = 0; i < WB_KC_SIZE && e->name != NULL; i++)
            if (kc->entries[i].name == NULL || kc->entries[i].used < e->used)
                e = &kc->entries[i];
    }
    if (e->name != NULL)
        wb_kc_evict(e);
    e->name = strdup(name);
    if (e->name == NULL)
        return;
    e->key = wb_vault_key_ref(key);
    e->loaded = wb_kc_now();
    e->used = ++kc->clock;
}

static int wb_kc_name(char *out, const char *domain, const char *node)
{
    if (strlen(node) > WB_STORE_PART_MAX || strlen(domain) > WB_STORE_PART_MAX)
        return -1;
    snprintf(out, WB_KC_NAME_MAX + 1, "%s@%s", node, domain);
    return 0;
}

void wb_store_account_key_forget(wb_store *st, const char *domain, const char *node)
{
    char name[WB_KC_NAME_MAX + 1];
    wb_store_keycache *kc = wb_store_keycache_of(st);
    wb_kc_entry *e = NULL;
    if (kc != NULL && wb_kc_name(name, domain, node) == 0 && (e = wb_kc_lookup(kc, name)) != NULL)
        wb_kc_evict(e);
}

/* ---- fetching ---- */

/* Ends a fetch: caches the key, answers every waiter in order, frees the fetch. */
static void wb_kc_finish(wb_kc_fetch *f, wb_store_status status, wb_vault_key *key)
{
    wb_store_keycache *kc = f->kc;
    for (wb_kc_fetch **p = &kc->fetches; *p != NULL; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    if (status == WB_STORE_OK)
        wb_kc_put(kc, f->name, key);
    for (wb_kc_waiter *w = f->head, *next; w != NULL; w = next) {
        next = w->next;
        wb_kc_answer(w, status, key);
    }
    wb_vault_key_unref(key);
    free(f);
}

/* Unwraps the (wrapped, master_id) columns of row 0; logs when the key does not open. */
static void wb_kc_unwrap_row(wb_kc_fetch *f, const PGresult *res, int cw, int cid)
{
    wb_vault_key *key = wb_vault_key_unwrap(
        f->kc->vault, f->account, (const uint8_t *)PQgetvalue(res, 0, cid),
        (size_t)PQgetlength(res, 0, cid), (const uint8_t *)PQgetvalue(res, 0, cw),
        (size_t)PQgetlength(res, 0, cw));
    if (key == NULL)
        wb_error("storage: the data key of account %" PRId64 " does not open with the master "
                 "key (wrong key file, or the row was altered)",
                 f->account);
    wb_kc_finish(f, key != NULL ? WB_STORE_OK : WB_STORE_UNAVAILABLE, key);
}

static void wb_kc_created(wb_store_req *r, const PGresult *res)
{
    wb_kc_fetch *f = r->arg;
    if (res == NULL || !wb_store_result_ok(res, "account key creation"))
        wb_kc_finish(f, WB_STORE_UNAVAILABLE, NULL);
    else if (PQntuples(res) != 1)
        wb_kc_finish(f, WB_STORE_NOT_FOUND, NULL); /* the account went away meanwhile */
    else
        wb_kc_unwrap_row(f, res, 0, 1);
}

/* The account has no key yet: make one and store it unless another worker was first. */
static void wb_kc_create(wb_kc_fetch *f)
{
    uint8_t wrapped[WB_VAULT_WRAPPED_BYTES], id[WB_VAULT_ID_BYTES];
    char acc[24];
    wb_vault_key *k = wb_vault_key_new(f->kc->vault, f->account, wrapped, id);
    if (k == NULL) {
        wb_error("storage: cannot make a data key for account %" PRId64, f->account);
        wb_kc_finish(f, WB_STORE_UNAVAILABLE, NULL);
        return;
    }
    wb_vault_key_unref(k); /* the row that wins is read back and unwrapped */
    snprintf(acc, sizeof(acc), "%" PRId64, f->account);
    const wb_store_param p[] = {WB_SP_TEXT(acc), WB_SP_BIN(wrapped, sizeof(wrapped)),
                                WB_SP_BIN(id, sizeof(id))};
    if (wb_store_submit(f->kc->st, wb_kc_create_sql, p, 3, wb_kc_created, NULL, f) == NULL)
        wb_kc_finish(f, WB_STORE_UNAVAILABLE, NULL);
}

static void wb_kc_fetched(wb_store_req *r, const PGresult *res)
{
    wb_kc_fetch *f = r->arg;
    if (res == NULL || !wb_store_result_ok(res, "account key query")) {
        wb_kc_finish(f, WB_STORE_UNAVAILABLE, NULL);
        return;
    }
    if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) != 8) {
        wb_kc_finish(f, WB_STORE_NOT_FOUND, NULL);
        return;
    }
    f->account = wb_store_get_int(res, 0, 0);
    if (PQgetisnull(res, 0, 1) || PQgetisnull(res, 0, 2))
        wb_kc_create(f);
    else
        wb_kc_unwrap_row(f, res, 1, 2);
}

static wb_kc_fetch *wb_kc_fetching(wb_store_keycache *kc, const char *name)
{
    for (wb_kc_fetch *f = kc->fetches; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static void wb_kc_join(wb_kc_fetch *f, wb_kc_waiter *w)
{
    if (f->tail != NULL)
        f->tail->next = w;
    else
        f->head = w;
    f->tail = w;
}

/* Starts fetching name's key with w as its first waiter; -1 when it could not be queued. */
static int wb_kc_start(wb_store_keycache *kc, const char *name, const char *domain,
                       const char *node, wb_kc_waiter *w)
{
    wb_kc_fetch *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->kc = kc;
    snprintf(f->name, sizeof(f->name), "%s", name);
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
    if (wb_store_submit(kc->st, wb_kc_fetch_sql, p, 2, wb_kc_fetched, NULL, f) == NULL) {
        free(f);
        return -1;
    }
    wb_kc_join(f, w);
    f->next = kc->fetches;
    kc->fetches = f;
    return 0;
}

wb_store_req *wb_store_account_key(wb_store *st, const char *domain, const char *node,
                                   wb_store_key_cb cb, void *arg)
{
    char name[WB_KC_NAME_MAX + 1];
    wb_store_keycache *kc = wb_store_keycache_of(st);
    if (kc == NULL || kc->closing || wb_kc_name(name, domain, node) < 0)
        return NULL;
    wb_kc_waiter *w = calloc(1, sizeof(*w));
    wb_store_req *h = wb_store_handle_new((void (*)(void))cb, arg);
    if (w == NULL || h == NULL)
        goto fail;
    w->h = h;
    wb_kc_fetch *f = wb_kc_fetching(kc, name);
    wb_vault_key *key = NULL;
    if (f != NULL)
        wb_kc_join(f, w); /* answers stay in request order */
    else if (kc->vault == NULL)
        wb_kc_ready(kc, w, WB_STORE_UNAVAILABLE, NULL);
    else if ((key = wb_kc_get(kc, name)) != NULL)
        wb_kc_ready(kc, w, WB_STORE_OK, key);
    else if (wb_kc_start(kc, name, domain, node, w) < 0)
        goto fail;
    return h;
fail:
    free(w);
    free(h);
    return NULL;
}

/* ---- life of the cache ---- */

wb_store_keycache *wb_store_keycache_new(wb_store *st, struct event_base *base, wb_vault *vault)
{
    wb_store_keycache *kc = calloc(1, sizeof(*kc));
    if (kc == NULL)
        return NULL;
    kc->st = st;
    kc->vault = vault;
    kc->ready_ev = event_new(base, -1, 0, wb_kc_ready_cb, kc);
    if (kc->ready_ev == NULL) {
        free(kc);
        return NULL;
    }
    return kc;
}

static void wb_kc_fail_ready(wb_store_keycache *kc)
{
    wb_kc_waiter *w = kc->ready_head;
    kc->ready_head = kc->ready_tail = NULL;
    while (w != NULL) {
        wb_kc_waiter *next = w->next;
        wb_vault_key_unref(w->key);
        wb_kc_answer(w, WB_STORE_UNAVAILABLE, NULL);
        w = next;
    }
}

void wb_store_keycache_close(wb_store_keycache *kc)
{
    if (kc == NULL)
        return;
    kc->closing = true;
    wb_kc_fail_ready(kc);
}

void wb_store_keycache_free(wb_store_keycache *kc)
{
    if (kc == NULL)
        return;
    kc->closing = true;
    wb_kc_fail_ready(kc);
    while (kc->fetches != NULL) /* their queries were dropped with the connection */
        wb_kc_finish(kc->fetches, WB_STORE_UNAVAILABLE, NULL);
    for (size_t i = 0; i < WB_KC_SIZE; i++)
        if (kc->entries[i].name != NULL)
            wb_kc_evict(&kc->entries[i]);
    event_free(kc->ready_ev);
    free(kc);
}

/* ---- synchronous side (warblerctl) ---- */

/* Runs one statement (binary results when binary_out); NULL with err set unless status want. */
static PGresult *wb_keys_exec(PGconn *pg, const char *sql, int n, const char *const *values,
                              const int *lengths, const int *formats, int binary_out,
                              ExecStatusType want, char *err, size_t errsize)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, values, lengths, formats, binary_out);
    if (PQresultStatus(res) != want) {
        const char *msg = PQresultErrorMessage(res);
        if (msg[0] == '\0')
            msg = PQerrorMessage(pg);
        snprintf(err, errsize, "database error: %.*s", (int)strcspn(msg, "\r\n"), msg);
        PQclear(res);
        return NULL;
    }
    return res;
}

int wb_store_account_key_create(wb_pg *pg, wb_vault *v, const char *node, const char *domain,
                                char *err, size_t errsize)
{
    const char *const who[] = {domain, node};
    PGresult *res = wb_keys_exec(pg, "SELECT id FROM accounts WHERE domain = $1 AND node = $2", 2,
                                 who, NULL, NULL, 0, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(err, errsize, "no such account %s@%s", node, domain);
        return -1;
    }
    const int64_t account = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    uint8_t wrapped[WB_VAULT_WRAPPED_BYTES], id[WB_VAULT_ID_BYTES];
    wb_vault_key *k = wb_vault_key_new(v, account, wrapped, id);
    if (k == NULL) {
        snprintf(err, errsize, "cannot make a data key");
        return -1;
    }
    wb_vault_key_unref(k);
    char acc[24];
    snprintf(acc, sizeof(acc), "%" PRId64, account);
    const char *const values[] = {acc, (const char *)wrapped, (const char *)id};
    const int lengths[] = {0, (int)sizeof(wrapped), (int)sizeof(id)};
    const int formats[] = {0, 1, 1};
    res = wb_keys_exec(pg, wb_kc_create_sql, 3, values, lengths, formats, 1, PGRES_TUPLES_OK, err,
                       errsize);
    PQclear(res);
    return res != NULL ? 0 : -1;
}

/* Re-wraps every row of res (account_id, wrapped, master_id) inside the open transaction. */
static int wb_keys_rewrap_rows(PGconn *pg, wb_vault *v, const PGresult *res, char *err,
                               size_t errsize)
{
    uint8_t out[WB_VAULT_WRAPPED_BYTES], next_id[WB_VAULT_ID_BYTES];
    (void)wb_vault_rotating(v, NULL, next_id);
    for (int i = 0; i < PQntuples(res); i++) {
        const int64_t account = wb_store_get_int(res, i, 0);
        if (wb_vault_rewrap(v, account, (const uint8_t *)PQgetvalue(res, i, 2),
                            (size_t)PQgetlength(res, i, 2), (const uint8_t *)PQgetvalue(res, i, 1),
                            (size_t)PQgetlength(res, i, 1), out) < 0) {
            snprintf(err, errsize,
                     "the data key of account %" PRId64 " opens with neither master key", account);
            return -1;
        }
        char acc[24];
        snprintf(acc, sizeof(acc), "%" PRId64, account);
        const char *const values[] = {acc, (const char *)out, (const char *)next_id};
        const int lengths[] = {0, (int)sizeof(out), (int)sizeof(next_id)};
        const int formats[] = {0, 1, 1};
        PGresult *u = wb_keys_exec(pg,
                                   "UPDATE account_keys SET wrapped = $2, master_id = $3, "
                                   "rewrapped_at = now() WHERE account_id = $1::bigint",
                                   3, values, lengths, formats, 0, PGRES_COMMAND_OK, err, errsize);
        if (u == NULL)
            return -1;
        PQclear(u);
    }
    return 0;
}

/* How many keys are left to re-wrap, and how many there are. 0 or -1. */
static int wb_keys_remaining(PGconn *pg, const char *next_hex, int64_t *remaining, int64_t *total,
                             char *err, size_t errsize)
{
    const char *const values[] = {next_hex};
    PGresult *res = wb_keys_exec(pg,
                                 "SELECT count(*) FILTER (WHERE master_id <> decode($1, 'hex')), "
                                 "count(*) FROM account_keys",
                                 1, values, NULL, NULL, 0, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    *remaining = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *total = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return 0;
}

int wb_store_keys_rewrap_batch(wb_pg *pg, wb_vault *v, int batch, int64_t *remaining,
                               int64_t *total, char *err, size_t errsize)
{
    uint8_t next_id[WB_VAULT_ID_BYTES];
    char next_hex[2 * WB_VAULT_ID_BYTES + 1], limit[16];
    if (!wb_vault_rotating(v, NULL, next_id)) {
        snprintf(err, errsize, "no rotation in progress");
        return -1;
    }
    sodium_bin2hex(next_hex, sizeof(next_hex), next_id, sizeof(next_id));
    snprintf(limit, sizeof(limit), "%d", batch);
    const char *const values[] = {next_hex, limit};
    PGresult *res = NULL;
    int n = -1;
    PQclear(PQexec(pg, "BEGIN"));
    res = wb_keys_exec(pg,
                       "SELECT account_id, wrapped, master_id FROM account_keys "
                       "WHERE master_id <> decode($1, 'hex') ORDER BY account_id "
                       "LIMIT $2::int FOR UPDATE",
                       2, values, NULL, NULL, 1, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL || wb_keys_rewrap_rows(pg, v, res, err, errsize) < 0)
        goto done;
    PGresult *c =
        wb_keys_exec(pg, "COMMIT", 0, NULL, NULL, NULL, 0, PGRES_COMMAND_OK, err, errsize);
    if (c == NULL)
        goto done;
    PQclear(c);
    n = PQntuples(res);
    if (wb_keys_remaining(pg, next_hex, remaining, total, err, errsize) < 0)
        n = -1;
done:
    if (n < 0)
        PQclear(PQexec(pg, "ROLLBACK"));
    PQclear(res);
    return n;
}

static void wb_keys_copy(char *out, size_t size, const PGresult *res, int col)
{
    snprintf(out, size, "%s", PQgetisnull(res, 0, col) ? "" : PQgetvalue(res, 0, col));
}

int wb_store_keys_status_get(wb_pg *pg, wb_store_keys_status *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof(*out));
    PGresult *res = wb_keys_exec(
        pg, "SELECT master_id, count(*) FROM account_keys GROUP BY master_id ORDER BY 2 DESC", 0,
        NULL, NULL, NULL, 1, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res) && out->n_ids < WB_STORE_KEYS_IDS_MAX; i++) {
        if (PQgetlength(res, i, 0) != WB_VAULT_ID_BYTES)
            continue;
        memcpy(out->ids[out->n_ids].id, PQgetvalue(res, i, 0), WB_VAULT_ID_BYTES);
        out->ids[out->n_ids++].count = wb_store_get_int(res, i, 1);
    }
    PQclear(res);
    res = wb_keys_exec(
        pg,
        "SELECT count(*), "
        "date_trunc('second', min(created_at))::text || ' (age ' || "
        "justify_interval(date_trunc('second', now() - min(created_at)))::text || ')', "
        "date_trunc('second', max(created_at))::text || ' (age ' || "
        "justify_interval(date_trunc('second', now() - max(created_at)))::text || ')', "
        "date_trunc('second', max(rewrapped_at))::text || ' (age ' || "
        "justify_interval(date_trunc('second', now() - max(rewrapped_at)))::text || ')' "
        "FROM account_keys",
        0, NULL, NULL, NULL, 0, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    out->total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    wb_keys_copy(out->oldest, sizeof(out->oldest), res, 1);
    wb_keys_copy(out->newest, sizeof(out->newest), res, 2);
    wb_keys_copy(out->last_rewrap, sizeof(out->last_rewrap), res, 3);
    PQclear(res);
    return 0;
}
