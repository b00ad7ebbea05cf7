/* wb_server: small accessors on the shared server state. */
#include "wb_server.h"

#include <string.h>

wb_tls *wb_server_tls(wb_server *srv)
{
    pthread_mutex_lock(&srv->tls_lock);
    wb_tls *t = wb_tls_ref(srv->tls);
    pthread_mutex_unlock(&srv->tls_lock);
    return t;
}

bool wb_server_serves(const wb_server *srv, const char *domain)
{
    return wb_config_host(srv->cfg, domain) != NULL;
}
