/* Private to server/admin/: one request as the handlers see it, the reply helpers, and the
 * handlers the routing table (wb_admin_http.c) points to. Not for other modules. */
#ifndef WB_ADMIN_INT_H
#define WB_ADMIN_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_admin.h"
#include "wb_ratelimit.h"
#include "wb_store_admin.h"

#define WB_ADMIN_MAX_ARGS 3
#define WB_ADMIN_PATH_MAX 2048

struct MHD_Daemon;
struct MHD_Connection;

struct wb_admin {
    wb_server *srv;
    struct MHD_Daemon *daemon;
    wb_store_admin_pool *pool;
    wb_ratelimit *login_limit;
    char *cert_pem, *key_pem;
};

typedef struct wb_admin_req {
    wb_admin *adm;
    struct MHD_Connection *conn;
    char *body;
    size_t len;
    bool too_large;
    json_t *in;                          /* the parsed body, or NULL when there is none */
    char path[WB_ADMIN_PATH_MAX];        /* split in place: args point into it */
    const char *args[WB_ADMIN_MAX_ARGS]; /* the {} segments of the route */
    char source[64];                     /* client address */
    wb_pg *pg;                           /* a pooled connection for the handler */
    wb_store_admin_principal who;        /* the caller (after authentication) */
    char actor[WB_SA_NAME_MAX + 16];     /* "admin:NAME", "apikey:NAME" */
    char bearer[WB_SA_TOKEN_MAX];
    char allow[64];                    /* methods of the routes matching the path (for 405) */
    char target[WB_SA_JID_MAX + 1024]; /* for the audit record, "" when none */
    int status;
    json_t *out; /* the reply body */
    /* A reply that is not JSON (metrics, console): raw (malloc'd) wins over out when set. */
    char *raw;
    size_t raw_len;
    const char *raw_type; /* its Content-Type */
} wb_admin_req;

/* What the sessions module (wb_admin_sessions.c) noted when a session bound. */
typedef struct wb_admin_session_info {
    int64_t since; /* Unix time of binding */
    char address[64];
    char tls[16]; /* "TLSv1.3", "" without TLS */
} wb_admin_session_info;
struct wb_module;
extern const struct wb_module wb_mod_admin_sessions; /* in the table of wb_modules.c */
/* Thread-safe; false when the session is unknown (or the admin API is off). */
bool wb_admin_session_info_get(wb_server *srv, uint64_t sid, wb_admin_session_info *out);

/* Replies: error sets {"code","message"}; ok takes over body (a JSON object). */
void wb_admin_error(wb_admin_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void wb_admin_reply(wb_admin_req *r, int status, json_t *body);
/* A reply of raw bytes (taken over, malloc'd) with its Content-Type. */
void wb_admin_reply_raw(wb_admin_req *r, int status, const char *type, char *data, size_t len);
/* A string member of the body, or NULL (not there or not a string). */
const char *wb_admin_str(const wb_admin_req *r, const char *key);
/* Records an event with the request's actor, role and source address. */
void wb_admin_audit(const wb_admin_req *r, const char *actor, const char *role, const char *action,
                    const char *target, bool ok, const char *reason);

/* Handlers (wb_admin_api.c, wb_admin_accounts.c). */
void wb_admin_h_login(wb_admin_req *r);
void wb_admin_h_logout(wb_admin_req *r);
void wb_admin_h_accounts_list(wb_admin_req *r);
void wb_admin_h_accounts_create(wb_admin_req *r);
void wb_admin_h_account_get(wb_admin_req *r);
void wb_admin_h_account_delete(wb_admin_req *r);
void wb_admin_h_account_disable(wb_admin_req *r);
void wb_admin_h_account_enable(wb_admin_req *r);
void wb_admin_h_account_password(wb_admin_req *r);
void wb_admin_h_sessions_list(wb_admin_req *r);
void wb_admin_h_session_kick(wb_admin_req *r);
void wb_admin_h_admins_list(wb_admin_req *r);
void wb_admin_h_admins_create(wb_admin_req *r);
void wb_admin_h_admin_delete(wb_admin_req *r);
void wb_admin_h_stats(wb_admin_req *r);
/* wb_admin_gdpr.c, wb_admin_audit.c, wb_admin_metrics.c, wb_admin_console.c */
void wb_admin_h_gdpr_export(wb_admin_req *r);
void wb_admin_h_gdpr_erase(wb_admin_req *r);
void wb_admin_h_gdpr_rectify_vcard(wb_admin_req *r);
void wb_admin_h_gdpr_rectify_roster(wb_admin_req *r);
void wb_admin_h_gdpr_requests(wb_admin_req *r);
void wb_admin_h_audit_list(wb_admin_req *r);
void wb_admin_h_audit_verify(wb_admin_req *r);
void wb_admin_h_metrics(wb_admin_req *r);
void wb_admin_h_status(wb_admin_req *r);
void wb_admin_h_console(wb_admin_req *r);
/* wb_admin_invites.c, wb_admin_retention.c, wb_admin_keys.c */
void wb_admin_h_invites_list(wb_admin_req *r);
void wb_admin_h_invites_create(wb_admin_req *r);
void wb_admin_h_invite_revoke(wb_admin_req *r);
void wb_admin_h_retention_default_get(wb_admin_req *r);
void wb_admin_h_retention_default_put(wb_admin_req *r);
void wb_admin_h_retention_account_get(wb_admin_req *r);
void wb_admin_h_retention_account_put(wb_admin_req *r);
void wb_admin_h_retention_account_delete(wb_admin_req *r);
void wb_admin_h_retention_peer_get(wb_admin_req *r);
void wb_admin_h_retention_peer_put(wb_admin_req *r);
void wb_admin_h_retention_peer_delete(wb_admin_req *r);
void wb_admin_h_apikeys_list(wb_admin_req *r);
void wb_admin_h_apikey_revoke(wb_admin_req *r);
void wb_admin_h_admin_disable(wb_admin_req *r);
void wb_admin_h_admin_enable(wb_admin_req *r);

#endif
