/* Admin API handlers for message retention: the server default (read only: it comes from the
 * configuration file) and per-account and per-conversation seconds, as warblerctl retention. */
#include <stdio.h>
#include <string.h>

#include "wb_admin_int.h"
#include "wb_log.h"
#include "wb_store_retention.h"

/* The account of args[0] and, when with_peer, the conversation's bare JID of args[1]; sets the
 * audit target. False after a 400 reply. */
static bool wb_admin_ret_jids(wb_admin_req *r, bool with_peer, wb_jid *acc, char *peer, size_t size)
{
    wb_jid p;
    const char *a = r->args[0];
    peer[0] = '\0';
    if (wb_jid_parse(acc, a, strlen(a)) < 0 || !wb_jid_has_node(acc) || wb_jid_has_resource(acc)) {
        wb_admin_error(r, 400, "bad_jid", "expected an account JID (user@domain)");
        return false;
    }
    if (!wb_server_serves(r->adm->srv, acc->domain)) {
        wb_admin_error(r, 400, "unknown_domain", "this server does not host %s", acc->domain);
        return false;
    }
    if (with_peer &&
        (wb_jid_parse(&p, r->args[1], strlen(r->args[1])) < 0 || wb_jid_bare(&p, peer, size) < 0)) {
        wb_admin_error(r, 400, "bad_jid", "invalid conversation JID");
        return false;
    }
    snprintf(r->target, sizeof(r->target), "%s@%s%s%s", acc->node, acc->domain,
             peer[0] ? " with " : "", peer);
    return true;
}

/* Maps a storage failure to 404 (no such account), 400 (invalid) or 503. */
static void wb_admin_ret_failed(wb_admin_req *r, const char *err)
{
    if (strncmp(err, "no such account", 15) == 0) {
        wb_admin_error(r, 404, "not_found", "no such account");
    } else if (strncmp(err, "invalid", 7) == 0) {
        wb_admin_error(r, 400, "bad_request", "%s", err);
    } else {
        wb_error("admin: %s", err);
        wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
    }
}

void wb_admin_h_retention_default_get(wb_admin_req *r)
{
    const wb_config *cfg = r->adm->srv->cfg;
    wb_admin_reply(r, 200,
                   json_pack("{s:I, s:s, s:b, s:i, s:i}", "default_seconds",
                             (json_int_t)cfg->retention_default, "source", "config", "writable", 0,
                             "sweep_interval", cfg->retention_sweep_interval, "unit_ms",
                             cfg->retention_unit_ms));
}

void wb_admin_h_retention_default_put(wb_admin_req *r)
{
    snprintf(r->target, sizeof(r->target), "server default");
    wb_admin_error(r, 409, "read_only",
                   "the server default comes from the configuration file (retention.default) "
                   "and cannot be changed at runtime: edit the file and restart");
}

typedef struct wb_admin_ret_list {
    const char *peer; /* the one conversation wanted, NULL for all */
    json_t *account;  /* the account's seconds, or null */
    json_t *convs;    /* [{peer, seconds}] */
} wb_admin_ret_list;

static void wb_admin_ret_add(void *arg, const char *peer, int64_t seconds)
{
    wb_admin_ret_list *l = arg;
    if (peer[0] == '\0') {
        json_decref(l->account);
        l->account = json_integer((json_int_t)seconds);
    } else if (l->peer == NULL || strcmp(l->peer, peer) == 0) {
        json_array_append_new(
            l->convs, json_pack("{s:s, s:I}", "peer", peer, "seconds", (json_int_t)seconds));
    }
}

static void wb_admin_ret_get(wb_admin_req *r, bool with_peer)
{
    wb_jid acc;
    char peer[WB_JID_MAX + 1], jid[WB_SA_JID_MAX], err[512];
    if (!wb_admin_ret_jids(r, with_peer, &acc, peer, sizeof(peer)))
        return;
    wb_admin_ret_list l = {with_peer ? peer : NULL, json_null(), json_array()};
    if (wb_store_retention_list(r->pg, acc.node, acc.domain, wb_admin_ret_add, &l, err,
                                sizeof(err)) < 0) {
        json_decref(l.account);
        json_decref(l.convs);
        wb_admin_ret_failed(r, err);
        return;
    }
    snprintf(jid, sizeof(jid), "%s@%s", acc.node, acc.domain);
    const json_int_t def = (json_int_t)r->adm->srv->cfg->retention_default;
    if (with_peer) {
        json_t *first = json_array_get(l.convs, 0);
        json_t *secs = first != NULL ? json_incref(json_object_get(first, "seconds")) : json_null();
        json_decref(l.convs);
        wb_admin_reply(r, 200,
                       json_pack("{s:s, s:s, s:o, s:o, s:I}", "jid", jid, "peer", peer, "seconds",
                                 secs, "account_seconds", l.account, "default_seconds", def));
        return;
    }
    wb_admin_reply(r, 200,
                   json_pack("{s:s, s:o, s:o, s:I}", "jid", jid, "seconds", l.account,
                             "conversations", l.convs, "default_seconds", def));
}

static void wb_admin_ret_set(wb_admin_req *r, bool with_peer, bool unset)
{
    wb_jid acc;
    char peer[WB_JID_MAX + 1], jid[WB_SA_JID_MAX], err[512];
    if (!wb_admin_ret_jids(r, with_peer, &acc, peer, sizeof(peer)))
        return;
    int64_t seconds = -1;
    if (!unset) {
        const json_t *v = r->in != NULL ? json_object_get(r->in, "seconds") : NULL;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > WB_RETENTION_MAX_SECONDS) {
            wb_admin_error(r, 400, "bad_request",
                           "seconds must be a whole number in 0..%lld (0: kept forever)",
                           (long long)WB_RETENTION_MAX_SECONDS);
            return;
        }
        seconds = (int64_t)json_integer_value(v);
    }
    if (wb_store_retention_set_sync(r->pg, acc.node, acc.domain, peer[0] ? peer : NULL, seconds,
                                    err, sizeof(err)) < 0) {
        wb_admin_ret_failed(r, err);
        return;
    }
    snprintf(jid, sizeof(jid), "%s@%s", acc.node, acc.domain);
    json_t *out = json_pack("{s:s, s:o}", "jid", jid, "seconds",
                            unset ? json_null() : json_integer((json_int_t)seconds));
    if (with_peer)
        json_object_set_new(out, "peer", json_string(peer));
    wb_admin_reply(r, 200, out);
}

void wb_admin_h_retention_account_get(wb_admin_req *r)
{
    wb_admin_ret_get(r, false);
}

void wb_admin_h_retention_account_put(wb_admin_req *r)
{
    wb_admin_ret_set(r, false, false);
}

void wb_admin_h_retention_account_delete(wb_admin_req *r)
{
    wb_admin_ret_set(r, false, true);
}

void wb_admin_h_retention_peer_get(wb_admin_req *r)
{
    wb_admin_ret_get(r, true);
}

void wb_admin_h_retention_peer_put(wb_admin_req *r)
{
    wb_admin_ret_set(r, true, false);
}

void wb_admin_h_retention_peer_delete(wb_admin_req *r)
{
    wb_admin_ret_set(r, true, true);
}
