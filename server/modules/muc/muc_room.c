/* MUC rooms: creation and removal on their owner worker, affiliations and default roles, and the
 * room's disco#info (with its muc#roominfo form) and disco#items. Not for occupants' presence
 * (muc_presence.c) or configuration changes (muc_admin.c). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "muc_int.h"
#include "wb_log.h"

muc_room *muc_room_find(muc_wstate *ws, const wb_jid *jid)
{
    for (muc_room *r = ws->rooms; r; r = r->next)
        if (strcmp(r->jid.node, jid->node) == 0 && strcmp(r->jid.domain, jid->domain) == 0)
            return r;
    return NULL;
}

muc_room *muc_room_new(muc_state *st, muc_wstate *ws, const wb_jid *jid, const char *creator)
{
    muc_room *r = calloc(1, sizeof(*r));
    char s[MUC_JID_BUF];
    if (!r)
        return NULL;
    r->jid = *jid;
    r->jid.resource[0] = '\0';
    randombytes_buf(&r->id, sizeof(r->id));
    r->id &= INT64_MAX;
    if (r->id == 0)
        r->id = 1;
    randombytes_buf(r->oid_key, sizeof(r->oid_key));
    r->cfg.change_subject = false;
    r->cfg.allow_invites = false;
    r->cfg.allow_pm = MUC_PM_ANYONE;
    r->cfg.public_room = true;
    r->cfg.archiving = true;
    r->cfg.max_users = st->conf.max_occupants;
    if (wb_jid_bare(&r->jid, s, sizeof(s)) < 0 || !(r->jid_s = strdup(s)) ||
        !(r->creator = strdup(creator)) || muc_hist_resize(r, st->conf.history_default) < 0) {
        muc_room_free(r);
        return NULL;
    }
    r->next = ws->rooms;
    ws->rooms = r;
    return r;
}

bool muc_occ_has(const muc_occupant *o, const wb_jid *real)
{
    if (wb_jid_full_eq(&o->real, real))
        return true;
    for (const muc_sess *s = o->more; s; s = s->next)
        if (wb_jid_full_eq(&s->real, real))
            return true;
    return false;
}

void muc_occ_free(muc_occupant *o)
{
    if (!o)
        return;
    while (o->more) {
        muc_sess *s = o->more;
        o->more = s->next;
        free(s->real_s);
        free(s);
    }
    free(o->real_s);
    free(o->nick);
    free(o->pres);
    free(o);
}

static void muc_hist_clear(muc_room *r)
{
    for (size_t i = 0; i < r->hist_cap; i++) {
        free(r->hist[i].tail);
        free(r->hist[i].author);
    }
    free(r->hist);
    r->hist = NULL;
    r->hist_cap = r->hist_head = r->hist_n = 0;
}

/* Keeps the newest n entries. */
int muc_hist_resize(muc_room *r, int n)
{
    muc_hist *h = n > 0 ? calloc((size_t)n, sizeof(*h)) : NULL;
    size_t k = 0;
    if (n > 0 && !h)
        return -1;
    for (size_t i = 0; i < r->hist_n; i++) {
        muc_hist *e = &r->hist[(r->hist_head + i) % r->hist_cap];
        if (r->hist_n - i <= (size_t)n) {
            h[k++] = *e;
            e->tail = NULL;
            e->author = NULL;
        }
    }
    muc_hist_clear(r);
    r->hist = h;
    r->hist_cap = (size_t)(n > 0 ? n : 0);
    r->hist_n = k;
    r->hist_head = 0;
    r->cfg.history_length = n;
    return 0;
}

void muc_room_free(muc_room *r)
{
    if (!r)
        return;
    while (r->occ) {
        muc_occupant *o = r->occ;
        r->occ = o->next;
        muc_occ_free(o);
    }
    while (r->affs) {
        muc_affil *a = r->affs;
        r->affs = a->next;
        free(a->jid);
        free(a);
    }
    muc_hist_clear(r);
    free(r->cfg.name);
    free(r->cfg.desc);
    if (r->cfg.password)
        sodium_memzero(r->cfg.password, strlen(r->cfg.password));
    free(r->cfg.password);
    free(r->subject);
    free(r->subject_nick);
    free(r->jid_s);
    free(r->creator);
    wb_store_muc_key_free(r->key);
    sodium_memzero(r->oid_key, sizeof(r->oid_key));
    free(r);
}

