/* Unit tests of the XMPP stream parser (wb_xml): trees, raw bytes, splits at every byte,
 * restricted XML, limits, STOP/reset and from/to stamping. Not a test of c2s semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define HDR                                                                                        \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "        \
    "to='example.com' version='1.0'>"
#define MAX_KEPT 16

/* ---- A recorder of parser callbacks ---- */

typedef struct rec {
    wb_buf trace;
    int nstanzas;
    wb_stanza *kept[MAX_KEPT];
    const char *stop_at; /* stanza name on which the callback returns stop_with */
    int stop_with;
    int open_ret;
    wb_stream_header hdr_seen; /* a copy: its strings must outlive the callback */
} rec;

static void rec_init(rec *r)
{
    memset(r, 0, sizeof(*r));
    wb_buf_init(&r->trace);
}

static void rec_free(rec *r)
{
    for (int i = 0; i < MAX_KEPT; i++)
        wb_stanza_free(r->kept[i]);
    wb_buf_free(&r->trace);
}

static const char *nz(const char *s)
{
    return s ? s : "(null)";
}

static void trace_el(wb_buf *b, const wb_stanza *st, wb_el el)
{
    static const char *const names[] = {"to",    "from", "type", "id", "xml:lang", "ver",
                                        "style", "a",    "b",    "c",  "d",        "e"};
    wb_buf_printf(b, "%s{%s}", wb_st_name(st, el), wb_st_ns(st, el));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = wb_st_attr(st, el, names[i]);
        if (v)
            wb_buf_printf(b, " %s=%s", names[i], v);
    }
    size_t tl;
    const char *t = wb_st_text(st, el, &tl);
    wb_buf_puts(b, "[");
    wb_buf_append(b, t, tl);
    wb_buf_puts(b, "](");
    for (wb_el c = wb_st_first(st, el); c >= 0; c = wb_st_next(st, c))
        trace_el(b, st, c);
    wb_buf_puts(b, ")");
}

static int on_open(void *ud, const wb_stream_header *h)
{
    rec *r = ud;
    r->hdr_seen = *h;
    wb_buf_printf(&r->trace, "open %s %s dns=%s to=%s from=%s ver=%s lang=%s id=%s\n", h->name,
                  h->ns, nz(h->default_ns), nz(h->to), nz(h->from), nz(h->version), nz(h->lang),
                  nz(h->id));
    return r->open_ret;
}

static int on_stanza(void *ud, wb_stanza *st)
{
    rec *r = ud;
    size_t len;
    const char *raw = wb_st_raw(st, &len);
    wb_buf_puts(&r->trace, "stanza ");
    trace_el(&r->trace, st, 0);
    wb_buf_printf(&r->trace, " tag=%zu raw=", wb_st_start_tag_len(st));
    wb_buf_append(&r->trace, raw, len);
    wb_buf_puts(&r->trace, "\n");
    int ret = WB_XML_CONTINUE;
    if (r->stop_at && strcmp(wb_st_name(st, 0), r->stop_at) == 0)
        ret = r->stop_with;
    if (r->nstanzas < MAX_KEPT)
        r->kept[r->nstanzas] = st;
    else
        wb_stanza_free(st);
    r->nstanzas++;
    return ret;
}

static int on_close(void *ud)
{
    rec *r = ud;
    wb_buf_puts(&r->trace, "close\n");
    return WB_XML_CONTINUE;
}

static const wb_xml_stream_cbs cbs = {on_open, on_stanza, on_close};
static const wb_xml_limits big = {65536, 32, 32};

/* Feeds in, whole (step 0, cut 0), in two pieces cut at cut, or in pieces of step bytes. */
static int run(const char *in, size_t len, size_t step, size_t cut, const wb_xml_limits *lim,
               rec *r)
{
    wb_xml_stream *xs = wb_xml_stream_new(lim, &cbs, r);
    assert_non_null(xs);
    int res = WB_XML_CONTINUE;
    size_t pos = 0;
    while (res == WB_XML_CONTINUE && pos < len) {
        size_t n = step ? step : (cut && pos < cut ? cut : len - pos);
        if (n > len - pos)
            n = len - pos;
        res = wb_xml_stream_feed(xs, in + pos, n);
        pos += n;
    }
    wb_xml_stream_free(xs);
    wb_buf_printf(&r->trace, "result=%d\n", res);
    return res;
}

