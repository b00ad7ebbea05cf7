/* Last activity (XEP-0012) and account existence queries, each one statement that finds the
 * account by (domain, node); the status text is sealed with the owner's data key here. Not for
 * deciding what the client is told (server/modules/last.c). */
#include "wb_store_last.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_store_seal.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_STORE_JID_MAX  3071

static const char wb_store_exists_sql[] = "SELECT 1 FROM accounts WHERE domain = $1 AND node = $2";

/* $3: the contact's bare JID, or '' for the account itself. The contact may see it with a
 * subscription from or both (RFC 6121: it may see the account's presence). */
static const char wb_store_last_get_sql[] =
    "SELECT $3 = '' OR EXISTS (SELECT 1 FROM roster_items r "
    "WHERE r.account_id = a.id AND r.contact = $3 AND r.sub_from), "
    "l.logout_at IS NOT NULL, "
    "coalesce(floor(extract(epoch FROM now() - l.logout_at))::bigint, 0), l.status_sealed, a.id "
    "FROM accounts a LEFT JOIN last_activity l ON l.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2";

/* Writes only if the account is the one the data key belongs to ($4); answers its id. */
static const char wb_store_last_set_sql[] =
    "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "ins AS (INSERT INTO last_activity (account_id, logout_at, status_sealed) "
    "SELECT acc.id, now(), nullif($3, ''::bytea) FROM acc WHERE acc.id = $4::bigint "
    "ON CONFLICT (account_id) DO UPDATE SET logout_at = excluded.logout_at, "
    "status_sealed = excluded.status_sealed RETURNING 1) "
    "SELECT (SELECT id FROM acc), (SELECT count(*) FROM ins)";

static bool wb_store_parts_ok(const char *node, const char *domain)
{
    return strlen(node) <= WB_STORE_PART_MAX && strlen(domain) <= WB_STORE_PART_MAX;
}

static void wb_store_exists_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_exists_cb cb = (wb_store_exists_cb)r->cb;
    if (!res || !wb_store_result_ok(res, "account existence query"))
        cb(r->arg, WB_STORE_UNAVAILABLE);
    else
        cb(r->arg, PQntuples(res) > 0 ? WB_STORE_OK : WB_STORE_NOT_FOUND);
}

wb_store_req *wb_store_account_exists(wb_store *st, const char *node, const char *domain,
                                      wb_store_exists_cb cb, void *arg)
{
    if (!wb_store_parts_ok(node, domain))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
    return wb_store_submit(st, wb_store_exists_sql, p, 2, wb_store_exists_deliver,
                           (void (*)(void))cb, arg);
}

static void wb_store_last_ad(char *ad, int64_t account)
{
    snprintf(ad, WB_STORE_SEAL_AD_MAX, "last:%" PRId64 ":status", account);
}

/* ---- reading ---- */

typedef struct wb_store_last_op {
    wb_store_sealed s; /* first */
    char contact[WB_STORE_JID_MAX + 1];
    char *status; /* set: the text to seal, NULL for none */
} wb_store_last_op;

/* The one row of the last activity query; -1 when it is malformed. A status that does not open
 * is reported and left out. */
static int wb_store_last_parse(const wb_store_sealed *s, const PGresult *res, wb_last_activity *la)
{
    char ad[WB_STORE_SEAL_AD_MAX];
    size_t n;
    bool bad;
    if (PQnfields(res) != 5 || PQgetlength(res, 0, 0) != 1 || PQgetlength(res, 0, 1) != 1 ||
        PQgetlength(res, 0, 2) != 8)
        return -1;
    la->allowed = wb_store_get_bool(res, 0, 0);
    la->known = wb_store_get_bool(res, 0, 1);
    la->seconds = wb_store_get_int(res, 0, 2);
    if (la->seconds < 0)
        la->seconds = 0; /* the database clock went back */
    if (!la->allowed)
        return 0; /* the text is not for this requester: left sealed */
    wb_store_last_ad(ad, wb_store_sealed_account(s));
    char *text = wb_store_open_value(s->key, ad, res, 0, 3, WB_STORE_LAST_STATUS_MAX, &n, &bad);
    if (bad)
        wb_store_seal_report(wb_store_sealed_account(s), "last_activity", "status_sealed");
    if (text != NULL)
        memcpy(la->status, text, n + 1);
    wb_store_seal_free(text, n);
    return 0;
}

static void wb_store_last_get_fail(wb_store_sealed *s, wb_store_status status)
{
    ((wb_store_last_cb)s->h->cb)(s->h->arg, status, NULL);
}

