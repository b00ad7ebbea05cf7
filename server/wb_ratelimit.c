/* wb_ratelimit: failure counters per key in a fixed window, in a small mutex-guarded table that
 * forgets expired entries as it goes (bounded: the oldest entry is evicted when full). */
#include "wb_ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WB_RL_SLOTS 4096
#define WB_RL_KEY   320

typedef struct wb_rl_entry {
    char key[WB_RL_KEY];
    time_t start;
    int count;
} wb_rl_entry;

struct wb_ratelimit {
    pthread_mutex_t lock;
    int max;
    int window;
    wb_rl_entry slots[WB_RL_SLOTS];
};

wb_ratelimit *wb_ratelimit_new(int max_failures, int window_seconds)
{
    wb_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->lock, NULL);
    rl->max = max_failures;
    rl->window = window_seconds;
    return rl;
}

void wb_ratelimit_free(wb_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

static uint32_t wb_rl_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 16777619u;
    }
    return h;
}

/* Linear probing over 8 slots; an expired or the oldest slot is reused. */
static wb_rl_entry *wb_rl_find(wb_ratelimit *rl, const char *key, time_t now, int create)
{
    uint32_t h = wb_rl_hash(key);
    wb_rl_entry *victim = NULL;
    bool victim_live = false;
    for (int i = 0; i < 8; i++) {
        wb_rl_entry *e = &rl->slots[(h + (uint32_t)i) % WB_RL_SLOTS];
        bool expired = e->count == 0 || now - e->start >= rl->window;
        if (!expired && strncmp(e->key, key, WB_RL_KEY) == 0)
            return e;
        if (expired && (!victim || victim_live)) {
            victim = e;
            victim_live = false;
        } else if (!expired && (!victim || (victim_live && e->start < victim->start))) {
            victim = e;
            victim_live = true;
        }
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    strncpy(victim->key, key, WB_RL_KEY - 1);
    victim->start = now;
    return victim;
}

bool wb_ratelimit_blocked(wb_ratelimit *rl, const char *key)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&rl->lock);
    wb_rl_entry *e = wb_rl_find(rl, key, now, 0);
    bool blocked = e && e->count >= rl->max;
    pthread_mutex_unlock(&rl->lock);
    return blocked;
}

bool wb_ratelimit_take(wb_ratelimit *rl, const char *key)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&rl->lock);
    wb_rl_entry *e = wb_rl_find(rl, key, now, 1);
    bool ok = e->count < rl->max;
    if (ok)
        e->count++;
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

void wb_ratelimit_refund(wb_ratelimit *rl, const char *key)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&rl->lock);
    wb_rl_entry *e = wb_rl_find(rl, key, now, 0);
    if (e && e->count > 0)
        e->count--;
    pthread_mutex_unlock(&rl->lock);
}

void wb_ratelimit_fail(wb_ratelimit *rl, const char *key)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&rl->lock);
    wb_rl_entry *e = wb_rl_find(rl, key, now, 1);
    e->count++;
    pthread_mutex_unlock(&rl->lock);
}
