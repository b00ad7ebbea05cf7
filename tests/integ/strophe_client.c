/* libstrophe test client for the integration suite: logs in (STARTTLS or direct TLS), exchanges
 * numbered chat messages, lists the roster, collects offline messages, reads the message archive
 * (XEP-0313), or joins a MUC room, speaks and reads the room's archive. Certificates are trusted.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strophe.h>

#define WB_SC_TIMEOUT_S 60
#define WB_SC_BODY_MAX  64

typedef enum wb_sc_mode {
    WB_SC_LOGIN,
    WB_SC_CHAT,
    WB_SC_ROSTER,
    WB_SC_OFFLINE,
    WB_SC_MAM,
    WB_SC_MUC
} wb_sc_mode;

typedef struct wb_sc_state {
    wb_sc_mode mode;
    const char *peer; /* chat: the peer; mam: the 'with' filter; muc: ROOM/NICK */
    char room[512];   /* muc: the room's bare JID (the archive queried) */
    bool joined;      /* muc: the room's self-presence came */
    long n;           /* chat: messages to send and to receive; offline: messages to wait for */
    long seconds;     /* offline: how long to wait at most */
    long received;
    bool connected;
    bool done;
    bool failed;
    char reason[256];
} wb_sc_state;

static void wb_sc_fail(xmpp_conn_t *conn, wb_sc_state *st, const char *reason)
{
    if (!st->failed && !st->done)
        snprintf(st->reason, sizeof(st->reason), "%s", reason);
    st->failed = true;
    xmpp_disconnect(conn);
}

static int wb_sc_usage(void)
{
    fprintf(stderr, "usage: strophe_client login HOST PORT JID PASS starttls|direct\n"
                    "       strophe_client chat HOST PORT JID PASS starttls|direct PEER N\n"
                    "       strophe_client roster HOST PORT JID PASS starttls|direct\n"
                    "       strophe_client offline HOST PORT JID PASS starttls|direct COUNT SECS\n"
                    "       strophe_client mam HOST PORT JID PASS starttls|direct WITH\n"
                    "       strophe_client muc HOST PORT JID PASS starttls|direct ROOM/NICK N\n");
    return 2;
}

/* True when JID equals PEER, or when PEER is a bare JID and JID is one of its resources. */
static bool wb_sc_from_peer(const char *jid, const char *peer)
{
    const size_t len = strlen(peer);

    if (jid == NULL)
        return false;
    if (strcmp(jid, peer) == 0)
        return true;
    return strchr(peer, '/') == NULL && strncmp(jid, peer, len) == 0 && jid[len] == '/';
}

static int wb_sc_send_mam(xmpp_conn_t *conn, wb_sc_state *st, const char *after);
static int wb_sc_on_mam_result(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata);

/* muc: every echo came back; now the room's archive, filtered on our nick. */
static void wb_sc_muc_archive(xmpp_conn_t *conn, wb_sc_state *st)
{
    st->received = 0;
    st->mode = WB_SC_MAM;
    xmpp_handler_add(conn, wb_sc_on_mam_result, NULL, "message", NULL, st);
    if (wb_sc_send_mam(conn, st, NULL) != 0)
        wb_sc_fail(conn, st, "out of memory while querying the room archive");
}

static int wb_sc_on_message(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    wb_sc_state *st = userdata;
    const char *type = xmpp_stanza_get_type(stanza);
    char expected[WB_SC_BODY_MAX];
    char reason[256];
    char *body;

    if (type != NULL && strcmp(type, "error") == 0) {
        wb_sc_fail(conn, st, "received a message of type error");
        return 1;
    }
    body = xmpp_message_get_body(stanza);
    if (body == NULL)
        return 1; /* chat states and the like */
    snprintf(expected, sizeof(expected), "msg %ld", st->received);
    if (!wb_sc_from_peer(xmpp_stanza_get_from(stanza), st->peer) || strcmp(body, expected) != 0) {
        snprintf(reason, sizeof(reason), "message %ld out of order or from a stranger (got %.40s)",
                 st->received, body);
        wb_sc_fail(conn, st, reason);
    } else if (++st->received == st->n && st->mode == WB_SC_MUC) {
        wb_sc_muc_archive(conn, st);
    } else if (st->received == st->n && st->mode == WB_SC_CHAT) {
        st->done = true;
        xmpp_disconnect(conn);
    }
    xmpp_free(xmpp_conn_get_context(conn), body);
    return 1;
}

