/* wb_s2s_in: an inbound s2s stream: header checks, STARTTLS, dialback (db:result answered after
 * a verify connection, db:verify answered from our secret), then stanzas whose addresses the
 * stream authenticated, into the model and the router. Not for outbound streams (wb_s2s_out.c). */
#include "wb_s2s_int.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wb_log.h"
#include "wb_ratelimit.h"
#include "wb_router.h"
#include "wb_xmpp_model.h"

/* XEP-0288 may be negotiated: switched on, after STARTTLS (when TLS is required), before any
 * domain is authenticated. */
static bool wb_s2s_in_bidi_allowed(const wb_s2s_conn *c)
{
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    return conf->bidi && (c->tls_on || !conf->require_tls) && !c->sasl_done && c->n_pairs == 0;
}

/* STARTTLS first; then EXTERNAL when the peer's certificate names the domain of its stream
 * header, and dialback unless policy wants a certificate from that domain. */
static void wb_s2s_in_features(wb_s2s_conn *c)
{
    const wb_s2s *s = wb_s2s_of(c->w);
    const wb_s2s_conf *conf = s->conf;
    const char *host = wb_s2s_host_of(c->w->srv, c->local);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<stream:features>");
    if (!c->tls_on)
        wb_buf_printf(&b, "<starttls xmlns='" WB_NS_S2S_TLS "'>%s</starttls>",
                      conf->require_tls ? "<required/>" : "");
    const char *why = c->tls_on && !c->sasl_done ? wb_s2s_cert_check(s, c->ssl, c->remote) : "";
    if (!why)
        wb_buf_puts(&b, "<mechanisms xmlns='" WB_NS_S2S_SASL "'><mechanism>EXTERNAL</mechanism>"
                        "</mechanisms>");
    else if (c->tls_on && !c->sasl_done)
        wb_debug("s2s %llu: no EXTERNAL for %s: %s", (unsigned long long)c->id,
                 c->remote[0] ? c->remote : c->peer, why);
    if ((c->tls_on || !conf->require_tls) && wb_s2s_conf_dialback(conf, host) && !c->sasl_done &&
        !wb_s2s_conf_cert_required(conf, host, c->remote))
        wb_buf_puts(&b, "<dialback xmlns='" WB_NS_DIALBACK_FEAT "'><errors/></dialback>");
    if (wb_s2s_in_bidi_allowed(c))
        wb_buf_puts(&b, "<bidi xmlns='" WB_NS_BIDI_FEAT "'/>");
    wb_buf_puts(&b, "</stream:features>");
    wb_s2s_conn_send(c, b.data, b.len);
    wb_buf_free(&b);
}

/* TLS 1.3 policy (s2s.require_tls13, require_tls13_for; local's host's own) for a stream from
 * remote (NULL when not known yet) to local: 0, or WB_SE_POLICY_VIOLATION after a log line and an
 * audit record. */
static int wb_s2s_in_tls13(wb_s2s_conn *c, const char *remote, const char *local)
{
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    const char *host = wb_s2s_host_of(c->w->srv, local);
    if (!wb_s2s_conf_tls13_required(conf, host, remote) ||
        (c->tls_on && c->ssl && SSL_version(c->ssl) >= TLS1_3_VERSION))
        return 0;
    const char *ver = c->tls_on && c->ssl ? SSL_get_version(c->ssl) : "no TLS";
    wb_info("s2s %llu: refused inbound stream from %s (%s): TLS 1.3 is required, it uses %s%s",
            (unsigned long long)c->id, remote ? remote : "?", c->peer, ver,
            wb_s2s_conf_whose(conf, host));
    wb_s2s_audit(c, remote ? remote : c->peer, c->local, false, "TLS 1.3 is required");
    return WB_SE_POLICY_VIOLATION;
}

