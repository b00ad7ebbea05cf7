/* GDPR requests on a blocking connection: the export (every table that holds an account's data,
 * read through cursors in one snapshot and opened with its data key), erasure, rectification and
 * the gdpr_requests register. SQL only; the HTTP side is server/admin/wb_admin_gdpr.c. */
#include "wb_store_gdpr.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_buf.h"
#include "wb_store_keys.h"
#include "wb_store_roster.h"
#include "wb_store_seal.h"

#define WB_GDPR_AD_MAX     (WB_STORE_SEAL_AD_MAX + 2048)
#define WB_GDPR_FETCH      200 /* rows per cursor fetch */
#define WB_GDPR_ROSTER_MAX 65536
#define WB_GDPR_XSTR(x)    #x
#define WB_GDPR_STR(x)     WB_GDPR_XSTR(x)
/* A timestamp column as RFC 3339 UTC text. */
#define WB_GDPR_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The join that finds the owner of table x by (domain, node). */
#define WB_GDPR_OWN " JOIN accounts a ON a.id = x.account_id WHERE a.domain = $1 AND a.node = $2"

/* ---- helpers ---- */

static void wb_gdpr_db_error(char *err, size_t errsize, wb_pg *pg, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (msg[0] == '\0')
        msg = PQerrorMessage(pg);
    snprintf(err, errsize, "database error: %.*s", (int)strcspn(msg, "\r\n"), msg);
}

/* One statement, binary results (every non-bytea column is cast to text in the SQL); parameter i
 * is binary when lengths[i] > 0. NULL (err set) unless the status is want. */
