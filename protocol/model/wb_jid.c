/* JID parsing and preparation (RFC 7622 with libidn's stringprep profiles), and the bare/full
 * forms. Not for deciding where stanzas go: that is the router's job. */
#include "wb_jid.h"

#include <arpa/inet.h>
#include <idna.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

/* Room for a part while stringprep works on it: preparation may grow it (case folding, NFKC),
 * and any result that does not fit here is far over WB_JID_PART_MAX anyway. */
#define WB_JID_WORK  (4 * (WB_JID_PART_MAX + 1))
#define WB_JID_LABEL 63

/* Strict UTF-8 check: no overlong forms, no surrogates, nothing above U+10FFFF, no NUL. */
static int wb_jid_utf8_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const unsigned char c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* Copies and prepares one part with a stringprep profile into out (WB_JID_PART_MAX + 1). */
static int wb_jid_prep(char *out, const char *s, size_t len, const Stringprep_profile *profile)
{
    char work[WB_JID_WORK];
    if (len == 0 || len >= sizeof(work) || !wb_jid_utf8_ok((const unsigned char *)s, len))
        return -1;
    memcpy(work, s, len);
    work[len] = '\0';
    if (stringprep(work, sizeof(work), 0, profile) != STRINGPREP_OK)
        return -1;
    const size_t n = strlen(work);
    if (n == 0 || n > WB_JID_PART_MAX)
        return -1;
    memcpy(out, work, n + 1);
    return 0;
}

int wb_jid_prep_node(char *out, const char *s, size_t len)
{
    return wb_jid_prep(out, s, len, stringprep_xmpp_nodeprep);
}

int wb_jid_prep_resource(char *out, const char *s, size_t len)
{
    return wb_jid_prep(out, s, len, stringprep_xmpp_resourceprep);
}

/* "[v6]" literal: validated and written in canonical form. 1 = handled, 0 = not one, -1 bad. */
static int wb_jid_ip_literal(char *out, const char *s, size_t len)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char addr[sizeof(struct in6_addr)];
    if (len > 0 && s[0] == '[') {
        if (len < 3 || s[len - 1] != ']' || len - 2 >= sizeof(tmp))
            return -1;
        memcpy(tmp, s + 1, len - 2);
        tmp[len - 2] = '\0';
        if (inet_pton(AF_INET6, tmp, addr) != 1 || !inet_ntop(AF_INET6, addr, tmp, sizeof(tmp)))
            return -1;
        snprintf(out, WB_JID_PART_MAX + 1, "[%s]", tmp);
        return 1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
            return 0; /* not all digits and dots: a domain name */
    }
    if (len >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (inet_pton(AF_INET, tmp, addr) != 1) /* glibc: dotted quad, no leading zeros */
        return -1;
    memcpy(out, tmp, len + 1);
    return 1;
}

