/* SASL for client streams (RFC 6120 section 6): which mechanisms are offered, the <auth>,
 * <challenge>/<response>, <success>/<failure> framing, credential lookup, channel binding and
 * failed-login limits. The SCRAM arithmetic itself is in protocol/xmpp/wb_scram.c. */
#include "wb_c2s_int.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wb_audit.h"
#include "wb_log.h"
#include "wb_metrics.h"

typedef struct wb_sasl_mech {
    const char *name;
    int scram; /* 0 = PLAIN */
    wb_scram_hash hash;
    bool plus;
} wb_sasl_mech;

static const wb_sasl_mech wb_mechs[] = {
    {"SCRAM-SHA-256-PLUS", 1, WB_SCRAM_SHA256, true},
    {"SCRAM-SHA-256", 1, WB_SCRAM_SHA256, false},
    {"SCRAM-SHA-1-PLUS", 1, WB_SCRAM_SHA1, true},
    {"SCRAM-SHA-1", 1, WB_SCRAM_SHA1, false},
    {"PLAIN", 0, WB_SCRAM_SHA256, false},
};
#define WB_N_MECHS      (sizeof(wb_mechs) / sizeof(wb_mechs[0]))
#define WB_SASL_MAX_MSG 4096

static const wb_sasl_mech *wb_sasl_find(const char *name)
{
    for (size_t i = 0; i < WB_N_MECHS; i++)
        if (strcmp(wb_mechs[i].name, name) == 0)
            return &wb_mechs[i];
    return NULL;
}

/* PLAIN and -PLUS need TLS; the configuration may switch any mechanism off. */
static bool wb_sasl_offered(const wb_c2s *c, const wb_sasl_mech *m)
{
    const wb_config *cfg = c->w->srv->cfg;
    if ((m->plus || !m->scram || cfg->require_starttls) && !c->tls_on)
        return false;
    for (size_t i = 0; i < cfg->n_mechanisms; i++)
        if (strcmp(cfg->mechanisms[i], m->name) == 0)
            return true;
    return false;
}

static bool wb_sasl_plus_offered(const wb_c2s *c)
{
    for (size_t i = 0; i < WB_N_MECHS; i++)
        if (wb_mechs[i].plus && wb_sasl_offered(c, &wb_mechs[i]))
            return true;
    return false;
}

void wb_c2s_sasl_write_mechanisms(wb_c2s *c, wb_buf *b)
{
    const wb_config *cfg = c->w->srv->cfg;
    wb_buf_puts(b, "<mechanisms xmlns='" WB_NS_SASL "'>");
    for (size_t i = 0; i < cfg->n_mechanisms; i++) {
        const wb_sasl_mech *m = wb_sasl_find(cfg->mechanisms[i]);
        if (m && wb_sasl_offered(c, m))
            wb_buf_printf(b, "<mechanism>%s</mechanism>", m->name);
    }
    wb_buf_puts(b, "</mechanisms>");
    if (c->tls_on && wb_sasl_plus_offered(c)) {
        /* XEP-0440: the channel-binding types this connection supports. */
        wb_buf_puts(b, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>"
                       "<channel-binding type='tls-server-end-point'/>");
        if (wb_tls_has_exporter(c->ssl))
            wb_buf_puts(b, "<channel-binding type='tls-exporter'/>");
        wb_buf_puts(b, "</sasl-channel-binding>");
    }
}

void wb_c2s_sasl_free(wb_c2s *c)
{
    wb_c2s_sasl *s = c->sasl;
    if (!s)
        return;
    if (s->req)
        wb_store_req_cancel(s->req);
    if (s->scram)
        wb_scram_server_free(s->scram);
    if (s->plain_password) {
        sodium_memzero(s->plain_password, strlen(s->plain_password));
        free(s->plain_password);
    }
    free(s);
    c->sasl = NULL;
}

