/* Disappearing messages: the retention ad-hoc command (XEP-0050, XEP-0004), XEP-0466 timers, the
 * server's sweeper and a sweep of the account before its offline queue is delivered. Not for SQL
 * (storage/wb_store_retention.c) nor for the sweeper's thread (server/wb_sweeper.c). */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wb_log.h"
#include "wb_modules.h"
#include "wb_retention.h"
#include "wb_router.h"
#include "wb_store_retention.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define WB_NS_COMMANDS    "http://jabber.org/protocol/commands"
#define WB_NS_DATA        "jabber:x:data"
#define WB_NS_MAM         "urn:xmpp:mam:2"
#define WB_NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define WB_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define WB_RET_NODE       "urn:xmpp:warbler:retention"
#define WB_RET_NAME       "Set message retention"
#define WB_RET_SESSIONS   32  /* command sessions remembered at once (oldest replaced) */
#define WB_RET_SESSION_S  600 /* seconds a command session stays valid */
#define WB_RET_SID_LEN    32  /* hex characters of a session id */
#define WB_RET_VALUE_MAX  32  /* bytes of a retention value */

extern const wb_module wb_mod_retention;

typedef struct wb_ret_session {
    char owner[WB_JID_MAX + 1]; /* bare JID, "" when the slot is free */
    char id[WB_RET_SID_LEN + 1];
    time_t created;
} wb_ret_session;

typedef struct wb_ret_state {
    wb_sweeper *sweeper;
    pthread_mutex_t lock;
    wb_ret_session sessions[WB_RET_SESSIONS];
} wb_ret_state;

/* One command step waiting for the database. */
typedef struct wb_ret_op {
    wb_worker *w;
    wb_msg *m; /* the iq (a reference) */
    char sid[WB_RET_SID_LEN + 1];
} wb_ret_op;

/* ---- XEP-0466 ---- */

int64_t wb_retention_expiry_us(const wb_config *cfg, const wb_msg *m)
{
    if (m->kind != WB_MSG_MESSAGE || m->xml == NULL)
        return 0;
    const wb_el e = wb_st_child(m->xml, 0, "ephemeral", WB_NS_EPHEMERAL);
    const char *t = e >= 0 ? wb_st_attr(m->xml, e, "timer") : NULL;
    if (t == NULL || t[0] == '\0' || strlen(t) > 10 || strspn(t, "0123456789") != strlen(t))
        return 0;
    const long long timer = strtoll(t, NULL, 10);
    if (timer > 4294967295LL) /* xs:unsignedInt */
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000 +
           (int64_t)timer * cfg->retention_unit_ms * 1000;
}

void wb_retention_counters(const wb_server *srv, wb_sweeper_counters *out)
{
    const wb_ret_state *s = wb_modules_state(srv, &wb_mod_retention);
    memset(out, 0, sizeof(*out));
    if (s != NULL && s->sweeper != NULL)
        wb_sweeper_counters_get(s->sweeper, out);
}

/* ---- command sessions ---- */

/* Opens a session for owner; writes its id into sid. */
static void wb_ret_session_open(wb_ret_state *s, const char *owner, char *sid)
{
    uint8_t raw[WB_RET_SID_LEN / 2];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(sid, WB_RET_SID_LEN + 1, raw, sizeof(raw));
    const time_t now = time(NULL);
    pthread_mutex_lock(&s->lock);
    size_t slot = 0;
    for (size_t i = 0; i < WB_RET_SESSIONS; i++) {
        if (s->sessions[i].owner[0] == '\0' || now - s->sessions[i].created > WB_RET_SESSION_S) {
            slot = i;
            break;
        }
        if (s->sessions[i].created < s->sessions[slot].created)
            slot = i;
    }
    snprintf(s->sessions[slot].owner, sizeof(s->sessions[slot].owner), "%s", owner);
    memcpy(s->sessions[slot].id, sid, WB_RET_SID_LEN + 1);
    s->sessions[slot].created = now;
    pthread_mutex_unlock(&s->lock);
}

