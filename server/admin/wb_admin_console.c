/* The status console's static files (index.html, app.js, style.css, favicon.svg) served by the
 * admin listener at / and /console/NAME. Read from the installed data directory, or in a
 * development build from server/admin/console/ next to this source; the page talks to the API
 * itself. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wb_admin_int.h"

#define WB_CONSOLE_INSTALLED "/usr/share/warbler/console"
#define WB_CONSOLE_FILE_MAX  (512 * 1024)

/* The only files served (GET / is index.html): no path from the request reaches the file
 * system, only one of these names. */
static const struct {
    const char *file, *type;
} wb_console_files[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"app.js", "text/javascript; charset=utf-8"},
    {"style.css", "text/css; charset=utf-8"},
    {"favicon.svg", "image/svg+xml"},
};

/* Reads dir/file whole (at most WB_CONSOLE_FILE_MAX bytes); NULL when it cannot. */
static char *wb_console_read(const char *dir, size_t dirlen, const char *file, size_t *len)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%.*s/%s", (int)dirlen, dir, file);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= WB_CONSOLE_FILE_MAX)
        buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf != NULL && got < (size_t)st.st_size) {
        const ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (buf != NULL && got != (size_t)st.st_size) {
        free(buf);
        buf = NULL;
    }
    *len = got;
    return buf;
}

/* The installed copy first, then the source tree (this file's directory + "/console"). */
static char *wb_console_load(const char *file, size_t *len)
{
    char *buf = wb_console_read(WB_CONSOLE_INSTALLED, strlen(WB_CONSOLE_INSTALLED), file, len);
    const char *src = __FILE__, *slash = strrchr(src, '/');
    char dev[512];
    if (buf != NULL || slash == NULL)
        return buf;
    snprintf(dev, sizeof(dev), "%.*s/console", (int)(slash - src), src);
    return wb_console_read(dev, strlen(dev), file, len);
}

void wb_admin_h_console(wb_admin_req *r)
{
    const char *name = r->args[0] != NULL ? r->args[0] : "index.html";
    for (size_t i = 0; i < sizeof(wb_console_files) / sizeof(wb_console_files[0]); i++) {
        if (strcmp(wb_console_files[i].file, name) != 0)
            continue;
        size_t len = 0;
        char *data = wb_console_load(name, &len);
        if (data == NULL) {
            wb_admin_error(r, 404, "not_found", "the console is not installed");
            return;
        }
        wb_admin_reply_raw(r, 200, wb_console_files[i].type, data, len);
        return;
    }
    wb_admin_error(r, 404, "not_found", "no such resource");
}
