/* XEP-0363 HTTP File Upload, XMPP side: the upload service per host (upload.DOMAIN), its disco,
 * and slot requests (size, quota and locality checks, signed PUT URL). Not HTTP (server/upload/).
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upload/wb_upload.h"
#include "wb_log.h"
#include "wb_modules.h"
#include "wb_router.h"
#include "wb_store_upload.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

#define WB_NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define WB_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define WB_NS_PING        "urn:xmpp:ping"
#define WB_NS_STANZAS     "urn:ietf:params:xml:ns:xmpp-stanzas"

extern const wb_module wb_mod_upload;

const wb_upload *wb_upload_of(const wb_server *srv)
{
    return wb_modules_state(srv, &wb_mod_upload);
}

/* ---- the service's state ---- */

static int wb_upload_init(wb_server *srv, void **state)
{
    const wb_upload_conf *conf = wb_config_upload(srv->cfg);
    *state = NULL;
    if (!conf->enabled)
        return 0;
    wb_upload *u = calloc(1, sizeof(*u));
    if (!u || !(u->services = calloc(srv->cfg->n_hosts + 1, sizeof(*u->services)))) {
        free(u);
        wb_error("upload: out of memory");
        return -1;
    }
    u->conf = conf;
    u->n_services = srv->cfg->n_hosts;
    randombytes_buf(u->token_key, sizeof(u->token_key));
    for (size_t i = 0; i < u->n_services; i++) {
        const char *host = srv->cfg->hosts[i].domain;
        char tmp[sizeof(u->services[i]) + 1024];
        if (strstr(conf->domain, "%s"))
            snprintf(tmp, sizeof(tmp), conf->domain, host);
        else
            snprintf(tmp, sizeof(tmp), "%s", conf->domain);
        snprintf(u->services[i], sizeof(u->services[i]), "%.255s", tmp);
    }
    *state = u;
    return 0;
}

static void wb_upload_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_upload *u = state;
    if (!u)
        return;
    free(u->services);
    sodium_memzero(u, sizeof(*u));
    free(u);
}

static int wb_upload_service_index(const wb_upload *u, const char *domain)
{
    for (size_t i = 0; i < u->n_services; i++)
        if (strcmp(u->services[i], domain) == 0)
            return (int)i;
    return -1;
}

void wb_upload_disco_items(const wb_server *srv, const char *host, wb_buf *b)
{
    const wb_upload *u = wb_upload_of(srv);
    if (u && !__atomic_load_n(&u->http_up, __ATOMIC_ACQUIRE))
        return;
    for (size_t i = 0; u && i < u->n_services && i < srv->cfg->n_hosts; i++) {
        if (strcmp(srv->cfg->hosts[i].domain, host) != 0)
            continue;
        wb_buf_puts(b, "<item jid='");
        wb_buf_xml_escape_str(b, u->services[i]);
        wb_buf_puts(b, "' name='HTTP File Upload'/>");
    }
}

/* ---- disco ---- */

static void wb_upload_disco_info(wb_worker *w, const wb_upload *u, const wb_msg *m)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_printf(&b,
                  "<query xmlns='" WB_NS_DISCO_INFO "'>"
                  "<identity category='store' type='file' name='HTTP File Upload'/>"
                  "<feature var='" WB_NS_DISCO_INFO "'/><feature var='" WB_NS_DISCO_ITEMS "'/>"
                  "<feature var='" WB_NS_PING "'/><feature var='" WB_UPLOAD_NS "'/>"
                  "<x xmlns='jabber:x:data' type='result'>"
                  "<field var='FORM_TYPE' type='hidden'><value>" WB_UPLOAD_NS "</value></field>"
                  "<field var='max-file-size'><value>%" PRId64 "</value></field></x></query>",
                  u->conf->max_file_size);
    if (b.failed)
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b.data);
    wb_buf_free(&b);
}

/* ---- slot requests ---- */

