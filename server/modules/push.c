/* XEP-0357 push notifications: clients enable and disable app servers (kept in storage), and a
 * message that no live session gets (offline, or only smacks-hibernated sessions) is announced to
 * each app server by a pubsub publish with counts only. Not for delivering the message itself. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "wb_log.h"
#include "wb_modules.h"
#include "wb_push_conf.h"
#include "wb_router.h"
#include "wb_store_push.h"
#include "wb_xml.h"
#include "wb_xmpp_model.h"

#define WB_NS_PUSH       "urn:xmpp:push:0"
#define WB_NS_XDATA      "jabber:x:data"
#define WB_NS_PUBSUB     "http://jabber.org/protocol/pubsub"
#define WB_PUSH_BUCKETS  256
#define WB_PUSH_ID_PFX   "push-"
#define WB_PUSH_WAIT     120 /* seconds an app server's answer is waited for */
#define WB_PUSH_BODY_MAX 512 /* bytes of a body put in a notification (when configured) */
#define WB_PUSH_MAX_ENTS 65536

/* Server-wide memory: per account the messages announced since it was last online ("c:" bare),
 * per registration when it was last notified ("t:" bare service node), per publish in flight
 * the registration it was for ("q:" id). */
typedef struct wb_push_ent {
    struct wb_push_ent *next;
    char *key;
    char *val; /* "q:": "service\nnode" */
    long long num;
    time_t at;
} wb_push_ent;

typedef struct wb_push_state {
    pthread_mutex_t lock;
    wb_push_ent *buckets[WB_PUSH_BUCKETS];
    size_t n;
} wb_push_state;

extern const wb_module wb_mod_push;

static wb_push_state *wb_push_state_of(const wb_worker *w)
{
    return wb_modules_state(w->srv, &wb_mod_push);
}

/* ---- the memory (all under the lock) ---- */

static size_t wb_push_hash(const char *key)
{
    size_t h = 5381;
    for (; *key; key++)
        h = h * 33 + (unsigned char)*key;
    return h % WB_PUSH_BUCKETS;
}

static void wb_push_ent_free(wb_push_ent *e)
{
    free(e->key);
    free(e->val);
    free(e);
}

/* Whether e has served its purpose at now (a registration notified long enough ago, a publish
 * not answered in time). */
static bool wb_push_expired(const wb_push_ent *e, time_t now, int interval)
{
    if (e->key[0] == 't')
        return now - e->at >= interval;
    if (e->key[0] == 'q')
        return now - e->at >= WB_PUSH_WAIT;
    return false;
}

static wb_push_ent **wb_push_find(wb_push_state *s, const char *key, time_t now, int interval)
{
    wb_push_ent **p = &s->buckets[wb_push_hash(key)];
    while (*p) {
        if (strcmp((*p)->key, key) == 0)
            return p;
        if (wb_push_expired(*p, now, interval)) {
            wb_push_ent *x = *p;
            *p = x->next;
            wb_push_ent_free(x);
            s->n--;
            continue;
        }
        p = &(*p)->next;
    }
    return p;
}

/* The entry of key, created (num 0) when absent; NULL when memory is short or full. */
static wb_push_ent *wb_push_get(wb_push_state *s, const char *key, time_t now, int interval)
{
    wb_push_ent **p = wb_push_find(s, key, now, interval);
    if (*p)
        return *p;
    if (s->n >= WB_PUSH_MAX_ENTS)
        return NULL;
    wb_push_ent *e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    *p = e;
    s->n++;
    return e;
}

static void wb_push_remove(wb_push_state *s, const char *key)
{
    wb_push_ent **p = wb_push_find(s, key, time(NULL), INT32_MAX);
    if (*p) {
        wb_push_ent *x = *p;
        *p = x->next;
        wb_push_ent_free(x);
        s->n--;
    }
}

/* ---- enable / disable ---- */

typedef struct wb_push_iq {
    wb_worker *w;
    wb_msg *m; /* referenced */
} wb_push_iq;

static void wb_push_iq_done(wb_push_iq *r, int err)
{
    if (err < 0)
        wb_modules_reply(r->w, r->m, NULL);
    else
        wb_route_error(r->w, r->m, err, NULL);
    wb_msg_unref(r->m);
    free(r);
}

