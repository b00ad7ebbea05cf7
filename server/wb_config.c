/* Configuration wb_cfg_loader: reads the libconfig file, checks every group and option strictly and
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

#include "wb_config_int.h"
#include "wb_jid.h"

#define WB_CONF_NAME_MAX 256

static const wb_cfg_opt server_opts[] = {
    {"workers", WB_CFG_INT, 0, 256}, {"log_level", WB_CFG_STR, 0, 0},
    {"key_file", WB_CFG_STR, 0, 0},  {"control_socket", WB_CFG_STR, 0, 0},
    {NULL, WB_CFG_INT, 0, 0},
};
static const wb_cfg_opt storage_opts[] = {
    {"dsn", WB_CFG_STR, 0, 0},      {"embedded_dir", WB_CFG_STR, 0, 0},
    {"database", WB_CFG_STR, 0, 0}, {"wait", WB_CFG_INT, 0, 86400},
    {NULL, WB_CFG_INT, 0, 0},
};
static const wb_cfg_opt host_opts[] = {
    {"domain", WB_CFG_STR, 0, 0}, {"cert", WB_CFG_STR, 0, 0}, {"key", WB_CFG_STR, 0, 0},
    {"s2s", WB_CFG_GROUP, 0, 0},  {NULL, WB_CFG_INT, 0, 0},
};
static const wb_cfg_opt listener_opts[] = {
    {"type", WB_CFG_STR, 0, 0}, {"address", WB_CFG_STR, 0, 0}, {"port", WB_CFG_INT, 1, 65535},
    {"tls", WB_CFG_STR, 0, 0},  {NULL, WB_CFG_INT, 0, 0},
};
static const wb_cfg_opt c2s_opts[] = {
    {"require_starttls", WB_CFG_BOOL, 0, 0},
    {"hide_os", WB_CFG_BOOL, 0, 0},
    {"hide_version", WB_CFG_BOOL, 0, 0},
    {NULL, WB_CFG_INT, 0, 0},
};
static const wb_cfg_opt limits_opts[] = {
    {"max_stanza_size", WB_CFG_INT, 1, INT_MAX},
    {"max_depth", WB_CFG_INT, 1, INT_MAX},
    {"max_attrs", WB_CFG_INT, 1, INT_MAX},
    {"handshake_timeout", WB_CFG_INT, 1, INT_MAX},
    {"idle_timeout", WB_CFG_INT, 1, INT_MAX},
    {"auth_failures", WB_CFG_INT, 1, INT_MAX},
    {"auth_window", WB_CFG_INT, 1, INT_MAX},
    {"max_resources", WB_CFG_INT, 1, INT_MAX},
    {NULL, WB_CFG_INT, 0, 0},
};
static const wb_cfg_opt sasl_opts[] = {
    {"scram_iterations", WB_CFG_INT, 4096, INT_MAX},
    {"mechanisms", WB_CFG_STRLIST, 0, 0},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt register_opts[] = {
    {"enabled", WB_CFG_BOOL, 0, 0},
    {"invite_only", WB_CFG_BOOL, 0, 0},
    {"per_address", WB_CFG_INT, 1, INT_MAX},
    {"window", WB_CFG_INT, 1, INT_MAX},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt retention_opts[] = {
    {"default", WB_CFG_INT, 0, 3153600000LL},
    {"sweep_interval", WB_CFG_INT, 1, 86400},
    {"batch", WB_CFG_INT, 1, 100000},
    {"unit_ms", WB_CFG_INT, 1, 1000},
    {NULL, WB_CFG_INT, 0, 0},
};

static const char *const all_mechanisms[] = {
    "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN",
};
#define N_MECHANISMS (sizeof(all_mechanisms) / sizeof(all_mechanisms[0]))

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

__attribute__((format(printf, 3, 4))) void
wb_cfg_report(wb_cfg_loader *ld, const config_setting_t *s, const char *fmt, ...)
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
const char *wb_cfg_setting_path(const config_setting_t *s, char *buf, size_t size)
{
    const config_setting_t *parent = config_setting_parent(s);
    const char *name = config_setting_name(s);
    size_t used;

    buf[0] = '\0';
    if (parent != NULL && !config_setting_is_root(parent))
        wb_cfg_setting_path(parent, buf, size);
    used = strlen(buf);
    if (name != NULL)
        snprintf(buf + used, size - used, "%s%s", used > 0 ? "." : "", name);
    else
        snprintf(buf + used, size - used, "[%d]", config_setting_index(s));
    return buf;
}

static const char *type_name(wb_cfg_type t)
{
    switch (t) {
    case WB_CFG_INT:
        return "an integer";
    case WB_CFG_STR:
        return "a string";
    case WB_CFG_BOOL:
        return "a boolean (true or false)";
    case WB_CFG_STRLIST:
        return "an array of strings";
    case WB_CFG_GROUPLIST:
        return "a list ( { ... }, ... )";
    case WB_CFG_GROUP:
        return "a group { ... }";
    }
    return "?";
}

int wb_cfg_is_strlist(const config_setting_t *s)
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

static int type_matches(const config_setting_t *s, wb_cfg_type t)
{
    int st = config_setting_type(s);

    switch (t) {
    case WB_CFG_INT:
        return st == CONFIG_TYPE_INT || st == CONFIG_TYPE_INT64;
    case WB_CFG_STR:
        return st == CONFIG_TYPE_STRING;
    case WB_CFG_BOOL:
        return st == CONFIG_TYPE_BOOL;
    case WB_CFG_STRLIST:
        return wb_cfg_is_strlist(s);
    case WB_CFG_GROUPLIST:
        return config_setting_is_list(s);
    case WB_CFG_GROUP:
        return config_setting_is_group(s);
    }
    return 0;
}

/* Checks one option against its spec: type, then range. */
static void check_option(wb_cfg_loader *ld, const config_setting_t *s, const wb_cfg_opt *spec)
{
    char name[WB_CONF_NAME_MAX];
    long long v;

    if (!type_matches(s, spec->type)) {
        wb_cfg_report(ld, s, "'%s' must be %s", wb_cfg_setting_path(s, name, sizeof(name)),
                      type_name(spec->type));
        return;
    }
    if (spec->type != WB_CFG_INT)
        return;
    v = config_setting_get_int64(s);
    if (v < spec->min || v > spec->max)
        wb_cfg_report(ld, s, "'%s' is %lld, must be between %lld and %lld",
                      wb_cfg_setting_path(s, name, sizeof(name)), v, spec->min, spec->max);
}

