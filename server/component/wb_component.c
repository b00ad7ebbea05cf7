/* wb_component: the registry of configured external components (XEP-0114) and which stream holds
 * each domain, routing to them, server disco items, worker stop. Not for the stream protocol
 * (wb_component_conn.c) nor its stanzas (wb_component_stanza.c). */
#include "wb_component_int.h"

#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_modules.h"
#include "wb_router.h"
#include "wb_xmpp_errors.h"

wb_comp_state *wb_comp_state_of(const wb_server *srv)
{
    return wb_modules_state(srv, &wb_mod_component);
}

int wb_comp_find(const wb_comp_state *st, const char *domain)
{
    for (size_t i = 0; st && i < st->n; i++)
        if (strcmp(st->e[i].domain, domain) == 0)
            return (int)i;
    return -1;
}

uint64_t wb_comp_claim(wb_comp_state *st, const wb_comp_conn *c, int *old_worker)
{
    wb_comp_entry *e = &st->e[c->comp];
    pthread_mutex_lock(&st->lock);
    const uint64_t old = e->id;
    *old_worker = e->worker;
    e->id = c->id;
    e->worker = c->w->idx;
    pthread_mutex_unlock(&st->lock);
    return old;
}

void wb_comp_release(wb_comp_state *st, const wb_comp_conn *c)
{
    wb_comp_entry *e = &st->e[c->comp];
    pthread_mutex_lock(&st->lock);
    if (e->id == c->id)
        e->id = 0;
    pthread_mutex_unlock(&st->lock);
}

/* The authenticated, open stream of component `comp` on w, or NULL. */
static wb_comp_conn *wb_comp_conn_of(wb_worker *w, const wb_comp_state *st, int comp)
{
    for (wb_comp_conn *c = st->conns[w->idx]; c; c = c->next)
        if (c->comp == comp && c->authed && !c->closing)
            return c;
    return NULL;
}

/* RFC 6120 8.3.3.19: the component is configured but not there: service-unavailable (it exists,
 * it is temporarily not offering its service). Presence and answers are dropped. */
static void wb_comp_bounce(wb_worker *w, const wb_msg *m)
{
    if (m->kind != WB_MSG_PRESENCE)
        wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, "Component not connected");
}

static void wb_comp_deliver_here(wb_worker *w, wb_msg *m)
{
    const wb_comp_state *st = wb_comp_state_of(w->srv);
    const int comp = wb_comp_find(st, m->to.domain);
    wb_comp_conn *c = comp >= 0 ? wb_comp_conn_of(w, st, comp) : NULL;
    if (c)
        wb_comp_conn_deliver(c, m);
    else
        wb_comp_bounce(w, m);
}

bool wb_comp_route(wb_worker *w, wb_msg *m)
{
    wb_comp_state *st = wb_comp_state_of(w->srv);
    const int comp = m->has_to ? wb_comp_find(st, m->to.domain) : -1;
    if (comp < 0)
        return false;
    pthread_mutex_lock(&st->lock);
    const uint64_t id = st->e[comp].id;
    const int owner = st->e[comp].worker;
    pthread_mutex_unlock(&st->lock);
    if (!id)
        wb_comp_bounce(w, m);
    else if (owner == w->idx)
        wb_comp_deliver_here(w, m);
    else if (wb_worker_post_call(w->srv->workers[owner], wb_comp_deliver_here, m) < 0)
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    wb_msg_unref(m);
    return true;
}

bool wb_comp_close_id(wb_worker *w, uint64_t id, int stream_err, const char *text)
{
    const wb_comp_state *st = wb_comp_state_of(w->srv);
    for (wb_comp_conn *c = st ? st->conns[w->idx] : NULL; c; c = c->next) {
        if (c->id == id) {
            wb_comp_conn_close(c, stream_err, text);
            return true;
        }
    }
    return false;
}

void wb_comp_worker_stop(wb_worker *w)
{
    const wb_comp_state *st = wb_comp_state_of(w->srv);
    for (wb_comp_conn *c = st ? st->conns[w->idx] : NULL; c; c = c->next)
        wb_comp_conn_close(c, WB_SE_SYSTEM_SHUTDOWN, NULL);
}

void wb_comp_worker_end(wb_worker *w)
{
    const wb_comp_state *st = wb_comp_state_of(w->srv);
    while (st && st->conns[w->idx])
        wb_comp_conn_free(st->conns[w->idx]);
}

void wb_comp_disco_items(const wb_server *srv, wb_buf *b)
{
    const wb_comp_state *st = wb_comp_state_of(srv);
    for (size_t i = 0; st && i < st->n; i++) {
        wb_buf_puts(b, "<item jid='");
        wb_buf_xml_escape_str(b, st->e[i].domain);
        wb_buf_puts(b, "'/>");
    }
}

static void wb_comp_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_comp_state *st = state;
    for (size_t i = 0; i < st->n; i++) {
        free(st->e[i].domain);
        if (st->e[i].secret) {
            memset(st->e[i].secret, 0, strlen(st->e[i].secret));
            free(st->e[i].secret);
        }
    }
    free(st->e);
    free(st->conns);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* Copies the configured components (a reload does not change them). */
static int wb_comp_init(wb_server *srv, void **state)
{
    const wb_config *cfg = srv->cfg;
    wb_comp_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    pthread_mutex_init(&st->lock, NULL);
    *state = st;
    st->n_workers = cfg->workers > 0 ? cfg->workers : 1;
    st->conns = calloc((size_t)st->n_workers, sizeof(*st->conns));
    st->e = calloc(cfg->n_components ? cfg->n_components : 1, sizeof(*st->e));
    if (!st->conns || !st->e)
        goto fail;
    st->n = cfg->n_components;
    for (size_t i = 0; i < st->n; i++) {
        st->e[i].domain = strdup(cfg->components[i].domain);
        st->e[i].secret = strdup(cfg->components[i].secret);
        if (!st->e[i].domain || !st->e[i].secret)
            goto fail;
    }
    if (st->n)
        wb_info("%zu external component(s) configured", st->n);
    return 0;
fail:
    wb_error("components: out of memory");
    wb_comp_shutdown(srv, st);
    *state = NULL;
    return -1;
}

const wb_module wb_mod_component = {
    .name = "component",
    .init = wb_comp_init,
    .shutdown = wb_comp_shutdown,
};
