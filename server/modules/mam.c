/* XEP-0313 message archives with XEP-0359 stanza-ids: what is archived (both sides, hints),
 * batched archive writes per worker, the stanza-id on delivery, queries with XEP-0059 paging.
 * Not for SQL or sealing (storage/), preferences (mam_prefs.c) nor retraction (retract.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wb_log.h"
#include "wb_mam.h"
#include "wb_modules.h"
#include "wb_retention.h"
#include "wb_router.h"
#include "wb_store_archive.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

#define WB_NS_MAM      "urn:xmpp:mam:2"
#define WB_NS_MAM_EXT  "urn:xmpp:mam:2#extended"
#define WB_NS_SID      "urn:xmpp:sid:0"
#define WB_NS_HINTS    "urn:xmpp:hints"
#define WB_NS_FORWARD  "urn:xmpp:forward:0"
#define WB_NS_DELAY    "urn:xmpp:delay"
#define WB_NS_RSM      "http://jabber.org/protocol/rsm"
#define WB_NS_DATA     "jabber:x:data"
#define WB_NS_RETRACT  "urn:xmpp:message-retract:1"
#define WB_NS_OMEMO    "urn:xmpp:omemo:2"
#define WB_NS_AXOLOTL  "eu.siacs.conversations.axolotl"
#define WB_MAM_QID_MAX 256 /* bytes of a queryid */
#define WB_MAM_SPANS   64  /* direct children of a message whose bytes can be located */
#define WB_MAM_TIME    40  /* "YYYY-MM-DDThh:mm:ss.ffffffZ" */

extern const wb_module wb_mod_mam;

/* One archive write batcher per worker, each used only by its worker's thread. */
typedef struct wb_mam_state {
    int n;
    wb_archive_batcher **batchers;
} wb_mam_state;

static int wb_mam_init(wb_server *srv, void **state)
{
    wb_mam_state *s = calloc(1, sizeof(*s));
    const int n = srv->cfg->workers > 0 ? srv->cfg->workers : 1;
    if (s == NULL || (s->batchers = calloc((size_t)n, sizeof(*s->batchers))) == NULL) {
        free(s);
        return -1;
    }
    s->n = n;
    *state = s;
    return 0;
}

/* After the workers and their stores are gone. */
static void wb_mam_shutdown(wb_server *srv, void *state)
{
    wb_mam_state *s = state;
    (void)srv;
    for (int i = 0; i < s->n; i++)
        wb_store_archive_batcher_free(s->batchers[i]);
    free(s->batchers);
    free(s);
}

/* The worker's batcher (made on first use, on its own thread); NULL: writes go unbatched. */
static wb_archive_batcher *wb_mam_batcher(wb_worker *w)
{
    wb_mam_state *s = wb_modules_state(w->srv, &wb_mod_mam);
    if (s == NULL || w->idx < 0 || w->idx >= s->n)
        return NULL;
    if (s->batchers[w->idx] == NULL)
        s->batchers[w->idx] = wb_store_archive_batcher_new();
    return s->batchers[w->idx];
}

/* ---- what is archived ---- */

/* XEP-0313 section 5 and XEP-0334: chat messages with a body or an encrypted payload (or a
 * retraction), normal ones with a body; never errors, groupchat, headlines; hints decide last. */
static bool wb_mam_archivable(const wb_msg *m)
{
    if (m->kind != WB_MSG_MESSAGE || m->xml == NULL || m->bytes == NULL ||
        (m->type != WB_MT_CHAT && m->type != WB_MT_NORMAL))
        return false;
    bool body = false, payload = false, store = false;
    for (wb_el el = wb_st_first(m->xml, 0); el >= 0; el = wb_st_next(m->xml, el)) {
        const char *ns = wb_st_ns(m->xml, el), *name = wb_st_name(m->xml, el);
        if (strcmp(ns, WB_NS_HINTS) == 0) {
            if (strcmp(name, "no-store") == 0 || strcmp(name, "no-permanent-store") == 0)
                return false;
            store = store || strcmp(name, "store") == 0;
        } else if (strcmp(name, "body") == 0 && strcmp(ns, WB_NS_CLIENT) == 0) {
            body = true;
        } else if ((strcmp(name, "encrypted") == 0 &&
                    (strcmp(ns, WB_NS_OMEMO) == 0 || strcmp(ns, WB_NS_AXOLOTL) == 0)) ||
                   (strcmp(name, "retract") == 0 && strcmp(ns, WB_NS_RETRACT) == 0)) {
            payload = true;
        }
    }
    return store || body || (m->type == WB_MT_CHAT && payload);
}

