/* Unit tests for wb_caps_ver: the XEP-0115 section 5.2 example, input order not mattering, and
 * the rejection of invalid disco#info contents. Not a test of the stream feature itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wb_caps.h"

static const wb_caps_identity exodus[] = {{"client", "pc", NULL, "Exodus 0.9.1"}};

static void test_xep0115_example(void **state)
{
    (void)state;
    static const char *const features[] = {
        "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
        "http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"};
    char ver[WB_CAPS_VER_SIZE];
    assert_int_equal(wb_caps_ver(exodus, 1, features, 4, ver, sizeof(ver)), 0);
    assert_string_equal(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
}

static void test_order_does_not_matter(void **state)
{
    (void)state;
    /* Section 5.3's identities (without its data form), given in reverse order. */
    static const wb_caps_identity ids[] = {{"client", "pc", "en", "Psi 0.11"},
                                           {"client", "pc", "el", "\xCE\xA8 0.11"}};
    static const char *const features[] = {
        "http://jabber.org/protocol/muc", "http://jabber.org/protocol/disco#items",
        "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/caps"};
    char ver[WB_CAPS_VER_SIZE];
    assert_int_equal(wb_caps_ver(ids, 2, features, 4, ver, sizeof(ver)), 0);
    assert_string_equal(ver, "2ZC2Fe8xb+Ln321QG0/AaqNEfBU=");
}

static void test_nothing_hashes_the_empty_string(void **state)
{
    (void)state;
    char ver[WB_CAPS_VER_SIZE];
    assert_int_equal(wb_caps_ver(NULL, 0, NULL, 0, ver, sizeof(ver)), 0);
    assert_string_equal(ver, "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
}

static void test_invalid_input_is_refused(void **state)
{
    (void)state;
    static const char *const dup[] = {"urn:a", "urn:b", "urn:a"};
    static const char *const empty[] = {"urn:a", ""};
    static const wb_caps_identity twice[] = {{"client", "pc", NULL, "X"},
                                             {"client", "pc", "", "X"}};
    static const wb_caps_identity no_type[] = {{"client", "", NULL, NULL}};
    char ver[WB_CAPS_VER_SIZE];
    assert_int_equal(wb_caps_ver(exodus, 1, dup, 3, ver, sizeof(ver)), -1);
    assert_int_equal(wb_caps_ver(exodus, 1, empty, 2, ver, sizeof(ver)), -1);
    assert_int_equal(wb_caps_ver(twice, 2, NULL, 0, ver, sizeof(ver)), -1);
    assert_int_equal(wb_caps_ver(no_type, 1, NULL, 0, ver, sizeof(ver)), -1);
    assert_int_equal(wb_caps_ver(exodus, 1, NULL, 0, ver, WB_CAPS_VER_SIZE - 1), -1);
    assert_int_equal(wb_caps_ver(exodus, WB_CAPS_MAX_ITEMS + 1, NULL, 0, ver, sizeof(ver)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xep0115_example),
        cmocka_unit_test(test_order_does_not_matter),
        cmocka_unit_test(test_nothing_hashes_the_empty_string),
        cmocka_unit_test(test_invalid_input_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