static void wb_store_last_get_deliver(wb_store_sealed *s, const PGresult *res)
{
    wb_last_activity la;
    memset(&la, 0, sizeof(la));
    if (!res || !wb_store_result_ok(res, "last activity query")) {
        wb_store_last_get_fail(s, WB_STORE_UNAVAILABLE);
    } else if (PQntuples(res) == 0) {
        wb_store_last_get_fail(s, WB_STORE_NOT_FOUND);
    } else if (PQnfields(res) != 5 || PQgetlength(res, 0, 4) != 8) {
        wb_warn("storage: malformed last activity in the database");
        wb_store_last_get_fail(s, WB_STORE_UNAVAILABLE);
    } else if (wb_store_get_int(res, 0, 4) != wb_store_sealed_account(s)) {
        if (wb_store_sealed_stale(s) < 0)
            wb_store_last_get_fail(s, WB_STORE_UNAVAILABLE);
    } else if (wb_store_last_parse(s, res, &la) < 0) {
        wb_warn("storage: malformed last activity in the database");
        wb_store_last_get_fail(s, WB_STORE_UNAVAILABLE);
    } else {
        ((wb_store_last_cb)s->h->cb)(s->h->arg, WB_STORE_OK, &la);
    }
    sodium_memzero(la.status, sizeof(la.status)); /* plaintext never lingers */
}

static int wb_store_last_get_query(wb_store_sealed *s)
{
    const wb_store_last_op *op = (const wb_store_last_op *)s;
    const wb_store_param p[] = {WB_SP_TEXT(s->domain), WB_SP_TEXT(s->node),
                                WB_SP_TEXT(op->contact)};
    return wb_store_sealed_submit(s, wb_store_last_get_sql, p, 3);
}

static const wb_store_sealed_ops wb_store_last_get_ops = {
    .query = wb_store_last_get_query,
    .deliver = wb_store_last_get_deliver,
    .fail = wb_store_last_get_fail,
    .release = NULL,
};

wb_store_req *wb_store_last_get(wb_store *st, const char *node, const char *domain,
                                const char *contact, wb_store_last_cb cb, void *arg)
{
    if (!wb_store_parts_ok(node, domain) || (contact && strlen(contact) > WB_STORE_JID_MAX))
        return NULL;
    wb_store_last_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    if (contact)
        memcpy(op->contact, contact, strlen(contact) + 1);
    return wb_store_sealed_start(&op->s, st, node, domain, &wb_store_last_get_ops,
                                 (void (*)(void))cb, arg);
}

/* ---- recording ---- */

static void wb_store_last_set_fail(wb_store_sealed *s, wb_store_status status)
{
    (void)s;
    if (status == WB_STORE_UNAVAILABLE)
        wb_warn("storage: last activity not recorded: database unavailable");
}

static void wb_store_last_set_release(wb_store_sealed *s)
{
    wb_store_last_op *op = (wb_store_last_op *)s;
    wb_store_seal_free(op->status, op->status ? strlen(op->status) : 0);
}

static int wb_store_last_set_query(wb_store_sealed *s)
{
    const wb_store_last_op *op = (const wb_store_last_op *)s;
    char ad[WB_STORE_SEAL_AD_MAX], acc[24];
    wb_buf v;
    int rc = -1;
    wb_buf_init(&v);
    wb_store_last_ad(ad, wb_store_sealed_account(s));
    snprintf(acc, sizeof(acc), "%" PRId64, wb_store_sealed_account(s));
    if (op->status == NULL ||
        wb_store_seal_value(s->key, ad, op->status, strlen(op->status), &v) == 0) {
        const wb_store_param p[] = {WB_SP_TEXT(s->domain), WB_SP_TEXT(s->node),
                                    WB_SP_BIN(v.data, v.len), WB_SP_TEXT(acc)};
        rc = wb_store_sealed_submit(s, wb_store_last_set_sql, p, 4);
    }
    wb_buf_free(&v);
    return rc;
}

static void wb_store_last_set_deliver(wb_store_sealed *s, const PGresult *res)
{
    if (!res) {
        wb_warn("storage: last activity not recorded: database unavailable");
    } else if (!wb_store_result_ok(res, "last activity update") || PQntuples(res) != 1 ||
               PQgetlength(res, 0, 1) != 8) {
        wb_warn("storage: last activity not recorded");
    } else if (!PQgetisnull(res, 0, 0) && wb_store_get_int(res, 0, 1) == 0 &&
               wb_store_sealed_stale(s) < 0) {
        wb_warn("storage: last activity not recorded: the account changed");
    }
}

static const wb_store_sealed_ops wb_store_last_set_ops = {
    .query = wb_store_last_set_query,
    .deliver = wb_store_last_set_deliver,
    .fail = wb_store_last_set_fail,
    .release = wb_store_last_set_release,
};

int wb_store_last_set(wb_store *st, const char *node, const char *domain, const char *status)
{
    if (!status)
        status = "";
    if (!wb_store_parts_ok(node, domain) || strlen(status) > WB_STORE_LAST_STATUS_MAX)
        return -1;
    wb_store_last_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return -1;
    op->s.ops = &wb_store_last_set_ops;
    if (*status && (op->status = strdup(status)) == NULL) {
        free(op);
        return -1;
    }
    return wb_store_sealed_start(&op->s, st, node, domain, &wb_store_last_set_ops, NULL, NULL) ? 0
                                                                                               : -1;
}
