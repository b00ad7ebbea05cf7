/* Configuration loader: reads the libconfig file, checks every group and option strictly and
 * reports all problems as FILE:LINE. Does not open certificates, keys or the database. */
#include "wb_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "muc/wb_muc_conf.h"
#include "upload/wb_upload_conf.h"
#include "wb_audit_conf.h"
#include "wb_push_conf.h"
#include "wb_jid.h"
#include "wb_push_conf.h"
#include "wb_s2s_conf.h"

#define WB_CONF_NAME_MAX 256

typedef enum { OPT_INT, OPT_STR, OPT_BOOL, OPT_STRLIST, OPT_GROUPLIST } opt_type;

typedef struct opt_spec {
    const char *name;
    opt_type type;
    long long min;
    long long max;
} opt_spec;

/* State of one load: where the file is and how many problems were reported. */
typedef struct loader {
    const char *path;
    char dir[PATH_MAX];
    int errors;
} loader;

static const opt_spec server_opts[] = {
    {"workers", OPT_INT, 0, 256},
    {"log_level", OPT_STR, 0, 0},
    {"key_file", OPT_STR, 0, 0},
    {NULL, OPT_INT, 0, 0},
};
static const opt_spec storage_opts[] = {
    {"dsn", OPT_STR, 0, 0},      {"embedded_dir", OPT_STR, 0, 0}, {"database", OPT_STR, 0, 0},
    {"wait", OPT_INT, 0, 86400}, {NULL, OPT_INT, 0, 0},
};
static const opt_spec host_opts[] = {
    {"domain", OPT_STR, 0, 0},
    {"cert", OPT_STR, 0, 0},
    {"key", OPT_STR, 0, 0},
    {NULL, OPT_INT, 0, 0},
};
static const opt_spec listener_opts[] = {
    {"type", OPT_STR, 0, 0}, {"address", OPT_STR, 0, 0}, {"port", OPT_INT, 1, 65535},
    {"tls", OPT_STR, 0, 0},  {NULL, OPT_INT, 0, 0},
};
static const opt_spec component_opts[] = {
    {"domain", OPT_STR, 0, 0},
    {"secret", OPT_STR, 0, 0},
    {NULL, OPT_INT, 0, 0},
};
static const opt_spec c2s_opts[] = {
    {"require_starttls", OPT_BOOL, 0, 0},
    {"hide_os", OPT_BOOL, 0, 0},
    {"hide_version", OPT_BOOL, 0, 0},
    {NULL, OPT_INT, 0, 0},
};
static const opt_spec limits_opts[] = {
    {"max_stanza_size", OPT_INT, 1, INT_MAX},
    {"max_depth", OPT_INT, 1, INT_MAX},
    {"max_attrs", OPT_INT, 1, INT_MAX},
    {"handshake_timeout", OPT_INT, 1, INT_MAX},
    {"idle_timeout", OPT_INT, 1, INT_MAX},
    {"auth_failures", OPT_INT, 1, INT_MAX},
    {"auth_window", OPT_INT, 1, INT_MAX},
    {"max_resources", OPT_INT, 1, INT_MAX},
    {NULL, OPT_INT, 0, 0},
};
static const opt_spec sasl_opts[] = {
    {"scram_iterations", OPT_INT, 4096, INT_MAX},
    {"mechanisms", OPT_STRLIST, 0, 0},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec register_opts[] = {
    {"enabled", OPT_BOOL, 0, 0},
    {"invite_only", OPT_BOOL, 0, 0},
    {"per_address", OPT_INT, 1, INT_MAX},
    {"window", OPT_INT, 1, INT_MAX},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec retention_opts[] = {
    {"default", OPT_INT, 0, 3153600000LL},
    {"sweep_interval", OPT_INT, 1, 86400},
    {"batch", OPT_INT, 1, 100000},
    {"unit_ms", OPT_INT, 1, 1000},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec admin_opts[] = {
    {"enabled", OPT_BOOL, 0, 0},
    {"listen", OPT_STR, 0, 0},
    {"port", OPT_INT, 1, 65535},
    {"certificate", OPT_STR, 0, 0},
    {"key", OPT_STR, 0, 0},
    {"threads", OPT_INT, 1, 16},
    {"token_lifetime", OPT_INT, 1, 86400},
    {"max_body", OPT_INT, 1024, 16777216},
    {"login_failures", OPT_INT, 1, INT_MAX},
    {"login_window", OPT_INT, 1, INT_MAX},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec sm_opts[] = {
    {"resume_timeout", OPT_INT, 1, 86400},
    {"max_queue", OPT_INT, 1, 100000},
    {"ack_every", OPT_INT, 1, 10000},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec muc_opts[] = {
    {"enabled", OPT_BOOL, 0, 0},
    {"domain", OPT_STR, 0, 0},
    {"max_rooms_per_owner", OPT_INT, 1, 100000},
    {"max_occupants", OPT_INT, 1, 100000},
    {"max_nick_length", OPT_INT, 1, 1023},
    {"max_message_size", OPT_INT, 256, INT_MAX},
    {"rate_messages", OPT_INT, 1, 100000},
    {"rate_window", OPT_INT, 1, 86400},
    {"history_max", OPT_INT, 0, 1000},
    {"history_default", OPT_INT, 0, 1000},
    {"check_interval", OPT_INT, 1, 86400},
    {NULL, OPT_INT, 0, 0},
};

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

static const opt_spec csi_opts[] = {
    {"max_held", OPT_INT, 1, 10000},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec push_opts[] = {
    {"include_sender", OPT_BOOL, 0, 0},
    {"include_body", OPT_BOOL, 0, 0},
    {"min_interval", OPT_INT, 0, 86400},
    {"max_registrations", OPT_INT, 1, 1000},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec audit_opts[] = {
    {"enabled", OPT_BOOL, 0, 0},
    {"key_file", OPT_STR, 0, 0},
    {"checkpoint_records", OPT_INT, 1, 1000000},
    {"checkpoint_interval", OPT_INT, 1, 86400},
    {"retention_days", OPT_INT, 0, 36500},
    {"queue_size", OPT_INT, 1, 1000000},
    {"flush_wait", OPT_INT, 0, 600},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec s2s_opts[] = {
    {"enabled", OPT_BOOL, 0, 0},
    {"require_tls", OPT_BOOL, 0, 0},
    {"dialback", OPT_BOOL, 0, 0},
    {"bounce_timeout", OPT_INT, 1, 3600},
    {"idle_timeout", OPT_INT, 1, 86400},
    {"queue_max", OPT_INT, 1, 100000},
    {"resolv_conf", OPT_STR, 0, 0},
    {"hosts_file", OPT_STR, 0, 0},
    {"secret_file", OPT_STR, 0, 0},
    {"routes", OPT_GROUPLIST, 0, 0},
    {"allow", OPT_STRLIST, 0, 0},
    {"deny", OPT_STRLIST, 0, 0},
    {"ca_file", OPT_STR, 0, 0},
    {"require_valid_cert", OPT_BOOL, 0, 0},
    {"require_valid_cert_for", OPT_STRLIST, 0, 0},
    {"control_socket", OPT_STR, 0, 0},
    {"max_connections_per_minute", OPT_INT, 1, 100000},
    {"max_stanzas_per_second", OPT_INT, 1, 1000000},
    {"require_tls13", OPT_BOOL, 0, 0},
    {"require_tls13_for", OPT_STRLIST, 0, 0},
    {"socks5", OPT_STR, 0, 0},
    {"socks5_domains", OPT_STRLIST, 0, 0},
    {NULL, OPT_INT, 0, 0},
};

static const opt_spec s2s_route_opts[] = {
    {"domain", OPT_STR, 0, 0},
    {"host", OPT_STR, 0, 0},
    {"port", OPT_INT, 1, 65535},
    {NULL, OPT_INT, 0, 0},
};

static const char *const all_mechanisms[] = {
    "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN",
};
#define N_MECHANISMS (sizeof(all_mechanisms) / sizeof(all_mechanisms[0]))

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

__attribute__((format(printf, 3, 4))) static void report(loader *ld, const config_setting_t *s,
                                                         const char *fmt, ...)
{
    const char *file = s != NULL ? config_setting_source_file(s) : NULL;
    int line = s != NULL ? config_setting_source_line(s) : 0;
    va_list ap;

    if (file == NULL)
        file = ld->path;
    fprintf(stderr, "%s:%d: ", file, line > 0 ? line : 1);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ld->errors++;
}

/* Dotted name of a setting for messages: "limits.max_depth", "listeners[1].port". */
static const char *setting_path(const config_setting_t *s, char *buf, size_t size)
{
    const config_setting_t *parent = config_setting_parent(s);
    const char *name = config_setting_name(s);
    size_t used;

    buf[0] = '\0';
    if (parent != NULL && !config_setting_is_root(parent))
        setting_path(parent, buf, size);
    used = strlen(buf);
    if (name != NULL)
        snprintf(buf + used, size - used, "%s%s", used > 0 ? "." : "", name);
    else
        snprintf(buf + used, size - used, "[%d]", config_setting_index(s));
    return buf;
}

static const char *type_name(opt_type t)
{
    switch (t) {
    case OPT_INT:
        return "an integer";
    case OPT_STR:
        return "a string";
    case OPT_BOOL:
        return "a boolean (true or false)";
    case OPT_STRLIST:
        return "an array of strings";
    case OPT_GROUPLIST:
        return "a list ( { ... }, ... )";
    }
    return "?";
}

static int is_strlist(const config_setting_t *s)
{
    int i, n;

    if (!config_setting_is_array(s) && !config_setting_is_list(s))
        return 0;
    n = config_setting_length(s);
    for (i = 0; i < n; i++) {
        if (config_setting_type(config_setting_get_elem(s, i)) != CONFIG_TYPE_STRING)
            return 0;
    }
    return 1;
}

static int type_matches(const config_setting_t *s, opt_type t)
{
    int st = config_setting_type(s);

    switch (t) {
    case OPT_INT:
        return st == CONFIG_TYPE_INT || st == CONFIG_TYPE_INT64;
    case OPT_STR:
        return st == CONFIG_TYPE_STRING;
    case OPT_BOOL:
        return st == CONFIG_TYPE_BOOL;
    case OPT_STRLIST:
        return is_strlist(s);
    case OPT_GROUPLIST:
        return config_setting_is_list(s);
    }
    return 0;
}

/* Checks one option against its spec: type, then range. */
static void check_option(loader *ld, const config_setting_t *s, const opt_spec *spec)
{
    char name[WB_CONF_NAME_MAX];
    long long v;

    if (!type_matches(s, spec->type)) {
        report(ld, s, "'%s' must be %s", setting_path(s, name, sizeof(name)),
               type_name(spec->type));
        return;
    }
    if (spec->type != OPT_INT)
        return;
    v = config_setting_get_int64(s);
    if (v < spec->min || v > spec->max)
        report(ld, s, "'%s' is %lld, must be between %lld and %lld",
               setting_path(s, name, sizeof(name)), v, spec->min, spec->max);
}

/* Checks that `group` is a group whose members are all known options of the right type. */
static int check_group(loader *ld, const config_setting_t *group, const opt_spec *specs)
{
    char name[WB_CONF_NAME_MAX];
    int i, n;

    if (!config_setting_is_group(group)) {
        report(ld, group, "'%s' must be a group { ... }", setting_path(group, name, sizeof(name)));
        return -1;
    }
    n = config_setting_length(group);
    for (i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, i);
        const opt_spec *spec = specs;

        while (spec->name != NULL && strcmp(spec->name, config_setting_name(s)) != 0)
            spec++;
        if (spec->name == NULL)
            report(ld, s, "unknown option '%s'", setting_path(s, name, sizeof(name)));
        else
            check_option(ld, s, spec);
    }
    return 0;
}

/* Readers used after check_group: a member of the wrong type yields the default (the error has
 * already been counted, so the result is discarded anyway). */
static long long get_int(const config_setting_t *g, const char *name, long long def)
{
    const config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

    if (s == NULL || !type_matches(s, OPT_INT))
        return def;
    return config_setting_get_int64(s);
}

static bool get_bool(const config_setting_t *g, const char *name, bool def)
{
    const config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

    if (s == NULL || config_setting_type(s) != CONFIG_TYPE_BOOL)
        return def;
    return config_setting_get_bool(s) != 0;
}

static const char *get_str(const config_setting_t *g, const char *name, const char *def)
{
    const config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

    if (s == NULL || config_setting_type(s) != CONFIG_TYPE_STRING)
        return def;
    return config_setting_get_string(s);
}

/* Line anchor for a message about `name` in `g`: the option itself if present, else the group. */
static const config_setting_t *anchor(const config_setting_t *g, const char *name)
{
    const config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

    return s != NULL ? s : g;
}

/* Returns a malloc'd absolute path: `p` itself if absolute, else DIR/p. NULL on empty input
 * (reported) or out of memory. */
static char *resolve_path(loader *ld, const config_setting_t *g, const char *name, const char *p)
{
    char *out;

    if (p[0] == '\0') {
        report(ld, anchor(g, name), "'%s' must not be empty", name);
        return NULL;
    }
    if (p[0] == '/')
        return strdup(p);
    if (asprintf(&out, "%s/%s", ld->dir, p) < 0)
        return NULL;
    return out;
}

static int find_word(const char *const *words, const char *w)
{
    int i;

    for (i = 0; words[i] != NULL; i++) {
        if (strcmp(words[i], w) == 0)
            return i;
    }
    return -1;
}

static int load_server(loader *ld, wb_config *c, const config_setting_t *g)
{
    long long workers = get_int(g, "workers", 0);

    if (workers == 0) {
        workers = sysconf(_SC_NPROCESSORS_ONLN);
        if (workers < 1)
            workers = 1;
    }
    c->workers = (int)workers;
    c->log_level = strdup(get_str(g, "log_level", "info"));
    if (c->log_level == NULL)
        return -1;
    if (find_word(log_levels, c->log_level) < 0)
        report(ld, anchor(g, "log_level"),
               "'server.log_level' is '%s', must be debug, info, warn or error", c->log_level);
    c->key_file = resolve_path(ld, g, "key_file", get_str(g, "key_file", "master.key"));
    return c->key_file != NULL || ld->errors > 0 ? 0 : -1;
}

/* libpq conninfo value: bare if it has no space, quote or backslash, else single-quoted. */
static int append_conn_value(char *buf, size_t size, const char *v)
{
    size_t n = strlen(buf);
    bool quote = v[0] == '\0' || strpbrk(v, " \t'\\") != NULL;

    if (quote && n < size)
        buf[n++] = '\'';
    for (; *v != '\0' && n + 2 < size; v++) {
        if (quote && (*v == '\'' || *v == '\\'))
            buf[n++] = '\\';
        buf[n++] = *v;
    }
    if (quote && n < size)
        buf[n++] = '\'';
    if (*v != '\0' || n >= size)
        return -1;
    buf[n] = '\0';
    return 0;
}

static char *embedded_dsn(const char *dir, const char *database)
{
    char run[PATH_MAX + 8];
    char dsn[2 * PATH_MAX + 2 * WB_CONF_NAME_MAX];

    snprintf(run, sizeof(run), "%s/run", dir);
    strcpy(dsn, "host=");
    if (append_conn_value(dsn, sizeof(dsn), run) < 0)
        return NULL;
    strcat(dsn, " dbname=");
    if (append_conn_value(dsn, sizeof(dsn), database) < 0)
        return NULL;
    if (strlen(dsn) + sizeof(" user=postgres") > sizeof(dsn))
        return NULL;
    strcat(dsn, " user=postgres");
    return strdup(dsn);
}

static int load_storage(loader *ld, wb_config *c, const config_setting_t *g)
{
    const char *dsn = get_str(g, "dsn", "");

    c->db_wait = (int)get_int(g, "wait", 30);
    c->database = strdup(get_str(g, "database", "warbler"));
    c->embedded_dir = resolve_path(ld, g, "embedded_dir", get_str(g, "embedded_dir", "pg"));
    if (c->database == NULL || c->embedded_dir == NULL)
        return ld->errors > 0 ? 0 : -1;
    if (c->database[0] == '\0') {
        report(ld, anchor(g, "database"), "'storage.database' must not be empty");
        return 0;
    }
    if (dsn[0] != '\0')
        c->dsn = strdup(dsn);
    else
        c->dsn = embedded_dsn(c->embedded_dir, c->database);
    if (c->dsn == NULL && dsn[0] == '\0') {
        report(ld, anchor(g, "embedded_dir"), "'storage.embedded_dir' is too long");
        return 0;
    }
    return c->dsn != NULL ? 0 : -1;
}

static void load_c2s(wb_config *c, const config_setting_t *g)
{
    c->require_starttls = get_bool(g, "require_starttls", true);
    c->hide_os = get_bool(g, "hide_os", false);
    c->hide_version = get_bool(g, "hide_version", false);
}

static void load_limits(wb_config *c, const config_setting_t *g)
{
    c->max_stanza_size = (size_t)get_int(g, "max_stanza_size", 262144);
    c->max_depth = (unsigned)get_int(g, "max_depth", 32);
    c->max_attrs = (unsigned)get_int(g, "max_attrs", 64);
    c->handshake_timeout = (int)get_int(g, "handshake_timeout", 30);
    c->idle_timeout = (int)get_int(g, "idle_timeout", 600);
    c->auth_failures = (int)get_int(g, "auth_failures", 5);
    c->auth_window = (int)get_int(g, "auth_window", 60);
    c->max_resources = (size_t)get_int(g, "max_resources", 10);
}

static void load_register(wb_config *c, const config_setting_t *g)
{
    c->register_enabled = get_bool(g, "enabled", false);
    c->register_invite_only = get_bool(g, "invite_only", true);
    c->register_per_address = (int)get_int(g, "per_address", 3);
    c->register_window = (int)get_int(g, "window", 3600);
}

static void load_retention(wb_config *c, const config_setting_t *g)
{
    c->retention_default = (int64_t)get_int(g, "default", 0);
    c->retention_sweep_interval = (int)get_int(g, "sweep_interval", 60);
    c->retention_batch = (int)get_int(g, "batch", 500);
    c->retention_unit_ms = (int)get_int(g, "unit_ms", 1000);
}

static void load_sm(wb_config *c, const config_setting_t *g)
{
    c->sm_resume_timeout = (int)get_int(g, "resume_timeout", 300);
    c->sm_max_queue = (size_t)get_int(g, "max_queue", 500);
    c->sm_ack_every = (int)get_int(g, "ack_every", 5);
}

/* The admin API's listener: an address, and HTTPS only with both certificate and key. */
static int load_admin(loader *ld, wb_config *c, const config_setting_t *g)
{
    unsigned char addr[sizeof(struct in6_addr)];

    c->admin_enabled = get_bool(g, "enabled", false);
    c->admin_port = (int)get_int(g, "port", 5280);
    c->admin_threads = (int)get_int(g, "threads", 2);
    c->admin_token_lifetime = (int)get_int(g, "token_lifetime", 900);
    c->admin_max_body = (size_t)get_int(g, "max_body", 65536);
    c->admin_login_failures = (int)get_int(g, "login_failures", 5);
    c->admin_login_window = (int)get_int(g, "login_window", 300);
    c->admin_listen = strdup(get_str(g, "listen", "127.0.0.1"));
    if (c->admin_listen == NULL)
        return -1;
    if (inet_pton(AF_INET, c->admin_listen, addr) != 1 &&
        inet_pton(AF_INET6, c->admin_listen, addr) != 1)
        report(ld, anchor(g, "listen"), "'admin.listen' is '%s', must be an IPv4 or IPv6 address",
               c->admin_listen);
    if (get_str(g, "certificate", NULL) != NULL)
        c->admin_cert = resolve_path(ld, g, "certificate", get_str(g, "certificate", NULL));
    if (get_str(g, "key", NULL) != NULL)
        c->admin_key = resolve_path(ld, g, "key", get_str(g, "key", NULL));
    if ((get_str(g, "certificate", NULL) != NULL) != (get_str(g, "key", NULL) != NULL))
        report(ld, g, "'admin.certificate' and 'admin.key' must be given together");
    return 0;
}

/* The service name pattern must name a domain once "%s" is replaced by a host. */
static void load_muc(loader *ld, wb_muc_conf *m, const config_setting_t *g)
{
    const char *d = get_str(g, "domain", "conference.%s");
    const char *pct = strchr(d, '%');

    m->enabled = get_bool(g, "enabled", true);
    if (strlen(d) >= sizeof(m->domain) || (pct != NULL && (pct[1] != 's' || strchr(pct + 1, '%'))))
        report(ld, anchor(g, "domain"), "'muc.domain' must be a domain name with at most one %%s");
    else
        snprintf(m->domain, sizeof(m->domain), "%s", d);
    m->max_rooms_per_owner = (int)get_int(g, "max_rooms_per_owner", 50);
    m->max_occupants = (int)get_int(g, "max_occupants", 200);
    m->max_nick_length = (int)get_int(g, "max_nick_length", 64);
    m->max_message_size = (int)get_int(g, "max_message_size", 65536);
    m->rate_messages = (int)get_int(g, "rate_messages", 20);
    m->rate_window = (int)get_int(g, "rate_window", 10);
    m->history_max = (int)get_int(g, "history_max", 100);
    m->history_default = (int)get_int(g, "history_default", 20);
    m->check_interval = (int)get_int(g, "check_interval", 60);
    if (m->history_default > m->history_max)
        m->history_default = m->history_max;
}

/* The audit log (server/audit/wb_audit_conf.h); the signing key lives next to the master key. */
static int load_audit(loader *ld, const wb_config *c, wb_audit_conf *a, const config_setting_t *g)
{
    a->enabled = get_bool(g, "enabled", true);
    a->checkpoint_records = (int)get_int(g, "checkpoint_records", 1000);
    a->checkpoint_interval = (int)get_int(g, "checkpoint_interval", 3600);
    a->retention_days = (int)get_int(g, "retention_days", 365);
    a->queue_size = (int)get_int(g, "queue_size", 10000);
    a->flush_wait = (int)get_int(g, "flush_wait", 5);
    if (get_str(g, "key_file", NULL) != NULL)
        a->key_file = resolve_path(ld, g, "key_file", get_str(g, "key_file", NULL));
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
    f->csi.max_held = (int)get_int(csi, "max_held", 100);
    f->push.include_sender = get_bool(push, "include_sender", false);
    f->push.include_body = get_bool(push, "include_body", false);
    f->push.min_interval = (int)get_int(push, "min_interval", 30);
    f->push.max_registrations = (int)get_int(push, "max_registrations", 10);
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

static int add_mechanism(wb_config *c, const char *name)
{
    c->mechanisms[c->n_mechanisms] = strdup(name);
    if (c->mechanisms[c->n_mechanisms] == NULL)
        return -1;
    c->n_mechanisms++;
    return 0;
}

/* Checks one listed mechanism name: known and not yet listed. */
static bool mechanism_ok(loader *ld, const wb_config *c, const config_setting_t *e)
{
    const char *name = config_setting_get_string(e);
    size_t j, known = 0;

    for (j = 0; j < N_MECHANISMS; j++)
        known += strcmp(all_mechanisms[j], name) == 0;
    if (!known) {
        report(ld, e, "unknown SASL mechanism '%s'", name);
        return false;
    }
    for (j = 0; j < c->n_mechanisms; j++) {
        if (strcmp(c->mechanisms[j], name) == 0) {
            report(ld, e, "duplicate SASL mechanism '%s'", name);
            return false;
        }
    }
    return true;
}

static int load_sasl(loader *ld, wb_config *c, const config_setting_t *g)
{
    const config_setting_t *list = g != NULL ? config_setting_get_member(g, "mechanisms") : NULL;
    size_t i;
    int n;

    c->scram_iterations = (uint32_t)get_int(g, "scram_iterations", 4096);
    c->mechanisms = calloc(N_MECHANISMS, sizeof(*c->mechanisms));
    if (c->mechanisms == NULL)
        return -1;
    if (list == NULL || !is_strlist(list)) {
        for (i = 0; i < N_MECHANISMS; i++) {
            if (add_mechanism(c, all_mechanisms[i]) < 0)
                return -1;
        }
        return 0;
    }
    n = config_setting_length(list);
    if (n == 0)
        report(ld, list, "'sasl.mechanisms' must not be empty");
    for (i = 0; i < (size_t)n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

        if (mechanism_ok(ld, c, e) && add_mechanism(c, config_setting_get_string(e)) < 0)
            return -1;
    }
    return 0;
}

/* Fills one host from its group; missing members are reported on the group's line. */
static int load_host(loader *ld, wb_config *c, const config_setting_t *g, size_t i)
{
    static const char *const required[] = {"domain", "cert", "key"};
    wb_conf_host *h = &c->hosts[i];
    char prepared[WB_JID_PART_MAX + 1];
    size_t k;

    if (check_group(ld, g, host_opts) < 0)
        return 0;
    for (k = 0; k < 3; k++) {
        if (get_str(g, required[k], NULL) == NULL &&
            config_setting_get_member(g, required[k]) == NULL)
            report(ld, g, "host entry lacks '%s'", required[k]);
    }
    if (get_str(g, "domain", NULL) != NULL) {
        const char *d = get_str(g, "domain", NULL);

        if (wb_jid_prep_domain(prepared, d, strlen(d)) < 0)
            report(ld, anchor(g, "domain"), "invalid domain '%s'", d);
        else if (wb_config_host(c, prepared) != NULL)
            report(ld, anchor(g, "domain"), "duplicate host domain '%s'", prepared);
        else if ((h->domain = strdup(prepared)) == NULL)
            return -1;
    }
    if (get_str(g, "cert", NULL) != NULL)
        h->cert = resolve_path(ld, g, "cert", get_str(g, "cert", NULL));
    if (get_str(g, "key", NULL) != NULL)
        h->key = resolve_path(ld, g, "key", get_str(g, "key", NULL));
    return 0;
}

static int load_hosts(loader *ld, wb_config *c, const config_setting_t *list)
{
    int i, n;

    if (list == NULL) {
        report(ld, NULL, "missing required list 'hosts' (at least one host)");
        return 0;
    }
    if (!config_setting_is_list(list)) {
        report(ld, list, "'hosts' must be a list ( { ... }, ... )");
        return 0;
    }
    n = config_setting_length(list);
    if (n == 0) {
        report(ld, list, "'hosts' must contain at least one host");
        return 0;
    }
    c->hosts = calloc((size_t)n, sizeof(*c->hosts));
    if (c->hosts == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (load_host(ld, c, config_setting_get_elem(list, (unsigned)i), (size_t)i) < 0)
            return -1;
        c->n_hosts++;
    }
    return 0;
}

/* Type and TLS mode of a listener; defaults c2s and starttls. */
static void load_listener_enums(loader *ld, wb_conf_listener *l, const config_setting_t *g)
{
    static const char *const kinds[] = {"c2s", "s2s", "component", NULL};
    static const char *const modes[] = {"starttls", "direct", NULL};
    char name[WB_CONF_NAME_MAX];
    const char *type = get_str(g, "type", "c2s");
    const char *tls = get_str(g, "tls", "starttls");
    int k = find_word(kinds, type), m = find_word(modes, tls);

    if (k < 0)
        report(ld, anchor(g, "type"), "'%s.type' is '%s', must be c2s or s2s (or component)",
               setting_path(g, name, sizeof(name)), type);
    if (m < 0)
        report(ld, anchor(g, "tls"), "'%s.tls' is '%s', must be starttls or direct",
               setting_path(g, name, sizeof(name)), tls);
    l->kind = k == 1 ? WB_LISTEN_S2S : k == 2 ? WB_LISTEN_COMPONENT : WB_LISTEN_C2S;
    l->tls = m == 1 ? WB_TLS_DIRECT : WB_TLS_STARTTLS;
    if (l->kind == WB_LISTEN_COMPONENT && l->tls == WB_TLS_DIRECT)
        report(ld, anchor(g, "tls"), "'%s.tls': component listeners are plain TCP (XEP-0114)",
               setting_path(g, name, sizeof(name)));
}

static int default_port(const wb_conf_listener *l)
{
    if (l->kind == WB_LISTEN_COMPONENT)
        return 5347;
    if (l->kind == WB_LISTEN_S2S)
        return l->tls == WB_TLS_DIRECT ? 5270 : 5269;
    return l->tls == WB_TLS_DIRECT ? 5223 : 5222;
}

static int load_listener(loader *ld, wb_config *c, const config_setting_t *g)
{
    wb_conf_listener *l = &c->listeners[c->n_listeners];
    unsigned char addr[sizeof(struct in6_addr)];
    char name[WB_CONF_NAME_MAX];
    size_t j;

    if (check_group(ld, g, listener_opts) < 0)
        return 0;
    load_listener_enums(ld, l, g);
    l->port = (int)get_int(g, "port", default_port(l));
    /* Component streams are not encrypted: loopback unless said otherwise. */
    l->address =
        strdup(get_str(g, "address", l->kind == WB_LISTEN_COMPONENT ? "127.0.0.1" : "0.0.0.0"));
    if (l->address == NULL)
        return -1;
    c->n_listeners++;
    if (inet_pton(AF_INET, l->address, addr) != 1 && inet_pton(AF_INET6, l->address, addr) != 1)
        report(ld, anchor(g, "address"), "'%s.address' is '%s', must be an IPv4 or IPv6 address",
               setting_path(g, name, sizeof(name)), l->address);
    for (j = 0; j + 1 < c->n_listeners; j++) {
        if (c->listeners[j].port == l->port && strcmp(c->listeners[j].address, l->address) == 0)
            report(ld, anchor(g, "port"), "duplicate listener %s port %d", l->address, l->port);
    }
    return 0;
}

static int default_listeners(wb_config *c)
{
    c->listeners = calloc(2, sizeof(*c->listeners));
    if (c->listeners == NULL)
        return -1;
    c->listeners[0] = (wb_conf_listener){WB_LISTEN_C2S, WB_TLS_STARTTLS, strdup("0.0.0.0"), 5222};
    c->listeners[1] = (wb_conf_listener){WB_LISTEN_C2S, WB_TLS_DIRECT, strdup("0.0.0.0"), 5223};
    c->n_listeners = 2;
    return c->listeners[0].address != NULL && c->listeners[1].address != NULL ? 0 : -1;
}

static int load_listeners(loader *ld, wb_config *c, const config_setting_t *list)
{
    int i, n;

    if (list == NULL)
        return default_listeners(c);
    if (!config_setting_is_list(list)) {
        report(ld, list, "'listeners' must be a list ( { ... }, ... )");
        return 0;
    }
    n = config_setting_length(list);
    if (n == 0) {
        report(ld, list, "'listeners' must contain at least one listener");
        return 0;
    }
    c->listeners = calloc((size_t)n, sizeof(*c->listeners));
    if (c->listeners == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (load_listener(ld, c, config_setting_get_elem(list, (unsigned)i)) < 0)
            return -1;
    }
    return 0;
}

/* s2s.allow / s2s.deny: remote domains, prepared with Nameprep. */
static int load_s2s_domains(loader *ld, const config_setting_t *g, const char *name, char ***out,
                            size_t *n_out)
{
    const config_setting_t *list = g != NULL ? config_setting_get_member(g, name) : NULL;
    char prepared[WB_JID_PART_MAX + 1];
    int i, n;

    if (list == NULL || !is_strlist(list))
        return 0;
    n = config_setting_length(list);
    *out = calloc((size_t)n + 1, sizeof(**out));
    if (*out == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        const char *d = config_setting_get_string(e);

        if (wb_jid_prep_domain(prepared, d, strlen(d)) < 0) {
            report(ld, e, "invalid domain '%s' in 's2s.%s'", d, name);
            continue;
        }
        if (((*out)[(*n_out)++] = strdup(prepared)) == NULL)
            return -1;
    }
    return 0;
}

/* One static route { domain; host; port; } (port 5269 by default). */
static int load_s2s_route(loader *ld, wb_s2s_conf *s, const config_setting_t *g)
{
    wb_s2s_static_route *r = &s->routes[s->n_routes];
    char prepared[WB_JID_PART_MAX + 1];
    const char *d = get_str(g, "domain", NULL), *host = get_str(g, "host", NULL);

    if (check_group(ld, g, s2s_route_opts) < 0)
        return 0;
    if (d == NULL || host == NULL || host[0] == '\0') {
        report(ld, g, "an s2s route needs 'domain' and 'host'");
        return 0;
    }
    if (wb_jid_prep_domain(prepared, d, strlen(d)) < 0) {
        report(ld, anchor(g, "domain"), "invalid domain '%s' in an s2s route", d);
        return 0;
    }
    if (wb_s2s_conf_route(s, prepared) != NULL) {
        report(ld, anchor(g, "domain"), "duplicate s2s route for '%s'", prepared);
        return 0;
    }
    r->port = (int)get_int(g, "port", 5269);
    r->domain = strdup(prepared);
    r->host = strdup(host);
    s->n_routes++;
    return r->domain != NULL && r->host != NULL ? 0 : -1;
}

static int load_s2s_routes(loader *ld, wb_s2s_conf *s, const config_setting_t *g)
{
    const config_setting_t *list = g != NULL ? config_setting_get_member(g, "routes") : NULL;
    int i, n;

    if (list == NULL || !config_setting_is_list(list))
        return 0;
    n = config_setting_length(list);
    s->routes = calloc((size_t)n + 1, sizeof(*s->routes));
    if (s->routes == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (load_s2s_route(ld, s, config_setting_get_elem(list, (unsigned)i)) < 0)
            return -1;
    }
    return 0;
}

/* s2s.socks5: "ADDRESS:PORT" of a SOCKS5 proxy, numeric ("[::1]:9050" for IPv6): no lookup. */
static int load_s2s_socks5(loader *ld, wb_s2s_conf *s, const config_setting_t *g)
{
    const char *v = get_str(g, "socks5", NULL);
    char host[INET6_ADDRSTRLEN + 2];
    unsigned char a[16];
    if (v == NULL)
        return 0;
    const char *colon = strrchr(v, ':');
    const char *h = v;
    size_t hlen = colon ? (size_t)(colon - v) : 0;
    if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') {
        h = v + 1;
        hlen -= 2;
    }
    char *end = NULL;
    const long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (hlen == 0 || hlen >= sizeof(host) || !end || *end || port < 1 || port > 65535) {
        report(ld, anchor(g, "socks5"), "'s2s.socks5' must be ADDRESS:PORT, not '%s'", v);
        return 0;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1) {
        report(ld, anchor(g, "socks5"), "'s2s.socks5' needs a numeric address, not '%s'", host);
        return 0;
    }
    s->socks5_port = (int)port;
    return (s->socks5_host = strdup(host)) != NULL ? 0 : -1;
}

/* The s2s group (docs/federation.md); the dialback secret sits by the master key by default. */
static int load_s2s(loader *ld, wb_config *c, const config_setting_t *g)
{
    wb_s2s_conf *s = calloc(1, sizeof(*s));
    const char *secret = get_str(g, "secret_file", NULL);

    if (s == NULL)
        return -1;
    c->s2s = s;
    s->enabled = get_bool(g, "enabled", false);
    s->require_tls = get_bool(g, "require_tls", true);
    s->dialback = get_bool(g, "dialback", true);
    s->require_cert = get_bool(g, "require_valid_cert", false);
    if (get_str(g, "ca_file", NULL) != NULL &&
        (s->ca_file = resolve_path(ld, g, "ca_file", get_str(g, "ca_file", NULL))) == NULL &&
        ld->errors == 0)
        return -1;
    s->bounce_timeout = (int)get_int(g, "bounce_timeout", 30);
    s->idle_timeout = (int)get_int(g, "idle_timeout", 600);
    s->queue_max = (int)get_int(g, "queue_max", 1000);
    s->conn_per_minute = (int)get_int(g, "max_connections_per_minute", 60);
    s->stanzas_per_second = (int)get_int(g, "max_stanzas_per_second", 500);
    s->resolv_conf = strdup(get_str(g, "resolv_conf", "/etc/resolv.conf"));
    s->hosts_file = strdup(get_str(g, "hosts_file", "/etc/hosts"));
    s->control_socket =
        resolve_path(ld, g, "control_socket", get_str(g, "control_socket", "warblerd-ctl.sock"));
    if (secret != NULL)
        s->secret_file = resolve_path(ld, g, "secret_file", secret);
    else if (c->key_file != NULL && asprintf(&s->secret_file, "%s.dialback", c->key_file) < 0)
        s->secret_file = NULL;
    if (s->resolv_conf == NULL || s->hosts_file == NULL || s->control_socket == NULL ||
        (s->secret_file == NULL && ld->errors == 0))
        return -1;
    if (load_s2s_routes(ld, s, g) < 0 ||
        load_s2s_domains(ld, g, "allow", &s->allow, &s->n_allow) < 0)
        return -1;
    if (load_s2s_domains(ld, g, "deny", &s->deny, &s->n_deny) < 0)
        return -1;
    if (load_s2s_domains(ld, g, "require_valid_cert_for", &s->cert_domains, &s->n_cert_domains) < 0)
        return -1;
    s->require_tls13 = get_bool(g, "require_tls13", false);
    if (load_s2s_domains(ld, g, "require_tls13_for", &s->tls13_domains, &s->n_tls13_domains) < 0 ||
        load_s2s_domains(ld, g, "socks5_domains", &s->socks5_domains, &s->n_socks5_domains) < 0)
        return -1;
    return load_s2s_socks5(ld, s, g);
}

/* One external component { domain; secret; } (XEP-0114). */
static int load_component(loader *ld, wb_config *c, const config_setting_t *g)
{
    wb_conf_component *k = &c->components[c->n_components];
    char prepared[WB_JID_PART_MAX + 1];
    const char *d = get_str(g, "domain", NULL), *secret = get_str(g, "secret", NULL);
    size_t i;

    if (check_group(ld, g, component_opts) < 0)
        return 0;
    if (d == NULL || secret == NULL || secret[0] == '\0') {
        report(ld, g, "a component needs 'domain' and a non-empty 'secret'");
        return 0;
    }
    if (wb_jid_prep_domain(prepared, d, strlen(d)) < 0) {
        report(ld, anchor(g, "domain"), "invalid component domain '%s'", d);
        return 0;
    }
    if (wb_config_host(c, prepared) != NULL)
        report(ld, anchor(g, "domain"), "component domain '%s' is also a host", prepared);
    for (i = 0; i < c->n_components; i++) {
        if (strcmp(c->components[i].domain, prepared) == 0)
            report(ld, anchor(g, "domain"), "duplicate component domain '%s'", prepared);
    }
    k->domain = strdup(prepared);
    k->secret = strdup(secret);
    c->n_components++;
    return k->domain != NULL && k->secret != NULL ? 0 : -1;
}

static int load_components(loader *ld, wb_config *c, const config_setting_t *list)
{
    int i, n;

    if (list == NULL)
        return 0;
    if (!config_setting_is_list(list)) {
        report(ld, list, "'components' must be a list ( { ... }, ... )");
        return 0;
    }
    n = config_setting_length(list);
    c->components = calloc((size_t)n + 1, sizeof(*c->components));
    if (c->components == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (load_component(ld, c, config_setting_get_elem(list, (unsigned)i)) < 0)
            return -1;
    }
    return 0;
}

/* XEP-0363 HTTP File Upload (server/upload/wb_upload_conf.h). */
static const opt_spec upload_opts[] = {
    {"enabled", OPT_BOOL, 0, 0},
    {"domain", OPT_STR, 0, 0},
    {"max_file_size", OPT_INT, 1, LLONG_MAX},
    {"quota_per_account", OPT_INT, 0, LLONG_MAX},
    {"expire_days", OPT_INT, 0, 36500},
    {"expire_seconds", OPT_INT, 0, INT_MAX},
    {"slot_lifetime", OPT_INT, 1, 86400},
    {"http_listen", OPT_STR, 0, 0},
    {"http_port", OPT_INT, 1, 65535},
    {"public_url", OPT_STR, 0, 0},
    {"certificate", OPT_STR, 0, 0},
    {"key", OPT_STR, 0, 0},
    {"max_connections", OPT_INT, 1, 1024},
    {NULL, OPT_INT, 0, 0},
};

static void load_upload_path(loader *ld, const config_setting_t *g, const char *name, char *out,
                             size_t size)
{
    const char *v = get_str(g, name, NULL);
    char *p = v != NULL ? resolve_path(ld, g, name, v) : NULL;

    if (p != NULL && strlen(p) >= size)
        report(ld, anchor(g, name), "'upload.%s' is too long", name);
    else if (p != NULL)
        snprintf(out, size, "%s", p);
    free(p);
}

/* The URLs handed out: public_url, or derived from the listener. */
static void load_upload_url(loader *ld, wb_upload_conf *u, const config_setting_t *g)
{
    const char *url = get_str(g, "public_url", NULL);

    if (url != NULL && (strlen(url) >= sizeof(u->public_url) ||
                        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)))
        report(ld, anchor(g, "public_url"), "'upload.public_url' must be an http(s) URL");
    else if (url != NULL)
        snprintf(u->public_url, sizeof(u->public_url), "%s", url);
    else
        snprintf(u->public_url, sizeof(u->public_url),
                 strchr(u->listen, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
                 u->cert[0] ? "https" : "http", u->listen, u->port);
}

static void load_upload(loader *ld, wb_upload_conf *u, const config_setting_t *g)
{
    const char *d = get_str(g, "domain", "upload.%s"), *pct = strchr(d, '%');
    const char *listen = get_str(g, "http_listen", "127.0.0.1");
    unsigned char addr[sizeof(struct in6_addr)];

    u->enabled = get_bool(g, "enabled", true);
    if (strlen(d) >= sizeof(u->domain) || (pct != NULL && (pct[1] != 's' || strchr(pct + 1, '%'))))
        report(ld, anchor(g, "domain"),
               "'upload.domain' must be a domain name with at most one %%s");
    else
        snprintf(u->domain, sizeof(u->domain), "%s", d);
    u->max_file_size = get_int(g, "max_file_size", 100LL * 1024 * 1024);
    u->quota = get_int(g, "quota_per_account", 1024LL * 1024 * 1024);
    u->expire_ms = get_int(g, "expire_days", 30) * 86400LL * 1000;
    if (get_int(g, "expire_seconds", 0) > 0)
        u->expire_ms = get_int(g, "expire_seconds", 0) * 1000LL;
    u->slot_lifetime = (int)get_int(g, "slot_lifetime", 300);
    u->port = (int)get_int(g, "http_port", 5281);
    u->max_connections = (int)get_int(g, "max_connections", 64);
    if (strlen(listen) >= sizeof(u->listen) ||
        (inet_pton(AF_INET, listen, addr) != 1 && inet_pton(AF_INET6, listen, addr) != 1))
        report(ld, anchor(g, "http_listen"),
               "'upload.http_listen' must be an IPv4 or IPv6 address");
    else
        snprintf(u->listen, sizeof(u->listen), "%s", listen);
    load_upload_path(ld, g, "certificate", u->cert, sizeof(u->cert));
    load_upload_path(ld, g, "key", u->key, sizeof(u->key));
    if ((u->cert[0] != '\0') != (u->key[0] != '\0'))
        report(ld, g, "'upload.certificate' and 'upload.key' must be given together");
    load_upload_url(ld, u, g);
}

const wb_upload_conf *wb_config_upload(const wb_config *c)
{
    return &((const wb_config_full *)c)->upload;
}

/* Top level: reports unknown groups and checks each known group; a group that is not a group
 * is replaced by NULL (defaults) so that loading can go on and report more problems. */
static const config_setting_t *group_of(loader *ld, const config_t *cfg, const char *name,
                                        const opt_spec *specs)
{
    const config_setting_t *g = config_lookup(cfg, name);

    if (g == NULL || check_group(ld, g, specs) < 0)
        return NULL;
    return g;
}

static void check_top_level(loader *ld, const config_t *cfg)
{
    static const char *const groups[] = {"server", "storage",    "hosts",    "listeners", "c2s",
                                         "limits", "sasl",       "register", "retention", "admin",
                                         "sm",     "muc",        "s2s",      "audit",     "csi",
                                         "push",   "components", "upload",   NULL};
    const config_setting_t *root = config_root_setting(cfg);
    int i, n = config_setting_length(root);

    for (i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);

        if (find_word(groups, config_setting_name(s)) < 0)
            report(ld, s, "unknown group '%s'", config_setting_name(s));
    }
}

static int load_all(loader *ld, wb_config *c, const config_t *cfg)
{
    check_top_level(ld, cfg);
    if (load_server(ld, c, group_of(ld, cfg, "server", server_opts)) < 0)
        return -1;
    if (load_storage(ld, c, group_of(ld, cfg, "storage", storage_opts)) < 0)
        return -1;
    if (load_hosts(ld, c, config_lookup(cfg, "hosts")) < 0)
        return -1;
    if (load_listeners(ld, c, config_lookup(cfg, "listeners")) < 0)
        return -1;
    if (load_components(ld, c, config_lookup(cfg, "components")) < 0)
        return -1;
    load_c2s(c, group_of(ld, cfg, "c2s", c2s_opts));
    load_limits(c, group_of(ld, cfg, "limits", limits_opts));
    load_register(c, group_of(ld, cfg, "register", register_opts));
    load_retention(c, group_of(ld, cfg, "retention", retention_opts));
    if (load_s2s(ld, c, group_of(ld, cfg, "s2s", s2s_opts)) < 0)
        return -1;
    load_muc(ld, &((wb_config_full *)c)->muc, group_of(ld, cfg, "muc", muc_opts));
    load_upload(ld, &((wb_config_full *)c)->upload, group_of(ld, cfg, "upload", upload_opts));
    load_csi_push((wb_config_full *)c, group_of(ld, cfg, "csi", csi_opts),
                  group_of(ld, cfg, "push", push_opts));
    load_sm(c, group_of(ld, cfg, "sm", sm_opts));
    if (load_audit(ld, c, &((wb_config_full *)c)->audit, group_of(ld, cfg, "audit", audit_opts)) <
        0)
        return -1;
    if (load_admin(ld, c, group_of(ld, cfg, "admin", admin_opts)) < 0)
        return -1;
    return load_sasl(ld, c, group_of(ld, cfg, "sasl", sasl_opts));
}

/* Sets ld->dir to the absolute directory holding the file. */
static int loader_init(loader *ld, const char *path)
{
    char *real = realpath(path, NULL);
    char *slash;

    ld->path = path;
    ld->errors = 0;
    if (real == NULL)
        return -1;
    slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (strlen(real) >= sizeof(ld->dir)) {
        free(real);
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(ld->dir, real);
    free(real);
    return 0;
}

static int parse_file(loader *ld, config_t *cfg)
{
    FILE *f = fopen(ld->path, "r");

    if (f == NULL) {
        fprintf(stderr, "%s:0: cannot open: %s\n", ld->path, strerror(errno));
        return -1;
    }
    config_set_include_dir(cfg, ld->dir);
    if (config_read(cfg, f) != CONFIG_TRUE) {
        const char *file = config_error_file(cfg);

        fprintf(stderr, "%s:%d: %s\n", file != NULL ? file : ld->path, config_error_line(cfg),
                config_error_text(cfg));
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

wb_config *wb_config_load(const char *path)
{
    loader ld;
    config_t cfg;
    wb_config *c;

    if (loader_init(&ld, path) < 0) {
        fprintf(stderr, "%s:0: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    c = calloc(1, sizeof(wb_config_full)); /* wb_config_muc() reads past *c */
    if (c == NULL)
        return NULL;
    config_init(&cfg);
    if (parse_file(&ld, &cfg) < 0)
        goto fail;
    if (load_all(&ld, c, &cfg) < 0) {
        fprintf(stderr, "%s:0: out of memory\n", path);
        goto fail;
    }
    if (ld.errors > 0)
        goto fail;
    config_destroy(&cfg);
    return c;
fail:
    config_destroy(&cfg);
    wb_config_free(c);
    return NULL;
}

void wb_config_free(wb_config *c)
{
    size_t i;

    if (c == NULL)
        return;
    free(c->log_level);
    free(c->key_file);
    free(c->dsn);
    free(c->embedded_dir);
    free(c->database);
    free(c->admin_listen);
    free(((wb_config_full *)c)->audit.key_file);
    free(c->admin_cert);
    free(c->admin_key);
    for (i = 0; i < c->n_hosts; i++) {
        free(c->hosts[i].domain);
        free(c->hosts[i].cert);
        free(c->hosts[i].key);
    }
    free(c->hosts);
    for (i = 0; i < c->n_listeners; i++)
        free(c->listeners[i].address);
    free(c->listeners);
    for (i = 0; i < c->n_components; i++) {
        free(c->components[i].domain);
        free(c->components[i].secret);
    }
    free(c->components);
    for (i = 0; i < c->n_mechanisms; i++)
        free(c->mechanisms[i]);
    free(c->mechanisms);
    wb_s2s_conf_free(c->s2s);
    free(c);
}

const wb_conf_host *wb_config_host(const wb_config *c, const char *domain)
{
    size_t i;

    for (i = 0; i < c->n_hosts; i++) {
        if (c->hosts[i].domain != NULL && strcmp(c->hosts[i].domain, domain) == 0)
            return &c->hosts[i];
    }
    return NULL;
}
