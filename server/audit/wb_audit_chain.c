/* The audit chain's cryptography: the record hash over a length-prefixed encoding, checkpoint
 * signatures (Ed25519) and the signing key file. No I/O other than reading the key file. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wb_audit_int.h"
#include "wb_vault.h"

#define WB_AUDIT_REC_TAG "warbler audit record v1" /* hashed first: domain separation */
#define WB_AUDIT_CP_TAG  "WBAUDIT-CP-v1"           /* padded with NULs to 16 bytes */
#define WB_AUDIT_SEED    crypto_sign_SEEDBYTES

_Static_assert(WB_AUDIT_HASH_BYTES >= crypto_generichash_BYTES_MIN &&
                   WB_AUDIT_HASH_BYTES <= crypto_generichash_BYTES_MAX,
               "hash size");
_Static_assert(WB_AUDIT_SIG_BYTES == crypto_sign_BYTES, "signature size");
_Static_assert(WB_AUDIT_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "public key size");

static void wb_audit_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)(v & 0xFF);
}

/* A string as: a presence byte (0 for NULL), then its length (4 bytes, big-endian) and bytes. */
static void wb_audit_hash_str(crypto_generichash_state *st, const char *s)
{
    uint8_t hdr[5] = {0};
    if (s == NULL) {
        crypto_generichash_update(st, hdr, 1);
        return;
    }
    const size_t n = strlen(s);
    hdr[0] = 1;
    hdr[1] = (uint8_t)(n >> 24);
    hdr[2] = (uint8_t)(n >> 16);
    hdr[3] = (uint8_t)(n >> 8);
    hdr[4] = (uint8_t)n;
    crypto_generichash_update(st, hdr, sizeof(hdr));
    crypto_generichash_update(st, (const uint8_t *)s, n);
}

void wb_audit_hash(const wb_audit_rec *r, uint8_t out[WB_AUDIT_HASH_BYTES])
{
    crypto_generichash_state st;
    uint8_t num[8];
    crypto_generichash_init(&st, NULL, 0, WB_AUDIT_HASH_BYTES);
    wb_audit_hash_str(&st, WB_AUDIT_REC_TAG);
    wb_audit_be64(num, (uint64_t)r->id);
    crypto_generichash_update(&st, num, sizeof(num));
    wb_audit_be64(num, (uint64_t)r->time_us);
    crypto_generichash_update(&st, num, sizeof(num));
    wb_audit_hash_str(&st, r->actor);
    wb_audit_hash_str(&st, r->role);
    wb_audit_hash_str(&st, r->action);
    wb_audit_hash_str(&st, r->target);
    wb_audit_hash_str(&st, r->source);
    const uint8_t ok = r->ok ? 1 : 0;
    crypto_generichash_update(&st, &ok, 1);
    wb_audit_hash_str(&st, r->reason);
    crypto_generichash_update(&st, r->prev_hash, WB_AUDIT_HASH_BYTES);
    crypto_generichash_final(&st, out, WB_AUDIT_HASH_BYTES);
}

void wb_audit_checkpoint_msg(const wb_audit_checkpoint *cp, uint8_t out[WB_AUDIT_CP_MSG_BYTES])
{
    memset(out, 0, 16);
    memcpy(out, WB_AUDIT_CP_TAG, sizeof(WB_AUDIT_CP_TAG) - 1);
    wb_audit_be64(out + 16, (uint64_t)cp->last_id);
    memcpy(out + 24, cp->last_hash, WB_AUDIT_HASH_BYTES);
    wb_audit_be64(out + 24 + WB_AUDIT_HASH_BYTES, (uint64_t)cp->time_us);
}

void wb_audit_checkpoint_sign(wb_audit_checkpoint *cp, const uint8_t *sk)
{
    uint8_t msg[WB_AUDIT_CP_MSG_BYTES];
    wb_audit_checkpoint_msg(cp, msg);
    crypto_sign_detached(cp->sig, NULL, msg, sizeof(msg), sk);
}

bool wb_audit_checkpoint_valid(const wb_audit_checkpoint *cp, const uint8_t pk[WB_AUDIT_PK_BYTES])
{
    uint8_t msg[WB_AUDIT_CP_MSG_BYTES];
    wb_audit_checkpoint_msg(cp, msg);
    return crypto_sign_verify_detached(cp->sig, msg, sizeof(msg), pk) == 0;
}

/* Reads the seed (a regular file of exactly 32 bytes, no access for group or others). */
static int wb_audit_read_seed(const char *path, uint8_t *seed, char *err, size_t errsize)
{
    struct stat st;
    const int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsize, "audit key file %s: cannot read it (%s)", path, strerror(errno));
        return -1;
    }
    int rc = -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != WB_AUDIT_SEED)
        snprintf(err, errsize, "audit key file %s: must be a regular file of exactly %d bytes",
                 path, WB_AUDIT_SEED);
    else if (st.st_mode & 077)
        snprintf(err, errsize, "audit key file %s: mode %03o is too open; run: chmod 600 %s", path,
                 (unsigned)(st.st_mode & 0777), path);
    else if (read(fd, seed, WB_AUDIT_SEED) != WB_AUDIT_SEED)
        snprintf(err, errsize, "audit key file %s: cannot read it", path);
    else
        rc = 0;
    close(fd);
    return rc;
}

int wb_audit_key_load(const char *path, bool create, uint8_t pk[WB_AUDIT_PK_BYTES], uint8_t *sk,
                      char *err, size_t errsize)
{
    if (path == NULL || path[0] == '\0') {
        snprintf(err, errsize, "audit: no signing key file configured");
        return -1;
    }
    /* Same format and rules as the master key file: 32 random bytes, mode 0600. */
    if (create && wb_vault_create_key_file(path, err, errsize) < 0)
        return -1;
    uint8_t *seed = sodium_malloc(WB_AUDIT_SEED);
    if (seed == NULL) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    const int rc = wb_audit_read_seed(path, seed, err, errsize);
    if (rc == 0)
        crypto_sign_seed_keypair(pk, sk, seed);
    sodium_free(seed);
    return rc;
}

int64_t wb_audit_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
