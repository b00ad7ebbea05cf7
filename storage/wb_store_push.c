/* XEP-0357 push registrations: enable (the publish-options form sealed with the owner's data
 * key), disable, and the list read for each notification; one statement each, finding the
 * account by (domain, node). Not for building or sending notifications (server/modules/push.c). */
#include "wb_store_push.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_store_seal.h"

/* Writes only if the account is the one the data key belongs to ($6) and, unless it replaces a
 * registration of the same service and node, while it has fewer than $7. */
static const char wb_store_push_enable_sql[] =
    "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "ins AS (INSERT INTO push_registrations (account_id, service, node, options_sealed) "
    "SELECT acc.id, $3, $4, nullif($5, ''::bytea) FROM acc WHERE acc.id = $6::bigint "
    "AND (SELECT count(*) FROM push_registrations p WHERE p.account_id = acc.id "
    "AND NOT (p.service = $3 AND p.node = $4)) < $7::integer "
    "ON CONFLICT (account_id, service, node) DO UPDATE SET "
    "options_sealed = excluded.options_sealed, enabled_at = now() RETURNING 1) "
    "SELECT (SELECT id FROM acc), (SELECT count(*) FROM ins)";

static const char wb_store_push_disable_sql[] =
    "DELETE FROM push_registrations p USING accounts a WHERE p.account_id = a.id "
    "AND a.domain = $1 AND a.node = $2 AND p.service = $3 AND ($5::boolean OR p.node = $4)";

static const char wb_store_push_list_sql[] =
    "SELECT a.id, p.service, p.node, p.options_sealed FROM accounts a "
    "JOIN push_registrations p ON p.account_id = a.id WHERE a.domain = $1 AND a.node = $2 "
    "ORDER BY p.enabled_at LIMIT 1000";

_Static_assert(WB_STORE_PUSH_LIST_MAX == 1000, "the LIMIT of wb_store_push_list_sql");

typedef struct wb_store_push_op {
    wb_store_sealed s; /* first */
    char service[WB_STORE_PUSH_SERVICE_MAX + 1];
    char pnode[WB_STORE_PUSH_NODE_MAX + 1];
    char *options; /* enable: the form to seal, NULL for none */
    int max;
} wb_store_push_op;

static bool wb_store_push_names_ok(const char *node, const char *domain, const char *service,
                                   const char *pnode)
{
    return strlen(node) <= WB_STORE_SEAL_PART_MAX && strlen(domain) <= WB_STORE_SEAL_PART_MAX &&
           strlen(service) <= WB_STORE_PUSH_SERVICE_MAX &&
           (!pnode || strlen(pnode) <= WB_STORE_PUSH_NODE_MAX);
}

/* Lengths first: no service and node pair reads as another. */
static void wb_store_push_ad(char *ad, int64_t account, const char *service, const char *pnode)
{
    snprintf(ad, WB_STORE_SEAL_AD_MAX, "push:%" PRId64 ":%zu:%s:%zu:%s:options", account,
             strlen(service), service, strlen(pnode), pnode);
}

/* ---- enable ---- */

static void wb_store_push_enable_fail(wb_store_sealed *s, wb_store_status status)
{
    ((wb_store_push_enable_cb)s->h->cb)(s->h->arg, status, false);
}

static void wb_store_push_release(wb_store_sealed *s)
{
    wb_store_push_op *op = (wb_store_push_op *)s;
    wb_store_seal_free(op->options, op->options ? strlen(op->options) : 0);
    op->options = NULL;
}

static int wb_store_push_enable_query(wb_store_sealed *s)
{
    const wb_store_push_op *op = (const wb_store_push_op *)s;
    char ad[WB_STORE_SEAL_AD_MAX], acc[24], max[16];
    wb_buf v;
    int rc = -1;
    wb_buf_init(&v);
    wb_store_push_ad(ad, wb_store_sealed_account(s), op->service, op->pnode);
    snprintf(acc, sizeof(acc), "%" PRId64, wb_store_sealed_account(s));
    snprintf(max, sizeof(max), "%d", op->max);
    if (op->options == NULL ||
        wb_store_seal_value(s->key, ad, op->options, strlen(op->options), &v) == 0) {
        const wb_store_param p[] = {WB_SP_TEXT(s->domain),    WB_SP_TEXT(s->node),
                                    WB_SP_TEXT(op->service),  WB_SP_TEXT(op->pnode),
                                    WB_SP_BIN(v.data, v.len), WB_SP_TEXT(acc),
                                    WB_SP_TEXT(max)};
        rc = wb_store_sealed_submit(s, wb_store_push_enable_sql, p, 7);
    }
    wb_buf_free(&v);
    return rc;
}

static void wb_store_push_enable_deliver(wb_store_sealed *s, const PGresult *res)
{
    if (!res || !wb_store_result_ok(res, "push registration") || PQntuples(res) != 1 ||
        PQnfields(res) != 2 || PQgetlength(res, 0, 1) != 8) {
        wb_store_push_enable_fail(s, WB_STORE_UNAVAILABLE);
    } else if (PQgetisnull(res, 0, 0)) {
        wb_store_push_enable_fail(s, WB_STORE_NOT_FOUND);
    } else if (wb_store_get_int(res, 0, 1) > 0) {
        ((wb_store_push_enable_cb)s->h->cb)(s->h->arg, WB_STORE_OK, false);
    } else if (PQgetlength(res, 0, 0) == 8 &&
               wb_store_get_int(res, 0, 0) != wb_store_sealed_account(s)) {
        if (wb_store_sealed_stale(s) < 0) /* deleted and created again: once more */
            wb_store_push_enable_fail(s, WB_STORE_UNAVAILABLE);
    } else {
        ((wb_store_push_enable_cb)s->h->cb)(s->h->arg, WB_STORE_OK, true);
    }
}

static const wb_store_sealed_ops wb_store_push_enable_ops = {
    .query = wb_store_push_enable_query,
    .deliver = wb_store_push_enable_deliver,
    .fail = wb_store_push_enable_fail,
    .release = wb_store_push_release,
};

wb_store_req *wb_store_push_enable(wb_store *st, const char *node, const char *domain,
                                   const char *service, const char *pnode, const char *options,
                                   int max, wb_store_push_enable_cb cb, void *arg)
{
    if (!wb_store_push_names_ok(node, domain, service, pnode) || !pnode ||
        (options && strlen(options) > WB_STORE_PUSH_OPTIONS_MAX))
        return NULL;
    wb_store_push_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    memcpy(op->service, service, strlen(service) + 1);
    memcpy(op->pnode, pnode, strlen(pnode) + 1);
    op->max = max;
    if (options && *options && (op->options = strdup(options)) == NULL) {
        free(op);
        return NULL;
    }
    op->s.ops = &wb_store_push_enable_ops;
    return wb_store_sealed_start(&op->s, st, node, domain, &wb_store_push_enable_ops,
                                 (void (*)(void))cb, arg);
}

/* ---- disable ---- */

static void wb_store_push_disable_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_push_done_cb cb = (wb_store_push_done_cb)r->cb;
    const bool ok = res && wb_store_result_ok(res, "push registration removal");
    if (cb)
        cb(r->arg, ok ? WB_STORE_OK : WB_STORE_UNAVAILABLE);
    else if (!ok)
        wb_warn("storage: push registration not removed: database unavailable");
}

