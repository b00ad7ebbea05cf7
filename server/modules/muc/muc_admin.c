/* MUC administration (XEP-0045 sections 8 to 10): roles and affiliations through muc#admin items
 * with the rules and errors of the XEP, the lists, and the owner's room configuration form
 * (muc#roomconfig), instant rooms and destruction. Not for joining or messages. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "muc_int.h"
#include "wb_audit.h"
#include "wb_log.h"
#include "wb_store_retention.h"

/* ---- muc#admin ---- */

/* Whether the requester may read the list of affiliation a: admins may; in a members-only,
 * non-anonymous room any occupant may read members, admins and owners (OMEMO groups). */
static bool muc_may_list(const muc_room *r, const muc_occupant *o, muc_aff actor, muc_aff a)
{
    if (actor >= MUC_AFF_ADMIN)
        return true;
    return o && a >= MUC_AFF_MEMBER && r->cfg.members_only && r->cfg.nonanonymous;
}

static void muc_admin_list(wb_worker *w, const muc_room *r, const wb_msg *m, wb_el item)
{
    const muc_occupant *o = muc_occ_by_real(r, &m->from);
    const muc_aff actor = muc_aff_of(r, &m->from);
    const char *as = wb_st_attr(m->xml, item, "affiliation"),
               *rs = wb_st_attr(m->xml, item, "role");
    muc_aff a;
    muc_role role;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" MUC_NS_ADMIN "'>");
    if (as && muc_aff_parse(as, &a) == 0 && a != MUC_AFF_NONE) {
        if (!muc_may_list(r, o, actor, a)) {
            muc_error(w, m, WB_STE_FORBIDDEN, NULL);
            goto done;
        }
        for (const muc_affil *e = r->affs; e; e = e->next) {
            if (e->aff != a)
                continue;
            wb_buf_printf(&b, "<item affiliation='%s' jid='", muc_aff_name(a));
            wb_buf_xml_escape_str(&b, e->jid);
            wb_buf_puts(&b, "'/>");
        }
    } else if (rs && muc_role_parse(rs, &role) == 0 && role != MUC_ROLE_NONE) {
        if (!o || o->role != MUC_ROLE_MODERATOR) {
            muc_error(w, m, WB_STE_FORBIDDEN, NULL);
            goto done;
        }
        for (const muc_occupant *p = r->occ; p; p = p->next) {
            if (p->role != role)
                continue;
            wb_buf_printf(&b, "<item role='%s' affiliation='%s' jid='%s' nick='",
                          muc_role_name(role), muc_aff_name(muc_aff_of(r, &p->real)), p->real_s);
            wb_buf_xml_escape_str(&b, p->nick);
            wb_buf_puts(&b, "'/>");
        }
    } else {
        muc_error(w, m, WB_STE_BAD_REQUEST, NULL);
        goto done;
    }
    wb_buf_puts(&b, "</query>");
    if (b.failed)
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b.data);
done:
    wb_buf_free(&b);
}

/* One role change (XEP-0045 8.2 to 8.5, 9.6, 9.7); WB_STE_COUNT when done. */
static wb_stanza_err muc_set_role(wb_worker *w, muc_room *r, const muc_occupant *actor_o,
                                  const wb_msg *m, wb_el item, muc_role role)
{
    const char *nick = wb_st_attr(m->xml, item, "nick");
    wb_el re = wb_st_child(m->xml, item, "reason", MUC_NS_ADMIN);
    const char *reason = re >= 0 ? wb_st_text(m->xml, re, NULL) : NULL;
    const muc_aff actor = muc_aff_of(r, &m->from);
    muc_occupant *t = nick ? muc_occ_by_nick(r, nick) : NULL;
    if (!actor_o || actor_o->role != MUC_ROLE_MODERATOR)
        return WB_STE_FORBIDDEN;
    if (!nick)
        return WB_STE_BAD_REQUEST;
    if (!t)
        return WB_STE_ITEM_NOT_FOUND;
    const muc_aff ta = muc_aff_of(r, &t->real);
    if ((role == MUC_ROLE_MODERATOR || t->role == MUC_ROLE_MODERATOR) && actor < MUC_AFF_ADMIN)
        return WB_STE_FORBIDDEN;
    if (ta >= MUC_AFF_ADMIN && role != MUC_ROLE_MODERATOR)
        return WB_STE_NOT_ALLOWED;
    if (role == MUC_ROLE_NONE) {
        const int c307[] = {307};
        muc_occ_remove(w, r, t, c307, 1, reason);
        return WB_STE_COUNT;
    }
    if (t->role != role) {
        t->role = role;
        muc_occ_broadcast(w, r, t, NULL, 0, reason);
    }
    return WB_STE_COUNT;
}

