/* The router: decides where a model message goes (a local session, the server's own handlers,
 * an error back to the sender) and delivers it through the worker mailboxes. */
#ifndef WB_ROUTER_H
#define WB_ROUTER_H

#include "wb_msg.h"
#include "wb_server.h"

/* Routes m, which comes from a local session or from the server itself (m is consumed). */
void wb_route(wb_worker *w, wb_msg *m);
/* Delivers m to a local account after the modules' inbound hooks (m is consumed). */
void wb_route_local(wb_worker *w, wb_msg *m);
/* Sends the error reply for m (if m may be answered) through the router. */
void wb_route_error(wb_worker *w, const wb_msg *m, int stanza_err, const char *text);
/* Delivers m to one target session (a reference is taken). */
void wb_route_to_session(wb_worker *w, int worker, uint64_t sid, wb_msg *m);

#endif
