/* The room archive: archiving groupchat messages (XEP-0313 on the room JID, sealed by
 * storage/wb_store_muc_archive.c), archive queries with RSM paging, author retraction (XEP-0424)
 * and moderation (XEP-0425) as tombstones, and history from the archive at start-up. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "muc_int.h"
#include "wb_log.h"
#include "wb_store_archive.h"
#include "wb_store_muc_archive.h"

#define MUC_QID_MAX 64

typedef struct muc_op {
    wb_worker *w;
    wb_msg *m; /* the request (a reference) */
    wb_jid room;
    int64_t room_id;
    char sid[MUC_SID_LEN + 1];
    char *bcast; /* moderation: the notice to broadcast from the room (a tail) */
    size_t bcast_len;
    bool in_memory; /* the message was also found (and hidden) in the history */
    bool has_queryid;
    char queryid[MUC_QID_MAX + 1];
} muc_op;

static muc_op *muc_op_new(wb_worker *w, const muc_room *r, const wb_msg *m)
{
    muc_op *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    op->w = w;
    op->m = wb_msg_ref((wb_msg *)m);
    op->room = r->jid;
    op->room_id = r->id;
    return op;
}

static void muc_op_free(muc_op *op)
{
    wb_msg_unref(op->m);
    free(op->bcast);
    free(op);
}

/* The room the operation was for, if it still exists on this worker. */
static muc_room *muc_op_room(const muc_op *op)
{
    muc_state *st = muc_state_of(op->w->srv);
    muc_room *r = st ? muc_room_find(&st->ws[op->w->idx], &op->room) : NULL;
    return r && r->id == op->room_id ? r : NULL;
}

static int64_t muc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void muc_stamp(int64_t us, char *out, size_t size)
{
    const time_t t = (time_t)(us / 1000000);
    struct tm tm;
    char base[24];
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%06dZ", base, (int)(us % 1000000));
}

/* Keyed hash (the room's secret) of a nickname (kind 'n') or a bare real JID ('j'). */
static void muc_hash(const muc_room *r, char kind, const char *s, uint8_t *out)
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, r->oid_key, sizeof(r->oid_key), WB_MUC_ARCH_HASH_LEN);
    crypto_generichash_update(&h, (const uint8_t *)&kind, 1);
    crypto_generichash_update(&h, (const uint8_t *)s, strlen(s));
    crypto_generichash_final(&h, out, WB_MUC_ARCH_HASH_LEN);
}

bool muc_mam_on(const wb_worker *w, const muc_room *r)
{
    return w->srv->vault && r->cfg.persistent && r->cfg.archiving && r->stored && r->key &&
           !r->locked;
}

static void muc_put_done(void *arg, wb_store_status status, uint64_t n)
{
    (void)arg;
    (void)n;
    if (status == WB_STORE_UNAVAILABLE)
        wb_warn("muc: a room message could not be archived (database unavailable)");
}

void muc_mam_archive(wb_worker *w, muc_room *r, const muc_occupant *o, const char *sid,
                     const char *tail, size_t len)
{
    uint8_t nh[WB_MUC_ARCH_HASH_LEN], rh[WB_MUC_ARCH_HASH_LEN];
    char bare[MUC_JID_BUF];
    if (!muc_mam_on(w, r) || wb_jid_bare(&o->real, bare, sizeof(bare)) < 0)
        return;
    muc_hash(r, 'n', o->nick, nh);
    muc_hash(r, 'j', bare, rh);
    const int64_t now = muc_now_us();
    const int64_t unit_us = (int64_t)w->srv->cfg->retention_unit_ms * 1000;
    const wb_muc_arch_entry e = {
        .room_id = r->id,
        .stanza_id = sid,
        .ts_us = now,
        .nick_hash = nh,
        .real_hash = rh,
        .expires_us = r->cfg.expiry > 0 ? now + r->cfg.expiry * unit_us : 0,
        .payload = tail,
        .len = len,
    };
    if (wb_store_muc_archive_put(w->store, r->key, &e, muc_put_done, NULL) < 0)
        wb_warn("muc: a message of room %s could not be archived", r->jid_s);
}