static PGresult *wb_gdpr_exec(wb_pg *pg, const char *sql, int n, const char *const *values,
                              const int *lengths, ExecStatusType want, char *err, size_t errsize)
{
    int formats[8] = {0};
    for (int i = 0; lengths != NULL && i < n && i < 8; i++)
        formats[i] = lengths[i] > 0;
    PGresult *res = PQexecParams(pg, sql, n, NULL, values, lengths, formats, 1);
    if (PQresultStatus(res) != want) {
        wb_gdpr_db_error(err, errsize, pg, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

static int wb_gdpr_cmd(wb_pg *pg, const char *sql, char *err, size_t errsize)
{
    PGresult *res = wb_gdpr_exec(pg, sql, 0, NULL, NULL, PGRES_COMMAND_OK, err, errsize);
    PQclear(res);
    return res != NULL ? 0 : -1;
}

static void wb_gdpr_rollback(wb_pg *pg)
{
    PQclear(PQexec(pg, "ROLLBACK"));
}

/* A text column, or NULL when the column is NULL. */
static const char *wb_gdpr_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static json_t *wb_gdpr_jstr(const PGresult *res, int row, int col)
{
    const char *s = wb_gdpr_text(res, row, col);
    return s != NULL ? json_string(s) : json_null();
}

static bool wb_gdpr_bool(const PGresult *res, int row, int col)
{
    const char *s = wb_gdpr_text(res, row, col);
    return s != NULL && strcmp(s, "true") == 0;
}

/* Unwraps the data key in columns (wrapped, master_id) of row; NULL when they are NULL (*bad
 * false) or do not open (*bad true). */
static wb_vault_key *wb_gdpr_unwrap(wb_vault *v, int64_t account, const PGresult *res, int row,
                                    int col, bool *bad)
{
    *bad = false;
    if (PQgetisnull(res, row, col) || PQgetisnull(res, row, col + 1))
        return NULL;
    wb_vault_key *k = wb_vault_key_unwrap(
        v, account, (const uint8_t *)PQgetvalue(res, row, col + 1),
        (size_t)PQgetlength(res, row, col + 1), (const uint8_t *)PQgetvalue(res, row, col),
        (size_t)PQgetlength(res, row, col));
    *bad = k == NULL;
    return k;
}

/* The account id and data key of node@domain (created when create and missing). */
static wb_gdpr_rc wb_gdpr_account_key(wb_pg *pg, wb_vault *v, const char *node, const char *domain,
                                      bool create, int64_t *account, wb_vault_key **key, char *err,
                                      size_t errsize)
{
    const char *const who[] = {domain, node};
    bool bad = false;
    *key = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *res = wb_gdpr_exec(pg,
                                     "SELECT a.id::text, k.wrapped, k.master_id FROM accounts a "
                                     "LEFT JOIN account_keys k ON k.account_id = a.id "
                                     "WHERE a.domain = $1 AND a.node = $2",
                                     2, who, NULL, PGRES_TUPLES_OK, err, errsize);
        if (res == NULL)
            return WB_GDPR_ERROR;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return WB_GDPR_NOT_FOUND;
        }
        *account = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *key = wb_gdpr_unwrap(v, *account, res, 0, 1, &bad);
        PQclear(res);
        if (*key != NULL || bad || !create || attempt > 0)
            break;
        if (wb_store_account_key_create(pg, v, node, domain, err, errsize) < 0)
            return WB_GDPR_ERROR;
    }
    if (*key == NULL && (bad || create)) {
        snprintf(err, errsize, "the data key of account %" PRId64 " does not open", *account);
        return WB_GDPR_ERROR;
    }
    return WB_GDPR_OK;
}

/* ---- export ---- */

typedef struct wb_gdpr_ctx {
    wb_pg *pg;
    const char *who[2]; /* domain, node: $1, $2 of every section */
    int64_t account;
    wb_vault_key *key; /* NULL when the account never had one (nothing sealed then) */
    size_t used, max;  /* plaintext bytes gathered, bound */
    int64_t unreadable;
    bool too_large;
    char *err;
    size_t errsize;
} wb_gdpr_ctx;

/* Opens sealed column col of row (AD ad): malloc'd plaintext and *len, or NULL (absent, or
 * unreadable: counted). Counts the bytes against the bound. */
static char *wb_gdpr_plain(wb_gdpr_ctx *c, const char *ad, const PGresult *res, int row, int col,
                           size_t *len)
{
    bool bad = false;
    char *p = NULL;
    *len = 0;
    if (PQgetisnull(res, row, col))
        return NULL;
    if (c->key != NULL)
        p = wb_store_open_value(c->key, ad, res, row, col, c->max, len, &bad);
    if (p == NULL) {
        c->unreadable++;
        return NULL;
    }
    c->used += *len;
    if (c->used > c->max)
        c->too_large = true;
    return p;
}

/* The same as a JSON string (null when absent, unreadable or not UTF-8). */
static json_t *wb_gdpr_open(wb_gdpr_ctx *c, const char *ad, const PGresult *res, int row, int col)
{
    size_t len = 0;
    char *p = wb_gdpr_plain(c, ad, res, row, col, &len);
    json_t *s = p != NULL ? json_stringn(p, len) : NULL;
    if (p != NULL && s == NULL)
        c->unreadable++;
    wb_store_seal_free(p, len);
    return s != NULL ? s : json_null();
}

typedef void (*wb_gdpr_row_fn)(wb_gdpr_ctx *c, const PGresult *res, int row, json_t *into);

/* Runs sql ($1 domain, $2 node) through a cursor, calling fn for each row. 0 or -1. */
static int wb_gdpr_section(wb_gdpr_ctx *c, const char *sql, wb_gdpr_row_fn fn, json_t *into)
{
    char decl[2048];
    snprintf(decl, sizeof(decl), "DECLARE wb_gdpr_cur NO SCROLL CURSOR FOR %s", sql);
    PGresult *res =
        wb_gdpr_exec(c->pg, decl, 2, c->who, NULL, PGRES_COMMAND_OK, c->err, c->errsize);
    if (res == NULL)
        return -1;
    PQclear(res);
    int n = 0;
    do {
        res = wb_gdpr_exec(c->pg, "FETCH " WB_GDPR_STR(WB_GDPR_FETCH) " FROM wb_gdpr_cur", 0, NULL,
                           NULL, PGRES_TUPLES_OK, c->err, c->errsize);
        if (res == NULL)
            return -1;
        n = PQntuples(res);
        for (int i = 0; i < n && !c->too_large; i++)
            fn(c, res, i, into);
        PQclear(res);
    } while (n > 0 && !c->too_large);
    return wb_gdpr_cmd(c->pg, "CLOSE wb_gdpr_cur", c->err, c->errsize);
}

static void wb_gdpr_roster_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    char ad[WB_GDPR_AD_MAX];
    size_t len = 0;
    const char *contact = PQgetvalue(res, i, 0);
    const bool to = wb_gdpr_bool(res, i, 1), from = wb_gdpr_bool(res, i, 2);
    json_t *groups = json_array(), *name = json_null();
    snprintf(ad, sizeof(ad), "roster:%" PRId64 ":%s:item", c->account, contact);
    char *item = wb_gdpr_plain(c, ad, res, i, 7, &len);
    if (item != NULL) {
        const size_t nl = strlen(item);
        json_decref(name);
        name = nl > 0 ? json_stringn(item, nl) : json_null();
        for (const char *g = nl < len ? item + nl + 1 : "", *end; *g != '\0';
             g = end + (*end != 0)) {
            end = strchr(g, WB_ROSTER_GROUP_SEP);
            end = end != NULL ? end : g + strlen(g);
            json_array_append_new(groups, json_stringn(g, (size_t)(end - g)));
        }
    }
    wb_store_seal_free(item, len);
    snprintf(ad, sizeof(ad), "roster:%" PRId64 ":%s:pending", c->account, contact);
    json_array_append_new(
        into, json_pack("{s:s, s:o, s:o, s:s, s:b, s:b, s:b, s:b, s:o}", "jid", contact, "name",
                        name ? name : json_null(), "groups", groups, "subscription",
                        to && from ? "both"
                        : to       ? "to"
                        : from     ? "from"
                                   : "none",
                        "ask", wb_gdpr_bool(res, i, 3), "pending_in", wb_gdpr_bool(res, i, 4),
                        "approved", wb_gdpr_bool(res, i, 5), "in_roster", wb_gdpr_bool(res, i, 6),
                        "pending_status", wb_gdpr_open(c, ad, res, i, 8)));
}

