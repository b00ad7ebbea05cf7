/* Federation settings: lookups on the parsed `s2s` group (routes, allow/deny, TLS 1.3, SOCKS5) and
 * freeing. The parsing itself lives with the rest of the configuration in wb_config.c. */
#include "wb_s2s_conf.h"

#include <stdlib.h>
#include <string.h>

static void wb_s2s_conf_free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void wb_s2s_conf_free(wb_s2s_conf *c)
{
    if (!c)
        return;
    free(c->resolv_conf);
    free(c->hosts_file);
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

bool wb_s2s_conf_cert_required(const wb_s2s_conf *c, const char *domain)
{
    return c->require_cert || wb_s2s_conf_listed(c->cert_domains, c->n_cert_domains, domain);
}

const char *wb_s2s_conf_refuses(const wb_s2s_conf *c, const char *domain)
{
    if (!c->enabled)
        return "federation is disabled";
    if (wb_s2s_conf_listed(c->deny, c->n_deny, domain))
        return "domain is on the denylist";
    if (c->n_allow && !wb_s2s_conf_listed(c->allow, c->n_allow, domain))
        return "domain is not on the allowlist";
    return NULL;
}

bool wb_s2s_conf_tls13_required(const wb_s2s_conf *c, const char *domain)
{
    return c->require_tls13 ||
           (domain && wb_s2s_conf_listed(c->tls13_domains, c->n_tls13_domains, domain));
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
