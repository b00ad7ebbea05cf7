/* GET /api/v1/federation: the live server-to-server streams as `warblerctl s2s list` shows them,
 * read from the s2s registry (thread-safe). Not for closing streams or changing s2s policy. */
#include <jansson.h>

#include "wb_admin_int.h"
#include "wb_s2s.h"

void wb_admin_h_federation_list(wb_admin_req *r);

static void wb_admin_add_stream(void *arg, const wb_s2s_view *v)
{
    const char *dir = v->bidi ? "bidi" : (v->out ? "out" : "in");
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "remote", v->remote, "local",
                          v->local, "direction", dir, "mechanism", v->auth, "tls_version",
                          v->tls_version, "tls_cipher", v->tls_cipher, "stanzas_in",
                          (json_int_t)v->n_in, "stanzas_out", (json_int_t)v->n_out);
    if (o != NULL)
        json_array_append_new(arg, o);
}

void wb_admin_h_federation_list(wb_admin_req *r)
{
    json_t *items = json_array();
    if (items == NULL) {
        wb_admin_error(r, 500, "internal", "out of memory");
        return;
    }
    wb_s2s_each(r->adm->srv, wb_admin_add_stream, items);
    wb_admin_reply(
        r, 200,
        json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items)));
}
