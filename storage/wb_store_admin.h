/* Storage for the REST admin API and `warblerctl admin|apikey`: admin users (Argon2id password,
 * TOTP secret sealed by the vault), login tokens and API keys (kept only as BLAKE2b hashes), the
 * account queries the API needs beyond wb_store.h, and a small locked pool of blocking
 * connections for the API's threads. Not for audit records (server/audit/). */
#ifndef WB_STORE_ADMIN_H
#define WB_STORE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wb_store.h"
#include "wb_vault.h"

typedef enum {
    WB_SA_OK = 0,
    WB_SA_NOT_FOUND, /* no such admin, account, token */
    WB_SA_EXISTS,    /* the name is taken */
    WB_SA_DENIED,    /* wrong name, password, TOTP code; bad, expired or revoked token */
    WB_SA_REPLAY,    /* a TOTP code (time step) already used */
    WB_SA_ERROR,     /* the database failed (reason in err) */
} wb_sa_rc;

#define WB_SA_NAME_MAX      64 /* admin and API key names: [A-Za-z0-9._-], 1..64 bytes */
#define WB_SA_ROLE_MAX      16 /* "superadmin", "operator", "auditor", "dpo" */
#define WB_SA_TOTP_B32_MAX  64 /* base32 TOTP secret, NUL included */
#define WB_SA_TOKEN_MAX     64 /* a token or "wbk_" API key, NUL included */
#define WB_SA_TIME_MAX      32 /* "2026-11-25T00:15:00Z" */
#define WB_SA_JID_MAX       (2 * 1024 + 2)
#define WB_SA_APIKEY_PREFIX "wbk_"

/* ---- a pool of blocking connections, shared by threads ---- */
typedef struct wb_store_admin_pool wb_store_admin_pool;
/* size connections at most, opened when first needed and re-opened after a failure. */
wb_store_admin_pool *wb_store_admin_pool_new(const char *dsn, int size);
void wb_store_admin_pool_free(wb_store_admin_pool *p);
/* Waits for a free connection; NULL when the database cannot be reached. */
wb_pg *wb_store_admin_acquire(wb_store_admin_pool *p);
void wb_store_admin_release(wb_store_admin_pool *p, wb_pg *pg);

bool wb_store_admin_role_valid(const char *role);
bool wb_store_admin_name_valid(const char *name);

/* ---- admin users ---- */
/* Creates an admin with a new random TOTP secret, returned once in base32 (totp_b32). */
wb_sa_rc wb_store_admin_create(wb_pg *pg, wb_vault *v, const char *name, const char *role,
                               const char *password, char totp_b32[WB_SA_TOTP_B32_MAX], char *err,
                               size_t errsize);
wb_sa_rc wb_store_admin_delete(wb_pg *pg, const char *name, char *err, size_t errsize);

typedef struct wb_store_admin_info {
    char name[WB_SA_NAME_MAX + 1];
    char role[WB_SA_ROLE_MAX];
    bool disabled;
    char created_at[WB_SA_TIME_MAX];
} wb_store_admin_info;
int wb_store_admin_list(wb_pg *pg, void (*fn)(void *arg, const wb_store_admin_info *a), void *arg,
                        char *err, size_t errsize);

typedef struct wb_store_admin_login_out {
    char token[WB_SA_TOKEN_MAX];
    char expires_at[WB_SA_TIME_MAX];
    char role[WB_SA_ROLE_MAX];
} wb_store_admin_login_out;
/* Checks password and TOTP code (RFC 6238, 30 s steps, one step of drift either way, each step
 * accepted once) and issues a token valid for lifetime seconds. DENIED whatever was wrong
 * (REPLAY when only the code was a replay); role is set even then when the name exists. */
wb_sa_rc wb_store_admin_login(wb_pg *pg, wb_vault *v, const char *name, const char *password,
                              const char *totp, int lifetime, wb_store_admin_login_out *out,
                              char *err, size_t errsize);

typedef struct wb_store_admin_principal {
    char name[WB_SA_NAME_MAX + 1];
    char role[WB_SA_ROLE_MAX];
    bool apikey;
} wb_store_admin_principal;
/* A bearer token or API key ("wbk_..."): DENIED when unknown, expired, revoked or disabled. */
wb_sa_rc wb_store_admin_authenticate(wb_pg *pg, const char *bearer, wb_store_admin_principal *out,
                                     char *err, size_t errsize);
/* Revokes a login token (API keys are deleted instead). */
wb_sa_rc wb_store_admin_token_revoke(wb_pg *pg, const char *bearer, char *err, size_t errsize);
/* A new API key (printed once); days 0: no expiry. expires_at "" when none. */
wb_sa_rc wb_store_admin_apikey_create(wb_pg *pg, const char *name, const char *role, int days,
                                      char key[WB_SA_TOKEN_MAX], char expires_at[WB_SA_TIME_MAX],
                                      char *err, size_t errsize);

/* Sets or clears an admin's disabled flag; disabling also revokes its login tokens (a disabled
 * admin cannot log in and its tokens fail). NOT_FOUND when there is no such admin. */
wb_sa_rc wb_store_admin_set_disabled(wb_pg *pg, const char *name, bool disabled, char *err,
                                     size_t errsize);

typedef struct wb_store_apikey_info {
    char name[WB_SA_NAME_MAX + 1];
    char role[WB_SA_ROLE_MAX];
    char created_at[WB_SA_TIME_MAX];
    char expires_at[WB_SA_TIME_MAX];   /* "" when it never expires */
    char last_used_at[WB_SA_TIME_MAX]; /* "" when never used; to the minute */
    bool expired;
} wb_store_apikey_info;
/* Calls fn for each API key by name (never the key: only its hash is stored). 0 or -1 (err). */
int wb_store_admin_apikey_list(wb_pg *pg, void (*fn)(void *arg, const wb_store_apikey_info *k),
                               void *arg, char *err, size_t errsize);
/* Deletes an API key: further use is refused. NOT_FOUND when there is no such key. */
wb_sa_rc wb_store_admin_apikey_revoke(wb_pg *pg, const char *name, char *err, size_t errsize);

/* Master-key rotation (warblerctl keys rotate-master, before the old key goes): re-wraps every
 * admin's TOTP data key not yet under the vault's next master key. How many, or -1 (err). */
int wb_store_admin_keys_rewrap(wb_pg *pg, wb_vault *v, char *err, size_t errsize);

/* ---- chat accounts, as the API shows them ---- */
typedef struct wb_store_admin_account {
    char jid[WB_SA_JID_MAX];
    bool disabled;
    char created_at[WB_SA_TIME_MAX];
} wb_store_admin_account;
wb_sa_rc wb_store_admin_account_get(wb_pg *pg, const char *node, const char *domain,
                                    wb_store_admin_account *out, char *err, size_t errsize);
/* Accounts whose JID contains search (case-insensitive; NULL or "" for all), ordered by JID,
 * from offset, at most limit; *total gets how many match in all. */
int wb_store_admin_account_list(wb_pg *pg, const char *search, int limit, int64_t offset,
                                void (*fn)(void *arg, const wb_store_admin_account *a), void *arg,
                                int64_t *total, char *err, size_t errsize);
wb_sa_rc wb_store_admin_account_set_disabled(wb_pg *pg, const char *node, const char *domain,
                                             bool disabled, char *err, size_t errsize);
/* How many accounts exist; -1 on failure. */
int64_t wb_store_admin_account_count(wb_pg *pg);

#endif