static void wb_push_enabled_cb(void *arg, wb_store_status status, bool full)
{
    wb_push_iq *r = arg;
    if (status == WB_STORE_OK && !full)
        wb_push_iq_done(r, -1);
    else if (status == WB_STORE_OK)
        wb_push_iq_done(r, WB_STE_RESOURCE_CONSTRAINT);
    else
        wb_push_iq_done(r, status == WB_STORE_NOT_FOUND ? WB_STE_ITEM_NOT_FOUND
                                                        : WB_STE_INTERNAL_SERVER_ERROR);
}

static void wb_push_disabled_cb(void *arg, wb_store_status status)
{
    wb_push_iq_done(arg, status == WB_STORE_OK ? -1 : WB_STE_INTERNAL_SERVER_ERROR);
}

/* Writes the publish-options form again from its fields (values escaped); -1 when it is not a
 * data form. */
static int wb_push_write_form(const wb_stanza *st, wb_el x, wb_buf *b)
{
    wb_buf_puts(b, "<x xmlns='" WB_NS_XDATA "' type='submit'>");
    for (wb_el f = wb_st_first(st, x); f >= 0; f = wb_st_next(st, f)) {
        const char *var = wb_st_attr(st, f, "var");
        if (strcmp(wb_st_name(st, f), "field") != 0 || strcmp(wb_st_ns(st, f), WB_NS_XDATA) != 0)
            continue;
        if (!var)
            return -1;
        wb_buf_puts(b, "<field var='");
        wb_buf_xml_escape_str(b, var);
        wb_buf_puts(b, "'>");
        for (wb_el v = wb_st_first(st, f); v >= 0; v = wb_st_next(st, v)) {
            size_t len = 0;
            const char *text = wb_st_text(st, v, &len);
            if (strcmp(wb_st_name(st, v), "value") != 0)
                continue;
            wb_buf_puts(b, "<value>");
            wb_buf_xml_escape(b, text, len);
            wb_buf_puts(b, "</value>");
        }
        wb_buf_puts(b, "</field>");
    }
    wb_buf_puts(b, "</x>");
    return b->failed ? -1 : 0;
}

/* The app server's JID from the request, prepared (its canonical text in out). */
static int wb_push_service(const wb_stanza *st, wb_el el, char *out, size_t size)
{
    const char *jid = wb_st_attr(st, el, "jid");
    wb_jid j;
    if (!jid || wb_jid_parse(&j, jid, strlen(jid)) < 0 || wb_jid_full(&j, out, size) < 0)
        return -1;
    return strlen(out) <= WB_STORE_PUSH_SERVICE_MAX ? 0 : -1;
}

static bool wb_push_for_self(const wb_msg *m, bool to_server)
{
    return !to_server && (!m->has_to || wb_jid_bare_eq(&m->to, &m->from)) && m->xml;
}

static wb_push_iq *wb_push_iq_new(wb_worker *w, const wb_msg *m)
{
    wb_push_iq *r = calloc(1, sizeof(*r));
    if (r) {
        r->w = w;
        r->m = wb_msg_ref((wb_msg *)m);
    }
    return r;
}

static wb_mod_result wb_push_enable(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!wb_push_for_self(m, to_server))
        return WB_MOD_PASS;
    const wb_stanza *st = m->xml;
    const wb_el el = wb_st_child(st, 0, "enable", WB_NS_PUSH);
    const wb_el x = wb_st_child(st, el, "x", WB_NS_XDATA);
    const char *pnode = wb_st_attr(st, el, "node");
    char service[WB_JID_MAX + 1];
    wb_buf form;
    wb_buf_init(&form);
    if (wb_push_service(st, el, service, sizeof(service)) < 0 || !pnode || !*pnode ||
        strlen(pnode) > WB_STORE_PUSH_NODE_MAX ||
        (x >= 0 && wb_push_write_form(st, x, &form) < 0) || form.len > WB_STORE_PUSH_OPTIONS_MAX) {
        wb_buf_free(&form);
        wb_route_error(w, m, WB_STE_BAD_REQUEST, NULL);
        return WB_MOD_HANDLED;
    }
    wb_push_iq *r = wb_push_iq_new(w, m);
    wb_buf_append(&form, "", 1);
    if (!r || form.failed ||
        !wb_store_push_enable(
            w->store, m->from.node, m->from.domain, service, pnode, form.len > 1 ? form.data : NULL,
            wb_config_push(w->srv->cfg)->max_registrations, wb_push_enabled_cb, r)) {
        if (r)
            wb_msg_unref(r->m);
        free(r);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    wb_buf_free(&form);
    return WB_MOD_HANDLED;
}

