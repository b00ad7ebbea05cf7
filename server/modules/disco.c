/* XEP-0030 service discovery of the server itself: identity and every module's features. */
#include <string.h>

#include "wb_buf.h"
#include "wb_modules.h"

#define WB_NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define WB_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

static void wb_disco_add_feature(void *arg, const char *feature)
{
    wb_buf *b = arg;
    wb_buf_puts(b, "<feature var='");
    wb_buf_xml_escape_str(b, feature);
    wb_buf_puts(b, "'/>");
}

static wb_mod_result wb_disco_info(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!to_server)
        return WB_MOD_PASS; /* account disco comes with the IM modules */
    wb_buf b;
    wb_buf_init(&b);
    wb_buf_puts(&b, "<query xmlns='" WB_NS_DISCO_INFO "'>"
                    "<identity category='server' type='im' name='Warbler'/>");
    wb_modules_disco_features(wb_disco_add_feature, &b);
    wb_buf_puts(&b, "</query>");
    wb_modules_reply(w, m, b.failed ? NULL : b.data);
    wb_buf_free(&b);
    return WB_MOD_HANDLED;
}

static wb_mod_result wb_disco_items(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!to_server)
        return WB_MOD_PASS;
    wb_modules_reply(w, m, "<query xmlns='" WB_NS_DISCO_ITEMS "'/>");
    return WB_MOD_HANDLED;
}

static const char *const wb_disco_features[] = {WB_NS_DISCO_INFO, WB_NS_DISCO_ITEMS, NULL};
static const wb_iq_handler wb_disco_iq[] = {
    {WB_NS_DISCO_INFO, "query", wb_disco_info, NULL},
    {WB_NS_DISCO_ITEMS, "query", wb_disco_items, NULL},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_disco = {.name = "disco", .features = wb_disco_features, .iq = wb_disco_iq};
