/* Storage tests against a real PostgreSQL: WB_TEST_PGHOST names its socket directory (the test
 * fails without it); WB_TEST_PG_STOP/WB_TEST_PG_START, if set, are shell commands for a real
 * outage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wb_migrations.h"
#include "wb_store.h"

#define PASSWORD   "correct horse"
#define ITERATIONS 4096

typedef struct fixture {
    char db[64];
    char admin_dsn[512];
    char dsn[512];
    struct event_base *base;
    struct event *tick;
    wb_store *st;
} fixture;

typedef struct result {
    int called;
    wb_store_status status;
    wb_account_auth a;
    int *order; /* shared counter: call order */
    int seq;
} result;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void admin_exec(const char *dsn, const char *sql)
{
    PGconn *pg = PQconnectdb(dsn);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
}

static void run_shell(const char *cmd)
{
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int group_setup(void **state)
{
    static fixture f;
    const char *host = getenv("WB_TEST_PGHOST");
    if (host == NULL || host[0] == '\0') {
        fprintf(stderr, "test_store: WB_TEST_PGHOST must name the socket directory of a "
                        "PostgreSQL server (trust auth); refusing to pass without a database\n");
        return -1;
    }
    const char *user = getenv("PGUSER") ? "" : "user=postgres";
    snprintf(f.db, sizeof(f.db), "wb_test_store_%d", (int)getpid());
    snprintf(f.admin_dsn, sizeof(f.admin_dsn), "host=%s dbname=postgres %s", host, user);
    snprintf(f.dsn, sizeof(f.dsn), "host=%s dbname=%s %s", host, f.db, user);
    PGconn *pg = PQconnectdb(f.admin_dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "test_store: cannot connect: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return -1;
    }
    char sql[256];
    PQsetNoticeProcessor(pg, quiet, NULL);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", f.db);
    PQclear(PQexec(pg, sql));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f.db);
    PGresult *res = PQexec(pg, sql);
    const int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    PQfinish(pg);
    if (!ok || sodium_init() < 0)
        return -1;
    *state = &f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    char sql[256];
    if (f == NULL)
        return 0;
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
    PGconn *pg = PQconnectdb(f->admin_dsn);
    PQclear(PQexec(pg, sql));
    PQfinish(pg);
    return 0;
}

static void *migrate_thread(void *arg)
{
    const fixture *f = arg;
    wb_pg *pg = wb_store_sync_connect(f->dsn, 5);
    intptr_t rc = pg != NULL ? wb_store_migrate(pg) : -1;
    wb_store_sync_close(pg);
    return (void *)rc;
}

static int count_rows(const char *dsn, const char *sql)
{
    PGconn *pg = PQconnectdb(dsn);
    PGresult *res = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    const int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(pg);
    return n;
}

/* Two processes' worth of concurrent migrations, then a third run that must do nothing. */
static void test_migrate(void **state)
{
    fixture *f = *state;
    pthread_t t1, t2;
    void *r1, *r2;
    assert_int_equal(pthread_create(&t1, NULL, migrate_thread, f), 0);
    assert_int_equal(pthread_create(&t2, NULL, migrate_thread, f), 0);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    assert_int_equal((intptr_t)r1, 0);
    assert_int_equal((intptr_t)r2, 0);
    assert_int_equal((intptr_t)migrate_thread(f), 0);
    assert_int_equal(count_rows(f->dsn, "SELECT count(*) FROM schema_migrations"),
                     (int)wb_migrations_count);
    assert_int_equal(count_rows(f->dsn, "SELECT count(*) FROM schema_migrations "
                                        "WHERE version = 1 AND name = '001_accounts'"),
                     1);
}

static void collect(void *arg, const char *jid, bool disabled)
{
    char *out = arg;
    const size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s%s;", jid, disabled ? "(d)" : "");
}