/* xml_documents: the vCard goes to into["vcard"], private XML to into["private_xml"]. */
static void wb_gdpr_xml_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    char ad[WB_GDPR_AD_MAX];
    const char *kind = PQgetvalue(res, i, 0), *key = PQgetvalue(res, i, 1);
    snprintf(ad, sizeof(ad), "xml:%" PRId64 ":%s:%s", c->account, kind, key);
    json_t *doc = json_pack("{s:s, s:o}", "updated_at", PQgetvalue(res, i, 2), "xml",
                            wb_gdpr_open(c, ad, res, i, 3));
    if (strcmp(kind, "vcard") == 0) {
        json_object_set_new(into, "vcard", doc);
        return;
    }
    json_object_set_new(doc, "key", json_string(key));
    json_array_append_new(json_object_get(into, "private_xml"), doc);
}

static void wb_gdpr_pep_node_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    (void)c;
    json_array_append_new(
        into, json_pack("{s:s, s:s, s:I, s:b, s:s}", "node", PQgetvalue(res, i, 0), "access_model",
                        PQgetvalue(res, i, 1), "max_items",
                        (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10), "persist_items",
                        wb_gdpr_bool(res, i, 3), "created_at", PQgetvalue(res, i, 4)));
}

static void wb_gdpr_pep_item_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    char ad[WB_GDPR_AD_MAX];
    const char *node = PQgetvalue(res, i, 0), *item = PQgetvalue(res, i, 1);
    snprintf(ad, sizeof(ad), "pep:%" PRId64 ":%zu:%s:%s", c->account, strlen(node), node, item);
    json_array_append_new(into, json_pack("{s:s, s:s, s:s, s:o}", "node", node, "item_id", item,
                                          "published_at", PQgetvalue(res, i, 2), "payload",
                                          wb_gdpr_open(c, ad, res, i, 3)));
}

static void wb_gdpr_archive_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    char ad[WB_GDPR_AD_MAX];
    const char *sid = PQgetvalue(res, i, 0);
    snprintf(ad, sizeof(ad), "archive:%" PRId64 ":%s", c->account, sid);
    json_array_append_new(into,
                          json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "stanza_id", sid, "time",
                                    PQgetvalue(res, i, 1), "direction",
                                    wb_gdpr_bool(res, i, 3) ? "sent" : "received", "peer",
                                    PQgetvalue(res, i, 2), "retracted", wb_gdpr_bool(res, i, 4),
                                    "stanza", wb_gdpr_open(c, ad, res, i, 5)));
}

