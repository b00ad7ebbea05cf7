/* XMPP stream parsing: an incremental expat parser that turns a byte stream into a stream
 * header and a sequence of stanzas, each a compact tree plus its original bytes.
 * Not for writing XML (see wb_buf) and not for deciding what stanzas mean (see wb_c2s). */
#ifndef WB_XML_H
#define WB_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "wb_buf.h"

#define WB_NS_STREAMS "http://etherx.jabber.org/streams"
#define WB_NS_CLIENT  "jabber:client"
#define WB_NS_SERVER  "jabber:server"
#define WB_NS_XML     "http://www.w3.org/XML/1998/namespace"

/* ---- One stanza: a flat array of elements (index 0 is the top-level element). ---- */
typedef struct wb_stanza wb_stanza;
typedef int wb_el; /* element index, -1 = none */

void wb_stanza_free(wb_stanza *st);
/* Local name and namespace URI of an element ("" when in no namespace). */
const char *wb_st_name(const wb_stanza *st, wb_el el);
const char *wb_st_ns(const wb_stanza *st, wb_el el);
/* First child / next sibling, any name. */
wb_el wb_st_first(const wb_stanza *st, wb_el parent);
wb_el wb_st_next(const wb_stanza *st, wb_el el);
/* First child with this local name and namespace; NULL matches any. */
wb_el wb_st_child(const wb_stanza *st, wb_el parent, const char *name, const char *ns);
/* Value of an attribute in no namespace (NULL if absent). xml:lang is looked up as "xml:lang". */
const char *wb_st_attr(const wb_stanza *st, wb_el el, const char *name);
/* Character data directly inside el, concatenated (never NULL; "" if none). */
const char *wb_st_text(const wb_stanza *st, wb_el el, size_t *len);
/* The original bytes of the whole top-level element, exactly as received, and the length of
 * its start tag within them (for an empty-element tag "<a/>" that is the whole element). */
const char *wb_st_raw(const wb_stanza *st, size_t *len);
size_t wb_st_start_tag_len(const wb_stanza *st);

/* Builds a tree from one complete, self-contained element (used by tests and tools).
 * Returns NULL when the bytes are not one well-formed element. */
wb_stanza *wb_stanza_parse(const char *xml, size_t len);
/* Parses one stanza as a client stream reads it, inside a jabber:client stream header
 * (wb_xml_client.c): for stanzas the server rebuilt. NULL when the bytes are not one stanza. */
wb_stanza *wb_stanza_parse_client(const char *bytes, size_t len);

/* Copies the top-level element's raw bytes into out, with the from and/or to attributes of the
 * start tag set to the given values (escaped), or left as received when the argument is NULL.
 * Every other byte is copied unchanged. Returns 0 or -1. */
int wb_st_write_stamped(const wb_stanza *st, const char *from, const char *to, wb_buf *out);

/* Copies one stanza's bytes (a <message>, <presence> or <iq> as delivered on a stream) into out
 * with the default namespace ns declared on its start tag unless one is declared already, so that
 * it keeps its meaning inside another element (<forwarded/> in carbons and archives). Only
 * attributes are looked at, never attribute values. -1 when bytes do not start with a start tag. */
int wb_xml_with_default_ns(const char *bytes, size_t len, const char *ns, wb_buf *out);

/* ---- The stream parser ---- */
typedef struct wb_xml_limits {
    size_t max_stanza_size; /* bytes of one top-level element, start tag to end tag */
    unsigned max_depth;     /* nesting depth inside a stanza (top-level element = 1) */
    unsigned max_attrs;     /* attributes on one element */
} wb_xml_limits;

typedef struct wb_stream_header {
    const char *name;       /* local name, should be "stream" */
    const char *ns;         /* should be WB_NS_STREAMS */
    const char *default_ns; /* default namespace declared on the header, or NULL */
    const char *to, *from, *version, *lang, *id; /* NULL when absent */
} wb_stream_header;

/* Callbacks return WB_XML_CONTINUE, WB_XML_STOP (stop parsing now and discard the rest of the
 * buffer being fed: used after <starttls/> so that no plaintext injected behind it is read), or a
 * wb_stream_err (> 0) to make feed return that error. */
#define WB_XML_CONTINUE 0
#define WB_XML_STOP     (-1)

typedef struct wb_xml_stream_cbs {
    int (*open)(void *ud, const wb_stream_header *hdr);
    int (*stanza)(void *ud, wb_stanza *st); /* the callee owns st and must free it */
    int (*close)(void *ud);                 /* </stream:stream> received */
} wb_xml_stream_cbs;

typedef struct wb_xml_stream wb_xml_stream;

wb_xml_stream *wb_xml_stream_new(const wb_xml_limits *lim, const wb_xml_stream_cbs *cbs, void *ud);
void wb_xml_stream_free(wb_xml_stream *xs);
/* Forgets everything and expects a new stream header (after STARTTLS or SASL success). */
int wb_xml_stream_reset(wb_xml_stream *xs);
/* Feeds bytes, which may be split anywhere (even inside a UTF-8 sequence).
 * Returns WB_XML_CONTINUE, WB_XML_STOP, or a wb_stream_err > 0 to send to the peer:
 * not-well-formed, restricted-xml (comments, processing instructions, DTDs, entity declarations
 * or references other than the predefined ones), policy-violation (limits), bad-format (text at
 * stream level, a second stream header...), invalid-namespace, unsupported-encoding.
 * After an error or STOP, the caller must not feed again without a reset. */
int wb_xml_stream_feed(wb_xml_stream *xs, const char *buf, size_t len);
/* True between the stream header and the end of the stream (for idle handling). */
bool wb_xml_stream_opened(const wb_xml_stream *xs);

#endif
