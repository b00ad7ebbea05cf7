/* XEP-0115 section 5.1 verification string: sorted identities and features joined with '<',
 * hashed with SHA-1 and encoded in base64. Not for data forms (the server sends none). */
#include "wb_caps.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "wb_buf.h"

static const char *wb_caps_str(const char *s)
{
    return s ? s : "";
}

/* Byte-wise ("i;octet") order of category, type, xml:lang, then name. */
static int wb_caps_cmp_identity(const void *a, const void *b)
{
    const wb_caps_identity *x = *(const wb_caps_identity *const *)a;
    const wb_caps_identity *y = *(const wb_caps_identity *const *)b;
    int r = strcmp(x->category, y->category);
    if (r == 0)
        r = strcmp(x->type, y->type);
    if (r == 0)
        r = strcmp(wb_caps_str(x->lang), wb_caps_str(y->lang));
    if (r == 0)
        r = strcmp(wb_caps_str(x->name), wb_caps_str(y->name));
    return r;
}

static int wb_caps_cmp_feature(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the sorted identities to s; -1 on an empty field or a repeated identity. */
static int wb_caps_put_identities(wb_buf *s, const wb_caps_identity *ids, size_t n)
{
    const wb_caps_identity *sorted[WB_CAPS_MAX_ITEMS];
    for (size_t i = 0; i < n; i++) {
        if (!ids[i].category || !ids[i].category[0] || !ids[i].type || !ids[i].type[0])
            return -1;
        sorted[i] = &ids[i];
    }
    qsort(sorted, n, sizeof(sorted[0]), wb_caps_cmp_identity);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && wb_caps_cmp_identity(&sorted[i - 1], &sorted[i]) == 0)
            return -1;
        wb_buf_printf(s, "%s/%s/%s/%s<", sorted[i]->category, sorted[i]->type,
                      wb_caps_str(sorted[i]->lang), wb_caps_str(sorted[i]->name));
    }
    return 0;
}

/* Appends the sorted features to s; -1 on an empty or repeated feature. */
static int wb_caps_put_features(wb_buf *s, const char *const *features, size_t n)
{
    const char *sorted[WB_CAPS_MAX_ITEMS];
    for (size_t i = 0; i < n; i++) {
        if (!features[i] || !features[i][0])
            return -1;
        sorted[i] = features[i];
    }
    qsort(sorted, n, sizeof(sorted[0]), wb_caps_cmp_feature);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(sorted[i - 1], sorted[i]) == 0)
            return -1;
        wb_buf_puts(s, sorted[i]);
        wb_buf_puts(s, "<");
    }
    return 0;
}

int wb_caps_ver(const wb_caps_identity *ids, size_t n_ids, const char *const *features,
                size_t n_features, char *out, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = -1;
    if (size < WB_CAPS_VER_SIZE || n_ids > WB_CAPS_MAX_ITEMS || n_features > WB_CAPS_MAX_ITEMS ||
        (n_ids && !ids) || (n_features && !features))
        return -1;
    wb_buf s;
    wb_buf_init(&s);
    if (wb_caps_put_identities(&s, ids, n_ids) < 0 ||
        wb_caps_put_features(&s, features, n_features) < 0 || s.failed)
        goto done;
    if (EVP_Digest(s.len ? s.data : "", s.len, md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20)
        goto done;
    /* 20 bytes encode to 28 characters plus the NUL that EVP_EncodeBlock writes. */
    if (EVP_EncodeBlock((unsigned char *)out, md, (int)md_len) != WB_CAPS_VER_SIZE - 1)
        goto done;
    rc = 0;
done:
    wb_buf_free(&s);
    return rc;
}
