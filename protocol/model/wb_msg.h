/* The one internal message model that every protocol adapter produces and the router consumes:
 * kind, type, addresses, id, and the original protocol bytes ready to deliver. Immutable once
 * routed and shared between workers by reference counting. */
#ifndef WB_MSG_H
#define WB_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "wb_jid.h"

typedef enum { WB_MSG_MESSAGE = 0, WB_MSG_PRESENCE, WB_MSG_IQ } wb_msg_kind;

typedef enum {
    /* message */
    WB_MT_NORMAL = 0,
    WB_MT_CHAT,
    WB_MT_GROUPCHAT,
    WB_MT_HEADLINE,
    /* presence */
    WB_PT_AVAILABLE,
    WB_PT_UNAVAILABLE,
    WB_PT_SUBSCRIBE,
    WB_PT_SUBSCRIBED,
    WB_PT_UNSUBSCRIBE,
    WB_PT_UNSUBSCRIBED,
    WB_PT_PROBE,
    /* iq */
    WB_IT_GET,
    WB_IT_SET,
    WB_IT_RESULT,
    /* any kind */
    WB_T_ERROR,
} wb_msg_type;

struct wb_stanza; /* XMPP payload (protocol/xmpp/wb_xml.h) */

typedef struct wb_msg {
    int refs; /* atomic */
    wb_msg_kind kind;
    wb_msg_type type;
    bool has_from, has_to;
    wb_jid from;
    wb_jid to;
    char *id;              /* NULL when absent */
    int priority;          /* presence only */
    struct wb_stanza *xml; /* the parsed XMPP stanza this came from, or NULL; owned */
    unsigned flags;        /* WB_MSG_F_* */
    char *bytes;           /* XMPP bytes to deliver (original bytes, from stamped); owned */
    size_t bytes_len;
} wb_msg;

/* Delivered only to sessions that asked for their roster (RFC 6121 2.1.6 roster pushes). */
#define WB_MSG_F_ROSTER_PUSH 0x1u

/* Returns a message with one reference; fields are filled by the adapter. */
wb_msg *wb_msg_new(wb_msg_kind kind, wb_msg_type type);
wb_msg *wb_msg_ref(wb_msg *m);
void wb_msg_unref(wb_msg *m);

const char *wb_msg_kind_name(wb_msg_kind k);
/* The XMPP type attribute value for t ("" for available presence and normal message). */
const char *wb_msg_type_name(wb_msg_type t);

#endif
