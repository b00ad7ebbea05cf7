/* Private to server/s2s/: the stream object shared by inbound, outbound and dialback-verify
 * connections, the per-worker state and the calls the s2s files make on each other. */
#ifndef WB_S2S_INT_H
#define WB_S2S_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <sys/socket.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "wb_s2s.h"
#include "wb_s2s_conf.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define WB_NS_DIALBACK      "jabber:server:dialback"
#define WB_NS_DIALBACK_FEAT "urn:xmpp:features:dialback"
#define WB_NS_S2S_TLS       "urn:ietf:params:xml:ns:xmpp-tls"
#define WB_NS_S2S_SASL      "urn:ietf:params:xml:ns:xmpp-sasl"
#define WB_NS_BIDI          "urn:xmpp:bidi"
#define WB_NS_BIDI_FEAT     "urn:xmpp:features:bidi"
#define WB_S2S_DOMAIN_MAX   1024 /* WB_JID_PART_MAX + 1 */
#define WB_S2S_MAX_PAIRS    16   /* domain pairs authenticated on one inbound stream */
#define WB_S2S_MAX_ADDRS    16   /* addresses tried per outbound connection */
#define WB_S2S_MAX_VERIFY   4    /* dialback verifications pending for one inbound stream */
#define WB_S2S_RATE_WINDOW  10   /* seconds of the inbound stanza rate window */
/* Stanza error conditions for bounces (wb_xmpp_errors.h has no remote-server-timeout). */
#define WB_S2S_NOT_FOUND "remote-server-not-found"
#define WB_S2S_TIMEOUT   "remote-server-timeout"
#define WB_S2S_INTERNAL  "internal-server-error"
#define WB_S2S_KEY_HEX   65 /* a dialback key: HMAC-SHA256 in hex, plus NUL */

typedef enum { WB_S2S_IN = 0, WB_S2S_OUT, WB_S2S_VERIFY } wb_s2s_dir;

/* A domain of ours on another domain's outbound stream (XEP-0220 piggybacking). */
enum { WB_S2S_MUX_ASKED = 0, WB_S2S_MUX_OK, WB_S2S_MUX_REFUSED };

typedef enum {
    WB_S2S_RESOLVING = 0, /* outbound: waiting for DNS */
    WB_S2S_CONNECTING,    /* outbound: TCP connect under way */
    WB_S2S_OPEN,          /* stream header exchange and features */
    WB_S2S_AUTHING,       /* outbound: db:result / db:verify sent, waiting for the answer */
    WB_S2S_READY,         /* outbound: authenticated, stanzas flow */
} wb_s2s_state;

typedef struct wb_s2s_pair {
    char remote[WB_S2S_DOMAIN_MAX];
    char local[WB_S2S_DOMAIN_MAX];
} wb_s2s_pair;

/* DANE (RFC 7673, wb_s2s_dane.c): the TLSA records of an outbound stream's SRV targets, kept in
 * the stream object (bounded, no allocation) from the lookups until the peer's certificate is
 * judged. */
#define WB_S2S_MAX_TLSA   16   /* TLSA records kept per outbound stream */
#define WB_S2S_TLSA_BYTES 4096 /* their association data, in all */
typedef struct wb_s2s_tlsa {
    unsigned char target, usage, selector, mtype;
    unsigned short off, len; /* of the association data in wb_s2s_dane.data */
} wb_s2s_tlsa;
typedef struct wb_s2s_dane {
    bool srv_secure[4];  /* the SRV answer naming target i (or denying any SRV) was secure */
    bool srv_all_secure; /* every SRV answer so far was secure (for the fallback target) */
    bool addr_secure;    /* every address answer of the current target was secure */
    int addr_start;      /* n_addrs before the current target's addresses */
    signed char addr_target[WB_S2S_MAX_ADDRS]; /* target of each address; -1: static route */
    wb_s2s_tlsa rr[WB_S2S_MAX_TLSA];
    int n_rr;
    unsigned char data[WB_S2S_TLSA_BYTES];
    size_t used;
    bool checked;  /* the peer's certificate was judged (once per stream) */
    bool ok;       /* ... and matched a TLSA record: DANE authenticated the peer */
    char why[640]; /* the last DANE failure (lookup or mismatch), for the log and the bounce */
} wb_s2s_dane;
/* end DANE */

