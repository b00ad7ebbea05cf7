/* Unit tests for wb_jid: preparation of each part, IDN and IP-literal domains, length limits,
 * rejection of malformed input, and the bare/full forms. Not a test of routing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wb_jid.h"

static int parse_str(wb_jid *j, const char *s)
{
    return wb_jid_parse(j, s, strlen(s));
}

static void expect_jid(const char *in, const char *node, const char *domain, const char *res)
{
    wb_jid j;
    assert_int_equal(parse_str(&j, in), 0);
    assert_string_equal(j.node, node);
    assert_string_equal(j.domain, domain);
    assert_string_equal(j.resource, res);
}

static void test_valid(void **state)
{
    (void)state;
    expect_jid("example.com", "", "example.com", "");
    expect_jid("User@Example.COM/Res", "user", "example.com", "Res");
    expect_jid("juliet@example.com./balcony", "juliet", "example.com", "balcony");
    expect_jid("a@b/c/d@e f", "a", "b", "c/d@e f");
    expect_jid("\xC3\x84"
               "B@example.com",
               "\xC3\xA4"
               "b",
               "example.com", ""); /* ÄB -> äb */
    expect_jid("romeo@example.com/\xE2\x99\x9E", "romeo", "example.com", "\xE2\x99\x9E");
    expect_jid("host_name.example", "", "host_name.example", "");
}

static void test_idn(void **state)
{
    (void)state;
    expect_jid("x@xn--bcher-kva.example", "x",
               "b\xC3\xBC"
               "cher.example",
               "");
    expect_jid("x@XN--BCHER-KVA.Example", "x",
               "b\xC3\xBC"
               "cher.example",
               "");
    expect_jid("x@B\xC3\x9C"
               "cher.Example",
               "x",
               "b\xC3\xBC"
               "cher.example",
               ""); /* BÜcher */
    /* Ideographic full stop as a label separator. */
    expect_jid("x@b\xC3\xBC"
               "cher\xE3\x80\x82"
               "example",
               "x",
               "b\xC3\xBC"
               "cher.example",
               "");
    wb_jid a, b;
    assert_int_equal(parse_str(&a, "x@xn--bcher-kva.example"), 0);
    assert_int_equal(parse_str(&b, "X@b\xC3\xBC"
                                   "cher.example"),
                     0);
    assert_true(wb_jid_bare_eq(&a, &b));
    /* A-labels that do not decode, or do not round-trip. */
    assert_int_equal(parse_str(&a, "x@xn--a.example"), -1);
    assert_int_equal(parse_str(&a, "x@xn--.example"), -1);
}

static void test_ip_literals(void **state)
{
    (void)state;
    expect_jid("a@192.168.0.1/r", "a", "192.168.0.1", "r");
    expect_jid("a@[::1]", "a", "[::1]", "");
    expect_jid("a@[2001:DB8:0::1]/x", "a", "[2001:db8::1]", "x");
    wb_jid j;
    const char *bad[] = {"a@[::g]", "a@[::1",      "a@[]",       "a@::1",       "a@999.1.1.1",
                         "a@1.2.3", "a@1.2.3.4.5", "a@01.2.3.4", "a@[1.2.3.4]x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_str(&j, bad[i]), -1);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "@example.com",
        "a@",
        "a@b/",
        "/res",
        "a b@x.org",
        "a\"b@x.org",
        "a&b@x.org",
        "a'b@x.org",
        "a:b@x.org",
        "a<b@x.org",
        "a>b@x.org",
        "a@b@x.org",
        "x..org",
        ".x.org",
        "x.org..",
        ".",
        "a@exa mple.com",
        "a@ex<a.com",
        "\xC3\x28@x.org",
        "\xFF@x.org",
        "\xC0\xAF@x.org",
        "a@x.org/\xED\xA0\x80",
        "a\342\200\200b@x.org", /* U+2000 EN QUAD in a node */
        "a@\xF4\x90\x80\x80.org",
        "\xEF\xBC\x92", /* fullwidth "2": prepares to "2", not a valid IP literal either */
    };
    wb_jid j;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_str(&j, bad[i]) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_string_equal(j.domain, "");
    }
    /* Embedded NUL. */
    assert_int_equal(wb_jid_parse(&j, "a\0b@x.org", 9), -1);
    assert_int_equal(wb_jid_parse(&j, "ab@x.org\0", 9), -1);
    assert_int_equal(wb_jid_parse(&j, NULL, 0), -1);
}

/* A string of n copies of c, heap-allocated without a NUL after it. */
static char *repeat(char c, size_t n)
{
    char *p = malloc(n);
    assert_non_null(p);
    memset(p, c, n);
    return p;
}

static void check_len(const char *prefix, size_t n, const char *suffix, int want)
{
    const size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + n + sl);
    assert_non_null(s);
    memcpy(s, prefix, pl);
    memset(s + pl, 'a', n);
    memcpy(s + pl + n, suffix, sl);
    wb_jid *j = malloc(sizeof(*j));
    assert_non_null(j);
    assert_int_equal(wb_jid_parse(j, s, pl + n + sl), want);
    free(j);
    free(s);
}

