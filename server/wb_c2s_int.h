/* Private to the c2s files (wb_c2s.c, wb_c2s_sasl.c, wb_c2s_presence.c): the session struct and
 * the calls they make on each other. Nothing else includes this. */
#ifndef WB_C2S_INT_H
#define WB_C2S_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "wb_c2s.h"
#include "wb_scram.h"
#include "wb_store.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define WB_NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"
#define WB_NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define WB_NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define WB_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

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
};

/* wb_c2s.c */
void wb_c2s_send(wb_c2s *c, const char *data, size_t len);
void wb_c2s_send_str(wb_c2s *c, const char *s);
void wb_c2s_send_features(wb_c2s *c);
void wb_c2s_restart_stream(wb_c2s *c);
wb_store *wb_c2s_store(wb_c2s *c);

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
