/* Storage of offline messages (XEP-0160): queue a stanza for an account under a quota, fetch the
 * queue in order, delete what was delivered. Not for deciding what is stored (server/modules). */
#ifndef WB_STORE_OFFLINE_H
#define WB_STORE_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"

/* Most rows one fetch returns and one delete takes. */
#define WB_STORE_OFFLINE_BATCH_MAX 100

typedef enum {
    WB_OFFLINE_STORED = 0,
    WB_OFFLINE_NO_ACCOUNT,  /* no such account */
    WB_OFFLINE_FULL,        /* the account already has `max` queued messages */
    WB_OFFLINE_UNAVAILABLE, /* database down or query failed: not stored */
} wb_offline_put_result;

typedef void (*wb_store_offline_put_cb)(void *arg, wb_offline_put_result result);
/* Queues payload (len bytes, the stanza as it will be delivered) for node@domain, in one
 * statement that finds the account and refuses when it already holds max messages. sender is
 * the sender's JID. NULL when the request could not be queued (the callback is never called). */
wb_store_req *wb_store_offline_put(wb_store *st, const char *node, const char *domain,
                                   const char *sender, const char *payload, size_t len,
                                   uint32_t max, wb_store_offline_put_cb cb, void *arg);
/* The same for a message carrying an XEP-0466 timer: the row goes at expires_us (microseconds
 * since the epoch; 0: never) and is not fetched after it. */
/* With an XEP-0466 expiry (0: none) and the retraction key of the message (see
 * wb_store_retract_key; NULL: none), stored with the queued copy so that a retraction by its
 * sender finds exactly it. */
#define WB_STORE_RETRACT_KEY_MAX 32
wb_store_req *wb_store_offline_put_until(wb_store *st, const char *node, const char *domain,
                                         const char *sender, const char *payload, size_t len,
                                         uint32_t max, int64_t expires_us,
                                         const uint8_t *retract_key, size_t retract_key_len,
                                         wb_store_offline_put_cb cb, void *arg);

typedef struct wb_offline_item {
    int64_t id;
    const char *payload; /* valid during the callback only */
    size_t len;
} wb_offline_item;

/* items: the oldest queued messages in order, without those whose XEP-0466 timer ran out (n <= the
 * max asked; 0 when the queue is empty or the account unknown); NULL with status
 * WB_STORE_UNAVAILABLE. */
typedef void (*wb_store_offline_fetch_cb)(void *arg, wb_store_status status,
                                          const wb_offline_item *items, size_t n);
wb_store_req *wb_store_offline_fetch(wb_store *st, const char *node, const char *domain, size_t max,
                                     wb_store_offline_fetch_cb cb, void *arg);

/* Deletes the rows with these ids (n <= WB_STORE_OFFLINE_BATCH_MAX) if they belong to
 * node@domain. cb may be NULL; status WB_STORE_OK or WB_STORE_UNAVAILABLE. */
typedef void (*wb_store_offline_done_cb)(void *arg, wb_store_status status);
wb_store_req *wb_store_offline_delete(wb_store *st, const char *node, const char *domain,
                                      const int64_t *ids, size_t n, wb_store_offline_done_cb cb,
                                      void *arg);

#endif
