/* warblerctl: the administration tool (accounts: add, passwd, delete, disable, enable, list;
 * invites; keys; retention; rooms; admins and API keys; audit; GDPR requests), talking to the
 * database directly with the server's configuration, and to a running warblerd through its
 * control socket for what only the daemon knows (sessions, stats, s2s streams). */
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_config.h"
#include "wb_ctl_audit.h"
#include "wb_ctl_admin.h"
#include "wb_ctl_common.h"
#include "wb_ctl_daemon.h"
#include "wb_ctl_gdpr.h"
#include "wb_ctl_keys.h"
#include "wb_ctl_password.h"
#include "wb_ctl_retention.h"
#include "wb_ctl_room.h"
#include "wb_ctl_s2s.h"
#include "wb_ctl_sessions.h"
#include "wb_jid.h"
#include "wb_store.h"
#include "wb_store_admin.h"
#include "wb_store_keys.h"
#include "wb_store_register.h"

#define WB_CTL_DEFAULT_CONFIG "var/warbler.conf"
#define WB_CTL_DB_WAIT        5 /* seconds */
#define WB_CTL_EXIT_FAIL      1
#define WB_CTL_EXIT_USAGE     2
#define WB_CTL_INVITE_HOURS   168 /* default validity of an invite: one week */

typedef struct wb_ctl_args {
    const char *config;
    bool invite;    /* "invite" commands rather than "user" ones */
    bool keys;      /* "keys" commands */
    bool retention; /* "retention" commands (in ret) */
    bool room;      /* "room" commands (in roa) */
    bool s2s;       /* "s2s" commands (in s2sa): asked of the running daemon */
    bool audit;     /* "audit" commands (in aud) */
    wb_ctl_audit_args aud;
    wb_ctl_retention_args ret;
    wb_ctl_s2s_args s2sa;
    wb_ctl_room_args roa;
    bool admin; /* "admin" and "apikey" commands (in adm) */
    wb_ctl_admin_args adm;
    bool sessions; /* "sessions" and "stats" (in sea): asked of the running daemon */
    wb_ctl_sessions_args sea;
    bool gdpr; /* "gdpr" commands (in gd) */
    wb_ctl_gdpr_args gd;
    const char *cmd; /* user: add, passwd, delete, disable, enable, list; invite: create, list,
                        revoke; keys: init, status, rotate-master */
    wb_ctl_keys_opts key_opts;
    const char *target; /* JID, DOMAIN for list and invite create (may be NULL), invite ID */
    const char *password_file;
    int hours; /* invite create --expires */
} wb_ctl_args;