static void test_accounts(void **state)
{
    fixture *f = *state;
    char err[256], list[512] = "";
    wb_pg *pg = wb_store_sync_connect(f->dsn, 0);
    assert_non_null(pg);
    assert_int_equal(wb_store_migrate(pg), 0);
    assert_int_equal(
        wb_store_account_create(pg, "alice", "localhost", PASSWORD, ITERATIONS, err, sizeof(err)),
        0);
    assert_int_equal(
        wb_store_account_create(pg, "carol", "example.net", "x", ITERATIONS, err, sizeof(err)), 0);
    assert_int_equal(
        wb_store_account_create(pg, "alice", "localhost", "other", ITERATIONS, err, sizeof(err)),
        -1);
    assert_string_equal(err, "account alice@localhost already exists");
    assert_int_equal(
        wb_store_account_set_password(pg, "bob", "localhost", "pw", ITERATIONS, err, sizeof(err)),
        -1);
    assert_string_equal(err, "no such account bob@localhost");
    assert_int_equal(wb_store_account_delete(pg, "bob", "localhost", err, sizeof(err)), -1);
    assert_string_equal(err, "no such account bob@localhost");
    assert_int_equal(wb_store_account_list(pg, NULL, collect, list, err, sizeof(err)), 0);
    assert_string_equal(list, "carol@example.net;alice@localhost;");
    list[0] = '\0';
    assert_int_equal(wb_store_account_list(pg, "localhost", collect, list, err, sizeof(err)), 0);
    assert_string_equal(list, "alice@localhost;");
    assert_int_equal(wb_store_account_set_password(pg, "carol", "example.net", "y", ITERATIONS, err,
                                                   sizeof(err)),
                     0);
    assert_int_equal(wb_store_account_delete(pg, "carol", "example.net", err, sizeof(err)), 0);
    assert_int_equal(count_rows(f->dsn, "SELECT count(*) FROM account_scram"), 2);
    wb_store_sync_close(pg);
}

static void on_auth(void *arg, wb_store_status status, const wb_account_auth *a)
{
    result *r = arg;
    r->called++;
    r->status = status;
    if (a != NULL)
        r->a = *a;
    if (r->order != NULL)
        r->seq = ++*r->order;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until *flag is non-zero or ms have passed; returns *flag. */
static int run_until(fixture *f, const int *flag, int ms)
{
    const double end = now_ms() + ms;
    while (*flag == 0 && now_ms() < end)
        event_base_loop(f->base, EVLOOP_ONCE);
    return *flag;
}

static int async_setup(void **state)
{
    fixture *f = *state;
    const struct timeval tv = {0, 20000};
    f->base = event_base_new();
    f->tick = event_new(f->base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(f->tick, &tv);
    f->st = wb_store_new(f->base, f->dsn, NULL);
    return f->st != NULL ? 0 : -1;
}

static int async_teardown(void **state)
{
    fixture *f = *state;
    wb_store_free(f->st);
    event_free(f->tick);
    event_base_free(f->base);
    return 0;
}

static void test_async_lookup(void **state)
{
    fixture *f = *state;
    result found = {0}, missing = {0};
    assert_non_null(wb_store_account_auth(f->st, "alice", "localhost", on_auth, &found));
    assert_non_null(wb_store_account_auth(f->st, "nobody", "localhost", on_auth, &missing));
    assert_int_equal(found.called, 0); /* never called back from inside the request */
    assert_true(run_until(f, &missing.called, 5000));
    assert_int_equal(found.called, 1);
    assert_int_equal(found.status, WB_STORE_OK);
    assert_true(found.a.id > 0);
    assert_false(found.a.disabled);
    for (int h = WB_SCRAM_SHA1; h <= WB_SCRAM_SHA256; h++) {
        assert_int_equal(found.a.scram[h].iterations, ITERATIONS);
        assert_true(wb_scram_cred_check((wb_scram_hash)h, &found.a.scram[h], PASSWORD));
        assert_false(wb_scram_cred_check((wb_scram_hash)h, &found.a.scram[h], "wrong"));
    }
    assert_int_equal(missing.status, WB_STORE_NOT_FOUND);
}

/* Many requests at once come back in order; cancelled ones are read but not called back. */
static void test_async_pipeline_cancel(void **state)
{
    fixture *f = *state;
    result r[40];
    int order = 0;
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 40; i++) {
        r[i].order = &order;
        wb_store_req *q =
            wb_store_account_auth(f->st, i % 2 ? "alice" : "zed", "localhost", on_auth, &r[i]);
        assert_non_null(q);
        if (i % 5 == 0)
            wb_store_req_cancel(q);
    }
    assert_true(run_until(f, &r[39].called, 5000));
    for (int i = 0, seq = 0; i < 40; i++) {
        assert_int_equal(r[i].called, i % 5 == 0 ? 0 : 1);
        if (i % 5 == 0)
            continue;
        assert_int_equal(r[i].seq, ++seq);
        assert_int_equal(r[i].status, i % 2 ? WB_STORE_OK : WB_STORE_NOT_FOUND);
    }
}

/* Freeing the store with requests queued or in flight tells each owner once, as UNAVAILABLE
 * (so that it can free what it holds), except cancelled ones; nothing is called afterwards. */
static void test_async_free_pending(void **state)
{
    fixture *f = *state;
    result first = {0}, r[3];
    memset(r, 0, sizeof(r));
    assert_non_null(wb_store_account_auth(f->st, "alice", "localhost", on_auth, &first));
    assert_true(run_until(f, &first.called, 5000));
    wb_store_req *req[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(req[i] =
                            wb_store_account_auth(f->st, "alice", "localhost", on_auth, &r[i]));
    wb_store_req_cancel(req[1]);
    event_base_loop(f->base, EVLOOP_NONBLOCK); /* sends them */
    wb_store_free(f->st);
    f->st = NULL;
    int never = 0;
    run_until(f, &never, 200);
    /* Each request not cancelled is answered exactly once: UNAVAILABLE by the free, or OK when
     * its answer came back during the loop turn that sent it (a fast server). */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].called, i == 1 ? 0 : 1);
        if (i != 1)
            assert_true(r[i].status == WB_STORE_UNAVAILABLE || r[i].status == WB_STORE_OK);
    }
}