/* ---- queries ---- */

typedef struct muc_mam_req {
    wb_muc_arch_filter f;
    const char *ids[WB_ARCHIVE_MAX_IDS];
    uint8_t with[WB_MUC_ARCH_HASH_LEN];
} muc_mam_req;

static bool muc_digits(const char *s)
{
    if (!*s || strlen(s) > 9)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* 'with': room/nick (any requester), or a real bare JID where real JIDs may be seen. */
static wb_stanza_err muc_mam_with(const muc_room *r, const wb_msg *m, const char *v, muc_mam_req *q)
{
    wb_jid j;
    char bare[MUC_JID_BUF];
    if (wb_jid_parse(&j, v, strlen(v)) < 0)
        return WB_STE_BAD_REQUEST;
    if (wb_jid_bare_eq(&j, &r->jid) && wb_jid_has_resource(&j)) {
        muc_hash(r, 'n', j.resource, q->with);
    } else {
        const muc_occupant *o = muc_occ_by_real(r, &m->from);
        if (!r->cfg.nonanonymous && muc_aff_of(r, &m->from) < MUC_AFF_ADMIN &&
            !(o && o->role == MUC_ROLE_MODERATOR))
            return WB_STE_FORBIDDEN;
        j.resource[0] = '\0';
        if (wb_jid_bare(&j, bare, sizeof(bare)) < 0)
            return WB_STE_BAD_REQUEST;
        muc_hash(r, 'j', bare, q->with);
    }
    q->f.with_hash = q->with;
    return WB_STE_COUNT;
}

static wb_stanza_err muc_mam_field(const muc_room *r, const wb_msg *m, wb_el fl, muc_mam_req *q)
{
    const char *var = wb_st_attr(m->xml, fl, "var");
    const wb_el ve = wb_st_child(m->xml, fl, "value", MUC_NS_DATA);
    const char *v = ve >= 0 ? wb_st_text(m->xml, ve, NULL) : "";
    if (!var)
        return WB_STE_BAD_REQUEST;
    if (strcmp(var, "FORM_TYPE") == 0)
        return strcmp(v, MUC_NS_MAM) == 0 ? WB_STE_COUNT : WB_STE_BAD_REQUEST;
    if (strcmp(var, "with") == 0)
        return muc_mam_with(r, m, v, q);
    if (strcmp(var, "start") == 0 || strcmp(var, "end") == 0) {
        const time_t t = muc_parse_stamp(v);
        if (t < 0)
            return WB_STE_BAD_REQUEST;
        if (var[0] == 's')
            q->f.start_us = (int64_t)t * 1000000;
        else
            q->f.end_us = (int64_t)t * 1000000 + 999999;
        return WB_STE_COUNT;
    }
    if (strcmp(var, "after-id") == 0 || strcmp(var, "before-id") == 0) {
        *(var[0] == 'a' ? &q->f.after_id : &q->f.before_id) = v;
        return WB_STE_COUNT;
    }
    if (strcmp(var, "ids") != 0)
        return WB_STE_BAD_REQUEST;
    q->f.has_ids = true;
    for (wb_el e = wb_st_first(m->xml, fl); e >= 0; e = wb_st_next(m->xml, e)) {
        if (strcmp(wb_st_name(m->xml, e), "value") != 0)
            continue;
        if (q->f.n_ids >= WB_ARCHIVE_MAX_IDS)
            return WB_STE_NOT_ACCEPTABLE;
        const char *id = wb_st_text(m->xml, e, NULL);
        if (wb_store_archive_uuid_ok(id)) /* another id matches nothing */
            q->ids[q->f.n_ids++] = id;
    }
    return WB_STE_COUNT;
}

static bool muc_mam_rsm(const wb_msg *m, wb_el set, muc_mam_req *q)
{
    q->f.max = WB_ARCHIVE_MAX_PAGE;
    for (wb_el e = set >= 0 ? wb_st_first(m->xml, set) : -1; e >= 0; e = wb_st_next(m->xml, e)) {
        const char *name = wb_st_name(m->xml, e), *text = wb_st_text(m->xml, e, NULL);
        if (strcmp(name, "max") == 0) {
            if (!muc_digits(text))
                return false;
            const unsigned v = (unsigned)atol(text);
            q->f.max = v < WB_ARCHIVE_MAX_PAGE ? v : WB_ARCHIVE_MAX_PAGE;
        } else if (strcmp(name, "after") == 0) {
            q->f.rsm_after = *text ? text : NULL;
        } else if (strcmp(name, "before") == 0) {
            q->f.backward = true;
            q->f.rsm_before = *text ? text : NULL;
        }
    }
    return true;
}

static wb_stanza_err muc_mam_read(const muc_room *r, const wb_msg *m, wb_el query, muc_mam_req *q)
{
    const wb_el x = wb_st_child(m->xml, query, "x", MUC_NS_DATA);
    for (wb_el f = x >= 0 ? wb_st_first(m->xml, x) : -1; f >= 0; f = wb_st_next(m->xml, f)) {
        if (strcmp(wb_st_name(m->xml, f), "field") != 0)
            continue;
        const wb_stanza_err e = muc_mam_field(r, m, f, q);
        if (e != WB_STE_COUNT)
            return e;
    }
    q->f.ids = q->ids;
    if (!muc_mam_rsm(m, wb_st_child(m->xml, query, "set", MUC_NS_RSM), q))
        return WB_STE_BAD_REQUEST;
    const char *marks[4] = {q->f.after_id, q->f.before_id, q->f.rsm_after, q->f.rsm_before};
    for (size_t i = 0; i < 4; i++)
        if (marks[i] && !wb_store_archive_uuid_ok(marks[i]))
            return WB_STE_ITEM_NOT_FOUND;
    return WB_STE_COUNT;
}

static void muc_mam_result(const muc_op *op, const wb_muc_arch_item *it)
{
    char stamp[40], room[MUC_JID_BUF], to[WB_JID_MAX + 1];
    wb_buf b;
    wb_jid_bare(&op->room, room, sizeof(room));
    wb_jid_full(&op->m->from, to, sizeof(to));
    muc_stamp(it->ts_us, stamp, sizeof(stamp));
    wb_buf_init(&b);
    wb_buf_puts(&b, "<message from='");
    wb_buf_xml_escape_str(&b, room);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to);
    wb_buf_puts(&b, "'><result xmlns='" MUC_NS_MAM "'");
    if (op->has_queryid) {
        wb_buf_puts(&b, " queryid='");
        wb_buf_xml_escape_str(&b, op->queryid);
        wb_buf_puts(&b, "'");
    }
    wb_buf_printf(&b,
                  " id='%s'><forwarded xmlns='" MUC_NS_FORWARD "'><delay xmlns='" MUC_NS_DELAY
                  "' stamp='%s'/><message xmlns='" WB_NS_CLIENT "'",
                  it->stanza_id, stamp);
    wb_buf_append(&b, it->payload, it->len);
    wb_buf_puts(&b, "</message></forwarded></result></message>");
    if (!b.failed)
        muc_send(op->w, WB_MSG_MESSAGE, WB_MT_NORMAL, &op->room, &op->m->from, b.data, b.len);
    sodium_memzero(b.data, b.len);
    wb_buf_free(&b);
}

