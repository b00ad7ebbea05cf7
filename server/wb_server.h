/* The daemon's shared state and its workers: configuration, TLS set, session directory, failed-
 * login limiter, the vault, and per worker an event_base, a mailbox, a storage connection and
 * its sessions. Everything mutable lives here; there are no other globals. */
#ifndef WB_SERVER_H
#define WB_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "wb_config.h"
#include "wb_directory.h"
#include "wb_msg.h"
#include "wb_ratelimit.h"
#include "wb_tls.h"

struct event_base;
struct event;
struct wb_store;
struct wb_vault;
typedef struct wb_c2s wb_c2s;
typedef struct wb_worker wb_worker;
typedef struct wb_mb_item wb_mb_item;

#define WB_WORKER_SID_BUCKETS 4096
#define WB_SERVER_MAX_MODULES 32

typedef struct wb_server {
    wb_config *cfg;
    pthread_mutex_t tls_lock;
    wb_tls *tls; /* current set; take a reference under tls_lock */
    wb_directory *dir;
    wb_ratelimit *auth_limit;
    wb_worker **workers;
    int n_workers;
    uint64_t next_sid;    /* atomic */
    unsigned next_worker; /* round robin for accepted connections (main thread only) */
    void *mod_state[WB_SERVER_MAX_MODULES]; /* see wb_modules_state() */
    time_t started;                         /* when the daemon started (XEP-0012 uptime) */
    struct wb_vault *vault;                 /* master key(s), thread-safe; used only by storage/ */
    struct wb_audit *audit;                 /* the audit log writer (server/audit/), thread-safe */
    struct wb_admin *admin;                 /* the REST admin API (server/admin/), NULL when off */
    struct wb_s2s *s2s; /* federation (server/s2s/), set before the workers start */
} wb_server;

struct wb_worker {
    int idx;
    wb_server *srv;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct wb_store *store;
    /* mailbox: other threads append under mb_lock and activate mb_ev */
    pthread_mutex_t mb_lock;
    wb_mb_item *mb_head, *mb_tail;
    struct event *mb_ev;
    /* sessions of this worker */
    wb_c2s *sessions; /* doubly linked list */
    size_t n_sessions;
    wb_c2s *by_sid[WB_WORKER_SID_BUCKETS]; /* hash chains through wb_c2s_hnext() */
    bool stopping;
    bool stop_drain; /* stanzas were re-routed while stopping: give storage a moment */
    struct event *stop_timer;
};

/* The current TLS set, referenced (caller unrefs). */
wb_tls *wb_server_tls(wb_server *srv);
/* Whether domain is one of the configured virtual hosts. */
bool wb_server_serves(const wb_server *srv, const char *domain);

/* ---- workers (wb_worker.c) ---- */
wb_worker *wb_worker_new(wb_server *srv, int idx);
int wb_worker_start(wb_worker *w);
/* Waits for the thread to end; then (once every worker has ended) free. */
void wb_worker_join(wb_worker *w);
/* After every worker has been joined: closes w's database connection (pending requests are told
 * it is unavailable, which may post to other workers' mailboxes: do it for all before freeing). */
void wb_worker_close_store(wb_worker *w);
void wb_worker_free(wb_worker *w);
/* Thread-safe: hands an accepted socket to w. */
int wb_worker_post_accept(wb_worker *w, int fd, const wb_conf_listener *lis, const char *peer);
/* Thread-safe: delivers m (a reference is taken) to session sid on w. */
int wb_worker_post_deliver(wb_worker *w, uint64_t sid, wb_msg *m);
/* Thread-safe: tells session sid that a newer session took its full JID. */
int wb_worker_post_conflict(wb_worker *w, uint64_t sid);
/* Thread-safe: closes session sid on w with this stream error (wb_stream_err) and text (may be
 * NULL; copied, at most 127 bytes kept). */
int wb_worker_post_close(wb_worker *w, uint64_t sid, int stream_err, const char *text);
/* Thread-safe: runs fn(w, m) on w's thread (a reference to m is held until fn returned; fn takes
 * its own to keep m). For state owned by one worker, such as MUC rooms. */
typedef void (*wb_worker_call_fn)(wb_worker *w, wb_msg *m);
int wb_worker_post_call(wb_worker *w, wb_worker_call_fn fn, wb_msg *m);
/* XEP-0198 resumption: a stream on worker new_worker (session new_sid, authenticated as
 * node@domain) asks for the state of session sid, proving that it knows its token. */
typedef struct wb_sm_takeover {
    uint64_t sid, new_sid;
    int new_worker;
    unsigned char token[16];
    char node[WB_JID_PART_MAX + 1];
    char domain[WB_JID_PART_MAX + 1];
} wb_sm_takeover;
/* Thread-safe: asks w (the owner of rq->sid) to hand that session over (copied). */
int wb_worker_post_sm_takeover(wb_worker *w, const wb_sm_takeover *rq);
/* Thread-safe: gives the resuming stream sid on w the session state st (NULL: refused); w owns st
 * from then on. */
int wb_worker_post_sm_handoff(wb_worker *w, uint64_t sid, wb_c2s *st);
/* Thread-safe: asks w to close every stream and stop. */
int wb_worker_post_stop(wb_worker *w);
/* On w's own thread: a session was freed (lets a stopping worker finish). */
void wb_worker_session_gone(wb_worker *w);
/* On w's own thread: the session with this id, or NULL. */
wb_c2s *wb_worker_session(wb_worker *w, uint64_t sid);

#endif
