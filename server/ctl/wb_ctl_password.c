/* warblerctl: reading a new password from a file, a terminal prompt (echo off, asked twice)
 * or standard input. The buffers are wiped; nothing here is ever logged. */
#include "wb_ctl_password.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Reads one line; -1 on end of file before any byte, on error, or if it does not fit. */
static int wb_ctl_read_line(FILE *f, char *out, size_t size)
{
    if (fgets(out, (int)size, f) == NULL)
        return -1;
    const size_t n = strcspn(out, "\r\n");
    if (out[n] == '\0' && n == size - 1 && !feof(f)) {
        sodium_memzero(out, size);
        return -1;
    }
    out[n] = '\0';
    return 0;
}

static int wb_ctl_prompt(const char *prompt, char *out, size_t size)
{
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) < 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &quiet) < 0)
        return -1;
    const int rc = wb_ctl_read_line(stdin, out, size);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    return rc;
}

static int wb_ctl_password_tty(char *out, size_t size)
{
    char again[WB_CTL_PASSWORD_MAX];
    if (wb_ctl_prompt("New password: ", out, size) < 0 ||
        wb_ctl_prompt("Repeat password: ", again, sizeof(again)) < 0) {
        fprintf(stderr, "cannot read the password\n");
        return -1;
    }
    const int same = strcmp(out, again) == 0;
    sodium_memzero(again, sizeof(again));
    if (!same) {
        fprintf(stderr, "passwords do not match\n");
        return -1;
    }
    return 0;
}

static int wb_ctl_password_file(const char *file, char *out, size_t size)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", file, strerror(errno));
        return -1;
    }
    setvbuf(f, NULL, _IONBF, 0); /* no copy of the password left in a stdio buffer */
    const int rc = wb_ctl_read_line(f, out, size);
    fclose(f);
    if (rc < 0)
        fprintf(stderr, "cannot read a password line from %s\n", file);
    return rc;
}

int wb_ctl_password_read(const char *file, char *out, size_t size)
{
    int rc;
    setvbuf(stdin, NULL, _IONBF, 0);
    if (file != NULL)
        rc = wb_ctl_password_file(file, out, size);
    else if (isatty(STDIN_FILENO))
        rc = wb_ctl_password_tty(out, size);
    else if ((rc = wb_ctl_read_line(stdin, out, size)) < 0)
        fprintf(stderr, "cannot read a password line from standard input\n");
    if (rc == 0 && out[0] == '\0') {
        fprintf(stderr, "empty password refused\n");
        rc = -1;
    }
    return rc;
}
