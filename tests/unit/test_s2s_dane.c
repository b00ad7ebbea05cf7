/* Unit tests of DANE-TLSA for s2s (server/s2s/wb_s2s_dane.c): TLSA records kept from DNS answers,
 * certificates matched by usage (DANE-EE, DANE-TA, PKIX-EE) after a real in-memory TLS handshake,
 * and the s2s.dane / s2s.dnssec_trust_anchor settings. Not the DNS lookups (integration tests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "wb_config.h"
#include "wb_s2s_conf.h"
#include "wb_s2s_int.h"

/* A CA, a leaf for wb.test it signed, and a client SSL that completed a handshake with a server
 * presenting the leaf and the CA. */
typedef struct pki {
    EVP_PKEY *ca_key, *leaf_key, *other_key;
    X509 *ca, *leaf;
    SSL *client;
    wb_s2s s;
    wb_s2s_conn *c;
} pki;

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509V3_CTX v3;
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    char san[128];
    snprintf(san, sizeof(san), "DNS:%s", cn);
    const struct {
        int nid;
        const char *value;
    } exts[] = {
        {NID_basic_constraints, issuer ? "CA:FALSE" : "critical,CA:TRUE"},
        {NID_key_usage, issuer ? "critical,digitalSignature" : "critical,keyCertSign,cRLSign"},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
        {NID_subject_alt_name, san},
    };
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        if (!issuer && (exts[i].nid == NID_ext_key_usage || exts[i].nid == NID_subject_alt_name))
            continue;
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

