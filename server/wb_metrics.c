/* Operational metrics: relaxed atomic counters and a fixed-bucket latency histogram, and their
 * Prometheus text. Nothing about a user: no JIDs, no addresses, labels only of fixed kinds. */
#include "wb_metrics.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

/* Histogram upper bounds in microseconds (the last bucket is +Inf). */
static const uint64_t wb_metrics_bounds[] = {500,   1000,   2500,   5000,   10000,   25000,
                                             50000, 100000, 250000, 500000, 1000000, 2500000};
#define WB_METRICS_N_BOUNDS (sizeof(wb_metrics_bounds) / sizeof(wb_metrics_bounds[0]))

/* The process-wide state: counters are by nature global to the process (every worker, the
 * storage threads and the admin listener add to them); each is a lone relaxed atomic. */
static _Atomic uint64_t wb_metrics_counters[WB_METRIC_COUNT];
static _Atomic uint64_t wb_metrics_buckets[WB_METRICS_N_BOUNDS + 1];
static _Atomic uint64_t wb_metrics_lat_sum; /* microseconds */
static _Atomic uint64_t wb_metrics_lat_count;

/* kind: the fixed label value of a counter in a labelled family (NULL: no label); the members
 * of a family are consecutive and share name and help. */
static const struct {
    const char *name, *help, *kind;
} wb_metrics_names[WB_METRIC_COUNT] = {
    [WB_METRIC_LOGINS] = {"warbler_c2s_logins_total", "Successful client authentications.", NULL},
    [WB_METRIC_LOGIN_FAILURES] = {"warbler_c2s_login_failures_total",
                                  "Failed client authentications.", NULL},
    [WB_METRIC_ROUTED] = {"warbler_routed_stanzas_total", "Stanzas routed.", NULL},
    [WB_METRIC_ARCHIVE_WRITES] = {"warbler_archive_writes_total",
                                  "Messages written to message archives.", NULL},
    [WB_METRIC_STORE_FAILURES] = {"warbler_storage_failures_total",
                                  "Storage requests lost with the database connection.", NULL},
    [WB_METRIC_RETENTION_SWEEPS] = {"warbler_retention_sweeps_total", "Retention sweeps completed.",
                                    NULL},
    [WB_METRIC_RETENTION_SWEEP_FAILURES] = {"warbler_retention_sweep_failures_total",
                                            "Retention sweeps given up (database unavailable).",
                                            NULL},
    [WB_METRIC_RETENTION_ERASED_ARCHIVE] = {"warbler_retention_erased_total",
                                            "Messages erased by retention and timers.", "archive"},
    [WB_METRIC_RETENTION_ERASED_OFFLINE] = {"warbler_retention_erased_total",
                                            "Messages erased by retention and timers.", "offline"},
    [WB_METRIC_RETENTION_ERASED_ROOMS] = {"warbler_retention_erased_total",
                                          "Messages erased by retention and timers.", "rooms"},
};

void wb_metrics_inc(wb_metric m)
{
    if ((unsigned)m < WB_METRIC_COUNT)
        atomic_fetch_add_explicit(&wb_metrics_counters[m], 1, memory_order_relaxed);
}

void wb_metrics_add(wb_metric m, uint64_t n)
{
    if ((unsigned)m < WB_METRIC_COUNT && n > 0)
        atomic_fetch_add_explicit(&wb_metrics_counters[m], n, memory_order_relaxed);
}

uint64_t wb_metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t wb_metrics_get(wb_metric m)
{
    return (unsigned)m < WB_METRIC_COUNT
               ? atomic_load_explicit(&wb_metrics_counters[m], memory_order_relaxed)
               : 0;
}

void wb_metrics_store_latency(uint64_t usec)
{
    size_t i = 0;
    while (i < WB_METRICS_N_BOUNDS && usec > wb_metrics_bounds[i])
        i++;
    atomic_fetch_add_explicit(&wb_metrics_buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&wb_metrics_lat_sum, usec, memory_order_relaxed);
    atomic_fetch_add_explicit(&wb_metrics_lat_count, 1, memory_order_relaxed);
}

static void wb_metrics_gauge(wb_buf *out, const char *name, const char *help, long long v)
{
    wb_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

/* The histogram: cumulative buckets, then sum (seconds) and count. Buckets are read one by one,
 * so a scrape racing a write may be off by one observation, as Prometheus tolerates. */
static void wb_metrics_histogram(wb_buf *out)
{
    const char *name = "warbler_storage_latency_seconds";
    uint64_t cum = 0;
    wb_buf_printf(out, "# HELP %s Time from a storage request to its answer.\n", name);
    wb_buf_printf(out, "# TYPE %s histogram\n", name);
    for (size_t i = 0; i <= WB_METRICS_N_BOUNDS; i++) {
        cum += atomic_load_explicit(&wb_metrics_buckets[i], memory_order_relaxed);
        if (i < WB_METRICS_N_BOUNDS)
            wb_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
                          (double)wb_metrics_bounds[i] / 1e6, (unsigned long long)cum);
        else
            wb_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    const uint64_t sum = atomic_load_explicit(&wb_metrics_lat_sum, memory_order_relaxed);
    wb_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum / 1e6, name,
                  (unsigned long long)cum);
}

/* One counter: its HELP and TYPE lines unless it continues the family of the one before. */
static void wb_metrics_counter(wb_buf *out, size_t i)
{
    const char *name = wb_metrics_names[i].name, *kind = wb_metrics_names[i].kind;
    const unsigned long long v = (unsigned long long)wb_metrics_get((wb_metric)i);
    if (i == 0 || strcmp(wb_metrics_names[i - 1].name, name) != 0)
        wb_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, wb_metrics_names[i].help,
                      name);
    if (kind != NULL)
        wb_buf_printf(out, "%s{kind=\"%s\"} %llu\n", name, kind, v);
    else
        wb_buf_printf(out, "%s %llu\n", name, v);
}

int wb_metrics_render(wb_buf *out, const wb_metrics_gauges *g)
{
    for (size_t i = 0; i < WB_METRIC_COUNT; i++)
        wb_metrics_counter(out, i);
    wb_metrics_histogram(out);
    wb_metrics_gauge(out, "warbler_sessions", "Bound client sessions.", (long long)g->sessions);
    wb_metrics_gauge(out, "warbler_uptime_seconds", "Seconds since the server started.",
                     (long long)g->uptime);
    wb_metrics_gauge(out, "warbler_workers", "Worker threads.", g->workers);
    wb_metrics_gauge(out, "warbler_storage_up", "Whether the database answers (1) or not (0).",
                     g->storage_up);
    wb_buf_printf(out,
                  "# HELP warbler_audit_dropped_total Audit events dropped (queue full).\n"
                  "# TYPE warbler_audit_dropped_total counter\nwarbler_audit_dropped_total %llu\n",
                  (unsigned long long)g->audit_dropped);
    return out->failed ? -1 : 0;
}
