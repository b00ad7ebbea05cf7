/* XEP-0363 HTTP File Upload: the service shared by the XMPP side (server/modules/upload.c: disco,
 * slot requests) and the HTTP side (wb_upload_http.c: PUT, GET, HEAD); slot tokens and URLs
 * (wb_upload_token.c). Not for storage, which seals every byte (storage/wb_store_upload.h). */
#ifndef WB_UPLOAD_H
#define WB_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "wb_buf.h"
#include "wb_jid.h"
#include "wb_msg.h"
#include "wb_server.h"
#include "wb_upload_conf.h"

#define WB_UPLOAD_NS          "urn:xmpp:http:upload:0"
#define WB_UPLOAD_SLOT_HEX    32                        /* a slot: 128 random bits in hex */
#define WB_UPLOAD_ACCOUNT_MAX (2 * WB_JID_PART_MAX + 2) /* node@domain and its NUL */
#define WB_UPLOAD_TOKEN_MAX   (2 * WB_UPLOAD_ACCOUNT_MAX + 160)
#define WB_UPLOAD_URL_MAX     2048

/* The module's state (wb_modules_state of wb_mod_upload): the HMAC key of slot tokens, made at
 * start-up (slots do not survive a restart), and the service name of each host. */
typedef struct wb_upload {
    const wb_upload_conf *conf;
    uint8_t token_key[32];
    size_t n_services;
    char (*services)[256]; /* per host (cfg->hosts order) */
    int http_up;           /* atomic: the HTTP listener runs (slots are handed out only then) */
} wb_upload;

/* What a slot allows: one PUT of size bytes of content_type by account, until expires. */
typedef struct wb_upload_slot {
    char account[WB_UPLOAD_ACCOUNT_MAX]; /* node@domain */
    char slot[WB_UPLOAD_SLOT_HEX + 1];
    char filename[256];
    char content_type[256];
    int64_t size;
    int64_t expires; /* Unix time */
} wb_upload_slot;

/* The service's state, NULL when the service is off. */
const wb_upload *wb_upload_of(const wb_server *srv);

/* Routes m if it is addressed to an upload service (consumed then, true). */
bool wb_upload_route(wb_worker *w, wb_msg *m);
/* Adds the upload service of host to a disco#items answer. */
void wb_upload_disco_items(const wb_server *srv, const char *host, wb_buf *b);

/* Whether a file name and a content type may be used in a slot. */
bool wb_upload_filename_ok(const char *name);
bool wb_upload_content_type_ok(const char *ctype);
/* A new random slot identifier. */
void wb_upload_new_slot(char out[WB_UPLOAD_SLOT_HEX + 1]);
/* The Authorization header value of s: 0 or -1 (too long). */
int wb_upload_token(const wb_upload *u, const wb_upload_slot *s, char *out, size_t size);
/* Checks an Authorization header value against the slot, file name and content type of a PUT
 * (s gets the account and the size the slot allows); 0 when valid and not expired at now, -1
 * otherwise. */
int wb_upload_token_check(const wb_upload *u, const char *header, wb_upload_slot *s, time_t now);
/* Appends the URL of a slot's file (public_url/upload/SLOT/FILENAME, escaped) to b. */
void wb_upload_url(const wb_upload *u, const char *slot, const char *filename, wb_buf *b);
/* Appends s percent-encoded (every byte but RFC 3986 unreserved ones) to b. */
void wb_upload_escape(const char *s, wb_buf *b);

/* The HTTP listener: started after the workers, stopped before them. NULL on failure (logged):
 * the service then stays hidden and refuses slots (service-unavailable), the server runs on. */
typedef struct wb_upload_http wb_upload_http;
wb_upload_http *wb_upload_http_start(wb_server *srv);
void wb_upload_http_stop(wb_upload_http *h);

#endif
