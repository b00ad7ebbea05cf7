/* warblerctl admin|apikey: admin users of the REST API (Argon2id password, TOTP secret shown
 * once as an otpauth:// URI; disable, enable) and API keys (shown once; list, revoke). */
#include "wb_ctl_admin.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_ctl_keys.h"
#include "wb_ctl_password.h"
#include "wb_store_admin.h"

#define WB_CTL_ADMIN_PW_MIN 8

static int wb_ctl_admin_days(const char *s)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    const long v = strtol(s, &end, 10);
    return *end == '\0' && v > 0 && v <= 36500 ? (int)v : -1;
}

int wb_ctl_admin_parse(wb_ctl_admin_args *a, bool apikey, int argc, char **argv, int i)
{
    memset(a, 0, sizeof(*a));
    a->apikey = apikey;
    if (i >= argc)
        return -1;
    a->cmd = argv[i++];
    const bool add = strcmp(a->cmd, "add") == 0;
    const bool del = strcmp(a->cmd, apikey ? "revoke" : "delete") == 0 ||
                     (!apikey && (strcmp(a->cmd, "disable") == 0 || strcmp(a->cmd, "enable") == 0));
    if (!add && !del && strcmp(a->cmd, "list") != 0)
        return -1;
    for (; i < argc; i++) {
        const bool more = i + 1 < argc;
        if (add && more && strcmp(argv[i], "--role") == 0 && a->role == NULL) {
            a->role = argv[++i];
        } else if (add && !apikey && more && strcmp(argv[i], "--password-file") == 0 &&
                   a->password_file == NULL) {
            a->password_file = argv[++i];
        } else if (add && apikey && more && strcmp(argv[i], "--expires") == 0 && a->days == 0) {
            if ((a->days = wb_ctl_admin_days(argv[++i])) < 0)
                return -1;
        } else if ((add || del) && argv[i][0] != '-' && a->name == NULL) {
            a->name = argv[i];
        } else {
            return -1;
        }
    }
    if ((add || del) && a->name == NULL)
        return -1;
    return add && a->role == NULL ? -1 : 0;
}

static void wb_ctl_admin_print(void *arg, const wb_store_admin_info *a)
{
    (void)arg;
    printf("%s\t%s\tcreated %s%s\n", a->name, a->role, a->created_at,
           a->disabled ? "\t(disabled)" : "");
}

static int wb_ctl_apikey_add(wb_pg *pg, const wb_ctl_admin_args *a);

static void wb_ctl_apikey_print(void *arg, const wb_store_apikey_info *k)
{
    (void)arg;
    printf("%s\t%s\tcreated %s\t%s%s\t%s%s%s\n", k->name, k->role, k->created_at,
           k->expires_at[0] ? "expires " : "never expires", k->expires_at,
           k->last_used_at[0] ? "last used " : "never used", k->last_used_at,
           k->expired ? "\t(expired)" : "");
}

const char *wb_ctl_admin_action(const wb_ctl_admin_args *a)
{
    static const char *const actions[][2] = {
        {"add", "admin.create"},
        {"delete", "admin.delete"},
        {"disable", "admin.disable"},
        {"enable", "admin.enable"},
        {"list", NULL},
    };
    if (a->apikey)
        return strcmp(a->cmd, "add") == 0      ? "apikey.create"
               : strcmp(a->cmd, "revoke") == 0 ? "apikey.revoke"
                                               : NULL;
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(a->cmd, actions[i][0]) == 0)
            return actions[i][1];
    return NULL;
}

/* apikey list, revoke NAME. */
static int wb_ctl_apikey_run(wb_pg *pg, const wb_ctl_admin_args *a)
{
    char err[512];
    if (strcmp(a->cmd, "add") == 0)
        return wb_ctl_apikey_add(pg, a);
    if (strcmp(a->cmd, "list") == 0) {
        if (wb_store_admin_apikey_list(pg, wb_ctl_apikey_print, NULL, err, sizeof(err)) < 0)
            goto fail;
        return 0;
    }
    if (wb_store_admin_apikey_revoke(pg, a->name, err, sizeof(err)) != WB_SA_OK)
        goto fail;
    printf("revoked API key %s\n", a->name);
    return 0;
fail:
    fprintf(stderr, "%s\n", err);
    return -1;
}

static int wb_ctl_admin_add(wb_pg *pg, const wb_config *cfg, const wb_ctl_admin_args *a)
{
    char password[WB_CTL_PASSWORD_MAX] = "", b32[WB_SA_TOTP_B32_MAX], err[512];
    wb_vault *vault = NULL;
    int rc = -1;
    if (wb_ctl_password_read(a->password_file, password, sizeof(password)) < 0)
        goto out;
    if (strlen(password) < WB_CTL_ADMIN_PW_MIN) {
        fprintf(stderr, "the password must have at least %d bytes\n", WB_CTL_ADMIN_PW_MIN);
        goto out;
    }
    if ((vault = wb_ctl_keys_vault(cfg)) == NULL)
        goto out;
    if (wb_store_admin_create(pg, vault, a->name, a->role, password, b32, err, sizeof(err)) !=
        WB_SA_OK) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    printf("created admin %s (%s)\n"
           "TOTP provisioning URI (shown only once; add it to an authenticator app):\n"
           "otpauth://totp/Warbler:%s?secret=%s&issuer=Warbler\n",
           a->name, a->role, a->name, b32);
    sodium_memzero(b32, sizeof(b32));
    rc = 0;
out:
    sodium_memzero(password, sizeof(password));
    wb_vault_free(vault);
    return rc;
}

static int wb_ctl_apikey_add(wb_pg *pg, const wb_ctl_admin_args *a)
{
    char key[WB_SA_TOKEN_MAX], expires[WB_SA_TIME_MAX], err[512];
    if (wb_store_admin_apikey_create(pg, a->name, a->role, a->days, key, expires, err,
                                     sizeof(err)) != WB_SA_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    printf("%s\nAPI key %s (%s), %s%s; shown only once\n", key, a->name, a->role,
           expires[0] ? "expires " : "never expires", expires);
    sodium_memzero(key, sizeof(key));
    return 0;
}

int wb_ctl_admin_run(wb_pg *pg, const wb_config *cfg, const wb_ctl_admin_args *a)
{
    char err[512];
    if (a->apikey)
        return wb_ctl_apikey_run(pg, a);
    if (strcmp(a->cmd, "add") == 0)
        return wb_ctl_admin_add(pg, cfg, a);
    if (strcmp(a->cmd, "list") == 0) {
        if (wb_store_admin_list(pg, wb_ctl_admin_print, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
        return 0;
    }
    const bool del = strcmp(a->cmd, "delete") == 0, off = strcmp(a->cmd, "disable") == 0;
    const wb_sa_rc rc = del ? wb_store_admin_delete(pg, a->name, err, sizeof(err))
                            : wb_store_admin_set_disabled(pg, a->name, off, err, sizeof(err));
    if (rc != WB_SA_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    printf("%s admin %s\n", del ? "deleted" : off ? "disabled" : "enabled", a->name);
    return 0;
}
