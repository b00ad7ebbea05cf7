/* The audit log's writer: wb_audit_record() copies an event into a bounded queue; one thread with
 * its own database connection chains and stores the queue in batches, signs checkpoints and
 * prunes by age. No SQL here (storage/wb_store_audit.c), no verification (wb_audit_verify.c). */
#include "wb_audit.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wb_audit_int.h"
#include "wb_log.h"
#include "wb_store_audit.h"

#define WB_AUDIT_BATCH       200 /* records per transaction, at most */
#define WB_AUDIT_RETRY_MAX   16  /* seconds between two attempts while the database is down */
#define WB_AUDIT_LOG_EVERY   30  /* seconds between two "database down" lines */
#define WB_AUDIT_PRUNE_EVERY 600 /* seconds between two retention passes */
#define WB_AUDIT_PRUNE_BATCH 1000
#define WB_AUDIT_PRUNE_MAX   20 /* batches per pass, so that the queue is not starved */
#define WB_AUDIT_POISON      5  /* failures on a healthy connection before an event is dropped */

enum {
    WB_AUDIT_F_ACTOR,
    WB_AUDIT_F_ROLE,
    WB_AUDIT_F_ACTION,
    WB_AUDIT_F_TARGET,
    WB_AUDIT_F_SOURCE,
    WB_AUDIT_F_REASON,
    WB_AUDIT_F_COUNT
};

typedef struct wb_audit_item {
    struct wb_audit_item *next;
    int64_t time_us;
    bool ok;
    char *f[WB_AUDIT_F_COUNT]; /* point into the same allocation, or NULL */
} wb_audit_item;

struct wb_audit {
    char *dsn, *key_file;
    int checkpoint_records, checkpoint_seconds, retention_days, queue_max, flush_wait;
    uint8_t pk[WB_AUDIT_PK_BYTES];
    uint8_t *sk; /* sodium_malloc'd, crypto_sign_SECRETKEYBYTES */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wb_audit_item *head, *tail; /* the writer alone removes from head */
    int n;
    unsigned long dropped;
    bool started, stopping;
    pthread_t thread;
};

/* ---- queueing ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not valid. */
static size_t wb_audit_utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, min = 0x80;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

size_t wb_audit_clean(char *dst, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t in = 0, out = 0, n = strnlen(src, WB_AUDIT_FIELD_MAX + 4); /* a whole last char */
    while (in < n) {
        const size_t len = wb_audit_utf8_len(s + in, n - in);
        if (out + (len ? len : 1) > WB_AUDIT_FIELD_MAX)
            break;
        if (len == 0 || (len == 1 && (s[in] < 0x20 || s[in] == 0x7F))) {
            dst[out++] = '?';
            in++;
            continue;
        }
        memcpy(dst + out, s + in, len);
        out += len;
        in += len;
    }
    dst[out] = '\0';
    return out + 1;
}

static wb_audit_item *wb_audit_item_new(const wb_audit_event *ev)
{
    const char *src[WB_AUDIT_F_COUNT] = {
        ev->actor ? ev->actor : "system", ev->role, ev->action, ev->target, ev->source, ev->reason};
    size_t size = sizeof(wb_audit_item);
    for (int i = 0; i < WB_AUDIT_F_COUNT; i++)
        if (src[i] != NULL) /* cleaning never makes a string longer */
            size += strnlen(src[i], WB_AUDIT_FIELD_MAX) + 1;
    wb_audit_item *it = malloc(size);
    if (it == NULL)
        return NULL;
    memset(it, 0, sizeof(*it));
    it->time_us = wb_audit_now_us();
    it->ok = ev->ok;
    char *p = (char *)(it + 1);
    for (int i = 0; i < WB_AUDIT_F_COUNT; i++) {
        if (src[i] == NULL)
            continue;
        it->f[i] = p;
        p += wb_audit_clean(p, src[i]);
    }
    return it;
}

