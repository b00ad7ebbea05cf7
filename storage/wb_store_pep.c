/* Personal eventing storage: nodes, their configuration and items (015_pep.sql). Payloads are
 * sealed with the owner's data key here and nowhere else. Not for access rules (pep.c). */
#include "wb_store_pep.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_store_keys.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_PEP_AD_MAX     (64 + WB_PEP_NODE_MAX + WB_PEP_ID_MAX)

static const char *const wb_pep_access_names[] = {"presence", "open", "roster", "whitelist"};

const char *wb_pep_access_name(wb_pep_access a)
{
    return (unsigned)a < 4 ? wb_pep_access_names[a] : "presence";
}

int wb_pep_access_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, wb_pep_access_names[i]) == 0)
            return i;
    return -1;
}

/* The sealed value's associated data: the owner, the node and the item (lengths keep it
 * unambiguous whatever the names contain). */
static void wb_pep_ad(char *ad, int64_t account, const char *pnode, const char *item)
{
    snprintf(ad, WB_PEP_AD_MAX, "pep:%" PRId64 ":%zu:%s:%s", account, strlen(pnode), pnode, item);
}

/* Reads (access, max_items, persist) from columns col.. of row 0. */
static void wb_pep_read_cfg(const PGresult *res, int col, wb_pep_config *cfg)
{
    char access[16] = "";
    const int n = PQgetlength(res, 0, col);
    if (!PQgetisnull(res, 0, col) && n > 0 && (size_t)n < sizeof(access))
        memcpy(access, PQgetvalue(res, 0, col), (size_t)n);
    const int a = wb_pep_access_parse(access);
    cfg->access = a < 0 ? WB_PEP_PRESENCE : a;
    cfg->max_items = (int)wb_store_get_int(res, 0, col + 1);
    cfg->persist = wb_store_get_bool(res, 0, col + 2) ? 1 : 0;
}

static bool wb_pep_args_ok(const char *node, const char *domain, const char *pnode,
                           const char *item)
{
    return strlen(node) <= WB_STORE_PART_MAX && strlen(domain) <= WB_STORE_PART_MAX &&
           pnode[0] != '\0' && strlen(pnode) <= WB_PEP_NODE_MAX &&
           (item == NULL || (item[0] != '\0' && strlen(item) <= WB_PEP_ID_MAX));
}

/* ---- publish ---- */

static const char wb_pep_publish_sql[] =
    "SELECT code, access, max_items, persist FROM pep_publish($1, $2, $3, NULLIF($4, ''), $5, "
    "NULLIF($6::bigint, 0), NULLIF($7, ''), NULLIF($8::int, 0), "
    "CASE $9::int WHEN 1 THEN true WHEN 0 THEN false END, $10::int)";

typedef struct wb_pep_op {
    wb_store *st;
    wb_store_req *h; /* the caller's handle (callback, argument, cancelled) */
    wb_vault_key *key;
    char domain[WB_STORE_PART_MAX + 1], node[WB_STORE_PART_MAX + 1];
    char pnode[WB_PEP_NODE_MAX + 1], item[WB_PEP_ID_MAX + 1];
    char reader[2 * WB_STORE_PART_MAX + 2];
    char *data; /* publish: a copy of the payload; items: the ids asked for */
    size_t len;
    wb_pep_config opts;
    int max_nodes, max;
    bool retried; /* the cached key was stale once already */
} wb_pep_op;

static wb_pep_op *wb_pep_op_new(wb_store *st, const char *node, const char *domain,
                                const char *pnode, const char *item, void (*cb)(void), void *arg)
{
    if (!wb_pep_args_ok(node, domain, pnode, item))
        return NULL;
    wb_pep_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->h = wb_store_handle_new(cb, arg);
    if (op->h == NULL) {
        free(op);
        return NULL;
    }
    op->st = st;
    snprintf(op->node, sizeof(op->node), "%s", node);
    snprintf(op->domain, sizeof(op->domain), "%s", domain);
    snprintf(op->pnode, sizeof(op->pnode), "%s", pnode);
    snprintf(op->item, sizeof(op->item), "%s", item ? item : "");
    return op;
}

