/* Client-to-server connections: one XMPP stream on one worker, through TLS, SASL and resource
 * binding, then stanzas to and from the router. Not for routing or for feature logic. */
#ifndef WB_C2S_H
#define WB_C2S_H

#include <stdbool.h>
#include <stdint.h>

#include "wb_msg.h"
#include "wb_server.h"

/* Takes over fd (closed on failure). */
wb_c2s *wb_c2s_new(wb_worker *w, int fd, const wb_conf_listener *lis, const char *peer);
/* Closes the stream: optional stream error, </stream:stream>, then frees after flushing. */
void wb_c2s_close(wb_c2s *c, int stream_err, const char *text);
/* Frees at once (worker shutdown after closing). */
void wb_c2s_free(wb_c2s *c);
/* Writes m's bytes to the client (m is not consumed): the one delivery point of a session, where
 * a module may one day hold a stanza back (CSI, push). With stream management (XEP-0198) m is
 * also counted and kept until acknowledged, even while the session waits for a resumption or is
 * closing (then re-routed when it ends), and true is returned. False when nothing was written
 * nor kept: the stream is closing, or m is a roster push the session did not ask for. */
bool wb_c2s_deliver(wb_c2s *c, const wb_msg *m);
/* Writes m as wb_c2s_deliver does but without the modules' deliver hooks: a stanza a module held
 * back (XEP-0352) goes out now, and stream management counts it now. */
bool wb_c2s_deliver_held(wb_c2s *c, const wb_msg *m);
/* True once the stream is being closed (nothing more will be written to it). */
bool wb_c2s_closing(const wb_c2s *c);
/* Bytes queued for the client and not yet sent (for pacing bulk deliveries). */
size_t wb_c2s_output_pending(const wb_c2s *c);
uint64_t wb_c2s_id(const wb_c2s *c);
/* The bound full JID, or NULL before binding. */
const wb_jid *wb_c2s_jid(const wb_c2s *c);
wb_c2s *wb_c2s_next(const wb_c2s *c);
/* Writes bytes to the client as they are (pre-authentication replies from modules). */
void wb_c2s_send_raw(wb_c2s *c, const char *data, size_t len);
/* The stream's domain (from its header) and the client's address. */
const char *wb_c2s_domain(const wb_c2s *c);
const char *wb_c2s_peer(const wb_c2s *c);
bool wb_c2s_is_tls(const wb_c2s *c);
/* The negotiated TLS protocol ("TLSv1.3"), or NULL without TLS. */
const char *wb_c2s_tls_version(const wb_c2s *c);
/* The worker the session lives on (for hooks that get only the session: its configuration). */
wb_worker *wb_c2s_worker(const wb_c2s *c);
/* Per-session flags that modules set and read. */
#define WB_C2S_F_ROSTER_REQUESTED    0x1u  /* an "interested resource": gets roster pushes */
#define WB_C2S_F_INITIAL_PRESENCE    0x2u  /* has sent its initial presence */
#define WB_C2S_F_BLOCKLIST_REQUESTED 0x4u  /* retrieved its block list: gets XEP-0191 pushes */
#define WB_C2S_F_REGISTERING         0x8u  /* an in-band registration is being processed */
#define WB_C2S_F_CSI_INACTIVE        0x10u /* XEP-0352: the client said it is inactive */
unsigned wb_c2s_flags(const wb_c2s *c);
void wb_c2s_set_flags(wb_c2s *c, unsigned flags);
void wb_c2s_clear_flags(wb_c2s *c, unsigned flags);
bool wb_c2s_available(const wb_c2s *c);
/* XEP-0198: the connection is gone and the session waits for a resumption. */
bool wb_c2s_hibernating(const wb_c2s *c);
int wb_c2s_priority(const wb_c2s *c);
/* The end of the outbound hooks (wb_modules_outbound): presence without 'to' goes to the
 * session's presence handling, everything else to the router. Consumes m. */
void wb_c2s_outbound_done(wb_worker *w, uint64_t sid, wb_msg *m);
/* XEP-0198 resumption across workers (mailbox handlers, on w's thread): the owner of a session
 * hands its state over (or refuses) to the resuming stream's worker; see wb_c2s_sm.c. */
void wb_c2s_sm_takeover(wb_worker *w, const wb_sm_takeover *rq);
/* st: the state (taken), or NULL when the owner refused. */
void wb_c2s_sm_handoff(wb_worker *w, uint64_t sid, wb_c2s *st);
/* Frees a state that was never delivered (a worker's mailbox at shutdown). */
void wb_c2s_sm_discard(wb_c2s *st);
/* The worker a resumed session moved to (its old wb_c2s forwards there), or -1. */
int wb_c2s_moved_to(const wb_c2s *c);
/* Next session in the same wb_worker.by_sid chain. */
wb_c2s *wb_c2s_hnext(const wb_c2s *c);

#endif
