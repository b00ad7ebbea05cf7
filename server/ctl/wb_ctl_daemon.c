/* warblerctl's client of the daemon's control socket: connect, one line out, lines back up to
 * "end". The daemon does the work and audits it; nothing here touches the database. */
#include "wb_ctl_daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define WB_CTL_DAEMON_LINE_MAX 4096

/* A connected socket; -1 (printed) or WB_CTL_DAEMON_DOWN (printed unless quiet). */
static int wb_ctl_daemon_connect(const char *path, bool quiet_down)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "control socket path too long: %s\n", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
        return fd;
    const int e = errno;
    if (fd >= 0)
        close(fd);
    const bool down = e == ENOENT || e == ECONNREFUSED;
    if (!down || !quiet_down)
        fprintf(stderr, "cannot reach warblerd at %s: %s\n", path, strerror(e));
    return down ? WB_CTL_DAEMON_DOWN : -1;
}

/* Reads the answer up to "end"; -1 if it ends early or reports an error. */
static int wb_ctl_daemon_answer(FILE *f, wb_ctl_daemon_fn *fn, void *arg)
{
    char line[WB_CTL_DAEMON_LINE_MAX];
    bool failed = false;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "end") == 0)
            return failed ? -1 : 0;
        if (strncmp(line, "error ", 6) == 0) {
            fprintf(stderr, "warblerd: %s\n", line + 6);
            failed = true;
        } else if (fn != NULL) {
            fn(arg, line);
        } else {
            puts(line);
        }
    }
    fprintf(stderr, "warblerd closed the control connection early\n");
    return -1;
}

int wb_ctl_daemon_ask(const wb_config *cfg, const char *cmd, wb_ctl_daemon_fn *fn, void *arg,
                      bool quiet_down)
{
    const int fd = wb_ctl_daemon_connect(cfg->control_socket, quiet_down);
    if (fd < 0)
        return fd;
    FILE *f = fdopen(fd, "r+");
    if (f == NULL) {
        close(fd);
        return -1;
    }
    fprintf(f, "%s\n", cmd);
    fflush(f);
    const int rc = wb_ctl_daemon_answer(f, fn, arg);
    fclose(f);
    return rc;
}

static void wb_ctl_daemon_closed(void *arg, const char *line)
{
    unsigned n = 0;
    if (sscanf(line, "closed %u", &n) == 1)
        fprintf(arg, "closed %u live session(s)\n", n);
}

void wb_ctl_daemon_close_sessions(const wb_config *cfg, const char *jid, const char *why, FILE *say)
{
    char cmd[WB_CTL_DAEMON_LINE_MAX];
    snprintf(cmd, sizeof(cmd), "sessions close %s %s", jid, why);
    if (wb_ctl_daemon_ask(cfg, cmd, wb_ctl_daemon_closed, say, true) == WB_CTL_DAEMON_DOWN)
        fprintf(say, "warblerd is not running: no live session to close\n");
}
