/* MUC occupants (XEP-0045 section 7): joining (with every entry check), presence updates, nick
 * changes, leaving, and the presence broadcasts with their status codes. Each broadcast builds
 * the stanza once per variant (real JID shown or not) and varies only the 'to' address. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "muc_int.h"
#include "wb_log.h"

#define MUC_NS_CAPS "http://jabber.org/protocol/caps"

static void muc_send_one(wb_worker *w, wb_msg_kind kind, wb_msg_type type, const wb_jid *from,
                         const wb_jid *real, const char *real_s, const char *tail, size_t len)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<%s to='%s'", wb_msg_kind_name(kind), real_s);
    wb_buf_append(&b, tail, len);
    if (!b.failed)
        muc_send(w, kind, type, from, real, b.data, b.len);
    wb_buf_free(&b);
}

void muc_send_tail(wb_worker *w, wb_msg_kind kind, wb_msg_type type, const wb_jid *from,
                   const muc_occupant *to, const char *tail, size_t len)
{
    muc_send_one(w, kind, type, from, &to->real, to->real_s, tail, len);
    for (const muc_sess *s = to->more; s; s = s->next)
        muc_send_one(w, kind, type, from, &s->real, s->real_s, tail, len);
}

/* o as seen through one of its sessions only (what only that session must get). */
static muc_occupant muc_occ_view(const muc_occupant *o, const wb_jid *real, char *real_s)
{
    muc_occupant v = *o;
    v.next = NULL;
    v.more = NULL;
    v.real = *real;
    v.real_s = real_s;
    return v;
}

/* A full JID as text escaped for attributes (malloc'd), or NULL. */
static char *muc_real_str(const wb_jid *real)
{
    char s[MUC_JID_BUF];
    wb_buf esc;
    wb_buf_init(&esc);
    if (wb_jid_full(real, s, sizeof(s)) < 0 || wb_buf_xml_escape_str(&esc, s) < 0) {
        wb_buf_free(&esc);
        return NULL;
    }
    return wb_buf_steal(&esc, NULL);
}

/* The presence after "<presence to='...'": o as seen by a recipient. */
static void muc_pres_tail(wb_buf *b, const muc_room *r, const muc_occupant *o, bool unavailable,
                          bool with_jid, const char *new_nick, const int *codes, size_t n,
                          const char *reason)
{
    wb_buf_puts(b, " from='");
    wb_buf_xml_escape_str(b, r->jid_s);
    wb_buf_puts(b, "/");
    wb_buf_xml_escape_str(b, o->nick);
    wb_buf_puts(b, unavailable ? "' type='unavailable'>" : "'>");
    if (!unavailable && o->pres)
        wb_buf_puts(b, o->pres);
    wb_buf_printf(b, "<x xmlns='" MUC_NS_USER "'><item affiliation='%s' role='%s'",
                  muc_aff_name(muc_aff_of(r, &o->real)), muc_role_name(o->role));
    if (with_jid)
        wb_buf_printf(b, " jid='%s'", o->real_s);
    if (new_nick) {
        wb_buf_puts(b, " nick='");
        wb_buf_xml_escape_str(b, new_nick);
        wb_buf_puts(b, "'");
    }
    if (reason) {
        wb_buf_puts(b, "><reason>");
        wb_buf_xml_escape_str(b, reason);
        wb_buf_puts(b, "</reason></item>");
    } else {
        wb_buf_puts(b, "/>");
    }
    for (size_t i = 0; i < n; i++)
        wb_buf_printf(b, "<status code='%d'/>", codes[i]);
    wb_buf_printf(b, "</x><occupant-id xmlns='" MUC_NS_OID "' id='%s'/></presence>", o->oid);
}

/* Whether `to` may see real JIDs (non-anonymous room, or a moderator). */
static bool muc_sees_jids(const muc_room *r, const muc_occupant *to)
{
    return r->cfg.nonanonymous || to->role == MUC_ROLE_MODERATOR;
}

/* Sends o's presence to every occupant (o itself included if still listed, with 110 and the
 * self codes); others get `codes`. */
