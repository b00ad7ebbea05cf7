/* Requests on sealed columns: the owner's data key first, then the query, once again from the
 * key when the account behind the name changed; and sealing/opening one value. Not for keys. */
#include "wb_store_seal.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wb_log.h"
#include "wb_store_keys.h"

static void wb_store_sealed_free(wb_store_sealed *s)
{
    if (s->ops->release != NULL)
        s->ops->release(s);
    wb_vault_key_unref(s->key);
    free(s->h);
    free(s);
}

static void wb_store_sealed_keyed(void *arg, wb_store_status status, wb_vault_key *key)
{
    wb_store_sealed *s = arg;
    if (s->h->cancelled) {
        wb_store_sealed_free(s);
        return;
    }
    if (status != WB_STORE_OK) {
        s->ops->fail(s, status);
        wb_store_sealed_free(s);
        return;
    }
    s->key = wb_vault_key_ref(key);
    if (s->ops->query(s) < 0) {
        s->ops->fail(s, WB_STORE_UNAVAILABLE);
        wb_store_sealed_free(s);
    }
}

static void wb_store_sealed_deliver(wb_store_req *r, const PGresult *res)
{
    wb_store_sealed *s = r->arg;
    s->restarted = false;
    if (!s->h->cancelled)
        s->ops->deliver(s, res);
    if (!s->restarted)
        wb_store_sealed_free(s);
}

wb_store_req *wb_store_sealed_start(wb_store_sealed *s, wb_store *st, const char *node,
                                    const char *domain, const wb_store_sealed_ops *ops,
                                    void (*cb)(void), void *arg)
{
    const size_t nl = strlen(node), dl = strlen(domain);
    s->ops = ops;
    s->st = st;
    if (nl > WB_STORE_SEAL_PART_MAX || dl > WB_STORE_SEAL_PART_MAX)
        goto fail;
    memcpy(s->node, node, nl + 1);
    memcpy(s->domain, domain, dl + 1);
    s->h = wb_store_handle_new(cb, arg);
    if (s->h == NULL)
        goto fail;
    wb_store_req *h = s->h;
    if (wb_store_account_key(st, domain, node, wb_store_sealed_keyed, s) == NULL)
        goto fail;
    return h;
fail:
    wb_store_sealed_free(s);
    return NULL;
}

int wb_store_sealed_submit(wb_store_sealed *s, const char *sql, const wb_store_param *p, int n)
{
    return wb_store_submit(s->st, sql, p, n, wb_store_sealed_deliver, NULL, s) != NULL ? 0 : -1;
}

int wb_store_sealed_stale(wb_store_sealed *s)
{
    wb_store_account_key_forget(s->st, s->domain, s->node);
    if (s->retried)
        return -1;
    s->retried = true;
    wb_vault_key_unref(s->key);
    s->key = NULL;
    if (wb_store_account_key(s->st, s->domain, s->node, wb_store_sealed_keyed, s) == NULL)
        return -1;
    s->restarted = true;
    return 0;
}

int64_t wb_store_sealed_account(const wb_store_sealed *s)
{
    return wb_vault_key_account(s->key);
}

int wb_store_seal_value(const wb_vault_key *key, const char *ad, const void *plain, size_t len,
                        wb_buf *out)
{
    uint8_t *sealed = malloc(len + WB_VAULT_OVERHEAD);
    if (sealed == NULL)
        return -1;
    int rc = wb_vault_seal(key, ad, plain, len, sealed);
    if (rc == 0)
        rc = wb_buf_append(out, sealed, len + WB_VAULT_OVERHEAD) < 0 ? -1 : 0;
    free(sealed);
    return rc;
}

char *wb_store_open_value(const wb_vault_key *key, const char *ad, const PGresult *res, int row,
                          int col, size_t max, size_t *len, bool *bad)
{
    *len = 0;
    *bad = false;
    if (PQgetisnull(res, row, col))
        return NULL;
    const size_t n = (size_t)PQgetlength(res, row, col);
    *bad = true;
    if (n < WB_VAULT_OVERHEAD || n - WB_VAULT_OVERHEAD > max)
        return NULL;
    char *plain = malloc(n - WB_VAULT_OVERHEAD + 1);
    if (plain == NULL)
        return NULL;
    if (wb_vault_open_sealed(key, ad, (const uint8_t *)PQgetvalue(res, row, col), n,
                             (uint8_t *)plain) < 0) {
        free(plain);
        return NULL;
    }
    *bad = false;
    *len = n - WB_VAULT_OVERHEAD;
    plain[*len] = '\0';
    return plain;
}

void wb_store_seal_report(int64_t account, const char *table, const char *column)
{
    wb_error("storage: sealed value does not open (account %" PRId64
             ", table %s, column %s): treated as absent",
             account, table, column);
}

void wb_store_seal_free(char *plain, size_t len)
{
    if (plain == NULL)
        return;
    sodium_memzero(plain, len);
    free(plain);
}