typedef struct wb_s2s_conn wb_s2s_conn;
typedef struct wb_s2s_info wb_s2s_info;

struct wb_s2s_conn {
    wb_s2s_conn *prev, *next; /* the worker's list */
    uint64_t id;
    wb_worker *w;
    wb_s2s_dir dir;
    wb_s2s_state state;
    char local[WB_S2S_DOMAIN_MAX];  /* our domain (inbound: from the stream header's 'to') */
    char remote[WB_S2S_DOMAIN_MAX]; /* their domain (inbound: set once a pair is authenticated) */
    char peer[64];
    struct bufferevent *bev;
    SSL *ssl;
    struct wb_tls *tls;
    wb_xml_stream *xs;
    struct event *timer;     /* handshake / idle / close grace */
    struct event *bounce_ev; /* outbound: queued stanzas bounce when it fires */
    char stream_id[64];      /* inbound: the id we sent; outbound: the id the peer sent */
    bool header_sent, tls_on, closing, in_feed, want_tls, want_restart, free_soon;
    bool direct_tls;  /* inbound on a direct-TLS listener */
    const char *auth; /* how the stream was authenticated ("dialback"), or NULL */
    bool sasl_done;   /* EXTERNAL succeeded: the restarted stream needs no more auth */
    bool sasl_tried;  /* outbound: EXTERNAL was attempted */
    bool bidi;        /* XEP-0288 negotiated: stanzas flow both ways on this stream */
    /* inbound bidi: another of our domains we asked the peer to accept with db:result; its
     * stanzas wait in `queue` until the answer (or rev_ev) */
    char rev_local[WB_S2S_DOMAIN_MAX];
    struct event *rev_ev;
    /* inbound: authenticated (remote, local) pairs; outbound bidi: the pairs the peer may send
     * stanzas for on this stream (its own domain to ours) */
    wb_s2s_pair pairs[WB_S2S_MAX_PAIRS];
    int n_pairs;
    /* outbound: stanzas waiting for the stream to be ready, in order (inbound: see rev_local) */
    wb_msg **queue;
    size_t q_head, q_len, q_cap;
    /* outbound / verify: where to connect */
    struct sockaddr_storage addrs[WB_S2S_MAX_ADDRS];
    int addr_len[WB_S2S_MAX_ADDRS];
    bool addr_direct[WB_S2S_MAX_ADDRS]; /* reached through _xmpps-server: direct TLS */
    int n_addrs, next_addr;
    bool direct_out; /* outbound: the address being tried wants TLS at once (XEP-0368) */
    int dns_id;      /* libunbound async id, 0 when none */
    int socks_step;  /* outbound through SOCKS5 (wb_s2s_socks.c): handshake step, 0 when none */
    /* DNS: SRV targets in the order to try, then the addresses of each */
    char targets[4][WB_S2S_DOMAIN_MAX];
    int target_port[4];
    bool target_direct[4];
    int n_targets, cur_target, dns_stage;
    /* verify: the key to check for inbound stream `verify_for`, its stream id */
    char key[256];
    char verify_sid[64];
    uint64_t verify_for;
    /* outbound, XEP-0220 piggybacking (wb_s2s_bidi.c): a stream authenticated with dialback
     * carries stanzas of our other domains too once the peer accepts them (db:result); the one
     * being asked is rev_local, its stanzas wait in `queue` */
    bool carrier;
    struct wb_s2s_mux {
        char local[WB_S2S_DOMAIN_MAX];
        int state;         /* WB_S2S_MUX_* */
        wb_s2s_info *info; /* its line in the registry once accepted, or NULL */
    } mux[WB_S2S_MAX_PAIRS];
    int n_mux;
    wb_s2s_info *info; /* this stream in the registry `warblerctl s2s list` reads, or NULL */
    time_t since;
    wb_s2s_dane dane; /* DANE: outbound only (wb_s2s_dane.c) */
};

/* Per worker, touched only by the worker's own thread. */
typedef struct wb_s2s_worker {
    wb_s2s_conn *conns;
    struct ub_ctx *ub;
    struct event *ub_ev;
    /* DANE: outbound streams to move on to their next address after a mismatch */
    struct event *dane_ev;
    uint64_t dane_retry[8];
    int n_dane_retry;
} wb_s2s_worker;

