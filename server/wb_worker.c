/* wb_worker: one thread, one event_base, its sessions and its storage connection. Other threads
 * reach a worker only through its mailbox (a locked list plus an event activated across threads).
 */
#include "wb_server.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "wb_c2s.h"
#include "wb_component.h"
#include "wb_log.h"
#include "wb_s2s.h"
#include "wb_store.h"
#include "wb_xmpp_errors.h"

typedef enum {
    WB_MB_ACCEPT,
    WB_MB_DELIVER,
    WB_MB_CONFLICT,
    WB_MB_CLOSE,
    WB_MB_STOP,
    WB_MB_CALL,
    WB_MB_SM_TAKEOVER,
    WB_MB_SM_HANDOFF,
} wb_mb_kind;

struct wb_mb_item {
    wb_mb_item *next;
    wb_mb_kind kind;
    uint64_t sid;
    wb_msg *msg;
    int fd;
    const wb_conf_listener *lis;
    char peer[64];
    int stream_err; /* WB_MB_CLOSE */
    char text[128]; /* WB_MB_CLOSE: stream error text, "" for none */
    /* WB_MB_CALL: run on the worker's thread with msg */
    wb_worker_call_fn call;
    wb_sm_takeover rq; /* WB_MB_SM_TAKEOVER */
    wb_c2s *state;     /* WB_MB_SM_HANDOFF: a session's state, owned by the item */
};

#define WB_STOP_GRACE_SECONDS 2
#define WB_STOP_DRAIN_SECONDS 1

static int wb_worker_post(wb_worker *w, wb_mb_item *it)
{
    pthread_mutex_lock(&w->mb_lock);
    if (w->mb_tail)
        w->mb_tail->next = it;
    else
        w->mb_head = it;
    w->mb_tail = it;
    pthread_mutex_unlock(&w->mb_lock);
    event_active(w->mb_ev, EV_READ, 0);
    return 0;
}

static wb_mb_item *wb_mb_item_new(wb_mb_kind kind, uint64_t sid)
{
    wb_mb_item *it = calloc(1, sizeof(*it));
    if (it) {
        it->kind = kind;
        it->sid = sid;
        it->fd = -1;
    }
    return it;
}

int wb_worker_post_accept(wb_worker *w, int fd, const wb_conf_listener *lis, const char *peer)
{
    wb_mb_item *it = wb_mb_item_new(WB_MB_ACCEPT, 0);
    if (!it)
        return -1;
    it->fd = fd;
    it->lis = lis;
    snprintf(it->peer, sizeof(it->peer), "%s", peer);
    return wb_worker_post(w, it);
}

int wb_worker_post_deliver(wb_worker *w, uint64_t sid, wb_msg *m)
{
    wb_mb_item *it = wb_mb_item_new(WB_MB_DELIVER, sid);
    if (!it)
        return -1;
    it->msg = wb_msg_ref(m);
    return wb_worker_post(w, it);
}

int wb_worker_post_conflict(wb_worker *w, uint64_t sid)
{
    wb_mb_item *it = wb_mb_item_new(WB_MB_CONFLICT, sid);
    return it ? wb_worker_post(w, it) : -1;
}

int wb_worker_post_close(wb_worker *w, uint64_t sid, int stream_err, const char *text)
{
    wb_mb_item *it = wb_mb_item_new(WB_MB_CLOSE, sid);
    if (!it)
        return -1;
    it->stream_err = stream_err;
    snprintf(it->text, sizeof(it->text), "%s", text ? text : "");
    return wb_worker_post(w, it);
}

int wb_worker_post_call(wb_worker *w, wb_worker_call_fn fn, wb_msg *m)
{
    wb_mb_item *it = wb_mb_item_new(WB_MB_CALL, 0);
    if (!it)
        return -1;
    it->call = fn;
    it->msg = wb_msg_ref(m);
    return wb_worker_post(w, it);
}

