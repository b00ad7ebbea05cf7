/* Per-account XML documents: the stored form of an element (its received bytes, self-contained)
 * and the get/put queries. Every value goes through wb_store_xml_seal/unseal; nothing else reads
 * the column. Not for access rules (server/modules/vcard.c, private.c). */
#include "wb_store_xmlstore.h"

#include <stdbool.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"

#define WB_STORE_PART_MAX 1023 /* bytes of a prepared node or domain */
#define WB_XD_DEPTH_MAX   256  /* nesting followed when locating an element */
#define WB_XD_DECLS_MAX   64   /* namespace declarations gathered from the ancestors */

/* ---- The stored form of an element ---- */

typedef struct wb_xd_span {
    size_t start, end; /* '<' .. just past '>' (a tag), or any byte range of raw */
} wb_xd_span;

typedef struct wb_xd_scan {
    const char *raw;
    size_t len;
    wb_xd_span open[WB_XD_DEPTH_MAX]; /* start tags of the open elements, outermost first */
    size_t depth;
    wb_xd_span target;   /* the element's start tag */
    size_t target_depth; /* its ancestors are open[0 .. target_depth) */
    size_t end;          /* just past the element's end */
} wb_xd_scan;

/* Just past the '>' ending the tag that starts at p (quotes respected), or 0. */
static size_t wb_xd_tag_end(const char *raw, size_t len, size_t p)
{
    char quote = 0;
    for (size_t i = p + 1; i < len; i++) {
        const char c = raw[i];
        if (quote != 0) {
            if (c == quote)
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '>') {
            return i + 1;
        }
    }
    return 0;
}

/* Handles one start tag [p, e): counts it in document order (the tree's element order). Returns
 * 1 when the target element is complete, 0 to go on, -1 on error. */
static int wb_xd_start_tag(wb_xd_scan *s, size_t p, size_t e, wb_el el, wb_el *idx)
{
    const bool empty = s->raw[e - 2] == '/';
    if (++*idx == el) {
        s->target = (wb_xd_span){p, e};
        s->target_depth = s->depth;
        if (empty) {
            s->end = e;
            return 1;
        }
    }
    if (!empty) {
        if (s->depth == WB_XD_DEPTH_MAX)
            return -1;
        s->open[s->depth++] = (wb_xd_span){p, e};
    }
    return 0;
}

/* Finds the byte range of element el (the el-th start tag) in well-formed raw bytes. */
static int wb_xd_locate(wb_xd_scan *s, wb_el el)
{
    static const char cdata[] = "<![CDATA[";
    wb_el idx = -1;
    size_t p = 0;
    while (p < s->len) {
        const char *lt = memchr(s->raw + p, '<', s->len - p);
        if (lt == NULL || (size_t)(lt - s->raw) + 1 >= s->len)
            return -1;
        p = (size_t)(lt - s->raw);
        if (s->len - p >= sizeof(cdata) - 1 && memcmp(lt, cdata, sizeof(cdata) - 1) == 0) {
            const char *ce = memmem(lt, s->len - p, "]]>", 3);
            if (ce == NULL)
                return -1;
            p = (size_t)(ce - s->raw) + 3;
            continue;
        }
        if (lt[1] == '!' || lt[1] == '?')
            return -1; /* refused by the stream parser already */
        const size_t e = wb_xd_tag_end(s->raw, s->len, p);
        if (e == 0)
            return -1;
        if (lt[1] != '/') {
            const int rc = wb_xd_start_tag(s, p, e, el, &idx);
            if (rc != 0)
                return rc > 0 ? 0 : -1;
        } else {
            if (s->depth == 0)
                return -1;
            if (--s->depth == s->target_depth && idx >= el) {
                s->end = e;
                return 0;
            }
        }
        p = e;
    }
    return -1;
}

static bool wb_xd_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The namespace declarations (xmlns, xmlns:p) of a start tag, each as its name and its whole
 * `name='value'` text. *name_end gets the offset just past the element name. Returns how many
 * were stored (at most max), or -1 when there are more or the tag is malformed. */
typedef struct wb_xd_decl {
    const char *name, *text;
    size_t name_len, text_len;
} wb_xd_decl;

static int wb_xd_decls(const char *tag, size_t len, wb_xd_decl *out, int max, size_t *name_end)
{
    size_t i = 1;
    int n = 0;
    while (i < len && !wb_xd_is_space(tag[i]) && tag[i] != '/' && tag[i] != '>')
        i++;
    *name_end = i;
    for (;;) {
        while (i < len && wb_xd_is_space(tag[i]))
            i++;
        if (i >= len || tag[i] == '/' || tag[i] == '>')
            return n;
        const size_t a = i;
        while (i < len && tag[i] != '=' && !wb_xd_is_space(tag[i]))
            i++;
        const size_t alen = i - a;
        while (i < len && (wb_xd_is_space(tag[i]) || tag[i] == '='))
            i++;
        if (i >= len || (tag[i] != '\'' && tag[i] != '"'))
            return -1;
        const char *close = memchr(tag + i + 1, tag[i], len - i - 1);
        if (close == NULL)
            return -1;
        i = (size_t)(close - tag) + 1;
        const bool is_decl = (alen == 5 && memcmp(tag + a, "xmlns", 5) == 0) ||
                             (alen > 6 && memcmp(tag + a, "xmlns:", 6) == 0);
        if (!is_decl)
            continue;
        if (n == max)
            return -1;
        out[n++] = (wb_xd_decl){tag + a, tag + a, alen, i - a};
    }
}