static void wb_pep_op_free(wb_pep_op *op)
{
    wb_vault_key_unref(op->key);
    if (op->data)
        sodium_memzero(op->data, op->len); /* plaintext never lingers in freed memory */
    free(op->data);
    free(op->h);
    free(op);
}

/* The cached key belonged to an earlier account of the same name: forgets it and starts again
 * from the key, once. 0 when restarted. */
static int wb_pep_retry(wb_pep_op *op, wb_store_key_cb keyed)
{
    wb_store_account_key_forget(op->st, op->domain, op->node);
    if (op->retried)
        return -1;
    op->retried = true;
    wb_vault_key_unref(op->key);
    op->key = NULL;
    return wb_store_account_key(op->st, op->domain, op->node, keyed, op) != NULL ? 0 : -1;
}

static void wb_pep_publish_answer(wb_pep_op *op, wb_store_status status, wb_pep_result result,
                                  const wb_pep_config *cfg)
{
    if (!op->h->cancelled)
        ((wb_store_pep_node_cb)op->h->cb)(op->h->arg, status, result, cfg);
    wb_pep_op_free(op);
}

static void wb_pep_publish_keyed(void *arg, wb_store_status status, wb_vault_key *key);

static void wb_pep_publish_deliver(wb_store_req *r, const PGresult *res)
{
    wb_pep_op *op = r->arg;
    static const wb_pep_result codes[] = {WB_PEP_R_OK,           WB_PEP_R_NO_NODE,
                                          WB_PEP_R_PRECONDITION, WB_PEP_R_NODE_LIMIT,
                                          WB_PEP_R_NO_NODE,      WB_PEP_R_EXISTS};
    wb_pep_config cfg = {WB_PEP_PRESENCE, 1, 1};
    if (res == NULL || !wb_store_result_ok(res, "pep publish") || PQntuples(res) != 1 ||
        PQnfields(res) != 4) {
        wb_pep_publish_answer(op, WB_STORE_UNAVAILABLE, WB_PEP_R_OK, &cfg);
        return;
    }
    const int64_t code = wb_store_get_int(res, 0, 0);
    if (code < 0 || code > 5) {
        wb_pep_publish_answer(op, WB_STORE_UNAVAILABLE, WB_PEP_R_OK, &cfg);
        return;
    }
    if (code == 4) { /* the key belongs to an account deleted since */
        if (wb_pep_retry(op, wb_pep_publish_keyed) < 0)
            wb_pep_publish_answer(op, WB_STORE_UNAVAILABLE, WB_PEP_R_OK, &cfg);
        return;
    }
    if (code != 1 && code != 3)
        wb_pep_read_cfg(res, 1, &cfg);
    wb_pep_publish_answer(op, code == 1 ? WB_STORE_NOT_FOUND : WB_STORE_OK, codes[code], &cfg);
}

/* Submits the publish with value (sealed payload, or NULL for a create). */
static wb_store_req *wb_pep_publish_submit(wb_pep_op *op, const uint8_t *value, size_t vlen)
{
    char acc[24], max[16], persist[16], nodes[16];
    snprintf(acc, sizeof(acc), "%" PRId64, op->key ? wb_vault_key_account(op->key) : 0);
    snprintf(max, sizeof(max), "%d", op->opts.max_items > 0 ? op->opts.max_items : 0);
    snprintf(persist, sizeof(persist), "%d", op->opts.persist < 0 ? -1 : op->opts.persist);
    snprintf(nodes, sizeof(nodes), "%d", op->max_nodes);
    const char *access = op->opts.access >= 0 ? wb_pep_access_name(op->opts.access) : "";
    const wb_store_param p[] = {WB_SP_TEXT(op->domain),
                                WB_SP_TEXT(op->node),
                                WB_SP_TEXT(op->pnode),
                                WB_SP_TEXT(op->item),
                                WB_SP_BIN(value ? value : (const uint8_t *)"", vlen),
                                WB_SP_TEXT(acc),
                                WB_SP_TEXT(access),
                                WB_SP_TEXT(max),
                                WB_SP_TEXT(persist),
                                WB_SP_TEXT(nodes)};
    return wb_store_submit(op->st, wb_pep_publish_sql, p, 10, wb_pep_publish_deliver, NULL, op);
}

