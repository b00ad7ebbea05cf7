/* wb_s2s_dns: where to connect for a remote domain: a static route, else SRV
 * _xmpp-server._tcp (RFC 2782 order) then A/AAAA of each target, or A/AAAA of the domain on
 * 5269; through libunbound on the worker's event loop, with the configured hosts and resolv.conf.
 */
#include "wb_s2s_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>
#include <unbound.h>

#include "wb_log.h"

enum { WB_DNS_SRVS = 0, WB_DNS_SRV, WB_DNS_A, WB_DNS_AAAA };

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

static void wb_s2s_dns_add(wb_s2s_conn *c, int family, const void *addr, int port, bool direct)
{
    if (c->n_addrs >= WB_S2S_MAX_ADDRS)
        return;
    c->addr_direct[c->n_addrs] = direct;
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
    return ub_resolve_async(ub, name, type, 1, c, wb_s2s_dns_cb, &c->dns_id) == 0 ? 0 : -1;
}

/* Next query: A then AAAA for each target; when all are done, connect. */
static void wb_s2s_dns_next(wb_s2s_conn *c)
{
    while (c->cur_target < c->n_targets) {
        int type = c->dns_stage == WB_DNS_A ? 1 : 28;
        if (wb_s2s_dns_query(c, c->targets[c->cur_target], type) == 0)
            return;
        c->dns_stage = WB_DNS_A;
        c->cur_target++;
    }
    wb_s2s_out_resolved(c, "the domain does not resolve");
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
    }
    c->dns_stage = WB_DNS_A;
    wb_s2s_dns_next(c);
}

static void wb_s2s_dns_cb(void *arg, int err, struct ub_result *res)
{
    wb_s2s_conn *c = arg;
    c->dns_id = 0;
    wb_debug("s2s %llu: DNS %s of %s: %s, rcode %d, %s", (unsigned long long)c->id,
             c->dns_stage == WB_DNS_SRVS  ? "SRV xmpps"
             : c->dns_stage == WB_DNS_SRV ? "SRV"
             : c->dns_stage == WB_DNS_A   ? "A"
                                          : "AAAA",
             c->dns_stage <= WB_DNS_SRV ? c->remote : c->targets[c->cur_target],
             err ? ub_strerror(err) : "ok", res ? res->rcode : -1,
             res && res->havedata ? "data" : "no data");
    if (c->dns_stage <= WB_DNS_SRV) {
        if (!err && res)
            wb_s2s_dns_take_srv(c, res, c->dns_stage == WB_DNS_SRVS);
        if (res)
            ub_resolve_free(res);
        wb_s2s_dns_srv_next(c);
        return;
    } else {
        for (int i = 0; !err && res && res->havedata && res->data[i]; i++)
            if (res->len[i] == (c->dns_stage == WB_DNS_A ? 4 : 16))
                wb_s2s_dns_add(c, c->dns_stage == WB_DNS_A ? AF_INET : AF_INET6, res->data[i],
                               c->target_port[c->cur_target], c->target_direct[c->cur_target]);
        if (c->dns_stage == WB_DNS_A) {
            c->dns_stage = WB_DNS_AAAA;
        } else {
            c->dns_stage = WB_DNS_A;
            c->cur_target++;
        }
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
            wb_s2s_dns_add(c, strchr(r->host, ':') ? AF_INET6 : AF_INET, a, r->port, false);
            wb_s2s_out_resolved(c, NULL);
            return 0;
        }
        snprintf(c->targets[0], sizeof(c->targets[0]), "%s", r->host);
        c->target_port[0] = r->port;
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
    if (ws->ub_ev)
        event_free(ws->ub_ev);
    ws->ub_ev = NULL;
    if (ws->ub)
        ub_ctx_delete(ws->ub);
    ws->ub = NULL;
}
