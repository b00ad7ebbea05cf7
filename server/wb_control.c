/* The control socket on the main thread: one-line commands from warblerctl (sessions, stats,
 * s2s), dispatched through a small table and audited like the admin API's calls; and closing
 * sessions by JID. Not a network listener: a Unix socket of mode 0600 only. */
#include "wb_control.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "wb_admin_int.h"
#include "wb_audit.h"
#include "wb_directory.h"
#include "wb_log.h"
#include "wb_xmpp_errors.h"

#define WB_CONTROL_LINE_MAX 2048
#define WB_CONTROL_TIMEOUT  10 /* seconds a connection may take to ask and to read the answer */

struct wb_control {
    wb_server *srv;
    struct evconnlistener *lis;
    char *path;
};

/* One connection: who is on the other end, for the audit record. */
typedef struct wb_control_conn {
    wb_control *ctl;
    char source[64]; /* "local:USER" from the peer's credentials */
} wb_control_conn;

static const struct {
    int stream_err;
    const char *text;
    const char *word; /* in "sessions close JID WORD" */
} wb_control_whys[] = {
    [WB_CONTROL_KICK] = {WB_SE_POLICY_VIOLATION, "Disconnected by an administrator", "kick"},
    [WB_CONTROL_DISABLED] = {WB_SE_POLICY_VIOLATION, "Account disabled", "disabled"},
    [WB_CONTROL_DELETED] = {WB_SE_POLICY_VIOLATION, "Account deleted", "deleted"},
    [WB_CONTROL_ERASED] = {WB_SE_NOT_AUTHORIZED, "Account erased", "erased"},
};

size_t wb_control_close(wb_server *srv, const wb_jid *jid, wb_control_why why)
{
    const size_t max = srv->cfg->max_resources + 1;
    wb_dir_target *t = calloc(max, sizeof(*t));
    size_t n = 0, asked = 0;
    if (t == NULL)
        return 0;
    if (wb_jid_has_resource(jid))
        n = wb_directory_find(srv->dir, jid, t) ? 1 : 0;
    else
        n = wb_directory_lookup(srv->dir, jid, t, max);
    for (size_t i = 0; i < n; i++)
        if (t[i].worker >= 0 && t[i].worker < srv->n_workers &&
            wb_worker_post_close(srv->workers[t[i].worker], t[i].sid,
                                 wb_control_whys[why].stream_err, wb_control_whys[why].text) == 0)
            asked++;
    free(t);
    return asked;
}

/* ---- sessions ---- */

/* Parses an account JID (bare, or full when full_ok) of a served domain; -1 after an error line. */
static int wb_control_jid(wb_server *srv, const char *s, bool full_ok, wb_jid *j,
                          struct evbuffer *out)
{
    if (wb_jid_parse(j, s, strlen(s)) < 0 || !wb_jid_has_node(j) ||
        (!full_ok && wb_jid_has_resource(j))) {
        evbuffer_add_printf(out, "error invalid account JID (expected user@domain%s)\n",
                            full_ok ? "[/resource]" : "");
        return -1;
    }
    if (!wb_server_serves(srv, j->domain)) {
        evbuffer_add_printf(out, "error unknown domain %s\n", j->domain);
        return -1;
    }
    return 0;
}

typedef struct wb_control_list {
    wb_server *srv;
    struct evbuffer *out;
} wb_control_list;

/* One line a session, as GET /api/v1/sessions shows it; under the directory's lock. */
static void wb_control_session_line(void *arg, const char *bare, const wb_dir_target *t)
{
    const wb_control_list *l = arg;
    wb_admin_session_info info;
    char since[32] = "-";
    const bool known = wb_admin_session_info_get(l->srv, t->sid, &info);
    if (known) {
        struct tm tm;
        const time_t at = (time_t)info.since;
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&at, &tm));
    }
    evbuffer_add_printf(l->out,
                        "%s/%s\tworker=%d\taddress=%s\ttls=%s\tsince=%s\tavailable=%s\t"
                        "priority=%d\n",
                        bare, t->resource, t->worker, known ? info.address : "-",
                        known && info.tls[0] ? info.tls : "none", since,
                        t->available ? "yes" : "no", t->priority);
}

