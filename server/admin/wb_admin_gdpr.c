/* Admin API handlers for GDPR requests (dpo): export (Art. 15/20), erasure with a receipt
 * (Art. 17), rectification of the vCard and roster names (Art. 16), and the request register.
 * The requests run in server/wb_gdpr.c (shared with warblerctl); routing audits them. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_admin_int.h"
#include "wb_control.h"
#include "wb_gdpr.h"
#include "wb_log.h"

#define WB_ADMIN_GDPR_LIST_MAX 1000

/* Parses args[0] as an account of a served domain into q (actor: the caller); false after an
 * error reply. */
static bool wb_admin_gdpr_begin(wb_admin_req *r, wb_gdpr_req *q)
{
    wb_jid *j = &q->jid;
    const char *s = r->args[0];
    memset(q, 0, sizeof(*q));
    q->actor = r->actor;
    if (wb_jid_parse(j, s, strlen(s)) < 0 || !wb_jid_has_node(j) || wb_jid_has_resource(j)) {
        wb_admin_error(r, 400, "bad_jid", "expected an account JID (user@domain)");
        return false;
    }
    snprintf(r->target, sizeof(r->target), "%s@%s", j->node, j->domain);
    if (!wb_server_serves(r->adm->srv, j->domain)) {
        wb_admin_error(r, 400, "unknown_domain", "this server does not host %s", j->domain);
        return false;
    }
    return true;
}

/* The error reply of a request that did not complete; true when rc is OK. */
static bool wb_admin_gdpr_ok(wb_admin_req *r, wb_gdpr_rc rc)
{
    if (rc == WB_GDPR_NOT_FOUND)
        wb_admin_error(r, 404, "not_found", "no such account or item");
    else if (rc == WB_GDPR_TOO_LARGE)
        wb_admin_error(r, 413, "too_large",
                       "the export exceeds %u bytes; ask the operator for an offline export",
                       WB_GDPR_EXPORT_MAX);
    else if (rc == WB_GDPR_ERROR)
        wb_admin_error(r, 503, "unavailable", "the request failed, try again");
    return rc == WB_GDPR_OK;
}

void wb_admin_h_gdpr_export(wb_admin_req *r)
{
    wb_gdpr_req q;
    json_t *doc = NULL;
    char err[256] = "";
    if (wb_admin_gdpr_begin(r, &q) &&
        wb_admin_gdpr_ok(r, wb_gdpr_export(r->pg, r->adm->srv->vault, &q, &doc, err, sizeof(err))))
        wb_admin_reply(r, 200, doc);
}

void wb_admin_h_gdpr_erase(wb_admin_req *r)
{
    wb_gdpr_req q;
    json_t *receipt = NULL;
    char err[256] = "";
    if (!wb_admin_gdpr_begin(r, &q) ||
        !wb_admin_gdpr_ok(r, wb_gdpr_erase(r->pg, &q, &receipt, err, sizeof(err))))
        return;
    wb_control_close(r->adm->srv, &q.jid, WB_CONTROL_ERASED);
    wb_admin_reply(r, 200, json_pack("{s:o}", "receipt", receipt));
}

/* ---- rectification ---- */

void wb_admin_h_gdpr_rectify_vcard(wb_admin_req *r)
{
    wb_gdpr_req q;
    char err[256] = "";
    const char *xml = wb_admin_str(r, "vcard");
    const size_t len = xml != NULL ? strlen(xml) : 0;
    if (!wb_gdpr_vcard_valid(xml, len)) {
        wb_admin_error(r, 400, "bad_vcard",
                       "\"vcard\" must be one <vCard xmlns='vcard-temp'> element of at most %d "
                       "bytes, without a DTD",
                       WB_GDPR_VCARD_MAX);
        return;
    }
    if (wb_admin_gdpr_begin(r, &q) &&
        wb_admin_gdpr_ok(
            r, wb_gdpr_rectify_vcard(r->pg, r->adm->srv->vault, &q, xml, len, err, sizeof(err))))
        wb_admin_reply(r, 200, json_pack("{s:o}", "request", wb_gdpr_request_json(&q)));
}

void wb_admin_h_gdpr_rectify_roster(wb_admin_req *r)
{
    wb_gdpr_req q;
    wb_jid c;
    char err[256] = "", contact[WB_SA_JID_MAX];
    const json_t *jn = r->in != NULL ? json_object_get(r->in, "name") : NULL;
    const char *name = json_string_value(jn);
    const char *cs = r->args[1];
    if (jn == NULL || (!json_is_null(jn) && name == NULL) ||
        (name != NULL && strlen(name) > WB_GDPR_NAME_MAX)) {
        wb_admin_error(r, 400, "bad_request",
                       "\"name\" (a string of at most %d bytes, or null to remove it) is required",
                       WB_GDPR_NAME_MAX);
        return;
    }
    if (wb_jid_parse(&c, cs, strlen(cs)) < 0 || wb_jid_has_resource(&c) ||
        wb_jid_bare(&c, contact, sizeof(contact)) < 0) {
        wb_admin_error(r, 400, "bad_jid", "expected a bare contact JID");
        return;
    }
    if (wb_admin_gdpr_begin(r, &q) &&
        wb_admin_gdpr_ok(r, wb_gdpr_rectify_roster(r->pg, r->adm->srv->vault, &q, contact, name,
                                                   err, sizeof(err))))
        wb_admin_reply(r, 200,
                       json_pack("{s:s, s:o, s:o}", "contact", contact, "name",
                                 name != NULL ? json_string(name) : json_null(), "request",
                                 wb_gdpr_request_json(&q)));
}

/* ---- the register ---- */

static long long wb_admin_gdpr_arg(const wb_admin_req *r, const char *name, long long def,
                                   long long min, long long max)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    char *end = NULL;
    if (v == NULL || v[0] == '\0')
        return def;
    const long long n = strtoll(v, &end, 10);
    return *end == '\0' && n >= min && n <= max ? n : -1;
}

void wb_admin_h_gdpr_requests(wb_admin_req *r)
{
    char err[256];
    int64_t total = 0;
    const long long limit = wb_admin_gdpr_arg(r, "limit", 100, 1, WB_ADMIN_GDPR_LIST_MAX);
    const long long offset = wb_admin_gdpr_arg(r, "offset", 0, 0, INT64_MAX / 2);
    if (limit < 0 || offset < 0) {
        wb_admin_error(r, 400, "bad_request", "limit must be 1..%d, offset 0 or more",
                       WB_ADMIN_GDPR_LIST_MAX);
        return;
    }
    json_t *items = wb_store_gdpr_request_list(r->pg, (int)limit, offset, &total, err, sizeof(err));
    if (items == NULL) {
        wb_error("admin: %s", err);
        wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
        return;
    }
    wb_admin_reply(r, 200,
                   json_pack("{s:o, s:I, s:I, s:I}", "items", items, "total", (json_int_t)total,
                             "limit", (json_int_t)limit, "offset", (json_int_t)offset));
}
