/* Unit tests of the audit log without a database: the record hash's encoding, verification of an
 * in-memory chain (intact, altered, removed, swapped, truncated, bad signature, pruned), the
 * signing key file's rules and the bounded queue. The SQL side is tested by tests_audit.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "wb_audit.h"
#include "wb_audit_int.h"
#include "wb_audit_query.h"

#define N_RECS 10

typedef struct chain {
    wb_audit_rec recs[N_RECS];
    int n, pos; /* records in recs, next to hand out */
    wb_audit_checkpoint cps[4];
    int n_cps, cp_pos;
    wb_audit_head head;
    uint8_t pk[WB_AUDIT_PK_BYTES], sk[64];
} chain;

static wb_audit_rec rec(int64_t id, const char *actor, const char *role, const char *target)
{
    wb_audit_rec r = {.id = id, .time_us = 1700000000000000 + id, .ok = true};
    r.actor = (char *)actor;
    r.role = (char *)role;
    r.action = (char *)"login";
    r.target = (char *)target;
    r.source = (char *)"192.0.2.1";
    r.reason = NULL;
    return r;
}

static void sign(chain *c, int64_t last_id)
{
    wb_audit_checkpoint *cp = &c->cps[c->n_cps];
    cp->id = c->n_cps + 1;
    cp->last_id = last_id;
    cp->time_us = 1700000000000000;
    memcpy(cp->last_hash, c->recs[last_id - 1].hash, WB_AUDIT_HASH_BYTES);
    wb_audit_checkpoint_sign(cp, c->sk);
    c->n_cps++;
}

