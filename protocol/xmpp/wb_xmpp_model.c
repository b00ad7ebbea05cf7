/* XMPP -> model translation (wb_xmpp_to_msg) and the XMPP replies the server generates. */
#include "wb_xmpp_model.h"

#include <stdlib.h>
#include <string.h>

#define WB_NS_STANZAS    "urn:ietf:params:xml:ns:xmpp-stanzas"
#define WB_NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"

static const struct {
    wb_msg_kind kind;
    const char *name;
    wb_msg_type types[8];
    int n;
    wb_msg_type dflt;
} kinds[] = {
    {WB_MSG_MESSAGE,
     "message",
     {WB_MT_NORMAL, WB_MT_CHAT, WB_MT_GROUPCHAT, WB_MT_HEADLINE, WB_T_ERROR},
     5,
     WB_MT_NORMAL},
    {WB_MSG_PRESENCE,
     "presence",
     {WB_PT_UNAVAILABLE, WB_PT_SUBSCRIBE, WB_PT_SUBSCRIBED, WB_PT_UNSUBSCRIBE, WB_PT_UNSUBSCRIBED,
      WB_PT_PROBE, WB_T_ERROR},
     7,
     WB_PT_AVAILABLE},
    {WB_MSG_IQ, "iq", {WB_IT_GET, WB_IT_SET, WB_IT_RESULT, WB_T_ERROR}, 4, WB_T_ERROR},
};

/* Returns the kind index for the element, or -1. */
static int wb_xmpp_kind(const wb_stanza *st)
{
    const char *name = wb_st_name(st, 0);
    for (int i = 0; i < 3; i++)
        if (strcmp(name, kinds[i].name) == 0)
            return i;
    return -1;
}

static int wb_xmpp_type(int k, const char *attr, wb_msg_type *out)
{
    if (!attr) {
        *out = kinds[k].dflt;
        return kinds[k].kind == WB_MSG_IQ ? -1 : 0; /* an iq must have a type */
    }
    for (int i = 0; i < kinds[k].n; i++) {
        if (strcmp(attr, wb_msg_type_name(kinds[k].types[i])) == 0) {
            *out = kinds[k].types[i];
            return 0;
        }
    }
    return -1;
}

static int wb_xmpp_count_children(const wb_stanza *st)
{
    int n = 0;
    for (wb_el c = wb_st_first(st, 0); c >= 0; c = wb_st_next(st, c))
        n++;
    return n;
}

/* Checks what RFC 6120 8.2.3 and RFC 6121 4.7.2.3 require of each kind; 0 or a stanza error. */
static int wb_xmpp_check_payload(wb_msg *m, const wb_stanza *st, wb_stanza_err *err)
{
    if (m->kind == WB_MSG_IQ) {
        int n = wb_xmpp_count_children(st);
        if (!m->id || ((m->type == WB_IT_GET || m->type == WB_IT_SET) && n != 1) ||
            (m->type == WB_IT_RESULT && n > 1)) {
            *err = WB_STE_BAD_REQUEST;
            return -1;
        }
    }
    if (m->kind == WB_MSG_PRESENCE) {
        wb_el p = wb_st_child(st, 0, "priority", WB_NS_CLIENT);
        if (p >= 0) {
            size_t len;
            const char *t = wb_st_text(st, p, &len);
            char *end;
            long v = strtol(t, &end, 10);
            if (len == 0 || *end != '\0' || v < -128 || v > 127) {
                *err = WB_STE_BAD_REQUEST;
                return -1;
            }
            m->priority = (int)v;
        }
    }
    return 0;
}

static int wb_xmpp_check_from(const wb_stanza *st, const wb_jid *sender, wb_stream_err *serr)
{
    const char *from = wb_st_attr(st, 0, "from");
    if (!from)
        return 0;
    wb_jid j;
    if (wb_jid_parse(&j, from, strlen(from)) < 0 ||
        !(wb_jid_full_eq(&j, sender) || (!wb_jid_has_resource(&j) && wb_jid_bare_eq(&j, sender)))) {
        *serr = WB_SE_INVALID_FROM;
        return -1;
    }
    return 0;
}

