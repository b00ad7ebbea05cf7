/* The retention sweeper's thread: a timer every sweep_interval runs bounded sweep statements
 * until no table gives a full batch, then logs what it erased. Not for per-account sweeps. */
#include "wb_sweeper.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "wb_log.h"
#include "wb_metrics.h"
#include "wb_store.h"
#include "wb_store_muc_archive.h"
#include "wb_store_retention.h"
#include "wb_store_upload.h"
#include "upload/wb_upload_conf.h"

struct wb_sweeper {
    struct event_base *base;
    struct event *tick;
    struct event *stop;
    wb_store *store;
    pthread_t thread;
    bool started;
    wb_retention_sweep args;
    /* sweeper thread only (read by wb_sweeper_stop after the join) */
    bool busy, stopping;
    uint64_t run_archived, run_queued, run_rooms, run_uploads;
    int64_t upload_expire_ms; /* upload.expire_*: 0 keeps uploaded files */
    /* atomic */
    uint64_t sweeps, failures, archived, queued;
};

static void wb_sweeper_next(wb_sweeper *sw);

/* A sweep given up: in the totals and in the process metrics. */
static void wb_sweeper_failed(wb_sweeper *sw)
{
    __atomic_add_fetch(&sw->failures, 1, __ATOMIC_RELAXED);
    wb_metrics_inc(WB_METRIC_RETENTION_SWEEP_FAILURES);
}
static void wb_sweeper_rooms(wb_sweeper *sw);

static void wb_sweeper_uploads(wb_sweeper *sw);

/* Uploaded files (storage/wb_store_upload.c) stored longer than upload.expire_*, in batches. */
static void wb_sweeper_uploads_done(void *arg, wb_store_status status, uint64_t n)
{
    wb_sweeper *sw = arg;
    if (status == WB_STORE_UNAVAILABLE)
        wb_sweeper_failed(sw);
    sw->run_uploads += n;
    if (!sw->stopping && status == WB_STORE_OK && n >= (uint64_t)sw->args.batch) {
        wb_sweeper_uploads(sw);
        return;
    }
    if (sw->run_uploads > 0)
        wb_info("sweeper: erased %llu expired uploaded files", (unsigned long long)sw->run_uploads);
    sw->busy = false;
}

static void wb_sweeper_uploads(wb_sweeper *sw)
{
    if (sw->upload_expire_ms <= 0 || sw->stopping ||
        wb_store_upload_expire(sw->store, sw->upload_expire_ms, sw->args.batch,
                               wb_sweeper_uploads_done, sw) == NULL)
        sw->busy = false;
}

/* Room archives (storage/wb_store_muc_archive.c): rows past their room's expiry, in batches. */
static void wb_sweeper_rooms_done(void *arg, wb_store_status status, uint64_t n)
{
    wb_sweeper *sw = arg;
    if (status == WB_STORE_UNAVAILABLE)
        wb_sweeper_failed(sw);
    __atomic_add_fetch(&sw->archived, n, __ATOMIC_RELAXED);
    wb_metrics_add(WB_METRIC_RETENTION_ERASED_ROOMS, n);
    sw->run_rooms += n;
    if (!sw->stopping && status == WB_STORE_OK && n >= (uint64_t)sw->args.batch) {
        wb_sweeper_rooms(sw);
        return;
    }
    if (sw->run_rooms > 0)
        wb_info("sweeper: erased %llu expired room messages", (unsigned long long)sw->run_rooms);
    sw->run_uploads = 0;
    wb_sweeper_uploads(sw); /* then uploaded files */
}

static void wb_sweeper_rooms(wb_sweeper *sw)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    if (wb_store_muc_archive_expire(sw->store, now_us, sw->args.batch, wb_sweeper_rooms_done, sw) ==
        NULL) {
        wb_warn("sweeper: could not queue a room archive sweep");
        sw->busy = false;
    }
}

static void wb_sweeper_finish(wb_sweeper *sw)
{
    __atomic_add_fetch(&sw->sweeps, 1, __ATOMIC_RELAXED);
    wb_metrics_inc(WB_METRIC_RETENTION_SWEEPS);
    if (sw->run_archived > 0 || sw->run_queued > 0)
        wb_info("sweeper: erased %llu archived and %llu queued messages",
                (unsigned long long)sw->run_archived, (unsigned long long)sw->run_queued);
    sw->run_rooms = 0;
    wb_sweeper_rooms(sw);
}

