/* Storage: the only code that talks to PostgreSQL. A wb_store is one libpq connection driven
 * asynchronously on one worker's event loop (reconnecting by itself when the server goes away);
 * wb_store_sync_* are blocking helpers for start-up and for warblerctl. */
#ifndef WB_STORE_H
#define WB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_scram.h"

struct event_base;

/* ---- asynchronous, one per worker ---- */
typedef struct wb_store wb_store;
typedef struct wb_store_req wb_store_req;

struct wb_vault;
/* vault: opens and seals user payloads (storage/wb_vault.h); may be NULL, then every request that
 * needs an account's data key fails as WB_STORE_UNAVAILABLE. Not owned by the store. */
wb_store *wb_store_new(struct event_base *base, const char *dsn, struct wb_vault *vault);
/* Closes the connection. Every pending request that was not cancelled gets WB_STORE_UNAVAILABLE
 * first (so that its owner can free what it holds); requests made from those callbacks are
 * dropped without a call. Not to be called from a store callback. */
void wb_store_free(wb_store *st);

typedef enum {
    WB_STORE_OK = 0,
    WB_STORE_NOT_FOUND,
    WB_STORE_UNAVAILABLE, /* database down or query failed: a temporary failure */
} wb_store_status;

typedef struct wb_account_auth {
    int64_t id;
    bool disabled;
    wb_scram_cred scram[2]; /* indexed by wb_scram_hash */
} wb_account_auth;

typedef void (*wb_store_auth_cb)(void *arg, wb_store_status status, const wb_account_auth *a);
/* Looks up the credentials of node@domain (both already prepared). The returned request may be
 * cancelled until the callback has run; after that it is gone. Returns NULL only if the request
 * could not even be queued (then the callback is never called). */
wb_store_req *wb_store_account_auth(wb_store *st, const char *node, const char *domain,
                                    wb_store_auth_cb cb, void *arg);
void wb_store_req_cancel(wb_store_req *req);

/* ---- synchronous: start-up and warblerctl ---- */
typedef struct pg_conn wb_pg; /* libpq's PGconn */

/* Connects, retrying every second with a log line while the server is not up, for at most
 * wait_seconds (0 = one try). NULL on failure, with the reason logged. */
wb_pg *wb_store_sync_connect(const char *dsn, int wait_seconds);
void wb_store_sync_close(wb_pg *pg);
/* Applies the numbered migrations not yet applied, under an advisory lock. 0 or -1. */
int wb_store_migrate(wb_pg *pg);

/* Account administration. Passwords are turned into SCRAM-SHA-1 and SCRAM-SHA-256 credentials
 * here and never stored. Return 0, or -1 with a one-line reason in err (errsize bytes):
 * "already exists", "no such account", or the database's message. */
int wb_store_account_create(wb_pg *pg, const char *node, const char *domain, const char *password,
                            uint32_t iterations, char *err, size_t errsize);
int wb_store_account_set_password(wb_pg *pg, const char *node, const char *domain,
                                  const char *password, uint32_t iterations, char *err,
                                  size_t errsize);
int wb_store_account_delete(wb_pg *pg, const char *node, const char *domain, char *err,
                            size_t errsize);
/* Calls fn for each account as "node@domain", ordered; domain NULL lists every domain. */
int wb_store_account_list(wb_pg *pg, const char *domain,
                          void (*fn)(void *arg, const char *jid, bool disabled), void *arg,
                          char *err, size_t errsize);

#endif