static void wb_ctl_usage(FILE *out)
{
    fputs("usage: warblerctl [-c FILE] user add JID [--password-file FILE]\n"
          "       warblerctl [-c FILE] user passwd JID [--password-file FILE]\n"
          "       warblerctl [-c FILE] user delete|disable|enable JID\n"
          "       warblerctl [-c FILE] user list [DOMAIN]\n"
          "       warblerctl [-c FILE] invite create [DOMAIN] [--expires HOURS]\n"
          "       warblerctl [-c FILE] invite list\n"
          "       warblerctl [-c FILE] invite revoke ID\n"
          "       warblerctl [-c FILE] keys init\n"
          "       warblerctl [-c FILE] keys status\n"
          "       warblerctl [-c FILE] keys rotate-master [--batch-size N] [--stop-after N]\n"
          "       warblerctl [-c FILE] retention set JID SECONDS [--with PEER]\n"
          "       warblerctl [-c FILE] retention unset JID [--with PEER]\n"
          "       warblerctl [-c FILE] retention show JID\n"
          "       warblerctl [-c FILE] room list\n"
          "       warblerctl [-c FILE] room info|destroy ROOM@SERVICE\n"
          "       warblerctl [-c FILE] s2s list\n"
          "       warblerctl [-c FILE] s2s close DOMAIN\n"
          "       warblerctl [-c FILE] admin add NAME --role ROLE [--password-file FILE]\n"
          "       warblerctl [-c FILE] admin list\n"
          "       warblerctl [-c FILE] admin delete|disable|enable NAME\n"
          "       warblerctl [-c FILE] apikey add NAME --role ROLE [--expires DAYS]\n"
          "       warblerctl [-c FILE] apikey list\n"
          "       warblerctl [-c FILE] apikey revoke NAME\n"
          "       warblerctl --help\n",
          out);
    fputs(wb_ctl_audit_usage, out);
    fputs(wb_ctl_sessions_usage, out);
    fputs(wb_ctl_gdpr_usage, out);
    fputs("Without -c, the configuration is read from " WB_CTL_DEFAULT_CONFIG ".\n"
          "The password is the first line of the file, else asked twice on a terminal,\n"
          "else one line of standard input.\n"
          "An invite (for the first configured host unless DOMAIN is given) is valid for\n"
          "168 hours unless --expires says otherwise; its token is shown only once.\n"
          "keys init creates the master key file (32 random bytes, mode 0600) if absent;\n"
          "user add does too. keys rotate-master re-wraps every account key under a new\n"
          "master key (KEY_FILE.next) in batches of N (default 100), online; run it again\n"
          "to resume after an interruption. --stop-after N stops after N batches (tests).\n"
          "retention set: messages of the account (or of its conversation with PEER) are\n"
          "erased from the archive and the offline queue SECONDS after they arrived (0: kept\n"
          "forever); unset falls back to the account's setting, then the server default.\n"
          "admin add creates a REST API admin (ROLE: superadmin, operator, auditor, dpo) and\n"
          "prints its TOTP provisioning URI once; apikey add prints a new API key once.\n"
          "admin disable stops an admin from logging in and revokes its tokens; apikey revoke\n"
          "deletes a key, which is refused from then on.\n"
          "user disable refuses the account's logins and closes its live sessions; user delete\n"
          "closes them too. sessions, stats and s2s ask the running warblerd through its\n"
          "control socket (server.control_socket). gdpr export prints the account's archive as\n"
          "JSON (--out: a new file of mode 0600); gdpr erase crypto-shreds the account and\n"
          "prints the receipt. Exit status: 0 done, 1 failed, 2 usage error.\n",
          out);
}

static bool wb_ctl_needs_password(const char *cmd)
{
    return strcmp(cmd, "add") == 0 || strcmp(cmd, "passwd") == 0;
}

static bool wb_ctl_user_cmd(const char *cmd)
{
    static const char *const cmds[] = {"add", "passwd", "delete", "disable", "enable", "list"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(cmd, cmds[i]) == 0)
            return true;
    return false;
}

/* Checks the words after "user": the target and the options allowed for the command. */
static int wb_ctl_parse_user(wb_ctl_args *a, int argc, char **argv, int i)
{
    if (i >= argc)
        return -1;
    a->cmd = argv[i++];
    if (!wb_ctl_user_cmd(a->cmd))
        return -1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--password-file") == 0 && wb_ctl_needs_password(a->cmd) &&
            i + 1 < argc && a->password_file == NULL) {
            a->password_file = argv[++i];
        } else if (argv[i][0] != '-' && a->target == NULL) {
            a->target = argv[i];
        } else {
            return -1;
        }
    }
    return a->target != NULL || strcmp(a->cmd, "list") == 0 ? 0 : -1;
}

/* A whole positive number (hours, invite id) up to INT_MAX; -1 otherwise. */
static long long wb_ctl_number(const char *s)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    const long long v = strtoll(s, &end, 10);
    return *end == '\0' && v > 0 && v <= INT_MAX ? v : -1;
}

