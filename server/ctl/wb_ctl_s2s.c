/* warblerctl s2s list|close DOMAIN: one line to the daemon's control socket (s2s.control_socket),
 * its answer printed up to the "end" line. The daemon does the work; nothing here touches state. */
#include "wb_ctl_s2s.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wb_jid.h"
#include "wb_s2s_conf.h"

int wb_ctl_s2s_parse(wb_ctl_s2s_args *a, int argc, char **argv, int i)
{
    memset(a, 0, sizeof(*a));
    if (i < argc && strcmp(argv[i], "list") == 0 && i + 1 == argc) {
        a->cmd = "list";
        return 0;
    }
    if (i + 2 == argc && strcmp(argv[i], "close") == 0) {
        a->cmd = "close";
        a->domain = argv[i + 1];
        return 0;
    }
    return -1;
}

static int wb_ctl_s2s_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "control socket path too long: %s\n", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        fprintf(stderr, "cannot reach warblerd at %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Prints the answer without its "end" line; -1 if it ends early or reports an error. */
static int wb_ctl_s2s_answer(FILE *f)
{
    char line[4096];
    int rc = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strcmp(line, "end\n") == 0)
            return rc == -2 ? -1 : 0;
        if (strncmp(line, "error ", 6) == 0) {
            fprintf(stderr, "warblerd: %s", line + 6);
            rc = -2;
            continue;
        }
        fputs(line, stdout);
    }
    fprintf(stderr, "warblerd closed the control connection early\n");
    return -1;
}

int wb_ctl_s2s_run(const wb_config *cfg, const wb_ctl_s2s_args *a)
{
    const wb_s2s_conf *s = cfg->s2s;
    char domain[WB_JID_PART_MAX + 1];
    if (!s->enabled) {
        fprintf(stderr, "federation is disabled (s2s.enabled = false)\n");
        return -1;
    }
    if (a->domain && wb_jid_prep_domain(domain, a->domain, strlen(a->domain)) < 0) {
        fprintf(stderr, "invalid domain\n");
        return -1;
    }
    int fd = wb_ctl_s2s_connect(s->control_socket);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "r+");
    if (!f) {
        close(fd);
        return -1;
    }
    if (a->domain)
        fprintf(f, "s2s close %s\n", domain);
    else
        fprintf(f, "s2s list\n");
    fflush(f);
    int rc = wb_ctl_s2s_answer(f);
    fclose(f);
    return rc;
}
