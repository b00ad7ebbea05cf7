/* Admin API handlers for logging in and out, live sessions (list, kick), admin users and server
 * statistics. Not for chat accounts (wb_admin_accounts.c) nor routing (wb_admin_http.c). */
#include <microhttpd.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wb_admin_int.h"
#include "wb_log.h"
#include "wb_xmpp_errors.h"

#define WB_ADMIN_ADMIN_PW_MIN 8
#define WB_ADMIN_PW_MAX       1023

static void wb_admin_unavailable(wb_admin_req *r, const char *err)
{
    wb_error("admin: %s", err);
    wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
}

/* ---- auth ---- */

static void wb_admin_login_failed(wb_admin_req *r, const char *actor, const char *role,
                                  const char *reason)
{
    wb_ratelimit_fail(r->adm->login_limit, r->source);
    wb_admin_audit(r, actor, role, "login", NULL, false, reason);
    wb_admin_error(r, 401, "unauthorized", "invalid username, password or code");
}

void wb_admin_h_login(wb_admin_req *r)
{
    const char *user = wb_admin_str(r, "username"), *pw = wb_admin_str(r, "password");
    const char *totp = wb_admin_str(r, "totp");
    char actor[WB_SA_NAME_MAX + 16], err[256];
    wb_store_admin_login_out out;
    if (user == NULL || pw == NULL || totp == NULL) {
        wb_admin_error(r, 400, "bad_request", "username, password and totp are required");
        return;
    }
    const bool name_ok = wb_store_admin_name_valid(user);
    snprintf(actor, sizeof(actor), "admin:%s", name_ok ? user : "?");
    if (wb_ratelimit_blocked(r->adm->login_limit, r->source)) {
        wb_admin_audit(r, actor, NULL, "login", NULL, false, "rate limited");
        wb_admin_error(r, 429, "rate_limited", "too many failed logins, try again later");
        return;
    }
    if (!name_ok || strlen(pw) > WB_ADMIN_PW_MAX) {
        wb_admin_login_failed(r, actor, NULL, "bad credentials");
        return;
    }
    const wb_sa_rc rc =
        wb_store_admin_login(r->pg, r->adm->srv->vault, user, pw, totp,
                             r->adm->srv->cfg->admin_token_lifetime, &out, err, sizeof(err));
    if (rc == WB_SA_ERROR) {
        wb_admin_unavailable(r, err);
        return;
    }
    if (rc != WB_SA_OK) {
        wb_admin_login_failed(r, actor, out.role[0] ? out.role : NULL,
                              rc == WB_SA_REPLAY ? "TOTP code replayed" : "bad credentials");
        return;
    }
    wb_admin_audit(r, actor, out.role, "login", NULL, true, NULL);
    wb_admin_reply(r, 200,
                   json_pack("{s:s, s:s, s:s}", "token", out.token, "expires_at", out.expires_at,
                             "role", out.role));
    sodium_memzero(out.token, sizeof(out.token));
}

void wb_admin_h_logout(wb_admin_req *r)
{
    char err[256];
    if (r->who.apikey) {
        wb_admin_error(r, 400, "bad_request", "API keys are not logged out");
        return;
    }
    const wb_sa_rc rc = wb_store_admin_token_revoke(r->pg, r->bearer, err, sizeof(err));
    if (rc == WB_SA_ERROR) {
        wb_admin_unavailable(r, err);
        return;
    }
    wb_admin_audit(r, r->actor, r->who.role, "logout", NULL, true, NULL);
    wb_admin_reply(r, 200, json_pack("{s:b}", "revoked", 1));
}

/* ---- sessions ---- */

typedef struct wb_admin_sess_list {
    wb_server *srv;
    json_t *items;
} wb_admin_sess_list;

/* Called under the directory's lock: only notes, no call back into the directory. */
static void wb_admin_add_session(void *arg, const char *bare, const wb_dir_target *t)
{
    wb_admin_sess_list *l = arg;
    wb_admin_session_info info;
    char since[WB_SA_TIME_MAX] = "";
    json_t *s = json_pack("{s:s, s:s, s:i, s:b, s:i}", "jid", bare, "resource", t->resource,
                          "worker", t->worker, "available", t->available, "priority", t->priority);
    if (s != NULL && wb_admin_session_info_get(l->srv, t->sid, &info)) {
        struct tm tm;
        const time_t at = (time_t)info.since;
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&at, &tm));
        json_object_set_new(s, "since", json_string(since));
        json_object_set_new(s, "address", json_string(info.address));
        json_object_set_new(s, "tls", info.tls[0] ? json_string(info.tls) : json_null());
    }
    json_array_append_new(l->items, s);
}

void wb_admin_h_sessions_list(wb_admin_req *r)
{
    json_t *items = json_array();
    wb_admin_sess_list l = {r->adm->srv, items};
    const size_t n = wb_directory_each(r->adm->srv->dir, wb_admin_add_session, &l);
    wb_admin_reply(r, 200, json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)n));
}

