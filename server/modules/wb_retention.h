/* Disappearing messages, what other modules need of retention.c: the XEP-0466 expiry of a message
 * (stored with its archive and offline rows) and the sweeper's totals for metrics. */
#ifndef WB_RETENTION_H
#define WB_RETENTION_H

#include <stdint.h>

#include "wb_config.h"
#include "wb_msg.h"
#include "wb_server.h"
#include "wb_sweeper.h"

#define WB_NS_EPHEMERAL "urn:xmpp:ephemeral:0"

/* When m, which carries an XEP-0466 <ephemeral timer='N'/>, must be gone from this server:
 * microseconds since the epoch (now plus N "seconds" of retention.unit_ms). 0 when m carries no
 * valid timer. */
int64_t wb_retention_expiry_us(const wb_config *cfg, const wb_msg *m);
/* The sweeper's totals (all zero when it is not running). */
void wb_retention_counters(const wb_server *srv, wb_sweeper_counters *out);

#endif
