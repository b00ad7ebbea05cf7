/* Process-wide operational counters and the storage latency histogram, exported as Prometheus
 * text by the admin listener (GET /metrics). Atomics; no personal data, labels only fixed kinds. */
#ifndef WB_METRICS_H
#define WB_METRICS_H

#include <stdint.h>

#include "wb_buf.h"

typedef enum {
    WB_METRIC_LOGINS = 0,       /* successful c2s authentications */
    WB_METRIC_LOGIN_FAILURES,   /* failed c2s authentications */
    WB_METRIC_ROUTED,           /* stanzas routed (wb_route) */
    WB_METRIC_ARCHIVE_WRITES,   /* messages written to an archive (MAM) */
    WB_METRIC_STORE_FAILURES,   /* storage requests failed: the database connection was lost */
    WB_METRIC_RETENTION_SWEEPS, /* retention sweeps completed */
    WB_METRIC_RETENTION_SWEEP_FAILURES, /* retention sweeps given up (database unavailable) */
    /* One family, warbler_retention_erased_total{kind=...}: keep these three together. */
    WB_METRIC_RETENTION_ERASED_ARCHIVE, /* kind="archive": archived messages erased */
    WB_METRIC_RETENTION_ERASED_OFFLINE, /* kind="offline": queued messages erased */
    WB_METRIC_RETENTION_ERASED_ROOMS,   /* kind="rooms": room archive messages erased */
    WB_METRIC_COUNT
} wb_metric;

/* Adds one to a counter; safe from any thread, never blocks. */
void wb_metrics_inc(wb_metric m);
/* Adds n to a counter; as wb_metrics_inc. */
void wb_metrics_add(wb_metric m, uint64_t n);
/* Records how long one storage request took, in microseconds (from submit to answer). */
void wb_metrics_store_latency(uint64_t usec);
/* A monotonic clock in microseconds, for latencies. */
uint64_t wb_metrics_now_us(void);
/* A counter's current value. */
uint64_t wb_metrics_get(wb_metric m);

/* Values sampled at scrape time by the caller (the admin listener). */
typedef struct wb_metrics_gauges {
    int64_t uptime;   /* seconds */
    int64_t sessions; /* bound c2s sessions */
    int workers;
    int storage_up; /* 1 when the admin pool reached the database, else 0 */
    uint64_t audit_dropped;
} wb_metrics_gauges;

/* Appends the Prometheus text exposition (format 0.0.4) of every metric to out. 0 or -1. */
int wb_metrics_render(wb_buf *out, const wb_metrics_gauges *g);

#endif
