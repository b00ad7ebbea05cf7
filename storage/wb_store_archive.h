/* Storage of message archives (XEP-0313): sealed writes with stanza-ids, filtered and paged
 * queries, preferences, and retraction (XEP-0424). Not for deciding what is archived (mam.c). */
#ifndef WB_STORE_ARCHIVE_H
#define WB_STORE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"

#define WB_ARCHIVE_UUID_LEN 36  /* a stanza-id: a UUID in its text form */
#define WB_ARCHIVE_MAX_IDS  250 /* ids one query may ask for (XEP-0313 extended) */
#define WB_ARCHIVE_MAX_PAGE 250 /* items one query returns at most */
#define WB_ARCHIVE_REF_MAX  256 /* bytes of an origin-id or message id used for retraction */
#define WB_ARCHIVE_JIDS_MAX 200 /* JIDs per preference list */

/* True when s is a UUID in canonical text form (so that SQL never has to reject it). */
bool wb_store_archive_uuid_ok(const char *s);
/* A fresh random (version 4) UUID; out must hold WB_ARCHIVE_UUID_LEN + 1 bytes. */
void wb_store_archive_uuid(char *out);

/* The retraction key of a message: a keyed hash of its sender's bare JID and its reference
 * (origin-id, else id), so that only a retraction from that sender matches it; random (never
 * matched) when ref is NULL. The offline queue stores the same key with a queued copy. */
#define WB_RETRACT_KEY_LEN 32
void wb_store_retract_key(const char *sender_bare, const char *ref, uint8_t *out);

typedef struct wb_archive_entry {
    const char *node, *domain; /* the owner */
    const char *peer;          /* the other party's bare JID */
    bool outgoing;             /* sent by the owner */
    const char *stanza_id;     /* from wb_store_archive_uuid */
    int64_t ts_us;             /* microseconds since the epoch */
    const char *sender;        /* bare JID of the message's sender */
    const char *ref;           /* origin-id, else the message id, else NULL (never retractable) */
    const char *payload;       /* the stanza as delivered */
    size_t len;
    int64_t expires_us; /* XEP-0466: when the row must be gone (us since the epoch), 0: never */
} wb_archive_entry;

/* archived: false when the owner's preferences refused the message (or no such account). */
typedef void (*wb_store_archive_put_cb)(void *arg, wb_store_status status, bool archived);
/* Seals and queues the entry (everything copied; nothing is waited for). cb may be NULL; it
 * always comes (WB_STORE_UNAVAILABLE when the database is down: the message was not archived).
 * -1 when nothing could be queued (then cb is never called). */
int wb_store_archive_put(wb_store *st, const wb_archive_entry *e, wb_store_archive_put_cb cb,
                         void *arg);

/* Coalesces the archive writes of one store (one worker; used from its thread only): entries
 * whose keys are ready before the store sends its queued requests (one event-loop turn) go into
 * one multi-row INSERT of up to WB_ARCHIVE_BATCH_MAX rows, each sealed with its own key and
 * associated data, each answered on its own. A batch takes the place in the store's queue of its
 * first entry: whatever is queued after an entry (an offline copy that refers to it, a
 * retraction, a query) runs after that entry is written. */
#define WB_ARCHIVE_BATCH_MAX 128
typedef struct wb_archive_batcher wb_archive_batcher;
wb_archive_batcher *wb_store_archive_batcher_new(void);
/* May be called before or after the store is freed; a batch still pending is simply left to
 * finish on its own. */
void wb_store_archive_batcher_free(wb_archive_batcher *b);
/* As wb_store_archive_put, batched through b (NULL: not batched). */
int wb_store_archive_put_batched(wb_store *st, wb_archive_batcher *b, const wb_archive_entry *e,
                                 wb_store_archive_put_cb cb, void *arg);

typedef struct wb_archive_filter {
    const char *with;                   /* bare JID, or NULL */
    const char *start, *end;            /* timestamps PostgreSQL reads exactly, or NULL */
    const char *after_id, *before_id;   /* XEP-0313 form filters (UUIDs), or NULL */
    const char *rsm_after, *rsm_before; /* XEP-0059 (UUIDs), or NULL */
    bool backward;                      /* the last page first (RSM <before/>) */
    const char *const *ids;             /* XEP-0313 extended: only these (UUIDs) */
    size_t n_ids;
    bool has_ids;
    unsigned max;   /* 0..WB_ARCHIVE_MAX_PAGE */
    unsigned index; /* RSM index (forward paging only), 0 when absent */
} wb_archive_filter;

typedef struct wb_archive_item {
    const char *stanza_id;
    int64_t ts_us;
    bool outgoing;
    const char *peer;
    const char *payload; /* opened; NULL when retracted */
    size_t len;
    const char *retract_id; /* retracted: the retraction's id (may be "") */
    int64_t retracted_us;
} wb_archive_item;

/* items in chronological order, valid during the call; count: all items matching the filters;
 * complete: no further page in the paging direction. WB_STORE_NOT_FOUND: an id in the marks is
 * not in the archive (or no such account). Rows that fail to open are logged and left out. */
typedef void (*wb_store_archive_query_cb)(void *arg, wb_store_status status,
                                          const wb_archive_item *items, size_t n, uint64_t count,
                                          bool complete);
/* -1 when nothing could be queued (then cb is never called); otherwise cb always comes. */
int wb_store_archive_query(wb_store *st, const char *node, const char *domain,
                           const wb_archive_filter *f, wb_store_archive_query_cb cb, void *arg);

typedef enum { WB_ARCHIVE_ALWAYS = 0, WB_ARCHIVE_NEVER, WB_ARCHIVE_ROSTER } wb_archive_mode;

typedef struct wb_archive_prefs {
    wb_archive_mode mode;
    const char *const *always; /* bare JIDs */
    size_t n_always;
    const char *const *never;
    size_t n_never;
} wb_archive_prefs;

/* prefs valid during the call; NULL unless OK. NOT_FOUND: no such account. */
typedef void (*wb_store_archive_prefs_cb)(void *arg, wb_store_status status,
                                          const wb_archive_prefs *prefs);
wb_store_req *wb_store_archive_prefs_get(wb_store *st, const char *node, const char *domain,
                                         wb_store_archive_prefs_cb cb, void *arg);
/* Replaces the preferences (lists at most WB_ARCHIVE_JIDS_MAX each); the callback gets them
 * back as stored. */
wb_store_req *wb_store_archive_prefs_set(wb_store *st, const char *node, const char *domain,
                                         const wb_archive_prefs *p, wb_store_archive_prefs_cb cb,
                                         void *arg);

typedef struct wb_archive_retraction {
    const char *s_node, *s_domain; /* the retraction's sender */
    const char *r_node, *r_domain; /* its recipient */
    const char *target;            /* the <retract id=...>: origin-id, message id or stanza-id */
    const char *retract_id;        /* the retraction's own id (shown in tombstones), or "" */
} wb_archive_retraction;

/* erased: archive rows turned into tombstones; dropped: offline queue rows deleted. */
typedef void (*wb_store_archive_retract_cb)(void *arg, wb_store_status status, uint64_t erased,
                                            uint64_t dropped);
/* Erases the payload the sender sent with that reference from the sender's archive (outgoing
 * to the recipient), the recipient's archive (incoming from the sender) and the recipient's
 * offline queue. Queued behind archive writes already queued. cb may be NULL. -1 when nothing
 * could be queued. */
int wb_store_archive_retract(wb_store *st, const wb_archive_retraction *r,
                             wb_store_archive_retract_cb cb, void *arg);

#endif