/* A domain of the given label lengths joined by dots (no NUL at the end). */
static int parse_domain(const size_t *labels, size_t n, size_t *total)
{
    char buf[2048];
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf[pos++] = '.';
        memset(buf + pos, 'a' + (char)(i % 26), labels[i]);
        pos += labels[i];
    }
    *total = pos;
    char *s = malloc(pos);
    assert_non_null(s);
    memcpy(s, buf, pos);
    wb_jid *j = malloc(sizeof(*j));
    assert_non_null(j);
    const int rc = wb_jid_parse(j, s, pos);
    free(j);
    free(s);
    return rc;
}

static void test_lengths(void **state)
{
    (void)state;
    check_len("", 1023, "@x.org", 0);
    check_len("", 1024, "@x.org", -1);
    check_len("a@x.org/", 1023, "", 0);
    check_len("a@x.org/", 1024, "", -1);
    check_len("x.", 63, ".org", 0);
    check_len("x.", 64, ".org", -1);

    size_t labels[17], total = 0;
    for (size_t i = 0; i < 16; i++)
        labels[i] = 63;
    assert_int_equal(parse_domain(labels, 16, &total), 0);
    assert_int_equal(total, 1023);
    for (size_t i = 0; i < 15; i++)
        labels[i] = 63;
    labels[15] = 31;
    labels[16] = 32;
    assert_int_equal(parse_domain(labels, 17, &total), -1);
    assert_int_equal(total, 1024);

    char out[WB_JID_PART_MAX + 1];
    char *big = repeat('A', 1023);
    assert_int_equal(wb_jid_prep_node(out, big, 1023), 0);
    assert_int_equal(strlen(out), 1023);
    assert_int_equal(out[0], 'a');
    assert_int_equal(wb_jid_prep_resource(out, big, 1023), 0);
    assert_int_equal(out[0], 'A');
    free(big);
    big = repeat('A', 1024);
    assert_int_equal(wb_jid_prep_node(out, big, 1024), -1);
    assert_int_equal(wb_jid_prep_resource(out, big, 1024), -1);
    free(big);
    /* Growth under preparation counts: 512 x U+00DF (2 bytes) folds to "ss" in nameprep-based
     * nodeprep: 1024 bytes, over the limit, although the input is 1024 bytes too. */
    char sz[1100];
    for (size_t i = 0; i < 512; i++)
        memcpy(sz + 2 * i, "\xC3\x9F", 2);
    assert_int_equal(wb_jid_prep_node(out, sz, 1022), 0); /* 511 -> 1022 bytes */
    assert_int_equal(wb_jid_prep_node(out, sz, 1024), -1);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    const char text[] = "user@example.com/resXXXX@other.org";
    wb_jid j;
    assert_int_equal(wb_jid_parse(&j, text, 20), 0);
    assert_string_equal(j.node, "user");
    assert_string_equal(j.domain, "example.com");
    assert_string_equal(j.resource, "res");
    char *exact = malloc(16);
    assert_non_null(exact);
    memcpy(exact, "user@example.com", 16);
    assert_int_equal(wb_jid_parse(&j, exact, 16), 0);
    assert_string_equal(j.domain, "example.com");
    assert_int_equal(wb_jid_parse(&j, exact, 4), 0); /* "user" is a domain */
    assert_string_equal(j.domain, "user");
    assert_int_equal(wb_jid_parse(&j, exact, 5), -1); /* "user@" */
    free(exact);
}

static void test_format(void **state)
{
    (void)state;
    wb_jid j;
    char buf[64];
    assert_int_equal(parse_str(&j, "Juliet@Example.com/Balcony"), 0);
    assert_true(wb_jid_has_node(&j));
    assert_true(wb_jid_has_resource(&j));
    assert_int_equal(wb_jid_bare(&j, buf, sizeof(buf)), 18);
    assert_string_equal(buf, "juliet@example.com");
    assert_int_equal(wb_jid_full(&j, buf, sizeof(buf)), 26);
    assert_string_equal(buf, "juliet@example.com/Balcony");
    assert_int_equal(wb_jid_full(&j, buf, 26), -1);
    assert_int_equal(wb_jid_full(&j, buf, 27), 26);
    assert_int_equal(wb_jid_bare(&j, buf, 18), -1);
    assert_int_equal(wb_jid_bare(&j, buf, 19), 18);
    assert_int_equal(parse_str(&j, "example.com"), 0);
    assert_false(wb_jid_has_node(&j));
    assert_false(wb_jid_has_resource(&j));
    assert_int_equal(wb_jid_full(&j, buf, sizeof(buf)), 11);
    assert_string_equal(buf, "example.com");
    assert_int_equal(parse_str(&j, "example.com/r"), 0);
    assert_int_equal(wb_jid_full(&j, buf, sizeof(buf)), 13);
    assert_string_equal(buf, "example.com/r");
}

static void test_compare(void **state)
{
    (void)state;
    wb_jid a, b, c, d;
    assert_int_equal(parse_str(&a, "Romeo@Example.net/Orchard"), 0);
    assert_int_equal(parse_str(&b, "romeo@example.NET./Orchard"), 0);
    assert_int_equal(parse_str(&c, "romeo@example.net/orchard"), 0);
    assert_int_equal(parse_str(&d, "romeo@example.org/Orchard"), 0);
    assert_true(wb_jid_full_eq(&a, &b));
    assert_true(wb_jid_bare_eq(&a, &c));
    assert_false(wb_jid_full_eq(&a, &c));
    assert_false(wb_jid_bare_eq(&a, &d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),       cmocka_unit_test(test_idn),
        cmocka_unit_test(test_ip_literals), cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_lengths),     cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_format),      cmocka_unit_test(test_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
