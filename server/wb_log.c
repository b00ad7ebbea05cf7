/* Logging: formats one line (time, level, thread, text) and writes it with a single write(2)
 * so that lines from several workers never interleave. Not a place for log shipping. */
#include "wb_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Written once at start-up before any thread exists; read-only afterwards. */
static wb_log_level wb_log_min = WB_LOG_INFO;

static const char *const wb_log_names[] = {"debug", "info", "warn", "error"};

int wb_log_set_level_name(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, wb_log_names[i]) == 0) {
            wb_log_min = (wb_log_level)i;
            return 0;
        }
    }
    return -1;
}

void wb_log_set_level(wb_log_level level)
{
    wb_log_min = level;
}

int wb_log_enabled(wb_log_level level)
{
    return level >= wb_log_min;
}

void wb_log(wb_log_level level, const char *fmt, ...)
{
    if (level < wb_log_min)
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, wb_log_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    /* Control characters from peers would let them forge log lines. */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20)
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