void muc_room_drop(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r)
{
    for (muc_room **p = &ws->rooms; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    muc_dir_remove(st, r);
    if (r->stored)
        muc_persist_delete(w, r);
    muc_room_free(r);
}

/* ---- affiliations and roles ---- */

static const char *const muc_aff_names[] = {"outcast", "none", "member", "admin", "owner"};
static const char *const muc_role_names[] = {"none", "visitor", "participant", "moderator"};

const char *muc_aff_name(muc_aff a)
{
    return muc_aff_names[a];
}

const char *muc_role_name(muc_role r)
{
    return muc_role_names[r];
}

int muc_aff_parse(const char *s, muc_aff *out)
{
    for (int i = 0; s && i < 5; i++)
        if (strcmp(s, muc_aff_names[i]) == 0) {
            *out = (muc_aff)i;
            return 0;
        }
    return -1;
}

int muc_role_parse(const char *s, muc_role *out)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, muc_role_names[i]) == 0) {
            *out = (muc_role)i;
            return 0;
        }
    return -1;
}

muc_aff muc_aff_of(const muc_room *r, const wb_jid *real)
{
    char bare[MUC_JID_BUF];
    if (wb_jid_bare(real, bare, sizeof(bare)) < 0)
        return MUC_AFF_NONE;
    muc_aff dom = MUC_AFF_NONE;
    for (const muc_affil *a = r->affs; a; a = a->next) {
        if (strcmp(a->jid, bare) == 0)
            return a->aff;
        if (strcmp(a->jid, real->domain) == 0)
            dom = a->aff; /* a whole domain (outcast servers) */
    }
    return dom;
}

/* Sets (or with MUC_AFF_NONE removes) the affiliation of a bare JID. 0 or -1. */
int muc_aff_set(muc_room *r, const char *bare, muc_aff aff)
{
    for (muc_affil **p = &r->affs; *p; p = &(*p)->next) {
        if (strcmp((*p)->jid, bare) != 0)
            continue;
        if (aff == MUC_AFF_NONE) {
            muc_affil *a = *p;
            *p = a->next;
            free(a->jid);
            free(a);
        } else {
            (*p)->aff = aff;
        }
        return 0;
    }
    if (aff == MUC_AFF_NONE)
        return 0;
    muc_affil *a = calloc(1, sizeof(*a));
    if (!a || !(a->jid = strdup(bare))) {
        free(a);
        return -1;
    }
    a->aff = aff;
    a->next = r->affs;
    r->affs = a;
    return 0;
}

muc_role muc_role_default(const muc_room *r, muc_aff a)
{
    if (a >= MUC_AFF_ADMIN)
        return MUC_ROLE_MODERATOR;
    if (a == MUC_AFF_OUTCAST)
        return MUC_ROLE_NONE;
    if (a == MUC_AFF_MEMBER || !r->cfg.moderated)
        return MUC_ROLE_PARTICIPANT;
    return MUC_ROLE_VISITOR;
}

muc_occupant *muc_occ_by_nick(const muc_room *r, const char *nick)
{
    for (muc_occupant *o = r->occ; o; o = o->next)
        if (strcmp(o->nick, nick) == 0)
            return o;
    return NULL;
}

muc_occupant *muc_occ_by_real(const muc_room *r, const wb_jid *real)
{
    for (muc_occupant *o = r->occ; o; o = o->next)
        if (muc_occ_has(o, real))
            return o;
    return NULL;
}

void muc_room_nick_jid(const muc_room *r, const char *nick, wb_jid *out)
{
    *out = r->jid;
    snprintf(out->resource, sizeof(out->resource), "%s", nick);
}

/* ---- discovery ---- */

static void muc_put_feature(wb_buf *b, const char *f)
{
    wb_buf_printf(b, "<feature var='%s'/>", f);
}