static void wb_pep_publish_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_pep_op *op = arg;
    char ad[WB_PEP_AD_MAX];
    if (op->h->cancelled || status != WB_STORE_OK) {
        wb_pep_publish_answer(op, status, WB_PEP_R_OK, NULL);
        return;
    }
    op->key = wb_vault_key_ref(key);
    uint8_t *sealed = malloc(op->len + WB_VAULT_OVERHEAD);
    wb_store_req *r = NULL;
    wb_pep_ad(ad, wb_vault_key_account(key), op->pnode, op->item);
    if (sealed != NULL && wb_vault_seal(key, ad, (const uint8_t *)op->data, op->len, sealed) == 0)
        r = wb_pep_publish_submit(op, sealed, op->len + WB_VAULT_OVERHEAD);
    free(sealed);
    if (r == NULL)
        wb_pep_publish_answer(op, WB_STORE_UNAVAILABLE, WB_PEP_R_OK, NULL);
}

wb_store_req *wb_store_pep_publish(wb_store *st, const char *node, const char *domain,
                                   const char *pnode, const char *item_id, const char *payload,
                                   size_t len, const wb_pep_config *opts, int max_nodes,
                                   wb_store_pep_node_cb cb, void *arg)
{
    if (len > WB_PEP_PAYLOAD_MAX)
        return NULL;
    wb_pep_op *op = wb_pep_op_new(st, node, domain, pnode, item_id, (void (*)(void))cb, arg);
    if (op == NULL)
        return NULL;
    op->opts = *opts;
    op->max_nodes = max_nodes;
    wb_store_req *h = op->h;
    if (item_id == NULL) {
        if (wb_pep_publish_submit(op, NULL, 0) == NULL)
            goto fail;
        return h;
    }
    op->data = malloc(len + 1);
    if (op->data == NULL)
        goto fail;
    memcpy(op->data, payload, len);
    op->len = len;
    if (wb_store_account_key(st, domain, node, wb_pep_publish_keyed, op) == NULL)
        goto fail;
    return h;
fail:
    wb_pep_op_free(op);
    return NULL;
}

/* ---- retract, purge, delete, configure (no payload: no key) ---- */

static const char *const wb_pep_remove_sql[] = {
    [WB_PEP_RETRACT] =
        "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
        "nd AS (SELECT p.access_model, p.max_items, p.persist_items FROM pep_nodes p, acc "
        "WHERE p.account_id = acc.id AND p.node = $3), "
        "del AS (DELETE FROM pep_items i USING acc WHERE i.account_id = acc.id AND i.node = $3 "
        "AND i.item_id = $4 RETURNING 1) "
        "SELECT nd.*, (SELECT count(*) FROM del) FROM nd",
    [WB_PEP_PURGE] =
        "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
        "nd AS (SELECT p.access_model, p.max_items, p.persist_items FROM pep_nodes p, acc "
        "WHERE p.account_id = acc.id AND p.node = $3), "
        "del AS (DELETE FROM pep_items i USING acc WHERE i.account_id = acc.id AND i.node = $3 "
        "AND $4 = '' RETURNING 1) "
        "SELECT nd.*, (SELECT count(*) FROM del) FROM nd",
    [WB_PEP_DELETE] =
        "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2) "
        "DELETE FROM pep_nodes p USING acc WHERE p.account_id = acc.id AND p.node = $3 "
        "AND $4 = '' RETURNING p.access_model, p.max_items, p.persist_items, 1::bigint",
};

static void wb_pep_remove_deliver(wb_store_req *r, const PGresult *res)
{
    const wb_store_pep_node_cb cb = (wb_store_pep_node_cb)r->cb;
    wb_pep_config cfg = {WB_PEP_PRESENCE, 1, 1};
    if (res == NULL || !wb_store_result_ok(res, "pep removal") || PQnfields(res) != 4) {
        cb(r->arg, WB_STORE_UNAVAILABLE, WB_PEP_R_OK, NULL);
    } else if (PQntuples(res) == 0) {
        cb(r->arg, WB_STORE_OK, WB_PEP_R_NO_NODE, NULL);
    } else {
        wb_pep_read_cfg(res, 0, &cfg);
        /* Only a retract can find its node but not its target (purge and delete remove all). */
        const bool removed = wb_store_get_int(res, 0, 3) > 0;
        cb(r->arg, WB_STORE_OK,
           removed || r->sql != wb_pep_remove_sql[WB_PEP_RETRACT] ? WB_PEP_R_OK : WB_PEP_R_NO_ITEM,
           &cfg);
    }
}