static void wb_gdpr_offline_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    char ad[WB_GDPR_AD_MAX];
    snprintf(ad, sizeof(ad), "offline:%" PRId64 ":%s", c->account, PQgetvalue(res, i, 2));
    json_array_append_new(into, json_pack("{s:s, s:s, s:o}", "received_at", PQgetvalue(res, i, 0),
                                          "from", PQgetvalue(res, i, 1), "stanza",
                                          wb_gdpr_open(c, ad, res, i, 3)));
}

static void wb_gdpr_last_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    char ad[WB_GDPR_AD_MAX];
    snprintf(ad, sizeof(ad), "last:%" PRId64 ":status", c->account);
    json_object_set_new(into, "last_activity",
                        json_pack("{s:s, s:o}", "logout_at", PQgetvalue(res, i, 0), "status",
                                  wb_gdpr_open(c, ad, res, i, 1)));
}

static void wb_gdpr_prefs_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    (void)c;
    json_object_set_new(into, "archive_prefs",
                        json_pack("{s:s, s:o, s:o}", "default", PQgetvalue(res, i, 0), "always",
                                  json_loads(PQgetvalue(res, i, 1), 0, NULL), "never",
                                  json_loads(PQgetvalue(res, i, 2), 0, NULL)));
}

static void wb_gdpr_block_row(wb_gdpr_ctx *c, const PGresult *res, int i, json_t *into)
{
    (void)c;
    json_array_append_new(into, json_pack("{s:s, s:s}", "jid", PQgetvalue(res, i, 0), "created_at",
                                          PQgetvalue(res, i, 1)));
}

/* The sections after the account: SQL over x (joined to a by WB_GDPR_OWN), the row function,
 * and the member of the export they fill (NULL: the function fills the export itself). */
static const struct {
    const char *member;
    const char *sql;
    wb_gdpr_row_fn fn;
} wb_gdpr_sections[] = {
    {"roster",
     "SELECT x.contact, x.sub_to::text, x.sub_from::text, x.ask::text, x.pending_in::text, "
     "x.approved::text, x.in_roster::text, x.item_sealed, x.pending_sealed FROM roster_items "
     "x" WB_GDPR_OWN " ORDER BY x.contact",
     wb_gdpr_roster_row},
    {NULL,
     "SELECT x.kind, x.key, " WB_GDPR_TS(
         "x.updated_at") ", x.value FROM xml_documents x" WB_GDPR_OWN " ORDER BY x.kind, x.key",
     wb_gdpr_xml_row},
    {"pep_nodes",
     "SELECT x.node, x.access_model, x.max_items::text, x.persist_items::text, " WB_GDPR_TS(
         "x.created_at") " FROM pep_nodes x" WB_GDPR_OWN " ORDER BY x.node",
     wb_gdpr_pep_node_row},
    {"pep_items",
     "SELECT x.node, x.item_id, " WB_GDPR_TS(
         "x.published_at") ", x.payload FROM pep_items x" WB_GDPR_OWN " ORDER BY x.node, x.seq",
     wb_gdpr_pep_item_row},
    {"archive",
     "SELECT x.stanza_id::text, " WB_GDPR_TS(
         "x.ts") ", x.peer, x.outgoing::text, "
                 "x.retracted::text, x.payload FROM archive x" WB_GDPR_OWN " ORDER BY x.ts, x.id",
     wb_gdpr_archive_row},
    {"offline",
     "SELECT " WB_GDPR_TS("x.received_at") ", x.sender, x.seal_id::text, x.payload "
                                           "FROM offline_messages x" WB_GDPR_OWN " ORDER BY x.id",
     wb_gdpr_offline_row},
    {NULL, "SELECT " WB_GDPR_TS("x.logout_at") ", x.status_sealed FROM last_activity x" WB_GDPR_OWN,
     wb_gdpr_last_row},
    {NULL,
     "SELECT x.default_mode, array_to_json(x.always_jids)::text, "
     "array_to_json(x.never_jids)::text FROM archive_prefs x" WB_GDPR_OWN,
     wb_gdpr_prefs_row},
    {"blocklist",
     "SELECT x.jid, " WB_GDPR_TS("x.created_at") " FROM blocklist x" WB_GDPR_OWN " ORDER BY x.jid",
     wb_gdpr_block_row},
};

