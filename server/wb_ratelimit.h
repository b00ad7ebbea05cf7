/* Failed-login accounting: counts failures per key (an address or an account) in a sliding
 * window shared by all workers, so that password guessing is slowed down. */
#ifndef WB_RATELIMIT_H
#define WB_RATELIMIT_H

#include <stdbool.h>

typedef struct wb_ratelimit wb_ratelimit;

wb_ratelimit *wb_ratelimit_new(int max_failures, int window_seconds);
void wb_ratelimit_free(wb_ratelimit *rl);
/* True when key has reached max_failures within the window. */
bool wb_ratelimit_blocked(wb_ratelimit *rl, const char *key);
void wb_ratelimit_fail(wb_ratelimit *rl, const char *key);
/* Counts one event for key unless that would pass the limit, in one step (no check-then-count
 * race between workers); false when the limit is reached. */
bool wb_ratelimit_take(wb_ratelimit *rl, const char *key);
/* Gives back one event counted by wb_ratelimit_take (the attempt turned out not to count). */
void wb_ratelimit_refund(wb_ratelimit *rl, const char *key);

#endif
