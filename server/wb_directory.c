/* wb_directory: a chained hash table from bare JID to the account's bound resources, guarded by
 * one rwlock (lookups on every routed stanza, writes only on bind/unbind/presence changes). */
#include "wb_directory.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct wb_dir_res {
    wb_dir_target t;
    wb_msg *last; /* last available presence, referenced */
} wb_dir_res;

typedef struct wb_dir_acct {
    struct wb_dir_acct *next;
    char *bare;
    wb_dir_res *res;
    size_t n, cap;
} wb_dir_acct;

struct wb_directory {
    pthread_rwlock_t lock;
    wb_dir_acct **buckets;
    size_t n_buckets;
    size_t n_accts;
    size_t n_res;
};

#define WB_DIR_INITIAL_BUCKETS 1024

wb_directory *wb_directory_new(void)
{
    wb_directory *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->n_buckets = WB_DIR_INITIAL_BUCKETS;
    d->buckets = calloc(d->n_buckets, sizeof(*d->buckets));
    if (!d->buckets || pthread_rwlock_init(&d->lock, NULL) != 0) {
        free(d->buckets);
        free(d);
        return NULL;
    }
    return d;
}

static void wb_dir_acct_free(wb_dir_acct *a)
{
    for (size_t i = 0; i < a->n; i++)
        wb_msg_unref(a->res[i].last);
    free(a->bare);
    free(a->res);
    free(a);
}

void wb_directory_free(wb_directory *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_buckets; i++) {
        wb_dir_acct *a = d->buckets[i];
        while (a) {
            wb_dir_acct *next = a->next;
            wb_dir_acct_free(a);
            a = next;
        }
    }
    pthread_rwlock_destroy(&d->lock);
    free(d->buckets);
    free(d);
}

static uint64_t wb_dir_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

static wb_dir_acct **wb_dir_slot(wb_directory *d, const char *bare)
{
    wb_dir_acct **p = &d->buckets[wb_dir_hash(bare) & (d->n_buckets - 1)];
    while (*p && strcmp((*p)->bare, bare) != 0)
        p = &(*p)->next;
    return p;
}

static void wb_dir_grow(wb_directory *d)
{
    size_t n = d->n_buckets * 2;
    wb_dir_acct **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < d->n_buckets; i++) {
        wb_dir_acct *a = d->buckets[i];
        while (a) {
            wb_dir_acct *next = a->next;
            size_t k = wb_dir_hash(a->bare) & (n - 1);
            a->next = b[k];
            b[k] = a;
            a = next;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->n_buckets = n;
}

static int wb_dir_key(const wb_jid *jid, char *bare, size_t size)
{
    return wb_jid_bare(jid, bare, size) < 0 ? -1 : 0;
}

static wb_dir_res *wb_dir_res_find(wb_dir_acct *a, const char *resource)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->res[i].t.resource, resource) == 0)
            return &a->res[i];
    return NULL;
}

static wb_dir_acct *wb_dir_acct_get(wb_directory *d, const char *bare)
{
    wb_dir_acct **slot = wb_dir_slot(d, bare);
    if (*slot)
        return *slot;
    wb_dir_acct *a = calloc(1, sizeof(*a));
    if (!a || !(a->bare = strdup(bare))) {
        free(a);
        return NULL;
    }
    *slot = a;
    if (++d->n_accts > d->n_buckets)
        wb_dir_grow(d);
    return a;
}

int wb_directory_bind(wb_directory *d, const wb_jid *jid, uint64_t sid, int worker,
                      size_t max_resources, wb_dir_target *replaced)
{
    char bare[WB_JID_MAX + 1];
    memset(replaced, 0, sizeof(*replaced));
    if (wb_dir_key(jid, bare, sizeof(bare)) < 0)
        return -1;
    int rc = -1;
    pthread_rwlock_wrlock(&d->lock);
    wb_dir_acct *a = wb_dir_acct_get(d, bare);
    if (!a)
        goto out;
    wb_dir_res *r = wb_dir_res_find(a, jid->resource);
    if (r) {
        *replaced = r->t; /* newest wins (RFC 6120 7.7.2.2) */
        wb_msg_unref(r->last);
    } else {
        if (a->n >= max_resources)
            goto out;
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 2;
            wb_dir_res *nr = realloc(a->res, cap * sizeof(*nr));
            if (!nr)
                goto out;
            a->res = nr;
            a->cap = cap;
        }
        r = &a->res[a->n++];
        d->n_res++;
    }
    memset(r, 0, sizeof(*r));
    r->t.sid = sid;
    r->t.worker = worker;
    strcpy(r->t.resource, jid->resource);
    rc = 0;
out:
    pthread_rwlock_unlock(&d->lock);
    return rc;
}

bool wb_directory_unbind(wb_directory *d, const wb_jid *jid, uint64_t sid)
{
    char bare[WB_JID_MAX + 1];
    bool removed = false;
    if (wb_dir_key(jid, bare, sizeof(bare)) < 0)
        return false;
    pthread_rwlock_wrlock(&d->lock);
    wb_dir_acct **slot = wb_dir_slot(d, bare);
    wb_dir_acct *a = *slot;
    wb_dir_res *r = a ? wb_dir_res_find(a, jid->resource) : NULL;
    if (r && r->t.sid == sid) {
        removed = true;
        wb_msg_unref(r->last);
        *r = a->res[--a->n];
        d->n_res--;
        if (a->n == 0) {
            *slot = a->next;
            wb_dir_acct_free(a);
            d->n_accts--;
        }
    }
    pthread_rwlock_unlock(&d->lock);
    return removed;
}

