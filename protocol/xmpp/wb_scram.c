/* SCRAM-SHA-1/SHA-256(-PLUS) per RFC 5802/7677 with RFC 5929/9266 channel binding: credential
 * derivation, the server side and a test/tool client side. Not for XMPP framing or base64 of SASL.
 */
#include "wb_scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sodium/utils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "wb_xmpp_errors.h"

#define WB_SCRAM_MSG_MAX   2048 /* bytes of one SCRAM message */
#define WB_SCRAM_NAME_MAX  1024 /* decoded user name, with its NUL */
#define WB_SCRAM_NONCE_MAX 256  /* one side's nonce, with its NUL */
#define WB_SCRAM_PASS_MAX  1024 /* password bytes, with its NUL */
#define WB_SCRAM_PREP_MAX  (4 * WB_SCRAM_PASS_MAX)
#define WB_SCRAM_CB_MAX    128 /* channel-binding data (a digest or an exporter value) */
#define WB_SCRAM_NONCE_RND 18  /* random bytes per nonce: 24 base64 characters, no padding */
#define WB_SCRAM_FAKE_ITER 4096
#define WB_SCRAM_ITER_MAX  10000000u
#define WB_SCRAM_B64(n)    (((n) + 2) / 3 * 4 + 1)

enum {
    WB_SCRAM_ST_START = 0,
    WB_SCRAM_ST_FIRST,
    WB_SCRAM_ST_SENT,
    WB_SCRAM_ST_DONE,
    WB_SCRAM_ST_FAIL
};

struct wb_scram_server {
    wb_scram_hash h;
    bool plus, offers_plus, fake;
    uint32_t fake_iterations; /* iteration count shown for unknown users */
    int state;
    char cb_flag; /* 'n', 'y' or 'p' */
    char cb_type[32];
    char gs2[WB_SCRAM_MSG_MAX]; /* gs2-header, as received */
    size_t gs2_len;
    char bare[WB_SCRAM_MSG_MAX]; /* client-first-message-bare */
    char user[WB_SCRAM_NAME_MAX];
    char snonce[WB_SCRAM_NONCE_MAX]; /* fixed server nonce (test hook) or "" */
    char nonce[2 * WB_SCRAM_NONCE_MAX];
    char sfirst[WB_SCRAM_MSG_MAX]; /* server-first-message */
    wb_scram_cred cred;
};

struct wb_scram_client {
    wb_scram_hash h;
    int state;
    char user[3 * WB_SCRAM_NAME_MAX]; /* escaped saslname */
    char pass[WB_SCRAM_PASS_MAX];
    char gs2[64];
    bool cb;
    char cnonce[WB_SCRAM_NONCE_MAX];
    char bare[WB_SCRAM_MSG_MAX];
    uint8_t server_sig[WB_SCRAM_KEY_MAX];
};

/* A field of a comma-separated SCRAM message. */
typedef struct wb_scram_field {
    const char *p;
    size_t len;
} wb_scram_field;

/* Per-process key for the fake salts of unknown users: set once, read-only afterwards. */
static pthread_once_t wb_scram_once = PTHREAD_ONCE_INIT;
static uint8_t wb_scram_fake_key[32];
static int wb_scram_fake_ready;

static void wb_scram_fake_init(void)
{
    wb_scram_fake_ready = RAND_bytes(wb_scram_fake_key, sizeof(wb_scram_fake_key)) == 1;
}

size_t wb_scram_hash_len(wb_scram_hash h)
{
    return h == WB_SCRAM_SHA256 ? 32 : 20;
}

static const EVP_MD *wb_scram_md(wb_scram_hash h)
{
    return h == WB_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

static int wb_scram_hmac(wb_scram_hash h, const uint8_t *key, const void *data, size_t len,
                         uint8_t *out)
{
    unsigned int n = 0;
    const int klen = (int)wb_scram_hash_len(h);
    if (!HMAC(wb_scram_md(h), key, klen, data, len, out, &n) || n != wb_scram_hash_len(h))
        return -1;
    return 0;
}

static int wb_scram_digest(wb_scram_hash h, const uint8_t *data, size_t len, uint8_t *out)
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, wb_scram_md(h), NULL) != 1 || n != wb_scram_hash_len(h))
        return -1;
    return 0;
}

