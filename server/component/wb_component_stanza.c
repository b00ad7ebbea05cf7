/* wb_component_stanza: a stanza from an authenticated component into the model and the router:
 * 'to' required, 'from' at the component's domain (XEP-0114 3), addressed to this server, its
 * MUC service or another component. Not for the stream itself (wb_component_conn.c). */
#include "wb_component_int.h"

#include <stdlib.h>
#include <string.h>

#include "muc/wb_muc.h"
#include "wb_log.h"
#include "wb_router.h"
#include "wb_xmpp_model.h"

/* The type attribute of a stanza of this kind; -1 if not one of its types (or none on an iq). */
static int wb_comp_type(wb_msg_kind kind, const char *attr, wb_msg_type *out)
{
    static const wb_msg_type first[] = {WB_MT_NORMAL, WB_PT_AVAILABLE, WB_IT_GET};
    static const wb_msg_type last[] = {WB_MT_HEADLINE, WB_PT_PROBE, WB_IT_RESULT};
    *out = first[kind];
    if (!attr)
        return kind == WB_MSG_IQ ? -1 : 0;
    if (kind == WB_MSG_MESSAGE && strcmp(attr, "normal") == 0)
        return 0;
    if (strcmp(attr, "error") == 0) {
        *out = WB_T_ERROR;
        return 0;
    }
    for (int t = (int)first[kind]; t <= (int)last[kind]; t++) {
        const char *n = wb_msg_type_name((wb_msg_type)t);
        if (*n && strcmp(n, attr) == 0) {
            *out = (wb_msg_type)t;
            return 0;
        }
    }
    return -1;
}

/* st's bytes in jabber:client: a component stanza inherits jabber:component:accept from the stream
 * (then jabber:client is declared) or declares it on its start tag (then that is rewritten). */
static int wb_comp_client_bytes(const wb_stanza *st, wb_buf *out)
{
    static const char *const decl[] = {" xmlns='" WB_NS_COMPONENT "'",
                                       " xmlns=\"" WB_NS_COMPONENT "\""};
    size_t len;
    const char *raw = wb_st_raw(st, &len);
    const size_t tag = wb_st_start_tag_len(st);
    for (size_t i = 0; i < 2; i++) {
        const size_t dlen = strlen(decl[i]);
        const char *p = memmem(raw, tag, decl[i], dlen);
        if (!p)
            continue;
        wb_buf_append(out, raw, (size_t)(p - raw));
        wb_buf_puts(out, " xmlns='" WB_NS_CLIENT "'");
        wb_buf_append(out, p + dlen, len - (size_t)(p - raw) - dlen);
        return out->failed ? -1 : 0;
    }
    return wb_xml_with_default_ns(raw, len, WB_NS_CLIENT, out);
}

wb_msg *wb_comp_msg(const wb_stanza *st, wb_msg_kind kind, const wb_jid *from, const wb_jid *to,
                    wb_stanza_err *err)
{
    wb_msg *m = wb_msg_new(kind, WB_MT_NORMAL);
    const char *id = wb_st_attr(st, 0, "id");
    wb_buf b;
    wb_buf_init(&b);
    if (!m || wb_comp_client_bytes(st, &b) < 0 || b.failed)
        goto fail;
    m->from = *from;
    m->to = *to;
    m->has_from = m->has_to = true;
    if (id && !(m->id = strdup(id)))
        goto fail;
    if (!(m->xml = wb_stanza_parse(b.data, b.len)))
        goto fail;
    m->bytes = wb_buf_steal(&b, &m->bytes_len);
    *err = WB_STE_COUNT;
    if (wb_comp_type(kind, wb_st_attr(st, 0, "type"), &m->type) < 0 ||
        (kind == WB_MSG_IQ && !m->id))
        *err = WB_STE_BAD_REQUEST;
    return m;
fail:
    wb_buf_free(&b);
    if (m)
        wb_msg_unref(m);
    return NULL;
}

/* Routes m (consumed) from the component: local domains and components through the router, MUC
 * services to the MUC code; federation from a component is not offered. */
static void wb_comp_forward(wb_worker *w, wb_msg *m)
{
    const wb_comp_state *st = wb_comp_state_of(w->srv);
    if (wb_server_serves(w->srv, m->to.domain) || wb_comp_find(st, m->to.domain) >= 0) {
        wb_route(w, m);
        return;
    }
    if (wb_muc_route(w, m))
        return;
    wb_route_error(w, m, WB_STE_REMOTE_SERVER_NOT_FOUND, NULL);
    wb_msg_unref(m);
}

int wb_comp_stanza(wb_comp_conn *c, wb_stanza *st)
{
    static const char *const kinds[] = {"message", "presence", "iq"};
    const char *ns = wb_st_ns(st, 0), *name = wb_st_name(st, 0);
    const char *from = wb_st_attr(st, 0, "from"), *to = wb_st_attr(st, 0, "to");
    const wb_comp_state *s = wb_comp_state_of(c->w->srv);
    int kind = -1, rc = WB_XML_CONTINUE;
    wb_jid jf, jt;
    for (int k = 0; k < 3; k++)
        if (strcmp(name, kinds[k]) == 0)
            kind = k;
    if (kind < 0 || (strcmp(ns, WB_NS_COMPONENT) != 0 && strcmp(ns, WB_NS_CLIENT) != 0))
        rc = WB_SE_UNSUPPORTED_STANZA_TYPE;
    else if (!from || wb_jid_parse(&jf, from, strlen(from)) < 0 ||
             strcmp(jf.domain, s->e[c->comp].domain) != 0)
        rc = WB_SE_INVALID_FROM;
    else if (!to || wb_jid_parse(&jt, to, strlen(to)) < 0)
        rc = WB_SE_IMPROPER_ADDRESSING;
    if (rc != WB_XML_CONTINUE) {
        wb_info("component %llu: %s: %s stanza refused", (unsigned long long)c->id,
                s->e[c->comp].domain, wb_stream_err_name(rc));
        wb_stanza_free(st);
        return rc;
    }
    wb_stanza_err err;
    wb_msg *m = wb_comp_msg(st, (wb_msg_kind)kind, &jf, &jt, &err);
    wb_stanza_free(st);
    if (!m) {
        wb_warn("component %llu: a stanza dropped: out of memory", (unsigned long long)c->id);
        return WB_XML_CONTINUE;
    }
    if (err != WB_STE_COUNT) {
        wb_route_error(c->w, m, err, NULL);
        wb_msg_unref(m);
        return WB_XML_CONTINUE;
    }
    wb_comp_forward(c->w, m);
    return WB_XML_CONTINUE;
}