/* Checks the words after "invite": create [DOMAIN] [--expires HOURS], list, revoke ID. */
static int wb_ctl_parse_invite(wb_ctl_args *a, int argc, char **argv, int i)
{
    if (i >= argc)
        return -1;
    a->invite = true;
    a->cmd = argv[i++];
    a->hours = WB_CTL_INVITE_HOURS;
    const bool create = strcmp(a->cmd, "create") == 0, revoke = strcmp(a->cmd, "revoke") == 0;
    if (!create && !revoke && strcmp(a->cmd, "list") != 0)
        return -1;
    bool hours_given = false;
    for (; i < argc; i++) {
        if (create && strcmp(argv[i], "--expires") == 0 && i + 1 < argc && !hours_given) {
            const long long h = wb_ctl_number(argv[++i]);
            if (h < 0)
                return -1;
            a->hours = (int)h;
            hours_given = true;
        } else if ((create || revoke) && argv[i][0] != '-' && a->target == NULL) {
            a->target = argv[i];
        } else {
            return -1;
        }
    }
    if (revoke && (a->target == NULL || wb_ctl_number(a->target) < 0))
        return -1;
    return 0;
}

/* Checks the words after "keys": init, status, rotate-master [--batch-size N] [--stop-after N]. */
static int wb_ctl_parse_keys(wb_ctl_args *a, int argc, char **argv, int i)
{
    if (i >= argc)
        return -1;
    a->keys = true;
    a->cmd = argv[i++];
    a->key_opts.batch = WB_CTL_KEYS_BATCH;
    const bool rotate = strcmp(a->cmd, "rotate-master") == 0;
    if (!rotate && strcmp(a->cmd, "init") != 0 && strcmp(a->cmd, "status") != 0)
        return -1;
    for (; i < argc; i++) {
        const bool batch = strcmp(argv[i], "--batch-size") == 0;
        if (!rotate || (!batch && strcmp(argv[i], "--stop-after") != 0) || i + 1 >= argc)
            return -1;
        const long long n = wb_ctl_number(argv[++i]);
        if (n < 0)
            return -1;
        if (batch)
            a->key_opts.batch = (int)n;
        else
            a->key_opts.stop_after = (int)n;
    }
    return 0;
}

/* 0: parsed, 1: help asked, -1: usage error, -2: usage error already explained in one line. */
static int wb_ctl_parse(wb_ctl_args *a, int argc, char **argv)
{
    int i = 1;
    memset(a, 0, sizeof(*a));
    a->config = WB_CTL_DEFAULT_CONFIG;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
        if (strcmp(argv[i], "-c") != 0 || i + 1 >= argc)
            return -1;
        a->config = argv[++i];
    }
    if (i < argc && strcmp(argv[i], "invite") == 0)
        return wb_ctl_parse_invite(a, argc, argv, i + 1);
    if (i < argc && strcmp(argv[i], "keys") == 0)
        return wb_ctl_parse_keys(a, argc, argv, i + 1);
    if (i < argc && (strcmp(argv[i], "admin") == 0 || strcmp(argv[i], "apikey") == 0)) {
        a->admin = true;
        a->cmd = argv[i];
        return wb_ctl_admin_parse(&a->adm, strcmp(argv[i], "apikey") == 0, argc, argv, i + 1);
    }
    if (i < argc && strcmp(argv[i], "audit") == 0) {
        a->audit = true;
        a->cmd = "audit";
        return wb_ctl_audit_parse(&a->aud, argc, argv, i + 1);
    }
    if (i < argc && (strcmp(argv[i], "sessions") == 0 || strcmp(argv[i], "stats") == 0)) {
        a->sessions = true;
        a->cmd = argv[i];
        return wb_ctl_sessions_parse(&a->sea, strcmp(argv[i], "stats") == 0, argc, argv, i + 1) < 0
                   ? -2
                   : 0;
    }
    if (i < argc && strcmp(argv[i], "gdpr") == 0) {
        a->gdpr = true;
        a->cmd = "gdpr";
        return wb_ctl_gdpr_parse(&a->gd, argc, argv, i + 1) < 0 ? -2 : 0;
    }
    if (i < argc && strcmp(argv[i], "s2s") == 0) {
        a->s2s = true;
        a->cmd = "s2s";
        return wb_ctl_s2s_parse(&a->s2sa, argc, argv, i + 1);
    }
    if (i < argc && strcmp(argv[i], "room") == 0) {
        a->room = true;
        a->cmd = "room";
        return wb_ctl_room_parse(&a->roa, argc, argv, i + 1);
    }
    if (i < argc && strcmp(argv[i], "retention") == 0) {
        a->retention = true;
        a->cmd = "retention";
        return wb_ctl_retention_parse(&a->ret, argc, argv, i + 1);
    }
    if (i >= argc || strcmp(argv[i], "user") != 0)
        return -1;
    return wb_ctl_parse_user(a, argc, argv, i + 1);
}

