/* XEP-0163 filtered notifications from XEP-0115 entity caps: which nodes each local session wants
 * (+notify), learnt from its presence <c/> through a server-wide cache of verified feature sets or
 * a disco#info query to the client. Not for sending notifications (pep_notify.c). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_caps.h"
#include "wb_log.h"
#include "wb_pep.h"
#include "wb_router.h"
#include "wb_xmpp_model.h"

#define WB_NS_DISCO_INFO     "http://jabber.org/protocol/disco#info"
#define WB_PEP_CACHE_MAX     512  /* verified feature sets kept, least recently used goes */
#define WB_PEP_SESS_BUCKETS  1024 /* session hash chains */
#define WB_PEP_SET_MAX       4096 /* bytes of one set of +notify node names */
#define WB_PEP_QUERY_PREFIX  "wbpep-"
#define WB_PEP_NOTIFY_SUFFIX "+notify"

/* A set of node names ("a\0b\0\0" as one block, size bytes). */
typedef struct wb_pep_set {
    char *v;
    size_t size;
} wb_pep_set;

typedef struct wb_pep_cached {
    char ver[WB_CAPS_VER_SIZE];
    wb_pep_set set;
    uint64_t used;
} wb_pep_cached;

typedef struct wb_pep_sess {
    struct wb_pep_sess *next;
    uint64_t sid;
    char ver[WB_CAPS_VER_SIZE]; /* "" when the session advertised no caps */
    bool known;                 /* set holds what the session wants */
    char query[40];             /* the id of the disco#info query in flight, or "" */
    wb_pep_set set;
} wb_pep_sess;

typedef struct wb_pep_caps {
    pthread_mutex_t lock;
    wb_pep_cached cache[WB_PEP_CACHE_MAX];
    size_t n_cache;
    uint64_t tick, next_query;
    wb_pep_sess *sess[WB_PEP_SESS_BUCKETS];
} wb_pep_caps;

static wb_pep_caps *wb_pep_caps_of(wb_server *srv)
{
    return wb_modules_state(srv, &wb_mod_pep);
}

static bool wb_pep_set_has(const wb_pep_set *s, const char *pnode)
{
    for (const char *p = s->v; p && *p; p += strlen(p) + 1)
        if (strcmp(p, pnode) == 0)
            return true;
    return false;
}

static int wb_pep_set_copy(wb_pep_set *dst, const wb_pep_set *src)
{
    free(dst->v);
    dst->v = NULL;
    dst->size = 0;
    if (src->v == NULL)
        return 0;
    if ((dst->v = malloc(src->size)) == NULL)
        return -1;
    memcpy(dst->v, src->v, src->size);
    dst->size = src->size;
    return 0;
}

/* ---- state ---- */

int wb_pep_caps_init(wb_server *srv, void **state)
{
    (void)srv;
    wb_pep_caps *pc = calloc(1, sizeof(*pc));
    if (pc == NULL || pthread_mutex_init(&pc->lock, NULL) != 0) {
        free(pc);
        wb_error("pep: out of memory for the caps cache");
        return -1;
    }
    *state = pc;
    return 0;
}

void wb_pep_caps_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_pep_caps *pc = state;
    for (size_t i = 0; i < pc->n_cache; i++)
        free(pc->cache[i].set.v);
    for (size_t b = 0; b < WB_PEP_SESS_BUCKETS; b++) {
        for (wb_pep_sess *s = pc->sess[b], *next; s; s = next) {
            next = s->next;
            free(s->set.v);
            free(s);
        }
    }
    pthread_mutex_destroy(&pc->lock);
    free(pc);
}

