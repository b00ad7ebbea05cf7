/* Unit tests of the federation policy per virtual host (hosts[i].s2s) and of static routes with
 * direct TLS: parsing, inheritance from the global s2s group, and the one-line errors. */
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

#include "wb_config.h"
#include "wb_s2s_conf.h"

#include "config_fixture.h"

/* Host a allowlists partner.test, host b does not federate, host c inherits everything. */
static const char policy_conf[] =
    "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\";\n"
    "            s2s = { allow = [ \"partner.test\" ]; require_tls13 = true; }; },\n"
    "          { domain = \"b.test\"; cert = \"c\"; key = \"k\"; s2s = { enabled = false; }; },\n"
    "          { domain = \"c.test\"; cert = \"c\"; key = \"k\"; },\n"
    "          { domain = \"d.test\"; cert = \"c\"; key = \"k\";\n"
    "            s2s = { deny = [ ]; dialback = false;\n"
    "                    require_valid_cert_for = [ \"bank.test\" ]; }; } );\n"
    "s2s = { enabled = true; deny = [ \"spam.test\" ]; require_valid_cert_for = [ \"x.test\" ];\n"
    "        routes = ( { domain = \"partner.test\"; host = \"10.0.0.1\"; tls = \"direct\";\n"
    "                     port = 5270; },\n"
    "                   { domain = \"other.test\"; host = \"10.0.0.2\"; } ); };\n";

static void test_host_policies(void **state)
{
    fixture *f = *state;
    wb_config *c = load_text(f, policy_conf);

    if (c == NULL)
        print_error("%s", f->err);
    assert_non_null(c);
    const wb_s2s_conf *s = c->s2s;
    assert_int_equal(s->n_host_policies, 3);
    /* a.test: only partner.test; the global denylist still applies (not overridden). */
    assert_null(wb_s2s_conf_refuses(s, "a.test", "partner.test"));
    assert_string_equal(wb_s2s_conf_refuses(s, "a.test", "other.test"),
                        "domain is not on the allowlist of host a.test");
    assert_true(wb_s2s_conf_tls13_required(s, "a.test", NULL));
    assert_string_equal(wb_s2s_conf_whose(s, "a.test"), " (policy of host a.test)");
    assert_string_equal(wb_s2s_conf_whose(s, "c.test"), "");
    assert_string_equal(wb_s2s_conf_whose(s, NULL), "");
    assert_false(wb_s2s_conf_tls13_required(s, "c.test", "partner.test"));
    /* b.test does not federate at all, even before the remote domain is known. */
    assert_false(wb_s2s_conf_enabled(s, "b.test"));
    assert_string_equal(wb_s2s_conf_refuses(s, "b.test", NULL),
                        "federation is disabled for host b.test");
    assert_string_equal(wb_s2s_conf_refuses(s, "b.test", "partner.test"),
                        "federation is disabled for host b.test");
    /* c.test and the global group (NULL): the global values. */
    assert_null(wb_s2s_conf_refuses(s, "c.test", "other.test"));
    assert_string_equal(wb_s2s_conf_refuses(s, "c.test", "spam.test"), "domain is on the denylist");
    assert_string_equal(wb_s2s_conf_refuses(s, NULL, "spam.test"), "domain is on the denylist");
    assert_null(wb_s2s_conf_refuses(s, NULL, NULL));
    assert_true(wb_s2s_conf_dialback(s, "c.test"));
    assert_true(wb_s2s_conf_cert_required(s, "c.test", "x.test"));
    assert_false(wb_s2s_conf_cert_required(s, "c.test", "bank.test"));
    /* d.test: an empty denylist of its own, its own certificate list, no dialback. */
    assert_null(wb_s2s_conf_refuses(s, "d.test", "spam.test"));
    assert_false(wb_s2s_conf_dialback(s, "d.test"));
    assert_true(wb_s2s_conf_cert_required(s, "d.test", "bank.test"));
    assert_false(wb_s2s_conf_cert_required(s, "d.test", "x.test"));
    /* Routes: tls = "direct" or the default STARTTLS. */
    assert_true(wb_s2s_conf_route(s, "partner.test")->direct_tls);
    assert_int_equal(wb_s2s_conf_route(s, "partner.test")->port, 5270);
    assert_false(wb_s2s_conf_route(s, "other.test")->direct_tls);
    wb_config_free(c);
}

/* Federation globally off, on for one host: the machinery runs, the other hosts stay silent. */
static void test_host_turns_federation_on(void **state)
{
    fixture *f = *state;
    wb_config *c =
        load_text(f, "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\";\n"
                     "            s2s = { enabled = true; }; },\n"
                     "          { domain = \"b.test\"; cert = \"c\"; key = \"k\"; } );\n");

    assert_non_null(c);
    assert_true(c->s2s->enabled);
    assert_true(wb_s2s_conf_enabled(c->s2s, "a.test"));
    assert_false(wb_s2s_conf_enabled(c->s2s, "b.test"));
    assert_false(wb_s2s_conf_enabled(c->s2s, NULL));
    assert_string_equal(wb_s2s_conf_refuses(c->s2s, "b.test", "x.test"), "federation is disabled");
    assert_null(wb_s2s_conf_refuses(c->s2s, "a.test", "x.test"));
    wb_config_free(c);
    /* Off everywhere by default. */
    c = load_text(f, "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\"; } );\n");
    assert_non_null(c);
    assert_false(c->s2s->enabled);
    assert_false(wb_s2s_conf_enabled(c->s2s, "a.test"));
    wb_config_free(c);
}

static void test_bad_host_policies(void **state)
{
    fixture *f = *state;

    expect_single(f,
                  "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\";\n"
                  "            s2s = { enabled = true; routes = ( ); }; } );\n",
                  2, "unknown option 'hosts[0].s2s.routes'");
    expect_single(f,
                  "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\";\n"
                  "            s2s = { enabled = \"yes\"; }; } );\n",
                  2, "'hosts[0].s2s.enabled' must be a boolean (true or false)");
    expect_single(f,
                  "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\";\n"
                  "            s2s = { allow = \"x.test\"; }; } );\n",
                  2, "'hosts[0].s2s.allow' must be an array of strings");
    expect_single(f,
                  "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\";\n"
                  "            s2s = { deny = [ \"ok.test\",\n"
                  "                             \"bad domain\" ]; }; } );\n",
                  3, "invalid domain 'bad domain' in 'hosts[0].s2s.deny'");
    expect_single(f,
                  "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\";\n"
                  "            s2s = true; } );\n",
                  2, "'hosts[0].s2s' must be a group { ... }");
}

static void test_bad_routes(void **state)
{
    fixture *f = *state;

    expect_single(f,
                  "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\"; } );\n"
                  "s2s = { enabled = true;\n"
                  "        routes = ( { domain = \"p.test\"; host = \"10.0.0.1\";\n"
                  "                     tls = \"dirkt\"; } ); };\n",
                  4, "'tls' of an s2s route must be starttls or direct, not 'dirkt'");
    expect_single(
        f,
        "hosts = ( { domain = \"a.test\"; cert = \"c\"; key = \"k\"; } );\n"
        "s2s = { routes = ( { domain = \"p.test\"; host = \"10.0.0.1\"; tls = 1; } ); };\n",
        2, "'s2s.routes[0].tls' must be a string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_host_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_turns_federation_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_host_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_routes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
