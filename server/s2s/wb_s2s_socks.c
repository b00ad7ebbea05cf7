/* wb_s2s_socks: outbound s2s connections through a SOCKS5 proxy (Tor for .onion domains): RFC 1928
 * CONNECT with ATYP=DOMAINNAME, so the name is never resolved here. Not for the stream itself. */
#include "wb_s2s_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "wb_log.h"

#define WB_SOCKS_VER          5
#define WB_SOCKS_STEP_CONNECT 1 /* TCP connect to the proxy under way */
#define WB_SOCKS_STEP_METHOD  2 /* greeting sent, waiting for the chosen method */
#define WB_SOCKS_STEP_REPLY   3 /* CONNECT sent, waiting for the reply */
#define WB_SOCKS_DEFAULT_PORT 5269

/* RFC 1928 section 6 reply codes. */
static const char *wb_socks_rep_text(unsigned rep)
{
    static const char *const text[] = {"succeeded",
                                       "general SOCKS server failure",
                                       "connection not allowed by ruleset",
                                       "network unreachable",
                                       "host unreachable",
                                       "connection refused",
                                       "TTL expired",
                                       "command not supported",
                                       "address type not supported"};
    return rep < sizeof(text) / sizeof(text[0]) ? text[rep] : "unknown error";
}

static void wb_socks_fail(wb_s2s_conn *c, const char *cond, const char *what)
{
    char why[256];
    snprintf(why, sizeof(why), "SOCKS5 proxy %.63s: %.160s", c->peer, what);
    if (c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    c->socks_step = 0;
    wb_s2s_out_fail(c, cond, why);
}

/* CONNECT to c->remote, port of its static route or 5269, the name unresolved. */
static void wb_socks_send_connect(wb_s2s_conn *c)
{
    const wb_s2s_static_route *r = wb_s2s_conf_route(wb_s2s_of(c->w)->conf, c->remote);
    const int port = r ? r->port : WB_SOCKS_DEFAULT_PORT;
    const size_t n = strlen(c->remote);
    unsigned char req[4 + 1 + 255 + 2];
    if (n == 0 || n > 255) {
        wb_socks_fail(c, WB_S2S_NOT_FOUND, "the domain is too long for SOCKS5");
        return;
    }
    req[0] = WB_SOCKS_VER;
    req[1] = 1; /* CONNECT */
    req[2] = 0;
    req[3] = 3; /* DOMAINNAME */
    req[4] = (unsigned char)n;
    memcpy(req + 5, c->remote, n);
    req[5 + n] = (unsigned char)(port >> 8);
    req[6 + n] = (unsigned char)(port & 0xff);
    bufferevent_write(c->bev, req, 7 + n);
    c->socks_step = WB_SOCKS_STEP_REPLY;
}

/* The method answer: "no authentication" is the only one we offer. */
static void wb_socks_method(wb_s2s_conn *c, struct evbuffer *in)
{
    unsigned char m[2];
    evbuffer_remove(in, m, sizeof(m));
    if (m[0] != WB_SOCKS_VER || m[1] != 0) {
        wb_socks_fail(c, WB_S2S_NOT_FOUND, "no acceptable authentication method");
        return;
    }
    wb_socks_send_connect(c);
}

/* Length of the CONNECT reply from its first 5 bytes, 0 when it cannot be one. */
static size_t wb_socks_reply_len(const unsigned char *h)
{
    switch (h[3]) {
    case 1:
        return 4 + 4 + 2;
    case 3:
        return 4 + 1 + (size_t)h[4] + 2;
    case 4:
        return 4 + 16 + 2;
    default:
        return 0;
    }
}

/* The CONNECT reply: on success the stream starts over the tunnel. */
static void wb_socks_reply(wb_s2s_conn *c, struct evbuffer *in)
{
    unsigned char h[5];
    if (evbuffer_copyout(in, h, sizeof(h)) < (ev_ssize_t)sizeof(h))
        return;
    const size_t len = wb_socks_reply_len(h);
    if (h[0] != WB_SOCKS_VER || len == 0) {
        wb_socks_fail(c, WB_S2S_NOT_FOUND, "malformed reply");
        return;
    }
    if (h[1] != 0) {
        char what[96];
        snprintf(what, sizeof(what), "CONNECT refused: %s (%u)", wb_socks_rep_text(h[1]), h[1]);
        wb_socks_fail(c, h[1] == 6 ? WB_S2S_TIMEOUT : WB_S2S_NOT_FOUND, what);
        return;
    }
    if (evbuffer_get_length(in) < len)
        return;
    evbuffer_drain(in, len);
    c->socks_step = 0;
    wb_debug("s2s %llu: SOCKS5 tunnel to %s open", (unsigned long long)c->id, c->remote);
    if (wb_s2s_conn_attach(c, c->bev) < 0) {
        wb_s2s_out_fail(c, WB_S2S_INTERNAL, "cannot start the stream");
        return;
    }
    wb_s2s_out_connected(c);
}

static void wb_socks_read_cb(struct bufferevent *bev, void *arg)
{
    wb_s2s_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->closing)
        return;
    if (c->socks_step == WB_SOCKS_STEP_METHOD && evbuffer_get_length(in) >= 2)
        wb_socks_method(c, in);
    if (!c->closing && c->socks_step == WB_SOCKS_STEP_REPLY)
        wb_socks_reply(c, in);
}

static void wb_socks_event_cb(struct bufferevent *bev, short what, void *arg)
{
    wb_s2s_conn *c = arg;
    if (c->closing)
        return;
    if ((what & BEV_EVENT_CONNECTED) && c->socks_step == WB_SOCKS_STEP_CONNECT) {
        static const unsigned char greeting[3] = {WB_SOCKS_VER, 1, 0};
        bufferevent_write(bev, greeting, sizeof(greeting));
        c->socks_step = WB_SOCKS_STEP_METHOD;
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
        wb_socks_fail(c, WB_S2S_NOT_FOUND,
                      c->socks_step == WB_SOCKS_STEP_CONNECT
                          ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())
                          : "the proxy closed the connection");
}

/* The proxy's numeric address (checked when the configuration was loaded) into ss. */
static socklen_t wb_socks_addr(const wb_s2s_conf *conf, struct sockaddr_storage *ss)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, conf->socks5_host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)conf->socks5_port);
        return sizeof(*in4);
    }
    if (inet_pton(AF_INET6, conf->socks5_host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)conf->socks5_port);
        return sizeof(*in6);
    }
    return 0;
}

void wb_s2s_socks_start(wb_s2s_conn *c)
{
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    struct sockaddr_storage ss;
    const socklen_t sl = wb_socks_addr(conf, &ss);
    snprintf(c->peer, sizeof(c->peer), "%s", conf->socks5_host);
    c->direct_out = false;
    c->state = WB_S2S_CONNECTING;
    c->socks_step = WB_SOCKS_STEP_CONNECT;
    c->bev = bufferevent_socket_new(c->w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev || sl == 0) {
        wb_socks_fail(c, WB_S2S_INTERNAL, "cannot create the connection");
        return;
    }
    bufferevent_setcb(c->bev, wb_socks_read_cb, NULL, wb_socks_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    wb_s2s_conn_arm(c, c->w->srv->cfg->handshake_timeout);
    wb_debug("s2s %llu: connecting to %s through the SOCKS5 proxy %s port %d",
             (unsigned long long)c->id, c->remote, conf->socks5_host, conf->socks5_port);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, (int)sl) < 0)
        wb_socks_fail(c, WB_S2S_NOT_FOUND, "cannot connect");
}
