/* Storage for in-band registration: asynchronous account creation (with the invite check and
 * consumption in the same statement), password change and removal; blocking invite commands. */
#include "wb_store_register.h"

#include <ctype.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_store_int.h"

#define WB_REG_PART_MAX  1023 /* bytes of a prepared node or domain */
#define WB_REG_TOKEN_MAX 256  /* longer tokens cannot be ours */
#define WB_REG_N_HASH    2

/* Both SCRAM credentials as statement parameters: per hash the salt, and StoredKey || ServerKey
 * (split in SQL at half the length), so that they fit in WB_STORE_MAX_PARAMS. */
typedef struct wb_reg_creds {
    wb_scram_cred cred[WB_REG_N_HASH];
    uint8_t keys[WB_REG_N_HASH][2 * WB_SCRAM_KEY_MAX];
    char iterations[16];
} wb_reg_creds;

static const char wb_reg_create_sql[] =
    "WITH inv AS ("
    " SELECT id FROM invites WHERE octet_length($3::bytea) > 0 AND token_hash = $3::bytea"
    " AND domain = $1::text AND used_at IS NULL AND expires_at > now() FOR UPDATE),"
    " ok AS (SELECT octet_length($3::bytea) = 0 OR EXISTS (SELECT 1 FROM inv) AS ok),"
    " acc AS (INSERT INTO accounts (domain, node) SELECT $1::text, $2::text FROM ok WHERE ok.ok"
    " ON CONFLICT (domain, node) DO NOTHING RETURNING id),"
    " cred AS (INSERT INTO account_scram"
    " (account_id, hash, salt, iterations, stored_key, server_key)"
    " SELECT acc.id, v.h, v.salt, $4::int, substring(v.k FROM 1 FOR octet_length(v.k) / 2),"
    " substring(v.k FROM octet_length(v.k) / 2 + 1)"
    " FROM acc, (VALUES (0::smallint, $5::bytea, $6::bytea), (1::smallint, $7::bytea, $8::bytea))"
    " AS v(h, salt, k)),"
    " used AS (UPDATE invites SET used_at = now(), used_by = acc.id FROM acc"
    " WHERE invites.id IN (SELECT id FROM inv))"
    " SELECT (SELECT ok FROM ok), (SELECT id FROM acc)";

static const char wb_reg_passwd_sql[] =
    "INSERT INTO account_scram (account_id, hash, salt, iterations, stored_key, server_key)"
    " SELECT a.id, v.h, v.salt, $3::int, substring(v.k FROM 1 FOR octet_length(v.k) / 2),"
    " substring(v.k FROM octet_length(v.k) / 2 + 1)"
    " FROM accounts a, (VALUES (0::smallint, $4::bytea, $5::bytea),"
    " (1::smallint, $6::bytea, $7::bytea)) AS v(h, salt, k)"
    " WHERE a.domain = $1::text AND a.node = $2::text"
    " ON CONFLICT (account_id, hash) DO UPDATE SET salt = EXCLUDED.salt,"
    " iterations = EXCLUDED.iterations, stored_key = EXCLUDED.stored_key,"
    " server_key = EXCLUDED.server_key RETURNING account_id";

static const char wb_reg_remove_sql[] =
    "SELECT d FROM account_delete($1::text, $2::text) AS d WHERE d IS NOT NULL";

/* SHA-256 of the token with ASCII letters lowercased (tokens are hex; case does not matter). */
static int wb_reg_token_hash(const char *token, uint8_t out[crypto_hash_sha256_BYTES])
{
    char low[WB_REG_TOKEN_MAX + 1];
    const size_t n = strlen(token);
    if (n == 0 || n > WB_REG_TOKEN_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)token[i]);
    crypto_hash_sha256(out, (const unsigned char *)low, n);
    return 0;
}

