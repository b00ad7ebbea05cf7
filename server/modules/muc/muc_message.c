/* MUC messages: groupchat broadcast (built once, only 'to' varies; a XEP-0359 stanza-id and a
 * XEP-0421 occupant-id added by the room), subject changes, history on join, private messages,
 * mediated invitations and voice requests, and self-ping (XEP-0410). Not for presence. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "muc_int.h"
#include "wb_log.h"
#include "wb_store_archive.h"

#define MUC_NS_REQUEST MUC_NS "#request"

/* The children of m as received: the bytes between its start and end tags ("" when empty). */
static const char *muc_inner(const wb_msg *m, size_t *len)
{
    size_t raw_len, tag = wb_st_start_tag_len(m->xml);
    const char *raw = wb_st_raw(m->xml, &raw_len);
    *len = 0;
    if (tag >= raw_len)
        return "";
    const char *end = raw + raw_len;
    while (end > raw + tag && end[-1] != '<')
        end--;
    if (end <= raw + tag)
        return "";
    *len = (size_t)(end - 1 - (raw + tag));
    return raw + tag;
}

/* Whether m carries something only the room may add (a stanza-id by the room, an occupant-id). */
static bool muc_forged(const muc_room *r, const wb_msg *m)
{
    for (wb_el e = wb_st_first(m->xml, 0); e >= 0; e = wb_st_next(m->xml, e)) {
        const char *ns = wb_st_ns(m->xml, e), *by = wb_st_attr(m->xml, e, "by");
        if (strcmp(ns, MUC_NS_OID) == 0 ||
            (strcmp(ns, MUC_NS_SID) == 0 && by && strcmp(by, r->jid_s) == 0))
            return true;
    }
    return false;
}

/* Whether m carries an end-to-end encrypted payload (OMEMO, OpenPGP), archived like a body. */
static bool muc_encrypted(const wb_msg *m)
{
    static const char *const ns[] = {"eu.siacs.conversations.axolotl", "urn:xmpp:omemo:2",
                                     "urn:xmpp:openpgp:0"};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        if (wb_st_child(m->xml, 0, "encrypted", ns[i]) >= 0 ||
            wb_st_child(m->xml, 0, "openpgp", ns[i]) >= 0)
            return true;
    return false;
}

/* Counts one message against the occupant's rate (muc.rate_messages per muc.rate_window). */
static bool muc_rate_ok(const muc_state *st, muc_occupant *o)
{
    const time_t now = time(NULL);
    if (now - o->rate_start >= st->conf.rate_window) {
        o->rate_start = now;
        o->rate_count = 0;
    }
    return ++o->rate_count <= st->conf.rate_messages;
}

void muc_hist_push(muc_room *r, const char *tail, size_t len, time_t when, const char *sid,
                   const char *author)
{
    if (!r->hist_cap)
        return;
    char *copy = malloc(len + 1), *who = author ? strdup(author) : NULL;
    if (!copy || (author && !who)) {
        free(copy);
        free(who);
        return;
    }
    memcpy(copy, tail, len);
    copy[len] = '\0';
    muc_hist *e;
    if (r->hist_n < r->hist_cap) {
        e = &r->hist[(r->hist_head + r->hist_n++) % r->hist_cap];
    } else {
        e = &r->hist[r->hist_head];
        r->hist_head = (r->hist_head + 1) % r->hist_cap;
        free(e->tail);
        free(e->author);
    }
    e->tail = copy;
    e->len = len;
    e->when = when;
    e->author = who;
    e->gone = false;
    snprintf(e->sid, sizeof(e->sid), "%s", sid ? sid : "");
}

