/* XMPP stream parser on expat: bytes in, a stream header and compact stanzas (flat element and
 * attribute arrays, a string pool and the original bytes) out. Not a general XML toolkit. */
#include "wb_xml.h"

#include <expat.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wb_xmpp_errors.h"

/* Separates namespace URI and local name in expat's names; it cannot occur in XML 1.0 text. */
#define WB_XML_SEP       '\x01'
#define WB_XML_SLICE     4096 /* bytes handed to expat at once, to check limits as they arrive */
#define WB_XML_DEF_SIZE  65536
#define WB_XML_DEF_DEPTH 32
#define WB_XML_DEF_ATTRS 64

/* ---- The compact stanza ---- */

typedef struct wb_st_node {
    uint32_t name, ns;       /* pool offsets */
    uint32_t text, text_len; /* pool offset; while open: where its text starts in the scratch */
    int32_t parent, first, last, next;
    uint32_t attr, nattr; /* first index in the attribute array, count */
} wb_st_node;

typedef struct wb_st_pair {
    uint32_t name, value; /* pool offsets; name is "local", "xml:local" or "uri\x01local" */
} wb_st_pair;

struct wb_stanza {
    const wb_st_node *els;
    const wb_st_pair *attrs;
    const char *pool; /* offset 0 is "" */
    const char *raw;
    uint32_t nels, nattrs;
    size_t raw_len, tag_len;
};

/* Builds one stanza in growable arrays reused from one stanza to the next. */
typedef struct wb_sb {
    wb_st_node *els;
    size_t nels, cap_els;
    wb_st_pair *attrs;
    size_t nattrs, cap_attrs;
    wb_buf pool;
    wb_buf text; /* character data of the open elements, innermost last */
    int32_t cur; /* innermost open element, -1 none */
} wb_sb;

static void *sb_grow(void *arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > INT32_MAX / size)
        return NULL;
    void *p = realloc(arr, ncap * size);
    if (p)
        *cap = ncap;
    return p;
}

static int sb_add_str(wb_sb *b, const char *s, size_t len, uint32_t *off)
{
    if (b->pool.len + len + 1 > UINT32_MAX)
        return -1;
    *off = (uint32_t)b->pool.len;
    if (wb_buf_append(&b->pool, s, len) < 0 || wb_buf_append(&b->pool, "", 1) < 0)
        return -1;
    return 0;
}

static int sb_clear(wb_sb *b)
{
    b->nels = 0;
    b->nattrs = 0;
    b->cur = -1;
    wb_buf_reset(&b->pool);
    wb_buf_reset(&b->text);
    return wb_buf_append(&b->pool, "", 1);
}

static void sb_free(wb_sb *b)
{
    free(b->els);
    free(b->attrs);
    wb_buf_free(&b->pool);
    wb_buf_free(&b->text);
}

/* Stores an element name "uri\x01local" or "local" as name and namespace offsets. */
static int sb_name(wb_sb *b, const char *qname, wb_st_node *nd)
{
    const char *sep = strrchr(qname, WB_XML_SEP);
    const char *local = sep ? sep + 1 : qname;
    size_t nslen = sep ? (size_t)(sep - qname) : 0;
    if (sb_add_str(b, local, strlen(local), &nd->name) < 0)
        return -1;
    nd->ns = 0;
    if (nslen == 0)
        return 0;
    if (nd->parent >= 0) {
        const char *pns = b->pool.data + b->els[nd->parent].ns;
        if (strlen(pns) == nslen && memcmp(pns, qname, nslen) == 0) {
            nd->ns = b->els[nd->parent].ns;
            return 0;
        }
    }
    return sb_add_str(b, qname, nslen, &nd->ns);
}

/* Attribute names: "local", "xml:local" for the xml namespace, else "uri\x01local" as given. */
static int sb_attr_name(wb_sb *b, const char *qname, uint32_t *off)
{
    static const char xml_sep[] = WB_NS_XML "\x01";
    const size_t xl = sizeof(xml_sep) - 1;
    if (strncmp(qname, xml_sep, xl) != 0 || strchr(qname + xl, WB_XML_SEP))
        return sb_add_str(b, qname, strlen(qname), off);
    size_t ll = strlen(qname + xl);
    if (b->pool.len + 4 + ll + 1 > UINT32_MAX)
        return -1;
    *off = (uint32_t)b->pool.len;
    int rc = wb_buf_append(&b->pool, "xml:", 4);
    rc |= wb_buf_append(&b->pool, qname + xl, ll + 1);
    return rc < 0 ? -1 : 0;
}