static void muc_pres_broadcast(wb_worker *w, const muc_room *r, const muc_occupant *o,
                               bool unavailable, const char *new_nick, const int *codes, size_t n,
                               const int *self_codes, size_t self_n, const char *reason)
{
    wb_buf plain, withjid, self;
    wb_jid from;
    wb_buf_init(&plain);
    wb_buf_init(&withjid);
    wb_buf_init(&self);
    muc_pres_tail(&plain, r, o, unavailable, false, new_nick, codes, n, reason);
    muc_pres_tail(&withjid, r, o, unavailable, true, new_nick, codes, n, reason);
    muc_pres_tail(&self, r, o, unavailable, true, new_nick, self_codes, self_n, reason);
    muc_room_nick_jid(r, o->nick, &from);
    const wb_msg_type t = unavailable ? WB_PT_UNAVAILABLE : WB_PT_AVAILABLE;
    if (!plain.failed && !withjid.failed && !self.failed) {
        for (const muc_occupant *to = r->occ; to; to = to->next) {
            if (to == o)
                continue;
            const wb_buf *b = muc_sees_jids(r, to) ? &withjid : &plain;
            muc_send_tail(w, WB_MSG_PRESENCE, t, &from, to, b->data, b->len);
        }
        muc_send_tail(w, WB_MSG_PRESENCE, t, &from, o, self.data, self.len);
    }
    wb_buf_free(&plain);
    wb_buf_free(&withjid);
    wb_buf_free(&self);
}

/* The self codes: 110, plus 100 in a non-anonymous room, plus extra. */
static size_t muc_self_codes(const muc_room *r, const int *extra, size_t n, int *out, size_t max)
{
    size_t k = 0;
    out[k++] = 110;
    if (r->cfg.nonanonymous)
        out[k++] = 100;
    if (r->cfg.persistent && r->cfg.archiving)
        out[k++] = 170;
    for (size_t i = 0; i < n && k < max; i++)
        out[k++] = extra[i];
    return k;
}

void muc_occ_broadcast(wb_worker *w, muc_room *r, muc_occupant *o, const int *codes, size_t n,
                       const char *reason)
{
    int self[8];
    const size_t sn = muc_self_codes(r, codes, n, self, 8);
    muc_pres_broadcast(w, r, o, false, NULL, codes, n, self, sn, reason);
}

void muc_occ_remove(wb_worker *w, muc_room *r, muc_occupant *o, const int *codes, size_t n,
                    const char *reason)
{
    int self[8];
    const size_t sn = muc_self_codes(r, codes, n, self, 8);
    o->role = MUC_ROLE_NONE;
    muc_pres_broadcast(w, r, o, true, NULL, codes, n, self, sn, reason);
    for (muc_occupant **p = &r->occ; *p; p = &(*p)->next) {
        if (*p == o) {
            *p = o->next;
            r->n_occ--;
            break;
        }
    }
    muc_occ_free(o);
}

/* <show/>, <status/>, <priority/> and the caps element of a presence, as XML. */
static char *muc_pres_payload(const wb_msg *m)
{
    static const char *const simple[] = {"show", "status", "priority"};
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "");
    for (size_t i = 0; i < 3; i++) {
        wb_el e = wb_st_child(m->xml, 0, simple[i], NULL);
        if (e < 0 || strcmp(wb_st_ns(m->xml, e), WB_NS_CLIENT) != 0)
            continue;
        wb_buf_printf(&b, "<%s>", simple[i]);
        wb_buf_xml_escape_str(&b, wb_st_text(m->xml, e, NULL));
        wb_buf_printf(&b, "</%s>", simple[i]);
    }
    wb_el c = wb_st_child(m->xml, 0, "c", MUC_NS_CAPS);
    if (c >= 0) {
        static const char *const attrs[] = {"hash", "node", "ver", "ext"};
        wb_buf_puts(&b, "<c xmlns='" MUC_NS_CAPS "'");
        for (size_t i = 0; i < 4; i++) {
            const char *v = wb_st_attr(m->xml, c, attrs[i]);
            if (!v)
                continue;
            wb_buf_printf(&b, " %s='", attrs[i]);
            wb_buf_xml_escape_str(&b, v);
            wb_buf_puts(&b, "'");
        }
        wb_buf_puts(&b, "/>");
    }
    return b.failed ? (wb_buf_free(&b), NULL) : wb_buf_steal(&b, NULL);
}

