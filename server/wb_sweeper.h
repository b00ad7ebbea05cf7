/* The retention sweeper: one per server, on its own thread with its own event loop and database
 * connection, erasing expired archived and queued messages in bounded batches every
 * retention.sweep_interval seconds. Not for the retention rules themselves (storage/, SQL). */
#ifndef WB_SWEEPER_H
#define WB_SWEEPER_H

#include <stdint.h>

#include "wb_config.h"

typedef struct wb_sweeper wb_sweeper;

/* Totals since start-up (for metrics): sweeps completed, sweeps that failed (database
 * unavailable), and messages erased from the archive and from the offline queue, including those
 * erased by per-account sweeps counted with wb_sweeper_count. */
typedef struct wb_sweeper_counters {
    uint64_t sweeps;
    uint64_t failures;
    uint64_t archived;
    uint64_t queued;
} wb_sweeper_counters;

/* Starts the sweeper thread. NULL on failure (logged). */
wb_sweeper *wb_sweeper_start(const wb_config *cfg);
/* Stops the thread, closes its connection and frees everything. NULL is ignored. */
void wb_sweeper_stop(wb_sweeper *sw);
/* Thread-safe: adds erasures done elsewhere (a per-account sweep on a worker) to the totals. */
void wb_sweeper_count(wb_sweeper *sw, uint64_t archived, uint64_t queued);
/* Thread-safe: a snapshot of the totals. */
void wb_sweeper_counters_get(const wb_sweeper *sw, wb_sweeper_counters *out);

#endif