static int sb_start(wb_sb *b, const char *qname, const char **atts)
{
    size_t n = 0;
    while (atts[2 * n])
        n++;
    wb_st_node *els = sb_grow(b->els, &b->cap_els, b->nels + 1, sizeof(*els));
    if (!els)
        return -1;
    b->els = els;
    wb_st_pair *attrs = sb_grow(b->attrs, &b->cap_attrs, b->nattrs + n + 1, sizeof(*attrs));
    if (!attrs)
        return -1;
    b->attrs = attrs;
    if (b->text.len > UINT32_MAX)
        return -1;
    wb_st_node nd = {.parent = b->cur, .first = -1, .last = -1, .next = -1};
    nd.attr = (uint32_t)b->nattrs;
    nd.nattr = (uint32_t)n;
    nd.text = (uint32_t)b->text.len;
    if (sb_name(b, qname, &nd) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        wb_st_pair *pr = &b->attrs[b->nattrs + i];
        if (sb_attr_name(b, atts[2 * i], &pr->name) < 0 ||
            sb_add_str(b, atts[2 * i + 1], strlen(atts[2 * i + 1]), &pr->value) < 0)
            return -1;
    }
    b->nattrs += n;
    int32_t idx = (int32_t)b->nels++;
    b->els[idx] = nd;
    if (nd.parent >= 0) {
        wb_st_node *par = &b->els[nd.parent];
        if (par->last >= 0)
            b->els[par->last].next = idx;
        else
            par->first = idx;
        par->last = idx;
    }
    b->cur = idx;
    return 0;
}

static int sb_text(wb_sb *b, const char *s, size_t len)
{
    return b->cur < 0 ? 0 : wb_buf_append(&b->text, s, len);
}

/* Closes the innermost element: its text moves from the scratch into the pool. */
static int sb_end(wb_sb *b)
{
    if (b->cur < 0)
        return -1;
    size_t start = b->els[b->cur].text;
    size_t n = b->text.len - start;
    uint32_t off = 0;
    if (n > 0 && sb_add_str(b, b->text.data + start, n, &off) < 0)
        return -1;
    wb_st_node *nd = &b->els[b->cur];
    nd->text = off;
    nd->text_len = (uint32_t)n;
    b->text.len = start;
    if (b->text.data)
        b->text.data[start] = '\0';
    b->cur = nd->parent;
    return 0;
}

/* Packs the built tree and its raw bytes into one allocation. */
static wb_stanza *sb_finish(const wb_sb *b, const char *raw, size_t raw_len, size_t tag_len)
{
    size_t els_sz = b->nels * sizeof(wb_st_node);
    size_t at_sz = b->nattrs * sizeof(wb_st_pair);
    if (raw_len > SIZE_MAX / 2 || b->nels == 0)
        return NULL;
    char *mem = malloc(sizeof(wb_stanza) + els_sz + at_sz + b->pool.len + raw_len + 1);
    if (!mem)
        return NULL;
    wb_stanza *st = (wb_stanza *)mem;
    char *p = mem + sizeof(*st);
    memcpy(p, b->els, els_sz);
    st->els = (const wb_st_node *)p;
    p += els_sz;
    if (at_sz)
        memcpy(p, b->attrs, at_sz);
    st->attrs = (const wb_st_pair *)p;
    p += at_sz;
    memcpy(p, b->pool.data, b->pool.len);
    st->pool = p;
    p += b->pool.len;
    memcpy(p, raw, raw_len);
    p[raw_len] = '\0';
    st->raw = p;
    st->nels = (uint32_t)b->nels;
    st->nattrs = (uint32_t)b->nattrs;
    st->raw_len = raw_len;
    st->tag_len = tag_len;
    return st;
}

/* ---- Stanza accessors ---- */

static const wb_st_node *st_node(const wb_stanza *st, wb_el el)
{
    if (!st || el < 0 || (uint32_t)el >= st->nels)
        return NULL;
    return &st->els[el];
}

void wb_stanza_free(wb_stanza *st)
{
    free(st);
}

