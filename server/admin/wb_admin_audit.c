/* Admin API handlers for the audit log: listing records (newest first, filters, paging by id)
 * and verifying the hash chain. Reading only: records are written by server/audit/. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wb_admin_int.h"
#include "wb_audit_query.h"
#include "wb_log.h"

#define WB_ADMIN_AUDIT_LIMIT_MAX  1000
#define WB_ADMIN_AUDIT_FILTER_MAX 512

static const char *wb_admin_arg(const wb_admin_req *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* A time argument (RFC 3339 UTC "2026-11-25T00:15:00Z", or Unix seconds) in microseconds; 0 when
 * absent, -1 when malformed. */
static int64_t wb_admin_arg_time(const wb_admin_req *r, const char *name)
{
    const char *v = wb_admin_arg(r, name);
    struct tm tm;
    char *end = NULL;
    if (v == NULL)
        return 0;
    const long long secs = strtoll(v, &end, 10);
    if (end != v && *end == '\0' && secs > 0)
        return (int64_t)secs * 1000000;
    memset(&tm, 0, sizeof(tm));
    end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL || (strcmp(end, "Z") != 0 && strcmp(end, "") != 0))
        return -1;
    const time_t t = timegm(&tm);
    return t > 0 ? (int64_t)t * 1000000 : -1;
}

/* A whole number argument in [1, max]; def when absent, -1 when malformed. */
static long long wb_admin_arg_int(const wb_admin_req *r, const char *name, long long def,
                                  long long max)
{
    const char *v = wb_admin_arg(r, name);
    char *end = NULL;
    if (v == NULL)
        return def;
    const long long n = strtoll(v, &end, 10);
    return *end == '\0' && n >= 1 && n <= max ? n : -1;
}

static json_t *wb_admin_opt(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *wb_admin_audit_json(const wb_audit_rec *rec)
{
    char when[40];
    struct tm tm;
    const time_t secs = (time_t)(rec->time_us / 1000000);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", gmtime_r(&secs, &tm));
    snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%06dZ",
             (int)(rec->time_us % 1000000));
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "id", (json_int_t)rec->id,
                     "time", when, "actor", wb_admin_opt(rec->actor), "role",
                     wb_admin_opt(rec->role), "action", wb_admin_opt(rec->action), "target",
                     wb_admin_opt(rec->target), "source", wb_admin_opt(rec->source), "ok", rec->ok,
                     "reason", wb_admin_opt(rec->reason));
}

/* Reads the filters into f; false after a 400 reply. */
static bool wb_admin_audit_filter(wb_admin_req *r, wb_audit_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->actor = wb_admin_arg(r, "actor");
    f->action = wb_admin_arg(r, "action");
    f->target = wb_admin_arg(r, "target");
    f->since_us = wb_admin_arg_time(r, "since");
    f->until_us = wb_admin_arg_time(r, "until");
    const long long before = wb_admin_arg_int(r, "before", 0, INT64_MAX);
    const long long limit = wb_admin_arg_int(r, "limit", 100, WB_ADMIN_AUDIT_LIMIT_MAX);
    const char *const strs[] = {f->actor, f->action, f->target};
    for (size_t i = 0; i < 3; i++)
        if (strs[i] != NULL && strlen(strs[i]) > WB_ADMIN_AUDIT_FILTER_MAX)
            f->limit = -1;
    if (f->since_us < 0 || f->until_us < 0 || before < 0 || limit < 0 || f->limit < 0) {
        wb_admin_error(r, 400, "bad_request",
                       "since/until are RFC 3339 times or Unix seconds, before an id, limit "
                       "1..%d, filters at most %d bytes",
                       WB_ADMIN_AUDIT_LIMIT_MAX, WB_ADMIN_AUDIT_FILTER_MAX);
        return false;
    }
    f->before_id = before;
    f->limit = (int)limit;
    return true;
}

void wb_admin_h_audit_list(wb_admin_req *r)
{
    wb_audit_filter f;
    wb_audit_rec *rows = NULL;
    if (!wb_admin_audit_filter(r, &f))
        return;
    snprintf(r->target, sizeof(r->target), "actor=%s action=%s target=%s", f.actor ? f.actor : "",
             f.action ? f.action : "", f.target ? f.target : "");
    const int n = wb_store_audit_list(r->pg, &f, &rows);
    if (n < 0) {
        wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(items, wb_admin_audit_json(&rows[i]));
    json_t *next = n == f.limit && n > 0 ? json_integer((json_int_t)rows[n - 1].id) : json_null();
    for (int i = 0; i < n; i++)
        wb_audit_rec_clear(&rows[i]);
    free(rows);
    wb_admin_reply(r, 200,
                   json_pack("{s:o, s:I, s:o}", "items", items, "limit", (json_int_t)f.limit,
                             "next_before", next));
}

void wb_admin_h_audit_verify(wb_admin_req *r)
{
    wb_audit_verify_result v;
    const struct wb_audit *a = r->adm->srv->audit;
    if (a == NULL) {
        wb_admin_error(r, 503, "unavailable", "the audit log is not enabled");
        return;
    }
    memset(&v, 0, sizeof(v));
    if (wb_audit_verify_pg(r->pg, wb_audit_public_key(a), &v) < 0) {
        wb_error("admin: audit verify: %s", v.reason);
        wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
        return;
    }
    wb_admin_reply(r, 200,
                   json_pack("{s:b, s:o, s:I, s:I, s:o}", "ok", v.ok, "first_bad",
                             v.ok ? json_null() : json_integer((json_int_t)v.first_bad), "checked",
                             (json_int_t)v.checked, "checkpoints", (json_int_t)v.checkpoints,
                             "reason", v.ok ? json_null() : json_string(v.reason)));
}
