/* Feature modules: each module (one file under server/modules/, named after its feature) lists
 * the disco features it adds, the iq payloads it handles and the hooks it wants; the table in
 * wb_modules.c is the tree's index of which XEP lives where. Everything runs on the worker of the
 * session concerned. Across asynchronous work a module keeps a session's id (wb_c2s_id), never
 * its pointer: the session may be gone when the answer comes (wb_worker_session says). */
#ifndef WB_MODULES_H
#define WB_MODULES_H

#include <stdbool.h>
#include <stdint.h>

#include "wb_buf.h"
#include "wb_c2s.h"
#include "wb_msg.h"
#include "wb_server.h"

typedef enum { WB_MOD_PASS = 0, WB_MOD_HANDLED } wb_mod_result;

/* An iq handler: m is the request (not consumed; take a reference to keep it across async work).
 * A handler that returns WB_MOD_HANDLED sends (now or later) a result or an error through the
 * router. `to_server` tells whether the iq was addressed to the server itself (no node) rather
 * than to an account (its bare JID, or no 'to' at all: the sender's own account). */
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
    /* Optional hooks (NULL when unused). */
    /* A session bound its resource. */
    void (*bound)(wb_worker *w, wb_c2s *c);
    /* A session sent broadcast presence (no 'to'); initial: its first available presence. Runs
     * after the presence went to the account's own resources. m is not consumed. */
    void (*presence)(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial);
    /* A bound session ends (its resource is already unbound). `was_available` tells whether it
     * had sent available presence. */
    void (*ended)(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available);
    /* A stanza from the local session sid before it is routed. HANDLED: the module took m (it
     * owns the reference) and either dropped it, answered it, or will continue with
     * wb_modules_outbound(w, sid, m, index + 1) where index is its position in the table. */
    wb_mod_result (*outbound)(wb_worker *w, uint64_t sid, wb_msg *m);
    /* A stanza for a local account (m->to has a node) before delivery; same contract, continued
     * with wb_modules_inbound(w, m, index + 1). */
    wb_mod_result (*inbound)(wb_worker *w, wb_msg *m);
    /* A message for an account with no available resource that would take it. HANDLED: taken
     * (stored, or answered with an error); PASS: the router answers service-unavailable. */
    wb_mod_result (*undeliverable)(wb_worker *w, wb_msg *m);
    /* Adds elements to <stream:features> (before authentication when !authed). */
    void (*stream_features)(wb_c2s *c, wb_buf *b, bool authed);
    /* An iq before authentication (in-band registration). HANDLED: answered with
     * wb_c2s_send_raw. Otherwise the stream is closed with not-authorized. */
    wb_mod_result (*preauth_iq)(wb_worker *w, wb_c2s *c, const struct wb_stanza *st);
    /* A stanza about to be written to session c (after the roster-push filter; on the worker
     * that holds the session's state). HANDLED: the module keeps it (a reference) and writes it
     * later with wb_c2s_deliver_held (XEP-0352: held while the client is inactive); stream
     * management counts it only then. PASS: written now (the module may only look at it). */
    wb_mod_result (*deliver)(wb_worker *w, wb_c2s *c, const wb_msg *m);
    /* A top-level element of a bound stream that is not a stanza nor stream management (XEP-0352
     * <active/>). HANDLED: taken; otherwise the stream treats it as before. */
    wb_mod_result (*nonza)(wb_worker *w, wb_c2s *c, const struct wb_stanza *st);
    /* Server-wide state of the module (shared by all workers: the module locks it itself),
     * created before the workers start and freed after they stopped. */
    int (*init)(wb_server *srv, void **state);
    void (*shutdown)(wb_server *srv, void *state);
} wb_module;

/* Dispatches an iq get/set addressed to the server or to an account; answers
 * service-unavailable when no module takes it. */
void wb_modules_iq(wb_worker *w, const wb_msg *m, bool to_server);
/* Calls fn for every server feature of every module. */
void wb_modules_disco_features(void (*fn)(void *arg, const char *feature), void *arg);
/* Sends an iq result with payload (XML text or NULL) to the requester. */
void wb_modules_reply(wb_worker *w, const wb_msg *m, const char *payload);
/* Index of a module in the table (for the continuation calls below). */
int wb_modules_index(const wb_module *mod);

/* Runs every module's init (0, or -1 after logging why) / shutdown. */
int wb_modules_init(wb_server *srv);
void wb_modules_shutdown(wb_server *srv);
/* The state a module's init created (NULL if none). */
void *wb_modules_state(const wb_server *srv, const wb_module *mod);

/* Hook runners. The stanza runners consume m: after the last hook, outbound stanzas go to the
 * session's presence handling or the router, inbound ones are delivered. */
void wb_modules_bound(wb_worker *w, wb_c2s *c);
void wb_modules_presence(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial);
void wb_modules_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available);
void wb_modules_outbound(wb_worker *w, uint64_t sid, wb_msg *m, int from_index);
void wb_modules_inbound(wb_worker *w, wb_msg *m, int from_index);
/* Returns WB_MOD_HANDLED when some module took the undeliverable message. */
wb_mod_result wb_modules_undeliverable(wb_worker *w, wb_msg *m);
void wb_modules_stream_features(wb_c2s *c, wb_buf *b, bool authed);
wb_mod_result wb_modules_preauth_iq(wb_worker *w, wb_c2s *c, const struct wb_stanza *st);
/* WB_MOD_HANDLED when some module's deliver hook held m (see wb_module.deliver). */
wb_mod_result wb_modules_deliver(wb_worker *w, wb_c2s *c, const wb_msg *m);
/* WB_MOD_HANDLED when some module took the element (see wb_module.nonza). */
wb_mod_result wb_modules_nonza(wb_worker *w, wb_c2s *c, const struct wb_stanza *st);

#endif
