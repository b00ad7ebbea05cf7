/* The vault: master key files (KEY_FILE and, during a rotation, KEY_FILE.next), wrapping of
 * per-account data keys and sealing of payloads (XChaCha20-Poly1305). No SQL here, no logging of
 * keys. */
#include "wb_vault.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wb_log.h"

#define WB_VAULT_VERSION  1
#define WB_VAULT_NONCE    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define WB_VAULT_ID_LABEL "warbler master key id v1"
#define WB_VAULT_AD_MAX   48 /* "key:<int64>" */

typedef struct wb_vault_master {
    bool set;
    uint8_t id[WB_VAULT_ID_BYTES];
    uint8_t *key; /* sodium_malloc'd, WB_VAULT_KEY_BYTES */
} wb_vault_master;

struct wb_vault {
    pthread_mutex_t lock;
    char *path, *next_path;
    wb_vault_master cur, next; /* next: set while a rotation is in progress */
};

struct wb_vault_key {
    atomic_int refs;
    int64_t account;
    uint8_t key[WB_VAULT_KEY_BYTES];
};

_Static_assert(WB_VAULT_OVERHEAD == 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                        crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "sealed value layout");

/* ---- key files ---- */

static void wb_vault_master_clear(wb_vault_master *m)
{
    if (m->key != NULL)
        sodium_free(m->key);
    memset(m, 0, sizeof(*m));
}

static int wb_vault_read_exact(int fd, uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        const ssize_t r = read(fd, out + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Reads one key file into m. 1 loaded, 0 absent (when allowed), -1 refused (err set). */
static int wb_vault_load_file(const char *path, bool may_be_absent, wb_vault_master *m, char *err,
                              size_t errsize)
{
    struct stat st;
    const int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && may_be_absent)
            return 0;
        snprintf(err, errsize, "key file %s: cannot read it (%s)", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != WB_VAULT_KEY_BYTES) {
        snprintf(err, errsize, "key file %s: must be a regular file of exactly %d bytes", path,
                 WB_VAULT_KEY_BYTES);
        goto fail;
    }
    if (st.st_mode & 077) {
        snprintf(err, errsize, "key file %s: mode %03o is too open; run: chmod 600 %s", path,
                 (unsigned)(st.st_mode & 0777), path);
        goto fail;
    }
    m->key = sodium_malloc(WB_VAULT_KEY_BYTES);
    if (m->key == NULL || wb_vault_read_exact(fd, m->key, WB_VAULT_KEY_BYTES) < 0) {
        snprintf(err, errsize, "key file %s: cannot read it", path);
        goto fail;
    }
    uint8_t h[crypto_generichash_BYTES_MIN];
    crypto_generichash(h, sizeof(h), (const uint8_t *)WB_VAULT_ID_LABEL,
                       sizeof(WB_VAULT_ID_LABEL) - 1, m->key, WB_VAULT_KEY_BYTES);
    memcpy(m->id, h, WB_VAULT_ID_BYTES);
    m->set = true;
    close(fd);
    return 1;
fail:
    wb_vault_master_clear(m);
    close(fd);
    return -1;
}

int wb_vault_reload(wb_vault *v, char *err, size_t errsize)
{
    wb_vault_master cur = {0}, next = {0};
    if (wb_vault_load_file(v->path, false, &cur, err, errsize) < 0)
        return -1;
    if (wb_vault_load_file(v->next_path, true, &next, err, errsize) < 0) {
        wb_vault_master_clear(&cur);
        return -1;
    }
    pthread_mutex_lock(&v->lock);
    wb_vault_master old_cur = v->cur, old_next = v->next;
    v->cur = cur;
    v->next = next;
    pthread_mutex_unlock(&v->lock);
    wb_vault_master_clear(&old_cur);
    wb_vault_master_clear(&old_next);
    return 0;
}

wb_vault *wb_vault_open(const char *key_file, char *err, size_t errsize)
{
    wb_vault *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&v->lock, NULL);
    v->path = strdup(key_file);
    if (v->path == NULL || asprintf(&v->next_path, "%s.next", key_file) < 0) {
        v->next_path = NULL;
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (wb_vault_reload(v, err, errsize) < 0)
        goto fail;
    return v;
fail:
    wb_vault_free(v);
    return NULL;
}

void wb_vault_free(wb_vault *v)
{
    if (v == NULL)
        return;
    wb_vault_master_clear(&v->cur);
    wb_vault_master_clear(&v->next);
    pthread_mutex_destroy(&v->lock);
    free(v->path);
    free(v->next_path);
    free(v);
}

const char *wb_vault_path(const wb_vault *v)
{
    return v->path;
}

/* Makes a rename or link in path's directory durable (a key file that vanished after a power
 * loss would lose every key wrapped under it). */
static int wb_vault_sync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    const int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The key is written and synced under a temporary name, then linked into place, so that nobody
 * (a server re-reading its key files, a crash) ever sees a partial key file. */
int wb_vault_create_key_file(const char *path, char *err, size_t errsize)
{
    uint8_t key[WB_VAULT_KEY_BYTES];
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (access(path, F_OK) == 0)
        return 0;
    unlink(tmp);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errsize, "key file %s: cannot create it (%s)", path, strerror(errno));
        return -1;
    }
    randombytes_buf(key, sizeof(key));
    bool ok = fchmod(fd, 0600) == 0 && write(fd, key, sizeof(key)) == (ssize_t)sizeof(key) &&
              fsync(fd) == 0;
    sodium_memzero(key, sizeof(key));
    close(fd);
    int rc = 1;
    if (ok && link(tmp, path) < 0) {
        if (errno == EEXIST)
            rc = 0; /* someone else created it first: theirs stays */
        else
            ok = false;
    }
    if (!ok) {
        snprintf(err, errsize, "key file %s: cannot write it (%s)", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    unlink(tmp);
    if (wb_vault_sync_dir(path) < 0) {
        snprintf(err, errsize, "key file %s: cannot sync its directory (%s)", path,
                 strerror(errno));
        return -1;
    }
    return rc;
}

/* ---- data keys ---- */

static wb_vault_key *wb_vault_key_alloc(int64_t account)
{
    wb_vault_key *k = sodium_malloc(sizeof(*k));
    if (k == NULL)
        return NULL;
    atomic_init(&k->refs, 1);
    k->account = account;
    return k;
}

wb_vault_key *wb_vault_key_ref(wb_vault_key *k)
{
    atomic_fetch_add(&k->refs, 1);
    return k;
}

void wb_vault_key_unref(wb_vault_key *k)
{
    if (k != NULL && atomic_fetch_sub(&k->refs, 1) == 1)
        sodium_free(k); /* zeroes the memory */
}

int64_t wb_vault_key_account(const wb_vault_key *k)
{
    return k->account;
}

/* The AEAD itself: version byte, nonce, ciphertext + tag. */
static int wb_vault_aead_seal(const uint8_t *key, const char *ad, const uint8_t *plain, size_t len,
                              uint8_t *out)
{
    out[0] = WB_VAULT_VERSION;
    randombytes_buf(out + 1, WB_VAULT_NONCE);
    return crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + WB_VAULT_NONCE, NULL, plain, len,
                                                      (const uint8_t *)ad, strlen(ad), NULL,
                                                      out + 1, key);
}

