/* Room archives at rest (XEP-0313 on a MUC room): sealed writes, paged queries, tombstones for
 * retraction and moderation, expiry sweeps and the start-up history. Not for deciding what a room
 * archives or who may read it (server/modules/muc/muc_mam.c). */
#ifndef WB_STORE_MUC_ARCHIVE_H
#define WB_STORE_MUC_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"
#include "wb_store_archive.h"
#include "wb_store_muc.h"

#define WB_MUC_ARCH_HASH_LEN 32           /* nick_hash, real_hash */
#define WB_MUC_ARCH_MAX      (256u << 10) /* bytes of one archived message */

typedef struct wb_muc_arch_entry {
    int64_t room_id;
    const char *stanza_id; /* a UUID (wb_store_archive_uuid) */
    int64_t ts_us;
    const uint8_t *nick_hash, *real_hash; /* WB_MUC_ARCH_HASH_LEN bytes each */
    int64_t expires_us;                   /* 0: never */
    const char *payload;                  /* the message as broadcast */
    size_t len;
} wb_muc_arch_entry;

/* done: WB_STORE_OK, NOT_FOUND (no such stored room) or UNAVAILABLE; n: rows changed. */
typedef void (*wb_store_muc_arch_cb)(void *arg, wb_store_status status, uint64_t n);

/* Seals and queues the entry (everything copied). cb may be NULL. -1 when nothing could be
 * queued (then cb is never called). */
int wb_store_muc_archive_put(wb_store *st, const wb_store_muc_key *k, const wb_muc_arch_entry *e,
                             wb_store_muc_arch_cb cb, void *arg);

/* Replaces the payload of message stanza_id of room_id by the sealed tombstone, if it is not
 * retracted yet and (when real_hash is not NULL) its author's hash is real_hash. n: 1 when done,
 * 0 when no such message (or not by that author). -1 when nothing could be queued. */
int wb_store_muc_archive_retract(wb_store *st, const wb_store_muc_key *k, int64_t room_id,
                                 const char *stanza_id, const uint8_t *real_hash,
                                 const char *tombstone, size_t len, wb_store_muc_arch_cb cb,
                                 void *arg);

typedef struct wb_muc_arch_filter {
    int64_t start_us, end_us;           /* 0: not given */
    const uint8_t *with_hash;           /* nick or real JID hash, or NULL */
    const char *after_id, *before_id;   /* XEP-0313 filters (UUIDs), or NULL */
    const char *rsm_after, *rsm_before; /* XEP-0059 (UUIDs), or NULL */
    bool backward;                      /* the last page first */
    const char *const *ids;             /* only these (UUIDs) when has_ids */
    size_t n_ids;
    bool has_ids;
    unsigned max; /* 0..WB_ARCHIVE_MAX_PAGE */
} wb_muc_arch_filter;

typedef struct wb_muc_arch_item {
    const char *stanza_id;
    int64_t ts_us;
    bool retracted;      /* payload is the tombstone */
    const char *payload; /* opened */
    size_t len;
} wb_muc_arch_item;

/* items chronological, valid during the call; count: items matching the filters (RSM marks
 * aside); complete: no further page in the paging direction. NOT_FOUND: a mark is not in the
 * archive. Rows that do not open are logged and left out. */
typedef void (*wb_store_muc_arch_query_cb)(void *arg, wb_store_status status,
                                           const wb_muc_arch_item *items, size_t n, uint64_t count,
                                           bool complete);
/* -1 when nothing could be queued (bad filter, or out of memory); otherwise cb always comes. */
int wb_store_muc_archive_query(wb_store *st, const wb_store_muc_key *k, int64_t room_id,
                               const wb_muc_arch_filter *f, wb_store_muc_arch_query_cb cb,
                               void *arg);

/* Erases at most batch rows (1..WB_RETENTION_BATCH_MAX) whose expiry is before now_us, in every
 * room; n: how many. NULL when it could not be queued. */
wb_store_req *wb_store_muc_archive_expire(wb_store *st, int64_t now_us, int batch,
                                          wb_store_muc_arch_cb cb, void *arg);

/* Synchronous, at start-up: calls fn with the newest n archived messages of room_id that are
 * neither retracted nor expired, oldest first. 0, or -1 with the reason in err. */
typedef void (*wb_store_muc_arch_recent_fn)(void *arg, const char *stanza_id, int64_t ts_us,
                                            const char *payload, size_t len);
int wb_store_muc_archive_recent(wb_pg *pg, const wb_store_muc_key *k, int64_t room_id, int n,
                                int64_t now_us, wb_store_muc_arch_recent_fn fn, void *arg,
                                char *err, size_t errsize);

/* Synchronous, for warblerctl and the admin API: how many messages room_id has archived. -1 with
 * the reason in err. */
int64_t wb_store_muc_archive_count(wb_pg *pg, int64_t room_id, char *err, size_t errsize);

#endif