int wb_s2s_in_open(wb_s2s_conn *c, const wb_stream_header *hdr)
{
    const wb_s2s_conf *conf = wb_s2s_of(c->w)->conf;
    char to[WB_S2S_DOMAIN_MAX], from[WB_S2S_DOMAIN_MAX];
    if (strcmp(hdr->name, "stream") != 0 || !hdr->ns || strcmp(hdr->ns, WB_NS_STREAMS) != 0 ||
        !hdr->default_ns || strcmp(hdr->default_ns, WB_NS_SERVER) != 0)
        return WB_SE_INVALID_NAMESPACE;
    if (!hdr->to || wb_jid_prep_domain(to, hdr->to, strlen(hdr->to)) < 0 ||
        wb_s2s_host_index(c->w->srv, to) < 0 || (c->local[0] && strcmp(c->local, to) != 0))
        return WB_SE_HOST_UNKNOWN;
    snprintf(c->local, sizeof(c->local), "%s", to);
    if (!hdr->version || strncmp(hdr->version, "1.", 2) != 0)
        return WB_SE_UNSUPPORTED_VERSION;
    if (hdr->from && wb_jid_prep_domain(from, hdr->from, strlen(hdr->from)) < 0)
        return WB_SE_INVALID_FROM;
    /* The policy of the host named by 'to': a host that does not federate refuses any stream. */
    const char *why =
        wb_s2s_conf_refuses(conf, wb_s2s_host_of(c->w->srv, to), hdr->from ? from : NULL);
    if (why) {
        wb_info("s2s %llu: refused inbound stream from %s (%s): %s", (unsigned long long)c->id,
                hdr->from ? from : "?", c->peer, why);
        wb_s2s_audit(c, hdr->from ? from : c->peer, to, false, why);
        return WB_SE_POLICY_VIOLATION;
    }
    if (hdr->from)
        snprintf(c->remote, sizeof(c->remote), "%s", from);
    if (c->tls_on && wb_s2s_in_tls13(c, c->remote[0] ? c->remote : NULL, c->local))
        return WB_SE_POLICY_VIOLATION;
    wb_s2s_conn_send_header(c);
    wb_s2s_in_features(c);
    return WB_XML_CONTINUE;
}

/* Whether this stream authenticated remote for local. */
static bool wb_s2s_in_authed(const wb_s2s_conn *c, const char *remote, const char *local)
{
    for (int i = 0; i < c->n_pairs; i++)
        if (strcmp(c->pairs[i].remote, remote) == 0 && strcmp(c->pairs[i].local, local) == 0)
            return true;
    return false;
}

static void wb_s2s_in_db_reply(wb_s2s_conn *c, const char *el, const char *remote,
                               const char *local, const char *id, const char *type)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<db:%s from='", el);
    wb_buf_xml_escape_str(&b, local);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, remote);
    if (id) {
        wb_buf_puts(&b, "' id='");
        wb_buf_xml_escape_str(&b, id);
    }
    if (strcmp(type, "error") == 0)
        wb_buf_printf(&b,
                      "' type='error'><error type='cancel'><remote-server-not-found "
                      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:%s>",
                      el);
    else
        wb_buf_printf(&b, "' type='%s'/>", type);
    wb_s2s_conn_send(c, b.data, b.len);
    wb_buf_free(&b);
}

/* Records that this stream authenticated remote for local; false when the stream closed. */
static bool wb_s2s_in_add_pair(wb_s2s_conn *c, const char *remote, const char *local,
                               const char *how)
{
    if (wb_s2s_in_authed(c, remote, local))
        return true;
    if (c->n_pairs == WB_S2S_MAX_PAIRS) {
        wb_s2s_conn_close(c, WB_SE_RESOURCE_CONSTRAINT, "Too many domains on one stream");
        return false;
    }
    wb_s2s_pair *p = &c->pairs[c->n_pairs++];
    snprintf(p->remote, sizeof(p->remote), "%s", remote);
    snprintf(p->local, sizeof(p->local), "%s", local);
    if (c->dir == WB_S2S_IN) { /* (an outbound stream keeps its own domains and mechanism) */
        snprintf(c->remote, sizeof(c->remote), "%s", remote);
        c->auth = how;
    }
    /* XEP-0288: we may now send from local to remote on this stream. */
    if (c->bidi && !wb_s2s_bidi_add(c, local, remote))
        wb_warn("s2s %llu: bidirectional %s -> %s not recorded: out of memory",
                (unsigned long long)c->id, local, remote);
    wb_info("s2s %llu: %s %s -> %s authenticated (%s, %s%s%s)", (unsigned long long)c->id,
            c->dir == WB_S2S_IN ? "inbound" : "reverse", remote, local, how, c->peer,
            c->bidi ? ", bidirectional" : "", c->direct_tls ? ", direct TLS" : "");
    wb_s2s_reg_update(c);
    wb_s2s_audit(c, remote, local, true, how);
    wb_s2s_conn_arm(c, wb_s2s_of(c->w)->conf->idle_timeout);
    return true;
}

