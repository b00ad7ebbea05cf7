/* Storage for XEP-0012 last activity (when an account last went offline, with its last status
 * text, sealed with the account's data key) and the account existence check of XEP-0030. Not for
 * deciding who may see it. */
#ifndef WB_STORE_LAST_H
#define WB_STORE_LAST_H

#include <stdbool.h>
#include <stdint.h>

#include "wb_store.h"

/* Bytes of status text kept (longer texts are cut by the caller at a character boundary). */
#define WB_STORE_LAST_STATUS_MAX 1024

/* status: WB_STORE_OK (node@domain is an account), WB_STORE_NOT_FOUND or WB_STORE_UNAVAILABLE. */
typedef void (*wb_store_exists_cb)(void *arg, wb_store_status status);
/* NULL when the request could not be queued (the callback is then never called). */
wb_store_req *wb_store_account_exists(wb_store *st, const char *node, const char *domain,
                                      wb_store_exists_cb cb, void *arg);

typedef struct wb_last_activity {
    bool allowed;    /* the contact may see it (its subscription is from or both; always true
                        when no contact was given) */
    bool known;      /* a logout was recorded */
    int64_t seconds; /* since that logout (0 when unknown) */
    char status[WB_STORE_LAST_STATUS_MAX + 1]; /* its status text, "" if none, if it does not
                                                  open, or when not allowed */
} wb_last_activity;

/* la is NULL unless status is WB_STORE_OK; WB_STORE_NOT_FOUND: no such account. */
typedef void (*wb_store_last_cb)(void *arg, wb_store_status status, const wb_last_activity *la);
/* The last activity of node@domain as seen by contact (a bare JID, or NULL for the account
 * itself). NULL when the request could not be queued. */
wb_store_req *wb_store_last_get(wb_store *st, const char *node, const char *domain,
                                const char *contact, wb_store_last_cb cb, void *arg);

/* Records that node@domain went offline now, with its last status text (NULL or "" for none,
 * at most WB_STORE_LAST_STATUS_MAX bytes). A failure is logged. Returns -1 when the request
 * could not be queued. */
int wb_store_last_set(wb_store *st, const char *node, const char *domain, const char *status);

#endif
