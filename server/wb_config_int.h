/* Private to the configuration loader (wb_config.c and its per-area files): option tables, the
 * state of one load and the helpers every group's loader uses. The server uses wb_config.h. */
#ifndef WB_CONFIG_INT_H
#define WB_CONFIG_INT_H

#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "muc/wb_muc_conf.h"
#include "upload/wb_upload_conf.h"
#include "wb_audit_conf.h"
#include "wb_config.h"
#include "wb_push_conf.h"

typedef enum {
    WB_CFG_INT,
    WB_CFG_STR,
    WB_CFG_BOOL,
    WB_CFG_STRLIST,
    WB_CFG_GROUPLIST,
    WB_CFG_GROUP /* a group { ... } the caller checks itself (a host's s2s policy) */
} wb_cfg_type;

typedef struct wb_cfg_opt {
    const char *name;
    wb_cfg_type type;
    long long min;
    long long max;
} wb_cfg_opt;

/* State of one load: where the file is and how many problems were reported. */
typedef struct wb_cfg_loader {
    const char *path;
    char dir[PATH_MAX];
    int errors;
} wb_cfg_loader;

/* The configuration with the options whose struct lives outside wb_config.h (the MUC service:
 * server/modules/muc/wb_muc_conf.h); wb_config is its first member. */
typedef struct wb_config_full {
    wb_config c;
    wb_muc_conf muc;
    wb_audit_conf audit;
    wb_csi_conf csi;
    wb_push_conf push;
    wb_upload_conf upload;
} wb_config_full;

/* A problem at setting s (NULL: the file): "FILE:LINE: message" on stderr, counted. */
__attribute__((format(printf, 3, 4))) void
wb_cfg_report(wb_cfg_loader *ld, const config_setting_t *s, const char *fmt, ...);
/* Dotted name of a setting for messages: "limits.max_depth", "listeners[1].port". */
const char *wb_cfg_setting_path(const config_setting_t *s, char *buf, size_t size);
int wb_cfg_is_strlist(const config_setting_t *s);
int wb_cfg_check_group(wb_cfg_loader *ld, const config_setting_t *group, const wb_cfg_opt *specs);
long long wb_cfg_int(const config_setting_t *g, const char *name, long long def);
bool wb_cfg_bool(const config_setting_t *g, const char *name, bool def);
const char *wb_cfg_str(const config_setting_t *g, const char *name, const char *def);
const config_setting_t *wb_cfg_anchor(const config_setting_t *g, const char *name);
char *wb_cfg_resolve_path(wb_cfg_loader *ld, const config_setting_t *g, const char *name,
                          const char *p);
int wb_cfg_word(const char *const *words, const char *w);
const config_setting_t *wb_cfg_group(wb_cfg_loader *ld, const config_t *cfg, const char *name,
                                     const wb_cfg_opt *specs);

/* wb_config_services.c: admin API, audit log, stream management, CSI, push, MUC, upload. */
int wb_cfg_load_services(wb_cfg_loader *ld, wb_config *c, const config_t *cfg);
void wb_cfg_free_services(wb_config *c);
/* wb_config_s2s.c: federation and external components. */
int wb_cfg_load_federation(wb_cfg_loader *ld, wb_config *c, const config_t *cfg);
void wb_cfg_free_federation(wb_config *c);

#endif
