/* Federation settings (the `s2s` group of the configuration file): policy, static routes, DNS and
 * timers. Parsed and checked by wb_config.c; not for run-time state (see wb_s2s_int.h). */
#ifndef WB_S2S_CONF_H
#define WB_S2S_CONF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wb_s2s_static_route {
    char *domain; /* remote domain, prepared */
    char *host;   /* address or host name to connect to */
    int port;
    bool direct_tls; /* tls = "direct": TLS at once, XEP-0368 (default "starttls") */
} wb_s2s_static_route;

/* A virtual host's own `s2s` group: what it sets overrides the global group for streams whose
 * local domain is that host (or its MUC service); unset keys inherit the global values. */
typedef struct wb_s2s_host_policy {
    char *host;                                            /* the host's domain, prepared */
    signed char enabled, dialback, cert, tls13;            /* 0 or 1; -1: inherit */
    bool set_allow, set_deny, set_cert_for, set_tls13_for; /* the list is the host's own */
    char **allow;
    size_t n_allow;
    char **deny;
    size_t n_deny;
    char **cert_domains;
    size_t n_cert_domains;
    char **tls13_domains;
    size_t n_tls13_domains;
    char *why[4]; /* refusals naming the host: disabled, denylist, not on the allowlist; and
                     " (policy of host HOST)" for other log lines */
} wb_s2s_host_policy;

typedef struct wb_s2s_conf {
    bool enabled;           /* federation on (default off: nothing leaves the server) */
    bool require_tls;       /* STARTTLS required both ways (default on) */
    bool dialback;          /* XEP-0220 allowed (default on) */
    bool bidi;              /* XEP-0288 bidirectional streams offered and used (default on) */
    int bounce_timeout;     /* seconds before queued stanzas bounce (default 30) */
    int idle_timeout;       /* seconds an idle stream stays open (default 600) */
    int queue_max;          /* stanzas queued per remote domain while connecting (default 1000) */
    int conn_per_minute;    /* new inbound connections per remote address per minute (60) */
    int stanzas_per_second; /* inbound stanzas per remote domain, over 10 s windows (500) */
    char *resolv_conf;      /* resolver file for libunbound (default /etc/resolv.conf) */
    char *hosts_file;       /* hosts file for libunbound (default /etc/hosts; "" for none) */
    char *ca_file;          /* extra trusted CAs for peer certificates (PEM), or NULL */
    bool require_cert;      /* every peer must present a valid certificate (no dialback) */
    char **cert_domains;    /* peers that must present a valid certificate (no dialback) */
    size_t n_cert_domains;
    char *control_socket;        /* deprecated alias of server.control_socket (wb_config.c) */
    char *secret_file;           /* dialback secret, 32 bytes, 0600 (default: dialback.key by the
                                    master key file); created at start-up when missing */
    wb_s2s_static_route *routes; /* static routes, override DNS */
    size_t n_routes;
    bool require_tls13;   /* TLS 1.3 required on every s2s stream, both ways (default off) */
    char **tls13_domains; /* peers whose streams must use TLS 1.3 (require_tls13_for) */
    size_t n_tls13_domains;
    char *socks5_host; /* SOCKS5 proxy (numeric address) for .onion and socks5_domains, or NULL */
    int socks5_port;
    char **socks5_domains; /* domains reached through the proxy besides *.onion */
    size_t n_socks5_domains;
    char **allow; /* allowlist of remote domains (empty: all but the denied) */
    size_t n_allow;
    char **deny; /* denylist of remote domains */
    size_t n_deny;
    /* DANE-TLSA on outbound streams (RFC 7673; default on), and the DNSSEC trust anchor file
     * (DS or DNSKEY records) for libunbound, or NULL: nothing validates, so DANE stays unused. */
    bool dane;
    char *dnssec_trust_anchor;
    /* Per virtual host policy. `enabled` above is then true when any host federates, and
     * default_off says the global group itself has enabled = false. */
    bool default_off;
    wb_s2s_host_policy *host_policies;
    size_t n_host_policies;
} wb_s2s_conf;

void wb_s2s_conf_free(wb_s2s_conf *c);
/* The static route for domain, or NULL. */
const wb_s2s_static_route *wb_s2s_conf_route(const wb_s2s_conf *c, const char *domain);
/* The policy functions take `host`: the virtual host (its configured domain) serving the local
 * domain of the stream (wb_s2s_host_of), or NULL for the global group. */
/* The host's own policy, or NULL when it has none (the global group applies). */
const wb_s2s_host_policy *wb_s2s_conf_host_policy(const wb_s2s_conf *c, const char *host);
/* Whether host federates at all. */
bool wb_s2s_conf_enabled(const wb_s2s_conf *c, const char *host);
/* For log lines of other refusals: " (policy of host HOST)" when host has its own, else "". */
const char *wb_s2s_conf_whose(const wb_s2s_conf *c, const char *host);
/* Whether host allows Server Dialback (XEP-0220). */
bool wb_s2s_conf_dialback(const wb_s2s_conf *c, const char *host);
/* Whether domain must authenticate with a valid certificate (dialback refused). */
bool wb_s2s_conf_cert_required(const wb_s2s_conf *c, const char *host, const char *domain);
/* Whether streams with domain (NULL: not known yet) must use TLS 1.3. */
bool wb_s2s_conf_tls13_required(const wb_s2s_conf *c, const char *host, const char *domain);
/* Whether domain is reached through the SOCKS5 proxy (*.onion or listed; false without proxy). */
bool wb_s2s_conf_via_socks(const wb_s2s_conf *c, const char *domain);
/* Whether domain is a Tor onion name (ends in ".onion"). */
bool wb_s2s_conf_is_onion(const char *domain);
/* Whether host's policy lets us federate with domain (on/off, allowlist, denylist; NULL domain:
 * not known yet, only whether host federates); NULL or the reason (naming the host when the
 * host's own group refused). */
const char *wb_s2s_conf_refuses(const wb_s2s_conf *c, const char *host, const char *domain);

#endif
