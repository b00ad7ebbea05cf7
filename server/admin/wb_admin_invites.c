/* Admin API handlers for registration invites: list (never a token), create (the token and its
 * registration URI shown once) and revoke, through storage/wb_store_register.c. Not for routing. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_admin_int.h"
#include "wb_log.h"
#include "wb_store_register.h"

#define WB_ADMIN_INVITE_DAYS     7    /* default validity, as warblerctl invite create */
#define WB_ADMIN_INVITE_DAYS_MAX 3650 /* ten years at most */

static void wb_admin_invite_db_failed(wb_admin_req *r, const char *err)
{
    wb_error("admin: %s", err);
    wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
}

static json_t *wb_admin_opt_string(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static void wb_admin_add_invite(void *arg, const wb_store_invite *inv)
{
    json_array_append_new(
        arg,
        json_pack("{s:I, s:s, s:s, s:s, s:b, s:o, s:o, s:b}", "id", (json_int_t)inv->id, "domain",
                  inv->domain, "created_at", inv->created_at, "expires_at", inv->expires_at, "used",
                  inv->used_at != NULL, "used_at", wb_admin_opt_string(inv->used_at), "account",
                  wb_admin_opt_string(inv->used_by), "expired", inv->expired));
}

void wb_admin_h_invites_list(wb_admin_req *r)
{
    char err[256];
    json_t *items = json_array();
    if (wb_store_invite_list(r->pg, wb_admin_add_invite, items, err, sizeof(err)) < 0) {
        json_decref(items);
        wb_admin_invite_db_failed(r, err);
        return;
    }
    wb_admin_reply(
        r, 200,
        json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items)));
}

/* The body's domain (prepared, served here) or the first host's; false after a 400 reply. */
static bool wb_admin_invite_domain(wb_admin_req *r, char *domain)
{
    const wb_config *cfg = r->adm->srv->cfg;
    const char *d = wb_admin_str(r, "domain");
    if (r->in != NULL && json_object_get(r->in, "domain") != NULL && d == NULL) {
        wb_admin_error(r, 400, "bad_request", "domain must be a string");
        return false;
    }
    snprintf(domain, WB_JID_PART_MAX + 1, "%s", cfg->hosts[0].domain);
    if (d != NULL && wb_jid_prep_domain(domain, d, strlen(d)) < 0) {
        wb_admin_error(r, 400, "bad_request", "invalid domain");
        return false;
    }
    if (!wb_server_serves(r->adm->srv, domain)) {
        wb_admin_error(r, 400, "unknown_domain", "this server does not host %s", domain);
        return false;
    }
    return true;
}

/* The body's expires_days in 1..WB_ADMIN_INVITE_DAYS_MAX, the default when absent; -1 after a
 * 400 reply. */
static int wb_admin_invite_days(wb_admin_req *r)
{
    const json_t *v = r->in != NULL ? json_object_get(r->in, "expires_days") : NULL;
    if (v == NULL)
        return WB_ADMIN_INVITE_DAYS;
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > WB_ADMIN_INVITE_DAYS_MAX) {
        wb_admin_error(r, 400, "bad_request", "expires_days must be a whole number in 1..%d",
                       WB_ADMIN_INVITE_DAYS_MAX);
        return -1;
    }
    return (int)json_integer_value(v);
}

void wb_admin_h_invites_create(wb_admin_req *r)
{
    char domain[WB_JID_PART_MAX + 1], token[WB_STORE_INVITE_TOKEN_LEN + 1], err[256];
    char uri[WB_JID_PART_MAX + WB_STORE_INVITE_TOKEN_LEN + 32];
    int64_t id = 0;
    if (!wb_admin_invite_domain(r, domain))
        return;
    const int days = wb_admin_invite_days(r);
    if (days < 0)
        return;
    if (wb_store_invite_create(r->pg, domain, days * 24, token, &id, err, sizeof(err)) < 0) {
        wb_admin_invite_db_failed(r, err);
        return;
    }
    snprintf(r->target, sizeof(r->target), "invite %lld for %s", (long long)id, domain);
    snprintf(uri, sizeof(uri), "xmpp:%s?register;preauth=%s", domain, token);
    wb_admin_reply(r, 201,
                   json_pack("{s:I, s:s, s:s, s:s, s:i}", "id", (json_int_t)id, "domain", domain,
                             "token", token, "uri", uri, "valid_hours", days * 24));
    sodium_memzero(token, sizeof(token));
    sodium_memzero(uri, sizeof(uri));
}

void wb_admin_h_invite_revoke(wb_admin_req *r)
{
    char err[256], *end = NULL;
    const char *s = r->args[0];
    snprintf(r->target, sizeof(r->target), "invite %s", s);
    const long long id = strtoll(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || id <= 0) {
        wb_admin_error(r, 400, "bad_request", "an invite id is a positive whole number");
        return;
    }
    if (wb_store_invite_revoke(r->pg, id, err, sizeof(err)) < 0) {
        if (strncmp(err, "no unused invite", 16) == 0)
            wb_admin_error(r, 404, "not_found", "no unused invite %lld", id);
        else
            wb_admin_invite_db_failed(r, err);
        return;
    }
    wb_admin_reply(r, 200, json_pack("{s:I, s:b}", "id", (json_int_t)id, "revoked", 1));
}
