/* Last activity (XEP-0012) and account existence queries, each one statement that finds the
 * account by (domain, node). Not for deciding what the client is told (server/modules/last.c). */
#include "wb_store_last.h"

#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_STORE_JID_MAX  3071

static const char wb_store_exists_sql[] = "SELECT 1 FROM accounts WHERE domain = $1 AND node = $2";

/* $3: the contact's bare JID, or '' for the account itself. The contact may see it with a
 * subscription from or both (RFC 6121: it may see the account's presence). */
static const char wb_store_last_get_sql[] =
    "SELECT $3 = '' OR EXISTS (SELECT 1 FROM roster_items r "
    "WHERE r.account_id = a.id AND r.contact = $3 AND r.sub_from), "
    "l.logout_at IS NOT NULL, "
    "coalesce(floor(extract(epoch FROM now() - l.logout_at))::bigint, 0), l.status "
    "FROM accounts a LEFT JOIN last_activity l ON l.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2";

static const char wb_store_last_set_sql[] =
    "INSERT INTO last_activity (account_id, logout_at, status) "
    "SELECT id, now(), nullif($3, '') FROM accounts WHERE domain = $1 AND node = $2 "
    "ON CONFLICT (account_id) DO UPDATE SET logout_at = excluded.logout_at, "
    "status = excluded.status";

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

/* The one row of the last activity query; -1 when it is malformed. */
static int wb_store_last_parse(const PGresult *res, wb_last_activity *la)
{
    if (PQnfields(res) != 4 || PQgetlength(res, 0, 0) != 1 || PQgetlength(res, 0, 1) != 1 ||
        PQgetlength(res, 0, 2) != 8)
        return -1;
    la->allowed = wb_store_get_bool(res, 0, 0);
    la->known = wb_store_get_bool(res, 0, 1);
    la->seconds = wb_store_get_int(res, 0, 2);
    if (la->seconds < 0)
        la->seconds = 0; /* the database clock went back */
    if (!PQgetisnull(res, 0, 3)) {
        const size_t n = (size_t)PQgetlength(res, 0, 3);
        if (n > WB_STORE_LAST_STATUS_MAX)
            return -1;
        memcpy(la->status, PQgetvalue(res, 0, 3), n);
        la->status[n] = '\0';
    }
    return 0;
}

static void wb_store_last_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_last_cb cb = (wb_store_last_cb)r->cb;
    wb_last_activity la;
    memset(&la, 0, sizeof(la));
    if (!res || !wb_store_result_ok(res, "last activity query")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL);
    } else if (PQntuples(res) == 0) {
        cb(r->arg, WB_STORE_NOT_FOUND, NULL);
    } else if (wb_store_last_parse(res, &la) < 0) {
        wb_warn("storage: malformed last activity in the database");
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL);
    } else {
        cb(r->arg, WB_STORE_OK, &la);
    }
}

wb_store_req *wb_store_last_get(wb_store *st, const char *node, const char *domain,
                                const char *contact, wb_store_last_cb cb, void *arg)
{
    if (!wb_store_parts_ok(node, domain) || (contact && strlen(contact) > WB_STORE_JID_MAX))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node),
                                WB_SP_TEXT(contact ? contact : "")};
    return wb_store_submit(st, wb_store_last_get_sql, p, 3, wb_store_last_deliver,
                           (void (*)(void))cb, arg);
}

static void wb_store_last_set_deliver(wb_store_req *r, const PGresult *res)
{
    (void)r;
    if (!res)
        wb_warn("storage: last activity not recorded: database unavailable");
    else if (!wb_store_result_ok(res, "last activity update"))
        wb_warn("storage: last activity not recorded");
}

int wb_store_last_set(wb_store *st, const char *node, const char *domain, const char *status)
{
    if (!status)
        status = "";
    if (!wb_store_parts_ok(node, domain) || strlen(status) > WB_STORE_LAST_STATUS_MAX)
        return -1;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(status)};
    return wb_store_submit(st, wb_store_last_set_sql, p, 3, wb_store_last_set_deliver, NULL, NULL)
               ? 0
               : -1;
}
