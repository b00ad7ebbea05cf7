/* Configuration of federation (the s2s group and the hosts' own s2s policies, docs/federation.md)
 * and of external components (the components list, XEP-0114). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wb_config_int.h"
#include "wb_jid.h"
#include "wb_s2s_conf.h"

static const wb_cfg_opt component_opts[] = {
    {"domain", WB_CFG_STR, 0, 0},
    {"secret", WB_CFG_STR, 0, 0},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt s2s_opts[] = {
    {"enabled", WB_CFG_BOOL, 0, 0},
    {"require_tls", WB_CFG_BOOL, 0, 0},
    {"dialback", WB_CFG_BOOL, 0, 0},
    {"bidi", WB_CFG_BOOL, 0, 0},
    {"bounce_timeout", WB_CFG_INT, 1, 3600},
    {"idle_timeout", WB_CFG_INT, 1, 86400},
    {"queue_max", WB_CFG_INT, 1, 100000},
    {"resolv_conf", WB_CFG_STR, 0, 0},
    {"hosts_file", WB_CFG_STR, 0, 0},
    {"secret_file", WB_CFG_STR, 0, 0},
    {"routes", WB_CFG_GROUPLIST, 0, 0},
    {"allow", WB_CFG_STRLIST, 0, 0},
    {"deny", WB_CFG_STRLIST, 0, 0},
    {"ca_file", WB_CFG_STR, 0, 0},
    {"require_valid_cert", WB_CFG_BOOL, 0, 0},
    {"require_valid_cert_for", WB_CFG_STRLIST, 0, 0},
    {"control_socket", WB_CFG_STR, 0, 0},
    {"max_connections_per_minute", WB_CFG_INT, 1, 100000},
    {"max_stanzas_per_second", WB_CFG_INT, 1, 1000000},
    {"require_tls13", WB_CFG_BOOL, 0, 0},
    {"require_tls13_for", WB_CFG_STRLIST, 0, 0},
    {"socks5", WB_CFG_STR, 0, 0},
    {"socks5_domains", WB_CFG_STRLIST, 0, 0},
    {"dane", WB_CFG_BOOL, 0, 0},
    {"dnssec_trust_anchor", WB_CFG_STR, 0, 0},
    {NULL, WB_CFG_INT, 0, 0},
};

static const wb_cfg_opt s2s_route_opts[] = {
    {"domain", WB_CFG_STR, 0, 0}, {"host", WB_CFG_STR, 0, 0}, {"port", WB_CFG_INT, 1, 65535},
    {"tls", WB_CFG_STR, 0, 0},    {NULL, WB_CFG_INT, 0, 0},
};

/* A host's own s2s group: the policy keys of the global group, overriding it for that host. */
static const wb_cfg_opt host_s2s_opts[] = {
    {"enabled", WB_CFG_BOOL, 0, 0},
    {"dialback", WB_CFG_BOOL, 0, 0},
    {"allow", WB_CFG_STRLIST, 0, 0},
    {"deny", WB_CFG_STRLIST, 0, 0},
    {"require_valid_cert", WB_CFG_BOOL, 0, 0},
    {"require_valid_cert_for", WB_CFG_STRLIST, 0, 0},
    {"require_tls13", WB_CFG_BOOL, 0, 0},
    {"require_tls13_for", WB_CFG_STRLIST, 0, 0},
    {NULL, WB_CFG_INT, 0, 0},
};

/* s2s.allow / s2s.deny: remote domains, prepared with Nameprep. */
static int load_s2s_domains(wb_cfg_loader *ld, const config_setting_t *g, const char *name,
                            char ***out, size_t *n_out)
{
    const config_setting_t *list = g != NULL ? config_setting_get_member(g, name) : NULL;
    char prepared[WB_JID_PART_MAX + 1], where[256];
    int i, n;

    if (list == NULL || !wb_cfg_is_strlist(list))
        return 0;
    wb_cfg_setting_path(list, where, sizeof(where));
    n = config_setting_length(list);
    *out = calloc((size_t)n + 1, sizeof(**out));
    if (*out == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        const char *d = config_setting_get_string(e);

        if (wb_jid_prep_domain(prepared, d, strlen(d)) < 0) {
            wb_cfg_report(ld, e, "invalid domain '%s' in '%s'", d, where);
            continue;
        }
        if (((*out)[(*n_out)++] = strdup(prepared)) == NULL)
            return -1;
    }
    return 0;
}