static wb_mod_result wb_push_disable(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!wb_push_for_self(m, to_server))
        return WB_MOD_PASS;
    const wb_stanza *st = m->xml;
    const wb_el el = wb_st_child(st, 0, "disable", WB_NS_PUSH);
    const char *pnode = wb_st_attr(st, el, "node");
    char service[WB_JID_MAX + 1];
    if (wb_push_service(st, el, service, sizeof(service)) < 0 ||
        (pnode && strlen(pnode) > WB_STORE_PUSH_NODE_MAX)) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, NULL);
        return WB_MOD_HANDLED;
    }
    wb_push_iq *r = wb_push_iq_new(w, m);
    if (!r || !wb_store_push_disable(w->store, m->from.node, m->from.domain, service,
                                     pnode && *pnode ? pnode : NULL, wb_push_disabled_cb, r)) {
        if (r)
            wb_msg_unref(r->m);
        free(r);
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    }
    return WB_MOD_HANDLED;
}

/* ---- notifications ---- */

/* What a notification may say about the message (sender and body only when configured). */
typedef struct wb_push_note {
    wb_worker *w;
    wb_jid account; /* bare */
    char sender[WB_JID_MAX + 1];
    char body[WB_PUSH_BODY_MAX + 1];
} wb_push_note;

static bool wb_push_encrypted(const wb_stanza *st)
{
    return wb_st_child(st, 0, "encrypted", "eu.siacs.conversations.axolotl") >= 0 ||
           wb_st_child(st, 0, "encrypted", "urn:xmpp:omemo:2") >= 0 ||
           wb_st_child(st, 0, "openpgp", "urn:xmpp:openpgp:0") >= 0 ||
           wb_st_child(st, 0, "x", "jabber:x:encrypted") >= 0;
}

/* A chat or normal message with a body or an encrypted payload (not a chat state, receipt...). */
static bool wb_push_worth(const wb_msg *m)
{
    if (m->kind != WB_MSG_MESSAGE || !m->xml || (m->type != WB_MT_CHAT && m->type != WB_MT_NORMAL))
        return false;
    return wb_st_child(m->xml, 0, "body", WB_NS_CLIENT) >= 0 || wb_push_encrypted(m->xml);
}

/* Cuts at most max bytes of text at a UTF-8 character boundary. */
static void wb_push_copy_text(char *out, size_t max, const char *text, size_t len)
{
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(out, text, len);
    out[len] = '\0';
}

static void wb_push_field(wb_buf *b, const char *var, const char *value)
{
    wb_buf_printf(b, "<field var='%s'><value>", var);
    wb_buf_xml_escape_str(b, value);
    wb_buf_puts(b, "</value></field>");
}

/* The publish of one notification to one registration. */
static void wb_push_publish(const wb_push_note *n, const wb_push_reg *reg, long long count,
                            const char *id)
{
    char bare[WB_JID_MAX + 1], num[24];
    wb_jid to;
    if (wb_jid_parse(&to, reg->service, strlen(reg->service)) < 0 ||
        wb_jid_bare(&n->account, bare, sizeof(bare)) < 0)
        return;
    snprintf(num, sizeof(num), "%lld", count);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<iq type='set' from='");
    wb_buf_xml_escape_str(&b, bare);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, reg->service);
    wb_buf_printf(&b, "' id='%s'><pubsub xmlns='" WB_NS_PUBSUB "'><publish node='", id);
    wb_buf_xml_escape_str(&b, reg->node);
    wb_buf_puts(&b, "'><item><notification xmlns='" WB_NS_PUSH "'><x xmlns='" WB_NS_XDATA
                    "' type='submit'>");
    wb_push_field(&b, "FORM_TYPE", "urn:xmpp:push:summary");
    wb_push_field(&b, "message-count", num);
    if (n->sender[0])
        wb_push_field(&b, "last-message-sender", n->sender);
    if (n->body[0])
        wb_push_field(&b, "last-message-body", n->body);
    wb_buf_puts(&b, "</x></notification></item></publish>");
    if (reg->options[0])
        wb_buf_printf(&b, "<publish-options>%s</publish-options>", reg->options);
    wb_buf_puts(&b, "</pubsub></iq>");
    wb_msg *m = b.failed
                    ? NULL
                    : wb_xmpp_msg_from_text(WB_MSG_IQ, WB_IT_SET, &n->account, &to, b.data, b.len);
    wb_buf_free(&b);
    if (m) {
        m->id = strdup(id);
        wb_route(n->w, m);
    }
}

