/* wb_s2s_ctl: the live s2s streams as warblerctl sees them: a registry every worker updates
 * (direction, authentication, TLS, stanza counts) and the "s2s list" and "s2s close DOMAIN"
 * commands of the daemon's control socket (server/wb_control.c), answered on the main thread. */
#include "wb_s2s_int.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "wb_control.h"
#include "wb_log.h"

struct wb_s2s_info {
    wb_s2s_info *prev, *next;
    uint64_t id;
    int worker;
    bool out, ready, bidi;
    bool mux; /* a domain piggybacked on stream `id` (XEP-0220): closed with it */
    char local[WB_S2S_DOMAIN_MAX];
    char remote[WB_S2S_DOMAIN_MAX];
    char auth[16];
    char tls[96];
    char peer[64];
    uint64_t n_in, n_out; /* atomic */
};

void wb_s2s_reg_add(wb_s2s_conn *c)
{
    wb_s2s *s = wb_s2s_of(c->w);
    if (c->dir == WB_S2S_VERIFY || !s->reg_ready || !(c->info = calloc(1, sizeof(*c->info))))
        return;
    c->info->id = c->id;
    c->info->worker = c->w->idx;
    c->info->out = c->dir == WB_S2S_OUT;
    pthread_mutex_lock(&s->reg_lock);
    c->info->next = s->reg;
    if (s->reg)
        s->reg->prev = c->info;
    s->reg = c->info;
    pthread_mutex_unlock(&s->reg_lock);
}

void wb_s2s_reg_drop(wb_s2s *s, wb_s2s_info *i)
{
    if (!i)
        return;
    pthread_mutex_lock(&s->reg_lock);
    if (i->prev)
        i->prev->next = i->next;
    else
        s->reg = i->next;
    if (i->next)
        i->next->prev = i->prev;
    pthread_mutex_unlock(&s->reg_lock);
    free(i);
}

void wb_s2s_reg_remove(wb_s2s_conn *c)
{
    wb_s2s_reg_drop(wb_s2s_of(c->w), c->info);
    c->info = NULL;
}

wb_s2s_info *wb_s2s_reg_add_mux(wb_s2s_conn *c, const char *local)
{
    wb_s2s *s = wb_s2s_of(c->w);
    wb_s2s_info *i = c->info ? calloc(1, sizeof(*i)) : NULL;
    if (!i)
        return NULL;
    pthread_mutex_lock(&s->reg_lock);
    *i = *c->info;
    i->prev = NULL;
    i->mux = true;
    i->n_in = i->n_out = 0;
    snprintf(i->local, sizeof(i->local), "%s", local);
    i->next = s->reg;
    if (s->reg)
        s->reg->prev = i;
    s->reg = i;
    pthread_mutex_unlock(&s->reg_lock);
    return i;
}

void wb_s2s_reg_count_info(wb_s2s_info *i, bool out)
{
    if (i)
        __atomic_add_fetch(out ? &i->n_out : &i->n_in, 1, __ATOMIC_RELAXED);
}

void wb_s2s_reg_update(wb_s2s_conn *c)
{
    wb_s2s *s = wb_s2s_of(c->w);
    if (!c->info)
        return;
    pthread_mutex_lock(&s->reg_lock);
    wb_s2s_info *i = c->info;
    i->ready = true;
    i->bidi = c->bidi;
    snprintf(i->local, sizeof(i->local), "%s", c->local);
    snprintf(i->remote, sizeof(i->remote), "%s", c->remote);
    snprintf(i->auth, sizeof(i->auth), "%s", c->auth ? c->auth : "-");
    snprintf(i->peer, sizeof(i->peer), "%s", c->peer);
    if (c->ssl)
        snprintf(i->tls, sizeof(i->tls), "%s %s", SSL_get_version(c->ssl),
                 SSL_get_cipher_name(c->ssl));
    else
        snprintf(i->tls, sizeof(i->tls), "none -");
    pthread_mutex_unlock(&s->reg_lock);
}

void wb_s2s_reg_count(wb_s2s_conn *c, bool out)
{
    wb_s2s_reg_count_info(c->info, out);
}

