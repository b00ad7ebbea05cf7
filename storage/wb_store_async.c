/* Storage, asynchronous side: one libpq connection per worker driven by that worker's event loop
 * (pipeline mode, FIFO requests, reconnection with back-off). Not thread-safe by design. */
#include "wb_store_int.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_keys.h"
#include "wb_metrics.h"

#define WB_STORE_BACKOFF_MAX     10 /* seconds */
#define WB_STORE_CONNECT_TIMEOUT 10 /* seconds for one connection attempt */

typedef enum { WB_STORE_DOWN, WB_STORE_CONNECTING, WB_STORE_READY } wb_store_state;

struct wb_store {
    struct event_base *base;
    char *dsn;
    PGconn *conn;
    wb_store_state state;
    struct event *io;    /* connecting: one-shot; ready: persistent read */
    struct event *wr;    /* ready: write, added while PQflush has data left */
    struct event *timer; /* reconnection back-off */
    struct event *kick;  /* deferred: send queued requests, or fail them while down */
    int backoff;
    bool down_logged;
    wb_store_req *head, *tail; /* FIFO; sent requests form a prefix */
    wb_store_req *unsent;      /* first request not sent yet, or NULL */
    wb_store_keycache *keys;   /* this store's cache of unwrapped account data keys */
};

static void wb_store_connect(wb_store *st);
static void wb_store_go_down(wb_store *st, const char *reason);

void wb_store_reason(char *out, size_t size, const char *msg)
{
    size_t n = strcspn(msg ? msg : "", "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, msg ? msg : "", n);
    out[n] = '\0';
}

static void wb_store_notice(void *arg, const char *msg)
{
    char line[256];
    (void)arg;
    wb_store_reason(line, sizeof(line), msg);
    wb_debug("storage: PostgreSQL says: %s", line);
}

static void wb_store_free_events(wb_store *st)
{
    if (st->io != NULL)
        event_free(st->io);
    if (st->wr != NULL)
        event_free(st->wr);
    st->io = NULL;
    st->wr = NULL;
}

/* Detaches the queue, then calls every pending callback with UNAVAILABLE. Callbacks may queue
 * new requests: they land in the fresh queue and are failed (or sent) from the kick event. */
static void wb_store_fail_all(wb_store *st)
{
    wb_store_req *r = st->head;
    st->head = st->tail = st->unsent = NULL;
    while (r != NULL) {
        wb_store_req *next = r->next;
        if (!r->cancelled && !r->answered)
            r->deliver(r, NULL);
        if (!r->answered)
            wb_metrics_inc(WB_METRIC_STORE_FAILURES);
        free(r);
        r = next;
    }
}

static void wb_store_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_store_connect(arg);
}

static void wb_store_go_down(wb_store *st, const char *reason)
{
    char line[256];
    wb_store_reason(line, sizeof(line), reason);
    wb_store_free_events(st);
    PQfinish(st->conn);
    st->conn = NULL;
    st->state = WB_STORE_DOWN;
    if (!st->down_logged)
        wb_warn("storage: PostgreSQL unavailable (%s), reconnecting", line);
    else
        wb_debug("storage: reconnection failed (%s)", line);
    st->down_logged = true;
    st->backoff = st->backoff == 0 ? 1 : st->backoff * 2;
    if (st->backoff > WB_STORE_BACKOFF_MAX)
        st->backoff = WB_STORE_BACKOFF_MAX;
    const struct timeval tv = {st->backoff, 0};
    evtimer_add(st->timer, &tv);
    wb_store_fail_all(st);
}

static void wb_store_flush(wb_store *st)
{
    const int rc = PQflush(st->conn);
    if (rc < 0)
        wb_store_go_down(st, PQerrorMessage(st->conn));
    else if (rc == 1)
        event_add(st->wr, NULL);
}

/* Puts every unsent request into the pipeline, each followed by a sync point so that an error
 * in one does not abort the next. */
