/* wb_tls: builds one SSL_CTX per virtual host (TLS 1.2+, certificate chain and key checked),
 * picks the host's context by SNI, answers ALPN for direct TLS (XEP-0368), and extracts
 * channel-binding data for SCRAM-PLUS. */
#include "wb_tls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct wb_tls {
    int refs;      /* atomic */
    int ex_direct; /* SSL ex_data index: set on direct-TLS connections */
    size_t n, cap;
    char **domains;
    SSL_CTX **ctx;
};

static const unsigned char wb_alpn_client[] = "\x0bxmpp-client";

/* OpenSSL's ex_data indices are process-wide: take one once, not one per reload. */
static pthread_once_t wb_tls_once = PTHREAD_ONCE_INIT;
static int wb_tls_ex_direct = -1;

static void wb_tls_init_index(void)
{
    wb_tls_ex_direct = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int wb_tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    const wb_tls *t = arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, wb_alpn_client, sizeof(wb_alpn_client) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        /* On a direct TLS port a client asking for another protocol is refused (XEP-0368). */
        return SSL_get_ex_data(ssl, t->ex_direct) ? SSL_TLSEXT_ERR_ALERT_FATAL
                                                  : SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int wb_tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    wb_tls *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < t->n; i++) {
        if (strcasecmp(name, t->domains[i]) == 0) {
            if (SSL_get_SSL_CTX(ssl) != t->ctx[i])
                SSL_set_SSL_CTX(ssl, t->ctx[i]);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_OK; /* unknown name: keep the default; the stream header decides */
}

static void wb_tls_errstr(char *err, size_t errsize, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char reason[160] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    snprintf(err, errsize, "%s %s: %s", what, file, reason);
    ERR_clear_error();
}

static SSL_CTX *wb_tls_ctx_new(const wb_conf_host *h, wb_tls *t, char *err, size_t errsize)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        wb_tls_errstr(err, errsize, "cannot create TLS context for", h->domain);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (SSL_CTX_use_certificate_chain_file(ctx, h->cert) != 1) {
        wb_tls_errstr(err, errsize, "cannot load certificate", h->cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, h->key, SSL_FILETYPE_PEM) != 1) {
        wb_tls_errstr(err, errsize, "cannot load key", h->key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        wb_tls_errstr(err, errsize, "key does not match certificate", h->cert);
        goto fail;
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, wb_tls_sni_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    SSL_CTX_set_alpn_select_cb(ctx, wb_tls_alpn_cb, t);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

wb_tls *wb_tls_load(const wb_config *cfg, char *err, size_t errsize)
{
    wb_tls *t = calloc(1, sizeof(*t));
    if (!t)
        goto oom;
    t->refs = 1;
    t->cap = cfg->n_hosts;
    pthread_once(&wb_tls_once, wb_tls_init_index);
    t->ex_direct = wb_tls_ex_direct;
    t->domains = calloc(cfg->n_hosts, sizeof(*t->domains));
    t->ctx = calloc(cfg->n_hosts, sizeof(*t->ctx));
    if (!t->domains || !t->ctx)
        goto oom;
    for (size_t i = 0; i < cfg->n_hosts; i++) {
        t->ctx[i] = wb_tls_ctx_new(&cfg->hosts[i], t, err, errsize);
        if (!t->ctx[i])
            goto fail;
        t->domains[i] = strdup(cfg->hosts[i].domain);
        if (!t->domains[i])
            goto oom;
        t->n = i + 1;
    }
    return t;
oom:
    snprintf(err, errsize, "out of memory");
fail:
    wb_tls_unref(t);
    return NULL;
}

wb_tls *wb_tls_ref(wb_tls *t)
{
    __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

void wb_tls_unref(wb_tls *t)
{
    if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->ctx)
            SSL_CTX_free(t->ctx[i]);
        if (t->domains)
            free(t->domains[i]);
    }
    free(t->domains);
    free(t->ctx);
    free(t);
}

SSL *wb_tls_new_ssl(wb_tls *t, const char *domain, int direct)
{
    SSL_CTX *ctx = t->ctx[0];
    for (size_t i = 0; domain && i < t->n; i++)
        if (strcasecmp(domain, t->domains[i]) == 0)
            ctx = t->ctx[i];
    SSL *ssl = SSL_new(ctx);
    if (ssl && direct)
        SSL_set_ex_data(ssl, t->ex_direct, (void *)1);
    return ssl;
}

int wb_tls_has_exporter(SSL *ssl)
{
    return SSL_version(ssl) >= TLS1_3_VERSION || SSL_get_extms_support(ssl) == 1;
}

static int wb_tls_end_point(SSL *ssl, uint8_t *out, size_t size)
{
    X509 *cert = SSL_get_certificate(ssl);
    if (!cert)
        return -1;
    int md_nid = NID_undef, pk_nid;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pk_nid))
        return -1;
    /* RFC 5929 4.1: MD5 and SHA-1 are replaced by SHA-256. */
    const EVP_MD *md = (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_undef)
                           ? EVP_sha256()
                           : EVP_get_digestbynid(md_nid);
    unsigned int len = 0;
    if (!md || (size_t)EVP_MD_get_size(md) > size || X509_digest(cert, md, out, &len) != 1)
        return -1;
    return (int)len;
}

int wb_tls_channel_binding(SSL *ssl, const char *type, uint8_t *out, size_t size)
{
    if (strcmp(type, "tls-server-end-point") == 0)
        return wb_tls_end_point(ssl, out, size);
    if (strcmp(type, "tls-exporter") == 0 && wb_tls_has_exporter(ssl) && size >= 32) {
        static const char label[] = "EXPORTER-Channel-Binding";
        if (SSL_export_keying_material(ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) != 1)
            return -1;
        return 32;
    }
    return -1;
}
