/* The MUC service's configuration (group `muc` of the configuration file), read by wb_config.c
 * and reached through wb_config_muc(). Not for room configuration (see muc_config.c). */
#ifndef WB_MUC_CONF_H
#define WB_MUC_CONF_H

#include <stdbool.h>
#include <stddef.h>

struct wb_config;

typedef struct wb_muc_conf {
    bool enabled;            /* a MUC service per virtual host (default on) */
    char domain[256];        /* service name pattern, "%s" = the virtual host */
    int max_rooms_per_owner; /* rooms one account may own */
    int max_occupants;       /* occupants per room (upper bound of muc#roomconfig_maxusers) */
    int max_nick_length;     /* bytes of a nickname */
    int max_message_size;    /* bytes of one groupchat or private message */
    int rate_messages;       /* messages one occupant may send per rate_window seconds */
    int rate_window;         /* seconds */
    int history_max;         /* highest muc#roomconfig_historylength (messages kept in memory) */
    int history_default;     /* history length of a new room */
    int check_interval;      /* seconds between two checks that stored rooms still exist */
} wb_muc_conf;

/* The MUC options of a configuration loaded by wb_config_load (defaults when the group is
 * absent). */
const wb_muc_conf *wb_config_muc(const struct wb_config *c);

#endif
