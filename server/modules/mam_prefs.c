/* XEP-0313 archiving preferences (always, never, roster; per-JID lists): the <prefs/> get and
 * set of an account's own archive. Not for what is archived (mam.c) nor for SQL (storage/). */
#include <stdlib.h>
#include <string.h>

#include "wb_mam.h"
#include "wb_router.h"
#include "wb_store_archive.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"
#include "wb_xmpp_model.h"

#define WB_NS_MAM "urn:xmpp:mam:2"

/* One get or set waiting for the database. */
typedef struct wb_mam_pop {
    wb_worker *w;
    wb_msg *m; /* the iq (a reference) */
} wb_mam_pop;

static wb_mam_pop *wb_mam_pop_new(wb_worker *w, const wb_msg *m)
{
    wb_mam_pop *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->w = w;
    op->m = wb_msg_ref((wb_msg *)m);
    return op;
}

static void wb_mam_pop_free(wb_mam_pop *op)
{
    wb_msg_unref(op->m);
    free(op);
}

/* Only the account itself (iq without 'to' or to its own bare JID). */
static bool wb_mam_pown(const wb_msg *m, bool to_server)
{
    return !to_server && m->has_from && (!m->has_to || wb_jid_bare_eq(&m->to, &m->from));
}

static const char *const wb_mam_modes[] = {"always", "never", "roster"};

static void wb_mam_put_jids(wb_buf *b, const char *name, const char *const *v, size_t n)
{
    wb_buf_printf(b, "<%s>", name);
    for (size_t i = 0; i < n; i++) {
        wb_buf_puts(b, "<jid>");
        wb_buf_xml_escape_str(b, v[i]);
        wb_buf_puts(b, "</jid>");
    }
    wb_buf_printf(b, "</%s>", name);
}

static void wb_mam_prefs_answered(void *arg, wb_store_status status, const wb_archive_prefs *p)
{
    wb_mam_pop *op = arg;
    wb_buf b;
    wb_buf_init(&b);
    if (status != WB_STORE_OK) {
        wb_route_error(op->w, op->m, WB_STE_INTERNAL_SERVER_ERROR,
                       "The archive is unavailable, try again later");
        goto done;
    }
    wb_buf_printf(&b, "<prefs xmlns='" WB_NS_MAM "' default='%s'>", wb_mam_modes[p->mode]);
    wb_mam_put_jids(&b, "always", p->always, p->n_always);
    wb_mam_put_jids(&b, "never", p->never, p->n_never);
    wb_buf_puts(&b, "</prefs>");
    if (b.failed)
        wb_route_error(op->w, op->m, WB_STE_RESOURCE_CONSTRAINT, NULL);
    else
        wb_modules_reply(op->w, op->m, b.data);
done:
    wb_buf_free(&b);
    wb_mam_pop_free(op);
}

/* The bare JIDs of one list (<always/> or <never/>) into out; false when one is malformed. */
static bool wb_mam_read_jids(const wb_stanza *st, wb_el list, char (*out)[WB_JID_MAX + 1],
                             const char **v, size_t *n)
{
    *n = 0;
    for (wb_el e = list >= 0 ? wb_st_first(st, list) : -1; e >= 0; e = wb_st_next(st, e)) {
        const char *text = wb_st_text(st, e, NULL);
        wb_jid j;
        if (strcmp(wb_st_name(st, e), "jid") != 0)
            continue;
        if (*n >= WB_ARCHIVE_JIDS_MAX || wb_jid_parse(&j, text, strlen(text)) < 0 ||
            wb_jid_bare(&j, out[*n], WB_JID_MAX + 1) < 0)
            return false;
        v[*n] = out[*n];
        (*n)++;
    }
    return true;
}

typedef struct wb_mam_prefs_req {
    char always[WB_ARCHIVE_JIDS_MAX][WB_JID_MAX + 1];
    char never[WB_ARCHIVE_JIDS_MAX][WB_JID_MAX + 1];
    const char *va[WB_ARCHIVE_JIDS_MAX], *vn[WB_ARCHIVE_JIDS_MAX];
} wb_mam_prefs_req;

/* Reads <prefs/> of a set into p (backed by r); false: bad-request. */
static bool wb_mam_read_prefs(const wb_stanza *st, wb_mam_prefs_req *r, wb_archive_prefs *p)
{
    const wb_el el = wb_st_child(st, 0, "prefs", WB_NS_MAM);
    const char *def = wb_st_attr(st, el, "default");
    size_t i = 0;
    while (def != NULL && i < 3 && strcmp(def, wb_mam_modes[i]) != 0)
        i++;
    if (def == NULL || i == 3)
        return false;
    p->mode = (wb_archive_mode)i;
    p->always = r->va;
    p->never = r->vn;
    return wb_mam_read_jids(st, wb_st_child(st, el, "always", WB_NS_MAM), r->always, r->va,
                            &p->n_always) &&
           wb_mam_read_jids(st, wb_st_child(st, el, "never", WB_NS_MAM), r->never, r->vn,
                            &p->n_never);
}

wb_mod_result wb_mam_prefs(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (to_server)
        return WB_MOD_PASS;
    if (!wb_mam_pown(m, to_server)) {
        wb_route_error(w, m, WB_STE_FORBIDDEN, NULL);
        return WB_MOD_HANDLED;
    }
    wb_mam_pop *op = wb_mam_pop_new(w, m);
    wb_mam_prefs_req *r = NULL;
    wb_archive_prefs p;
    wb_store_req *q = NULL;
    if (op == NULL)
        goto fail;
    if (m->type == WB_IT_GET) {
        q = wb_store_archive_prefs_get(w->store, m->from.node, m->from.domain,
                                       wb_mam_prefs_answered, op);
    } else {
        if ((r = malloc(sizeof(*r))) == NULL)
            goto fail;
        if (!wb_mam_read_prefs(m->xml, r, &p)) {
            wb_route_error(w, m, WB_STE_BAD_REQUEST, NULL);
            free(r);
            wb_mam_pop_free(op);
            return WB_MOD_HANDLED;
        }
        q = wb_store_archive_prefs_set(w->store, m->from.node, m->from.domain, &p,
                                       wb_mam_prefs_answered, op);
        free(r);
    }
    if (q != NULL)
        return WB_MOD_HANDLED;
fail:
    if (op != NULL)
        wb_mam_pop_free(op);
    wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    return WB_MOD_HANDLED;
}
