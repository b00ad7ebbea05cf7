/* TLS contexts (OpenSSL 3): one SSL_CTX per virtual host chosen by SNI, TLS 1.2 minimum, ALPN
 * for direct TLS, and the channel-binding data SCRAM-PLUS needs. A set is reference counted so that
 * SIGHUP can install a new one while connections keep the one they started with. */
#ifndef WB_TLS_H
#define WB_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "wb_config.h"

typedef struct wb_tls wb_tls;

/* Loads every host's certificate and key; NULL with a one-line reason in err on failure. */
wb_tls *wb_tls_load(const wb_config *cfg, char *err, size_t errsize);
wb_tls *wb_tls_ref(wb_tls *t);
void wb_tls_unref(wb_tls *t);
/* A new server-side SSL for a connection to `domain` (or the first host when NULL/unknown);
 * direct: require ALPN xmpp-client when the client offers ALPN. */
SSL *wb_tls_new_ssl(wb_tls *t, const char *domain, int direct);

/* Channel binding (RFC 5929 tls-server-end-point, RFC 9266 tls-exporter) for an established
 * connection; returns the length written into out (at most 64), or -1 if unavailable. */
int wb_tls_channel_binding(SSL *ssl, const char *type, uint8_t *out, size_t size);
/* Whether tls-exporter is usable on this connection (TLS 1.3, or 1.2 with extended master secret).
 */
int wb_tls_has_exporter(SSL *ssl);

#endif
