/* warblerctl gdpr: the GDPR requests of the admin API from the command line, through the same
 * shared code (server/wb_gdpr.c: registered, run, closed) and audited as "ctl" with the Unix
 * user; the export goes to stdout or to a new file of mode 0600. */
#include "wb_ctl_gdpr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wb_ctl_audit.h"
#include "wb_ctl_common.h"
#include "wb_ctl_daemon.h"
#include "wb_ctl_keys.h"
#include "wb_gdpr.h"

#define WB_CTL_GDPR_LIMIT     100
#define WB_CTL_GDPR_LIMIT_MAX 1000

enum { WB_CTL_GDPR_OUT = 1, WB_CTL_GDPR_FILE = 2, WB_CTL_GDPR_YES = 4, WB_CTL_GDPR_LIM = 8 };

static const struct {
    const char *cmd;
    int words;        /* JID, CONTACT, NAME... */
    unsigned allowed; /* options */
    unsigned needed;
    const char *usage;
} wb_ctl_gdpr_cmds[] = {
    {"export", 1, WB_CTL_GDPR_OUT, 0, "gdpr export JID [--out FILE]"},
    {"erase", 1, WB_CTL_GDPR_YES, WB_CTL_GDPR_YES, "gdpr erase JID --yes"},
    {"rectify-vcard", 1, WB_CTL_GDPR_FILE, WB_CTL_GDPR_FILE, "gdpr rectify-vcard JID --file FILE"},
    {"rectify-roster", 3, 0, 0, "gdpr rectify-roster JID CONTACT NAME"},
    {"requests", 0, WB_CTL_GDPR_LIM, 0, "gdpr requests [--limit N]"},
};
#define WB_CTL_GDPR_N_CMDS (sizeof(wb_ctl_gdpr_cmds) / sizeof(wb_ctl_gdpr_cmds[0]))

const char wb_ctl_gdpr_usage[] =
    "       warblerctl [-c FILE] gdpr export JID [--out FILE]\n"
    "       warblerctl [-c FILE] gdpr erase JID --yes\n"
    "       warblerctl [-c FILE] gdpr rectify-vcard JID --file FILE\n"
    "       warblerctl [-c FILE] gdpr rectify-roster JID CONTACT NAME\n"
    "       warblerctl [-c FILE] gdpr requests [--limit N]\n";

/* One option with its value; false when it is not that option or has no value. */
static bool wb_ctl_gdpr_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    if (strcmp(argv[*i], name) != 0 || *i + 1 >= argc || *value != NULL)
        return false;
    *value = argv[++*i];
    return true;
}

/* Reads argv[i..] into a, noting the options given in *given and the words in words. */
static int wb_ctl_gdpr_words(wb_ctl_gdpr_args *a, int argc, char **argv, int i, unsigned *given,
                             const char *words[3])
{
    const char *limit = NULL;
    int n = 0;
    for (; i < argc; i++) {
        if (wb_ctl_gdpr_opt(argc, argv, &i, "--out", &a->out))
            *given |= WB_CTL_GDPR_OUT;
        else if (wb_ctl_gdpr_opt(argc, argv, &i, "--file", &a->file))
            *given |= WB_CTL_GDPR_FILE;
        else if (wb_ctl_gdpr_opt(argc, argv, &i, "--limit", &limit))
            *given |= WB_CTL_GDPR_LIM;
        else if (strcmp(argv[i], "--yes") == 0)
            *given |= WB_CTL_GDPR_YES;
        else if (argv[i][0] != '-' && n < 3)
            words[n++] = argv[i];
        else
            return -1;
    }
    if (limit != NULL) {
        char *end = NULL;
        const long v = strtol(limit, &end, 10);
        if (limit[0] < '0' || limit[0] > '9' || *end != '\0' || v < 1 || v > WB_CTL_GDPR_LIMIT_MAX)
            return -1;
        a->limit = (int)v;
    }
    return n;
}

int wb_ctl_gdpr_parse(wb_ctl_gdpr_args *a, int argc, char **argv, int i)
{
    const char *words[3] = {NULL, NULL, NULL};
    unsigned given = 0;
    size_t c = 0;
    memset(a, 0, sizeof(*a));
    a->limit = WB_CTL_GDPR_LIMIT;
    while (i < argc && c < WB_CTL_GDPR_N_CMDS && strcmp(argv[i], wb_ctl_gdpr_cmds[c].cmd) != 0)
        c++;
    if (c == WB_CTL_GDPR_N_CMDS) {
        fprintf(stderr, "warblerctl: gdpr needs one of export, erase, rectify-vcard, "
                        "rectify-roster, requests (see --help)\n");
        return -1;
    }
    a->cmd = wb_ctl_gdpr_cmds[c].cmd;
    const int n = wb_ctl_gdpr_words(a, argc, argv, i + 1, &given, words);
    if (n != wb_ctl_gdpr_cmds[c].words || (given & ~wb_ctl_gdpr_cmds[c].allowed) != 0 ||
        (given & wb_ctl_gdpr_cmds[c].needed) != wb_ctl_gdpr_cmds[c].needed) {
        fprintf(stderr, "usage: warblerctl [-c FILE] %s\n", wb_ctl_gdpr_cmds[c].usage);
        return -1;
    }
    a->jid = words[0];
    a->contact = words[1];
    a->name = words[2];
    return 0;
}