int wb_xmpp_to_msg(wb_stanza *st, const wb_jid *sender, wb_msg **out, wb_stanza_err *err,
                   wb_stream_err *serr)
{
    *out = NULL;
    if (strcmp(wb_st_ns(st, 0), WB_NS_CLIENT) != 0 || wb_xmpp_kind(st) < 0) {
        *serr = WB_SE_UNSUPPORTED_STANZA_TYPE;
        wb_stanza_free(st);
        return -2;
    }
    if (wb_xmpp_check_from(st, sender, serr) < 0) {
        wb_stanza_free(st);
        return -2;
    }
    int k = wb_xmpp_kind(st);
    wb_msg *m = wb_msg_new(kinds[k].kind, kinds[k].dflt);
    if (!m) {
        wb_stanza_free(st);
        *err = WB_STE_INTERNAL_SERVER_ERROR;
        return -1;
    }
    m->xml = st;
    m->from = *sender;
    m->has_from = true;
    const char *id = wb_st_attr(st, 0, "id");
    if (id)
        m->id = strdup(id);
    *out = m;
    if (wb_xmpp_type(k, wb_st_attr(st, 0, "type"), &m->type) < 0) {
        /* Answerable placeholder, so that the sender gets its bad-request. */
        m->type = kinds[k].kind == WB_MSG_IQ ? WB_IT_GET : kinds[k].dflt;
        *err = WB_STE_BAD_REQUEST;
        return -1;
    }
    const char *to = wb_st_attr(st, 0, "to");
    if (to) {
        if (wb_jid_parse(&m->to, to, strlen(to)) < 0) {
            *err = WB_STE_JID_MALFORMED;
            return -1;
        }
        m->has_to = true;
    }
    if (wb_xmpp_check_payload(m, st, err) < 0)
        return -1;
    /* RFC 6121 3.1.2 and 3.2.2: subscription presence goes from bare JID to bare JID. */
    char full[WB_JID_MAX + 1], bare_to[WB_JID_MAX + 1];
    const char *to_stamp = NULL;
    if (m->kind == WB_MSG_PRESENCE && m->type >= WB_PT_SUBSCRIBE && m->type <= WB_PT_UNSUBSCRIBED) {
        m->from.resource[0] = '\0';
        if (m->has_to && wb_jid_has_resource(&m->to)) {
            m->to.resource[0] = '\0';
            if (wb_jid_bare(&m->to, bare_to, sizeof(bare_to)) >= 0)
                to_stamp = bare_to;
        }
    }
    wb_buf b;
    wb_buf_init(&b);
    if (wb_jid_full(&m->from, full, sizeof(full)) < 0 ||
        wb_st_write_stamped(st, full, to_stamp, &b) < 0) {
        wb_buf_free(&b);
        *err = WB_STE_INTERNAL_SERVER_ERROR;
        return -1;
    }
    m->bytes = wb_buf_steal(&b, &m->bytes_len);
    return 0;
}

static int wb_xmpp_open_tag(wb_buf *b, wb_msg_kind kind, wb_msg_type type, const wb_jid *from,
                            const wb_jid *to, const char *id)
{
    char jid[WB_JID_MAX + 1];
    wb_buf_printf(b, "<%s", wb_msg_kind_name(kind));
    if (from && wb_jid_full(from, jid, sizeof(jid)) >= 0) {
        wb_buf_puts(b, " from='");
        wb_buf_xml_escape_str(b, jid);
        wb_buf_puts(b, "'");
    }
    if (to && wb_jid_full(to, jid, sizeof(jid)) >= 0) {
        wb_buf_puts(b, " to='");
        wb_buf_xml_escape_str(b, jid);
        wb_buf_puts(b, "'");
    }
    if (id) {
        wb_buf_puts(b, " id='");
        wb_buf_xml_escape_str(b, id);
        wb_buf_puts(b, "'");
    }
    const char *tn = wb_msg_type_name(type);
    if (*tn && !(kind == WB_MSG_MESSAGE && type == WB_MT_NORMAL))
        wb_buf_printf(b, " type='%s'", tn);
    return b->failed ? -1 : 0;
}

