/* Storage, blocking account administration for warblerctl: create, change password, delete,
 * list. Passwords become SCRAM credentials here and are never stored nor logged. */
#include "wb_store.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define WB_STORE_N_HASH 2

/* Writes "prefix: first line of the database's message" (or just the message) into err. */
static void wb_store_db_error(char *err, size_t errsize, PGconn *pg, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (msg[0] == '\0')
        msg = PQerrorMessage(pg);
    const int n = (int)strcspn(msg, "\r\n");
    snprintf(err, errsize, "database error: %.*s", n, msg);
}

/* Runs one parameterised statement and checks its status; NULL (err set) on failure. */
static PGresult *wb_store_run(PGconn *pg, const char *sql, int nparams, const char *const *values,
                              const int *lengths, const int *formats, ExecStatusType want,
                              char *err, size_t errsize)
{
    PGresult *res = PQexecParams(pg, sql, nparams, NULL, values, lengths, formats, 0);
    if (PQresultStatus(res) != want) {
        wb_store_db_error(err, errsize, pg, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

static int wb_store_cmd(PGconn *pg, const char *sql, char *err, size_t errsize)
{
    PGresult *res = wb_store_run(pg, sql, 0, NULL, NULL, NULL, PGRES_COMMAND_OK, err, errsize);
    PQclear(res);
    return res ? 0 : -1;
}

static int wb_store_derive(const char *password, uint32_t iterations,
                           wb_scram_cred cred[WB_STORE_N_HASH], char *err, size_t errsize)
{
    if (wb_scram_cred_new(WB_SCRAM_SHA1, password, iterations, &cred[WB_SCRAM_SHA1]) < 0 ||
        wb_scram_cred_new(WB_SCRAM_SHA256, password, iterations, &cred[WB_SCRAM_SHA256]) < 0) {
        snprintf(err, errsize, "cannot derive credentials from this password");
        sodium_memzero(cred, sizeof(wb_scram_cred) * WB_STORE_N_HASH);
        return -1;
    }
    return 0;
}

/* Inserts or replaces both credentials of account `id`; called inside a transaction. */
static int wb_store_put_creds(PGconn *pg, const char *id, const wb_scram_cred cred[WB_STORE_N_HASH],
                              char *err, size_t errsize)
{
    static const char sql[] =
        "INSERT INTO account_scram (account_id, hash, salt, iterations, stored_key, server_key) "
        "VALUES ($1::bigint, $2::smallint, $3, $4::int, $5, $6) "
        "ON CONFLICT (account_id, hash) DO UPDATE SET salt = EXCLUDED.salt, "
        "iterations = EXCLUDED.iterations, stored_key = EXCLUDED.stored_key, "
        "server_key = EXCLUDED.server_key";
    for (int h = 0; h < WB_STORE_N_HASH; h++) {
        char hash[4], iter[16];
        snprintf(hash, sizeof(hash), "%d", h);
        snprintf(iter, sizeof(iter), "%u", (unsigned)cred[h].iterations);
        const int klen = (int)wb_scram_hash_len((wb_scram_hash)h);
        const char *const values[] = {id,
                                      hash,
                                      (const char *)cred[h].salt,
                                      iter,
                                      (const char *)cred[h].stored_key,
                                      (const char *)cred[h].server_key};
        const int lengths[] = {0, 0, (int)cred[h].salt_len, 0, klen, klen};
        const int formats[] = {0, 0, 1, 0, 1, 1};
        PGresult *res =
            wb_store_run(pg, sql, 6, values, lengths, formats, PGRES_COMMAND_OK, err, errsize);
        if (res == NULL)
            return -1;
        PQclear(res);
    }
    return 0;
}

/* Runs `sql` (which returns the account id) and stores the credentials, in one transaction.
 * creating: no row means the account exists already, otherwise that it does not exist. */
static int wb_store_write_account(PGconn *pg, const char *sql, const char *node, const char *domain,
                                  const wb_scram_cred cred[WB_STORE_N_HASH], bool creating,
                                  char *err, size_t errsize)
{
    const char *const values[] = {domain, node};
    if (wb_store_cmd(pg, "BEGIN", err, errsize) < 0)
        return -1;
    PGresult *res = wb_store_run(pg, sql, 2, values, NULL, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) != 1) {
        if (creating)
            snprintf(err, errsize, "account %s@%s already exists", node, domain);
        else
            snprintf(err, errsize, "no such account %s@%s", node, domain);
        PQclear(res);
        goto fail;
    }
    char id[32];
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (wb_store_put_creds(pg, id, cred, err, errsize) < 0)
        goto fail;
    if (wb_store_cmd(pg, "COMMIT", err, errsize) < 0)
        goto fail;
    return 0;
fail:
    PQclear(PQexec(pg, "ROLLBACK"));
    return -1;
}

int wb_store_account_create(wb_pg *pg, const char *node, const char *domain, const char *password,
                            uint32_t iterations, char *err, size_t errsize)
{
    wb_scram_cred cred[WB_STORE_N_HASH];
    if (wb_store_derive(password, iterations, cred, err, errsize) < 0)
        return -1;
    const int rc = wb_store_write_account(pg,
                                          "INSERT INTO accounts (domain, node) VALUES ($1, $2) "
                                          "ON CONFLICT (domain, node) DO NOTHING RETURNING id",
                                          node, domain, cred, true, err, errsize);
    sodium_memzero(cred, sizeof(cred));
    return rc;
}

int wb_store_account_set_password(wb_pg *pg, const char *node, const char *domain,
                                  const char *password, uint32_t iterations, char *err,
                                  size_t errsize)
{
    wb_scram_cred cred[WB_STORE_N_HASH];
    if (wb_store_derive(password, iterations, cred, err, errsize) < 0)
        return -1;
    const int rc = wb_store_write_account(
        pg, "SELECT id FROM accounts WHERE domain = $1 AND node = $2 FOR UPDATE", node, domain,
        cred, false, err, errsize);
    sodium_memzero(cred, sizeof(cred));
    return rc;
}

int wb_store_account_delete(wb_pg *pg, const char *node, const char *domain, char *err,
                            size_t errsize)
{
    const char *const values[] = {domain, node};
    PGresult *res =
        wb_store_run(pg, "SELECT d FROM account_delete($1, $2) AS d WHERE d IS NOT NULL", 2, values,
                     NULL, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    const int found = PQntuples(res);
    PQclear(res);
    if (found == 0) {
        snprintf(err, errsize, "no such account %s@%s", node, domain);
        return -1;
    }
    return 0;
}

int wb_store_account_list(wb_pg *pg, const char *domain,
                          void (*fn)(void *arg, const char *jid, bool disabled), void *arg,
                          char *err, size_t errsize)
{
    const char *const values[] = {domain};
    PGresult *res = wb_store_run(pg,
                                 "SELECT node || '@' || domain, disabled FROM accounts "
                                 "WHERE $1::text IS NULL OR domain = $1 ORDER BY domain, node",
                                 1, values, NULL, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    const int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        fn(arg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)[0] == 't');
    PQclear(res);
    return 0;
}