/* ---- the requests ---- */

static const char *wb_ctl_gdpr_reason(wb_gdpr_rc rc)
{
    switch (rc) {
    case WB_GDPR_OK:
        return NULL;
    case WB_GDPR_NOT_FOUND:
        return "not found";
    case WB_GDPR_TOO_LARGE:
        return "too large";
    case WB_GDPR_ERROR:
        break;
    }
    return "failed";
}

/* Writes doc (taken over) to f, then a newline; -1 on a write error. */
static int wb_ctl_gdpr_print(json_t *doc, FILE *f)
{
    const int rc =
        json_dumpf(doc, f, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 && fputc('\n', f) != EOF ? 0 : -1;
    json_decref(doc);
    return rc;
}

static wb_gdpr_rc wb_ctl_gdpr_export(wb_pg *pg, wb_vault *v, const wb_ctl_gdpr_args *a,
                                     wb_gdpr_req *q, FILE *out, char *err, size_t errsize)
{
    json_t *doc = NULL;
    const wb_gdpr_rc rc = wb_gdpr_export(pg, v, q, &doc, err, errsize);
    if (rc != WB_GDPR_OK)
        return rc;
    if (wb_ctl_gdpr_print(doc, out) < 0 || fflush(out) != 0 || ferror(out)) {
        snprintf(err, errsize, "cannot write the export to %s", a->out ? a->out : "stdout");
        return WB_GDPR_ERROR;
    }
    if (a->out)
        printf("exported %s@%s to %s (request %s)\n", q->jid.node, q->jid.domain, a->out, q->id);
    return WB_GDPR_OK;
}

static wb_gdpr_rc wb_ctl_gdpr_erase(wb_pg *pg, const wb_config *cfg, wb_gdpr_req *q, char *err,
                                    size_t errsize)
{
    json_t *receipt = NULL;
    char target[WB_JID_PART_MAX * 2 + 2];
    const wb_gdpr_rc rc = wb_gdpr_erase(pg, q, &receipt, err, errsize);
    if (rc != WB_GDPR_OK)
        return rc;
    wb_ctl_gdpr_print(json_pack("{s:o}", "receipt", receipt), stdout);
    snprintf(target, sizeof(target), "%s@%s", q->jid.node, q->jid.domain);
    wb_ctl_daemon_close_sessions(cfg, target, "erased", stderr);
    return WB_GDPR_OK;
}

/* The vCard file (at most WB_GDPR_VCARD_MAX bytes, checked), malloc'd, its length in *len;
 * NULL (printed) when it cannot be read or is no vCard. */
static char *wb_ctl_gdpr_vcard_file(const char *path, size_t *len)
{
    char *buf = malloc(WB_GDPR_VCARD_MAX + 1);
    FILE *f = buf != NULL ? fopen(path, "rb") : NULL;
    if (f == NULL) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        free(buf);
        return NULL;
    }
    *len = fread(buf, 1, WB_GDPR_VCARD_MAX + 1, f);
    const bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || !wb_gdpr_vcard_valid(buf, *len)) {
        fprintf(stderr,
                "%s is not one <vCard xmlns='vcard-temp'> element of at most %d bytes, "
                "without a DTD\n",
                path, WB_GDPR_VCARD_MAX);
        free(buf);
        return NULL;
    }
    return buf;
}

static wb_gdpr_rc wb_ctl_gdpr_roster(wb_pg *pg, wb_vault *v, const wb_ctl_gdpr_args *a,
                                     wb_gdpr_req *q, char *err, size_t errsize)
{
    wb_jid c;
    char contact[WB_JID_PART_MAX * 2 + 2];
    if (wb_jid_parse(&c, a->contact, strlen(a->contact)) < 0 || wb_jid_has_resource(&c) ||
        wb_jid_bare(&c, contact, sizeof(contact)) < 0 || strlen(a->name) > WB_GDPR_NAME_MAX) {
        snprintf(err, errsize, "expected a bare contact JID and a name of at most %d bytes",
                 WB_GDPR_NAME_MAX);
        return WB_GDPR_ERROR;
    }
    const wb_gdpr_rc rc = wb_gdpr_rectify_roster(pg, v, q, contact, a->name, err, errsize);
    if (rc == WB_GDPR_OK)
        printf("rectified the roster name of %s for %s@%s (request %s)\n", contact, q->jid.node,
               q->jid.domain, q->id);
    return rc;
}

