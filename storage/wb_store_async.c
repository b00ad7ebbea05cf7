/* Storage, asynchronous side: one libpq connection per worker driven by that worker's event loop
 * (pipeline mode, FIFO requests, reconnection with back-off). Not thread-safe by design. */
#include "wb_store.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"

#define WB_STORE_PART_MAX        1023 /* bytes of a prepared node or domain */
#define WB_STORE_BACKOFF_MAX     10   /* seconds */
#define WB_STORE_CONNECT_TIMEOUT 10   /* seconds for one connection attempt */

static const char wb_store_auth_sql[] =
    "SELECT a.id, a.disabled, s.hash, s.salt, s.iterations, s.stored_key, s.server_key "
    "FROM accounts a LEFT JOIN account_scram s ON s.account_id = a.id "
    "WHERE a.domain = $1 AND a.node = $2";

typedef enum { WB_STORE_DOWN, WB_STORE_CONNECTING, WB_STORE_READY } wb_store_state;

struct wb_store_req {
    wb_store_req *next;
    wb_store_auth_cb cb;
    void *arg;
    bool cancelled; /* the callback must not be called */
    bool sent;      /* its query and sync are in the pipeline */
    bool answered;  /* the callback has run (or was skipped) */
    const char *node;
    const char *domain;
    char data[]; /* node and domain, NUL-terminated */
};

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
};

static void wb_store_connect(wb_store *st);
static void wb_store_go_down(wb_store *st, const char *reason);

static void wb_store_reason(char *out, size_t size, const char *msg)
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
            r->cb(r->arg, WB_STORE_UNAVAILABLE, NULL);
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
        const char *const values[] = {r->domain, r->node};
        if (!PQsendQueryParams(st->conn, wb_store_auth_sql, 2, NULL, values, NULL, NULL, 1) ||
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

static uint64_t wb_store_be(const char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | (uint8_t)p[i];
    return v;
}

/* Copies a binary bytea column of at most max bytes; -1 if NULL or too long. */
static int wb_store_bytes(const PGresult *res, int row, int col, uint8_t *out, size_t max,
                          size_t *len)
{
    if (PQgetisnull(res, row, col) || (size_t)PQgetlength(res, row, col) > max)
        return -1;
    *len = (size_t)PQgetlength(res, row, col);
    memcpy(out, PQgetvalue(res, row, col), *len);
    return 0;
}

/* One row of the auth query: the account, and one credential unless the join found none. */
static int wb_store_parse_row(const PGresult *res, int row, wb_account_auth *a)
{
    if (PQgetlength(res, row, 0) != 8 || PQgetlength(res, row, 1) != 1)
        return -1;
    a->id = (int64_t)wb_store_be(PQgetvalue(res, row, 0), 8);
    a->disabled = PQgetvalue(res, row, 1)[0] != 0;
    if (PQgetisnull(res, row, 2))
        return 0;
    if (PQgetlength(res, row, 2) != 2 || PQgetlength(res, row, 4) != 4)
        return -1;
    const uint64_t h = wb_store_be(PQgetvalue(res, row, 2), 2);
    if (h > WB_SCRAM_SHA256)
        return -1;
    wb_scram_cred *c = &a->scram[h];
    const size_t want = wb_scram_hash_len((wb_scram_hash)h);
    size_t klen1 = 0, klen2 = 0;
    c->iterations = (uint32_t)wb_store_be(PQgetvalue(res, row, 4), 4);
    if (wb_store_bytes(res, row, 3, c->salt, WB_SCRAM_SALT_MAX, &c->salt_len) < 0 ||
        wb_store_bytes(res, row, 5, c->stored_key, WB_SCRAM_KEY_MAX, &klen1) < 0 ||
        wb_store_bytes(res, row, 6, c->server_key, WB_SCRAM_KEY_MAX, &klen2) < 0 || klen1 != want ||
        klen2 != want)
        return -1;
    return 0;
}

static void wb_store_deliver(wb_store_req *r, const PGresult *res)
{
    wb_account_auth a;
    wb_store_status status = WB_STORE_OK;
    memset(&a, 0, sizeof(a)); /* a missing credential has iterations == 0 */
    r->answered = true;
    if (r->cancelled)
        return;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char line[256];
        wb_store_reason(line, sizeof(line), PQresultErrorMessage(res));
        wb_warn("storage: account query failed: %s", line);
        status = WB_STORE_UNAVAILABLE;
    } else if (PQntuples(res) == 0) {
        status = WB_STORE_NOT_FOUND;
    }
    for (int i = 0; status == WB_STORE_OK && i < PQntuples(res); i++) {
        if (wb_store_parse_row(res, i, &a) < 0) {
            wb_warn("storage: malformed credentials in the database");
            status = WB_STORE_UNAVAILABLE;
        }
    }
    r->cb(r->arg, status, status == WB_STORE_OK ? &a : NULL);
    sodium_memzero(&a, sizeof(a));
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
            wb_store_deliver(r, res);
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

wb_store *wb_store_new(struct event_base *base, const char *dsn)
{
    wb_store *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->base = base;
    st->dsn = strdup(dsn);
    st->timer = evtimer_new(base, wb_store_timer_cb, st);
    st->kick = event_new(base, -1, 0, wb_store_kick_cb, st);
    if (st->dsn == NULL || st->timer == NULL || st->kick == NULL)
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
    free(st->dsn);
    free(st);
}

wb_store_req *wb_store_account_auth(wb_store *st, const char *node, const char *domain,
                                    wb_store_auth_cb cb, void *arg)
{
    const size_t nlen = strlen(node), dlen = strlen(domain);
    if (nlen > WB_STORE_PART_MAX || dlen > WB_STORE_PART_MAX)
        return NULL;
    wb_store_req *r = calloc(1, sizeof(*r) + nlen + dlen + 2);
    if (r == NULL)
        return NULL;
    memcpy(r->data, node, nlen + 1);
    memcpy(r->data + nlen + 1, domain, dlen + 1);
    r->node = r->data;
    r->domain = r->data + nlen + 1;
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
