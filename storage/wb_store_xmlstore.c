/* Per-account XML documents: the stored form of an element (its received bytes, self-contained)
 * and the get/put queries. Every value is sealed by wb_store_xml_seal/unseal (the vault); nothing
 * else reads the column. Not for access rules (server/modules/vcard.c, private.c). */
#include "wb_store_xmlstore.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_int.h"
#include "wb_store_keys.h"

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
    "SELECT a.id, x.value FROM accounts a LEFT JOIN xml_documents x "
    "ON x.account_id = a.id AND x.kind = $3 AND x.key = $4 "
    "WHERE a.domain = $1 AND a.node = $2";

/* Writes only if the account is the one the data key belongs to ($6); answers its id and whether
 * a row was written. */
static const char wb_store_xml_put_sql[] =
    "WITH acc AS (SELECT id FROM accounts WHERE domain = $1 AND node = $2), "
    "ins AS (INSERT INTO xml_documents (account_id, kind, key, value, updated_at) "
    "SELECT acc.id, $3, $4, $5, now() FROM acc WHERE acc.id = $6::bigint "
    "ON CONFLICT (account_id, kind, key) DO UPDATE "
    "SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at RETURNING 1) "
    "SELECT (SELECT id FROM acc), (SELECT count(*) FROM ins)";

#define WB_STORE_XML_AD_MAX (40 + WB_XMLSTORE_KEY_MAX)

static const char *wb_store_xml_kind_name(wb_xmlstore_kind kind)
{
    return kind == WB_XMLSTORE_VCARD ? "vcard" : "private";
}

/* One get or put in progress: the data key first, then the query. */
typedef struct wb_store_xml_op {
    wb_store *st;
    wb_store_req *h; /* the caller's handle (callback, argument, cancelled) */
    wb_vault_key *key;
    wb_xmlstore_kind kind;
    char domain[WB_STORE_PART_MAX + 1], node[WB_STORE_PART_MAX + 1];
    char key_name[WB_XMLSTORE_KEY_MAX + 1];
    char *doc; /* put: a copy of the document */
    size_t len;
    bool retried; /* the cached key was stale once already */
} wb_store_xml_op;

/* The cached key belonged to an earlier account of the same name (deleted and created again):
 * forgets it and starts again from the key, once. 0 when restarted, -1 otherwise. */
static int wb_store_xml_retry(wb_store_xml_op *op, wb_store_key_cb keyed)
{
    wb_store_account_key_forget(op->st, op->domain, op->node);
    if (op->retried)
        return -1;
    op->retried = true;
    wb_vault_key_unref(op->key);
    op->key = NULL;
    return wb_store_account_key(op->st, op->domain, op->node, keyed, op) != NULL ? 0 : -1;
}

static void wb_store_xml_get_keyed(void *arg, wb_store_status status, wb_vault_key *key);
static void wb_store_xml_put_keyed(void *arg, wb_store_status status, wb_vault_key *key);

static void wb_store_xml_op_done(wb_store_xml_op *op)
{
    wb_vault_key_unref(op->key);
    if (op->doc)
        sodium_memzero(op->doc, op->len); /* plaintext never lingers in freed memory */
    free(op->doc);
    free(op->h);
    free(op);
}

static void wb_store_xml_ad(char *ad, const wb_store_xml_op *op, int64_t account)
{
    snprintf(ad, WB_STORE_XML_AD_MAX, "xml:%" PRId64 ":%s:%s", account,
             wb_store_xml_kind_name(op->kind), op->key_name);
}

/* The one place a document becomes what the database holds: sealed with the owner's data key,
 * the row's identity as associated data. 0 or -1. */
static int wb_store_xml_seal(const wb_store_xml_op *op, const wb_vault_key *key, wb_buf *value)
{
    char ad[WB_STORE_XML_AD_MAX];
    uint8_t *out = malloc(op->len + WB_VAULT_OVERHEAD);
    if (out == NULL)
        return -1;
    wb_store_xml_ad(ad, op, wb_vault_key_account(key));
    int rc = wb_vault_seal(key, ad, (const uint8_t *)op->doc, op->len, out);
    if (rc == 0)
        rc = wb_buf_append(value, out, op->len + WB_VAULT_OVERHEAD) < 0 ? -1 : 0;
    free(out);
    return rc;
}

