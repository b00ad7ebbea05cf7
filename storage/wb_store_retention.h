/* Storage of message retention: per-account and per-conversation settings (asynchronous for the
 * server, blocking for warblerctl) and the sweep that erases expired archived and queued messages.
 * Not for deciding when to sweep (server/wb_sweeper.c) nor for reading timers (retention.c). */
#ifndef WB_STORE_RETENTION_H
#define WB_STORE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"

/* Longest retention one may set: about a hundred years, in seconds. */
#define WB_RETENTION_MAX_SECONDS 3153600000LL
/* Most rows of each table one sweep statement erases. */
#define WB_RETENTION_BATCH_MAX 100000

/* status: WB_STORE_OK, WB_STORE_NOT_FOUND (no such account) or WB_STORE_UNAVAILABLE. */
typedef void (*wb_store_retention_set_cb)(void *arg, wb_store_status status);
/* Sets how long node@domain keeps messages (seconds, 0: forever) with peer (a bare JID), or for
 * the whole account when peer is NULL; seconds < 0 removes the setting. cb may be NULL. NULL
 * when the request could not be queued (the callback is then never called). */
wb_store_req *wb_store_retention_set(wb_store *st, const char *node, const char *domain,
                                     const char *peer, int64_t seconds,
                                     wb_store_retention_set_cb cb, void *arg);

/* account_s, peer_s: the account's and the conversation's settings in seconds, -1 when not set.
 * status as for set. */
typedef void (*wb_store_retention_get_cb)(void *arg, wb_store_status status, int64_t account_s,
                                          int64_t peer_s);
/* peer may be NULL (then peer_s is -1). NULL when the request could not be queued. */
wb_store_req *wb_store_retention_get(wb_store *st, const char *node, const char *domain,
                                     const char *peer, wb_store_retention_get_cb cb, void *arg);

typedef struct wb_retention_sweep {
    int64_t default_s; /* the server's default retention in seconds, 0: forever */
    int64_t unit_ms;   /* milliseconds per second of every retention value (1000 in production) */
    int batch;         /* most rows erased per table (1..WB_RETENTION_BATCH_MAX) */
    const char *node, *domain; /* only this account's messages, or both NULL for all */
} wb_retention_sweep;

/* archived, queued: rows erased from the archive and from the offline queue. */
typedef void (*wb_store_retention_sweep_cb)(void *arg, wb_store_status status, uint64_t archived,
                                            uint64_t queued);
/* One bounded sweep statement; the caller repeats while a table gave a full batch. cb may be
 * NULL. NULL when the request could not be queued. */
wb_store_req *wb_store_retention_sweep_run(wb_store *st, const wb_retention_sweep *s,
                                           wb_store_retention_sweep_cb cb, void *arg);

/* ---- blocking, for warblerctl ---- */

/* As wb_store_retention_set. 0, or -1 with a one-line reason ("no such account", or the
 * database's message). */
int wb_store_retention_set_sync(wb_pg *pg, const char *node, const char *domain, const char *peer,
                                int64_t seconds, char *err, size_t errsize);
/* Calls fn for each setting of node@domain, the account's own first (peer ""), then by peer.
 * 0, or -1 with a reason ("no such account"...). */
int wb_store_retention_list(wb_pg *pg, const char *node, const char *domain,
                            void (*fn)(void *arg, const char *peer, int64_t seconds), void *arg,
                            char *err, size_t errsize);

#endif