const char *wb_st_name(const wb_stanza *st, wb_el el)
{
    const wb_st_node *nd = st_node(st, el);
    return nd ? st->pool + nd->name : "";
}

const char *wb_st_ns(const wb_stanza *st, wb_el el)
{
    const wb_st_node *nd = st_node(st, el);
    return nd ? st->pool + nd->ns : "";
}

wb_el wb_st_first(const wb_stanza *st, wb_el parent)
{
    const wb_st_node *nd = st_node(st, parent);
    return nd ? nd->first : -1;
}

wb_el wb_st_next(const wb_stanza *st, wb_el el)
{
    const wb_st_node *nd = st_node(st, el);
    return nd ? nd->next : -1;
}

wb_el wb_st_child(const wb_stanza *st, wb_el parent, const char *name, const char *ns)
{
    for (wb_el c = wb_st_first(st, parent); c >= 0; c = wb_st_next(st, c)) {
        if ((!name || strcmp(wb_st_name(st, c), name) == 0) &&
            (!ns || strcmp(wb_st_ns(st, c), ns) == 0))
            return c;
    }
    return -1;
}

const char *wb_st_attr(const wb_stanza *st, wb_el el, const char *name)
{
    const wb_st_node *nd = st_node(st, el);
    if (!nd || !name)
        return NULL;
    for (uint32_t i = 0; i < nd->nattr; i++) {
        const wb_st_pair *pr = &st->attrs[nd->attr + i];
        if (strcmp(st->pool + pr->name, name) == 0)
            return st->pool + pr->value;
    }
    return NULL;
}

const char *wb_st_text(const wb_stanza *st, wb_el el, size_t *len)
{
    const wb_st_node *nd = st_node(st, el);
    if (len)
        *len = nd ? nd->text_len : 0;
    return nd ? st->pool + nd->text : "";
}

const char *wb_st_raw(const wb_stanza *st, size_t *len)
{
    if (len)
        *len = st ? st->raw_len : 0;
    return st ? st->raw : "";
}

size_t wb_st_start_tag_len(const wb_stanza *st)
{
    return st ? st->tag_len : 0;
}

/* ---- The stream parser ---- */

static int is_xml_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct wb_xml_stream {
    XML_Parser p;
    wb_xml_limits lim;
    wb_xml_stream_cbs cbs;
    void *ud;
    unsigned base;  /* depth at which stanzas start: 1 in a stream, 0 for a lone element */
    unsigned depth; /* open elements, the stream root included */
    int result;     /* WB_XML_CONTINUE, WB_XML_STOP or a wb_stream_err */
    bool in_parse, opened;
    unsigned ns_decls; /* namespace declarations seen for the coming start tag */
    wb_buf hdr;        /* strings of the stream header, valid until reset or free */
    long default_ns;   /* offset in hdr of the root's default namespace, -1 if none */
    wb_buf raw;        /* bytes fed, from absolute offset raw_base on */
    uint64_t raw_base, raw_keep, fed; /* raw_keep: first byte still needed */
    uint64_t st_start;                /* absolute offset of the current top-level element */
    size_t st_tag_len;
    wb_sb sb;
    wb_stanza *single; /* wb_stanza_parse's result */
};

static void xs_fail(wb_xml_stream *xs, int err)
{
    if (xs->result != WB_XML_CONTINUE)
        return;
    xs->result = err;
    if (xs->in_parse)
        XML_StopParser(xs->p, XML_FALSE);
}

static void xs_cb_result(wb_xml_stream *xs, int r)
{
    if (r != WB_XML_CONTINUE)
        xs_fail(xs, r > 0 ? r : WB_XML_STOP);
}

/* Absolute offset just past the current expat event. */
static uint64_t xs_event_end(const wb_xml_stream *xs, uint64_t *start)
{
    XML_Index pos = XML_GetCurrentByteIndex(xs->p);
    int cnt = XML_GetCurrentByteCount(xs->p);
    uint64_t s = pos < 0 ? xs->fed : (uint64_t)pos;
    if (start)
        *start = s;
    return s + (cnt > 0 ? (uint64_t)cnt : 0);
}

static bool xs_too_big(wb_xml_stream *xs, uint64_t end)
{
    if (end - xs->st_start <= xs->lim.max_stanza_size)
        return false;
    xs_fail(xs, WB_SE_POLICY_VIOLATION);
    return true;
}