static void muc_mam_answered(void *arg, wb_store_status status, const wb_muc_arch_item *items,
                             size_t n, uint64_t count, bool complete)
{
    muc_op *op = arg;
    if (status == WB_STORE_NOT_FOUND) {
        muc_error(op->w, op->m, WB_STE_ITEM_NOT_FOUND, NULL);
    } else if (status != WB_STORE_OK) {
        muc_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR,
                  "The room archive is unavailable, try again later");
    } else {
        wb_buf b;
        for (size_t i = 0; i < n; i++)
            muc_mam_result(op, &items[i]);
        wb_buf_init(&b);
        wb_buf_printf(&b, "<fin xmlns='" MUC_NS_MAM "' complete='%s'><set xmlns='" MUC_NS_RSM "'>",
                      complete ? "true" : "false");
        if (n)
            wb_buf_printf(&b, "<first>%s</first><last>%s</last>", items[0].stanza_id,
                          items[n - 1].stanza_id);
        wb_buf_printf(&b, "<count>%llu</count></set></fin>", (unsigned long long)count);
        if (b.failed)
            muc_error(op->w, op->m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        else
            wb_modules_reply(op->w, op->m, b.data);
        wb_buf_free(&b);
    }
    muc_op_free(op);
}

/* Members-only rooms: members only; outcasts never. */
static bool muc_mam_may_read(const muc_room *r, const wb_msg *m)
{
    const muc_aff a = muc_aff_of(r, &m->from);
    return a != MUC_AFF_OUTCAST && (!r->cfg.members_only || a >= MUC_AFF_MEMBER);
}