void wb_directory_set_presence(wb_directory *d, const wb_jid *jid, uint64_t sid, bool available,
                               int priority, wb_msg *last)
{
    char bare[WB_JID_MAX + 1];
    if (wb_dir_key(jid, bare, sizeof(bare)) < 0)
        return;
    pthread_rwlock_wrlock(&d->lock);
    wb_dir_acct *a = *wb_dir_slot(d, bare);
    wb_dir_res *r = a ? wb_dir_res_find(a, jid->resource) : NULL;
    if (r && r->t.sid == sid) {
        r->t.available = available;
        r->t.priority = priority;
        wb_msg_unref(r->last);
        r->last = available && last ? wb_msg_ref(last) : NULL;
    }
    pthread_rwlock_unlock(&d->lock);
}

bool wb_directory_set_flags(wb_directory *d, const wb_jid *jid, uint64_t sid, unsigned set,
                            unsigned clear)
{
    char bare[WB_JID_MAX + 1];
    bool found = false;
    if (wb_dir_key(jid, bare, sizeof(bare)) < 0)
        return false;
    pthread_rwlock_wrlock(&d->lock);
    wb_dir_acct *a = *wb_dir_slot(d, bare);
    wb_dir_res *r = a ? wb_dir_res_find(a, jid->resource) : NULL;
    if (r && r->t.sid == sid) {
        r->t.flags = (r->t.flags | set) & ~clear;
        found = true;
    }
    pthread_rwlock_unlock(&d->lock);
    return found;
}

size_t wb_directory_presences(wb_directory *d, const wb_jid *jid, wb_msg **out, size_t max)
{
    char bare[WB_JID_MAX + 1];
    if (wb_dir_key(jid, bare, sizeof(bare)) < 0)
        return 0;
    size_t n = 0;
    pthread_rwlock_rdlock(&d->lock);
    wb_dir_acct *a = *wb_dir_slot(d, bare);
    for (size_t i = 0; a && i < a->n && n < max; i++)
        if (a->res[i].t.available && a->res[i].last)
            out[n++] = wb_msg_ref(a->res[i].last);
    pthread_rwlock_unlock(&d->lock);
    return n;
}

size_t wb_directory_lookup(wb_directory *d, const wb_jid *jid, wb_dir_target *out, size_t max)
{
    char bare[WB_JID_MAX + 1];
    if (wb_dir_key(jid, bare, sizeof(bare)) < 0)
        return 0;
    size_t n = 0;
    pthread_rwlock_rdlock(&d->lock);
    wb_dir_acct *a = *wb_dir_slot(d, bare);
    for (size_t i = 0; a && i < a->n && n < max; i++)
        out[n++] = a->res[i].t;
    pthread_rwlock_unlock(&d->lock);
    return n;
}

bool wb_directory_find(wb_directory *d, const wb_jid *jid, wb_dir_target *out)
{
    char bare[WB_JID_MAX + 1];
    if (wb_dir_key(jid, bare, sizeof(bare)) < 0)
        return false;
    bool found = false;
    pthread_rwlock_rdlock(&d->lock);
    wb_dir_acct *a = *wb_dir_slot(d, bare);
    wb_dir_res *r = a ? wb_dir_res_find(a, jid->resource) : NULL;
    if (r) {
        *out = r->t;
        found = true;
    }
    pthread_rwlock_unlock(&d->lock);
    return found;
}

size_t wb_directory_count(wb_directory *d)
{
    pthread_rwlock_rdlock(&d->lock);
    size_t n = d->n_res;
    pthread_rwlock_unlock(&d->lock);
    return n;
}

size_t wb_directory_each(wb_directory *d,
                         void (*fn)(void *arg, const char *bare, const wb_dir_target *t), void *arg)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&d->lock);
    for (size_t i = 0; i < d->n_buckets; i++) {
        for (const wb_dir_acct *a = d->buckets[i]; a != NULL; a = a->next) {
            for (size_t r = 0; r < a->n; r++, n++)
                fn(arg, a->bare, &a->res[r].t);
        }
    }
    pthread_rwlock_unlock(&d->lock);
    return n;
}

bool wb_directory_move(wb_directory *d, const wb_jid *jid, uint64_t sid, int worker)
{
    char bare[WB_JID_MAX + 1];
    bool moved = false;
    if (wb_dir_key(jid, bare, sizeof(bare)) < 0)
        return false;
    pthread_rwlock_wrlock(&d->lock);
    wb_dir_acct *a = *wb_dir_slot(d, bare);
    wb_dir_res *r = a ? wb_dir_res_find(a, jid->resource) : NULL;
    if (r && r->t.sid == sid) {
        r->t.worker = worker;
        moved = true;
    }
    pthread_rwlock_unlock(&d->lock);
    return moved;
}
