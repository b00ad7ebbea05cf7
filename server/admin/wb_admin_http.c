/* The admin API's HTTP side: the libmicrohttpd daemon, request bodies and their limit, the
 * routing table, and authentication and roles enforced in one place from it. Not the handlers. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_admin_int.h"
#include "wb_admin_rooms.h"
#include "wb_audit.h"
#include "wb_log.h"

#define WB_ADMIN_PEM_MAX   (1024 * 1024)
#define WB_ADMIN_CONN_TIME 30 /* seconds a connection may stay idle */

typedef void (*wb_admin_handler)(wb_admin_req *r);

/* perm NULL: no token needed; "": any authenticated caller. audited: the call reads or changes
 * personal data (recorded with its outcome); every denial is recorded whatever the route. */
typedef struct wb_admin_route {
    const char *method;
    const char *pattern; /* "{}" matches one path segment */
    const char *perm;
    const char *action;
    bool audited;
    wb_admin_handler fn;
} wb_admin_route;

void wb_admin_h_federation_list(wb_admin_req *r); /* wb_admin_federation.c */
static const wb_admin_route wb_admin_routes[] = {
    {"POST", "/api/v1/auth/login", NULL, "login", false, wb_admin_h_login},
    {"POST", "/api/v1/auth/logout", "", "logout", false, wb_admin_h_logout},
    {"GET", "/api/v1/accounts", "accounts.read", "account.list", true, wb_admin_h_accounts_list},
    {"POST", "/api/v1/accounts", "accounts.write", "account.create", true,
     wb_admin_h_accounts_create},
    {"GET", "/api/v1/accounts/{}", "accounts.read", "account.read", true, wb_admin_h_account_get},
    {"DELETE", "/api/v1/accounts/{}", "accounts.write", "account.delete", true,
     wb_admin_h_account_delete},
    {"POST", "/api/v1/accounts/{}/disable", "accounts.write", "account.disable", true,
     wb_admin_h_account_disable},
    {"POST", "/api/v1/accounts/{}/enable", "accounts.write", "account.enable", true,
     wb_admin_h_account_enable},
    {"POST", "/api/v1/accounts/{}/password", "accounts.write", "account.password", true,
     wb_admin_h_account_password},
    {"GET", "/api/v1/sessions", "sessions.read", "session.list", true, wb_admin_h_sessions_list},
    {"DELETE", "/api/v1/sessions/{}/{}", "sessions.write", "session.kick", true,
     wb_admin_h_session_kick},
    {"GET", "/api/v1/federation", "federation.read", "federation.list", false,
     wb_admin_h_federation_list},
    {"GET", "/api/v1/rooms", "rooms.read", "room.list", true, wb_admin_h_rooms_list},
    {"GET", "/api/v1/rooms/{}", "rooms.read", "room.read", true, wb_admin_h_room_get},
    {"DELETE", "/api/v1/rooms/{}", "rooms.write", "room.destroy", true, wb_admin_h_room_delete},
    {"GET", "/api/v1/admins", "admins.read", "admin.list", true, wb_admin_h_admins_list},
    {"POST", "/api/v1/admins", "admins.write", "admin.create", true, wb_admin_h_admins_create},
    {"DELETE", "/api/v1/admins/{}", "admins.write", "admin.delete", true, wb_admin_h_admin_delete},
    {"POST", "/api/v1/admins/{}/disable", "admins.write", "admin.disable", true,
     wb_admin_h_admin_disable},
    {"POST", "/api/v1/admins/{}/enable", "admins.write", "admin.enable", true,
     wb_admin_h_admin_enable},
    {"GET", "/api/v1/apikeys", "admins.read", "apikey.list", true, wb_admin_h_apikeys_list},
    {"DELETE", "/api/v1/apikeys/{}", "admins.write", "apikey.revoke", true,
     wb_admin_h_apikey_revoke},
    {"GET", "/api/v1/invites", "invites.read", "invite.list", true, wb_admin_h_invites_list},
    {"POST", "/api/v1/invites", "invites.write", "invite.create", true, wb_admin_h_invites_create},
    {"DELETE", "/api/v1/invites/{}", "invites.write", "invite.revoke", true,
     wb_admin_h_invite_revoke},
    {"GET", "/api/v1/retention", "retention.read", "retention.read", false,
     wb_admin_h_retention_default_get},
    {"PUT", "/api/v1/retention", "retention.write", "retention.set", true,
     wb_admin_h_retention_default_put},
    {"GET", "/api/v1/accounts/{}/retention", "retention.read", "retention.read", true,
     wb_admin_h_retention_account_get},
    {"PUT", "/api/v1/accounts/{}/retention", "retention.write", "retention.set", true,
     wb_admin_h_retention_account_put},
    {"DELETE", "/api/v1/accounts/{}/retention", "retention.write", "retention.unset", true,
     wb_admin_h_retention_account_delete},
    {"GET", "/api/v1/accounts/{}/retention/{}", "retention.read", "retention.read", true,
     wb_admin_h_retention_peer_get},
    {"PUT", "/api/v1/accounts/{}/retention/{}", "retention.write", "retention.set", true,
     wb_admin_h_retention_peer_put},
    {"DELETE", "/api/v1/accounts/{}/retention/{}", "retention.write", "retention.unset", true,
     wb_admin_h_retention_peer_delete},
    {"GET", "/api/v1/stats", "stats.read", "stats.read", false, wb_admin_h_stats},
    {"GET", "/api/v1/status", "stats.read", "status.read", false, wb_admin_h_status},
    {"GET", "/api/v1/audit", "audit.read", "audit.list", true, wb_admin_h_audit_list},
    {"POST", "/api/v1/audit/verify", "audit.read", "audit.verify", true, wb_admin_h_audit_verify},
    {"GET", "/api/v1/gdpr/requests", "gdpr.read", "gdpr.list", true, wb_admin_h_gdpr_requests},
    {"POST", "/api/v1/gdpr/export/{}", "gdpr.read", "gdpr.export", true, wb_admin_h_gdpr_export},
    {"POST", "/api/v1/gdpr/erase/{}", "gdpr.write", "gdpr.erase", true, wb_admin_h_gdpr_erase},
    {"PUT", "/api/v1/gdpr/rectify/{}/vcard", "gdpr.write", "gdpr.rectify", true,
     wb_admin_h_gdpr_rectify_vcard},
    {"PUT", "/api/v1/gdpr/rectify/{}/roster/{}", "gdpr.write", "gdpr.rectify", true,
     wb_admin_h_gdpr_rectify_roster},
    /* No token, no pooled connection taken for them (action NULL): metrics, the console. */
    {"GET", "/metrics", NULL, NULL, false, wb_admin_h_metrics},
    {"GET", "/", NULL, NULL, false, wb_admin_h_console},
    {"GET", "/console/{}", NULL, NULL, false, wb_admin_h_console},
};
#define WB_ADMIN_N_ROUTES (sizeof(wb_admin_routes) / sizeof(wb_admin_routes[0]))