int wb_audit_record(wb_audit *a, const wb_audit_event *ev)
{
    if (a == NULL)
        return 0;
    if (ev == NULL || ev->action == NULL)
        return -1;
    wb_audit_item *it = wb_audit_item_new(ev);
    unsigned long dropped = 0;
    pthread_mutex_lock(&a->lock);
    if (it == NULL || a->n >= a->queue_max) {
        dropped = ++a->dropped;
    } else {
        if (a->tail != NULL)
            a->tail->next = it;
        else
            a->head = it;
        a->tail = it;
        a->n++;
        pthread_cond_signal(&a->cond);
    }
    pthread_mutex_unlock(&a->lock);
    if (dropped == 0)
        return 0;
    /* Logged at 1, 2, 4, 8... so that a flood does not flood the log too. */
    if ((dropped & (dropped - 1)) == 0)
        wb_error("audit: queue full, event %s dropped (%lu dropped so far)", ev->action, dropped);
    free(it);
    return -1;
}

unsigned long wb_audit_dropped(wb_audit *a)
{
    pthread_mutex_lock(&a->lock);
    const unsigned long d = a->dropped;
    pthread_mutex_unlock(&a->lock);
    return d;
}

static int wb_audit_queued(wb_audit *a)
{
    pthread_mutex_lock(&a->lock);
    const int n = a->n;
    pthread_mutex_unlock(&a->lock);
    return n;
}

/* ---- writing ---- */

/* Whether a checkpoint is due after last_id (cp_*: the newest checkpoint). */
static bool wb_audit_cp_due(const wb_audit *a, int64_t last_id, int64_t cp_last_id,
                            int64_t cp_time_us, bool force)
{
    if (last_id <= cp_last_id)
        return false;
    if (force || last_id - cp_last_id >= a->checkpoint_records)
        return true;
    return wb_audit_now_us() - cp_time_us >= (int64_t)a->checkpoint_seconds * 1000000;
}

static int wb_audit_write_checkpoint(wb_audit *a, wb_pg *pg, int64_t last_id,
                                     const uint8_t *last_hash)
{
    wb_audit_checkpoint cp = {.last_id = last_id, .time_us = wb_audit_now_us()};
    memcpy(cp.last_hash, last_hash, WB_AUDIT_HASH_BYTES);
    wb_audit_checkpoint_sign(&cp, a->sk);
    return wb_store_audit_checkpoint_add(pg, &cp);
}

/* Appends the first n queued items (n may be 0) in one transaction, then a checkpoint if due. */
static int wb_audit_append(wb_audit *a, wb_pg *pg, wb_audit_item *first, int n, bool force_cp)
{
    wb_audit_head head;
    int64_t cp_last_id, cp_time_us;
    if (wb_store_audit_begin_append(pg, &head, &cp_last_id, &cp_time_us) < 0)
        goto fail;
    uint8_t prev[WB_AUDIT_HASH_BYTES];
    memcpy(prev, head.last_hash, sizeof(prev));
    int64_t id = head.last_id;
    const wb_audit_item *it = first;
    for (int i = 0; i < n; i++, it = it->next) {
        wb_audit_rec r = {.id = ++id, .time_us = it->time_us, .ok = it->ok};
        r.actor = it->f[WB_AUDIT_F_ACTOR];
        r.role = it->f[WB_AUDIT_F_ROLE];
        r.action = it->f[WB_AUDIT_F_ACTION];
        r.target = it->f[WB_AUDIT_F_TARGET];
        r.source = it->f[WB_AUDIT_F_SOURCE];
        r.reason = it->f[WB_AUDIT_F_REASON];
        memcpy(r.prev_hash, prev, sizeof(prev));
        wb_audit_hash(&r, r.hash);
        if (wb_store_audit_insert(pg, &r) < 0)
            goto fail;
        memcpy(prev, r.hash, sizeof(prev));
    }
    if (n > 0 && wb_store_audit_head_set(pg, id, prev) < 0)
        goto fail;
    if (wb_audit_cp_due(a, id, cp_last_id, cp_time_us, force_cp) &&
        wb_audit_write_checkpoint(a, pg, id, prev) < 0)
        goto fail;
    if (wb_store_audit_commit(pg) < 0)
        goto fail;
    return 0;
fail:
    wb_store_audit_rollback(pg);
    return -1;
}

/* Removes the first n items of the queue (they are stored). */
static void wb_audit_pop(wb_audit *a, int n)
{
    wb_audit_item *done = NULL;
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < n && a->head != NULL; i++) {
        wb_audit_item *it = a->head;
        a->head = it->next;
        if (a->head == NULL)
            a->tail = NULL;
        a->n--;
        it->next = done;
        done = it;
    }
    pthread_mutex_unlock(&a->lock);
    while (done != NULL) {
        wb_audit_item *next = done->next;
        free(done);
        done = next;
    }
}