/* "sessions list [JID]": every bound session, or the account's. */
static int wb_control_sessions_list(wb_server *srv, const char *arg, struct evbuffer *out)
{
    wb_control_list l = {srv, out};
    wb_jid j;
    char bare[WB_JID_PART_MAX * 2 + 2];
    if (arg[0] == '\0') {
        wb_directory_each(srv->dir, wb_control_session_line, &l);
        return 0;
    }
    if (wb_control_jid(srv, arg, false, &j, out) < 0)
        return -1;
    const size_t max = srv->cfg->max_resources + 1;
    wb_dir_target *t = calloc(max, sizeof(*t));
    if (t == NULL) {
        evbuffer_add_printf(out, "error out of memory\n");
        return -1;
    }
    const size_t n = wb_directory_lookup(srv->dir, &j, t, max);
    wb_jid_bare(&j, bare, sizeof(bare));
    for (size_t i = 0; i < n; i++)
        wb_control_session_line(&l, bare, &t[i]);
    free(t);
    return 0;
}

/* "sessions kick JID[/RESOURCE]": that session, or every session of the account. */
static int wb_control_sessions_kick(wb_server *srv, const char *arg, struct evbuffer *out)
{
    wb_jid j;
    if (wb_control_jid(srv, arg, true, &j, out) < 0)
        return -1;
    const size_t n = wb_control_close(srv, &j, WB_CONTROL_KICK);
    if (n == 0) {
        evbuffer_add_printf(out, "error no such session\n");
        return -1;
    }
    wb_info("control: closing %zu session(s) on request of warblerctl", n);
    evbuffer_add_printf(out, "kicked %zu\n", n);
    return 0;
}

/* "sessions close JID WHY": after warblerctl disabled, deleted or erased the account (that
 * action is audited by warblerctl); answers how many sessions it closed, 0 included. */
static int wb_control_sessions_close(wb_server *srv, const char *arg, struct evbuffer *out)
{
    char jid[WB_CONTROL_LINE_MAX];
    wb_jid j;
    const char *sp = strrchr(arg, ' ');
    size_t why = WB_CONTROL_KICK + 1; /* a plain kick is "sessions kick" (audited) */
    if (sp != NULL)
        for (; why < sizeof(wb_control_whys) / sizeof(wb_control_whys[0]); why++)
            if (strcmp(sp + 1, wb_control_whys[why].word) == 0)
                break;
    if (sp == NULL || why == sizeof(wb_control_whys) / sizeof(wb_control_whys[0])) {
        evbuffer_add_printf(out, "error expected: sessions close JID disabled|deleted|erased\n");
        return -1;
    }
    snprintf(jid, sizeof(jid), "%.*s", (int)(sp - arg), arg);
    if (wb_control_jid(srv, jid, false, &j, out) < 0)
        return -1;
    evbuffer_add_printf(out, "closed %zu\n", wb_control_close(srv, &j, (wb_control_why)why));
    return 0;
}

/* "stats": what GET /api/v1/stats shows but the account count (warblerctl reads the database). */
static int wb_control_stats(wb_server *srv, const char *arg, struct evbuffer *out)
{
    (void)arg;
    evbuffer_add_printf(out, "uptime %lld\nsessions %zu\nworkers %d\n",
                        (long long)(time(NULL) - srv->started), wb_directory_count(srv->dir),
                        srv->n_workers);
    return 0;
}

/* ---- the command table ---- */

static const struct {
    const char *words;  /* the command, without its argument */
    bool arg;           /* takes an argument (after one space) */
    bool arg_optional;  /* ... or none */
    const char *action; /* audit action, NULL: not audited (as in the admin API) */
    wb_control_fn *fn;
} wb_control_cmds[] = {
    {"s2s list", false, false, NULL, wb_s2s_control_list},
    {"s2s close", true, false, "s2s.close", wb_s2s_control_close},
    {"sessions list", true, true, "session.list", wb_control_sessions_list},
    {"sessions kick", true, false, "session.kick", wb_control_sessions_kick},
    {"sessions close", true, false, NULL, wb_control_sessions_close},
    {"stats", false, false, NULL, wb_control_stats},
};

