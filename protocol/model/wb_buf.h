/* A growable byte buffer with a hard cap, for building outgoing XML and protocol messages.
 * Not for received network data (that stays in libevent's evbuffers). */
#ifndef WB_BUF_H
#define WB_BUF_H

#include <stddef.h>

typedef struct wb_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    int failed; /* set once an append failed (out of memory); later appends are no-ops */
} wb_buf;

void wb_buf_init(wb_buf *b);
void wb_buf_free(wb_buf *b);  /* frees the contents, not b */
void wb_buf_reset(wb_buf *b); /* length 0, keeps memory */
int wb_buf_append(wb_buf *b, const void *p, size_t len);
int wb_buf_puts(wb_buf *b, const char *s);
int wb_buf_printf(wb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with XML escaping for text and attribute values (& < > " '). */
int wb_buf_xml_escape(wb_buf *b, const char *s, size_t len);
int wb_buf_xml_escape_str(wb_buf *b, const char *s);
/* Detaches the data (caller frees) and leaves b empty. */
char *wb_buf_steal(wb_buf *b, size_t *len);

#endif