/* The client end of a finished TLS handshake with a server presenting leaf (and ca). */
static SSL *handshake(X509 *leaf, EVP_PKEY *key, X509 *ca)
{
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    assert_true(sctx && cctx);
    assert_int_equal(SSL_CTX_use_certificate(sctx, leaf), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
    assert_int_equal(SSL_CTX_add1_chain_cert(sctx, ca), 1);
    SSL *srv = SSL_new(sctx), *cli = SSL_new(cctx);
    BIO *b1 = NULL, *b2 = NULL;
    assert_int_equal(BIO_new_bio_pair(&b1, 0, &b2, 0), 1);
    SSL_set_bio(srv, b1, b1);
    SSL_set_bio(cli, b2, b2);
    SSL_set_accept_state(srv);
    SSL_set_connect_state(cli);
    int done = 0;
    for (int i = 0; i < 20 && done != 2; i++)
        done = (SSL_do_handshake(cli) == 1) + (SSL_do_handshake(srv) == 1);
    assert_int_equal(done, 2);
    SSL_free(srv);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return cli;
}

static int setup(void **state)
{
    pki *p = calloc(1, sizeof(*p));
    char err[256];
    if (!p || !(p->c = calloc(1, sizeof(*p->c))))
        return -1;
    p->ca_key = EVP_EC_gen("P-256");
    p->leaf_key = EVP_EC_gen("P-256");
    p->other_key = EVP_EC_gen("P-256");
    p->ca = make_cert(p->ca_key, "wbtest DANE CA", NULL, NULL);
    p->leaf = make_cert(p->leaf_key, "wb.test", p->ca, p->ca_key);
    p->client = handshake(p->leaf, p->leaf_key, p->ca);
    p->s.store = X509_STORE_new(); /* trusts nothing: PKIX fails unless a test adds the CA */
    if (!p->s.store || wb_s2s_dane_init(&p->s, err, sizeof(err)) < 0)
        return -1;
    snprintf(p->c->targets[0], sizeof(p->c->targets[0]), "xmpp.wb.test");
    snprintf(p->c->targets[1], sizeof(p->c->targets[1]), "other.wb.test");
    p->c->n_targets = 2;
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    pki *p = *state;
    wb_s2s_dane_free(&p->s);
    X509_STORE_free(p->s.store);
    SSL_free(p->client);
    X509_free(p->ca);
    X509_free(p->leaf);
    EVP_PKEY_free(p->ca_key);
    EVP_PKEY_free(p->leaf_key);
    EVP_PKEY_free(p->other_key);
    free(p->c);
    free(p);
    return 0;
}

/* Adds a TLSA record "usage selector mtype" for target t over the key or certificate given, as
 * a DNS answer's rdata. */
static void add_tlsa(pki *p, int t, int usage, int selector, int mtype, EVP_PKEY *key, X509 *cert)
{
    unsigned char *der = NULL, rdata[3 + 512];
    const int n = selector == 1 ? i2d_PUBKEY(key, &der) : i2d_X509(cert, &der);
    assert_true(n > 0 && n <= 512);
    unsigned int len = (unsigned)n;
    rdata[0] = (unsigned char)usage;
    rdata[1] = (unsigned char)selector;
    rdata[2] = (unsigned char)mtype;
    if (mtype == 0)
        memcpy(rdata + 3, der, (size_t)n);
    else
        assert_int_equal(EVP_Digest(der, (size_t)n, rdata + 3, &len,
                                    mtype == 1 ? EVP_sha256() : EVP_sha512(), NULL),
                         1);
    OPENSSL_free(der);
    wb_s2s_dane_take(p->c, t, rdata, (int)(3 + len));
}

static int check(pki *p, int t, const char *domain, char *why)
{
    return wb_s2s_dane_check_cert(&p->s, p->client, &p->c->dane, t, p->c->targets[t], domain, why,
                                  160);
}

static void test_dane_ee_matches_the_key_whatever_its_names(void **state)
{
    pki *p = *state;
    char why[160];
    add_tlsa(p, 0, 3, 1, 1, p->leaf_key, NULL);
    assert_int_equal(check(p, 0, "wb.test", why), 1);
    assert_string_equal(why, "TLSA 3 1 1");
    /* RFC 7671 5.1: no name checks for DANE-EE. */
    assert_int_equal(check(p, 0, "elsewhere.test", why), 1);
}

static void test_dane_ee_refuses_another_key(void **state)
{
    pki *p = *state;
    char why[160];
    add_tlsa(p, 0, 3, 1, 1, p->other_key, NULL);
    add_tlsa(p, 0, 3, 0, 2, NULL, p->ca); /* the CA is not the end entity */
    assert_int_equal(check(p, 0, "wb.test", why), -1);
    assert_non_null(strstr(why, "DANE"));
}

static void test_dane_ta_checks_the_chain_and_the_names(void **state)
{
    pki *p = *state;
    char why[160];
    add_tlsa(p, 0, 2, 0, 1, NULL, p->ca);
    add_tlsa(p, 1, 2, 1, 0, p->ca_key, NULL); /* full SPKI of the CA */
    assert_int_equal(check(p, 0, "wb.test", why), 1);
    assert_string_equal(why, "TLSA 2 0 1");
    assert_int_equal(check(p, 1, "wb.test", why), 1);
    assert_string_equal(why, "TLSA 2 1 0");
    /* The leaf names wb.test, not the domain nor the SRV target. */
    assert_int_equal(check(p, 0, "other.test", why), -1);
}

static void test_pkix_ee_needs_a_trusted_chain(void **state)
{
    pki *p = *state;
    char why[160];
    add_tlsa(p, 0, 1, 1, 1, p->leaf_key, NULL);
    assert_int_equal(check(p, 0, "wb.test", why), -1);
    assert_int_equal(X509_STORE_add_cert(p->s.store, p->ca), 1);
    assert_int_equal(check(p, 0, "wb.test", why), 1);
    assert_string_equal(why, "TLSA 1 1 1");
}

static void test_unusable_or_missing_records_mean_no_dane(void **state)
{
    pki *p = *state;
    char why[160];
    assert_int_equal(check(p, 0, "wb.test", why), 0);
    add_tlsa(p, 0, 4, 1, 1, p->other_key, NULL); /* unknown usage */
    add_tlsa(p, 1, 3, 1, 1, p->other_key, NULL); /* another target's record */
    assert_int_equal(check(p, 0, "wb.test", why), 0);
    /* Usable records but no TLS at all: refused. */
    assert_int_equal(wb_s2s_dane_check_cert(&p->s, NULL, &p->c->dane, 1, "other.wb.test", "wb.test",
                                            why, sizeof(why)),
                     -1);
    assert_string_equal(why, "no TLS");
}

static void test_records_are_bounded(void **state)
{
    pki *p = *state;
    const unsigned char short_rr[3] = {3, 1, 1};
    wb_s2s_dane_take(p->c, 0, short_rr, 3);
    assert_int_equal(p->c->dane.n_rr, 0);
    for (int i = 0; i < WB_S2S_MAX_TLSA + 2; i++)
        add_tlsa(p, 0, 3, 1, 1, p->other_key, NULL);
    assert_int_equal(p->c->dane.n_rr, WB_S2S_MAX_TLSA);
    /* Whole certificates fill the data before the table. */
    memset(&p->c->dane, 0, sizeof(p->c->dane));
    for (int i = 0; i < WB_S2S_MAX_TLSA; i++)
        add_tlsa(p, 1, 2, 0, 0, NULL, p->ca);
    assert_true(p->c->dane.n_rr < WB_S2S_MAX_TLSA);
    assert_true(p->c->dane.used <= sizeof(p->c->dane.data));
    char why[160];
    assert_int_equal(check(p, 1, "wb.test", why), 1); /* what was kept still works */
}

/* Loads a configuration whose s2s group is s2s_text; NULL when it is refused. */
static wb_config *load(const char *dir, const char *s2s_text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/warbler.conf", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out,
            "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\"; } );\n"
            "s2s = { enabled = true; %s };\n",
            s2s_text);
    assert_int_equal(fclose(out), 0);
    const int devnull = open("/dev/null", O_WRONLY), saved = dup(2);
    dup2(devnull, 2);
    wb_config *c = wb_config_load(path);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    unlink(path);
    return c;
}

static void test_settings(void **state)
{
    (void)state;
    char dir[] = "/tmp/wb_test_dane.XXXXXX", ta[PATH_MAX];
    assert_non_null(mkdtemp(dir));
    wb_config *c = load(dir, "");
    assert_non_null(c);
    assert_true(c->s2s->dane);
    assert_null(c->s2s->dnssec_trust_anchor);
    wb_config_free(c);
    assert_null(load(dir, "dnssec_trust_anchor = \"missing.ds\";"));
    snprintf(ta, sizeof(ta), "%s/root.ds", dir);
    FILE *f = fopen(ta, "w");
    assert_non_null(f);
    fputs(". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
          f);
    assert_int_equal(fclose(f), 0);
    c = load(dir, "dane = false; dnssec_trust_anchor = \"root.ds\";");
    assert_non_null(c);
    assert_false(c->s2s->dane);
    assert_string_equal(c->s2s->dnssec_trust_anchor, ta);
    wb_config_free(c);
    unlink(ta);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dane_ee_matches_the_key_whatever_its_names, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dane_ee_refuses_another_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dane_ta_checks_the_chain_and_the_names, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pkix_ee_needs_a_trusted_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_or_missing_records_mean_no_dane, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_records_are_bounded, setup, teardown),
        cmocka_unit_test(test_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
