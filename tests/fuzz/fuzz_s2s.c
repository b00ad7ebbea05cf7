/* libFuzzer target for s2s stream handling: the input, after a mode byte, is fed to an inbound,
 * outbound or dialback-verify stream of an in-process server (headers, features, STARTTLS,
 * dialback, EXTERNAL, stanza addressing), and each stanza is also turned into a model message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/x509.h>

#include "wb_log.h"
#include "wb_s2s_int.h"
#include "wb_xmpp_model.h"

static wb_server fz_srv;
static wb_worker fz_w;
static wb_worker *fz_workers[1];
static wb_config *fz_cfg; /* wb_config_new: sized for the feature sections */
static wb_conf_host fz_host;
static wb_s2s_conf fz_conf;
static wb_s2s_static_route fz_route;
static char *fz_allow[1];
static wb_s2s fz_s2s;
static wb_s2s_worker fz_ws;
static unsigned char fz_secret[65] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void fz_setup(void)
{
    wb_log_set_level(WB_LOG_ERROR);
    fz_cfg = wb_config_new();
    if (fz_cfg == NULL)
        abort();
    fz_host.domain = "wb.example";
    fz_cfg->hosts = &fz_host;
    fz_cfg->n_hosts = 1;
    fz_cfg->workers = 1;
    fz_cfg->max_stanza_size = 4096;
    fz_cfg->max_depth = 16;
    fz_cfg->max_attrs = 16;
    fz_cfg->handshake_timeout = 10;
    /* Only a.example may federate, over a static route: no DNS, no real peer. */
    fz_route = (wb_s2s_static_route){.domain = "a.example", .host = "127.0.0.1", .port = 9};
    fz_allow[0] = "a.example";
    fz_conf = (wb_s2s_conf){.enabled = true,
                            .dialback = true,
                            .bounce_timeout = 30,
                            .idle_timeout = 600,
                            .queue_max = 8,
                            .routes = &fz_route,
                            .n_routes = 1,
                            .allow = fz_allow,
                            .n_allow = 1};
    fz_cfg->s2s = &fz_conf;
    fz_srv.cfg = fz_cfg;
    fz_srv.n_workers = 1;
    fz_srv.workers = fz_workers;
    fz_workers[0] = &fz_w;
    fz_srv.s2s = &fz_s2s;
    fz_s2s.srv = &fz_srv;
    fz_s2s.conf = &fz_conf;
    fz_s2s.secret_hash = fz_secret;
    fz_s2s.store = X509_STORE_new();
    fz_s2s.ws = &fz_ws;
    fz_s2s.n_ws = 1;
    fz_w.srv = &fz_srv;
    fz_w.base = event_base_new();
    if (!fz_w.base || !fz_s2s.store)
        abort();
}

/* Each parsed stanza, converted the way an authenticated inbound stream converts it. */
static void fz_convert(const uint8_t *data, size_t size)
{
    wb_stanza *st = wb_stanza_parse((const char *)data, size);
    if (!st)
        return;
    static const char *const kinds[] = {"message", "presence", "iq"};
    for (int k = 0; k < 3; k++) {
        if (strcmp(wb_st_name(st, 0), kinds[k]) != 0)
            continue;
        wb_jid from, to;
        wb_jid_parse(&from, "x@a.example/r", 13);
        wb_jid_parse(&to, "y@wb.example", 12);
        wb_stanza_err err;
        wb_msg *m = wb_s2s_stanza_msg(st, (wb_msg_kind)k, &from, &to, &err);
        if (m && (!m->xml || !m->bytes))
            abort();
        if (m)
            wb_msg_unref(m);
    }
    wb_stanza_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_w.base)
        fz_setup();
    if (size < 1)
        return 0;
    const wb_s2s_dir dir = (wb_s2s_dir)(data[0] % 3);
    /* XEP-0288 on inbound streams (an outbound one could reach the router, not set up here). */
    fz_conf.bidi = dir == WB_S2S_IN;
    wb_s2s_conn *c = wb_s2s_conn_new(&fz_w, dir);
    if (!c)
        return 0;
    if (dir != WB_S2S_IN) {
        snprintf(c->local, sizeof(c->local), "wb.example");
        snprintf(c->remote, sizeof(c->remote), "a.example");
        snprintf(c->key, sizeof(c->key), "k");
        c->state = WB_S2S_OPEN;
    }
    int rc = wb_xml_stream_feed(c->xs, (const char *)data + 1, size - 1);
    if (rc > 0)
        wb_s2s_conn_close(c, rc, NULL);
    while (fz_ws.conns)
        wb_s2s_conn_free(fz_ws.conns);
    /* Freed bufferevents close their sockets in deferred callbacks: run them, or fds pile up. */
    event_base_loop(fz_w.base, EVLOOP_NONBLOCK);
    fz_convert(data + 1, size - 1);
    return 0;
}
