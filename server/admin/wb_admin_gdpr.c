/* Admin API handlers for GDPR requests (dpo): export (Art. 15/20), erasure with a receipt
 * (Art. 17), rectification of the vCard and roster names (Art. 16), and the request register.
 * Every request is recorded in gdpr_requests with its outcome; routing audits it. */
#include <expat.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_admin_int.h"
#include "wb_log.h"
#include "wb_store_gdpr.h"
#include "wb_xmpp_errors.h"

#define WB_ADMIN_GDPR_EXPORT_MAX (64u * 1024 * 1024) /* plaintext bytes in one export */
#define WB_ADMIN_GDPR_VCARD_MAX  65536               /* as the vCard module allows */
#define WB_ADMIN_GDPR_NAME_MAX   1023
#define WB_ADMIN_GDPR_LIST_MAX   1000

/* One request in progress: its register id and the account it is about. */
typedef struct wb_admin_gdpr {
    wb_jid jid;
    char id[WB_GDPR_ID_MAX];
    char finished_at[WB_GDPR_TIME_MAX];
} wb_admin_gdpr;

/* Parses args[0] as an account of a served domain and registers a request of kind; false after
 * an error reply. */
static bool wb_admin_gdpr_begin(wb_admin_req *r, const char *kind, wb_admin_gdpr *g)
{
    char err[256];
    wb_jid *j = &g->jid;
    const char *s = r->args[0];
    memset(g, 0, sizeof(*g));
    if (wb_jid_parse(j, s, strlen(s)) < 0 || !wb_jid_has_node(j) || wb_jid_has_resource(j)) {
        wb_admin_error(r, 400, "bad_jid", "expected an account JID (user@domain)");
        return false;
    }
    snprintf(r->target, sizeof(r->target), "%s@%s", j->node, j->domain);
    if (!wb_server_serves(r->adm->srv, j->domain)) {
        wb_admin_error(r, 400, "unknown_domain", "this server does not host %s", j->domain);
        return false;
    }
    if (wb_store_gdpr_request_open(r->pg, kind, j->node, j->domain, r->actor, g->id, err,
                                   sizeof(err)) < 0) {
        wb_error("admin: %s", err);
        wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
        return false;
    }
    return true;
}

/* Closes the request with rc's status; replies with the error unless rc is OK. */
static void wb_admin_gdpr_end(wb_admin_req *r, wb_admin_gdpr *g, wb_gdpr_rc rc, const char *detail,
                              const char *err)
{
    static const char *const status[] = {
        [WB_GDPR_OK] = "completed",
        [WB_GDPR_NOT_FOUND] = "rejected",
        [WB_GDPR_TOO_LARGE] = "failed",
        [WB_GDPR_ERROR] = "failed",
    };
    char cerr[256];
    if (rc == WB_GDPR_ERROR)
        wb_error("admin: gdpr request %s: %s", g->id, err);
    if (wb_store_gdpr_request_close(r->pg, g->id, status[rc], detail, g->finished_at, cerr,
                                    sizeof(cerr)) < 0)
        wb_warn("admin: gdpr request %s stays open: %s", g->id, cerr);
    if (rc == WB_GDPR_NOT_FOUND)
        wb_admin_error(r, 404, "not_found", "no such account or item");
    else if (rc == WB_GDPR_TOO_LARGE)
        wb_admin_error(r, 413, "too_large",
                       "the export exceeds %u bytes; ask the operator for an offline export",
                       WB_ADMIN_GDPR_EXPORT_MAX);
    else if (rc == WB_GDPR_ERROR)
        wb_admin_error(r, 503, "unavailable", "the request failed, try again");
}

static json_t *wb_admin_gdpr_request_json(const wb_admin_req *r, const wb_admin_gdpr *g,
                                          const char *kind)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", g->id, "kind", kind, "target", r->target,
                     "requested_by", r->actor, "completed_at", g->finished_at);
}

void wb_admin_h_gdpr_export(wb_admin_req *r)
{
    wb_admin_gdpr g;
    json_t *doc = NULL;
    char err[256] = "", detail[128] = "";
    if (!wb_admin_gdpr_begin(r, "export", &g))
        return;
    const wb_gdpr_rc rc = wb_store_gdpr_export(r->pg, r->adm->srv->vault, g.jid.node, g.jid.domain,
                                               WB_ADMIN_GDPR_EXPORT_MAX, &doc, err, sizeof(err));
    if (rc == WB_GDPR_OK)
        snprintf(detail, sizeof(detail), "%zu archive messages, %zu offline, %zu roster items",
                 json_array_size(json_object_get(doc, "archive")),
                 json_array_size(json_object_get(doc, "offline")),
                 json_array_size(json_object_get(doc, "roster")));
    wb_admin_gdpr_end(r, &g, rc, detail, err);
    if (rc != WB_GDPR_OK)
        return;
    json_object_set_new(doc, "request", wb_admin_gdpr_request_json(r, &g, "export"));
    wb_admin_reply(r, 200, doc);
}

/* Closes every live session of the account (after its erasure). */
static void wb_admin_gdpr_close_sessions(wb_admin_req *r, const wb_jid *j)
{
    wb_server *srv = r->adm->srv;
    const size_t max = srv->cfg->max_resources + 1;
    wb_dir_target *t = calloc(max, sizeof(*t));
    const size_t n = t != NULL ? wb_directory_lookup(srv->dir, j, t, max) : 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].worker >= 0 && t[i].worker < srv->n_workers)
            wb_worker_post_close(srv->workers[t[i].worker], t[i].sid, WB_SE_NOT_AUTHORIZED,
                                 "Account erased");
    free(t);
}

