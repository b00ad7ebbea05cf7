/* warblerctl keys: init (the master key file), status (key ages, rotation state) and
 * rotate-master (re-wrap every data key under KEY_FILE.next by batches, then replace KEY_FILE). */
#include "wb_ctl_keys.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "wb_store_admin.h"
#include "wb_store_keys.h"
#include "wb_store_muc.h"

#define WB_CTL_ROTATE_GRACE 3 /* seconds */

wb_vault *wb_ctl_keys_vault(const wb_config *cfg)
{
    char err[512];
    const int created = wb_vault_create_key_file(cfg->key_file, err, sizeof(err));
    if (created < 0) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    if (created > 0)
        fprintf(stderr,
                "created master key %s (mode 0600): keep it outside the database and "
                "its backups\n",
                cfg->key_file);
    wb_vault *v = wb_vault_open(cfg->key_file, err, sizeof(err));
    if (v == NULL)
        fprintf(stderr, "%s\n", err);
    return v;
}

int wb_ctl_keys_init(const wb_config *cfg)
{
    char err[512];
    const int created = wb_vault_create_key_file(cfg->key_file, err, sizeof(err));
    if (created < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    wb_vault *v = wb_vault_open(cfg->key_file, err, sizeof(err));
    if (v == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    wb_vault_free(v);
    printf("%s master key %s\n", created ? "created" : "kept the existing", cfg->key_file);
    return 0;
}

/* "3d 04:05:06" */
static void wb_ctl_age(char *out, size_t size, time_t seconds)
{
    if (seconds < 0)
        seconds = 0;
    snprintf(out, size, "%lldd %02lld:%02lld:%02lld", (long long)(seconds / 86400),
             (long long)(seconds / 3600 % 24), (long long)(seconds / 60 % 60),
             (long long)(seconds % 60));
}

static void wb_ctl_print_file(const char *what, const char *path)
{
    struct stat st;
    char age[48], when[64];
    if (stat(path, &st) < 0) {
        printf("%s: %s (absent)\n", what, path);
        return;
    }
    struct tm tm;
    gmtime_r(&st.st_mtime, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    wb_ctl_age(age, sizeof(age), time(NULL) - st.st_mtime);
    printf("%s: %s (mode %03o, written %s, age %s)\n", what, path, (unsigned)(st.st_mode & 0777),
           when, age);
}

int wb_ctl_keys_status(wb_pg *pg, const wb_config *cfg)
{
    char err[512], hex[2 * WB_VAULT_ID_BYTES + 1], next_path[4200];
    uint8_t cur[WB_VAULT_ID_BYTES], next[WB_VAULT_ID_BYTES];
    wb_store_keys_status s;
    wb_vault *v = wb_vault_open(cfg->key_file, err, sizeof(err));
    if (v == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    const bool rotating = wb_vault_rotating(v, cur, next);
    wb_vault_free(v);
    if (wb_store_keys_status_get(pg, &s, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(next_path, sizeof(next_path), "%s.next", cfg->key_file);
    wb_ctl_print_file("master key", cfg->key_file);
    if (rotating)
        wb_ctl_print_file("rotation: in progress, next master key", next_path);
    else
        printf("rotation: none in progress\n");
    printf("account keys: %" PRId64 "\n", s.total);
    for (size_t i = 0; i < s.n_ids; i++) {
        sodium_bin2hex(hex, sizeof(hex), s.ids[i].id, WB_VAULT_ID_BYTES);
        const char *which = sodium_memcmp(s.ids[i].id, cur, WB_VAULT_ID_BYTES) == 0 ? "current"
                            : rotating && sodium_memcmp(s.ids[i].id, next, WB_VAULT_ID_BYTES) == 0
                                ? "next"
                                : "UNKNOWN master key";
        printf("  master %s (%s): %" PRId64 " keys\n", hex, which, s.ids[i].count);
    }
    printf("oldest key created: %s\n", s.oldest[0] ? s.oldest : "-");
    printf("newest key created: %s\n", s.newest[0] ? s.newest : "-");
    printf("last re-wrap: %s\n", s.last_rewrap[0] ? s.last_rewrap : "never");
    return 0;
}

/* Re-wraps batch after batch; 1 when every key is done, 0 when stopped as asked, -1 on error. */
static int wb_ctl_rotate_batches(wb_pg *pg, wb_vault *v, const wb_ctl_keys_opts *opts)
{
    char err[512];
    int64_t remaining = 0, total = 0;
    for (int batches = 1;; batches++) {
        const int n =
            wb_store_keys_rewrap_batch(pg, v, opts->batch, &remaining, &total, err, sizeof(err));
        if (n < 0) {
            fprintf(stderr, "rotate-master: %s\n", err);
            return -1;
        }
        if (n == 0 && remaining == 0)
            return 1;
        printf("rotate-master: %" PRId64 "/%" PRId64 " keys\n", total - remaining, total);
        fflush(stdout);
        if (remaining == 0)
            return 1;
        if (opts->stop_after > 0 && batches >= opts->stop_after) {
            printf("rotate-master: stopped after %d batch(es) as asked; run it again to go on\n",
                   batches);
            return 0;
        }
    }
}

int wb_ctl_keys_rotate(wb_pg *pg, const wb_config *cfg, const wb_ctl_keys_opts *opts)
{
    char err[512], next_path[4200];
    snprintf(next_path, sizeof(next_path), "%s.next", cfg->key_file);
    wb_vault *v = wb_vault_open(cfg->key_file, err, sizeof(err));
    if (v == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    wb_vault_free(v);
    const int created = wb_vault_create_key_file(next_path, err, sizeof(err));
    if (created < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    printf("rotate-master: %s %s\n", created ? "new master key" : "resuming with", next_path);
    v = wb_vault_open(cfg->key_file, err, sizeof(err));
    if (v == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    int rc = wb_ctl_rotate_batches(pg, v, opts);
    if (rc > 0) {
        /* A server may have wrapped a new account key under the old master key just before it
         * saw KEY_FILE.next, and be about to store it: wait, then look again before the old key
         * goes away. */
        printf("rotate-master: waiting %d s for keys being created, then checking again\n",
               WB_CTL_ROTATE_GRACE);
        fflush(stdout);
        sleep(WB_CTL_ROTATE_GRACE);
        rc = wb_ctl_rotate_batches(pg, v, opts);
    }
    /* Admin users' TOTP keys are wrapped by the master key too. */
    if (rc > 0 && wb_store_admin_keys_rewrap(pg, v, err, sizeof(err)) < 0) {
        fprintf(stderr, "rotate-master: %s\n", err);
        rc = -1;
    }
    /* So are MUC rooms' keys. */
    if (rc > 0 && wb_store_muc_rewrap(pg, v, err, sizeof(err)) < 0) {
        fprintf(stderr, "rotate-master: %s\n", err);
        rc = -1;
    }
    if (rc > 0) {
        rc = wb_vault_finish_rotation(v, err, sizeof(err));
        if (rc < 0)
            fprintf(stderr, "rotate-master: %s\n", err);
        else
            printf("rotate-master: done; %s now holds the new master key (servers reload it by "
                   "themselves, or on SIGHUP)\n",
                   cfg->key_file);
    }
    wb_vault_free(v);
    return rc < 0 ? -1 : 0;
}
