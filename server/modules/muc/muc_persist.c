/* Persistent rooms: the room state's format (configuration, subject, affiliations, occupant-id
 * key as escaped "key<TAB>value" lines, sealed by storage/wb_store_muc.c under the room's key),
 * saving after each change and loading at start-up (history then comes from the room archive,
 * muc_mam.c). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "muc_int.h"
#include "wb_log.h"
#include "wb_router.h"

#define MUC_STATE_VERSION "1"

/* ---- the format ---- */

static void muc_put_line(wb_buf *b, const char *key, const char *v)
{
    wb_buf_puts(b, key);
    wb_buf_puts(b, "\t");
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\')
            wb_buf_puts(b, "\\\\");
        else if (*p == '\n')
            wb_buf_puts(b, "\\n");
        else if (*p == '\t')
            wb_buf_puts(b, "\\t");
        else
            wb_buf_append(b, p, 1);
    }
    wb_buf_puts(b, "\n");
}

static void muc_serialize(const muc_room *r, wb_buf *b)
{
    const muc_rconf *c = &r->cfg;
    char flags[16], num[32], hex[2 * sizeof(r->oid_key) + 1];
    snprintf(flags, sizeof(flags), "%d%d%d%d%d%d%d%d", c->persistent, c->public_room,
             c->members_only, c->password_protected, c->moderated, c->nonanonymous,
             c->change_subject, c->allow_invites);
    muc_put_line(b, "v", MUC_STATE_VERSION);
    muc_put_line(b, "creator", r->creator);
    muc_put_line(b, "flags", flags);
    muc_put_line(b, "name", c->name);
    muc_put_line(b, "desc", c->desc);
    muc_put_line(b, "password", c->password);
    snprintf(num, sizeof(num), "%d", (int)c->allow_pm);
    muc_put_line(b, "allowpm", num);
    snprintf(num, sizeof(num), "%d", c->max_users);
    muc_put_line(b, "maxusers", num);
    snprintf(num, sizeof(num), "%d", c->history_length);
    muc_put_line(b, "history", num);
    muc_put_line(b, "archive", c->archiving ? "1" : "0");
    snprintf(num, sizeof(num), "%lld", (long long)c->expiry);
    muc_put_line(b, "expiry", num);
    if (r->subject)
        muc_put_line(b, "subject", r->subject);
    if (r->subject_nick)
        muc_put_line(b, "subjectnick", r->subject_nick);
    sodium_bin2hex(hex, sizeof(hex), r->oid_key, sizeof(r->oid_key));
    muc_put_line(b, "oidkey", hex);
    sodium_memzero(hex, sizeof(hex));
    for (const muc_affil *a = r->affs; a; a = a->next)
        muc_put_line(b, muc_aff_name(a->aff), a->jid);
}

