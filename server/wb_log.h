/* Logging: one line per event to stderr, filtered by level.
 * Never pass message content or passwords to these functions. */
#ifndef WB_LOG_H
#define WB_LOG_H

typedef enum { WB_LOG_DEBUG = 0, WB_LOG_INFO, WB_LOG_WARN, WB_LOG_ERROR } wb_log_level;

/* Set once at start-up (before workers start); returns -1 on an unknown level name. */
int wb_log_set_level_name(const char *name);
void wb_log_set_level(wb_log_level level);
int wb_log_enabled(wb_log_level level);
void wb_log(wb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define wb_debug(...) wb_log(WB_LOG_DEBUG, __VA_ARGS__)
#define wb_info(...)  wb_log(WB_LOG_INFO, __VA_ARGS__)
#define wb_warn(...)  wb_log(WB_LOG_WARN, __VA_ARGS__)
#define wb_error(...) wb_log(WB_LOG_ERROR, __VA_ARGS__)

#endif
