/* Inside the component code: the registry of configured components (which worker and stream holds
 * each domain) and one component stream. Not for the rest of the daemon (wb_component.h). */
#ifndef WB_COMPONENT_INT_H
#define WB_COMPONENT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "wb_component.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define WB_NS_COMPONENT     "jabber:component:accept"
#define WB_COMP_ID_LEN      32          /* hex characters of a stream id */
#define WB_COMP_MAX_OUTPUT  (16u << 20) /* bytes queued to a component that does not read */
#define WB_COMP_CLOSE_GRACE 5           /* seconds to flush a closing stream */

struct bufferevent;
struct event;

/* One configured component; `worker` and `id` (0: not connected) are guarded by the lock. */
typedef struct wb_comp_entry {
    char *domain;
    char *secret;
    int worker;
    uint64_t id;
} wb_comp_entry;

typedef struct wb_comp_conn wb_comp_conn;

typedef struct wb_comp_state {
    pthread_mutex_t lock;
    wb_comp_entry *e;
    size_t n;
    wb_comp_conn **conns; /* per worker: its streams, touched only on that worker's thread */
    int n_workers;
} wb_comp_state;

struct wb_comp_conn {
    wb_comp_conn *next, *prev;
    wb_worker *w;
    uint64_t id;
    struct bufferevent *bev;
    wb_xml_stream *xs;
    struct event *timer;
    int comp; /* index of the component named by the stream header, -1 before */
    bool header_sent, authed, closing, in_feed;
    char stream_id[WB_COMP_ID_LEN + 1];
    char peer[64];
};

/* ---- registry (wb_component.c) ---- */
wb_comp_state *wb_comp_state_of(const wb_server *srv);
/* Index of the component serving this domain, or -1. */
int wb_comp_find(const wb_comp_state *st, const char *domain);
/* Makes stream c the holder of its domain; returns the id of the stream it replaced (0: none)
 * and that stream's worker in *old_worker. */
uint64_t wb_comp_claim(wb_comp_state *st, const wb_comp_conn *c, int *old_worker);
/* Stream c ends: its domain is no longer held unless a newer stream took it. */
void wb_comp_release(wb_comp_state *st, const wb_comp_conn *c);

/* ---- streams (wb_component_conn.c) ---- */
/* A stream on w, not yet attached to a socket (c->xs takes its bytes); NULL when out of memory. */
wb_comp_conn *wb_comp_conn_new(wb_worker *w, const char *peer);
void wb_comp_conn_close(wb_comp_conn *c, int stream_err, const char *text);
void wb_comp_conn_free(wb_comp_conn *c);
/* Writes m's bytes down the stream. */
void wb_comp_conn_deliver(wb_comp_conn *c, const wb_msg *m);
/* Stanza handling after the handshake (wb_component_stanza.c); st is consumed. */
int wb_comp_stanza(wb_comp_conn *c, wb_stanza *st);
/* The model message of st (a stanza of this kind from a component, addresses checked), its bytes
 * and tree in jabber:client. *err: WB_STE_COUNT when valid, else the stanza error to answer with.
 * NULL when out of memory or st's bytes cannot be rewritten. */
wb_msg *wb_comp_msg(const wb_stanza *st, wb_msg_kind kind, const wb_jid *from, const wb_jid *to,
                    wb_stanza_err *err);

#endif
