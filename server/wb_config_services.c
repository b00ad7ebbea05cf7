/* Configuration of the services built on the core: the admin API, the audit log, stream
 * management, CSI and push, the MUC service and HTTP upload (groups of the same names). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_config_int.h"

static const wb_cfg_opt admin_opts[] = {
    {"enabled", WB_CFG_BOOL, 0, 0},
    {"listen", WB_CFG_STR, 0, 0},
    {"port", WB_CFG_INT, 1, 65535},
    {"certificate", WB_CFG_STR, 0, 0},
    {"key", WB_CFG_STR, 0, 0},
    {"threads", WB_CFG_INT, 1, 16},
    {"token_lifetime", WB_CFG_INT, 1, 86400},
    {"max_body", WB_CFG_INT, 1024, 16777216},
    {"login_failures", WB_CFG_INT, 1, INT_MAX},
    {"login_window", WB_CFG_INT, 1, INT_MAX},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt sm_opts[] = {
    {"resume_timeout", WB_CFG_INT, 1, 86400},
    {"max_queue", WB_CFG_INT, 1, 100000},
    {"ack_every", WB_CFG_INT, 1, 10000},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt muc_opts[] = {
    {"enabled", WB_CFG_BOOL, 0, 0},
    {"domain", WB_CFG_STR, 0, 0},
    {"max_rooms_per_owner", WB_CFG_INT, 1, 100000},
    {"max_occupants", WB_CFG_INT, 1, 100000},
    {"max_nick_length", WB_CFG_INT, 1, 1023},
    {"max_message_size", WB_CFG_INT, 256, INT_MAX},
    {"rate_messages", WB_CFG_INT, 1, 100000},
    {"rate_window", WB_CFG_INT, 1, 86400},
    {"history_max", WB_CFG_INT, 0, 1000},
    {"history_default", WB_CFG_INT, 0, 1000},
    {"check_interval", WB_CFG_INT, 1, 86400},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt csi_opts[] = {
    {"max_held", WB_CFG_INT, 1, 10000},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt push_opts[] = {
    {"include_sender", WB_CFG_BOOL, 0, 0},
    {"include_body", WB_CFG_BOOL, 0, 0},
    {"min_interval", WB_CFG_INT, 0, 86400},
    {"max_registrations", WB_CFG_INT, 1, 1000},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt audit_opts[] = {
    {"enabled", WB_CFG_BOOL, 0, 0},
    {"key_file", WB_CFG_STR, 0, 0},
    {"checkpoint_records", WB_CFG_INT, 1, 1000000},
    {"checkpoint_interval", WB_CFG_INT, 1, 86400},
    {"retention_days", WB_CFG_INT, 0, 36500},
    {"queue_size", WB_CFG_INT, 1, 1000000},
    {"flush_wait", WB_CFG_INT, 0, 600},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt upload_opts[] = {
    {"enabled", WB_CFG_BOOL, 0, 0},
    {"domain", WB_CFG_STR, 0, 0},
    {"max_file_size", WB_CFG_INT, 1, LLONG_MAX},
    {"quota_per_account", WB_CFG_INT, 0, LLONG_MAX},
    {"expire_days", WB_CFG_INT, 0, 36500},
    {"expire_seconds", WB_CFG_INT, 0, INT_MAX},
    {"slot_lifetime", WB_CFG_INT, 1, 86400},
    {"http_listen", WB_CFG_STR, 0, 0},
    {"http_port", WB_CFG_INT, 1, 65535},
    {"public_url", WB_CFG_STR, 0, 0},
    {"certificate", WB_CFG_STR, 0, 0},
    {"key", WB_CFG_STR, 0, 0},
    {"max_connections", WB_CFG_INT, 1, 1024},
    {NULL, WB_CFG_INT, 0, 0},
};

static void load_sm(wb_config *c, const config_setting_t *g)
{
    c->sm_resume_timeout = (int)wb_cfg_int(g, "resume_timeout", 300);
    c->sm_max_queue = (size_t)wb_cfg_int(g, "max_queue", 500);
    c->sm_ack_every = (int)wb_cfg_int(g, "ack_every", 5);
}

/* The admin API's listener: an address, and HTTPS only with both certificate and key. */
static int load_admin(wb_cfg_loader *ld, wb_config *c, const config_setting_t *g)
{
    unsigned char addr[sizeof(struct in6_addr)];

    c->admin_enabled = wb_cfg_bool(g, "enabled", false);
    c->admin_port = (int)wb_cfg_int(g, "port", 5280);
    c->admin_threads = (int)wb_cfg_int(g, "threads", 2);
    c->admin_token_lifetime = (int)wb_cfg_int(g, "token_lifetime", 900);
    c->admin_max_body = (size_t)wb_cfg_int(g, "max_body", 65536);
    c->admin_login_failures = (int)wb_cfg_int(g, "login_failures", 5);
    c->admin_login_window = (int)wb_cfg_int(g, "login_window", 300);
    c->admin_listen = strdup(wb_cfg_str(g, "listen", "127.0.0.1"));
    if (c->admin_listen == NULL)
        return -1;
    if (inet_pton(AF_INET, c->admin_listen, addr) != 1 &&
        inet_pton(AF_INET6, c->admin_listen, addr) != 1)
        wb_cfg_report(ld, wb_cfg_anchor(g, "listen"),
                      "'admin.listen' is '%s', must be an IPv4 or IPv6 address", c->admin_listen);
    if (wb_cfg_str(g, "certificate", NULL) != NULL)
        c->admin_cert =
            wb_cfg_resolve_path(ld, g, "certificate", wb_cfg_str(g, "certificate", NULL));
    if (wb_cfg_str(g, "key", NULL) != NULL)
        c->admin_key = wb_cfg_resolve_path(ld, g, "key", wb_cfg_str(g, "key", NULL));
    if ((wb_cfg_str(g, "certificate", NULL) != NULL) != (wb_cfg_str(g, "key", NULL) != NULL))
        wb_cfg_report(ld, g, "'admin.certificate' and 'admin.key' must be given together");
    return 0;
}

