/* Storage for the admin API and warblerctl's admin commands: a locked pool of blocking
 * connections, admin users with Argon2id and vault-sealed TOTP, hashed tokens and API keys. */
#include "wb_store_admin.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <liboath/oath.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WB_SA_POOL_MAX    16
#define WB_SA_SECRET_LEN  20 /* TOTP secret (RFC 4226 recommends 160 bits) */
#define WB_SA_TOTP_STEP   30
#define WB_SA_TOTP_WINDOW 1
#define WB_SA_HASH_LEN    32
#define WB_SA_RAW_TOKEN   32
#define WB_SA_ISO_TIME    "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

struct wb_store_admin_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *dsn;
    int size;
    wb_pg *conns[WB_SA_POOL_MAX];
    bool busy[WB_SA_POOL_MAX];
};

/* ---- pool ---- */

wb_store_admin_pool *wb_store_admin_pool_new(const char *dsn, int size)
{
    wb_store_admin_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->dsn = strdup(dsn);
    if (p->dsn == NULL) {
        free(p);
        return NULL;
    }
    p->size = size < 1 ? 1 : size > WB_SA_POOL_MAX ? WB_SA_POOL_MAX : size;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    oath_init();
    return p;
}

void wb_store_admin_pool_free(wb_store_admin_pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->size; i++)
        wb_store_sync_close(p->conns[i]);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p->dsn);
    free(p);
}

wb_pg *wb_store_admin_acquire(wb_store_admin_pool *p)
{
    int slot = -1;
    pthread_mutex_lock(&p->lock);
    while (slot < 0) {
        for (int i = 0; i < p->size && slot < 0; i++)
            if (!p->busy[i])
                slot = i;
        if (slot < 0)
            pthread_cond_wait(&p->freed, &p->lock);
    }
    p->busy[slot] = true;
    wb_pg *pg = p->conns[slot];
    p->conns[slot] = NULL;
    pthread_mutex_unlock(&p->lock);
    if (pg != NULL && PQstatus(pg) != CONNECTION_OK) {
        wb_store_sync_close(pg);
        pg = NULL;
    }
    if (pg == NULL)
        pg = wb_store_sync_connect(p->dsn, 0);
    if (pg == NULL) {
        pthread_mutex_lock(&p->lock);
        p->busy[slot] = false;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->lock);
    }
    return pg;
}