void wb_admin_h_gdpr_erase(wb_admin_req *r)
{
    wb_admin_gdpr g;
    json_t *erased = NULL;
    char err[256] = "", *detail = NULL;
    if (!wb_admin_gdpr_begin(r, "erase", &g))
        return;
    const wb_gdpr_rc rc =
        wb_store_gdpr_erase(r->pg, g.jid.node, g.jid.domain, &erased, err, sizeof(err));
    if (rc == WB_GDPR_OK) {
        wb_admin_gdpr_close_sessions(r, &g.jid);
        detail = json_dumps(erased, JSON_COMPACT | JSON_SORT_KEYS);
    }
    wb_admin_gdpr_end(r, &g, rc, detail, err);
    free(detail);
    if (rc != WB_GDPR_OK)
        return;
    json_t *receipt = wb_admin_gdpr_request_json(r, &g, "erase");
    json_object_set_new(receipt, "erased", erased);
    json_object_set_new(receipt, "method",
                        json_string("data key destroyed, then the account and all it owns "
                                    "deleted"));
    wb_admin_reply(r, 200, json_pack("{s:o}", "receipt", receipt));
}

/* ---- rectification ---- */

typedef struct wb_admin_xml_check {
    XML_Parser p;
    int depth;
    bool root_ok, bad;
} wb_admin_xml_check;

static void XMLCALL wb_admin_xml_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    wb_admin_xml_check *c = ud;
    (void)atts;
    if (c->depth++ == 0)
        c->root_ok = strcmp(name, "vcard-temp vCard") == 0;
}

static void XMLCALL wb_admin_xml_end(void *ud, const XML_Char *name)
{
    (void)name;
    ((wb_admin_xml_check *)ud)->depth--;
}

static void XMLCALL wb_admin_xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                         const XML_Char *pubid, int has_internal)
{
    wb_admin_xml_check *c = ud;
    (void)name, (void)sysid, (void)pubid, (void)has_internal;
    c->bad = true; /* no DTDs: no entity expansion */
    XML_StopParser(c->p, XML_FALSE);
}

/* Whether xml is one well-formed <vCard xmlns='vcard-temp'> element without a DTD. */
static bool wb_admin_vcard_valid(const char *xml, size_t len)
{
    wb_admin_xml_check c = {.p = XML_ParserCreateNS("UTF-8", ' ')};
    if (c.p == NULL)
        return false;
    XML_SetUserData(c.p, &c);
    XML_SetElementHandler(c.p, wb_admin_xml_start, wb_admin_xml_end);
    XML_SetStartDoctypeDeclHandler(c.p, wb_admin_xml_doctype);
    const bool ok = XML_Parse(c.p, xml, (int)len, XML_TRUE) == XML_STATUS_OK && !c.bad &&
                    c.root_ok && c.depth == 0;
    XML_ParserFree(c.p);
    return ok;
}

void wb_admin_h_gdpr_rectify_vcard(wb_admin_req *r)
{
    wb_admin_gdpr g;
    char err[256] = "";
    const char *xml = wb_admin_str(r, "vcard");
    const size_t len = xml != NULL ? strlen(xml) : 0;
    if (xml == NULL || len > WB_ADMIN_GDPR_VCARD_MAX || !wb_admin_vcard_valid(xml, len)) {
        wb_admin_error(r, 400, "bad_vcard",
                       "\"vcard\" must be one <vCard xmlns='vcard-temp'> element of at most %d "
                       "bytes, without a DTD",
                       WB_ADMIN_GDPR_VCARD_MAX);
        return;
    }
    if (!wb_admin_gdpr_begin(r, "rectify", &g))
        return;
    const wb_gdpr_rc rc = wb_store_gdpr_rectify_vcard(r->pg, r->adm->srv->vault, g.jid.node,
                                                      g.jid.domain, xml, len, err, sizeof(err));
    wb_admin_gdpr_end(r, &g, rc, "vcard", err);
    if (rc == WB_GDPR_OK)
        wb_admin_reply(r, 200,
                       json_pack("{s:o}", "request", wb_admin_gdpr_request_json(r, &g, "rectify")));
}

void wb_admin_h_gdpr_rectify_roster(wb_admin_req *r)
{
    wb_admin_gdpr g;
    wb_jid c;
    char err[256] = "", contact[WB_SA_JID_MAX];
    const json_t *jn = r->in != NULL ? json_object_get(r->in, "name") : NULL;
    const char *name = json_string_value(jn);
    const char *cs = r->args[1];
    if (jn == NULL || (!json_is_null(jn) && name == NULL) ||
        (name != NULL && strlen(name) > WB_ADMIN_GDPR_NAME_MAX)) {
        wb_admin_error(r, 400, "bad_request",
                       "\"name\" (a string of at most %d bytes, or null to remove it) is required",
                       WB_ADMIN_GDPR_NAME_MAX);
        return;
    }
    if (wb_jid_parse(&c, cs, strlen(cs)) < 0 || wb_jid_has_resource(&c) ||
        wb_jid_bare(&c, contact, sizeof(contact)) < 0) {
        wb_admin_error(r, 400, "bad_jid", "expected a bare contact JID");
        return;
    }
    if (!wb_admin_gdpr_begin(r, "rectify", &g))
        return;
    const wb_gdpr_rc rc = wb_store_gdpr_rectify_roster(
        r->pg, r->adm->srv->vault, g.jid.node, g.jid.domain, contact, name, err, sizeof(err));
    wb_admin_gdpr_end(r, &g, rc, "roster name", err);
    if (rc == WB_GDPR_OK)
        wb_admin_reply(r, 200,
                       json_pack("{s:s, s:o, s:o}", "contact", contact, "name",
                                 name != NULL ? json_string(name) : json_null(), "request",
                                 wb_admin_gdpr_request_json(r, &g, "rectify")));
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