/* What each role may do; superadmin may do everything. */
static const char *const wb_admin_operator_perms[] = {"accounts.read",
                                                      "accounts.write",
                                                      "sessions.read",
                                                      "sessions.write",
                                                      "stats.read",
                                                      "rooms.read",
                                                      "rooms.write",
                                                      "invites.read",
                                                      "invites.write",
                                                      "retention.read",
                                                      "retention.write",
                                                      "federation.read",
                                                      NULL};
static const char *const wb_admin_auditor_perms[] = {"audit.read", NULL};
static const char *const wb_admin_dpo_perms[] = {"gdpr.read", "gdpr.write", NULL};

static bool wb_admin_allowed(const char *role, const char *perm)
{
    const char *const *perms = NULL;
    if (perm[0] == '\0' || strcmp(role, "superadmin") == 0)
        return true;
    if (strcmp(role, "operator") == 0)
        perms = wb_admin_operator_perms;
    else if (strcmp(role, "auditor") == 0)
        perms = wb_admin_auditor_perms;
    else if (strcmp(role, "dpo") == 0)
        perms = wb_admin_dpo_perms;
    for (size_t i = 0; perms != NULL && perms[i] != NULL; i++)
        if (strcmp(perms[i], perm) == 0)
            return true;
    return false;
}