static void wb_control_audit(const wb_control_conn *c, const char *action, const char *target,
                             bool ok)
{
    const wb_audit_event ev = {
        .actor = "ctl",
        .action = action,
        .target = target[0] ? target : NULL,
        .source = c->source,
        .ok = ok,
        .reason = ok ? NULL : "refused",
    };
    if (wb_audit_record(c->ctl->srv->audit, &ev) < 0)
        wb_warn("control: audit record for %s dropped", action);
}

static void wb_control_dispatch(const wb_control_conn *c, const char *line, struct evbuffer *out)
{
    for (size_t i = 0; i < sizeof(wb_control_cmds) / sizeof(wb_control_cmds[0]); i++) {
        const size_t len = strlen(wb_control_cmds[i].words);
        if (strncmp(line, wb_control_cmds[i].words, len) != 0)
            continue;
        const char *arg = line + len;
        const bool has_arg = arg[0] == ' ' && arg[1] != '\0';
        if (arg[0] != '\0' && !has_arg)
            continue;
        if (has_arg ? !wb_control_cmds[i].arg
                    : wb_control_cmds[i].arg && !wb_control_cmds[i].arg_optional)
            break;
        arg += has_arg ? 1 : 0;
        const int rc = wb_control_cmds[i].fn(c->ctl->srv, arg, out);
        if (wb_control_cmds[i].action != NULL)
            wb_control_audit(c, wb_control_cmds[i].action, arg, rc == 0);
        evbuffer_add_printf(out, "end\n");
        return;
    }
    evbuffer_add_printf(out, "error unknown command\nend\n");
}

/* ---- the socket ---- */

static void wb_control_conn_free(struct bufferevent *bev, void *arg)
{
    bufferevent_free(bev);
    free(arg);
}

static void wb_control_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    wb_control_conn_free(bev, arg);
}

static void wb_control_read(struct bufferevent *bev, void *arg)
{
    wb_control_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev), *out = bufferevent_get_output(bev);
    size_t len;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
    if (line == NULL) {
        if (evbuffer_get_length(in) > WB_CONTROL_LINE_MAX)
            wb_control_conn_free(bev, c);
        return;
    }
    if (len > WB_CONTROL_LINE_MAX || strlen(line) != len)
        evbuffer_add_printf(out, "error line too long or not text\nend\n");
    else
        wb_control_dispatch(c, line, out);
    free(line);
    bufferevent_disable(bev, EV_READ);
    bufferevent_setcb(bev, NULL, wb_control_conn_free, wb_control_event, c);
}

/* The connecting process's user, from the kernel (SO_PEERCRED). */
static void wb_control_peer(int fd, char *source, size_t size)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        snprintf(source, size, "local:?");
        return;
    }
    if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &found) == 0 && found != NULL)
        snprintf(source, size, "local:%s", found->pw_name);
    else
        snprintf(source, size, "local:uid%u", (unsigned)cred.uid);
}

static void wb_control_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                              int salen, void *arg)
{
    (void)sa;
    (void)salen;
    wb_control_conn *c = calloc(1, sizeof(*c));
    struct bufferevent *bev =
        c != NULL ? bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE)
                  : NULL;
    if (bev == NULL) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    const struct timeval tv = {WB_CONTROL_TIMEOUT, 0};
    c->ctl = arg;
    wb_control_peer(fd, c->source, sizeof(c->source));
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_setcb(bev, wb_control_read, NULL, wb_control_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

wb_control *wb_control_start(wb_server *srv, struct event_base *base, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        wb_error("control socket path too long: %s", path);
        return NULL;
    }
    wb_control *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->path = strdup(path)) == NULL)
        goto fail;
    c->srv = srv;
    strcpy(sun.sun_path, path);
    unlink(sun.sun_path);
    const mode_t old = umask(0177); /* the socket file: 0600 */
    c->lis = evconnlistener_new_bind(base, wb_control_accept, c, LEV_OPT_CLOSE_ON_FREE, 16,
                                     (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (c->lis == NULL) {
        wb_error("cannot listen on the control socket %s: %m", path);
        goto fail;
    }
    wb_info("control socket %s", path);
    return c;
fail:
    if (c != NULL)
        free(c->path);
    free(c);
    return NULL;
}

void wb_control_stop(wb_control *c)
{
    if (c == NULL)
        return;
    evconnlistener_free(c->lis);
    unlink(c->path);
    free(c->path);
    free(c);
}