/* The inverse of wb_store_xml_seal: value as read from the database into the document
 * (NUL-terminated in doc). 0 or -1 (does not open: altered, or moved from another row). */
static int wb_store_xml_unseal(const wb_store_xml_op *op, const uint8_t *value, size_t len,
                               wb_buf *doc)
{
    char ad[WB_STORE_XML_AD_MAX];
    if (len < WB_VAULT_OVERHEAD || len - WB_VAULT_OVERHEAD > WB_XMLSTORE_DOC_MAX)
        return -1;
    uint8_t *out = malloc(len - WB_VAULT_OVERHEAD + 1);
    if (out == NULL)
        return -1;
    wb_store_xml_ad(ad, op, wb_vault_key_account(op->key));
    int rc = wb_vault_open_sealed(op->key, ad, value, len, out);
    if (rc == 0)
        rc = wb_buf_append(doc, out, len - WB_VAULT_OVERHEAD) < 0 ? -1 : 0;
    sodium_memzero(out, len - WB_VAULT_OVERHEAD);
    free(out);
    return rc;
}

static wb_store_xml_op *wb_store_xml_op_new(wb_store *st, const char *node, const char *domain,
                                            wb_xmlstore_kind kind, const char *key,
                                            void (*cb)(void), void *arg)
{
    if (strlen(node) > WB_STORE_PART_MAX || strlen(domain) > WB_STORE_PART_MAX ||
        strlen(key) > WB_XMLSTORE_KEY_MAX)
        return NULL;
    wb_store_xml_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->h = wb_store_handle_new(cb, arg);
    if (op->h == NULL) {
        free(op);
        return NULL;
    }
    op->st = st;
    op->kind = kind;
    memcpy(op->node, node, strlen(node) + 1);
    memcpy(op->domain, domain, strlen(domain) + 1);
    memcpy(op->key_name, key, strlen(key) + 1);
    return op;
}

static void wb_store_xml_get_answer(wb_store_xml_op *op, wb_store_status status, const char *doc,
                                    size_t len)
{
    if (!op->h->cancelled)
        ((wb_store_xml_get_cb)op->h->cb)(op->h->arg, status, doc, len);
    wb_store_xml_op_done(op);
}

static void wb_store_xml_get_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_xml_op *op = r->arg;
    if (res == NULL || !wb_store_result_ok(res, "xml document query")) {
        wb_store_xml_get_answer(op, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    if (PQntuples(res) == 0) {
        wb_store_xml_get_answer(op, WB_STORE_NOT_FOUND, NULL, 0);
        return;
    }
    const int64_t account = wb_vault_key_account(op->key);
    if (PQgetlength(res, 0, 0) != 8 || wb_store_get_int(res, 0, 0) != account) {
        if (wb_store_xml_retry(op, wb_store_xml_get_keyed) < 0)
            wb_store_xml_get_answer(op, WB_STORE_UNAVAILABLE, NULL, 0);
        return;
    }
    if (PQgetisnull(res, 0, 1)) {
        wb_store_xml_get_answer(op, WB_STORE_OK, NULL, 0);
        return;
    }
    wb_buf doc;
    wb_buf_init(&doc);
    if (wb_store_xml_unseal(op, (const uint8_t *)PQgetvalue(res, 0, 1),
                            (size_t)PQgetlength(res, 0, 1), &doc) < 0 ||
        doc.data == NULL) {
        wb_error("storage: sealed value does not open (account %" PRId64
                 ", table xml_documents, row %s:%s): treated as unavailable",
                 account, wb_store_xml_kind_name(op->kind), op->key_name);
        wb_store_xml_get_answer(op, WB_STORE_UNAVAILABLE, NULL, 0);
    } else {
        wb_store_xml_get_answer(op, WB_STORE_OK, doc.data, doc.len);
    }
    if (doc.data)
        sodium_memzero(doc.data, doc.cap);
    wb_buf_free(&doc);
}

static void wb_store_xml_get_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_store_xml_op *op = arg;
    if (op->h->cancelled || status != WB_STORE_OK) {
        wb_store_xml_get_answer(op, status, NULL, 0);
        return;
    }
    op->key = wb_vault_key_ref(key);
    const wb_store_param p[] = {WB_SP_TEXT(op->domain), WB_SP_TEXT(op->node),
                                WB_SP_TEXT(wb_store_xml_kind_name(op->kind)),
                                WB_SP_TEXT(op->key_name)};
    if (wb_store_submit(op->st, wb_store_xml_get_sql, p, 4, wb_store_xml_get_deliver, NULL, op) ==
        NULL)
        wb_store_xml_get_answer(op, WB_STORE_UNAVAILABLE, NULL, 0);
}