/* The service name pattern must name a domain once "%s" is replaced by a host. */
static void load_muc(wb_cfg_loader *ld, wb_muc_conf *m, const config_setting_t *g)
{
    const char *d = wb_cfg_str(g, "domain", "conference.%s");
    const char *pct = strchr(d, '%');

    m->enabled = wb_cfg_bool(g, "enabled", true);
    if (strlen(d) >= sizeof(m->domain) || (pct != NULL && (pct[1] != 's' || strchr(pct + 1, '%'))))
        wb_cfg_report(ld, wb_cfg_anchor(g, "domain"),
                      "'muc.domain' must be a domain name with at most one %%s");
    else
        snprintf(m->domain, sizeof(m->domain), "%s", d);
    m->max_rooms_per_owner = (int)wb_cfg_int(g, "max_rooms_per_owner", 50);
    m->max_occupants = (int)wb_cfg_int(g, "max_occupants", 200);
    m->max_nick_length = (int)wb_cfg_int(g, "max_nick_length", 64);
    m->max_message_size = (int)wb_cfg_int(g, "max_message_size", 65536);
    m->rate_messages = (int)wb_cfg_int(g, "rate_messages", 20);
    m->rate_window = (int)wb_cfg_int(g, "rate_window", 10);
    m->history_max = (int)wb_cfg_int(g, "history_max", 100);
    m->history_default = (int)wb_cfg_int(g, "history_default", 20);
    m->check_interval = (int)wb_cfg_int(g, "check_interval", 60);
    if (m->history_default > m->history_max)
        m->history_default = m->history_max;
}

/* The audit log (server/audit/wb_audit_conf.h); the signing key lives next to the master key. */
static int load_audit(wb_cfg_loader *ld, const wb_config *c, wb_audit_conf *a,
                      const config_setting_t *g)
{
    a->enabled = wb_cfg_bool(g, "enabled", true);
    a->checkpoint_records = (int)wb_cfg_int(g, "checkpoint_records", 1000);
    a->checkpoint_interval = (int)wb_cfg_int(g, "checkpoint_interval", 3600);
    a->retention_days = (int)wb_cfg_int(g, "retention_days", 365);
    a->queue_size = (int)wb_cfg_int(g, "queue_size", 10000);
    a->flush_wait = (int)wb_cfg_int(g, "flush_wait", 5);
    if (wb_cfg_str(g, "key_file", NULL) != NULL)
        a->key_file = wb_cfg_resolve_path(ld, g, "key_file", wb_cfg_str(g, "key_file", NULL));
    else if (c->key_file != NULL && asprintf(&a->key_file, "%s.audit", c->key_file) < 0)
        a->key_file = NULL;
    return a->key_file != NULL || ld->errors > 0 ? 0 : -1;
}

const wb_muc_conf *wb_config_muc(const wb_config *c)
{
    return &((const wb_config_full *)c)->muc;
}

/* XEP-0352 (server/modules/csi.c) and XEP-0357 (server/modules/push.c). */
static void load_csi_push(wb_config_full *f, const config_setting_t *csi,
                          const config_setting_t *push)
{
    f->csi.max_held = (int)wb_cfg_int(csi, "max_held", 100);
    f->push.include_sender = wb_cfg_bool(push, "include_sender", false);
    f->push.include_body = wb_cfg_bool(push, "include_body", false);
    f->push.min_interval = (int)wb_cfg_int(push, "min_interval", 30);
    f->push.max_registrations = (int)wb_cfg_int(push, "max_registrations", 10);
}

const wb_csi_conf *wb_config_csi(const wb_config *c)
{
    return &((const wb_config_full *)c)->csi;
}

const wb_push_conf *wb_config_push(const wb_config *c)
{
    return &((const wb_config_full *)c)->push;
}