/* Under the lock: the session's record (created when `create`), or NULL. */
static wb_pep_sess *wb_pep_sess_find(wb_pep_caps *pc, uint64_t sid, bool create)
{
    wb_pep_sess **head = &pc->sess[sid % WB_PEP_SESS_BUCKETS];
    for (wb_pep_sess *s = *head; s; s = s->next)
        if (s->sid == sid)
            return s;
    if (!create)
        return NULL;
    wb_pep_sess *s = calloc(1, sizeof(*s));
    if (s != NULL) {
        s->sid = sid;
        s->next = *head;
        *head = s;
    }
    return s;
}

/* Under the lock: the cached set for ver, or NULL. */
static wb_pep_cached *wb_pep_cache_find(wb_pep_caps *pc, const char *ver)
{
    for (size_t i = 0; i < pc->n_cache; i++) {
        if (strcmp(pc->cache[i].ver, ver) == 0) {
            pc->cache[i].used = ++pc->tick;
            return &pc->cache[i];
        }
    }
    return NULL;
}

/* Under the lock: remembers a verified set (replacing the least recently used when full). */
static void wb_pep_cache_put(wb_pep_caps *pc, const char *ver, const wb_pep_set *set)
{
    if (wb_pep_cache_find(pc, ver) != NULL)
        return;
    size_t slot = pc->n_cache;
    if (slot == WB_PEP_CACHE_MAX) {
        slot = 0;
        for (size_t i = 1; i < pc->n_cache; i++)
            if (pc->cache[i].used < pc->cache[slot].used)
                slot = i;
    } else {
        pc->n_cache++;
        memset(&pc->cache[slot], 0, sizeof(pc->cache[slot]));
    }
    wb_pep_cached *e = &pc->cache[slot];
    snprintf(e->ver, sizeof(e->ver), "%s", ver);
    e->used = ++pc->tick;
    if (wb_pep_set_copy(&e->set, set) < 0)
        e->ver[0] = '\0'; /* an empty slot: matches no ver */
}

bool wb_pep_caps_wants(wb_server *srv, uint64_t sid, const char *pnode)
{
    wb_pep_caps *pc = wb_pep_caps_of(srv);
    if (pc == NULL)
        return false;
    pthread_mutex_lock(&pc->lock);
    const wb_pep_sess *s = wb_pep_sess_find(pc, sid, false);
    const bool wants = s != NULL && s->known && wb_pep_set_has(&s->set, pnode);
    pthread_mutex_unlock(&pc->lock);
    return wants;
}

void wb_pep_caps_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available)
{
    (void)full;
    (void)was_available;
    wb_pep_caps *pc = wb_pep_caps_of(w->srv);
    if (pc == NULL)
        return;
    pthread_mutex_lock(&pc->lock);
    for (wb_pep_sess **p = &pc->sess[sid % WB_PEP_SESS_BUCKETS]; *p; p = &(*p)->next) {
        if ((*p)->sid == sid) {
            wb_pep_sess *s = *p;
            *p = s->next;
            free(s->set.v);
            free(s);
            break;
        }
    }
    pthread_mutex_unlock(&pc->lock);
}

/* ---- presence: the caps a session advertises ---- */

/* Asks the client what ver means: disco#info on node#ver, from the server. */
static void wb_pep_caps_query(wb_c2s *c, const char *id, const char *node, const char *ver)
{
    char to[WB_JID_MAX + 1];
    const wb_jid *me = wb_c2s_jid(c);
    wb_jid server;
    memset(&server, 0, sizeof(server));
    snprintf(server.domain, sizeof(server.domain), "%s", me->domain);
    if (wb_jid_full(me, to, sizeof(to)) < 0)
        return;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<iq type='get' from='");
    wb_buf_xml_escape_str(&b, me->domain);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to);
    wb_buf_printf(&b, "' id='%s'><query xmlns='" WB_NS_DISCO_INFO "' node='", id);
    wb_buf_xml_escape_str(&b, node);
    wb_buf_puts(&b, "#");
    wb_buf_xml_escape_str(&b, ver);
    wb_buf_puts(&b, "'/></iq>");
    wb_msg *m =
        b.failed ? NULL : wb_xmpp_msg_from_text(WB_MSG_IQ, WB_IT_GET, &server, me, b.data, b.len);
    wb_buf_free(&b);
    if (m != NULL) {
        wb_c2s_deliver(c, m);
        wb_msg_unref(m);
    }
}

