/* Roster and subscription queries (the SQL functions of 002_roster.sql and 014_seal_metadata.sql)
 * on the asynchronous request core. Item names, groups and pending request texts are sealed with
 * the owner's data key here and nowhere else. Not for protocol decisions (server/modules/). */
#include "wb_store_roster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_store_seal.h"

#define WB_ROSTER_ITEM_MAX   65536 /* plaintext bytes of a sealed name and groups */
#define WB_ROSTER_STATUS_MAX 4096  /* plaintext bytes of a sealed request text */
#define WB_ROSTER_JID_MAX    3071

/* Columns: version, contact, sealed item, state, sealed pending text, account id. */
static const char wb_roster_get_sql[] =
    "SELECT coalesce(v.version, 0)::int8, r.contact, r.item_sealed, "
    "roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved, r.in_roster), "
    "r.pending_sealed, a.id "
    "FROM accounts a LEFT JOIN roster_versions v ON v.account_id = a.id "
    "LEFT JOIN roster_items r ON r.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2 ORDER BY r.contact";

/* What presence needs from a roster: only contacts with a subscription (and, at a session's
 * first presence, pending inbound requests with their texts), without names and groups. */
static const char wb_roster_presence_sql[] =
    "SELECT coalesce(v.version, 0)::int8, r.contact, NULL::bytea, "
    "roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved, r.in_roster), "
    "CASE WHEN $3::text = 't' THEN r.pending_sealed END, a.id "
    "FROM accounts a LEFT JOIN roster_versions v ON v.account_id = a.id "
    "LEFT JOIN roster_items r ON r.account_id = a.id "
    "AND (r.sub_to OR r.sub_from OR ($3::text = 't' AND r.pending_in)) "
    "WHERE a.domain = $1 AND a.node = $2 ORDER BY r.contact";

#define WB_ROSTER_CHANGE_COLS                                                                      \
    "found, coalesce(account, 0)::int8, refused, coalesce(old_state, 0), "                         \
    "coalesce(new_state, 0), push, coalesce(version, 0)::int8, item, status"
#define WB_ROSTER_CHANGE_NCOLS 9

static const char wb_roster_set_sql[] =
    "SELECT " WB_ROSTER_CHANGE_COLS " FROM roster_set($1, $2, $3, $4, $5::int8, $6::int)";
static const char wb_roster_remove_sql[] =
    "SELECT " WB_ROSTER_CHANGE_COLS " FROM roster_remove($1, $2, $3)";
static const char wb_roster_sub_sql[] =
    "SELECT " WB_ROSTER_CHANGE_COLS
    " FROM roster_subscription($1, $2, $3, $4, nullif($5, ''::bytea), $6::int8, $7::int)";
static const char wb_roster_state_sql[] =
    "SELECT roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved, r.in_roster) "
    "FROM roster_items r JOIN accounts a ON a.id = r.account_id "
    "WHERE a.domain = $1 AND a.node = $2 AND r.contact = $3";

static const char *const wb_roster_events[] = {
    "out_subscribe", "out_subscribed", "out_unsubscribe", "out_unsubscribed",
    "in_subscribe",  "in_subscribed",  "in_unsubscribe",  "in_unsubscribed",
};

/* ---- sealed values of a roster row ---- */

/* The associated data naming one sealed column of the row (account, contact). */
static void wb_roster_ad(char *ad, int64_t account, const char *contact, const char *column)
{
    snprintf(ad, WB_STORE_SEAL_AD_MAX, "roster:%" PRId64 ":%s:%s", account, contact, column);
}

/* Seals name (NULL or "": none) and groups as the item's value: name, NUL, groups. */
static int wb_roster_seal_item(const wb_vault_key *key, const char *contact, const char *name,
                               const char *groups, wb_buf *out)
{
    char ad[WB_STORE_SEAL_AD_MAX];
    wb_buf plain;
    wb_buf_init(&plain);
    wb_buf_puts(&plain, name ? name : "");
    wb_buf_append(&plain, "", 1);
    wb_buf_puts(&plain, groups);
    wb_roster_ad(ad, wb_vault_key_account(key), contact, "item");
    const int rc = plain.failed ? -1 : wb_store_seal_value(key, ad, plain.data, plain.len, out);
    const size_t cap = plain.cap;
    wb_store_seal_free(wb_buf_steal(&plain, NULL), cap);
    return rc;
}

/* The opened values of one row, owned until the caller's callback has run. */
typedef struct wb_roster_plain {
    char *item, *status;
    size_t item_len, status_len;
} wb_roster_plain;

static void wb_roster_plain_free(wb_roster_plain *p)
{
    wb_store_seal_free(p->item, p->item_len);
    wb_store_seal_free(p->status, p->status_len);
    memset(p, 0, sizeof(*p));
}

