/* Unit tests for wb_scram: RFC 5802/7677 vectors, client<->server round trips with and without
 * channel binding, and every failure path with its SASL condition. Not a test of XMPP framing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium/utils.h>

#include "wb_scram.h"
#include "wb_xmpp_errors.h"

typedef struct vector {
    wb_scram_hash h;
    const char *cnonce, *snonce, *salt;
    const char *client_first, *server_first, *client_final, *server_final;
} vector;

static const vector rfc5802 = {
    WB_SCRAM_SHA1,
    "fyko+d2lbbFgONRv9qkxdawL",
    "3rfcNHYJY1ZVvWVs7j",
    "QSXCR+Q6sek8bf92",
    "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

static const vector rfc7677 = {
    WB_SCRAM_SHA256,
    "rOprNGfwEbeRWgbNEkqO",
    "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    "W22ZaJ0SNY7soEsUEjb6gQ==",
    "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

static const uint8_t cb_data[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static int first(wb_scram_server *s, const char *msg, const char **user)
{
    return wb_scram_server_client_first(s, msg, strlen(msg), user);
}

static int final(wb_scram_server *s, const char *msg, const uint8_t *cb, size_t cb_len, wb_buf *out)
{
    return wb_scram_server_final(s, msg, strlen(msg), cb, cb_len, out);
}

static void run_vector(const vector *v)
{
    uint8_t salt[32];
    size_t salt_len = 0;
    assert_int_equal(sodium_base642bin(salt, sizeof(salt), v->salt, strlen(v->salt), NULL,
                                       &salt_len, NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    wb_scram_cred cred;
    assert_int_equal(wb_scram_cred_with_salt(v->h, "pencil", salt, salt_len, 4096, &cred), 0);

    wb_scram_client *c = wb_scram_client_new(v->h, "user", "pencil", NULL);
    wb_scram_server *s = wb_scram_server_new(v->h, false, true);
    assert_non_null(c);
    assert_non_null(s);
    wb_scram_client_set_nonce(c, v->cnonce);
    wb_scram_server_set_nonce(s, v->snonce);
    wb_buf m;
    wb_buf_init(&m);
    const char *user = NULL;

    assert_int_equal(wb_scram_client_first(c, &m), 0);
    assert_string_equal(m.data, v->client_first);
    assert_int_equal(first(s, m.data, &user), 0);
    assert_string_equal(user, "user");
    assert_null(wb_scram_server_cb_type(s));
    wb_buf_reset(&m);
    assert_int_equal(wb_scram_server_first(s, &cred, &m), 0);
    assert_string_equal(m.data, v->server_first);
    wb_buf_reset(&m);
    assert_int_equal(
        wb_scram_client_final(c, v->server_first, strlen(v->server_first), NULL, 0, &m), 0);
    assert_string_equal(m.data, v->client_final);
    wb_buf_reset(&m);
    assert_int_equal(final(s, v->client_final, NULL, 0, &m), 0);
    assert_string_equal(m.data, v->server_final);
    assert_int_equal(wb_scram_client_verify(c, v->server_final, strlen(v->server_final)), 0);

    wb_buf_free(&m);
    wb_scram_client_free(c);
    wb_scram_server_free(s);
}

static void test_rfc5802_sha1(void **state)
{
    (void)state;
    run_vector(&rfc5802);
}

static void test_rfc7677_sha256(void **state)
{
    (void)state;
    run_vector(&rfc7677);
}

/* A whole exchange; returns the server's verdict on client-final (0 = success). */
static int exchange(wb_scram_hash h, const char *pass_client, const char *cb_type,
                    const uint8_t *cb_client, const uint8_t *cb_server, bool known)
{
    wb_scram_cred cred;
    assert_int_equal(wb_scram_cred_new(h, "pencil", 4096, &cred), 0);
    assert_int_equal(cred.salt_len, 16);
    wb_scram_client *c = wb_scram_client_new(h, "us,er=x", pass_client, cb_type);
    wb_scram_server *s = wb_scram_server_new(h, cb_type != NULL, true);
    assert_non_null(c);
    assert_non_null(s);
    wb_buf m;
    wb_buf_init(&m);
    const char *user = NULL;
    assert_int_equal(wb_scram_client_first(c, &m), 0);
    assert_int_equal(wb_scram_server_client_first(s, m.data, m.len, &user), 0);
    assert_string_equal(user, "us,er=x");
    if (cb_type)
        assert_string_equal(wb_scram_server_cb_type(s), cb_type);
    wb_buf_reset(&m);
    assert_int_equal(wb_scram_server_first(s, known ? &cred : NULL, &m), 0);
    char *sf = strdup(m.data);
    wb_buf_reset(&m);
    assert_int_equal(wb_scram_client_final(c, sf, strlen(sf), cb_client, sizeof(cb_data), &m), 0);
    char *cf = strdup(m.data);
    wb_buf_reset(&m);
    const int rc = wb_scram_server_final(s, cf, strlen(cf), cb_server, sizeof(cb_data), &m);
    if (rc == 0)
        assert_int_equal(wb_scram_client_verify(c, m.data, m.len), 0);
    free(sf);
    free(cf);
    wb_buf_free(&m);
    wb_scram_client_free(c);
    wb_scram_server_free(s);
    return rc;
}

