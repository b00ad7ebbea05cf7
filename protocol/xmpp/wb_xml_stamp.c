/* Stamping: rewrites only the from/to attribute values of a stanza's original start tag and
 * copies every other byte as received. Not for building new XML (see wb_buf). */
#include "wb_xml.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct wb_span {
    int found;
    size_t start, end; /* attribute value, without quotes */
} wb_span;

typedef struct wb_edit {
    const wb_span *sp;
    const char *val;
} wb_edit;

static int is_xml_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && is_xml_ws(s[i]))
        i++;
    return i;
}

static void note_attr(const char *s, size_t ns, size_t ne, size_t vs, size_t ve, wb_span *from,
                      wb_span *to)
{
    wb_span *sp = NULL;
    if (ne - ns == 4 && memcmp(s + ns, "from", 4) == 0)
        sp = from;
    else if (ne - ns == 2 && memcmp(s + ns, "to", 2) == 0)
        sp = to;
    if (sp)
        *sp = (wb_span){1, vs, ve};
}

/* Finds the end of the element name and the from/to values in a well-formed start tag. */
static int scan_tag(const char *s, size_t n, size_t *name_end, wb_span *from, wb_span *to)
{
    size_t i = 1;
    if (n < 2 || s[0] != '<')
        return -1;
    while (i < n && !is_xml_ws(s[i]) && s[i] != '/' && s[i] != '>')
        i++;
    *name_end = i;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i >= n)
            return -1;
        if (s[i] == '/' || s[i] == '>')
            return 0;
        size_t ns = i;
        while (i < n && !is_xml_ws(s[i]) && s[i] != '=')
            i++;
        size_t ne = i;
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '=')
            return -1;
        i = skip_ws(s, i + 1, n);
        if (i >= n || (s[i] != '\'' && s[i] != '"'))
            return -1;
        const char q = s[i++];
        size_t vs = i;
        while (i < n && s[i] != q)
            i++;
        if (i >= n)
            return -1;
        note_attr(s, ns, ne, vs, i, from, to);
        i++;
    }
}

static int put_new_attr(wb_buf *out, const char *name, const char *value)
{
    int rc = wb_buf_puts(out, name);
    rc |= wb_buf_xml_escape_str(out, value);
    rc |= wb_buf_puts(out, "'");
    return rc;
}

int wb_st_write_stamped(const wb_stanza *st, const char *from, const char *to, wb_buf *out)
{
    wb_span f = {0}, t = {0};
    size_t name_end, raw_len;
    if (!st || !out)
        return -1;
    const char *raw = wb_st_raw(st, &raw_len);
    if (scan_tag(raw, wb_st_start_tag_len(st), &name_end, &f, &t) < 0)
        return -1;
    wb_edit ed[2];
    int ned = 0;
    if (from && f.found)
        ed[ned++] = (wb_edit){&f, from};
    if (to && t.found)
        ed[ned++] = (wb_edit){&t, to};
    if (ned == 2 && ed[1].sp->start < ed[0].sp->start) {
        const wb_edit tmp = ed[0];
        ed[0] = ed[1];
        ed[1] = tmp;
    }
    int rc = wb_buf_append(out, raw, name_end);
    if (from && !f.found)
        rc |= put_new_attr(out, " from='", from);
    if (to && !t.found)
        rc |= put_new_attr(out, " to='", to);
    size_t pos = name_end;
    for (int i = 0; i < ned; i++) {
        rc |= wb_buf_append(out, raw + pos, ed[i].sp->start - pos);
        rc |= wb_buf_xml_escape_str(out, ed[i].val);
        pos = ed[i].sp->end;
    }
    rc |= wb_buf_append(out, raw + pos, raw_len - pos);
    return rc < 0 ? -1 : 0;
}

int wb_xml_with_default_ns(const char *bytes, size_t len, const char *ns, wb_buf *out)
{
    if (len < 2 || bytes[0] != '<')
        return -1;
    size_t name_end = 1;
    while (name_end < len && !is_xml_ws(bytes[name_end]) && bytes[name_end] != '/' &&
           bytes[name_end] != '>')
        name_end++;
    bool declared = false;
    char quote = 0;
    size_t i = name_end;
    for (; i < len && (quote || bytes[i] != '>'); i++) {
        if (quote) {
            quote = bytes[i] == quote ? 0 : quote;
        } else if (bytes[i] == '\'' || bytes[i] == '"') {
            quote = bytes[i];
        } else if (is_xml_ws(bytes[i]) && len - i > 6 && memcmp(bytes + i + 1, "xmlns", 5) == 0) {
            size_t k = i + 6;
            while (k < len && is_xml_ws(bytes[k]))
                k++;
            declared = declared || (k < len && bytes[k] == '=');
        }
    }
    if (i >= len)
        return -1;
    if (declared)
        return wb_buf_append(out, bytes, len);
    int rc = wb_buf_append(out, bytes, name_end);
    rc |= wb_buf_puts(out, " xmlns='");
    rc |= wb_buf_xml_escape_str(out, ns);
    rc |= wb_buf_puts(out, "'");
    rc |= wb_buf_append(out, bytes + name_end, len - name_end);
    return rc < 0 ? -1 : 0;
}