static wb_msg *wb_xmpp_finish(wb_msg *r, wb_buf *b)
{
    if (b->failed) {
        wb_buf_free(b);
        wb_msg_unref(r);
        return NULL;
    }
    r->bytes = wb_buf_steal(b, &r->bytes_len);
    return r;
}

static wb_msg *wb_xmpp_reply_shell(const wb_msg *m, wb_msg_type type)
{
    wb_msg *r = wb_msg_new(m->kind, type);
    if (!r)
        return NULL;
    if (m->has_to) {
        r->from = m->to;
        r->has_from = true;
    }
    r->to = m->from;
    r->has_to = m->has_from;
    if (m->id && !(r->id = strdup(m->id))) {
        wb_msg_unref(r);
        return NULL;
    }
    return r;
}

wb_msg *wb_xmpp_error_reply(const wb_msg *m, wb_stanza_err e, const char *text)
{
    if (m->type == WB_T_ERROR || m->type == WB_IT_RESULT || !m->has_from)
        return NULL;
    wb_msg *r = wb_xmpp_reply_shell(m, WB_T_ERROR);
    if (!r)
        return NULL;
    wb_buf b;
    wb_buf_init(&b);
    wb_xmpp_open_tag(&b, r->kind, r->type, r->has_from ? &r->from : NULL, &r->to, r->id);
    wb_buf_printf(&b, "><error type='%s'><%s xmlns='" WB_NS_STANZAS "'/>", wb_stanza_err_type(e),
                  wb_stanza_err_name(e));
    if (text) {
        wb_buf_puts(&b, "<text xmlns='" WB_NS_STANZAS "'>");
        wb_buf_xml_escape_str(&b, text);
        wb_buf_puts(&b, "</text>");
    }
    wb_buf_printf(&b, "</error></%s>", wb_msg_kind_name(r->kind));
    return wb_xmpp_finish(r, &b);
}

wb_msg *wb_xmpp_iq_result(const wb_msg *m, const char *payload, size_t len)
{
    wb_msg *r = wb_xmpp_reply_shell(m, WB_IT_RESULT);
    if (!r)
        return NULL;
    wb_buf b;
    wb_buf_init(&b);
    wb_xmpp_open_tag(&b, r->kind, r->type, r->has_from ? &r->from : NULL, &r->to, r->id);
    if (payload && len) {
        wb_buf_puts(&b, ">");
        wb_buf_append(&b, payload, len);
        wb_buf_puts(&b, "</iq>");
    } else {
        wb_buf_puts(&b, "/>");
    }
    return wb_xmpp_finish(r, &b);
}

wb_msg *wb_xmpp_msg_from_text(wb_msg_kind kind, wb_msg_type type, const wb_jid *from,
                              const wb_jid *to, const char *xml, size_t len)
{
    wb_msg *r = wb_msg_new(kind, type);
    if (!r)
        return NULL;
    if (from) {
        r->from = *from;
        r->has_from = true;
    }
    if (to) {
        r->to = *to;
        r->has_to = true;
    }
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_append(&b, xml, len);
    return wb_xmpp_finish(r, &b);
}

int wb_xmpp_write_stream_error(wb_buf *b, wb_stream_err e, const char *text)
{
    wb_buf_printf(b, "<stream:error><%s xmlns='" WB_NS_STREAM_ERR "'/>", wb_stream_err_name(e));
    if (text) {
        wb_buf_puts(b, "<text xmlns='" WB_NS_STREAM_ERR "'>");
        wb_buf_xml_escape_str(b, text);
        wb_buf_puts(b, "</text>");
    }
    wb_buf_puts(b, "</stream:error></stream:stream>");
    return b->failed ? -1 : 0;
}