static void wb_ctl_print_account(void *arg, const char *jid, bool disabled)
{
    (void)arg;
    printf("%s%s\n", jid, disabled ? " (disabled)" : "");
}

static int wb_ctl_list(wb_pg *pg, const char *domain_arg, char *err, size_t errsize)
{
    char domain[WB_JID_PART_MAX + 1];
    if (domain_arg != NULL && wb_jid_prep_domain(domain, domain_arg, strlen(domain_arg)) < 0) {
        snprintf(err, errsize, "invalid domain");
        return -1;
    }
    return wb_store_account_list(pg, domain_arg ? domain : NULL, wb_ctl_print_account, NULL, err,
                                 errsize);
}

static void wb_ctl_print_invite(void *arg, const wb_store_invite *inv)
{
    (void)arg;
    printf("%" PRId64 "\t%s\tcreated %s\texpires %s\t", inv->id, inv->domain, inv->created_at,
           inv->expires_at);
    if (inv->used_at)
        printf("used by %s at %s\n", inv->used_by ? inv->used_by : "?", inv->used_at);
    else
        printf("%s\n", inv->expired ? "expired" : "unused");
}

static int wb_ctl_invite_create(wb_pg *pg, const wb_ctl_args *a, const wb_config *cfg, char *err,
                                size_t errsize)
{
    char domain[WB_JID_PART_MAX + 1], token[WB_STORE_INVITE_TOKEN_LEN + 1];
    int64_t id = 0;
    snprintf(domain, sizeof(domain), "%s", cfg->hosts[0].domain);
    if (a->target && wb_jid_prep_domain(domain, a->target, strlen(a->target)) < 0) {
        snprintf(err, errsize, "invalid domain");
        return -1;
    }
    if (wb_config_host(cfg, domain) == NULL) {
        snprintf(err, errsize, "unknown domain %.200s", domain);
        return -1;
    }
    if (wb_store_invite_create(pg, domain, a->hours, token, &id, err, errsize) < 0)
        return -1;
    printf("%s\nxmpp:%s?register;preauth=%s\ninvite %" PRId64 " for %s, valid for %d hours\n",
           token, domain, token, id, domain, a->hours);
    sodium_memzero(token, sizeof(token));
    return 0;
}

static int wb_ctl_invite(wb_pg *pg, const wb_ctl_args *a, const wb_config *cfg, char *err,
                         size_t errsize)
{
    if (strcmp(a->cmd, "create") == 0)
        return wb_ctl_invite_create(pg, a, cfg, err, errsize);
    if (strcmp(a->cmd, "list") == 0)
        return wb_store_invite_list(pg, wb_ctl_print_invite, NULL, err, errsize);
    const int64_t id = wb_ctl_number(a->target);
    if (wb_store_invite_revoke(pg, id, err, errsize) < 0)
        return -1;
    printf("revoked invite %" PRId64 "\n", id);
    return 0;
}

/* user add: the account, then its data key (made now rather than on first use). */
static int wb_ctl_add(wb_pg *pg, const wb_config *cfg, wb_vault *vault, const wb_jid *jid,
                      const char *password, char *err, size_t errsize)
{
    char kerr[512];
    if (wb_store_account_create(pg, jid->node, jid->domain, password, cfg->scram_iterations, err,
                                errsize) < 0)
        return -1;
    if (wb_store_account_key_create(pg, vault, jid->node, jid->domain, kerr, sizeof(kerr)) < 0)
        fprintf(stderr, "warning: %s; the account's data key will be made on first use\n", kerr);
    return 0;
}