static void wb_sweeper_done(void *arg, wb_store_status status, uint64_t archived, uint64_t queued)
{
    wb_sweeper *sw = arg;
    if (sw->stopping) {
        sw->busy = false;
        return;
    }
    if (status != WB_STORE_OK) {
        wb_sweeper_failed(sw);
        wb_warn("sweeper: sweep failed (database unavailable), trying again at the next interval");
        sw->busy = false;
        return;
    }
    wb_sweeper_count(sw, archived, queued);
    sw->run_archived += archived;
    sw->run_queued += queued;
    if (archived >= (uint64_t)sw->args.batch || queued >= (uint64_t)sw->args.batch)
        wb_sweeper_next(sw);
    else
        wb_sweeper_finish(sw);
}

static void wb_sweeper_next(wb_sweeper *sw)
{
    if (wb_store_retention_sweep_run(sw->store, &sw->args, wb_sweeper_done, sw) == NULL) {
        wb_sweeper_failed(sw);
        wb_warn("sweeper: could not queue a sweep");
        sw->busy = false;
    }
}

static void wb_sweeper_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_sweeper *sw = arg;
    if (sw->busy || sw->stopping)
        return; /* the previous sweep is still going */
    sw->busy = true;
    sw->run_archived = sw->run_queued = 0;
    wb_sweeper_next(sw);
}

static void wb_sweeper_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_sweeper *sw = arg;
    sw->stopping = true;
    event_base_loopbreak(sw->base);
}

static void *wb_sweeper_main(void *arg)
{
    wb_sweeper *sw = arg;
    event_base_loop(sw->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void wb_sweeper_free(wb_sweeper *sw)
{
    wb_store_free(sw->store);
    if (sw->tick != NULL)
        event_free(sw->tick);
    if (sw->stop != NULL)
        event_free(sw->stop);
    if (sw->base != NULL)
        event_base_free(sw->base);
    free(sw);
}

wb_sweeper *wb_sweeper_start(const wb_config *cfg)
{
    wb_sweeper *sw = calloc(1, sizeof(*sw));
    if (sw == NULL)
        goto fail;
    sw->args.default_s = cfg->retention_default;
    sw->args.unit_ms = cfg->retention_unit_ms;
    sw->args.batch = cfg->retention_batch;
    sw->upload_expire_ms = wb_config_upload(cfg)->expire_ms;
    const struct timeval tv = {cfg->retention_sweep_interval, 0};
    sw->base = event_base_new();
    if (sw->base == NULL)
        goto fail;
    sw->tick = event_new(sw->base, -1, EV_PERSIST, wb_sweeper_tick, sw);
    sw->stop = event_new(sw->base, -1, 0, wb_sweeper_stop_cb, sw);
    sw->store = wb_store_new(sw->base, cfg->dsn, NULL);
    if (sw->tick == NULL || sw->stop == NULL || sw->store == NULL || event_add(sw->tick, &tv) < 0)
        goto fail;
    if (pthread_create(&sw->thread, NULL, wb_sweeper_main, sw) != 0)
        goto fail;
    sw->started = true;
    wb_info("sweeper: every %d s, batches of %d, default retention %lld s",
            cfg->retention_sweep_interval, cfg->retention_batch, (long long)cfg->retention_default);
    return sw;
fail:
    wb_error("sweeper: cannot start");
    if (sw != NULL)
        wb_sweeper_free(sw);
    return NULL;
}

void wb_sweeper_stop(wb_sweeper *sw)
{
    if (sw == NULL)
        return;
    if (sw->started) {
        event_active(sw->stop, EV_TIMEOUT, 0);
        pthread_join(sw->thread, NULL);
    }
    sw->stopping = true;
    wb_sweeper_free(sw);
}

void wb_sweeper_count(wb_sweeper *sw, uint64_t archived, uint64_t queued)
{
    __atomic_add_fetch(&sw->archived, archived, __ATOMIC_RELAXED);
    __atomic_add_fetch(&sw->queued, queued, __ATOMIC_RELAXED);
    wb_metrics_add(WB_METRIC_RETENTION_ERASED_ARCHIVE, archived);
    wb_metrics_add(WB_METRIC_RETENTION_ERASED_OFFLINE, queued);
}

void wb_sweeper_counters_get(const wb_sweeper *sw, wb_sweeper_counters *out)
{
    out->sweeps = __atomic_load_n(&sw->sweeps, __ATOMIC_RELAXED);
    out->failures = __atomic_load_n(&sw->failures, __ATOMIC_RELAXED);
    out->archived = __atomic_load_n(&sw->archived, __ATOMIC_RELAXED);
    out->queued = __atomic_load_n(&sw->queued, __ATOMIC_RELAXED);
}
