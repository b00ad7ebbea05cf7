/* External components (XEP-0114, jabber:component:accept): the entry points the rest of the daemon
 * calls: routing to a component domain, accepting a component socket, worker stop, disco items.
 * Not for the stream itself (wb_component_int.h, wb_component_conn.c). */
#ifndef WB_COMPONENT_H
#define WB_COMPONENT_H

#include <stdbool.h>

#include "wb_buf.h"
#include "wb_config.h"
#include "wb_msg.h"
#include "wb_server.h"

/* The module (table in wb_modules.c): its state is the registry of configured components. */
extern const struct wb_module wb_mod_component;

/* If m is addressed to a configured component domain (or any JID at it), takes m (consumed): it
 * goes down the component's stream, or bounces with service-unavailable when the component is not
 * connected. Otherwise returns false and m is untouched. */
bool wb_comp_route(wb_worker *w, wb_msg *m);
/* Takes over an accepted socket of a component listener (closed on failure). */
void wb_comp_accept(wb_worker *w, int fd, const wb_conf_listener *lis, const char *peer);
/* On w's thread: closes component stream `id` with this stream error; false if w has none. */
bool wb_comp_close_id(wb_worker *w, uint64_t id, int stream_err, const char *text);
/* The worker stops: every component stream of w is closed (system-shutdown). */
void wb_comp_worker_stop(wb_worker *w);
/* The worker's loop ended: frees its component streams, on its own thread. */
void wb_comp_worker_end(wb_worker *w);
/* Appends <item jid='DOMAIN'/> for every configured component (server disco#items). */
void wb_comp_disco_items(const wb_server *srv, wb_buf *b);

#endif