/* Whether sid is a live session of owner; `end` closes it. */
static bool wb_ret_session_check(wb_ret_state *s, const char *owner, const char *sid, bool end)
{
    bool found = false;
    const time_t now = time(NULL);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < WB_RET_SESSIONS && !found; i++) {
        wb_ret_session *e = &s->sessions[i];
        if (e->owner[0] == '\0' || strcmp(e->id, sid) != 0 || strcmp(e->owner, owner) != 0)
            continue;
        found = now - e->created <= WB_RET_SESSION_S;
        if (end || !found)
            e->owner[0] = '\0';
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* ---- replies ---- */

static void wb_ret_reply_buf(wb_worker *w, const wb_msg *m, wb_buf *b)
{
    if (b->failed)
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b->data);
    wb_buf_free(b);
}

static void wb_ret_command_head(wb_buf *b, const char *sid, const char *status)
{
    wb_buf_printf(
        b, "<command xmlns='" WB_NS_COMMANDS "' node='" WB_RET_NODE "' sessionid='%s' status='%s'",
        sid, status);
}

/* The form of the first stage, showing the account's current setting (-1: none). */
static void wb_ret_send_form(wb_worker *w, const wb_msg *m, const char *sid, int64_t current)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_ret_command_head(&b, sid, "executing");
    wb_buf_puts(&b, "><actions execute='complete'><complete/></actions>"
                    "<x xmlns='" WB_NS_DATA "' type='form'><title>" WB_RET_NAME "</title>"
                    "<instructions>How long this server keeps your archived and offline messages, "
                    "in seconds (0: forever; empty: the server's default). Give a JID to set it "
                    "for that conversation only.</instructions>"
                    "<field var='FORM_TYPE' type='hidden'><value>" WB_RET_NODE "</value></field>"
                    "<field var='retention' type='text-single' label='Retention (seconds)'>");
    if (current >= 0)
        wb_buf_printf(&b, "<value>%lld</value>", (long long)current);
    wb_buf_puts(&b, "</field><field var='with' type='jid-single' label='Conversation with "
                    "(optional)'/></x></command>");
    wb_ret_reply_buf(w, m, &b);
}

static void wb_ret_send_status(wb_worker *w, const wb_msg *m, const char *sid, const char *status,
                               const char *note)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_ret_command_head(&b, sid, status);
    if (note != NULL)
        wb_buf_printf(&b, "><note type='info'>%s</note></command>", note);
    else
        wb_buf_puts(&b, "/>");
    wb_ret_reply_buf(w, m, &b);
}

/* ---- asynchronous steps ---- */

static wb_ret_op *wb_ret_op_new(wb_worker *w, const wb_msg *m, const char *sid)
{
    wb_ret_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->w = w;
    op->m = wb_msg_ref((wb_msg *)m);
    snprintf(op->sid, sizeof(op->sid), "%s", sid);
    return op;
}

static void wb_ret_op_free(wb_ret_op *op)
{
    wb_msg_unref(op->m);
    free(op);
}

static void wb_ret_got(void *arg, wb_store_status status, int64_t account_s, int64_t peer_s)
{
    wb_ret_op *op = arg;
    (void)peer_s;
    if (status == WB_STORE_OK)
        wb_ret_send_form(op->w, op->m, op->sid, account_s);
    else if (status == WB_STORE_NOT_FOUND)
        wb_route_error(op->w, op->m, WB_STE_ITEM_NOT_FOUND, NULL);
    else
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR,
                       "Storage is unavailable: try again later");
    wb_ret_op_free(op);
}

