/* Options of client state indication (group `csi`) and push notifications (group `push`), read
 * by wb_config.c and reached through wb_config_csi() and wb_config_push(). Not run-time state. */
#ifndef WB_PUSH_CONF_H
#define WB_PUSH_CONF_H

#include <stdbool.h>

struct wb_config;

typedef struct wb_csi_conf {
    int max_held; /* stanzas held per inactive session before they are all flushed */
} wb_csi_conf;

typedef struct wb_push_conf {
    bool include_sender;   /* last-message-sender in notifications (default off) */
    bool include_body;     /* last-message-body of unencrypted messages (default off) */
    int min_interval;      /* seconds between two notifications of one registration */
    int max_registrations; /* push registrations per account */
} wb_push_conf;

/* The options of a configuration loaded by wb_config_load (defaults when a group is absent). */
const wb_csi_conf *wb_config_csi(const struct wb_config *c);
const wb_push_conf *wb_config_push(const struct wb_config *c);

#endif
