/* wb_s2s_out: outbound streams (and the short dialback-verify streams): connect through the
 * resolved addresses, STARTTLS, dialback, then the queued stanzas in order; when that fails,
 * every queued stanza is bounced (presence excepted, RFC 6120 10.4.3). Not for inbound streams. */
#include "wb_s2s_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "wb_log.h"
#include "wb_router.h"
#include "wb_xmpp_model.h"

static void wb_s2s_out_connect_next(wb_s2s_conn *c, const char *why);

void wb_s2s_out_drop_queue(wb_s2s_conn *c)
{
    for (size_t i = 0; i < c->q_len; i++)
        wb_msg_unref(c->queue[(c->q_head + i) % c->q_cap]);
    c->q_len = 0;
}

/* Tells the inbound stream waiting for this verification (if still there) the outcome. */
static void wb_s2s_verify_done(wb_s2s_conn *c, int result)
{
    if (c->verify_for == 0)
        return;
    wb_s2s_conn *in = wb_s2s_conn_find(c->w, c->verify_for);
    c->verify_for = 0;
    if (in && (in->dir == WB_S2S_IN || in->bidi))
        wb_s2s_in_verified(in, c->remote, c->local, result);
}

void wb_s2s_out_fail(wb_s2s_conn *c, const char *cond, const char *why)
{
    if (c->closing)
        return;
    /* XEP-0220 piggybacking: another domain's stanzas waiting on this carrier go their own way. */
    if (c->dir == WB_S2S_OUT && c->rev_local[0])
        wb_s2s_bidi_flush(c, false);
    if (c->state != WB_S2S_READY || c->q_len)
        wb_info("s2s %llu: %s %s -> %s failed: %s%s", (unsigned long long)c->id,
                c->dir == WB_S2S_VERIFY ? "dialback verification" : "outbound stream", c->local,
                c->remote, why, c->q_len ? "; bouncing queued stanzas" : "");
    if (c->dir == WB_S2S_OUT && c->state != WB_S2S_READY)
        wb_s2s_audit(c, c->remote, c->local, false, why);
    wb_s2s_verify_done(c, -1);
    /* Bounced after the close so that nothing routed meanwhile is queued on this stream. */
    size_t n = c->q_len, head = c->q_head, cap = c->q_cap;
    wb_msg **q = c->queue;
    c->queue = NULL;
    c->q_len = c->q_cap = c->q_head = 0;
    wb_s2s_conn_close(c, 0, NULL);
    for (size_t i = 0; i < n; i++) {
        wb_msg *m = q[(head + i) % cap];
        wb_s2s_bounce(c->w, m, cond, NULL);
        wb_msg_unref(m);
    }
    free(q);
}

void wb_s2s_verify_start(wb_s2s_conn *in, const char *remote, const char *local, const char *key)
{
    wb_s2s_conn *c = wb_s2s_open(in->w, WB_S2S_VERIFY, local, remote);
    if (!c) {
        wb_s2s_in_verified(in, remote, local, -1);
        return;
    }
    snprintf(c->key, sizeof(c->key), "%s", key);
    snprintf(c->verify_sid, sizeof(c->verify_sid), "%s", in->stream_id);
    c->verify_for = in->id;
    wb_debug("s2s %llu: verifying the dialback key of %s for %s", (unsigned long long)c->id, remote,
             local);
    if (wb_s2s_dns_start(c) < 0)
        wb_s2s_out_resolved(c, "cannot start the DNS lookup");
}

void wb_s2s_out_resolved(wb_s2s_conn *c, const char *why)
{
    if (c->n_addrs == 0) {
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, why ? why : "no address found");
        return;
    }
    wb_s2s_out_connect_next(c, why);
}