static bool is_streams_name(const char *qname, const char *local)
{
    static const char pre[] = WB_NS_STREAMS "\x01";
    return strncmp(qname, pre, sizeof(pre) - 1) == 0 && strcmp(qname + sizeof(pre) - 1, local) == 0;
}

static long hdr_add(wb_xml_stream *xs, const char *s)
{
    long off = (long)xs->hdr.len;
    if (!s || wb_buf_append(&xs->hdr, s, strlen(s) + 1) < 0)
        return -1;
    return off;
}

static const char *hdr_str(const wb_xml_stream *xs, long off)
{
    return off < 0 ? NULL : xs->hdr.data + off;
}

static const char *find_att(const char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2) {
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    }
    return NULL;
}

/* The root element arrived: check it is a stream header and report it. */
static void xs_open(wb_xml_stream *xs, const char *qname, const char **atts)
{
    const char *sep = strrchr(qname, WB_XML_SEP);
    if (strcmp(sep ? sep + 1 : qname, "stream") != 0) {
        xs_fail(xs, WB_SE_BAD_FORMAT);
        return;
    }
    if (!is_streams_name(qname, "stream")) {
        xs_fail(xs, WB_SE_INVALID_NAMESPACE);
        return;
    }
    xs->raw_keep = xs_event_end(xs, NULL);
    xs->st_start = xs->raw_keep;
    long to = hdr_add(xs, find_att(atts, "to"));
    long from = hdr_add(xs, find_att(atts, "from"));
    long ver = hdr_add(xs, find_att(atts, "version"));
    long lang = hdr_add(xs, find_att(atts, WB_NS_XML "\x01lang"));
    long id = hdr_add(xs, find_att(atts, "id"));
    if (xs->hdr.failed) {
        xs_fail(xs, WB_SE_RESOURCE_CONSTRAINT);
        return;
    }
    wb_stream_header h = {.name = "stream",
                          .ns = WB_NS_STREAMS,
                          .default_ns = hdr_str(xs, xs->default_ns),
                          .to = hdr_str(xs, to),
                          .from = hdr_str(xs, from),
                          .version = hdr_str(xs, ver),
                          .lang = hdr_str(xs, lang),
                          .id = hdr_str(xs, id)};
    xs->opened = true;
    if (xs->cbs.open)
        xs_cb_result(xs, xs->cbs.open(xs->ud, &h));
}

static bool xs_stanza_begin(wb_xml_stream *xs, const char *qname)
{
    if (xs->base == 1 && is_streams_name(qname, "stream")) {
        xs_fail(xs, WB_SE_BAD_FORMAT);
        return false;
    }
    uint64_t end = xs_event_end(xs, &xs->st_start);
    xs->st_tag_len = (size_t)(end - xs->st_start);
    xs->raw_keep = xs->st_start;
    if (xs_too_big(xs, end))
        return false;
    if (sb_clear(&xs->sb) < 0) {
        xs_fail(xs, WB_SE_RESOURCE_CONSTRAINT);
        return false;
    }
    return true;
}

static void XMLCALL xs_on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    wb_xml_stream *xs = ud;
    if (xs->result != WB_XML_CONTINUE)
        return;
    size_t n = 0;
    while (atts[2 * n])
        n++;
    unsigned decls = xs->ns_decls;
    xs->ns_decls = 0;
    if (n > xs->lim.max_attrs || decls > xs->lim.max_attrs) {
        xs_fail(xs, WB_SE_POLICY_VIOLATION);
        return;
    }
    if (xs->depth < xs->base) {
        xs->depth++;
        xs_open(xs, name, atts);
        return;
    }
    if (xs->depth == xs->base) {
        if (!xs_stanza_begin(xs, name))
            return;
    } else if (xs_too_big(xs, xs_event_end(xs, NULL))) {
        return;
    }
    if (xs->depth - xs->base + 1 > xs->lim.max_depth) {
        xs_fail(xs, WB_SE_POLICY_VIOLATION);
        return;
    }
    if (sb_start(&xs->sb, name, atts) < 0) {
        xs_fail(xs, WB_SE_RESOURCE_CONSTRAINT);
        return;
    }
    xs->depth++;
}

