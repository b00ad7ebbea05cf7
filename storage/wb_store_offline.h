/* Storage of offline messages (XEP-0160): queue a stanza for an account under a quota (or a
 * reference to the account's archive row of it), claim and fetch the queue in order, delete what
 * was delivered. Not for deciding what is stored (server/modules). */
#ifndef WB_STORE_OFFLINE_H
#define WB_STORE_OFFLINE_H

#include <stdbool.h>
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
/* With an XEP-0466 expiry (0: none) and the retraction key of the message (see
 * wb_store_retract_key; NULL: none), stored with the queued copy so that a retraction by its
 * sender finds exactly it. */
#define WB_STORE_RETRACT_KEY_MAX 32
wb_store_req *wb_store_offline_put_until(wb_store *st, const char *node, const char *domain,
                                         const char *sender, const char *payload, size_t len,
                                         uint32_t max, int64_t expires_us,
                                         const uint8_t *retract_key, size_t retract_key_len,
                                         wb_store_offline_put_cb cb, void *arg);

typedef struct wb_offline_entry {
    const char *node, *domain; /* the recipient */
    const char *sender;        /* the sender's JID */
    const char *payload;       /* the stanza as it will be delivered (delay stamp included) */
    size_t len;
    uint32_t max;               /* quota: refused when the account already has max queued */
    int64_t expires_us;         /* XEP-0466: us since the epoch, 0: none */
    const uint8_t *retract_key; /* see wb_store_offline_put_until; NULL: none */
    size_t retract_key_len;
    const char *archive_stanza_id; /* the recipient's archive row of the same message, or NULL */
    bool archive_ns; /* its archived form declares xmlns='jabber:client', the stanza does not */
} wb_offline_entry;
/* Queues e in one statement: when the recipient's archive holds the row archive_stanza_id
 * (written before on the same store), the queued row refers to it and holds no payload (the
 * archive is the one copy; its erasure erases the queued message too); otherwise the payload is
 * sealed and stored as by wb_store_offline_put_until. */
wb_store_req *wb_store_offline_queue(wb_store *st, const wb_offline_entry *e,
                                     wb_store_offline_put_cb cb, void *arg);

typedef struct wb_offline_item {
    int64_t id;
    const char *payload; /* valid during the callback only */
    size_t len;
    /* Read from the recipient's archive: payload is the archived form, to be delivered with the
     * default namespace removed when archive_ns and a delay stamp of queued_us added. */
    bool from_archive;
    bool archive_ns;
    int64_t queued_us; /* when it was queued, us since the epoch */
} wb_offline_item;

/* items: the oldest queued messages in order, without those whose XEP-0466 timer ran out and
 * those taken by another delivery (n <= the max asked; 0 when the queue is empty or the account
 * unknown); NULL with status WB_STORE_UNAVAILABLE. Queued copies whose archived message was
 * retracted meanwhile are left out and deleted. */
typedef void (*wb_store_offline_fetch_cb)(void *arg, wb_store_status status,
                                          const wb_offline_item *items, size_t n);
/* Takes (claims) the rows it returns for the delivery `claim` (a UUID in text form, see
 * wb_store_archive_uuid, one per delivery): a concurrent fetch with another claim skips them, one
 * with the same claim gets them again; a claim older than 30 seconds is void. */
wb_store_req *wb_store_offline_fetch(wb_store *st, const char *node, const char *domain, size_t max,
                                     const char *claim, wb_store_offline_fetch_cb cb, void *arg);
/* Gives back the rows still claimed by `claim` (a delivery that ends without writing them all).
 * Nothing is answered. NULL when it could not be queued. */
wb_store_req *wb_store_offline_release(wb_store *st, const char *node, const char *domain,
                                       const char *claim);

/* Deletes the rows with these ids (n <= WB_STORE_OFFLINE_BATCH_MAX) if they belong to
 * node@domain. cb may be NULL; status WB_STORE_OK or WB_STORE_UNAVAILABLE. */
typedef void (*wb_store_offline_done_cb)(void *arg, wb_store_status status);
wb_store_req *wb_store_offline_delete(wb_store *st, const char *node, const char *domain,
                                      const int64_t *ids, size_t n, wb_store_offline_done_cb cb,
                                      void *arg);

#endif
