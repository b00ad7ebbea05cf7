/* libFuzzer target for XEP-0114 component streams: the input is fed to a component stream of an
 * in-process server (header checks, handshake, stream errors), and each stanza in it is also
 * converted the way an authenticated component's stanza is. Not for routing (needs a full server).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "wb_component_int.h"
#include "wb_log.h"
#include "wb_modules.h"

static wb_server fz_srv;
static wb_worker fz_w;
static wb_worker *fz_workers[1];
static wb_config *fz_cfg; /* wb_config_new: sized for the feature sections */
static wb_conf_component fz_comp[2] = {{"bot.example", "secret"}, {"other.example", "s2"}};

static void fz_setup(void)
{
    wb_log_set_level(WB_LOG_ERROR);
    fz_cfg = wb_config_new();
    if (fz_cfg == NULL)
        abort();
    fz_cfg->workers = 1;
    fz_cfg->max_stanza_size = 4096;
    fz_cfg->max_depth = 16;
    fz_cfg->max_attrs = 16;
    fz_cfg->handshake_timeout = 10;
    fz_cfg->components = fz_comp;
    fz_cfg->n_components = 2;
    fz_srv.cfg = fz_cfg;
    fz_srv.n_workers = 1;
    fz_srv.workers = fz_workers;
    fz_workers[0] = &fz_w;
    fz_w.srv = &fz_srv;
    fz_w.base = event_base_new();
    const int i = wb_modules_index(&wb_mod_component);
    if (!fz_w.base || i < 0 || wb_mod_component.init(&fz_srv, &fz_srv.mod_state[i]) < 0)
        abort();
}

static void fz_convert(const uint8_t *data, size_t size)
{
    wb_stanza *st = wb_stanza_parse((const char *)data, size);
    if (!st)
        return;
    static const char *const kinds[] = {"message", "presence", "iq"};
    for (int k = 0; k < 3; k++) {
        if (strcmp(wb_st_name(st, 0), kinds[k]) != 0)
            continue;
        wb_jid from, to;
        wb_jid_parse(&from, "x@bot.example/r", 15);
        wb_jid_parse(&to, "y@wb.example", 12);
        wb_stanza_err err;
        wb_msg *m = wb_comp_msg(st, (wb_msg_kind)k, &from, &to, &err);
        if (m && (!m->xml || !m->bytes))
            abort();
        if (m)
            wb_msg_unref(m);
    }
    wb_stanza_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_w.base)
        fz_setup();
    wb_comp_conn *c = wb_comp_conn_new(&fz_w, "127.0.0.1");
    if (!c)
        return 0;
    /* A fixed stream id, so that a corpus entry can hold a valid handshake. */
    memcpy(c->stream_id, "00000000000000000000000000000000", WB_COMP_ID_LEN);
    const int rc = wb_xml_stream_feed(c->xs, (const char *)data, size);
    if (rc > 0)
        wb_comp_conn_close(c, rc, NULL);
    wb_comp_worker_end(&fz_w);
    fz_convert(data, size);
    return 0;
}