static char *trace_of(const char *in, size_t len, size_t step, size_t cut, const wb_xml_limits *lim,
                      int *res)
{
    rec r;
    rec_init(&r);
    *res = run(in, len, step, cut, lim, &r);
    char *t = strdup(r.trace.data);
    rec_free(&r);
    return t;
}

/* Whole, cut in two at every byte, and byte by byte: same result, same trace. */
static void check_all_splits(const char *in, size_t len, const wb_xml_limits *lim, int expect)
{
    int res;
    char *whole = trace_of(in, len, 0, 0, lim, &res);
    if (res != expect)
        fprintf(stderr, "input: %s\ntrace: %s", in, whole);
    assert_int_equal(res, expect);
    for (size_t cut = 1; cut < len; cut++) {
        char *t = trace_of(in, len, 0, cut, lim, &res);
        assert_int_equal(res, expect);
        assert_string_equal(t, whole);
        free(t);
    }
    char *t = trace_of(in, len, 1, 0, lim, &res);
    assert_int_equal(res, expect);
    assert_string_equal(t, whole);
    free(t);
    free(whole);
}

/* ---- A realistic client stream ---- */

#define MSG_TAG                                                                                    \
    "<message to='juliet@example.com/balcony' from=\"romeo@example.net/orchard\" type='chat' "     \
    "id='m&amp;1' xml:lang='fr'>"
#define MSG                                                                                        \
    MSG_TAG "<body>Wherefore &lt;3 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 &#x263A;\r\n"         \
            "<![CDATA[<b>x</b>]]></body>"                                                          \
            "<thread>e0ffe42b2856</thread>"                                                        \
            "<html xmlns='http://jabber.org/protocol/xhtml-im'>"                                   \
            "<body xmlns='http://www.w3.org/1999/xhtml'><p style=\"font-weight:bold\">"            \
            "Wherefore <em>art</em> thou</p></body></html></message>"
#define IQ "<iq type='get' id='r1'><r:query xmlns:r='jabber:iq:roster' ver='v7'/></iq>"