static int wb_vault_aead_open(const uint8_t *key, const char *ad, const uint8_t *sealed, size_t len,
                              uint8_t *out)
{
    if (len < WB_VAULT_OVERHEAD || sealed[0] != WB_VAULT_VERSION)
        return -1;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, sealed + 1 + WB_VAULT_NONCE,
                                                      len - 1 - WB_VAULT_NONCE, (const uint8_t *)ad,
                                                      strlen(ad), sealed + 1, key);
}

int wb_vault_seal(const wb_vault_key *k, const char *ad, const uint8_t *plain, size_t len,
                  uint8_t *out)
{
    return wb_vault_aead_seal(k->key, ad, plain, len, out) == 0 ? 0 : -1;
}

int wb_vault_open_sealed(const wb_vault_key *k, const char *ad, const uint8_t *sealed, size_t len,
                         uint8_t *out)
{
    return wb_vault_aead_open(k->key, ad, sealed, len, out) == 0 ? 0 : -1;
}

static void wb_vault_wrap_ad(char *ad, size_t size, int64_t account)
{
    snprintf(ad, size, "key:%" PRId64, account);
}

/* The loaded master key with this id, or NULL; called with the lock held. */
static const wb_vault_master *wb_vault_find(const wb_vault *v, const uint8_t *id, size_t id_len)
{
    if (id_len != WB_VAULT_ID_BYTES)
        return NULL;
    if (v->cur.set && sodium_memcmp(v->cur.id, id, WB_VAULT_ID_BYTES) == 0)
        return &v->cur;
    if (v->next.set && sodium_memcmp(v->next.id, id, WB_VAULT_ID_BYTES) == 0)
        return &v->next;
    return NULL;
}