/* One static route { domain; host; port; } (port 5269 by default). */
static int load_s2s_route(wb_cfg_loader *ld, wb_s2s_conf *s, const config_setting_t *g)
{
    wb_s2s_static_route *r = &s->routes[s->n_routes];
    char prepared[WB_JID_PART_MAX + 1];
    const char *d = wb_cfg_str(g, "domain", NULL), *host = wb_cfg_str(g, "host", NULL);
    const char *tls = wb_cfg_str(g, "tls", "starttls");

    if (wb_cfg_check_group(ld, g, s2s_route_opts) < 0)
        return 0;
    if (strcmp(tls, "starttls") != 0 && strcmp(tls, "direct") != 0) {
        wb_cfg_report(ld, wb_cfg_anchor(g, "tls"),
                      "'tls' of an s2s route must be starttls or direct, not '%s'", tls);
        return 0;
    }
    if (d == NULL || host == NULL || host[0] == '\0') {
        wb_cfg_report(ld, g, "an s2s route needs 'domain' and 'host'");
        return 0;
    }
    if (wb_jid_prep_domain(prepared, d, strlen(d)) < 0) {
        wb_cfg_report(ld, wb_cfg_anchor(g, "domain"), "invalid domain '%s' in an s2s route", d);
        return 0;
    }
    if (wb_s2s_conf_route(s, prepared) != NULL) {
        wb_cfg_report(ld, wb_cfg_anchor(g, "domain"), "duplicate s2s route for '%s'", prepared);
        return 0;
    }
    r->port = (int)wb_cfg_int(g, "port", 5269);
    r->direct_tls = strcmp(tls, "direct") == 0;
    r->domain = strdup(prepared);
    r->host = strdup(host);
    s->n_routes++;
    return r->domain != NULL && r->host != NULL ? 0 : -1;
}

static int load_s2s_routes(wb_cfg_loader *ld, wb_s2s_conf *s, const config_setting_t *g)
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
static int load_s2s_socks5(wb_cfg_loader *ld, wb_s2s_conf *s, const config_setting_t *g)
{
    const char *v = wb_cfg_str(g, "socks5", NULL);
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
        wb_cfg_report(ld, wb_cfg_anchor(g, "socks5"), "'s2s.socks5' must be ADDRESS:PORT, not '%s'",
                      v);
        return 0;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1) {
        wb_cfg_report(ld, wb_cfg_anchor(g, "socks5"),
                      "'s2s.socks5' needs a numeric address, not '%s'", host);
        return 0;
    }
    s->socks5_port = (int)port;
    return (s->socks5_host = strdup(host)) != NULL ? 0 : -1;
}

/* s2s.dane and s2s.dnssec_trust_anchor (a file of DS or DNSKEY records that libunbound validates
 * from; none by default: nothing is then DNSSEC-secure and DANE stays unused). */
static int load_s2s_dane(wb_cfg_loader *ld, wb_s2s_conf *s, const config_setting_t *g)
{
    const char *ta = wb_cfg_str(g, "dnssec_trust_anchor", NULL);

    s->dane = wb_cfg_bool(g, "dane", true);
    if (ta == NULL)
        return 0;
    s->dnssec_trust_anchor = wb_cfg_resolve_path(ld, g, "dnssec_trust_anchor", ta);
    if (s->dnssec_trust_anchor == NULL)
        return ld->errors ? 0 : -1;
    if (access(s->dnssec_trust_anchor, R_OK) != 0)
        wb_cfg_report(ld, wb_cfg_anchor(g, "dnssec_trust_anchor"),
                      "cannot read the DNSSEC trust anchor file '%s'", s->dnssec_trust_anchor);
    return 0;
}

