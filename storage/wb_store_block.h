/* Storage of XEP-0191 block lists (table blocklist, migration 005): asynchronous reads and changes
 * on a worker's wb_store. JIDs go in and come out prepared; no matching or caching here. */
#ifndef WB_STORE_BLOCK_H
#define WB_STORE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "wb_store.h"

#define WB_STORE_BLOCK_MAX_ITEMS 256 /* JIDs in one add or remove request */

/* jids[0..n-1] are valid only during the call. status is OK (n may be 0: an empty list or no
 * such account) or UNAVAILABLE. */
typedef void (*wb_store_block_list_cb)(void *arg, wb_store_status status, const char *const *jids,
                                       size_t n);
/* fits: false when the list would have grown beyond max_items (nothing was added then). */
typedef void (*wb_store_block_add_cb)(void *arg, wb_store_status status, bool fits);

/* The block list of node@domain, ordered. As every store request: cancellable until the callback
 * ran; NULL when it could not be queued (the callback is then never called). */
wb_store_req *wb_store_block_list(wb_store *st, const char *node, const char *domain,
                                  wb_store_block_list_cb cb, void *arg);
/* Adds n (1..WB_STORE_BLOCK_MAX_ITEMS) JIDs to the list, all of them or none when the list would
 * then hold more than max_items; JIDs already there are kept once. */
wb_store_req *wb_store_block_add(wb_store *st, const char *node, const char *domain,
                                 const char *const *jids, size_t n, unsigned max_items,
                                 wb_store_block_add_cb cb, void *arg);
/* Removes n JIDs from the list (absent ones are ignored); n == 0 empties the whole list. The
 * callback gets the JIDs that were actually removed. */
wb_store_req *wb_store_block_remove(wb_store *st, const char *node, const char *domain,
                                    const char *const *jids, size_t n, wb_store_block_list_cb cb,
                                    void *arg);

#endif