/* ASCII in a domain label: letters, digits, hyphen and underscore (STD3 plus '_'). */
static int wb_jid_label_ascii_ok(const char *l)
{
    for (const unsigned char *p = (const unsigned char *)l; *p; p++) {
        if (*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_')
            continue;
        return 0;
    }
    return 1;
}

/* Turns an A-label (already lower-case, NUL-terminated in buf) into its U-label in place;
 * rejects labels that do not round-trip, so that each domain has exactly one form. */
static int wb_jid_alabel(char *buf, size_t size)
{
    char *u = NULL, *a = NULL;
    int ret = -1;
    if (idna_to_unicode_8z8z(buf, &u, 0) != IDNA_SUCCESS || strcmp(u, buf) == 0)
        goto done;
    if (stringprep_nameprep(u, strlen(u) + 1) != STRINGPREP_OK)
        goto done;
    if (idna_to_ascii_8z(u, &a, 0) != IDNA_SUCCESS || strcmp(a, buf) != 0)
        goto done;
    if (strlen(u) >= size)
        goto done;
    memcpy(buf, u, strlen(u) + 1);
    ret = 0;
done:
    free(u);
    free(a);
    return ret;
}

/* Prepares one label (len bytes of valid UTF-8, no dots) and appends it to out at *pos. */
static int wb_jid_label(char *out, size_t *pos, const char *s, size_t len)
{
    char work[WB_JID_WORK];
    char *ace = NULL;
    if (len == 0 || len >= sizeof(work))
        return -1;
    memcpy(work, s, len);
    work[len] = '\0';
    if (stringprep_nameprep(work, sizeof(work)) != STRINGPREP_OK)
        return -1; /* also lower-cases an "XN--" prefix */
    if (strncmp(work, "xn--", 4) == 0 && wb_jid_alabel(work, sizeof(work)) < 0)
        return -1;
    const size_t n = strlen(work);
    if (n == 0 || n > WB_JID_LABEL || !wb_jid_label_ascii_ok(work))
        return -1;
    /* The A-label must also fit in 63 octets (idna_to_ascii checks that). */
    const int rc = idna_to_ascii_8z(work, &ace, 0);
    free(ace);
    if (rc != IDNA_SUCCESS)
        return -1;
    if (*pos + n + (*pos ? 1 : 0) > WB_JID_PART_MAX)
        return -1;
    if (*pos)
        out[(*pos)++] = '.';
    memcpy(out + *pos, work, n + 1);
    *pos += n;
    return 0;
}

/* Length of a label separator at s (full stop, ideographic/fullwidth/halfwidth stops), or 0. */
static size_t wb_jid_dot(const unsigned char *s, size_t left)
{
    if (s[0] == '.')
        return 1;
    if (left >= 3 && ((s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x82) ||
                      (s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x8E) ||
                      (s[0] == 0xEF && s[1] == 0xBD && s[2] == 0xA1)))
        return 3;
    return 0;
}

int wb_jid_prep_domain(char *out, const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '.')
        len--; /* one trailing dot is stripped (RFC 7622 3.2) */
    if (len == 0 || len >= WB_JID_WORK || !wb_jid_utf8_ok((const unsigned char *)s, len))
        return -1;
    const int ip = wb_jid_ip_literal(out, s, len);
    if (ip != 0)
        return ip > 0 ? 0 : -1;
    size_t pos = 0, start = 0, i = 0;
    out[0] = '\0';
    while (i <= len) {
        const size_t d = i < len ? wb_jid_dot((const unsigned char *)s + i, len - i) : 1;
        if (d == 0) {
            i++;
            continue;
        }
        if (wb_jid_label(out, &pos, s + start, i - start) < 0)
            return -1;
        i += d;
        start = i;
    }
    /* Preparation can turn other characters into ASCII digits and dots (U+FF12 FULLWIDTH DIGIT
     * TWO is "2"): the result must pass the same IP-literal rules as if it had been typed so, or
     * a prepared JID would not parse again. */
    char lit[WB_JID_PART_MAX + 1];
    const int ip2 = wb_jid_ip_literal(lit, out, strlen(out));
    if (ip2 < 0)
        return -1;
    if (ip2 > 0)
        memcpy(out, lit, strlen(lit) + 1);
    return 0;
}

int wb_jid_parse(wb_jid *out, const char *s, size_t len)
{
    memset(out, 0, sizeof(*out));
    if (!s || len == 0)
        return -1;
    const char *slash = memchr(s, '/', len);
    const size_t head = slash ? (size_t)(slash - s) : len;
    const char *at = memrchr(s, '@', head);
    const char *dom = at ? at + 1 : s;
    const size_t dom_len = head - (size_t)(dom - s);
    if (at && wb_jid_prep_node(out->node, s, (size_t)(at - s)) < 0)
        goto fail;
    if (wb_jid_prep_domain(out->domain, dom, dom_len) < 0)
        goto fail;
    if (slash && wb_jid_prep_resource(out->resource, slash + 1, len - head - 1) < 0)
        goto fail;
    return 0;
fail:
    memset(out, 0, sizeof(*out));
    return -1;
}

bool wb_jid_has_node(const wb_jid *j)
{
    return j->node[0] != '\0';
}

bool wb_jid_has_resource(const wb_jid *j)
{
    return j->resource[0] != '\0';
}

int wb_jid_bare(const wb_jid *j, char *buf, size_t size)
{
    const int n = wb_jid_has_node(j) ? snprintf(buf, size, "%s@%s", j->node, j->domain)
                                     : snprintf(buf, size, "%s", j->domain);
    return (n < 0 || (size_t)n >= size) ? -1 : n;
}

int wb_jid_full(const wb_jid *j, char *buf, size_t size)
{
    const int b = wb_jid_bare(j, buf, size);
    if (b < 0 || !wb_jid_has_resource(j))
        return b;
    const int n = snprintf(buf + b, size - (size_t)b, "/%s", j->resource);
    return (n < 0 || (size_t)n >= size - (size_t)b) ? -1 : b + n;
}

bool wb_jid_bare_eq(const wb_jid *a, const wb_jid *b)
{
    return strcmp(a->node, b->node) == 0 && strcmp(a->domain, b->domain) == 0;
}

bool wb_jid_full_eq(const wb_jid *a, const wb_jid *b)
{
    return wb_jid_bare_eq(a, b) && strcmp(a->resource, b->resource) == 0;
}