/* The s2s group (docs/federation.md); the dialback secret sits by the master key by default. */
static int load_s2s(wb_cfg_loader *ld, wb_config *c, const config_setting_t *g)
{
    wb_s2s_conf *s = calloc(1, sizeof(*s));
    const char *secret = wb_cfg_str(g, "secret_file", NULL);

    if (s == NULL)
        return -1;
    c->s2s = s;
    s->enabled = wb_cfg_bool(g, "enabled", false);
    s->require_tls = wb_cfg_bool(g, "require_tls", true);
    s->dialback = wb_cfg_bool(g, "dialback", true);
    s->bidi = wb_cfg_bool(g, "bidi", true);
    s->require_cert = wb_cfg_bool(g, "require_valid_cert", false);
    if (wb_cfg_str(g, "ca_file", NULL) != NULL &&
        (s->ca_file = wb_cfg_resolve_path(ld, g, "ca_file", wb_cfg_str(g, "ca_file", NULL))) ==
            NULL &&
        ld->errors == 0)
        return -1;
    s->bounce_timeout = (int)wb_cfg_int(g, "bounce_timeout", 30);
    s->idle_timeout = (int)wb_cfg_int(g, "idle_timeout", 600);
    s->queue_max = (int)wb_cfg_int(g, "queue_max", 1000);
    s->conn_per_minute = (int)wb_cfg_int(g, "max_connections_per_minute", 60);
    s->stanzas_per_second = (int)wb_cfg_int(g, "max_stanzas_per_second", 500);
    s->resolv_conf = strdup(wb_cfg_str(g, "resolv_conf", "/etc/resolv.conf"));
    s->hosts_file = strdup(wb_cfg_str(g, "hosts_file", "/etc/hosts"));
    s->control_socket = wb_cfg_resolve_path(ld, g, "control_socket",
                                            wb_cfg_str(g, "control_socket", "warblerd-ctl.sock"));
    if (secret != NULL)
        s->secret_file = wb_cfg_resolve_path(ld, g, "secret_file", secret);
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
    s->require_tls13 = wb_cfg_bool(g, "require_tls13", false);
    if (load_s2s_domains(ld, g, "require_tls13_for", &s->tls13_domains, &s->n_tls13_domains) < 0 ||
        load_s2s_domains(ld, g, "socks5_domains", &s->socks5_domains, &s->n_socks5_domains) < 0)
        return -1;
    if (load_s2s_dane(ld, s, g) < 0)
        return -1;
    return load_s2s_socks5(ld, s, g);
}

/* A host's boolean policy key: 0 or 1, or -1 when the host does not set it. */
static signed char load_host_flag(const config_setting_t *g, const char *name)
{
    const config_setting_t *v = config_setting_get_member(g, name);

    if (v == NULL || config_setting_type(v) != CONFIG_TYPE_BOOL)
        return -1;
    return config_setting_get_bool(v) ? 1 : 0;
}

/* A host's list policy key: the host's own list when its group has the key. */
static int load_host_list(wb_cfg_loader *ld, const config_setting_t *g, const char *name,
                          char ***out, size_t *n_out, bool *set)
{
    if (config_setting_get_member(g, name) == NULL)
        return 0;
    *set = true;
    return load_s2s_domains(ld, g, name, out, n_out);
}

/* The refusals of a host's policy name the host (docs/federation.md). */
static int load_host_reasons(wb_s2s_host_policy *p)
{
    static const char *const fmt[4] = {
        "federation is disabled for host %s", "domain is on the denylist of host %s",
        "domain is not on the allowlist of host %s", " (policy of host %s)"};

    for (size_t i = 0; i < 4; i++) {
        if (asprintf(&p->why[i], fmt[i], p->host) < 0) {
            p->why[i] = NULL;
            return -1;
        }
    }
    return 0;
}