typedef struct wb_s2s {
    wb_server *srv;
    const wb_s2s_conf *conf;
    unsigned char *secret_hash; /* SHA-256 of the dialback secret (XEP-0185), sodium_malloc'd */
    SSL_CTX **client_ctx;       /* per host, in configuration order: presents its certificate */
    size_t n_client;
    X509_STORE *store;              /* system CAs plus s2s.ca_file */
    struct wb_ratelimit *conn_rl;   /* new inbound connections per remote address */
    struct wb_ratelimit *stanza_rl; /* inbound stanzas per remote domain */
    wb_s2s_worker *ws;              /* one per worker */
    int n_ws;
    /* the registry of streams (wb_s2s_ctl.c), shared by the workers and the main thread */
    pthread_mutex_t reg_lock;
    bool reg_ready;
    wb_s2s_info *reg;
    SSL_CTX *dane_ctx; /* DANE: for the SSL objects that match certificates to TLSA records */
    /* inbound bidi streams by domain pair (wb_s2s_bidi.c), shared by the workers */
    pthread_mutex_t bidi_lock;
    bool bidi_ready;
    struct wb_s2s_bidi_ent *bidi;
    size_t n_bidi, cap_bidi;
} wb_s2s;

/* wb_s2s.c */
/* Opens an outbound (or, with dir VERIFY, a verify) stream object; not connected yet. */
wb_s2s_conn *wb_s2s_open(wb_worker *w, wb_s2s_dir dir, const char *local, const char *remote);
wb_s2s *wb_s2s_of(const wb_worker *w);
/* Connects an outbound or verify stream to c->remote through the SOCKS5 proxy (RFC 1928 CONNECT
 * with the name unresolved), then starts the stream; failures bounce (wb_s2s_out_fail). */
void wb_s2s_socks_start(wb_s2s_conn *c);
/* The virtual host (index in cfg->hosts) serving domain itself or as its MUC service; -1. */
int wb_s2s_host_index(const wb_server *srv, const char *domain);
/* The domain of that virtual host, whose policy applies (wb_s2s_conf_refuses...); NULL when
 * domain is NULL, empty or not served: the global s2s group applies. */
const char *wb_s2s_host_of(const wb_server *srv, const char *domain);
wb_s2s_worker *wb_s2s_ws(const wb_worker *w);
/* XEP-0185 key over "receiving originating stream-id" into out (64 hex digits). */
void wb_s2s_dialback_key(const wb_s2s *s, const char *receiving, const char *originating,
                         const char *sid, char out[WB_S2S_KEY_HEX]);
/* Answers m (not consumed) with a stanza error of this condition, unless m is presence, an error
 * or a result (RFC 6120 8.3.1, 10.4.3). */
void wb_s2s_bounce(wb_worker *w, const wb_msg *m, const char *cond, const char *text);
/* An audit event "s2s.auth" (actor server:REMOTE, target the local domain): success with the
 * mechanism, or failure with the reason. */
void wb_s2s_audit(const wb_s2s_conn *c, const char *remote, const char *local, bool ok,
                  const char *detail);
/* Constant-time comparison of a received key with the expected one. */
bool wb_s2s_key_ok(const wb_s2s *s, const char *receiving, const char *originating, const char *sid,
                   const char *key, size_t key_len);

/* wb_s2s_cert.c */
int wb_s2s_cert_init(wb_s2s *s, const wb_config *cfg, char *err, size_t errsize);
void wb_s2s_cert_free(wb_s2s *s);
/* A client-side SSL presenting local's certificate; NULL if local is not served. */
SSL *wb_s2s_cert_client_ssl(const wb_s2s *s, const char *local);
/* NULL when the peer's certificate chain validates and names domain; else the reason. */
const char *wb_s2s_cert_check(const wb_s2s *s, SSL *ssl, const char *domain);
/* Server side: ask the peer for its certificate (judged later by wb_s2s_cert_check). */
void wb_s2s_cert_ask_peer(SSL *ssl);

/* Routes m (consumed) to the worker owning the outbound stream for its pair, without looking for
 * a bidirectional stream. */
void wb_s2s_route_direct(wb_worker *w, wb_msg *m);
/* Appends m (consumed on success) to c's queue; -1 when full (s2s.queue_max) or out of memory. */
int wb_s2s_enqueue(wb_s2s_conn *c, wb_msg *m);