void wb_s2s_in_verified(wb_s2s_conn *c, const char *remote, const char *local, int result)
{
    if (c->closing)
        return;
    if (result > 0 && !wb_s2s_in_add_pair(c, remote, local, "dialback"))
        return;
    wb_s2s_in_db_reply(c, "result", remote, local, NULL,
                       result > 0    ? "valid"
                       : result == 0 ? "invalid"
                                     : "error");
    if (result == 0) {
        wb_info("s2s %llu: inbound %s -> %s: dialback key not valid (%s)",
                (unsigned long long)c->id, remote, local, c->peer);
        wb_s2s_audit(c, remote, local, false, "dialback key not valid");
        wb_s2s_conn_close(c, WB_SE_NOT_AUTHORIZED, "Dialback key not valid");
    }
}

/* XEP-0288: the peer answers the db:result we sent on this bidi stream for c->rev_local. An
 * answer we did not ask for is ignored (XEP-0288 4: it proves nothing). */
static void wb_s2s_in_rev_answer(wb_s2s_conn *c, const wb_stanza *st)
{
    char remote[WB_S2S_DOMAIN_MAX], local[WB_S2S_DOMAIN_MAX];
    const char *from = wb_st_attr(st, 0, "from"), *to = wb_st_attr(st, 0, "to");
    const char *type = wb_st_attr(st, 0, "type");
    if (c->dir != WB_S2S_IN || !c->bidi || !c->rev_local[0] ||
        strcmp(wb_st_name(st, 0), "result") != 0 || !from || !to ||
        wb_jid_prep_domain(remote, from, strlen(from)) < 0 ||
        wb_jid_prep_domain(local, to, strlen(to)) < 0 || strcmp(local, c->rev_local) != 0)
        return;
    bool known = false; /* we asked a domain this stream authenticated */
    for (int i = 0; i < c->n_pairs; i++)
        known |= strcmp(c->pairs[i].remote, remote) == 0;
    if (!known)
        return;
    const bool valid = strcmp(type, "valid") == 0;
    if (valid && !wb_s2s_in_add_pair(c, remote, local, "dialback"))
        return;
    wb_s2s_bidi_flush(c, valid);
}

/* Reads db:result/db:verify from/to; 0, or a stream error. */
static int wb_s2s_in_db_addrs(wb_s2s_conn *c, const wb_stanza *st, char *remote, char *local)
{
    const char *from = wb_st_attr(st, 0, "from"), *to = wb_st_attr(st, 0, "to");
    if (!from || !to || wb_jid_prep_domain(remote, from, strlen(from)) < 0)
        return WB_SE_INVALID_FROM;
    if (wb_jid_prep_domain(local, to, strlen(to)) < 0 || wb_s2s_host_index(c->w->srv, local) < 0)
        return WB_SE_HOST_UNKNOWN;
    if (wb_s2s_host_index(c->w->srv, remote) >= 0)
        return WB_SE_INVALID_FROM;
    return 0;
}