static int wb_sc_send_all(xmpp_conn_t *conn, wb_sc_state *st)
{
    xmpp_ctx_t *ctx = xmpp_conn_get_context(conn);
    char body[WB_SC_BODY_MAX];
    char id[WB_SC_BODY_MAX];

    for (long i = 0; i < st->n; i++) {
        xmpp_stanza_t *msg;

        snprintf(id, sizeof(id), "sc%ld", i);
        msg = st->mode == WB_SC_MUC ? xmpp_message_new(ctx, "groupchat", st->room, id)
                                    : xmpp_message_new(ctx, "chat", st->peer, id);
        if (msg == NULL)
            return -1;
        snprintf(body, sizeof(body), "msg %ld", i);
        if (xmpp_message_set_body(msg, body) != XMPP_EOK) {
            xmpp_stanza_release(msg);
            return -1;
        }
        xmpp_send(conn, msg);
        xmpp_stanza_release(msg);
    }
    return 0;
}

/* Prints "item JID SUBSCRIPTION" per roster item of the answer to the roster get. */
static int wb_sc_on_roster(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    wb_sc_state *st = userdata;
    const char *type = xmpp_stanza_get_type(stanza);
    xmpp_stanza_t *query =
        xmpp_stanza_get_child_by_name_and_ns(stanza, "query", "jabber:iq:roster");

    if (type == NULL || strcmp(type, "result") != 0 || query == NULL) {
        wb_sc_fail(conn, st, "roster get not answered with a roster result");
        return 0;
    }
    for (xmpp_stanza_t *it = xmpp_stanza_get_children(query); it; it = xmpp_stanza_get_next(it)) {
        const char *name = xmpp_stanza_get_name(it);
        const char *jid = xmpp_stanza_get_attribute(it, "jid");
        const char *sub = xmpp_stanza_get_attribute(it, "subscription");

        if (name == NULL || strcmp(name, "item") != 0 || jid == NULL)
            continue;
        printf("item %s %s\n", jid, sub ? sub : "none");
        st->received++;
    }
    fflush(stdout);
    st->done = true;
    xmpp_disconnect(conn);
    return 0;
}

static int wb_sc_send_roster_get(xmpp_conn_t *conn, wb_sc_state *st)
{
    xmpp_ctx_t *ctx = xmpp_conn_get_context(conn);
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, "get", "sc-roster");
    xmpp_stanza_t *query = xmpp_stanza_new(ctx);

    if (iq == NULL || query == NULL)
        goto fail;
    if (xmpp_stanza_set_name(query, "query") != XMPP_EOK ||
        xmpp_stanza_set_ns(query, "jabber:iq:roster") != XMPP_EOK ||
        xmpp_stanza_add_child(iq, query) != XMPP_EOK)
        goto fail;
    xmpp_id_handler_add(conn, wb_sc_on_roster, "sc-roster", st);
    xmpp_send(conn, iq);
    xmpp_stanza_release(query);
    xmpp_stanza_release(iq);
    return 0;
fail:
    if (query != NULL)
        xmpp_stanza_release(query);
    if (iq != NULL)
        xmpp_stanza_release(iq);
    return -1;
}

/* Prints "msg ID BODY HAS_DELAY" per message with a body; done after COUNT of them. */
static int wb_sc_on_offline(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    wb_sc_state *st = userdata;
    const char *id = xmpp_stanza_get_id(stanza);
    const bool delayed =
        xmpp_stanza_get_child_by_name_and_ns(stanza, "delay", "urn:xmpp:delay") != NULL;
    char *body = xmpp_message_get_body(stanza);

    if (body == NULL)
        return 1;
    printf("msg %s %s %d\n", id ? id : "-", body, delayed ? 1 : 0);
    fflush(stdout);
    xmpp_free(xmpp_conn_get_context(conn), body);
    if (++st->received == st->n && !st->done) {
        st->done = true;
        xmpp_disconnect(conn);
    }
    return 1;
}

static int wb_sc_on_offline_timer(xmpp_conn_t *conn, void *userdata)
{
    wb_sc_state *st = userdata;

    if (!st->done && !st->failed) {
        st->done = true;
        xmpp_disconnect(conn);
    }
    return 0;
}

