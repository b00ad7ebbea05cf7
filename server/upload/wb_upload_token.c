/* XEP-0363 slots: random identifiers, file name and content type rules, the HMAC token that
 * authorises one PUT (bound to account, slot, name, size, type and expiry), and URLs. */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_upload.h"

#define WB_UPLOAD_TOKEN_PREFIX "Bearer "

bool wb_upload_filename_ok(const char *name)
{
    const size_t n = strlen(name);
    if (n == 0 || n > 255 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
            return false;
    return true;
}

bool wb_upload_content_type_ok(const char *ctype)
{
    const size_t n = strlen(ctype);
    if (n == 0 || n > 255 || !strchr(ctype, '/'))
        return false;
    for (const unsigned char *p = (const unsigned char *)ctype; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            if (*p == ' ' && p > (const unsigned char *)ctype && p[-1] == ';')
                continue; /* "text/plain; charset=utf-8" */
            return false;
        }
    return true;
}

void wb_upload_new_slot(char out[WB_UPLOAD_SLOT_HEX + 1])
{
    uint8_t r[WB_UPLOAD_SLOT_HEX / 2];
    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(out, WB_UPLOAD_SLOT_HEX + 1, r, sizeof(r));
}

/* HMAC-SHA-256 over every field the token binds, unambiguously separated. */
static int wb_upload_mac(const wb_upload *u, const wb_upload_slot *s,
                         uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    char head[96];
    const int n =
        snprintf(head, sizeof(head), "wb-upload-1|%" PRId64 "|%" PRId64 "|", s->expires, s->size);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -1;
    crypto_auth_hmacsha256_init(&st, u->token_key, sizeof(u->token_key));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)head, (size_t)n);
    const char *const parts[] = {s->account, s->slot, s->filename, s->content_type};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)parts[i], strlen(parts[i]) + 1);
    crypto_auth_hmacsha256_final(&st, mac);
    return 0;
}

int wb_upload_token(const wb_upload *u, const wb_upload_slot *s, char *out, size_t size)
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char mac_hex[sizeof(mac) * 2 + 1], acc_hex[sizeof(s->account) * 2 + 1];
    const size_t alen = strlen(s->account);
    if (wb_upload_mac(u, s, mac) < 0 || alen * 2 + 1 > sizeof(acc_hex))
        return -1;
    sodium_bin2hex(mac_hex, sizeof(mac_hex), mac, sizeof(mac));
    sodium_bin2hex(acc_hex, sizeof(acc_hex), (const uint8_t *)s->account, alen);
    const int n = snprintf(out, size, WB_UPLOAD_TOKEN_PREFIX "%" PRId64 ".%" PRId64 ".%s.%s",
                           s->expires, s->size, acc_hex, mac_hex);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

int wb_upload_token_check(const wb_upload *u, const char *header, wb_upload_slot *s, time_t now)
{
    const size_t plen = strlen(WB_UPLOAD_TOKEN_PREFIX);
    if (!header || strlen(header) > WB_UPLOAD_TOKEN_MAX ||
        strncmp(header, WB_UPLOAD_TOKEN_PREFIX, plen) != 0)
        return -1;
    char *end = NULL;
    const char *p = header + plen;
    const long long expires = strtoll(p, &end, 10);
    if (end == p || *end != '.')
        return -1;
    p = end + 1;
    const long long fsize = strtoll(p, &end, 10);
    if (end == p || *end != '.' || fsize < 0)
        return -1;
    const char *acc = end + 1, *dot = strchr(acc, '.');
    size_t alen = 0, mlen = 0;
    uint8_t mac[crypto_auth_hmacsha256_BYTES], want[crypto_auth_hmacsha256_BYTES];
    memset(s->account, 0, sizeof(s->account));
    if (!dot ||
        sodium_hex2bin((uint8_t *)s->account, sizeof(s->account) - 1, acc, (size_t)(dot - acc),
                       NULL, &alen, NULL) != 0 ||
        sodium_hex2bin(mac, sizeof(mac), dot + 1, strlen(dot + 1), NULL, &mlen, NULL) != 0 ||
        mlen != sizeof(mac) || alen == 0 || memchr(s->account, '\0', alen))
        return -1;
    s->expires = expires;
    s->size = fsize;
    if (wb_upload_mac(u, s, want) < 0 || sodium_memcmp(mac, want, sizeof(mac)) != 0)
        return -1;
    return (int64_t)now <= s->expires ? 0 : -1;
}

void wb_upload_escape(const char *s, wb_buf *b)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            wb_buf_append(b, p, 1);
        } else {
            const char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            wb_buf_append(b, e, 3);
        }
    }
}

void wb_upload_url(const wb_upload *u, const char *slot, const char *filename, wb_buf *b)
{
    const char *base = u->conf->public_url;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    wb_buf_append(b, base, blen);
    wb_buf_printf(b, "/upload/%s/", slot);
    wb_upload_escape(filename, b);
}
