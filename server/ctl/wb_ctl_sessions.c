/* warblerctl sessions list|kick and stats: the JID checked here, the work done by the daemon
 * (server/wb_control.c); stats adds the account count, which only the database knows. */
#include "wb_ctl_sessions.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "wb_ctl_daemon.h"
#include "wb_jid.h"
#include "wb_store.h"
#include "wb_store_admin.h"

#define WB_CTL_SESSIONS_DB_WAIT 5 /* seconds */

const char wb_ctl_sessions_usage[] = "       warblerctl [-c FILE] sessions list [JID]\n"
                                     "       warblerctl [-c FILE] sessions kick JID[/RESOURCE]\n"
                                     "       warblerctl [-c FILE] stats\n";

/* Reads the words after "sessions" into a; false when they are not a command. */
static bool wb_ctl_sessions_words(wb_ctl_sessions_args *a, int argc, char **argv, int i)
{
    if (i >= argc)
        return false;
    a->cmd = argv[i++];
    const bool list = strcmp(a->cmd, "list") == 0;
    if (!list && strcmp(a->cmd, "kick") != 0)
        return false;
    if (i < argc && argv[i][0] != '-')
        a->jid = argv[i++];
    return i == argc && (list || a->jid != NULL);
}

int wb_ctl_sessions_parse(wb_ctl_sessions_args *a, bool stats, int argc, char **argv, int i)
{
    memset(a, 0, sizeof(*a));
    if (stats)
        a->cmd = "stats";
    if (stats ? i == argc : wb_ctl_sessions_words(a, argc, argv, i))
        return 0;
    fprintf(stderr, "usage: warblerctl [-c FILE] %s\n",
            stats ? "stats" : "sessions list [JID] | sessions kick JID[/RESOURCE]");
    return -1;
}

/* The JID as the daemon gets it: prepared, a served domain, a resource only when allowed. */
static int wb_ctl_sessions_jid(const wb_config *cfg, const char *s, bool full_ok, char *out,
                               size_t size)
{
    wb_jid j;
    if (wb_jid_parse(&j, s, strlen(s)) < 0 || !wb_jid_has_node(&j) ||
        (!full_ok && wb_jid_has_resource(&j))) {
        fprintf(stderr, "invalid account JID (expected user@domain%s)\n",
                full_ok ? "[/resource]" : "");
        return -1;
    }
    if (wb_config_host(cfg, j.domain) == NULL) {
        fprintf(stderr, "unknown domain %s\n", j.domain);
        return -1;
    }
    return wb_jid_full(&j, out, size);
}

/* stats: the daemon's lines, then the number of accounts. */
static int wb_ctl_stats(const wb_config *cfg)
{
    if (wb_ctl_daemon_ask(cfg, "stats", NULL, NULL, false) != 0)
        return -1;
    wb_pg *pg = wb_store_sync_connect(cfg->dsn, WB_CTL_SESSIONS_DB_WAIT);
    const int64_t n = pg != NULL ? wb_store_admin_account_count(pg) : -1;
    wb_store_sync_close(pg);
    if (n < 0) {
        fprintf(stderr, "cannot count accounts: the database is unavailable\n");
        return -1;
    }
    printf("accounts %" PRId64 "\n", n);
    return 0;
}

int wb_ctl_sessions_run(const wb_config *cfg, const wb_ctl_sessions_args *a)
{
    char jid[WB_JID_PART_MAX * 3 + 3], cmd[sizeof(jid) + 32];
    if (strcmp(a->cmd, "stats") == 0)
        return wb_ctl_stats(cfg);
    const bool kick = strcmp(a->cmd, "kick") == 0;
    if (a->jid != NULL && wb_ctl_sessions_jid(cfg, a->jid, kick, jid, sizeof(jid)) < 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "sessions %s%s%s", a->cmd, a->jid != NULL ? " " : "",
             a->jid != NULL ? jid : "");
    return wb_ctl_daemon_ask(cfg, cmd, NULL, NULL, false) == 0 ? 0 : -1;
}