void wb_pep_caps_presence(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial)
{
    (void)initial;
    wb_pep_caps *pc = wb_pep_caps_of(w->srv);
    if (pc == NULL || m->type != WB_PT_AVAILABLE || m->xml == NULL || wb_c2s_jid(c) == NULL)
        return;
    const wb_el ce = wb_st_child(m->xml, 0, "c", WB_NS_CAPS);
    const char *hash = ce >= 0 ? wb_st_attr(m->xml, ce, "hash") : NULL;
    const char *ver = ce >= 0 ? wb_st_attr(m->xml, ce, "ver") : NULL;
    const char *node = ce >= 0 ? wb_st_attr(m->xml, ce, "node") : NULL;
    if (hash == NULL || strcmp(hash, "sha-1") != 0 || ver == NULL || node == NULL ||
        ver[0] == '\0' || strlen(ver) >= WB_CAPS_VER_SIZE || strlen(node) > 512)
        ver = "";
    char query[40] = "";
    bool send_last = false;
    pthread_mutex_lock(&pc->lock);
    wb_pep_sess *s = wb_pep_sess_find(pc, wb_c2s_id(c), true);
    if (s != NULL && strcmp(s->ver, ver) != 0) {
        snprintf(s->ver, sizeof(s->ver), "%s", ver);
        s->query[0] = '\0';
        const wb_pep_cached *e = ver[0] ? wb_pep_cache_find(pc, ver) : NULL;
        s->known = e != NULL && wb_pep_set_copy(&s->set, &e->set) == 0;
        if (!s->known) {
            free(s->set.v);
            s->set = (wb_pep_set){NULL, 0};
        }
        send_last = s->known;
        if (!s->known && ver[0]) {
            snprintf(s->query, sizeof(s->query), WB_PEP_QUERY_PREFIX "%" PRIu64, ++pc->next_query);
            memcpy(query, s->query, sizeof(query));
        }
    }
    pthread_mutex_unlock(&pc->lock);
    if (query[0])
        wb_pep_caps_query(c, query, node, ver);
    if (send_last)
        wb_pep_last_items(w, wb_c2s_jid(c), wb_c2s_id(c), NULL);
}

/* ---- the client's disco#info answer ---- */

/* Collects the +notify node names of the answer into set; returns the number of features. */
static int wb_pep_answer_set(const wb_stanza *st, wb_el q, const char **features, wb_pep_set *set)
{
    wb_buf b;
    wb_buf_init(&b);
    int n = 0;
    const size_t sl = strlen(WB_PEP_NOTIFY_SUFFIX);
    for (wb_el f = wb_st_first(st, q); f >= 0; f = wb_st_next(st, f)) {
        const char *var = wb_st_attr(st, f, "var");
        if (strcmp(wb_st_name(st, f), "feature") != 0 || var == NULL)
            continue;
        if (n == WB_CAPS_MAX_ITEMS) {
            n = -1;
            break;
        }
        features[n++] = var;
        const size_t len = strlen(var);
        if (len > sl && strcmp(var + len - sl, WB_PEP_NOTIFY_SUFFIX) == 0 &&
            b.len + len < WB_PEP_SET_MAX) {
            wb_buf_append(&b, var, len - sl);
            wb_buf_append(&b, "", 1);
        }
    }
    wb_buf_append(&b, "", 1);
    if (b.failed || n < 0) {
        wb_buf_free(&b);
        return -1;
    }
    set->v = wb_buf_steal(&b, &set->size);
    return n;
}

