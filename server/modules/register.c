/* XEP-0077 in-band registration before authentication (optionally only with an invite token,
 * limited per client address), password change and account cancellation once logged in.
 * Not for storage (storage/wb_store_register.c) nor for invite administration (warblerctl). */
#include "wb_modules.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wb_audit.h"
#include "wb_log.h"
#include "wb_router.h"
#include "wb_store_register.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

#define WB_NS_REGISTER      "jabber:iq:register"
#define WB_NS_REGISTER_FEAT "http://jabber.org/features/iq-register"
#define WB_NS_DATA          "jabber:x:data"
#define WB_NS_STANZAS       "urn:ietf:params:xml:ns:xmpp-stanzas"
#define WB_REG_PASSWORD_MAX 1023 /* bytes */
#define WB_REG_TOKEN_MAX    256
#define WB_REG_PEER_MAX     64
#define WB_REG_REMOVED_TEXT "Account removed"

typedef struct wb_reg_op wb_reg_op;

extern const wb_module wb_mod_register;

/* Server-wide: the per-address counter and the requests waiting for the database (those never
 * answered because their worker stopped are freed at shutdown). */
typedef struct wb_reg_state {
    pthread_mutex_t lock;
    wb_ratelimit *per_address;
    wb_reg_op *pending;
} wb_reg_state;

typedef enum { WB_REG_CREATE, WB_REG_PASSWD, WB_REG_REMOVE } wb_reg_kind;

/* One request waiting for the database. */
struct wb_reg_op {
    wb_reg_op *prev, *next;
    wb_reg_state *state;
    wb_worker *w;
    wb_reg_kind kind;
    uint64_t sid;               /* CREATE: the session, not yet authenticated */
    char *iq_id;                /* CREATE: id of the request (NULL when absent) */
    char peer[WB_REG_PEER_MAX]; /* CREATE: the client's address */
    wb_msg *m;                  /* PASSWD, REMOVE: the request, referenced */
    char node[WB_JID_PART_MAX + 1];
    char domain[WB_JID_PART_MAX + 1];
};

/* What a jabber:iq:register query carries (elements, or fields of a XEP-0004 form). */
typedef struct wb_reg_fields {
    char username[WB_JID_PART_MAX + 1];
    char password[WB_REG_PASSWORD_MAX + 1];
    char token[WB_REG_TOKEN_MAX + 1];
    bool has_username, has_password, has_token, remove, too_long;
} wb_reg_fields;

/* ---- pending requests ---- */

static wb_reg_op *wb_reg_op_new(wb_worker *w, wb_reg_kind kind)
{
    wb_reg_state *s = wb_modules_state(w->srv, &wb_mod_register);
    wb_reg_op *op = s ? calloc(1, sizeof(*op)) : NULL;
    if (!op)
        return NULL;
    op->state = s;
    op->w = w;
    op->kind = kind;
    pthread_mutex_lock(&s->lock);
    op->next = s->pending;
    if (s->pending)
        s->pending->prev = op;
    s->pending = op;
    pthread_mutex_unlock(&s->lock);
    return op;
}

static void wb_reg_op_free(wb_reg_op *op)
{
    wb_reg_state *s = op->state;
    pthread_mutex_lock(&s->lock);
    if (op->prev)
        op->prev->next = op->next;
    else
        s->pending = op->next;
    if (op->next)
        op->next->prev = op->prev;
    pthread_mutex_unlock(&s->lock);
    if (op->m)
        wb_msg_unref(op->m);
    free(op->iq_id);
    free(op);
}

/* ---- reading a query ---- */

/* Copies the text of el into out (size bytes); false when it does not fit. */
static bool wb_reg_copy_text(const wb_stanza *st, wb_el el, char *out, size_t size)
{
    size_t len = 0;
    const char *t = wb_st_text(st, el, &len);
    if (len >= size)
        return false;
    memcpy(out, t, len);
    out[len] = '\0';
    return true;
}

static void wb_reg_take(const wb_stanza *st, wb_el el, char *out, size_t size, bool *has,
                        wb_reg_fields *f)
{
    *has = true;
    if (!wb_reg_copy_text(st, el, out, size))
        f->too_long = true;
}

