/* Storage of personal eventing nodes and items (XEP-0163 on XEP-0060): typed asynchronous
 * requests on a worker's wb_store, payloads sealed at rest. Not for access rules (pep.c). */
#ifndef WB_STORE_PEP_H
#define WB_STORE_PEP_H

#include <stdbool.h>
#include <stddef.h>

#include "wb_store.h"

#define WB_PEP_NODE_MAX    256   /* bytes of a node name */
#define WB_PEP_ID_MAX      256   /* bytes of an item id */
#define WB_PEP_PAYLOAD_MAX 65536 /* bytes of one item's payload */
#define WB_PEP_IDS_MAX     64    /* item ids asked for in one items request */

typedef enum {
    WB_PEP_PRESENCE = 0, /* the default (XEP-0163 4.1) */
    WB_PEP_OPEN,
    WB_PEP_ROSTER,
    WB_PEP_WHITELIST,
} wb_pep_access;

/* A node's configuration, or options asked for (access < 0, max_items 0, persist < 0: not
 * given). */
typedef struct wb_pep_config {
    int access; /* wb_pep_access */
    int max_items;
    int persist;
} wb_pep_config;

const char *wb_pep_access_name(wb_pep_access a);
/* The access model named s, or -1. */
int wb_pep_access_parse(const char *s);

typedef enum {
    WB_PEP_R_OK = 0,
    WB_PEP_R_NO_NODE,      /* no such node (or no such account) */
    WB_PEP_R_PRECONDITION, /* publish-options differ from the node's configuration */
    WB_PEP_R_NODE_LIMIT,   /* the account has max_nodes nodes already */
    WB_PEP_R_EXISTS,       /* create: the node exists */
    WB_PEP_R_NO_ITEM,      /* retract: no such item */
} wb_pep_result;

/* cfg: the node's configuration after the request (valid when result is OK, PRECONDITION or
 * EXISTS). Status UNAVAILABLE: database down. */
typedef void (*wb_store_pep_node_cb)(void *arg, wb_store_status status, wb_pep_result result,
                                     const wb_pep_config *cfg);

/* Publishes item_id with payload (sealed here) on pnode of node@domain, creating the node with
 * opts (and defaults) if it does not exist; an existing node must match the given opts. With
 * item_id NULL only creates the node (EXISTS if it was there). NULL when not queued. */
wb_store_req *wb_store_pep_publish(wb_store *st, const char *node, const char *domain,
                                   const char *pnode, const char *item_id, const char *payload,
                                   size_t len, const wb_pep_config *opts, int max_nodes,
                                   wb_store_pep_node_cb cb, void *arg);

typedef enum { WB_PEP_RETRACT = 0, WB_PEP_PURGE, WB_PEP_DELETE } wb_pep_removal;
/* Retracts item_id, purges every item, or deletes the node. NO_NODE / NO_ITEM when absent. */
wb_store_req *wb_store_pep_remove(wb_store *st, const char *node, const char *domain,
                                  const char *pnode, wb_pep_removal what, const char *item_id,
                                  wb_store_pep_node_cb cb, void *arg);

/* Reads (set NULL) or changes (fields not given stay) the node's configuration. */
wb_store_req *wb_store_pep_configure(wb_store *st, const char *node, const char *domain,
                                     const char *pnode, const wb_pep_config *set,
                                     wb_store_pep_node_cb cb, void *arg);

/* Strings and payloads are valid during the callback only. */
typedef struct wb_pep_item {
    const char *id;
    const char *payload; /* NUL-terminated; "" for an item without payload */
    size_t len;
} wb_pep_item;

typedef struct wb_pep_items {
    wb_pep_result result;  /* OK or NO_NODE */
    wb_pep_config cfg;     /* the node's configuration when OK */
    unsigned reader_state; /* WB_RS_* of the owner's roster item about the reader (0: none) */
    const wb_pep_item *v;  /* newest first */
    size_t n;
} wb_pep_items;
typedef void (*wb_store_pep_items_cb)(void *arg, wb_store_status status, const wb_pep_items *r);

/* The newest max items of pnode (only those whose ids are in `ids`, joined with '\x01', unless
 * ids is ""), with the roster state of reader (a bare JID, "" for none) in the owner's roster. */
wb_store_req *wb_store_pep_items(wb_store *st, const char *node, const char *domain,
                                 const char *pnode, const char *reader, const char *ids, int max,
                                 wb_store_pep_items_cb cb, void *arg);

/* A node with items that a reader gets the last item of at presence (XEP-0163 4.3.4). */
typedef struct wb_pep_readable {
    const char *node, *domain; /* the owner */
    const char *pnode;
} wb_pep_readable;
typedef void (*wb_store_pep_readable_cb)(void *arg, wb_store_status status,
                                         const wb_pep_readable *v, size_t n);
/* The nodes with items of the reader's own account and of every account whose roster gives the
 * reader a presence subscription ('from') and whose access model lets it read (at most max);
 * only those of owner_node@owner_domain unless owner_node is "". */
wb_store_req *wb_store_pep_readable(wb_store *st, const char *node, const char *domain,
                                    const char *owner_node, const char *owner_domain, int max,
                                    wb_store_pep_readable_cb cb, void *arg);

#endif