static void wb_s2s_out_connect_next(wb_s2s_conn *c, const char *why)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->next_addr >= c->n_addrs) {
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, why ? why : "cannot connect");
        return;
    }
    int i = c->next_addr++;
    struct sockaddr *sa = (struct sockaddr *)&c->addrs[i];
    c->direct_out = c->addr_direct[i];
    char host[48] = "?";
    getnameinfo(sa, (socklen_t)c->addr_len[i], host, sizeof(host), NULL, 0, NI_NUMERICHOST);
    snprintf(c->peer, sizeof(c->peer), "%s", host);
    struct bufferevent *bev = bufferevent_socket_new(c->w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    c->state = WB_S2S_CONNECTING;
    if (!bev || wb_s2s_conn_attach(c, bev) < 0) {
        if (bev && !c->bev)
            bufferevent_free(bev);
        wb_s2s_out_fail(c, WB_S2S_INTERNAL, "out of memory");
        return;
    }
    if (bufferevent_socket_connect(bev, sa, c->addr_len[i]) < 0) {
        wb_s2s_out_connect_next(c, "connect failed");
        return;
    }
    wb_debug("s2s %llu: connecting to %s port %d for %s%s", (unsigned long long)c->id, c->peer,
             ntohs(((struct sockaddr_in *)sa)->sin_port), c->remote,
             c->direct_out ? " (direct TLS)" : "");
}

void wb_s2s_out_connect_failed(wb_s2s_conn *c, const char *why)
{
    wb_debug("s2s %llu: cannot connect to %s: %s", (unsigned long long)c->id, c->peer, why);
    wb_s2s_out_connect_next(c, why);
}

void wb_s2s_out_connected(wb_s2s_conn *c)
{
    c->state = WB_S2S_OPEN;
    wb_s2s_conn_arm(c, c->w->srv->cfg->handshake_timeout);
    if (!c->direct_out)
        wb_s2s_conn_send_header(c);
    else if (wb_s2s_conn_start_tls(c) < 0) /* XEP-0368: TLS first, then the header */
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "cannot start TLS");
}

int wb_s2s_out_open(wb_s2s_conn *c, const wb_stream_header *hdr)
{
    if (strcmp(hdr->name, "stream") != 0 || !hdr->ns || strcmp(hdr->ns, WB_NS_STREAMS) != 0 ||
        !hdr->default_ns || strcmp(hdr->default_ns, WB_NS_SERVER) != 0) {
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "bad stream header");
        return WB_XML_STOP;
    }
    if (!hdr->id || !hdr->id[0] || strlen(hdr->id) >= sizeof(c->stream_id)) {
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "no usable stream id");
        return WB_XML_STOP;
    }
    snprintf(c->stream_id, sizeof(c->stream_id), "%s", hdr->id);
    return WB_XML_CONTINUE;
}

static void wb_s2s_out_ready(wb_s2s_conn *c);
static int wb_s2s_out_send_dialback(wb_s2s_conn *c);
static int wb_s2s_out_error(wb_s2s_conn *c, int rc);

/* EXTERNAL when offered (XEP-0178); the peer's certificate must validate when policy wants it.
 * True when the features were handled here (auth sent, or the stream failed). */
static bool wb_s2s_out_try_external(wb_s2s_conn *c, const wb_stanza *st)
{
    const wb_s2s *s = wb_s2s_of(c->w);
    /* DANE: a certificate matching the peer's secure TLSA records is valid (RFC 7673). */
    const char *why = c->dane.ok ? NULL : wb_s2s_cert_check(s, c->ssl, c->remote);
    const char *host = wb_s2s_host_of(c->w->srv, c->local);
    /* Without dialback nothing else would authenticate the peer's side of this stream. */
    if (why && (wb_s2s_conf_cert_required(s->conf, host, c->remote) ||
                !wb_s2s_conf_dialback(s->conf, host))) {
        char reason[160];
        snprintf(reason, sizeof(reason), "the peer's certificate is not acceptable: %s", why);
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, reason);
        return true;
    }
    bool offered = false;
    wb_el mechs = wb_st_child(st, 0, "mechanisms", WB_NS_S2S_SASL);
    for (wb_el m = mechs >= 0 ? wb_st_first(st, mechs) : -1; m >= 0; m = wb_st_next(st, m))
        offered |= strcmp(wb_st_text(st, m, NULL), "EXTERNAL") == 0;
    if (!offered || c->sasl_tried)
        return false;
    c->sasl_tried = true;
    c->state = WB_S2S_AUTHING;
    char id[2 * WB_S2S_DOMAIN_MAX];
    sodium_bin2base64(id, sizeof(id), (const unsigned char *)c->local, strlen(c->local),
                      sodium_base64_VARIANT_ORIGINAL);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<auth xmlns='" WB_NS_S2S_SASL "' mechanism='EXTERNAL'>%s</auth>", id);
    wb_s2s_conn_send(c, b.data, b.len);
    wb_buf_free(&b);
    return true;
}

