/* wb_s2s_cert: certificates on s2s streams: the TLS client contexts that present each host's
 * certificate, and the check of a peer's certificate (chain against the system store plus
 * s2s.ca_file, then RFC 6125 / XEP-0178 names: XmppAddr, SRV-ID, DNS-ID). Not for c2s TLS. */
#include "wb_s2s_int.h"

#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "wb_log.h"

#define WB_OID_XMPPADDR "1.3.6.1.5.5.7.8.5"
#define WB_OID_SRVNAME  "1.3.6.1.5.5.7.8.7"

static SSL_CTX *wb_s2s_cert_client_ctx(const wb_conf_host *h, char *err, size_t errsize)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errsize, "cannot create the s2s TLS client context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    /* The peer's certificate is checked after the handshake (wb_s2s_cert_check), so that a
     * certificate that does not validate can still lead to dialback. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, h->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, h->key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errsize, "s2s: cannot load the certificate of %s", h->domain);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int wb_s2s_cert_init(wb_s2s *s, const wb_config *cfg, char *err, size_t errsize)
{
    s->store = X509_STORE_new();
    if (!s->store || X509_STORE_set_default_paths(s->store) != 1) {
        snprintf(err, errsize, "s2s: cannot load the system certificate store");
        return -1;
    }
    if (s->conf->ca_file && X509_STORE_load_file(s->store, s->conf->ca_file) != 1) {
        snprintf(err, errsize, "s2s: cannot load ca_file %s", s->conf->ca_file);
        ERR_clear_error();
        return -1;
    }
    s->n_client = cfg->n_hosts;
    s->client_ctx = calloc(cfg->n_hosts, sizeof(*s->client_ctx));
    if (!s->client_ctx) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_hosts; i++)
        if (!(s->client_ctx[i] = wb_s2s_cert_client_ctx(&cfg->hosts[i], err, errsize)))
            return -1;
    return wb_s2s_dane_init(s, err, errsize);
}

void wb_s2s_cert_free(wb_s2s *s)
{
    for (size_t i = 0; s->client_ctx && i < s->n_client; i++)
        SSL_CTX_free(s->client_ctx[i]);
    free(s->client_ctx);
    wb_s2s_dane_free(s);
    if (s->store)
        X509_STORE_free(s->store);
}

SSL *wb_s2s_cert_client_ssl(const wb_s2s *s, const char *local)
{
    const int i = wb_s2s_host_index(s->srv, local);
    return i >= 0 && (size_t)i < s->n_client ? SSL_new(s->client_ctx[i]) : NULL;
}

/* An otherName of the given OID naming domain (XmppAddr: the domain; SRV-ID: _xmpp-server.). */
static bool wb_s2s_cert_othername(const GENERAL_NAME *gn, const char *domain)
{
    char oid[64];
    if (gn->type != GEN_OTHERNAME || !gn->d.otherName->value)
        return false;
    OBJ_obj2txt(oid, sizeof(oid), gn->d.otherName->type_id, 1);
    const ASN1_TYPE *v = gn->d.otherName->value;
    const ASN1_STRING *str = NULL;
    const char *prefix = "";
    if (strcmp(oid, WB_OID_XMPPADDR) == 0 && v->type == V_ASN1_UTF8STRING)
        str = v->value.utf8string;
    else if (strcmp(oid, WB_OID_SRVNAME) == 0 && v->type == V_ASN1_IA5STRING) {
        str = v->value.ia5string;
        prefix = "_xmpp-server.";
    }
    if (!str)
        return false;
    size_t plen = strlen(prefix), dlen = strlen(domain), len = (size_t)ASN1_STRING_length(str);
    const char *p = (const char *)ASN1_STRING_get0_data(str);
    return len == plen + dlen && strncasecmp(p, prefix, plen) == 0 &&
           strncasecmp(p + plen, domain, dlen) == 0;
}

static bool wb_s2s_cert_names(X509 *cert, const char *domain)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !found; i++)
        found = wb_s2s_cert_othername(sk_GENERAL_NAME_value(names, i), domain);
    GENERAL_NAMES_free(names);
    return found || X509_check_host(cert, domain, 0, 0, NULL) == 1;
}

const char *wb_s2s_cert_check(const wb_s2s *s, SSL *ssl, const char *domain)
{
    if (!ssl)
        return "no TLS";
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return "no certificate";
    const char *why = NULL;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!ctx || X509_STORE_CTX_init(ctx, s->store, cert, SSL_get_peer_cert_chain(ssl)) != 1)
        why = "cannot verify";
    else if (X509_verify_cert(ctx) != 1)
        why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
    else if (!domain[0] || !wb_s2s_cert_names(cert, domain))
        why = "the certificate does not name the domain";
    X509_STORE_CTX_free(ctx);
    X509_free(cert);
    ERR_clear_error();
    return why;
}

static int wb_s2s_cert_accept(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1; /* judged after the handshake by wb_s2s_cert_check */
}

void wb_s2s_cert_ask_peer(SSL *ssl)
{
    SSL_set_verify(ssl, SSL_VERIFY_PEER, wb_s2s_cert_accept);
}
