/* warblerctl audit: the signing key, status, verification and listing of the audit log, and the
 * records of warblerctl's own actions. The chain logic is in server/audit/, SQL in storage/. */
#include "wb_ctl_audit.h"

#include <inttypes.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wb_audit.h"
#include "wb_audit_conf.h"
#include "wb_audit_query.h"

#define WB_CTL_AUDIT_WAIT  5 /* seconds to wait for the database */
#define WB_CTL_AUDIT_OK    0
#define WB_CTL_AUDIT_BAD   1
#define WB_CTL_AUDIT_ERROR 2

const char wb_ctl_audit_usage[] =
    "       warblerctl [-c FILE] audit init\n"
    "       warblerctl [-c FILE] audit status\n"
    "       warblerctl [-c FILE] audit verify [--public-key HEX]\n"
    "       warblerctl [-c FILE] audit list [--actor A] [--action X|X.*] [--target T]\n"
    "                  [--since TIME] [--until TIME] [--before ID] [--limit N]\n";

/* TIME: seconds since the epoch, or YYYY-MM-DD[THH:MM:SS] in UTC. */
static int wb_ctl_audit_time(const char *s, int64_t *out)
{
    struct tm tm = {0};
    char *end;
    const long long v = strtoll(s, &end, 10);
    if (*s != '\0' && *end == '\0' && v >= 0) {
        *out = (int64_t)v * 1000000;
        return 0;
    }
    end = strptime(s, "%Y-%m-%d", &tm);
    if (end != NULL && *end == 'T')
        end = strptime(end + 1, "%H:%M:%S", &tm);
    if (end == NULL || (*end != '\0' && strcmp(end, "Z") != 0))
        return -1;
    *out = (int64_t)timegm(&tm) * 1000000;
    return 0;
}

static int wb_ctl_audit_num(const char *s, long long min, long long max, long long *out)
{
    char *end;
    *out = strtoll(s, &end, 10);
    return *s != '\0' && *end == '\0' && *out >= min && *out <= max ? 0 : -1;
}

/* One "--name VALUE" option of list; 0, or -1 when unknown or invalid. */
static int wb_ctl_audit_list_opt(wb_audit_filter *f, const char *name, const char *v)
{
    long long n;
    if (strcmp(name, "--actor") == 0)
        f->actor = v;
    else if (strcmp(name, "--action") == 0)
        f->action = v;
    else if (strcmp(name, "--target") == 0)
        f->target = v;
    else if (strcmp(name, "--since") == 0)
        return wb_ctl_audit_time(v, &f->since_us);
    else if (strcmp(name, "--until") == 0)
        return wb_ctl_audit_time(v, &f->until_us);
    else if (strcmp(name, "--before") == 0 && wb_ctl_audit_num(v, 1, INT64_MAX, &n) == 0)
        f->before_id = n;
    else if (strcmp(name, "--limit") == 0 && wb_ctl_audit_num(v, 1, 1000, &n) == 0)
        f->limit = (int)n;
    else
        return -1;
    return 0;
}

int wb_ctl_audit_parse(wb_ctl_audit_args *a, int argc, char **argv, int i)
{
    memset(a, 0, sizeof(*a));
    if (i >= argc)
        return -1;
    a->cmd = argv[i++];
    const bool list = strcmp(a->cmd, "list") == 0, verify = strcmp(a->cmd, "verify") == 0;
    if (!list && !verify && strcmp(a->cmd, "init") != 0 && strcmp(a->cmd, "status") != 0)
        return -1;
    for (; i < argc; i += 2) {
        if (i + 1 >= argc)
            return -1;
        if (verify && strcmp(argv[i], "--public-key") == 0 && a->public_key == NULL)
            a->public_key = argv[i + 1];
        else if (!list || wb_ctl_audit_list_opt(&a->filter, argv[i], argv[i + 1]) < 0)
            return -1;
    }
    return 0;
}

/* Opens the audit log's settings and key (created by init only). NULL after printing why. */
static wb_audit *wb_ctl_audit_open(const wb_config *cfg, bool create)
{
    const wb_audit_conf *ac = wb_config_audit(cfg);
    char err[512];
    const wb_audit_config c = {.dsn = cfg->dsn,
                               .key_file = ac->key_file,
                               .create_key = create,
                               .checkpoint_records = ac->checkpoint_records,
                               .checkpoint_seconds = ac->checkpoint_interval,
                               .retention_days = ac->retention_days,
                               .queue_max = ac->queue_size,
                               .flush_wait = ac->flush_wait};
    wb_audit *a = wb_audit_new(&c, err, sizeof(err));
    if (a == NULL)
        fprintf(stderr, "%s\n", err);
    return a;
}

static void wb_ctl_audit_print_key(const uint8_t *pk)
{
    char hex[2 * 32 + 1];
    sodium_bin2hex(hex, sizeof(hex), pk, 32);
    printf("public key: %s\n", hex);
}

static void wb_ctl_audit_time_str(int64_t us, char *out, size_t size)
{
    const time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, size, "?");
}

static wb_pg *wb_ctl_audit_connect(const wb_config *cfg)
{
    wb_pg *pg = wb_store_sync_connect(cfg->dsn, WB_CTL_AUDIT_WAIT);
    if (pg == NULL) {
        fprintf(stderr, "cannot connect to the database\n");
        return NULL;
    }
    if (wb_store_migrate(pg) < 0) {
        fprintf(stderr, "cannot update the database schema\n");
        wb_store_sync_close(pg);
        return NULL;
    }
    return pg;
}