int wb_s2s_in_dialback(wb_s2s_conn *c, const wb_stanza *st)
{
    const wb_s2s *s = wb_s2s_of(c->w);
    char remote[WB_S2S_DOMAIN_MAX], local[WB_S2S_DOMAIN_MAX];
    const char *name = wb_st_name(st, 0);
    if (wb_st_attr(st, 0, "type")) {
        wb_s2s_in_rev_answer(c, st);
        return WB_XML_CONTINUE; /* other answers belong on outbound streams; ignore */
    }
    int rc = wb_s2s_in_db_addrs(c, st, remote, local);
    if (rc)
        return rc;
    /* XEP-0288: on our bidirectional stream the peer may ask only for the domain we sent as. */
    if (c->dir != WB_S2S_IN && strcmp(local, c->local) != 0)
        return WB_SE_HOST_UNKNOWN;
    size_t klen;
    const char *key = wb_st_text(st, 0, &klen);
    if (strcmp(name, "verify") == 0) {
        const char *id = wb_st_attr(st, 0, "id");
        bool ok = id && wb_s2s_key_ok(s, remote, local, id, key, klen);
        wb_debug("s2s %llu: db:verify from %s for %s: %s", (unsigned long long)c->id, remote, local,
                 ok ? "valid" : "invalid");
        wb_s2s_in_db_reply(c, "verify", remote, local, id ? id : "", ok ? "valid" : "invalid");
        return WB_XML_CONTINUE;
    }
    if (strcmp(name, "result") != 0)
        return WB_SE_UNSUPPORTED_STANZA_TYPE;
    if (!c->tls_on && s->conf->require_tls)
        return WB_SE_POLICY_VIOLATION;
    if (wb_s2s_in_tls13(c, remote, local))
        return WB_SE_POLICY_VIOLATION;
    const char *host = wb_s2s_host_of(c->w->srv, local);
    if (!wb_s2s_conf_dialback(s->conf, host)) {
        wb_info("s2s %llu: refused dialback from %s: dialback is disabled for %s",
                (unsigned long long)c->id, remote, local);
        wb_s2s_audit(c, remote, local, false, "dialback is disabled");
        return WB_SE_NOT_AUTHORIZED;
    }
    const char *why = wb_s2s_conf_refuses(s->conf, host, remote);
    if (why) {
        wb_info("s2s %llu: refused dialback from %s (%s): %s", (unsigned long long)c->id, remote,
                c->peer, why);
        wb_s2s_audit(c, remote, local, false, why);
        return WB_SE_POLICY_VIOLATION;
    }
    if (wb_s2s_conf_cert_required(s->conf, host, remote)) {
        wb_info("s2s %llu: refused dialback from %s (%s): a valid certificate is required%s",
                (unsigned long long)c->id, remote, c->peer, wb_s2s_conf_whose(s->conf, host));
        wb_s2s_audit(c, remote, local, false, "a valid certificate is required");
        return WB_SE_NOT_AUTHORIZED;
    }
    if (klen == 0 || klen >= sizeof(c->key))
        return WB_SE_NOT_AUTHORIZED;
    int pending = 0;
    for (const wb_s2s_conn *v = wb_s2s_ws(c->w)->conns; v; v = v->next)
        pending += v->dir == WB_S2S_VERIFY && v->verify_for == c->id;
    if (pending >= WB_S2S_MAX_VERIFY)
        return WB_SE_POLICY_VIOLATION; /* a flood of dialback requests */
    wb_s2s_verify_start(c, remote, local, key);
    return WB_XML_CONTINUE;
}

/* The type attribute of a stanza of this kind; -1 if not one of its types. */
static int wb_s2s_in_type(wb_msg_kind kind, const char *attr, wb_msg_type *out)
{
    static const wb_msg_type first[] = {WB_MT_NORMAL, WB_PT_AVAILABLE, WB_IT_GET};
    static const wb_msg_type last[] = {WB_MT_HEADLINE, WB_PT_PROBE, WB_IT_RESULT};
    if (!attr) {
        *out = first[kind];
        return kind == WB_MSG_IQ ? -1 : 0;
    }
    if (kind == WB_MSG_MESSAGE && strcmp(attr, "normal") == 0) {
        *out = WB_MT_NORMAL;
        return 0;
    }
    if (strcmp(attr, "error") == 0) {
        *out = WB_T_ERROR;
        return 0;
    }
    for (int t = (int)first[kind]; t <= (int)last[kind]; t++) {
        const char *n = wb_msg_type_name((wb_msg_type)t);
        if (*n && strcmp(n, attr) == 0) {
            *out = (wb_msg_type)t;
            return 0;
        }
    }
    return -1;
}

