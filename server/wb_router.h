/* The router: decides where a model message goes (a local session, the server's own handlers,
 * an error back to the sender) and delivers it through the worker mailboxes. */
#ifndef WB_ROUTER_H
#define WB_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "wb_directory.h"
#include "wb_msg.h"
#include "wb_server.h"

/* Most resources of one account the router looks at (size of a wb_directory_lookup array). */
#define WB_ROUTE_MAX_TARGETS 64

/* Routes m, which comes from a local session or from the server itself (m is consumed). */
void wb_route(wb_worker *w, wb_msg *m);
/* Delivers m to a local account after the modules' inbound hooks (m is consumed). */
void wb_route_local(wb_worker *w, wb_msg *m);
/* Sends the error reply for m (if m may be answered) through the router. */
void wb_route_error(wb_worker *w, const wb_msg *m, int stanza_err, const char *text);
/* The RFC 6121 8.5.2.1.1 rule for a message m to a bare JID: sets pick[i] for each of the n
 * resources t[i] (from wb_directory_lookup) that gets it; returns how many do. */
size_t wb_route_bare_targets(const wb_msg *m, const wb_dir_target *t, size_t n, bool *pick);
/* Delivers m to one target session (a reference is taken). */
void wb_route_to_session(wb_worker *w, int worker, uint64_t sid, wb_msg *m);

#endif