wb_store_req *wb_store_xml_get(wb_store *st, const char *node, const char *domain,
                               wb_xmlstore_kind kind, const char *key, wb_store_xml_get_cb cb,
                               void *arg)
{
    wb_store_xml_op *op = wb_store_xml_op_new(st, node, domain, kind, key, (void (*)(void))cb, arg);
    if (op == NULL)
        return NULL;
    wb_store_req *h = op->h;
    if (wb_store_account_key(st, domain, node, wb_store_xml_get_keyed, op) == NULL) {
        wb_store_xml_op_done(op);
        return NULL;
    }
    return h;
}

static void wb_store_xml_put_answer(wb_store_xml_op *op, wb_store_status status)
{
    if (!op->h->cancelled)
        ((wb_store_xml_put_cb)op->h->cb)(op->h->arg, status);
    wb_store_xml_op_done(op);
}

static void wb_store_xml_put_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_xml_op *op = r->arg;
    wb_store_status status = WB_STORE_UNAVAILABLE;
    if (res != NULL && wb_store_result_ok(res, "xml document update") && PQntuples(res) == 1 &&
        PQgetlength(res, 0, 1) == 8) {
        if (PQgetisnull(res, 0, 0))
            status = WB_STORE_NOT_FOUND;
        else if (wb_store_get_int(res, 0, 1) == 1)
            status = WB_STORE_OK;
        else if (wb_store_xml_retry(op, wb_store_xml_put_keyed) == 0)
            return;
    }
    wb_store_xml_put_answer(op, status);
}

static void wb_store_xml_put_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_store_xml_op *op = arg;
    char acc[24];
    if (op->h->cancelled || status != WB_STORE_OK) {
        wb_store_xml_put_answer(op, status);
        return;
    }
    wb_buf value;
    wb_buf_init(&value);
    wb_store_req *r = NULL;
    snprintf(acc, sizeof(acc), "%" PRId64, wb_vault_key_account(key));
    if (wb_store_xml_seal(op, key, &value) == 0 && !value.failed) {
        const wb_store_param p[] = {WB_SP_TEXT(op->domain),
                                    WB_SP_TEXT(op->node),
                                    WB_SP_TEXT(wb_store_xml_kind_name(op->kind)),
                                    WB_SP_TEXT(op->key_name),
                                    WB_SP_BIN(value.data, value.len),
                                    WB_SP_TEXT(acc)};
        r = wb_store_submit(op->st, wb_store_xml_put_sql, p, 6, wb_store_xml_put_deliver, NULL, op);
    }
    wb_buf_free(&value);
    if (r == NULL)
        wb_store_xml_put_answer(op, WB_STORE_UNAVAILABLE);
}

wb_store_req *wb_store_xml_put(wb_store *st, const char *node, const char *domain,
                               wb_xmlstore_kind kind, const char *key, const char *doc, size_t len,
                               wb_store_xml_put_cb cb, void *arg)
{
    if (len == 0 || len > WB_XMLSTORE_DOC_MAX)
        return NULL;
    wb_store_xml_op *op = wb_store_xml_op_new(st, node, domain, kind, key, (void (*)(void))cb, arg);
    if (op == NULL)
        return NULL;
    op->doc = malloc(len);
    if (op->doc == NULL)
        goto fail;
    memcpy(op->doc, doc, len);
    op->len = len;
    wb_store_req *h = op->h;
    if (wb_store_account_key(st, domain, node, wb_store_xml_put_keyed, op) == NULL)
        goto fail;
    return h;
fail:
    wb_store_xml_op_done(op);
    return NULL;
}
