/* Unit tests of wb_config: a complete file, defaults, path resolution and every kind of error
 * with its line number. Files are written to a temporary directory; nothing else is touched. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "wb_config.h"

#include "config_fixture.h"

static const char good_conf[] =
    "server = { workers = 3; log_level = \"debug\"; key_file = \"master.key\"; };\n"
    "storage = { dsn = \"\"; embedded_dir = \"pg\"; database = \"wb\"; wait = 7; };\n"
    "hosts = ( { domain = \"Example.ORG\"; cert = \"tls/e.crt\"; key = \"/etc/e.key\"; },\n"
    "          { domain = \"localhost\"; cert = \"l.crt\"; key = \"l.key\"; } );\n"
    "listeners = (\n"
    "  { type = \"c2s\"; address = \"127.0.0.1\"; port = 15222; tls = \"starttls\"; },\n"
    "  { type = \"c2s\"; address = \"::\"; port = 15223; tls = \"direct\"; }\n"
    ");\n"
    "c2s = { require_starttls = false; hide_os = true; hide_version = true; };\n"
    "limits = { max_stanza_size = 65536; max_depth = 16; max_attrs = 20; handshake_timeout = 9;\n"
    "           idle_timeout = 99; auth_failures = 3; auth_window = 33; max_resources = 4; };\n"
    "sasl = { scram_iterations = 10000; mechanisms = [ \"SCRAM-SHA-256\", \"PLAIN\" ]; };\n";

static const char minimal_conf[] =
    "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n";

static void check_good_scalars(const fixture *f, const wb_config *c)
{
    char want[PATH_MAX + 64];

    assert_int_equal(c->workers, 3);
    assert_string_equal(c->log_level, "debug");
    snprintf(want, sizeof(want), "%s/master.key", f->dir);
    assert_string_equal(c->key_file, want);
    snprintf(want, sizeof(want), "host=%s/pg/run dbname=wb user=postgres", f->dir);
    assert_string_equal(c->dsn, want);
    assert_string_equal(c->database, "wb");
    assert_int_equal(c->db_wait, 7);
    assert_false(c->require_starttls);
    assert_true(c->hide_os);
    assert_true(c->hide_version);
    assert_int_equal(c->max_stanza_size, 65536);
    assert_int_equal(c->max_depth, 16);
    assert_int_equal(c->max_attrs, 20);
    assert_int_equal(c->handshake_timeout, 9);
    assert_int_equal(c->idle_timeout, 99);
    assert_int_equal(c->auth_failures, 3);
    assert_int_equal(c->auth_window, 33);
    assert_int_equal(c->max_resources, 4);
    assert_int_equal(c->scram_iterations, 10000);
    assert_int_equal(c->n_mechanisms, 2);
    assert_string_equal(c->mechanisms[0], "SCRAM-SHA-256");
    assert_string_equal(c->mechanisms[1], "PLAIN");
}

static void test_good_file(void **state)
{
    fixture *f = *state;
    wb_config *c = load_text(f, good_conf);
    char want[PATH_MAX + 64];

    assert_non_null(c);
    assert_string_equal(f->err, "");
    check_good_scalars(f, c);
    assert_int_equal(c->n_hosts, 2);
    assert_string_equal(c->hosts[0].domain, "example.org");
    snprintf(want, sizeof(want), "%s/tls/e.crt", f->dir);
    assert_string_equal(c->hosts[0].cert, want);
    assert_string_equal(c->hosts[0].key, "/etc/e.key");
    assert_ptr_equal(wb_config_host(c, "example.org"), &c->hosts[0]);
    assert_ptr_equal(wb_config_host(c, "localhost"), &c->hosts[1]);
    assert_null(wb_config_host(c, "example.net"));
    assert_int_equal(c->n_listeners, 2);
    assert_int_equal(c->listeners[0].kind, WB_LISTEN_C2S);
    assert_int_equal(c->listeners[0].tls, WB_TLS_STARTTLS);
    assert_string_equal(c->listeners[0].address, "127.0.0.1");
    assert_int_equal(c->listeners[0].port, 15222);
    assert_int_equal(c->listeners[1].tls, WB_TLS_DIRECT);
    assert_string_equal(c->listeners[1].address, "::");
    assert_int_equal(c->listeners[1].port, 15223);
    wb_config_free(c);
}

static void test_defaults(void **state)
{
    fixture *f = *state;
    wb_config *c = load_text(f, minimal_conf);
    char want[PATH_MAX + 64];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    assert_non_null(c);
    assert_int_equal(c->workers, cpus > 0 ? cpus : 1);
    assert_string_equal(c->log_level, "info");
    snprintf(want, sizeof(want), "%s/pg", f->dir);
    assert_string_equal(c->embedded_dir, want);
    snprintf(want, sizeof(want), "host=%s/pg/run dbname=warbler user=postgres", f->dir);
    assert_string_equal(c->dsn, want);
    assert_int_equal(c->db_wait, 30);
    assert_int_equal(c->n_listeners, 2);
    assert_string_equal(c->listeners[0].address, "0.0.0.0");
    assert_int_equal(c->listeners[0].port, 5222);
    assert_int_equal(c->listeners[0].tls, WB_TLS_STARTTLS);
    assert_int_equal(c->listeners[1].port, 5223);
    assert_int_equal(c->listeners[1].tls, WB_TLS_DIRECT);
    assert_true(c->require_starttls);
    assert_false(c->hide_os);
    assert_false(c->hide_version);
    assert_int_equal(c->max_stanza_size, 262144);
    assert_int_equal(c->max_depth, 32);
    assert_int_equal(c->max_attrs, 64);
    assert_int_equal(c->handshake_timeout, 30);
    assert_int_equal(c->idle_timeout, 600);
    assert_int_equal(c->auth_failures, 5);
    assert_int_equal(c->auth_window, 60);
    assert_int_equal(c->max_resources, 10);
    assert_int_equal(c->scram_iterations, 4096);
    assert_int_equal(c->n_mechanisms, 5);
    assert_string_equal(c->mechanisms[0], "SCRAM-SHA-256-PLUS");
    assert_string_equal(c->mechanisms[4], "PLAIN");
    wb_config_free(c);
}

static void test_paths_and_dsn(void **state)
{
    fixture *f = *state;
    wb_config *c;
    char want[PATH_MAX + 64];

    c = load_text(f, "server = { key_file = \"../keys/m.key\"; };\n"
                     "storage = { embedded_dir = \"/srv/pg\"; dsn = \"host=db dbname=x\"; };\n"
                     "hosts = ( { domain = \"localhost\"; cert = \"a/b.crt\"; key = \"/k\"; } );\n"
                     "listeners = ( { tls = \"direct\"; } );\n");
    assert_non_null(c);
    snprintf(want, sizeof(want), "%s/../keys/m.key", f->dir);
    assert_string_equal(c->key_file, want);
    assert_string_equal(c->embedded_dir, "/srv/pg");
    assert_string_equal(c->dsn, "host=db dbname=x");
    snprintf(want, sizeof(want), "%s/a/b.crt", f->dir);
    assert_string_equal(c->hosts[0].cert, want);
    assert_int_equal(c->n_listeners, 1);
    assert_int_equal(c->listeners[0].port, 5223);
    wb_config_free(c);

    c = load_text(f, "storage = { embedded_dir = \"/my dir\"; };\n"
                     "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n");
    assert_non_null(c);
    assert_string_equal(c->dsn, "host='/my dir/run' dbname=warbler user=postgres");
    wb_config_free(c);
}

static void test_unknown_names(void **state)
{
    fixture *f = *state;

    expect_single(f,
                  "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n"
                  "limits = {\n  max_depth = 3;\n  max_stanzas = 4;\n};\n",
                  4, "unknown option 'limits.max_stanzas'");
    expect_single(
        f, "\nfrobs = 1;\nhosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n", 2,
        "unknown group 'frobs'");
    expect_single(f,
                  "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\";\n"
                  "  certs = \"x\"; } );\n",
                  2, "unknown option 'hosts[0].certs'");
}

static void test_types_and_ranges(void **state)
{
    fixture *f = *state;
    static const char *const h =
        "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n";
    char text[1024];

    snprintf(text, sizeof(text), "%s\nserver = { workers = \"4\"; };\n", h);
    expect_single(f, text, 3, "'server.workers' must be an integer");
    snprintf(text, sizeof(text), "%sc2s = { hide_os = 1; };\n", h);
    expect_single(f, text, 2, "'c2s.hide_os' must be a boolean");
    snprintf(text, sizeof(text), "%sserver = { workers = 257; };\n", h);
    expect_single(f, text, 2, "'server.workers' is 257, must be between 0 and 256");
    snprintf(text, sizeof(text), "%slisteners = ( { port = 0; } );\n", h);
    expect_single(f, text, 2, "'listeners[0].port' is 0, must be between 1 and 65535");
    snprintf(text, sizeof(text), "%slisteners = ( { port = 65536; } );\n", h);
    expect_single(f, text, 2, "'listeners[0].port' is 65536");
    snprintf(text, sizeof(text), "%slimits = { idle_timeout = 0; };\n", h);
    expect_single(f, text, 2, "'limits.idle_timeout' is 0, must be between 1 and");
    snprintf(text, sizeof(text), "%ssasl = { scram_iterations = 4095; };\n", h);
    expect_single(f, text, 2, "'sasl.scram_iterations' is 4095, must be between 4096 and");
    snprintf(text, sizeof(text), "%sstorage = 3;\n", h);
    expect_single(f, text, 2, "'storage' must be a group");
    snprintf(text, sizeof(text), "%sserver = { key_file = \"\"; };\n", h);
    expect_single(f, text, 2, "'key_file' must not be empty");
}

static void test_sasl_mechanisms(void **state)
{
    fixture *f = *state;
    static const char *const h =
        "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n";
    char text[1024];

    snprintf(text, sizeof(text), "%ssasl = { mechanisms = [ \"PLAIN\",\n \"DIGEST-MD5\" ]; };\n",
             h);
    expect_single(f, text, 3, "unknown SASL mechanism 'DIGEST-MD5'");
    snprintf(text, sizeof(text), "%ssasl = { mechanisms = [ \"PLAIN\", \"PLAIN\" ]; };\n", h);
    expect_single(f, text, 2, "duplicate SASL mechanism 'PLAIN'");
    snprintf(text, sizeof(text), "%ssasl = { mechanisms = [ ]; };\n", h);
    expect_single(f, text, 2, "'sasl.mechanisms' must not be empty");
    snprintf(text, sizeof(text), "%ssasl = { mechanisms = [ 1, 2 ]; };\n", h);
    expect_single(f, text, 2, "'sasl.mechanisms' must be an array of strings");
}

static void test_enums(void **state)
{
    fixture *f = *state;
    static const char *const h =
        "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n";
    char text[1024];

    snprintf(text, sizeof(text), "%sserver = { log_level = \"loud\"; };\n", h);
    expect_single(f, text, 2, "'server.log_level' is 'loud', must be debug, info, warn or error");
    snprintf(text, sizeof(text), "%slisteners = ( { type = \"http\"; } );\n", h);
    expect_single(f, text, 2, "'listeners[0].type' is 'http', must be c2s or s2s");
    snprintf(text, sizeof(text), "%slisteners = ( {\n tls = \"maybe\"; } );\n", h);
    expect_single(f, text, 3, "'listeners[0].tls' is 'maybe', must be starttls or direct");
    snprintf(text, sizeof(text), "%slisteners = ( { address = \"localhost\"; } );\n", h);
    expect_single(f, text, 2,
                  "'listeners[0].address' is 'localhost', must be an IPv4 or IPv6 address");
}

static void test_hosts_and_listeners(void **state)
{
    fixture *f = *state;
    char text[4096];
    char longdom[1100];

    expect_single(f, "server = { workers = 1; };\n", 1, "missing required list 'hosts'");
    expect_single(f, "hosts = ( );\n", 1, "'hosts' must contain at least one host");
    expect_single(f, "hosts = (\n { domain = \"a.example\"; cert = \"c\"; } );\n", 2,
                  "host entry lacks 'key'");
    expect_single(f,
                  "hosts = ( { domain = \"a.example\"; cert = \"c\"; key = \"k\"; },\n"
                  "  { domain = \"A.Example\"; cert = \"c\"; key = \"k\"; } );\n",
                  2, "duplicate host domain 'a.example'");
    expect_single(f, "hosts = ( { domain = \"\"; cert = \"c\"; key = \"k\"; } );\n", 1,
                  "invalid domain ''");
    memset(longdom, 'a', sizeof(longdom) - 1);
    longdom[sizeof(longdom) - 1] = '\0';
    snprintf(text, sizeof(text), "hosts = ( { domain = \"%s\"; cert = \"c\"; key = \"k\"; } );\n",
             longdom);
    expect_single(f, text, 1, "invalid domain");
    expect_single(f,
                  "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n"
                  "listeners = ( { port = 5222; },\n"
                  "  { address = \"0.0.0.0\"; port = 5222; tls = \"starttls\"; } );\n",
                  3, "duplicate listener 0.0.0.0 port 5222");
}

static void test_syntax_error(void **state)
{
    fixture *f = *state;

    expect_single(f,
                  "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n"
                  "server = {\n  workers = 2;\n  log_level = = \"info\";\n};\n",
                  4, "syntax error");
    assert_null(wb_config_load("/nonexistent/warbler.conf"));
}

static void test_all_problems_reported(void **state)
{
    fixture *f = *state;
    wb_config *c;

    c = load_text(f, "server = { workers = 999; color = \"red\"; };\n"
                     "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n"
                     "listeners = ( { type = \"x2x\"; port = 70000; } );\n"
                     "sasl = { mechanisms = [ \"PLAIN\", \"NOPE\" ]; };\n"
                     "extra = { };\n");
    assert_null(c);
    expect_error(f, 1, "'server.workers' is 999");
    expect_error(f, 1, "unknown option 'server.color'");
    expect_error(f, 3, "'listeners[0].type' is 'x2x'");
    expect_error(f, 3, "'listeners[0].port' is 70000");
    expect_error(f, 4, "unknown SASL mechanism 'NOPE'");
    expect_error(f, 5, "unknown group 'extra'");
    assert_int_equal(count_lines(f->err), 6);
}

/* The register group: defaults (registration off, invite only), values, and strictness. */
static void test_register(void **state)
{
    fixture *f = *state;
    static const char *const h =
        "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n";
    char text[1024];
    wb_config *c = load_text(f, minimal_conf);

    assert_non_null(c);
    assert_false(c->register_enabled);
    assert_true(c->register_invite_only);
    assert_int_equal(c->register_per_address, 3);
    assert_int_equal(c->register_window, 3600);
    wb_config_free(c);
    snprintf(text, sizeof(text),
             "%sregister = { enabled = true; invite_only = false;\n"
             "  per_address = 7; window = 60; };\n",
             h);
    c = load_text(f, text);
    assert_non_null(c);
    assert_true(c->register_enabled);
    assert_false(c->register_invite_only);
    assert_int_equal(c->register_per_address, 7);
    assert_int_equal(c->register_window, 60);
    wb_config_free(c);
    snprintf(text, sizeof(text), "%sregister = {\n  enabled = true;\n  invites = 1;\n};\n", h);
    expect_single(f, text, 4, "unknown option 'register.invites'");
    snprintf(text, sizeof(text), "%sregister = { enabled = \"yes\"; };\n", h);
    expect_single(f, text, 2, "'register.enabled' must be a boolean");
    snprintf(text, sizeof(text), "%sregister = { per_address = 0; };\n", h);
    expect_single(f, text, 2, "'register.per_address' is 0, must be between 1 and");
    snprintf(text, sizeof(text), "%s\nregister = { window = -5; };\n", h);
    expect_single(f, text, 3, "'register.window' is -5, must be between 1 and");
    snprintf(text, sizeof(text), "%sregister = 1;\n", h);
    expect_single(f, text, 2, "'register' must be a group");
}

