/* Admin API handlers for API keys (list without the keys, revoke) and for disabling and enabling
 * admin users (a disabled admin cannot log in; its tokens stop working). Not for creating them. */
#include <stdio.h>
#include <string.h>

#include "wb_admin_int.h"
#include "wb_log.h"

static void wb_admin_keys_db_failed(wb_admin_req *r, const char *err)
{
    wb_error("admin: %s", err);
    wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
}

static void wb_admin_add_apikey(void *arg, const wb_store_apikey_info *k)
{
    json_array_append_new(
        arg, json_pack("{s:s, s:s, s:s, s:o, s:b, s:o}", "name", k->name, "role", k->role,
                       "created_at", k->created_at, "expires_at",
                       k->expires_at[0] ? json_string(k->expires_at) : json_null(), "expired",
                       k->expired, "last_used_at",
                       k->last_used_at[0] ? json_string(k->last_used_at) : json_null()));
}

void wb_admin_h_apikeys_list(wb_admin_req *r)
{
    char err[256];
    json_t *items = json_array();
    if (wb_store_admin_apikey_list(r->pg, wb_admin_add_apikey, items, err, sizeof(err)) < 0) {
        json_decref(items);
        wb_admin_keys_db_failed(r, err);
        return;
    }
    wb_admin_reply(
        r, 200,
        json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items)));
}

void wb_admin_h_apikey_revoke(wb_admin_req *r)
{
    char err[256];
    const char *name = r->args[0];
    if (!wb_store_admin_name_valid(name)) {
        wb_admin_error(r, 400, "bad_request", "invalid API key name");
        return;
    }
    snprintf(r->target, sizeof(r->target), "%s", name);
    const wb_sa_rc rc = wb_store_admin_apikey_revoke(r->pg, name, err, sizeof(err));
    if (rc == WB_SA_NOT_FOUND) {
        wb_admin_error(r, 404, "not_found", "no such API key %s", name);
        return;
    }
    if (rc != WB_SA_OK) {
        wb_admin_keys_db_failed(r, err);
        return;
    }
    wb_admin_reply(r, 200, json_pack("{s:s, s:b}", "name", name, "revoked", 1));
}

static void wb_admin_admin_set_disabled(wb_admin_req *r, bool disabled)
{
    char err[256];
    const char *name = r->args[0];
    if (!wb_store_admin_name_valid(name)) {
        wb_admin_error(r, 400, "bad_request", "invalid admin name");
        return;
    }
    snprintf(r->target, sizeof(r->target), "%s", name);
    if (disabled && !r->who.apikey && strcmp(r->who.name, name) == 0) {
        wb_admin_error(r, 409, "conflict", "an admin cannot disable itself");
        return;
    }
    const wb_sa_rc rc = wb_store_admin_set_disabled(r->pg, name, disabled, err, sizeof(err));
    if (rc == WB_SA_NOT_FOUND) {
        wb_admin_error(r, 404, "not_found", "no such admin %s", name);
        return;
    }
    if (rc != WB_SA_OK) {
        wb_admin_keys_db_failed(r, err);
        return;
    }
    wb_admin_reply(r, 200, json_pack("{s:s, s:b}", "name", name, "disabled", disabled));
}

void wb_admin_h_admin_disable(wb_admin_req *r)
{
    wb_admin_admin_set_disabled(r, true);
}

void wb_admin_h_admin_enable(wb_admin_req *r)
{
    wb_admin_admin_set_disabled(r, false);
}