static void muc_put_field(wb_buf *b, const char *var, const char *label, const char *value)
{
    wb_buf_printf(b, "<field var='%s'", var);
    if (label)
        wb_buf_printf(b, " label='%s'", label);
    wb_buf_puts(b, "><value>");
    wb_buf_xml_escape_str(b, value ? value : "");
    wb_buf_puts(b, "</value></field>");
}

void muc_room_info(wb_worker *w, const muc_room *r, const wb_msg *m)
{
    wb_el q = wb_st_first(m->xml, 0);
    /* a node, or a room still locked: nothing to show (XEP-0045 10.1.3) but to its owner */
    if (wb_st_attr(m->xml, q, "node") || (r->locked && muc_aff_of(r, &m->from) != MUC_AFF_OWNER)) {
        muc_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        return;
    }
    const muc_rconf *c = &r->cfg;
    char n[16];
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" MUC_NS_DISCO_INFO "'><identity category='conference' "
                    "type='text' name='");
    wb_buf_xml_escape_str(&b, c->name && *c->name ? c->name : r->jid.node);
    wb_buf_puts(&b, "'/>");
    muc_put_feature(&b, MUC_NS);
    muc_put_feature(&b, MUC_NS_DISCO_INFO);
    muc_put_feature(&b, MUC_NS_DISCO_ITEM);
    muc_put_feature(&b, MUC_NS_SID);
    muc_put_feature(&b, MUC_NS_OID);
    muc_put_feature(&b, MUC_NS_PING);
    muc_put_feature(&b, MUC_NS "#self-ping-optimization");
    muc_put_feature(&b, MUC_NS "#stable_id"); /* the sender's message id is kept */
    muc_put_feature(&b, MUC_NS "#request");
    if (c->persistent && c->archiving) {
        muc_put_feature(&b, MUC_NS_MAM);
        muc_put_feature(&b, MUC_NS_MODERATE);
        muc_put_feature(&b, MUC_NS_MODERATE0);
        muc_put_feature(&b, MUC_NS_RETRACT);
    }
    muc_put_feature(&b, c->public_room ? "muc_public" : "muc_hidden");
    muc_put_feature(&b, c->persistent ? "muc_persistent" : "muc_temporary");
    muc_put_feature(&b, c->members_only ? "muc_membersonly" : "muc_open");
    muc_put_feature(&b, c->moderated ? "muc_moderated" : "muc_unmoderated");
    muc_put_feature(&b, c->nonanonymous ? "muc_nonanonymous" : "muc_semianonymous");
    muc_put_feature(&b, c->password_protected ? "muc_passwordprotected" : "muc_unsecured");
    if (r->locked)
        muc_put_feature(&b, "muc_unconfigured");
    wb_buf_puts(&b, "<x xmlns='" MUC_NS_DATA "' type='result'>");
    wb_buf_puts(&b,
                "<field var='FORM_TYPE' type='hidden'><value>" MUC_NS "#roominfo</value></field>");
    muc_put_field(&b, "muc#roominfo_description", "Description", c->desc);
    muc_put_field(&b, "muc#roominfo_subject", "Subject", r->subject);
    snprintf(n, sizeof(n), "%zu", r->n_occ);
    muc_put_field(&b, "muc#roominfo_occupants", "Number of occupants", n);
    muc_put_field(&b, "muc#roomconfig_roomname", "Name", c->name);
    muc_put_field(&b, "muc#roomconfig_changesubject", "Occupants may change the subject",
                  c->change_subject ? "1" : "0");
    snprintf(n, sizeof(n), "%d", c->max_users);
    muc_put_field(&b, "muc#roomconfig_maxusers", NULL, n);
    muc_put_field(&b, "muc#roomconfig_enablearchiving", "Messages are archived",
                  c->persistent && c->archiving ? "1" : "0");
    wb_buf_puts(&b, "</x></query>");
    if (b.failed)
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b.data);
    wb_buf_free(&b);
}

/* Occupants are not listed to outsiders (XEP-0045 6.5 allows an empty list). */
void muc_room_items(wb_worker *w, const muc_room *r, const wb_msg *m)
{
    (void)r;
    wb_modules_reply(w, m, "<query xmlns='" MUC_NS_DISCO_ITEM "'/>");
}