/* Decides under the lock whether reg is notified now: its count, and the publish's id kept
 * with the registration it is for. False when it was notified less than interval ago. */
static bool wb_push_claim(wb_push_state *s, const wb_push_note *n, const wb_push_reg *reg,
                          int interval, long long *count, char *id, size_t id_size)
{
    char bare[WB_JID_MAX + 1], key[WB_JID_MAX * 2 + WB_STORE_PUSH_NODE_MAX + 8];
    unsigned char rnd[8];
    const time_t now = time(NULL);
    wb_jid_bare(&n->account, bare, sizeof(bare));
    snprintf(key, sizeof(key), "c:%s", bare);
    wb_push_ent *c = wb_push_get(s, key, now, interval);
    *count = c ? c->num : 1;
    snprintf(key, sizeof(key), "t:%s\n%s\n%s", bare, reg->service, reg->node);
    wb_push_ent *t = wb_push_get(s, key, now, interval);
    if (!t || (t->at && now - t->at < interval))
        return false; /* notified recently, or the memory is full: no flood either way */
    t->at = now;
    RAND_bytes(rnd, sizeof(rnd));
    int k = snprintf(id, id_size, WB_PUSH_ID_PFX);
    for (size_t i = 0; i < sizeof(rnd); i++)
        k += snprintf(id + k, id_size - (size_t)k, "%02x", rnd[i]);
    snprintf(key, sizeof(key), "q:%s", id);
    wb_push_ent *q = wb_push_get(s, key, now, interval);
    if (q && !q->val && asprintf(&q->val, "%s\n%s\n%s", bare, reg->service, reg->node) < 0)
        q->val = NULL;
    if (q)
        q->at = now;
    return true;
}

static void wb_push_listed_cb(void *arg, wb_store_status status, const wb_push_reg *regs, size_t n)
{
    wb_push_note *note = arg;
    if (status == WB_STORE_UNAVAILABLE)
        wb_warn("push: registrations not read: database unavailable");
    if (status != WB_STORE_OK || n == 0) {
        free(note);
        return;
    }
    wb_push_state *s = wb_push_state_of(note->w);
    const int interval = wb_config_push(note->w->srv->cfg)->min_interval;
    char bare[WB_JID_MAX + 1], key[WB_JID_MAX + 3];
    wb_jid_bare(&note->account, bare, sizeof(bare));
    snprintf(key, sizeof(key), "c:%s", bare);
    pthread_mutex_lock(&s->lock);
    wb_push_ent *c = wb_push_get(s, key, time(NULL), interval);
    if (c)
        c->num++;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        char id[sizeof(WB_PUSH_ID_PFX) + 16];
        long long count;
        pthread_mutex_lock(&s->lock);
        bool go = wb_push_claim(s, note, &regs[i], interval, &count, id, sizeof(id));
        pthread_mutex_unlock(&s->lock);
        if (go)
            wb_push_publish(note, &regs[i], count, id);
    }
    free(note);
}

/* A message for account that no live session gets: its app servers are told. */
static void wb_push_notify(wb_worker *w, const wb_jid *account, const wb_msg *m)
{
    const wb_push_conf *conf = wb_config_push(w->srv->cfg);
    wb_push_note *note = calloc(1, sizeof(*note));
    if (!note)
        return;
    note->w = w;
    note->account = *account;
    note->account.resource[0] = '\0';
    if (conf->include_sender && m->has_from)
        wb_jid_bare(&m->from, note->sender, sizeof(note->sender));
    wb_el body = wb_st_child(m->xml, 0, "body", WB_NS_CLIENT);
    if (conf->include_body && body >= 0 && !wb_push_encrypted(m->xml)) {
        size_t len = 0;
        const char *text = wb_st_text(m->xml, body, &len);
        wb_push_copy_text(note->body, WB_PUSH_BODY_MAX, text, len);
    }
    if (!wb_store_push_list(w->store, account->node, account->domain, wb_push_listed_cb, note))
        free(note);
}

/* ---- hooks ---- */