/* Broadcasts a groupchat message from o (inner: its children as received, or room-made XML). */
static void muc_broadcast(wb_worker *w, muc_room *r, const muc_occupant *o, const char *id,
                          const char *inner, size_t inner_len, bool keep)
{
    char sid[WB_ARCHIVE_UUID_LEN + 1];
    wb_jid from;
    wb_buf tail;
    wb_store_archive_uuid(sid);
    muc_room_nick_jid(r, o->nick, &from);
    wb_buf_init(&tail);
    wb_buf_puts(&tail, " from='");
    wb_buf_xml_escape_str(&tail, r->jid_s);
    wb_buf_puts(&tail, "/");
    wb_buf_xml_escape_str(&tail, o->nick);
    wb_buf_puts(&tail, "' type='groupchat'");
    if (id) {
        wb_buf_puts(&tail, " id='");
        wb_buf_xml_escape_str(&tail, id);
        wb_buf_puts(&tail, "'");
    }
    wb_buf_puts(&tail, ">");
    wb_buf_append(&tail, inner, inner_len);
    wb_buf_printf(&tail, "<stanza-id xmlns='" MUC_NS_SID "' id='%s' by='", sid);
    wb_buf_xml_escape_str(&tail, r->jid_s);
    wb_buf_printf(&tail, "'/><occupant-id xmlns='" MUC_NS_OID "' id='%s'/>", o->oid);
    const size_t hist_len = tail.len;
    wb_buf_puts(&tail, "</message>");
    if (!tail.failed) {
        for (const muc_occupant *to = r->occ; to; to = to->next)
            muc_send_tail(w, WB_MSG_MESSAGE, WB_MT_GROUPCHAT, &from, to, tail.data, tail.len);
        char author[MUC_JID_BUF];
        if (keep && wb_jid_bare(&o->real, author, sizeof(author)) >= 0) {
            muc_hist_push(r, tail.data, hist_len, time(NULL), sid, author);
            muc_mam_archive(w, r, o, sid, tail.data, hist_len);
        }
    }
    wb_buf_free(&tail);
}

static void muc_subject_change(wb_worker *w, muc_state *st, muc_room *r, muc_occupant *o,
                               const wb_msg *m, wb_el subj)
{
    if (o->role != MUC_ROLE_MODERATOR &&
        !(r->cfg.change_subject && o->role >= MUC_ROLE_PARTICIPANT)) {
        muc_error(w, m, WB_STE_FORBIDDEN, NULL);
        return;
    }
    char *s = strdup(wb_st_text(m->xml, subj, NULL)), *nick = strdup(o->nick);
    if (!s || !nick) {
        free(s);
        free(nick);
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    free(r->subject);
    free(r->subject_nick);
    r->subject = s;
    r->subject_nick = nick;
    size_t len;
    const char *inner = muc_inner(m, &len);
    muc_broadcast(w, r, o, m->id, inner, len, false);
    muc_persist(w, st, r, NULL);
}

void muc_send_subject(wb_worker *w, const muc_room *r, const muc_occupant *o)
{
    wb_buf b;
    wb_jid from = r->jid;
    wb_buf_init(&b);
    wb_buf_puts(&b, " from='");
    wb_buf_xml_escape_str(&b, r->jid_s);
    if (r->subject_nick) {
        wb_buf_puts(&b, "/");
        wb_buf_xml_escape_str(&b, r->subject_nick);
        muc_room_nick_jid(r, r->subject_nick, &from);
    }
    wb_buf_puts(&b, "' type='groupchat'><subject>");
    wb_buf_xml_escape_str(&b, r->subject ? r->subject : "");
    wb_buf_puts(&b, "</subject></message>");
    if (!b.failed)
        muc_send_tail(w, WB_MSG_MESSAGE, WB_MT_GROUPCHAT, &from, o, b.data, b.len);
    wb_buf_free(&b);
}

/* An XEP-0082 date-time (UTC or with an offset) as seconds since the epoch; -1 if malformed. */
time_t muc_parse_stamp(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    if (*p == '.')
        while (*++p >= '0' && *p <= '9')
            ;
    time_t t = timegm(&tm);
    if (*p == 'Z' && !p[1])
        return t;
    int hh, mm;
    if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2)
        return *p == '+' ? t - (hh * 3600 + mm * 60) : t + (hh * 3600 + mm * 60);
    return -1;
}

static long muc_hist_param(const wb_msg *m, wb_el h, const char *name)
{
    const char *v = h >= 0 ? wb_st_attr(m->xml, h, name) : NULL;
    char *end;
    if (!v)
        return -1;
    const long n = strtol(v, &end, 10);
    return *end || n < 0 ? -1 : n;
}

/* How many of the newest entries the join's <history/> asks for (XEP-0045 7.2.13). */
static size_t muc_hist_count(const muc_room *r, const muc_occupant *o, const wb_msg *join)
{
    wb_el x = wb_st_child(join->xml, 0, "x", MUC_NS);
    wb_el h = x >= 0 ? wb_st_child(join->xml, x, "history", MUC_NS) : -1;
    const long maxstanzas = muc_hist_param(join, h, "maxstanzas");
    const long maxchars = muc_hist_param(join, h, "maxchars");
    const long seconds = muc_hist_param(join, h, "seconds");
    const char *since_s = h >= 0 ? wb_st_attr(join->xml, h, "since") : NULL;
    const time_t since = since_s ? muc_parse_stamp(since_s) : -1;
    const time_t now = time(NULL);
    size_t n = 0, chars = 0;
    while (n < r->hist_n) {
        const muc_hist *e = &r->hist[(r->hist_head + r->hist_n - 1 - n) % r->hist_cap];
        if (e->gone) {
            n++;
            continue;
        }
        /* the stanza as sent: "<message to='...'" + tail + delay + "</message>" */
        const size_t size = 18 + strlen(o->real_s) + e->len + 120 + strlen(r->jid_s);
        if (maxstanzas >= 0 && n >= (size_t)maxstanzas)
            break;
        if (maxchars >= 0 && chars + size > (size_t)maxchars)
            break;
        if (seconds >= 0 && now - e->when > seconds)
            break;
        if (since_s && (since < 0 || e->when < since))
            break;
        chars += size;
        n++;
    }
    return n;
}