#define WB_SC_NS_MAM "urn:xmpp:mam:2"
#define WB_SC_NS_RSM "http://jabber.org/protocol/rsm"

/* Prints "mam BODY" per archived message with a body that a query result carries. */
static int wb_sc_on_mam_result(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    wb_sc_state *st = userdata;
    xmpp_stanza_t *res = xmpp_stanza_get_child_by_name_and_ns(stanza, "result", WB_SC_NS_MAM);
    xmpp_stanza_t *fwd =
        res ? xmpp_stanza_get_child_by_name_and_ns(res, "forwarded", "urn:xmpp:forward:0") : NULL;
    xmpp_stanza_t *msg = fwd ? xmpp_stanza_get_child_by_name(fwd, "message") : NULL;
    char *body = msg ? xmpp_message_get_body(msg) : NULL;

    if (body == NULL)
        return 1;
    printf("mam %s\n", body);
    fflush(stdout);
    st->received++;
    xmpp_free(xmpp_conn_get_context(conn), body);
    return 1;
}

static int wb_sc_on_mam_fin(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata);

/* One archive query with the 'with' filter, after the id `after` (NULL: from the start). */
static int wb_sc_send_mam(xmpp_conn_t *conn, wb_sc_state *st, const char *after)
{
    xmpp_ctx_t *ctx = xmpp_conn_get_context(conn);
    char xml[1024];
    char id[32];
    xmpp_stanza_t *iq = NULL;

    snprintf(id, sizeof(id), "mam%ld", st->received);
    snprintf(xml, sizeof(xml),
             "<iq type='set' id='%s'%s%s%s><query xmlns='" WB_SC_NS_MAM "' queryid='sc'>"
             "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
             "<value>" WB_SC_NS_MAM "</value></field><field var='with'><value>%s</value></field>"
             "</x><set xmlns='" WB_SC_NS_RSM "'><max>7</max>%s%s%s</set></query></iq>",
             id, st->room[0] ? " to='" : "", st->room, st->room[0] ? "'" : "", st->peer,
             after ? "<after>" : "", after ? after : "", after ? "</after>" : "");
    iq = xmpp_stanza_new_from_string(ctx, xml);
    if (iq == NULL)
        return -1;
    xmpp_id_handler_add(conn, wb_sc_on_mam_fin, id, st);
    xmpp_send(conn, iq);
    xmpp_stanza_release(iq);
    return 0;
}

/* The end of one page: the next page after its last id, or done once complete. */
static int wb_sc_on_mam_fin(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    wb_sc_state *st = userdata;
    const char *type = xmpp_stanza_get_type(stanza);
    xmpp_stanza_t *fin = xmpp_stanza_get_child_by_name_and_ns(stanza, "fin", WB_SC_NS_MAM);
    xmpp_stanza_t *set =
        fin ? xmpp_stanza_get_child_by_name_and_ns(fin, "set", WB_SC_NS_RSM) : NULL;
    xmpp_stanza_t *last = set ? xmpp_stanza_get_child_by_name(set, "last") : NULL;
    const char *complete = fin ? xmpp_stanza_get_attribute(fin, "complete") : NULL;
    char *after = last ? xmpp_stanza_get_text(last) : NULL;

    if (type == NULL || strcmp(type, "result") != 0 || fin == NULL) {
        wb_sc_fail(conn, st, "archive query not answered with <fin/>");
    } else if (complete != NULL && strcmp(complete, "true") == 0) {
        st->done = true;
        xmpp_disconnect(conn);
    } else if (after == NULL || wb_sc_send_mam(conn, st, after) != 0) {
        wb_sc_fail(conn, st, "incomplete page without a last id");
    }
    if (after != NULL)
        xmpp_free(xmpp_conn_get_context(conn), after);
    return 0;
}

static int wb_sc_send_presence(xmpp_conn_t *conn)
{
    xmpp_stanza_t *pres = xmpp_presence_new(xmpp_conn_get_context(conn));

    if (pres == NULL)
        return -1;
    xmpp_send(conn, pres);
    xmpp_stanza_release(pres);
    return 0;
}

