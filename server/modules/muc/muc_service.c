/* The MUC service (XEP-0045): one service domain per virtual host, and where rooms live. Each
 * room is owned by one worker, chosen by a hash of the room's bare JID; a stanza for a room that
 * arrives on another worker is posted to the owner's mailbox (wb_worker_post_call), so room
 * state is only ever touched by one thread and needs no lock. Only the room listing (disco#items
 * of the service, rooms per owner) is shared, under a mutex. Not for room logic (muc_*.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muc_int.h"
#include "wb_log.h"
#include "wb_muc.h"
#include "wb_router.h"
#include "wb_xmpp_model.h"

#define MUC_RSM_MAX 100 /* items per disco#items page when the client asks for none */

muc_state *muc_state_of(const wb_server *srv)
{
    return wb_modules_state(srv, &wb_mod_muc);
}

/* FNV-1a over the room's bare JID: stable across restarts (stored rooms load on their owner). */
int muc_owner_of(const muc_state *st, const wb_jid *room)
{
    uint32_t h = 2166136261u;
    for (const char *p = room->node; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '@') * 16777619u;
    for (const char *p = room->domain; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return (int)(h % (uint32_t)st->n_workers);
}

static int muc_service_index(const muc_state *st, const char *domain)
{
    for (size_t i = 0; i < st->n_services; i++)
        if (st->services[i] && strcmp(st->services[i], domain) == 0)
            return (int)i;
    return -1;
}

void muc_send(wb_worker *w, wb_msg_kind kind, wb_msg_type type, const wb_jid *from,
              const wb_jid *to, const char *xml, size_t len)
{
    wb_msg *r = wb_xmpp_msg_from_text(kind, type, from, to, xml, len);
    if (r)
        wb_route(w, r);
}

/* An error with a condition the shared error table lacks. */
static void muc_error_cond(wb_worker *w, const wb_msg *m, const char *cond, const char *type)
{
    if (m->type == WB_T_ERROR || m->type == WB_IT_RESULT || !m->has_from || !m->has_to)
        return;
    char to[MUC_JID_BUF], from[MUC_JID_BUF];
    wb_buf b;
    if (wb_jid_full(&m->from, to, sizeof(to)) < 0 || wb_jid_full(&m->to, from, sizeof(from)) < 0)
        return;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<%s from='", wb_msg_kind_name(m->kind));
    wb_buf_xml_escape_str(&b, from);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to);
    if (m->id) {
        wb_buf_puts(&b, "' id='");
        wb_buf_xml_escape_str(&b, m->id);
    }
    wb_buf_printf(&b,
                  "' type='error'><error type='%s'><%s xmlns='urn:ietf:params:xml:ns:xmpp-"
                  "stanzas'/></error></%s>",
                  type, cond, wb_msg_kind_name(m->kind));
    if (!b.failed)
        muc_send(w, m->kind, WB_T_ERROR, &m->to, &m->from, b.data, b.len);
    wb_buf_free(&b);
}

void muc_error(wb_worker *w, const wb_msg *m, wb_stanza_err e, const char *text)
{
    if (e == MUC_STE_REGISTRATION_REQUIRED)
        muc_error_cond(w, m, "registration-required", "auth");
    else
        wb_route_error(w, m, e, text);
}

/* ---- the shared listing ---- */

static void muc_dir_free(muc_dir *d)
{
    free(d->jid);
    free(d->name);
    free(d->creator);
    free(d);
}

void muc_dir_update(muc_state *st, const muc_room *r)
{
    pthread_mutex_lock(&st->lock);
    muc_dir *d = st->dir;
    while (d && strcmp(d->jid, r->jid_s) != 0)
        d = d->next;
    if (!d && (d = calloc(1, sizeof(*d)))) {
        d->jid = strdup(r->jid_s);
        d->creator = strdup(r->creator);
        d->next = st->dir;
        st->dir = d;
    }
    if (d) {
        free(d->name);
        d->name = r->cfg.name ? strdup(r->cfg.name) : NULL;
        d->public_room = r->cfg.public_room && !r->locked;
    }
    pthread_mutex_unlock(&st->lock);
}

void muc_dir_remove(muc_state *st, const muc_room *r)
{
    pthread_mutex_lock(&st->lock);
    for (muc_dir **p = &st->dir; *p; p = &(*p)->next) {
        if (strcmp((*p)->jid, r->jid_s) == 0) {
            muc_dir *d = *p;
            *p = d->next;
            muc_dir_free(d);
            break;
        }
    }
    pthread_mutex_unlock(&st->lock);
}