/* The occupants of bare JID `bare` after their affiliation changed (XEP-0045 9.1 to 9.4). */
static void muc_aff_effects(wb_worker *w, muc_room *r, const wb_jid *who, muc_aff a,
                            const char *reason)
{
    muc_occupant *o = r->occ;
    while (o) {
        muc_occupant *next = o->next;
        if (wb_jid_bare_eq(&o->real, who)) {
            if (a == MUC_AFF_OUTCAST) {
                const int c301[] = {301};
                muc_occ_remove(w, r, o, c301, 1, reason);
            } else if (r->cfg.members_only && a < MUC_AFF_MEMBER) {
                const int c321[] = {321};
                muc_occ_remove(w, r, o, c321, 1, reason);
            } else {
                o->role = muc_role_default(r, a);
                muc_occ_broadcast(w, r, o, NULL, 0, reason);
            }
        }
        o = next;
    }
}

static size_t muc_count_aff(const muc_room *r, muc_aff a)
{
    size_t n = 0;
    for (const muc_affil *e = r->affs; e; e = e->next)
        n += e->aff == a;
    return n;
}

/* One affiliation change (XEP-0045 9.1 to 10.7); WB_STE_COUNT when done. */
static wb_stanza_err muc_set_aff(wb_worker *w, muc_room *r, const wb_msg *m, wb_el item, muc_aff a)
{
    const char *js = wb_st_attr(m->xml, item, "jid");
    wb_el re = wb_st_child(m->xml, item, "reason", MUC_NS_ADMIN);
    const char *reason = re >= 0 ? wb_st_text(m->xml, re, NULL) : NULL;
    const muc_aff actor = muc_aff_of(r, &m->from);
    wb_jid who;
    char bare[MUC_JID_BUF];
    if (actor < MUC_AFF_ADMIN)
        return WB_STE_FORBIDDEN;
    if (!js)
        return WB_STE_BAD_REQUEST;
    if (wb_jid_parse(&who, js, strlen(js)) < 0 || wb_jid_bare(&who, bare, sizeof(bare)) < 0)
        return WB_STE_JID_MALFORMED;
    who.resource[0] = '\0';
    const muc_aff cur = muc_aff_of(r, &who);
    if (a >= MUC_AFF_ADMIN && actor < MUC_AFF_OWNER)
        return WB_STE_FORBIDDEN;
    if (cur >= MUC_AFF_ADMIN && actor < MUC_AFF_OWNER)
        return WB_STE_NOT_ALLOWED;
    if (cur == MUC_AFF_OWNER && a != MUC_AFF_OWNER && muc_count_aff(r, MUC_AFF_OWNER) == 1)
        return WB_STE_CONFLICT; /* the last owner stays */
    if (muc_aff_set(r, bare, a) < 0)
        return WB_STE_RESOURCE_CONSTRAINT;
    muc_aff_effects(w, r, &who, a, reason);
    return WB_STE_COUNT;
}

void muc_admin_iq(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const wb_msg *m)
{
    wb_el q = wb_st_first(m->xml, 0);
    wb_el item = wb_st_child(m->xml, q, "item", MUC_NS_ADMIN);
    if (item < 0) {
        muc_error(w, m, WB_STE_BAD_REQUEST, NULL);
        return;
    }
    if (m->type == WB_IT_GET) {
        muc_admin_list(w, r, m, item);
        return;
    }
    const muc_occupant *actor_o = muc_occ_by_real(r, &m->from);
    bool aff_changed = false;
    for (wb_el e = item; e >= 0; e = wb_st_next(m->xml, e)) {
        if (strcmp(wb_st_name(m->xml, e), "item") != 0)
            continue;
        const char *as = wb_st_attr(m->xml, e, "affiliation"), *rs = wb_st_attr(m->xml, e, "role");
        muc_aff a;
        muc_role role;
        wb_stanza_err err = WB_STE_BAD_REQUEST;
        if (as && muc_aff_parse(as, &a) == 0) {
            err = muc_set_aff(w, r, m, e, a);
            aff_changed |= err == WB_STE_COUNT;
        } else if (rs && muc_role_parse(rs, &role) == 0) {
            err = muc_set_role(w, r, actor_o, m, e, role);
        }
        actor_o = muc_occ_by_real(r, &m->from); /* a change may have removed the actor */
        if (err != WB_STE_COUNT) {
            if (aff_changed)
                muc_persist(w, st, r, NULL);
            muc_error(w, m, err, NULL);
            muc_maybe_drop(w, st, ws, r);
            return;
        }
    }
    if (aff_changed)
        muc_persist(w, st, r, m);
    else
        wb_modules_reply(w, m, NULL);
    muc_maybe_drop(w, st, ws, r); /* the last occupant may have been kicked or banned */
}