static void xs_deliver(wb_xml_stream *xs, wb_stanza *st)
{
    if (xs->base == 0) {
        wb_stanza_free(xs->single);
        xs->single = st;
    } else if (xs->cbs.stanza) {
        xs_cb_result(xs, xs->cbs.stanza(xs->ud, st));
    } else {
        wb_stanza_free(st);
    }
}

static void xs_stanza_end(wb_xml_stream *xs)
{
    uint64_t end = xs_event_end(xs, NULL);
    if (end < xs->st_start + xs->st_tag_len)
        end = xs->st_start + xs->st_tag_len; /* an empty-element tag */
    if (xs_too_big(xs, end))
        return;
    if (xs->st_start < xs->raw_base || end - xs->raw_base > xs->raw.len) {
        xs_fail(xs, WB_SE_INTERNAL_SERVER_ERROR);
        return;
    }
    const char *raw = xs->raw.data + (xs->st_start - xs->raw_base);
    wb_stanza *st = sb_finish(&xs->sb, raw, (size_t)(end - xs->st_start), xs->st_tag_len);
    if (!st) {
        xs_fail(xs, WB_SE_RESOURCE_CONSTRAINT);
        return;
    }
    xs->raw_keep = end;
    xs->st_start = end;
    xs_deliver(xs, st);
}

static void XMLCALL xs_on_end(void *ud, const XML_Char *name)
{
    wb_xml_stream *xs = ud;
    (void)name;
    if (xs->result != WB_XML_CONTINUE || xs->depth == 0)
        return;
    xs->depth--;
    if (xs->depth < xs->base) {
        xs->opened = false;
        xs->raw_keep = xs_event_end(xs, NULL);
        xs->st_start = xs->raw_keep;
        if (xs->cbs.close)
            xs_cb_result(xs, xs->cbs.close(xs->ud));
        return;
    }
    if (sb_end(&xs->sb) < 0) {
        xs_fail(xs, WB_SE_RESOURCE_CONSTRAINT);
        return;
    }
    if (xs->depth == xs->base)
        xs_stanza_end(xs);
}

static void XMLCALL xs_on_text(void *ud, const XML_Char *s, int len)
{
    wb_xml_stream *xs = ud;
    if (xs->result != WB_XML_CONTINUE || len <= 0)
        return;
    uint64_t end = xs_event_end(xs, NULL);
    if (xs->depth > xs->base) {
        if (xs_too_big(xs, end))
            return;
        if (sb_text(&xs->sb, s, (size_t)len) < 0)
            xs_fail(xs, WB_SE_RESOURCE_CONSTRAINT);
        return;
    }
    for (int i = 0; i < len; i++) {
        if (!is_xml_ws(s[i])) {
            xs_fail(xs, WB_SE_BAD_FORMAT);
            return;
        }
    }
    xs->raw_keep = end; /* whitespace between stanzas is forgotten at once */
    xs->st_start = end;
}

static void XMLCALL xs_on_ns(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    wb_xml_stream *xs = ud;
    if (xs->result != WB_XML_CONTINUE)
        return;
    xs->ns_decls++;
    if (xs->depth == 0 && xs->base == 1 && !prefix) {
        xs->default_ns = hdr_add(xs, uri ? uri : "");
        if (xs->default_ns < 0)
            xs_fail(xs, WB_SE_RESOURCE_CONSTRAINT);
    }
}

static void XMLCALL xs_on_xmldecl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                  int standalone)
{
    wb_xml_stream *xs = ud;
    (void)version;
    (void)standalone;
    if (encoding && strcasecmp(encoding, "UTF-8") != 0)
        xs_fail(xs, WB_SE_UNSUPPORTED_ENCODING);
}

static void XMLCALL xs_on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    xs_fail(ud, WB_SE_RESTRICTED_XML);
}

static void XMLCALL xs_on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target;
    (void)data;
    xs_fail(ud, WB_SE_RESTRICTED_XML);
}

static void XMLCALL xs_on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                  const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    xs_fail(ud, WB_SE_RESTRICTED_XML);
}

static void XMLCALL xs_on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                      const XML_Char *value, int value_len, const XML_Char *base,
                                      const XML_Char *sysid, const XML_Char *pubid,
                                      const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    xs_fail(ud, WB_SE_RESTRICTED_XML);
}

static void XMLCALL xs_on_skipped(void *ud, const XML_Char *name, int is_param)
{
    (void)name;
    (void)is_param;
    xs_fail(ud, WB_SE_RESTRICTED_XML);
}

