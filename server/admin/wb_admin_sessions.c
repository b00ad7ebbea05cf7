/* The admin view of live sessions: a module whose bound/ended hooks note, per session id, when
 * it bound, from which address and over which TLS version (a locked table read by the API threads
 * and the control socket). Not the session directory (routing) and not the sessions themselves. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wb_admin_int.h"
#include "wb_modules.h"

#define WB_ADMIN_SESS_BUCKETS 1024

typedef struct wb_admin_sess {
    struct wb_admin_sess *next;
    uint64_t sid;
    wb_admin_session_info info;
} wb_admin_sess;

typedef struct wb_admin_sessions {
    pthread_mutex_t lock;
    wb_admin_sess *buckets[WB_ADMIN_SESS_BUCKETS];
} wb_admin_sessions;

static int wb_admin_sessions_init(wb_server *srv, void **state)
{
    (void)srv; /* always on: the control socket (warblerctl sessions list) asks too */
    wb_admin_sessions *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    pthread_mutex_init(&s->lock, NULL);
    *state = s;
    return 0;
}

static void wb_admin_sessions_shutdown(wb_server *srv, void *state)
{
    wb_admin_sessions *s = state;
    (void)srv;
    if (s == NULL)
        return;
    for (size_t i = 0; i < WB_ADMIN_SESS_BUCKETS; i++) {
        wb_admin_sess *e = s->buckets[i];
        while (e != NULL) {
            wb_admin_sess *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void wb_admin_sessions_bound(wb_worker *w, wb_c2s *c)
{
    wb_admin_sessions *s = wb_modules_state(w->srv, &wb_mod_admin_sessions);
    if (s == NULL)
        return;
    wb_admin_sess *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    const char *tls = wb_c2s_tls_version(c);
    e->sid = wb_c2s_id(c);
    e->info.since = (int64_t)time(NULL);
    snprintf(e->info.address, sizeof(e->info.address), "%s", wb_c2s_peer(c));
    snprintf(e->info.tls, sizeof(e->info.tls), "%s", tls ? tls : "");
    pthread_mutex_lock(&s->lock);
    wb_admin_sess **head = &s->buckets[e->sid % WB_ADMIN_SESS_BUCKETS];
    e->next = *head;
    *head = e;
    pthread_mutex_unlock(&s->lock);
}

static void wb_admin_sessions_ended(wb_worker *w, const wb_jid *full, uint64_t sid,
                                    bool was_available)
{
    (void)full;
    (void)was_available;
    wb_admin_sessions *s = wb_modules_state(w->srv, &wb_mod_admin_sessions);
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    for (wb_admin_sess **p = &s->buckets[sid % WB_ADMIN_SESS_BUCKETS]; *p; p = &(*p)->next) {
        if ((*p)->sid == sid) {
            wb_admin_sess *gone = *p;
            *p = gone->next;
            free(gone);
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

bool wb_admin_session_info_get(wb_server *srv, uint64_t sid, wb_admin_session_info *out)
{
    wb_admin_sessions *s = wb_modules_state(srv, &wb_mod_admin_sessions);
    bool found = false;
    if (s == NULL)
        return false;
    pthread_mutex_lock(&s->lock);
    for (const wb_admin_sess *e = s->buckets[sid % WB_ADMIN_SESS_BUCKETS]; e; e = e->next) {
        if (e->sid == sid) {
            *out = e->info;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

const wb_module wb_mod_admin_sessions = {
    .name = "admin_sessions",
    .bound = wb_admin_sessions_bound,
    .ended = wb_admin_sessions_ended,
    .init = wb_admin_sessions_init,
    .shutdown = wb_admin_sessions_shutdown,
};