/* The answer's identities into ids; returns how many, -1 when too many. */
static int wb_pep_answer_ids(const wb_stanza *st, wb_el q, wb_caps_identity *ids)
{
    int n = 0;
    for (wb_el i = wb_st_first(st, q); i >= 0; i = wb_st_next(st, i)) {
        if (strcmp(wb_st_name(st, i), "identity") != 0)
            continue;
        if (n == WB_CAPS_MAX_ITEMS)
            return -1;
        ids[n++] = (wb_caps_identity){wb_st_attr(st, i, "category"), wb_st_attr(st, i, "type"),
                                      wb_st_attr(st, i, "xml:lang"), wb_st_attr(st, i, "name")};
    }
    return n;
}

/* Verifies the answer against ver, remembers what the session wants, and caches a verified set.
 * Returns true when the session's set is known now. */
static bool wb_pep_caps_learn(wb_pep_caps *pc, uint64_t sid, const char *ver, const wb_msg *m)
{
    wb_caps_identity ids[WB_CAPS_MAX_ITEMS];
    const char *features[WB_CAPS_MAX_ITEMS];
    wb_pep_set set = {NULL, 0};
    char got[WB_CAPS_VER_SIZE];
    const wb_el q = m->xml ? wb_st_child(m->xml, 0, "query", WB_NS_DISCO_INFO) : -1;
    if (q < 0)
        return false;
    const int ni = wb_pep_answer_ids(m->xml, q, ids);
    const int nf = wb_pep_answer_set(m->xml, q, features, &set);
    if (ni < 0 || nf < 0) {
        free(set.v);
        return false;
    }
    /* A set that does not match its ver (or has forms) is used for this session only. */
    const bool verified =
        wb_caps_ver(ids, (size_t)ni, features, (size_t)nf, got, sizeof(got)) == 0 &&
        strcmp(got, ver) == 0;
    bool known = false;
    pthread_mutex_lock(&pc->lock);
    wb_pep_sess *s = wb_pep_sess_find(pc, sid, false);
    if (s != NULL && strcmp(s->ver, ver) == 0) {
        free(s->set.v);
        s->set = set;
        set.v = NULL;
        s->known = known = true;
        if (verified)
            wb_pep_cache_put(pc, ver, &s->set);
    }
    pthread_mutex_unlock(&pc->lock);
    free(set.v);
    if (!verified)
        wb_debug("pep: caps answer does not match its ver: used for that session only");
    return known;
}

wb_mod_result wb_pep_caps_outbound(wb_worker *w, uint64_t sid, wb_msg *m)
{
    wb_pep_caps *pc = wb_pep_caps_of(w->srv);
    if (pc == NULL || m->kind != WB_MSG_IQ || (m->type != WB_IT_RESULT && m->type != WB_T_ERROR) ||
        m->id == NULL || strncmp(m->id, WB_PEP_QUERY_PREFIX, strlen(WB_PEP_QUERY_PREFIX)) != 0 ||
        (m->has_to && (wb_jid_has_node(&m->to) || wb_jid_has_resource(&m->to))))
        return WB_MOD_PASS;
    char ver[WB_CAPS_VER_SIZE] = "";
    pthread_mutex_lock(&pc->lock);
    wb_pep_sess *s = wb_pep_sess_find(pc, sid, false);
    if (s != NULL && s->query[0] && strcmp(s->query, m->id) == 0) {
        memcpy(ver, s->ver, sizeof(ver));
        s->query[0] = '\0';
    }
    pthread_mutex_unlock(&pc->lock);
    wb_c2s *c = wb_worker_session(w, sid);
    if (c != NULL && wb_c2s_jid(c) != NULL && ver[0] && m->type == WB_IT_RESULT &&
        wb_pep_caps_learn(pc, sid, ver, m))
        wb_pep_last_items(w, wb_c2s_jid(c), sid, NULL);
    wb_msg_unref(m);
    return WB_MOD_HANDLED;
}
