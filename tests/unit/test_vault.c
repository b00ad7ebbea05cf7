/* Unit tests of the vault (storage/wb_vault.c): key files, wrapping, sealing and opening. Not a
 * test of the database side (tests/integ/tests_vault.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wb_vault.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    wb_vault *v;
    wb_vault_key *k;
} fixture;

static void write_file(const char *path, size_t n, mode_t mode)
{
    uint8_t buf[64];
    randombytes_buf(buf, sizeof(buf));
    unlink(path);
    const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/wb-vault-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/master.key", f->dir);
    if (wb_vault_create_key_file(f->path, err, sizeof(err)) != 1)
        return -1;
    f->v = wb_vault_open(f->path, err, sizeof(err));
    uint8_t wrapped[WB_VAULT_WRAPPED_BYTES], id[WB_VAULT_ID_BYTES];
    f->k = f->v ? wb_vault_key_new(f->v, 42, wrapped, id) : NULL;
    *state = f;
    return f->k != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    wb_vault_key_unref(f->k);
    wb_vault_free(f->v);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const char plain[] = "<message><body>secret marker</body></message>";
#define PLAIN_LEN (sizeof(plain) - 1)

static void seal(const fixture *f, const char *ad, uint8_t *out)
{
    assert_int_equal(wb_vault_seal(f->k, ad, (const uint8_t *)plain, PLAIN_LEN, out), 0);
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    uint8_t sealed[PLAIN_LEN + WB_VAULT_OVERHEAD], out[PLAIN_LEN];
    seal(f, "offline:42:a", sealed);
    assert_null(memmem(sealed, sizeof(sealed), "marker", 6));
    assert_int_equal(wb_vault_open_sealed(f->k, "offline:42:a", sealed, sizeof(sealed), out), 0);
    assert_memory_equal(out, plain, PLAIN_LEN);
    assert_int_equal(wb_vault_key_account(f->k), 42);
}

static void test_wrong_ad_fails(void **state)
{
    fixture *f = *state;
    uint8_t sealed[PLAIN_LEN + WB_VAULT_OVERHEAD], out[PLAIN_LEN];
    seal(f, "offline:42:a", sealed);
    assert_int_equal(wb_vault_open_sealed(f->k, "offline:42:b", sealed, sizeof(sealed), out), -1);
    assert_int_equal(wb_vault_open_sealed(f->k, "offline:43:a", sealed, sizeof(sealed), out), -1);
}

static void test_tampered_byte_fails(void **state)
{
    fixture *f = *state;
    uint8_t sealed[PLAIN_LEN + WB_VAULT_OVERHEAD], out[PLAIN_LEN];
    for (size_t i = 0; i < sizeof(sealed); i += 7) {
        seal(f, "xml:42:vcard:", sealed);
        sealed[i] ^= 0x01;
        assert_int_equal(wb_vault_open_sealed(f->k, "xml:42:vcard:", sealed, sizeof(sealed), out),
                         -1);
    }
    seal(f, "xml:42:vcard:", sealed);
    assert_int_equal(wb_vault_open_sealed(f->k, "xml:42:vcard:", sealed, sizeof(sealed) - 1, out),
                     -1);
    assert_int_equal(wb_vault_open_sealed(f->k, "xml:42:vcard:", sealed, 10, out), -1);
}

static void test_wrong_key_fails(void **state)
{
    fixture *f = *state;
    uint8_t sealed[PLAIN_LEN + WB_VAULT_OVERHEAD], out[PLAIN_LEN];
    uint8_t wrapped[WB_VAULT_WRAPPED_BYTES], id[WB_VAULT_ID_BYTES];
    wb_vault_key *other = wb_vault_key_new(f->v, 42, wrapped, id);
    assert_non_null(other);
    seal(f, "offline:42:a", sealed);
    assert_int_equal(wb_vault_open_sealed(other, "offline:42:a", sealed, sizeof(sealed), out), -1);
    wb_vault_key_unref(other);
}

static void test_wrap_unwrap(void **state)
{
    fixture *f = *state;
    uint8_t sealed[PLAIN_LEN + WB_VAULT_OVERHEAD], out[PLAIN_LEN];
    uint8_t wrapped[WB_VAULT_WRAPPED_BYTES], id[WB_VAULT_ID_BYTES];
    wb_vault_key *k = wb_vault_key_new(f->v, 7, wrapped, id);
    assert_non_null(k);
    assert_int_equal(wb_vault_seal(k, "t", (const uint8_t *)plain, PLAIN_LEN, sealed), 0);
    wb_vault_key_unref(k);
    k = wb_vault_key_unwrap(f->v, 7, id, sizeof(id), wrapped, sizeof(wrapped));
    assert_non_null(k);
    assert_int_equal(wb_vault_open_sealed(k, "t", sealed, sizeof(sealed), out), 0);
    wb_vault_key_unref(k);
    /* wrapped for account 7: refused for account 8 (associated data), and with a bad id */
    assert_null(wb_vault_key_unwrap(f->v, 8, id, sizeof(id), wrapped, sizeof(wrapped)));
    id[0] ^= 1;
    assert_null(wb_vault_key_unwrap(f->v, 7, id, sizeof(id), wrapped, sizeof(wrapped)));
}