/* ---- replies ---- */

void wb_admin_reply(wb_admin_req *r, int status, json_t *body)
{
    json_decref(r->out);
    r->status = status;
    r->out = body;
}

void wb_admin_error(wb_admin_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wb_admin_reply(r, status, json_pack("{s:s, s:s}", "code", code, "message", msg));
}

void wb_admin_reply_raw(wb_admin_req *r, int status, const char *type, char *data, size_t len)
{
    free(r->raw);
    r->status = status;
    r->raw = data;
    r->raw_len = len;
    r->raw_type = type;
}

const char *wb_admin_str(const wb_admin_req *r, const char *key)
{
    return r->in != NULL ? json_string_value(json_object_get(r->in, key)) : NULL;
}

void wb_admin_audit(const wb_admin_req *r, const char *actor, const char *role, const char *action,
                    const char *target, bool ok, const char *reason)
{
    const wb_audit_event ev = {
        .actor = actor,
        .role = role,
        .action = action,
        .target = target && target[0] ? target : NULL,
        .source = r->source,
        .ok = ok,
        .reason = reason,
    };
    if (wb_audit_record(r->adm->srv->audit, &ev) < 0)
        wb_warn("admin: audit record for %s dropped", action);
}

/* A raw reply (metrics, console): its type, and a policy that keeps the console's page to its
 * own files. */
static enum MHD_Result wb_admin_send_raw(wb_admin_req *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->raw_len, r->raw, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        return MHD_NO;
    r->raw = NULL;
    MHD_add_response_header(resp, "Content-Type", r->raw_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; frame-ancestors 'none'");
    const enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result wb_admin_send(wb_admin_req *r)
{
    if (r->raw != NULL)
        return wb_admin_send_raw(r);
    char *text = json_dumps(r->out ? r->out : json_object(), JSON_COMPACT);
    if (text == NULL)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->status == 405)
        MHD_add_response_header(resp, "Allow", r->allow);
    const enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- routing ---- */

/* Whether path (split into segments) matches pattern; fills args with the {} segments. */
static bool wb_admin_match(const char *pattern, char *const *segs, size_t n, const char **args)
{
    char pat[256];
    size_t i = 0, a = 0;
    snprintf(pat, sizeof(pat), "%s", pattern);
    char *save = NULL;
    for (char *p = strtok_r(pat, "/", &save); p != NULL; p = strtok_r(NULL, "/", &save), i++) {
        if (i >= n)
            return false;
        if (strcmp(p, "{}") == 0 && a < WB_ADMIN_MAX_ARGS)
            args[a++] = segs[i];
        else if (strcmp(p, segs[i]) != 0)
            return false;
    }
    return i == n;
}

/* The route for method and r->path: NULL with *path_known when only the method is wrong. */
static const wb_admin_route *wb_admin_find(wb_admin_req *r, const char *method, bool *path_known)
{
    char *segs[16];
    size_t n = 0;
    char *save = NULL;
    *path_known = false;
    for (char *s = strtok_r(r->path, "/", &save); s != NULL; s = strtok_r(NULL, "/", &save)) {
        if (n == 16)
            return NULL;
        segs[n++] = s;
    }
    for (size_t i = 0; i < WB_ADMIN_N_ROUTES; i++) {
        const char *args[WB_ADMIN_MAX_ARGS] = {NULL};
        if (!wb_admin_match(wb_admin_routes[i].pattern, segs, n, args))
            continue;
        *path_known = true;
        const size_t used = strlen(r->allow);
        snprintf(r->allow + used, sizeof(r->allow) - used, "%s%s", used ? ", " : "",
                 wb_admin_routes[i].method);
        if (strcmp(wb_admin_routes[i].method, method) == 0) {
            memcpy(r->args, args, sizeof(args));
            return &wb_admin_routes[i];
        }
    }
    return NULL;
}

/* Checks the bearer token or API key; fills r->who and r->actor. False after a 401 reply. */
static bool wb_admin_authenticate(wb_admin_req *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    char err[256];
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) >= sizeof(r->bearer)) {
        wb_admin_error(r, 401, "unauthorized", "a bearer token is required");
        return false;
    }
    snprintf(r->bearer, sizeof(r->bearer), "%s", h + 7);
    const wb_sa_rc rc = wb_store_admin_authenticate(r->pg, r->bearer, &r->who, err, sizeof(err));
    if (rc == WB_SA_ERROR) {
        wb_error("admin: %s", err);
        wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
        return false;
    }
    if (rc != WB_SA_OK) {
        wb_admin_error(r, 401, "unauthorized", "invalid, expired or revoked token");
        return false;
    }
    snprintf(r->actor, sizeof(r->actor), "%s:%s", r->who.apikey ? "apikey" : "admin", r->who.name);
    return true;
}

