/* XEP-0115 entity capabilities: the verification string of a disco#info answer (identities and
 * features, no data forms). A pure computation; not for building or parsing disco XML. */
#ifndef WB_CAPS_H
#define WB_CAPS_H

#include <stddef.h>

#define WB_NS_CAPS "http://jabber.org/protocol/caps"
/* Base64 of a SHA-1 digest (28 characters) and its NUL. */
#define WB_CAPS_VER_SIZE 29
/* Most identities and features one computation takes. */
#define WB_CAPS_MAX_ITEMS 256

typedef struct wb_caps_identity {
    const char *category;
    const char *type;
    const char *lang; /* xml:lang, NULL or "" when absent */
    const char *name; /* NULL or "" when absent */
} wb_caps_identity;

/* Writes the XEP-0115 section 5.1 'ver' (hash sha-1) of the given identities and features, in any
 * order, into out (at least WB_CAPS_VER_SIZE bytes). Returns 0, or -1 when a category, type or
 * feature is missing or empty, an identity or a feature is repeated (an invalid disco#info
 * answer, section 5.4), there are more than WB_CAPS_MAX_ITEMS of either, or out is too small. */
int wb_caps_ver(const wb_caps_identity *ids, size_t n_ids, const char *const *features,
                size_t n_features, char *out, size_t size);

#endif
