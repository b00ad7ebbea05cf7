/* SCRAM (RFC 5802, RFC 7677) for SHA-1 and SHA-256, with channel binding (RFC 5929
 * tls-server-end-point, RFC 9266 tls-exporter): credential derivation, the server side of the
 * exchange, and a client side used by tests and tools. Not for the XMPP framing (see wb_sasl). */
#ifndef WB_SCRAM_H
#define WB_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_buf.h"

typedef enum { WB_SCRAM_SHA1 = 0, WB_SCRAM_SHA256 = 1 } wb_scram_hash;

#define WB_SCRAM_KEY_MAX  32
#define WB_SCRAM_SALT_MAX 64

/* What the database stores instead of a password. */
typedef struct wb_scram_cred {
    uint8_t salt[WB_SCRAM_SALT_MAX];
    size_t salt_len;
    uint32_t iterations;
    uint8_t stored_key[WB_SCRAM_KEY_MAX];
    uint8_t server_key[WB_SCRAM_KEY_MAX];
} wb_scram_cred;

size_t wb_scram_hash_len(wb_scram_hash h); /* 20 or 32 */
/* Derives credentials from a password (SASLprep'd per RFC 4013 where possible) with a fresh
 * random 16-byte salt, or with the given salt (test vectors). 0 or -1. */
int wb_scram_cred_new(wb_scram_hash h, const char *password, uint32_t iterations,
                      wb_scram_cred *out);
int wb_scram_cred_with_salt(wb_scram_hash h, const char *password, const uint8_t *salt,
                            size_t salt_len, uint32_t iterations, wb_scram_cred *out);
/* Checks a plaintext password (SASL PLAIN) against stored credentials, in constant time. */
bool wb_scram_cred_check(wb_scram_hash h, const wb_scram_cred *cred, const char *password);

/* ---- Server side of one exchange ---- */
typedef struct wb_scram_server wb_scram_server;

/* plus: the client chose a -PLUS mechanism. server_offers_plus: the server advertised -PLUS
 * mechanisms (a client saying "y" then is a downgrade and fails). */
wb_scram_server *wb_scram_server_new(wb_scram_hash h, bool plus, bool server_offers_plus);
void wb_scram_server_free(wb_scram_server *s);
/* Parses client-first-message. On success returns 0 and points *username at the decoded
 * (=2C/=3D unescaped) user name, owned by s. The channel binding type the client asked for
 * ("tls-exporter", "tls-server-end-point") is available from wb_scram_server_cb_type().
 * Returns a wb_sasl_err (> 0) on malformed input or a channel-binding mismatch. */
int wb_scram_server_client_first(wb_scram_server *s, const char *msg, size_t len,
                                 const char **username);
const char *wb_scram_server_cb_type(const wb_scram_server *s); /* NULL unless "p=" */
/* The iteration count to show for unknown users: the one new accounts get, so that it does not
 * tell them apart (default 4096). */
void wb_scram_server_set_fake_iterations(wb_scram_server *s, uint32_t iterations);
/* Produces server-first-message into out. cred == NULL means unknown user: a deterministic fake
 * salt is used so that the exchange looks the same and fails at the end (no user enumeration). */
int wb_scram_server_first(wb_scram_server *s, const wb_scram_cred *cred, wb_buf *out);
/* Verifies client-final-message, given the channel-binding data of this TLS connection for the
 * type the client asked for (NULL/0 if none). On success writes server-final-message ("v=...")
 * into out and returns 0; otherwise returns a wb_sasl_err (not-authorized for a bad proof). */
int wb_scram_server_final(wb_scram_server *s, const char *msg, size_t len, const uint8_t *cb,
                          size_t cb_len, wb_buf *out);

/* ---- Client side (tests and tools) ---- */
typedef struct wb_scram_client wb_scram_client;
/* cb_type: NULL for "n,,", or "tls-exporter"/"tls-server-end-point" for "p=...". */
wb_scram_client *wb_scram_client_new(wb_scram_hash h, const char *user, const char *password,
                                     const char *cb_type);
void wb_scram_client_free(wb_scram_client *c);
int wb_scram_client_first(wb_scram_client *c, wb_buf *out);
int wb_scram_client_final(wb_scram_client *c, const char *server_first, size_t len,
                          const uint8_t *cb, size_t cb_len, wb_buf *out);
/* 0 if the server signature in server-final-message is right. */
int wb_scram_client_verify(wb_scram_client *c, const char *server_final, size_t len);

/* ---- Test hooks (unit tests with the RFC 5802/7677 vectors only; never in the server) ----
 * Replace the random nonce part: call before wb_scram_server_first / wb_scram_client_first.
 * nonce must be printable ASCII without ','; an invalid or over-long nonce is ignored. */
void wb_scram_server_set_nonce(wb_scram_server *s, const char *nonce);
void wb_scram_client_set_nonce(wb_scram_client *c, const char *nonce);

#endif