int wb_worker_post_sm_takeover(wb_worker *w, const wb_sm_takeover *rq)
{
    wb_mb_item *it = wb_mb_item_new(WB_MB_SM_TAKEOVER, rq->sid);
    if (!it)
        return -1;
    it->rq = *rq;
    return wb_worker_post(w, it);
}

int wb_worker_post_sm_handoff(wb_worker *w, uint64_t sid, wb_c2s *st)
{
    wb_mb_item *it = wb_mb_item_new(WB_MB_SM_HANDOFF, sid);
    if (!it)
        return -1;
    it->state = st;
    return wb_worker_post(w, it);
}

int wb_worker_post_stop(wb_worker *w)
{
    wb_mb_item *it = wb_mb_item_new(WB_MB_STOP, 0);
    return it ? wb_worker_post(w, it) : -1;
}

wb_c2s *wb_worker_session(wb_worker *w, uint64_t sid)
{
    for (wb_c2s *c = w->by_sid[sid % WB_WORKER_SID_BUCKETS]; c; c = wb_c2s_hnext(c))
        if (wb_c2s_id(c) == sid)
            return c;
    return NULL;
}

static void wb_worker_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_worker *w = arg;
    event_base_loopbreak(w->base);
}

static void wb_worker_begin_stop(wb_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    wb_s2s_worker_stop(w);
    wb_comp_worker_stop(w);
    wb_c2s *c = w->sessions;
    while (c) {
        wb_c2s *next = wb_c2s_next(c);
        wb_c2s_close(c, WB_SE_SYSTEM_SHUTDOWN, NULL);
        c = next;
    }
    struct timeval tv = {WB_STOP_GRACE_SECONDS, 0};
    w->stop_timer = evtimer_new(w->base, wb_worker_stop_timeout, w);
    if (w->stop_timer)
        evtimer_add(w->stop_timer, &tv);
    if (!w->sessions)
        event_base_loopbreak(w->base);
}

/* WB_MB_CONFLICT and WB_MB_CLOSE; a session resumed on another worker (XEP-0198) gets them
 * there. */
static void wb_worker_close_session(wb_worker *w, wb_c2s *c, const wb_mb_item *it)
{
    const int to = wb_c2s_moved_to(c);
    const char *text = it->kind == WB_MB_CONFLICT ? "Replaced by new connection"
                       : it->text[0]              ? it->text
                                                  : NULL;
    const int err = it->kind == WB_MB_CONFLICT ? WB_SE_CONFLICT : it->stream_err;
    if (to < 0)
        wb_c2s_close(c, err, text);
    else if (it->kind == WB_MB_CONFLICT)
        wb_worker_post_conflict(w->srv->workers[to], it->sid);
    else
        wb_worker_post_close(w->srv->workers[to], it->sid, err, text);
}

static void wb_worker_handle(wb_worker *w, wb_mb_item *it)
{
    wb_c2s *c;
    switch (it->kind) {
    case WB_MB_ACCEPT:
        if (w->stopping)
            close(it->fd);
        else if (it->lis->kind == WB_LISTEN_S2S)
            wb_s2s_accept(w, it->fd, it->lis, it->peer);
        else if (it->lis->kind == WB_LISTEN_COMPONENT)
            wb_comp_accept(w, it->fd, it->lis, it->peer);
        else
            wb_c2s_new(w, it->fd, it->lis, it->peer);
        break;
    case WB_MB_DELIVER:
        if ((c = wb_worker_session(w, it->sid)))
            wb_c2s_deliver(c, it->msg);
        wb_msg_unref(it->msg);
        break;
    case WB_MB_CONFLICT:
        if ((c = wb_worker_session(w, it->sid)))
            wb_worker_close_session(w, c, it);
        break;
    case WB_MB_CLOSE:
        if ((c = wb_worker_session(w, it->sid)))
            wb_worker_close_session(w, c, it);
        else if (!wb_comp_close_id(w, it->sid, it->stream_err, it->text[0] ? it->text : NULL))
            wb_s2s_close_id(w, it->sid); /* s2s and component streams share the id space */
        break;
    case WB_MB_STOP:
        wb_worker_begin_stop(w);
        break;
    case WB_MB_SM_TAKEOVER:
        wb_c2s_sm_takeover(w, &it->rq);
        break;
    case WB_MB_SM_HANDOFF:
        wb_c2s_sm_handoff(w, it->sid, it->state);
        break;
    case WB_MB_CALL:
        it->call(w, it->msg);
        wb_msg_unref(it->msg);
        break;
    }
}