/* The account row and its key into c and out["account"]. */
static wb_gdpr_rc wb_gdpr_export_account(wb_gdpr_ctx *c, wb_vault *v, json_t *out)
{
    bool bad = false;
    PGresult *res = wb_gdpr_exec(
        c->pg,
        "SELECT a.id::text, a.node || '@' || a.domain, " WB_GDPR_TS(
            "a.created_at") ", a.disabled::text, k.wrapped, k.master_id FROM accounts a "
                            "LEFT JOIN account_keys k ON k.account_id = a.id "
                            "WHERE a.domain = $1 AND a.node = $2",
        2, c->who, NULL, PGRES_TUPLES_OK, c->err, c->errsize);
    if (res == NULL)
        return WB_GDPR_ERROR;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return WB_GDPR_NOT_FOUND;
    }
    c->account = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    c->key = wb_gdpr_unwrap(v, c->account, res, 0, 4, &bad);
    json_object_set_new(out, "account",
                        json_pack("{s:s, s:s, s:b, s:b}", "jid", PQgetvalue(res, 0, 1),
                                  "created_at", PQgetvalue(res, 0, 2), "disabled",
                                  wb_gdpr_bool(res, 0, 3), "data_key", !PQgetisnull(res, 0, 4)));
    PQclear(res);
    if (bad) {
        snprintf(c->err, c->errsize, "the data key of account %" PRId64 " does not open",
                 c->account);
        return WB_GDPR_ERROR;
    }
    return WB_GDPR_OK;
}

static wb_gdpr_rc wb_gdpr_export_all(wb_gdpr_ctx *c, wb_vault *v, json_t *out)
{
    wb_gdpr_rc rc = wb_gdpr_export_account(c, v, out);
    if (rc != WB_GDPR_OK)
        return rc;
    json_object_set_new(out, "vcard", json_null());
    json_object_set_new(out, "last_activity", json_null());
    json_object_set_new(out, "archive_prefs", json_null());
    json_object_set_new(out, "private_xml", json_array());
    for (size_t i = 0; i < sizeof(wb_gdpr_sections) / sizeof(wb_gdpr_sections[0]); i++) {
        json_t *into = out;
        if (wb_gdpr_sections[i].member != NULL) {
            into = json_array();
            json_object_set_new(out, wb_gdpr_sections[i].member, into);
        }
        if (wb_gdpr_section(c, wb_gdpr_sections[i].sql, wb_gdpr_sections[i].fn, into) < 0)
            return WB_GDPR_ERROR;
        if (c->too_large)
            return WB_GDPR_TOO_LARGE;
    }
    json_object_set_new(out, "unreadable", json_integer((json_int_t)c->unreadable));
    return WB_GDPR_OK;
}

wb_gdpr_rc wb_store_gdpr_export(wb_pg *pg, wb_vault *v, const char *node, const char *domain,
                                size_t max_bytes, json_t **out, char *err, size_t errsize)
{
    wb_gdpr_ctx c = {
        .pg = pg, .who = {domain, node}, .max = max_bytes, .err = err, .errsize = errsize};
    *out = NULL;
    if (wb_gdpr_cmd(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errsize) < 0)
        return WB_GDPR_ERROR;
    json_t *doc = json_pack("{s:s}", "format", "warbler-gdpr-export/1");
    const wb_gdpr_rc rc = doc != NULL ? wb_gdpr_export_all(&c, v, doc) : WB_GDPR_ERROR;
    wb_gdpr_rollback(pg); /* read-only: nothing to keep */
    wb_vault_key_unref(c.key);
    if (rc != WB_GDPR_OK) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return WB_GDPR_OK;
}

/* ---- erasure ---- */

static const char *const wb_gdpr_erase_counts[] = {"archive_messages", "offline_messages",
                                                   "roster_items",     "xml_documents",
                                                   "pep_items",        "blocklist_entries"};