/* ---- muc#owner: the configuration form ---- */

static void muc_form_field(wb_buf *b, const char *var, const char *type, const char *label,
                           const char *value)
{
    wb_buf_printf(b, "<field var='%s' type='%s' label='%s'><value>", var, type, label);
    wb_buf_xml_escape_str(b, value ? value : "");
    wb_buf_puts(b, "</value></field>");
}

static void muc_form_bool(wb_buf *b, const char *var, const char *label, bool v)
{
    muc_form_field(b, var, "boolean", label, v ? "1" : "0");
}

static const char *const muc_pm_names[] = {"none", "moderators", "participants", "anyone"};

static void muc_config_form(wb_worker *w, const muc_room *r, const wb_msg *m)
{
    const muc_rconf *c = &r->cfg;
    char n[16];
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" MUC_NS_OWNER "'><x xmlns='" MUC_NS_DATA "' type='form'>"
                    "<title>Room configuration</title><field var='FORM_TYPE' type='hidden'>"
                    "<value>" MUC_NS "#roomconfig</value></field>");
    muc_form_field(&b, "muc#roomconfig_roomname", "text-single", "Name", c->name);
    muc_form_field(&b, "muc#roomconfig_roomdesc", "text-single", "Description", c->desc);
    muc_form_bool(&b, "muc#roomconfig_persistentroom", "Persistent", c->persistent);
    muc_form_bool(&b, "muc#roomconfig_publicroom", "Listed in the directory", c->public_room);
    muc_form_bool(&b, "muc#roomconfig_membersonly", "Members only", c->members_only);
    muc_form_bool(&b, "muc#roomconfig_passwordprotectedroom", "Password protected",
                  c->password_protected);
    muc_form_field(&b, "muc#roomconfig_roomsecret", "text-private", "Password", c->password);
    muc_form_bool(&b, "muc#roomconfig_moderatedroom", "Moderated", c->moderated);
    wb_buf_printf(&b,
                  "<field var='muc#roomconfig_whois' type='list-single' label='Who may see "
                  "real JIDs'><value>%s</value><option><value>moderators</value></option>"
                  "<option><value>anyone</value></option></field>",
                  c->nonanonymous ? "anyone" : "moderators");
    muc_form_bool(&b, "muc#roomconfig_changesubject", "Occupants may change the subject",
                  c->change_subject);
    muc_form_bool(&b, "muc#roomconfig_allowinvites", "Occupants may invite", c->allow_invites);
    wb_buf_printf(&b,
                  "<field var='muc#roomconfig_allowpm' type='list-single' label='Who may send "
                  "private messages'><value>%s</value>",
                  muc_pm_names[c->allow_pm]);
    for (size_t i = 0; i < 4; i++)
        wb_buf_printf(&b, "<option><value>%s</value></option>", muc_pm_names[i]);
    wb_buf_puts(&b, "</field>");
    snprintf(n, sizeof(n), "%d", c->max_users);
    muc_form_field(&b, "muc#roomconfig_maxusers", "text-single", "Maximum occupants", n);
    snprintf(n, sizeof(n), "%d", c->history_length);
    muc_form_field(&b, "muc#roomconfig_historylength", "text-single", "Messages of history", n);
    muc_form_bool(&b, "muc#roomconfig_enablearchiving", "Archive messages (persistent rooms)",
                  c->archiving);
    snprintf(n, sizeof(n), "%lld", (long long)c->expiry);
    muc_form_field(&b, "warbler#roomconfig_expiry", "text-single",
                   "Seconds archived messages are kept (0: no limit)", n);
    wb_buf_puts(&b, "</x></query>");
    if (b.failed)
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b.data);
    wb_buf_free(&b);
}