/* user disable|enable: the storage call of the admin API. */
static int wb_ctl_set_disabled(wb_pg *pg, const wb_jid *jid, bool disabled, char *err,
                               size_t errsize)
{
    const wb_sa_rc rc =
        wb_store_admin_account_set_disabled(pg, jid->node, jid->domain, disabled, err, errsize);
    if (rc == WB_SA_NOT_FOUND)
        snprintf(err, errsize, "no such account %.200s@%.200s", jid->node, jid->domain);
    return rc == WB_SA_OK ? 0 : -1;
}

/* user passwd, delete, disable, enable: runs it; *verb and *action say what it was. */
static int wb_ctl_account_change(wb_pg *pg, const wb_ctl_args *a, const wb_config *cfg,
                                 const wb_jid *jid, const char *password, const char **verb,
                                 const char **action, char *err, size_t errsize)
{
    if (strcmp(a->cmd, "passwd") == 0) {
        *verb = "changed the password of";
        *action = "account.password";
        return wb_store_account_set_password(pg, jid->node, jid->domain, password,
                                             cfg->scram_iterations, err, errsize);
    }
    if (strcmp(a->cmd, "delete") == 0) {
        *verb = "deleted";
        *action = "account.delete";
        return wb_store_account_delete(pg, jid->node, jid->domain, err, errsize);
    }
    const bool disable = strcmp(a->cmd, "disable") == 0;
    *verb = disable ? "disabled" : "enabled";
    *action = disable ? "account.disable" : "account.enable";
    return wb_ctl_set_disabled(pg, jid, disable, err, errsize);
}

/* Runs the command on a migrated database; prints the success line. */
static int wb_ctl_run(wb_pg *pg, const wb_ctl_args *a, const wb_config *cfg, wb_vault *vault,
                      const wb_jid *jid, const char *password, char *err, size_t errsize)
{
    const char *verb, *action;
    int rc;
    if (a->invite)
        return wb_ctl_invite(pg, a, cfg, err, errsize);
    if (a->room)
        return wb_ctl_room_run(pg, cfg, &a->roa);
    if (a->retention) {
        rc = wb_ctl_retention_run(pg, cfg, &a->ret);
        char detail[WB_JID_PART_MAX * 3 + 48];
        snprintf(detail, sizeof(detail), "seconds %s%s%s",
                 a->ret.seconds ? a->ret.seconds : "default", a->ret.with ? " with " : "",
                 a->ret.with ? a->ret.with : "");
        if (strcmp(a->ret.cmd, "show") != 0)
            wb_ctl_audit_note(pg, cfg,
                              strcmp(a->ret.cmd, "set") == 0 ? "retention.set" : "retention.unset",
                              a->ret.jid, rc == 0, detail);
        return rc;
    }
    if (a->admin) {
        rc = wb_ctl_admin_run(pg, cfg, &a->adm);
        if (wb_ctl_admin_action(&a->adm) != NULL)
            wb_ctl_audit_note(pg, cfg, wb_ctl_admin_action(&a->adm), a->adm.name, rc == 0,
                              a->adm.role);
        return rc;
    }
    if (a->keys && strcmp(a->cmd, "status") == 0)
        return wb_ctl_keys_status(pg, cfg) < 0 ? -1 : 0;
    if (a->keys) {
        rc = wb_ctl_keys_rotate(pg, cfg, &a->key_opts) < 0 ? -1 : 0;
        wb_ctl_audit_note(pg, cfg, "keys.rotate-master", NULL, rc == 0, NULL);
        return rc;
    }
    if (a->gdpr)
        return wb_ctl_gdpr_run(pg, cfg, &a->gd);
    if (strcmp(a->cmd, "list") == 0)
        return wb_ctl_list(pg, a->target, err, errsize);
    if (strcmp(a->cmd, "add") == 0) {
        rc = wb_ctl_add(pg, cfg, vault, jid, password, err, errsize);
        verb = "created";
        action = "account.create";
    } else {
        rc = wb_ctl_account_change(pg, a, cfg, jid, password, &verb, &action, err, errsize);
    }
    char target[WB_JID_PART_MAX * 2 + 2];
    snprintf(target, sizeof(target), "%s@%s", jid->node, jid->domain);
    if (rc == 0)
        printf("%s %s\n", verb, target);
    wb_ctl_audit_note(pg, cfg, action, target, rc == 0, rc == 0 ? NULL : err);
    if (rc == 0 && (strcmp(a->cmd, "disable") == 0 || strcmp(a->cmd, "delete") == 0))
        wb_ctl_daemon_close_sessions(
            cfg, target, strcmp(a->cmd, "delete") == 0 ? "deleted" : "disabled", stdout);
    return rc;
}

