/* The shared in-memory cache of XEP-0191 block lists (one entry per account, all workers, under a
 * rwlock), JID matching (XEP-0191 section 3.6) and the set of "interested" sessions. No I/O here.
 */
#ifndef WB_BLOCKING_CACHE_H
#define WB_BLOCKING_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_jid.h"

typedef struct wb_block_cache wb_block_cache;

typedef enum { WB_BLOCK_UNKNOWN = -1, WB_BLOCK_NO = 0, WB_BLOCK_YES = 1 } wb_block_answer;

/* At most max_accounts lists are kept; the least recently used goes first. */
wb_block_cache *wb_block_cache_new(size_t max_accounts);
void wb_block_cache_free(wb_block_cache *bc);

/* Whether the prepared block-list item (a JID in its normalised text form) matches jid. */
bool wb_block_item_matches(const char *item, const wb_jid *jid);
/* Whether some of the n items match jid. */
bool wb_block_items_match(const char *const *items, size_t n, const wb_jid *jid);

/* Whether the account (bare part of `account`) blocks jid; UNKNOWN when its list is not cached. */
wb_block_answer wb_block_cache_blocks(wb_block_cache *bc, const wb_jid *account, const wb_jid *jid);
/* Calls fn for each cached item of the account; returns how many, or -1 when not cached. */
long wb_block_cache_each(wb_block_cache *bc, const wb_jid *account,
                         void (*fn)(void *arg, const char *item), void *arg);

/* Changes completed so far: read it before loading a list, and give it back to put. */
uint64_t wb_block_cache_version(wb_block_cache *bc, const wb_jid *account);
/* Caches a list loaded from storage, unless the account already has one or a change completed
 * since `version` (the load may then predate it). 0, or -1 when not cached. */
int wb_block_cache_put(wb_block_cache *bc, const wb_jid *account, const char *const *items,
                       size_t n, uint64_t version);
/* A change of the account's list was stored: drops the cached list (the next use reloads it). */
void wb_block_cache_invalidate(wb_block_cache *bc, const wb_jid *account);
/* Forgets the account's list to save memory (its last session ended). */
void wb_block_cache_evict(wb_block_cache *bc, const wb_jid *account);

/* Sessions that retrieved their block list get pushes (XEP-0191 "interested resources"). */
void wb_block_cache_set_interested(wb_block_cache *bc, uint64_t sid, bool interested);
bool wb_block_cache_interested(wb_block_cache *bc, uint64_t sid);

#endif