static void test_retention(void **state)
{
    fixture *f = *state;
    static const char *const h =
        "hosts = ( { domain = \"localhost\"; cert = \"c\"; key = \"k\"; } );\n";
    char text[1024];
    wb_config *c = load_text(f, minimal_conf);

    assert_non_null(c);
    assert_int_equal(c->retention_default, 0);
    assert_int_equal(c->retention_sweep_interval, 60);
    assert_int_equal(c->retention_batch, 500);
    assert_int_equal(c->retention_unit_ms, 1000);
    wb_config_free(c);
    snprintf(text, sizeof(text),
             "%sretention = { default = 3000000000L; sweep_interval = 1;\n"
             "  batch = 2; unit_ms = 10; };\n",
             h);
    c = load_text(f, text);
    assert_non_null(c);
    assert_true(c->retention_default == 3000000000LL);
    assert_int_equal(c->retention_sweep_interval, 1);
    assert_int_equal(c->retention_batch, 2);
    assert_int_equal(c->retention_unit_ms, 10);
    wb_config_free(c);
    snprintf(text, sizeof(text), "%sretention = {\n  default = 60;\n  unit = 1;\n};\n", h);
    expect_single(f, text, 4, "unknown option 'retention.unit'");
    snprintf(text, sizeof(text), "%sretention = { default = -1; };\n", h);
    expect_single(f, text, 2, "'retention.default' is -1, must be between 0 and");
    snprintf(text, sizeof(text), "%sretention = { sweep_interval = 0; };\n", h);
    expect_single(f, text, 2, "'retention.sweep_interval' is 0, must be between 1 and");
    snprintf(text, sizeof(text), "%sretention = { batch = 0; };\n", h);
    expect_single(f, text, 2, "'retention.batch' is 0, must be between 1 and");
    snprintf(text, sizeof(text), "%sretention = { unit_ms = 1001; };\n", h);
    expect_single(f, text, 2, "'retention.unit_ms' is 1001, must be between 1 and 1000");
    snprintf(text, sizeof(text), "%sretention = { default = \"1h\"; };\n", h);
    expect_single(f, text, 2, "'retention.default' must be");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths_and_dsn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sasl_mechanisms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hosts_and_listeners, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_problems_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