static void test_round_trips(void **state)
{
    (void)state;
    uint8_t other[32];
    memcpy(other, cb_data, sizeof(other));
    other[31] ^= 1;
    for (int h = WB_SCRAM_SHA1; h <= WB_SCRAM_SHA256; h++) {
        assert_int_equal(exchange(h, "pencil", NULL, NULL, NULL, true), 0);
        assert_int_equal(exchange(h, "pencil", "tls-exporter", cb_data, cb_data, true), 0);
        assert_int_equal(exchange(h, "pencil", "tls-server-end-point", cb_data, cb_data, true), 0);
        assert_int_equal(exchange(h, "pencil2", NULL, NULL, NULL, true), WB_SASL_NOT_AUTHORIZED);
        assert_int_equal(exchange(h, "pencil", "tls-exporter", cb_data, other, true),
                         WB_SASL_NOT_AUTHORIZED);
        assert_int_equal(exchange(h, "pencil", "tls-exporter", cb_data, NULL, true),
                         WB_SASL_NOT_AUTHORIZED);
        assert_int_equal(exchange(h, "pencil", NULL, NULL, NULL, false), WB_SASL_NOT_AUTHORIZED);
    }
}

static void test_credentials(void **state)
{
    (void)state;
    wb_scram_cred a, b;
    assert_int_equal(wb_scram_hash_len(WB_SCRAM_SHA1), 20);
    assert_int_equal(wb_scram_hash_len(WB_SCRAM_SHA256), 32);
    assert_int_equal(wb_scram_cred_new(WB_SCRAM_SHA256, "s3cret", 4096, &a), 0);
    assert_int_equal(wb_scram_cred_new(WB_SCRAM_SHA256, "s3cret", 4096, &b), 0);
    assert_memory_not_equal(a.salt, b.salt, 16);
    assert_true(wb_scram_cred_check(WB_SCRAM_SHA256, &a, "s3cret"));
    assert_false(wb_scram_cred_check(WB_SCRAM_SHA256, &a, "s3creT"));
    assert_false(wb_scram_cred_check(WB_SCRAM_SHA256, &a, ""));
    assert_int_equal(wb_scram_cred_new(WB_SCRAM_SHA1, "x", 0, &a), -1);
    /* SASLprep: U+00A0 (non-ASCII space) maps to U+0020, U+00AD is mapped to nothing. */
    assert_int_equal(wb_scram_cred_new(WB_SCRAM_SHA1, "a b", 4096, &a), 0);
    assert_true(wb_scram_cred_check(WB_SCRAM_SHA1, &a,
                                    "a\xC2\xA0"
                                    "b"));
    assert_true(wb_scram_cred_check(WB_SCRAM_SHA1, &a,
                                    "a \xC2\xAD"
                                    "b"));
}

