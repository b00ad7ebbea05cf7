/* Storage for XEP-0357 push registrations: per account, the app server's JID and node with the
 * publish-options form (sealed with the account's data key). Not for deciding when to push. */
#ifndef WB_STORE_PUSH_H
#define WB_STORE_PUSH_H

#include <stdbool.h>
#include <stddef.h>

#include "wb_store.h"

#define WB_STORE_PUSH_SERVICE_MAX 1024 /* bytes of the app server's JID */
#define WB_STORE_PUSH_NODE_MAX    1024 /* bytes of its node name */
#define WB_STORE_PUSH_OPTIONS_MAX 8192 /* bytes of the publish-options form (XML) */
#define WB_STORE_PUSH_LIST_MAX    1000 /* registrations read per account at most */

typedef struct wb_push_reg {
    const char *service;
    const char *node;
    const char *options; /* the <x xmlns='jabber:x:data'/> form as XML text, "" if none */
} wb_push_reg;

/* WB_STORE_OK: kept (a registration of the same service and node is replaced); NOT_FOUND: no such
 * account; full: the account has max registrations already (status OK, nothing kept). */
typedef void (*wb_store_push_enable_cb)(void *arg, wb_store_status status, bool full);
/* options: XML text or NULL. NULL when the request could not be queued (too long, no memory). */
wb_store_req *wb_store_push_enable(wb_store *st, const char *node, const char *domain,
                                   const char *service, const char *pnode, const char *options,
                                   int max, wb_store_push_enable_cb cb, void *arg);

/* WB_STORE_OK (also when nothing matched) or WB_STORE_UNAVAILABLE. */
typedef void (*wb_store_push_done_cb)(void *arg, wb_store_status status);
/* Removes the registration of service and pnode, or every one of service when pnode is NULL. cb
 * may be NULL (a failure is then logged). NULL when the request could not be queued. */
wb_store_req *wb_store_push_disable(wb_store *st, const char *node, const char *domain,
                                    const char *service, const char *pnode,
                                    wb_store_push_done_cb cb, void *arg);

/* regs (n of them; valid during the call) when status is WB_STORE_OK; a registration whose form
 * does not open is reported and listed without it. */
typedef void (*wb_store_push_list_cb)(void *arg, wb_store_status status, const wb_push_reg *regs,
                                      size_t n);
wb_store_req *wb_store_push_list(wb_store *st, const char *node, const char *domain,
                                 wb_store_push_list_cb cb, void *arg);

#endif
