/* Storage for in-band registration (XEP-0077): account creation with an optional invite token
 * (checked and consumed in the same statement), password change and account removal for the
 * server (asynchronous), and invite administration for warblerctl (blocking). */
#ifndef WB_STORE_REGISTER_H
#define WB_STORE_REGISTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"

/* An invite token as text: 32 lowercase hex digits (128 random bits), plus the NUL. */
#define WB_STORE_INVITE_TOKEN_LEN 32

/* ---- asynchronous (server) ---- */
typedef enum {
    WB_STORE_REG_CREATED = 0,
    WB_STORE_REG_TAKEN,       /* the account exists already (the invite was not used) */
    WB_STORE_REG_BAD_TOKEN,   /* unknown, used, expired or for another domain */
    WB_STORE_REG_UNAVAILABLE, /* database down or query failed: a temporary failure */
} wb_store_reg_result;

typedef void (*wb_store_reg_cb)(void *arg, wb_store_reg_result r);
/* Called with WB_STORE_OK, WB_STORE_NOT_FOUND (no such account) or WB_STORE_UNAVAILABLE. */
typedef void (*wb_store_done_cb)(void *arg, wb_store_status status);

/* Creates node@domain (both prepared) with SCRAM credentials derived here from password. When
 * token is not NULL the account is created only if it is a valid invite for domain, which is
 * then marked as used by the new account, all in one statement. Returns NULL (the callback is
 * never called) when out of memory or when the credentials cannot be derived. */
wb_store_req *wb_store_register_create(wb_store *st, const char *node, const char *domain,
                                       const char *password, uint32_t iterations, const char *token,
                                       wb_store_reg_cb cb, void *arg);
/* Replaces both SCRAM credentials of node@domain. NULL as above. */
wb_store_req *wb_store_register_passwd(wb_store *st, const char *node, const char *domain,
                                       const char *password, uint32_t iterations,
                                       wb_store_done_cb cb, void *arg);
/* Deletes node@domain and, through ON DELETE CASCADE, everything it owns. NULL as above. */
wb_store_req *wb_store_register_remove(wb_store *st, const char *node, const char *domain,
                                       wb_store_done_cb cb, void *arg);

/* ---- blocking (warblerctl) ---- */
typedef struct wb_store_invite {
    int64_t id;
    const char *domain;
    const char *created_at, *expires_at; /* timestamps as PostgreSQL prints them */
    const char *used_at;                 /* NULL while unused */
    const char *used_by;                 /* the account's JID, NULL while unused */
    bool expired;
} wb_store_invite;

/* Creates an invite for domain valid for `hours`; writes the token (to be shown once, never
 * stored) into token (WB_STORE_INVITE_TOKEN_LEN + 1 bytes) and its id into *id. 0 or -1 with a
 * one-line reason in err. */
int wb_store_invite_create(wb_pg *pg, const char *domain, int hours, char *token, int64_t *id,
                           char *err, size_t errsize);
/* Calls fn for each invite, oldest first (tokens cannot be listed: only hashes are stored). */
int wb_store_invite_list(wb_pg *pg, void (*fn)(void *arg, const wb_store_invite *inv), void *arg,
                         char *err, size_t errsize);
/* Deletes an unused invite; -1 with "no unused invite N" when there is none. */
int wb_store_invite_revoke(wb_pg *pg, int64_t id, char *err, size_t errsize);

#endif
