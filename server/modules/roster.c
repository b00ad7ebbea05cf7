/* RFC 6121 section 2 rosters with versioning (XEP-0237): roster get, set and remove, pushes to
 * the interested resources, the rosterver stream feature. Subscription states: presence.c. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_roster.h"
#include "wb_router.h"
#include "wb_xml.h"
#include "wb_xmpp_model.h"

#define WB_NS_ROSTER          "jabber:iq:roster"
#define WB_NS_ROSTERVER       "urn:xmpp:features:rosterver"
#define WB_ROSTER_MAX_TEXT    1023 /* bytes of a name or a group name */
#define WB_ROSTER_MAX_GROUPS  32
#define WB_ROSTER_MAX_TARGETS 64
#define WB_ROSTER_OK          (-1) /* no stanza error (WB_STE_BAD_REQUEST is 0) */

/* An iq waiting for the database: the request (referenced) and what the answer needs. */
typedef struct wb_roster_ctx {
    wb_worker *w;
    wb_msg *m;
    bool has_ver;
    int64_t ver;
} wb_roster_ctx;

static const char *wb_roster_sub_name(unsigned state)
{
    switch (state & (WB_RS_TO | WB_RS_FROM)) {
    case WB_RS_TO | WB_RS_FROM:
        return "both";
    case WB_RS_TO:
        return "to";
    case WB_RS_FROM:
        return "from";
    default:
        return "none";
    }
}

static void wb_roster_write_groups(wb_buf *b, const char *groups)
{
    while (*groups) {
        size_t n = strcspn(groups, (const char[]){WB_ROSTER_GROUP_SEP, '\0'});
        wb_buf_puts(b, "<group>");
        wb_buf_xml_escape(b, groups, n);
        wb_buf_puts(b, "</group>");
        groups += n;
        if (*groups)
            groups++;
    }
}

/* Appends <item/> for it, or its removal (subscription='remove'). */
static void wb_roster_write_item(wb_buf *b, const wb_roster_item *it, bool removed)
{
    wb_buf_puts(b, "<item jid='");
    wb_buf_xml_escape_str(b, it->jid);
    if (removed) {
        wb_buf_puts(b, "' subscription='remove'/>");
        return;
    }
    if (it->name) {
        wb_buf_puts(b, "' name='");
        wb_buf_xml_escape_str(b, it->name);
    }
    wb_buf_printf(b, "' subscription='%s'%s%s", wb_roster_sub_name(it->state),
                  (it->state & WB_RS_ASK) ? " ask='subscribe'" : "",
                  (it->state & WB_RS_APPROVED) ? " approved='true'" : "");
    if (!it->groups || !*it->groups) {
        wb_buf_puts(b, "/>");
        return;
    }
    wb_buf_puts(b, ">");
    wb_roster_write_groups(b, it->groups);
    wb_buf_puts(b, "</item>");
}

void wb_roster_push(wb_worker *w, const wb_jid *owner, const wb_roster_item *it, bool removed,
                    int64_t version)
{
    wb_jid bare = *owner;
    bare.resource[0] = '\0';
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(
        &b, "<iq type='set' id='push-%08x%08x'><query xmlns='" WB_NS_ROSTER "' ver='%lld'>",
        (unsigned)randombytes_random(), (unsigned)randombytes_random(), (long long)version);
    wb_roster_write_item(&b, it, removed);
    wb_buf_puts(&b, "</query></iq>");
    wb_msg *m =
        b.failed ? NULL : wb_xmpp_msg_from_text(WB_MSG_IQ, WB_IT_SET, NULL, &bare, b.data, b.len);
    wb_buf_free(&b);
    if (!m)
        return;
    m->flags |= WB_MSG_F_ROSTER_PUSH; /* only interested resources write it */
    wb_dir_target t[WB_ROSTER_MAX_TARGETS];
    size_t n = wb_directory_lookup(w->srv->dir, &bare, t, WB_ROSTER_MAX_TARGETS);
    for (size_t i = 0; i < n; i++)
        wb_route_to_session(w, t[i].worker, t[i].sid, m);
    wb_msg_unref(m);
}

