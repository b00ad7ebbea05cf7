/* Feature modules: each module (one file under server/modules/, named after its feature) lists
 * the disco features it adds and the iq payloads it handles; this table is the tree's index of
 * which XEP lives where. Handlers run on the worker of the session that sent the request. */
#ifndef WB_MODULES_H
#define WB_MODULES_H

#include "wb_msg.h"
#include "wb_server.h"

typedef enum { WB_MOD_PASS = 0, WB_MOD_HANDLED } wb_mod_result;

/* An iq handler: m is the request (not consumed). A handler that returns WB_MOD_HANDLED has
 * sent a result or an error through the router. `to_server` tells whether the iq was addressed
 * to the server itself (no node) rather than to an account. */
typedef wb_mod_result (*wb_iq_fn)(wb_worker *w, const wb_msg *m, const char *ns, bool to_server);

typedef struct wb_iq_handler {
    const char *ns;   /* namespace of the child element */
    const char *name; /* local name of the child element */
    wb_iq_fn get, set;
} wb_iq_handler;

typedef struct wb_module {
    const char *name;
    const char *const *features; /* disco#info features of the server, NULL-terminated */
    const wb_iq_handler *iq;     /* terminated by an entry with ns == NULL */
} wb_module;

/* Dispatches an iq get/set addressed to the server or to an account; answers
 * service-unavailable when no module takes it. */
void wb_modules_iq(wb_worker *w, const wb_msg *m, bool to_server);
/* Calls fn for every server feature of every module. */
void wb_modules_features(void (*fn)(void *arg, const char *feature), void *arg);
/* Sends an iq result with payload (XML text or NULL) to the requester. */
void wb_modules_reply(wb_worker *w, const wb_msg *m, const char *payload);

#endif
