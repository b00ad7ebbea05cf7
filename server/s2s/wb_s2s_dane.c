/* wb_s2s_dane: DANE-TLSA for outbound s2s streams (RFC 6698, 7671, 7673): keeps the DNSSEC-secure
 * TLSA records found while resolving and matches the peer's certificate with OpenSSL's DANE code.
 * Not the DNS lookups themselves (wb_s2s_dns.c) nor the PKIX/RFC 6125 checks (wb_s2s_cert.c). */
#include "wb_s2s_int.h"

#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "wb_log.h"

int wb_s2s_dane_init(wb_s2s *s, char *err, size_t errsize)
{
    s->dane_ctx = SSL_CTX_new(TLS_client_method());
    if (!s->dane_ctx || SSL_CTX_dane_enable(s->dane_ctx) <= 0) {
        snprintf(err, errsize, "s2s: cannot set up DANE");
        ERR_clear_error();
        return -1;
    }
    /* RFC 7671 5.1: a DANE-EE(3) match authenticates the key itself, whatever names it bears. */
    SSL_CTX_dane_set_flags(s->dane_ctx, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    return 0;
}

void wb_s2s_dane_free(wb_s2s *s)
{
    SSL_CTX_free(s->dane_ctx);
    s->dane_ctx = NULL;
}

void wb_s2s_dane_take(wb_s2s_conn *c, int t, const unsigned char *rdata, int len)
{
    wb_s2s_dane *d = &c->dane;
    if (len < 4 || t < 0 || t >= (int)(sizeof(c->targets) / sizeof(c->targets[0])))
        return;
    const size_t n = (size_t)len - 3;
    if (d->n_rr >= WB_S2S_MAX_TLSA || d->used + n > sizeof(d->data)) {
        wb_warn("s2s %llu: DANE: too many TLSA records for %s; some are ignored",
                (unsigned long long)c->id, c->targets[t]);
        return;
    }
    wb_s2s_tlsa *r = &d->rr[d->n_rr++];
    r->target = (unsigned char)t;
    r->usage = rdata[0];
    r->selector = rdata[1];
    r->mtype = rdata[2];
    r->off = (unsigned short)d->used;
    r->len = (unsigned short)n;
    memcpy(d->data + d->used, rdata + 3, n);
    d->used += n;
}

/* Loads target t's records into v; how many OpenSSL can use (unknown usages are skipped). */
static int wb_s2s_dane_load(const wb_s2s_dane *d, int t, SSL *v)
{
    int usable = 0;
    for (int i = 0; i < d->n_rr; i++) {
        const wb_s2s_tlsa *r = &d->rr[i];
        if (r->target == t &&
            SSL_dane_tlsa_add(v, r->usage, r->selector, r->mtype, d->data + r->off, r->len) > 0)
            usable++;
    }
    ERR_clear_error();
    return usable;
}

int wb_s2s_dane_check_cert(const wb_s2s *s, SSL *ssl, const wb_s2s_dane *d, int t,
                           const char *target, const char *domain, char *why, size_t whysize)
{
    X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    SSL *v = SSL_new(s->dane_ctx);
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    int rc = -1;
    snprintf(why, whysize, "cannot check the certificate");
    if (!v || !x || SSL_dane_enable(v, target) <= 0 || SSL_add1_host(v, domain) != 1)
        goto done;
    if (wb_s2s_dane_load(d, t, v) == 0) {
        rc = 0;
        goto done;
    }
    if (!cert) {
        snprintf(why, whysize, "%s", ssl ? "the peer sent no certificate" : "no TLS");
        goto done;
    }
    if (X509_STORE_CTX_init(x, s->store, cert, SSL_get_peer_cert_chain(ssl)) != 1)
        goto done;
    /* As OpenSSL checks a server's chain during a handshake, with this object's DANE state. */
    X509_STORE_CTX_set_default(x, "ssl_server");
    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(x), SSL_get0_param(v));
    X509_STORE_CTX_set0_dane(x, SSL_get0_dane(v));
    if (X509_verify_cert(x) == 1 && SSL_get0_dane_authority(v, NULL, NULL) >= 0) {
        uint8_t usage = 0, sel = 0, mtype = 0;
        SSL_get0_dane_tlsa(v, &usage, &sel, &mtype, NULL, NULL);
        snprintf(why, whysize, "TLSA %u %u %u", usage, sel, mtype);
        rc = 1;
    } else {
        const int e = X509_STORE_CTX_get_error(x);
        snprintf(why, whysize, "%s",
                 e == X509_V_OK ? "no TLSA record matched" : X509_verify_cert_error_string(e));
    }
done:
    X509_STORE_CTX_free(x);
    SSL_free(v);
    X509_free(cert);
    ERR_clear_error();
    return rc;
}

