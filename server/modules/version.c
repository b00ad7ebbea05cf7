/* XEP-0092 software version of the server, with the OS hidden when c2s.hide_os is set. */
#include <sys/utsname.h>

#include "wb_buf.h"
#include "wb_modules.h"

#define WB_NS_VERSION "jabber:iq:version"
#ifndef WB_VERSION
#define WB_VERSION "0.1.0"
#endif

static wb_mod_result wb_version_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!to_server)
        return WB_MOD_PASS;
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_VERSION "'><name>Warbler</name>");
    if (!w->srv->cfg->hide_version)
        wb_buf_puts(&b, "<version>" WB_VERSION "</version>");
    struct utsname u;
    if (!w->srv->cfg->hide_os && uname(&u) == 0) {
        wb_buf_puts(&b, "<os>");
        wb_buf_xml_escape_str(&b, u.sysname);
        wb_buf_puts(&b, "</os>");
    }
    wb_buf_puts(&b, "</query>");
    wb_modules_reply(w, m, b.failed ? NULL : b.data);
    wb_buf_free(&b);
    return WB_MOD_HANDLED;
}

static const char *const wb_version_features[] = {WB_NS_VERSION, NULL};
static const wb_iq_handler wb_version_iq[] = {
    {WB_NS_VERSION, "query", wb_version_get, NULL},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_version = {
    .name = "version", .features = wb_version_features, .iq = wb_version_iq};