/* Opens the item (column item_col) and pending text (status_col) of a row into it->name,
 * groups, status; a value that does not open is reported and left absent. */
static void wb_roster_open_row(const wb_vault_key *key, const PGresult *res, int row, int item_col,
                               int status_col, wb_roster_item *it, wb_roster_plain *p)
{
    char ad[WB_STORE_SEAL_AD_MAX];
    bool bad;
    const int64_t account = wb_vault_key_account(key);
    it->name = NULL;
    it->groups = "";
    it->status = NULL;
    wb_roster_ad(ad, account, it->jid, "item");
    p->item =
        wb_store_open_value(key, ad, res, row, item_col, WB_ROSTER_ITEM_MAX, &p->item_len, &bad);
    if (bad)
        wb_store_seal_report(account, "roster_items", "item_sealed");
    if (p->item != NULL) {
        const size_t nl = strlen(p->item);
        it->name = nl > 0 ? p->item : NULL;
        it->groups = nl < p->item_len ? p->item + nl + 1 : "";
    }
    wb_roster_ad(ad, account, it->jid, "pending");
    p->status = wb_store_open_value(key, ad, res, row, status_col, WB_ROSTER_STATUS_MAX,
                                    &p->status_len, &bad);
    if (bad)
        wb_store_seal_report(account, "roster_items", "pending_sealed");
    if (p->status != NULL && p->status_len > 0 && strlen(p->status) == p->status_len)
        it->status = p->status;
}

/* ---- roster get and the presence view ---- */

typedef struct wb_roster_get_op {
    wb_store_sealed s; /* first */
    bool presence, with_pending;
} wb_roster_get_op;

static int wb_roster_get_query(wb_store_sealed *s)
{
    const wb_roster_get_op *op = (const wb_roster_get_op *)s;
    if (op->presence) {
        const wb_store_param p[] = {WB_SP_TEXT(s->domain), WB_SP_TEXT(s->node),
                                    WB_SP_TEXT(op->with_pending ? "t" : "f")};
        return wb_store_sealed_submit(s, wb_roster_presence_sql, p, 3);
    }
    const wb_store_param p[] = {WB_SP_TEXT(s->domain), WB_SP_TEXT(s->node)};
    return wb_store_sealed_submit(s, wb_roster_get_sql, p, 2);
}

static void wb_roster_get_fail(wb_store_sealed *s, wb_store_status status)
{
    ((wb_store_roster_cb)s->h->cb)(s->h->arg, status, 0, NULL, 0);
}

/* Answers with every row opened (rows without a contact: the account has none). */
static void wb_roster_get_answer(wb_store_sealed *s, const PGresult *res)
{
    const int rows = PQntuples(res);
    wb_roster_item *items = calloc((size_t)rows, sizeof(*items));
    wb_roster_plain *plain = calloc((size_t)rows, sizeof(*plain));
    if (items == NULL || plain == NULL) {
        free(items);
        free(plain);
        wb_roster_get_fail(s, WB_STORE_UNAVAILABLE);
        return;
    }
    size_t n = 0;
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 1))
            continue;
        items[n].jid = PQgetvalue(res, i, 1);
        items[n].state = (unsigned)wb_store_get_int(res, i, 3);
        wb_roster_open_row(s->key, res, i, 2, 4, &items[n], &plain[n]);
        n++;
    }
    ((wb_store_roster_cb)s->h->cb)(s->h->arg, WB_STORE_OK, wb_store_get_int(res, 0, 0), items, n);
    for (size_t i = 0; i < n; i++)
        wb_roster_plain_free(&plain[i]);
    free(plain);
    free(items);
}

static void wb_roster_get_deliver(wb_store_sealed *s, const PGresult *res)
{
    if (res == NULL || !wb_store_result_ok(res, "roster query") || PQnfields(res) != 6) {
        wb_roster_get_fail(s, WB_STORE_UNAVAILABLE);
        return;
    }
    if (PQntuples(res) == 0) {
        wb_roster_get_fail(s, WB_STORE_NOT_FOUND);
        return;
    }
    if (wb_store_get_int(res, 0, 5) != wb_store_sealed_account(s)) {
        if (wb_store_sealed_stale(s) < 0)
            wb_roster_get_fail(s, WB_STORE_UNAVAILABLE);
        return;
    }
    wb_roster_get_answer(s, res);
}

static const wb_store_sealed_ops wb_roster_get_ops = {
    .query = wb_roster_get_query,
    .deliver = wb_roster_get_deliver,
    .fail = wb_roster_get_fail,
    .release = NULL,
};

static wb_store_req *wb_roster_get_start(wb_store *st, const char *node, const char *domain,
                                         bool presence, bool with_pending, wb_store_roster_cb cb,
                                         void *arg)
{
    wb_roster_get_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->presence = presence;
    op->with_pending = with_pending;
    return wb_store_sealed_start(&op->s, st, node, domain, &wb_roster_get_ops, (void (*)(void))cb,
                                 arg);
}