wb_store_req *wb_store_pep_remove(wb_store *st, const char *node, const char *domain,
                                  const char *pnode, wb_pep_removal what, const char *item_id,
                                  wb_store_pep_node_cb cb, void *arg)
{
    if ((unsigned)what > WB_PEP_DELETE || (what == WB_PEP_RETRACT) != (item_id != NULL) ||
        !wb_pep_args_ok(node, domain, pnode, item_id))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(pnode),
                                WB_SP_TEXT(item_id ? item_id : "")};
    return wb_store_submit(st, wb_pep_remove_sql[what], p, 4, wb_pep_remove_deliver,
                           (void (*)(void))cb, arg);
}

static const char wb_pep_config_get_sql[] =
    "SELECT p.access_model, p.max_items, p.persist_items FROM pep_nodes p JOIN accounts a "
    "ON a.id = p.account_id WHERE a.domain = $1 AND a.node = $2 AND p.node = $3";
static const char wb_pep_config_set_sql[] =
    "SELECT access, max_items, persist FROM pep_configure($1, $2, $3, NULLIF($4, ''), "
    "NULLIF($5::int, 0), CASE $6::int WHEN 1 THEN true WHEN 0 THEN false END) WHERE ok";

static void wb_pep_config_deliver(wb_store_req *r, const PGresult *res)
{
    const wb_store_pep_node_cb cb = (wb_store_pep_node_cb)r->cb;
    wb_pep_config cfg;
    if (res == NULL || !wb_store_result_ok(res, "pep configuration") || PQnfields(res) != 3) {
        cb(r->arg, WB_STORE_UNAVAILABLE, WB_PEP_R_OK, NULL);
    } else if (PQntuples(res) == 0) {
        cb(r->arg, WB_STORE_OK, WB_PEP_R_NO_NODE, NULL);
    } else {
        wb_pep_read_cfg(res, 0, &cfg);
        cb(r->arg, WB_STORE_OK, WB_PEP_R_OK, &cfg);
    }
}

wb_store_req *wb_store_pep_configure(wb_store *st, const char *node, const char *domain,
                                     const char *pnode, const wb_pep_config *set,
                                     wb_store_pep_node_cb cb, void *arg)
{
    char max[16], persist[16];
    if (!wb_pep_args_ok(node, domain, pnode, NULL))
        return NULL;
    if (set == NULL) {
        const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(pnode)};
        return wb_store_submit(st, wb_pep_config_get_sql, p, 3, wb_pep_config_deliver,
                               (void (*)(void))cb, arg);
    }
    snprintf(max, sizeof(max), "%d", set->max_items > 0 ? set->max_items : 0);
    snprintf(persist, sizeof(persist), "%d", set->persist < 0 ? -1 : set->persist);
    const wb_store_param p[] = {
        WB_SP_TEXT(domain), WB_SP_TEXT(node),
        WB_SP_TEXT(pnode),  WB_SP_TEXT(set->access >= 0 ? wb_pep_access_name(set->access) : ""),
        WB_SP_TEXT(max),    WB_SP_TEXT(persist)};
    return wb_store_submit(st, wb_pep_config_set_sql, p, 6, wb_pep_config_deliver,
                           (void (*)(void))cb, arg);
}

/* ---- items ---- */

static const char wb_pep_items_sql[] =
    "SELECT a.id, p.access_model, p.max_items, p.persist_items, "
    "coalesce((SELECT roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved, "
    "r.in_roster) FROM roster_items r WHERE r.account_id = a.id AND r.contact = $4), 0), "
    "i.item_id, i.payload FROM accounts a "
    "LEFT JOIN pep_nodes p ON p.account_id = a.id AND p.node = $3 "
    "LEFT JOIN LATERAL (SELECT item_id, payload, seq FROM pep_items x WHERE x.account_id = a.id "
    "AND x.node = $3 AND ($5 = '' OR x.item_id = ANY (string_to_array($5, E'\\x01'))) "
    "ORDER BY seq DESC LIMIT $6::int) i ON p.node IS NOT NULL "
    "WHERE a.domain = $1 AND a.node = $2 ORDER BY i.seq DESC";