/* What a retraction of this message refers to: its origin-id, else its id (may be NULL). */
const char *wb_mam_ref(const wb_msg *m)
{
    const wb_el o = wb_st_child(m->xml, 0, "origin-id", WB_NS_SID);
    const char *id = o >= 0 ? wb_st_attr(m->xml, o, "id") : NULL;
    if (id != NULL && *id != '\0' && strlen(id) <= WB_ARCHIVE_REF_MAX)
        return id;
    return m->id != NULL && strlen(m->id) <= WB_ARCHIVE_REF_MAX ? m->id : NULL;
}

static int64_t wb_mam_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void wb_mam_stamp(int64_t us, char *out)
{
    const time_t s = (time_t)(us / 1000000);
    struct tm tm;
    char day[24];
    gmtime_r(&s, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, WB_MAM_TIME, "%s.%06dZ", day, (int)(us % 1000000));
}

/* The archived form of a stanza: its bytes with xmlns='jabber:client' declared on the start tag
 * (it is shown later inside <forwarded/>, where the stream's default namespace does not hold). */
static int wb_mam_payload(const char *bytes, size_t len, wb_buf *out)
{
    if (wb_xml_with_default_ns(bytes, len, WB_NS_CLIENT, out) == 0)
        return 0;
    return wb_buf_append(out, bytes, len);
}

int wb_mam_archived_form(const wb_msg *m, wb_buf *out)
{
    return wb_mam_payload(m->bytes, m->bytes_len, out) < 0 || out->failed ? -1 : 0;
}

const char *wb_mam_stanza_id(const wb_msg *m)
{
    char to[WB_JID_MAX + 1];
    if (m->xml == NULL || wb_jid_bare(&m->to, to, sizeof(to)) < 0)
        return NULL;
    for (wb_el el = wb_st_first(m->xml, 0); el >= 0; el = wb_st_next(m->xml, el)) {
        const char *by = wb_st_attr(m->xml, el, "by"), *id = wb_st_attr(m->xml, el, "id");
        /* Ours only: a stanza-id claiming to be by one of our accounts is removed on arrival. */
        if (strcmp(wb_st_name(m->xml, el), "stanza-id") == 0 &&
            strcmp(wb_st_ns(m->xml, el), WB_NS_SID) == 0 && by != NULL && strcmp(by, to) == 0 &&
            wb_store_archive_uuid_ok(id))
            return id;
    }
    return NULL;
}

/* Queues the archive write of m's bytes (nothing waits for it). */
static void wb_mam_archive(wb_worker *w, const wb_msg *m, const wb_jid *owner, const wb_jid *peer,
                           bool outgoing, const char *stanza_id)
{
    char peer_bare[WB_JID_MAX + 1], sender[WB_JID_MAX + 1];
    wb_buf b;
    wb_buf_init(&b);
    const wb_archive_entry e = {
        .node = owner->node,
        .domain = owner->domain,
        .peer = peer_bare,
        .outgoing = outgoing,
        .stanza_id = stanza_id,
        .ts_us = wb_mam_now_us(),
        .sender = sender,
        .ref = wb_mam_ref(m),
        .expires_us = wb_retention_expiry_us(w->srv->cfg, m),
    };
    if (wb_jid_bare(peer, peer_bare, sizeof(peer_bare)) < 0 ||
        wb_jid_bare(&m->from, sender, sizeof(sender)) < 0 ||
        wb_mam_payload(m->bytes, m->bytes_len, &b) < 0 || b.failed)
        goto fail;
    wb_archive_entry full = e;
    full.payload = b.data;
    full.len = b.len;
    if (wb_store_archive_put_batched(w->store, wb_mam_batcher(w), &full, NULL, NULL) < 0)
        goto fail;
    wb_buf_free(&b);
    return;
fail:
    wb_buf_free(&b);
    wb_warn("archive: a message could not be archived");
}