/* Entries past the room's expiry (warbler#roomconfig_expiry) are no longer history. */
static void muc_hist_expire(const wb_worker *w, muc_room *r)
{
    if (r->cfg.expiry <= 0)
        return;
    const int64_t now_ms = (int64_t)time(NULL) * 1000;
    const int64_t life_ms = r->cfg.expiry * w->srv->cfg->retention_unit_ms;
    for (size_t i = 0; i < r->hist_n; i++) {
        muc_hist *e = &r->hist[(r->hist_head + i) % r->hist_cap];
        if (now_ms - (int64_t)e->when * 1000 >= life_ms)
            e->gone = true;
    }
}

void muc_send_history(wb_worker *w, muc_room *r, const muc_occupant *o, const wb_msg *join)
{
    muc_hist_expire(w, r);
    const size_t n = muc_hist_count(r, o, join);
    for (size_t i = r->hist_n - n; i < r->hist_n; i++) {
        const muc_hist *e = &r->hist[(r->hist_head + i) % r->hist_cap];
        if (e->gone)
            continue;
        char stamp[32];
        struct tm tm;
        wb_buf b;
        wb_jid from;
        gmtime_r(&e->when, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        wb_buf_init(&b);
        wb_buf_append(&b, e->tail, e->len);
        wb_buf_printf(&b, "<delay xmlns='" MUC_NS_DELAY "' stamp='%s' from='", stamp);
        wb_buf_xml_escape_str(&b, r->jid_s);
        wb_buf_puts(&b, "'/></message>");
        from = r->jid;
        if (!b.failed)
            muc_send_tail(w, WB_MSG_MESSAGE, WB_MT_GROUPCHAT, &from, o, b.data, b.len);
        wb_buf_free(&b);
    }
}

/* A private message to room/nick, passed to that occupant's real JID. */
static void muc_private(wb_worker *w, muc_room *r, muc_occupant *o, const wb_msg *m)
{
    const muc_occupant *to = muc_occ_by_nick(r, m->to.resource);
    const muc_pm pm = r->cfg.allow_pm;
    if (m->type == WB_MT_GROUPCHAT) {
        muc_error(w, m, WB_STE_BAD_REQUEST, NULL);
        return;
    }
    if (!to) {
        muc_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        return;
    }
    if (pm == MUC_PM_NONE || (pm == MUC_PM_MODERATORS && o->role != MUC_ROLE_MODERATOR) ||
        (pm == MUC_PM_PARTICIPANTS && o->role < MUC_ROLE_PARTICIPANT)) {
        muc_error(w, m, WB_STE_FORBIDDEN, "Private messages are not allowed in this room");
        return;
    }
    size_t len;
    const char *inner = muc_inner(m, &len);
    wb_jid from;
    wb_buf b;
    muc_room_nick_jid(r, o->nick, &from);
    wb_buf_init(&b);
    wb_buf_puts(&b, " from='");
    wb_buf_xml_escape_str(&b, r->jid_s);
    wb_buf_puts(&b, "/");
    wb_buf_xml_escape_str(&b, o->nick);
    wb_buf_printf(&b, "' type='%s'", wb_msg_type_name(m->type));
    if (m->id) {
        wb_buf_puts(&b, " id='");
        wb_buf_xml_escape_str(&b, m->id);
        wb_buf_puts(&b, "'");
    }
    wb_buf_puts(&b, ">");
    wb_buf_append(&b, inner, len);
    wb_buf_printf(
        &b, "<x xmlns='" MUC_NS_USER "'/><occupant-id xmlns='" MUC_NS_OID "' id='%s'/></message>",
        o->oid);
    if (!b.failed)
        muc_send_tail(w, WB_MSG_MESSAGE, m->type, &from, to, b.data, b.len);
    wb_buf_free(&b);
}

/* XEP-0045 7.8.2: a mediated invitation; members-only rooms add the invitee as a member. */
static void muc_invite(wb_worker *w, muc_state *st, muc_room *r, muc_occupant *o, const wb_msg *m,
                       wb_el inv)
{
    const char *to_s = wb_st_attr(m->xml, inv, "to");
    wb_el reason = wb_st_child(m->xml, inv, "reason", MUC_NS_USER);
    const muc_aff aff = muc_aff_of(r, &o->real);
    wb_jid to;
    char bare[MUC_JID_BUF], inviter[MUC_JID_BUF];
    if (!to_s || wb_jid_parse(&to, to_s, strlen(to_s)) < 0 ||
        wb_jid_bare(&to, bare, sizeof(bare)) < 0) {
        muc_error(w, m, WB_STE_JID_MALFORMED, NULL);
        return;
    }
    if (r->cfg.members_only && aff < MUC_AFF_ADMIN && !r->cfg.allow_invites) {
        muc_error(w, m, WB_STE_FORBIDDEN, NULL);
        return;
    }
    to.resource[0] = '\0';
    if (r->cfg.members_only && muc_aff_of(r, &to) == MUC_AFF_NONE) {
        if (muc_aff_set(r, bare, MUC_AFF_MEMBER) < 0) {
            muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
            return;
        }
        muc_persist(w, st, r, NULL);
    }
    wb_jid_bare(&o->real, inviter, sizeof(inviter));
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<message from='");
    wb_buf_xml_escape_str(&b, r->jid_s);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, bare);
    wb_buf_puts(&b, "'><x xmlns='" MUC_NS_USER "'><invite from='");
    wb_buf_xml_escape_str(&b, inviter);
    wb_buf_puts(&b, "'>");
    if (reason >= 0) {
        wb_buf_puts(&b, "<reason>");
        wb_buf_xml_escape_str(&b, wb_st_text(m->xml, reason, NULL));
        wb_buf_puts(&b, "</reason>");
    }
    wb_buf_puts(&b, "</invite>");
    if (r->cfg.password_protected && r->cfg.password) {
        wb_buf_puts(&b, "<password>");
        wb_buf_xml_escape_str(&b, r->cfg.password);
        wb_buf_puts(&b, "</password>");
    }
    wb_buf_puts(&b, "</x><x xmlns='" MUC_NS_CONFERENCE "' jid='");
    wb_buf_xml_escape_str(&b, r->jid_s);
    wb_buf_puts(&b, "'/></message>");
    if (!b.failed)
        muc_send(w, WB_MSG_MESSAGE, WB_MT_NORMAL, &r->jid, &to, b.data, b.len);
    wb_buf_free(&b);
}