/* A roster iq is for the sender's own account only (RFC 6121 2.1.5). PASS for the server. */
static bool wb_roster_refuse(wb_worker *w, const wb_msg *m)
{
    if (m->has_to && !wb_jid_bare_eq(&m->to, &m->from)) {
        wb_route_error(w, m, WB_STE_FORBIDDEN, NULL);
        return true;
    }
    return false;
}

static wb_roster_ctx *wb_roster_ctx_new(wb_worker *w, const wb_msg *m)
{
    wb_roster_ctx *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->w = w;
    x->m = wb_msg_ref((wb_msg *)m);
    return x;
}

static void wb_roster_ctx_free(wb_roster_ctx *x)
{
    wb_msg_unref(x->m);
    free(x);
}

static void wb_roster_unavailable(wb_worker *w, const wb_msg *m)
{
    wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, "Roster storage unavailable, try later");
}

/* ---- get ---- */

static void wb_roster_got(void *arg, wb_store_status status, int64_t version,
                          const wb_roster_item *items, size_t n)
{
    wb_roster_ctx *x = arg;
    if (status == WB_STORE_UNAVAILABLE) {
        wb_roster_unavailable(x->w, x->m);
    } else if (x->has_ver && x->ver == version) {
        wb_modules_reply(x->w, x->m, NULL); /* up to date: changes come as pushes */
    } else {
        wb_buf b;
        wb_buf_init(&b);
        wb_buf_printf(&b, "<query xmlns='" WB_NS_ROSTER "' ver='%lld'>", (long long)version);
        for (size_t i = 0; i < n; i++)
            if (items[i].state & WB_RS_IN_ROSTER)
                wb_roster_write_item(&b, &items[i], false);
        wb_buf_puts(&b, "</query>");
        if (b.failed)
            wb_route_error(x->w, x->m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        else
            wb_modules_reply(x->w, x->m, b.data);
        wb_buf_free(&b);
    }
    wb_roster_ctx_free(x);
}

/* The requesting session becomes an interested resource (RFC 6121 2.1.6). */
static void wb_roster_mark_interested(wb_worker *w, const wb_jid *from)
{
    wb_dir_target t;
    if (!wb_directory_find(w->srv->dir, from, &t) || t.worker != w->idx)
        return;
    wb_c2s *c = wb_worker_session(w, t.sid);
    if (c)
        wb_c2s_set_flags(c, WB_C2S_F_ROSTER_REQUESTED);
}

static bool wb_roster_parse_ver(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 18)
        return false;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0)
        return false;
    *out = v;
    return true;
}

static wb_mod_result wb_roster_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server)
        return WB_MOD_PASS;
    if (wb_roster_refuse(w, m))
        return WB_MOD_HANDLED;
    wb_roster_ctx *x = wb_roster_ctx_new(w, m);
    if (!x) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return WB_MOD_HANDLED;
    }
    if (m->xml)
        x->has_ver =
            wb_roster_parse_ver(wb_st_attr(m->xml, wb_st_first(m->xml, 0), "ver"), &x->ver);
    wb_roster_mark_interested(w, &m->from);
    if (!wb_store_roster_get(w->store, m->from.node, m->from.domain, wb_roster_got, x)) {
        wb_roster_unavailable(w, m);
        wb_roster_ctx_free(x);
    }
    return WB_MOD_HANDLED;
}

/* ---- set and remove ---- */

static void wb_roster_set_done(void *arg, wb_store_status status, const wb_roster_change *c)
{
    wb_roster_ctx *x = arg;
    if (status != WB_STORE_OK)
        wb_roster_unavailable(x->w, x->m);
    else if (c->refused)
        wb_route_error(x->w, x->m, WB_STE_RESOURCE_CONSTRAINT, "Roster size limit reached");
    else {
        if (c->push)
            wb_roster_push(x->w, &x->m->from, &c->item, false, c->version);
        wb_modules_reply(x->w, x->m, NULL);
    }
    wb_roster_ctx_free(x);
}