wb_store_req *wb_store_push_disable(wb_store *st, const char *node, const char *domain,
                                    const char *service, const char *pnode,
                                    wb_store_push_done_cb cb, void *arg)
{
    if (!wb_store_push_names_ok(node, domain, service, pnode))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(service),
                                WB_SP_TEXT(pnode ? pnode : ""), WB_SP_TEXT(pnode ? "f" : "t")};
    return wb_store_submit(st, wb_store_push_disable_sql, p, 5, wb_store_push_disable_deliver,
                           (void (*)(void))cb, arg);
}

/* ---- list ---- */

static void wb_store_push_list_fail(wb_store_sealed *s, wb_store_status status)
{
    ((wb_store_push_list_cb)s->h->cb)(s->h->arg, status, NULL, 0);
}

static int wb_store_push_list_query(wb_store_sealed *s)
{
    const wb_store_param p[] = {WB_SP_TEXT(s->domain), WB_SP_TEXT(s->node)};
    return wb_store_sealed_submit(s, wb_store_push_list_sql, p, 2);
}

/* Opens the rows into regs and forms (n rows); forms[i] is NULL or a plaintext to free. */
static void wb_store_push_open(const wb_store_sealed *s, const PGresult *res, wb_push_reg *regs,
                               char **forms, size_t n)
{
    char ad[WB_STORE_SEAL_AD_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        bool bad = false;
        regs[i].service = PQgetvalue(res, (int)i, 1);
        regs[i].node = PQgetvalue(res, (int)i, 2);
        wb_store_push_ad(ad, wb_store_sealed_account(s), regs[i].service, regs[i].node);
        forms[i] =
            wb_store_open_value(s->key, ad, res, (int)i, 3, WB_STORE_PUSH_OPTIONS_MAX, &len, &bad);
        if (bad)
            wb_store_seal_report(wb_store_sealed_account(s), "push_registrations",
                                 "options_sealed");
        regs[i].options = forms[i] ? forms[i] : "";
    }
}