/* Unescapes one value in place. */
static void muc_unescape(char *v)
{
    char *o = v;
    for (char *p = v; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *o++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static int muc_dup(char **dst, const char *v)
{
    free(*dst);
    *dst = *v ? strdup(v) : NULL;
    return *v && !*dst ? -1 : 0;
}

static int muc_parse_line(muc_room *r, const char *key, const char *v, int *hist)
{
    muc_rconf *c = &r->cfg;
    muc_aff a;
    if (strcmp(key, "v") == 0)
        return strcmp(v, MUC_STATE_VERSION) == 0 ? 0 : -1;
    if (strcmp(key, "flags") == 0) {
        if (strlen(v) != 8)
            return -1;
        bool *f[] = {&c->persistent, &c->public_room,  &c->members_only,   &c->password_protected,
                     &c->moderated,  &c->nonanonymous, &c->change_subject, &c->allow_invites};
        for (size_t i = 0; i < 8; i++)
            *f[i] = v[i] == '1';
        return 0;
    }
    if (strcmp(key, "creator") == 0) {
        char *d = strdup(v);
        if (!d)
            return -1;
        free(r->creator);
        r->creator = d;
        return 0;
    }
    if (strcmp(key, "name") == 0)
        return muc_dup(&c->name, v);
    if (strcmp(key, "desc") == 0)
        return muc_dup(&c->desc, v);
    if (strcmp(key, "password") == 0)
        return muc_dup(&c->password, v);
    if (strcmp(key, "subject") == 0)
        return muc_dup(&r->subject, v);
    if (strcmp(key, "subjectnick") == 0)
        return muc_dup(&r->subject_nick, v);
    if (strcmp(key, "allowpm") == 0)
        c->allow_pm = (muc_pm)(atoi(v) & 3);
    else if (strcmp(key, "maxusers") == 0)
        c->max_users = atoi(v) > 0 ? atoi(v) : 1;
    else if (strcmp(key, "history") == 0)
        *hist = atoi(v);
    else if (strcmp(key, "archive") == 0)
        c->archiving = strcmp(v, "1") == 0;
    else if (strcmp(key, "expiry") == 0)
        c->expiry = strtoll(v, NULL, 10) > 0 ? strtoll(v, NULL, 10) : 0;
    else if (strcmp(key, "oidkey") == 0)
        return sodium_hex2bin(r->oid_key, sizeof(r->oid_key), v, strlen(v), NULL, NULL, NULL);
    else if (muc_aff_parse(key, &a) == 0)
        return muc_aff_set(r, v, a);
    return 0;
}

static int muc_deserialize(const muc_state *st, muc_room *r, const uint8_t *data, size_t len)
{
    char *s = malloc(len + 1), *save = NULL;
    int hist = st->conf.history_default, rc = 0;
    if (!s)
        return -1;
    memcpy(s, data, len);
    s[len] = '\0';
    for (char *line = strtok_r(s, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        if (!tab) {
            rc = -1;
            break;
        }
        *tab = '\0';
        muc_unescape(tab + 1);
        rc = muc_parse_line(r, line, tab + 1, &hist);
    }
    sodium_memzero(s, len);
    free(s);
    if (hist > st->conf.history_max)
        hist = st->conf.history_max;
    return rc == 0 ? muc_hist_resize(r, hist < 0 ? 0 : hist) : -1;
}

/* ---- saving ---- */

typedef struct muc_save {
    wb_worker *w;
    wb_msg *reply; /* the iq to answer, or NULL */
    char room[MUC_JID_BUF];
    wb_jid jid;
    int64_t id;
    bool save; /* a save (not a delete) */
} muc_save;

/* A save found the room's row gone (or its creator's account): the room goes from memory. */
static void muc_save_lost(const muc_save *s)
{
    muc_state *st = muc_state_of(s->w->srv);
    muc_wstate *ws = st ? &st->ws[s->w->idx] : NULL;
    muc_room *r = ws ? muc_room_find(ws, &s->jid) : NULL;
    if (r && r->id == s->id)
        muc_room_vanished(s->w, st, ws, r, "The room was removed from storage");
}

static void muc_saved(void *arg, wb_store_status status)
{
    muc_save *s = arg;
    if (status == WB_STORE_UNAVAILABLE)
        wb_warn("muc: room %s could not be stored (database unavailable); it stays in memory",
                s->room);
    if (s->reply && status == WB_STORE_OK)
        wb_modules_reply(s->w, s->reply, NULL);
    else if (s->reply)
        muc_error(s->w, s->reply, WB_STE_INTERNAL_SERVER_ERROR, "The room could not be stored");
    if (s->reply)
        wb_msg_unref(s->reply);
    if (status == WB_STORE_NOT_FOUND && s->save)
        muc_save_lost(s);
    free(s);
}

static muc_save *muc_save_new(wb_worker *w, const muc_room *r, const wb_msg *reply)
{
    muc_save *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->w = w;
    s->reply = reply ? wb_msg_ref((wb_msg *)reply) : NULL;
    snprintf(s->room, sizeof(s->room), "%s", r->jid_s);
    s->jid = r->jid;
    s->id = r->id;
    return s;
}

static wb_store_req *muc_save_submit(wb_worker *w, muc_room *r, muc_save *s)
{
    char node[WB_JID_PART_MAX + 1];
    const char *at = strchr(r->creator, '@');
    wb_buf b;
    if (!at || (size_t)(at - r->creator) >= sizeof(node))
        return NULL;
    memcpy(node, r->creator, (size_t)(at - r->creator));
    node[at - r->creator] = '\0';
    if (!r->key && !(r->key = wb_store_muc_key_new(w->srv->vault, r->id)))
        return NULL;
    s->save = true;
    wb_buf_init(&b);
    muc_serialize(r, &b);
    wb_store_req *req = NULL;
    if (!b.failed)
        req = wb_store_muc_save(w->store, r->key, r->id, r->jid.domain, r->jid.node, at + 1, node,
                                r->stored, (const uint8_t *)b.data, b.len, muc_saved, s);
    if (b.data)
        sodium_memzero(b.data, b.len);
    wb_buf_free(&b);
    return req;
}

void muc_persist(wb_worker *w, muc_state *st, muc_room *r, const wb_msg *reply)
{
    (void)st;
    const bool keep = r->cfg.persistent && !r->locked;
    if (!keep && !r->stored) {
        if (reply)
            wb_modules_reply(w, reply, NULL);
        return;
    }
    muc_save *s = muc_save_new(w, r, reply);
    wb_store_req *req = NULL;
    if (s)
        req = keep ? muc_save_submit(w, r, s) : wb_store_muc_delete(w->store, r->id, muc_saved, s);
    if (!req) {
        if (s)
            muc_saved(s, WB_STORE_UNAVAILABLE);
        else if (reply)
            muc_error(w, reply, WB_STE_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    r->stored = keep;
}

void muc_persist_delete(wb_worker *w, muc_room *r)
{
    muc_save *s = muc_save_new(w, r, NULL);
    if (s && !wb_store_muc_delete(w->store, r->id, muc_saved, s))
        muc_saved(s, WB_STORE_UNAVAILABLE);
    r->stored = false;
}

/* ---- watching that stored rooms keep their rows ---- */

static void muc_watch_arm(wb_worker *w, const muc_state *st);

static void muc_watch_answer(void *arg, wb_store_status status, const int64_t *ids, size_t n)
{
    wb_worker *w = arg;
    if (status != WB_STORE_OK || w->stopping)
        return; /* unavailable: the store is closing, or the check comes again at restart */
    muc_state *st = muc_state_of(w->srv);
    muc_wstate *ws = &st->ws[w->idx];
    muc_room *r = ws->rooms;
    while (r) {
        muc_room *next = r->next;
        bool found = !r->stored;
        for (size_t i = 0; i < n && !found; i++)
            found = ids[i] == r->id;
        if (!found)
            muc_room_vanished(w, st, ws, r, "The room was removed by an administrator");
        r = next;
    }
    muc_watch_arm(w, st);
}

static void muc_watch_tick(evutil_socket_t fd, short what, void *arg)
{
    wb_worker *w = arg;
    int64_t ids[WB_STORE_MUC_EXIST_MAX];
    size_t n = 0;
    (void)fd;
    (void)what;
    if (w->stopping)
        return;
    muc_state *st = muc_state_of(w->srv);
    for (const muc_room *r = st->ws[w->idx].rooms; r && n < WB_STORE_MUC_EXIST_MAX; r = r->next)
        if (r->stored)
            ids[n++] = r->id;
    if (!n || !wb_store_muc_exist(w->store, ids, n, muc_watch_answer, w))
        muc_watch_arm(w, st);
}

static void muc_watch_arm(wb_worker *w, const muc_state *st)
{
    const struct timeval tv = {st->conf.check_interval, 0};
    if (event_base_once(w->base, -1, EV_TIMEOUT, muc_watch_tick, w, &tv) < 0)
        wb_warn("muc: cannot arm the check of stored rooms");
}

void muc_persist_watch(wb_worker *w, muc_state *st)
{
    muc_wstate *ws = &st->ws[w->idx];
    if (ws->watching || !w->srv->vault)
        return;
    ws->watching = true;
    muc_watch_arm(w, st);
}

/* ---- loading ---- */

static bool muc_serves(const muc_state *st, const char *service)
{
    for (size_t i = 0; i < st->n_services; i++)
        if (st->services[i] && strcmp(st->services[i], service) == 0)
            return true;
    return false;
}

static void muc_loaded(void *arg, int64_t id, const char *service, const char *node,
                       wb_store_muc_key *key, const uint8_t *state, size_t len)
{
    muc_state *st = arg;
    wb_jid jid;
    memset(&jid, 0, sizeof(jid));
    if (!muc_serves(st, service) || wb_jid_prep_node(jid.node, node, strlen(node)) < 0 ||
        wb_jid_prep_domain(jid.domain, service, strlen(service)) < 0) {
        wb_warn("muc: stored room %s@%s is not served here; left as is", node, service);
        wb_store_muc_key_free(key);
        return;
    }
    muc_wstate *ws = &st->ws[muc_owner_of(st, &jid)];
    muc_room *r = muc_room_new(st, ws, &jid, "");
    if (!r) {
        wb_store_muc_key_free(key);
        return;
    }
    r->id = id;
    r->key = key;
    r->stored = true;
    if (muc_deserialize(st, r, state, len) < 0) {
        wb_error("muc: stored room %s does not parse; not loaded", r->jid_s);
        ws->rooms = r->next;
        r->stored = false;
        muc_room_free(r);
        return;
    }
    muc_dir_update(st, r);
}

int muc_persist_load(muc_state *st)
{
    const wb_config *cfg = st->srv->cfg;
    char err[256];
    if (!st->srv->vault)
        return 0;
    wb_pg *pg = wb_store_sync_connect(cfg->dsn, cfg->db_wait);
    if (!pg)
        return -1;
    const int rc = wb_store_muc_load(pg, st->srv->vault, muc_loaded, st, err, sizeof(err));
    if (rc == 0)
        muc_mam_load_history(st, pg);
    wb_store_sync_close(pg);
    if (rc < 0) {
        wb_error("muc: cannot load the stored rooms: %s", err);
        return -1;
    }
    size_t n = 0;
    for (int i = 0; i < st->n_workers; i++)
        for (const muc_room *r = st->ws[i].rooms; r; r = r->next)
            n++;
    wb_info("muc: %zu stored rooms loaded", n);
    return 0;
}