static void wb_sasl_account_key(const wb_c2s *c, const char *user, char *key, size_t size)
{
    snprintf(key, size, "acct:%s@%s", user, c->domain);
}

/* One audit record per login outcome: the account tried, the address, the mechanism and, on
 * failure, the SASL condition. Never the password. */
static void wb_sasl_audit(const wb_c2s *c, bool ok, const char *cond)
{
    char jid[WB_JID_PART_MAX * 2 + 2], actor[sizeof(jid) + 8], reason[64];
    const bool named = c->sasl != NULL && c->sasl->user[0] != '\0';
    snprintf(jid, sizeof(jid), "%s@%s", named ? c->sasl->user : "", c->domain);
    snprintf(actor, sizeof(actor), "%s%s", named ? "user:" : "unknown", named ? jid : "");
    snprintf(reason, sizeof(reason), "%s%s%s", c->sasl ? wb_mechs[c->sasl->mech].name : "",
             c->sasl && cond ? ": " : "", cond ? cond : "");
    const wb_audit_event ev = {.actor = actor,
                               .action = "login",
                               .target = named ? jid : NULL,
                               .source = c->peer,
                               .ok = ok,
                               .reason = reason};
    wb_audit_record(c->w->srv->audit, &ev);
    wb_metrics_inc(ok ? WB_METRIC_LOGINS : WB_METRIC_LOGIN_FAILURES);
}

/* Fails the exchange. Only a wrong password (or a disabled account) counts towards the
 * failed-login limits: protocol mistakes test no password. */
static int wb_sasl_fail_ex(wb_c2s *c, wb_sasl_err e, const char *text, bool counts)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<failure xmlns='" WB_NS_SASL "'><%s/>", wb_sasl_err_name(e));
    if (text) {
        wb_buf_puts(&b, "<text>");
        wb_buf_xml_escape_str(&b, text);
        wb_buf_puts(&b, "</text>");
    }
    wb_buf_puts(&b, "</failure>");
    wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
    if (counts) {
        char key[WB_JID_PART_MAX * 2 + 16];
        wb_ratelimit_fail(c->w->srv->auth_limit, c->peer);
        /* Unknown names are not counted: that would only fill the table with guesses. */
        if (c->sasl && c->sasl->user[0] && c->sasl->exists) {
            wb_sasl_account_key(c, c->sasl->user, key, sizeof(key));
            wb_ratelimit_fail(c->w->srv->auth_limit, key);
        }
        wb_info("c2s %llu: authentication failed for %s@%s from %s (%s)", (unsigned long long)c->id,
                c->sasl ? c->sasl->user : "?", c->domain, c->peer, wb_sasl_err_name(e));
    } else
        wb_debug("c2s %llu: SASL failure %s", (unsigned long long)c->id, wb_sasl_err_name(e));
    wb_sasl_audit(c, false, wb_sasl_err_name(e));
    wb_c2s_sasl_free(c);
    return WB_XML_CONTINUE;
}

static int wb_sasl_fail(wb_c2s *c, wb_sasl_err e, const char *text)
{
    return wb_sasl_fail_ex(c, e, text, false);
}

static int wb_sasl_send_b64(wb_c2s *c, const char *elem, const char *data, size_t len)
{
    size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    if (!b64)
        return -1;
    sodium_bin2base64(b64, b64len, (const unsigned char *)data, len,
                      sodium_base64_VARIANT_ORIGINAL);
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b, "<%s xmlns='" WB_NS_SASL "'>%s</%s>", elem, len ? b64 : "=", elem);
    wb_c2s_send(c, b.data, b.len);
    wb_buf_free(&b);
    free(b64);
    return 0;
}