static void test_rotation(void **state)
{
    fixture *f = *state;
    char err[256], next[160];
    uint8_t wrapped[WB_VAULT_WRAPPED_BYTES], id[WB_VAULT_ID_BYTES], re[WB_VAULT_WRAPPED_BYTES];
    uint8_t cur_id[WB_VAULT_ID_BYTES], next_id[WB_VAULT_ID_BYTES];
    wb_vault_key *k = wb_vault_key_new(f->v, 9, wrapped, id);
    wb_vault_key_unref(k);
    assert_false(wb_vault_rotating(f->v, cur_id, next_id));
    snprintf(next, sizeof(next), "%s.next", f->path);
    assert_int_equal(wb_vault_create_key_file(next, err, sizeof(err)), 1);
    assert_int_equal(wb_vault_create_key_file(next, err, sizeof(err)), 0);
    assert_int_equal(wb_vault_reload(f->v, err, sizeof(err)), 0);
    assert_true(wb_vault_rotating(f->v, cur_id, next_id));
    assert_int_equal(wb_vault_rewrap(f->v, 9, id, sizeof(id), wrapped, sizeof(wrapped), re), 0);
    assert_int_equal(wb_vault_finish_rotation(f->v, err, sizeof(err)), 0);
    assert_false(wb_vault_rotating(f->v, cur_id, NULL));
    assert_memory_equal(cur_id, next_id, WB_VAULT_ID_BYTES);
    k = wb_vault_key_unwrap(f->v, 9, next_id, sizeof(next_id), re, sizeof(re));
    assert_non_null(k);
    wb_vault_key_unref(k);
    /* the old master key is gone */
    assert_null(wb_vault_key_unwrap(f->v, 9, id, sizeof(id), wrapped, sizeof(wrapped)));
}

static void test_wide_mode_refused(void **state)
{
    fixture *f = *state;
    char err[256], path[160];
    snprintf(path, sizeof(path), "%s/wide.key", f->dir);
    write_file(path, 32, 0644);
    assert_null(wb_vault_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "mode 644 is too open"));
    write_file(path, 32, 0640);
    assert_null(wb_vault_open(path, err, sizeof(err)));
    write_file(path, 32, 0400);
    wb_vault *v = wb_vault_open(path, err, sizeof(err));
    assert_non_null(v);
    wb_vault_free(v);
}

static void test_wrong_size_refused(void **state)
{
    fixture *f = *state;
    char err[256], path[160];
    snprintf(path, sizeof(path), "%s/short.key", f->dir);
    write_file(path, 31, 0600);
    assert_null(wb_vault_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "exactly 32 bytes"));
    write_file(path, 33, 0600);
    assert_null(wb_vault_open(path, err, sizeof(err)));
    snprintf(path, sizeof(path), "%s/absent.key", f->dir);
    assert_null(wb_vault_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read"));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_ad_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_byte_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_unwrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wide_mode_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_size_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