static void wb_store_send_pending(wb_store *st)
{
    if (st->unsent == NULL)
        return;
    for (wb_store_req *r = st->unsent; r != NULL; r = r->next) {
        if (!PQsendQueryParams(st->conn, r->sql, r->nparams, NULL, r->values, r->lengths,
                               r->formats, 1) ||
            !PQpipelineSync(st->conn)) {
            wb_store_go_down(st, PQerrorMessage(st->conn));
            return;
        }
        r->sent = true;
    }
    st->unsent = NULL;
    wb_store_flush(st);
}

static void wb_store_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    wb_store *st = arg;
    (void)fd;
    (void)what;
    if (st->state == WB_STORE_DOWN)
        wb_store_fail_all(st);
    else if (st->state == WB_STORE_READY)
        wb_store_send_pending(st);
}

/* Reads what has arrived: per request, its result, a NULL, then the sync point. */
static void wb_store_read_results(wb_store *st)
{
    int nulls = 0;
    while (st->head != NULL && st->head->sent && !PQisBusy(st->conn)) {
        PGresult *res = PQgetResult(st->conn);
        wb_store_req *r = st->head;
        if (res == NULL) {
            if (++nulls > 1)
                break; /* nothing more to read: should not happen with a sync pending */
            continue;
        }
        nulls = 0;
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            st->head = r->next;
            if (st->head == NULL)
                st->tail = NULL;
            free(r);
        } else if (!r->answered) {
            r->answered = true;
            wb_metrics_store_latency(wb_metrics_now_us() - r->submitted_us);
            if (!r->cancelled)
                r->deliver(r, res);
        }
        PQclear(res);
    }
}

static void wb_store_io_cb(evutil_socket_t fd, short what, void *arg)
{
    wb_store *st = arg;
    (void)fd;
    if (what & EV_WRITE) {
        wb_store_flush(st);
        return;
    }
    if (!PQconsumeInput(st->conn)) {
        wb_store_go_down(st, PQerrorMessage(st->conn));
        return;
    }
    wb_store_read_results(st);
    if (st->state == WB_STORE_READY && PQstatus(st->conn) == CONNECTION_BAD) {
        wb_store_go_down(st, PQerrorMessage(st->conn));
        return;
    }
    if (st->state == WB_STORE_READY && event_pending(st->wr, EV_WRITE, NULL))
        wb_store_flush(st);
}

static void wb_store_connected(wb_store *st)
{
    const evutil_socket_t fd = PQsocket(st->conn);
    wb_store_free_events(st);
    if (PQsetnonblocking(st->conn, 1) != 0 || !PQenterPipelineMode(st->conn)) {
        wb_store_go_down(st, PQerrorMessage(st->conn));
        return;
    }
    st->io = event_new(st->base, fd, EV_READ | EV_PERSIST, wb_store_io_cb, st);
    st->wr = event_new(st->base, fd, EV_WRITE, wb_store_io_cb, st);
    if (st->io == NULL || st->wr == NULL || event_add(st->io, NULL) < 0) {
        wb_store_go_down(st, "out of memory");
        return;
    }
    st->state = WB_STORE_READY;
    st->backoff = 0;
    if (st->down_logged)
        wb_info("storage: PostgreSQL is back");
    else
        wb_debug("storage: connected to PostgreSQL");
    st->down_logged = false;
    wb_store_send_pending(st);
}

static void wb_store_connect_cb(evutil_socket_t fd, short what, void *arg);

/* Waits for the socket as PQconnectPoll asked (the socket may change between attempts). */
static void wb_store_connect_wait(wb_store *st, PostgresPollingStatusType poll)
{
    const struct timeval tv = {WB_STORE_CONNECT_TIMEOUT, 0};
    const short ev = poll == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
    wb_store_free_events(st);
    st->io = event_new(st->base, PQsocket(st->conn), ev, wb_store_connect_cb, st);
    if (st->io == NULL || event_add(st->io, &tv) < 0)
        wb_store_go_down(st, "out of memory");
}