static void xs_setup_parser(wb_xml_stream *xs)
{
    XML_SetUserData(xs->p, xs);
    XML_SetElementHandler(xs->p, xs_on_start, xs_on_end);
    XML_SetCharacterDataHandler(xs->p, xs_on_text);
    XML_SetStartNamespaceDeclHandler(xs->p, xs_on_ns);
    XML_SetXmlDeclHandler(xs->p, xs_on_xmldecl);
    XML_SetCommentHandler(xs->p, xs_on_comment);
    XML_SetProcessingInstructionHandler(xs->p, xs_on_pi);
    XML_SetStartDoctypeDeclHandler(xs->p, xs_on_doctype);
    XML_SetEntityDeclHandler(xs->p, xs_on_entity_decl);
    XML_SetSkippedEntityHandler(xs->p, xs_on_skipped);
    XML_SetParamEntityParsing(xs->p, XML_PARAM_ENTITY_PARSING_NEVER);
    /* Deferral would hold complete stanzas back until more bytes come: wrong for a live
     * stream. The quadratic re-parse it prevents is bounded by max_stanza_size. */
    XML_SetReparseDeferralEnabled(xs->p, XML_FALSE);
}

/* A DTD markup declaration ("<!" and a letter) where expat failed: a syntax error points at its
 * "<" (in the prolog), an invalid token at the letter after "<!" (in content). */
static bool xs_markup_decl_at_error(const wb_xml_stream *xs, size_t back)
{
    XML_Index pos = XML_GetCurrentByteIndex(xs->p);
    if (pos < 0 || (uint64_t)pos < xs->raw_base + back)
        return false;
    size_t i = (size_t)((uint64_t)pos - xs->raw_base) - back;
    if (i + 2 >= xs->raw.len)
        return false;
    const char *s = xs->raw.data + i;
    return s[0] == '<' && s[1] == '!' && s[2] >= 'A' && s[2] <= 'Z';
}

static int xs_map_error(const wb_xml_stream *xs)
{
    switch (XML_GetErrorCode(xs->p)) {
    case XML_ERROR_NO_MEMORY:
        return WB_SE_RESOURCE_CONSTRAINT;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_PARAM_ENTITY_REF:
    case XML_ERROR_MISPLACED_XML_PI:
    case XML_ERROR_NOT_STANDALONE:
        return WB_SE_RESTRICTED_XML;
    case XML_ERROR_UNKNOWN_ENCODING:
    case XML_ERROR_INCORRECT_ENCODING:
        return WB_SE_UNSUPPORTED_ENCODING;
    case XML_ERROR_SYNTAX:
        return xs_markup_decl_at_error(xs, 0) ? WB_SE_RESTRICTED_XML : WB_SE_NOT_WELL_FORMED;
    case XML_ERROR_INVALID_TOKEN:
        return xs_markup_decl_at_error(xs, 2) ? WB_SE_RESTRICTED_XML : WB_SE_NOT_WELL_FORMED;
    default:
        return WB_SE_NOT_WELL_FORMED;
    }
}

/* Drops the bytes before raw_keep: whitespace and stanzas already delivered. */
static void xs_compact(wb_xml_stream *xs)
{
    size_t drop = (size_t)(xs->raw_keep - xs->raw_base);
    if (drop == 0)
        return;
    if (drop > xs->raw.len)
        drop = xs->raw.len;
    memmove(xs->raw.data, xs->raw.data + drop, xs->raw.len - drop);
    xs->raw.len -= drop;
    xs->raw.data[xs->raw.len] = '\0';
    xs->raw_base += drop;
}

static void xs_parse(wb_xml_stream *xs, const char *buf, size_t n, bool final)
{
    xs_compact(xs);
    if (wb_buf_append(&xs->raw, buf, n) < 0) {
        xs_fail(xs, WB_SE_RESOURCE_CONSTRAINT);
        return;
    }
    xs->fed += n;
    xs->in_parse = true;
    enum XML_Status s = XML_Parse(xs->p, buf, (int)n, final);
    xs->in_parse = false;
    if (s == XML_STATUS_ERROR) {
        if (xs->result == WB_XML_CONTINUE)
            xs->result = xs_map_error(xs);
        return;
    }
    /* Counts the element still incomplete, even an endless start tag. */
    if (xs->result == WB_XML_CONTINUE && xs->fed - xs->raw_keep > xs->lim.max_stanza_size)
        xs->result = WB_SE_POLICY_VIOLATION;
}