/* muc: the room's self-presence (or its refusal); then the messages go. */
static int wb_sc_on_muc_presence(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    wb_sc_state *st = userdata;
    const char *from = xmpp_stanza_get_from(stanza), *type = xmpp_stanza_get_type(stanza);

    if (st->joined || from == NULL || strcmp(from, st->peer) != 0)
        return 1;
    if (type != NULL && strcmp(type, "error") == 0) {
        wb_sc_fail(conn, st, "the room refused the join");
        return 0;
    }
    st->joined = true;
    if (wb_sc_send_all(conn, st) != 0)
        wb_sc_fail(conn, st, "out of memory while sending");
    return 1;
}

static int wb_sc_send_join(xmpp_conn_t *conn, wb_sc_state *st)
{
    char xml[1024];
    snprintf(xml, sizeof(xml),
             "<presence to='%s'><x xmlns='http://jabber.org/protocol/muc'>"
             "<history maxstanzas='0'/></x></presence>",
             st->peer);
    xmpp_stanza_t *pres = xmpp_stanza_new_from_string(xmpp_conn_get_context(conn), xml);
    if (pres == NULL)
        return -1;
    xmpp_send(conn, pres);
    xmpp_stanza_release(pres);
    return 0;
}

/* Starts the work of the mode once the session is established. */
static void wb_sc_start(xmpp_conn_t *conn, wb_sc_state *st)
{
    switch (st->mode) {
    case WB_SC_LOGIN:
        st->done = true;
        xmpp_disconnect(conn);
        return;
    case WB_SC_CHAT:
        xmpp_handler_add(conn, wb_sc_on_message, NULL, "message", NULL, st);
        if (wb_sc_send_all(conn, st) != 0)
            wb_sc_fail(conn, st, "out of memory while sending");
        return;
    case WB_SC_ROSTER:
        if (wb_sc_send_roster_get(conn, st) != 0)
            wb_sc_fail(conn, st, "out of memory while asking for the roster");
        return;
    case WB_SC_OFFLINE:
        xmpp_handler_add(conn, wb_sc_on_offline, NULL, "message", NULL, st);
        xmpp_timed_handler_add(conn, wb_sc_on_offline_timer, (unsigned long)st->seconds * 1000, st);
        if (wb_sc_send_presence(conn) != 0)
            wb_sc_fail(conn, st, "out of memory while sending presence");
        return;
    case WB_SC_MAM:
        xmpp_handler_add(conn, wb_sc_on_mam_result, NULL, "message", NULL, st);
        if (wb_sc_send_mam(conn, st, NULL) != 0)
            wb_sc_fail(conn, st, "out of memory while querying the archive");
        return;
    case WB_SC_MUC:
        xmpp_handler_add(conn, wb_sc_on_message, NULL, "message", "groupchat", st);
        xmpp_handler_add(conn, wb_sc_on_muc_presence, NULL, "presence", NULL, st);
        if (wb_sc_send_join(conn, st) != 0)
            wb_sc_fail(conn, st, "out of memory while joining");
        return;
    }
}

static void wb_sc_on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                          xmpp_stream_error_t *stream_error, void *userdata)
{
    wb_sc_state *st = userdata;
    char reason[128];

    (void)stream_error;
    if (status == XMPP_CONN_CONNECT) {
        st->connected = true;
        printf("bound %s\n", xmpp_conn_get_bound_jid(conn));
        fflush(stdout);
        wb_sc_start(conn, st);
        return;
    }
    if (!st->done && !st->failed) {
        snprintf(reason, sizeof(reason), "%s (status %d, error %d)",
                 st->connected ? "disconnected early" : "login failed", (int)status, error);
        st->failed = true;
        snprintf(st->reason, sizeof(st->reason), "%s", reason);
    }
    xmpp_stop(xmpp_conn_get_context(conn));
}

/* Runs the event loop until the handlers stop it or the deadline passes. */
static void wb_sc_run(xmpp_ctx_t *ctx, xmpp_conn_t *conn, wb_sc_state *st)
{
    const time_t deadline = time(NULL) + WB_SC_TIMEOUT_S;
    bool stopping = false;

    while (!(st->done || st->failed) || !stopping) {
        if (st->done || st->failed)
            stopping = true; /* one more round so that </stream:stream> gets flushed */
        xmpp_run_once(ctx, 100);
        if (xmpp_conn_is_disconnected(conn))
            break;
        if (time(NULL) > deadline) {
            snprintf(st->reason, sizeof(st->reason), "timed out after %d s (%ld received)",
                     WB_SC_TIMEOUT_S, st->received);
            st->failed = true;
            break;
        }
    }
}

