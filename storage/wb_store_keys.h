/* Account data keys for the async store: fetched (or created on first use), unwrapped by the
 * vault and cached per worker. Storage files call this before sealing or opening a payload. */
#ifndef WB_STORE_KEYS_H
#define WB_STORE_KEYS_H

#include <time.h>

#include "wb_store.h"
#include "wb_vault.h"

/* key is valid for the callback's duration (wb_vault_key_ref to keep it); NULL unless OK.
 * WB_STORE_NOT_FOUND: no such account. Always answered asynchronously, like every request. */
typedef void (*wb_store_key_cb)(void *arg, wb_store_status status, wb_vault_key *key);
wb_store_req *wb_store_account_key(wb_store *st, const char *domain, const char *node,
                                   wb_store_key_cb cb, void *arg);
/* Forgets the cached key of node@domain: a query found that the account behind the name is not
 * the one the key belongs to (deleted and created again). */
void wb_store_account_key_forget(wb_store *st, const char *domain, const char *node);

/* ---- private to storage/: the per-store key cache, owned by wb_store_async.c ---- */
typedef struct wb_store_keycache wb_store_keycache;
struct event_base;
wb_store_keycache *wb_store_keycache_new(wb_store *st, struct event_base *base, wb_vault *vault);
/* First step of wb_store_free: pending key answers fail (UNAVAILABLE), new requests are refused. */
void wb_store_keycache_close(wb_store_keycache *kc);
void wb_store_keycache_free(wb_store_keycache *kc);
/* The store's cache (defined in wb_store_async.c). */
wb_store_keycache *wb_store_keycache_of(wb_store *st);
/* A handle for a request made of several steps (the key, then a query): the caller may cancel
 * it (wb_store_req_cancel) like any request; it is never queued. calloc'd, freed with free(). */
wb_store_req *wb_store_handle_new(void (*cb)(void), void *arg);

/* ---- synchronous side (warblerctl) ---- */

/* Creates the data key of node@domain unless it has one. 0, or -1 with the reason in err. */
int wb_store_account_key_create(wb_pg *pg, wb_vault *v, const char *node, const char *domain,
                                char *err, size_t errsize);

/* Master-key rotation: re-wraps, in one transaction, up to batch data keys that are not yet under
 * the vault's next master key. Returns how many (0: none left), or -1 with err. *remaining gets
 * how many are left after it, *total how many keys there are. */
int wb_store_keys_rewrap_batch(wb_pg *pg, wb_vault *v, int batch, int64_t *remaining,
                               int64_t *total, char *err, size_t errsize);

#define WB_STORE_KEYS_IDS_MAX 8
typedef struct wb_store_keys_status {
    int64_t total;
    size_t n_ids;
    struct {
        uint8_t id[WB_VAULT_ID_BYTES];
        int64_t count;
    } ids[WB_STORE_KEYS_IDS_MAX]; /* keys per master key, most first */
    char oldest[96], newest[96];  /* creation time and age ("" when no key) */
    char last_rewrap[96];         /* time and age of the last re-wrap ("" when never) */
} wb_store_keys_status;
int wb_store_keys_status_get(wb_pg *pg, wb_store_keys_status *out, char *err, size_t errsize);

#endif