static void wb_roster_send_sub(wb_worker *w, const wb_jid *user, const wb_jid *contact,
                               wb_msg_type type)
{
    char from[WB_JID_MAX + 1], to[WB_JID_MAX + 1];
    wb_jid bare = *user;
    bare.resource[0] = '\0';
    if (wb_jid_bare(&bare, from, sizeof(from)) < 0 || wb_jid_bare(contact, to, sizeof(to)) < 0)
        return;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<presence type='%s' from='", wb_msg_type_name(type));
    wb_buf_xml_escape_str(&b, from);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to);
    wb_buf_puts(&b, "'/>");
    wb_msg *p = b.failed
                    ? NULL
                    : wb_xmpp_msg_from_text(WB_MSG_PRESENCE, type, &bare, contact, b.data, b.len);
    wb_buf_free(&b);
    if (p)
        wb_route(w, p);
}

static void wb_roster_remove_done(void *arg, wb_store_status status, const wb_roster_change *c)
{
    wb_roster_ctx *x = arg;
    if (status != WB_STORE_OK) {
        wb_roster_unavailable(x->w, x->m);
        goto done;
    }
    if (!(c->old_state & WB_RS_IN_ROSTER)) {
        wb_route_error(x->w, x->m, WB_STE_ITEM_NOT_FOUND, NULL);
        goto done;
    }
    wb_jid contact;
    bool ok = wb_jid_parse(&contact, c->item.jid, strlen(c->item.jid)) == 0;
    wb_roster_push(x->w, &x->m->from, &c->item, true, c->version);
    wb_modules_reply(x->w, x->m, NULL);
    /* RFC 6121 2.5.2: cancel the subscriptions in both directions. */
    if (ok && (c->old_state & (WB_RS_TO | WB_RS_ASK)))
        wb_roster_send_sub(x->w, &x->m->from, &contact, WB_PT_UNSUBSCRIBE);
    if (ok && (c->old_state & (WB_RS_FROM | WB_RS_PENDING_IN)))
        wb_roster_send_sub(x->w, &x->m->from, &contact, WB_PT_UNSUBSCRIBED);
    if (ok && (c->old_state & WB_RS_FROM))
        wb_presence_send_current(x->w, &x->m->from, &contact, true);
done:
    wb_roster_ctx_free(x);
}

/* Joins the <group/> names of item into out (WB_ROSTER_GROUP_SEP between them); WB_ROSTER_OK,
 * or the stanza error with *why. */
static int wb_roster_groups(const wb_stanza *st, wb_el item, wb_buf *out, const char **why)
{
    const char *seen[WB_ROSTER_MAX_GROUPS];
    size_t n = 0;
    for (wb_el g = wb_st_first(st, item); g >= 0; g = wb_st_next(st, g)) {
        if (strcmp(wb_st_name(st, g), "group") != 0 || strcmp(wb_st_ns(st, g), WB_NS_ROSTER) != 0)
            continue;
        size_t len;
        const char *name = wb_st_text(st, g, &len);
        *why = len == 0 ? "Empty group name" : "Group name too long";
        if (len == 0 || len > WB_ROSTER_MAX_TEXT)
            return WB_STE_NOT_ACCEPTABLE;
        *why = "Too many groups";
        if (n == WB_ROSTER_MAX_GROUPS)
            return WB_STE_NOT_ACCEPTABLE;
        *why = "Group repeated";
        for (size_t i = 0; i < n; i++)
            if (strcmp(seen[i], name) == 0)
                return WB_STE_BAD_REQUEST;
        seen[n++] = name;
        if (out->len)
            wb_buf_append(out, (const char[]){WB_ROSTER_GROUP_SEP}, 1);
        wb_buf_append(out, name, len);
    }
    *why = NULL;
    return out->failed ? WB_STE_RESOURCE_CONSTRAINT : WB_ROSTER_OK;
}

