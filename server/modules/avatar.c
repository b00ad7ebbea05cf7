/* XEP-0398: a PEP avatar (XEP-0084) on an open data node becomes the vCard PHOTO, a vCard PHOTO is
 * published as PEP avatar, and available presence carries the XEP-0153 hash (cached per account).
 * Not for storing vCards or PEP items (vcard.c, pep.c). */
#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_directory.h"
#include "wb_log.h"
#include "wb_pep.h"
#include "wb_store_xmlstore.h"
#include "wb_xmpp_model.h"

#define WB_NS_AVATAR_META  "urn:xmpp:avatar:metadata"
#define WB_NS_AVATAR_DATA  "urn:xmpp:avatar:data"
#define WB_NS_VCARD        "vcard-temp"
#define WB_NS_VCARD_UPDATE "vcard-temp:x:update"
#define WB_AVATAR_HEX      40    /* hex digits of a SHA-1 */
#define WB_AVATAR_TYPE_MAX 64    /* bytes of a MIME type */
#define WB_AVATAR_BUCKETS  1024  /* hash table of the cache */
#define WB_AVATAR_ENTRIES  65536 /* accounts cached before the cache starts over */

/* ---- the per-account hash cache (server-wide, locked) ---- */

typedef struct wb_avatar_entry {
    struct wb_avatar_entry *next;
    char hash[WB_AVATAR_HEX + 1]; /* "" when the vCard has no photo */
    char jid[];                   /* bare JID */
} wb_avatar_entry;

typedef struct wb_avatar_cache {
    pthread_mutex_t lock;
    size_t n;
    wb_avatar_entry *bucket[WB_AVATAR_BUCKETS];
} wb_avatar_cache;

extern const wb_module wb_mod_avatar;

static size_t wb_avatar_slot(const char *jid)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)jid; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % WB_AVATAR_BUCKETS;
}

static void wb_avatar_cache_clear(wb_avatar_cache *c)
{
    for (size_t i = 0; i < WB_AVATAR_BUCKETS; i++) {
        while (c->bucket[i] != NULL) {
            wb_avatar_entry *e = c->bucket[i];
            c->bucket[i] = e->next;
            free(e);
        }
    }
    c->n = 0;
}

static int wb_avatar_init(wb_server *srv, void **state)
{
    (void)srv;
    wb_avatar_cache *c = calloc(1, sizeof(*c));
    if (c == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        wb_error("avatar: out of memory");
        return -1;
    }
    *state = c;
    return 0;
}