/* Locks the account row and counts what it holds (the receipt) into *erased. */
static wb_gdpr_rc wb_gdpr_erase_count(wb_pg *pg, const char *const who[2], json_t **erased,
                                      char *err, size_t errsize)
{
    PGresult *res = wb_gdpr_exec(
        pg,
        "SELECT EXISTS (SELECT 1 FROM account_keys k WHERE k.account_id = a.id)::text, "
        "(SELECT count(*) FROM archive x WHERE x.account_id = a.id)::text, "
        "(SELECT count(*) FROM offline_messages x WHERE x.account_id = a.id)::text, "
        "(SELECT count(*) FROM roster_items x WHERE x.account_id = a.id)::text, "
        "(SELECT count(*) FROM xml_documents x WHERE x.account_id = a.id)::text, "
        "(SELECT count(*) FROM pep_items x WHERE x.account_id = a.id)::text, "
        "(SELECT count(*) FROM blocklist x WHERE x.account_id = a.id)::text "
        "FROM accounts a WHERE a.domain = $1 AND a.node = $2 FOR UPDATE",
        2, who, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_GDPR_ERROR;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return WB_GDPR_NOT_FOUND;
    }
    *erased = json_pack("{s:b, s:b}", "data_key", wb_gdpr_bool(res, 0, 0), "account", 1);
    for (int i = 0; i < 6; i++)
        json_object_set_new(*erased, wb_gdpr_erase_counts[i],
                            json_integer(strtoll(PQgetvalue(res, 0, i + 1), NULL, 10)));
    PQclear(res);
    return WB_GDPR_OK;
}

wb_gdpr_rc wb_store_gdpr_erase(wb_pg *pg, const char *node, const char *domain, json_t **erased,
                               char *err, size_t errsize)
{
    const char *const who[] = {domain, node};
    *erased = NULL;
    if (wb_gdpr_cmd(pg, "BEGIN", err, errsize) < 0)
        return WB_GDPR_ERROR;
    wb_gdpr_rc rc = wb_gdpr_erase_count(pg, who, erased, err, errsize);
    /* account_delete destroys the data key first, then the account with all it owns. */
    PGresult *res = rc == WB_GDPR_OK ? wb_gdpr_exec(pg, "SELECT account_delete($1, $2)::text", 2,
                                                    who, NULL, PGRES_TUPLES_OK, err, errsize)
                                     : NULL;
    if (rc == WB_GDPR_OK && (res == NULL || PQgetisnull(res, 0, 0)))
        rc = res == NULL ? WB_GDPR_ERROR : WB_GDPR_NOT_FOUND;
    PQclear(res);
    if (rc == WB_GDPR_OK && wb_gdpr_cmd(pg, "COMMIT", err, errsize) < 0)
        rc = WB_GDPR_ERROR;
    if (rc != WB_GDPR_OK) {
        wb_gdpr_rollback(pg);
        json_decref(*erased);
        *erased = NULL;
    }
    return rc;
}

/* ---- rectification ---- */

wb_gdpr_rc wb_store_gdpr_rectify_vcard(wb_pg *pg, wb_vault *v, const char *node, const char *domain,
                                       const char *xml, size_t len, char *err, size_t errsize)
{
    int64_t account = 0;
    wb_vault_key *key = NULL;
    char ad[WB_GDPR_AD_MAX], acc[24];
    wb_buf sealed;
    wb_buf_init(&sealed);
    wb_gdpr_rc rc = wb_gdpr_account_key(pg, v, node, domain, true, &account, &key, err, errsize);
    if (rc != WB_GDPR_OK)
        return rc;
    snprintf(ad, sizeof(ad), "xml:%" PRId64 ":vcard:", account);
    snprintf(acc, sizeof(acc), "%" PRId64, account);
    rc = WB_GDPR_ERROR;
    if (wb_store_seal_value(key, ad, xml, len, &sealed) < 0) {
        snprintf(err, errsize, "cannot seal the vCard");
        goto done;
    }
    const char *const values[] = {domain, node, (const char *)sealed.data, acc};
    const int lengths[] = {0, 0, (int)sealed.len, 0};
    PGresult *res =
        wb_gdpr_exec(pg,
                     "INSERT INTO xml_documents (account_id, kind, key, value, updated_at) "
                     "SELECT a.id, 'vcard', '', $3, now() FROM accounts a "
                     "WHERE a.domain = $1 AND a.node = $2 AND a.id = $4::bigint "
                     "ON CONFLICT (account_id, kind, key) DO UPDATE SET value = EXCLUDED.value, "
                     "updated_at = now() RETURNING 1",
                     4, values, lengths, PGRES_TUPLES_OK, err, errsize);
    if (res != NULL)
        rc = PQntuples(res) == 1 ? WB_GDPR_OK : WB_GDPR_NOT_FOUND;
    PQclear(res);
done:
    wb_buf_free(&sealed);
    wb_vault_key_unref(key);
    return rc;
}

