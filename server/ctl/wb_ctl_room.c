/* warblerctl room list, info JID, destroy JID: what storage knows of persistent rooms in clear
 * (JID, creator, dates, archive size) and their deletion. A running server drops a destroyed
 * room from memory at its next check (muc.check_interval). */
#include "wb_ctl_room.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wb_ctl_audit.h"
#include "wb_jid.h"
#include "wb_store_muc.h"

int wb_ctl_room_parse(wb_ctl_room_args *a, int argc, char **argv, int i)
{
    memset(a, 0, sizeof(*a));
    if (i >= argc)
        return -1;
    a->cmd = argv[i++];
    if (strcmp(a->cmd, "list") == 0)
        return i == argc ? 0 : -1;
    if (strcmp(a->cmd, "info") != 0 && strcmp(a->cmd, "destroy") != 0)
        return -1;
    if (i + 1 != argc || argv[i][0] == '-')
        return -1;
    a->jid = argv[i];
    return 0;
}

static void wb_ctl_room_time(int64_t t, char *out, size_t size)
{
    const time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void wb_ctl_room_line(void *arg, const wb_store_muc_info *r)
{
    char created[32];
    (void)arg;
    wb_ctl_room_time(r->created, created, sizeof(created));
    printf("%s@%s owner=%s created=%s archived=%" PRId64 "\n", r->node, r->service, r->owner,
           created, r->archived);
}

static void wb_ctl_room_info(void *arg, const wb_store_muc_info *r)
{
    char created[32], updated[32];
    (void)arg;
    wb_ctl_room_time(r->created, created, sizeof(created));
    wb_ctl_room_time(r->updated, updated, sizeof(updated));
    printf("jid: %s@%s\nowner: %s\ncreated: %s\nupdated: %s\narchived messages: %" PRId64 "\n",
           r->node, r->service, r->owner, created, updated, r->archived);
}

/* The room JID prepared (node@service, no resource); -1 when it is none. */
static int wb_ctl_room_jid(const char *s, wb_jid *j, char *bare, size_t size)
{
    if (wb_jid_parse(j, s, strlen(s)) < 0 || !wb_jid_has_node(j) || wb_jid_has_resource(j) ||
        wb_jid_bare(j, bare, size) < 0) {
        fprintf(stderr, "invalid room JID (expected room@service)\n");
        return -1;
    }
    return 0;
}

static int wb_ctl_room_one(wb_pg *pg, const wb_config *cfg, const wb_ctl_room_args *a)
{
    wb_jid j;
    char bare[WB_JID_MAX + 1], err[WB_JID_MAX + 256] = "";
    int64_t id = 0;
    int rc;
    if (wb_ctl_room_jid(a->jid, &j, bare, sizeof(bare)) < 0)
        return -1;
    const bool destroy = strcmp(a->cmd, "destroy") == 0;
    if (destroy)
        rc = wb_store_muc_delete_sync(pg, j.domain, j.node, &id, err, sizeof(err));
    else
        rc = wb_store_muc_list(pg, j.domain, j.node, wb_ctl_room_info, NULL, err, sizeof(err));
    if (rc == 0)
        snprintf(err, sizeof(err), "no such stored room %s", bare);
    wb_ctl_audit_note(pg, cfg, destroy ? "room.destroy" : "room.read", bare, rc > 0,
                      rc > 0 ? NULL : err);
    if (rc <= 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (destroy)
        printf("destroyed %s (with its key and archive)\n", bare);
    return 0;
}

int wb_ctl_room_run(wb_pg *pg, const wb_config *cfg, const wb_ctl_room_args *a)
{
    char err[256] = "";
    if (strcmp(a->cmd, "list") != 0)
        return wb_ctl_room_one(pg, cfg, a);
    const int n = wb_store_muc_list(pg, "", NULL, wb_ctl_room_line, NULL, err, sizeof(err));
    wb_ctl_audit_note(pg, cfg, "room.list", NULL, n >= 0, n >= 0 ? NULL : err);
    if (n < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}