static int wb_reg_derive(const char *password, uint32_t iterations, wb_reg_creds *c)
{
    memset(c, 0, sizeof(*c));
    for (int h = 0; h < WB_REG_N_HASH; h++) {
        if (wb_scram_cred_new((wb_scram_hash)h, password, iterations, &c->cred[h]) < 0) {
            sodium_memzero(c, sizeof(*c));
            return -1;
        }
        const size_t klen = wb_scram_hash_len((wb_scram_hash)h);
        memcpy(c->keys[h], c->cred[h].stored_key, klen);
        memcpy(c->keys[h] + klen, c->cred[h].server_key, klen);
    }
    snprintf(c->iterations, sizeof(c->iterations), "%" PRIu32, iterations);
    return 0;
}

/* The four credential parameters (salt, keys for SHA-1 then SHA-256) into p[0..3]. */
static void wb_reg_cred_params(const wb_reg_creds *c, wb_store_param *p)
{
    for (int h = 0; h < WB_REG_N_HASH; h++) {
        const size_t klen = wb_scram_hash_len((wb_scram_hash)h);
        p[2 * h] = WB_SP_BIN(c->cred[h].salt, c->cred[h].salt_len);
        p[2 * h + 1] = WB_SP_BIN(c->keys[h], 2 * klen);
    }
}

static bool wb_reg_parts_ok(const char *node, const char *domain)
{
    return strlen(node) <= WB_REG_PART_MAX && strlen(domain) <= WB_REG_PART_MAX;
}

static void wb_reg_create_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_reg_cb cb = (wb_store_reg_cb)r->cb;
    wb_store_reg_result out = WB_STORE_REG_UNAVAILABLE;
    if (res && wb_store_result_ok(res, "account registration") && PQntuples(res) == 1 &&
        PQnfields(res) == 2) {
        if (!wb_store_get_bool(res, 0, 0))
            out = WB_STORE_REG_BAD_TOKEN;
        else if (PQgetisnull(res, 0, 1))
            out = WB_STORE_REG_TAKEN;
        else
            out = WB_STORE_REG_CREATED;
    }
    cb(r->arg, out);
}

wb_store_req *wb_store_register_create(wb_store *st, const char *node, const char *domain,
                                       const char *password, uint32_t iterations, const char *token,
                                       wb_store_reg_cb cb, void *arg)
{
    uint8_t hash[crypto_hash_sha256_BYTES];
    size_t hash_len = 0;
    wb_reg_creds creds;
    if (!wb_reg_parts_ok(node, domain))
        return NULL;
    if (token) {
        /* A token that cannot be ours still goes through the query and fails there. */
        if (wb_reg_token_hash(token, hash) < 0)
            memset(hash, 0, sizeof(hash));
        hash_len = sizeof(hash);
    }
    if (wb_reg_derive(password, iterations, &creds) < 0)
        return NULL;
    wb_store_param p[8] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_BIN(hash, hash_len),
                           WB_SP_TEXT(creds.iterations)};
    wb_reg_cred_params(&creds, &p[4]);
    wb_store_req *r = wb_store_submit(st, wb_reg_create_sql, p, 8, wb_reg_create_deliver,
                                      (void (*)(void))cb, arg);
    sodium_memzero(&creds, sizeof(creds));
    return r;
}

/* Shared by password change and removal: a row back means the account was there. */
static void wb_reg_done_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_done_cb cb = (wb_store_done_cb)r->cb;
    wb_store_status status = WB_STORE_UNAVAILABLE;
    if (res && wb_store_result_ok(res, "account update"))
        status = PQntuples(res) > 0 ? WB_STORE_OK : WB_STORE_NOT_FOUND;
    cb(r->arg, status);
}

wb_store_req *wb_store_register_passwd(wb_store *st, const char *node, const char *domain,
                                       const char *password, uint32_t iterations,
                                       wb_store_done_cb cb, void *arg)
{
    wb_reg_creds creds;
    if (!wb_reg_parts_ok(node, domain) || wb_reg_derive(password, iterations, &creds) < 0)
        return NULL;
    wb_store_param p[7] = {WB_SP_TEXT(domain), WB_SP_TEXT(node), WB_SP_TEXT(creds.iterations)};
    wb_reg_cred_params(&creds, &p[3]);
    wb_store_req *r =
        wb_store_submit(st, wb_reg_passwd_sql, p, 7, wb_reg_done_deliver, (void (*)(void))cb, arg);
    sodium_memzero(&creds, sizeof(creds));
    return r;
}

