/* Persistent MUC rooms at rest: each room's data key (made and wrapped by the vault, stored
 * wrapped in its row) and its state sealed under that key. The state's format belongs to the MUC
 * module (server/modules/muc/); storage only seals, stores, loads and opens it. */
#ifndef WB_STORE_MUC_H
#define WB_STORE_MUC_H

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

typedef void (*wb_store_muc_cb)(void *arg, wb_store_status status);
/* Seals state and stores it as the room's row (created on first save, replaced afterwards). The
 * row belongs to the account owner_node@owner_domain: WB_STORE_NOT_FOUND when it does not exist.
 * NULL when the request could not be queued (then cb is never called). */
wb_store_req *wb_store_muc_save(wb_store *st, const wb_store_muc_key *k, int64_t id,
                                const char *service, const char *node, const char *owner_domain,
                                const char *owner_node, const uint8_t *state, size_t len,
                                wb_store_muc_cb cb, void *arg);
/* Deletes the room's row, and so its wrapped key. */
wb_store_req *wb_store_muc_delete(wb_store *st, int64_t id, wb_store_muc_cb cb, void *arg);

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
