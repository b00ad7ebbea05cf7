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

#endif