int muc_dir_count_owned(muc_state *st, const char *creator)
{
    int n = 0;
    pthread_mutex_lock(&st->lock);
    for (const muc_dir *d = st->dir; d; d = d->next)
        n += d->creator && strcmp(d->creator, creator) == 0;
    pthread_mutex_unlock(&st->lock);
    return n;
}

/* ---- the service itself ---- */

static int muc_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* XEP-0059 paging parameters of a disco#items request. */
static void muc_rsm_params(const wb_msg *m, long *max, const char **after)
{
    wb_el q = wb_st_first(m->xml, 0);
    wb_el set = q >= 0 ? wb_st_child(m->xml, q, "set", MUC_NS_RSM) : -1;
    wb_el e;
    *max = MUC_RSM_MAX;
    *after = NULL;
    if (set < 0)
        return;
    if ((e = wb_st_child(m->xml, set, "max", MUC_NS_RSM)) >= 0)
        *max = strtol(wb_st_text(m->xml, e, NULL), NULL, 10);
    if ((e = wb_st_child(m->xml, set, "after", MUC_NS_RSM)) >= 0)
        *after = wb_st_text(m->xml, e, NULL);
    if (*max < 0 || *max > MUC_RSM_MAX)
        *max = MUC_RSM_MAX;
}

/* Lines "jid\0name" of the public rooms of one service, sorted by JID. */
static size_t muc_public_rooms(muc_state *st, const char *service, char ***out)
{
    size_t n = 0, cap = 0;
    char **v = NULL;
    const size_t slen = strlen(service);
    pthread_mutex_lock(&st->lock);
    for (const muc_dir *d = st->dir; d; d = d->next) {
        const char *at = strchr(d->jid, '@');
        if (!d->public_room || !at || strlen(at + 1) != slen || strcmp(at + 1, service) != 0)
            continue;
        if (n == cap) {
            char **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        const char *name = d->name ? d->name : "";
        const size_t jl = strlen(d->jid), nl = strlen(name);
        if (!(v[n] = malloc(jl + nl + 2)))
            break;
        memcpy(v[n], d->jid, jl + 1);
        memcpy(v[n] + jl + 1, name, nl + 1);
        n++;
    }
    pthread_mutex_unlock(&st->lock);
    if (n)
        qsort(v, n, sizeof(*v), muc_str_cmp);
    *out = v;
    return n;
}

static void muc_service_items(wb_worker *w, muc_state *st, const wb_msg *m)
{
    char **v = NULL;
    long max;
    const char *after;
    muc_rsm_params(m, &max, &after);
    const size_t n = muc_public_rooms(st, m->to.domain, &v);
    size_t i = 0, first = 0, shown = 0;
    while (after && i < n && strcmp(v[i], after) <= 0)
        i++;
    first = i;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" MUC_NS_DISCO_ITEM "'>");
    for (; i < n && shown < (size_t)max; i++, shown++) {
        wb_buf_puts(&b, "<item jid='");
        wb_buf_xml_escape_str(&b, v[i]);
        wb_buf_puts(&b, "' name='");
        wb_buf_xml_escape_str(&b, v[i] + strlen(v[i]) + 1);
        wb_buf_puts(&b, "'/>");
    }
    wb_buf_puts(&b, "<set xmlns='" MUC_NS_RSM "'>");
    if (shown) {
        wb_buf_printf(&b, "<first index='%zu'>", first);
        wb_buf_xml_escape_str(&b, v[first]);
        wb_buf_puts(&b, "</first><last>");
        wb_buf_xml_escape_str(&b, v[first + shown - 1]);
        wb_buf_puts(&b, "</last>");
    }
    wb_buf_printf(&b, "<count>%zu</count></set></query>", n);
    for (size_t k = 0; k < n; k++)
        free(v[k]);
    free(v);
    if (b.failed)
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b.data);
    wb_buf_free(&b);
}

