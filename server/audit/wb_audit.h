/* The audit log (issue 6): a tamper-evident, hash-chained record of logins, admin actions and
 * every access to personal data. Callers describe events; this module orders, chains and stores
 * them. Message content and passwords never go into an event. */
#ifndef WB_AUDIT_H
#define WB_AUDIT_H

#include <stdbool.h>

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

#endif
