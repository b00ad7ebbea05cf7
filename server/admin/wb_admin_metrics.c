/* GET /metrics (Prometheus text, loopback callers only, no token) and GET /api/v1/status (the
 * console's status panel: uptime, sessions, counters, storage health, certificate expiry). */
#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wb_admin_int.h"
#include "wb_audit.h"
#include "wb_metrics.h"

/* Whether the caller's address (r->source, as printed by inet_ntop) is a loopback address. */
static bool wb_admin_loopback(const wb_admin_req *r)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, r->source, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, r->source, &a6) != 1)
        return false;
    if (IN6_IS_ADDR_LOOPBACK(&a6))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

void wb_admin_h_metrics(wb_admin_req *r)
{
    wb_server *srv = r->adm->srv;
    wb_buf out;
    if (!wb_admin_loopback(r)) {
        wb_admin_error(r, 403, "forbidden", "metrics are served to loopback callers only");
        return;
    }
    wb_pg *pg = wb_store_admin_acquire(r->adm->pool);
    const wb_metrics_gauges g = {
        .uptime = (int64_t)(time(NULL) - srv->started),
        .sessions = (int64_t)wb_directory_count(srv->dir),
        .workers = srv->n_workers,
        .storage_up = pg != NULL,
        .audit_dropped = srv->audit != NULL ? wb_audit_dropped(srv->audit) : 0,
    };
    wb_store_admin_release(r->adm->pool, pg);
    wb_buf_init(&out);
    size_t len = 0;
    if (wb_metrics_render(&out, &g) < 0) {
        wb_buf_free(&out);
        wb_admin_error(r, 500, "internal", "out of memory");
        return;
    }
    char *text = wb_buf_steal(&out, &len);
    wb_admin_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* The certificate of one host: {domain, not_after, days_left}, or with "error". */
static json_t *wb_admin_cert_json(const char *domain, const char *path)
{
    char when[32];
    struct tm tm;
    BIO *bio = path != NULL ? BIO_new_file(path, "r") : NULL;
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (x == NULL || ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
        X509_free(x);
        return json_pack("{s:s, s:s}", "domain", domain, "error", "certificate not readable");
    }
    X509_free(x);
    const time_t not_after = timegm(&tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s, s:s, s:I}", "domain", domain, "not_after", when, "days_left",
                     (json_int_t)((not_after - time(NULL)) / 86400));
}

static double wb_admin_ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

void wb_admin_h_status(wb_admin_req *r)
{
    const wb_server *srv = r->adm->srv;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int64_t accounts = wb_store_admin_account_count(r->pg);
    const double ms = wb_admin_ms_since(&t0);
    json_t *certs = json_array();
    for (size_t i = 0; i < srv->cfg->n_hosts; i++)
        json_array_append_new(
            certs, wb_admin_cert_json(srv->cfg->hosts[i].domain, srv->cfg->hosts[i].cert));
    json_t *counters =
        json_pack("{s:I, s:I, s:I, s:I}", "logins", (json_int_t)wb_metrics_get(WB_METRIC_LOGINS),
                  "login_failures", (json_int_t)wb_metrics_get(WB_METRIC_LOGIN_FAILURES),
                  "routed_stanzas", (json_int_t)wb_metrics_get(WB_METRIC_ROUTED), "archive_writes",
                  (json_int_t)wb_metrics_get(WB_METRIC_ARCHIVE_WRITES));
    json_t *storage = json_pack("{s:b, s:f}", "ok", accounts >= 0, "latency_ms", ms);
    wb_admin_reply(r, 200,
                   json_pack("{s:I, s:I, s:o, s:i, s:o, s:o, s:o, s:I}", "uptime",
                             (json_int_t)(time(NULL) - srv->started), "sessions",
                             (json_int_t)wb_directory_count(srv->dir), "accounts",
                             accounts >= 0 ? json_integer((json_int_t)accounts) : json_null(),
                             "workers", srv->n_workers, "counters", counters, "storage", storage,
                             "certificates", certs, "audit_dropped",
                             (json_int_t)(srv->audit != NULL ? wb_audit_dropped(srv->audit) : 0)));
}