static void muc_mam_query(wb_worker *w, muc_room *r, const wb_msg *m, wb_el query)
{
    const char *qid = wb_st_attr(m->xml, query, "queryid");
    muc_mam_req *q = calloc(1, sizeof(*q));
    muc_op *op = NULL;
    wb_stanza_err e = WB_STE_COUNT;
    if (!q || !(op = muc_op_new(w, r, m)))
        e = WB_STE_RESOURCE_CONSTRAINT;
    else if (qid && strlen(qid) > MUC_QID_MAX)
        e = WB_STE_BAD_REQUEST;
    else
        e = muc_mam_read(r, m, query, q);
    if (e == WB_STE_COUNT) {
        op->has_queryid = qid != NULL;
        snprintf(op->queryid, sizeof(op->queryid), "%s", qid ? qid : "");
        if (wb_store_muc_archive_query(w->store, r->key, r->id, &q->f, muc_mam_answered, op) < 0)
            e = WB_STE_INTERNAL_SERVER_ERROR;
        else
            op = NULL;
    }
    if (e != WB_STE_COUNT)
        muc_error(w, m, e, NULL);
    if (op)
        muc_op_free(op);
    free(q);
}

void muc_mam_iq(wb_worker *w, muc_room *r, const wb_msg *m)
{
    const wb_el query = wb_st_first(m->xml, 0);
    if (strcmp(wb_st_name(m->xml, query), "query") != 0) {
        muc_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
    } else if (!r->stored || !r->key || !w->srv->vault) {
        muc_error(w, m, WB_STE_SERVICE_UNAVAILABLE, "This room keeps no archive");
    } else if (!muc_mam_may_read(r, m)) {
        muc_error(w, m, WB_STE_FORBIDDEN, NULL);
    } else if (m->type == WB_IT_GET) {
        wb_modules_reply(
            w, m,
            "<query xmlns='" MUC_NS_MAM "'><x xmlns='" MUC_NS_DATA "' type='form'>"
            "<field var='FORM_TYPE' type='hidden'><value>" MUC_NS_MAM "</value></field>"
            "<field var='with' type='jid-single'/><field var='start' type='text-single'/>"
            "<field var='end' type='text-single'/><field var='before-id' type='text-single'/>"
            "<field var='after-id' type='text-single'/><field var='ids' type='list-multi'/>"
            "</x></query>");
    } else {
        muc_mam_query(w, r, m, query);
    }
}

/* ---- retraction and moderation ---- */

static muc_hist *muc_hist_find(muc_room *r, const char *sid)
{
    for (size_t i = 0; i < r->hist_n; i++) {
        muc_hist *e = &r->hist[(r->hist_head + i) % r->hist_cap];
        if (!e->gone && strcmp(e->sid, sid) == 0)
            return e;
    }
    return NULL;
}

/* The from='...' of a history tail (" from='ROOM/NICK' ..."), escaped as it is, into out; else
 * ROOM/nick when nick is known, else ROOM. */
