/* The vault: the master key (outside the database), per-account data keys (stored only wrapped by
 * the master key), and sealing/opening of user payloads with XChaCha20-Poly1305 (libsodium). The
 * only code that holds secret keys; used only inside storage/. Not for passwords (see wb_scram). */
#ifndef WB_VAULT_H
#define WB_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wb_vault wb_vault;

#define WB_VAULT_KEY_BYTES 32 /* a master key or a data key */
#define WB_VAULT_ID_BYTES  8  /* a master key's fingerprint (account_keys.master_id) */

/* Loads the master key file (exactly 32 bytes, mode 0600 or stricter, else refused with a
 * one-line reason in err) and, during a master-key rotation, KEY_FILE.next too. Keys live in
 * sodium_malloc'd memory (locked where possible, zeroed when freed). Thread-safe afterwards. */
wb_vault *wb_vault_open(const char *key_file, char *err, size_t errsize);
void wb_vault_free(wb_vault *v);
/* Re-reads the key files (SIGHUP, an unknown master_id, the end of a rotation). On failure the
 * keys already loaded stay in use; -1 with the reason in err. */
int wb_vault_reload(wb_vault *v, char *err, size_t errsize);
/* Creates a key file of 32 random bytes, mode 0600, only if it does not exist: 1 created, 0
 * already there, -1 (err) on failure. For set-up (warblerctl) and rotation (KEY_FILE.next). */
int wb_vault_create_key_file(const char *path, char *err, size_t errsize);

/* An account's data key, unwrapped; shared and reference counted (thread-safe). */
typedef struct wb_vault_key wb_vault_key;
wb_vault_key *wb_vault_key_ref(wb_vault_key *k);
void wb_vault_key_unref(wb_vault_key *k);
int64_t wb_vault_key_account(const wb_vault_key *k);

/* Sealed value: a version byte, a random 24-byte nonce, then ciphertext and 16-byte tag. The
 * associated data names the row the value belongs to (e.g. "offline:42:<uuid>"), so that a sealed
 * value copied into another row fails to open. */
#define WB_VAULT_OVERHEAD (1 + 24 + 16)
/* Writes WB_VAULT_OVERHEAD + len bytes into out. 0 or -1. */
int wb_vault_seal(const wb_vault_key *k, const char *ad, const uint8_t *plain, size_t len,
                  uint8_t *out);
/* Opens len sealed bytes into out (len - WB_VAULT_OVERHEAD bytes). -1 when the value was altered,
 * moved to another row, or sealed under another key: the caller reports it, never returns it. */
int wb_vault_open_sealed(const wb_vault_key *k, const char *ad, const uint8_t *sealed, size_t len,
                         uint8_t *out);

/* ---- data keys as stored (account_keys.wrapped / master_id), for storage/wb_store_keys.c ---- */
#define WB_VAULT_WRAPPED_BYTES (WB_VAULT_OVERHEAD + WB_VAULT_KEY_BYTES)

/* A new random data key for account, wrapped (associated data: the account id) under the newest
 * master key (KEY_FILE.next during a rotation). NULL on failure. */
wb_vault_key *wb_vault_key_new(wb_vault *v, int64_t account,
                               uint8_t wrapped[WB_VAULT_WRAPPED_BYTES],
                               uint8_t master_id[WB_VAULT_ID_BYTES]);
/* Unwraps a stored data key with the master key named by master_id (re-reading the key files
 * once when that id is unknown). NULL when it does not open. */
wb_vault_key *wb_vault_key_unwrap(wb_vault *v, int64_t account, const uint8_t *master_id,
                                  size_t id_len, const uint8_t *wrapped, size_t len);
/* Rotation: whether KEY_FILE.next is loaded, with the ids of both master keys (next may be NULL).
 */
bool wb_vault_rotating(wb_vault *v, uint8_t cur_id[WB_VAULT_ID_BYTES],
                       uint8_t next_id[WB_VAULT_ID_BYTES]);
/* Rotation: re-wraps a stored data key under KEY_FILE.next. 0, or -1 when it does not open under
 * either master key or no rotation is in progress. */
int wb_vault_rewrap(wb_vault *v, int64_t account, const uint8_t *master_id, size_t id_len,
                    const uint8_t *wrapped, size_t len, uint8_t out[WB_VAULT_WRAPPED_BYTES]);
/* Rotation's end: KEY_FILE.next replaces KEY_FILE (rename), then the vault reloads. 0 or -1. */
int wb_vault_finish_rotation(wb_vault *v, char *err, size_t errsize);
/* The key file's path and modification time (for `warblerctl keys status`). */
const char *wb_vault_path(const wb_vault *v);

#endif
