/* Unit tests for the XEP-0198 counter arithmetic (mod 2^32, across the wrap), the parsing of h
 * and of resumption ids. Not a test of the session logic (see tests/integ/tests_sm.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wb_c2s_sm.h"

static void test_unacked_wraps(void **state)
{
    (void)state;
    assert_int_equal(wb_sm_unacked(10, 4), 6);
    assert_int_equal(wb_sm_unacked(3, UINT32_MAX - 1), 5); /* sent wrapped past 2^32 */
    assert_int_equal(wb_sm_unacked(0, 0), 0);
    assert_int_equal(wb_sm_unacked(0, UINT32_MAX), 1);
}

static void test_ack_counts(void **state)
{
    (void)state;
    uint32_t n = 99;
    assert_int_equal(wb_sm_ack(0, 5, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(wb_sm_ack(3, 5, 3, &n), 0); /* the same h again acknowledges nothing */
    assert_int_equal(n, 0);
    assert_int_equal(wb_sm_ack(3, 5, 5, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(wb_sm_ack(3, 5, 6, &n), -1); /* more than was sent */
    assert_int_equal(wb_sm_ack(3, 5, 2, &n), -1); /* going back counts as ~2^32 ahead */
}

static void test_ack_across_wrap(void **state)
{
    (void)state;
    uint32_t n = 0;
    const uint32_t acked = UINT32_MAX - 2, sent = 4; /* 7 stanzas sent, counter wrapped */
    assert_int_equal(wb_sm_ack(acked, sent, UINT32_MAX, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(wb_sm_ack(acked, sent, 0, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(wb_sm_ack(acked, sent, 4, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(wb_sm_ack(acked, sent, 5, &n), -1);
    assert_int_equal(wb_sm_ack(acked, sent, UINT32_MAX - 3, &n), -1);
}

static void test_parse_h(void **state)
{
    (void)state;
    uint32_t h = 7;
    assert_int_equal(wb_sm_parse_h("0", &h), 0);
    assert_int_equal(h, 0);
    assert_int_equal(wb_sm_parse_h("4294967295", &h), 0);
    assert_int_equal(h, UINT32_MAX);
    assert_int_equal(wb_sm_parse_h("4294967296", &h), -1);
    assert_int_equal(wb_sm_parse_h("99999999999", &h), -1);
    assert_int_equal(wb_sm_parse_h("", &h), -1);
    assert_int_equal(wb_sm_parse_h(NULL, &h), -1);
    assert_int_equal(wb_sm_parse_h("-1", &h), -1);
    assert_int_equal(wb_sm_parse_h("12a", &h), -1);
    assert_int_equal(wb_sm_parse_h(" 1", &h), -1);
}

static void test_ids(void **state)
{
    (void)state;
    unsigned char tok[WB_SM_TOKEN_LEN], back[WB_SM_TOKEN_LEN];
    for (size_t i = 0; i < sizeof(tok); i++)
        tok[i] = (unsigned char)(i * 37 + 5);
    char id[WB_SM_ID_MAX];
    assert_int_equal(wb_sm_format_id(id, sizeof(id), 123456789012ULL, tok), 0);
    uint64_t sid = 0;
    assert_int_equal(wb_sm_parse_id(id, &sid, back), 0);
    assert_true(sid == 123456789012ULL);
    assert_memory_equal(tok, back, sizeof(tok));
    assert_int_equal(wb_sm_format_id(id, 10, 1, tok), -1); /* does not fit */
    assert_int_equal(wb_sm_parse_id("", &sid, back), -1);
    assert_int_equal(wb_sm_parse_id("2-", &sid, back), -1);
    assert_int_equal(wb_sm_parse_id("-00112233445566778899aabbccddeeff", &sid, back), -1);
    assert_int_equal(wb_sm_parse_id("x-00112233445566778899aabbccddeeff", &sid, back), -1);
    assert_int_equal(wb_sm_parse_id("2-00112233445566778899AABBCCDDEEFF", &sid, back), -1);
    assert_int_equal(wb_sm_parse_id("2-00112233445566778899aabbccddeeff0", &sid, back), -1);
    assert_int_equal(wb_sm_parse_id("2-00112233445566778899aabbccddee", &sid, back), -1);
    assert_int_equal(wb_sm_parse_id("2-00112233445566778899aabbccddeeff", &sid, back), 0);
    assert_true(sid == 2);
    assert_int_equal(back[15], 0xff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unacked_wraps),
        cmocka_unit_test(test_ack_counts),
        cmocka_unit_test(test_ack_across_wrap),
        cmocka_unit_test(test_parse_h),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