/* SASL answers on an outbound stream: success restarts it; failure falls back to dialback. */
static int wb_s2s_out_sasl(wb_s2s_conn *c, const wb_stanza *st)
{
    if (c->state != WB_S2S_AUTHING || !c->sasl_tried || c->sasl_done)
        return WB_XML_CONTINUE;
    if (strcmp(wb_st_name(st, 0), "success") == 0) {
        c->sasl_done = true;
        c->auth = wb_s2s_dane_auth(c, "EXTERNAL");
        c->state = WB_S2S_OPEN;
        c->want_restart = true;
        return WB_XML_STOP;
    }
    wb_info("s2s %llu: EXTERNAL %s -> %s refused by the peer%s", (unsigned long long)c->id,
            c->local, c->remote,
            wb_s2s_conf_dialback(wb_s2s_of(c->w)->conf, wb_s2s_host_of(c->w->srv, c->local))
                ? "; trying dialback"
                : "");
    return wb_s2s_out_send_dialback(c);
}

/* TLS 1.3 policy (s2s.require_tls13, require_tls13_for): false when the stream does not meet it
 * (it is then closed with policy-violation and its stanzas bounced). */
static bool wb_s2s_out_tls13(wb_s2s_conn *c)
{
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    const char *host = wb_s2s_host_of(c->w->srv, c->local);
    if (!wb_s2s_conf_tls13_required(conf, host, c->remote) ||
        (c->tls_on && c->ssl && SSL_version(c->ssl) >= TLS1_3_VERSION))
        return true;
    char why[WB_S2S_DOMAIN_MAX + 128];
    snprintf(why, sizeof(why), "TLS 1.3 is required, the peer negotiated %s%s",
             c->tls_on && c->ssl ? SSL_get_version(c->ssl) : "no TLS",
             wb_s2s_conf_whose(conf, host));
    wb_s2s_conn_send_str(c, "<stream:error><policy-violation "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, why);
    return false;
}

/* XEP-0288: when the peer offers it (after TLS), ask for a bidirectional stream before
 * authenticating; no answer follows. */
static void wb_s2s_out_bidi_request(wb_s2s_conn *c, const wb_stanza *st)
{
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    if (c->dir != WB_S2S_OUT || c->bidi || !conf->bidi || (!c->tls_on && conf->require_tls) ||
        wb_st_child(st, 0, "bidi", WB_NS_BIDI_FEAT) < 0)
        return;
    wb_s2s_conn_send_str(c, "<bidi xmlns='" WB_NS_BIDI "'/>");
    c->bidi = true;
    wb_debug("s2s %llu: requesting a bidirectional stream with %s", (unsigned long long)c->id,
             c->remote);
}

/* Features after the header: STARTTLS first, then EXTERNAL or dialback (db:result or db:verify). */
static int wb_s2s_out_features(wb_s2s_conn *c, const wb_stanza *st)
{
    const wb_s2s *s = wb_s2s_of(c->w);
    if (!c->tls_on && wb_st_child(st, 0, "starttls", WB_NS_S2S_TLS) >= 0) {
        wb_s2s_conn_send_str(c, "<starttls xmlns='" WB_NS_S2S_TLS "'/>");
        return WB_XML_CONTINUE;
    }
    if (!c->tls_on && s->conf->require_tls) {
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "the peer does not offer STARTTLS");
        return WB_XML_STOP;
    }
    if (!wb_s2s_out_tls13(c))
        return WB_XML_STOP;
    if (!wb_s2s_dane_verify(c)) /* DANE: the peer's TLSA records, if any, must match */
        return WB_XML_STOP;
    if (c->sasl_done) {
        wb_s2s_out_ready(c);
        return WB_XML_CONTINUE;
    }
    wb_s2s_out_bidi_request(c, st);
    if (c->dir == WB_S2S_OUT && c->tls_on && wb_s2s_out_try_external(c, st))
        return c->closing ? WB_XML_STOP : WB_XML_CONTINUE;
    return wb_s2s_out_send_dialback(c);
}