static bool wb_xd_declared(const wb_xd_decl *d, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (d[i].name_len == len && memcmp(d[i].name, name, len) == 0)
            return true;
    return false;
}

/* Adds to have[] the declarations of one ancestor tag that are not shadowed yet. */
static int wb_xd_inherit(const wb_xd_scan *s, const wb_xd_span *tag, wb_xd_decl *have, int *n)
{
    wb_xd_decl d[WB_XD_DECLS_MAX];
    size_t name_end;
    const int nd =
        wb_xd_decls(s->raw + tag->start, tag->end - tag->start, d, WB_XD_DECLS_MAX, &name_end);
    if (nd < 0)
        return -1;
    for (int i = 0; i < nd; i++) {
        if (wb_xd_declared(have, *n, d[i].name, d[i].name_len))
            continue;
        if (*n == WB_XD_DECLS_MAX)
            return -1;
        have[(*n)++] = d[i];
    }
    return 0;
}

/* Writes the element with the declarations it inherits inserted after its name. The default
 * namespace of an unprefixed stanza comes from the stream header: it is written out as well. */
static int wb_xd_with_decls(const wb_xd_scan *s, const wb_stanza *st, wb_buf *out)
{
    wb_xd_decl have[WB_XD_DECLS_MAX];
    size_t name_end, root_name_end;
    const char *tag = s->raw + s->target.start;
    int own = wb_xd_decls(tag, s->target.end - s->target.start, have, WB_XD_DECLS_MAX, &name_end);
    if (own < 0)
        return -1;
    int n = own;
    for (size_t i = s->target_depth; i-- > 0;)
        if (wb_xd_inherit(s, &s->open[i], have, &n) < 0)
            return -1;
    wb_buf_append(out, tag, name_end);
    for (int i = own; i < n; i++) {
        wb_buf_puts(out, " ");
        wb_buf_append(out, have[i].text, have[i].text_len);
    }
    wb_xd_decl root[1];
    (void)wb_xd_decls(s->raw, s->open[0].end, root, 0, &root_name_end);
    if (!wb_xd_declared(have, n, "xmlns", 5) && memchr(s->raw, ':', root_name_end) == NULL) {
        wb_buf_puts(out, " xmlns='");
        wb_buf_xml_escape_str(out, wb_st_ns(st, 0));
        wb_buf_puts(out, "'");
    }
    wb_buf_append(out, tag + name_end, s->end - s->target.start - name_end);
    return out->failed ? -1 : 0;
}

/* Same element names and namespaces, recursively. */
static bool wb_xd_same(const wb_stanza *a, wb_el ea, const wb_stanza *b, wb_el eb)
{
    if (strcmp(wb_st_name(a, ea), wb_st_name(b, eb)) != 0 ||
        strcmp(wb_st_ns(a, ea), wb_st_ns(b, eb)) != 0)
        return false;
    wb_el ca = wb_st_first(a, ea), cb = wb_st_first(b, eb);
    for (; ca >= 0 && cb >= 0; ca = wb_st_next(a, ca), cb = wb_st_next(b, cb))
        if (!wb_xd_same(a, ca, b, cb))
            return false;
    return ca < 0 && cb < 0;
}

/* Whether doc parses alone into the same elements as el of st. */
static bool wb_xd_check(const wb_stanza *st, wb_el el, const wb_buf *doc)
{
    if (doc->failed || doc->data == NULL)
        return false;
    wb_stanza *alone = wb_stanza_parse(doc->data, doc->len);
    const bool ok = alone != NULL && wb_xd_same(st, el, alone, 0);
    wb_stanza_free(alone);
    return ok;
}

int wb_xmlstore_document(const wb_stanza *st, wb_el el, wb_buf *out)
{
    wb_xd_scan s;
    wb_buf doc;
    int rc = -1;
    memset(&s, 0, sizeof(s));
    s.raw = wb_st_raw(st, &s.len);
    if (el <= 0 || wb_xd_locate(&s, el) < 0 || s.target_depth == 0)
        return -1;
    wb_buf_init(&doc);
    wb_buf_append(&doc, s.raw + s.target.start, s.end - s.target.start);
    if (!wb_xd_check(st, el, &doc)) {
        wb_buf_reset(&doc);
        if (wb_xd_with_decls(&s, st, &doc) < 0 || !wb_xd_check(st, el, &doc))
            goto done;
    }
    rc = wb_buf_append(out, doc.data, doc.len) < 0 ? -1 : 0;
done:
    wb_buf_free(&doc);
    return rc;
}

