/* Admin API handlers for chat accounts: list with search and pages, create, show, delete,
 * disable and enable (closing live sessions), reset password. Not for admin users themselves. */
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_admin_int.h"
#include "wb_control.h"
#include "wb_log.h"
#include "wb_store_keys.h"

#define WB_ADMIN_LIST_DEFAULT 100
#define WB_ADMIN_LIST_MAX     1000
#define WB_ADMIN_PASSWORD_MAX 1023

/* Parses s as an account JID of a served domain into j; false after a 400 reply. */
static bool wb_admin_account_jid(wb_admin_req *r, const char *s, wb_jid *j)
{
    if (s == NULL || wb_jid_parse(j, s, strlen(s)) < 0 || !wb_jid_has_node(j) ||
        wb_jid_has_resource(j)) {
        wb_admin_error(r, 400, "bad_jid", "expected an account JID (user@domain)");
        return false;
    }
    if (!wb_server_serves(r->adm->srv, j->domain)) {
        wb_admin_error(r, 400, "unknown_domain", "this server does not host %s", j->domain);
        return false;
    }
    snprintf(r->target, sizeof(r->target), "%s@%s", j->node, j->domain);
    return true;
}

static void wb_admin_db_failed(wb_admin_req *r, const char *err)
{
    wb_error("admin: %s", err);
    wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
}

/* The account's live sessions (calloc'd, *n of them), or NULL. */
static wb_dir_target *wb_admin_sessions_of(wb_admin_req *r, const wb_jid *j, size_t *n)
{
    wb_server *srv = r->adm->srv;
    const size_t max = srv->cfg->max_resources + 1;
    wb_dir_target *t = calloc(max, sizeof(*t));
    *n = t != NULL ? wb_directory_lookup(srv->dir, j, t, max) : 0;
    return t;
}

static json_t *wb_admin_account_json(const wb_store_admin_account *a)
{
    return json_pack("{s:s, s:b, s:s}", "jid", a->jid, "disabled", a->disabled, "created_at",
                     a->created_at);
}

static void wb_admin_add_account(void *arg, const wb_store_admin_account *a)
{
    json_array_append_new(arg, wb_admin_account_json(a));
}

/* A whole number query argument in [min, max], def when absent; -1 when malformed. */
static long long wb_admin_query_int(const wb_admin_req *r, const char *name, long long def,
                                    long long min, long long max)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    char *end = NULL;
    if (v == NULL || v[0] == '\0')
        return def;
    const long long n = strtoll(v, &end, 10);
    return *end == '\0' && n >= min && n <= max ? n : -1;
}

void wb_admin_h_accounts_list(wb_admin_req *r)
{
    char err[256];
    int64_t total = 0;
    const char *search = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "search");
    const long long limit =
        wb_admin_query_int(r, "limit", WB_ADMIN_LIST_DEFAULT, 1, WB_ADMIN_LIST_MAX);
    const long long offset = wb_admin_query_int(r, "offset", 0, 0, INT64_MAX / 2);
    if (limit < 0 || offset < 0 || (search != NULL && strlen(search) > WB_SA_JID_MAX)) {
        wb_admin_error(r, 400, "bad_request", "limit must be 1..%d, offset 0 or more",
                       WB_ADMIN_LIST_MAX);
        return;
    }
    snprintf(r->target, sizeof(r->target), "search=%s", search ? search : "");
    json_t *items = json_array();
    if (wb_store_admin_account_list(r->pg, search, (int)limit, offset, wb_admin_add_account, items,
                                    &total, err, sizeof(err)) < 0) {
        json_decref(items);
        wb_admin_db_failed(r, err);
        return;
    }
    wb_admin_reply(r, 200,
                   json_pack("{s:o, s:I, s:I, s:I}", "items", items, "total", (json_int_t)total,
                             "limit", (json_int_t)limit, "offset", (json_int_t)offset));
}

