/* The audit log's internals shared by the writer and verify: the record hash (an unambiguous,
 * length-prefixed encoding under BLAKE2b), checkpoint signing and the signing key file. */
#ifndef WB_AUDIT_INT_H
#define WB_AUDIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_audit.h"
#include "wb_audit_query.h"
#include "wb_store_audit.h"

#define WB_AUDIT_PK_BYTES 32 /* Ed25519 public key */

/* The hash of r from its fields and r->prev_hash (r->hash is neither read nor written). */
void wb_audit_hash(const wb_audit_rec *r, uint8_t out[WB_AUDIT_HASH_BYTES]);
/* The bytes a checkpoint's signature covers (fixed length). */
#define WB_AUDIT_CP_MSG_BYTES (16 + 8 + WB_AUDIT_HASH_BYTES + 8)
void wb_audit_checkpoint_msg(const wb_audit_checkpoint *cp, uint8_t out[WB_AUDIT_CP_MSG_BYTES]);
/* Signs cp with the 64-byte Ed25519 secret key sk. */
void wb_audit_checkpoint_sign(wb_audit_checkpoint *cp, const uint8_t *sk);
bool wb_audit_checkpoint_valid(const wb_audit_checkpoint *cp, const uint8_t pk[WB_AUDIT_PK_BYTES]);

/* Reads the 32-byte seed in path (mode 0600 or stricter, else refused) into a key pair; sk is
 * 64 bytes. With create, a missing file is created first. 0, or -1 with the reason in err. */
int wb_audit_key_load(const char *path, bool create, uint8_t pk[WB_AUDIT_PK_BYTES], uint8_t *sk,
                      char *err, size_t errsize);

/* Verification over any source of records (ascending id) and checkpoints (ascending last_id):
 * the database's cursors, or an array in the unit tests. Each callback returns how many it read
 * (0 at the end) or -1. 0 when the walk ran (out->ok is the verdict), -1 on a read error. */
typedef struct wb_audit_source {
    void *ctx;
    int (*records)(void *ctx, wb_audit_rec *out, int max);
    int (*checkpoint)(void *ctx, wb_audit_checkpoint *out);
} wb_audit_source;
int wb_audit_verify_walk(const wb_audit_head *head, const wb_audit_source *src,
                         const uint8_t pk[WB_AUDIT_PK_BYTES], wb_audit_verify_result *out);

/* Copies src into dst (at most WB_AUDIT_FIELD_MAX bytes, whole characters, and a NUL), replacing
 * control characters and invalid UTF-8 with '?' so that every record can be stored and printed
 * on one line. dst holds min(strlen(src), WB_AUDIT_FIELD_MAX) + 1 bytes. Returns the bytes used. */
#define WB_AUDIT_FIELD_MAX 512
size_t wb_audit_clean(char *dst, const char *src);

/* Microseconds since the Unix epoch. */
int64_t wb_audit_now_us(void);

/* For the query side: the writer's settings. */
const char *wb_audit_dsn(const wb_audit *a);
const uint8_t *wb_audit_public_key(const wb_audit *a);

#endif