/* XEP-0045 7.13: a visitor asks for voice; the request goes to the moderators. */
static void muc_voice_request(wb_worker *w, muc_room *r, const muc_occupant *o, const wb_msg *m)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, " from='");
    wb_buf_xml_escape_str(&b, r->jid_s);
    wb_buf_puts(&b, "'><x xmlns='" MUC_NS_DATA "' type='form'><title>Voice request</title>"
                    "<field var='FORM_TYPE' type='hidden'><value>" MUC_NS_REQUEST "</value>"
                    "</field><field var='muc#role' type='list-single'><value>participant"
                    "</value></field><field var='muc#jid' type='jid-single'><value>");
    wb_buf_puts(&b, o->real_s);
    wb_buf_puts(&b, "</value></field><field var='muc#roomnick' type='text-single'><value>");
    wb_buf_xml_escape_str(&b, o->nick);
    wb_buf_puts(&b, "</value></field><field var='muc#request_allow' type='boolean'><value>0"
                    "</value></field></x></message>");
    for (const muc_occupant *to = r->occ; to && !b.failed; to = to->next)
        if (to->role == MUC_ROLE_MODERATOR)
            muc_send_tail(w, WB_MSG_MESSAGE, WB_MT_NORMAL, &r->jid, to, b.data, b.len);
    wb_buf_free(&b);
    (void)m;
}

/* The value of a field of the form x, or "". */
static const char *muc_form_value(const wb_msg *m, wb_el x, const char *var)
{
    for (wb_el f = wb_st_first(m->xml, x); f >= 0; f = wb_st_next(m->xml, f)) {
        const char *v = wb_st_attr(m->xml, f, "var");
        wb_el val = wb_st_child(m->xml, f, "value", MUC_NS_DATA);
        if (v && strcmp(v, var) == 0 && val >= 0)
            return wb_st_text(m->xml, val, NULL);
    }
    return "";
}