/* XEP-0363 section 4: not-acceptable with the service's limit. */
static void wb_upload_too_large(wb_worker *w, const wb_upload *u, const wb_msg *m)
{
    char from[WB_JID_MAX + 1], to[WB_JID_MAX + 1];
    if (wb_jid_full(&m->to, from, sizeof(from)) < 0 || wb_jid_full(&m->from, to, sizeof(to)) < 0)
        return;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<iq type='error' from='");
    wb_buf_xml_escape_str(&b, from);
    wb_buf_puts(&b, "' to='");
    wb_buf_xml_escape_str(&b, to);
    if (m->id) {
        wb_buf_puts(&b, "' id='");
        wb_buf_xml_escape_str(&b, m->id);
    }
    wb_buf_printf(&b,
                  "'><error type='modify'><not-acceptable xmlns='" WB_NS_STANZAS "'/>"
                  "<text xmlns='" WB_NS_STANZAS "'>File too large</text>"
                  "<file-too-large xmlns='" WB_UPLOAD_NS "'><max-size>%" PRId64 "</max-size>"
                  "</file-too-large></error></iq>",
                  u->conf->max_file_size);
    wb_msg *r = b.failed
                    ? NULL
                    : wb_xmpp_msg_from_text(WB_MSG_IQ, WB_T_ERROR, &m->to, &m->from, b.data, b.len);
    wb_buf_free(&b);
    if (r)
        wb_route(w, r);
}

static void wb_upload_send_slot(wb_worker *w, const wb_upload *u, const wb_msg *m,
                                const wb_upload_slot *s)
{
    char token[WB_UPLOAD_TOKEN_MAX + 64];
    if (wb_upload_token(u, s, token, sizeof(token)) < 0) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    wb_buf url, b;
    wb_buf_init(&url);
    wb_buf_init(&b);
    wb_upload_url(u, s->slot, s->filename, &url);
    const char *href = url.failed || !url.data ? "" : url.data;
    wb_buf_puts(&b, "<slot xmlns='" WB_UPLOAD_NS "'><put url='");
    wb_buf_xml_escape_str(&b, href);
    wb_buf_puts(&b, "'><header name='Authorization'>");
    wb_buf_xml_escape_str(&b, token);
    wb_buf_puts(&b, "</header></put><get url='");
    wb_buf_xml_escape_str(&b, href);
    wb_buf_puts(&b, "'/></slot>");
    if (url.failed || b.failed)
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(w, m, b.data);
    wb_buf_free(&url);
    wb_buf_free(&b);
}

/* A quota check in flight (the store answers every request, UNAVAILABLE at shutdown). */
typedef struct wb_upload_req {
    wb_worker *w;
    wb_msg *m;
    wb_upload_slot slot;
} wb_upload_req;

static void wb_upload_usage_cb(void *arg, wb_store_status status, int64_t used)
{
    wb_upload_req *r = arg;
    const wb_upload *u = wb_upload_of(r->w->srv);
    if (status != WB_STORE_OK || !u)
        wb_route_error(r->w, r->m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    else if (used > u->conf->quota - r->slot.size)
        wb_route_error(r->w, r->m, WB_STE_RESOURCE_CONSTRAINT, "Upload quota exceeded");
    else
        wb_upload_send_slot(r->w, u, r->m, &r->slot);
    wb_msg_unref(r->m);
    free(r);
}

/* Reads the request's attributes into s; the error to answer, or -1 when fine. */
static int wb_upload_parse(const wb_msg *m, wb_el req, wb_upload_slot *s)
{
    const char *name = wb_st_attr(m->xml, req, "filename");
    const char *size = wb_st_attr(m->xml, req, "size");
    const char *ctype = wb_st_attr(m->xml, req, "content-type");
    if (!ctype || !ctype[0])
        ctype = "application/octet-stream";
    if (!name || !size || !wb_upload_filename_ok(name) || !wb_upload_content_type_ok(ctype) ||
        size[0] < '0' || size[0] > '9' || strlen(size) > 18 ||
        strspn(size, "0123456789") != strlen(size))
        return WB_STE_BAD_REQUEST;
    s->size = strtoll(size, NULL, 10);
    snprintf(s->filename, sizeof(s->filename), "%s", name);
    snprintf(s->content_type, sizeof(s->content_type), "%s", ctype);
    return -1;
}

static void wb_upload_request(wb_worker *w, const wb_upload *u, const wb_msg *m, wb_el req)
{
    wb_upload_slot s;
    memset(&s, 0, sizeof(s));
    if (!m->has_from || !wb_jid_has_node(&m->from) || !wb_server_serves(w->srv, m->from.domain)) {
        wb_route_error(w, m, WB_STE_FORBIDDEN, "Only local accounts may upload");
        return;
    }
    const int err = wb_upload_parse(m, req, &s);
    if (err >= 0) {
        wb_route_error(w, m, err, NULL);
        return;
    }
    if (s.size > u->conf->max_file_size) {
        wb_upload_too_large(w, u, m);
        return;
    }
    snprintf(s.account, sizeof(s.account), "%s@%s", m->from.node, m->from.domain);
    wb_upload_new_slot(s.slot);
    s.expires = (int64_t)time(NULL) + u->conf->slot_lifetime;
    if (u->conf->quota <= 0) {
        wb_upload_send_slot(w, u, m, &s);
        return;
    }
    if (s.size > u->conf->quota) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, "Upload quota exceeded");
        return;
    }
    wb_upload_req *r = calloc(1, sizeof(*r));
    if (!r) {
        wb_route_error(w, m, WB_STE_RESOURCE_CONSTRAINT, NULL);
        return;
    }
    r->w = w;
    r->m = wb_msg_ref((wb_msg *)m);
    r->slot = s;
    if (!wb_store_upload_usage(w->store, m->from.domain, m->from.node, wb_upload_usage_cb, r))
        wb_upload_usage_cb(r, WB_STORE_UNAVAILABLE, 0);
}

