/* The XMPP adapter's translation of a parsed stanza into the internal message model, and the XML
 * it writes for replies (stanza errors, stream errors). Not for routing decisions. */
#ifndef WB_XMPP_MODEL_H
#define WB_XMPP_MODEL_H

#include "wb_buf.h"
#include "wb_msg.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

/* Turns st (taken over, also on failure) into a message sent by the session whose full JID is
 * `sender`: type, to, id, priority are read, from is checked (must be absent or the sender's full
 * or bare JID) and stamped into the bytes to deliver. Returns 0 and *out; or a stanza error for the
 * sender in *err with *out set to a message that carries enough to build the error reply (NULL if
 * not even that); or -2 for a stream-level error in *serr (unknown stanza kind, forged from). */
int wb_xmpp_to_msg(struct wb_stanza *st, const wb_jid *sender, wb_msg **out, wb_stanza_err *err,
                   wb_stream_err *serr);

/* Builds the error reply to m (from its to, to its from, same id and kind) with the condition
 * and optional text. Returns NULL for messages that must not be answered (errors, results). */
wb_msg *wb_xmpp_error_reply(const wb_msg *m, wb_stanza_err e, const char *text);

/* Builds an iq result for the iq request m; payload is XML text to put inside (or NULL). */
wb_msg *wb_xmpp_iq_result(const wb_msg *m, const char *payload, size_t len);

/* Builds a model message from server-generated XMPP text, with from/to given (bytes used as is). */
wb_msg *wb_xmpp_msg_from_text(wb_msg_kind kind, wb_msg_type type, const wb_jid *from,
                              const wb_jid *to, const char *xml, size_t len);

/* Appends <stream:error><COND xmlns=.../>[<text>]</stream:error></stream:stream>. */
int wb_xmpp_write_stream_error(wb_buf *b, wb_stream_err e, const char *text);

#endif
