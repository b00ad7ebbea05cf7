/* The MUC service's entry points for the rest of the server: the router hands it every stanza
 * addressed to a service domain, disco lists the services. The rooms themselves: muc_int.h. */
#ifndef WB_MUC_H
#define WB_MUC_H

#include <stdbool.h>

#include "wb_buf.h"
#include "wb_msg.h"
#include "wb_server.h"

/* If m is addressed to a MUC service (or one of its rooms or occupants), takes m (consumed) and
 * returns true; otherwise false and m is untouched. */
bool wb_muc_route(wb_worker *w, wb_msg *m);
/* Thread-safe (the admin API): room (a bare room JID) was deleted from storage; its owner worker
 * tells its occupants and forgets it. 0, or -1 when there is no MUC service or it is no room JID.
 */
int wb_muc_room_removed(wb_server *srv, const char *room);
/* Appends <item jid='SERVICE' name='...'/> for host's MUC service, if it has one. */
void wb_muc_disco_items(const wb_server *srv, const char *host, wb_buf *b);

#endif
