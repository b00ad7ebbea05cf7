/* GDPR requests (issue 6) on a blocking connection (the admin API's pool): export of all that is
 * stored about an account, opened with its data key; erasure with a receipt; rectification of
 * the vCard and roster names; the gdpr_requests register. Not for the workers' async store. */
#ifndef WB_STORE_GDPR_H
#define WB_STORE_GDPR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"
#include "wb_vault.h"

typedef enum {
    WB_GDPR_OK = 0,
    WB_GDPR_NOT_FOUND, /* no such account (or roster item) */
    WB_GDPR_TOO_LARGE, /* the export would exceed its bound */
    WB_GDPR_ERROR,     /* the database failed, or a key does not open (reason in err) */
} wb_gdpr_rc;

#define WB_GDPR_ID_MAX 40 /* a request id (uuid text), NUL included */

/* ---- the register ---- */
/* Records a request of kind ("export", "erase", "rectify") about node@domain by actor, status
 * "running"; id gets its uuid. 0 or -1 (err). */
int wb_store_gdpr_request_open(wb_pg *pg, const char *kind, const char *node, const char *domain,
                               const char *actor, char id[WB_GDPR_ID_MAX], char *err,
                               size_t errsize);
/* Final status ("completed", "failed", "rejected") and a detail without personal data (counts,
 * a reason); *finished_at gets the time recorded (WB_GDPR_TIME_MAX). 0 or -1 (err). */
#define WB_GDPR_TIME_MAX 40
int wb_store_gdpr_request_close(wb_pg *pg, const char *id, const char *status, const char *detail,
                                char finished_at[WB_GDPR_TIME_MAX], char *err, size_t errsize);
/* Requests newest first, as a JSON array of {id, kind, target, actor, status, detail,
 * created_at, finished_at}; *total is how many there are. NULL on error (err). */
json_t *wb_store_gdpr_request_list(wb_pg *pg, int limit, int64_t offset, int64_t *total, char *err,
                                   size_t errsize);

/* ---- the requests themselves ---- */
/* Everything stored about node@domain in one read-only snapshot, sealed values opened with its
 * data key: account, roster, vcard, private XML, PEP nodes and items, archive messages (sent and
 * received), archiving preferences, offline queue, last activity, block list. At most max_bytes
 * of plaintext, else TOO_LARGE. Values that do not open are left out and counted
 * ("unreadable"). *out is the JSON object. */
wb_gdpr_rc wb_store_gdpr_export(wb_pg *pg, wb_vault *v, const char *node, const char *domain,
                                size_t max_bytes, json_t **out, char *err, size_t errsize);
/* Erasure in one transaction: counts what the account holds, destroys its data key (crypto-
 * shredding every sealed copy, backups included), then deletes it and all it owns
 * (account_delete). *erased: {"data_key": bool, "archive_messages": N, ...}. */
wb_gdpr_rc wb_store_gdpr_erase(wb_pg *pg, const char *node, const char *domain, json_t **erased,
                               char *err, size_t errsize);
/* Replaces the vCard (len bytes of XML, checked by the caller) of node@domain, sealed. */
wb_gdpr_rc wb_store_gdpr_rectify_vcard(wb_pg *pg, wb_vault *v, const char *node, const char *domain,
                                       const char *xml, size_t len, char *err, size_t errsize);
/* Sets the name ("" or NULL: none) of contact in node@domain's roster, keeping its groups, and
 * bumps the roster version (clients see it on their next roster get). NOT_FOUND when the account
 * or the item is not there. */
wb_gdpr_rc wb_store_gdpr_rectify_roster(wb_pg *pg, wb_vault *v, const char *node,
                                        const char *domain, const char *contact, const char *name,
                                        char *err, size_t errsize);

#endif