static const char client_stream[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='example.com' version='1.0' xml:lang='en'>\n" MSG " \n \r\n <presence/>\t" IQ
    "   </stream:stream>";

static void test_client_stream_gives_header_stanzas_and_close(void **state)
{
    (void)state;
    rec r;
    rec_init(&r);
    assert_int_equal(run(client_stream, strlen(client_stream), 0, 0, &big, &r), 0);
    assert_int_equal(r.nstanzas, 3);
    assert_non_null(strstr(r.trace.data, "open stream http://etherx.jabber.org/streams "
                                         "dns=jabber:client to=example.com from=(null) ver=1.0 "
                                         "lang=en id=(null)\n"));
    assert_non_null(strstr(r.trace.data, "close\nresult=0\n"));

    const wb_stanza *m = r.kept[0];
    assert_string_equal(wb_st_name(m, 0), "message");
    assert_string_equal(wb_st_ns(m, 0), WB_NS_CLIENT);
    assert_string_equal(wb_st_attr(m, 0, "id"), "m&1");
    assert_string_equal(wb_st_attr(m, 0, "from"), "romeo@example.net/orchard");
    assert_string_equal(wb_st_attr(m, 0, "xml:lang"), "fr");
    assert_null(wb_st_attr(m, 0, "lang"));
    wb_el body = wb_st_child(m, 0, "body", WB_NS_CLIENT);
    assert_int_equal(body, 1);
    assert_string_equal(wb_st_text(m, body, NULL), "Wherefore <3 caf\xc3\xa9 \xe2\x82\xac "
                                                   "\xf0\x9f\x98\x80 \xe2\x98\xba\n<b>x</b>");
    wb_el html = wb_st_child(m, 0, "html", "http://jabber.org/protocol/xhtml-im");
    assert_true(html > 0);
    wb_el xb = wb_st_child(m, html, "body", "http://www.w3.org/1999/xhtml");
    wb_el p = wb_st_child(m, xb, "p", NULL);
    assert_string_equal(wb_st_attr(m, p, "style"), "font-weight:bold");
    assert_string_equal(wb_st_text(m, p, NULL), "Wherefore  thou");
    assert_string_equal(wb_st_text(m, wb_st_first(m, p), NULL), "art");
    assert_string_equal(wb_st_ns(m, wb_st_first(m, p)), "http://www.w3.org/1999/xhtml");
    size_t len;
    const char *raw = wb_st_raw(m, &len);
    assert_int_equal(len, strlen(MSG));
    assert_memory_equal(raw, MSG, len);
    assert_int_equal(wb_st_start_tag_len(m), strlen(MSG_TAG));

    raw = wb_st_raw(r.kept[1], &len);
    assert_int_equal(len, strlen("<presence/>"));
    assert_memory_equal(raw, "<presence/>", len);
    assert_int_equal(wb_st_start_tag_len(r.kept[1]), len);
    assert_int_equal(wb_st_first(r.kept[1], 0), -1);

    const wb_stanza *iq = r.kept[2];
    wb_el q = wb_st_child(iq, 0, "query", "jabber:iq:roster");
    assert_int_equal(q, 1);
    assert_string_equal(wb_st_attr(iq, q, "ver"), "v7");
    raw = wb_st_raw(iq, &len);
    assert_memory_equal(raw, IQ, len);
    assert_int_equal(len, strlen(IQ));
    rec_free(&r);
}

static void test_stanza_split_at_every_byte_gives_same_tree(void **state)
{
    (void)state;
    check_all_splits(client_stream, strlen(client_stream), &big, WB_XML_CONTINUE);
}

static void test_stanza_fed_in_odd_chunks_gives_same_tree(void **state)
{
    (void)state;
    int res;
    const size_t len = strlen(client_stream);
    char *whole = trace_of(client_stream, len, 0, 0, &big, &res);
    for (size_t step = 2; step < 40; step++) {
        char *t = trace_of(client_stream, len, step, 0, &big, &res);
        assert_int_equal(res, 0);
        assert_string_equal(t, whole);
        free(t);
    }
    free(whole);
}

static void test_header_strings_stay_valid_after_callback(void **state)
{
    (void)state;
    rec r;
    rec_init(&r);
    wb_xml_stream *xs = wb_xml_stream_new(&big, &cbs, &r);
    assert_false(wb_xml_stream_opened(xs));
    const char in[] = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                      "xmlns='jabber:server' from='a.example' id='x1' to='b.example'>";
    assert_int_equal(wb_xml_stream_feed(xs, in, strlen(in)), 0);
    assert_true(wb_xml_stream_opened(xs));
    assert_string_equal(r.hdr_seen.from, "a.example");
    assert_string_equal(r.hdr_seen.to, "b.example");
    assert_string_equal(r.hdr_seen.id, "x1");
    assert_string_equal(r.hdr_seen.default_ns, WB_NS_SERVER);
    assert_null(r.hdr_seen.version);
    assert_int_equal(wb_xml_stream_feed(xs, "</stream:stream>", 16), 0);
    assert_false(wb_xml_stream_opened(xs));
    wb_xml_stream_free(xs);
    rec_free(&r);
}

static void test_stanza_is_delivered_as_soon_as_its_last_byte_arrives(void **state)
{
    (void)state;
    rec r;
    rec_init(&r);
    wb_xml_stream *xs = wb_xml_stream_new(&big, &cbs, &r);
    static const char in[] = HDR "<message><body>hi</body></message><presence/></stream:stream>";
    const size_t ends[] = {strlen(HDR "<message><body>hi</body></message>"),
                           strlen(HDR "<message><body>hi</body></message><presence/>"), strlen(in)};
    size_t pos = 0;
    for (int i = 0; i < 3; i++) {
        for (; pos < ends[i]; pos++)
            assert_int_equal(wb_xml_stream_feed(xs, in + pos, 1), 0);
        assert_int_equal(r.nstanzas, i < 2 ? i + 1 : 2);
    }
    assert_non_null(strstr(r.trace.data, "close\n"));
    wb_xml_stream_free(xs);
    rec_free(&r);
}

/* ---- Rejected input ---- */

typedef struct bad_case {
    const char *in;
    int err;
} bad_case;

static void check_cases(const bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_all_splits(cases[i].in, strlen(cases[i].in), &big, cases[i].err);
}

static void test_forbidden_constructs_give_restricted_xml(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"<!-- hi -->" HDR, WB_SE_RESTRICTED_XML},
        {HDR "<!-- hi -->", WB_SE_RESTRICTED_XML},
        {HDR "<message><body>a<!-- hi --></body></message>", WB_SE_RESTRICTED_XML},
        {"<?xml version='1.0'?><?foo bar?>" HDR, WB_SE_RESTRICTED_XML},
        {HDR "<?foo bar?>", WB_SE_RESTRICTED_XML},
        {HDR "<message><?foo bar?></message>", WB_SE_RESTRICTED_XML},
        {HDR "<?xml version='1.0'?>", WB_SE_RESTRICTED_XML},
        {"<!DOCTYPE stream>" HDR, WB_SE_RESTRICTED_XML},
        {"<!DOCTYPE stream SYSTEM 'http://example.com/s.dtd'>" HDR, WB_SE_RESTRICTED_XML},
        {"<!DOCTYPE s [<!ENTITY x 'y'>]>" HDR, WB_SE_RESTRICTED_XML},
        {HDR "<!DOCTYPE s>", WB_SE_RESTRICTED_XML},
        {HDR "<message><!DOCTYPE s></message>", WB_SE_RESTRICTED_XML},
        {HDR "<!ENTITY x 'y'>", WB_SE_RESTRICTED_XML},
        {HDR "<message><!ENTITY x 'y'></message>", WB_SE_RESTRICTED_XML},
        {"<!ENTITY x 'y'>" HDR, WB_SE_RESTRICTED_XML},
        {"<!ELEMENT x ANY>" HDR, WB_SE_RESTRICTED_XML},
        {HDR "&foo;", WB_SE_RESTRICTED_XML},
        {HDR "<message>&foo;</message>", WB_SE_RESTRICTED_XML},
        {HDR "<message><body to='&foo;'/></message>", WB_SE_RESTRICTED_XML},
        {HDR "<presence/><message>a&amp;b&#65;&#x42;&nbsp;</message>", WB_SE_RESTRICTED_XML},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_malformed_xml_gives_not_well_formed(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {HDR "<message></iq>", WB_SE_NOT_WELL_FORMED},
        {HDR "<message a='1' a='2'/>", WB_SE_NOT_WELL_FORMED},
        {HDR "<message>\xff</message>", WB_SE_NOT_WELL_FORMED},
        {HDR "<message>\xc3(</message>", WB_SE_NOT_WELL_FORMED},
        {HDR "<x:message/>", WB_SE_NOT_WELL_FORMED},
        {HDR "<message>&#0;</message>", WB_SE_NOT_WELL_FORMED},
        {HDR "<message a=1/>", WB_SE_NOT_WELL_FORMED},
        {HDR "<message a='<!DOCTYPE x>'/>", WB_SE_NOT_WELL_FORMED},
        {HDR "<message><![CDAT x</message>", WB_SE_NOT_WELL_FORMED},
        {HDR "</stream:stream><message/>", WB_SE_NOT_WELL_FORMED},
        {"hello" HDR, WB_SE_NOT_WELL_FORMED},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_bad_streams_give_bad_format_namespace_or_encoding(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {HDR "hello", WB_SE_BAD_FORMAT},
        {HDR "<presence/> x <presence/>", WB_SE_BAD_FORMAT},
        {HDR "&amp;", WB_SE_BAD_FORMAT},
        {"<message xmlns='jabber:client'/>", WB_SE_BAD_FORMAT},
        {HDR "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", WB_SE_BAD_FORMAT},
        {"<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>", WB_SE_INVALID_NAMESPACE},
        {"<stream xmlns='jabber:client'>", WB_SE_INVALID_NAMESPACE},
        {"<?xml version='1.0' encoding='ISO-8859-1'?>" HDR, WB_SE_UNSUPPORTED_ENCODING},
        {"<?xml version='1.0' encoding='UTF-16'?>" HDR, WB_SE_UNSUPPORTED_ENCODING},
        {"<?xml version='1.0' encoding='utf-8'?>" HDR "<presence/>", WB_XML_CONTINUE},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- Limits ---- */

static char *stanza_of_size(size_t size)
{
    static const char pre[] = "<message><body>", post[] = "</body></message>";
    const size_t fixed = sizeof(HDR) - 1 + sizeof(pre) - 1 + sizeof(post) - 1;
    size_t body = size - (sizeof(pre) - 1 + sizeof(post) - 1);
    char *s = malloc(fixed + body + 1);
    assert_non_null(s);
    char *p = stpcpy(stpcpy(s, HDR), pre);
    memset(p, 'x', body);
    strcpy(p + body, post);
    return s;
}

static void test_stanza_at_size_limit_passes_one_byte_over_is_policy_violation(void **state)
{
    (void)state;
    const wb_xml_limits lim = {200, 8, 8};
    char *ok = stanza_of_size(200);
    check_all_splits(ok, strlen(ok), &lim, WB_XML_CONTINUE);
    rec r;
    rec_init(&r);
    run(ok, strlen(ok), 0, 0, &lim, &r);
    assert_int_equal(r.nstanzas, 1);
    rec_free(&r);
    char *over = stanza_of_size(201);
    check_all_splits(over, strlen(over), &lim, WB_SE_POLICY_VIOLATION);
    free(ok);
    free(over);
}

static void test_endless_start_tag_is_policy_violation(void **state)
{
    (void)state;
    const wb_xml_limits lim = {300, 8, 8};
    for (size_t step = 1; step <= 1000; step *= 10) {
        rec r;
        rec_init(&r);
        wb_xml_stream *xs = wb_xml_stream_new(&lim, &cbs, &r);
        assert_int_equal(wb_xml_stream_feed(xs, HDR "<message to='", strlen(HDR) + 13), 0);
        char chunk[1000];
        memset(chunk, 'a', sizeof(chunk));
        size_t fed = 13;
        int res;
        while ((res = wb_xml_stream_feed(xs, chunk, step)) == WB_XML_CONTINUE) {
            fed += step;
            assert_true(fed <= 300);
        }
        assert_int_equal(res, WB_SE_POLICY_VIOLATION);
        if (step == 1)
            assert_int_equal(fed, 300);
        assert_int_equal(r.nstanzas, 0);
        wb_xml_stream_free(xs);
        rec_free(&r);
    }
}

static void test_depth_at_limit_passes_over_is_policy_violation(void **state)
{
    (void)state;
    const wb_xml_limits lim = {4096, 4, 8};
    static const char ok[] = HDR "<message><a><b><c/></b></a></message>";
    static const char over[] = HDR "<message><a><b><c><d/></c></b></a></message>";
    check_all_splits(ok, strlen(ok), &lim, WB_XML_CONTINUE);
    check_all_splits(over, strlen(over), &lim, WB_SE_POLICY_VIOLATION);
}

static void test_attrs_at_limit_pass_too_many_is_policy_violation(void **state)
{
    (void)state;
    const wb_xml_limits lim = {4096, 8, 3};
    static const char ok[] = HDR "<message a='1' b='2' c='3'><x a='1' b='2' c='3'/></message>";
    static const char over1[] = HDR "<message a='1' b='2' c='3' d='4'/>";
    static const char over2[] = HDR "<message><x a='1' b='2' c='3' d='4'/></message>";
    check_all_splits(ok, strlen(ok), &lim, WB_XML_CONTINUE);
    check_all_splits(over1, strlen(over1), &lim, WB_SE_POLICY_VIOLATION);
    check_all_splits(over2, strlen(over2), &lim, WB_SE_POLICY_VIOLATION);
}

static void test_whitespace_keepalives_use_bounded_memory(void **state)
{
    (void)state;
    const wb_xml_limits lim = {64, 8, 8};
    rec r;
    rec_init(&r);
    wb_xml_stream *xs = wb_xml_stream_new(&lim, &cbs, &r);
    assert_int_equal(wb_xml_stream_feed(xs, HDR, strlen(HDR)), 0);
    static char spaces[100000];
    memset(spaces, ' ', sizeof(spaces));
    for (int i = 0; i < 50000; i++)
        assert_int_equal(wb_xml_stream_feed(xs, i % 2 ? " " : "\n", 1), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(wb_xml_stream_feed(xs, spaces, sizeof(spaces)), 0);
    assert_int_equal(wb_xml_stream_feed(xs, "\r\n\t<presence/>", 14), 0);
    assert_int_equal(r.nstanzas, 1);
    size_t len;
    const char *raw = wb_st_raw(r.kept[0], &len);
    assert_int_equal(len, 11);
    assert_memory_equal(raw, "<presence/>", 11);
    wb_xml_stream_free(xs);
    rec_free(&r);
}

/* ---- STOP, errors from callbacks, reset ---- */

static void test_stop_from_callback_discards_rest_and_reset_parses_new_header(void **state)
{
    (void)state;
    rec r;
    rec_init(&r);
    r.stop_at = "starttls";
    r.stop_with = WB_XML_STOP;
    wb_xml_stream *xs = wb_xml_stream_new(&big, &cbs, &r);
    const char in[] = HDR "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                          "<message to='victim@example.com'><body>injected</body></message>";
    assert_int_equal(wb_xml_stream_feed(xs, in, strlen(in)), WB_XML_STOP);
    assert_int_equal(r.nstanzas, 1);
    assert_int_equal(wb_xml_stream_feed(xs, "<presence/>", 11), WB_XML_STOP);
    assert_int_equal(r.nstanzas, 1);

    assert_int_equal(wb_xml_stream_reset(xs), 0);
    assert_false(wb_xml_stream_opened(xs));
    const char again[] = "<?xml version='1.0'?>" HDR "<message><body>hi</body></message>";
    assert_int_equal(wb_xml_stream_feed(xs, again, strlen(again)), 0);
    assert_true(wb_xml_stream_opened(xs));
    assert_int_equal(r.nstanzas, 2);
    size_t len;
    const char *raw = wb_st_raw(r.kept[1], &len);
    assert_int_equal(len, strlen("<message><body>hi</body></message>"));
    assert_memory_equal(raw, "<message><body>hi</body></message>", len);
    const char *t = r.trace.data;
    assert_non_null(t = strstr(t, "open stream"));
    assert_non_null(strstr(t + 1, "open stream"));
    wb_xml_stream_free(xs);
    rec_free(&r);
}

static void test_stop_in_split_input_is_reported_once(void **state)
{
    (void)state;
    const char in[] = HDR "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message/>";
    for (size_t cut = 1; cut < strlen(in); cut++) {
        rec r;
        rec_init(&r);
        r.stop_at = "starttls";
        r.stop_with = WB_XML_STOP;
        assert_int_equal(run(in, strlen(in), 0, cut, &big, &r), WB_XML_STOP);
        assert_int_equal(r.nstanzas, 1);
        rec_free(&r);
    }
}

static void test_error_from_callback_is_returned_and_reset_recovers(void **state)
{
    (void)state;
    rec r;
    rec_init(&r);
    r.open_ret = WB_SE_HOST_UNKNOWN;
    wb_xml_stream *xs = wb_xml_stream_new(&big, &cbs, &r);
    const char in[] = HDR "<presence/>";
    assert_int_equal(wb_xml_stream_feed(xs, in, strlen(in)), WB_SE_HOST_UNKNOWN);
    assert_int_equal(r.nstanzas, 0);
    r.open_ret = 0;
    r.stop_at = "presence";
    r.stop_with = WB_SE_POLICY_VIOLATION;
    assert_int_equal(wb_xml_stream_reset(xs), 0);
    assert_int_equal(wb_xml_stream_feed(xs, in, strlen(in)), WB_SE_POLICY_VIOLATION);
    assert_int_equal(r.nstanzas, 1);
    assert_int_equal(wb_xml_stream_reset(xs), 0);
    r.stop_at = NULL;
    assert_int_equal(wb_xml_stream_feed(xs, "<!-- x -->", 10), WB_SE_RESTRICTED_XML);
    assert_int_equal(wb_xml_stream_reset(xs), 0);
    assert_int_equal(wb_xml_stream_feed(xs, in, strlen(in)), 0);
    assert_int_equal(r.nstanzas, 2);
    wb_xml_stream_free(xs);
    rec_free(&r);
}

/* ---- wb_stanza_parse and accessors ---- */

static void test_stanza_parse_accepts_one_element_only(void **state)
{
    (void)state;
    static const char *const bad[] = {"",        "<a>",          "<a/><b/>", "<a><!-- c --></a>",
                                      "text",    "<a>&foo;</a>", "<x:a/>",   "<a></b>",
                                      "<a/>junk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(wb_stanza_parse(bad[i], strlen(bad[i])));
    const char in[] = "<a xmlns='urn:a' x='1'>t<b/>u<c xmlns=''/></a>";
    wb_stanza *st = wb_stanza_parse(in, strlen(in));
    assert_non_null(st);
    assert_string_equal(wb_st_ns(st, 0), "urn:a");
    assert_string_equal(wb_st_text(st, 0, NULL), "tu");
    assert_int_equal(wb_st_child(st, 0, "c", ""), 2);
    assert_int_equal(wb_st_child(st, 0, NULL, "urn:a"), 1);
    assert_int_equal(wb_st_child(st, 0, "b", "urn:other"), -1);
    assert_int_equal(wb_st_next(st, 2), -1);
    assert_null(wb_st_attr(st, 0, "y"));
    assert_string_equal(wb_st_attr(st, 0, "x"), "1");
    assert_string_equal(wb_st_name(st, 99), "");
    assert_string_equal(wb_st_text(st, -1, NULL), "");
    assert_int_equal(wb_st_first(st, -1), -1);
    wb_stanza_free(st);
}

static void test_prefixed_attribute_is_not_a_plain_attribute(void **state)
{
    (void)state;
    const char in[] = "<m xmlns:p='urn:p' p:to='a' to='b'/>";
    wb_stanza *st = wb_stanza_parse(in, strlen(in));
    assert_non_null(st);
    assert_string_equal(wb_st_attr(st, 0, "to"), "b");
    wb_stanza_free(st);
}

/* ---- Stamping ---- */

static void check_stamp(const char *in, const char *from, const char *to, const char *expect)
{
    wb_stanza *st = wb_stanza_parse(in, strlen(in));
    assert_non_null(st);
    wb_buf out;
    wb_buf_init(&out);
    assert_int_equal(wb_st_write_stamped(st, from, to, &out), 0);
    assert_string_equal(out.data, expect);
    wb_stanza *again = wb_stanza_parse(out.data, out.len);
    assert_non_null(again);
    if (from)
        assert_string_equal(wb_st_attr(again, 0, "from"), from);
    if (to)
        assert_string_equal(wb_st_attr(again, 0, "to"), to);
    wb_stanza_free(again);
    wb_buf_free(&out);
    wb_stanza_free(st);
}

static void test_stamp_replaces_existing_from(void **state)
{
    (void)state;
    check_stamp("<message from='evil@x' to='j@e'><body>hi</body></message>", "r@e/o", NULL,
                "<message from='r@e/o' to='j@e'><body>hi</body></message>");
}

static void test_stamp_inserts_missing_from_after_name(void **state)
{
    (void)state;
    check_stamp("<message to='j@e' type='chat'><body>hi</body></message>", "r@e/o", NULL,
                "<message from='r@e/o' to='j@e' type='chat'><body>hi</body></message>");
}

static void test_stamp_replaces_to_in_double_quotes(void **state)
{
    (void)state;
    check_stamp("<iq type=\"get\" to=\"a@b\" id='1'><q xmlns='urn:q'/></iq>", NULL, "c@d",
                "<iq type=\"get\" to=\"c@d\" id='1'><q xmlns='urn:q'/></iq>");
}

static void test_stamp_handles_quotes_and_gt_inside_values(void **state)
{
    (void)state;
    check_stamp("<message type='a>b' to=\"it's\" x='\"/>' from='o'>t</message>", "f'>", "t\"<",
                "<message type='a>b' to=\"t&quot;&lt;\" x='\"/>' from='f&apos;&gt;'>t</message>");
}

static void test_stamp_self_closing_tags(void **state)
{
    (void)state;
    check_stamp("<presence/>", "a@b/c", "d@e", "<presence from='a@b/c' to='d@e'/>");
    check_stamp("<presence\n/>", "a&b", NULL, "<presence from='a&amp;b'\n/>");
    check_stamp("<presence to = 'x'\t/>", NULL, "y", "<presence to = 'y'\t/>");
}

static void test_stamp_leaves_other_attributes_and_nulls_untouched(void **state)
{
    (void)state;
    const char in[] = "<message xmlns:p='urn:p' p:from='keep' fromx='k' from='old'/>";
    check_stamp(in, NULL, NULL, in);
    check_stamp(in, "new", NULL, "<message xmlns:p='urn:p' p:from='keep' fromx='k' from='new'/>");
}

static void test_stamp_on_stream_stanza_uses_raw_bytes(void **state)
{
    (void)state;
    rec r;
    rec_init(&r);
    const char in[] = HDR "\n<message\tto='j@e'\r\n><body>a&amp;b</body></message>";
    assert_int_equal(run(in, strlen(in), 1, 0, &big, &r), 0);
    assert_int_equal(r.nstanzas, 1);
    wb_buf out;
    wb_buf_init(&out);
    assert_int_equal(wb_st_write_stamped(r.kept[0], "me@x/r", "you@y", &out), 0);
    assert_string_equal(out.data, "<message from='me@x/r'\tto='you@y'\r\n><body>a&amp;b</body>"
                                  "</message>");
    wb_buf_free(&out);
    rec_free(&r);
}

static void expect_default_ns(const char *in, const char *want)
{
    wb_buf b;
    wb_buf_init(&b);
    assert_int_equal(wb_xml_with_default_ns(in, strlen(in), "jabber:client", &b), 0);
    assert_string_equal(b.data, want);
    wb_buf_free(&b);
}

static void test_default_ns_declared_only_when_missing_and_never_from_attribute_values(void **s)
{
    (void)s;
    expect_default_ns("<message to='a@b'><body>x</body></message>",
                      "<message xmlns='jabber:client' to='a@b'><body>x</body></message>");
    expect_default_ns("<message xmlns='jabber:client' to='a@b'/>",
                      "<message xmlns='jabber:client' to='a@b'/>");
    expect_default_ns("<message id=\"xmlns=\" to='a@b'/>",
                      "<message xmlns='jabber:client' id=\"xmlns=\" to='a@b'/>");
    expect_default_ns("<presence/>", "<presence xmlns='jabber:client'/>");
    expect_default_ns("<iq\n xmlns = 'jabber:client' type='get'/>",
                      "<iq\n xmlns = 'jabber:client' type='get'/>");
    wb_buf b;
    wb_buf_init(&b);
    assert_int_equal(wb_xml_with_default_ns("<message to='x", 14, "jabber:client", &b), -1);
    assert_int_equal(wb_xml_with_default_ns("text", 4, "jabber:client", &b), -1);
    wb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_stream_gives_header_stanzas_and_close),
        cmocka_unit_test(test_stanza_split_at_every_byte_gives_same_tree),
        cmocka_unit_test(test_stanza_fed_in_odd_chunks_gives_same_tree),
        cmocka_unit_test(test_header_strings_stay_valid_after_callback),
        cmocka_unit_test(test_stanza_is_delivered_as_soon_as_its_last_byte_arrives),
        cmocka_unit_test(test_forbidden_constructs_give_restricted_xml),
        cmocka_unit_test(test_malformed_xml_gives_not_well_formed),
        cmocka_unit_test(test_bad_streams_give_bad_format_namespace_or_encoding),
        cmocka_unit_test(test_stanza_at_size_limit_passes_one_byte_over_is_policy_violation),
        cmocka_unit_test(test_endless_start_tag_is_policy_violation),
        cmocka_unit_test(test_depth_at_limit_passes_over_is_policy_violation),
        cmocka_unit_test(test_attrs_at_limit_pass_too_many_is_policy_violation),
        cmocka_unit_test(test_whitespace_keepalives_use_bounded_memory),
        cmocka_unit_test(test_stop_from_callback_discards_rest_and_reset_parses_new_header),
        cmocka_unit_test(test_stop_in_split_input_is_reported_once),
        cmocka_unit_test(test_error_from_callback_is_returned_and_reset_recovers),
        cmocka_unit_test(test_stanza_parse_accepts_one_element_only),
        cmocka_unit_test(test_prefixed_attribute_is_not_a_plain_attribute),
        cmocka_unit_test(test_stamp_replaces_existing_from),
        cmocka_unit_test(test_stamp_inserts_missing_from_after_name),
        cmocka_unit_test(test_stamp_replaces_to_in_double_quotes),
        cmocka_unit_test(test_stamp_handles_quotes_and_gt_inside_values),
        cmocka_unit_test(test_stamp_self_closing_tags),
        cmocka_unit_test(test_stamp_leaves_other_attributes_and_nulls_untouched),
        cmocka_unit_test(test_stamp_on_stream_stanza_uses_raw_bytes),
        cmocka_unit_test(
            test_default_ns_declared_only_when_missing_and_never_from_attribute_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