const wb_audit_conf *wb_config_audit(const wb_config *c)
{
    return &((const wb_config_full *)c)->audit;
}

static void load_upload_path(wb_cfg_loader *ld, const config_setting_t *g, const char *name,
                             char *out, size_t size)
{
    const char *v = wb_cfg_str(g, name, NULL);
    char *p = v != NULL ? wb_cfg_resolve_path(ld, g, name, v) : NULL;

    if (p != NULL && strlen(p) >= size)
        wb_cfg_report(ld, wb_cfg_anchor(g, name), "'upload.%s' is too long", name);
    else if (p != NULL)
        snprintf(out, size, "%s", p);
    free(p);
}

static void load_upload_url(wb_cfg_loader *ld, wb_upload_conf *u, const config_setting_t *g)
{
    const char *url = wb_cfg_str(g, "public_url", NULL);

    if (url != NULL && (strlen(url) >= sizeof(u->public_url) ||
                        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)))
        wb_cfg_report(ld, wb_cfg_anchor(g, "public_url"),
                      "'upload.public_url' must be an http(s) URL");
    else if (url != NULL)
        snprintf(u->public_url, sizeof(u->public_url), "%s", url);
    else
        snprintf(u->public_url, sizeof(u->public_url),
                 strchr(u->listen, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
                 u->cert[0] ? "https" : "http", u->listen, u->port);
}

static void load_upload(wb_cfg_loader *ld, wb_upload_conf *u, const config_setting_t *g)
{
    const char *d = wb_cfg_str(g, "domain", "upload.%s"), *pct = strchr(d, '%');
    const char *listen = wb_cfg_str(g, "http_listen", "127.0.0.1");
    unsigned char addr[sizeof(struct in6_addr)];

    u->enabled = wb_cfg_bool(g, "enabled", true);
    if (strlen(d) >= sizeof(u->domain) || (pct != NULL && (pct[1] != 's' || strchr(pct + 1, '%'))))
        wb_cfg_report(ld, wb_cfg_anchor(g, "domain"),
                      "'upload.domain' must be a domain name with at most one %%s");
    else
        snprintf(u->domain, sizeof(u->domain), "%s", d);
    u->max_file_size = wb_cfg_int(g, "max_file_size", 100LL * 1024 * 1024);
    u->quota = wb_cfg_int(g, "quota_per_account", 1024LL * 1024 * 1024);
    u->expire_ms = wb_cfg_int(g, "expire_days", 30) * 86400LL * 1000;
    if (wb_cfg_int(g, "expire_seconds", 0) > 0)
        u->expire_ms = wb_cfg_int(g, "expire_seconds", 0) * 1000LL;
    u->slot_lifetime = (int)wb_cfg_int(g, "slot_lifetime", 300);
    u->port = (int)wb_cfg_int(g, "http_port", 5281);
    u->max_connections = (int)wb_cfg_int(g, "max_connections", 64);
    if (strlen(listen) >= sizeof(u->listen) ||
        (inet_pton(AF_INET, listen, addr) != 1 && inet_pton(AF_INET6, listen, addr) != 1))
        wb_cfg_report(ld, wb_cfg_anchor(g, "http_listen"),
                      "'upload.http_listen' must be an IPv4 or IPv6 address");
    else
        snprintf(u->listen, sizeof(u->listen), "%s", listen);
    load_upload_path(ld, g, "certificate", u->cert, sizeof(u->cert));
    load_upload_path(ld, g, "key", u->key, sizeof(u->key));
    if ((u->cert[0] != '\0') != (u->key[0] != '\0'))
        wb_cfg_report(ld, g, "'upload.certificate' and 'upload.key' must be given together");
    load_upload_url(ld, u, g);
}

const wb_upload_conf *wb_config_upload(const wb_config *c)
{
    return &((const wb_config_full *)c)->upload;
}

int wb_cfg_load_services(wb_cfg_loader *ld, wb_config *c, const config_t *cfg)
{
    wb_config_full *f = (wb_config_full *)c;

    load_muc(ld, &f->muc, wb_cfg_group(ld, cfg, "muc", muc_opts));
    load_upload(ld, &f->upload, wb_cfg_group(ld, cfg, "upload", upload_opts));
    load_csi_push(f, wb_cfg_group(ld, cfg, "csi", csi_opts),
                  wb_cfg_group(ld, cfg, "push", push_opts));
    load_sm(c, wb_cfg_group(ld, cfg, "sm", sm_opts));
    if (load_audit(ld, c, &f->audit, wb_cfg_group(ld, cfg, "audit", audit_opts)) < 0)
        return -1;
    return load_admin(ld, c, wb_cfg_group(ld, cfg, "admin", admin_opts));
}

void wb_cfg_free_services(wb_config *c)
{
    free(c->admin_listen);
    free(c->admin_cert);
    free(c->admin_key);
    free(((wb_config_full *)c)->audit.key_file);
}