/* wb_s2s_bidi.c: the table of inbound XEP-0288 streams that may carry our stanzas back to the
 * peer, (local, remote) -> (worker, stream); thread-safe. */
void wb_s2s_bidi_init(wb_s2s *s);
void wb_s2s_bidi_free(wb_s2s *s);
/* Inbound bidi stream c may now send stanzas from local to remote. False when out of memory. */
bool wb_s2s_bidi_add(wb_s2s_conn *c, const char *local, const char *remote);
/* Stream c closes: routing no longer picks it; stanzas waiting for a reverse dialback answer
 * take the usual way (a stream of their own). */
void wb_s2s_bidi_remove(wb_s2s_conn *c);
/* The peer answered our db:result for c->rev_local on inbound bidi stream c: valid (the pair is
 * already added) sends what waits on c, otherwise it takes the usual way. */
void wb_s2s_bidi_flush(wb_s2s_conn *c, bool valid);
/* Routes m (consumed) over an inbound bidi stream for its pair when there is one; false (m not
 * consumed) when there is none. */
bool wb_s2s_bidi_route(wb_worker *w, wb_msg *m);
/* The same table also says how each (local, remote) pair leaves without bidi: on an outbound
 * stream of its own, or piggybacked (XEP-0220) on another local domain's authenticated outbound
 * stream to the same remote domain. Routes m (consumed) to the worker of the stream that
 * carries its pair; false (m not consumed) when the pair takes a stream of its own. */
bool wb_s2s_mux_route(wb_worker *w, wb_msg *m);
/* Outbound stream c was opened for its pair: the pair leaves on it (unless piggybacked). */
void wb_s2s_mux_own(wb_s2s_conn *c);
/* Outbound stream c authenticated with dialback: it may carry our other domains. */
void wb_s2s_mux_carrier(wb_s2s_conn *c);
/* A db:result answer (valid, invalid or a dialback error) on carrier c for c->rev_local. */
void wb_s2s_mux_answer(wb_s2s_conn *c, const wb_stanza *st);

/* wb_s2s_ctl.c: the registry of IN/OUT streams for `warblerctl s2s` (from their worker). */
void wb_s2s_reg_add(wb_s2s_conn *c);
void wb_s2s_reg_remove(wb_s2s_conn *c);
/* The stream authenticated: its domains, mechanism and TLS parameters are recorded. */
void wb_s2s_reg_update(wb_s2s_conn *c);
void wb_s2s_reg_count(wb_s2s_conn *c, bool out);
/* A line for our domain `local` piggybacked on authenticated outbound stream c (NULL when there
 * is no registry); removed with wb_s2s_reg_drop. */
wb_s2s_info *wb_s2s_reg_add_mux(wb_s2s_conn *c, const char *local);
void wb_s2s_reg_drop(wb_s2s *s, wb_s2s_info *i);
void wb_s2s_reg_count_info(wb_s2s_info *i, bool out);
void wb_s2s_ctl_stop(wb_s2s *s);

/* wb_s2s_conn.c */
wb_s2s_conn *wb_s2s_conn_new(wb_worker *w, wb_s2s_dir dir);
/* Installs the socket (inbound: accepted; outbound: connecting) and starts reading. 0 or -1. */
int wb_s2s_conn_attach(wb_s2s_conn *c, struct bufferevent *bev);
void wb_s2s_conn_send(wb_s2s_conn *c, const char *data, size_t len);
void wb_s2s_conn_send_str(wb_s2s_conn *c, const char *s);
/* Writes our stream header: inbound answers with an id, outbound opens with from/to. */
void wb_s2s_conn_send_header(wb_s2s_conn *c);
/* Closes with an optional stream error; freed once flushed. */
void wb_s2s_conn_close(wb_s2s_conn *c, int stream_err, const char *text);
void wb_s2s_conn_free(wb_s2s_conn *c);
void wb_s2s_conn_arm(wb_s2s_conn *c, int seconds);
/* Starts TLS on the stream (server side for inbound, client side otherwise). 0 or -1. */
int wb_s2s_conn_start_tls(wb_s2s_conn *c);
wb_s2s_conn *wb_s2s_conn_find(wb_worker *w, uint64_t id);

