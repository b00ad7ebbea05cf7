/* wb_s2s_dns: where to connect for a remote domain: a static route, else SRV
 * _xmpp-server._tcp (RFC 2782 order) then A/AAAA of each target, or A/AAAA of the domain on
 * 5269, and the TLSA records of each target whose DNS chain is DNSSEC-secure (DANE, RFC 7673);
 * through libunbound on the worker's event loop, with the configured hosts and resolv.conf. */
#include "wb_s2s_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>
#include <unbound.h>

#include "wb_log.h"

enum { WB_DNS_SRVS = 0, WB_DNS_SRV, WB_DNS_A, WB_DNS_AAAA, WB_DNS_TLSA };

static void wb_s2s_dns_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_s2s_worker *ws = arg;
    ub_process(ws->ub);
}

static struct ub_ctx *wb_s2s_dns_ctx(wb_s2s_conn *c)
{
    wb_s2s_worker *ws = wb_s2s_ws(c->w);
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    if (ws->ub)
        return ws->ub;
    struct ub_ctx *ub = ub_ctx_create();
    if (!ub)
        return NULL;
    int rc = ub_ctx_async(ub, 1);
    if (!rc && conf->resolv_conf[0])
        rc = ub_ctx_resolvconf(ub, conf->resolv_conf);
    if (!rc && conf->hosts_file[0])
        rc = ub_ctx_hosts(ub, conf->hosts_file);
    if (!rc && conf->dnssec_trust_anchor)
        rc = ub_ctx_add_ta_file(ub, conf->dnssec_trust_anchor);
    if (rc) {
        wb_error("s2s: DNS resolver set-up failed: %s", ub_strerror(rc));
        ub_ctx_delete(ub);
        return NULL;
    }
    ws->ub_ev = event_new(c->w->base, ub_fd(ub), EV_READ | EV_PERSIST, wb_s2s_dns_ev, ws);
    if (!ws->ub_ev || event_add(ws->ub_ev, NULL) < 0) {
        if (ws->ub_ev)
            event_free(ws->ub_ev);
        ws->ub_ev = NULL;
        ub_ctx_delete(ub);
        return NULL;
    }
    ws->ub = ub;
    return ub;
}

/* Whether TLSA records can be DNSSEC-secure at all: DANE on and a trust anchor configured. */
static bool wb_s2s_dns_dane(const wb_s2s_conn *c)
{
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    return conf->dane && conf->dnssec_trust_anchor;
}

/* An address of target (index in c->targets; -1: a static route's numeric host). */
static void wb_s2s_dns_add(wb_s2s_conn *c, int family, const void *addr, int port, bool direct,
                           int target)
{
    if (c->n_addrs >= WB_S2S_MAX_ADDRS)
        return;
    c->addr_direct[c->n_addrs] = direct;
    c->dane.addr_target[c->n_addrs] = (signed char)target;
    struct sockaddr_storage *ss = &c->addrs[c->n_addrs];
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        memcpy(&sin->sin_addr, addr, 4);
        c->addr_len[c->n_addrs++] = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        memcpy(&sin6->sin6_addr, addr, 16);
        c->addr_len[c->n_addrs++] = sizeof(*sin6);
    }
}

static void wb_s2s_dns_cb(void *arg, int err, struct ub_result *res);

static int wb_s2s_dns_query(wb_s2s_conn *c, const char *name, int type)
{
    struct ub_ctx *ub = wb_s2s_dns_ctx(c);
    if (!ub)
        return -1;
    const int rc = ub_resolve_async(ub, name, type, 1, c, wb_s2s_dns_cb, &c->dns_id);
    if (rc)
        wb_warn("s2s %llu: cannot look up %s: %s", (unsigned long long)c->id, name,
                ub_strerror(rc));
    return rc == 0 ? 0 : -1;
}

