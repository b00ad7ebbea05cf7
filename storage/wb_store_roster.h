/* Storage of rosters and subscription states (RFC 6121 sections 2 and 3, XEP-0237 versions):
 * typed asynchronous requests on a worker's wb_store. Names, groups and pending request texts are
 * sealed with the owner's data key inside storage/; callers see plain strings. Not for deciding
 * what to send (modules). */
#ifndef WB_STORE_ROSTER_H
#define WB_STORE_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"

/* State bits of an item (same values as roster_state() in 002_roster.sql). */
#define WB_RS_TO         0x01u /* the owner receives the contact's presence */
#define WB_RS_FROM       0x02u /* the contact receives the owner's presence */
#define WB_RS_ASK        0x04u /* the owner's request is pending (ask='subscribe') */
#define WB_RS_PENDING_IN 0x08u /* the contact's request waits for the owner's answer */
#define WB_RS_APPROVED   0x10u /* the owner pre-approved the contact */
#define WB_RS_IN_ROSTER  0x20u /* shown by roster get */

/* Group names travel joined with this byte, which XML cannot carry (so no name contains it). */
#define WB_ROSTER_GROUP_SEP '\x01'

/* Strings are valid only during the callback. A sealed name, groups or status that does not open
 * (moved from another row or account, altered) is logged and given as absent. */
typedef struct wb_roster_item {
    const char *jid;    /* bare JID of the contact */
    const char *name;   /* NULL when none */
    const char *groups; /* names joined with WB_ROSTER_GROUP_SEP, "" when none */
    const char *status; /* status text of a pending inbound request, or NULL */
    unsigned state;     /* WB_RS_* */
} wb_roster_item;

/* All rows of the account (also those not in the roster: filter on WB_RS_IN_ROSTER), ordered
 * by contact, with the current roster version. NOT_FOUND: no such account. */
typedef void (*wb_store_roster_cb)(void *arg, wb_store_status status, int64_t version,
                                   const wb_roster_item *items, size_t n);
wb_store_req *wb_store_roster_get(wb_store *st, const char *node, const char *domain,
                                  wb_store_roster_cb cb, void *arg);

/* The outcome of one change. NOT_FOUND: no such account. */
/* The rows presence needs: contacts with a subscription to or from the account, and with
 * with_pending also pending inbound requests; names and groups are NULL. */
wb_store_req *wb_store_roster_presence(wb_store *st, const char *node, const char *domain,
                                       bool with_pending, wb_store_roster_cb cb, void *arg);

typedef struct wb_roster_change {
    bool refused;        /* a new row would exceed the size limit: nothing changed */
    unsigned old_state;  /* WB_RS_* before */
    unsigned new_state;  /* WB_RS_* after (0 after a removal) */
    bool push;           /* the visible item changed: push it with `version` */
    int64_t version;     /* the new roster version when push */
    wb_roster_item item; /* the item after the change (jid is the contact asked for) */
} wb_roster_change;
typedef void (*wb_store_roster_change_cb)(void *arg, wb_store_status status,
                                          const wb_roster_change *c);

/* Roster set: name (NULL for none) and groups (joined with WB_ROSTER_GROUP_SEP, "" for none);
 * refused when the item is new and the roster has max_items items. */
wb_store_req *wb_store_roster_set(wb_store *st, const char *node, const char *domain,
                                  const char *contact, const char *name, const char *groups,
                                  int max_items, wb_store_roster_change_cb cb, void *arg);
/* Roster remove: the row goes with any pending request or pre-approval; push is false when the
 * item was not in the roster. */
wb_store_req *wb_store_roster_remove(wb_store *st, const char *node, const char *domain,
                                     const char *contact, wb_store_roster_change_cb cb, void *arg);

/* Subscription events (RFC 6121 Appendix A): OUT_* the owner sends, IN_* the owner receives. */
typedef enum {
    WB_RSE_OUT_SUBSCRIBE = 0,
    WB_RSE_OUT_SUBSCRIBED,
    WB_RSE_OUT_UNSUBSCRIBE,
    WB_RSE_OUT_UNSUBSCRIBED,
    WB_RSE_IN_SUBSCRIBE,
    WB_RSE_IN_SUBSCRIBED,
    WB_RSE_IN_UNSUBSCRIBE,
    WB_RSE_IN_UNSUBSCRIBED,
} wb_roster_event;

/* Applies one event atomically; status (NULL for none) is kept with a new inbound request.
 * A new row is refused when the account already holds max_rows rows. */
wb_store_req *wb_store_roster_subscription(wb_store *st, const char *node, const char *domain,
                                           const char *contact, wb_roster_event ev,
                                           const char *status, int max_rows,
                                           wb_store_roster_change_cb cb, void *arg);

/* The state of the owner's item about contact (0 when none or no such account). */
typedef void (*wb_store_roster_state_cb)(void *arg, wb_store_status status, unsigned state);
wb_store_req *wb_store_roster_state(wb_store *st, const char *node, const char *domain,
                                    const char *contact, wb_store_roster_state_cb cb, void *arg);

#endif
