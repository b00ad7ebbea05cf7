/* Per-account XML documents (the vCard of XEP-0054, private XML storage of XEP-0049): their
 * stored form taken from a stanza, and loading/saving them. Not for deciding who may read what. */
#ifndef WB_STORE_XMLSTORE_H
#define WB_STORE_XMLSTORE_H

#include <stddef.h>

#include "wb_buf.h"
#include "wb_store.h"
#include "wb_xml.h"

/* Largest document stored (bytes of the element as stored). */
#define WB_XMLSTORE_DOC_MAX 65536
/* Largest key ("{namespace}name" for private storage). */
#define WB_XMLSTORE_KEY_MAX 2048

typedef enum { WB_XMLSTORE_VCARD = 0, WB_XMLSTORE_PRIVATE } wb_xmlstore_kind;

/* The stored form of element el of st: its own bytes exactly as received, made self-contained
 * (namespace declarations it inherits from its ancestors in the stanza are added to its start tag
 * only when it needs them). The result is checked to parse alone into the same elements.
 * Appends to out; returns 0, or -1 when el cannot be made self-contained (or out of memory). */
int wb_xmlstore_document(const wb_stanza *st, wb_el el, wb_buf *out);

/* doc: the stored document (valid during the callback only), NULL with len 0 when the account
 * has none. Status WB_STORE_NOT_FOUND: no such account; WB_STORE_UNAVAILABLE: database down or
 * the stored value is unreadable. */
typedef void (*wb_store_xml_get_cb)(void *arg, wb_store_status status, const char *doc, size_t len);
/* Loads the document (kind, key) of node@domain. NULL when the request could not be queued
 * (then the callback is never called). */
wb_store_req *wb_store_xml_get(wb_store *st, const char *node, const char *domain,
                               wb_xmlstore_kind kind, const char *key, wb_store_xml_get_cb cb,
                               void *arg);

/* Status WB_STORE_OK (stored), WB_STORE_NOT_FOUND (no such account), WB_STORE_UNAVAILABLE. */
typedef void (*wb_store_xml_put_cb)(void *arg, wb_store_status status);
/* Replaces the document (kind, key) of node@domain with doc (len <= WB_XMLSTORE_DOC_MAX). NULL
 * when the request could not be queued or the arguments are out of bounds. */
wb_store_req *wb_store_xml_put(wb_store *st, const char *node, const char *domain,
                               wb_xmlstore_kind kind, const char *key, const char *doc, size_t len,
                               wb_store_xml_put_cb cb, void *arg);

#endif
