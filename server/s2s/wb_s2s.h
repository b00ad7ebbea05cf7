/* Federation (RFC 6120 server-to-server): the entry points the rest of the daemon calls: start-up,
 * routing a stanza to a remote domain, accepting an s2s socket, worker stop. Not for policy
 * parsing (wb_s2s_conf.h) or stream details (wb_s2s_int.h). */
#ifndef WB_S2S_H
#define WB_S2S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_msg.h"
#include "wb_server.h"

struct event_base;

/* Before the workers start: loads (or creates) the dialback secret and the TLS client context.
 * Sets srv->s2s. 0, or -1 with a reason in err. */
int wb_s2s_init(wb_server *srv, char *err, size_t errsize);
/* On w's thread: closes s2s stream `id` (warblerctl s2s close); false if w has no such stream. */
bool wb_s2s_close_id(wb_worker *w, uint64_t id);
/* One live authenticated s2s stream as the registry has it (strings valid during the call). */
typedef struct wb_s2s_view {
    const char *remote, *local, *auth, *tls_version, *tls_cipher;
    bool out;
    bool bidi; /* XEP-0288: the stream carries stanzas both ways */
    uint64_t n_in, n_out;
} wb_s2s_view;
/* Thread-safe: calls fn for every authenticated stream (under the registry lock: fn must not
 * call back into s2s). Returns how many; 0 when federation is off. */
size_t wb_s2s_each(wb_server *srv, void (*fn)(void *arg, const wb_s2s_view *v), void *arg);
/* After every worker has been freed (also closes the control socket). */
void wb_s2s_free(wb_server *srv);

/* Routes m (consumed) to its remote domain: from a local sender only. Bounces with an error when
 * federation is off, the domain refused by policy, or unreachable. */
void wb_s2s_route(wb_worker *w, wb_msg *m);
/* Mailbox side of wb_s2s_route on the worker that owns the remote domain (m consumed). */
void wb_s2s_route_owned(wb_worker *w, wb_msg *m);
/* Takes over an accepted s2s socket (closed on failure). */
void wb_s2s_accept(wb_worker *w, int fd, const wb_conf_listener *lis, const char *peer);
/* The worker stops: every s2s stream is closed (system-shutdown), queued stanzas bounced. */
void wb_s2s_worker_stop(wb_worker *w);
/* The worker's loop ended: frees what is left of its s2s state, on its own thread. */
void wb_s2s_worker_end(wb_worker *w);

#endif