wb_store_req *wb_store_roster_get(wb_store *st, const char *node, const char *domain,
                                  wb_store_roster_cb cb, void *arg)
{
    return wb_roster_get_start(st, node, domain, false, false, cb, arg);
}

wb_store_req *wb_store_roster_presence(wb_store *st, const char *node, const char *domain,
                                       bool with_pending, wb_store_roster_cb cb, void *arg)
{
    return wb_roster_get_start(st, node, domain, true, with_pending, cb, arg);
}

/* ---- changes: set, subscription events (sealed), remove (nothing sealed) ---- */

/* Reads a change row (WB_ROSTER_CHANGE_COLS); the sealed columns are left to the caller. */
static int wb_roster_change_parse(const PGresult *res, const char *contact, bool *found,
                                  int64_t *account, wb_roster_change *c)
{
    if (PQntuples(res) != 1 || PQnfields(res) != WB_ROSTER_CHANGE_NCOLS)
        return -1;
    memset(c, 0, sizeof(*c));
    *found = wb_store_get_bool(res, 0, 0);
    *account = wb_store_get_int(res, 0, 1);
    c->refused = wb_store_get_bool(res, 0, 2);
    c->old_state = (unsigned)wb_store_get_int(res, 0, 3);
    c->new_state = (unsigned)wb_store_get_int(res, 0, 4);
    c->push = wb_store_get_bool(res, 0, 5);
    c->version = wb_store_get_int(res, 0, 6);
    c->item.jid = contact;
    c->item.groups = "";
    c->item.state = c->new_state;
    return 0;
}

typedef struct wb_roster_change_op {
    wb_store_sealed s; /* first */
    char contact[WB_ROSTER_JID_MAX + 1];
    const char *event; /* NULL: a roster set */
    char *name, *groups, *status;
    int max;
} wb_roster_change_op;

static void wb_roster_change_fail(wb_store_sealed *s, wb_store_status status)
{
    if (s->h->cb != NULL)
        ((wb_store_roster_change_cb)s->h->cb)(s->h->arg, status, NULL);
}

static void wb_roster_change_release(wb_store_sealed *s)
{
    wb_roster_change_op *op = (wb_roster_change_op *)s;
    wb_store_seal_free(op->name, op->name ? strlen(op->name) : 0);
    wb_store_seal_free(op->groups, op->groups ? strlen(op->groups) : 0);
    wb_store_seal_free(op->status, op->status ? strlen(op->status) : 0);
}

/* Seals what the change carries with the current key, then queues it. */
static int wb_roster_change_query(wb_store_sealed *s)
{
    const wb_roster_change_op *op = (const wb_roster_change_op *)s;
    char acc[24], max[16], ad[WB_STORE_SEAL_AD_MAX];
    wb_buf v;
    int rc = -1;
    snprintf(acc, sizeof(acc), "%" PRId64, wb_store_sealed_account(s));
    snprintf(max, sizeof(max), "%d", op->max);
    wb_buf_init(&v);
    if (op->event == NULL) {
        if (wb_roster_seal_item(s->key, op->contact, op->name, op->groups, &v) < 0)
            goto done;
        const wb_store_param p[] = {WB_SP_TEXT(s->domain),   WB_SP_TEXT(s->node),
                                    WB_SP_TEXT(op->contact), WB_SP_BIN(v.data, v.len),
                                    WB_SP_TEXT(acc),         WB_SP_TEXT(max)};
        rc = wb_store_sealed_submit(s, wb_roster_set_sql, p, 6);
        goto done;
    }
    wb_roster_ad(ad, wb_store_sealed_account(s), op->contact, "pending");
    if (op->status != NULL &&
        wb_store_seal_value(s->key, ad, op->status, strlen(op->status), &v) < 0)
        goto done;
    const wb_store_param p[] = {WB_SP_TEXT(s->domain),    WB_SP_TEXT(s->node),
                                WB_SP_TEXT(op->contact),  WB_SP_TEXT(op->event),
                                WB_SP_BIN(v.data, v.len), WB_SP_TEXT(acc),
                                WB_SP_TEXT(max)};
    rc = wb_store_sealed_submit(s, wb_roster_sub_sql, p, 7);
done:
    wb_buf_free(&v);
    return rc;
}