wb_msg *wb_s2s_stanza_msg(const wb_stanza *st, wb_msg_kind kind, const wb_jid *from,
                          const wb_jid *to, wb_stanza_err *err)
{
    wb_msg *m = wb_msg_new(kind, WB_MT_NORMAL);
    size_t len;
    const char *raw = wb_st_raw(st, &len);
    wb_buf b;
    wb_buf_init(&b);
    *err = WB_STE_INTERNAL_SERVER_ERROR;
    if (!m || wb_xml_with_default_ns(raw, len, WB_NS_CLIENT, &b) < 0 || b.failed)
        goto fail;
    m->from = *from;
    m->to = *to;
    m->has_from = m->has_to = true;
    const char *id = wb_st_attr(st, 0, "id");
    if (id && !(m->id = strdup(id)))
        goto fail;
    if (!(m->xml = wb_stanza_parse(b.data, b.len)))
        goto fail;
    m->bytes = wb_buf_steal(&b, &m->bytes_len);
    *err = WB_STE_BAD_REQUEST;
    if (wb_s2s_in_type(kind, wb_st_attr(st, 0, "type"), &m->type) < 0) {
        m->type = kind == WB_MSG_IQ ? WB_IT_GET : m->type;
        return m; /* answerable: the caller sends bad-request */
    }
    *err = WB_STE_COUNT;
    return m;
fail:
    wb_buf_free(&b);
    if (m)
        wb_msg_unref(m);
    return NULL;
}

int wb_s2s_in_route(wb_s2s_conn *c, wb_stanza *st, wb_msg_kind kind)
{
    const char *from = wb_st_attr(st, 0, "from"), *to = wb_st_attr(st, 0, "to");
    wb_jid jf, jt;
    if (!from || !to)
        return WB_SE_IMPROPER_ADDRESSING;
    if (wb_jid_parse(&jf, from, strlen(from)) < 0)
        return WB_SE_INVALID_FROM;
    if (wb_jid_parse(&jt, to, strlen(to)) < 0)
        return WB_SE_IMPROPER_ADDRESSING;
    if (wb_s2s_host_index(c->w->srv, jt.domain) < 0)
        return WB_SE_HOST_UNKNOWN;
    if (!wb_s2s_in_authed(c, jf.domain, jt.domain)) {
        wb_info("s2s %llu: stanza from %s to %s on a stream that did not authenticate it (%s)",
                (unsigned long long)c->id, jf.domain, jt.domain, c->peer);
        return WB_SE_INVALID_FROM;
    }
    wb_stanza_err err;
    wb_msg *m = wb_s2s_stanza_msg(st, kind, &jf, &jt, &err);
    wb_s2s_reg_count(c, false);
    wb_debug("s2s %llu: %s from %s for %s%s", (unsigned long long)c->id, wb_msg_kind_name(kind),
             jf.domain, jt.domain, m ? "" : " dropped: cannot convert");
    if (!m)
        return WB_XML_CONTINUE;
    if (kind == WB_MSG_IQ && err == WB_STE_COUNT && !m->id)
        err = WB_STE_BAD_REQUEST;
    if (err == WB_STE_COUNT && !wb_ratelimit_take(wb_s2s_of(c->w)->stanza_rl, jf.domain)) {
        wb_debug("s2s %llu: %s is over its stanza rate", (unsigned long long)c->id, jf.domain);
        err = WB_STE_RESOURCE_CONSTRAINT;
    }
    if (err != WB_STE_COUNT) {
        wb_route_error(c->w, m, err, NULL);
        wb_msg_unref(m);
        return WB_XML_CONTINUE;
    }
    wb_route(c->w, m);
    return WB_XML_CONTINUE;
}

/* SASL EXTERNAL (XEP-0178): the authorization identity (or the stream's from) must be named by
 * the certificate, which must validate. */