static void muc_tail_from(const muc_hist *e, const muc_room *r, const char *nick, wb_buf *out)
{
    static const char pre[] = " from='";
    const char *end = e && strncmp(e->tail, pre, sizeof(pre) - 1) == 0
                          ? strchr(e->tail + sizeof(pre) - 1, '\'')
                          : NULL;
    if (end) {
        wb_buf_append(out, e->tail + sizeof(pre) - 1, (size_t)(end - e->tail) - sizeof(pre) + 1);
        return;
    }
    wb_buf_xml_escape_str(out, r->jid_s);
    if (nick) {
        wb_buf_puts(out, "/");
        wb_buf_xml_escape_str(out, nick);
    }
}

/* The tombstone stored in place of a message (tail form): author, the retracting author (or
 * NULL); mod, the moderator (or NULL). */
static void muc_tombstone(const muc_room *r, const muc_hist *e, const muc_occupant *author,
                          const muc_occupant *mod, const char *reason, const char *retract_id,
                          wb_buf *t)
{
    char stamp[40];
    muc_stamp(muc_now_us(), stamp, sizeof(stamp));
    wb_buf_puts(t, " from='");
    muc_tail_from(e, r, author ? author->nick : NULL, t);
    wb_buf_printf(t, "' type='groupchat'><retracted xmlns='" MUC_NS_RETRACT "' stamp='%s'", stamp);
    if (retract_id) {
        wb_buf_puts(t, " id='");
        wb_buf_xml_escape_str(t, retract_id);
        wb_buf_puts(t, "'");
    }
    wb_buf_puts(t, ">");
    if (mod) {
        wb_buf_puts(t, "<moderated xmlns='" MUC_NS_MODERATE "' by='");
        wb_buf_xml_escape_str(t, r->jid_s);
        wb_buf_puts(t, "/");
        wb_buf_xml_escape_str(t, mod->nick);
        wb_buf_printf(t, "'><occupant-id xmlns='" MUC_NS_OID "' id='%s'/></moderated>", mod->oid);
    }
    if (reason) {
        wb_buf_puts(t, "<reason>");
        wb_buf_xml_escape_str(t, reason);
        wb_buf_puts(t, "</reason>");
    }
    wb_buf_puts(t, "</retracted>");
}

static void muc_retracted(void *arg, wb_store_status status, uint64_t n)
{
    muc_op *op = arg;
    muc_room *r = muc_op_room(op);
    muc_occupant *o = r ? muc_occ_by_real(r, &op->m->from) : NULL;
    (void)n;
    if (status == WB_STORE_UNAVAILABLE)
        muc_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR, "Try again later");
    else if (status == WB_STORE_NOT_FOUND)
        muc_error(op->w, op->m, WB_STE_ITEM_NOT_FOUND, "No such message of yours");
    else if (o)
        muc_broadcast_msg(op->w, r, o, op->m);
    muc_hist *e = r && status == WB_STORE_OK ? muc_hist_find(r, op->sid) : NULL;
    if (e)
        e->gone = true; /* history loaded from the archive: the author is proven now */
    muc_op_free(op);
}

bool muc_retract(wb_worker *w, muc_room *r, muc_occupant *o, const wb_msg *m)
{
    const wb_el rt = wb_st_child(m->xml, 0, "retract", MUC_NS_RETRACT);
    const char *target = rt >= 0 ? wb_st_attr(m->xml, rt, "id") : NULL;
    char bare[MUC_JID_BUF];
    if (rt < 0)
        return false;
    if (!target || wb_jid_bare(&o->real, bare, sizeof(bare)) < 0) {
        muc_error(w, m, WB_STE_BAD_REQUEST, NULL);
        return true;
    }
    muc_hist *e = muc_hist_find(r, target);
    if (e && e->author && strcmp(e->author, bare) != 0) {
        muc_error(w, m, WB_STE_FORBIDDEN, "Only its author may retract a message");
        return true;
    }
    const bool archived = muc_mam_on(w, r) && wb_store_archive_uuid_ok(target);
    if (!archived && !e) {
        muc_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        return true;
    }
    uint8_t rh[WB_MUC_ARCH_HASH_LEN];
    wb_buf t;
    muc_op *op = archived ? muc_op_new(w, r, m) : NULL;
    muc_hash(r, 'j', bare, rh);
    wb_buf_init(&t);
    muc_tombstone(r, e, o, NULL, NULL, m->id, &t);
    const bool known = e && e->author; /* the history already proves the author */
    if (known)
        e->gone = true;
    if (op)
        snprintf(op->sid, sizeof(op->sid), "%s", target);
    if (archived && (t.failed || !op ||
                     wb_store_muc_archive_retract(w->store, r->key, r->id, target, rh, t.data,
                                                  t.len, known ? muc_put_done : muc_retracted,
                                                  known ? NULL : op) < 0)) {
        muc_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    } else if (known || !archived) {
        muc_broadcast_msg(w, r, o, m);
    } else {
        op = NULL; /* answered in muc_retracted */
    }
    if (op)
        muc_op_free(op);
    wb_buf_free(&t);
    return true;
}