void wb_admin_h_session_kick(wb_admin_req *r)
{
    wb_server *srv = r->adm->srv;
    wb_jid j;
    wb_dir_target t;
    snprintf(r->target, sizeof(r->target), "%s/%s", r->args[0], r->args[1]);
    if (wb_jid_parse(&j, r->target, strlen(r->target)) < 0 || !wb_jid_has_node(&j) ||
        !wb_jid_has_resource(&j)) {
        wb_admin_error(r, 400, "bad_jid", "expected an account JID and a resource");
        return;
    }
    if (!wb_directory_find(srv->dir, &j, &t) || t.worker < 0 || t.worker >= srv->n_workers) {
        wb_admin_error(r, 404, "not_found", "no such session");
        return;
    }
    if (wb_worker_post_close(srv->workers[t.worker], t.sid, WB_SE_POLICY_VIOLATION,
                             "Disconnected by an administrator") < 0) {
        wb_admin_error(r, 500, "internal", "the session could not be reached");
        return;
    }
    wb_admin_reply(
        r, 200,
        json_pack("{s:s, s:s, s:b}", "jid", r->args[0], "resource", r->args[1], "kicked", 1));
}

/* ---- admin users ---- */

static void wb_admin_add_admin(void *arg, const wb_store_admin_info *a)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:b, s:s}", "name", a->name, "role", a->role,
                                         "disabled", a->disabled, "created_at", a->created_at));
}

void wb_admin_h_admins_list(wb_admin_req *r)
{
    char err[256];
    json_t *items = json_array();
    if (wb_store_admin_list(r->pg, wb_admin_add_admin, items, err, sizeof(err)) < 0) {
        json_decref(items);
        wb_admin_unavailable(r, err);
        return;
    }
    wb_admin_reply(
        r, 200,
        json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items)));
}

void wb_admin_h_admins_create(wb_admin_req *r)
{
    const char *name = wb_admin_str(r, "name"), *role = wb_admin_str(r, "role");
    const char *pw = wb_admin_str(r, "password");
    char b32[WB_SA_TOTP_B32_MAX], uri[256], err[256];
    if (!wb_store_admin_name_valid(name) || !wb_store_admin_role_valid(role)) {
        wb_admin_error(r, 400, "bad_request",
                       "name ([A-Za-z0-9._-], 1..%d) and role (superadmin, operator, auditor, "
                       "dpo) are required",
                       WB_SA_NAME_MAX);
        return;
    }
    snprintf(r->target, sizeof(r->target), "%s", name);
    if (pw == NULL || strlen(pw) < WB_ADMIN_ADMIN_PW_MIN || strlen(pw) > WB_ADMIN_PW_MAX) {
        wb_admin_error(r, 400, "bad_password", "a password of %d to %d bytes is required",
                       WB_ADMIN_ADMIN_PW_MIN, WB_ADMIN_PW_MAX);
        return;
    }
    const wb_sa_rc rc =
        wb_store_admin_create(r->pg, r->adm->srv->vault, name, role, pw, b32, err, sizeof(err));
    if (rc == WB_SA_EXISTS) {
        wb_admin_error(r, 409, "exists", "admin %s already exists", name);
        return;
    }
    if (rc != WB_SA_OK) {
        wb_admin_unavailable(r, err);
        return;
    }
    snprintf(uri, sizeof(uri), "otpauth://totp/Warbler:%s?secret=%s&issuer=Warbler", name, b32);
    wb_admin_reply(r, 201,
                   json_pack("{s:s, s:s, s:s}", "name", name, "role", role, "totp_uri", uri));
    sodium_memzero(b32, sizeof(b32));
    sodium_memzero(uri, sizeof(uri));
}

void wb_admin_h_admin_delete(wb_admin_req *r)
{
    char err[256];
    snprintf(r->target, sizeof(r->target), "%s", r->args[0]);
    const wb_sa_rc rc = wb_store_admin_delete(r->pg, r->args[0], err, sizeof(err));
    if (rc == WB_SA_NOT_FOUND) {
        wb_admin_error(r, 404, "not_found", "no such admin %s", r->args[0]);
        return;
    }
    if (rc != WB_SA_OK) {
        wb_admin_unavailable(r, err);
        return;
    }
    wb_admin_reply(r, 200, json_pack("{s:s, s:b}", "name", r->args[0], "deleted", 1));
}

/* ---- statistics ---- */

void wb_admin_h_stats(wb_admin_req *r)
{
    const wb_server *srv = r->adm->srv;
    const int64_t accounts = wb_store_admin_account_count(r->pg);
    if (accounts < 0) {
        wb_admin_unavailable(r, "cannot count accounts");
        return;
    }
    wb_admin_reply(r, 200,
                   json_pack("{s:I, s:I, s:I, s:i}", "uptime",
                             (json_int_t)(time(NULL) - srv->started), "sessions",
                             (json_int_t)wb_directory_count(srv->dir), "accounts",
                             (json_int_t)accounts, "workers", srv->n_workers));
}