void wb_admin_h_accounts_create(wb_admin_req *r)
{
    wb_jid j;
    char err[512];
    wb_store_admin_account a;
    const char *pw = wb_admin_str(r, "password");
    if (!wb_admin_account_jid(r, wb_admin_str(r, "jid"), &j))
        return;
    if (pw == NULL || pw[0] == '\0' || strlen(pw) > WB_ADMIN_PASSWORD_MAX) {
        wb_admin_error(r, 400, "bad_password", "a password of 1 to %d bytes is required",
                       WB_ADMIN_PASSWORD_MAX);
        return;
    }
    const wb_sa_rc rc = wb_store_admin_account_get(r->pg, j.node, j.domain, &a, err, sizeof(err));
    if (rc == WB_SA_OK) {
        wb_admin_error(r, 409, "exists", "account %s already exists", r->target);
        return;
    }
    if (rc != WB_SA_NOT_FOUND ||
        wb_store_account_create(r->pg, j.node, j.domain, pw, r->adm->srv->cfg->scram_iterations,
                                err, sizeof(err)) < 0) {
        wb_admin_db_failed(r, err);
        return;
    }
    if (wb_store_account_key_create(r->pg, r->adm->srv->vault, j.node, j.domain, err, sizeof(err)) <
        0)
        wb_warn("admin: %s; the account's data key will be made on first use", err);
    wb_admin_reply(r, 201, json_pack("{s:s, s:b}", "jid", r->target, "disabled", 0));
}

/* Looks the account up into a; false after a 404 or 503 reply. */
static bool wb_admin_account_load(wb_admin_req *r, wb_jid *j, wb_store_admin_account *a)
{
    char err[256];
    if (!wb_admin_account_jid(r, r->args[0], j))
        return false;
    const wb_sa_rc rc = wb_store_admin_account_get(r->pg, j->node, j->domain, a, err, sizeof(err));
    if (rc == WB_SA_NOT_FOUND)
        wb_admin_error(r, 404, "not_found", "no such account %s", r->target);
    else if (rc != WB_SA_OK)
        wb_admin_db_failed(r, err);
    return rc == WB_SA_OK;
}

void wb_admin_h_account_get(wb_admin_req *r)
{
    wb_jid j;
    wb_store_admin_account a;
    if (!wb_admin_account_load(r, &j, &a))
        return;
    size_t n = 0;
    free(wb_admin_sessions_of(r, &j, &n));
    json_t *body = wb_admin_account_json(&a);
    json_object_set_new(body, "sessions", json_integer((json_int_t)n));
    wb_admin_reply(r, 200, body);
}

void wb_admin_h_account_delete(wb_admin_req *r)
{
    wb_jid j;
    wb_store_admin_account a;
    char err[512];
    if (!wb_admin_account_load(r, &j, &a))
        return;
    if (wb_store_account_delete(r->pg, j.node, j.domain, err, sizeof(err)) < 0) {
        wb_admin_db_failed(r, err);
        return;
    }
    wb_control_close(r->adm->srv, &j, WB_CONTROL_DELETED);
    wb_admin_reply(r, 200, json_pack("{s:s, s:b}", "jid", r->target, "deleted", 1));
}

static void wb_admin_set_disabled(wb_admin_req *r, bool disabled)
{
    wb_jid j;
    char err[256];
    if (!wb_admin_account_jid(r, r->args[0], &j))
        return;
    const wb_sa_rc rc =
        wb_store_admin_account_set_disabled(r->pg, j.node, j.domain, disabled, err, sizeof(err));
    if (rc == WB_SA_NOT_FOUND) {
        wb_admin_error(r, 404, "not_found", "no such account %s", r->target);
        return;
    }
    if (rc != WB_SA_OK) {
        wb_admin_db_failed(r, err);
        return;
    }
    const size_t closed = disabled ? wb_control_close(r->adm->srv, &j, WB_CONTROL_DISABLED) : 0;
    wb_admin_reply(r, 200,
                   json_pack("{s:s, s:b, s:I}", "jid", r->target, "disabled", disabled,
                             "sessions_closed", (json_int_t)closed));
}

void wb_admin_h_account_disable(wb_admin_req *r)
{
    wb_admin_set_disabled(r, true);
}

void wb_admin_h_account_enable(wb_admin_req *r)
{
    wb_admin_set_disabled(r, false);
}

void wb_admin_h_account_password(wb_admin_req *r)
{
    wb_jid j;
    wb_store_admin_account a;
    char err[512];
    const char *pw = wb_admin_str(r, "password");
    if (!wb_admin_account_load(r, &j, &a))
        return;
    if (pw == NULL || pw[0] == '\0' || strlen(pw) > WB_ADMIN_PASSWORD_MAX) {
        wb_admin_error(r, 400, "bad_password", "a password of 1 to %d bytes is required",
                       WB_ADMIN_PASSWORD_MAX);
        return;
    }
    if (wb_store_account_set_password(r->pg, j.node, j.domain, pw,
                                      r->adm->srv->cfg->scram_iterations, err, sizeof(err)) < 0) {
        wb_admin_db_failed(r, err);
        return;
    }
    wb_admin_reply(r, 200, json_pack("{s:s, s:b}", "jid", r->target, "password_changed", 1));
}