static void wb_store_connect_cb(evutil_socket_t fd, short what, void *arg)
{
    wb_store *st = arg;
    (void)fd;
    if (what & EV_TIMEOUT) {
        wb_store_go_down(st, "connection timed out");
        return;
    }
    const PostgresPollingStatusType poll = PQconnectPoll(st->conn);
    if (poll == PGRES_POLLING_OK)
        wb_store_connected(st);
    else if (poll == PGRES_POLLING_FAILED)
        wb_store_go_down(st, PQerrorMessage(st->conn));
    else
        wb_store_connect_wait(st, poll);
}

static void wb_store_connect(wb_store *st)
{
    st->conn = PQconnectStart(st->dsn);
    if (st->conn == NULL) {
        wb_store_go_down(st, "out of memory");
        return;
    }
    if (PQstatus(st->conn) == CONNECTION_BAD) {
        wb_store_go_down(st, PQerrorMessage(st->conn));
        return;
    }
    PQsetNoticeProcessor(st->conn, wb_store_notice, st);
    st->state = WB_STORE_CONNECTING;
    wb_store_connect_wait(st, PGRES_POLLING_WRITING);
}

wb_store_keycache *wb_store_keycache_of(wb_store *st)
{
    return st->keys;
}

wb_store *wb_store_new(struct event_base *base, const char *dsn, wb_vault *vault)
{
    wb_store *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->base = base;
    st->dsn = strdup(dsn);
    st->timer = evtimer_new(base, wb_store_timer_cb, st);
    st->kick = event_new(base, -1, 0, wb_store_kick_cb, st);
    st->keys = wb_store_keycache_new(st, base, vault);
    if (st->dsn == NULL || st->timer == NULL || st->kick == NULL || st->keys == NULL)
        goto fail;
    wb_store_connect(st);
    return st;
fail:
    wb_store_free(st);
    return NULL;
}

void wb_store_free(wb_store *st)
{
    if (st == NULL)
        return;
    /* Owners of pending requests hear UNAVAILABLE, so that they can free what they hold; what
     * they queue from their callbacks is dropped below without a call. Key requests are refused
     * from now on. */
    wb_store_keycache_close(st->keys);
    wb_store_fail_all(st);
    wb_store_free_events(st);
    if (st->timer != NULL)
        event_free(st->timer);
    if (st->kick != NULL)
        event_free(st->kick);
    PQfinish(st->conn);
    for (wb_store_req *r = st->head, *next; r != NULL; r = next) {
        next = r->next;
        free(r);
    }
    wb_store_keycache_free(st->keys);
    free(st->dsn);
    free(st);
}

wb_store_req *wb_store_submit(wb_store *st, const char *sql, const wb_store_param *params,
                              int nparams, wb_store_deliver_fn deliver, void (*cb)(void), void *arg)
{
    size_t size = 0;
    if (nparams < 0 || nparams > WB_STORE_MAX_PARAMS)
        return NULL;
    for (int i = 0; i < nparams; i++)
        size += params[i].len < 0 ? strlen(params[i].p) + 1 : (size_t)params[i].len + 1;
    wb_store_req *r = calloc(1, sizeof(*r) + size);
    if (r == NULL)
        return NULL;
    char *p = r->data;
    for (int i = 0; i < nparams; i++) {
        const size_t n = params[i].len < 0 ? strlen(params[i].p) : (size_t)params[i].len;
        if (n)
            memcpy(p, params[i].p, n);
        p[n] = '\0';
        r->values[i] = p;
        r->lengths[i] = (int)n;
        r->formats[i] = params[i].binary;
        p += n + 1;
    }
    r->sql = sql;
    r->submitted_us = wb_metrics_now_us();
    r->nparams = nparams;
    r->deliver = deliver;
    r->cb = cb;
    r->arg = arg;
    if (st->tail != NULL)
        st->tail->next = r;
    else
        st->head = r;
    st->tail = r;
    if (st->unsent == NULL)
        st->unsent = r;
    /* Never call back nor touch the socket from here: the caller gets r first. */
    event_active(st->kick, EV_TIMEOUT, 0);
    return r;
}

void wb_store_req_cancel(wb_store_req *req)
{
    if (req != NULL)
        req->cancelled = true;
}