/* Decodes the base64 text of a SASL element ("=" is an empty message). */
static int wb_sasl_decode(const wb_stanza *st, char *out, size_t size, size_t *outlen)
{
    size_t len;
    const char *t = wb_st_text(st, 0, &len);
    *outlen = 0;
    if (len == 1 && t[0] == '=')
        return 0;
    if (sodium_base642bin((unsigned char *)out, size - 1, t, len, " \t\r\n", outlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    out[*outlen] = '\0';
    return 0;
}

static int wb_sasl_success(wb_c2s *c, const char *extra, size_t len)
{
    snprintf(c->node, sizeof(c->node), "%s", c->sasl->user);
    wb_info("c2s %llu: %s@%s authenticated from %s with %s", (unsigned long long)c->id, c->node,
            c->domain, c->peer, wb_mechs[c->sasl->mech].name);
    wb_sasl_audit(c, true, NULL);
    wb_sasl_send_b64(c, "success", extra, len);
    c->authed = true;
    wb_c2s_sasl_free(c);
    wb_c2s_restart_stream(c);
    return c->pending ? WB_XML_STOP : WB_XML_CONTINUE;
}

static void wb_sasl_plain_done(wb_c2s *c, const wb_account_auth *a)
{
    const wb_scram_cred *cred = a ? &a->scram[WB_SCRAM_SHA256] : NULL;
    if (!cred || cred->iterations == 0 ||
        !wb_scram_cred_check(WB_SCRAM_SHA256, cred, c->sasl->plain_password)) {
        wb_sasl_fail_ex(c, WB_SASL_NOT_AUTHORIZED, NULL, true);
        return;
    }
    if (a->disabled) {
        wb_sasl_fail_ex(c, WB_SASL_ACCOUNT_DISABLED, NULL, true);
        return;
    }
    wb_sasl_success(c, NULL, 0);
}

static void wb_sasl_scram_first(wb_c2s *c, const wb_account_auth *a)
{
    wb_c2s_sasl *s = c->sasl;
    wb_buf out;
    wb_buf_init(&out);
    const wb_scram_cred *cred = a ? &a->scram[wb_mechs[s->mech].hash] : NULL;
    if (cred && cred->iterations == 0)
        cred = NULL; /* no credential for this hash: fail like an unknown user */
    if (wb_scram_server_first(s->scram, cred, &out) < 0) {
        wb_buf_free(&out);
        wb_sasl_fail(c, WB_SASL_TEMPORARY_AUTH_FAILURE, NULL);
        return;
    }
    s->awaiting_response = true;
    s->disabled = a && a->disabled;
    wb_sasl_send_b64(c, "challenge", out.data, out.len);
    wb_buf_free(&out);
}

static void wb_sasl_lookup_cb(void *arg, wb_store_status status, const wb_account_auth *a)
{
    wb_c2s *c = arg;
    if (!c->sasl)
        return;
    c->sasl->req = NULL;
    c->sasl->lookup_done = true;
    if (c->closing) {
        wb_c2s_sasl_free(c);
        return;
    }
    if (status == WB_STORE_UNAVAILABLE) {
        wb_sasl_fail(c, WB_SASL_TEMPORARY_AUTH_FAILURE, "Storage unavailable; try again");
        return;
    }
    const wb_account_auth *found = status == WB_STORE_OK ? a : NULL;
    c->sasl->exists = found != NULL;
    if (wb_mechs[c->sasl->mech].scram)
        wb_sasl_scram_first(c, found);
    else
        wb_sasl_plain_done(c, found);
}

static int wb_sasl_lookup(wb_c2s *c)
{
    char key[WB_JID_PART_MAX * 2 + 16];
    wb_sasl_account_key(c, c->sasl->user, key, sizeof(key));
    if (wb_ratelimit_blocked(c->w->srv->auth_limit, key))
        return wb_sasl_fail(c, WB_SASL_TEMPORARY_AUTH_FAILURE,
                            "Too many failed attempts; try again later");
    wb_c2s_sasl *s = c->sasl;
    s->lookup_done = false;
    wb_store_req *req =
        wb_store_account_auth(wb_c2s_store(c), s->user, c->domain, wb_sasl_lookup_cb, c);
    /* The store may answer at once (while it is down); then the exchange has moved on. */
    if (c->sasl != s || s->lookup_done)
        return c->pending ? WB_XML_STOP : WB_XML_CONTINUE;
    if (!req)
        return wb_sasl_fail(c, WB_SASL_TEMPORARY_AUTH_FAILURE, NULL);
    s->req = req;
    return WB_XML_CONTINUE;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
static int wb_sasl_plain(wb_c2s *c, const char *msg, size_t len)
{
    const char *authcid = memchr(msg, '\0', len);
    const char *pass =
        authcid ? memchr(authcid + 1, '\0', len - (size_t)(authcid + 1 - msg)) : NULL;
    if (!pass)
        return wb_sasl_fail(c, WB_SASL_MALFORMED_REQUEST, NULL);
    authcid++;
    pass++;
    if (wb_jid_prep_node(c->sasl->user, authcid, (size_t)(pass - 1 - authcid)) < 0)
        return wb_sasl_fail(c, WB_SASL_NOT_AUTHORIZED, NULL);
    if (authcid - 1 > msg) {
        wb_jid z;
        if (wb_jid_parse(&z, msg, (size_t)(authcid - 1 - msg)) < 0 ||
            strcmp(z.node, c->sasl->user) != 0 || strcmp(z.domain, c->domain) != 0 || z.resource[0])
            return wb_sasl_fail(c, WB_SASL_INVALID_AUTHZID, NULL);
    }
    c->sasl->plain_password = strndup(pass, len - (size_t)(pass - msg));
    if (!c->sasl->plain_password)
        return wb_sasl_fail(c, WB_SASL_TEMPORARY_AUTH_FAILURE, NULL);
    return wb_sasl_lookup(c);
}

static bool wb_sasl_cb_supported(const char *type, size_t len)
{
    const char *end = memchr(type, ',', len);
    size_t n = end ? (size_t)(end - type) : len;
    return (n == 12 && memcmp(type, "tls-exporter", n) == 0) ||
           (n == 20 && memcmp(type, "tls-server-end-point", n) == 0);
}

static int wb_sasl_scram(wb_c2s *c, const char *msg, size_t len)
{
    wb_c2s_sasl *s = c->sasl;
    const wb_sasl_mech *m = &wb_mechs[s->mech];
    if (m->plus && len > 2 && memcmp(msg, "p=", 2) == 0 &&
        !wb_sasl_cb_supported(msg + 2, len - 2)) {
        /* After this, a client flag "y" is no downgrade: it knows we offer -PLUS but share no
         * channel-binding type with us (XEP-0440). */
        c->cb_type_refused = true;
        return wb_sasl_fail(c, WB_SASL_MALFORMED_REQUEST, "Unsupported channel binding type");
    }
    s->scram =
        wb_scram_server_new(m->hash, m->plus, wb_sasl_plus_offered(c) && !c->cb_type_refused);
    if (!s->scram)
        return wb_sasl_fail(c, WB_SASL_TEMPORARY_AUTH_FAILURE, NULL);
    wb_scram_server_set_fake_iterations(s->scram, c->w->srv->cfg->scram_iterations);
    const char *user;
    int rc = wb_scram_server_client_first(s->scram, msg, len, &user);
    if (rc > 0)
        return wb_sasl_fail(c, rc, NULL);
    const char *cbt = wb_scram_server_cb_type(s->scram);
    if (cbt && strcmp(cbt, "tls-exporter") == 0 && !wb_tls_has_exporter(c->ssl))
        return wb_sasl_fail(c, WB_SASL_NOT_AUTHORIZED, "Channel binding type not supported");
    if (wb_jid_prep_node(s->user, user, strlen(user)) < 0)
        return wb_sasl_fail(c, WB_SASL_NOT_AUTHORIZED, NULL);
    return wb_sasl_lookup(c);
}

int wb_c2s_sasl_auth(wb_c2s *c, const wb_stanza *st)
{
    wb_c2s_sasl_free(c); /* a new <auth> abandons an unfinished exchange */
    const char *name = wb_st_attr(st, 0, "mechanism");
    const wb_sasl_mech *m = name ? wb_sasl_find(name) : NULL;
    if (!m || !wb_sasl_offered(c, m))
        return wb_sasl_fail(
            c, (m && !c->tls_on) ? WB_SASL_ENCRYPTION_REQUIRED : WB_SASL_INVALID_MECHANISM, NULL);
    if (wb_ratelimit_blocked(c->w->srv->auth_limit, c->peer))
        return wb_sasl_fail(c, WB_SASL_TEMPORARY_AUTH_FAILURE,
                            "Too many failed attempts; try again later");
    c->sasl = calloc(1, sizeof(*c->sasl));
    if (!c->sasl)
        return WB_SE_INTERNAL_SERVER_ERROR;
    c->sasl->mech = (int)(m - wb_mechs);
    char msg[WB_SASL_MAX_MSG];
    size_t len;
    if (wb_sasl_decode(st, msg, sizeof(msg), &len) < 0)
        return wb_sasl_fail(c, WB_SASL_INCORRECT_ENCODING, NULL);
    if (len == 0) {
        /* No initial response: ask for it with an empty challenge (RFC 6120 6.4.2). */
        wb_sasl_send_b64(c, "challenge", "", 0);
        c->sasl->awaiting_response = true;
        return WB_XML_CONTINUE;
    }
    return m->scram ? wb_sasl_scram(c, msg, len) : wb_sasl_plain(c, msg, len);
}

static int wb_sasl_scram_final(wb_c2s *c, const char *msg, size_t len)
{
    wb_c2s_sasl *s = c->sasl;
    uint8_t cb[64];
    int cb_len = 0;
    const char *cbt = wb_scram_server_cb_type(s->scram);
    if (cbt && (cb_len = wb_tls_channel_binding(c->ssl, cbt, cb, sizeof(cb))) < 0)
        return wb_sasl_fail(c, WB_SASL_NOT_AUTHORIZED, "Channel binding unavailable");
    wb_buf out;
    wb_buf_init(&out);
    int rc = wb_scram_server_final(s->scram, msg, len, cbt ? cb : NULL, (size_t)cb_len, &out);
    if (rc == 0 && s->disabled) /* the password was right, but the account is disabled */
        rc = WB_SASL_ACCOUNT_DISABLED;
    if (rc != 0) {
        wb_buf_free(&out);
        return wb_sasl_fail_ex(c, rc, NULL,
                               rc == WB_SASL_NOT_AUTHORIZED || rc == WB_SASL_ACCOUNT_DISABLED);
    }
    rc = wb_sasl_success(c, out.data, out.len);
    wb_buf_free(&out);
    return rc;
}

int wb_c2s_sasl_response(wb_c2s *c, const wb_stanza *st)
{
    wb_c2s_sasl *s = c->sasl;
    if (!s || !s->awaiting_response)
        return wb_sasl_fail(c, WB_SASL_MALFORMED_REQUEST, "Unexpected response");
    char msg[WB_SASL_MAX_MSG];
    size_t len;
    if (wb_sasl_decode(st, msg, sizeof(msg), &len) < 0)
        return wb_sasl_fail(c, WB_SASL_INCORRECT_ENCODING, NULL);
    s->awaiting_response = false;
    if (!s->scram && wb_mechs[s->mech].scram)
        return wb_sasl_scram(c, msg, len); /* initial response after an empty challenge */
    if (!wb_mechs[s->mech].scram)
        return wb_sasl_plain(c, msg, len);
    return wb_sasl_scram_final(c, msg, len);
}

int wb_c2s_sasl_abort(wb_c2s *c)
{
    wb_c2s_sasl_free(c);
    wb_c2s_send_str(c, "<failure xmlns='" WB_NS_SASL "'><aborted/></failure>");
    return WB_XML_CONTINUE;
}