/* Fields of a submitted XEP-0004 form: username, password, token. */
static void wb_reg_read_form(const wb_stanza *st, wb_el x, wb_reg_fields *f)
{
    for (wb_el fl = wb_st_first(st, x); fl >= 0; fl = wb_st_next(st, fl)) {
        const char *var = wb_st_attr(st, fl, "var");
        wb_el v = wb_st_child(st, fl, "value", WB_NS_DATA);
        if (strcmp(wb_st_name(st, fl), "field") != 0 || !var || v < 0)
            continue;
        if (strcmp(var, "username") == 0)
            wb_reg_take(st, v, f->username, sizeof(f->username), &f->has_username, f);
        else if (strcmp(var, "password") == 0)
            wb_reg_take(st, v, f->password, sizeof(f->password), &f->has_password, f);
        else if (strcmp(var, "token") == 0)
            wb_reg_take(st, v, f->token, sizeof(f->token), &f->has_token, f);
    }
}

static void wb_reg_read(const wb_stanza *st, wb_el q, wb_reg_fields *f)
{
    memset(f, 0, sizeof(*f));
    wb_el el = wb_st_child(st, q, "username", WB_NS_REGISTER);
    if (el >= 0)
        wb_reg_take(st, el, f->username, sizeof(f->username), &f->has_username, f);
    if ((el = wb_st_child(st, q, "password", WB_NS_REGISTER)) >= 0)
        wb_reg_take(st, el, f->password, sizeof(f->password), &f->has_password, f);
    f->remove = wb_st_child(st, q, "remove", WB_NS_REGISTER) >= 0;
    wb_el x = wb_st_child(st, q, "x", WB_NS_DATA);
    if (x >= 0)
        wb_reg_read_form(st, x, f);
    /* Tokens are copied from URIs and mails: surrounding blanks are not part of them. */
    size_t n = strlen(f->token), start = strspn(f->token, " \t\r\n");
    while (n > start && strchr(" \t\r\n", f->token[n - 1]))
        n--;
    memmove(f->token, f->token + start, n - start);
    f->token[n - start] = '\0';
    f->has_token = f->token[0] != '\0';
}

static void wb_reg_clear(wb_reg_fields *f)
{
    explicit_bzero(f->password, sizeof(f->password));
}

/* ---- replies before authentication (written to the stream as they are) ---- */

static void wb_reg_send_iq(wb_c2s *c, const char *id, const char *type, const char *inner)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<iq type='%s'", type);
    if (id) {
        wb_buf_puts(&b, " id='");
        wb_buf_xml_escape_str(&b, id);
        wb_buf_puts(&b, "'");
    }
    if (inner) {
        wb_buf_puts(&b, ">");
        wb_buf_puts(&b, inner);
        wb_buf_puts(&b, "</iq>");
    } else {
        wb_buf_puts(&b, "/>");
    }
    if (!b.failed)
        wb_c2s_send_raw(c, b.data, b.len);
    wb_buf_free(&b);
}

static void wb_reg_send_error(wb_c2s *c, const char *id, wb_stanza_err e, const char *text)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<error type='%s'><%s xmlns='" WB_NS_STANZAS "'/>", wb_stanza_err_type(e),
                  wb_stanza_err_name(e));
    if (text) {
        wb_buf_puts(&b, "<text xmlns='" WB_NS_STANZAS "'>");
        wb_buf_xml_escape_str(&b, text);
        wb_buf_puts(&b, "</text>");
    }
    wb_buf_puts(&b, "</error>");
    if (!b.failed)
        wb_reg_send_iq(c, id, "error", b.data);
    wb_buf_free(&b);
}

/* The registration form (XEP-0077 section 3.1 with a XEP-0004 form carrying the token). */
static void wb_reg_send_form(wb_c2s *c, const char *id, bool invite_only)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_REGISTER "'><instructions>Choose a user name and a "
                    "password");
    wb_buf_puts(&b, invite_only ? ", and give the invite token you received.</instructions>"
                                : ".</instructions>");
    wb_buf_puts(&b, "<username/><password/><x xmlns='" WB_NS_DATA "' type='form'>"
                    "<title>Account registration</title><field type='hidden' var='FORM_TYPE'>"
                    "<value>" WB_NS_REGISTER "</value></field>"
                    "<field type='text-single' var='username' label='User name'><required/>"
                    "</field><field type='text-private' var='password' label='Password'>"
                    "<required/></field>");
    if (invite_only)
        wb_buf_puts(&b, "<field type='text-single' var='token' label='Invite token'><required/>"
                        "</field>");
    wb_buf_puts(&b, "</x></query>");
    if (!b.failed)
        wb_reg_send_iq(c, id, "result", b.data);
    wb_buf_free(&b);
}

/* ---- registration before authentication ---- */

/* The audit record of an in-band account change: creation by an anonymous client (every outcome
 * but an outage), password change or removal by the account itself. */