/* Next query: A, AAAA (then TLSA) for each target; when all are done, connect. */
static void wb_s2s_dns_next(wb_s2s_conn *c)
{
    while (c->cur_target < c->n_targets) {
        const char *name = c->targets[c->cur_target];
        char tlsa[WB_S2S_DOMAIN_MAX + 32];
        int type = c->dns_stage == WB_DNS_A ? 1 : c->dns_stage == WB_DNS_AAAA ? 28 : 52;
        if (c->dns_stage == WB_DNS_A) {
            c->dane.addr_start = c->n_addrs;
            c->dane.addr_secure = true;
        } else if (c->dns_stage == WB_DNS_TLSA) {
            snprintf(tlsa, sizeof(tlsa), "_%d._tcp.%s", c->target_port[c->cur_target], name);
            name = tlsa;
        }
        if (wb_s2s_dns_query(c, name, type) == 0)
            return;
        c->dns_stage = WB_DNS_A;
        c->cur_target++;
    }
    wb_s2s_out_resolved(c, c->n_addrs == 0 && c->dane.why[0] ? c->dane.why
                                                             : "the domain does not resolve");
}

/* A lookup that DNSSEC validation failed: noted for the bounce's log line. */
static void wb_s2s_dns_bogus(wb_s2s_conn *c, const char *what, const char *name,
                             const struct ub_result *res)
{
    snprintf(c->dane.why, sizeof(c->dane.why), "DNSSEC validation of the %s of %.300s failed (%s)",
             what, name, res->why_bogus ? res->why_bogus : "bogus");
    wb_warn("s2s %llu: %s", (unsigned long long)c->id, c->dane.why);
}

/* The TLSA answer of the current target: usable records when secure; a bogus or failed lookup
 * means the target is not connected to (RFC 7673 3.3); insecure or none: no DANE. */
static void wb_s2s_dns_tlsa(wb_s2s_conn *c, int err, const struct ub_result *res)
{
    const int t = c->cur_target;
    char name[WB_S2S_DOMAIN_MAX + 32];
    snprintf(name, sizeof(name), "_%d._tcp.%s", c->target_port[t], c->targets[t]);
    if (err || !res || res->bogus || (res->rcode != 0 && res->rcode != 3)) {
        if (res && res->bogus)
            wb_s2s_dns_bogus(c, "TLSA records", name, res);
        else
            snprintf(c->dane.why, sizeof(c->dane.why),
                     "DANE: the TLSA lookup of %.300s failed (%s)", name,
                     err ? ub_strerror(err) : "server failure");
        wb_warn("s2s %llu: DANE: not connecting to %s: %s", (unsigned long long)c->id,
                c->targets[t], c->dane.why);
        c->n_addrs = c->dane.addr_start;
        return;
    }
    for (int i = 0; res->secure && res->havedata && res->data[i]; i++)
        wb_s2s_dane_take(c, t, (const unsigned char *)res->data[i], res->len[i]);
    wb_debug("s2s %llu: DANE: %s is %s", (unsigned long long)c->id, name,
             !res->secure    ? "insecure: no DANE"
             : res->havedata ? "secure"
                             : "securely absent");
}

/* One SRV record. */
typedef struct wb_s2s_srv {
    int prio, weight, port;
    char target[256];
} wb_s2s_srv;

/* Decodes one SRV record's wire data; 0 or -1. Target names are written dotted. */
static int wb_s2s_dns_srv(const unsigned char *d, int len, wb_s2s_srv *r)
{
    if (len < 7)
        return -1;
    r->prio = d[0] << 8 | d[1];
    r->weight = d[2] << 8 | d[3];
    r->port = d[4] << 8 | d[5];
    size_t n = 0;
    for (int i = 6; i < len && d[i];) {
        int l = d[i];
        if (l > 63 || i + 1 + l > len || n + (size_t)l + 2 > sizeof(r->target))
            return -1;
        memcpy(r->target + n, d + i + 1, (size_t)l);
        n += (size_t)l;
        r->target[n++] = '.';
        i += 1 + l;
    }
    if (n == 0)
        return -1; /* "." : the service is decidedly not available */
    r->target[n - 1] = '\0';
    return 0;
}