static int wb_ctl_audit_status(wb_audit *a, wb_pg *pg, const wb_config *cfg)
{
    wb_audit_head head;
    wb_audit_checkpoint cp;
    int64_t records, checkpoints;
    char when[32];
    wb_ctl_audit_print_key(wb_audit_public_key(a));
    printf("key file: %s\n", wb_config_audit(cfg)->key_file);
    const int got = wb_store_audit_counts(pg, &head, &records, &checkpoints) < 0
                        ? -1
                        : wb_store_audit_last_checkpoint(pg, &cp);
    if (got < 0) {
        fprintf(stderr, "cannot read the audit log\n");
        return WB_CTL_AUDIT_ERROR;
    }
    printf("records: %" PRId64 " (last id %" PRId64 ", pruned up to %" PRId64 ")\n", records,
           head.last_id, head.pruned_id);
    printf("retention: %d days\n", wb_config_audit(cfg)->retention_days);
    if (got == 1) {
        wb_ctl_audit_time_str(cp.time_us, when, sizeof(when));
        printf("checkpoints: %" PRId64 " (newest names record %" PRId64 ", at %s)\n", checkpoints,
               cp.last_id, when);
    } else
        printf("checkpoints: 0\n");
    return WB_CTL_AUDIT_OK;
}

static int wb_ctl_audit_verify(wb_audit *a, wb_pg *pg, const char *hex)
{
    uint8_t pk[32];
    size_t len = 0;
    if (hex != NULL && (sodium_hex2bin(pk, sizeof(pk), hex, strlen(hex), NULL, &len, NULL) != 0 ||
                        len != sizeof(pk))) {
        fprintf(stderr, "--public-key: expected 64 hexadecimal digits\n");
        return WB_CTL_AUDIT_ERROR;
    }
    if (hex == NULL)
        memcpy(pk, wb_audit_public_key(a), sizeof(pk));
    wb_audit_verify_result r;
    if (wb_audit_verify_pg(pg, pk, &r) < 0) {
        fprintf(stderr, "%s\n", r.reason);
        return WB_CTL_AUDIT_ERROR;
    }
    if (!r.ok) {
        printf("bad: record %" PRId64 ": %s (%" PRId64 " records checked before it)\n", r.first_bad,
               r.reason, r.checked);
        return WB_CTL_AUDIT_BAD;
    }
    printf("ok: %" PRId64 " records checked, %" PRId64 " checkpoints\n", r.checked, r.checkpoints);
    return WB_CTL_AUDIT_OK;
}

static int wb_ctl_audit_list(wb_pg *pg, const wb_audit_filter *f)
{
    wb_audit_rec *rows;
    char when[32];
    const int n = wb_store_audit_list(pg, f, &rows);
    if (n < 0) {
        fprintf(stderr, "cannot read the audit log\n");
        return WB_CTL_AUDIT_ERROR;
    }
    for (int i = 0; i < n; i++) {
        const wb_audit_rec *r = &rows[i];
        wb_ctl_audit_time_str(r->time_us, when, sizeof(when));
        printf("%" PRId64 "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r->id, when, r->actor,
               r->role ? r->role : "-", r->action, r->target ? r->target : "-",
               r->source ? r->source : "-", r->ok ? "ok" : "failed", r->reason ? r->reason : "-");
        wb_audit_rec_clear(&rows[i]);
    }
    free(rows);
    return WB_CTL_AUDIT_OK;
}

/* init, status and verify without --public-key need the signing key; list does not. */
static bool wb_ctl_audit_needs_key(const wb_ctl_audit_args *args)
{
    return strcmp(args->cmd, "list") != 0 &&
           (strcmp(args->cmd, "verify") != 0 || args->public_key == NULL);
}

int wb_ctl_audit_main(const wb_ctl_audit_args *args, const wb_config *cfg)
{
    const bool init = strcmp(args->cmd, "init") == 0;
    wb_audit *a = NULL;
    if (wb_ctl_audit_needs_key(args) && (a = wb_ctl_audit_open(cfg, init)) == NULL)
        return WB_CTL_AUDIT_ERROR;
    int rc = WB_CTL_AUDIT_OK;
    if (init) {
        printf("signing key: %s (mode 0600)\n", wb_config_audit(cfg)->key_file);
        wb_ctl_audit_print_key(wb_audit_public_key(a));
        wb_audit_free(a);
        return rc;
    }
    wb_pg *pg = wb_ctl_audit_connect(cfg);
    if (pg == NULL)
        rc = WB_CTL_AUDIT_ERROR;
    else if (strcmp(args->cmd, "status") == 0)
        rc = wb_ctl_audit_status(a, pg, cfg);
    else if (strcmp(args->cmd, "verify") == 0)
        rc = wb_ctl_audit_verify(a, pg, args->public_key);
    else
        rc = wb_ctl_audit_list(pg, &args->filter);
    wb_store_sync_close(pg);
    wb_audit_free(a);
    return rc;
}

void wb_ctl_audit_note(wb_pg *pg, const wb_config *cfg, const char *action, const char *target,
                       bool ok, const char *reason)
{
    char source[64];
    if (!wb_config_audit(cfg)->enabled)
        return;
    const struct passwd *pw = getpwuid(getuid());
    snprintf(source, sizeof(source), "local:%s", pw != NULL ? pw->pw_name : "?");
    wb_audit *a = wb_ctl_audit_open(cfg, true);
    const wb_audit_event ev = {.actor = "ctl",
                               .action = action,
                               .target = target,
                               .source = source,
                               .ok = ok,
                               .reason = reason};
    if (a == NULL || wb_audit_record(a, &ev) < 0 || wb_audit_write_now(a, pg) < 0)
        fprintf(stderr, "warning: the audit log did not record this %s\n", action);
    wb_audit_free(a);
}
