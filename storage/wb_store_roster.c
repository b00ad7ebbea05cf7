/* Roster and subscription queries (the SQL functions of 002_roster.sql) on the asynchronous
 * request core. Not for protocol decisions: callers get states and decide what to send. */
#include "wb_store_roster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"

static const char wb_roster_get_sql[] =
    "SELECT coalesce(v.version, 0)::int8, r.contact, r.name, "
    "array_to_string(r.groups, E'\\x01'), "
    "roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved, r.in_roster), "
    "r.pending_status "
    "FROM accounts a LEFT JOIN roster_versions v ON v.account_id = a.id "
    "LEFT JOIN roster_items r ON r.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2 ORDER BY r.contact";

/* What presence needs from a roster: only contacts with a subscription (and, at a session's
 * first presence, pending inbound requests), without names and groups. */
static const char wb_roster_presence_sql[] =
    "SELECT coalesce(v.version, 0)::int8, r.contact, NULL::text, NULL::text, "
    "roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved, r.in_roster), "
    "r.pending_status "
    "FROM accounts a LEFT JOIN roster_versions v ON v.account_id = a.id "
    "LEFT JOIN roster_items r ON r.account_id = a.id "
    "AND (r.sub_to OR r.sub_from OR ($3::text = 't' AND r.pending_in)) "
    "WHERE a.domain = $1 AND a.node = $2 ORDER BY r.contact";

#define WB_ROSTER_CHANGE_COLS                                                                      \
    "found, refused, coalesce(old_state, 0), coalesce(new_state, 0), push, "                       \
    "coalesce(version, 0)::int8, name, coalesce(groups, ''), status"

static const char wb_roster_set_sql[] =
    "SELECT " WB_ROSTER_CHANGE_COLS " FROM roster_set($1, $2, $3, nullif($4, ''), $5, $6::int)";
static const char wb_roster_remove_sql[] =
    "SELECT " WB_ROSTER_CHANGE_COLS " FROM roster_remove($1, $2, $3)";
static const char wb_roster_sub_sql[] =
    "SELECT " WB_ROSTER_CHANGE_COLS
    " FROM roster_subscription($1, $2, $3, $4, nullif($5, ''), $6::int)";
static const char wb_roster_state_sql[] =
    "SELECT roster_state(r.sub_to, r.sub_from, r.ask, r.pending_in, r.approved, r.in_roster) "
    "FROM roster_items r JOIN accounts a ON a.id = r.account_id "
    "WHERE a.domain = $1 AND a.node = $2 AND r.contact = $3";

static const char *const wb_roster_events[] = {
    "out_subscribe", "out_subscribed", "out_unsubscribe", "out_unsubscribed",
    "in_subscribe",  "in_subscribed",  "in_unsubscribe",  "in_unsubscribed",
};

static const char *wb_roster_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static void wb_roster_get_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_roster_cb cb = (wb_store_roster_cb)r->cb;
    if (!res || !wb_store_result_ok(res, "roster query")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, 0, NULL, 0);
        return;
    }
    const int rows = PQntuples(res);
    if (rows == 0) {
        cb(r->arg, WB_STORE_NOT_FOUND, 0, NULL, 0);
        return;
    }
    wb_roster_item *items = calloc((size_t)rows, sizeof(*items));
    if (!items) {
        cb(r->arg, WB_STORE_UNAVAILABLE, 0, NULL, 0);
        return;
    }
    size_t n = 0;
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 1))
            continue; /* the account without any row */
        items[n].jid = PQgetvalue(res, i, 1);
        items[n].name = wb_roster_text(res, i, 2);
        items[n].groups = PQgetisnull(res, i, 3) ? "" : PQgetvalue(res, i, 3);
        items[n].state = (unsigned)wb_store_get_int(res, i, 4);
        items[n].status = wb_roster_text(res, i, 5);
        n++;
    }
    cb(r->arg, WB_STORE_OK, wb_store_get_int(res, 0, 0), items, n);
    free(items);
}