/* The moderation notice (XEP-0425 :1, with the :0 form for older clients), a tail. */
static void muc_moderation_notice(const muc_room *r, const muc_occupant *mod, const char *sid,
                                  const char *reason, wb_buf *b)
{
    char id[WB_ARCHIVE_UUID_LEN + 1];
    wb_buf by, why;
    wb_store_archive_uuid(id);
    wb_buf_init(&by);
    wb_buf_init(&why);
    wb_buf_xml_escape_str(&by, r->jid_s);
    wb_buf_puts(&by, "/");
    wb_buf_xml_escape_str(&by, mod->nick);
    if (reason) {
        wb_buf_puts(&why, "<reason>");
        wb_buf_xml_escape_str(&why, reason);
        wb_buf_puts(&why, "</reason>");
    }
    wb_buf_puts(b, " from='");
    wb_buf_xml_escape_str(b, r->jid_s);
    wb_buf_printf(b, "' type='groupchat' id='%s'><retract xmlns='" MUC_NS_RETRACT "' id='", id);
    wb_buf_xml_escape_str(b, sid);
    wb_buf_puts(b, "'><moderated xmlns='" MUC_NS_MODERATE "' by='");
    wb_buf_append(b, by.data ? by.data : "", by.len);
    wb_buf_printf(b, "'><occupant-id xmlns='" MUC_NS_OID "' id='%s'/></moderated>", mod->oid);
    wb_buf_append(b, why.data ? why.data : "", why.len);
    wb_buf_puts(b, "</retract><apply-to xmlns='" MUC_NS_FASTEN "' id='");
    wb_buf_xml_escape_str(b, sid);
    wb_buf_puts(b, "'><moderated xmlns='" MUC_NS_MODERATE0 "' by='");
    wb_buf_append(b, by.data ? by.data : "", by.len);
    wb_buf_puts(b, "'><retract xmlns='" MUC_NS_RETRACT0 "'/>");
    wb_buf_append(b, why.data ? why.data : "", why.len);
    wb_buf_puts(b, "</moderated></apply-to></message>");
    if (by.failed || why.failed)
        b->failed = true;
    wb_buf_free(&by);
    wb_buf_free(&why);
}

static void muc_moderation_done(wb_worker *w, muc_room *r, const wb_msg *m, const char *notice,
                                size_t len)
{
    for (const muc_occupant *to = r ? r->occ : NULL; to; to = to->next)
        muc_send_tail(w, WB_MSG_MESSAGE, WB_MT_GROUPCHAT, &r->jid, to, notice, len);
    wb_modules_reply(w, m, NULL);
}

static void muc_moderated(void *arg, wb_store_status status, uint64_t n)
{
    muc_op *op = arg;
    (void)n;
    if (status == WB_STORE_UNAVAILABLE)
        muc_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR, "Try again later");
    else if (status == WB_STORE_NOT_FOUND && !op->in_memory)
        muc_error(op->w, op->m, WB_STE_ITEM_NOT_FOUND, NULL);
    else
        muc_moderation_done(op->w, muc_op_room(op), op->m, op->bcast, op->bcast_len);
    muc_op_free(op);
}