/* RFC 2782 order: lowest priority first; within a priority, a weighted random draw. */
static void wb_s2s_dns_take_srv(wb_s2s_conn *c, const struct ub_result *res, bool direct)
{
    wb_s2s_srv r[8];
    int n = 0;
    for (int i = 0; res->havedata && res->data[i] && n < 8; i++)
        n += wb_s2s_dns_srv((unsigned char *)res->data[i], res->len[i], &r[n]) == 0;
    while (n > 0 && c->n_targets < 4) {
        int best = 0;
        uint32_t sum = 0;
        for (int i = 1; i < n; i++)
            best = r[i].prio < r[best].prio ? i : best;
        for (int i = 0; i < n; i++)
            sum += r[i].prio == r[best].prio ? (uint32_t)r[i].weight : 0;
        uint32_t draw = sum ? randombytes_uniform(sum + 1) : 0, run = 0;
        for (int i = 0; i < n; i++) {
            if (r[i].prio != r[best].prio)
                continue;
            run += (uint32_t)r[i].weight;
            best = i;
            if (run >= draw)
                break;
        }
        snprintf(c->targets[c->n_targets], sizeof(c->targets[0]), "%s", r[best].target);
        c->target_direct[c->n_targets] = direct;
        c->target_port[c->n_targets++] = r[best].port;
        r[best] = r[--n];
    }
}

/* After _xmpps-server (direct TLS targets first), _xmpp-server; then the addresses, or those of
 * the domain itself on 5269 when neither has a record. */
static void wb_s2s_dns_srv_next(wb_s2s_conn *c)
{
    if (c->dns_stage == WB_DNS_SRVS) {
        char name[WB_S2S_DOMAIN_MAX + 32];
        snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", c->remote);
        c->dns_stage = WB_DNS_SRV;
        if (wb_s2s_dns_query(c, name, 33) == 0)
            return;
    }
    if (c->n_targets == 0) {
        snprintf(c->targets[0], sizeof(c->targets[0]), "%s", c->remote);
        c->target_port[0] = 5269;
        c->target_direct[0] = false;
        c->n_targets = 1;
        c->dane.srv_secure[0] = c->dane.srv_all_secure; /* no SRV, provably */
    }
    c->dns_stage = WB_DNS_A;
    wb_s2s_dns_next(c);
}

/* An SRV answer (freed here): its targets, and whether DNSSEC secured them. A bogus answer ends
 * the lookup when DANE is on (RFC 7673 3.1); false then. */
static bool wb_s2s_dns_srv_answer(wb_s2s_conn *c, int err, struct ub_result *res)
{
    const bool secure = !err && res && res->secure;
    const int before = c->n_targets;
    if (!err && res && res->bogus && wb_s2s_dns_dane(c)) {
        char name[WB_S2S_DOMAIN_MAX + 32];
        snprintf(name, sizeof(name), "_xmpp%s-server._tcp.%s",
                 c->dns_stage == WB_DNS_SRVS ? "s" : "", c->remote);
        wb_s2s_dns_bogus(c, "SRV records", name, res);
        ub_resolve_free(res);
        wb_s2s_out_resolved(c, c->dane.why);
        return false;
    }
    if (!err && res)
        wb_s2s_dns_take_srv(c, res, c->dns_stage == WB_DNS_SRVS);
    for (int i = before; i < c->n_targets; i++)
        c->dane.srv_secure[i] = secure;
    c->dane.srv_all_secure = secure && (c->dns_stage == WB_DNS_SRVS || c->dane.srv_all_secure);
    if (res)
        ub_resolve_free(res);
    return true;
}

/* An A or AAAA answer of the current target; after AAAA, its TLSA records when its SRV and
 * addresses are DNSSEC-secure (RFC 7673 3.2), else the next target. */