static void wb_worker_mailbox_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_worker *w = arg;
    pthread_mutex_lock(&w->mb_lock);
    wb_mb_item *it = w->mb_head;
    w->mb_head = w->mb_tail = NULL;
    pthread_mutex_unlock(&w->mb_lock);
    while (it) {
        wb_mb_item *next = it->next;
        wb_worker_handle(w, it);
        free(it);
        it = next;
    }
}

wb_worker *wb_worker_new(wb_server *srv, int idx)
{
    wb_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->idx = idx;
    w->srv = srv;
    pthread_mutex_init(&w->mb_lock, NULL);
    w->base = event_base_new();
    if (!w->base)
        goto fail;
    w->mb_ev = event_new(w->base, -1, EV_PERSIST, wb_worker_mailbox_cb, w);
    if (!w->mb_ev)
        goto fail;
    w->store = wb_store_new(w->base, srv->cfg->dsn, srv->vault);
    if (!w->store)
        goto fail;
    return w;
fail:
    wb_worker_free(w);
    return NULL;
}

/* Called when the last session of a stopping worker is gone. */
void wb_worker_session_gone(wb_worker *w)
{
    if (!w->stopping || w->sessions)
        return;
    if (w->stop_drain && w->stop_timer) {
        /* Unacknowledged stanzas (XEP-0198) went to offline storage: let those writes finish. */
        struct timeval tv = {WB_STOP_DRAIN_SECONDS, 0};
        w->stop_drain = false;
        evtimer_add(w->stop_timer, &tv);
        return;
    }
    event_base_loopbreak(w->base);
}

static void *wb_worker_main(void *arg)
{
    wb_worker *w = arg;
    event_base_loop(w->base, 0);
    /* Sessions still open after the grace period are dropped without waiting any longer. */
    while (w->sessions)
        wb_c2s_free(w->sessions);
    wb_s2s_worker_end(w);
    wb_comp_worker_end(w);
    return NULL;
}

int wb_worker_start(wb_worker *w)
{
    if (pthread_create(&w->thread, NULL, wb_worker_main, w) != 0)
        return -1;
    w->started = true;
    return 0;
}

void wb_worker_join(wb_worker *w)
{
    if (w && w->started) {
        pthread_join(w->thread, NULL);
        w->started = false;
    }
}

void wb_worker_close_store(wb_worker *w)
{
    if (w && w->store) {
        wb_store_free(w->store);
        w->store = NULL;
    }
}

void wb_worker_free(wb_worker *w)
{
    if (!w)
        return;
    wb_worker_join(w);
    wb_mb_item *it = w->mb_head;
    while (it) {
        wb_mb_item *next = it->next;
        if (it->msg)
            wb_msg_unref(it->msg);
        if (it->fd >= 0)
            close(it->fd);
        if (it->kind == WB_MB_SM_HANDOFF && it->state)
            wb_c2s_sm_discard(it->state);
        free(it);
        it = next;
    }
    if (w->stop_timer)
        event_free(w->stop_timer);
    if (w->store)
        wb_store_free(w->store);
    if (w->mb_ev)
        event_free(w->mb_ev);
    if (w->base)
        event_base_free(w->base);
    pthread_mutex_destroy(&w->mb_lock);
    free(w);
}
