/* The shared cache of XEP-0191 block lists: a hash of entries by bare JID under a rwlock, with an
 * LRU cap, and the interested-session set under a mutex. Filled and invalidated by blocking.c. */
#include "blocking_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WB_BLOCK_BUCKETS     1024
#define WB_BLOCK_SID_BUCKETS 256

typedef struct wb_block_entry {
    struct wb_block_entry *next;
    uint64_t hash;
    uint64_t last_use; /* atomic: updated under the read lock */
    size_t n;
    char **items;       /* one allocation: n pointers, then the strings */
    const char *domain; /* inside key */
    char key[];         /* node '\0' domain '\0' */
} wb_block_entry;

typedef struct wb_block_sid {
    struct wb_block_sid *next;
    uint64_t sid;
} wb_block_sid;

#define WB_BLOCK_GEN_SLOTS 1024

struct wb_block_cache {
    pthread_rwlock_t lock;
    wb_block_entry *buckets[WB_BLOCK_BUCKETS];
    size_t count, max;
    /* Generations per slot of accounts (by hash), bumped by changes: a load that started before
     * a change of its account is not cached. Per slot, not global, so that changes of other
     * accounts do not make loads retry. Under lock. */
    uint64_t gen[WB_BLOCK_GEN_SLOTS];
    uint64_t clock; /* atomic */
    pthread_mutex_t sid_lock;
    wb_block_sid *sids[WB_BLOCK_SID_BUCKETS];
};

static bool wb_block_part_eq(const char *p, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(p, s, len) == 0;
}

bool wb_block_item_matches(const char *item, const wb_jid *jid)
{
    const char *slash = strchr(item, '/');
    const size_t plen = slash ? (size_t)(slash - item) : strlen(item);
    const char *at = memchr(item, '@', plen);
    const char *dom = at ? at + 1 : item;
    if (!wb_block_part_eq(dom, (size_t)(item + plen - dom), jid->domain))
        return false;
    if (at && !wb_block_part_eq(item, (size_t)(at - item), jid->node))
        return false;
    if (!at && slash && jid->node[0])
        return false; /* domain/resource matches only that very JID */
    return !slash || strcmp(slash + 1, jid->resource) == 0;
}

bool wb_block_items_match(const char *const *items, size_t n, const wb_jid *jid)
{
    for (size_t i = 0; i < n; i++)
        if (wb_block_item_matches(items[i], jid))
            return true;
    return false;
}