static wb_mod_result wb_push_undeliverable(wb_worker *w, wb_msg *m)
{
    if (m->has_to && wb_jid_has_node(&m->to) && wb_push_worth(m))
        wb_push_notify(w, &m->to, m);
    return WB_MOD_PASS; /* offline storage takes it */
}

static wb_mod_result wb_push_deliver(wb_worker *w, wb_c2s *c, const wb_msg *m)
{
    if (wb_c2s_hibernating(c) && wb_c2s_jid(c) && wb_push_worth(m))
        wb_push_notify(w, wb_c2s_jid(c), m);
    return WB_MOD_PASS;
}

/* The app server's answer to a publish: an error disables that registration (XEP-0357 7). */
static wb_mod_result wb_push_inbound(wb_worker *w, wb_msg *m)
{
    if (m->kind != WB_MSG_IQ || (m->type != WB_IT_RESULT && m->type != WB_T_ERROR) || !m->id ||
        strncmp(m->id, WB_PUSH_ID_PFX, strlen(WB_PUSH_ID_PFX)) != 0 ||
        wb_jid_has_resource(&m->to) || !m->has_from)
        return WB_MOD_PASS;
    wb_push_state *s = wb_push_state_of(w);
    char key[WB_JID_MAX + 64], from[WB_JID_MAX + 1], bare[WB_JID_MAX + 1], *val = NULL;
    if (strlen(m->id) > 40 || wb_jid_full(&m->from, from, sizeof(from)) < 0 ||
        wb_jid_bare(&m->to, bare, sizeof(bare)) < 0)
        return WB_MOD_PASS;
    snprintf(key, sizeof(key), "q:%s", m->id);
    pthread_mutex_lock(&s->lock);
    wb_push_ent **p = wb_push_find(s, key, time(NULL), INT32_MAX);
    if (*p && (*p)->val) {
        size_t bl = strlen(bare), fl = strlen(from);
        const char *v = (*p)->val;
        if (strncmp(v, bare, bl) == 0 && v[bl] == '\n' && strncmp(v + bl + 1, from, fl) == 0 &&
            v[bl + 1 + fl] == '\n')
            val = strdup(v + bl + 1 + fl + 1); /* the node */
    }
    if (val)
        wb_push_remove(s, key);
    pthread_mutex_unlock(&s->lock);
    if (!val)
        return WB_MOD_PASS;
    if (m->type == WB_T_ERROR) {
        wb_info("push: app server %s refused a notification; registration disabled", from);
        if (!wb_store_push_disable(w->store, m->to.node, m->to.domain, from, val, NULL, NULL))
            wb_warn("push: registration not disabled: out of memory");
    }
    free(val);
    wb_msg_unref(m);
    return WB_MOD_HANDLED;
}

/* The account is online again: the count starts over. */
static void wb_push_bound(wb_worker *w, wb_c2s *c)
{
    char bare[WB_JID_MAX + 1], key[WB_JID_MAX + 3];
    if (!wb_c2s_jid(c) || wb_jid_bare(wb_c2s_jid(c), bare, sizeof(bare)) < 0)
        return;
    snprintf(key, sizeof(key), "c:%s", bare);
    wb_push_state *s = wb_push_state_of(w);
    pthread_mutex_lock(&s->lock);
    wb_push_remove(s, key);
    pthread_mutex_unlock(&s->lock);
}

static int wb_push_init(wb_server *srv, void **state)
{
    (void)srv;
    wb_push_state *s = calloc(1, sizeof(*s));
    if (!s || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        wb_error("push: out of memory");
        return -1;
    }
    *state = s;
    return 0;
}

static void wb_push_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_push_state *s = state;
    for (size_t i = 0; i < WB_PUSH_BUCKETS; i++) {
        while (s->buckets[i]) {
            wb_push_ent *e = s->buckets[i];
            s->buckets[i] = e->next;
            wb_push_ent_free(e);
        }
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const char *const wb_push_features[] = {WB_NS_PUSH, NULL};
static const wb_iq_handler wb_push_iqs[] = {
    {WB_NS_PUSH, "enable", NULL, wb_push_enable},
    {WB_NS_PUSH, "disable", NULL, wb_push_disable},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_push = {
    .name = "push",
    .features = wb_push_features,
    .iq = wb_push_iqs,
    .bound = wb_push_bound,
    .inbound = wb_push_inbound,
    .undeliverable = wb_push_undeliverable,
    .deliver = wb_push_deliver,
    .init = wb_push_init,
    .shutdown = wb_push_shutdown,
};