static void wb_reg_audit(const wb_reg_op *op, const char *actor, const char *action, bool ok,
                         const char *reason)
{
    char jid[WB_JID_PART_MAX * 2 + 2], who[sizeof(jid) + 8];
    snprintf(jid, sizeof(jid), "%s@%s", op->node, op->domain);
    snprintf(who, sizeof(who), "%s%s", actor ? actor : "user:", actor ? "" : jid);
    const wb_audit_event ev = {.actor = who,
                               .action = action,
                               .target = jid,
                               .source = actor ? op->peer : NULL,
                               .ok = ok,
                               .reason = reason};
    wb_audit_record(op->w->srv->audit, &ev);
}

static void wb_reg_created(void *arg, wb_store_reg_result r)
{
    wb_reg_op *op = arg;
    wb_reg_state *s = op->state;
    wb_c2s *c = wb_worker_session(op->w, op->sid);
    if (r == WB_STORE_REG_CREATED)
        wb_info("register: account %s@%s created by %s", op->node, op->domain, op->peer);
    if (r != WB_STORE_REG_UNAVAILABLE)
        wb_reg_audit(op, "anonymous", "account.register", r == WB_STORE_REG_CREATED,
                     r == WB_STORE_REG_TAKEN       ? "name taken"
                     : r == WB_STORE_REG_BAD_TOKEN ? "bad invite token"
                                                   : "in-band");
    /* The attempt was counted when it started; a taken name or a database failure gives it
     * back, a bad token does not (guessing tokens must stay slow). */
    if (r == WB_STORE_REG_TAKEN || r == WB_STORE_REG_UNAVAILABLE)
        wb_ratelimit_refund(s->per_address, op->peer);
    if (c)
        wb_c2s_clear_flags(c, WB_C2S_F_REGISTERING);
    if (!c) {
        wb_reg_op_free(op);
        return;
    }
    switch (r) {
    case WB_STORE_REG_CREATED:
        wb_reg_send_iq(c, op->iq_id, "result", NULL);
        break;
    case WB_STORE_REG_TAKEN:
        wb_reg_send_error(c, op->iq_id, WB_STE_CONFLICT, "This user name is taken");
        break;
    case WB_STORE_REG_BAD_TOKEN:
        wb_reg_send_error(c, op->iq_id, WB_STE_NOT_AUTHORIZED,
                          "The invite token is unknown, used or expired");
        break;
    case WB_STORE_REG_UNAVAILABLE:
        wb_reg_send_error(c, op->iq_id, WB_STE_INTERNAL_SERVER_ERROR,
                          "Storage unavailable, try again later");
        break;
    }
    wb_reg_op_free(op);
}

/* Checks the submitted fields; returns the error to answer, or -1 when they are acceptable
 * (then *text is unused and node holds the prepared user name). */
static int wb_reg_check(const wb_config *cfg, const wb_reg_fields *f, char *node, const char **text)
{
    if (f->remove) {
        *text = "Log in to cancel an account";
        return WB_STE_NOT_AUTHORIZED;
    }
    if (f->too_long || !f->has_username || !f->has_password || f->password[0] == '\0' ||
        f->username[0] == '\0') {
        *text = "A user name and a password are required";
        return WB_STE_NOT_ACCEPTABLE;
    }
    if (wb_jid_prep_node(node, f->username, strlen(f->username)) < 0) {
        *text = "This user name is not allowed";
        return WB_STE_JID_MALFORMED;
    }
    if (cfg->register_invite_only && !f->has_token) {
        *text = "Registration needs an invite token";
        return WB_STE_NOT_AUTHORIZED;
    }
    return -1;
}

