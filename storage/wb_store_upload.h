/* XEP-0363 uploads at rest: the quota and expiry queries (async, on a worker's or the sweeper's
 * store) and the streamed, sealed write and read of one file (synchronous, on the HTTP threads).
 * Not for slots, tokens nor HTTP (server/upload/); the only code that seals an uploaded byte. */
#ifndef WB_STORE_UPLOAD_H
#define WB_STORE_UPLOAD_H

#include <stdint.h>
#include <sys/types.h>

#include "wb_store.h"
#include "wb_vault.h"

#define WB_STORE_UPLOAD_CHUNK     (256 * 1024) /* plaintext bytes per stored row */
#define WB_STORE_UPLOAD_SLOT_MAX  64           /* bytes of a slot identifier */
#define WB_STORE_UPLOAD_NAME_MAX  255          /* bytes of a file name */
#define WB_STORE_UPLOAD_CTYPE_MAX 255          /* bytes of a content type */

/* Bytes stored by node@domain (0 when none, or no such account). */
typedef void (*wb_store_upload_usage_cb)(void *arg, wb_store_status status, int64_t used);
wb_store_req *wb_store_upload_usage(wb_store *st, const char *domain, const char *node,
                                    wb_store_upload_usage_cb cb, void *arg);
/* Erases at most batch files (1..WB_RETENTION_BATCH_MAX) stored more than max_age_ms ago; n is
 * how many (OK when some, NOT_FOUND when none). */
typedef void (*wb_store_upload_expire_cb)(void *arg, wb_store_status status, uint64_t n);
wb_store_req *wb_store_upload_expire(wb_store *st, int64_t max_age_ms, int batch,
                                     wb_store_upload_expire_cb cb, void *arg);

/* ---- synchronous side (HTTP threads, one connection each) ---- */

typedef enum {
    WB_UPLOAD_OK = 0,
    WB_UPLOAD_NOT_FOUND, /* no such account (write) or file (read) */
    WB_UPLOAD_EXISTS,    /* the slot was used already */
    WB_UPLOAD_QUOTA,     /* the account's quota would be exceeded */
    WB_UPLOAD_TOO_LONG,  /* more bytes than announced (write) */
    WB_UPLOAD_ERROR,     /* database or key failure (logged) */
} wb_upload_rc;

typedef struct wb_store_upload_file {
    const char *node, *domain; /* the uploader */
    const char *slot;          /* random identifier of the URL */
    const char *filename, *content_type;
    int64_t size;  /* bytes announced in the slot request */
    int64_t quota; /* most bytes the account may store (0: no limit) */
} wb_store_upload_file;

/* A file being written: one transaction, committed by wb_store_upload_commit. */
typedef struct wb_store_upload_writer wb_store_upload_writer;
wb_upload_rc wb_store_upload_begin(wb_pg *pg, wb_vault *v, const wb_store_upload_file *f,
                                   wb_store_upload_writer **out);
/* Seals and stores full chunks as they come; TOO_LONG past the announced size. */
wb_upload_rc wb_store_upload_write(wb_store_upload_writer *wr, const void *data, size_t len);
/* Stores the last chunk and commits when exactly size bytes came (TOO_LONG otherwise: rolled
 * back). Frees wr in every case. */
wb_upload_rc wb_store_upload_commit(wb_store_upload_writer *wr);
/* Rolls back and frees (NULL is fine). */
void wb_store_upload_abort(wb_store_upload_writer *wr);

/* A stored file being read back, chunk by chunk. */
typedef struct wb_store_upload_reader wb_store_upload_reader;
/* NOT_FOUND unless slot exists with that file name. */
wb_upload_rc wb_store_upload_open(wb_pg *pg, wb_vault *v, const char *slot, const char *filename,
                                  wb_store_upload_reader **out);
int64_t wb_store_upload_size(const wb_store_upload_reader *rd);
const char *wb_store_upload_content_type(const wb_store_upload_reader *rd);
/* Up to max decrypted bytes: how many, 0 at the end, -1 when a chunk is missing, altered or the
 * database failed (logged). */
ssize_t wb_store_upload_read(wb_store_upload_reader *rd, void *buf, size_t max);
/* Ends the read snapshot and frees rd (plaintext zeroed); NULL is fine. */
void wb_store_upload_close(wb_store_upload_reader *rd);

#endif