/* Checks that `group` is a group whose members are all known options of the right type. */
int wb_cfg_check_group(wb_cfg_loader *ld, const config_setting_t *group, const wb_cfg_opt *specs)
{
    char name[WB_CONF_NAME_MAX];
    int i, n;

    if (!config_setting_is_group(group)) {
        wb_cfg_report(ld, group, "'%s' must be a group { ... }",
                      wb_cfg_setting_path(group, name, sizeof(name)));
        return -1;
    }
    n = config_setting_length(group);
    for (i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, i);
        const wb_cfg_opt *spec = specs;

        while (spec->name != NULL && strcmp(spec->name, config_setting_name(s)) != 0)
            spec++;
        if (spec->name == NULL)
            wb_cfg_report(ld, s, "unknown option '%s'", wb_cfg_setting_path(s, name, sizeof(name)));
        else
            check_option(ld, s, spec);
    }
    return 0;
}

/* Readers used after check_group: a member of the wrong type yields the default (the error has
 * already been counted, so the result is discarded anyway). */
long long wb_cfg_int(const config_setting_t *g, const char *name, long long def)
{
    const config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

    if (s == NULL || !type_matches(s, WB_CFG_INT))
        return def;
    return config_setting_get_int64(s);
}

bool wb_cfg_bool(const config_setting_t *g, const char *name, bool def)
{
    const config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

    if (s == NULL || config_setting_type(s) != CONFIG_TYPE_BOOL)
        return def;
    return config_setting_get_bool(s) != 0;
}

const char *wb_cfg_str(const config_setting_t *g, const char *name, const char *def)
{
    const config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

    if (s == NULL || config_setting_type(s) != CONFIG_TYPE_STRING)
        return def;
    return config_setting_get_string(s);
}

/* Line anchor for a message about `name` in `g`: the option itself if present, else the group. */
const config_setting_t *wb_cfg_anchor(const config_setting_t *g, const char *name)
{
    const config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

    return s != NULL ? s : g;
}

/* Returns a malloc'd absolute path: `p` itself if absolute, else DIR/p. NULL on empty input
 * (reported) or out of memory. */