static bool muc_bool_value(const char *v)
{
    return strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
}

static int muc_set_str(char **dst, const char *v)
{
    char *s = *v ? strdup(v) : NULL;
    if (*v && !s)
        return -1;
    if (*dst)
        sodium_memzero(*dst, strlen(*dst));
    free(*dst);
    *dst = s;
    return 0;
}

/* Applies one submitted field to c; -1 when its value is not acceptable. */
static int muc_apply_field(const muc_state *st, muc_rconf *c, int *hist, const char *var,
                           const char *v)
{
    char *end;
    long n;
    if (strcmp(var, "muc#roomconfig_roomname") == 0)
        return muc_set_str(&c->name, v);
    if (strcmp(var, "muc#roomconfig_roomdesc") == 0)
        return muc_set_str(&c->desc, v);
    if (strcmp(var, "muc#roomconfig_roomsecret") == 0)
        return muc_set_str(&c->password, v);
    if (strcmp(var, "muc#roomconfig_persistentroom") == 0)
        c->persistent = muc_bool_value(v);
    else if (strcmp(var, "muc#roomconfig_publicroom") == 0)
        c->public_room = muc_bool_value(v);
    else if (strcmp(var, "muc#roomconfig_membersonly") == 0)
        c->members_only = muc_bool_value(v);
    else if (strcmp(var, "muc#roomconfig_passwordprotectedroom") == 0)
        c->password_protected = muc_bool_value(v);
    else if (strcmp(var, "muc#roomconfig_moderatedroom") == 0)
        c->moderated = muc_bool_value(v);
    else if (strcmp(var, "muc#roomconfig_changesubject") == 0)
        c->change_subject = muc_bool_value(v);
    else if (strcmp(var, "muc#roomconfig_allowinvites") == 0)
        c->allow_invites = muc_bool_value(v);
    else if (strcmp(var, "muc#roomconfig_enablearchiving") == 0 ||
             strcmp(var, "muc#roomconfig_enablelogging") == 0)
        c->archiving = muc_bool_value(v);
    else if (strcmp(var, "warbler#roomconfig_expiry") == 0) {
        const long long e = strtoll(v, &end, 10);
        if (*end || e < 0 || e > WB_RETENTION_MAX_SECONDS)
            return -1;
        c->expiry = e;
    } else if (strcmp(var, "muc#roomconfig_whois") == 0) {
        if (strcmp(v, "anyone") != 0 && strcmp(v, "moderators") != 0)
            return -1;
        c->nonanonymous = strcmp(v, "anyone") == 0;
    } else if (strcmp(var, "muc#roomconfig_allowpm") == 0) {
        int k = 0;
        while (k < 4 && strcmp(v, muc_pm_names[k]) != 0)
            k++;
        if (k == 4 && strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
            return -1;
        c->allow_pm = k < 4 ? (muc_pm)k : strcmp(v, "1") == 0 ? MUC_PM_ANYONE : MUC_PM_NONE;
    } else if (strcmp(var, "muc#roomconfig_maxusers") == 0) {
        n = strtol(v, &end, 10);
        if (*end || n < 1 || n > st->conf.max_occupants)
            return -1;
        c->max_users = (int)n;
    } else if (strcmp(var, "muc#roomconfig_historylength") == 0 ||
               strcmp(var, "muc#maxhistoryfetch") == 0) {
        n = strtol(v, &end, 10);
        if (*end || n < 0 || n > st->conf.history_max)
            return -1;
        *hist = (int)n;
    }
    return 0;
}

/* Reads the submitted form into a copy of the room's configuration; -1 when not acceptable. */
static int muc_read_form(const muc_state *st, const muc_room *r, const wb_msg *m, wb_el x,
                         muc_rconf *c, int *hist)
{
    *c = r->cfg;
    c->name = r->cfg.name ? strdup(r->cfg.name) : NULL;
    c->desc = r->cfg.desc ? strdup(r->cfg.desc) : NULL;
    c->password = r->cfg.password ? strdup(r->cfg.password) : NULL;
    *hist = r->cfg.history_length;
    if ((r->cfg.name && !c->name) || (r->cfg.desc && !c->desc) || (r->cfg.password && !c->password))
        return -1;
    for (wb_el f = wb_st_child(m->xml, x, "field", MUC_NS_DATA); f >= 0;
         f = wb_st_next(m->xml, f)) {
        const char *var = wb_st_attr(m->xml, f, "var");
        wb_el v = wb_st_child(m->xml, f, "value", MUC_NS_DATA);
        if (!var || strcmp(wb_st_name(m->xml, f), "field") != 0)
            continue;
        if (muc_apply_field(st, c, hist, var, v >= 0 ? wb_st_text(m->xml, v, NULL) : "") < 0)
            return -1;
    }
    if (c->password_protected && (!c->password || !*c->password))
        return -1;
    return 0;
}

static void muc_rconf_free(muc_rconf *c)
{
    free(c->name);
    free(c->desc);
    if (c->password)
        sodium_memzero(c->password, strlen(c->password));
    free(c->password);
}

/* What a new configuration does to the occupants: non-members leave a room that became
 * members-only (322), roles follow moderation, real JIDs shown are announced (172/173). */
static void muc_config_effects(wb_worker *w, muc_room *r, const muc_rconf *old)
{
    muc_occupant *o = r->occ;
    while (o) {
        muc_occupant *next = o->next;
        const muc_aff a = muc_aff_of(r, &o->real);
        if (r->cfg.members_only && !old->members_only && a < MUC_AFF_MEMBER) {
            const int c322[] = {322};
            muc_occ_remove(w, r, o, c322, 1, NULL);
        } else if (r->cfg.moderated != old->moderated && o->role != MUC_ROLE_MODERATOR &&
                   o->role != muc_role_default(r, a)) {
            o->role = muc_role_default(r, a);
            muc_occ_broadcast(w, r, o, NULL, 0, NULL);
        }
        o = next;
    }
    const int code =
        r->cfg.nonanonymous != old->nonanonymous ? (r->cfg.nonanonymous ? 172 : 173) : 104;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, " from='");
    wb_buf_xml_escape_str(&b, r->jid_s);
    wb_buf_printf(&b, "' type='groupchat'><x xmlns='" MUC_NS_USER "'><status code='%d'/>", code);
    const bool logged = r->cfg.persistent && r->cfg.archiving;
    if (logged != (old->persistent && old->archiving)) /* archiving began (170) or ended (171) */
        wb_buf_printf(&b, "<status code='%d'/>", logged ? 170 : 171);
    wb_buf_puts(&b, "</x></message>");
    for (const muc_occupant *to = r->occ; to && !b.failed; to = to->next)
        muc_send_tail(w, WB_MSG_MESSAGE, WB_MT_GROUPCHAT, &r->jid, to, b.data, b.len);
    wb_buf_free(&b);
}

