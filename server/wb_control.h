/* The daemon's control socket, warblerctl's way into a running warblerd (sessions, stats, s2s),
 * and closing live sessions by JID for it and the admin API. Not for configuration or storage. */
#ifndef WB_CONTROL_H
#define WB_CONTROL_H

#include <stddef.h>

#include "wb_jid.h"
#include "wb_server.h"

struct event_base;
struct evbuffer;

typedef struct wb_control wb_control;

/* Why sessions are closed: each reason has the stream error and text the admin API uses. */
typedef enum {
    WB_CONTROL_KICK = 0, /* policy-violation, "Disconnected by an administrator" */
    WB_CONTROL_DISABLED, /* policy-violation, "Account disabled" */
    WB_CONTROL_DELETED,  /* policy-violation, "Account deleted" */
    WB_CONTROL_ERASED,   /* not-authorized, "Account erased" */
} wb_control_why;

/* On the main thread: listens on the Unix socket path (mode 0600; a stale socket file there is
 * replaced). One command a connection, one line, answered by lines then "end"; a failure is an
 * "error ..." line. NULL (logged) when it cannot listen. */
wb_control *wb_control_start(wb_server *srv, struct event_base *base, const char *path);
/* Closes the socket and removes its file; NULL is fine. */
void wb_control_stop(wb_control *c);

/* Thread-safe: asks the workers to close the session of jid (full JID) or every session of the
 * account (bare JID) with why's stream error. Returns how many were asked. */
size_t wb_control_close(wb_server *srv, const wb_jid *jid, wb_control_why why);

/* A command handler (main thread): appends its answer lines to out ("end" is added by the
 * caller); on failure appends one "error TEXT" line and returns -1. arg: the rest of the line
 * after the command words, "" when none. The s2s ones live in server/s2s/wb_s2s_ctl.c. */
typedef int wb_control_fn(wb_server *srv, const char *arg, struct evbuffer *out);
wb_control_fn wb_s2s_control_list;
wb_control_fn wb_s2s_control_close;

#endif