/* ---- the stanza-id on delivery ---- */

/* Byte spans of the direct children of the top-level element (document order, at most max) and
 * where its end tag starts (len for an empty-element tag). -1 when the bytes are not an element. */
static int wb_mam_spans(const char *b, size_t len, size_t *start, size_t *end, int max,
                        size_t *close_at)
{
    int depth = 0, n = 0;
    *close_at = len;
    for (size_t i = 0; i < len;) {
        if (b[i] != '<') {
            i++;
            continue;
        }
        if (len - i >= 9 && memcmp(b + i, "<![CDATA[", 9) == 0) {
            const char *e = memmem(b + i, len - i, "]]>", 3);
            if (e == NULL)
                return -1;
            i = (size_t)(e - b) + 3;
            continue;
        }
        size_t j = i + 1;
        char q = 0;
        for (; j < len && (q != 0 || b[j] != '>'); j++)
            q = q != 0 ? (b[j] == q ? 0 : q) : (b[j] == '\'' || b[j] == '"' ? b[j] : 0);
        if (j >= len)
            return -1;
        if (b[i + 1] == '/') {
            if (--depth == 0) {
                *close_at = i;
                return n;
            }
            if (depth == 1 && n < max)
                end[n++] = j + 1;
        } else {
            if (depth == 1 && n < max)
                start[n] = i;
            if (b[j - 1] != '/')
                depth++;
            else if (depth == 1 && n < max)
                end[n++] = j + 1;
        }
        i = j + 1;
    }
    return depth == 0 ? n : -1;
}

/* XEP-0359 section 4: a <stanza-id/> that claims to come from one of our domains or accounts
 * was not put there by us. */
static bool wb_mam_spoofed(const wb_worker *w, const wb_stanza *st, wb_el el)
{
    wb_jid by;
    const char *v = wb_st_attr(st, el, "by");
    if (strcmp(wb_st_name(st, el), "stanza-id") != 0 || strcmp(wb_st_ns(st, el), WB_NS_SID) != 0)
        return false;
    return v == NULL || wb_jid_parse(&by, v, strlen(v)) < 0 || wb_server_serves(w->srv, by.domain);
}

/* The delivered bytes without spoofed stanza-ids and, when stanza_id is given, with ours before
 * the end tag. -1 when they cannot be rebuilt (then the message is not delivered as it is). */
static int wb_mam_rebuild(const wb_worker *w, const wb_msg *m, const char *stanza_id, wb_buf *out)
{
    size_t start[WB_MAM_SPANS], end[WB_MAM_SPANS], close_at, pos = 0;
    const int n = wb_mam_spans(m->bytes, m->bytes_len, start, end, WB_MAM_SPANS, &close_at);
    if (n < 0 || (stanza_id != NULL && close_at == m->bytes_len))
        return -1;
    int k = 0;
    for (wb_el el = wb_st_first(m->xml, 0); el >= 0; el = wb_st_next(m->xml, el), k++) {
        if (!wb_mam_spoofed(w, m->xml, el))
            continue;
        if (k >= n)
            return -1;
        wb_buf_append(out, m->bytes + pos, start[k] - pos);
        pos = end[k];
    }
    wb_buf_append(out, m->bytes + pos, close_at - pos);
    if (stanza_id != NULL) {
        char by[WB_JID_MAX + 1];
        if (wb_jid_bare(&m->to, by, sizeof(by)) < 0)
            return -1;
        wb_buf_printf(out, "<stanza-id xmlns='" WB_NS_SID "' id='%s' by='", stanza_id);
        wb_buf_xml_escape_str(out, by);
        wb_buf_puts(out, "'/>");
    }
    wb_buf_append(out, m->bytes + close_at, m->bytes_len - close_at);
    return out->failed ? -1 : 0;
}

/* A copy of m with other bytes (taken from b); NULL on failure. */
static wb_msg *wb_mam_copy(const wb_msg *m, wb_buf *b)
{
    wb_msg *r = wb_msg_new(m->kind, m->type);
    if (r == NULL)
        return NULL;
    r->has_from = m->has_from;
    r->has_to = m->has_to;
    r->from = m->from;
    r->to = m->to;
    r->priority = m->priority;
    r->flags = m->flags;
    r->xml = wb_stanza_parse_client(b->data, b->len);
    if ((m->id != NULL && (r->id = strdup(m->id)) == NULL) || r->xml == NULL) {
        wb_msg_unref(r);
        return NULL;
    }
    r->bytes = wb_buf_steal(b, &r->bytes_len);
    return r;
}

