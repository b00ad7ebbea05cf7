/* Federation settings: lookups on the parsed `s2s` group and the hosts' own groups (routes,
 * allow/deny, TLS 1.3, SOCKS5) and freeing. Parsing lives in wb_config_s2s.c. */
#include "wb_s2s_conf.h"

#include <stdlib.h>
#include <string.h>

static void wb_s2s_conf_free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void wb_s2s_host_policy_free(wb_s2s_host_policy *p)
{
    free(p->host);
    wb_s2s_conf_free_list(p->allow, p->n_allow);
    wb_s2s_conf_free_list(p->deny, p->n_deny);
    wb_s2s_conf_free_list(p->cert_domains, p->n_cert_domains);
    wb_s2s_conf_free_list(p->tls13_domains, p->n_tls13_domains);
    for (size_t i = 0; i < 4; i++)
        free(p->why[i]);
}

void wb_s2s_conf_free(wb_s2s_conf *c)
{
    if (!c)
        return;
    free(c->resolv_conf);
    free(c->hosts_file);
    free(c->dnssec_trust_anchor);
    free(c->secret_file);
    free(c->ca_file);
    free(c->control_socket);
    wb_s2s_conf_free_list(c->cert_domains, c->n_cert_domains);
    for (size_t i = 0; i < c->n_routes; i++) {
        free(c->routes[i].domain);
        free(c->routes[i].host);
    }
    free(c->routes);
    wb_s2s_conf_free_list(c->allow, c->n_allow);
    wb_s2s_conf_free_list(c->deny, c->n_deny);
    wb_s2s_conf_free_list(c->tls13_domains, c->n_tls13_domains);
    wb_s2s_conf_free_list(c->socks5_domains, c->n_socks5_domains);
    free(c->socks5_host);
    for (size_t i = 0; i < c->n_host_policies; i++)
        wb_s2s_host_policy_free(&c->host_policies[i]);
    free(c->host_policies);
    free(c);
}

const wb_s2s_static_route *wb_s2s_conf_route(const wb_s2s_conf *c, const char *domain)
{
    for (size_t i = 0; i < c->n_routes; i++)
        if (c->routes[i].domain && strcmp(c->routes[i].domain, domain) == 0)
            return &c->routes[i];
    return NULL;
}

static bool wb_s2s_conf_listed(char *const *list, size_t n, const char *domain)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], domain) == 0)
            return true;
    return false;
}

const wb_s2s_host_policy *wb_s2s_conf_host_policy(const wb_s2s_conf *c, const char *host)
{
    for (size_t i = 0; host && i < c->n_host_policies; i++)
        if (strcmp(c->host_policies[i].host, host) == 0)
            return &c->host_policies[i];
    return NULL;
}

/* A host's own boolean (0 or 1), else the global one. */
static bool wb_s2s_conf_flag(signed char own, bool global)
{
    return own >= 0 ? own != 0 : global;
}

bool wb_s2s_conf_enabled(const wb_s2s_conf *c, const char *host)
{
    const wb_s2s_host_policy *p = wb_s2s_conf_host_policy(c, host);
    return c->enabled && wb_s2s_conf_flag(p ? p->enabled : -1, !c->default_off);
}

const char *wb_s2s_conf_whose(const wb_s2s_conf *c, const char *host)
{
    const wb_s2s_host_policy *p = wb_s2s_conf_host_policy(c, host);
    return p && p->why[3] ? p->why[3] : "";
}

bool wb_s2s_conf_dialback(const wb_s2s_conf *c, const char *host)
{
    const wb_s2s_host_policy *p = wb_s2s_conf_host_policy(c, host);
    return wb_s2s_conf_flag(p ? p->dialback : -1, c->dialback);
}

bool wb_s2s_conf_cert_required(const wb_s2s_conf *c, const char *host, const char *domain)
{
    const wb_s2s_host_policy *p = wb_s2s_conf_host_policy(c, host);
    if (wb_s2s_conf_flag(p ? p->cert : -1, c->require_cert))
        return true;
    if (p && p->set_cert_for)
        return wb_s2s_conf_listed(p->cert_domains, p->n_cert_domains, domain);
    return wb_s2s_conf_listed(c->cert_domains, c->n_cert_domains, domain);
}

const char *wb_s2s_conf_refuses(const wb_s2s_conf *c, const char *host, const char *domain)
{
    const wb_s2s_host_policy *p = wb_s2s_conf_host_policy(c, host);
    char *const *deny = p && p->set_deny ? p->deny : c->deny;
    char *const *allow = p && p->set_allow ? p->allow : c->allow;
    const size_t n_deny = p && p->set_deny ? p->n_deny : c->n_deny;
    const size_t n_allow = p && p->set_allow ? p->n_allow : c->n_allow;

    if (!wb_s2s_conf_enabled(c, host))
        return p ? p->why[0] : "federation is disabled";
    if (!domain)
        return NULL;
    if (wb_s2s_conf_listed(deny, n_deny, domain))
        return p ? p->why[1] : "domain is on the denylist";
    if (n_allow && !wb_s2s_conf_listed(allow, n_allow, domain))
        return p ? p->why[2] : "domain is not on the allowlist";
    return NULL;
}

bool wb_s2s_conf_tls13_required(const wb_s2s_conf *c, const char *host, const char *domain)
{
    const wb_s2s_host_policy *p = wb_s2s_conf_host_policy(c, host);
    if (wb_s2s_conf_flag(p ? p->tls13 : -1, c->require_tls13))
        return true;
    if (!domain)
        return false;
    if (p && p->set_tls13_for)
        return wb_s2s_conf_listed(p->tls13_domains, p->n_tls13_domains, domain);
    return wb_s2s_conf_listed(c->tls13_domains, c->n_tls13_domains, domain);
}

bool wb_s2s_conf_is_onion(const char *domain)
{
    const size_t n = strlen(domain);
    return n > 6 && strcmp(domain + n - 6, ".onion") == 0;
}

bool wb_s2s_conf_via_socks(const wb_s2s_conf *c, const char *domain)
{
    return c->socks5_host != NULL &&
           (wb_s2s_conf_is_onion(domain) ||
            wb_s2s_conf_listed(c->socks5_domains, c->n_socks5_domains, domain));
}
