/* warblerctl retention set JID SECONDS [--with PEER], unset JID [--with PEER], show JID: the
 * settings table through storage/wb_store_retention.c. Not for the server default (config). */
#include "wb_ctl_retention.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_jid.h"
#include "wb_store_retention.h"

int wb_ctl_retention_parse(wb_ctl_retention_args *a, int argc, char **argv, int i)
{
    memset(a, 0, sizeof(*a));
    if (i >= argc)
        return -1;
    a->cmd = argv[i++];
    const bool set = strcmp(a->cmd, "set") == 0, unset = strcmp(a->cmd, "unset") == 0;
    if (!set && !unset && strcmp(a->cmd, "show") != 0)
        return -1;
    for (; i < argc; i++) {
        if ((set || unset) && strcmp(argv[i], "--with") == 0 && i + 1 < argc && a->with == NULL)
            a->with = argv[++i];
        else if (argv[i][0] != '-' && a->jid == NULL)
            a->jid = argv[i];
        else if (set && argv[i][0] != '-' && a->seconds == NULL)
            a->seconds = argv[i];
        else
            return -1;
    }
    return a->jid != NULL && (set == (a->seconds != NULL)) ? 0 : -1;
}

/* A whole number of seconds within the allowed range; -1 otherwise. */
static int64_t wb_ctl_retention_seconds(const char *s)
{
    if (s[0] == '\0' || strlen(s) > 10 || strspn(s, "0123456789") != strlen(s))
        return -1;
    const long long v = strtoll(s, NULL, 10);
    return v <= WB_RETENTION_MAX_SECONDS ? (int64_t)v : -1;
}

static void wb_ctl_retention_print(void *arg, const char *peer, int64_t seconds)
{
    (void)arg;
    printf("%s%s: %" PRId64 "%s\n", peer[0] ? "with " : "account", peer, seconds,
           seconds == 0 ? " (kept forever)" : " s");
}

/* Prepares the account and, when given, the conversation's bare JID. */
static int wb_ctl_retention_jids(const wb_config *cfg, const wb_ctl_retention_args *a, wb_jid *acc,
                                 char *peer, size_t size)
{
    wb_jid p;
    peer[0] = '\0';
    if (wb_jid_parse(acc, a->jid, strlen(a->jid)) < 0 || !wb_jid_has_node(acc) ||
        wb_jid_has_resource(acc)) {
        fprintf(stderr, "invalid account JID (expected user@domain)\n");
        return -1;
    }
    if (wb_config_host(cfg, acc->domain) == NULL) {
        fprintf(stderr, "unknown domain %s\n", acc->domain);
        return -1;
    }
    if (a->with != NULL &&
        (wb_jid_parse(&p, a->with, strlen(a->with)) < 0 || wb_jid_bare(&p, peer, size) < 0)) {
        fprintf(stderr, "invalid conversation JID\n");
        return -1;
    }
    return 0;
}

int wb_ctl_retention_run(wb_pg *pg, const wb_config *cfg, const wb_ctl_retention_args *a)
{
    wb_jid acc;
    char peer[WB_JID_MAX + 1], err[512] = "";
    if (wb_ctl_retention_jids(cfg, a, &acc, peer, sizeof(peer)) < 0)
        return -1;
    if (strcmp(a->cmd, "show") == 0) {
        printf("server default: %" PRId64 "%s\n", cfg->retention_default,
               cfg->retention_default == 0 ? " (kept forever)" : " s");
        if (wb_store_retention_list(pg, acc.node, acc.domain, wb_ctl_retention_print, NULL, err,
                                    sizeof(err)) < 0)
            goto fail;
        return 0;
    }
    int64_t seconds = -1;
    if (strcmp(a->cmd, "set") == 0 && (seconds = wb_ctl_retention_seconds(a->seconds)) < 0) {
        fprintf(stderr, "SECONDS must be a whole number of seconds (0: kept forever)\n");
        return -1;
    }
    if (wb_store_retention_set_sync(pg, acc.node, acc.domain, peer[0] ? peer : NULL, seconds, err,
                                    sizeof(err)) < 0)
        goto fail;
    if (seconds < 0)
        printf("removed the retention of %s@%s%s%s\n", acc.node, acc.domain,
               peer[0] ? " with " : "", peer);
    else
        printf("retention of %s@%s%s%s: %" PRId64 " s\n", acc.node, acc.domain,
               peer[0] ? " with " : "", peer, seconds);
    return 0;
fail:
    fprintf(stderr, "%s\n", err);
    return -1;
}