/* Returns 0 when the request is on its way (wb_reg_created will answer), -1 after answering. */
static int wb_reg_submit_create(wb_worker *w, wb_c2s *c, const char *id, const char *node,
                                const wb_reg_fields *f)
{
    const wb_config *cfg = w->srv->cfg;
    wb_reg_op *op = wb_reg_op_new(w, WB_REG_CREATE);
    if (!op)
        goto fail;
    op->sid = wb_c2s_id(c);
    snprintf(op->peer, sizeof(op->peer), "%s", wb_c2s_peer(c));
    snprintf(op->node, sizeof(op->node), "%s", node);
    snprintf(op->domain, sizeof(op->domain), "%s", wb_c2s_domain(c));
    if (id && !(op->iq_id = strdup(id)))
        goto fail;
    if (!wb_store_register_create(w->store, op->node, op->domain, f->password,
                                  cfg->scram_iterations,
                                  cfg->register_invite_only ? f->token : NULL, wb_reg_created, op))
        goto fail;
    return 0;
fail:
    if (op)
        wb_reg_op_free(op);
    wb_reg_send_error(c, id, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    return -1;
}

static void wb_reg_preauth_set(wb_worker *w, wb_c2s *c, const wb_stanza *st, wb_el q)
{
    const char *id = wb_st_attr(st, 0, "id");
    wb_reg_state *s = wb_modules_state(w->srv, &wb_mod_register);
    char node[WB_JID_PART_MAX + 1];
    const char *text = NULL;
    wb_reg_fields f;
    wb_reg_read(st, q, &f);
    const int err = wb_reg_check(w->srv->cfg, &f, node, &text);
    if (err >= 0)
        wb_reg_send_error(c, id, (wb_stanza_err)err, text);
    else if (wb_c2s_flags(c) & WB_C2S_F_REGISTERING)
        wb_reg_send_error(c, id, WB_STE_RESOURCE_CONSTRAINT,
                          "A registration is already in progress on this stream");
    else if (!s || !wb_ratelimit_take(s->per_address, wb_c2s_peer(c)))
        wb_reg_send_error(c, id, WB_STE_RESOURCE_CONSTRAINT,
                          "Too many registrations from this address; try again later");
    else if (wb_reg_submit_create(w, c, id, node, &f) < 0)
        wb_ratelimit_refund(s->per_address, wb_c2s_peer(c));
    else
        wb_c2s_set_flags(c, WB_C2S_F_REGISTERING);
    wb_reg_clear(&f);
}

static wb_mod_result wb_reg_preauth(wb_worker *w, wb_c2s *c, const wb_stanza *st)
{
    wb_el q = wb_st_child(st, 0, "query", WB_NS_REGISTER);
    if (q < 0)
        return WB_MOD_PASS;
    const wb_config *cfg = w->srv->cfg;
    const char *type = wb_st_attr(st, 0, "type"), *id = wb_st_attr(st, 0, "id");
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
        return WB_MOD_HANDLED; /* a result or an error: nothing to answer */
    if (!cfg->register_enabled)
        wb_reg_send_error(c, id, WB_STE_SERVICE_UNAVAILABLE, "In-band registration is disabled");
    else if (strcmp(type, "get") == 0)
        wb_reg_send_form(c, id, cfg->register_invite_only);
    else
        wb_reg_preauth_set(w, c, st, q);
    return WB_MOD_HANDLED;
}

static void wb_reg_stream_features(wb_c2s *c, wb_buf *b, bool authed)
{
    if (!authed && wb_c2s_worker(c)->srv->cfg->register_enabled)
        wb_buf_puts(b, "<register xmlns='" WB_NS_REGISTER_FEAT "'/>");
}

/* ---- logged in: password change and cancellation ---- */

/* Closes every stream of the account (after its cancellation) with <not-authorized/>. */
static void wb_reg_close_account(wb_worker *w, const wb_jid *account)
{
    const size_t max = w->srv->cfg->max_resources;
    wb_dir_target *t = calloc(max, sizeof(*t));
    if (!t) {
        wb_warn("register: out of memory closing the sessions of a removed account");
        return;
    }
    const size_t n = wb_directory_lookup(w->srv->dir, account, t, max);
    for (size_t i = 0; i < n; i++) {
        if (t[i].worker != w->idx) {
            wb_worker_post_close(w->srv->workers[t[i].worker], t[i].sid, WB_SE_NOT_AUTHORIZED,
                                 WB_REG_REMOVED_TEXT);
            continue;
        }
        wb_c2s *c = wb_worker_session(w, t[i].sid);
        if (c)
            wb_c2s_close(c, WB_SE_NOT_AUTHORIZED, WB_REG_REMOVED_TEXT);
    }
    free(t);
}

/* The result goes straight to the requesting session (no hook may delay it behind the close). */
static void wb_reg_reply_direct(wb_worker *w, const wb_msg *m)
{
    wb_dir_target t;
    wb_msg *r = wb_xmpp_iq_result(m, NULL, 0);
    if (!r)
        return;
    if (wb_directory_find(w->srv->dir, &m->from, &t))
        wb_route_to_session(w, t.worker, t.sid, r);
    wb_msg_unref(r);
}

static void wb_reg_done(void *arg, wb_store_status status)
{
    wb_reg_op *op = arg;
    if (status == WB_STORE_UNAVAILABLE) {
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR,
                       "Storage unavailable, try again later");
    } else if (status == WB_STORE_NOT_FOUND) {
        wb_route_error(op->w, op->m, WB_STE_ITEM_NOT_FOUND, NULL);
    } else if (op->kind == WB_REG_PASSWD) {
        wb_info("register: password of %s@%s changed", op->node, op->domain);
        wb_reg_audit(op, NULL, "account.password", true, "in-band");
        wb_modules_reply(op->w, op->m, NULL);
    } else {
        wb_info("register: account %s@%s removed", op->node, op->domain);
        wb_reg_audit(op, NULL, "account.delete", true, "in-band");
        wb_reg_reply_direct(op->w, op->m);
        wb_reg_close_account(op->w, &op->m->from);
    }
    wb_reg_op_free(op);
}