wb_store_req *wb_store_register_remove(wb_store *st, const char *node, const char *domain,
                                       wb_store_done_cb cb, void *arg)
{
    if (!wb_reg_parts_ok(node, domain))
        return NULL;
    const wb_store_param p[] = {WB_SP_TEXT(domain), WB_SP_TEXT(node)};
    return wb_store_submit(st, wb_reg_remove_sql, p, 2, wb_reg_done_deliver, (void (*)(void))cb,
                           arg);
}

/* ---- blocking: invites for warblerctl ---- */

/* Runs one statement (text results); NULL with a one-line reason in err on failure. */
static PGresult *wb_reg_exec(wb_pg *pg, const char *sql, int n, const char *const *values,
                             const int *lengths, const int *formats, char *err, size_t errsize)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, values, lengths, formats, 0);
    const ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        const char *msg = PQresultErrorMessage(res);
        if (msg[0] == '\0')
            msg = PQerrorMessage(pg);
        snprintf(err, errsize, "database error: %.*s", (int)strcspn(msg, "\r\n"), msg);
        PQclear(res);
        return NULL;
    }
    return res;
}

int wb_store_invite_create(wb_pg *pg, const char *domain, int hours, char *token, int64_t *id,
                           char *err, size_t errsize)
{
    uint8_t rnd[WB_STORE_INVITE_TOKEN_LEN / 2], hash[crypto_hash_sha256_BYTES];
    char hrs[16];
    if (hours <= 0) {
        snprintf(err, errsize, "the validity must be a positive number of hours");
        return -1;
    }
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(token, WB_STORE_INVITE_TOKEN_LEN + 1, rnd, sizeof(rnd));
    sodium_memzero(rnd, sizeof(rnd));
    wb_reg_token_hash(token, hash);
    snprintf(hrs, sizeof(hrs), "%d", hours);
    const char *const values[] = {(const char *)hash, domain, hrs};
    const int lengths[] = {(int)sizeof(hash), 0, 0};
    const int formats[] = {1, 0, 0};
    PGresult *res = wb_reg_exec(pg,
                                "INSERT INTO invites (token_hash, domain, expires_at) "
                                "VALUES ($1, $2, now() + make_interval(hours => $3::int)) "
                                "RETURNING id",
                                3, values, lengths, formats, err, errsize);
    if (res == NULL) {
        sodium_memzero(token, WB_STORE_INVITE_TOKEN_LEN + 1);
        return -1;
    }
    *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

int wb_store_invite_list(wb_pg *pg, void (*fn)(void *arg, const wb_store_invite *inv), void *arg,
                         char *err, size_t errsize)
{
    PGresult *res =
        wb_reg_exec(pg,
                    "SELECT i.id, i.domain, date_trunc('second', i.created_at), "
                    "date_trunc('second', i.expires_at), date_trunc('second', i.used_at), "
                    "a.node || '@' || a.domain, i.expires_at <= now() "
                    "FROM invites i LEFT JOIN accounts a ON a.id = i.used_by ORDER BY i.id",
                    0, NULL, NULL, NULL, err, errsize);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        const wb_store_invite inv = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .domain = PQgetvalue(res, i, 1),
            .created_at = PQgetvalue(res, i, 2),
            .expires_at = PQgetvalue(res, i, 3),
            .used_at = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4),
            .used_by = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5),
            .expired = PQgetvalue(res, i, 6)[0] == 't',
        };
        fn(arg, &inv);
    }
    PQclear(res);
    return 0;
}

int wb_store_invite_revoke(wb_pg *pg, int64_t id, char *err, size_t errsize)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    const char *const values[] = {ids};
    PGresult *res = wb_reg_exec(
        pg, "DELETE FROM invites WHERE id = $1::bigint AND used_at IS NULL RETURNING id", 1, values,
        NULL, NULL, err, errsize);
    if (res == NULL)
        return -1;
    const int found = PQntuples(res);
    PQclear(res);
    if (found == 0) {
        snprintf(err, errsize, "no unused invite %" PRId64, id);
        return -1;
    }
    return 0;
}