static void wb_s2s_dns_addrs(wb_s2s_conn *c, int err, const struct ub_result *res)
{
    const int t = c->cur_target;
    const bool v4 = c->dns_stage == WB_DNS_A;
    for (int i = 0; !err && res && res->havedata && res->data[i]; i++)
        if (res->len[i] == (v4 ? 4 : 16))
            wb_s2s_dns_add(c, v4 ? AF_INET : AF_INET6, res->data[i], c->target_port[t],
                           c->target_direct[t], t);
    if (!err && res && res->bogus && wb_s2s_dns_dane(c))
        wb_s2s_dns_bogus(c, v4 ? "A records" : "AAAA records", c->targets[t], res);
    c->dane.addr_secure = c->dane.addr_secure && !err && res && res->secure;
    if (v4)
        c->dns_stage = WB_DNS_AAAA;
    else if (wb_s2s_dns_dane(c) && c->dane.srv_secure[t] && c->dane.addr_secure &&
             c->n_addrs > c->dane.addr_start)
        c->dns_stage = WB_DNS_TLSA;
    else {
        c->dns_stage = WB_DNS_A;
        c->cur_target++;
    }
}

static void wb_s2s_dns_cb(void *arg, int err, struct ub_result *res)
{
    wb_s2s_conn *c = arg;
    c->dns_id = 0;
    static const char *const stages[] = {"SRV xmpps", "SRV", "A", "AAAA", "TLSA"};
    wb_debug("s2s %llu: DNS %s of %s: %s, rcode %d, %s%s", (unsigned long long)c->id,
             stages[c->dns_stage],
             c->dns_stage <= WB_DNS_SRV ? c->remote : c->targets[c->cur_target],
             err ? ub_strerror(err) : "ok", res ? res->rcode : -1,
             res && res->havedata ? "data" : "no data",
             res && res->secure  ? ", secure"
             : res && res->bogus ? ", bogus"
                                 : "");
    if (c->dns_stage <= WB_DNS_SRV) {
        if (wb_s2s_dns_srv_answer(c, err, res))
            wb_s2s_dns_srv_next(c);
        return;
    } else if (c->dns_stage == WB_DNS_TLSA) {
        wb_s2s_dns_tlsa(c, err, res);
        c->dns_stage = WB_DNS_A;
        c->cur_target++;
    } else {
        wb_s2s_dns_addrs(c, err, res);
    }
    if (res)
        ub_resolve_free(res);
    wb_s2s_dns_next(c);
}

int wb_s2s_dns_start(wb_s2s_conn *c)
{
    const wb_s2s_static_route *r = wb_s2s_conf_route(wb_s2s_of(c->w)->conf, c->remote);
    c->state = WB_S2S_RESOLVING;
    if (wb_s2s_conf_via_socks(wb_s2s_of(c->w)->conf, c->remote)) {
        wb_s2s_socks_start(c); /* no DNS at all: the proxy resolves the name */
        return 0;
    }
    if (r) {
        unsigned char a[16];
        if (inet_pton(AF_INET, r->host, a) == 1 || inet_pton(AF_INET6, r->host, a) == 1) {
            wb_s2s_dns_add(c, strchr(r->host, ':') ? AF_INET6 : AF_INET, a, r->port, r->direct_tls,
                           -1);
            wb_s2s_out_resolved(c, NULL);
            return 0;
        }
        snprintf(c->targets[0], sizeof(c->targets[0]), "%s", r->host);
        c->target_port[0] = r->port;
        c->target_direct[0] = r->direct_tls; /* tls = "direct" (XEP-0368) without SRV */
        c->n_targets = 1;
        c->dns_stage = WB_DNS_A;
        wb_s2s_dns_next(c);
        return 0;
    }
    char name[WB_S2S_DOMAIN_MAX + 32];
    snprintf(name, sizeof(name), "_xmpps-server._tcp.%s", c->remote);
    c->dns_stage = WB_DNS_SRVS;
    return wb_s2s_dns_query(c, name, 33);
}

void wb_s2s_dns_cancel(wb_s2s_conn *c)
{
    if (c->dns_id) {
        wb_s2s_worker *ws = wb_s2s_ws(c->w);
        if (ws->ub)
            ub_cancel(ws->ub, c->dns_id);
        c->dns_id = 0;
    }
}

void wb_s2s_dns_free(wb_s2s_worker *ws)
{
    wb_s2s_dane_worker_free(ws);
    if (ws->ub_ev)
        event_free(ws->ub_ev);
    ws->ub_ev = NULL;
    if (ws->ub)
        ub_ctx_delete(ws->ub);
    ws->ub = NULL;
}
