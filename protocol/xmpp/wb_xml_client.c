/* Reads stanza bytes the way a client stream does: one element inside a jabber:client stream
 * header, so that its namespace and raw bytes are what a session would see. For stanzas the
 * server rebuilds (archive results, presence with an avatar hash); not for network input. */
#include "wb_xml.h"

static int wb_xml_client_open(void *ud, const wb_stream_header *hdr)
{
    (void)ud;
    (void)hdr;
    return WB_XML_CONTINUE;
}

static int wb_xml_client_take(void *ud, wb_stanza *st)
{
    wb_stanza **out = ud;
    if (*out != NULL)
        wb_stanza_free(*out);
    *out = st;
    return WB_XML_CONTINUE;
}

wb_stanza *wb_stanza_parse_client(const char *bytes, size_t len)
{
    static const char head[] =
        "<stream:stream xmlns='" WB_NS_CLIENT "' xmlns:stream='" WB_NS_STREAMS "' version='1.0'>";
    const wb_xml_limits lim = {len + 1, 4096, 4096};
    const wb_xml_stream_cbs cbs = {wb_xml_client_open, wb_xml_client_take, NULL};
    wb_stanza *st = NULL;
    wb_xml_stream *xs = wb_xml_stream_new(&lim, &cbs, &st);
    if (xs == NULL)
        return NULL;
    if (wb_xml_stream_feed(xs, head, sizeof(head) - 1) != WB_XML_CONTINUE ||
        wb_xml_stream_feed(xs, bytes, len) != WB_XML_CONTINUE) {
        if (st != NULL)
            wb_stanza_free(st);
        st = NULL;
    }
    wb_xml_stream_free(xs);
    return st;
}