void wb_store_admin_release(wb_store_admin_pool *p, wb_pg *pg)
{
    if (pg == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->size; i++) {
        if (p->busy[i] && p->conns[i] == NULL) {
            p->conns[i] = pg;
            p->busy[i] = false;
            pg = NULL;
            break;
        }
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
    wb_store_sync_close(pg); /* only if no slot took it back (cannot happen) */
}

/* ---- helpers ---- */

static void wb_sa_db_error(char *err, size_t errsize, PGconn *pg, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (msg[0] == '\0')
        msg = PQerrorMessage(pg);
    const int n = (int)strcspn(msg, "\r\n");
    snprintf(err, errsize, "database error: %.*s", n, msg);
}

/* One parameterised statement (text parameters unless lengths says binary); NULL and err set
 * unless its status is `want`. */
static PGresult *wb_sa_run(PGconn *pg, const char *sql, int n, const char *const *values,
                           const int *lengths, ExecStatusType want, char *err, size_t errsize)
{
    int formats[8] = {0};
    for (int i = 0; lengths != NULL && i < n && i < 8; i++)
        formats[i] = lengths[i] > 0;
    PGresult *res = PQexecParams(pg, sql, n, NULL, values, lengths, formats, 0);
    if (PQresultStatus(res) != want) {
        wb_sa_db_error(err, errsize, pg, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

static void wb_sa_copy(char *out, size_t size, const char *in)
{
    snprintf(out, size, "%s", in ? in : "");
}

bool wb_store_admin_role_valid(const char *role)
{
    static const char *const roles[] = {"superadmin", "operator", "auditor", "dpo"};
    for (size_t i = 0; role != NULL && i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(role, roles[i]) == 0)
            return true;
    return false;
}

bool wb_store_admin_name_valid(const char *name)
{
    const size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > WB_SA_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}

static void wb_sa_hash(const char *secret, uint8_t out[WB_SA_HASH_LEN])
{
    crypto_generichash(out, WB_SA_HASH_LEN, (const uint8_t *)secret, strlen(secret), NULL, 0);
}

/* prefix + base64url of 32 random bytes into out (WB_SA_TOKEN_MAX). */
static void wb_sa_new_token(const char *prefix, char out[WB_SA_TOKEN_MAX])
{
    uint8_t raw[WB_SA_RAW_TOKEN];
    const size_t plen = strlen(prefix);
    randombytes_buf(raw, sizeof(raw));
    memcpy(out, prefix, plen);
    sodium_bin2base64(out + plen, WB_SA_TOKEN_MAX - plen, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
}

/* ---- admin users ---- */

/* Seals secret for admin id: a fresh data key wrapped by the master key, the secret under it. */
static int wb_sa_seal_secret(wb_vault *v, int64_t id, const uint8_t *secret,
                             uint8_t wrapped[WB_VAULT_WRAPPED_BYTES],
                             uint8_t master_id[WB_VAULT_ID_BYTES],
                             uint8_t sealed[WB_VAULT_OVERHEAD + WB_SA_SECRET_LEN])
{
    char ad[64];
    wb_vault_key *k = wb_vault_key_new(v, -id, wrapped, master_id);
    if (k == NULL)
        return -1;
    snprintf(ad, sizeof(ad), "admin_totp:%lld", (long long)id);
    const int rc = wb_vault_seal(k, ad, secret, WB_SA_SECRET_LEN, sealed);
    wb_vault_key_unref(k);
    return rc;
}

static wb_sa_rc wb_sa_insert(PGconn *pg, wb_vault *v, const char *name, const char *role,
                             const char *pw_hash, const uint8_t *secret, char *err, size_t errsize)
{
    uint8_t wrapped[WB_VAULT_WRAPPED_BYTES], master_id[WB_VAULT_ID_BYTES];
    uint8_t sealed[WB_VAULT_OVERHEAD + WB_SA_SECRET_LEN];
    PGresult *res = wb_sa_run(pg, "SELECT nextval('admin_users_id_seq')", 0, NULL, NULL,
                              PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    char id[32];
    wb_sa_copy(id, sizeof(id), PQgetvalue(res, 0, 0));
    PQclear(res);
    if (wb_sa_seal_secret(v, strtoll(id, NULL, 10), secret, wrapped, master_id, sealed) < 0) {
        snprintf(err, errsize, "cannot seal the TOTP secret with the master key");
        return WB_SA_ERROR;
    }
    const char *const values[] = {id,
                                  name,
                                  role,
                                  pw_hash,
                                  (const char *)master_id,
                                  (const char *)wrapped,
                                  (const char *)sealed};
    const int lengths[] = {0, 0, 0, 0, sizeof(master_id), sizeof(wrapped), sizeof(sealed)};
    res = wb_sa_run(pg,
                    "INSERT INTO admin_users (id, name, role, pw_hash, totp_master_id, totp_key, "
                    "totp_sealed) VALUES ($1::bigint, $2, $3, $4, $5, $6, $7) "
                    "ON CONFLICT (name) DO NOTHING RETURNING id",
                    7, values, lengths, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const int n = PQntuples(res);
    PQclear(res);
    if (n == 0) {
        snprintf(err, errsize, "admin %s already exists", name);
        return WB_SA_EXISTS;
    }
    return WB_SA_OK;
}

wb_sa_rc wb_store_admin_create(wb_pg *pg, wb_vault *v, const char *name, const char *role,
                               const char *password, char totp_b32[WB_SA_TOTP_B32_MAX], char *err,
                               size_t errsize)
{
    char pw_hash[crypto_pwhash_STRBYTES];
    uint8_t secret[WB_SA_SECRET_LEN];
    char *b32 = NULL;
    size_t b32len = 0;
    if (!wb_store_admin_name_valid(name) || !wb_store_admin_role_valid(role)) {
        snprintf(err, errsize, "invalid admin name or role");
        return WB_SA_ERROR;
    }
    if (crypto_pwhash_str(pw_hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        snprintf(err, errsize, "cannot hash the password (out of memory)");
        return WB_SA_ERROR;
    }
    oath_init();
    randombytes_buf(secret, sizeof(secret));
    if (oath_base32_encode((const char *)secret, sizeof(secret), &b32, &b32len) != OATH_OK ||
        b32len >= WB_SA_TOTP_B32_MAX) {
        free(b32);
        snprintf(err, errsize, "cannot encode the TOTP secret");
        return WB_SA_ERROR;
    }
    const wb_sa_rc rc = wb_sa_insert(pg, v, name, role, pw_hash, secret, err, errsize);
    if (rc == WB_SA_OK) {
        memcpy(totp_b32, b32, b32len);
        totp_b32[b32len] = '\0';
    }
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(b32, b32len);
    free(b32);
    return rc;
}

wb_sa_rc wb_store_admin_delete(wb_pg *pg, const char *name, char *err, size_t errsize)
{
    const char *const values[] = {name};
    PGresult *res = wb_sa_run(pg, "DELETE FROM admin_users WHERE name = $1 RETURNING id", 1, values,
                              NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const int n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        snprintf(err, errsize, "no such admin %s", name);
    return n ? WB_SA_OK : WB_SA_NOT_FOUND;
}

int wb_store_admin_list(wb_pg *pg, void (*fn)(void *arg, const wb_store_admin_info *a), void *arg,
                        char *err, size_t errsize)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT name, role, disabled, " WB_SA_ISO_TIME " FROM admin_users ORDER BY name",
             "created_at");
    PGresult *res = wb_sa_run(pg, sql, 0, NULL, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        wb_store_admin_info a;
        wb_sa_copy(a.name, sizeof(a.name), PQgetvalue(res, i, 0));
        wb_sa_copy(a.role, sizeof(a.role), PQgetvalue(res, i, 1));
        a.disabled = PQgetvalue(res, i, 2)[0] == 't';
        wb_sa_copy(a.created_at, sizeof(a.created_at), PQgetvalue(res, i, 3));
        fn(arg, &a);
    }
    PQclear(res);
    return 0;
}

/* ---- login ---- */

/* An Argon2id hash (interactive limits) of a password nobody has: checked when the name is
 * unknown, so that a login takes as long whether the admin exists or not. */
static const char wb_sa_dummy_hash[crypto_pwhash_STRBYTES] =
    "$argon2id$v=19$m=65536,t=2,p=1$P3h6RUAm5iUYOYhbzcy8jQ$"
    "mdQxtuYzAuoigV8C/10z54aC8zLx9o3tRDJkjYJ2eQY";

/* A bytea column of a text-format result, unescaped (PQfreemem); NULL on failure. */
static uint8_t *wb_sa_bytea(const PGresult *res, int col, size_t *len)
{
    return PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, col), len);
}

/* Opens the admin's TOTP secret (row columns 3..5) and checks code; the matching time step in
 * *step. 0 when it matches, -1 otherwise. */
static int wb_sa_check_totp(wb_vault *v, const PGresult *res, int64_t id, const char *code,
                            uint64_t *step)
{
    char ad[64];
    uint8_t secret[WB_SA_SECRET_LEN];
    size_t mlen = 0, wlen = 0, slen = 0;
    int pos = 0, rc = -1;
    uint8_t *mid = wb_sa_bytea(res, 3, &mlen), *wrapped = wb_sa_bytea(res, 4, &wlen);
    uint8_t *sealed = wb_sa_bytea(res, 5, &slen);
    wb_vault_key *k = NULL;
    if (code == NULL || strlen(code) != 6 || mid == NULL || wrapped == NULL || sealed == NULL ||
        slen != WB_VAULT_OVERHEAD + WB_SA_SECRET_LEN)
        goto out;
    if ((k = wb_vault_key_unwrap(v, -id, mid, mlen, wrapped, wlen)) == NULL)
        goto out;
    snprintf(ad, sizeof(ad), "admin_totp:%lld", (long long)id);
    if (wb_vault_open_sealed(k, ad, sealed, slen, secret) < 0)
        goto out;
    if (oath_totp_validate4((const char *)secret, sizeof(secret), time(NULL), WB_SA_TOTP_STEP, 0,
                            WB_SA_TOTP_WINDOW, &pos, step, 0, code) >= 0)
        rc = 0;
    sodium_memzero(secret, sizeof(secret));
out:
    wb_vault_key_unref(k);
    PQfreemem(mid);
    PQfreemem(wrapped);
    PQfreemem(sealed);
    return rc;
}

/* Records step as used unless it (or a later one) was used already: WB_SA_OK or WB_SA_REPLAY. */
static wb_sa_rc wb_sa_use_step(PGconn *pg, const char *id, uint64_t step, char *err, size_t errsize)
{
    char s[32];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)step);
    const char *const values[] = {id, s};
    PGresult *res = wb_sa_run(pg,
                              "UPDATE admin_users SET totp_last_step = $2::bigint "
                              "WHERE id = $1::bigint AND totp_last_step < $2::bigint RETURNING id",
                              2, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const int n = PQntuples(res);
    PQclear(res);
    return n == 1 ? WB_SA_OK : WB_SA_REPLAY;
}

static wb_sa_rc wb_sa_issue_token(PGconn *pg, const char *id, int lifetime,
                                  wb_store_admin_login_out *out, char *err, size_t errsize)
{
    uint8_t hash[WB_SA_HASH_LEN];
    char secs[16], sql[256];
    wb_sa_new_token("", out->token);
    wb_sa_hash(out->token, hash);
    snprintf(secs, sizeof(secs), "%d", lifetime);
    const char *const values[] = {(const char *)hash, id, secs};
    const int lengths[] = {sizeof(hash), 0, 0};
    snprintf(sql, sizeof(sql),
             "INSERT INTO admin_tokens (hash, admin_id, expires_at) VALUES ($1, $2::bigint, "
             "now() + make_interval(secs => $3::int)) RETURNING " WB_SA_ISO_TIME,
             "expires_at");
    PGresult *res = wb_sa_run(pg, sql, 3, values, lengths, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    wb_sa_copy(out->expires_at, sizeof(out->expires_at), PQgetvalue(res, 0, 0));
    PQclear(res);
    /* Expired tokens are of no use: drop them now and then. */
    PQclear(PQexec(pg, "DELETE FROM admin_tokens WHERE expires_at < now() - interval '1 day'"));
    return WB_SA_OK;
}

wb_sa_rc wb_store_admin_login(wb_pg *pg, wb_vault *v, const char *name, const char *password,
                              const char *totp, int lifetime, wb_store_admin_login_out *out,
                              char *err, size_t errsize)
{
    const char *const values[] = {name};
    uint64_t step = 0;
    memset(out, 0, sizeof(*out));
    PGresult *res = wb_sa_run(pg,
                              "SELECT id, role, pw_hash, totp_master_id, totp_key, totp_sealed "
                              "FROM admin_users WHERE name = $1 AND NOT disabled",
                              1, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    if (PQntuples(res) != 1) {
        PQclear(res);
        const int same_time =
            crypto_pwhash_str_verify(wb_sa_dummy_hash, password, strlen(password));
        (void)same_time;
        return WB_SA_DENIED;
    }
    char id[32];
    wb_sa_copy(id, sizeof(id), PQgetvalue(res, 0, 0));
    wb_sa_copy(out->role, sizeof(out->role), PQgetvalue(res, 0, 1));
    const bool pw_ok =
        crypto_pwhash_str_verify(PQgetvalue(res, 0, 2), password, strlen(password)) == 0;
    const bool totp_ok = pw_ok && wb_sa_check_totp(v, res, strtoll(id, NULL, 10), totp, &step) == 0;
    PQclear(res);
    if (!totp_ok)
        return WB_SA_DENIED;
    const wb_sa_rc rc = wb_sa_use_step(pg, id, step, err, errsize);
    if (rc != WB_SA_OK)
        return rc;
    return wb_sa_issue_token(pg, id, lifetime, out, err, errsize);
}

/* ---- tokens and API keys ---- */

wb_sa_rc wb_store_admin_authenticate(wb_pg *pg, const char *bearer, wb_store_admin_principal *out,
                                     char *err, size_t errsize)
{
    uint8_t hash[WB_SA_HASH_LEN];
    const bool apikey = strncmp(bearer, WB_SA_APIKEY_PREFIX, strlen(WB_SA_APIKEY_PREFIX)) == 0;
    memset(out, 0, sizeof(*out));
    if (strlen(bearer) >= WB_SA_TOKEN_MAX)
        return WB_SA_DENIED;
    wb_sa_hash(bearer, hash);
    const char *const values[] = {(const char *)hash};
    const int lengths[] = {sizeof(hash)};
    /* An API key's last use is noted at most once a minute (one write, not one per call). */
    const char *sql = apikey ? "WITH k AS (SELECT id, name, role, last_used_at FROM admin_apikeys "
                               "WHERE hash = $1 AND (expires_at IS NULL OR expires_at > now())), "
                               "u AS (UPDATE admin_apikeys SET last_used_at = now() WHERE id IN "
                               "(SELECT id FROM k WHERE last_used_at IS NULL OR last_used_at < "
                               "now() - interval '1 minute')) SELECT name, role FROM k"
                             : "SELECT u.name, u.role FROM admin_tokens t JOIN admin_users u "
                               "ON u.id = t.admin_id WHERE t.hash = $1 AND NOT t.revoked "
                               "AND t.expires_at > now() AND NOT u.disabled";
    PGresult *res = wb_sa_run(pg, sql, 1, values, lengths, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const bool found = PQntuples(res) == 1;
    if (found) {
        wb_sa_copy(out->name, sizeof(out->name), PQgetvalue(res, 0, 0));
        wb_sa_copy(out->role, sizeof(out->role), PQgetvalue(res, 0, 1));
        out->apikey = apikey;
    }
    PQclear(res);
    return found ? WB_SA_OK : WB_SA_DENIED;
}

wb_sa_rc wb_store_admin_token_revoke(wb_pg *pg, const char *bearer, char *err, size_t errsize)
{
    uint8_t hash[WB_SA_HASH_LEN];
    wb_sa_hash(bearer, hash);
    const char *const values[] = {(const char *)hash};
    const int lengths[] = {sizeof(hash)};
    PGresult *res = wb_sa_run(pg,
                              "UPDATE admin_tokens SET revoked = true WHERE hash = $1 "
                              "RETURNING admin_id",
                              1, values, lengths, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const int n = PQntuples(res);
    PQclear(res);
    return n ? WB_SA_OK : WB_SA_NOT_FOUND;
}

wb_sa_rc wb_store_admin_apikey_create(wb_pg *pg, const char *name, const char *role, int days,
                                      char key[WB_SA_TOKEN_MAX], char expires_at[WB_SA_TIME_MAX],
                                      char *err, size_t errsize)
{
    uint8_t hash[WB_SA_HASH_LEN];
    char d[16], sql[320];
    if (!wb_store_admin_name_valid(name) || !wb_store_admin_role_valid(role) || days < 0) {
        snprintf(err, errsize, "invalid API key name, role or expiry");
        return WB_SA_ERROR;
    }
    wb_sa_new_token(WB_SA_APIKEY_PREFIX, key);
    wb_sa_hash(key, hash);
    snprintf(d, sizeof(d), "%d", days);
    const char *const values[] = {name, role, (const char *)hash, d};
    const int lengths[] = {0, 0, sizeof(hash), 0};
    snprintf(sql, sizeof(sql),
             "INSERT INTO admin_apikeys (name, role, hash, expires_at) VALUES ($1, $2, $3, "
             "CASE WHEN $4::int > 0 THEN now() + make_interval(days => $4::int) END) "
             "ON CONFLICT (name) DO NOTHING RETURNING coalesce(" WB_SA_ISO_TIME ", '')",
             "expires_at");
    PGresult *res = wb_sa_run(pg, sql, 4, values, lengths, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const int n = PQntuples(res);
    if (n == 1)
        wb_sa_copy(expires_at, WB_SA_TIME_MAX, PQgetvalue(res, 0, 0));
    PQclear(res);
    if (n == 0) {
        sodium_memzero(key, WB_SA_TOKEN_MAX);
        snprintf(err, errsize, "API key %s already exists", name);
        return WB_SA_EXISTS;
    }
    return WB_SA_OK;
}

wb_sa_rc wb_store_admin_set_disabled(wb_pg *pg, const char *name, bool disabled, char *err,
                                     size_t errsize)
{
    const char *const values[] = {name, disabled ? "true" : "false"};
    PGresult *res = wb_sa_run(pg,
                              "WITH u AS (UPDATE admin_users SET disabled = $2::boolean "
                              "WHERE name = $1 RETURNING id), "
                              "t AS (UPDATE admin_tokens SET revoked = true WHERE $2::boolean "
                              "AND admin_id IN (SELECT id FROM u) RETURNING admin_id) "
                              "SELECT id, (SELECT count(*) FROM t) FROM u",
                              2, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const int n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        snprintf(err, errsize, "no such admin %s", name);
    return n ? WB_SA_OK : WB_SA_NOT_FOUND;
}

int wb_store_admin_apikey_list(wb_pg *pg, void (*fn)(void *arg, const wb_store_apikey_info *k),
                               void *arg, char *err, size_t errsize)
{
    char sql[768];
    snprintf(sql, sizeof(sql),
             "SELECT name, role, " WB_SA_ISO_TIME ", coalesce(" WB_SA_ISO_TIME ", ''), "
             "coalesce(expires_at <= now(), false), coalesce(" WB_SA_ISO_TIME ", '') "
             "FROM admin_apikeys ORDER BY name",
             "created_at", "expires_at", "last_used_at");
    PGresult *res = wb_sa_run(pg, sql, 0, NULL, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        wb_store_apikey_info k;
        wb_sa_copy(k.name, sizeof(k.name), PQgetvalue(res, i, 0));
        wb_sa_copy(k.role, sizeof(k.role), PQgetvalue(res, i, 1));
        wb_sa_copy(k.created_at, sizeof(k.created_at), PQgetvalue(res, i, 2));
        wb_sa_copy(k.expires_at, sizeof(k.expires_at), PQgetvalue(res, i, 3));
        k.expired = PQgetvalue(res, i, 4)[0] == 't';
        wb_sa_copy(k.last_used_at, sizeof(k.last_used_at), PQgetvalue(res, i, 5));
        fn(arg, &k);
    }
    PQclear(res);
    return 0;
}

wb_sa_rc wb_store_admin_apikey_revoke(wb_pg *pg, const char *name, char *err, size_t errsize)
{
    const char *const values[] = {name};
    PGresult *res = wb_sa_run(pg, "DELETE FROM admin_apikeys WHERE name = $1 RETURNING id", 1,
                              values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const int n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        snprintf(err, errsize, "no such API key %s", name);
    return n ? WB_SA_OK : WB_SA_NOT_FOUND;
}

/* ---- master-key rotation ---- */

/* Re-wraps the key of row i (id, totp_master_id, totp_key as text) under next_id. 0 or -1. */
static int wb_sa_rewrap_row(PGconn *pg, wb_vault *v, const PGresult *res, int i,
                            const uint8_t next_id[WB_VAULT_ID_BYTES], char *err, size_t errsize)
{
    uint8_t out[WB_VAULT_WRAPPED_BYTES];
    size_t mlen = 0, wlen = 0;
    uint8_t *mid = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 1), &mlen);
    uint8_t *wrapped = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 2), &wlen);
    const int64_t id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    int rc = -1;
    if (mid == NULL || wrapped == NULL ||
        wb_vault_rewrap(v, -id, mid, mlen, wrapped, wlen, out) < 0) {
        snprintf(err, errsize, "the TOTP key of admin %lld does not open", (long long)id);
        goto out;
    }
    const char *const values[] = {PQgetvalue(res, i, 0), (const char *)next_id, (const char *)out};
    const int lengths[] = {0, WB_VAULT_ID_BYTES, sizeof(out)};
    PGresult *u = wb_sa_run(pg,
                            "UPDATE admin_users SET totp_master_id = $2, totp_key = $3 "
                            "WHERE id = $1::bigint",
                            3, values, lengths, PGRES_COMMAND_OK, err, errsize);
    rc = u != NULL ? 0 : -1;
    PQclear(u);
out:
    PQfreemem(mid);
    PQfreemem(wrapped);
    return rc;
}

int wb_store_admin_keys_rewrap(wb_pg *pg, wb_vault *v, char *err, size_t errsize)
{
    uint8_t next_id[WB_VAULT_ID_BYTES];
    if (!wb_vault_rotating(v, NULL, next_id)) {
        snprintf(err, errsize, "no rotation in progress");
        return -1;
    }
    const char *const values[] = {(const char *)next_id};
    const int lengths[] = {WB_VAULT_ID_BYTES};
    PQclear(PQexec(pg, "BEGIN"));
    PGresult *res = wb_sa_run(pg,
                              "SELECT id, totp_master_id, totp_key FROM admin_users "
                              "WHERE totp_master_id <> $1 ORDER BY id FOR UPDATE",
                              1, values, lengths, PGRES_TUPLES_OK, err, errsize);
    int n = res != NULL ? PQntuples(res) : -1;
    for (int i = 0; i < n; i++)
        if (wb_sa_rewrap_row(pg, v, res, i, next_id, err, errsize) < 0)
            n = -1;
    PQclear(res);
    res = n >= 0 ? wb_sa_run(pg, "COMMIT", 0, NULL, NULL, PGRES_COMMAND_OK, err, errsize) : NULL;
    if (res == NULL) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    return n;
}

/* ---- accounts ---- */

static void wb_sa_account_row(const PGresult *res, int i, wb_store_admin_account *a)
{
    wb_sa_copy(a->jid, sizeof(a->jid), PQgetvalue(res, i, 0));
    a->disabled = PQgetvalue(res, i, 1)[0] == 't';
    wb_sa_copy(a->created_at, sizeof(a->created_at), PQgetvalue(res, i, 2));
}

wb_sa_rc wb_store_admin_account_get(wb_pg *pg, const char *node, const char *domain,
                                    wb_store_admin_account *out, char *err, size_t errsize)
{
    char sql[256];
    const char *const values[] = {domain, node};
    snprintf(sql, sizeof(sql),
             "SELECT node || '@' || domain, disabled, " WB_SA_ISO_TIME
             " FROM accounts WHERE domain = $1 AND node = $2",
             "created_at");
    PGresult *res = wb_sa_run(pg, sql, 2, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const bool found = PQntuples(res) == 1;
    if (found)
        wb_sa_account_row(res, 0, out);
    PQclear(res);
    return found ? WB_SA_OK : WB_SA_NOT_FOUND;
}

int wb_store_admin_account_list(wb_pg *pg, const char *search, int limit, int64_t offset,
                                void (*fn)(void *arg, const wb_store_admin_account *a), void *arg,
                                int64_t *total, char *err, size_t errsize)
{
    char sql[512], lim[16], off[32];
    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    const char *const values[] = {search && search[0] ? search : NULL, lim, off};
    snprintf(sql, sizeof(sql),
             "SELECT node || '@' || domain, disabled, " WB_SA_ISO_TIME ", count(*) OVER () "
             "FROM accounts WHERE $1::text IS NULL "
             "OR strpos(lower(node || '@' || domain), lower($1)) > 0 "
             "ORDER BY domain, node LIMIT $2::int OFFSET $3::bigint",
             "created_at");
    PGresult *res = wb_sa_run(pg, sql, 3, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    const int n = PQntuples(res);
    *total = n > 0 ? strtoll(PQgetvalue(res, 0, 3), NULL, 10) : 0;
    for (int i = 0; i < n; i++) {
        wb_store_admin_account a;
        wb_sa_account_row(res, i, &a);
        fn(arg, &a);
    }
    PQclear(res);
    if (n == 0 && offset > 0) {
        /* Past the end: the window function saw no row, count separately. */
        res = wb_sa_run(pg,
                        "SELECT count(*) FROM accounts WHERE $1::text IS NULL "
                        "OR strpos(lower(node || '@' || domain), lower($1)) > 0",
                        1, values, NULL, PGRES_TUPLES_OK, err, errsize);
        if (res == NULL)
            return -1;
        *total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    return 0;
}

wb_sa_rc wb_store_admin_account_set_disabled(wb_pg *pg, const char *node, const char *domain,
                                             bool disabled, char *err, size_t errsize)
{
    const char *const values[] = {domain, node, disabled ? "true" : "false"};
    PGresult *res = wb_sa_run(pg,
                              "UPDATE accounts SET disabled = $3::boolean "
                              "WHERE domain = $1 AND node = $2 RETURNING id",
                              3, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_SA_ERROR;
    const int n = PQntuples(res);
    PQclear(res);
    return n ? WB_SA_OK : WB_SA_NOT_FOUND;
}

int64_t wb_store_admin_account_count(wb_pg *pg)
{
    PGresult *res = PQexec(pg, "SELECT count(*) FROM accounts");
    int64_t n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}