/* ---- hooks ---- */

/* The sender's copy, for messages from a local session (to itself: the inbound hook). */
static wb_mod_result wb_mam_outbound(wb_worker *w, uint64_t sid, wb_msg *m)
{
    char stanza_id[WB_ARCHIVE_UUID_LEN + 1];
    (void)sid;
    if (!m->has_from || !m->has_to || !wb_jid_has_node(&m->to) ||
        wb_jid_bare_eq(&m->to, &m->from) || !wb_mam_archivable(m))
        return WB_MOD_PASS;
    wb_store_archive_uuid(stanza_id);
    wb_mam_archive(w, m, &m->from, &m->to, true, stanza_id);
    return WB_MOD_PASS;
}

/* The recipient's copy: archived under a new stanza-id that the delivered message carries. */
static wb_mod_result wb_mam_inbound(wb_worker *w, wb_msg *m)
{
    char stanza_id[WB_ARCHIVE_UUID_LEN + 1];
    if (m->kind != WB_MSG_MESSAGE || m->xml == NULL || m->bytes == NULL)
        return WB_MOD_PASS;
    const bool archive = m->has_from && wb_mam_archivable(m);
    bool spoofed = false;
    for (wb_el el = wb_st_first(m->xml, 0); el >= 0 && !spoofed; el = wb_st_next(m->xml, el))
        spoofed = wb_mam_spoofed(w, m->xml, el);
    if (!archive && !spoofed)
        return WB_MOD_PASS;
    wb_store_archive_uuid(stanza_id);
    wb_buf b;
    wb_buf_init(&b);
    wb_msg *n =
        wb_mam_rebuild(w, m, archive ? stanza_id : NULL, &b) == 0 ? wb_mam_copy(m, &b) : NULL;
    wb_buf_free(&b);
    if (n == NULL) {
        wb_warn("archive: a message could not be prepared for delivery");
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        wb_msg_unref(m);
        return WB_MOD_HANDLED;
    }
    if (archive) {
        wb_jid owner = n->to;
        owner.resource[0] = '\0';
        wb_mam_archive(w, n, &owner, &n->from, false, stanza_id);
    }
    wb_msg_unref(m);
    wb_modules_inbound(w, n, wb_modules_index(&wb_mod_mam) + 1);
    return WB_MOD_HANDLED;
}

/* ---- queries ---- */

typedef struct wb_mam_op {
    wb_worker *w;
    wb_msg *m; /* the iq (a reference) */
    uint64_t sid;
    bool index_given;
    unsigned index;
    char queryid[WB_MAM_QID_MAX + 1];
    bool has_queryid;
} wb_mam_op;

typedef struct wb_mam_req {
    wb_archive_filter f;
    const char *ids[WB_ARCHIVE_MAX_IDS];
    char with[WB_JID_MAX + 1];
    char start[WB_MAM_TIME], end[WB_MAM_TIME];
    bool has_start, has_end, index_given;
} wb_mam_req;

/* Only the account itself reads its archive (iq without 'to' or to its own bare JID). */
static bool wb_mam_own(const wb_msg *m, bool to_server)
{
    return !to_server && m->has_from && (!m->has_to || wb_jid_bare_eq(&m->to, &m->from));
}

static wb_mam_op *wb_mam_op_new(wb_worker *w, const wb_msg *m)
{
    wb_dir_target t;
    if (!wb_directory_find(w->srv->dir, &m->from, &t) || t.worker != w->idx)
        return NULL;
    wb_mam_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->w = w;
    op->sid = t.sid;
    op->m = wb_msg_ref((wb_msg *)m);
    return op;
}

static void wb_mam_op_free(wb_mam_op *op)
{
    wb_msg_unref(op->m);
    free(op);
}