static void wb_audit_prune(wb_audit *a, wb_pg *pg)
{
    if (a->retention_days <= 0)
        return;
    const int64_t cutoff = wb_audit_now_us() - (int64_t)a->retention_days * 86400 * 1000000;
    long total = 0;
    for (int i = 0; i < WB_AUDIT_PRUNE_MAX; i++) {
        const long n = wb_store_audit_prune(pg, cutoff, WB_AUDIT_PRUNE_BATCH);
        if (n <= 0)
            break;
        total += n;
        if (n < WB_AUDIT_PRUNE_BATCH)
            break;
    }
    if (total > 0)
        wb_info("audit: retention pruned %ld records older than %d days", total, a->retention_days);
}

/* ---- the writer thread ---- */

typedef struct wb_audit_run {
    wb_pg *pg;
    time_t last_down_log, last_prune, stop_deadline;
    int poison; /* consecutive failures on a healthy connection */
    int delay;  /* seconds before the next attempt: 1, doubling up to WB_AUDIT_RETRY_MAX */
} wb_audit_run;

static time_t wb_audit_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Waits (lock held) until there is work, a stop, or seconds have passed. */
static void wb_audit_wait(wb_audit *a, int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += seconds;
    while (a->head == NULL && !a->stopping)
        if (pthread_cond_timedwait(&a->cond, &a->lock, &until) == ETIMEDOUT)
            break;
}

/* Sleeps seconds while the database is down; a stop asked meanwhile ends the pause at once (the
 * flush then retries every second until its deadline). */
static void wb_audit_pause(wb_audit *a, int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&a->lock);
    const bool stopping = a->stopping;
    while (stopping || !a->stopping)
        if (pthread_cond_timedwait(&a->cond, &a->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&a->lock);
}

static bool wb_audit_connect(wb_audit *a, wb_audit_run *run)
{
    if (run->pg != NULL)
        return true;
    run->pg = wb_store_sync_connect(a->dsn, 0);
    if (run->pg != NULL && wb_store_audit_session_init(run->pg) < 0) {
        wb_store_sync_close(run->pg);
        run->pg = NULL;
    }
    if (run->pg != NULL) {
        wb_info("audit: writer connected");
        return true;
    }
    const time_t now = wb_audit_mono();
    if (run->last_down_log == 0 || now - run->last_down_log >= WB_AUDIT_LOG_EVERY) {
        wb_warn("audit: database unavailable, %d events kept in the queue", wb_audit_queued(a));
        run->last_down_log = now;
    }
    return false;
}

/* One attempt at the first n items (after a failure, the connection is checked and dropped). */
static bool wb_audit_step(wb_audit *a, wb_audit_run *run, wb_audit_item *first, int n, bool final)
{
    if (wb_audit_append(a, run->pg, first, n, final) == 0) {
        run->poison = 0;
        wb_audit_pop(a, n);
        return true;
    }
    if (!wb_store_audit_conn_ok(run->pg)) {
        wb_store_sync_close(run->pg);
        run->pg = NULL;
        return false;
    }
    /* The database is up but refuses the batch: after a few tries, the first event goes, loudly,
     * so that one bad event cannot block every later one. */
    if (n > 0 && ++run->poison >= WB_AUDIT_POISON) {
        wb_error("audit: event %s (actor %s) cannot be stored, dropped",
                 first->f[WB_AUDIT_F_ACTION], first->f[WB_AUDIT_F_ACTOR]);
        wb_audit_pop(a, 1);
        run->poison = 0;
    }
    return false;
}

