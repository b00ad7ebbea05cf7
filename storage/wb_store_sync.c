/* Storage, blocking side: connecting at start-up (waiting for PostgreSQL) and applying the
 * embedded migrations under an advisory lock. Not for request handling (see wb_store_async.c). */
#include "wb_store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wb_log.h"
#include "wb_migrations.h"

/* Key of the advisory lock serialising migrations between processes ("WBMIGR01"). */
#define WB_STORE_MIGRATE_LOCK "6314074188053336625"
#define WB_STORE_WAIT_LOG     5 /* seconds between "waiting" lines */

/* Copies the first line of a libpq message (they end with "\n" and may span lines). */
static void wb_store_first_line(char *out, size_t size, const char *msg)
{
    size_t n = strcspn(msg ? msg : "", "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, msg ? msg : "", n);
    out[n] = '\0';
}

static time_t wb_store_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void wb_store_sync_notice(void *arg, const char *msg)
{
    char line[256];
    (void)arg;
    wb_store_first_line(line, sizeof(line), msg);
    wb_debug("storage: PostgreSQL says: %s", line);
}

wb_pg *wb_store_sync_connect(const char *dsn, int wait_seconds)
{
    const time_t start = wb_store_now();
    time_t last_log = 0;
    char reason[256];

    for (;;) {
        PGconn *pg = PQconnectdb(dsn);
        if (pg != NULL && PQstatus(pg) == CONNECTION_OK) {
            PQsetNoticeProcessor(pg, wb_store_sync_notice, NULL);
            return pg;
        }
        wb_store_first_line(reason, sizeof(reason), pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        const time_t now = wb_store_now();
        if (now - start >= wait_seconds) {
            wb_error("storage: cannot connect to PostgreSQL (%s)", reason);
            return NULL;
        }
        if (last_log == 0 || now - last_log >= WB_STORE_WAIT_LOG) {
            wb_info("storage: waiting for PostgreSQL (%s)", reason);
            last_log = now;
        }
        sleep(1);
    }
}

void wb_store_sync_close(wb_pg *pg)
{
    PQfinish(pg);
}

/* Runs one statement; -1 with the error logged unless it returns the expected status. */
static int wb_store_exec(PGconn *pg, const char *sql, int nparams, const char *const *params,
                         ExecStatusType want, PGresult **out)
{
    PGresult *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != want) {
        char reason[256];
        wb_store_first_line(reason, sizeof(reason), PQresultErrorMessage(res));
        wb_error("storage: migration failed: %s", reason[0] ? reason : PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return 0;
}

/* Applies one migration in its own transaction (its SQL may hold several statements). */
static int wb_store_apply(PGconn *pg, const wb_migration *m)
{
    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);
    const char *const params[] = {version, m->name};

    if (wb_store_exec(pg, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL) < 0)
        return -1;
    PGresult *res = PQexec(pg, m->sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        char reason[256];
        wb_store_first_line(reason, sizeof(reason), PQresultErrorMessage(res));
        wb_error("storage: migration %s failed: %s", m->name, reason);
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    if (wb_store_exec(pg,
                      "INSERT INTO schema_migrations (version, name, applied_at) "
                      "VALUES ($1::int, $2, now())",
                      2, params, PGRES_COMMAND_OK, NULL) < 0)
        goto fail;
    if (wb_store_exec(pg, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL) < 0)
        goto fail;
    wb_info("storage: applied migration %s", m->name);
    return 0;
fail:
    PQclear(PQexec(pg, "ROLLBACK"));
    return -1;
}

/* Called with the advisory lock held. */
static int wb_store_migrate_locked(PGconn *pg)
{
    PGresult *res = NULL;
    if (wb_store_exec(pg,
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version int PRIMARY KEY, name text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())",
                      0, NULL, PGRES_COMMAND_OK, NULL) < 0)
        return -1;
    if (wb_store_exec(pg, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL,
                      PGRES_TUPLES_OK, &res) < 0)
        return -1;
    /* Each migration is applied unless its own version is recorded: a database that got a later
     * one first (branches developed side by side) still receives the earlier ones. */
    const int n = PQntuples(res);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < wb_migrations_count; i++) {
        bool done = false;
        for (int r = 0; r < n && !done; r++)
            done = atoi(PQgetvalue(res, r, 0)) == wb_migrations[i].version;
        if (!done)
            rc = wb_store_apply(pg, &wb_migrations[i]);
    }
    if (rc == 0 && n > 0 && wb_migrations_count > 0 &&
        atoi(PQgetvalue(res, n - 1, 0)) > wb_migrations[wb_migrations_count - 1].version)
        wb_warn("storage: the database schema (version %s) is newer than this build",
                PQgetvalue(res, n - 1, 0));
    PQclear(res);
    return rc;
}

int wb_store_migrate(wb_pg *pg)
{
    if (wb_store_exec(pg, "SELECT pg_advisory_lock(" WB_STORE_MIGRATE_LOCK ")", 0, NULL,
                      PGRES_TUPLES_OK, NULL) < 0)
        return -1;
    const int rc = wb_store_migrate_locked(pg);
    /* Unlocking also happens when the session ends, so a failure here is harmless. */
    PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" WB_STORE_MIGRATE_LOCK ")"));
    return rc;
}