static bool wb_mam_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* XEP-0082 date-time into a timestamp PostgreSQL reads exactly; -1 when malformed. */
static int wb_mam_time(const char *s, char *out)
{
    struct tm tm = {0};
    long frac = 0, off = 0;
    const size_t len = strlen(s);
    if (len < 20 || !wb_mam_digits(s, 4) || s[4] != '-' || !wb_mam_digits(s + 5, 2) ||
        s[7] != '-' || !wb_mam_digits(s + 8, 2) || s[10] != 'T' || !wb_mam_digits(s + 11, 2) ||
        s[13] != ':' || !wb_mam_digits(s + 14, 2) || s[16] != ':' || !wb_mam_digits(s + 17, 2))
        return -1;
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    const char *p = s + 19;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && wb_mam_digits(p + 1, 2) && p[3] == ':' &&
        wb_mam_digits(p + 4, 2))
        off = (p[0] == '-' ? -1 : 1) * (atol(p + 1) * 3600 + atol(p + 4) * 60);
    else if (strcmp(p, "Z") != 0)
        return -1;
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    const time_t t = timegm(&tm) - off;
    wb_mam_stamp((int64_t)t * 1000000 + frac, out);
    return 0;
}

/* One form field into the request; false for an unknown field or a bad value. */
static bool wb_mam_field(const wb_stanza *st, wb_el field, wb_mam_req *r)
{
    const char *var = wb_st_attr(st, field, "var");
    const wb_el v = wb_st_child(st, field, "value", WB_NS_DATA);
    const char *val = v >= 0 ? wb_st_text(st, v, NULL) : "";
    wb_jid j;
    if (var == NULL)
        return false;
    if (strcmp(var, "FORM_TYPE") == 0)
        return strcmp(val, WB_NS_MAM) == 0;
    if (strcmp(var, "with") == 0) {
        if (wb_jid_parse(&j, val, strlen(val)) < 0 || wb_jid_bare(&j, r->with, sizeof(r->with)) < 0)
            return false;
        r->f.with = r->with;
        return true;
    }
    if (strcmp(var, "start") == 0 || strcmp(var, "end") == 0) {
        const bool start = var[0] == 's';
        if (wb_mam_time(val, start ? r->start : r->end) < 0)
            return false;
        *(start ? &r->f.start : &r->f.end) = start ? r->start : r->end;
        return true;
    }
    if (strcmp(var, "after-id") == 0 || strcmp(var, "before-id") == 0) {
        *(var[0] == 'a' ? &r->f.after_id : &r->f.before_id) = val;
        return true;
    }
    if (strcmp(var, "ids") != 0)
        return false;
    r->f.has_ids = true;
    for (wb_el e = wb_st_first(st, field); e >= 0; e = wb_st_next(st, e)) {
        if (strcmp(wb_st_name(st, e), "value") != 0)
            continue;
        if (r->f.n_ids >= WB_ARCHIVE_MAX_IDS)
            return false;
        r->ids[r->f.n_ids++] = wb_st_text(st, e, NULL);
    }
    return true;
}

/* XEP-0059: max, after, before (empty: the last page), index. */
static bool wb_mam_rsm(const wb_stanza *st, wb_el set, wb_mam_req *r)
{
    r->f.max = WB_ARCHIVE_MAX_PAGE;
    if (set < 0)
        return true;
    for (wb_el e = wb_st_first(st, set); e >= 0; e = wb_st_next(st, e)) {
        const char *name = wb_st_name(st, e), *text = wb_st_text(st, e, NULL);
        const size_t n = strlen(text);
        if (strcmp(name, "max") == 0 || strcmp(name, "index") == 0) {
            if (n == 0 || n > 9 || !wb_mam_digits(text, n))
                return false;
            const unsigned v = (unsigned)atol(text);
            if (name[0] == 'm') {
                r->f.max = v < WB_ARCHIVE_MAX_PAGE ? v : WB_ARCHIVE_MAX_PAGE;
            } else {
                r->f.index = v;
                r->index_given = true;
            }
        } else if (strcmp(name, "after") == 0) {
            r->f.rsm_after = n > 0 ? text : NULL; /* an empty <after/> asks for the start */
        } else if (strcmp(name, "before") == 0) {
            r->f.backward = true;
            r->f.rsm_before = n > 0 ? text : NULL;
        }
    }
    return true;
}

