/* JIDs (RFC 7622): preparation with stringprep (libidn: Nodeprep, Nameprep/IDNA, Resourceprep),
 * length limits, and the bare/full forms. Not for routing decisions; see wb_router. */
#ifndef WB_JID_H
#define WB_JID_H

#include <stdbool.h>
#include <stddef.h>

#define WB_JID_PART_MAX 1023 /* bytes per part, RFC 7622 section 3 */
#define WB_JID_MAX      3071

/* A prepared JID. Parts are NUL-terminated UTF-8 in normalised form; node and resource
 * are "" when absent. Fixed-size so that it can be embedded and copied without allocation. */
typedef struct wb_jid {
    char node[WB_JID_PART_MAX + 1];
    char domain[WB_JID_PART_MAX + 1];
    char resource[WB_JID_PART_MAX + 1];
} wb_jid;

/* Parses and prepares `len` bytes (need not be NUL-terminated). Returns 0, or -1 when the
 * input is not a valid JID (empty parts, over-long parts, prohibited code points, bad UTF-8,
 * an IP literal that is malformed...). An A-label (xn--) domain is converted to U-labels. */
int wb_jid_parse(wb_jid *out, const char *s, size_t len);

/* Prepares one part on its own; out must hold WB_JID_PART_MAX + 1 bytes. 0 or -1. */
int wb_jid_prep_node(char *out, const char *s, size_t len);
int wb_jid_prep_domain(char *out, const char *s, size_t len);
int wb_jid_prep_resource(char *out, const char *s, size_t len);

bool wb_jid_has_node(const wb_jid *j);
bool wb_jid_has_resource(const wb_jid *j);
/* Writes "node@domain" (or "domain") / "node@domain/resource" into buf; returns the length,
 * or -1 if it does not fit. */
int wb_jid_bare(const wb_jid *j, char *buf, size_t size);
int wb_jid_full(const wb_jid *j, char *buf, size_t size);
/* Equal as bare JIDs / as full JIDs (parts are already normalised, so byte equality). */
bool wb_jid_bare_eq(const wb_jid *a, const wb_jid *b);
bool wb_jid_full_eq(const wb_jid *a, const wb_jid *b);

#endif