static void wb_ret_stored(void *arg, wb_store_status status)
{
    wb_ret_op *op = arg;
    wb_ret_state *s = wb_modules_state(op->w->srv, &wb_mod_retention);
    char owner[WB_JID_MAX + 1];
    if (status == WB_STORE_OK && s != NULL && wb_jid_bare(&op->m->from, owner, sizeof(owner)) >= 0)
        wb_ret_session_check(s, owner, op->sid, true); /* the session is over */
    if (status == WB_STORE_OK)
        wb_ret_send_status(op->w, op->m, op->sid, "completed", "Message retention saved.");
    else if (status == WB_STORE_NOT_FOUND)
        wb_route_error(op->w, op->m, WB_STE_ITEM_NOT_FOUND, NULL);
    else
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR,
                       "Storage is unavailable: the setting was not saved");
    wb_ret_op_free(op);
}

/* ---- the command ---- */

/* The single value of field `var` of form x (NULL when absent, "" when empty). */
static const char *wb_ret_field(const wb_msg *m, wb_el x, const char *var)
{
    for (wb_el f = wb_st_first(m->xml, x); f >= 0; f = wb_st_next(m->xml, f)) {
        const char *v = wb_st_attr(m->xml, f, "var");
        if (strcmp(wb_st_name(m->xml, f), "field") != 0 || v == NULL || strcmp(v, var) != 0)
            continue;
        const wb_el val = wb_st_child(m->xml, f, "value", WB_NS_DATA);
        return val >= 0 ? wb_st_text(m->xml, val, NULL) : "";
    }
    return NULL;
}

/* Reads the submitted form: seconds (-1: remove the setting) and peer ("" for the account).
 * Returns NULL, or the reason it is refused. */
static const char *wb_ret_parse_form(const wb_msg *m, wb_el x, int64_t *seconds, char *peer)
{
    const char *r = wb_ret_field(m, x, "retention"), *with = wb_ret_field(m, x, "with");
    wb_jid j;
    peer[0] = '\0';
    if (r == NULL)
        return "The form has no retention field";
    if (r[0] == '\0')
        *seconds = -1;
    else if (strlen(r) > 10 || strspn(r, "0123456789") != strlen(r) ||
             (*seconds = strtoll(r, NULL, 10)) > WB_RETENTION_MAX_SECONDS)
        return "Retention must be a whole number of seconds (at most about a hundred years)";
    if (with == NULL || with[0] == '\0')
        return NULL;
    if (wb_jid_parse(&j, with, strlen(with)) < 0 || wb_jid_bare(&j, peer, WB_JID_MAX + 1) < 0)
        return "The conversation must be a JID";
    return NULL;
}

static void wb_ret_submit(wb_worker *w, const wb_msg *m, wb_el x, const char *sid)
{
    char peer[WB_JID_MAX + 1];
    int64_t seconds = 0;
    const char *why = wb_ret_parse_form(m, x, &seconds, peer);
    if (why != NULL) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, why);
        return;
    }
    wb_ret_op *op = wb_ret_op_new(w, m, sid);
    if (op == NULL) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    if (wb_store_retention_set(w->store, m->from.node, m->from.domain, peer[0] ? peer : NULL,
                               seconds, wb_ret_stored, op) == NULL)
        wb_ret_stored(op, WB_STORE_UNAVAILABLE);
}

static void wb_ret_first_stage(wb_worker *w, const wb_msg *m, wb_ret_state *s, const char *owner)
{
    char sid[WB_RET_SID_LEN + 1];
    wb_ret_session_open(s, owner, sid);
    wb_ret_op *op = wb_ret_op_new(w, m, sid);
    if (op == NULL) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    if (wb_store_retention_get(w->store, m->from.node, m->from.domain, NULL, wb_ret_got, op) ==
        NULL)
        wb_ret_got(op, WB_STORE_UNAVAILABLE, -1, -1);
}

/* The account itself (iq without 'to', to its own bare JID, or to the server). */
static bool wb_ret_own(const wb_msg *m, bool to_server)
{
    return m->has_from && wb_jid_has_node(&m->from) &&
           (to_server || !m->has_to || wb_jid_bare_eq(&m->to, &m->from));
}