static void wb_reg_submit_update(wb_worker *w, const wb_msg *m, const wb_reg_fields *f)
{
    wb_reg_op *op = wb_reg_op_new(w, f->remove ? WB_REG_REMOVE : WB_REG_PASSWD);
    if (!op) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    op->m = wb_msg_ref((wb_msg *)m);
    snprintf(op->node, sizeof(op->node), "%s", m->from.node);
    snprintf(op->domain, sizeof(op->domain), "%s", m->from.domain);
    wb_store_req *r =
        f->remove ? wb_store_register_remove(w->store, op->node, op->domain, wb_reg_done, op)
                  : wb_store_register_passwd(w->store, op->node, op->domain, f->password,
                                             w->srv->cfg->scram_iterations, wb_reg_done, op);
    if (!r) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_reg_op_free(op);
    }
}

/* The request is about the sender's own account: sent to its server or to its bare JID. */
static bool wb_reg_own(const wb_msg *m, bool to_server)
{
    if (to_server)
        return !m->has_to || strcmp(m->to.domain, m->from.domain) == 0;
    return !m->has_to || wb_jid_bare_eq(&m->to, &m->from);
}

static wb_mod_result wb_reg_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!wb_reg_own(m, to_server))
        return WB_MOD_PASS;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_REGISTER "'><registered/><username>");
    wb_buf_xml_escape_str(&b, m->from.node);
    wb_buf_puts(&b, "</username><password/></query>");
    if (b.failed)
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    else
        wb_modules_reply(w, m, b.data);
    wb_buf_free(&b);
    return WB_MOD_HANDLED;
}

static wb_mod_result wb_reg_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!wb_reg_own(m, to_server) || !m->xml)
        return WB_MOD_PASS;
    char node[WB_JID_PART_MAX + 1];
    wb_reg_fields f;
    wb_reg_read(m->xml, wb_st_child(m->xml, 0, "query", WB_NS_REGISTER), &f);
    if (f.remove)
        wb_reg_submit_update(w, m, &f);
    else if (f.too_long || !f.has_username || !f.has_password || f.password[0] == '\0')
        wb_route_error(w, m, WB_STE_NOT_ACCEPTABLE, "A user name and a password are required");
    else if (wb_jid_prep_node(node, f.username, strlen(f.username)) < 0 ||
             strcmp(node, m->from.node) != 0)
        wb_route_error(w, m, WB_STE_NOT_ALLOWED, "Only the password of your own account");
    else
        wb_reg_submit_update(w, m, &f);
    wb_reg_clear(&f);
    return WB_MOD_HANDLED;
}

/* ---- module ---- */

static int wb_reg_init(wb_server *srv, void **state)
{
    wb_reg_state *s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    s->per_address = wb_ratelimit_new(srv->cfg->register_per_address, srv->cfg->register_window);
    if (!s->per_address) {
        free(s);
        goto fail;
    }
    pthread_mutex_init(&s->lock, NULL);
    *state = s;
    return 0;
fail:
    wb_error("register: out of memory");
    return -1;
}

static void wb_reg_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_reg_state *s = state;
    while (s->pending)
        wb_reg_op_free(s->pending);
    wb_ratelimit_free(s->per_address);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const char *const wb_reg_features[] = {WB_NS_REGISTER, NULL};
static const wb_iq_handler wb_reg_iq[] = {
    {WB_NS_REGISTER, "query", wb_reg_get, wb_reg_set},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_register = {
    .name = "register",
    .features = wb_reg_features,
    .iq = wb_reg_iq,
    .stream_features = wb_reg_stream_features,
    .preauth_iq = wb_reg_preauth,
    .init = wb_reg_init,
    .shutdown = wb_reg_shutdown,
};