/* An id the archive cannot hold (not a UUID) is simply not there: item-not-found. */
static bool wb_mam_ids_exist(const wb_archive_filter *f)
{
    const char *m[4] = {f->after_id, f->before_id, f->rsm_after, f->rsm_before};
    for (size_t i = 0; i < 4; i++)
        if (m[i] != NULL && !wb_store_archive_uuid_ok(m[i]))
            return false;
    return true;
}

static void wb_mam_result(wb_c2s *c, const wb_mam_op *op, const wb_archive_item *it)
{
    char stamp[WB_MAM_TIME], owner[WB_JID_MAX + 1];
    wb_jid bare = op->m->from;
    bare.resource[0] = '\0';
    wb_buf b;
    wb_buf_init(&b);
    wb_jid_bare(&bare, owner, sizeof(owner));
    wb_mam_stamp(it->ts_us, stamp);
    char to[WB_JID_MAX + 1];
    wb_jid_full(&op->m->from, to, sizeof(to));
    wb_buf_puts(&b, "<message from='");
    wb_buf_xml_escape_str(&b, owner);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to);
    wb_buf_puts(&b, "'><result xmlns='" WB_NS_MAM "'");
    if (op->has_queryid) {
        wb_buf_puts(&b, " queryid='");
        wb_buf_xml_escape_str(&b, op->queryid);
        wb_buf_puts(&b, "'");
    }
    wb_buf_printf(&b,
                  " id='%s'><forwarded xmlns='" WB_NS_FORWARD "'><delay xmlns='" WB_NS_DELAY
                  "' stamp='%s'/>",
                  it->stanza_id, stamp);
    if (it->payload != NULL) {
        wb_buf_append(&b, it->payload, it->len);
    } else {
        wb_mam_stamp(it->retracted_us, stamp);
        wb_buf_puts(&b, "<message xmlns='" WB_NS_CLIENT "' type='chat' from='");
        wb_buf_xml_escape_str(&b, it->outgoing ? owner : it->peer);
        wb_buf_puts(&b, "' to='");
        wb_buf_xml_escape_str(&b, it->outgoing ? it->peer : owner);
        wb_buf_puts(&b, "'><retracted xmlns='" WB_NS_RETRACT "' id='");
        wb_buf_xml_escape_str(&b, it->retract_id);
        wb_buf_printf(&b, "' stamp='%s'/></message>", stamp);
    }
    wb_buf_puts(&b, "</forwarded></result></message>");
    wb_msg *r = b.failed ? NULL
                         : wb_xmpp_msg_from_text(WB_MSG_MESSAGE, WB_MT_NORMAL, &bare, &op->m->from,
                                                 b.data, b.len);
    if (r != NULL) {
        wb_c2s_deliver(c, r);
        wb_msg_unref(r);
    }
    wb_buf_free(&b);
}

static void wb_mam_fin(const wb_mam_op *op, const wb_archive_item *items, size_t n, uint64_t count,
                       bool complete)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<fin xmlns='" WB_NS_MAM "' complete='%s'><set xmlns='" WB_NS_RSM "'>",
                  complete ? "true" : "false");
    if (n > 0) {
        if (op->index_given)
            wb_buf_printf(&b, "<first index='%u'>%s</first>", op->index, items[0].stanza_id);
        else
            wb_buf_printf(&b, "<first>%s</first>", items[0].stanza_id);
        wb_buf_printf(&b, "<last>%s</last>", items[n - 1].stanza_id);
    }
    wb_buf_printf(&b, "<count>%llu</count></set></fin>", (unsigned long long)count);
    if (b.failed)
        wb_route_error(op->w, op->m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(op->w, op->m, b.data);
    wb_buf_free(&b);
}

static void wb_mam_answered(void *arg, wb_store_status status, const wb_archive_item *items,
                            size_t n, uint64_t count, bool complete)
{
    wb_mam_op *op = arg;
    wb_c2s *c = wb_worker_session(op->w, op->sid);
    if (c == NULL || wb_c2s_closing(c))
        goto done;
    if (status == WB_STORE_NOT_FOUND) {
        wb_route_error(op->w, op->m, WB_STE_ITEM_NOT_FOUND, NULL);
    } else if (status != WB_STORE_OK) {
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR,
                       "The archive is unavailable, try again later");
    } else {
        for (size_t i = 0; i < n; i++)
            wb_mam_result(c, op, &items[i]);
        wb_mam_fin(op, items, n, count, complete);
    }