/* Stanzas to the service domain itself. */
static void muc_service_stanza(wb_worker *w, muc_state *st, const wb_msg *m)
{
    wb_el q = m->xml ? wb_st_first(m->xml, 0) : -1;
    const char *ns = q >= 0 ? wb_st_ns(m->xml, q) : "";
    if (m->kind != WB_MSG_IQ || m->type != WB_IT_GET || wb_jid_has_resource(&m->to)) {
        if (m->type != WB_T_ERROR && m->type != WB_IT_RESULT)
            muc_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
    } else if (strcmp(ns, MUC_NS_DISCO_INFO) == 0 && !wb_st_attr(m->xml, q, "node")) {
        wb_modules_reply(w, m,
                         "<query xmlns='" MUC_NS_DISCO_INFO "'>"
                         "<identity category='conference' type='text' name='Chatrooms'/>"
                         "<feature var='" MUC_NS "'/><feature var='" MUC_NS_DISCO_INFO "'/>"
                         "<feature var='" MUC_NS_DISCO_ITEM "'/><feature var='" MUC_NS_RSM "'/>"
                         "<feature var='" MUC_NS_PING "'/><feature var='" MUC_NS_OID "'/>"
                         "</query>");
    } else if (strcmp(ns, MUC_NS_DISCO_ITEM) == 0 && !wb_st_attr(m->xml, q, "node")) {
        muc_service_items(w, st, m);
    } else if (strcmp(ns, MUC_NS_PING) == 0) {
        wb_modules_reply(w, m, NULL);
    } else {
        muc_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
    }
}

/* On the room's owner worker: a stanza for a room or one of its occupants. */
static void muc_room_stanza(wb_worker *w, wb_msg *m)
{
    muc_state *st = muc_state_of(w->srv);
    muc_wstate *ws = &st->ws[w->idx];
    muc_room *r = muc_room_find(ws, &m->to);
    muc_persist_watch(w, st);
    if (m->kind == WB_MSG_PRESENCE) {
        muc_presence(w, st, ws, r, m);
        return;
    }
    if (!r) {
        if (m->type != WB_T_ERROR)
            muc_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        return;
    }
    if (m->kind == WB_MSG_MESSAGE) {
        muc_message(w, st, r, m);
        return;
    }
    if (m->type != WB_IT_GET && m->type != WB_IT_SET)
        return;
    if (wb_jid_has_resource(&m->to)) {
        muc_occupant_iq(w, r, m);
        return;
    }
    wb_el q = m->xml ? wb_st_first(m->xml, 0) : -1;
    const char *ns = q >= 0 ? wb_st_ns(m->xml, q) : "";
    const bool get = m->type == WB_IT_GET;
    if (strcmp(ns, MUC_NS_OWNER) == 0)
        muc_owner_iq(w, st, ws, r, m);
    else if (strcmp(ns, MUC_NS_ADMIN) == 0)
        muc_admin_iq(w, st, ws, r, m);
    else if (get && strcmp(ns, MUC_NS_DISCO_INFO) == 0)
        muc_room_info(w, r, m);
    else if (get && strcmp(ns, MUC_NS_DISCO_ITEM) == 0)
        muc_room_items(w, r, m);
    else if (get && strcmp(ns, MUC_NS_PING) == 0)
        wb_modules_reply(w, m, NULL);
    else if (strcmp(ns, MUC_NS_MAM) == 0)
        muc_mam_iq(w, r, m);
    else if (!get && (strcmp(ns, MUC_NS_MODERATE) == 0 || strcmp(ns, MUC_NS_FASTEN) == 0))
        muc_moderate_iq(w, r, m);
    else
        muc_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
}

static void muc_room_call(wb_worker *w, wb_msg *m)
{
    muc_room_stanza(w, m);
}

bool wb_muc_route(wb_worker *w, wb_msg *m)
{
    muc_state *st = muc_state_of(w->srv);
    if (!st || !m->has_to || muc_service_index(st, m->to.domain) < 0)
        return false;
    if (!wb_jid_has_node(&m->to)) {
        muc_service_stanza(w, st, m);
    } else {
        const int owner = muc_owner_of(st, &m->to);
        if (owner == w->idx)
            muc_room_stanza(w, m);
        else if (wb_worker_post_call(w->srv->workers[owner], muc_room_call, m) < 0)
            muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    }
    wb_msg_unref(m);
    return true;
}

void wb_muc_disco_items(const wb_server *srv, const char *host, wb_buf *b)
{
    const muc_state *st = muc_state_of(srv);
    for (size_t i = 0; st && i < st->n_services && i < srv->cfg->n_hosts; i++) {
        if (!st->services[i] || strcmp(srv->cfg->hosts[i].domain, host) != 0)
            continue;
        wb_buf_puts(b, "<item jid='");
        wb_buf_xml_escape_str(b, st->services[i]);
        wb_buf_puts(b, "' name='Chatrooms'/>");
    }
}

static void muc_removed_call(wb_worker *w, wb_msg *m)
{
    muc_state *st = muc_state_of(w->srv);
    muc_wstate *ws = &st->ws[w->idx];
    muc_room *r = muc_room_find(ws, &m->to);
    if (r)
        muc_room_vanished(w, st, ws, r, "The room was destroyed by an administrator");
}