static void wb_pep_items_answer(wb_pep_op *op, wb_store_status status, const wb_pep_items *r)
{
    if (!op->h->cancelled)
        ((wb_store_pep_items_cb)op->h->cb)(op->h->arg, status, r);
    wb_pep_op_free(op);
}

/* Opens every item of res into v[] (payloads in one buffer). -1 when one does not open. */
static int wb_pep_items_open(wb_pep_op *op, const PGresult *res, wb_pep_item *v, size_t *n,
                             char **store)
{
    const int rows = PQntuples(res);
    size_t total = 0;
    for (int i = 0; i < rows; i++)
        total += (size_t)PQgetlength(res, i, 6) + 1;
    *store = malloc(total + 1);
    if (*store == NULL)
        return -1;
    char *p = *store;
    char ad[WB_PEP_AD_MAX];
    *n = 0;
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 5))
            continue;
        const char *id = PQgetvalue(res, i, 5);
        const size_t len = (size_t)PQgetlength(res, i, 6);
        wb_pep_ad(ad, wb_vault_key_account(op->key), op->pnode, id);
        if (len < WB_VAULT_OVERHEAD ||
            wb_vault_open_sealed(op->key, ad, (const uint8_t *)PQgetvalue(res, i, 6), len,
                                 (uint8_t *)p) < 0) {
            wb_error("storage: sealed value does not open (account %" PRId64
                     ", table pep_items): treated as unavailable",
                     wb_vault_key_account(op->key));
            return -1;
        }
        p[len - WB_VAULT_OVERHEAD] = '\0';
        v[(*n)++] = (wb_pep_item){id, p, len - WB_VAULT_OVERHEAD};
        p += len - WB_VAULT_OVERHEAD + 1;
    }
    return 0;
}

static void wb_pep_items_keyed(void *arg, wb_store_status status, wb_vault_key *key);

static void wb_pep_items_deliver(wb_store_req *r, const PGresult *res)
{
    wb_pep_op *op = r->arg;
    wb_pep_items out = {.result = WB_PEP_R_NO_NODE};
    if (res == NULL || !wb_store_result_ok(res, "pep items") || PQnfields(res) != 7) {
        wb_pep_items_answer(op, WB_STORE_UNAVAILABLE, NULL);
        return;
    }
    if (PQntuples(res) == 0) {
        wb_pep_items_answer(op, WB_STORE_NOT_FOUND, NULL);
        return;
    }
    if (wb_store_get_int(res, 0, 0) != wb_vault_key_account(op->key)) {
        if (wb_pep_retry(op, wb_pep_items_keyed) < 0)
            wb_pep_items_answer(op, WB_STORE_UNAVAILABLE, NULL);
        return;
    }
    if (PQgetisnull(res, 0, 1)) {
        wb_pep_items_answer(op, WB_STORE_OK, &out);
        return;
    }
    wb_pep_item *v = calloc((size_t)PQntuples(res), sizeof(*v));
    char *store = NULL;
    if (v == NULL || wb_pep_items_open(op, res, v, &out.n, &store) < 0) {
        wb_pep_items_answer(op, WB_STORE_UNAVAILABLE, NULL);
    } else {
        out.result = WB_PEP_R_OK;
        wb_pep_read_cfg(res, 1, &out.cfg);
        out.reader_state = (unsigned)wb_store_get_int(res, 0, 4);
        out.v = v;
        wb_pep_items_answer(op, WB_STORE_OK, &out);
    }
    size_t total = 0;
    for (size_t i = 0; v && i < out.n; i++)
        total += v[i].len + 1;
    if (store)
        sodium_memzero(store, total);
    free(store);
    free(v);
}

static void wb_pep_items_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_pep_op *op = arg;
    char max[16];
    if (op->h->cancelled || status != WB_STORE_OK) {
        wb_pep_items_answer(op, status, NULL);
        return;
    }
    op->key = wb_vault_key_ref(key);
    snprintf(max, sizeof(max), "%d", op->max);
    const wb_store_param p[] = {WB_SP_TEXT(op->domain), WB_SP_TEXT(op->node), WB_SP_TEXT(op->pnode),
                                WB_SP_TEXT(op->reader), WB_SP_TEXT(op->data), WB_SP_TEXT(max)};
    if (wb_store_submit(op->st, wb_pep_items_sql, p, 6, wb_pep_items_deliver, NULL, op) == NULL)
        wb_pep_items_answer(op, WB_STORE_UNAVAILABLE, NULL);
}