/* Authenticates, checks the role, runs the handler and audits, for a matched route. */
static void wb_admin_run(wb_admin_req *r, const wb_admin_route *route)
{
    char reason[128];
    if (route->perm != NULL && !wb_admin_authenticate(r))
        return;
    if (route->perm != NULL && !wb_admin_allowed(r->who.role, route->perm)) {
        snprintf(reason, sizeof(reason), "missing permission %s", route->perm);
        wb_admin_error(r, 403, "forbidden", "%s", reason);
        wb_admin_audit(r, r->actor, r->who.role, route->action, r->args[0], false, reason);
        return;
    }
    route->fn(r);
    if (route->audited) {
        snprintf(reason, sizeof(reason), "HTTP %d", r->status);
        wb_admin_audit(r, r->actor, r->who.role, route->action, r->target, r->status < 400,
                       r->status < 400 ? NULL : reason);
    }
}

static void wb_admin_dispatch(wb_admin_req *r, const char *url, const char *method)
{
    bool path_known = false;
    if (strlen(url) >= sizeof(r->path)) {
        wb_admin_error(r, 414, "uri_too_long", "the path is too long");
        return;
    }
    snprintf(r->path, sizeof(r->path), "%s", url);
    const wb_admin_route *route = wb_admin_find(r, method, &path_known);
    if (route == NULL) {
        if (path_known)
            wb_admin_error(r, 405, "method_not_allowed", "%s is not allowed here", method);
        else
            wb_admin_error(r, 404, "not_found", "no such resource");
        return;
    }
    if (r->too_large) {
        wb_admin_error(r, 413, "too_large", "the request body exceeds %zu bytes",
                       r->adm->srv->cfg->admin_max_body);
        return;
    }
    if (r->len > 0) {
        json_error_t jerr;
        r->in = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
        if (r->in == NULL || !json_is_object(r->in)) {
            wb_admin_error(r, 400, "bad_json", "the body is not a JSON object: %s",
                           r->in == NULL ? jerr.text : "wrong type");
            return;
        }
    }
    if (route->action == NULL) {
        route->fn(r); /* no database, no token */
        return;
    }
    r->pg = wb_store_admin_acquire(r->adm->pool);
    if (r->pg == NULL) {
        wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
        return;
    }
    wb_admin_run(r, route);
}

/* ---- libmicrohttpd callbacks ---- */

static wb_admin_req *wb_admin_req_new(wb_admin *adm, struct MHD_Connection *conn)
{
    wb_admin_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->adm = adm;
    r->conn = conn;
    r->status = 500;
    snprintf(r->source, sizeof(r->source), "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->source,
                  sizeof(r->source));
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->source,
                  sizeof(r->source));
    return r;
}