static int wb_ctl_main(const wb_ctl_args *a, const wb_config *cfg)
{
    wb_jid jid;
    char password[WB_CTL_PASSWORD_MAX] = "";
    char err[512] = "";
    int rc = -1;
    wb_pg *pg = NULL;
    wb_vault *vault = NULL;
    const bool user = !a->invite && !a->keys && !a->retention && !a->admin && !a->room && !a->gdpr;

    if (a->keys && strcmp(a->cmd, "init") == 0)
        return wb_ctl_keys_init(cfg);
    if (user && strcmp(a->cmd, "list") != 0 && wb_ctl_account_jid(cfg, a->target, &jid) < 0)
        goto out;
    if (user && wb_ctl_needs_password(a->cmd) &&
        wb_ctl_password_read(a->password_file, password, sizeof(password)) < 0)
        goto out;
    if (user && strcmp(a->cmd, "add") == 0 && (vault = wb_ctl_keys_vault(cfg)) == NULL)
        goto out;
    pg = wb_store_sync_connect(cfg->dsn, WB_CTL_DB_WAIT);
    if (pg == NULL) {
        fprintf(stderr, "cannot connect to the database\n");
        goto out;
    }
    if (wb_store_migrate(pg) < 0) {
        fprintf(stderr, "cannot update the database schema\n");
        goto out;
    }
    rc = wb_ctl_run(pg, a, cfg, vault, &jid, password, err, sizeof(err));
    if (rc < 0 && err[0] != '\0')
        fprintf(stderr, "%s\n", err);
out:
    sodium_memzero(password, sizeof(password));
    wb_store_sync_close(pg);
    wb_vault_free(vault);
    return rc;
}

int main(int argc, char **argv)
{
    wb_ctl_args args;
    const int parsed = wb_ctl_parse(&args, argc, argv);
    if (parsed == 1) {
        wb_ctl_usage(stdout);
        return 0;
    }
    if (parsed == -2)
        return WB_CTL_EXIT_USAGE;
    if (parsed < 0) {
        wb_ctl_usage(stderr);
        return WB_CTL_EXIT_USAGE;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "cannot initialise libsodium\n");
        return WB_CTL_EXIT_FAIL;
    }
    wb_config *cfg = wb_config_load(args.config);
    if (cfg == NULL)
        return WB_CTL_EXIT_FAIL;
    if (args.s2s || args.sessions) {
        const int code =
            (args.s2s ? wb_ctl_s2s_run(cfg, &args.s2sa) : wb_ctl_sessions_run(cfg, &args.sea)) == 0
                ? 0
                : WB_CTL_EXIT_FAIL;
        wb_config_free(cfg);
        return code;
    }
    if (args.audit) {
        const int code = wb_ctl_audit_main(&args.aud, cfg);
        wb_config_free(cfg);
        return code;
    }
    const int rc = wb_ctl_main(&args, cfg);
    wb_config_free(cfg);
    return rc == 0 ? 0 : WB_CTL_EXIT_FAIL;
}
