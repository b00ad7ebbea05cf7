/* The configuration unit tests' fixture (test_config.c, test_config_s2s.c): a temporary directory,
 * a file written there and loaded with stderr captured, and checks of the one-line errors. */
#ifndef WB_TEST_CONFIG_FIXTURE_H
#define WB_TEST_CONFIG_FIXTURE_H

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

#define ERR_MAX 8192

typedef struct fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX + 32];
    char err[ERR_MAX];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/wb_test_config.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/warbler.conf", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Writes `text` as the configuration file, loads it with stderr captured into f->err. */
static wb_config *load_text(fixture *f, const char *text)
{
    char errpath[PATH_MAX + 32];
    FILE *out = fopen(f->path, "w");
    wb_config *c;
    int saved, fd;
    ssize_t n;

    assert_non_null(out);
    assert_int_equal(fputs(text, out) >= 0, 1);
    assert_int_equal(fclose(out), 0);
    snprintf(errpath, sizeof(errpath), "%s/stderr", f->dir);
    fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(2);
    dup2(fd, 2);
    c = wb_config_load(f->path);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, f->err, sizeof(f->err) - 1, 0);
    f->err[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(errpath);
    return c;
}

/* Asserts that the captured errors contain "PATH:LINE: msg". */
static void expect_error(const fixture *f, int line, const char *msg)
{
    char want[PATH_MAX + 256];

    snprintf(want, sizeof(want), "%s:%d: %s", f->path, line, msg);
    if (strstr(f->err, want) == NULL) {
        print_error("expected \"%s\" in:\n%s\n", want, f->err);
        fail();
    }
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* Loads a file that must fail with exactly one problem: `msg` on `line`. */
static void expect_single(fixture *f, const char *text, int line, const char *msg)
{
    wb_config *c = load_text(f, text);

    assert_null(c);
    expect_error(f, line, msg);
    assert_int_equal(count_lines(f->err), 1);
}

#endif
