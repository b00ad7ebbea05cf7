/* The HTTP File Upload service's configuration (group `upload` of the configuration file), read
 * by wb_config.c and reached through wb_config_upload(). Not for the service's state. */
#ifndef WB_UPLOAD_CONF_H
#define WB_UPLOAD_CONF_H

#include <stdbool.h>
#include <stdint.h>

struct wb_config;

typedef struct wb_upload_conf {
    bool enabled;          /* an upload service per virtual host (default on) */
    char domain[256];      /* service name pattern, "%s" = the virtual host */
    int64_t max_file_size; /* bytes of one file */
    int64_t quota;         /* bytes stored per account (0: no limit) */
    int64_t expire_ms;     /* files are erased this long after their upload (0: never) */
    int slot_lifetime;     /* seconds a slot's PUT stays allowed */
    char listen[64];       /* address of the HTTP listener */
    int port;              /* its port */
    char public_url[512];  /* base of the URLs handed out, e.g. "https://upload.example:5281" */
    char cert[4096];       /* PEM certificate chain (HTTPS when set, with key) */
    char key[4096];        /* PEM private key */
    int max_connections;   /* HTTP connections at once */
} wb_upload_conf;

/* The upload options of a configuration loaded by wb_config_load (defaults when the group is
 * absent). */
const wb_upload_conf *wb_config_upload(const struct wb_config *c);

#endif
