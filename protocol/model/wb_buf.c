/* wb_buf: growable output buffer with XML escaping. */
#include "wb_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wb_buf_init(wb_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void wb_buf_free(wb_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void wb_buf_reset(wb_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int wb_buf_reserve(wb_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int wb_buf_append(wb_buf *b, const void *p, size_t len)
{
    if (wb_buf_reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int wb_buf_puts(wb_buf *b, const char *s)
{
    return wb_buf_append(b, s, strlen(s));
}

int wb_buf_printf(wb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || wb_buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int wb_buf_xml_escape(wb_buf *b, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            continue;
        }
        if (wb_buf_append(b, s + run, i - run) < 0 || wb_buf_puts(b, rep) < 0)
            return -1;
        run = i + 1;
    }
    return wb_buf_append(b, s + run, len - run);
}

int wb_buf_xml_escape_str(wb_buf *b, const char *s)
{
    return wb_buf_xml_escape(b, s, strlen(s));
}

char *wb_buf_steal(wb_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return p;
}