/* gdpr requests: one line each, newest first. */
static int wb_ctl_gdpr_requests(wb_pg *pg, const wb_config *cfg, int limit)
{
    char err[256];
    int64_t total = 0;
    json_t *items = wb_store_gdpr_request_list(pg, limit, 0, &total, err, sizeof(err));
    wb_ctl_audit_note(pg, cfg, "gdpr.list", NULL, items != NULL, items ? NULL : "failed");
    if (items == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    size_t i;
    json_t *r;
    json_array_foreach(items, i, r)
    {
        const char *keys[] = {"id",    "kind",       "target",      "status",
                              "actor", "created_at", "finished_at", "detail"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            const char *s = json_string_value(json_object_get(r, keys[k]));
            printf("%s%s", k ? "\t" : "", s != NULL && s[0] ? s : "-");
        }
        putchar('\n');
    }
    json_decref(items);
    return 0;
}

/* Runs the request of a on q (the account checked); what it needs locally is ready. */
static wb_gdpr_rc wb_ctl_gdpr_request(wb_pg *pg, const wb_config *cfg, wb_vault *v,
                                      const wb_ctl_gdpr_args *a, wb_gdpr_req *q, FILE *out,
                                      const char *vcard, size_t vcard_len, char *err,
                                      size_t errsize)
{
    if (strcmp(a->cmd, "export") == 0)
        return wb_ctl_gdpr_export(pg, v, a, q, out, err, errsize);
    if (strcmp(a->cmd, "erase") == 0)
        return wb_ctl_gdpr_erase(pg, cfg, q, err, errsize);
    if (strcmp(a->cmd, "rectify-roster") == 0)
        return wb_ctl_gdpr_roster(pg, v, a, q, err, errsize);
    const wb_gdpr_rc rc = wb_gdpr_rectify_vcard(pg, v, q, vcard, vcard_len, err, errsize);
    if (rc == WB_GDPR_OK)
        printf("rectified the vCard of %s@%s (request %s)\n", q->jid.node, q->jid.domain, q->id);
    return rc;
}

/* Audits the request as the admin API's routing does and prints why it failed. 0 or -1. */
static int wb_ctl_gdpr_report(wb_pg *pg, const wb_config *cfg, const wb_ctl_gdpr_args *a,
                              const char *target, wb_gdpr_rc rc, const char *err)
{
    const char *action = strcmp(a->cmd, "erase") == 0    ? "gdpr.erase"
                         : strcmp(a->cmd, "export") == 0 ? "gdpr.export"
                                                         : "gdpr.rectify";
    wb_ctl_audit_note(pg, cfg, action, target, rc == WB_GDPR_OK, wb_ctl_gdpr_reason(rc));
    if (rc == WB_GDPR_NOT_FOUND)
        fprintf(stderr, "no such account %s%s\n", target,
                strcmp(a->cmd, "rectify-roster") == 0 ? " or roster item" : "");
    else if (rc == WB_GDPR_TOO_LARGE)
        fprintf(stderr, "the export exceeds %u bytes\n", WB_GDPR_EXPORT_MAX);
    else if (rc != WB_GDPR_OK)
        fprintf(stderr, "%s\n", err[0] ? err : "the request failed");
    return rc == WB_GDPR_OK ? 0 : -1;
}

/* The export's destination: stdout, or a new file (never an existing one). NULL (printed). */
static FILE *wb_ctl_gdpr_out(const char *path)
{
    if (path == NULL)
        return stdout;
    const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        fprintf(stderr, "cannot create %s: %s\n", path,
                errno == EEXIST ? "it exists (not overwritten)" : strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return f;
}

int wb_ctl_gdpr_run(wb_pg *pg, const wb_config *cfg, const wb_ctl_gdpr_args *a)
{
    char actor[WB_CTL_ACTOR_MAX], err[512] = "", target[WB_JID_PART_MAX * 2 + 2];
    wb_gdpr_req q;
    wb_vault *v = NULL;
    FILE *out = NULL;
    char *vcard = NULL;
    size_t vcard_len = 0;
    int rc = -1;
    if (strcmp(a->cmd, "requests") == 0)
        return wb_ctl_gdpr_requests(pg, cfg, a->limit);
    memset(&q, 0, sizeof(q));
    wb_ctl_actor(actor);
    q.actor = actor;
    if (wb_ctl_account_jid(cfg, a->jid, &q.jid) < 0)
        return -1;
    snprintf(target, sizeof(target), "%s@%s", q.jid.node, q.jid.domain);
    if (a->file != NULL && (vcard = wb_ctl_gdpr_vcard_file(a->file, &vcard_len)) == NULL)
        return -1;
    if (strcmp(a->cmd, "erase") != 0 && (v = wb_ctl_keys_vault(cfg)) == NULL)
        goto done;
    if (strcmp(a->cmd, "export") == 0 && (out = wb_ctl_gdpr_out(a->out)) == NULL)
        goto done;
    rc = wb_ctl_gdpr_report(
        pg, cfg, a, target,
        wb_ctl_gdpr_request(pg, cfg, v, a, &q, out, vcard, vcard_len, err, sizeof(err)), err);
done:
    if (out != NULL && out != stdout && fclose(out) != 0)
        rc = -1;
    if (rc < 0 && out != NULL && out != stdout)
        unlink(a->out);
    wb_vault_free(v);
    free(vcard);
    return rc;
}