/* ---- routing ---- */

static void wb_upload_iq(wb_worker *w, const wb_upload *u, const wb_msg *m)
{
    const wb_el q = m->xml ? wb_st_first(m->xml, 0) : -1;
    const char *ns = q >= 0 ? wb_st_ns(m->xml, q) : "";
    const char *name = q >= 0 ? wb_st_name(m->xml, q) : "";
    const bool get = m->type == WB_IT_GET;
    if (!__atomic_load_n(&u->http_up, __ATOMIC_ACQUIRE))
        wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
    else if (get && strcmp(ns, WB_UPLOAD_NS) == 0 && strcmp(name, "request") == 0)
        wb_upload_request(w, u, m, q);
    else if (get && strcmp(ns, WB_NS_DISCO_INFO) == 0 && strcmp(name, "query") == 0 &&
             wb_st_attr(m->xml, q, "node"))
        wb_route_error(w, m, WB_STE_ITEM_NOT_FOUND, NULL);
    else if (get && strcmp(ns, WB_NS_DISCO_INFO) == 0 && strcmp(name, "query") == 0)
        wb_upload_disco_info(w, u, m);
    else if (get && strcmp(ns, WB_NS_DISCO_ITEMS) == 0 && strcmp(name, "query") == 0)
        wb_modules_reply(w, m, "<query xmlns='" WB_NS_DISCO_ITEMS "'/>");
    else if (get && strcmp(ns, WB_NS_PING) == 0 && strcmp(name, "ping") == 0)
        wb_modules_reply(w, m, NULL);
    else
        wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
}

bool wb_upload_route(wb_worker *w, wb_msg *m)
{
    const wb_upload *u = wb_upload_of(w->srv);
    if (!u || !m->has_to || wb_upload_service_index(u, m->to.domain) < 0)
        return false;
    const bool request = m->kind == WB_MSG_IQ && (m->type == WB_IT_GET || m->type == WB_IT_SET);
    if (wb_jid_has_node(&m->to) || wb_jid_has_resource(&m->to)) {
        if (m->kind != WB_MSG_PRESENCE)
            wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
    } else if (request) {
        wb_upload_iq(w, u, m);
    } else if (m->kind == WB_MSG_MESSAGE) {
        wb_route_error(w, m, WB_STE_SERVICE_UNAVAILABLE, NULL);
    }
    wb_msg_unref(m);
    return true;
}

const wb_module wb_mod_upload = {
    .name = "upload",
    .init = wb_upload_init,
    .shutdown = wb_upload_shutdown,
};