/* wb_s2s_in.c: the parser callbacks of an inbound stream. */
int wb_s2s_in_open(wb_s2s_conn *c, const wb_stream_header *hdr);
int wb_s2s_in_stanza(wb_s2s_conn *c, wb_stanza *st);
/* A stanza from a remote server as a model message: the tree and bytes re-read in jabber:client
 * so that modules and clients see what a local stanza looks like. NULL on failure; else err is
 * WB_STE_COUNT, or the error to answer with (bad-request: m can carry the reply). */
wb_msg *wb_s2s_stanza_msg(const wb_stanza *st, wb_msg_kind kind, const wb_jid *from,
                          const wb_jid *to, wb_stanza_err *err);
/* A stanza from the peer (kind known) on stream c: its from/to must be a pair c authenticated
 * (c->pairs), then it is routed. WB_XML_CONTINUE, or a stream error. */
int wb_s2s_in_route(wb_s2s_conn *c, wb_stanza *st, wb_msg_kind kind);
/* A dialback request (db:result, db:verify) on inbound stream c, or a db:result the peer sends
 * on our bidirectional outbound stream c (XEP-0288 3). WB_XML_CONTINUE, or a stream error. */
int wb_s2s_in_dialback(wb_s2s_conn *c, const wb_stanza *st);
/* A dialback verification for inbound stream c finished: valid, invalid or failed (error). */
void wb_s2s_in_verified(wb_s2s_conn *c, const char *remote, const char *local, int result);

/* wb_s2s_out.c: outbound and verify streams. */
int wb_s2s_out_open(wb_s2s_conn *c, const wb_stream_header *hdr);
int wb_s2s_out_stanza(wb_s2s_conn *c, wb_stanza *st);
/* The TCP connection is up (or failed: try the next address, then give up). */
void wb_s2s_out_connected(wb_s2s_conn *c);
void wb_s2s_out_connect_failed(wb_s2s_conn *c, const char *why);
/* Addresses are known (n_addrs may be 0: unresolvable): connect to the first. */
void wb_s2s_out_resolved(wb_s2s_conn *c, const char *why);
/* An outbound stream ends: bounce what is queued (err < 0: nothing to bounce for). */
void wb_s2s_out_fail(wb_s2s_conn *c, const char *cond, const char *why);
/* Starts a verify connection for inbound stream `in` (the key it received for remote->local). */
void wb_s2s_verify_start(wb_s2s_conn *in, const char *remote, const char *local, const char *key);
/* Stanza count and state for list. */
void wb_s2s_out_drop_queue(wb_s2s_conn *c);

/* DANE (wb_s2s_dane.c): TLSA records (RFC 6698, 7671, 7673) for outbound streams. */
int wb_s2s_dane_init(wb_s2s *s, char *err, size_t errsize);
void wb_s2s_dane_free(wb_s2s *s);
/* Keeps the usable records of a DNSSEC-secure TLSA answer for target t of c. */
void wb_s2s_dane_take(wb_s2s_conn *c, int t, const unsigned char *rdata, int len);
/* Matches the certificate the peer of ssl (NULL: no TLS) presented with the records of target t
 * in d; target (the SRV target host) and domain are the names DANE-TA and PKIX usages check
 * (RFC 7673 4.2). 1: matched (why: "TLSA 3 1 1"), 0: no usable record, -1: mismatch (why). */
int wb_s2s_dane_check_cert(const wb_s2s *s, SSL *ssl, const wb_s2s_dane *d, int t,
                           const char *target, const char *domain, char *why, size_t whysize);
/* Judges the peer's certificate against the TLSA records of the address being tried (once per
 * stream, when the features after TLS arrive): true when there are none or one matched (then
 * c->dane.ok); false after failing the stream ("DANE mismatch", logged and audited). */
bool wb_s2s_dane_verify(wb_s2s_conn *c);
/* How the stream authenticated, for logs and `warblerctl s2s list`: "DANE+EXTERNAL"... */
const char *wb_s2s_dane_auth(const wb_s2s_conn *c, const char *mechanism);
/* The worker stops: its pending moves to a next address are dropped. */
void wb_s2s_dane_worker_free(wb_s2s_worker *ws);

/* wb_s2s_dns.c: SRV, then A/AAAA (and TLSA for DANE) through libunbound on the worker's loop. */
int wb_s2s_dns_start(wb_s2s_conn *c);
void wb_s2s_dns_cancel(wb_s2s_conn *c);
void wb_s2s_dns_free(wb_s2s_worker *ws);

#endif
