/* warblerctl: reading a new password from a file, a terminal prompt (echo off, asked twice)
 * or standard input. Not for checking passwords (see wb_scram). */
#ifndef WB_CTL_PASSWORD_H
#define WB_CTL_PASSWORD_H

#include <stddef.h>

#define WB_CTL_PASSWORD_MAX 1024 /* bytes, including the NUL */

/* Reads the first line of `file` (NULL: terminal prompt if stdin is a tty, else one line of
 * stdin) into out, newline stripped. Returns 0, or -1 after printing a one-line reason. */
int wb_ctl_password_read(const char *file, char *out, size_t size);

#endif