/* Base64 (RFC 4648, padded). Encode writes a NUL-terminated string; decode is strict. */
static void wb_scram_b64(char *out, size_t size, const uint8_t *bin, size_t len)
{
    sodium_bin2base64(out, size, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

static int wb_scram_unb64(uint8_t *out, size_t size, const char *s, size_t len, size_t *out_len)
{
    if (len == 0) {
        *out_len = 0;
        return 0;
    }
    return sodium_base642bin(out, size, s, len, NULL, out_len, NULL,
                             sodium_base64_VARIANT_ORIGINAL);
}

/* SaltedPassword := Hi(SASLprep(password), salt, i); the raw bytes when SASLprep fails. */
static int wb_scram_salted(wb_scram_hash h, const char *password, const uint8_t *salt,
                           size_t salt_len, uint32_t iter, uint8_t *out)
{
    char prep[WB_SCRAM_PREP_MAX];
    const size_t plen = strlen(password);
    if (plen >= WB_SCRAM_PASS_MAX || iter == 0 || salt_len == 0 || salt_len > WB_SCRAM_SALT_MAX)
        return -1;
    memcpy(prep, password, plen + 1);
    if (stringprep(prep, sizeof(prep), 0, stringprep_saslprep) != STRINGPREP_OK)
        memcpy(prep, password, plen + 1);
    const int rc = PKCS5_PBKDF2_HMAC(prep, (int)strlen(prep), salt, (int)salt_len, (int)iter,
                                     wb_scram_md(h), (int)wb_scram_hash_len(h), out);
    OPENSSL_cleanse(prep, sizeof(prep));
    return rc == 1 ? 0 : -1;
}

/* ClientKey, StoredKey and ServerKey from SaltedPassword. */
static int wb_scram_keys(wb_scram_hash h, const uint8_t *salted, uint8_t *client_key,
                         wb_scram_cred *cred)
{
    if (wb_scram_hmac(h, salted, "Client Key", 10, client_key) < 0 ||
        wb_scram_digest(h, client_key, wb_scram_hash_len(h), cred->stored_key) < 0 ||
        wb_scram_hmac(h, salted, "Server Key", 10, cred->server_key) < 0)
        return -1;
    return 0;
}

int wb_scram_cred_with_salt(wb_scram_hash h, const char *password, const uint8_t *salt,
                            size_t salt_len, uint32_t iterations, wb_scram_cred *out)
{
    uint8_t salted[WB_SCRAM_KEY_MAX], ck[WB_SCRAM_KEY_MAX];
    int ret = -1;
    memset(out, 0, sizeof(*out));
    if (wb_scram_salted(h, password, salt, salt_len, iterations, salted) < 0)
        goto done;
    if (wb_scram_keys(h, salted, ck, out) < 0)
        goto done;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    ret = 0;
done:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ck, sizeof(ck));
    if (ret < 0)
        OPENSSL_cleanse(out, sizeof(*out));
    return ret;
}

int wb_scram_cred_new(wb_scram_hash h, const char *password, uint32_t iterations,
                      wb_scram_cred *out)
{
    uint8_t salt[16];
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -1;
    return wb_scram_cred_with_salt(h, password, salt, sizeof(salt), iterations, out);
}

bool wb_scram_cred_check(wb_scram_hash h, const wb_scram_cred *cred, const char *password)
{
    wb_scram_cred tmp;
    const size_t n = wb_scram_hash_len(h);
    if (wb_scram_cred_with_salt(h, password, cred->salt, cred->salt_len, cred->iterations, &tmp) <
        0)
        return false;
    const int diff = CRYPTO_memcmp(tmp.stored_key, cred->stored_key, n) |
                     CRYPTO_memcmp(tmp.server_key, cred->server_key, n);
    OPENSSL_cleanse(&tmp, sizeof(tmp));
    return diff == 0;
}

/* ---- Message syntax ---- */

/* Takes the next comma-separated field from *msg, *len (which may be empty). 0, or -1 at the end.
 */
static int wb_scram_next(const char **msg, size_t *len, bool *more, wb_scram_field *f)
{
    if (!*more)
        return -1;
    const char *comma = memchr(*msg, ',', *len);
    f->p = *msg;
    f->len = comma ? (size_t)(comma - *msg) : *len;
    *more = comma != NULL;
    *msg += f->len + (comma ? 1 : 0);
    *len -= f->len + (comma ? 1 : 0);
    return 0;
}

/* True if the field is "<name>=value"; then points *v, *vlen at the value. */
static bool wb_scram_is(const wb_scram_field *f, char name, const char **v, size_t *vlen)
{
    if (f->len < 2 || f->p[0] != name || f->p[1] != '=')
        return false;
    *v = f->p + 2;
    *vlen = f->len - 2;
    return true;
}

/* An extension attribute: ALPHA "=" value. */
static bool wb_scram_is_ext(const wb_scram_field *f)
{
    const char c = f->len >= 2 ? f->p[0] : 0;
    return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) && f->p[1] == '=';
}