wb_store_req *wb_store_pep_items(wb_store *st, const char *node, const char *domain,
                                 const char *pnode, const char *reader, const char *ids, int max,
                                 wb_store_pep_items_cb cb, void *arg)
{
    if (strlen(reader) >= 2 * WB_STORE_PART_MAX + 2 || max < 1)
        return NULL;
    wb_pep_op *op = wb_pep_op_new(st, node, domain, pnode, NULL, (void (*)(void))cb, arg);
    if (op == NULL)
        return NULL;
    snprintf(op->reader, sizeof(op->reader), "%s", reader);
    op->max = max;
    op->data = strdup(ids);
    wb_store_req *h = op->h;
    if (op->data == NULL ||
        wb_store_account_key(st, domain, node, wb_pep_items_keyed, op) == NULL) {
        wb_pep_op_free(op);
        return NULL;
    }
    op->len = strlen(op->data);
    return h;
}

/* ---- nodes a reader gets the last item of ---- */

static const char wb_pep_readable_sql[] =
    "SELECT a.node, a.domain, p.node FROM accounts a JOIN pep_nodes p ON p.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2 AND ($5 = '' OR (a.node = $5 AND a.domain = $6)) "
    "AND EXISTS (SELECT 1 FROM pep_items i WHERE i.account_id = p.account_id AND i.node = p.node) "
    "UNION ALL "
    "SELECT a.node, a.domain, p.node FROM roster_items r JOIN accounts a ON a.id = r.account_id "
    "JOIN pep_nodes p ON p.account_id = r.account_id "
    "WHERE r.contact = $3 AND r.sub_from AND NOT (a.domain = $1 AND a.node = $2) "
    "AND ($5 = '' OR (a.node = $5 AND a.domain = $6)) "
    "AND (p.access_model IN ('open', 'presence') OR (p.access_model = 'roster' AND r.in_roster)) "
    "AND EXISTS (SELECT 1 FROM pep_items i WHERE i.account_id = p.account_id AND i.node = p.node) "
    "LIMIT $4::int";

static void wb_pep_readable_deliver(wb_store_req *r, const PGresult *res)
{
    const wb_store_pep_readable_cb cb = (wb_store_pep_readable_cb)r->cb;
    if (res == NULL || !wb_store_result_ok(res, "pep readable nodes") || PQnfields(res) != 3) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    const size_t n = (size_t)PQntuples(res);
    wb_pep_readable *v = calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (wb_pep_readable){PQgetvalue(res, (int)i, 0), PQgetvalue(res, (int)i, 1),
                                 PQgetvalue(res, (int)i, 2)};
    cb(r->arg, WB_STORE_OK, v, n);
    free(v);
}

wb_store_req *wb_store_pep_readable(wb_store *st, const char *node, const char *domain,
                                    const char *owner_node, const char *owner_domain, int max,
                                    wb_store_pep_readable_cb cb, void *arg)
{
    char bare[2 * WB_STORE_PART_MAX + 2], lim[16];
    if (strlen(node) > WB_STORE_PART_MAX || strlen(domain) > WB_STORE_PART_MAX ||
        strlen(owner_node) > WB_STORE_PART_MAX || strlen(owner_domain) > WB_STORE_PART_MAX)
        return NULL;
    snprintf(bare, sizeof(bare), "%s@%s", node, domain);
    snprintf(lim, sizeof(lim), "%d", max);
    const wb_store_param p[] = {WB_SP_TEXT(domain),     WB_SP_TEXT(node),
                                WB_SP_TEXT(bare),       WB_SP_TEXT(lim),
                                WB_SP_TEXT(owner_node), WB_SP_TEXT(owner_domain)};
    return wb_store_submit(st, wb_pep_readable_sql, p, 6, wb_pep_readable_deliver,
                           (void (*)(void))cb, arg);
}