/* "s2s list": one line per authenticated stream, and per domain piggybacked on one. */
static void wb_s2s_ctl_list(wb_s2s *s, struct evbuffer *out)
{
    pthread_mutex_lock(&s->reg_lock);
    for (const wb_s2s_info *i = s->reg; i; i = i->next)
        if (i->ready)
            evbuffer_add_printf(out, "%s %s %s %s local=%s peer=%s in=%llu out=%llu\n", i->remote,
                                i->bidi ? "bidi" : (i->out ? "out" : "in"), i->auth, i->tls,
                                i->local, i->peer,
                                (unsigned long long)__atomic_load_n(&i->n_in, __ATOMIC_RELAXED),
                                (unsigned long long)__atomic_load_n(&i->n_out, __ATOMIC_RELAXED));
    pthread_mutex_unlock(&s->reg_lock);
}

size_t wb_s2s_each(wb_server *srv, void (*fn)(void *arg, const wb_s2s_view *v), void *arg)
{
    wb_s2s *s = srv->s2s;
    size_t n = 0;
    if (!s || !s->reg_ready)
        return 0;
    pthread_mutex_lock(&s->reg_lock);
    for (const wb_s2s_info *i = s->reg; i; i = i->next) {
        if (!i->ready)
            continue;
        char ver[96];
        snprintf(ver, sizeof(ver), "%s", i->tls);
        char *sp = strchr(ver, ' ');
        if (sp)
            *sp++ = '\0';
        const bool tls = strcmp(ver, "none") != 0;
        const wb_s2s_view v = {
            .remote = i->remote,
            .local = i->local,
            .auth = i->auth,
            .tls_version = tls ? ver : "",
            .tls_cipher = tls && sp ? sp : "",
            .out = i->out,
            .bidi = i->bidi,
            .n_in = __atomic_load_n(&i->n_in, __ATOMIC_RELAXED),
            .n_out = __atomic_load_n(&i->n_out, __ATOMIC_RELAXED),
        };
        fn(arg, &v);
        n++;
    }
    pthread_mutex_unlock(&s->reg_lock);
    return n;
}

/* "s2s close DOMAIN": every stream with that remote domain, closed by its worker. */
static void wb_s2s_ctl_close(wb_s2s *s, const char *domain, struct evbuffer *out)
{
    int n = 0;
    pthread_mutex_lock(&s->reg_lock);
    for (const wb_s2s_info *i = s->reg; i; i = i->next)
        if (!i->mux && strcmp(i->remote, domain) == 0 &&
            wb_worker_post_close(s->srv->workers[i->worker], i->id, 0, NULL) == 0)
            n++;
    pthread_mutex_unlock(&s->reg_lock);
    if (n)
        wb_info("s2s: closing %d stream(s) with %s on request of warblerctl", n, domain);
    evbuffer_add_printf(out, "closed %d\n", n);
}

/* The registry for a control socket command; NULL after an error line when federation is off. */
static wb_s2s *wb_s2s_control_reg(wb_server *srv, struct evbuffer *out)
{
    if (srv->s2s != NULL && srv->s2s->reg_ready)
        return srv->s2s;
    evbuffer_add_printf(out, "error federation is disabled\n");
    return NULL;
}

int wb_s2s_control_list(wb_server *srv, const char *arg, struct evbuffer *out)
{
    wb_s2s *s = wb_s2s_control_reg(srv, out);
    (void)arg;
    if (s != NULL)
        wb_s2s_ctl_list(s, out);
    return s != NULL ? 0 : -1;
}

int wb_s2s_control_close(wb_server *srv, const char *arg, struct evbuffer *out)
{
    wb_s2s *s = wb_s2s_control_reg(srv, out);
    if (s != NULL)
        wb_s2s_ctl_close(s, arg, out);
    return s != NULL ? 0 : -1;
}

void wb_s2s_ctl_stop(wb_s2s *s)
{
    while (s->reg) {
        wb_s2s_info *next = s->reg->next;
        free(s->reg);
        s->reg = next;
    }
    if (s->reg_ready)
        pthread_mutex_destroy(&s->reg_lock);
    s->reg_ready = false;
}