static void wb_avatar_shutdown(wb_server *srv, void *state)
{
    (void)srv;
    wb_avatar_cache *c = state;
    wb_avatar_cache_clear(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static wb_avatar_cache *wb_avatar_cache_of(wb_worker *w)
{
    return wb_modules_state(w->srv, &wb_mod_avatar);
}

/* Whether the hash of account is known; copies it (maybe "") into hash. */
static bool wb_avatar_cache_get(wb_worker *w, const wb_jid *account, char *hash)
{
    char jid[WB_JID_MAX + 1];
    wb_avatar_cache *c = wb_avatar_cache_of(w);
    bool known = false;
    if (c == NULL || wb_jid_bare(account, jid, sizeof(jid)) < 0)
        return false;
    pthread_mutex_lock(&c->lock);
    for (const wb_avatar_entry *e = c->bucket[wb_avatar_slot(jid)]; e; e = e->next) {
        if (strcmp(e->jid, jid) == 0) {
            memcpy(hash, e->hash, sizeof(e->hash));
            known = true;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return known;
}

static void wb_avatar_cache_set(wb_worker *w, const wb_jid *account, const char *hash)
{
    char jid[WB_JID_MAX + 1];
    wb_avatar_cache *c = wb_avatar_cache_of(w);
    if (c == NULL || wb_jid_bare(account, jid, sizeof(jid)) < 0)
        return;
    const size_t slot = wb_avatar_slot(jid);
    pthread_mutex_lock(&c->lock);
    wb_avatar_entry *e = c->bucket[slot];
    while (e != NULL && strcmp(e->jid, jid) != 0)
        e = e->next;
    if (e == NULL) {
        if (c->n >= WB_AVATAR_ENTRIES)
            wb_avatar_cache_clear(c);
        if ((e = calloc(1, sizeof(*e) + strlen(jid) + 1)) != NULL) {
            strcpy(e->jid, jid);
            e->next = c->bucket[slot];
            c->bucket[slot] = e;
            c->n++;
        }
    }
    if (e != NULL)
        snprintf(e->hash, sizeof(e->hash), "%s", hash);
    pthread_mutex_unlock(&c->lock);
}

/* Forgets the account (its last resource ended: the next login reads the vCard again, and an
 * account deleted meanwhile leaves nothing behind). */
static void wb_avatar_cache_drop(wb_worker *w, const wb_jid *account)
{
    char jid[WB_JID_MAX + 1];
    wb_avatar_cache *c = wb_avatar_cache_of(w);
    if (c == NULL || wb_jid_bare(account, jid, sizeof(jid)) < 0)
        return;
    pthread_mutex_lock(&c->lock);
    for (wb_avatar_entry **p = &c->bucket[wb_avatar_slot(jid)]; *p; p = &(*p)->next) {
        if (strcmp((*p)->jid, jid) == 0) {
            wb_avatar_entry *e = *p;
            *p = e->next;
            free(e);
            c->n--;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* ---- images ---- */

/* Decodes base64 text (whitespace allowed) into a new buffer; NULL when invalid or empty. */
static unsigned char *wb_avatar_decode(const char *b64, size_t len, size_t *out_len)
{
    unsigned char *bin = malloc(len / 4 * 3 + 3);
    if (bin == NULL)
        return NULL;
    if (sodium_base642bin(bin, len / 4 * 3 + 3, b64, len, " \t\r\n", out_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *out_len == 0) {
        free(bin);
        return NULL;
    }
    return bin;
}

/* The hex SHA-1 of base64 text into hex and the image's size into *size; -1 when the text is not
 * an image in base64. */
static int wb_avatar_sha1_b64(const char *b64, size_t len, char hex[WB_AVATAR_HEX + 1],
                              size_t *size)
{
    size_t n;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    unsigned char *bin = wb_avatar_decode(b64, len, &n);
    if (bin == NULL)
        return -1;
    const int ok = EVP_Digest(bin, n, md, &md_len, EVP_sha1(), NULL);
    free(bin);
    *size = n;
    if (!ok || md_len != WB_AVATAR_HEX / 2)
        return -1;
    sodium_bin2hex(hex, WB_AVATAR_HEX + 1, md, md_len);
    return 0;
}

/* The PHOTO of a vCard element: its hash ("" when there is none or it is not inline). */
static void wb_avatar_vcard_photo(const wb_stanza *st, wb_el vcard, char hex[WB_AVATAR_HEX + 1],
                                  const char **b64, size_t *b64_len, const char **type,
                                  size_t *size)
{
    hex[0] = '\0';
    *b64 = NULL;
    *type = "";
    const wb_el photo = wb_st_child(st, vcard, "PHOTO", WB_NS_VCARD);
    const wb_el bin = photo >= 0 ? wb_st_child(st, photo, "BINVAL", WB_NS_VCARD) : -1;
    const wb_el t = photo >= 0 ? wb_st_child(st, photo, "TYPE", WB_NS_VCARD) : -1;
    if (bin < 0)
        return;
    *b64 = wb_st_text(st, bin, b64_len);
    if (t >= 0)
        *type = wb_st_text(st, t, NULL);
    if (wb_avatar_sha1_b64(*b64, *b64_len, hex, size) < 0) {
        hex[0] = '\0';
        *b64 = NULL;
    }
}

/* ---- presence: the hash added (XEP-0398 section 4) ---- */

/* Whether presence st should carry hash: not when its photo is empty (the client says it has
 * none yet, left alone) or already equal; yes when the update element or its photo is missing
 * or names another image. */
static bool wb_avatar_needs_hash(const wb_stanza *st, const char *hash)
{
    const wb_el x = wb_st_child(st, 0, "x", WB_NS_VCARD_UPDATE);
    const wb_el photo = x >= 0 ? wb_st_child(st, x, "photo", WB_NS_VCARD_UPDATE) : -1;
    if (photo < 0)
        return true;
    size_t len;
    const char *t = wb_st_text(st, photo, &len);
    while (len > 0 && isspace((unsigned char)t[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*t)) {
        t++;
        len--;
    }
    return len != 0 && (len != strlen(hash) || strncasecmp(t, hash, len) != 0);
}

/* The bytes of presence st with its update element replaced by one carrying hash. */
static int wb_avatar_rewrite(const wb_stanza *st, const char *hash, wb_buf *out)
{
    size_t raw_len;
    const char *raw = wb_st_raw(st, &raw_len);
    size_t tag = wb_st_start_tag_len(st);
    if (tag == raw_len) { /* <presence .../>: opened instead */
        tag = tag >= 2 ? tag - 2 : 0;
        while (tag > 0 && isspace((unsigned char)raw[tag - 1]))
            tag--;
        wb_buf_append(out, raw, tag);
        wb_buf_puts(out, ">");
    } else {
        wb_buf_append(out, raw, tag);
    }
    for (wb_el c = wb_st_first(st, 0); c >= 0; c = wb_st_next(st, c)) {
        if (strcmp(wb_st_name(st, c), "x") == 0 && strcmp(wb_st_ns(st, c), WB_NS_VCARD_UPDATE) == 0)
            continue;
        if (wb_xmlstore_document(st, c, out) < 0)
            return -1;
    }
    wb_buf_printf(out, "<x xmlns='" WB_NS_VCARD_UPDATE "'><photo>%s</photo></x></presence>", hash);
    return out->failed ? -1 : 0;
}

/* A copy of presence m carrying hash; NULL when m needs none or cannot be rewritten. The bytes
 * are parsed alone so that children inheriting the stream's namespace are copied unchanged. */
static wb_msg *wb_avatar_with_hash(const wb_msg *m, const char *hash)
{
    wb_buf b;
    wb_buf_init(&b);
    wb_msg *r = NULL;
    wb_stanza *st = m->bytes ? wb_stanza_parse(m->bytes, m->bytes_len) : NULL;
    if (st == NULL || !wb_avatar_needs_hash(st, hash) || wb_avatar_rewrite(st, hash, &b) < 0)
        goto done;
    if ((r = wb_msg_new(m->kind, m->type)) == NULL)
        goto done;
    r->has_from = m->has_from;
    r->has_to = m->has_to;
    r->from = m->from;
    r->to = m->to;
    r->priority = m->priority;
    r->flags = m->flags;
    r->xml = wb_stanza_parse_client(b.data, b.len);
    r->id = m->id ? strdup(m->id) : NULL;
    r->bytes = wb_buf_steal(&b, &r->bytes_len);
    if (r->xml == NULL || r->bytes == NULL || (m->id && r->id == NULL)) {
        wb_msg_unref(r);
        r = NULL;
    }
done:
    if (st != NULL)
        wb_stanza_free(st);
    wb_buf_free(&b);
    return r;
}

/* Continues the outbound chain with m, or with its copy carrying hash. Consumes m. */
static void wb_avatar_continue(wb_worker *w, uint64_t sid, wb_msg *m, const char *hash)
{
    wb_msg *r = hash[0] ? wb_avatar_with_hash(m, hash) : NULL;
    if (r != NULL) {
        wb_msg_unref(m);
        m = r;
    }
    wb_modules_outbound(w, sid, m, wb_modules_index(&wb_mod_avatar) + 1);
}

/* A vCard load: fills the account's cache entry, then continues with a waiting presence (if
 * any: the first one of an account after the server started, when login did not warm it). */
typedef struct wb_avatar_wait {
    wb_worker *w;
    uint64_t sid;
    wb_jid account;
    wb_msg *m;
} wb_avatar_wait;

/* The hash of a stored vCard document ("" without photo); -1 when it does not parse. */
static int wb_avatar_doc_hash(const char *doc, size_t len, char hex[WB_AVATAR_HEX + 1])
{
    const char *b64, *type;
    size_t b64_len, size;
    hex[0] = '\0';
    if (doc == NULL)
        return 0;
    wb_stanza *st = wb_stanza_parse(doc, len);
    if (st == NULL)
        return -1;
    wb_avatar_vcard_photo(st, 0, hex, &b64, &b64_len, &type, &size);
    wb_stanza_free(st);
    return 0;
}

static void wb_avatar_loaded(void *arg, wb_store_status status, const char *doc, size_t len)
{
    wb_avatar_wait *x = arg;
    char hex[WB_AVATAR_HEX + 1] = "";
    if (status == WB_STORE_OK && wb_avatar_doc_hash(doc, len, hex) == 0)
        wb_avatar_cache_set(x->w, &x->account, hex);
    else
        hex[0] = '\0'; /* database down: the presence goes on as sent, tried again next time */
    if (x->m != NULL)
        wb_avatar_continue(x->w, x->sid, x->m, hex);
    free(x);
}

/* Loads the account's vCard hash into the cache, then continues with m (may be NULL). */
static bool wb_avatar_load(wb_worker *w, uint64_t sid, const wb_jid *account, wb_msg *m)
{
    wb_avatar_wait *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return false;
    x->w = w;
    x->sid = sid;
    x->account = *account;
    x->account.resource[0] = '\0';
    x->m = m;
    if (wb_store_xml_get(w->store, account->node, account->domain, WB_XMLSTORE_VCARD, "",
                         wb_avatar_loaded, x) == NULL) {
        free(x);
        return false;
    }
    return true;
}

/* Available presence of a local account, broadcast or directed (MUC joins too): the hash is
 * added. Waits for the vCard when the account's hash is not known yet. */
static wb_mod_result wb_avatar_outbound(wb_worker *w, uint64_t sid, wb_msg *m)
{
    char hash[WB_AVATAR_HEX + 1];
    if (m->kind != WB_MSG_PRESENCE || m->type != WB_PT_AVAILABLE || !m->has_from ||
        m->from.node[0] == '\0')
        return WB_MOD_PASS;
    if (wb_avatar_cache_get(w, &m->from, hash)) {
        wb_avatar_continue(w, sid, m, hash);
        return WB_MOD_HANDLED;
    }
    return wb_avatar_load(w, sid, &m->from, m) ? WB_MOD_HANDLED : WB_MOD_PASS;
}

/* Warms the cache at login so that the first presence need not wait. */
static void wb_avatar_bound(wb_worker *w, wb_c2s *c)
{
    char hash[WB_AVATAR_HEX + 1];
    if (!wb_avatar_cache_get(w, wb_c2s_jid(c), hash))
        (void)wb_avatar_load(w, 0, wb_c2s_jid(c), NULL);
}

static void wb_avatar_ended(wb_worker *w, const wb_jid *full, uint64_t sid, bool was_available)
{
    wb_dir_target t[1];
    (void)sid;
    (void)was_available;
    if (wb_directory_lookup(w->srv->dir, full, t, 1) == 0)
        wb_avatar_cache_drop(w, full);
}

/* ---- conversions ---- */

/* A conversion in flight: the account, and the image with its hash and type. */
typedef struct wb_avatar_conv {
    wb_worker *w;
    wb_jid owner;
    char id[WB_AVATAR_HEX + 1]; /* "": the avatar was removed */
    char type[WB_AVATAR_TYPE_MAX + 1];
    size_t size;
    wb_buf b64;
} wb_avatar_conv;

static wb_avatar_conv *wb_avatar_conv_new(wb_worker *w, const wb_jid *owner)
{
    wb_avatar_conv *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    v->w = w;
    v->owner = *owner;
    v->owner.resource[0] = '\0';
    wb_buf_init(&v->b64);
    return v;
}

static void wb_avatar_conv_free(wb_avatar_conv *v)
{
    wb_buf_free(&v->b64);
    free(v);
}

static void wb_avatar_vcard_put(void *arg, wb_store_status status)
{
    wb_avatar_conv *v = arg;
    if (status == WB_STORE_OK)
        wb_avatar_cache_set(v->w, &v->owner, v->id);
    else
        wb_warn("avatar: could not store the vCard photo (status %d)", (int)status);
    wb_avatar_conv_free(v);
}

/* The stored vCard doc (or none) with its PHOTO replaced by v's image (or removed). */
static int wb_avatar_vcard_build(const wb_avatar_conv *v, const char *doc, size_t len, wb_buf *out)
{
    wb_stanza *st = doc ? wb_stanza_parse(doc, len) : NULL;
    int rc = 0;
    wb_buf_puts(out, "<vCard xmlns='" WB_NS_VCARD "'>");
    if (st != NULL && strcmp(wb_st_name(st, 0), "vCard") == 0) {
        for (wb_el c = wb_st_first(st, 0); c >= 0 && rc == 0; c = wb_st_next(st, c))
            if (strcmp(wb_st_name(st, c), "PHOTO") != 0)
                rc = wb_xmlstore_document(st, c, out);
    }
    if (v->id[0]) {
        wb_buf_puts(out, "<PHOTO><TYPE>");
        wb_buf_xml_escape_str(out, v->type);
        wb_buf_puts(out, "</TYPE><BINVAL>");
        wb_buf_append(out, v->b64.data, v->b64.len);
        wb_buf_puts(out, "</BINVAL></PHOTO>");
    }
    wb_buf_puts(out, "</vCard>");
    if (st != NULL)
        wb_stanza_free(st);
    return rc < 0 || out->failed ? -1 : 0;
}

static void wb_avatar_vcard_got(void *arg, wb_store_status status, const char *doc, size_t len)
{
    wb_avatar_conv *v = arg;
    wb_buf b;
    wb_buf_init(&b);
    if (status != WB_STORE_OK) {
        wb_warn("avatar: could not read the vCard to convert into (status %d)", (int)status);
    } else if (wb_avatar_vcard_build(v, doc, len, &b) < 0 || b.len > WB_XMLSTORE_DOC_MAX) {
        wb_info("avatar: the avatar does not fit in the vCard, not converted");
    } else if (wb_store_xml_put(v->w->store, v->owner.node, v->owner.domain, WB_XMLSTORE_VCARD, "",
                                b.data, b.len, wb_avatar_vcard_put, v) != NULL) {
        wb_buf_free(&b);
        return;
    }
    wb_buf_free(&b);
    wb_avatar_conv_free(v);
}

/* The data item named by the metadata: converted when anyone may read it (XEP-0398 section 6:
 * a vCard is public, so an avatar kept for contacts only stays out of it). */
static void wb_avatar_data_got(void *arg, wb_store_status status, const wb_pep_items *res)
{
    wb_avatar_conv *v = arg;
    wb_stanza *st = NULL;
    char hex[WB_AVATAR_HEX + 1];
    const char *b64;
    size_t len;
    if (status != WB_STORE_OK || res->result != WB_PEP_R_OK || res->n == 0)
        goto done;
    if (res->cfg.access != WB_PEP_OPEN) {
        wb_debug("avatar: the data node is not open, no vCard conversion");
        goto done;
    }
    st = wb_stanza_parse(res->v[0].payload, res->v[0].len);
    if (st == NULL || strcmp(wb_st_name(st, 0), "data") != 0 ||
        strcmp(wb_st_ns(st, 0), WB_NS_AVATAR_DATA) != 0)
        goto done;
    b64 = wb_st_text(st, 0, &len);
    if (wb_avatar_sha1_b64(b64, len, hex, &v->size) < 0 || strcasecmp(hex, v->id) != 0) {
        wb_info("avatar: the published image does not match its id, not converted");
        goto done;
    }
    wb_buf_append(&v->b64, b64, len);
    if (!v->b64.failed && wb_store_xml_get(v->w->store, v->owner.node, v->owner.domain,
                                           WB_XMLSTORE_VCARD, "", wb_avatar_vcard_got, v) != NULL) {
        wb_stanza_free(st);
        return;
    }
done:
    if (st != NULL)
        wb_stanza_free(st);
    wb_avatar_conv_free(v);
}

/* Picks the metadata's inline image (the first info without url); false when there is none
 * and the metadata is not empty (then nothing changes). */
static bool wb_avatar_pick(const wb_stanza *st, wb_avatar_conv *v)
{
    bool any = false;
    for (wb_el i = wb_st_child(st, 0, "info", WB_NS_AVATAR_META); i >= 0; i = wb_st_next(st, i)) {
        if (strcmp(wb_st_name(st, i), "info") != 0)
            continue;
        any = true;
        const char *id = wb_st_attr(st, i, "id"), *type = wb_st_attr(st, i, "type");
        const char *url = wb_st_attr(st, i, "url");
        if ((url != NULL && url[0] != '\0') || id == NULL || strlen(id) != WB_AVATAR_HEX)
            continue;
        snprintf(v->id, sizeof(v->id), "%s", id);
        snprintf(v->type, sizeof(v->type), "%s",
                 type && strlen(type) <= WB_AVATAR_TYPE_MAX ? type : "");
        return true;
    }
    return !any; /* empty metadata: the avatar is switched off (XEP-0084 4.5) */
}

void wb_avatar_pep_published(wb_worker *w, const wb_jid *owner, const char *pnode,
                             const char *payload, size_t len)
{
    if (strcmp(pnode, WB_NS_AVATAR_META) != 0 || payload == NULL)
        return;
    wb_stanza *st = wb_stanza_parse(payload, len);
    wb_avatar_conv *v = NULL;
    if (st == NULL || strcmp(wb_st_name(st, 0), "metadata") != 0 ||
        strcmp(wb_st_ns(st, 0), WB_NS_AVATAR_META) != 0 ||
        (v = wb_avatar_conv_new(w, owner)) == NULL || !wb_avatar_pick(st, v))
        goto fail;
    if (v->id[0] == '\0'
            ? wb_store_xml_get(w->store, v->owner.node, v->owner.domain, WB_XMLSTORE_VCARD, "",
                               wb_avatar_vcard_got, v) != NULL
            : wb_store_pep_items(w->store, v->owner.node, v->owner.domain, WB_NS_AVATAR_DATA, "",
                                 v->id, 1, wb_avatar_data_got, v) != NULL) {
        wb_stanza_free(st);
        return;
    }
fail:
    if (v != NULL)
        wb_avatar_conv_free(v);
    if (st != NULL)
        wb_stanza_free(st);
}

/* vCard to PEP (XEP-0398 3.2): the metadata follows once the data item is stored. */
static void wb_avatar_metadata(const wb_avatar_conv *v, wb_buf *b)
{
    wb_buf_printf(b, "<metadata xmlns='" WB_NS_AVATAR_META "'><info id='%s' bytes='%zu' type='",
                  v->id, v->size);
    wb_buf_xml_escape_str(b, v->type[0] ? v->type : "image/png");
    wb_buf_puts(b, "'/></metadata>");
}

static void wb_avatar_meta_put(void *arg, wb_store_status status, wb_pep_result result,
                               const wb_pep_config *cfg)
{
    wb_avatar_conv *v = arg;
    wb_buf b, ev;
    wb_buf_init(&b);
    wb_buf_init(&ev);
    if (status == WB_STORE_OK && result == WB_PEP_R_OK) {
        wb_avatar_metadata(v, &b);
        wb_pep_put_item_event(&ev, WB_NS_AVATAR_META, v->id, b.data, b.len);
        if (!b.failed && !ev.failed)
            wb_pep_notify(v->w, &v->owner, WB_NS_AVATAR_META, cfg->access, ev.data, ev.len);
    } else {
        wb_warn("avatar: could not publish the vCard photo as avatar metadata");
    }
    wb_buf_free(&b);
    wb_buf_free(&ev);
    wb_avatar_conv_free(v);
}

static void wb_avatar_data_put(void *arg, wb_store_status status, wb_pep_result result,
                               const wb_pep_config *cfg)
{
    wb_avatar_conv *v = arg;
    const wb_pep_config opts = {-1, 0, -1};
    wb_buf b;
    wb_buf_init(&b);
    (void)cfg;
    if (status == WB_STORE_OK && result == WB_PEP_R_OK) {
        wb_avatar_metadata(v, &b);
        if (!b.failed && wb_store_pep_publish(v->w->store, v->owner.node, v->owner.domain,
                                              WB_NS_AVATAR_META, v->id, b.data, b.len, &opts,
                                              WB_PEP_MAX_NODES, wb_avatar_meta_put, v) != NULL) {
            wb_buf_free(&b);
            return;
        }
    }
    wb_warn("avatar: could not publish the vCard photo as avatar data");
    wb_buf_free(&b);
    wb_avatar_conv_free(v);
}

void wb_avatar_vcard_set(wb_worker *w, const wb_msg *m)
{
    char old[WB_AVATAR_HEX + 1], hex[WB_AVATAR_HEX + 1];
    const char *b64, *type;
    size_t b64_len, size = 0;
    const wb_el vcard = wb_st_first(m->xml, 0);
    wb_avatar_vcard_photo(m->xml, vcard, hex, &b64, &b64_len, &type, &size);
    const bool known = wb_avatar_cache_get(w, &m->from, old);
    wb_avatar_cache_set(w, &m->from, hex);
    if (hex[0] == '\0' || (known && strcmp(old, hex) == 0))
        return; /* no photo, or the one already published */
    const wb_pep_config opts = {-1, 0, -1};
    wb_avatar_conv *v = wb_avatar_conv_new(w, &m->from);
    if (v == NULL)
        return;
    snprintf(v->id, sizeof(v->id), "%s", hex);
    snprintf(v->type, sizeof(v->type), "%s", strlen(type) <= WB_AVATAR_TYPE_MAX ? type : "");
    v->size = size;
    wb_buf_puts(&v->b64, "<data xmlns='" WB_NS_AVATAR_DATA "'>");
    wb_buf_xml_escape(&v->b64, b64, b64_len);
    wb_buf_puts(&v->b64, "</data>");
    if (v->b64.failed || v->b64.len > WB_PEP_PAYLOAD_MAX ||
        wb_store_pep_publish(w->store, v->owner.node, v->owner.domain, WB_NS_AVATAR_DATA, v->id,
                             v->b64.data, v->b64.len, &opts, WB_PEP_MAX_NODES, wb_avatar_data_put,
                             v) == NULL)
        wb_avatar_conv_free(v);
}

const wb_module wb_mod_avatar = {
    .name = "avatar",
    .bound = wb_avatar_bound,
    .ended = wb_avatar_ended,
    .outbound = wb_avatar_outbound,
    .init = wb_avatar_init,
    .shutdown = wb_avatar_shutdown,
};