/* Records 1..N_RECS chained from zero, checkpoints after 5 and 10, the head on 10. */
static void build(chain *c)
{
    static const char *const targets[N_RECS] = {"a@x", "b@x", "c@x", "d@x", "e@x",
                                                "f@x", "g@x", "h@x", "i@x", "j@x"};
    memset(c, 0, sizeof(*c));
    crypto_sign_keypair(c->pk, c->sk);
    for (int i = 0; i < N_RECS; i++) {
        c->recs[i] = rec(i + 1, "user:alice@x", NULL, targets[i]);
        if (i > 0)
            memcpy(c->recs[i].prev_hash, c->recs[i - 1].hash, WB_AUDIT_HASH_BYTES);
        wb_audit_hash(&c->recs[i], c->recs[i].hash);
    }
    c->n = N_RECS;
    sign(c, 5);
    sign(c, 10);
    c->head.last_id = 10;
    memcpy(c->head.last_hash, c->recs[9].hash, WB_AUDIT_HASH_BYTES);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The verifier frees what it reads, as it does with the database's rows: hand out copies. */
static int src_records(void *ctx, wb_audit_rec *out, int max)
{
    chain *c = ctx;
    int n = 0;
    for (; n < max && c->pos < c->n; n++, c->pos++) {
        out[n] = c->recs[c->pos];
        out[n].actor = dup_or_null(c->recs[c->pos].actor);
        out[n].role = dup_or_null(c->recs[c->pos].role);
        out[n].action = dup_or_null(c->recs[c->pos].action);
        out[n].target = dup_or_null(c->recs[c->pos].target);
        out[n].source = dup_or_null(c->recs[c->pos].source);
        out[n].reason = dup_or_null(c->recs[c->pos].reason);
    }
    return n;
}

static int src_checkpoint(void *ctx, wb_audit_checkpoint *out)
{
    chain *c = ctx;
    if (c->cp_pos >= c->n_cps)
        return 0;
    *out = c->cps[c->cp_pos++];
    return 1;
}

static wb_audit_verify_result verify(chain *c, const uint8_t *pk)
{
    wb_audit_verify_result r;
    const wb_audit_source src = {c, src_records, src_checkpoint};
    c->pos = c->cp_pos = 0;
    assert_int_equal(wb_audit_verify_walk(&c->head, &src, pk ? pk : c->pk, &r), 0);
    return r;
}

static void test_hash_is_unambiguous(void **state)
{
    (void)state;
    uint8_t h1[WB_AUDIT_HASH_BYTES], h2[WB_AUDIT_HASH_BYTES];
    wb_audit_rec a = rec(1, "ab", "c", NULL), b = rec(1, "a", "bc", NULL);
    wb_audit_hash(&a, h1);
    wb_audit_hash(&b, h2);
    assert_memory_not_equal(h1, h2, sizeof(h1)); /* field boundaries are part of the hash */
    b = rec(1, "ab", "c", NULL);
    wb_audit_hash(&b, h2);
    assert_memory_equal(h1, h2, sizeof(h1)); /* deterministic */
    b.target = (char *)"";
    wb_audit_hash(&b, h2);
    assert_memory_not_equal(h1, h2, sizeof(h1)); /* NULL is not "" */
    b = rec(1, "ab", "c", NULL);
    b.ok = false;
    wb_audit_hash(&b, h2);
    assert_memory_not_equal(h1, h2, sizeof(h1));
    b = rec(1, "ab", "c", NULL);
    b.prev_hash[31] = 1;
    wb_audit_hash(&b, h2);
    assert_memory_not_equal(h1, h2, sizeof(h1));
    b = rec(2, "ab", "c", NULL);
    wb_audit_hash(&b, h2);
    assert_memory_not_equal(h1, h2, sizeof(h1));
}

/* The encoding is part of the stored data: changing it would make every existing log fail. The
 * expected value was computed independently (Python's hashlib.blake2b over the documented
 * encoding: tagged, length-prefixed strings, big-endian integers). */
static void test_hash_is_stable(void **state)
{
    (void)state;
    uint8_t h[WB_AUDIT_HASH_BYTES];
    char hex[2 * WB_AUDIT_HASH_BYTES + 1];
    wb_audit_rec r = rec(7, "user:alice@example.org", "superadmin", "bob@example.org");
    r.reason = (char *)"SCRAM-SHA-256";
    wb_audit_hash(&r, h);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    assert_string_equal(hex, "121969630b38cdaab139e8e42f8e6c343933a4344c3bc34e87fc2500a6922d09");
}

static void test_intact_chain_verifies(void **state)
{
    (void)state;
    chain c;
    build(&c);
    const wb_audit_verify_result r = verify(&c, NULL);
    assert_true(r.ok);
    assert_int_equal(r.checked, 10);
    assert_int_equal(r.checkpoints, 2);
    assert_int_equal(r.first_bad, 0);
}

static void test_altered_record_is_named(void **state)
{
    (void)state;
    chain c;
    build(&c);
    c.recs[3].target = (char *)"mallory@x";
    const wb_audit_verify_result r = verify(&c, NULL);
    assert_false(r.ok);
    assert_int_equal(r.first_bad, 4);
    assert_int_equal(r.checked, 3);
    assert_non_null(strstr(r.reason, "altered"));
}

static void test_removed_record_is_named(void **state)
{
    (void)state;
    chain c;
    build(&c);
    memmove(&c.recs[5], &c.recs[6], 4 * sizeof(c.recs[0]));
    c.n = 9;
    const wb_audit_verify_result r = verify(&c, NULL);
    assert_false(r.ok);
    assert_int_equal(r.first_bad, 6);
    assert_non_null(strstr(r.reason, "missing"));
}

/* Swapping two rows' contents (ids kept, as an UPDATE would) breaks the first of them. */
static void test_swapped_records_are_named(void **state)
{
    (void)state;
    chain c;
    build(&c);
    const wb_audit_rec t = c.recs[2];
    c.recs[2] = c.recs[3];
    c.recs[3] = t;
    c.recs[2].id = 3;
    c.recs[3].id = 4;
    const wb_audit_verify_result r = verify(&c, NULL);
    assert_false(r.ok);
    assert_int_equal(r.first_bad, 3);
}

/* A re-chained forgery (every hash recomputed after a change) is caught by the checkpoint. */
static void test_rechained_forgery_fails_checkpoint(void **state)
{
    (void)state;
    chain c;
    build(&c);
    c.recs[1].target = (char *)"mallory@x";
    for (int i = 1; i < N_RECS; i++) {
        memcpy(c.recs[i].prev_hash, c.recs[i - 1].hash, WB_AUDIT_HASH_BYTES);
        wb_audit_hash(&c.recs[i], c.recs[i].hash);
    }
    memcpy(c.head.last_hash, c.recs[9].hash, WB_AUDIT_HASH_BYTES);
    const wb_audit_verify_result r = verify(&c, NULL);
    assert_false(r.ok);
    assert_int_equal(r.first_bad, 5);
    assert_non_null(strstr(r.reason, "checkpoint"));
}

static void test_truncated_tail_is_detected(void **state)
{
    (void)state;
    chain c;
    build(&c);
    c.n = 8; /* records 9 and 10 gone; checkpoint 2 still names 10 */
    wb_audit_verify_result r = verify(&c, NULL);
    assert_false(r.ok);
    assert_int_equal(r.first_bad, 9);
    assert_non_null(strstr(r.reason, "truncated"));
    /* Even with the head moved back and no checkpoint after it, the head's hash must match. */
    c.n_cps = 1;
    c.head.last_id = 8;
    r = verify(&c, NULL);
    assert_false(r.ok);
    memcpy(c.head.last_hash, c.recs[7].hash, WB_AUDIT_HASH_BYTES);
    r = verify(&c, NULL);
    assert_true(r.ok); /* what no checkpoint covers cannot be proven missing */
}

static void test_bad_signature_is_caught(void **state)
{
    (void)state;
    chain c;
    build(&c);
    c.cps[0].sig[10] ^= 1;
    wb_audit_verify_result r = verify(&c, NULL);
    assert_false(r.ok);
    assert_int_equal(r.first_bad, 5);
    assert_non_null(strstr(r.reason, "signature"));
    build(&c);
    uint8_t other[WB_AUDIT_PK_BYTES], other_sk[64];
    crypto_sign_keypair(other, other_sk);
    r = verify(&c, other);
    assert_false(r.ok);
}

static void test_pruned_chain_verifies_from_anchor(void **state)
{
    (void)state;
    chain c;
    build(&c);
    c.head.pruned_id = 3;
    memcpy(c.head.pruned_hash, c.recs[2].hash, WB_AUDIT_HASH_BYTES);
    memmove(&c.recs[0], &c.recs[3], 7 * sizeof(c.recs[0]));
    c.n = 7;
    wb_audit_verify_result r = verify(&c, NULL);
    assert_true(r.ok);
    assert_int_equal(r.checked, 7);
    /* Removing the oldest remaining one without moving the anchor is caught. */
    memmove(&c.recs[0], &c.recs[1], 6 * sizeof(c.recs[0]));
    c.n = 6;
    r = verify(&c, NULL);
    assert_false(r.ok);
    assert_int_equal(r.first_bad, 4);
}

static void test_event_strings_are_cleaned(void **state)
{
    (void)state;
    char out[WB_AUDIT_FIELD_MAX + 1], in[WB_AUDIT_FIELD_MAX + 8];
    assert_int_equal(wb_audit_clean(out, "a\nb\tc\x7f"), 7);
    assert_string_equal(out, "a?b?c?");
    wb_audit_clean(out, "caf\xc3\xa9 \xc3 \xff \xed\xa0\x80"); /* bad tail, byte, surrogate */
    assert_string_equal(out, "caf\xc3\xa9 ? ? ???");
    memset(in, 'x', sizeof(in) - 1);
    in[sizeof(in) - 1] = '\0';
    assert_int_equal(wb_audit_clean(out, in), WB_AUDIT_FIELD_MAX + 1);
    assert_int_equal(strlen(out), WB_AUDIT_FIELD_MAX);
    /* A character across the limit is left out whole, not cut. */
    memcpy(in + WB_AUDIT_FIELD_MAX - 1, "\xe2\x82\xac", 4);
    wb_audit_clean(out, in);
    assert_int_equal(strlen(out), WB_AUDIT_FIELD_MAX - 1);
}

static void key_path(char *out, size_t size, const char *dir)
{
    snprintf(out, size, "%s/audit.key", dir);
}

static void test_key_file_rules_and_queue(void **state)
{
    (void)state;
    char dir[] = "/tmp/wb_test_audit_XXXXXX", path[128], err[256];
    assert_non_null(mkdtemp(dir));
    key_path(path, sizeof(path), dir);
    wb_audit_config cfg = {.dsn = "host=/nonexistent",
                           .key_file = path,
                           .create_key = false,
                           .checkpoint_records = 10,
                           .checkpoint_seconds = 60,
                           .queue_max = 3};
    assert_null(wb_audit_new(&cfg, err, sizeof(err))); /* absent and not to be created */
    cfg.create_key = true;
    wb_audit *a = wb_audit_new(&cfg, err, sizeof(err));
    assert_non_null(a);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t pk[WB_AUDIT_PK_BYTES];
    memcpy(pk, wb_audit_public_key(a), sizeof(pk));
    const wb_audit_event ev = {
        .actor = "user:a@x", .action = "login", .source = "\x01\xff", .ok = true};
    for (int i = 0; i < 3; i++)
        assert_int_equal(wb_audit_record(a, &ev), 0);
    assert_int_equal(wb_audit_record(a, &ev), -1); /* bounded */
    assert_int_equal(wb_audit_dropped(a), 1);
    assert_int_equal(wb_audit_record(NULL, &ev), 0);
    const wb_audit_event no_action = {.actor = "x"};
    assert_int_equal(wb_audit_record(a, &no_action), -1);
    wb_audit_free(a);
    /* The same file gives the same key; a file others can read is refused. */
    cfg.create_key = false;
    a = wb_audit_new(&cfg, err, sizeof(err));
    assert_non_null(a);
    assert_memory_equal(pk, wb_audit_public_key(a), sizeof(pk));
    wb_audit_free(a);
    assert_int_equal(chmod(path, 0644), 0);
    assert_null(wb_audit_new(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "too open"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_unambiguous),
        cmocka_unit_test(test_hash_is_stable),
        cmocka_unit_test(test_intact_chain_verifies),
        cmocka_unit_test(test_altered_record_is_named),
        cmocka_unit_test(test_removed_record_is_named),
        cmocka_unit_test(test_swapped_records_are_named),
        cmocka_unit_test(test_rechained_forgery_fails_checkpoint),
        cmocka_unit_test(test_truncated_tail_is_detected),
        cmocka_unit_test(test_bad_signature_is_caught),
        cmocka_unit_test(test_pruned_chain_verifies_from_anchor),
        cmocka_unit_test(test_event_strings_are_cleaned),
        cmocka_unit_test(test_key_file_rules_and_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