/* XEP-0421: a keyed hash of the real bare JID, stable per room. */
static void muc_occupant_id(const muc_room *r, const wb_jid *real, char *out, size_t size)
{
    char bare[MUC_JID_BUF];
    uint8_t h[16];
    const int n = wb_jid_bare(real, bare, sizeof(bare));
    crypto_generichash(h, sizeof(h), (const uint8_t *)bare, n > 0 ? (size_t)n : 0, r->oid_key,
                       sizeof(r->oid_key));
    sodium_bin2base64(out, size, h, sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static muc_occupant *muc_occ_new(const muc_room *r, const wb_msg *m, muc_role role)
{
    muc_occupant *o = calloc(1, sizeof(*o));
    if (!o || !(o->real_s = muc_real_str(&m->from)) || !(o->nick = strdup(m->to.resource)) ||
        !(o->pres = muc_pres_payload(m))) {
        muc_occ_free(o);
        return NULL;
    }
    o->real = m->from;
    o->role = role;
    muc_occupant_id(r, &m->from, o->oid, sizeof(o->oid));
    return o;
}

/* The entry checks of XEP-0045 7.2 for an existing room; WB_STE_COUNT when the user may enter. */
static wb_stanza_err muc_entry_check(const muc_state *st, const muc_room *r, const wb_msg *m,
                                     muc_aff aff)
{
    wb_el x = wb_st_child(m->xml, 0, "x", MUC_NS);
    wb_el pw = x >= 0 ? wb_st_child(m->xml, x, "password", MUC_NS) : -1;
    const char *given = pw >= 0 ? wb_st_text(m->xml, pw, NULL) : NULL;
    const muc_occupant *same = muc_occ_by_nick(r, m->to.resource);
    if (r->locked && aff != MUC_AFF_OWNER)
        return WB_STE_ITEM_NOT_FOUND;
    if (aff == MUC_AFF_OUTCAST)
        return WB_STE_FORBIDDEN;
    if (r->cfg.members_only && aff < MUC_AFF_MEMBER)
        return MUC_STE_REGISTRATION_REQUIRED;
    if (r->cfg.password_protected && aff != MUC_AFF_OWNER &&
        (!given || !r->cfg.password || strcmp(given, r->cfg.password) != 0))
        return WB_STE_NOT_AUTHORIZED;
    if (same) /* the nick's own account joins from one more session, or a conflict */
        return wb_jid_bare_eq(&same->real, &m->from) ? WB_STE_COUNT : WB_STE_CONFLICT;
    if (r->n_occ >= (size_t)r->cfg.max_users && aff < MUC_AFF_ADMIN)
        return WB_STE_SERVICE_UNAVAILABLE;
    (void)st;
    return WB_STE_COUNT;
}

/* A new room for the sender, locked until configured when it asked with the MUC protocol
 * (reserved room), instant otherwise (groupchat 1.0). NULL with *err set when refused. */
static muc_room *muc_create(wb_worker *w, muc_state *st, muc_wstate *ws, const wb_msg *m,
                            wb_stanza_err *err)
{
    char creator[MUC_JID_BUF];
    *err = WB_STE_NOT_ALLOWED;
    if (!wb_server_serves(w->srv, m->from.domain) ||
        wb_jid_bare(&m->from, creator, sizeof(creator)) < 0)
        return NULL;
    if (muc_dir_count_owned(st, creator) >= st->conf.max_rooms_per_owner)
        return NULL;
    *err = WB_STE_RESOURCE_CONSTRAINT;
    muc_room *r = muc_room_new(st, ws, &m->to, creator);
    if (!r)
        return NULL;
    if (muc_aff_set(r, creator, MUC_AFF_OWNER) < 0) {
        muc_room_drop(w, st, ws, r);
        return NULL;
    }
    r->locked = wb_st_child(m->xml, 0, "x", MUC_NS) >= 0;
    muc_dir_update(st, r);
    wb_info("muc: room %s created", r->jid_s);
    muc_audit(w, creator, "room.create", r->jid_s, NULL);
    return r;
}

/* Sends every current occupant's presence to the newcomer o. */
static void muc_send_occupants(wb_worker *w, const muc_room *r, const muc_occupant *o)
{
    for (const muc_occupant *p = r->occ; p; p = p->next) {
        if (strcmp(p->nick, o->nick) == 0)
            continue;
        wb_buf b;
        wb_jid from;
        wb_buf_init(&b);
        muc_pres_tail(&b, r, p, false, muc_sees_jids(r, o), NULL, NULL, 0, NULL);
        muc_room_nick_jid(r, p->nick, &from);
        if (!b.failed)
            muc_send_tail(w, WB_MSG_PRESENCE, WB_PT_AVAILABLE, &from, o, b.data, b.len);
        wb_buf_free(&b);
    }
}

/* What a session that enters gets: the others' presence, its own, history, the subject. */
static void muc_welcome(wb_worker *w, muc_room *r, const muc_occupant *v, const wb_msg *m)
{
    int self[8];
    wb_buf b;
    wb_jid from;
    muc_send_occupants(w, r, v);
    wb_buf_init(&b);
    muc_pres_tail(&b, r, v, false, true, NULL, self, muc_self_codes(r, NULL, 0, self, 8), NULL);
    muc_room_nick_jid(r, v->nick, &from);
    if (!b.failed)
        muc_send_tail(w, WB_MSG_PRESENCE, WB_PT_AVAILABLE, &from, v, b.data, b.len);
    wb_buf_free(&b);
    muc_send_history(w, r, v, m);
    muc_send_subject(w, r, v);
}

/* One more session of an occupant's account under the same nick: it joins silently. */
static void muc_join_session(wb_worker *w, muc_room *r, muc_occupant *o, const wb_msg *m)
{
    muc_sess *s = calloc(1, sizeof(*s));
    if (!s || !(s->real_s = muc_real_str(&m->from))) {
        free(s);
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    s->real = m->from;
    s->next = o->more;
    o->more = s;
    const muc_occupant v = muc_occ_view(o, &s->real, s->real_s);
    muc_welcome(w, r, &v, m);
}

/* One session of o leaves while others stay: only that session is told. False when it was the
 * occupant's only session (the occupant leaves). */
static bool muc_sess_leave(wb_worker *w, muc_room *r, muc_occupant *o, const wb_jid *real)
{
    muc_sess **p = &o->more;
    if (!o->more)
        return false;
    if (wb_jid_full_eq(&o->real, real)) { /* the first session goes: the next one takes over */
        muc_sess *s = o->more;
        char *t = o->real_s;
        const wb_jid tj = o->real;
        o->real = s->real;
        o->real_s = s->real_s;
        s->real = tj;
        s->real_s = t;
    } else {
        while (*p && !wb_jid_full_eq(&(*p)->real, real))
            p = &(*p)->next;
        if (!*p)
            return false;
    }
    muc_sess *s = *p;
    *p = s->next;
    muc_occupant v = muc_occ_view(o, &s->real, s->real_s);
    int self[8];
    wb_buf b;
    wb_jid from;
    v.role = MUC_ROLE_NONE;
    wb_buf_init(&b);
    muc_pres_tail(&b, r, &v, true, true, NULL, self, muc_self_codes(r, NULL, 0, self, 8), NULL);
    muc_room_nick_jid(r, v.nick, &from);
    if (!b.failed)
        muc_send_tail(w, WB_MSG_PRESENCE, WB_PT_UNAVAILABLE, &from, &v, b.data, b.len);
    wb_buf_free(&b);
    free(s->real_s);
    free(s);
    return true;
}

static void muc_join(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const wb_msg *m)
{
    wb_stanza_err err;
    bool created = false;
    if (strlen(m->to.resource) > (size_t)st->conf.max_nick_length) {
        muc_error(w, m, WB_STE_NOT_ACCEPTABLE, "Nickname too long");
        return;
    }
    if (!r) {
        if (!(r = muc_create(w, st, ws, m, &err))) {
            muc_error(w, m, err, NULL);
            return;
        }
        created = true;
    }
    const muc_aff aff = muc_aff_of(r, &m->from);
    if (!created && (err = muc_entry_check(st, r, m, aff)) != WB_STE_COUNT) {
        muc_error(w, m, err, NULL);
        return;
    }
    muc_occupant *same = created ? NULL : muc_occ_by_nick(r, m->to.resource);
    if (same) {
        muc_join_session(w, r, same, m);
        return;
    }
    muc_occupant *o = muc_occ_new(r, m, muc_role_default(r, aff));
    if (!o) {
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        if (created)
            muc_room_drop(w, st, ws, r);
        return;
    }
    muc_send_occupants(w, r, o);
    muc_occupant **tail = &r->occ;
    while (*tail)
        tail = &(*tail)->next;
    *tail = o;
    r->n_occ++;
    const int c201[] = {201};
    muc_occ_broadcast(w, r, o, created ? c201 : NULL, created ? 1 : 0, NULL);
    if (!created)
        muc_send_history(w, r, o, m);
    muc_send_subject(w, r, o);
}

/* XEP-0045 7.6: unavailable from the old nick with 303, then available from the new one. */
static void muc_nick_change(wb_worker *w, muc_state *st, muc_room *r, muc_occupant *o,
                            const wb_msg *m)
{
    char *nick;
    if (strlen(m->to.resource) > (size_t)st->conf.max_nick_length) {
        muc_error(w, m, WB_STE_NOT_ACCEPTABLE, "Nickname too long");
        return;
    }
    if (muc_occ_by_nick(r, m->to.resource)) {
        muc_error(w, m, WB_STE_CONFLICT, NULL);
        return;
    }
    if (!(nick = strdup(m->to.resource))) {
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    int self[8];
    const int c303[] = {303};
    const size_t sn = muc_self_codes(r, c303, 1, self, 8);
    muc_pres_broadcast(w, r, o, true, nick, c303, 1, self, sn, NULL);
    free(o->nick);
    o->nick = nick;
    muc_occ_broadcast(w, r, o, NULL, 0, NULL);
}

/* Drops a temporary room once empty (or a reserved room its owner left unconfigured). */
void muc_maybe_drop(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r)
{
    if (!r->occ && (!r->cfg.persistent || r->locked)) {
        wb_info("muc: room %s closed (empty)", r->jid_s);
        muc_room_drop(w, st, ws, r);
    }
}

void muc_presence(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const wb_msg *m)
{
    muc_occupant *o = r ? muc_occ_by_real(r, &m->from) : NULL;
    if (m->type == WB_T_ERROR || m->type == WB_PT_UNAVAILABLE) {
        if (o && !muc_sess_leave(w, r, o, &m->from)) {
            muc_occ_remove(w, r, o, NULL, 0, NULL);
            muc_maybe_drop(w, st, ws, r);
        }
        return;
    }
    if (m->type != WB_PT_AVAILABLE)
        return;
    if (!wb_jid_has_resource(&m->to)) {
        muc_error(w, m, WB_STE_JID_MALFORMED, "A nickname is required");
        return;
    }
    if (!o) {
        muc_join(w, st, ws, r, m);
    } else if (strcmp(o->nick, m->to.resource) != 0) {
        muc_nick_change(w, st, r, o, m);
    } else {
        char *p = muc_pres_payload(m);
        if (p) {
            free(o->pres);
            o->pres = p;
        }
        if (wb_st_child(m->xml, 0, "x", MUC_NS) >= 0) {
            /* a client joining again (it lost track): the room's state, to that session */
            for (muc_sess *s = o->more; s; s = s->next)
                if (wb_jid_full_eq(&s->real, &m->from)) {
                    const muc_occupant v = muc_occ_view(o, &s->real, s->real_s);
                    muc_welcome(w, r, &v, m);
                    return;
                }
            const muc_occupant v = muc_occ_view(o, &o->real, o->real_s);
            muc_welcome(w, r, &v, m);
            return;
        }
        muc_occ_broadcast(w, r, o, NULL, 0, NULL);
    }
}

void muc_session_gone(wb_worker *w, muc_state *st, muc_wstate *ws, const wb_jid *real)
{
    muc_room *r = ws->rooms;
    while (r) {
        muc_room *next = r->next;
        muc_occupant *o = muc_occ_by_real(r, real);
        if (o && !muc_sess_leave(w, r, o, real)) {
            const int c333[] = {333};
            muc_occ_remove(w, r, o, c333, 1, NULL);
            muc_maybe_drop(w, st, ws, r);
        }
        r = next;
    }
}