int wb_muc_room_removed(wb_server *srv, const char *room)
{
    muc_state *st = muc_state_of(srv);
    wb_jid jid;
    if (!st || !st->n_services || wb_jid_parse(&jid, room, strlen(room)) < 0)
        return -1;
    wb_msg *m = wb_msg_new(WB_MSG_MESSAGE, WB_MT_NORMAL);
    if (!m)
        return -1;
    jid.resource[0] = '\0';
    m->to = jid;
    m->has_to = true;
    const int rc = wb_worker_post_call(srv->workers[muc_owner_of(st, &jid)], muc_removed_call, m);
    wb_msg_unref(m);
    return rc;
}

/* ---- hooks and life cycle ---- */

/* Any session bound on w: w's check of stored rooms starts (rooms loaded at start-up may have
 * no stanza for a long time). */
static void muc_bound(wb_worker *w, wb_c2s *c)
{
    muc_state *st = muc_state_of(w->srv);
    (void)c;
    if (st && st->n_services)
        muc_persist_watch(w, st);
}

static void muc_gone_call(wb_worker *w, wb_msg *m)
{
    muc_state *st = muc_state_of(w->srv);
    muc_session_gone(w, st, &st->ws[w->idx], &m->from);
}

/* A session ended: every worker drops it from the rooms it owns (even when its directed
 * unavailable presence was never sent, e.g. a lost stream). */
static void muc_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available)
{
    (void)sid;
    (void)was_available;
    muc_state *st = muc_state_of(w->srv);
    if (!st || !st->n_services)
        return;
    wb_msg *m = wb_msg_new(WB_MSG_PRESENCE, WB_PT_UNAVAILABLE);
    if (!m)
        return;
    m->from = *full;
    m->has_from = true;
    for (int i = 0; i < st->n_workers && i < w->srv->n_workers; i++) {
        if (i == w->idx)
            muc_gone_call(w, m);
        else
            wb_worker_post_call(w->srv->workers[i], muc_gone_call, m);
    }
    wb_msg_unref(m);
}

static void muc_state_free(muc_state *st)
{
    for (int i = 0; st->ws && i < st->n_workers; i++) {
        while (st->ws[i].rooms) {
            muc_room *r = st->ws[i].rooms;
            st->ws[i].rooms = r->next;
            muc_room_free(r);
        }
    }
    while (st->dir) {
        muc_dir *d = st->dir;
        st->dir = d->next;
        muc_dir_free(d);
    }
    for (size_t i = 0; i < st->n_services; i++)
        free(st->services[i]);
    free(st->services);
    free(st->ws);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* The service name of each host from the pattern ("conference.%s"). */
static int muc_services(muc_state *st, const wb_config *cfg)
{
    st->services = calloc(cfg->n_hosts ? cfg->n_hosts : 1, sizeof(*st->services));
    if (!st->services)
        return -1;
    st->n_services = cfg->n_hosts;
    for (size_t i = 0; i < cfg->n_hosts; i++) {
        char name[600], prepped[WB_JID_PART_MAX + 1];
        const char *pct = strstr(st->conf.domain, "%s");
        if (pct)
            snprintf(name, sizeof(name), "%.*s%s%s", (int)(pct - st->conf.domain), st->conf.domain,
                     cfg->hosts[i].domain, pct + 2);
        else
            snprintf(name, sizeof(name), "%s", st->conf.domain);
        if (wb_jid_prep_domain(prepped, name, strlen(name)) < 0) {
            wb_error("muc: '%s' is not a valid service domain", name);
            return -1;
        }
        if (muc_service_index(st, prepped) >= 0 || !(st->services[i] = strdup(prepped)))
            return -1;
        wb_info("muc: service %s for %s", prepped, cfg->hosts[i].domain);
    }
    return 0;
}

static int muc_init(wb_server *srv, void **state)
{
    muc_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    pthread_mutex_init(&st->lock, NULL);
    st->srv = srv;
    st->conf = *wb_config_muc(srv->cfg);
    st->n_workers = srv->cfg->workers > 0 ? srv->cfg->workers : 1;
    st->ws = calloc((size_t)st->n_workers, sizeof(*st->ws));
    if (!st->ws || (st->conf.enabled && muc_services(st, srv->cfg) < 0) ||
        (st->conf.enabled && muc_persist_load(st) < 0)) {
        muc_state_free(st);
        return -1;
    }
    *state = st;
    return 0;
}

static void muc_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    muc_state_free(state);
}

const wb_module wb_mod_muc = {
    .name = "muc",
    .bound = muc_bound,
    .ended = muc_ended,
    .init = muc_init,
    .shutdown = muc_shutdown,
};
