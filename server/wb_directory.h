/* The session directory: which resources of which account are bound, on which worker, with
 * what presence. Shared by all workers (read-mostly, under a rwlock). Not for session state. */
#ifndef WB_DIRECTORY_H
#define WB_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_jid.h"
#include "wb_msg.h"

typedef struct wb_directory wb_directory;

typedef struct wb_dir_target {
    uint64_t sid;
    int worker;
    int priority;
    bool available;
    unsigned flags; /* WB_DIR_F_*, set by modules through wb_directory_set_flags */
    char resource[WB_JID_PART_MAX + 1];
} wb_dir_target;

/* Per-resource flags that every worker must see (a session's own flags are in wb_c2s). */
#define WB_DIR_F_CARBONS 0x1u /* XEP-0280: carbons enabled */

wb_directory *wb_directory_new(void);
void wb_directory_free(wb_directory *d);

/* Binds jid (full) to session sid on worker. If that full JID is already bound, the new session
 * takes it and *replaced gets the old one (replaced->sid != 0) so that the caller can close it.
 * Returns 0, or -1 when the account already has max_resources resources bound. */
int wb_directory_bind(wb_directory *d, const wb_jid *jid, uint64_t sid, int worker,
                      size_t max_resources, wb_dir_target *replaced);
/* Removes jid if it is still bound to sid; false when a newer session holds it. */
bool wb_directory_unbind(wb_directory *d, const wb_jid *jid, uint64_t sid);
/* Records the session's presence; last (may be NULL) is the last available presence it sent,
 * of which the directory keeps a reference (for probes and newly approved subscribers). */
void wb_directory_set_presence(wb_directory *d, const wb_jid *jid, uint64_t sid, bool available,
                               int priority, wb_msg *last);
/* Sets then clears flags of jid (full) if it is still bound to sid; false when it is not. A new
 * binding starts with no flags. */
bool wb_directory_set_flags(wb_directory *d, const wb_jid *jid, uint64_t sid, unsigned set,
                            unsigned clear);
/* References to the last presence of each available resource of the account; returns how many
 * (the caller unrefs each). */
size_t wb_directory_presences(wb_directory *d, const wb_jid *jid, wb_msg **out, size_t max);
/* Copies up to max resources of the account (bare part of jid) into out; returns how many. */
size_t wb_directory_lookup(wb_directory *d, const wb_jid *jid, wb_dir_target *out, size_t max);
/* Finds the full JID; returns true and fills *out. */
bool wb_directory_find(wb_directory *d, const wb_jid *jid, wb_dir_target *out);
size_t wb_directory_count(wb_directory *d); /* bound resources in all */
/* Stream management resumption: the session sid holding jid (full) now lives on another worker
 * (presence and flags are kept). False when jid is no longer bound to sid. */
bool wb_directory_move(wb_directory *d, const wb_jid *jid, uint64_t sid, int worker);
/* Calls fn for every bound resource with its account's bare JID, under the read lock (fn must
 * not call into the directory); for listing sessions. Returns how many resources were seen. */
size_t wb_directory_each(wb_directory *d,
                         void (*fn)(void *arg, const char *bare, const wb_dir_target *t),
                         void *arg);

#endif