/* The one <item/> of a roster set, or -1 with *why. */
static wb_el wb_roster_one_item(const wb_stanza *st, const char **why)
{
    wb_el q = wb_st_first(st, 0), item = -1;
    for (wb_el e = wb_st_first(st, q); e >= 0; e = wb_st_next(st, e)) {
        if (strcmp(wb_st_name(st, e), "item") != 0 || strcmp(wb_st_ns(st, e), WB_NS_ROSTER) != 0)
            continue;
        if (item >= 0) {
            *why = "A roster set carries exactly one item";
            return -1;
        }
        item = e;
    }
    if (item < 0)
        *why = "A roster set carries exactly one item";
    return item;
}

/* Checks the item and submits the change; WB_ROSTER_OK or a stanza error with *why. */
static int wb_roster_submit_set(wb_roster_ctx *x, wb_el item, const char **why)
{
    const wb_stanza *st = x->m->xml;
    const wb_msg *m = x->m;
    const char *jid = wb_st_attr(st, item, "jid"), *sub = wb_st_attr(st, item, "subscription");
    wb_jid contact;
    char bare[WB_JID_MAX + 1];
    *why = "The item needs a valid bare JID";
    if (!jid)
        return WB_STE_BAD_REQUEST;
    if (wb_jid_parse(&contact, jid, strlen(jid)) < 0)
        return WB_STE_JID_MALFORMED;
    if (wb_jid_has_resource(&contact) || wb_jid_bare(&contact, bare, sizeof(bare)) < 0)
        return WB_STE_BAD_REQUEST;
    *why = NULL;
    if (sub && strcmp(sub, "remove") == 0)
        return wb_store_roster_remove(x->w->store, m->from.node, m->from.domain, bare,
                                      wb_roster_remove_done, x)
                   ? WB_ROSTER_OK
                   : WB_STE_INTERNAL_SERVER_ERROR;
    const char *name = wb_st_attr(st, item, "name");
    *why = "Name too long";
    if (name && strlen(name) > WB_ROSTER_MAX_TEXT)
        return WB_STE_NOT_ACCEPTABLE;
    wb_buf groups;
    wb_buf_init(&groups);
    int err = wb_roster_groups(st, item, &groups, why);
    if (err == WB_ROSTER_OK &&
        !wb_store_roster_set(x->w->store, m->from.node, m->from.domain, bare,
                             name && *name ? name : NULL, groups.data ? groups.data : "",
                             WB_ROSTER_MAX_ITEMS, wb_roster_set_done, x))
        err = WB_STE_INTERNAL_SERVER_ERROR;
    wb_buf_free(&groups);
    return err;
}

static wb_mod_result wb_roster_set(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server)
        return WB_MOD_PASS;
    if (wb_roster_refuse(w, m))
        return WB_MOD_HANDLED;
    const char *why = "A roster set carries exactly one item";
    wb_el item = m->xml ? wb_roster_one_item(m->xml, &why) : -1;
    if (item < 0) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, why);
        return WB_MOD_HANDLED;
    }
    wb_roster_ctx *x = wb_roster_ctx_new(w, m);
    if (!x) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return WB_MOD_HANDLED;
    }
    int err = wb_roster_submit_set(x, item, &why);
    if (err != WB_ROSTER_OK) {
        wb_route_error(w, m, err, why);
        wb_roster_ctx_free(x);
    }
    return WB_MOD_HANDLED;
}

static void wb_roster_stream_features(wb_c2s *c, wb_buf *b, bool authed)
{
    (void)c;
    if (authed)
        wb_buf_puts(b, "<ver xmlns='" WB_NS_ROSTERVER
                       "'/><sub xmlns='urn:xmpp:features:pre-approval'/>");
}

static const wb_iq_handler wb_roster_iq[] = {
    {WB_NS_ROSTER, "query", wb_roster_get, wb_roster_set},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_roster = {
    .name = "roster",
    .iq = wb_roster_iq,
    .stream_features = wb_roster_stream_features,
};