done:
    wb_mam_op_free(op);
}

/* Reads the query's form and RSM set into r; false: bad-request. */
static bool wb_mam_read_query(const wb_stanza *st, wb_el q, wb_mam_req *r)
{
    const wb_el x = wb_st_child(st, q, "x", WB_NS_DATA);
    for (wb_el f = x >= 0 ? wb_st_first(st, x) : -1; f >= 0; f = wb_st_next(st, f))
        if (strcmp(wb_st_name(st, f), "field") == 0 && !wb_mam_field(st, f, r))
            return false;
    r->f.ids = r->ids;
    return wb_mam_rsm(st, wb_st_child(st, q, "set", WB_NS_RSM), r);
}

static wb_mod_result wb_mam_query(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server)
        return WB_MOD_PASS;
    if (!wb_mam_own(m, to_server)) {
        wb_route_error(w, m, WB_STE_FORBIDDEN, NULL);
        return WB_MOD_HANDLED;
    }
    const wb_el q = wb_st_child(m->xml, 0, "query", WB_NS_MAM);
    const char *qid = wb_st_attr(m->xml, q, "queryid");
    wb_mam_req *r = calloc(1, sizeof(*r));
    wb_mam_op *op = NULL;
    if (r == NULL || (op = wb_mam_op_new(w, m)) == NULL) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        goto done;
    }
    if ((qid != NULL && strlen(qid) > WB_MAM_QID_MAX) || !wb_mam_read_query(m->xml, q, r)) {
        wb_route_error(w, m, WB_STE_BAD_REQUEST, NULL);
        goto done;
    }
    if (!wb_mam_ids_exist(&r->f)) {
        wb_route_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
        goto done;
    }
    for (size_t i = 0; i < r->f.n_ids; i++)
        if (!wb_store_archive_uuid_ok(r->ids[i]))
            r->ids[i--] = r->ids[--r->f.n_ids]; /* unknown ids match nothing */
    op->has_queryid = qid != NULL;
    snprintf(op->queryid, sizeof(op->queryid), "%s", qid ? qid : "");
    op->index_given = r->index_given && !r->f.backward;
    op->index = r->f.index;
    if (wb_store_archive_query(w->store, m->from.node, m->from.domain, &r->f, wb_mam_answered, op) <
        0) {
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        goto done;
    }
    op = NULL;
done:
    if (op != NULL)
        wb_mam_op_free(op);
    free(r);
    return WB_MOD_HANDLED;
}

/* XEP-0313 section 4.1.1: the form a client may fill. */
static wb_mod_result wb_mam_form(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server)
        return WB_MOD_PASS;
    if (!wb_mam_own(m, to_server)) {
        wb_route_error(w, m, WB_STE_FORBIDDEN, NULL);
        return WB_MOD_HANDLED;
    }
    wb_modules_reply(
        w, m,
        "<query xmlns='" WB_NS_MAM "'><x xmlns='" WB_NS_DATA "' type='form'>"
        "<field var='FORM_TYPE' type='hidden'><value>" WB_NS_MAM "</value></field>"
        "<field var='with' type='jid-single'/><field var='start' type='text-single'/>"
        "<field var='end' type='text-single'/><field var='before-id' type='text-single'/>"
        "<field var='after-id' type='text-single'/><field var='ids' type='list-multi'/>"
        "</x></query>");
    return WB_MOD_HANDLED;
}

static const char *const wb_mam_features[] = {WB_NS_SID, NULL};
static const wb_iq_handler wb_mam_iq[] = {
    {WB_NS_MAM, "query", wb_mam_form, wb_mam_query},
    {WB_NS_MAM, "prefs", wb_mam_prefs, wb_mam_prefs},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_mam = {
    .name = "mam",
    .features = wb_mam_features,
    .iq = wb_mam_iq,
    .outbound = wb_mam_outbound,
    .inbound = wb_mam_inbound,
    .init = wb_mam_init,
    .shutdown = wb_mam_shutdown,
};