/* The item's new sealed value: name, NUL, the groups it had (opened from column 0 of res). */
static int wb_gdpr_roster_reseal(const wb_vault_key *key, const char *ad, const PGresult *res,
                                 const char *name, wb_buf *out)
{
    size_t len = 0;
    bool bad = false;
    char *old = wb_store_open_value(key, ad, res, 0, 0, WB_GDPR_ROSTER_MAX, &len, &bad);
    if (bad)
        return -1;
    const size_t nl = old != NULL ? strlen(old) : 0;
    wb_buf plain;
    wb_buf_init(&plain);
    wb_buf_puts(&plain, name != NULL ? name : "");
    wb_buf_append(&plain, "", 1);
    wb_buf_puts(&plain, old != NULL && nl < len ? old + nl + 1 : "");
    wb_store_seal_free(old, len);
    const int rc = plain.failed ? -1 : wb_store_seal_value(key, ad, plain.data, plain.len, out);
    wb_store_seal_free(wb_buf_steal(&plain, &len), len);
    return rc;
}

/* In the transaction: locks the roster (roster_lock, as roster changes do), re-seals the item. */
static wb_gdpr_rc wb_gdpr_roster_update(wb_pg *pg, const wb_vault_key *key, int64_t account,
                                        const char *const who[3], const char *name, char *err,
                                        size_t errsize)
{
    char ad[WB_GDPR_AD_MAX], acc[24];
    wb_buf sealed;
    wb_buf_init(&sealed);
    snprintf(acc, sizeof(acc), "%" PRId64, account);
    snprintf(ad, sizeof(ad), "roster:%" PRId64 ":%s:item", account, who[2]);
    const char *const sel[] = {who[0], who[1], who[2], acc};
    PGresult *res = wb_gdpr_exec(pg,
                                 "SELECT r.item_sealed FROM (SELECT roster_lock($1, $2) AS acc) l "
                                 "JOIN roster_items r ON r.account_id = l.acc "
                                 "WHERE r.contact = $3 AND r.account_id = $4::bigint "
                                 "AND r.in_roster",
                                 4, sel, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return WB_GDPR_ERROR;
    wb_gdpr_rc rc = PQntuples(res) == 1 ? WB_GDPR_OK : WB_GDPR_NOT_FOUND;
    if (rc == WB_GDPR_OK && wb_gdpr_roster_reseal(key, ad, res, name, &sealed) < 0) {
        snprintf(err, errsize, "the roster item of account %s does not open", acc);
        rc = WB_GDPR_ERROR;
    }
    PQclear(res);
    if (rc != WB_GDPR_OK)
        goto done;
    const char *const upd[] = {acc, who[2], (const char *)sealed.data};
    const int lengths[] = {0, 0, (int)sealed.len};
    res =
        wb_gdpr_exec(pg,
                     "UPDATE roster_items SET item_sealed = $3, version = roster_bump($1::bigint) "
                     "WHERE account_id = $1::bigint AND contact = $2 RETURNING 1",
                     3, upd, lengths, PGRES_TUPLES_OK, err, errsize);
    rc = res == NULL ? WB_GDPR_ERROR : PQntuples(res) == 1 ? WB_GDPR_OK : WB_GDPR_NOT_FOUND;
    PQclear(res);
done:
    wb_buf_free(&sealed);
    return rc;
}

wb_gdpr_rc wb_store_gdpr_rectify_roster(wb_pg *pg, wb_vault *v, const char *node,
                                        const char *domain, const char *contact, const char *name,
                                        char *err, size_t errsize)
{
    int64_t account = 0;
    wb_vault_key *key = NULL;
    const char *const who[] = {domain, node, contact};
    wb_gdpr_rc rc = wb_gdpr_account_key(pg, v, node, domain, true, &account, &key, err, errsize);
    if (rc != WB_GDPR_OK)
        return rc;
    if (wb_gdpr_cmd(pg, "BEGIN", err, errsize) < 0) {
        wb_vault_key_unref(key);
        return WB_GDPR_ERROR;
    }
    rc = wb_gdpr_roster_update(pg, key, account, who, name, err, errsize);
    if (rc == WB_GDPR_OK && wb_gdpr_cmd(pg, "COMMIT", err, errsize) < 0)
        rc = WB_GDPR_ERROR;
    if (rc != WB_GDPR_OK)
        wb_gdpr_rollback(pg);
    wb_vault_key_unref(key);
    return rc;
}

/* ---- the register ---- */

int wb_store_gdpr_request_open(wb_pg *pg, const char *kind, const char *node, const char *domain,
                               const char *actor, char id[WB_GDPR_ID_MAX], char *err,
                               size_t errsize)
{
    const char *const values[] = {kind, domain, node, actor};
    PGresult *res = wb_gdpr_exec(pg,
                                 "INSERT INTO gdpr_requests (kind, target, account_id, actor) "
                                 "SELECT $1, $3 || '@' || $2, (SELECT a.id FROM accounts a "
                                 "WHERE a.domain = $2 AND a.node = $3), $4 RETURNING id::text",
                                 4, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    snprintf(id, WB_GDPR_ID_MAX, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int wb_store_gdpr_request_close(wb_pg *pg, const char *id, const char *status, const char *detail,
                                char finished_at[WB_GDPR_TIME_MAX], char *err, size_t errsize)
{
    const char *const values[] = {id, status, detail};
    PGresult *res = wb_gdpr_exec(pg,
                                 "UPDATE gdpr_requests SET status = $2, detail = $3, "
                                 "finished_at = now() WHERE id = $1::uuid "
                                 "RETURNING " WB_GDPR_TS("finished_at"),
                                 3, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return -1;
    snprintf(finished_at, WB_GDPR_TIME_MAX, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return 0;
}

json_t *wb_store_gdpr_request_list(wb_pg *pg, int limit, int64_t offset, int64_t *total, char *err,
                                   size_t errsize)
{
    char lim[16], off[24];
    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(off, sizeof(off), "%" PRId64, offset);
    const char *const values[] = {lim, off};
    PGresult *res = wb_gdpr_exec(pg,
                                 "SELECT r.id::text, r.kind, r.target, r.actor, r.status, "
                                 "r.detail, " WB_GDPR_TS("r.created_at") ", " WB_GDPR_TS(
                                     "r.finished_at") ", "
                                                      "(SELECT count(*) FROM gdpr_requests)::text "
                                                      "FROM gdpr_requests r "
                                                      "ORDER BY r.created_at DESC, r.id LIMIT "
                                                      "$1::int OFFSET $2::bigint",
                                 2, values, NULL, PGRES_TUPLES_OK, err, errsize);
    if (res == NULL)
        return NULL;
    json_t *items = json_array();
    const int n = PQntuples(res);
    *total = n > 0 ? strtoll(PQgetvalue(res, 0, 8), NULL, 10) : 0;
    for (int i = 0; i < n; i++)
        json_array_append_new(
            items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o}", "id",
                             PQgetvalue(res, i, 0), "kind", PQgetvalue(res, i, 1), "target",
                             PQgetvalue(res, i, 2), "actor", PQgetvalue(res, i, 3), "status",
                             PQgetvalue(res, i, 4), "detail", wb_gdpr_jstr(res, i, 5), "created_at",
                             PQgetvalue(res, i, 6), "finished_at", wb_gdpr_jstr(res, i, 7)));
    PQclear(res);
    return items;
}