char *wb_cfg_resolve_path(wb_cfg_loader *ld, const config_setting_t *g, const char *name,
                          const char *p)
{
    char *out;

    if (p[0] == '\0') {
        wb_cfg_report(ld, wb_cfg_anchor(g, name), "'%s' must not be empty", name);
        return NULL;
    }
    if (p[0] == '/')
        return strdup(p);
    if (asprintf(&out, "%s/%s", ld->dir, p) < 0)
        return NULL;
    return out;
}

int wb_cfg_word(const char *const *words, const char *w)
{
    int i;

    for (i = 0; words[i] != NULL; i++) {
        if (strcmp(words[i], w) == 0)
            return i;
    }
    return -1;
}

static int load_server(wb_cfg_loader *ld, wb_config *c, const config_setting_t *g)
{
    long long workers = wb_cfg_int(g, "workers", 0);

    if (workers == 0) {
        workers = sysconf(_SC_NPROCESSORS_ONLN);
        if (workers < 1)
            workers = 1;
    }
    c->workers = (int)workers;
    c->log_level = strdup(wb_cfg_str(g, "log_level", "info"));
    if (c->log_level == NULL)
        return -1;
    if (wb_cfg_word(log_levels, c->log_level) < 0)
        wb_cfg_report(ld, wb_cfg_anchor(g, "log_level"),
                      "'server.log_level' is '%s', must be debug, info, warn or error",
                      c->log_level);
    c->key_file = wb_cfg_resolve_path(ld, g, "key_file", wb_cfg_str(g, "key_file", "master.key"));
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

static int load_storage(wb_cfg_loader *ld, wb_config *c, const config_setting_t *g)
{
    const char *dsn = wb_cfg_str(g, "dsn", "");

    c->db_wait = (int)wb_cfg_int(g, "wait", 30);
    c->database = strdup(wb_cfg_str(g, "database", "warbler"));
    c->embedded_dir =
        wb_cfg_resolve_path(ld, g, "embedded_dir", wb_cfg_str(g, "embedded_dir", "pg"));
    if (c->database == NULL || c->embedded_dir == NULL)
        return ld->errors > 0 ? 0 : -1;
    if (c->database[0] == '\0') {
        wb_cfg_report(ld, wb_cfg_anchor(g, "database"), "'storage.database' must not be empty");
        return 0;
    }
    if (dsn[0] != '\0')
        c->dsn = strdup(dsn);
    else
        c->dsn = embedded_dsn(c->embedded_dir, c->database);
    if (c->dsn == NULL && dsn[0] == '\0') {
        wb_cfg_report(ld, wb_cfg_anchor(g, "embedded_dir"), "'storage.embedded_dir' is too long");
        return 0;
    }
    return c->dsn != NULL ? 0 : -1;
}

static void load_c2s(wb_config *c, const config_setting_t *g)
{
    c->require_starttls = wb_cfg_bool(g, "require_starttls", true);
    c->hide_os = wb_cfg_bool(g, "hide_os", false);
    c->hide_version = wb_cfg_bool(g, "hide_version", false);
}

static void load_limits(wb_config *c, const config_setting_t *g)
{
    c->max_stanza_size = (size_t)wb_cfg_int(g, "max_stanza_size", 262144);
    c->max_depth = (unsigned)wb_cfg_int(g, "max_depth", 32);
    c->max_attrs = (unsigned)wb_cfg_int(g, "max_attrs", 64);
    c->handshake_timeout = (int)wb_cfg_int(g, "handshake_timeout", 30);
    c->idle_timeout = (int)wb_cfg_int(g, "idle_timeout", 600);
    c->auth_failures = (int)wb_cfg_int(g, "auth_failures", 5);
    c->auth_window = (int)wb_cfg_int(g, "auth_window", 60);
    c->max_resources = (size_t)wb_cfg_int(g, "max_resources", 10);
}

static void load_register(wb_config *c, const config_setting_t *g)
{
    c->register_enabled = wb_cfg_bool(g, "enabled", false);
    c->register_invite_only = wb_cfg_bool(g, "invite_only", true);
    c->register_per_address = (int)wb_cfg_int(g, "per_address", 3);
    c->register_window = (int)wb_cfg_int(g, "window", 3600);
}

static void load_retention(wb_config *c, const config_setting_t *g)
{
    c->retention_default = (int64_t)wb_cfg_int(g, "default", 0);
    c->retention_sweep_interval = (int)wb_cfg_int(g, "sweep_interval", 60);
    c->retention_batch = (int)wb_cfg_int(g, "batch", 500);
    c->retention_unit_ms = (int)wb_cfg_int(g, "unit_ms", 1000);
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
static bool mechanism_ok(wb_cfg_loader *ld, const wb_config *c, const config_setting_t *e)
{
    const char *name = config_setting_get_string(e);
    size_t j, known = 0;

    for (j = 0; j < N_MECHANISMS; j++)
        known += strcmp(all_mechanisms[j], name) == 0;
    if (!known) {
        wb_cfg_report(ld, e, "unknown SASL mechanism '%s'", name);
        return false;
    }
    for (j = 0; j < c->n_mechanisms; j++) {
        if (strcmp(c->mechanisms[j], name) == 0) {
            wb_cfg_report(ld, e, "duplicate SASL mechanism '%s'", name);
            return false;
        }
    }
    return true;
}

static int load_sasl(wb_cfg_loader *ld, wb_config *c, const config_setting_t *g)
{
    const config_setting_t *list = g != NULL ? config_setting_get_member(g, "mechanisms") : NULL;
    size_t i;
    int n;

    c->scram_iterations = (uint32_t)wb_cfg_int(g, "scram_iterations", 4096);
    c->mechanisms = calloc(N_MECHANISMS, sizeof(*c->mechanisms));
    if (c->mechanisms == NULL)
        return -1;
    if (list == NULL || !wb_cfg_is_strlist(list)) {
        for (i = 0; i < N_MECHANISMS; i++) {
            if (add_mechanism(c, all_mechanisms[i]) < 0)
                return -1;
        }
        return 0;
    }
    n = config_setting_length(list);
    if (n == 0)
        wb_cfg_report(ld, list, "'sasl.mechanisms' must not be empty");
    for (i = 0; i < (size_t)n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

        if (mechanism_ok(ld, c, e) && add_mechanism(c, config_setting_get_string(e)) < 0)
            return -1;
    }
    return 0;
}

/* Fills one host from its group; missing members are reported on the group's line. */
static int load_host(wb_cfg_loader *ld, wb_config *c, const config_setting_t *g, size_t i)
{
    static const char *const required[] = {"domain", "cert", "key"};
    wb_conf_host *h = &c->hosts[i];
    char prepared[WB_JID_PART_MAX + 1];
    size_t k;

    if (wb_cfg_check_group(ld, g, host_opts) < 0)
        return 0;
    for (k = 0; k < 3; k++) {
        if (wb_cfg_str(g, required[k], NULL) == NULL &&
            config_setting_get_member(g, required[k]) == NULL)
            wb_cfg_report(ld, g, "host entry lacks '%s'", required[k]);
    }
    if (wb_cfg_str(g, "domain", NULL) != NULL) {
        const char *d = wb_cfg_str(g, "domain", NULL);

        if (wb_jid_prep_domain(prepared, d, strlen(d)) < 0)
            wb_cfg_report(ld, wb_cfg_anchor(g, "domain"), "invalid domain '%s'", d);
        else if (wb_config_host(c, prepared) != NULL)
            wb_cfg_report(ld, wb_cfg_anchor(g, "domain"), "duplicate host domain '%s'", prepared);
        else if ((h->domain = strdup(prepared)) == NULL)
            return -1;
    }
    if (wb_cfg_str(g, "cert", NULL) != NULL)
        h->cert = wb_cfg_resolve_path(ld, g, "cert", wb_cfg_str(g, "cert", NULL));
    if (wb_cfg_str(g, "key", NULL) != NULL)
        h->key = wb_cfg_resolve_path(ld, g, "key", wb_cfg_str(g, "key", NULL));
    return 0;
}

static int load_hosts(wb_cfg_loader *ld, wb_config *c, const config_setting_t *list)
{
    int i, n;

    if (list == NULL) {
        wb_cfg_report(ld, NULL, "missing required list 'hosts' (at least one host)");
        return 0;
    }
    if (!config_setting_is_list(list)) {
        wb_cfg_report(ld, list, "'hosts' must be a list ( { ... }, ... )");
        return 0;
    }
    n = config_setting_length(list);
    if (n == 0) {
        wb_cfg_report(ld, list, "'hosts' must contain at least one host");
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
static void load_listener_enums(wb_cfg_loader *ld, wb_conf_listener *l, const config_setting_t *g)
{
    static const char *const kinds[] = {"c2s", "s2s", "component", NULL};
    static const char *const modes[] = {"starttls", "direct", NULL};
    char name[WB_CONF_NAME_MAX];
    const char *type = wb_cfg_str(g, "type", "c2s");
    const char *tls = wb_cfg_str(g, "tls", "starttls");
    int k = wb_cfg_word(kinds, type), m = wb_cfg_word(modes, tls);

    if (k < 0)
        wb_cfg_report(ld, wb_cfg_anchor(g, "type"),
                      "'%s.type' is '%s', must be c2s or s2s (or component)",
                      wb_cfg_setting_path(g, name, sizeof(name)), type);
    if (m < 0)
        wb_cfg_report(ld, wb_cfg_anchor(g, "tls"), "'%s.tls' is '%s', must be starttls or direct",
                      wb_cfg_setting_path(g, name, sizeof(name)), tls);
    l->kind = k == 1 ? WB_LISTEN_S2S : k == 2 ? WB_LISTEN_COMPONENT : WB_LISTEN_C2S;
    l->tls = m == 1 ? WB_TLS_DIRECT : WB_TLS_STARTTLS;
    if (l->kind == WB_LISTEN_COMPONENT && l->tls == WB_TLS_DIRECT)
        wb_cfg_report(ld, wb_cfg_anchor(g, "tls"),
                      "'%s.tls': component listeners are plain TCP (XEP-0114)",
                      wb_cfg_setting_path(g, name, sizeof(name)));
}

static int default_port(const wb_conf_listener *l)
{
    if (l->kind == WB_LISTEN_COMPONENT)
        return 5347;
    if (l->kind == WB_LISTEN_S2S)
        return l->tls == WB_TLS_DIRECT ? 5270 : 5269;
    return l->tls == WB_TLS_DIRECT ? 5223 : 5222;
}

static int load_listener(wb_cfg_loader *ld, wb_config *c, const config_setting_t *g)
{
    wb_conf_listener *l = &c->listeners[c->n_listeners];
    unsigned char addr[sizeof(struct in6_addr)];
    char name[WB_CONF_NAME_MAX];
    size_t j;

    if (wb_cfg_check_group(ld, g, listener_opts) < 0)
        return 0;
    load_listener_enums(ld, l, g);
    l->port = (int)wb_cfg_int(g, "port", default_port(l));
    /* Component streams are not encrypted: loopback unless said otherwise. */
    l->address =
        strdup(wb_cfg_str(g, "address", l->kind == WB_LISTEN_COMPONENT ? "127.0.0.1" : "0.0.0.0"));
    if (l->address == NULL)
        return -1;
    c->n_listeners++;
    if (inet_pton(AF_INET, l->address, addr) != 1 && inet_pton(AF_INET6, l->address, addr) != 1)
        wb_cfg_report(ld, wb_cfg_anchor(g, "address"),
                      "'%s.address' is '%s', must be an IPv4 or IPv6 address",
                      wb_cfg_setting_path(g, name, sizeof(name)), l->address);
    for (j = 0; j + 1 < c->n_listeners; j++) {
        if (c->listeners[j].port == l->port && strcmp(c->listeners[j].address, l->address) == 0)
            wb_cfg_report(ld, wb_cfg_anchor(g, "port"), "duplicate listener %s port %d", l->address,
                          l->port);
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

static int load_listeners(wb_cfg_loader *ld, wb_config *c, const config_setting_t *list)
{
    int i, n;

    if (list == NULL)
        return default_listeners(c);
    if (!config_setting_is_list(list)) {
        wb_cfg_report(ld, list, "'listeners' must be a list ( { ... }, ... )");
        return 0;
    }
    n = config_setting_length(list);
    if (n == 0) {
        wb_cfg_report(ld, list, "'listeners' must contain at least one listener");
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

/* The URLs handed out: public_url, or derived from the listener. */
/* Top level: reports unknown groups and checks each known group; a group that is not a group
 * is replaced by NULL (defaults) so that loading can go on and report more problems. */
const config_setting_t *wb_cfg_group(wb_cfg_loader *ld, const config_t *cfg, const char *name,
                                     const wb_cfg_opt *specs)
{
    const config_setting_t *g = config_lookup(cfg, name);

    if (g == NULL || wb_cfg_check_group(ld, g, specs) < 0)
        return NULL;
    return g;
}

static void check_top_level(wb_cfg_loader *ld, const config_t *cfg)
{
    static const char *const groups[] = {"server", "storage",    "hosts",    "listeners", "c2s",
                                         "limits", "sasl",       "register", "retention", "admin",
                                         "sm",     "muc",        "s2s",      "audit",     "csi",
                                         "push",   "components", "upload",   NULL};
    const config_setting_t *root = config_root_setting(cfg);
    int i, n = config_setting_length(root);

    for (i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);

        if (wb_cfg_word(groups, config_setting_name(s)) < 0)
            wb_cfg_report(ld, s, "unknown group '%s'", config_setting_name(s));
    }
}

/* server.control_socket (default warblerd-ctl.sock by the file); s2s.control_socket, its
 * deprecated alias, is used when only it is set. */
static int load_control_socket(wb_cfg_loader *ld, wb_config *c, const config_t *cfg)
{
    const config_setting_t *g = config_lookup(cfg, "server");
    const char *alias = NULL;
    if (wb_cfg_str(g, "control_socket", NULL) == NULL &&
        config_lookup_string(cfg, "s2s.control_socket", &alias) == CONFIG_TRUE)
        c->control_socket =
            wb_cfg_resolve_path(ld, config_lookup(cfg, "s2s"), "control_socket", alias);
    else
        c->control_socket = wb_cfg_resolve_path(
            ld, g, "control_socket", wb_cfg_str(g, "control_socket", "warblerd-ctl.sock"));
    return c->control_socket != NULL || ld->errors > 0 ? 0 : -1;
}

static int load_all(wb_cfg_loader *ld, wb_config *c, const config_t *cfg)
{
    check_top_level(ld, cfg);
    if (load_server(ld, c, wb_cfg_group(ld, cfg, "server", server_opts)) < 0)
        return -1;
    if (load_storage(ld, c, wb_cfg_group(ld, cfg, "storage", storage_opts)) < 0)
        return -1;
    if (load_hosts(ld, c, config_lookup(cfg, "hosts")) < 0)
        return -1;
    if (load_listeners(ld, c, config_lookup(cfg, "listeners")) < 0)
        return -1;
    load_c2s(c, wb_cfg_group(ld, cfg, "c2s", c2s_opts));
    load_limits(c, wb_cfg_group(ld, cfg, "limits", limits_opts));
    load_register(c, wb_cfg_group(ld, cfg, "register", register_opts));
    load_retention(c, wb_cfg_group(ld, cfg, "retention", retention_opts));
    if (wb_cfg_load_federation(ld, c, cfg) < 0 || wb_cfg_load_services(ld, c, cfg) < 0)
        return -1;
    if (load_control_socket(ld, c, cfg) < 0)
        return -1;
    return load_sasl(ld, c, wb_cfg_group(ld, cfg, "sasl", sasl_opts));
}

/* Sets ld->dir to the absolute directory holding the file. */
static int loader_init(wb_cfg_loader *ld, const char *path)
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

static int parse_file(wb_cfg_loader *ld, config_t *cfg)
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
    wb_cfg_loader ld;
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

wb_config *wb_config_new(void)
{
    return calloc(1, sizeof(wb_config_full));
}

void wb_config_free(wb_config *c)
{
    size_t i;

    if (c == NULL)
        return;
    free(c->log_level);
    free(c->key_file);
    free(c->control_socket);
    free(c->dsn);
    free(c->embedded_dir);
    free(c->database);
    wb_cfg_free_services(c);
    for (i = 0; i < c->n_hosts; i++) {
        free(c->hosts[i].domain);
        free(c->hosts[i].cert);
        free(c->hosts[i].key);
    }
    free(c->hosts);
    for (i = 0; i < c->n_listeners; i++)
        free(c->listeners[i].address);
    free(c->listeners);
    for (i = 0; i < c->n_mechanisms; i++)
        free(c->mechanisms[i]);
    free(c->mechanisms);
    wb_cfg_free_federation(c);
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