/* hosts[i].s2s: that host's policy, overriding the global s2s group for its streams. */
static int load_host_policy(wb_cfg_loader *ld, wb_s2s_conf *s, const config_setting_t *h)
{
    const config_setting_t *g = config_setting_get_member(h, "s2s");
    const char *d = wb_cfg_str(h, "domain", NULL);
    char prepared[WB_JID_PART_MAX + 1];

    /* A host without a usable domain, or an s2s that is not a group, is reported by the hosts
     * loader already. */
    if (g == NULL || !config_setting_is_group(g) || d == NULL ||
        wb_jid_prep_domain(prepared, d, strlen(d)) < 0 ||
        wb_cfg_check_group(ld, g, host_s2s_opts) < 0)
        return 0;
    wb_s2s_host_policy *p = &s->host_policies[s->n_host_policies++];
    p->enabled = load_host_flag(g, "enabled");
    p->dialback = load_host_flag(g, "dialback");
    p->cert = load_host_flag(g, "require_valid_cert");
    p->tls13 = load_host_flag(g, "require_tls13");
    if ((p->host = strdup(prepared)) == NULL || load_host_reasons(p) < 0)
        return -1;
    if (load_host_list(ld, g, "allow", &p->allow, &p->n_allow, &p->set_allow) < 0 ||
        load_host_list(ld, g, "deny", &p->deny, &p->n_deny, &p->set_deny) < 0)
        return -1;
    if (load_host_list(ld, g, "require_valid_cert_for", &p->cert_domains, &p->n_cert_domains,
                       &p->set_cert_for) < 0)
        return -1;
    return load_host_list(ld, g, "require_tls13_for", &p->tls13_domains, &p->n_tls13_domains,
                          &p->set_tls13_for);
}

/* The hosts' own policies; federation runs when the global group or any host turns it on. */
static int load_host_policies(wb_cfg_loader *ld, wb_s2s_conf *s, const config_setting_t *hosts)
{
    const int n = hosts != NULL && config_setting_is_list(hosts) ? config_setting_length(hosts) : 0;

    s->default_off = !s->enabled;
    if (n == 0)
        return 0;
    s->host_policies = calloc((size_t)n, sizeof(*s->host_policies));
    if (s->host_policies == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        const config_setting_t *h = config_setting_get_elem(hosts, (unsigned)i);

        if (config_setting_is_group(h) && load_host_policy(ld, s, h) < 0)
            return -1;
    }
    for (size_t i = 0; i < s->n_host_policies; i++)
        s->enabled |= s->host_policies[i].enabled == 1;
    return 0;
}

/* One external component { domain; secret; } (XEP-0114). */
static int load_component(wb_cfg_loader *ld, wb_config *c, const config_setting_t *g)
{
    wb_conf_component *k = &c->components[c->n_components];
    char prepared[WB_JID_PART_MAX + 1];
    const char *d = wb_cfg_str(g, "domain", NULL), *secret = wb_cfg_str(g, "secret", NULL);
    size_t i;

    if (wb_cfg_check_group(ld, g, component_opts) < 0)
        return 0;
    if (d == NULL || secret == NULL || secret[0] == '\0') {
        wb_cfg_report(ld, g, "a component needs 'domain' and a non-empty 'secret'");
        return 0;
    }
    if (wb_jid_prep_domain(prepared, d, strlen(d)) < 0) {
        wb_cfg_report(ld, wb_cfg_anchor(g, "domain"), "invalid component domain '%s'", d);
        return 0;
    }
    if (wb_config_host(c, prepared) != NULL)
        wb_cfg_report(ld, wb_cfg_anchor(g, "domain"), "component domain '%s' is also a host",
                      prepared);
    for (i = 0; i < c->n_components; i++) {
        if (strcmp(c->components[i].domain, prepared) == 0)
            wb_cfg_report(ld, wb_cfg_anchor(g, "domain"), "duplicate component domain '%s'",
                          prepared);
    }
    k->domain = strdup(prepared);
    k->secret = strdup(secret);
    c->n_components++;
    return k->domain != NULL && k->secret != NULL ? 0 : -1;
}

static int load_components(wb_cfg_loader *ld, wb_config *c, const config_setting_t *list)
{
    int i, n;

    if (list == NULL)
        return 0;
    if (!config_setting_is_list(list)) {
        wb_cfg_report(ld, list, "'components' must be a list ( { ... }, ... )");
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

int wb_cfg_load_federation(wb_cfg_loader *ld, wb_config *c, const config_t *cfg)
{
    if (load_components(ld, c, config_lookup(cfg, "components")) < 0)
        return -1;
    if (load_s2s(ld, c, wb_cfg_group(ld, cfg, "s2s", s2s_opts)) < 0)
        return -1;
    return load_host_policies(ld, c->s2s, config_lookup(cfg, "hosts"));
}

void wb_cfg_free_federation(wb_config *c)
{
    for (size_t i = 0; i < c->n_components; i++) {
        free(c->components[i].domain);
        free(c->components[i].secret);
    }
    free(c->components);
    wb_s2s_conf_free(c->s2s);
}