static void test_client_first_errors(void **state)
{
    (void)state;
    static const struct {
        bool plus, offers;
        const char *msg;
        int err;
    } cases[] = {
        {false, true, "", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,", WB_SASL_MALFORMED_REQUEST},
        {false, true, "x,,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "nn,,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,n=,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,n=us=2Xer,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,n=us=2cer,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,n=user=,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,n=user", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,n=user,r=", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,n=user,r=a\x7f", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,r=abc,n=user", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,m=ext,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,,n=user,r=abc,1=x", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,x=user,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,a=us=2,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {false, true, "n,a=admin,n=user,r=abc", WB_SASL_INVALID_AUTHZID},
        /* Channel-binding flag against the mechanism. */
        {false, true, "y,,n=user,r=abc", WB_SASL_NOT_AUTHORIZED},
        {false, true, "p=tls-exporter,,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {true, true, "n,,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {true, true, "y,,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {true, true, "p=tls-unique,,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        {true, true, "p=,,n=user,r=abc", WB_SASL_MALFORMED_REQUEST},
        /* Accepted. */
        {false, false, "y,,n=user,r=abc", 0},
        {false, true, "n,,n=user,r=abc", 0},
        {false, true, "n,,n=user,r=abc,x=ext", 0},
        {false, true, "n,a=user,n=user,r=abc", 0},
        {false, true, "n,a=user@example.com,n=user,r=abc", 0},
        {true, true, "p=tls-exporter,,n=user,r=abc", 0},
        {true, true, "p=tls-server-end-point,,n=user,r=abc", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wb_scram_server *s = wb_scram_server_new(WB_SCRAM_SHA256, cases[i].plus, cases[i].offers);
        const char *user = NULL;
        const int rc = first(s, cases[i].msg, &user);
        if (rc != cases[i].err)
            fail_msg("\"%s\": got %d, want %d", cases[i].msg, rc, cases[i].err);
        wb_scram_server_free(s);
    }
    /* Escapes decode; an embedded NUL is refused. */
    wb_scram_server *s = wb_scram_server_new(WB_SCRAM_SHA1, false, false);
    const char *user = NULL;
    assert_int_equal(first(s, "n,,n==2Cu=3D=3D,r=abc", &user), 0);
    assert_string_equal(user, ",u==");
    wb_scram_server_free(s);
    s = wb_scram_server_new(WB_SCRAM_SHA1, false, false);
    assert_int_equal(wb_scram_server_client_first(s, "n,,n=u\0x,r=abc", 14, &user),
                     WB_SASL_MALFORMED_REQUEST);
    wb_scram_server_free(s);
}

/* Server in the state after the RFC 7677 server-first-message. */
static wb_scram_server *vector_server(wb_buf *m)
{
    const vector *v = &rfc7677;
    uint8_t salt[16];
    size_t salt_len = 0;
    wb_scram_cred cred;
    assert_int_equal(sodium_base642bin(salt, sizeof(salt), v->salt, strlen(v->salt), NULL,
                                       &salt_len, NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(wb_scram_cred_with_salt(v->h, "pencil", salt, salt_len, 4096, &cred), 0);
    wb_scram_server *s = wb_scram_server_new(v->h, false, false);
    const char *user;
    wb_scram_server_set_nonce(s, v->snonce);
    assert_int_equal(first(s, v->client_first, &user), 0);
    wb_buf_reset(m);
    assert_int_equal(wb_scram_server_first(s, &cred, m), 0);
    return s;
}

static void test_client_final_errors(void **state)
{
    (void)state;
#define NONCE "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define PROOF "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static const struct {
        const char *msg;
        int err;
    } cases[] = {
        {"", WB_SASL_MALFORMED_REQUEST},
        {"c=biws," NONCE, WB_SASL_MALFORMED_REQUEST},
        {NONCE "," PROOF, WB_SASL_MALFORMED_REQUEST},
        {"c=biws," PROOF, WB_SASL_MALFORMED_REQUEST},
        {"c=biws," NONCE "," PROOF ",x=1", WB_SASL_MALFORMED_REQUEST},
        {"c=biws," NONCE ",1=x," PROOF, WB_SASL_MALFORMED_REQUEST},
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO," PROOF, WB_SASL_MALFORMED_REQUEST},
        {"c=biws," NONCE "x," PROOF, WB_SASL_MALFORMED_REQUEST},
        {"c=bi*s," NONCE "," PROOF, WB_SASL_INCORRECT_ENCODING},
        {"c=biw," NONCE "," PROOF, WB_SASL_INCORRECT_ENCODING},
        {"c=eSws," NONCE "," PROOF, WB_SASL_NOT_AUTHORIZED}, /* "y,," */
        {"c=biws," NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
         WB_SASL_INCORRECT_ENCODING},
        {"c=biws," NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV==",
         WB_SASL_INCORRECT_ENCODING},
        {"c=biws," NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7An", WB_SASL_MALFORMED_REQUEST},
        {"c=biws," NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=", WB_SASL_NOT_AUTHORIZED},
        {"c=biws," NONCE ",x=ext," PROOF, WB_SASL_NOT_AUTHORIZED}, /* ext changes AuthMessage */
        {"c=biws," NONCE "," PROOF, 0},
    };
    wb_buf m;
    wb_buf_init(&m);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wb_scram_server *s = vector_server(&m);
        wb_buf_reset(&m);
        const int rc = final(s, cases[i].msg, NULL, 0, &m);
        if (rc != cases[i].err)
            fail_msg("\"%s\": got %d, want %d", cases[i].msg, rc, cases[i].err);
        /* Once failed or done, the exchange is over. */
        assert_int_not_equal(final(s, cases[i].msg, NULL, 0, &m), 0);
        wb_scram_server_free(s);
    }
    wb_buf_free(&m);
#undef NONCE
#undef PROOF
}

static void test_unknown_user(void **state)
{
    (void)state;
    wb_buf a, b;
    wb_buf_init(&a);
    wb_buf_init(&b);
    const char *user;
    wb_scram_server *s1 = wb_scram_server_new(WB_SCRAM_SHA256, false, false);
    wb_scram_server *s2 = wb_scram_server_new(WB_SCRAM_SHA256, false, false);
    assert_int_equal(first(s1, "n,,n=ghost,r=abc", &user), 0);
    assert_int_equal(first(s2, "n,,n=ghost,r=xyz", &user), 0);
    assert_int_equal(wb_scram_server_first(s1, NULL, &a), 0);
    assert_int_equal(wb_scram_server_first(s2, NULL, &b), 0);
    /* Same salt and iterations each time: the fake user looks like a stable real one. */
    assert_non_null(strstr(a.data, ",i=4096"));
    assert_string_equal(strstr(a.data, ",s="), strstr(b.data, ",s="));
    wb_scram_server_free(s1);
    wb_scram_server_free(s2);
    wb_buf_free(&a);
    wb_buf_free(&b);
    /* And the exchange, done right with any password, fails only at the end. */
    assert_int_equal(exchange(WB_SCRAM_SHA1, "pencil", "tls-exporter", cb_data, cb_data, false),
                     WB_SASL_NOT_AUTHORIZED);
}

static void test_client_side(void **state)
{
    (void)state;
    const vector *v = &rfc7677;
    wb_buf m;
    wb_buf_init(&m);
    assert_null(wb_scram_client_new(WB_SCRAM_SHA1, "u", "p", "tls-unique"));
    assert_null(wb_scram_client_new(WB_SCRAM_SHA1, "", "p", NULL));

    wb_scram_client *c = wb_scram_client_new(v->h, "user", "pencil", "tls-exporter");
    wb_scram_client_set_nonce(c, v->cnonce);
    assert_int_equal(wb_scram_client_first(c, &m), 0);
    assert_string_equal(m.data, "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    wb_buf_reset(&m);
    /* -PLUS without channel-binding data: refused. */
    assert_int_equal(
        wb_scram_client_final(c, v->server_first, strlen(v->server_first), NULL, 0, &m), -1);
    wb_scram_client_free(c);

    static const char *bad_first[] = {
        "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",    /* no server part */
        "r=XOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* not our nonce */
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",  /* bad base64 */
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4x",
        "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==",
        "m=x,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "e=other-error",
    };
    for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
        c = wb_scram_client_new(v->h, "user", "pencil", NULL);
        wb_scram_client_set_nonce(c, v->cnonce);
        wb_buf_reset(&m);
        assert_int_equal(wb_scram_client_first(c, &m), 0);
        if (wb_scram_client_final(c, bad_first[i], strlen(bad_first[i]), NULL, 0, &m) != -1)
            fail_msg("accepted: %s", bad_first[i]);
        wb_scram_client_free(c);
    }

    static const char *bad_final[] = {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=",
                                      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
                                      "e=invalid-proof", "", "v="};
    for (size_t i = 0; i < sizeof(bad_final) / sizeof(bad_final[0]); i++) {
        c = wb_scram_client_new(v->h, "user", "pencil", NULL);
        wb_scram_client_set_nonce(c, v->cnonce);
        wb_buf_reset(&m);
        assert_int_equal(wb_scram_client_first(c, &m), 0);
        assert_int_equal(
            wb_scram_client_final(c, v->server_first, strlen(v->server_first), NULL, 0, &m), 0);
        assert_int_equal(wb_scram_client_verify(c, bad_final[i], strlen(bad_final[i])), -1);
        assert_int_equal(wb_scram_client_verify(c, v->server_final, strlen(v->server_final)), 0);
        wb_scram_client_free(c);
    }
    wb_buf_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5802_sha1),        cmocka_unit_test(test_rfc7677_sha256),
        cmocka_unit_test(test_round_trips),         cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_client_first_errors), cmocka_unit_test(test_client_final_errors),
        cmocka_unit_test(test_unknown_user),        cmocka_unit_test(test_client_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
