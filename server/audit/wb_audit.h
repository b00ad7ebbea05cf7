/* The audit log (issue 6): a tamper-evident, hash-chained record of logins, admin actions and
 * every access to personal data. Callers describe events; this module orders, chains and stores
 * them. Message content and passwords never go into an event. */
#ifndef WB_AUDIT_H
#define WB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wb_audit wb_audit;

typedef struct wb_audit_event {
    const char *actor;  /* "admin:NAME", "apikey:NAME", "user:BAREJID", "ctl", "system" */
    const char *role;   /* the actor's role ("superadmin", "operator", ...), or NULL */
    const char *action; /* dotted verb: "login", "account.create", "gdpr.export", ... */
    const char *target; /* what was acted on (a bare JID, an admin name...), or NULL */
    const char *source; /* the remote address, or NULL */
    bool ok;            /* outcome */
    const char *reason; /* why it failed (or a short detail), or NULL */
} wb_audit_event;

/* Queues an event (all strings copied) for the writer, never blocking on the database. Safe
 * from any thread; a == NULL is allowed and records nothing. 0, or -1 when the queue is full
 * (the drop is counted and logged). */
int wb_audit_record(wb_audit *a, const wb_audit_event *ev);

/* ---- the writer's life (server/main.c; warblerctl opens one without starting it) ---- */

typedef struct wb_audit_config {
    const char *dsn;        /* libpq connection string */
    const char *key_file;   /* Ed25519 signing key seed (32 bytes, mode 0600) */
    bool create_key;        /* create key_file when it does not exist */
    int checkpoint_records; /* a signed checkpoint every this many records (>= 1) */
    int checkpoint_seconds; /* ... or when the newest is this old and records followed it */
    int retention_days;     /* records older than this are pruned; 0 keeps them forever */
    int queue_max;          /* events waiting for the writer, at most */
    int flush_wait;         /* seconds wb_audit_stop waits for the database, at most */
} wb_audit_config;

/* Loads (or creates) the signing key; the strings are copied. NULL with a one-line reason in err
 * (e.g. a key file readable by others). Records are queued from now on, written once started. */
wb_audit *wb_audit_new(const wb_audit_config *cfg, char *err, size_t errsize);
/* Starts the writer thread (its own database connection, retried while the database is down). */
int wb_audit_start(wb_audit *a);
/* Writes what is queued (waiting at most flush_wait seconds), a final checkpoint, and stops the
 * writer. Safe to call when not started. */
void wb_audit_stop(wb_audit *a);
void wb_audit_free(wb_audit *a);
/* For a tool that does not start the writer (warblerctl): stores what is queued now on pg (an
 * idle libpq connection), then a checkpoint. 0, or -1 (logged; the events stay queued). */
struct pg_conn;
int wb_audit_write_now(wb_audit *a, struct pg_conn *pg);
/* Events dropped because the queue was full, since start. */
unsigned long wb_audit_dropped(wb_audit *a);

#endif
