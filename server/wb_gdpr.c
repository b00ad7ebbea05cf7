/* GDPR requests run the same way for the admin API (server/admin/wb_admin_gdpr.c) and warblerctl
 * (server/ctl/wb_ctl_gdpr.c): register, run, close with the outcome, build the reply documents.
 * No SQL here (storage/wb_store_gdpr.c) and no reply formatting of either caller. */
#include "wb_gdpr.h"

#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"

/* Registers q as a request of kind; ERROR (logged) when the register cannot be written. */
static wb_gdpr_rc wb_gdpr_begin(wb_pg *pg, wb_gdpr_req *q, const char *kind, char *err,
                                size_t errsize)
{
    q->kind = kind;
    q->id[0] = q->finished_at[0] = '\0';
    if (wb_store_gdpr_request_open(pg, kind, q->jid.node, q->jid.domain, q->actor, q->id, err,
                                   errsize) == 0)
        return WB_GDPR_OK;
    wb_error("gdpr %s request not registered: %s", kind, err);
    return WB_GDPR_ERROR;
}

/* Closes q with rc's status and detail (no personal data); passes rc on. */
static wb_gdpr_rc wb_gdpr_end(wb_pg *pg, wb_gdpr_req *q, wb_gdpr_rc rc, const char *detail,
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
        wb_error("gdpr request %s: %s", q->id, err);
    if (wb_store_gdpr_request_close(pg, q->id, status[rc], detail, q->finished_at, cerr,
                                    sizeof(cerr)) < 0)
        wb_warn("gdpr request %s stays open: %s", q->id, cerr);
    return rc;
}

json_t *wb_gdpr_request_json(const wb_gdpr_req *q)
{
    char target[WB_JID_PART_MAX * 2 + 2];
    snprintf(target, sizeof(target), "%s@%s", q->jid.node, q->jid.domain);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", q->id, "kind", q->kind, "target", target,
                     "requested_by", q->actor, "completed_at", q->finished_at);
}

wb_gdpr_rc wb_gdpr_export(wb_pg *pg, wb_vault *v, wb_gdpr_req *q, json_t **doc, char *err,
                          size_t errsize)
{
    char detail[128] = "";
    *doc = NULL;
    if (wb_gdpr_begin(pg, q, "export", err, errsize) != WB_GDPR_OK)
        return WB_GDPR_ERROR;
    const wb_gdpr_rc rc = wb_store_gdpr_export(pg, v, q->jid.node, q->jid.domain,
                                               WB_GDPR_EXPORT_MAX, doc, err, errsize);
    if (rc == WB_GDPR_OK)
        snprintf(detail, sizeof(detail), "%zu archive messages, %zu offline, %zu roster items",
                 json_array_size(json_object_get(*doc, "archive")),
                 json_array_size(json_object_get(*doc, "offline")),
                 json_array_size(json_object_get(*doc, "roster")));
    if (wb_gdpr_end(pg, q, rc, detail, err) != WB_GDPR_OK) {
        json_decref(*doc);
        *doc = NULL;
        return rc;
    }
    json_object_set_new(*doc, "request", wb_gdpr_request_json(q));
    return WB_GDPR_OK;
}

wb_gdpr_rc wb_gdpr_erase(wb_pg *pg, wb_gdpr_req *q, json_t **receipt, char *err, size_t errsize)
{
    json_t *erased = NULL;
    char *detail = NULL;
    *receipt = NULL;
    if (wb_gdpr_begin(pg, q, "erase", err, errsize) != WB_GDPR_OK)
        return WB_GDPR_ERROR;
    const wb_gdpr_rc rc =
        wb_store_gdpr_erase(pg, q->jid.node, q->jid.domain, &erased, err, errsize);
    if (rc == WB_GDPR_OK)
        detail = json_dumps(erased, JSON_COMPACT | JSON_SORT_KEYS);
    wb_gdpr_end(pg, q, rc, detail, err);
    free(detail);
    if (rc != WB_GDPR_OK)
        return rc;
    *receipt = wb_gdpr_request_json(q);
    json_object_set_new(*receipt, "erased", erased);
    json_object_set_new(*receipt, "method",
                        json_string("data key destroyed, then the account and all it owns "
                                    "deleted"));
    return WB_GDPR_OK;
}

wb_gdpr_rc wb_gdpr_rectify_vcard(wb_pg *pg, wb_vault *v, wb_gdpr_req *q, const char *xml,
                                 size_t len, char *err, size_t errsize)
{
    if (wb_gdpr_begin(pg, q, "rectify", err, errsize) != WB_GDPR_OK)
        return WB_GDPR_ERROR;
    const wb_gdpr_rc rc =
        wb_store_gdpr_rectify_vcard(pg, v, q->jid.node, q->jid.domain, xml, len, err, errsize);
    return wb_gdpr_end(pg, q, rc, "vcard", err);
}

wb_gdpr_rc wb_gdpr_rectify_roster(wb_pg *pg, wb_vault *v, wb_gdpr_req *q, const char *contact,
                                  const char *name, char *err, size_t errsize)
{
    if (wb_gdpr_begin(pg, q, "rectify", err, errsize) != WB_GDPR_OK)
        return WB_GDPR_ERROR;
    const wb_gdpr_rc rc = wb_store_gdpr_rectify_roster(pg, v, q->jid.node, q->jid.domain, contact,
                                                       name, err, errsize);
    return wb_gdpr_end(pg, q, rc, "roster name", err);
}

/* ---- the vCard check ---- */

typedef struct wb_gdpr_xml_check {
    XML_Parser p;
    int depth;
    bool root_ok, bad;
} wb_gdpr_xml_check;

static void XMLCALL wb_gdpr_xml_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    wb_gdpr_xml_check *c = ud;
    (void)atts;
    if (c->depth++ == 0)
        c->root_ok = strcmp(name, "vcard-temp vCard") == 0;
}

static void XMLCALL wb_gdpr_xml_end(void *ud, const XML_Char *name)
{
    (void)name;
    ((wb_gdpr_xml_check *)ud)->depth--;
}

static void XMLCALL wb_gdpr_xml_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                        const XML_Char *pubid, int has_internal)
{
    wb_gdpr_xml_check *c = ud;
    (void)name, (void)sysid, (void)pubid, (void)has_internal;
    c->bad = true; /* no DTDs: no entity expansion */
    XML_StopParser(c->p, XML_FALSE);
}

bool wb_gdpr_vcard_valid(const char *xml, size_t len)
{
    if (xml == NULL || len > WB_GDPR_VCARD_MAX)
        return false;
    wb_gdpr_xml_check c = {.p = XML_ParserCreateNS("UTF-8", ' ')};
    if (c.p == NULL)
        return false;
    XML_SetUserData(c.p, &c);
    XML_SetElementHandler(c.p, wb_gdpr_xml_start, wb_gdpr_xml_end);
    XML_SetStartDoctypeDeclHandler(c.p, wb_gdpr_xml_doctype);
    const bool ok = XML_Parse(c.p, xml, (int)len, XML_TRUE) == XML_STATUS_OK && !c.bad &&
                    c.root_ok && c.depth == 0;
    XML_ParserFree(c.p);
    return ok;
}
