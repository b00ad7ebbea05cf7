/* Private to storage/: the shape shared by requests on sealed columns (the owner's data key, then
 * one query, again once from the key when it was stale) and sealing/opening one column value.
 * Not for the vault itself (wb_vault.h) nor for the key cache (wb_store_keys.h). */
#ifndef WB_STORE_SEAL_H
#define WB_STORE_SEAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_buf.h"
#include "wb_store_int.h"
#include "wb_vault.h"

#define WB_STORE_SEAL_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_STORE_SEAL_AD_MAX   3200 /* associated data: "table:account:row:column" */

typedef struct wb_store_sealed wb_store_sealed;

typedef struct wb_store_sealed_ops {
    /* Submits the query with wb_store_sealed_submit (s->key is set). -1 when not queued. */
    int (*query)(wb_store_sealed *s);
    /* The query's result (NULL: database unavailable). Answers the caller through s->h->cb,
     * unless it restarted the request (wb_store_sealed_stale returned 0). */
    void (*deliver)(wb_store_sealed *s, const PGresult *res);
    /* No key (NOT_FOUND: no such account; UNAVAILABLE), or the query could not be queued:
     * answers the caller with status. */
    void (*fail)(wb_store_sealed *s, wb_store_status status);
    /* Frees what the request owns besides s (plaintext zeroed); may be NULL. s is freed after. */
    void (*release)(wb_store_sealed *s);
} wb_store_sealed_ops;

/* Embedded first in each request's own struct (allocated by the caller with calloc). */
struct wb_store_sealed {
    wb_store *st;
    wb_store_req *h; /* the caller's handle: typed callback, argument, cancelled */
    const wb_store_sealed_ops *ops;
    wb_vault_key *key; /* the owner's data key while the query runs */
    char domain[WB_STORE_SEAL_PART_MAX + 1], node[WB_STORE_SEAL_PART_MAX + 1];
    bool retried;   /* the key was found stale once already */
    bool restarted; /* set by wb_store_sealed_stale during deliver */
};

/* Fills s (already zeroed) and asks for the key of node@domain. Returns the caller's handle, or
 * NULL (s released and freed, no callback) when the names are too long or memory is short. */
wb_store_req *wb_store_sealed_start(wb_store_sealed *s, wb_store *st, const char *node,
                                    const char *domain, const wb_store_sealed_ops *ops,
                                    void (*cb)(void), void *arg);
/* Queues sql for s; its result goes to ops->deliver. -1 when not queued. */
int wb_store_sealed_submit(wb_store_sealed *s, const char *sql, const wb_store_param *p, int n);
/* From ops->deliver, when the query found that the account is not the key's (deleted and
 * created again): forgets the cached key and starts again from the key, once. 0 when restarted
 * (deliver returns without answering), -1 otherwise (deliver answers UNAVAILABLE). */
int wb_store_sealed_stale(wb_store_sealed *s);
/* The account the key belongs to. */
int64_t wb_store_sealed_account(const wb_store_sealed *s);

/* Appends the sealed form of plain (len bytes) to out: key, associated data ad. 0 or -1. */
int wb_store_seal_value(const wb_vault_key *key, const char *ad, const void *plain, size_t len,
                        wb_buf *out);
/* Opens column col of row in res (a sealed bytea of at most max plaintext bytes): a malloc'd,
 * NUL-terminated plaintext (free with wb_store_seal_free) and its length, or NULL when the
 * column is NULL (*bad false) or does not open (*bad true: altered, moved from another row or
 * account, or too long: the caller reports it with wb_store_seal_report, never returns it). */
char *wb_store_open_value(const wb_vault_key *key, const char *ad, const PGresult *res, int row,
                          int col, size_t max, size_t *len, bool *bad);
/* Logs that a sealed value of account's table.column does not open (treated as absent). */
void wb_store_seal_report(int64_t account, const char *table, const char *column);
/* Zeroes and frees a plaintext from wb_store_open_value (NULL is fine). */
void wb_store_seal_free(char *plain, size_t len);

#endif