static int wb_s2s_in_external(wb_s2s_conn *c, const wb_stanza *st)
{
    const wb_s2s *s = wb_s2s_of(c->w);
    const char *mech = wb_st_attr(st, 0, "mechanism");
    size_t len;
    const char *text = wb_st_text(st, 0, &len);
    char raw[WB_S2S_DOMAIN_MAX], id[WB_S2S_DOMAIN_MAX];
    size_t raw_len = 0;
    const char *why = NULL;
    if (strcmp(wb_st_name(st, 0), "auth") != 0 || !mech || strcmp(mech, "EXTERNAL") != 0 ||
        !c->tls_on || c->sasl_done)
        why = "not an EXTERNAL authentication after TLS";
    else if (len == 0 || (len == 1 && text[0] == '='))
        snprintf(id, sizeof(id), "%s", c->remote);
    else if (sodium_base642bin((unsigned char *)raw, sizeof(raw) - 1, text, len, NULL, &raw_len,
                               NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
             wb_jid_prep_domain(id, raw, raw_len) < 0)
        why = "bad authorization identity";
    if (!why && !id[0])
        why = "no identity";
    if (!why && wb_s2s_host_index(c->w->srv, id) >= 0)
        why = "the identity is one of our own domains";
    if (!why && wb_s2s_in_tls13(c, id, c->local))
        return WB_SE_POLICY_VIOLATION;
    if (!why)
        why = wb_s2s_conf_refuses(s->conf, wb_s2s_host_of(c->w->srv, c->local), id);
    if (!why)
        why = wb_s2s_cert_check(s, c->ssl, id);
    if (why) {
        wb_info("s2s %llu: EXTERNAL from %s refused: %s", (unsigned long long)c->id, c->peer, why);
        wb_s2s_audit(c, c->remote, c->local, false, why);
        wb_s2s_conn_send_str(c, "<failure xmlns='" WB_NS_S2S_SASL "'><not-authorized/></failure>");
        return WB_XML_CONTINUE;
    }
    if (!wb_s2s_in_add_pair(c, id, c->local, "EXTERNAL"))
        return WB_XML_STOP;
    c->sasl_done = true;
    wb_s2s_conn_send_str(c, "<success xmlns='" WB_NS_S2S_SASL "'/>");
    c->want_restart = true;
    return WB_XML_STOP;
}

int wb_s2s_in_stanza(wb_s2s_conn *c, wb_stanza *st)
{
    const char *ns = wb_st_ns(st, 0), *name = wb_st_name(st, 0);
    int rc = WB_SE_UNSUPPORTED_STANZA_TYPE;
    if (strcmp(ns, WB_NS_S2S_TLS) == 0 && strcmp(name, "starttls") == 0 && !c->tls_on) {
        wb_s2s_conn_send_str(c, "<proceed xmlns='" WB_NS_S2S_TLS "'/>");
        c->want_tls = true;
        rc = WB_XML_STOP;
    } else if (strcmp(ns, WB_NS_DIALBACK) == 0) {
        rc = wb_s2s_in_dialback(c, st);
    } else if (strcmp(ns, WB_NS_S2S_SASL) == 0) {
        rc = wb_s2s_in_external(c, st);
    } else if (strcmp(ns, WB_NS_BIDI) == 0 && strcmp(name, "bidi") == 0) {
        /* XEP-0288 has no answer; a request we did not offer is ignored. */
        c->bidi = c->bidi || wb_s2s_in_bidi_allowed(c);
        wb_debug("s2s %llu: bidirectional stream requested%s", (unsigned long long)c->id,
                 c->bidi ? "" : " (refused)");
        rc = WB_XML_CONTINUE;
    } else if (strcmp(ns, WB_NS_SERVER) == 0) {
        static const char *const kinds[] = {"message", "presence", "iq"};
        for (int k = 0; k < 3; k++)
            if (strcmp(name, kinds[k]) == 0)
                rc = wb_s2s_in_route(c, st, (wb_msg_kind)k);
    }
    wb_stanza_free(st);
    return rc;
}