/* Dialback when EXTERNAL is not possible and policy allows it. */
static int wb_s2s_out_send_dialback(wb_s2s_conn *c)
{
    const wb_s2s *s = wb_s2s_of(c->w);
    const char *host = wb_s2s_host_of(c->w->srv, c->local);
    if (!wb_s2s_conf_dialback(s->conf, host) ||
        (c->dir == WB_S2S_OUT && wb_s2s_conf_cert_required(s->conf, host, c->remote))) {
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "no allowed authentication method succeeded");
        return WB_XML_STOP;
    }
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<db:%s from='", c->dir == WB_S2S_VERIFY ? "verify" : "result");
    wb_buf_xml_escape_str(&b, c->local);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, c->remote);
    if (c->dir == WB_S2S_VERIFY) {
        wb_buf_puts(&b, "' id='");
        wb_buf_xml_escape_str(&b, c->verify_sid);
        wb_buf_puts(&b, "'>");
        wb_buf_xml_escape_str(&b, c->key);
        wb_buf_puts(&b, "</db:verify>");
    } else {
        char key[WB_S2S_KEY_HEX];
        wb_s2s_dialback_key(s, c->remote, c->local, c->stream_id, key);
        wb_buf_printf(&b, "'>%s</db:result>", key);
    }
    wb_s2s_conn_send(c, b.data, b.len);
    wb_buf_free(&b);
    c->state = WB_S2S_AUTHING;
    return WB_XML_CONTINUE;
}

static void wb_s2s_out_ready(wb_s2s_conn *c)
{
    c->state = WB_S2S_READY;
    if (!c->auth)
        c->auth = wb_s2s_dane_auth(c, "dialback");
    if (c->bounce_ev)
        evtimer_del(c->bounce_ev);
    if (c->bidi && c->n_pairs == 0) {
        /* XEP-0288: the peer may send from its domain (the one we connected to) to ours. */
        snprintf(c->pairs[0].remote, sizeof(c->pairs[0].remote), "%s", c->remote);
        snprintf(c->pairs[0].local, sizeof(c->pairs[0].local), "%s", c->local);
        c->n_pairs = 1;
    }
    wb_info("s2s %llu: outbound %s -> %s authenticated (%s, %s%s%s); %zu queued",
            (unsigned long long)c->id, c->local, c->remote, c->auth, c->peer,
            c->bidi ? ", bidirectional" : "", c->direct_out ? ", direct TLS" : "", c->q_len);
    wb_s2s_reg_update(c);
    wb_s2s_audit(c, c->remote, c->local, true, c->auth);
    /* XEP-0220: a stream authenticated with dialback may carry our other domains too. */
    if (c->dir == WB_S2S_OUT && strstr(c->auth, "dialback"))
        wb_s2s_mux_carrier(c);
    while (c->q_len && !c->closing) {
        wb_msg *m = c->queue[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        wb_s2s_conn_send(c, m->bytes, m->bytes_len);
        wb_s2s_reg_count(c, true);
        wb_msg_unref(m);
    }
    wb_s2s_conn_arm(c, wb_s2s_of(c->w)->conf->idle_timeout);
}

/* db:result / db:verify answers. */
static int wb_s2s_out_dialback(wb_s2s_conn *c, const wb_stanza *st)
{
    const char *type = wb_st_attr(st, 0, "type"), *name = wb_st_name(st, 0);
    bool valid = type && strcmp(type, "valid") == 0;
    /* XEP-0288: on a bidirectional stream the peer may authenticate more of its domains. */
    if (!type && c->dir == WB_S2S_OUT && c->bidi && c->state == WB_S2S_READY &&
        strcmp(name, "result") == 0)
        return wb_s2s_out_error(c, wb_s2s_in_dialback(c, st));
    /* XEP-0220 piggybacking: the answer for another of our domains on this ready stream. */
    if (type && c->dir == WB_S2S_OUT && c->state == WB_S2S_READY && strcmp(name, "result") == 0) {
        wb_s2s_mux_answer(c, st);
        return WB_XML_CONTINUE;
    }
    if (!type || c->state != WB_S2S_AUTHING)
        return WB_XML_CONTINUE;
    if (c->dir == WB_S2S_VERIFY && strcmp(name, "verify") == 0) {
        wb_s2s_verify_done(c, valid ? 1 : 0);
        wb_s2s_conn_close(c, 0, NULL);
        return WB_XML_STOP;
    }
    if (c->dir != WB_S2S_OUT || strcmp(name, "result") != 0)
        return WB_XML_CONTINUE;
    if (valid) {
        wb_s2s_out_ready(c);
        return WB_XML_CONTINUE;
    }
    wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "the peer refused our dialback key");
    return WB_XML_STOP;
}