wb_vault_key *wb_vault_key_new(wb_vault *v, int64_t account,
                               uint8_t wrapped[WB_VAULT_WRAPPED_BYTES],
                               uint8_t master_id[WB_VAULT_ID_BYTES])
{
    char ad[WB_VAULT_AD_MAX], err[256];
    /* A rotation may have started or ended since the files were read: a new key must be wrapped
     * under the newest master key, or the rotation could miss it. Keys are created rarely. */
    if (wb_vault_reload(v, err, sizeof(err)) < 0) {
        /* Wrapping under a master key that may be gone would make the key unreadable later. */
        wb_warn("vault: no new data key: %s", err);
        return NULL;
    }
    wb_vault_key *k = wb_vault_key_alloc(account);
    if (k == NULL)
        return NULL;
    randombytes_buf(k->key, sizeof(k->key));
    wb_vault_wrap_ad(ad, sizeof(ad), account);
    pthread_mutex_lock(&v->lock);
    const wb_vault_master *m = v->next.set ? &v->next : &v->cur;
    const int rc = wb_vault_aead_seal(m->key, ad, k->key, sizeof(k->key), wrapped);
    memcpy(master_id, m->id, WB_VAULT_ID_BYTES);
    pthread_mutex_unlock(&v->lock);
    if (rc != 0) {
        wb_vault_key_unref(k);
        return NULL;
    }
    return k;
}

/* Unwraps into k->key with the lock held; -1 when the id is unknown or the value does not open. */
static int wb_vault_unwrap_locked(wb_vault *v, int64_t account, const uint8_t *id, size_t id_len,
                                  const uint8_t *wrapped, size_t len, uint8_t *out)
{
    char ad[WB_VAULT_AD_MAX];
    const wb_vault_master *m = wb_vault_find(v, id, id_len);
    if (m == NULL || len != WB_VAULT_WRAPPED_BYTES)
        return -1;
    wb_vault_wrap_ad(ad, sizeof(ad), account);
    return wb_vault_aead_open(m->key, ad, wrapped, len, out) == 0 ? 0 : -1;
}

static bool wb_vault_knows(wb_vault *v, const uint8_t *id, size_t id_len)
{
    pthread_mutex_lock(&v->lock);
    const bool known = wb_vault_find(v, id, id_len) != NULL;
    pthread_mutex_unlock(&v->lock);
    return known;
}

wb_vault_key *wb_vault_key_unwrap(wb_vault *v, int64_t account, const uint8_t *master_id,
                                  size_t id_len, const uint8_t *wrapped, size_t len)
{
    char err[256];
    if (!wb_vault_knows(v, master_id, id_len))
        (void)wb_vault_reload(v, err, sizeof(err)); /* a rotation started or ended elsewhere */
    wb_vault_key *k = wb_vault_key_alloc(account);
    if (k == NULL)
        return NULL;
    pthread_mutex_lock(&v->lock);
    const int rc = wb_vault_unwrap_locked(v, account, master_id, id_len, wrapped, len, k->key);
    pthread_mutex_unlock(&v->lock);
    if (rc < 0) {
        wb_vault_key_unref(k);
        return NULL;
    }
    return k;
}

bool wb_vault_rotating(wb_vault *v, uint8_t cur_id[WB_VAULT_ID_BYTES],
                       uint8_t next_id[WB_VAULT_ID_BYTES])
{
    pthread_mutex_lock(&v->lock);
    const bool rotating = v->next.set;
    if (cur_id != NULL)
        memcpy(cur_id, v->cur.id, WB_VAULT_ID_BYTES);
    if (next_id != NULL && rotating)
        memcpy(next_id, v->next.id, WB_VAULT_ID_BYTES);
    pthread_mutex_unlock(&v->lock);
    return rotating;
}

int wb_vault_rewrap(wb_vault *v, int64_t account, const uint8_t *master_id, size_t id_len,
                    const uint8_t *wrapped, size_t len, uint8_t out[WB_VAULT_WRAPPED_BYTES])
{
    char ad[WB_VAULT_AD_MAX];
    uint8_t *key = sodium_malloc(WB_VAULT_KEY_BYTES);
    int rc = -1;
    if (key == NULL)
        return -1;
    wb_vault_wrap_ad(ad, sizeof(ad), account);
    pthread_mutex_lock(&v->lock);
    if (v->next.set &&
        wb_vault_unwrap_locked(v, account, master_id, id_len, wrapped, len, key) == 0)
        rc = wb_vault_aead_seal(v->next.key, ad, key, WB_VAULT_KEY_BYTES, out) == 0 ? 0 : -1;
    pthread_mutex_unlock(&v->lock);
    sodium_free(key);
    return rc;
}

int wb_vault_finish_rotation(wb_vault *v, char *err, size_t errsize)
{
    if (rename(v->next_path, v->path) < 0) {
        snprintf(err, errsize, "cannot rename %s to %s (%s)", v->next_path, v->path,
                 strerror(errno));
        return -1;
    }
    if (wb_vault_sync_dir(v->path) < 0) {
        snprintf(err, errsize, "cannot sync the directory of %s (%s)", v->path, strerror(errno));
        return -1;
    }
    return wb_vault_reload(v, err, errsize);
}