static void muc_config_submit(wb_worker *w, muc_state *st, muc_room *r, const wb_msg *m, wb_el x)
{
    muc_rconf c, old;
    int hist;
    if (muc_read_form(st, r, m, x, &c, &hist) < 0) {
        muc_rconf_free(&c);
        muc_error(w, m, WB_STE_NOT_ACCEPTABLE, NULL);
        return;
    }
    if (hist != r->cfg.history_length && muc_hist_resize(r, hist) < 0) {
        muc_rconf_free(&c);
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    c.history_length = hist;
    old = r->cfg;
    r->cfg = c;
    const bool was_locked = r->locked;
    r->locked = false;
    if (!was_locked)
        muc_config_effects(w, r, &old);
    muc_rconf_free(&old);
    muc_dir_update(st, r);
    muc_persist(w, st, r, m);
}

/* Every occupant leaves with the destroy element d (XML). */
static void muc_destroy_notify(wb_worker *w, muc_room *r, const wb_buf *d)
{
    for (const muc_occupant *o = r->occ; o && !d->failed; o = o->next) {
        wb_buf t;
        wb_jid from;
        wb_buf_init(&t);
        wb_buf_puts(&t, " from='");
        wb_buf_xml_escape_str(&t, r->jid_s);
        wb_buf_puts(&t, "/");
        wb_buf_xml_escape_str(&t, o->nick);
        wb_buf_puts(&t, "' type='unavailable'><x xmlns='" MUC_NS_USER "'><item affiliation='none' "
                        "role='none'/>");
        wb_buf_append(&t, d->data, d->len);
        wb_buf_puts(&t, "<status code='110'/></x></presence>");
        muc_room_nick_jid(r, o->nick, &from);
        if (!t.failed)
            muc_send_tail(w, WB_MSG_PRESENCE, WB_PT_UNAVAILABLE, &from, o, t.data, t.len);
        wb_buf_free(&t);
    }
}

void muc_audit(wb_worker *w, const char *actor, const char *action, const char *room,
               const char *reason)
{
    char who[MUC_JID_BUF + 8] = "system";
    if (actor)
        snprintf(who, sizeof(who), "user:%s", actor);
    const wb_audit_event ev = {
        .actor = who, .action = action, .target = room, .ok = true, .reason = reason};
    wb_audit_record(w->srv->audit, &ev);
}

void muc_room_vanished(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const char *reason)
{
    wb_buf d;
    wb_buf_init(&d);
    wb_buf_puts(&d, "<destroy><reason>");
    wb_buf_xml_escape_str(&d, reason);
    wb_buf_puts(&d, "</reason></destroy>");
    muc_destroy_notify(w, r, &d);
    wb_buf_free(&d);
    wb_info("muc: room %s destroyed (%s)", r->jid_s, reason);
    muc_audit(w, NULL, "room.destroy", r->jid_s, reason);
    r->stored = false; /* its row is already gone */
    muc_room_drop(w, st, ws, r);
}

/* XEP-0045 10.9: every occupant leaves with the destroy notice, then the room goes. */
static void muc_destroy(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const wb_msg *m,
                        wb_el d)
{
    const char *alt = wb_st_attr(m->xml, d, "jid");
    wb_el re = wb_st_child(m->xml, d, "reason", MUC_NS_OWNER);
    wb_jid altj;
    if (alt && wb_jid_parse(&altj, alt, strlen(alt)) < 0) {
        muc_error(w, m, WB_STE_JID_MALFORMED, NULL);
        return;
    }
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<destroy");
    if (alt) {
        wb_buf_puts(&b, " jid='");
        wb_buf_xml_escape_str(&b, alt);
        wb_buf_puts(&b, "'");
    }
    wb_buf_puts(&b, ">");
    if (re >= 0) {
        wb_buf_puts(&b, "<reason>");
        wb_buf_xml_escape_str(&b, wb_st_text(m->xml, re, NULL));
        wb_buf_puts(&b, "</reason>");
    }
    wb_buf_puts(&b, "</destroy>");
    muc_destroy_notify(w, r, &b);
    wb_buf_free(&b);
    wb_info("muc: room %s destroyed by its owner", r->jid_s);
    char owner[MUC_JID_BUF];
    if (wb_jid_bare(&m->from, owner, sizeof(owner)) >= 0)
        muc_audit(w, owner, "room.destroy", r->jid_s, NULL);
    wb_modules_reply(w, m, NULL);
    muc_room_drop(w, st, ws, r);
}

void muc_owner_iq(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const wb_msg *m)
{
    wb_el q = wb_st_first(m->xml, 0);
    if (muc_aff_of(r, &m->from) != MUC_AFF_OWNER) {
        muc_error(w, m, WB_STE_FORBIDDEN, NULL);
        return;
    }
    if (m->type == WB_IT_GET) {
        muc_config_form(w, r, m);
        return;
    }
    wb_el d = wb_st_child(m->xml, q, "destroy", MUC_NS_OWNER);
    wb_el x = wb_st_child(m->xml, q, "x", MUC_NS_DATA);
    const char *type = x >= 0 ? wb_st_attr(m->xml, x, "type") : NULL;
    if (d >= 0) {
        muc_destroy(w, st, ws, r, m, d);
    } else if (type && strcmp(type, "cancel") == 0) {
        wb_modules_reply(w, m, NULL);
        if (r->locked) { /* XEP-0045 10.1.3: cancelling the initial configuration */
            for (muc_occupant *o = r->occ; o; o = r->occ)
                muc_occ_remove(w, r, o, NULL, 0, NULL);
            muc_room_drop(w, st, ws, r);
        }
    } else if (type && strcmp(type, "submit") == 0) {
        muc_config_submit(w, st, r, m, x);
        muc_maybe_drop(w, st, ws, r); /* members-only may have emptied it */
    } else {
        muc_error(w, m, WB_STE_BAD_REQUEST, NULL);
    }
}