static uint64_t wb_block_hash(const wb_jid *account)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = account->node; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
    for (const char *p = account->domain; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

/* Caller holds the lock (either mode). */
static wb_block_entry **wb_block_find(wb_block_cache *bc, const wb_jid *account, uint64_t h)
{
    wb_block_entry **pe = &bc->buckets[h % WB_BLOCK_BUCKETS];
    for (; *pe; pe = &(*pe)->next)
        if ((*pe)->hash == h && strcmp((*pe)->key, account->node) == 0 &&
            strcmp((*pe)->domain, account->domain) == 0)
            return pe;
    return pe;
}

static void wb_block_entry_free(wb_block_entry *e)
{
    free(e->items);
    free(e);
}

wb_block_cache *wb_block_cache_new(size_t max_accounts)
{
    wb_block_cache *bc = calloc(1, sizeof(*bc));
    if (!bc)
        return NULL;
    bc->max = max_accounts ? max_accounts : 1;
    if (pthread_rwlock_init(&bc->lock, NULL) != 0)
        goto fail;
    if (pthread_mutex_init(&bc->sid_lock, NULL) != 0) {
        pthread_rwlock_destroy(&bc->lock);
        goto fail;
    }
    return bc;
fail:
    free(bc);
    return NULL;
}

void wb_block_cache_free(wb_block_cache *bc)
{
    if (!bc)
        return;
    for (size_t i = 0; i < WB_BLOCK_BUCKETS; i++) {
        for (wb_block_entry *e = bc->buckets[i], *next; e; e = next) {
            next = e->next;
            wb_block_entry_free(e);
        }
    }
    for (size_t i = 0; i < WB_BLOCK_SID_BUCKETS; i++) {
        for (wb_block_sid *s = bc->sids[i], *next; s; s = next) {
            next = s->next;
            free(s);
        }
    }
    pthread_mutex_destroy(&bc->sid_lock);
    pthread_rwlock_destroy(&bc->lock);
    free(bc);
}

wb_block_answer wb_block_cache_blocks(wb_block_cache *bc, const wb_jid *account, const wb_jid *jid)
{
    const uint64_t h = wb_block_hash(account);
    wb_block_answer a = WB_BLOCK_UNKNOWN;
    pthread_rwlock_rdlock(&bc->lock);
    wb_block_entry *e = *wb_block_find(bc, account, h);
    if (e) {
        __atomic_store_n(&e->last_use, __atomic_add_fetch(&bc->clock, 1, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        a = wb_block_items_match((const char *const *)e->items, e->n, jid) ? WB_BLOCK_YES
                                                                           : WB_BLOCK_NO;
    }
    pthread_rwlock_unlock(&bc->lock);
    return a;
}

long wb_block_cache_each(wb_block_cache *bc, const wb_jid *account,
                         void (*fn)(void *arg, const char *item), void *arg)
{
    const uint64_t h = wb_block_hash(account);
    long n = -1;
    pthread_rwlock_rdlock(&bc->lock);
    const wb_block_entry *e = *wb_block_find(bc, account, h);
    if (e) {
        for (size_t i = 0; i < e->n; i++)
            fn(arg, e->items[i]);
        n = (long)e->n;
    }
    pthread_rwlock_unlock(&bc->lock);
    return n;
}

uint64_t wb_block_cache_version(wb_block_cache *bc, const wb_jid *account)
{
    const uint64_t slot = wb_block_hash(account) % WB_BLOCK_GEN_SLOTS;
    pthread_rwlock_rdlock(&bc->lock);
    const uint64_t v = bc->gen[slot];
    pthread_rwlock_unlock(&bc->lock);
    return v;
}

static wb_block_entry *wb_block_entry_new(const wb_jid *account, const char *const *items, size_t n)
{
    const size_t nl = strlen(account->node), dl = strlen(account->domain);
    wb_block_entry *e = calloc(1, sizeof(*e) + nl + dl + 2);
    if (!e)
        return NULL;
    memcpy(e->key, account->node, nl + 1);
    memcpy(e->key + nl + 1, account->domain, dl + 1);
    e->domain = e->key + nl + 1;
    size_t total = n * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        total += strlen(items[i]) + 1;
    if (n && !(e->items = malloc(total))) {
        free(e);
        return NULL;
    }
    char *p = (char *)(e->items + n);
    for (size_t i = 0; i < n; i++) {
        const size_t len = strlen(items[i]) + 1;
        memcpy(p, items[i], len);
        e->items[i] = p;
        p += len;
    }
    e->n = n;
    return e;
}

/* Caller holds the write lock: removes the least recently used entry. */
static void wb_block_evict_lru(wb_block_cache *bc)
{
    wb_block_entry **victim = NULL;
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < WB_BLOCK_BUCKETS; i++) {
        for (wb_block_entry **pe = &bc->buckets[i]; *pe; pe = &(*pe)->next) {
            if ((*pe)->last_use <= oldest) {
                oldest = (*pe)->last_use;
                victim = pe;
            }
        }
    }
    if (victim) {
        wb_block_entry *e = *victim;
        *victim = e->next;
        wb_block_entry_free(e);
        bc->count--;
    }
}

int wb_block_cache_put(wb_block_cache *bc, const wb_jid *account, const char *const *items,
                       size_t n, uint64_t version)
{
    wb_block_entry *e = wb_block_entry_new(account, items, n);
    if (!e)
        return -1;
    e->hash = wb_block_hash(account);
    e->last_use = __atomic_add_fetch(&bc->clock, 1, __ATOMIC_RELAXED);
    int rc = -1;
    pthread_rwlock_wrlock(&bc->lock);
    wb_block_entry **pe = wb_block_find(bc, account, e->hash);
    if (!*pe && bc->gen[e->hash % WB_BLOCK_GEN_SLOTS] == version) {
        if (bc->count >= bc->max) {
            wb_block_evict_lru(bc);
            pe = wb_block_find(bc, account, e->hash);
        }
        *pe = e;
        bc->count++;
        rc = 0;
    }
    pthread_rwlock_unlock(&bc->lock);
    if (rc < 0)
        wb_block_entry_free(e);
    return rc;
}

static void wb_block_remove(wb_block_cache *bc, const wb_jid *account, bool bump)
{
    const uint64_t h = wb_block_hash(account);
    pthread_rwlock_wrlock(&bc->lock);
    wb_block_entry **pe = wb_block_find(bc, account, h);
    wb_block_entry *e = *pe;
    if (e) {
        *pe = e->next;
        bc->count--;
    }
    if (bump)
        bc->gen[h % WB_BLOCK_GEN_SLOTS]++;
    pthread_rwlock_unlock(&bc->lock);
    if (e)
        wb_block_entry_free(e);
}

void wb_block_cache_invalidate(wb_block_cache *bc, const wb_jid *account)
{
    wb_block_remove(bc, account, true);
}

void wb_block_cache_evict(wb_block_cache *bc, const wb_jid *account)
{
    wb_block_remove(bc, account, false);
}

void wb_block_cache_set_interested(wb_block_cache *bc, uint64_t sid, bool interested)
{
    pthread_mutex_lock(&bc->sid_lock);
    wb_block_sid **ps = &bc->sids[sid % WB_BLOCK_SID_BUCKETS];
    while (*ps && (*ps)->sid != sid)
        ps = &(*ps)->next;
    if (interested && !*ps) {
        wb_block_sid *s = calloc(1, sizeof(*s));
        if (s) {
            s->sid = sid;
            *ps = s;
        }
    } else if (!interested && *ps) {
        wb_block_sid *s = *ps;
        *ps = s->next;
        free(s);
    }
    pthread_mutex_unlock(&bc->sid_lock);
}

bool wb_block_cache_interested(wb_block_cache *bc, uint64_t sid)
{
    pthread_mutex_lock(&bc->sid_lock);
    const wb_block_sid *s = bc->sids[sid % WB_BLOCK_SID_BUCKETS];
    while (s && s->sid != sid)
        s = s->next;
    pthread_mutex_unlock(&bc->sid_lock);
    return s != NULL;
}
