/* GDPR requests as both the admin API and warblerctl run them: each one registered in
 * gdpr_requests, run, and closed with its outcome; the export, the erasure receipt, the vCard
 * check. Not the SQL (storage/wb_store_gdpr.h), not HTTP, not auditing (each caller audits). */
#ifndef WB_GDPR_H
#define WB_GDPR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "wb_jid.h"
#include "wb_store_gdpr.h"

#define WB_GDPR_EXPORT_MAX (64u * 1024 * 1024) /* plaintext bytes in one export */
#define WB_GDPR_VCARD_MAX  65536               /* as the vCard module allows */
#define WB_GDPR_NAME_MAX   1023                /* a roster name */

/* One request: the caller fills jid (an account, bare) and actor ("admin:NAME", "ctl:USER");
 * the calls below set the rest. */
typedef struct wb_gdpr_req {
    wb_jid jid;
    const char *actor;
    const char *kind; /* "export", "erase", "rectify" */
    char id[WB_GDPR_ID_MAX];
    char finished_at[WB_GDPR_TIME_MAX];
} wb_gdpr_req;

/* Each runs one registered request and closes it ("completed", "rejected" for NOT_FOUND,
 * "failed"); ERROR with the reason in err (logged) also when the register is unreachable. */
/* The archive of everything stored about the account (wb_store_gdpr_export), decrypted, with
 * a "request" member (wb_gdpr_request_json) added: *doc on OK. */
wb_gdpr_rc wb_gdpr_export(wb_pg *pg, wb_vault *v, wb_gdpr_req *q, json_t **doc, char *err,
                          size_t errsize);
/* Crypto-shredding and deletion (wb_store_gdpr_erase); *receipt on OK: the request, what was
 * erased and how. Live sessions are the caller's to close. */
wb_gdpr_rc wb_gdpr_erase(wb_pg *pg, wb_gdpr_req *q, json_t **receipt, char *err, size_t errsize);
/* Replaces the vCard with xml (checked with wb_gdpr_vcard_valid first). */
wb_gdpr_rc wb_gdpr_rectify_vcard(wb_pg *pg, wb_vault *v, wb_gdpr_req *q, const char *xml,
                                 size_t len, char *err, size_t errsize);
/* Sets (NULL: removes) the name of contact (a prepared bare JID) in the account's roster. */
wb_gdpr_rc wb_gdpr_rectify_roster(wb_pg *pg, wb_vault *v, wb_gdpr_req *q, const char *contact,
                                  const char *name, char *err, size_t errsize);

/* {"id", "kind", "target", "requested_by", "completed_at"} of a closed request. */
json_t *wb_gdpr_request_json(const wb_gdpr_req *q);
/* Whether xml is one well-formed <vCard xmlns='vcard-temp'> element of at most
 * WB_GDPR_VCARD_MAX bytes, without a DTD. */
bool wb_gdpr_vcard_valid(const char *xml, size_t len);

#endif