/* ---- Storage ---- */

static const char wb_store_xml_get_sql[] =
    "SELECT x.value FROM accounts a LEFT JOIN xml_documents x "
    "ON x.account_id = a.id AND x.kind = $3 AND x.key = $4 "
    "WHERE a.domain = $1 AND a.node = $2";

static const char wb_store_xml_put_sql[] =
    "INSERT INTO xml_documents (account_id, kind, key, value, updated_at) "
    "SELECT a.id, $3, $4, $5, now() FROM accounts a WHERE a.domain = $1 AND a.node = $2 "
    "ON CONFLICT (account_id, kind, key) DO UPDATE "
    "SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at";

static const char *wb_store_xml_kind_name(wb_xmlstore_kind kind)
{
    return kind == WB_XMLSTORE_VCARD ? "vcard" : "private";
}

/* The one place a document becomes what the database holds. The next issue seals values at rest
 * here (libsodium, with the master key); for now the bytes are copied as they are. 0 or -1. */
static int wb_store_xml_seal(const char *doc, size_t len, wb_buf *value)
{
    return wb_buf_append(value, doc, len);
}

/* The inverse of wb_store_xml_seal (opening sealed values comes with the next issue): value as
 * read from the database into the document (NUL-terminated in doc). 0 or -1 (unreadable). */
static int wb_store_xml_unseal(const uint8_t *value, size_t len, wb_buf *doc)
{
    if (len > WB_XMLSTORE_DOC_MAX)
        return -1;
    return wb_buf_append(doc, value, len);
}

static bool wb_store_xml_args_ok(const char *node, const char *domain, const char *key)
{
    return strlen(node) <= WB_STORE_PART_MAX && strlen(domain) <= WB_STORE_PART_MAX &&
           strlen(key) <= WB_XMLSTORE_KEY_MAX;
}

static void wb_store_xml_get_deliver(wb_store_req *r, const PGresult *res)
{
    const wb_store_xml_get_cb cb = (wb_store_xml_get_cb)r->cb;
    if (res == NULL || !wb_store_result_ok(res, "xml document query")) {
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    if (PQntuples(res) == 0) {
        cb(r->arg, WB_STORE_NOT_FOUND, NULL, 0);
        return;
    }
    if (PQgetisnull(res, 0, 0)) {
        cb(r->arg, WB_STORE_OK, NULL, 0);
        return;
    }
    wb_buf doc;
    wb_buf_init(&doc);
    if (wb_store_xml_unseal((const uint8_t *)PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0),
                            &doc) < 0 ||
        doc.data == NULL) {
        wb_warn("storage: unreadable xml document in the database");
        cb(r->arg, WB_STORE_UNAVAILABLE, NULL, 0);
    } else {
        cb(r->arg, WB_STORE_OK, doc.data, doc.len);
    }
    wb_buf_free(&doc);
}

wb_store_req *wb_store_xml_get(wb_store *st, const char *node, const char *domain,
                               wb_xmlstore_kind kind, const char *key, wb_store_xml_get_cb cb,
                               void *arg)
{
    if (!wb_store_xml_args_ok(node, domain, key))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node),
                                WB_SP_TEXT(wb_store_xml_kind_name(kind)), WB_SP_TEXT(key)};
    return wb_store_submit(st, wb_store_xml_get_sql, p, 4, wb_store_xml_get_deliver,
                           (void (*)(void))cb, arg);
}

static void wb_store_xml_put_deliver(wb_store_req *r, const PGresult *res)
{
    const wb_store_xml_put_cb cb = (wb_store_xml_put_cb)r->cb;
    if (res == NULL || !wb_store_result_ok(res, "xml document update"))
        cb(r->arg, WB_STORE_UNAVAILABLE);
    else if (strcmp(PQcmdTuples((PGresult *)res), "0") == 0)
        cb(r->arg, WB_STORE_NOT_FOUND);
    else
        cb(r->arg, WB_STORE_OK);
}

wb_store_req *wb_store_xml_put(wb_store *st, const char *node, const char *domain,
                               wb_xmlstore_kind kind, const char *key, const char *doc, size_t len,
                               wb_store_xml_put_cb cb, void *arg)
{
    if (!wb_store_xml_args_ok(node, domain, key) || len == 0 || len > WB_XMLSTORE_DOC_MAX)
        return NULL;
    wb_buf value;
    wb_buf_init(&value);
    wb_store_req *r = NULL;
    if (wb_store_xml_seal(doc, len, &value) == 0 && !value.failed) {
        const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node),
                                    WB_SP_TEXT(wb_store_xml_kind_name(kind)), WB_SP_TEXT(key),
                                    WB_SP_BIN(value.data, value.len)};
        r = wb_store_submit(st, wb_store_xml_put_sql, p, 5, wb_store_xml_put_deliver,
                            (void (*)(void))cb, arg);
    }
    wb_buf_free(&value);
    return r;
}