static void xs_clear_state(wb_xml_stream *xs)
{
    xs->depth = 0;
    xs->result = WB_XML_CONTINUE;
    xs->in_parse = false;
    xs->opened = false;
    xs->ns_decls = 0;
    xs->default_ns = -1;
    wb_buf_reset(&xs->hdr);
    wb_buf_reset(&xs->raw);
    xs->raw_base = xs->raw_keep = xs->fed = xs->st_start = 0;
    xs->st_tag_len = 0;
    xs->sb.cur = -1;
    xs->sb.nels = xs->sb.nattrs = 0;
    wb_stanza_free(xs->single);
    xs->single = NULL;
}

static wb_xml_stream *xs_new(const wb_xml_limits *lim, const wb_xml_stream_cbs *cbs, void *ud,
                             unsigned base)
{
    wb_xml_stream *xs = calloc(1, sizeof(*xs));
    if (!xs)
        return NULL;
    xs->p = XML_ParserCreateNS("UTF-8", WB_XML_SEP);
    if (!xs->p) {
        free(xs);
        return NULL;
    }
    xs->lim = lim ? *lim : (wb_xml_limits){0};
    if (!xs->lim.max_stanza_size)
        xs->lim.max_stanza_size = WB_XML_DEF_SIZE;
    if (!xs->lim.max_depth)
        xs->lim.max_depth = WB_XML_DEF_DEPTH;
    if (!xs->lim.max_attrs)
        xs->lim.max_attrs = WB_XML_DEF_ATTRS;
    if (cbs)
        xs->cbs = *cbs;
    xs->ud = ud;
    xs->base = base;
    xs_clear_state(xs);
    xs_setup_parser(xs);
    return xs;
}

/* Zero limits take the defaults (64 KiB, depth 32, 64 attributes). */
wb_xml_stream *wb_xml_stream_new(const wb_xml_limits *lim, const wb_xml_stream_cbs *cbs, void *ud)
{
    return xs_new(lim, cbs, ud, 1);
}

void wb_xml_stream_free(wb_xml_stream *xs)
{
    if (!xs)
        return;
    XML_ParserFree(xs->p);
    wb_buf_free(&xs->hdr);
    wb_buf_free(&xs->raw);
    sb_free(&xs->sb);
    wb_stanza_free(xs->single);
    free(xs);
}

int wb_xml_stream_reset(wb_xml_stream *xs)
{
    if (!xs || xs->in_parse)
        return -1;
    if (XML_ParserReset(xs->p, "UTF-8") != XML_TRUE) {
        XML_Parser p = XML_ParserCreateNS("UTF-8", WB_XML_SEP);
        if (!p)
            return -1;
        XML_ParserFree(xs->p);
        xs->p = p;
    }
    xs_clear_state(xs);
    xs_setup_parser(xs);
    return 0;
}

int wb_xml_stream_feed(wb_xml_stream *xs, const char *buf, size_t len)
{
    if (xs->in_parse)
        return WB_SE_INTERNAL_SERVER_ERROR;
    while (xs->result == WB_XML_CONTINUE && len > 0) {
        size_t n = len < WB_XML_SLICE ? len : WB_XML_SLICE;
        xs_parse(xs, buf, n, false);
        buf += n;
        len -= n;
    }
    return xs->result;
}

bool wb_xml_stream_opened(const wb_xml_stream *xs)
{
    return xs && xs->opened && xs->result == WB_XML_CONTINUE;
}

wb_stanza *wb_stanza_parse(const char *xml, size_t len)
{
    const wb_xml_limits lim = {SIZE_MAX, UINT_MAX, UINT_MAX};
    wb_xml_stream *xs = xs_new(&lim, NULL, NULL, 0);
    if (!xs)
        return NULL;
    wb_xml_stream_feed(xs, xml, len);
    if (xs->result == WB_XML_CONTINUE)
        xs_parse(xs, "", 0, true);
    wb_stanza *st = NULL;
    if (xs->result == WB_XML_CONTINUE) {
        st = xs->single;
        xs->single = NULL;
    }
    wb_xml_stream_free(xs);
    return st;
}