static void terminate_store_backends(const fixture *f)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = '%s' AND pid <> pg_backend_pid()",
             f->db);
    admin_exec(f->admin_dsn, sql);
}

/* A request in flight when the connection dies is answered UNAVAILABLE. */
static void test_async_in_flight_failure(void **state)
{
    fixture *f = *state;
    result warm = {0}, r = {0};
    assert_non_null(wb_store_account_auth(f->st, "alice", "localhost", on_auth, &warm));
    assert_true(run_until(f, &warm.called, 5000));
    PGconn *locker = PQconnectdb(f->dsn);
    PQclear(PQexec(locker, "BEGIN"));
    PQclear(PQexec(locker, "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE"));
    assert_non_null(wb_store_account_auth(f->st, "alice", "localhost", on_auth, &r));
    assert_false(run_until(f, &r.called, 300)); /* blocked behind the lock */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = '%s' AND pid <> pg_backend_pid()",
             f->db);
    PQclear(PQexec(locker, sql));
    PQclear(PQexec(locker, "ROLLBACK"));
    PQfinish(locker);
    assert_true(run_until(f, &r.called, 5000));
    assert_int_equal(r.status, WB_STORE_UNAVAILABLE);
}

/* Until *ok, asks every 200 ms; returns after ms. */
static int poll_until_ok(fixture *f, int ms)
{
    const double end = now_ms() + ms;
    while (now_ms() < end) {
        result r = {0};
        assert_non_null(wb_store_account_auth(f->st, "alice", "localhost", on_auth, &r));
        assert_true(run_until(f, &r.called, 5000));
        if (r.status == WB_STORE_OK)
            return 1;
        int never = 0;
        run_until(f, &never, 200);
    }
    return 0;
}

/* PostgreSQL goes away (really, or by refusing connections to this database), requests fail at
 * once, then it comes back and the store reconnects by itself. */
static void test_async_outage(void **state)
{
    fixture *f = *state;
    char sql[256];
    assert_true(poll_until_ok(f, 15000));
    if (getenv("WB_TEST_PG_STOP") != NULL) {
        run_shell(getenv("WB_TEST_PG_STOP"));
    } else {
        snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS false", f->db);
        admin_exec(f->admin_dsn, sql);
        terminate_store_backends(f);
    }
    int never = 0;
    run_until(f, &never, 300); /* the store sees the connection close */
    for (int i = 0; i < 3; i++) {
        result r = {0};
        const double t0 = now_ms();
        assert_non_null(wb_store_account_auth(f->st, "alice", "localhost", on_auth, &r));
        assert_true(run_until(f, &r.called, 1000));
        assert_int_equal(r.status, WB_STORE_UNAVAILABLE);
        assert_true(now_ms() - t0 < 500); /* at once, not after a timeout */
        run_until(f, &never, 700);
    }
    if (getenv("WB_TEST_PG_START") != NULL) {
        run_shell(getenv("WB_TEST_PG_START"));
    } else {
        snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS true", f->db);
        admin_exec(f->admin_dsn, sql);
    }
    assert_true(poll_until_ok(f, 15000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_accounts),
        cmocka_unit_test_setup_teardown(test_async_lookup, async_setup, async_teardown),
        cmocka_unit_test_setup_teardown(test_async_pipeline_cancel, async_setup, async_teardown),
        cmocka_unit_test_setup_teardown(test_async_free_pending, async_setup, async_teardown),
        cmocka_unit_test_setup_teardown(test_async_in_flight_failure, async_setup, async_teardown),
        cmocka_unit_test_setup_teardown(test_async_outage, async_setup, async_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