/* printable = %x21-2B / %x2D-7E, at least one, below max. */
static bool wb_scram_nonce_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len >= max)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x21 || s[i] > 0x7E || s[i] == ',')
            return false;
    }
    return true;
}

/* Decodes a saslname (=2C and =3D only) into out; -1 on bad escapes, NUL or overflow. */
static int wb_scram_unescape(char *out, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\0' || o + 1 >= size)
            return -1;
        if (c == '=') {
            if (len - i >= 3 && s[i + 1] == '2' && s[i + 2] == 'C')
                c = ',';
            else if (len - i >= 3 && s[i + 1] == '3' && s[i + 2] == 'D')
                c = '=';
            else
                return -1;
            i += 2;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* ---- Server ---- */

wb_scram_server *wb_scram_server_new(wb_scram_hash h, bool plus, bool server_offers_plus)
{
    wb_scram_server *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->h = h;
    s->plus = plus;
    s->offers_plus = server_offers_plus;
    return s;
}

void wb_scram_server_free(wb_scram_server *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

void wb_scram_server_set_nonce(wb_scram_server *s, const char *nonce)
{
    if (wb_scram_nonce_ok(nonce, strlen(nonce), sizeof(s->snonce)))
        memcpy(s->snonce, nonce, strlen(nonce) + 1);
}

const char *wb_scram_server_cb_type(const wb_scram_server *s)
{
    return s->cb_flag == 'p' ? s->cb_type : NULL;
}

/* gs2-cbind-flag against the mechanism: 0 or a wb_sasl_err. */
static int wb_scram_server_cbflag(wb_scram_server *s, const wb_scram_field *f)
{
    const char *v;
    size_t vlen;
    if (wb_scram_is(f, 'p', &v, &vlen)) {
        if (!s->plus)
            return WB_SASL_MALFORMED_REQUEST;
        if ((vlen != 12 || memcmp(v, "tls-exporter", 12) != 0) &&
            (vlen != 20 || memcmp(v, "tls-server-end-point", 20) != 0))
            return WB_SASL_MALFORMED_REQUEST;
        memcpy(s->cb_type, v, vlen);
        s->cb_type[vlen] = '\0';
        s->cb_flag = 'p';
        return 0;
    }
    if (f->len != 1 || (f->p[0] != 'n' && f->p[0] != 'y') || s->plus)
        return WB_SASL_MALFORMED_REQUEST;
    s->cb_flag = f->p[0];
    /* "y": the client could bind but thinks we cannot; we offered -PLUS, so it was stripped. */
    return s->cb_flag == 'y' && s->offers_plus ? WB_SASL_NOT_AUTHORIZED : 0;
}

/* An authorization identity is allowed only when it names the user itself. */
static int wb_scram_server_authzid(const wb_scram_server *s, const wb_scram_field *f)
{
    char authz[WB_SCRAM_NAME_MAX];
    const char *v;
    size_t vlen;
    if (f->len == 0)
        return 0;
    if (!wb_scram_is(f, 'a', &v, &vlen) || wb_scram_unescape(authz, sizeof(authz), v, vlen) < 0)
        return WB_SASL_MALFORMED_REQUEST;
    const size_t ulen = strlen(s->user);
    if (strcmp(authz, s->user) == 0 || (strncmp(authz, s->user, ulen) == 0 && authz[ulen] == '@'))
        return 0;
    return WB_SASL_INVALID_AUTHZID;
}

/* client-first-message-bare: n=user,r=nonce[,ext...]. 0 or a wb_sasl_err. */
static int wb_scram_server_bare(wb_scram_server *s, const char *msg, size_t len, bool more)
{
    wb_scram_field f;
    const char *v;
    size_t vlen;
    if (len >= sizeof(s->bare))
        return WB_SASL_MALFORMED_REQUEST;
    memcpy(s->bare, msg, len);
    s->bare[len] = '\0';
    if (wb_scram_next(&msg, &len, &more, &f) < 0 || !wb_scram_is(&f, 'n', &v, &vlen) || vlen == 0 ||
        wb_scram_unescape(s->user, sizeof(s->user), v, vlen) < 0)
        return WB_SASL_MALFORMED_REQUEST; /* also "m=" mandatory extensions */
    if (wb_scram_next(&msg, &len, &more, &f) < 0 || !wb_scram_is(&f, 'r', &v, &vlen) ||
        !wb_scram_nonce_ok(v, vlen, WB_SCRAM_NONCE_MAX))
        return WB_SASL_MALFORMED_REQUEST;
    memcpy(s->nonce, v, vlen);
    s->nonce[vlen] = '\0';
    while (wb_scram_next(&msg, &len, &more, &f) == 0) {
        if (!wb_scram_is_ext(&f))
            return WB_SASL_MALFORMED_REQUEST;
    }
    return 0;
}

int wb_scram_server_client_first(wb_scram_server *s, const char *msg, size_t len,
                                 const char **username)
{
    wb_scram_field flag, authz;
    bool more = true;
    const char *p = msg;
    size_t left = len;
    int err = WB_SASL_MALFORMED_REQUEST;
    if (s->state != WB_SCRAM_ST_START || len >= WB_SCRAM_MSG_MAX || memchr(msg, '\0', len))
        goto fail;
    if (wb_scram_next(&p, &left, &more, &flag) < 0 || wb_scram_next(&p, &left, &more, &authz) < 0 ||
        !more)
        goto fail;
    if ((err = wb_scram_server_cbflag(s, &flag)) != 0)
        goto fail;
    s->gs2_len = len - left;
    memcpy(s->gs2, msg, s->gs2_len);
    if ((err = wb_scram_server_bare(s, p, left, true)) != 0)
        goto fail;
    if ((err = wb_scram_server_authzid(s, &authz)) != 0)
        goto fail;
    s->state = WB_SCRAM_ST_FIRST;
    *username = s->user;
    return 0;
fail:
    s->state = WB_SCRAM_ST_FAIL;
    return err;
}

/* Credentials that look real for a user that does not exist, and never verify. */
static int wb_scram_server_fake(wb_scram_server *s)
{
    uint8_t mac[32];
    unsigned int n = 0;
    pthread_once(&wb_scram_once, wb_scram_fake_init);
    if (!wb_scram_fake_ready ||
        !HMAC(EVP_sha256(), wb_scram_fake_key, sizeof(wb_scram_fake_key), (const uint8_t *)s->user,
              strlen(s->user), mac, &n) ||
        RAND_bytes(s->cred.stored_key, sizeof(s->cred.stored_key)) != 1 ||
        RAND_bytes(s->cred.server_key, sizeof(s->cred.server_key)) != 1)
        return -1;
    memcpy(s->cred.salt, mac, 16);
    s->cred.salt_len = 16;
    s->cred.iterations = s->fake_iterations ? s->fake_iterations : WB_SCRAM_FAKE_ITER;
    s->fake = true;
    return 0;
}

void wb_scram_server_set_fake_iterations(wb_scram_server *s, uint32_t iterations)
{
    s->fake_iterations = iterations;
}

int wb_scram_server_first(wb_scram_server *s, const wb_scram_cred *cred, wb_buf *out)
{
    char salt[WB_SCRAM_B64(WB_SCRAM_SALT_MAX)], rnd[WB_SCRAM_B64(WB_SCRAM_NONCE_RND)];
    uint8_t bytes[WB_SCRAM_NONCE_RND];
    if (s->state != WB_SCRAM_ST_FIRST)
        goto fail;
    if (cred && (cred->salt_len == 0 || cred->salt_len > WB_SCRAM_SALT_MAX || !cred->iterations))
        goto fail;
    if (cred)
        s->cred = *cred;
    else if (wb_scram_server_fake(s) < 0)
        goto fail;
    if (!s->snonce[0]) {
        if (RAND_bytes(bytes, sizeof(bytes)) != 1)
            goto fail;
        wb_scram_b64(rnd, sizeof(rnd), bytes, sizeof(bytes));
        memcpy(s->snonce, rnd, strlen(rnd) + 1);
    }
    strcat(s->nonce, s->snonce); /* both bounded by WB_SCRAM_NONCE_MAX */
    wb_scram_b64(salt, sizeof(salt), s->cred.salt, s->cred.salt_len);
    const int n = snprintf(s->sfirst, sizeof(s->sfirst), "r=%s,s=%s,i=%u", s->nonce, salt,
                           (unsigned)s->cred.iterations);
    if (n < 0 || (size_t)n >= sizeof(s->sfirst) || wb_buf_append(out, s->sfirst, (size_t)n) < 0)
        goto fail;
    s->state = WB_SCRAM_ST_SENT;
    return 0;
fail:
    s->state = WB_SCRAM_ST_FAIL;
    return -1; /* an internal failure, not the client's fault: temporary-auth-failure */
}

/* c= must be base64(gs2-header + channel-binding data). 0 or a wb_sasl_err. */
static int wb_scram_server_check_cb(const wb_scram_server *s, const char *v, size_t vlen,
                                    const uint8_t *cb, size_t cb_len)
{
    uint8_t got[WB_SCRAM_MSG_MAX + WB_SCRAM_CB_MAX], want[WB_SCRAM_MSG_MAX + WB_SCRAM_CB_MAX];
    size_t got_len = 0;
    if (wb_scram_unb64(got, sizeof(got), v, vlen, &got_len) != 0)
        return WB_SASL_INCORRECT_ENCODING;
    if (s->cb_flag == 'p' && (!cb || cb_len == 0 || cb_len > WB_SCRAM_CB_MAX))
        return WB_SASL_NOT_AUTHORIZED;
    const size_t extra = s->cb_flag == 'p' ? cb_len : 0;
    memcpy(want, s->gs2, s->gs2_len);
    if (extra)
        memcpy(want + s->gs2_len, cb, extra);
    if (got_len != s->gs2_len + extra || CRYPTO_memcmp(got, want, got_len) != 0)
        return WB_SASL_NOT_AUTHORIZED;
    return 0;
}

/* Checks the proof over AuthMessage and writes the server signature. 0 or a wb_sasl_err. */
static int wb_scram_server_proof(wb_scram_server *s, const char *nop, size_t nop_len,
                                 const uint8_t *proof, uint8_t *server_sig)
{
    char am[3 * WB_SCRAM_MSG_MAX];
    uint8_t sig[WB_SCRAM_KEY_MAX], ck[WB_SCRAM_KEY_MAX], sk[WB_SCRAM_KEY_MAX];
    const size_t hl = wb_scram_hash_len(s->h);
    int err = WB_SASL_TEMPORARY_AUTH_FAILURE;
    const int n = snprintf(am, sizeof(am), "%s,%s,%.*s", s->bare, s->sfirst, (int)nop_len, nop);
    if (n < 0 || (size_t)n >= sizeof(am))
        goto done;
    if (wb_scram_hmac(s->h, s->cred.stored_key, am, (size_t)n, sig) < 0)
        goto done;
    for (size_t i = 0; i < hl; i++)
        ck[i] = proof[i] ^ sig[i];
    if (wb_scram_digest(s->h, ck, hl, sk) < 0 ||
        wb_scram_hmac(s->h, s->cred.server_key, am, (size_t)n, server_sig) < 0)
        goto done;
    const int diff = CRYPTO_memcmp(sk, s->cred.stored_key, hl);
    err = (diff != 0 || s->fake) ? WB_SASL_NOT_AUTHORIZED : 0;
done:
    OPENSSL_cleanse(ck, sizeof(ck));
    OPENSSL_cleanse(sig, sizeof(sig));
    OPENSSL_cleanse(sk, sizeof(sk));
    return err;
}

/* Splits client-final-message into c=, r= and p= (extensions between r and p are ignored). */
static int wb_scram_server_split(const char *msg, size_t len, wb_scram_field *c, wb_scram_field *r,
                                 wb_scram_field *p, size_t *nop_len)
{
    bool more = true;
    const char *cur = msg;
    size_t left = len;
    wb_scram_field f;
    if (wb_scram_next(&cur, &left, &more, c) < 0 || c->len < 2 || memcmp(c->p, "c=", 2) != 0 ||
        wb_scram_next(&cur, &left, &more, r) < 0 || r->len < 2 || memcmp(r->p, "r=", 2) != 0)
        return WB_SASL_MALFORMED_REQUEST;
    while (wb_scram_next(&cur, &left, &more, &f) == 0) {
        if (!more && f.len >= 2 && memcmp(f.p, "p=", 2) == 0) {
            *p = f;
            *nop_len = (size_t)(f.p - msg) - 1;
            return 0;
        }
        if (!wb_scram_is_ext(&f))
            break;
    }
    return WB_SASL_MALFORMED_REQUEST;
}

int wb_scram_server_final(wb_scram_server *s, const char *msg, size_t len, const uint8_t *cb,
                          size_t cb_len, wb_buf *out)
{
    wb_scram_field c, r, p;
    uint8_t proof[WB_SCRAM_KEY_MAX + 3], ssig[WB_SCRAM_KEY_MAX];
    char v[WB_SCRAM_B64(WB_SCRAM_KEY_MAX)];
    size_t nop_len = 0, proof_len = 0;
    int err = WB_SASL_MALFORMED_REQUEST;
    if (s->state != WB_SCRAM_ST_SENT || len >= WB_SCRAM_MSG_MAX || memchr(msg, '\0', len))
        goto fail;
    if ((err = wb_scram_server_split(msg, len, &c, &r, &p, &nop_len)) != 0)
        goto fail;
    err = WB_SASL_MALFORMED_REQUEST;
    if (r.len - 2 != strlen(s->nonce) || memcmp(r.p + 2, s->nonce, r.len - 2) != 0)
        goto fail;
    if ((err = wb_scram_server_check_cb(s, c.p + 2, c.len - 2, cb, cb_len)) != 0)
        goto fail;
    err = WB_SASL_INCORRECT_ENCODING;
    if (wb_scram_unb64(proof, sizeof(proof), p.p + 2, p.len - 2, &proof_len) != 0)
        goto fail;
    err = WB_SASL_MALFORMED_REQUEST;
    if (proof_len != wb_scram_hash_len(s->h))
        goto fail;
    if ((err = wb_scram_server_proof(s, msg, nop_len, proof, ssig)) != 0)
        goto fail;
    wb_scram_b64(v, sizeof(v), ssig, wb_scram_hash_len(s->h));
    err = WB_SASL_TEMPORARY_AUTH_FAILURE;
    if (wb_buf_puts(out, "v=") < 0 || wb_buf_puts(out, v) < 0)
        goto fail;
    s->state = WB_SCRAM_ST_DONE;
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    return 0;
fail:
    s->state = WB_SCRAM_ST_FAIL;
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    return err;
}

/* ---- Client ---- */

wb_scram_client *wb_scram_client_new(wb_scram_hash h, const char *user, const char *password,
                                     const char *cb_type)
{
    if (strlen(password) >= WB_SCRAM_PASS_MAX || strlen(user) >= WB_SCRAM_NAME_MAX || !*user)
        return NULL;
    if (cb_type && strcmp(cb_type, "tls-exporter") != 0 &&
        strcmp(cb_type, "tls-server-end-point") != 0)
        return NULL;
    wb_scram_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->h = h;
    size_t o = 0;
    for (const char *p = user; *p; p++) {
        const char *rep = *p == ',' ? "=2C" : *p == '=' ? "=3D" : NULL;
        if (rep) {
            memcpy(c->user + o, rep, 3);
            o += 3;
        } else {
            c->user[o++] = *p;
        }
    }
    memcpy(c->pass, password, strlen(password) + 1);
    c->cb = cb_type != NULL;
    snprintf(c->gs2, sizeof(c->gs2), "%s%s,,", cb_type ? "p=" : "n", cb_type ? cb_type : "");
    return c;
}

void wb_scram_client_free(wb_scram_client *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

void wb_scram_client_set_nonce(wb_scram_client *c, const char *nonce)
{
    if (wb_scram_nonce_ok(nonce, strlen(nonce), sizeof(c->cnonce)))
        memcpy(c->cnonce, nonce, strlen(nonce) + 1);
}

int wb_scram_client_first(wb_scram_client *c, wb_buf *out)
{
    uint8_t bytes[WB_SCRAM_NONCE_RND];
    if (c->state != WB_SCRAM_ST_START)
        return -1;
    if (!c->cnonce[0]) {
        if (RAND_bytes(bytes, sizeof(bytes)) != 1)
            return -1;
        wb_scram_b64(c->cnonce, sizeof(c->cnonce), bytes, sizeof(bytes));
    }
    const int n = snprintf(c->bare, sizeof(c->bare), "n=%s,r=%s", c->user, c->cnonce);
    if (n < 0 || (size_t)n >= sizeof(c->bare) || wb_buf_puts(out, c->gs2) < 0 ||
        wb_buf_puts(out, c->bare) < 0)
        return -1;
    c->state = WB_SCRAM_ST_SENT;
    return 0;
}

/* Parses server-first-message: r= (our nonce + more), s=, i=. Returns 0 or -1. */
static int wb_scram_client_parse_first(const wb_scram_client *c, const char *msg, size_t len,
                                       wb_scram_field *r, uint8_t *salt, size_t *salt_len,
                                       uint32_t *iter)
{
    wb_scram_field s, i;
    bool more = true;
    const size_t cn = strlen(c->cnonce);
    if (wb_scram_next(&msg, &len, &more, r) < 0 || !wb_scram_is(r, 'r', &r->p, &r->len) ||
        wb_scram_next(&msg, &len, &more, &s) < 0 || !wb_scram_is(&s, 's', &s.p, &s.len) ||
        wb_scram_next(&msg, &len, &more, &i) < 0 || !wb_scram_is(&i, 'i', &i.p, &i.len))
        return -1;
    if (r->len <= cn || memcmp(r->p, c->cnonce, cn) != 0 ||
        !wb_scram_nonce_ok(r->p, r->len, 2 * WB_SCRAM_NONCE_MAX))
        return -1;
    if (wb_scram_unb64(salt, WB_SCRAM_SALT_MAX, s.p, s.len, salt_len) != 0 || *salt_len == 0)
        return -1;
    uint64_t n = 0;
    for (size_t k = 0; k < i.len; k++) {
        if (i.p[k] < '0' || i.p[k] > '9' ||
            (n = n * 10 + (uint64_t)(i.p[k] - '0')) > WB_SCRAM_ITER_MAX)
            return -1;
    }
    if (i.len == 0 || n == 0)
        return -1;
    *iter = (uint32_t)n;
    return 0;
}

/* client-final-message-without-proof: c=base64(gs2 [+ cb]),r=nonce. */
static int wb_scram_client_nop(const wb_scram_client *c, const wb_scram_field *r, const uint8_t *cb,
                               size_t cb_len, char *out, size_t size)
{
    uint8_t bind[64 + WB_SCRAM_CB_MAX];
    char b64[WB_SCRAM_B64(sizeof(bind))];
    const size_t gl = strlen(c->gs2);
    if (c->cb && (!cb || cb_len == 0 || cb_len > WB_SCRAM_CB_MAX))
        return -1;
    memcpy(bind, c->gs2, gl);
    if (c->cb)
        memcpy(bind + gl, cb, cb_len);
    wb_scram_b64(b64, sizeof(b64), bind, gl + (c->cb ? cb_len : 0));
    const int n = snprintf(out, size, "c=%s,r=%.*s", b64, (int)r->len, r->p);
    return (n < 0 || (size_t)n >= size) ? -1 : n;
}

int wb_scram_client_final(wb_scram_client *c, const char *server_first, size_t len,
                          const uint8_t *cb, size_t cb_len, wb_buf *out)
{
    wb_scram_field r;
    uint8_t salt[WB_SCRAM_SALT_MAX], salted[WB_SCRAM_KEY_MAX], ck[WB_SCRAM_KEY_MAX];
    uint8_t sig[WB_SCRAM_KEY_MAX];
    wb_scram_cred keys;
    char nop[WB_SCRAM_MSG_MAX], am[3 * WB_SCRAM_MSG_MAX], p64[WB_SCRAM_B64(WB_SCRAM_KEY_MAX)];
    size_t salt_len = 0;
    uint32_t iter = 0;
    const size_t hl = wb_scram_hash_len(c->h);
    int ret = -1, nl, al;
    if (c->state != WB_SCRAM_ST_SENT || len >= WB_SCRAM_MSG_MAX || memchr(server_first, '\0', len))
        goto done;
    if (wb_scram_client_parse_first(c, server_first, len, &r, salt, &salt_len, &iter) < 0 ||
        (nl = wb_scram_client_nop(c, &r, cb, cb_len, nop, sizeof(nop))) < 0)
        goto done;
    al = snprintf(am, sizeof(am), "%s,%.*s,%s", c->bare, (int)len, server_first, nop);
    if (al < 0 || (size_t)al >= sizeof(am) ||
        wb_scram_salted(c->h, c->pass, salt, salt_len, iter, salted) < 0 ||
        wb_scram_keys(c->h, salted, ck, &keys) < 0 ||
        wb_scram_hmac(c->h, keys.stored_key, am, (size_t)al, sig) < 0 ||
        wb_scram_hmac(c->h, keys.server_key, am, (size_t)al, c->server_sig) < 0)
        goto done;
    for (size_t i = 0; i < hl; i++)
        ck[i] ^= sig[i];
    wb_scram_b64(p64, sizeof(p64), ck, hl);
    if (wb_buf_append(out, nop, (size_t)nl) < 0 || wb_buf_puts(out, ",p=") < 0 ||
        wb_buf_puts(out, p64) < 0)
        goto done;
    c->state = WB_SCRAM_ST_DONE;
    ret = 0;
done:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ck, sizeof(ck));
    OPENSSL_cleanse(&keys, sizeof(keys));
    if (ret < 0)
        c->state = WB_SCRAM_ST_FAIL;
    return ret;
}

int wb_scram_client_verify(wb_scram_client *c, const char *server_final, size_t len)
{
    uint8_t v[WB_SCRAM_KEY_MAX + 3];
    size_t vlen = 0;
    const char *comma = memchr(server_final, ',', len);
    const size_t flen = comma ? (size_t)(comma - server_final) : len;
    if (c->state != WB_SCRAM_ST_DONE || flen < 2 || memcmp(server_final, "v=", 2) != 0)
        return -1;
    if (wb_scram_unb64(v, sizeof(v), server_final + 2, flen - 2, &vlen) != 0 ||
        vlen != wb_scram_hash_len(c->h))
        return -1;
    return CRYPTO_memcmp(v, c->server_sig, vlen) == 0 ? 0 : -1;
}
