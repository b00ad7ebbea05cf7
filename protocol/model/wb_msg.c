/* wb_msg: allocation and shared ownership of model messages. */
#include "wb_msg.h"

#include <stdlib.h>

#include "wb_xml.h"

wb_msg *wb_msg_new(wb_msg_kind kind, wb_msg_type type)
{
    wb_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->refs = 1;
    m->kind = kind;
    m->type = type;
    return m;
}

wb_msg *wb_msg_ref(wb_msg *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void wb_msg_unref(wb_msg *m)
{
    if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (m->xml)
        wb_stanza_free(m->xml);
    free(m->id);
    free(m->bytes);
    free(m);
}

const char *wb_msg_kind_name(wb_msg_kind k)
{
    static const char *const names[] = {"message", "presence", "iq"};
    return names[k];
}

const char *wb_msg_type_name(wb_msg_type t)
{
    static const char *const names[] = {
        "normal",      "chat",      "groupchat",  "headline",    "",
        "unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed",
        "probe",       "get",       "set",        "result",      "error",
    };
    return names[t];
}