static void wb_store_push_list_answer(wb_store_sealed *s, const PGresult *res)
{
    const size_t n = (size_t)PQntuples(res);
    wb_push_reg *regs = calloc(n, sizeof(*regs));
    char **forms = calloc(n, sizeof(*forms));
    if (!regs || !forms) {
        free(regs);
        free(forms);
        wb_store_push_list_fail(s, WB_STORE_UNAVAILABLE);
        return;
    }
    wb_store_push_open(s, res, regs, forms, n);
    ((wb_store_push_list_cb)s->h->cb)(s->h->arg, WB_STORE_OK, regs, n);
    for (size_t i = 0; i < n; i++)
        wb_store_seal_free(forms[i], forms[i] ? strlen(forms[i]) : 0);
    free(forms);
    free(regs);
}

static void wb_store_push_list_deliver(wb_store_sealed *s, const PGresult *res)
{
    if (!res || !wb_store_result_ok(res, "push registrations query")) {
        wb_store_push_list_fail(s, WB_STORE_UNAVAILABLE);
    } else if (PQntuples(res) == 0) {
        ((wb_store_push_list_cb)s->h->cb)(s->h->arg, WB_STORE_OK, NULL, 0);
    } else if (PQnfields(res) != 4 || PQgetlength(res, 0, 0) != 8) {
        wb_warn("storage: malformed push registrations in the database");
        wb_store_push_list_fail(s, WB_STORE_UNAVAILABLE);
    } else if (wb_store_get_int(res, 0, 0) != wb_store_sealed_account(s)) {
        if (wb_store_sealed_stale(s) < 0)
            wb_store_push_list_fail(s, WB_STORE_UNAVAILABLE);
    } else {
        wb_store_push_list_answer(s, res);
    }
}

static const wb_store_sealed_ops wb_store_push_list_ops = {
    .query = wb_store_push_list_query,
    .deliver = wb_store_push_list_deliver,
    .fail = wb_store_push_list_fail,
    .release = NULL,
};

wb_store_req *wb_store_push_list(wb_store *st, const char *node, const char *domain,
                                 wb_store_push_list_cb cb, void *arg)
{
    if (strlen(node) > WB_STORE_SEAL_PART_MAX || strlen(domain) > WB_STORE_SEAL_PART_MAX)
        return NULL;
    wb_store_push_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->s.ops = &wb_store_push_list_ops;
    return wb_store_sealed_start(&op->s, st, node, domain, &wb_store_push_list_ops,
                                 (void (*)(void))cb, arg);
}
