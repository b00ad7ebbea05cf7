/* Private to the c2s files (wb_c2s.c, wb_c2s_sasl.c, wb_c2s_presence.c): the session struct and
 * the calls they make on each other. Nothing else includes this. */
#ifndef WB_C2S_INT_H
#define WB_C2S_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "wb_c2s.h"
#include "wb_c2s_sm.h"
#include "wb_scram.h"
#include "wb_store.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define WB_NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"
#define WB_NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define WB_NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define WB_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define WB_NS_SM      "urn:xmpp:sm:3"

#define WB_C2S_MOVED_LINGER 10 /* seconds a resumed session's old stub forwards deliveries */

typedef enum { WB_C2S_NONE = 0, WB_C2S_STARTTLS, WB_C2S_RESTART } wb_c2s_pending;

typedef struct wb_c2s_sasl {
    int mech; /* index into the mechanism table of wb_c2s_sasl.c */
    wb_scram_server *scram;
    wb_store_req *req;
    char user[WB_JID_PART_MAX + 1];
    char *plain_password; /* PLAIN only, wiped after use */
    bool awaiting_response;
    bool lookup_done; /* the credential lookup has answered */
    bool disabled;    /* the account exists but is disabled */
    bool exists;      /* the account exists (failures then count against it) */
} wb_c2s_sasl;

/* XEP-0198 stream management state of one session (wb_c2s_sm.c). */
typedef struct wb_c2s_sm_item {
    wb_msg *m;     /* referenced */
    time_t queued; /* when it was sent or queued (delay stamp when resent) */
} wb_c2s_sm_item;

typedef struct wb_c2s_sm {
    bool enabled, resumable;
    bool hibernating; /* the connection is gone: the session waits for a resumption */
    bool resuming;    /* this stream sent <resume/> and waits for the session's state */
    bool moved;       /* the state went to worker moved_to: deliveries are forwarded there */
    bool lingering;   /* a moved stub kept a few seconds for deliveries still on their way */
    int moved_to;
    uint32_t h_in;      /* stanzas received from the client and handled (mod 2^32) */
    uint32_t h_out;     /* stanzas sent or queued to the client (mod 2^32) */
    uint32_t acked;     /* the client's last <a h=/>: q_len == h_out - acked */
    uint32_t requested; /* h_out when the server last sent <r/> */
    uint32_t resume_h;  /* the h of the client's <resume/> (while resuming) */
    wb_c2s_sm_item *q;  /* ring of unacknowledged stanzas, oldest at q_head */
    size_t q_head, q_len, q_cap;
    int resume_timeout; /* seconds a hibernation lasts */
    unsigned char token[WB_SM_TOKEN_LEN];
    struct event *ack_timer;
} wb_c2s_sm;

struct wb_c2s {
    wb_c2s *prev, *next, *hnext;
    uint64_t id;
    wb_worker *w;
    const wb_conf_listener *lis;
    char peer[64];
    struct bufferevent *bev;
    SSL *ssl; /* owned by bev once TLS is on */
    wb_tls *tls;
    wb_xml_stream *xs;
    struct event *timer;
    wb_c2s_pending pending;
    bool header_sent, tls_on, authed, bound, closing, in_feed;
    bool cb_type_refused; /* a -PLUS attempt asked for a channel binding we lack */
    bool available;
    int priority;
    unsigned flags; /* WB_C2S_F_* */
    char domain[WB_JID_PART_MAX + 1];
    char node[WB_JID_PART_MAX + 1];
    wb_jid jid;
    wb_c2s_sasl *sasl;
    wb_jid *directed; /* JIDs that got directed available presence */
    size_t n_directed, cap_directed;
    bool lost_pending; /* the connection failed while the parser ran: handled once it returns */
    wb_c2s_sm sm;
};

/* wb_c2s.c */
void wb_c2s_send(wb_c2s *c, const char *data, size_t len);
void wb_c2s_send_str(wb_c2s *c, const char *s);
void wb_c2s_send_features(wb_c2s *c);
void wb_c2s_restart_stream(wb_c2s *c);
wb_store *wb_c2s_store(wb_c2s *c);
void wb_c2s_arm_timer(wb_c2s *c, int seconds);
/* Frees the connection (bufferevent, TLS, parser, SASL) but keeps the session. */
void wb_c2s_release_conn(wb_c2s *c);
/* Gives the session another id (relinks it in its worker's table). */
void wb_c2s_set_id(wb_c2s *c, uint64_t id);
/* Links a connection-less session (a resumable session's state) into w with a timer; -1 on
 * allocation failure (the caller then frees it with wb_c2s_free). */
int wb_c2s_attach(wb_worker *w, wb_c2s *c);
/* Reads again after a pause (resumption), handling input that arrived meanwhile. */
void wb_c2s_resume_reading(wb_c2s *c);

/* wb_c2s_sm.c: XEP-0198 */
/* <enable/>, <resume/>, <r/>, <a/>: returns WB_XML_CONTINUE or a stream error. */
int wb_c2s_sm_nonza(wb_c2s *c, const wb_stanza *st);
/* A stanza from the client was handled (counts it when stream management is on). */
void wb_c2s_sm_count_in(wb_c2s *c);
/* Counts, queues and (when connected) writes m; false when it could not be kept. */
bool wb_c2s_sm_deliver(wb_c2s *c, const wb_msg *m);
/* The session ends (its resource unbound): every unacknowledged stanza is re-routed once. */
void wb_c2s_sm_reroute(wb_c2s *c);
/* Stops asking for acks (the connection is gone). */
void wb_c2s_sm_pause(wb_c2s *c);
/* Frees the queue and timer. */
void wb_c2s_sm_free(wb_c2s *c);

/* wb_c2s_sasl.c: each returns WB_XML_CONTINUE, WB_XML_STOP or a stream error. */
void wb_c2s_sasl_write_mechanisms(wb_c2s *c, wb_buf *b);
int wb_c2s_sasl_auth(wb_c2s *c, const wb_stanza *st);
int wb_c2s_sasl_response(wb_c2s *c, const wb_stanza *st);
int wb_c2s_sasl_abort(wb_c2s *c);
void wb_c2s_sasl_free(wb_c2s *c);

/* wb_c2s_presence.c */
/* Handles presence the client sent; returns true when it consumed m. */
bool wb_c2s_presence_out(wb_c2s *c, wb_msg *m);
/* The session ends: unavailable presence to the account's resources and directed targets. */
void wb_c2s_presence_end(wb_c2s *c);

#endif