static void wb_roster_change_deliver(wb_store_sealed *s, const PGresult *res)
{
    const wb_roster_change_op *op = (const wb_roster_change_op *)s;
    wb_roster_change c;
    wb_roster_plain plain = {0};
    bool found;
    int64_t account;
    if (res == NULL || !wb_store_result_ok(res, "roster change") ||
        wb_roster_change_parse(res, op->contact, &found, &account, &c) < 0) {
        wb_roster_change_fail(s, WB_STORE_UNAVAILABLE);
        return;
    }
    if (!found) {
        wb_roster_change_fail(s, WB_STORE_NOT_FOUND);
        return;
    }
    if (account != wb_store_sealed_account(s)) {
        if (wb_store_sealed_stale(s) < 0)
            wb_roster_change_fail(s, WB_STORE_UNAVAILABLE);
        return;
    }
    wb_roster_open_row(s->key, res, 0, 7, 8, &c.item, &plain);
    if (s->h->cb != NULL)
        ((wb_store_roster_change_cb)s->h->cb)(s->h->arg, WB_STORE_OK, &c);
    wb_roster_plain_free(&plain);
}

static const wb_store_sealed_ops wb_roster_change_ops = {
    .query = wb_roster_change_query,
    .deliver = wb_roster_change_deliver,
    .fail = wb_roster_change_fail,
    .release = wb_roster_change_release,
};

/* Copies s into *out (NULL stays NULL). -1 when out of memory. */
static int wb_roster_dup(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return 0;
    *out = strdup(s);
    return *out != NULL ? 0 : -1;
}

static wb_store_req *wb_roster_change_start(wb_store *st, const char *node, const char *domain,
                                            const char *contact, const char *event,
                                            const char *name, const char *groups,
                                            const char *status, int max,
                                            wb_store_roster_change_cb cb, void *arg)
{
    if (strlen(contact) > WB_ROSTER_JID_MAX)
        return NULL;
    wb_roster_change_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    memcpy(op->contact, contact, strlen(contact) + 1);
    op->event = event;
    op->max = max;
    op->s.ops = &wb_roster_change_ops;
    if (wb_roster_dup(name && *name ? name : NULL, &op->name) < 0 ||
        wb_roster_dup(groups, &op->groups) < 0 ||
        wb_roster_dup(status && *status ? status : NULL, &op->status) < 0) {
        wb_roster_change_release(&op->s);
        free(op);
        return NULL;
    }
    return wb_store_sealed_start(&op->s, st, node, domain, &wb_roster_change_ops,
                                 (void (*)(void))cb, arg);
}

wb_store_req *wb_store_roster_set(wb_store *st, const char *node, const char *domain,
                                  const char *contact, const char *name, const char *groups,
                                  int max_items, wb_store_roster_change_cb cb, void *arg)
{
    return wb_roster_change_start(st, node, domain, contact, NULL, name, groups ? groups : "", NULL,
                                  max_items, cb, arg);
}

wb_store_req *wb_store_roster_subscription(wb_store *st, const char *node, const char *domain,
                                           const char *contact, wb_roster_event ev,
                                           const char *status, int max_rows,
                                           wb_store_roster_change_cb cb, void *arg)
{
    if ((unsigned)ev >= sizeof(wb_roster_events) / sizeof(wb_roster_events[0]))
        return NULL;
    return wb_roster_change_start(st, node, domain, contact, wb_roster_events[ev], NULL, NULL,
                                  status, max_rows, cb, arg);
}

/* A removal seals nothing and returns no sealed value: one plain query. The contact is kept
 * behind the request's parameters: values[2]. */
static void wb_roster_remove_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_roster_change_cb cb = (wb_store_roster_change_cb)r->cb;
    wb_roster_change c;
    bool found;
    int64_t account;
    if (res == NULL || !wb_store_result_ok(res, "roster change") ||
        wb_roster_change_parse(res, r->values[2], &found, &account, &c) < 0)
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL);
    else if (!found)
        cb(r->arg, WB_STORE_NOT_FOUND, NULL);
    else
        cb(r->arg, WB_STORE_OK, &c);
}

wb_store_req *wb_store_roster_remove(wb_store *st, const char *node, const char *domain,
                                     const char *contact, wb_store_roster_change_cb cb, void *arg)
{
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(contact)};
    return wb_store_submit(st, wb_roster_remove_sql, p, 3, wb_roster_remove_deliver,
                           (void (*)(void))cb, arg);
}

static void wb_roster_state_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_roster_state_cb cb = (wb_store_roster_state_cb)r->cb;
    if (!res || !wb_store_result_ok(res, "roster state query")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, 0);
        return;
    }
    cb(r->arg, WB_STORE_OK, PQntuples(res) == 1 ? (unsigned)wb_store_get_int(res, 0, 0) : 0);
}

wb_store_req *wb_store_roster_state(wb_store *st, const char *node, const char *domain,
                                    const char *contact, wb_store_roster_state_cb cb, void *arg)
{
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(contact)};
    return wb_store_submit(st, wb_roster_state_sql, p, 3, wb_roster_state_deliver,
                           (void (*)(void))cb, arg);
}