static wb_mod_result wb_ret_command(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    char owner[WB_JID_MAX + 1];
    wb_ret_state *s = wb_modules_state(w->srv, &wb_mod_retention);
    const wb_el c = wb_st_first(m->xml, 0);
    const char *node = wb_st_attr(m->xml, c, "node"), *sid = wb_st_attr(m->xml, c, "sessionid");
    const char *action = wb_st_attr(m->xml, c, "action");
    if (!wb_ret_own(m, to_server) || s == NULL || wb_jid_bare(&m->from, owner, sizeof(owner)) < 0)
        return WB_MOD_PASS;
    if (node == NULL || strcmp(node, WB_RET_NODE) != 0) {
        wb_route_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        return WB_MOD_HANDLED;
    }
    if (action == NULL)
        action = "execute";
    const bool cancel = strcmp(action, "cancel") == 0;
    if (!cancel && strcmp(action, "execute") != 0 && strcmp(action, "complete") != 0) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, "Unknown action (bad-action)");
        return WB_MOD_HANDLED;
    }
    const wb_el x = wb_st_child(m->xml, c, "x", WB_NS_DATA);
    const char *xtype = x >= 0 ? wb_st_attr(m->xml, x, "type") : NULL;
    const bool submit = xtype != NULL && strcmp(xtype, "submit") == 0;
    if ((cancel && sid == NULL) || (sid != NULL && !wb_ret_session_check(s, owner, sid, cancel))) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, "Unknown or expired session (bad-sessionid)");
        return WB_MOD_HANDLED;
    }
    char fresh[WB_RET_SID_LEN + 1];
    if (submit && sid == NULL) { /* a one-stage submission: a session that ends at once */
        wb_ret_session_open(s, owner, fresh);
        wb_ret_session_check(s, owner, fresh, true);
        sid = fresh;
    }
    if (cancel)
        wb_ret_send_status(w, m, sid, "canceled", NULL);
    else if (submit)
        wb_ret_submit(w, m, x, sid);
    else
        wb_ret_first_stage(w, m, s, owner);
    return WB_MOD_HANDLED;
}

/* ---- discovery of the command ---- */

static const char *wb_ret_disco_node(const wb_msg *m)
{
    const wb_el q = m->xml ? wb_st_first(m->xml, 0) : -1;
    return q >= 0 ? wb_st_attr(m->xml, q, "node") : NULL;
}

/* XEP-0050 section 2.2: the command list, at the account and at the server. */
static wb_mod_result wb_ret_items(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    const char *node = wb_ret_disco_node(m);
    char at[WB_JID_MAX + 1];
    if (node == NULL || strcmp(node, WB_NS_COMMANDS) != 0 || !wb_ret_own(m, to_server))
        return WB_MOD_PASS;
    if (to_server)
        snprintf(at, sizeof(at), "%s", m->to.domain);
    else if (wb_jid_bare(&m->from, at, sizeof(at)) < 0)
        return WB_MOD_PASS;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_DISCO_ITEMS "' node='" WB_NS_COMMANDS "'><item jid='");
    wb_buf_xml_escape_str(&b, at);
    wb_buf_puts(&b, "' node='" WB_RET_NODE "' name='" WB_RET_NAME "'/></query>");
    wb_ret_reply_buf(w, m, &b);
    return WB_MOD_HANDLED;
}