/* Appends a piece of the body, or notes that it is over the limit (the rest is discarded). */
static void wb_admin_body(wb_admin_req *r, const char *data, size_t n)
{
    const size_t max = r->adm->srv->cfg->admin_max_body;
    if (r->too_large || r->len + n > max) {
        r->too_large = true;
        return;
    }
    if (r->body == NULL && (r->body = malloc(max)) == NULL) {
        r->too_large = true;
        return;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

static enum MHD_Result wb_admin_access(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    (void)version;
    wb_admin_req *r = *con_cls;
    if (r == NULL) {
        *con_cls = wb_admin_req_new(cls, conn);
        return *con_cls != NULL ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        wb_admin_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    wb_admin_dispatch(r, url, method);
    wb_store_admin_release(r->adm->pool, r->pg);
    r->pg = NULL;
    return wb_admin_send(r);
}

static void wb_admin_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                               enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    wb_admin_req *r = *con_cls;
    if (r == NULL)
        return;
    wb_store_admin_release(r->adm->pool, r->pg);
    json_decref(r->in);
    json_decref(r->out);
    free(r->raw);
    if (r->body != NULL)
        sodium_memzero(r->body, r->len); /* may hold a password */
    free(r->body);
    sodium_memzero(r->bearer, sizeof(r->bearer));
    free(r);
    *con_cls = NULL;
}

static void wb_admin_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    wb_warn("admin: %s", line);
}

/* ---- start and stop ---- */

static char *wb_admin_read_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        wb_error("admin: cannot open %s: %m", path);
        return NULL;
    }
    char *buf = calloc(1, WB_ADMIN_PEM_MAX + 1);
    const size_t n = buf ? fread(buf, 1, WB_ADMIN_PEM_MAX, f) : 0;
    fclose(f);
    if (buf != NULL && (n == 0 || n == WB_ADMIN_PEM_MAX)) {
        wb_error("admin: %s is empty or too large", path);
        free(buf);
        buf = NULL;
    }
    return buf;
}

static int wb_admin_sockaddr(const wb_config *cfg, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    *v6 = strchr(cfg->admin_listen, ':') != NULL;
    if (!*v6 && inet_pton(AF_INET, cfg->admin_listen, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->admin_port);
        return 0;
    }
    if (*v6 && inet_pton(AF_INET6, cfg->admin_listen, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->admin_port);
        return 0;
    }
    return -1;
}

static struct MHD_Daemon *wb_admin_daemon(wb_admin *a)
{
    const wb_config *cfg = a->srv->cfg;
    struct sockaddr_storage ss;
    bool v6 = false;
    if (wb_admin_sockaddr(cfg, &ss, &v6) < 0)
        return NULL;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (a->cert_pem != NULL)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls[] = {
        {a->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, a->cert_pem},
        {a->cert_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, a->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(flags, (uint16_t)cfg->admin_port, NULL, NULL, wb_admin_access, a,
                            MHD_OPTION_EXTERNAL_LOGGER, wb_admin_log, a, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                            (unsigned)cfg->admin_threads, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)WB_ADMIN_CONN_TIME, MHD_OPTION_NOTIFY_COMPLETED,
                            wb_admin_completed, a, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}

wb_admin *wb_admin_start(wb_server *srv)
{
    const wb_config *cfg = srv->cfg;
    wb_admin *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->srv = srv;
    a->pool = wb_store_admin_pool_new(cfg->dsn, cfg->admin_threads);
    a->login_limit = wb_ratelimit_new(cfg->admin_login_failures, cfg->admin_login_window);
    if (a->pool == NULL || a->login_limit == NULL)
        goto fail;
    if (cfg->admin_cert != NULL && ((a->cert_pem = wb_admin_read_pem(cfg->admin_cert)) == NULL ||
                                    (a->key_pem = wb_admin_read_pem(cfg->admin_key)) == NULL))
        goto fail;
    a->daemon = wb_admin_daemon(a);
    if (a->daemon == NULL) {
        wb_error("admin: cannot listen on %s port %d", cfg->admin_listen, cfg->admin_port);
        goto fail;
    }
    wb_info("admin API listening on %s port %d (%s)", cfg->admin_listen, cfg->admin_port,
            a->cert_pem ? "HTTPS" : "HTTP");
    return a;
fail:
    wb_admin_stop(a);
    return NULL;
}

void wb_admin_stop(wb_admin *a)
{
    if (a == NULL)
        return;
    if (a->daemon != NULL)
        MHD_stop_daemon(a->daemon);
    wb_store_admin_pool_free(a->pool);
    wb_ratelimit_free(a->login_limit);
    free(a->cert_pem);
    if (a->key_pem != NULL)
        sodium_memzero(a->key_pem, strlen(a->key_pem));
    free(a->key_pem);
    free(a);
}
