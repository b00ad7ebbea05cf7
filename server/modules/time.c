/* XEP-0202 entity time of the server (UTC and the server's offset). Not answered for accounts:
 * time is per resource, so an account's bare JID gets service-unavailable from the router. */
#include <stdio.h>
#include <time.h>

#include "wb_modules.h"
#include "wb_router.h"
#include "wb_xmpp_errors.h"

#define WB_NS_TIME "urn:xmpp:time"

/* Writes "<time>...</time>" for now into out; -1 when the clock cannot be read. */
static int wb_time_payload(char *out, size_t size)
{
    const time_t now = time(NULL);
    struct tm utc, local;
    char stamp[32];
    if (now == (time_t)-1 || !gmtime_r(&now, &utc) || !localtime_r(&now, &local) ||
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &utc) == 0)
        return -1;
    const long off = local.tm_gmtoff;
    const long mag = off < 0 ? -off : off;
    const int n = snprintf(out, size,
                           "<time xmlns='" WB_NS_TIME "'><tzo>%c%02ld:%02ld</tzo><utc>%s</utc>"
                           "</time>",
                           off < 0 ? '-' : '+', mag / 3600, (mag % 3600) / 60, stamp);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static wb_mod_result wb_time_get(wb_worker *w, const wb_msg *m, const char *ns, bool to_server)
{
    (void)ns;
    if (!to_server)
        return WB_MOD_PASS;
    char payload[160];
    if (wb_time_payload(payload, sizeof(payload)) < 0)
        wb_route_error(w, m, WB_STE_INTERNAL_SERVER_ERROR, NULL);
    else
        wb_modules_reply(w, m, payload);
    return WB_MOD_HANDLED;
}

static const char *const wb_time_features[] = {WB_NS_TIME, NULL};
static const wb_iq_handler wb_time_iq[] = {
    {WB_NS_TIME, "time", wb_time_get, NULL},
    {NULL, NULL, NULL, NULL},
};

const wb_module wb_mod_time = {.name = "time", .features = wb_time_features, .iq = wb_time_iq};