static int wb_sc_parse_count(const char *s, long max, long *out)
{
    char *end = NULL;

    *out = strtol(s, &end, 10);
    return end == s || *end != '\0' || *out <= 0 || *out > max ? -1 : 0;
}

static int wb_sc_parse_args(int argc, char **argv, wb_sc_state *st, long *flags)
{
    if (argc < 7)
        return -1;
    if (strcmp(argv[6], "starttls") == 0)
        *flags = XMPP_CONN_FLAG_MANDATORY_TLS;
    else if (strcmp(argv[6], "direct") == 0)
        *flags = XMPP_CONN_FLAG_LEGACY_SSL;
    else
        return -1;
    *flags |= XMPP_CONN_FLAG_TRUST_TLS | XMPP_CONN_FLAG_DISABLE_SM;
    if (strcmp(argv[1], "login") == 0 && argc == 7) {
        st->mode = WB_SC_LOGIN;
        return 0;
    }
    if (strcmp(argv[1], "roster") == 0 && argc == 7) {
        st->mode = WB_SC_ROSTER;
        return 0;
    }
    if (strcmp(argv[1], "chat") == 0 && argc == 9) {
        st->mode = WB_SC_CHAT;
        st->peer = argv[7];
        return wb_sc_parse_count(argv[8], 1000000, &st->n);
    }
    if (strcmp(argv[1], "mam") == 0 && argc == 8) {
        st->mode = WB_SC_MAM;
        st->peer = argv[7];
        return 0;
    }
    if (strcmp(argv[1], "muc") == 0 && argc == 9 && strchr(argv[7], '/') != NULL &&
        strlen(argv[7]) < sizeof(st->room)) {
        st->mode = WB_SC_MUC;
        st->peer = argv[7];
        snprintf(st->room, sizeof(st->room), "%.*s", (int)(strchr(argv[7], '/') - argv[7]),
                 argv[7]);
        return wb_sc_parse_count(argv[8], 1000, &st->n);
    }
    if (strcmp(argv[1], "offline") == 0 && argc == 9) {
        st->mode = WB_SC_OFFLINE;
        if (wb_sc_parse_count(argv[7], 1000000, &st->n) != 0)
            return -1;
        return wb_sc_parse_count(argv[8], WB_SC_TIMEOUT_S - 5, &st->seconds);
    }
    return -1;
}

static int wb_sc_connect(xmpp_conn_t *conn, const char *host, const char *port_s, long flags,
                         wb_sc_state *st)
{
    char *end = NULL;
    const long port = strtol(port_s, &end, 10);

    if (end == port_s || *end != '\0' || port <= 0 || port > 65535)
        return -1;
    if (xmpp_conn_set_flags(conn, flags) != XMPP_EOK)
        return -1;
    return xmpp_connect_client(conn, host, (unsigned short)port, wb_sc_on_conn, st) == XMPP_EOK
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    wb_sc_state st = {0};
    long flags = 0;
    xmpp_log_t *log = NULL;
    xmpp_ctx_t *ctx = NULL;
    xmpp_conn_t *conn = NULL;
    int rc = 1;

    if (wb_sc_parse_args(argc, argv, &st, &flags) != 0)
        return wb_sc_usage();
    xmpp_initialize();
    if (getenv("STROPHE_DEBUG") != NULL)
        log = xmpp_get_default_logger(XMPP_LEVEL_DEBUG);
    ctx = xmpp_ctx_new(NULL, log);
    if (ctx == NULL)
        goto fail;
    conn = xmpp_conn_new(ctx);
    if (conn == NULL)
        goto fail;
    xmpp_conn_set_jid(conn, argv[4]);
    xmpp_conn_set_pass(conn, argv[5]);
    if (wb_sc_connect(conn, argv[2], argv[3], flags, &st) != 0) {
        snprintf(st.reason, sizeof(st.reason), "cannot start connecting");
        st.failed = true;
    } else {
        wb_sc_run(ctx, conn, &st);
    }
    if (st.done && !st.failed) {
        printf("ok %ld\n", st.received);
        rc = 0;
    } else {
        fprintf(stderr, "strophe_client: %s\n", st.reason[0] ? st.reason : "failed");
    }
fail:
    if (conn != NULL)
        xmpp_conn_release(conn);
    if (ctx != NULL)
        xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return rc;
}
