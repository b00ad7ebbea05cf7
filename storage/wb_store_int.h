/* Private to storage/: the asynchronous request core (wb_store_async.c) that typed queries
 * (wb_store_auth.c, wb_store_roster.c, ...) are built on, and small result helpers. */
#ifndef WB_STORE_INT_H
#define WB_STORE_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"

#define WB_STORE_MAX_PARAMS 12

/* Called once per request: res is the query's result, or NULL when the database was unavailable
 * (the request then failed as a whole). Not called for cancelled requests. */
typedef void (*wb_store_deliver_fn)(wb_store_req *r, const PGresult *res);

struct wb_store_req {
    wb_store_req *next;
    wb_store_deliver_fn deliver;
    void (*cb)(void); /* the typed callback, cast back by deliver */
    void *arg;
    bool cancelled; /* the callback must not be called */
    bool sent;      /* its query and sync are in the pipeline */
    bool answered;  /* the callback has run (or was skipped) */
    const char *sql;
    uint64_t submitted_us; /* wb_metrics_now_us() at submit: the latency histogram */
    int nparams;
    const char *values[WB_STORE_MAX_PARAMS];
    int lengths[WB_STORE_MAX_PARAMS];
    int formats[WB_STORE_MAX_PARAMS];
    char data[]; /* copies of the parameter values */
};

/* One parameter: text (len < 0: NUL-terminated string) or binary bytes (len >= 0). */
typedef struct wb_store_param {
    const void *p;
    int len;
    int binary;
} wb_store_param;

#define WB_SP_TEXT(s)   ((wb_store_param){(s), -1, 0})
#define WB_SP_BIN(p, n) ((wb_store_param){(p), (int)(n), 1})

/* Queues sql with copies of its parameters; results come back in binary format. Never calls back
 * from here. NULL only when out of memory (then nothing will be called). */
wb_store_req *wb_store_submit(wb_store *st, const char *sql, const wb_store_param *params,
                              int nparams, wb_store_deliver_fn deliver, void (*cb)(void),
                              void *arg);

/* Result helpers for binary-format columns. */
uint64_t wb_store_be(const char *p, size_t n);
int64_t wb_store_get_int(const PGresult *res, int row, int col); /* int2/int4/int8 */
bool wb_store_get_bool(const PGresult *res, int row, int col);
/* Copies a bytea of at most max bytes; -1 if NULL or too long. */
int wb_store_get_bytes(const PGresult *res, int row, int col, uint8_t *out, size_t max,
                       size_t *len);
/* One-line reason from a libpq message, for logs. */
void wb_store_reason(char *out, size_t size, const char *msg);
/* PGRES_COMMAND_OK or PGRES_TUPLES_OK; otherwise logs what failed and returns false. */
bool wb_store_result_ok(const PGresult *res, const char *what);

#endif
