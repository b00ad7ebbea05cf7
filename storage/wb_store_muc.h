/* Persistent MUC rooms at rest: each room's data key (made and wrapped by the vault, stored
 * wrapped in its row) and its state sealed under that key. The state's format belongs to the MUC
 * module (server/modules/muc/); storage only seals, stores, loads and opens it. */
#ifndef WB_STORE_MUC_H
#define WB_STORE_MUC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"

struct wb_vault;

/* A room's data key and its wrapped form; owned by one room, freed (and zeroed by the vault)
 * when the room goes. */
typedef struct wb_store_muc_key wb_store_muc_key;

/* A new random key for room id (> 0). NULL on failure (logged). */
wb_store_muc_key *wb_store_muc_key_new(struct wb_vault *v, int64_t id);
void wb_store_muc_key_free(wb_store_muc_key *k);
/* The vault key inside k (for the room archive, storage/wb_store_muc_archive.c); take a
 * reference (wb_vault_key_ref) to keep it past the room. */
struct wb_vault_key *wb_store_muc_key_vault(const wb_store_muc_key *k);

typedef void (*wb_store_muc_cb)(void *arg, wb_store_status status);
/* Seals state and stores it as the room's row (created on first save, replaced afterwards). The
 * row belongs to the account owner_node@owner_domain: WB_STORE_NOT_FOUND when it does not exist,
 * or, when existing is true (the room was stored before), when the row is gone (the room was
 * destroyed by an administrator or with its creator's account): it is then not created again.
 * NULL when the request could not be queued (then cb is never called). */
wb_store_req *wb_store_muc_save(wb_store *st, const wb_store_muc_key *k, int64_t id,
                                const char *service, const char *node, const char *owner_domain,
                                const char *owner_node, bool existing, const uint8_t *state,
                                size_t len, wb_store_muc_cb cb, void *arg);
/* Deletes the room's row, and so its wrapped key. */
wb_store_req *wb_store_muc_delete(wb_store *st, int64_t id, wb_store_muc_cb cb, void *arg);

/* ids: those of the asked ids whose rows still exist (valid during the call). */
typedef void (*wb_store_muc_exist_cb)(void *arg, wb_store_status status, const int64_t *ids,
                                      size_t n);
/* Which of ids (at most WB_STORE_MUC_EXIST_MAX) are still stored. NULL when not queued. */
#define WB_STORE_MUC_EXIST_MAX 4096
wb_store_req *wb_store_muc_exist(wb_store *st, const int64_t *ids, size_t n,
                                 wb_store_muc_exist_cb cb, void *arg);

/* ---- blocking, for warblerctl and the admin API: what may be shown of a room without its
 * key (never its configuration, subject, members or messages) ---- */
typedef struct wb_store_muc_info {
    int64_t id;
    const char *service, *node; /* the room JID's parts */
    const char *owner;          /* the creator's bare JID */
    int64_t created, updated;   /* Unix times */
    int64_t archived;           /* messages in its archive */
} wb_store_muc_info;
typedef void (*wb_store_muc_info_fn)(void *arg, const wb_store_muc_info *info);
/* Every stored room (or only the one service@node when node is not NULL), by JID. Returns how
 * many, or -1 with the reason in err. */
int wb_store_muc_list(wb_pg *pg, const char *service, const char *node, wb_store_muc_info_fn fn,
                      void *arg, char *err, size_t errsize);
/* Deletes room node@service (its key, state and archive). 1 when deleted, 0 when there is no
 * such room, -1 with the reason in err. *id: the deleted room's id. */
int wb_store_muc_delete_sync(wb_pg *pg, const char *service, const char *node, int64_t *id,
                             char *err, size_t errsize);

/* Synchronous, at start-up: calls fn for every stored room with its key (fn takes it) and its
 * opened state. A room whose key or state does not open is logged and skipped. 0, or -1 with
 * the reason in err. */
typedef void (*wb_store_muc_room_fn)(void *arg, int64_t id, const char *service, const char *node,
                                     wb_store_muc_key *key, const uint8_t *state, size_t len);
int wb_store_muc_load(wb_pg *pg, struct wb_vault *v, wb_store_muc_room_fn fn, void *arg, char *err,
                      size_t errsize);

/* Master-key rotation (warblerctl keys rotate, before the rotation is finished): re-wraps, in one
 * transaction, every room key not yet under the vault's next master key. Returns how many, or -1
 * with the reason in err. */
int wb_store_muc_rewrap(wb_pg *pg, struct wb_vault *v, char *err, size_t errsize);

#endif