/* XEP-0045 8.6: a moderator answers a voice request (the form back, muc#request_allow). */
static void muc_voice_answer(wb_worker *w, muc_room *r, const wb_msg *m, wb_el form)
{
    const char *allow = muc_form_value(m, form, "muc#request_allow");
    muc_occupant *t = muc_occ_by_nick(r, muc_form_value(m, form, "muc#roomnick"));
    if (!t) {
        muc_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        return;
    }
    if ((strcmp(allow, "1") == 0 || strcmp(allow, "true") == 0) && t->role == MUC_ROLE_VISITOR) {
        t->role = MUC_ROLE_PARTICIPANT;
        muc_occ_broadcast(w, r, t, NULL, 0, NULL);
    }
}

/* A message of type normal to the room: an invitation or a voice request or its answer. */
static void muc_to_room(wb_worker *w, muc_state *st, muc_room *r, muc_occupant *o, const wb_msg *m)
{
    wb_el x = wb_st_child(m->xml, 0, "x", MUC_NS_USER);
    wb_el inv = x >= 0 ? wb_st_child(m->xml, x, "invite", MUC_NS_USER) : -1;
    wb_el form = wb_st_child(m->xml, 0, "x", MUC_NS_DATA);
    if (inv >= 0) {
        muc_invite(w, st, r, o, m, inv);
    } else if (form >= 0 && o->role == MUC_ROLE_VISITOR) {
        muc_voice_request(w, r, o, m);
    } else if (form >= 0 && o->role == MUC_ROLE_MODERATOR &&
               strcmp(muc_form_value(m, form, "FORM_TYPE"), MUC_NS "#request") == 0) {
        muc_voice_answer(w, r, m, form);
    } else {
        muc_error(w, m, WB_STE_BAD_REQUEST, NULL);
    }
}

void muc_message(wb_worker *w, muc_state *st, muc_room *r, const wb_msg *m)
{
    muc_occupant *o = muc_occ_by_real(r, &m->from);
    if (m->type == WB_T_ERROR)
        return;
    if (!o) {
        muc_error(w, m, WB_STE_NOT_ACCEPTABLE, "Only occupants may send messages to the room");
        return;
    }
    if (m->bytes_len > (size_t)st->conf.max_message_size) {
        muc_error(w, m, WB_STE_NOT_ACCEPTABLE, "Message too large");
        return;
    }
    if (!muc_rate_ok(st, o)) {
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, "Too many messages");
        return;
    }
    if (wb_jid_has_resource(&m->to)) {
        muc_private(w, r, o, m);
        return;
    }
    if (m->type != WB_MT_GROUPCHAT) {
        muc_to_room(w, st, r, o, m);
        return;
    }
    wb_el subj = wb_st_child(m->xml, 0, "subject", WB_NS_CLIENT);
    wb_el body = wb_st_child(m->xml, 0, "body", WB_NS_CLIENT);
    if (muc_forged(r, m)) {
        muc_error(w, m, WB_STE_BAD_REQUEST, NULL);
    } else if (subj >= 0 && body < 0) {
        muc_subject_change(w, st, r, o, m, subj);
    } else if (o->role < MUC_ROLE_PARTICIPANT) {
        muc_error(w, m, WB_STE_FORBIDDEN, "Visitors may not speak in this room");
    } else if (!muc_retract(w, r, o, m)) {
        size_t len;
        const char *inner = muc_inner(m, &len);
        muc_broadcast(w, r, o, m->id, inner, len, body >= 0 || muc_encrypted(m));
    }
}

void muc_broadcast_msg(wb_worker *w, muc_room *r, const muc_occupant *o, const wb_msg *m)
{
    size_t len;
    const char *inner = muc_inner(m, &len);
    muc_broadcast(w, r, o, m->id, inner, len, false);
}

/* An iq to room/nick: XEP-0410 self-ping is answered by the room; nothing else is passed on. */
void muc_occupant_iq(wb_worker *w, muc_room *r, const wb_msg *m)
{
    const muc_occupant *o = muc_occ_by_real(r, &m->from);
    wb_el q = m->xml ? wb_st_first(m->xml, 0) : -1;
    const bool ping = q >= 0 && strcmp(wb_st_ns(m->xml, q), MUC_NS_PING) == 0 &&
                      strcmp(wb_st_name(m->xml, q), "ping") == 0;
    if (!o)
        muc_error(w, m, WB_STE_NOT_ACCEPTABLE, NULL);
    else if (ping && m->type == WB_IT_GET && strcmp(o->nick, m->to.resource) == 0)
        wb_modules_reply(w, m, NULL);
    else if (!muc_occ_by_nick(r, m->to.resource))
        muc_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
    else
        muc_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
}