wb_store_req *wb_store_roster_get(wb_store *st, const char *node, const char *domain,
                                  wb_store_roster_cb cb, void *arg)
{
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
    return wb_store_submit(st, wb_roster_get_sql, p, 2, wb_roster_get_deliver, (void (*)(void))cb,
                           arg);
}

wb_store_req *wb_store_roster_presence(wb_store *st, const char *node, const char *domain,
                                       bool with_pending, wb_store_roster_cb cb, void *arg)
{
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node),
                                WB_SP_TEXT(with_pending ? "t" : "f")};
    return wb_store_submit(st, wb_roster_presence_sql, p, 3, wb_roster_get_deliver,
                           (void (*)(void))cb, arg);
}

/* The contact of a change request is kept behind the request's parameters: values[2]. */
static void wb_roster_change_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_roster_change_cb cb = (wb_store_roster_change_cb)r->cb;
    if (!res || !wb_store_result_ok(res, "roster change") || PQntuples(res) != 1 ||
        PQnfields(res) != 9) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL);
        return;
    }
    if (!wb_store_get_bool(res, 0, 0)) {
        cb(r->arg, WB_STORE_NOT_FOUND, NULL);
        return;
    }
    wb_roster_change c;
    memset(&c, 0, sizeof(c));
    c.refused = wb_store_get_bool(res, 0, 1);
    c.old_state = (unsigned)wb_store_get_int(res, 0, 2);
    c.new_state = (unsigned)wb_store_get_int(res, 0, 3);
    c.push = wb_store_get_bool(res, 0, 4);
    c.version = wb_store_get_int(res, 0, 5);
    c.item.jid = r->values[2];
    c.item.name = wb_roster_text(res, 0, 6);
    c.item.groups = PQgetvalue(res, 0, 7);
    c.item.status = wb_roster_text(res, 0, 8);
    c.item.state = c.new_state;
    cb(r->arg, WB_STORE_OK, &c);
}

wb_store_req *wb_store_roster_set(wb_store *st, const char *node, const char *domain,
                                  const char *contact, const char *name, const char *groups,
                                  int max_items, wb_store_roster_change_cb cb, void *arg)
{
    char max[16];
    snprintf(max, sizeof(max), "%d", max_items);
    const wb_store_param p[] = {WB_SP_TEXT(domain),  WB_SP_TEXT(node),
                                WB_SP_TEXT(contact), WB_SP_TEXT(name ? name : ""),
                                WB_SP_TEXT(groups),  WB_SP_TEXT(max)};
    return wb_store_submit(st, wb_roster_set_sql, p, 6, wb_roster_change_deliver,
                           (void (*)(void))cb, arg);
}

wb_store_req *wb_store_roster_remove(wb_store *st, const char *node, const char *domain,
                                     const char *contact, wb_store_roster_change_cb cb, void *arg)
{
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(contact)};
    return wb_store_submit(st, wb_roster_remove_sql, p, 3, wb_roster_change_deliver,
                           (void (*)(void))cb, arg);
}

wb_store_req *wb_store_roster_subscription(wb_store *st, const char *node, const char *domain,
                                           const char *contact, wb_roster_event ev,
                                           const char *status, int max_rows,
                                           wb_store_roster_change_cb cb, void *arg)
{
    if ((unsigned)ev >= sizeof(wb_roster_events) / sizeof(wb_roster_events[0]))
        return NULL;
    char max[16];
    snprintf(max, sizeof(max), "%d", max_rows);
    const wb_store_param p[] = {WB_SP_TEXT(domain),
                                WB_SP_TEXT(node),
                                WB_SP_TEXT(contact),
                                WB_SP_TEXT(wb_roster_events[ev]),
                                WB_SP_TEXT(status ? status : ""),
                                WB_SP_TEXT(max)};
    return wb_store_submit(st, wb_roster_sub_sql, p, 6, wb_roster_change_deliver,
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