/* A stanza from the peer on our bidirectional outbound stream: checked like an inbound one. */
static int wb_s2s_out_reverse(wb_s2s_conn *c, wb_stanza *st)
{
    static const char *const kinds[] = {"message", "presence", "iq"};
    const char *name = wb_st_name(st, 0);
    int rc = WB_XML_CONTINUE;
    for (int k = 0; k < 3; k++)
        if (strcmp(name, kinds[k]) == 0)
            rc = wb_s2s_in_route(c, st, (wb_msg_kind)k);
    return wb_s2s_out_error(c, rc);
}

/* rc from checking what the peer sent on our bidirectional stream: a stream error (rc > 0) is
 * sent and the stream ends (nothing is queued on a ready stream); rc otherwise. */
static int wb_s2s_out_error(wb_s2s_conn *c, int rc)
{
    if (rc <= 0)
        return rc;
    wb_buf b;
    wb_buf_init(&b);
    wb_xmpp_write_stream_error(&b, rc, NULL);
    wb_s2s_conn_send(c, b.data, b.len);
    wb_buf_free(&b);
    char why[96];
    snprintf(why, sizeof(why), "the peer broke the rules of the bidirectional stream (%s)",
             wb_stream_err_name(rc));
    wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, why);
    return WB_XML_STOP;
}

int wb_s2s_out_stanza(wb_s2s_conn *c, wb_stanza *st)
{
    const char *ns = wb_st_ns(st, 0), *name = wb_st_name(st, 0);
    int rc = WB_XML_CONTINUE;
    if (strcmp(ns, WB_NS_STREAMS) == 0 && strcmp(name, "features") == 0) {
        rc = c->state == WB_S2S_OPEN ? wb_s2s_out_features(c, st) : WB_XML_CONTINUE;
    } else if (strcmp(ns, WB_NS_STREAMS) == 0 && strcmp(name, "error") == 0) {
        wb_el e = wb_st_first(st, 0);
        char why[160];
        snprintf(why, sizeof(why), "stream error %s", e >= 0 ? wb_st_name(st, e) : "?");
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, why);
        rc = WB_XML_STOP;
    } else if (strcmp(ns, WB_NS_S2S_TLS) == 0 && strcmp(name, "proceed") == 0 && !c->tls_on) {
        c->want_tls = true;
        rc = WB_XML_STOP;
    } else if (strcmp(ns, WB_NS_S2S_TLS) == 0) {
        wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, "STARTTLS refused");
        rc = WB_XML_STOP;
    } else if (strcmp(ns, WB_NS_DIALBACK) == 0) {
        rc = wb_s2s_out_dialback(c, st);
    } else if (strcmp(ns, WB_NS_S2S_SASL) == 0) {
        rc = wb_s2s_out_sasl(c, st);
    } else if (strcmp(ns, WB_NS_SERVER) == 0 && c->dir == WB_S2S_OUT && c->bidi &&
               c->state == WB_S2S_READY) {
        rc = wb_s2s_out_reverse(c, st);
    }
    /* Anything else (stanzas on a stream that is not bidirectional) is ignored. */
    wb_stanza_free(st);
    return rc;
}
