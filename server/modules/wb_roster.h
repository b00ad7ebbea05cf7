/* Shared by the roster module (roster.c) and the presence module (presence.c) only: roster
 * pushes, the size limits, and sending an account's presence to one contact. */
#ifndef WB_ROSTER_H
#define WB_ROSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "wb_modules.h"
#include "wb_store_roster.h"

#define WB_ROSTER_MAX_ITEMS 1000                      /* items shown in one roster */
#define WB_ROSTER_MAX_ROWS  (2 * WB_ROSTER_MAX_ITEMS) /* with pending requests, pre-approvals */

/* roster.c: pushes the item (or its removal) with roster version `version` to every interested
 * resource of owner's account, on every worker. */
void wb_roster_push(wb_worker *w, const wb_jid *owner, const wb_roster_item *it, bool removed,
                    int64_t version);

/* presence.c: sends the last presence of every available resource of user's account to contact
 * (bare), or unavailable presence from each of them when `unavailable` (RFC 6121 3.1.5, 3.2.2). */
void wb_presence_send_current(wb_worker *w, const wb_jid *user, const wb_jid *contact,
                              bool unavailable);

#endif