/* After a mismatch: the stream starts again on the next address, as after a refused connection
 * (RFC 7673 3.4: the next target). Outside the parser, so the old socket can go. */
static void wb_s2s_dane_next(wb_s2s_conn *c)
{
    if (c->bev)
        bufferevent_free(c->bev); /* with the TLS filter: also its SSL and the socket */
    else if (c->ssl)
        SSL_free(c->ssl);
    c->bev = NULL;
    c->ssl = NULL;
    c->tls_on = c->header_sent = c->want_tls = c->want_restart = false;
    c->sasl_tried = c->sasl_done = c->bidi = false;
    c->auth = NULL;
    c->stream_id[0] = '\0';
    c->n_pairs = 0;
    c->dane.checked = c->dane.ok = false;
    if (wb_xml_stream_reset(c->xs) < 0) {
        wb_s2s_out_fail(c, WB_S2S_INTERNAL, "out of memory");
        return;
    }
    wb_s2s_out_connect_failed(c, c->dane.why);
}

static void wb_s2s_dane_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_worker *w = arg;
    wb_s2s_worker *ws = wb_s2s_ws(w);
    uint64_t ids[sizeof(ws->dane_retry) / sizeof(ws->dane_retry[0])];
    const int n = ws->n_dane_retry;
    memcpy(ids, ws->dane_retry, sizeof(ids));
    ws->n_dane_retry = 0;
    for (int i = 0; i < n; i++) {
        wb_s2s_conn *c = wb_s2s_conn_find(w, ids[i]);
        if (c && c->dir != WB_S2S_IN && !c->closing && c->state != WB_S2S_READY)
            wb_s2s_dane_next(c);
    }
}

/* Schedules wb_s2s_dane_next for c on the worker's loop; false when that is not possible. */
static bool wb_s2s_dane_defer(wb_s2s_conn *c)
{
    wb_s2s_worker *ws = wb_s2s_ws(c->w);
    const int max = (int)(sizeof(ws->dane_retry) / sizeof(ws->dane_retry[0]));
    if (!ws->dane_ev)
        ws->dane_ev = event_new(c->w->base, -1, 0, wb_s2s_dane_retry_cb, c->w);
    if (!ws->dane_ev || ws->n_dane_retry >= max || !c->bev)
        return false;
    ws->dane_retry[ws->n_dane_retry++] = c->id;
    bufferevent_disable(c->bev, EV_READ);
    event_active(ws->dane_ev, EV_TIMEOUT, 1);
    return true;
}

void wb_s2s_dane_worker_free(wb_s2s_worker *ws)
{
    if (ws->dane_ev)
        event_free(ws->dane_ev);
    ws->dane_ev = NULL;
    ws->n_dane_retry = 0;
}

bool wb_s2s_dane_verify(wb_s2s_conn *c)
{
    wb_s2s_dane *d = &c->dane;
    const int a = c->next_addr - 1;
    if (d->checked || c->dir == WB_S2S_IN || d->n_rr == 0 || a < 0 || a >= c->n_addrs)
        return true;
    d->checked = true;
    const int t = d->addr_target[a];
    if (t < 0 || t >= c->n_targets)
        return true;
    char why[160], port[8];
    snprintf(port, sizeof(port), "%d", c->target_port[t]);
    const int rc = wb_s2s_dane_check_cert(wb_s2s_of(c->w), c->tls_on ? c->ssl : NULL, d, t,
                                          c->targets[t], c->remote, why, sizeof(why));
    if (rc == 0)
        return true; /* RFC 7671 4.1: no usable records, so the usual rules apply */
    if (rc > 0) {
        d->ok = true;
        wb_info("s2s %llu: DANE: the certificate of %s (%s) matches %s of _%s._tcp.%s",
                (unsigned long long)c->id, c->remote, c->peer, why, port, c->targets[t]);
        return true;
    }
    char *reason = d->why;
    snprintf(reason, sizeof(d->why),
             "DANE mismatch: the certificate of %.150s (%s) matches no TLSA "
             "record of _%s._tcp.%.150s: %.100s",
             c->remote, c->peer, port, c->targets[t], why);
    wb_warn("s2s %llu: %s%s", (unsigned long long)c->id, reason,
            c->next_addr < c->n_addrs ? "; trying the next address" : "");
    if (c->next_addr < c->n_addrs && wb_s2s_dane_defer(c)) {
        if (c->dir == WB_S2S_OUT)
            wb_s2s_audit(c, c->remote, c->local, false, reason);
        return false;
    }
    wb_s2s_out_fail(c, WB_S2S_NOT_FOUND, reason);
    return false;
}

const char *wb_s2s_dane_auth(const wb_s2s_conn *c, const char *mechanism)
{
    if (!c->dane.ok)
        return mechanism;
    return strcmp(mechanism, "EXTERNAL") == 0 ? "DANE+EXTERNAL" : "DANE+dialback";
}