/* XEP-0050 section 2.3 and 2.4: what the command node and the command list are. */
static wb_mod_result wb_ret_info(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    const char *node = wb_ret_disco_node(m);
    if (node == NULL || !wb_ret_own(m, to_server))
        return WB_MOD_PASS;
    if (strcmp(node, WB_RET_NODE) == 0)
        wb_modules_reply(w, m,
                         "<query xmlns='" WB_NS_DISCO_INFO "' node='" WB_RET_NODE "'>"
                         "<identity category='automation' type='command-node' name='" WB_RET_NAME
                         "'/><feature var='" WB_NS_COMMANDS "'/><feature var='" WB_NS_DATA
                         "'/></query>");
    else if (strcmp(node, WB_NS_COMMANDS) == 0)
        wb_modules_reply(w, m,
                         "<query xmlns='" WB_NS_DISCO_INFO "' node='" WB_NS_COMMANDS "'>"
                         "<identity category='automation' type='command-list' "
                         "name='Commands'/></query>");
    else
        return WB_MOD_PASS;
    return WB_MOD_HANDLED;
}

/* ---- hooks ---- */

static void wb_ret_swept(void *arg, wb_store_status status, uint64_t archived, uint64_t queued)
{
    wb_ret_state *s = arg;
    if (status == WB_STORE_OK && s->sweeper != NULL)
        wb_sweeper_count(s->sweeper, archived, queued);
}

/* Erases the account's expired messages now. Its reads that follow on the same connection (whose
 * requests run in order) cannot see them: nothing is shown after its time, between sweeps too. */
static void wb_ret_sweep_account(wb_worker *w, const wb_jid *jid)
{
    wb_ret_state *s = wb_modules_state(w->srv, &wb_mod_retention);
    const wb_config *cfg = w->srv->cfg;
    const wb_retention_sweep args = {cfg->retention_default, cfg->retention_unit_ms,
                                     WB_RETENTION_BATCH_MAX, jid->node, jid->domain};
    if (s == NULL || wb_store_retention_sweep_run(w->store, &args, wb_ret_swept, s) == NULL)
        wb_warn("retention: could not queue the sweep of an account");
}

/* Before offline.c (later in the table) fetches the queue at the first available presence. */
static void wb_ret_presence(wb_worker *w, wb_c2s *c, const wb_msg *m, bool initial)
{
    (void)m;
    const wb_jid *jid = wb_c2s_jid(c);
    if (initial && jid != NULL)
        wb_ret_sweep_account(w, jid);
}

/* Before mam.c reads the archive for an XEP-0313 query of the account. */
static wb_mod_result wb_ret_outbound(wb_worker *w, uint64_t sid, wb_msg *m)
{
    (void)sid;
    const wb_el q = m->kind == WB_MSG_IQ && m->type == WB_IT_SET && m->xml != NULL
                        ? wb_st_first(m->xml, 0)
                        : -1;
    if (q >= 0 && m->has_from && wb_jid_has_node(&m->from) &&
        strcmp(wb_st_name(m->xml, q), "query") == 0 &&
        strcmp(wb_st_ns(m->xml, q), WB_NS_MAM) == 0 &&
        (!m->has_to || wb_jid_bare_eq(&m->to, &m->from)))
        wb_ret_sweep_account(w, &m->from);
    return WB_MOD_PASS;
}

static int wb_ret_init(wb_server *srv, void **state)
{
    wb_ret_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    pthread_mutex_init(&s->lock, NULL);
    s->sweeper = wb_sweeper_start(srv->cfg);
    if (s->sweeper == NULL) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static void wb_ret_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_ret_state *s = state;
    wb_sweeper_stop(s->sweeper);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const char *const wb_ret_features[] = {WB_NS_COMMANDS, NULL};
static const wb_iq_handler wb_ret_iq[] = {
    {WB_NS_COMMANDS, "command", NULL, wb_ret_command},
    {WB_NS_DISCO_ITEMS, "query", wb_ret_items, NULL},
    {WB_NS_DISCO_INFO, "query", wb_ret_info, NULL},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_retention = {.name = "retention",
                                    .features = wb_ret_features,
                                    .iq = wb_ret_iq,
                                    .presence = wb_ret_presence,
                                    .outbound = wb_ret_outbound,
                                    .init = wb_ret_init,
                                    .shutdown = wb_ret_shutdown};