static void *wb_audit_main(void *arg)
{
    wb_audit *a = arg;
    wb_audit_run run = {.delay = 1};
    const int tick = a->checkpoint_seconds < 30 ? a->checkpoint_seconds : 30;
    for (;;) {
        pthread_mutex_lock(&a->lock);
        if (run.last_prune != 0) /* the first pass (retention at start) does not wait */
            wb_audit_wait(a, tick > 0 ? tick : 1);
        wb_audit_item *first = a->head;
        const int queued = a->n;
        /* After a refused batch, one event at a time: a bad one is then found and dropped. */
        const int batch = run.poison > 0 ? 1 : WB_AUDIT_BATCH;
        const int n = queued < batch ? queued : batch;
        const bool stopping = a->stopping;
        pthread_mutex_unlock(&a->lock);
        if (stopping && run.stop_deadline == 0)
            run.stop_deadline = wb_audit_mono() + a->flush_wait;
        if (stopping && wb_audit_mono() > run.stop_deadline)
            break;
        const bool last = stopping && n == queued; /* workers have stopped: nothing is added */
        if (!wb_audit_connect(a, &run) || !wb_audit_step(a, &run, first, n, last)) {
            wb_audit_pause(a, stopping ? 1 : run.delay);
            run.delay = run.delay * 2 > WB_AUDIT_RETRY_MAX ? WB_AUDIT_RETRY_MAX : run.delay * 2;
            continue;
        }
        run.delay = 1;
        if (last)
            break;
        if (run.last_prune == 0 || wb_audit_mono() - run.last_prune >= WB_AUDIT_PRUNE_EVERY) {
            wb_audit_prune(a, run.pg);
            run.last_prune = wb_audit_mono();
        }
    }
    const int left = wb_audit_queued(a);
    if (left > 0)
        wb_error("audit: stopping with %d events not stored (database unavailable)", left);
    wb_store_sync_close(run.pg);
    return NULL;
}

int wb_audit_write_now(wb_audit *a, wb_pg *pg)
{
    if (a == NULL || a->started)
        return a == NULL ? 0 : -1;
    for (;;) {
        pthread_mutex_lock(&a->lock);
        wb_audit_item *first = a->head;
        const int queued = a->n;
        pthread_mutex_unlock(&a->lock);
        const int n = queued < WB_AUDIT_BATCH ? queued : WB_AUDIT_BATCH;
        if (wb_audit_append(a, pg, first, n, n == queued) < 0)
            return -1;
        wb_audit_pop(a, n);
        if (n == queued)
            return 0;
    }
}

/* ---- life ---- */

wb_audit *wb_audit_new(const wb_audit_config *cfg, char *err, size_t errsize)
{
    wb_audit *a = calloc(1, sizeof(*a));
    if (a == NULL || sodium_init() < 0) {
        snprintf(err, errsize, "out of memory");
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    a->checkpoint_records = cfg->checkpoint_records > 0 ? cfg->checkpoint_records : 1;
    a->checkpoint_seconds = cfg->checkpoint_seconds > 0 ? cfg->checkpoint_seconds : 1;
    a->retention_days = cfg->retention_days;
    a->queue_max = cfg->queue_max > 0 ? cfg->queue_max : 1;
    a->flush_wait = cfg->flush_wait >= 0 ? cfg->flush_wait : 0;
    a->dsn = strdup(cfg->dsn ? cfg->dsn : "");
    a->key_file = strdup(cfg->key_file ? cfg->key_file : "");
    a->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (a->dsn == NULL || a->key_file == NULL || a->sk == NULL) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (wb_audit_key_load(a->key_file, cfg->create_key, a->pk, a->sk, err, errsize) < 0)
        goto fail;
    return a;
fail:
    wb_audit_free(a);
    return NULL;
}

int wb_audit_start(wb_audit *a)
{
    if (a == NULL || a->started)
        return 0;
    if (pthread_create(&a->thread, NULL, wb_audit_main, a) != 0) {
        wb_error("audit: cannot start the writer thread");
        return -1;
    }
    a->started = true;
    return 0;
}

void wb_audit_stop(wb_audit *a)
{
    if (a == NULL || !a->started)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    a->started = false;
}

void wb_audit_free(wb_audit *a)
{
    if (a == NULL)
        return;
    wb_audit_stop(a);
    wb_audit_pop(a, wb_audit_queued(a));
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
    if (a->sk != NULL)
        sodium_free(a->sk);
    free(a->dsn);
    free(a->key_file);
    free(a);
}

const char *wb_audit_dsn(const wb_audit *a)
{
    return a->dsn;
}

const uint8_t *wb_audit_public_key(const wb_audit *a)
{
    return a->pk;
}
