/* The REST admin API (issue 6): an HTTP(S) listener on its own threads (libmicrohttpd) serving
 * JSON under /api/v1 with admin logins, tokens, API keys and roles. Not for XMPP traffic. */
#ifndef WB_ADMIN_H
#define WB_ADMIN_H

#include "wb_server.h"

typedef struct wb_admin wb_admin;

/* Starts listening as srv->cfg says (after the workers: handlers post to them). NULL after an
 * error (logged); callers check cfg->admin_enabled first. */
wb_admin *wb_admin_start(wb_server *srv);
/* Stops accepting, waits for the requests in progress, frees (before the workers stop). */
void wb_admin_stop(wb_admin *a);

#endif