/* The target and reason of <moderate/> (:1) or <apply-to><moderate/></apply-to> (:0). */
static const char *muc_moderate_read(const wb_msg *m, const char **reason)
{
    const wb_el q = wb_st_first(m->xml, 0);
    const char *ns = wb_st_ns(m->xml, q), *name = wb_st_name(m->xml, q);
    wb_el mod = -1, re = -1;
    if (strcmp(ns, MUC_NS_MODERATE) == 0 && strcmp(name, "moderate") == 0) {
        mod = q;
        re = wb_st_child(m->xml, q, "reason", MUC_NS_MODERATE);
        if (wb_st_child(m->xml, q, "retract", MUC_NS_RETRACT) < 0)
            return NULL;
    } else if (strcmp(ns, MUC_NS_FASTEN) == 0 && strcmp(name, "apply-to") == 0) {
        mod = wb_st_child(m->xml, q, "moderate", MUC_NS_MODERATE0);
        re = mod >= 0 ? wb_st_child(m->xml, mod, "reason", MUC_NS_MODERATE0) : -1;
        if (mod < 0 || wb_st_child(m->xml, mod, "retract", MUC_NS_RETRACT0) < 0)
            return NULL;
        mod = q;
    }
    *reason = re >= 0 ? wb_st_text(m->xml, re, NULL) : NULL;
    return mod >= 0 ? wb_st_attr(m->xml, mod, "id") : NULL;
}

void muc_moderate_iq(wb_worker *w, muc_room *r, const wb_msg *m)
{
    const muc_occupant *mod = muc_occ_by_real(r, &m->from);
    const char *reason = NULL, *sid = muc_moderate_read(m, &reason);
    if (!mod || mod->role != MUC_ROLE_MODERATOR) {
        muc_error(w, m, WB_STE_FORBIDDEN, "Only moderators may moderate messages");
        return;
    }
    if (!sid) {
        muc_error(w, m, WB_STE_BAD_REQUEST, NULL);
        return;
    }
    muc_hist *e = muc_hist_find(r, sid);
    const bool archived = muc_mam_on(w, r) && wb_store_archive_uuid_ok(sid);
    if (!e && !archived) {
        muc_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        return;
    }
    wb_buf t, notice;
    wb_buf_init(&t);
    wb_buf_init(&notice);
    muc_tombstone(r, e, NULL, mod, reason, NULL, &t);
    muc_moderation_notice(r, mod, sid, reason, &notice);
    muc_op *op = archived ? muc_op_new(w, r, m) : NULL;
    if (t.failed || notice.failed || (archived && !op)) {
        muc_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        goto done;
    }
    if (e)
        e->gone = true;
    if (!archived) {
        muc_moderation_done(w, r, m, notice.data, notice.len);
        goto done;
    }
    op->in_memory = e != NULL;
    op->bcast = notice.data;
    op->bcast_len = notice.len;
    notice.data = NULL;
    if (wb_store_muc_archive_retract(w->store, r->key, r->id, sid, NULL, t.data, t.len,
                                     muc_moderated, op) < 0)
        muc_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    else
        op = NULL;
done:
    if (op)
        muc_op_free(op);
    wb_buf_free(&t);
    wb_buf_free(&notice);
}

/* ---- start-up ---- */

static void muc_hist_loaded(void *arg, const char *sid, int64_t ts_us, const char *payload,
                            size_t len)
{
    muc_hist_push(arg, payload, len, (time_t)(ts_us / 1000000), sid, NULL);
}

void muc_mam_load_history(muc_state *st, wb_pg *pg)
{
    char err[256];
    const int64_t now = muc_now_us();
    for (int i = 0; i < st->n_workers; i++) {
        for (muc_room *r = st->ws[i].rooms; r; r = r->next) {
            if (!r->key || !r->hist_cap)
                continue;
            if (wb_store_muc_archive_recent(pg, r->key, r->id, (int)r->hist_cap, now,
                                            muc_hist_loaded, r, err, sizeof(err)) < 0)
                wb_warn("muc: no history from the archive for room %s: %s", r->jid_s, err);
            else
                wb_debug("muc: room %s: %zu messages of history from its archive", r->jid_s,
                         r->hist_n);
        }
    }
}
