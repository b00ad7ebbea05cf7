/* Private to server/modules/muc/: rooms, occupants and affiliations, and the functions the MUC
 * files share. Every room is owned by one worker (muc_owner_of: hash of the room JID), whose
 * thread alone touches it; stanzas for a room reach that worker through its mailbox. */
#ifndef MUC_INT_H
#define MUC_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "wb_buf.h"
#include "wb_jid.h"
#include "wb_modules.h"
#include "wb_msg.h"
#include "wb_muc_conf.h"
#include "wb_server.h"
#include "wb_store_muc.h"
#include "wb_xml.h"
#include "wb_xmpp_errors.h"

#define MUC_NS            "http://jabber.org/protocol/muc"
#define MUC_NS_USER       MUC_NS "#user"
#define MUC_NS_ADMIN      MUC_NS "#admin"
#define MUC_NS_OWNER      MUC_NS "#owner"
#define MUC_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define MUC_NS_DISCO_ITEM "http://jabber.org/protocol/disco#items"
#define MUC_NS_DATA       "jabber:x:data"
#define MUC_NS_SID        "urn:xmpp:sid:0"
#define MUC_NS_OID        "urn:xmpp:occupant-id:0"
#define MUC_NS_PING       "urn:xmpp:ping"
#define MUC_NS_DELAY      "urn:xmpp:delay"
#define MUC_NS_CONFERENCE "jabber:x:conference"
#define MUC_NS_RSM        "http://jabber.org/protocol/rsm"
#define MUC_NS_MAM        "urn:xmpp:mam:2"
#define MUC_NS_FORWARD    "urn:xmpp:forward:0"
#define MUC_NS_RETRACT    "urn:xmpp:message-retract:1"
#define MUC_NS_MODERATE   "urn:xmpp:message-moderate:1"
#define MUC_NS_MODERATE0  "urn:xmpp:message-moderate:0"
#define MUC_NS_RETRACT0   "urn:xmpp:message-retract:0"
#define MUC_NS_FASTEN     "urn:xmpp:fasten:0"
#define MUC_SID_LEN       36 /* a stanza-id: a UUID */
#define MUC_JID_BUF       (WB_JID_MAX + 1)
/* Stanza error conditions wb_xmpp_errors.h does not list (RFC 6120 8.3.3.16), for muc_error. */
#define MUC_STE_REGISTRATION_REQUIRED ((wb_stanza_err)(WB_STE_COUNT + 1))

typedef enum {
    MUC_AFF_OUTCAST = 0,
    MUC_AFF_NONE,
    MUC_AFF_MEMBER,
    MUC_AFF_ADMIN,
    MUC_AFF_OWNER,
} muc_aff;

typedef enum {
    MUC_ROLE_NONE = 0,
    MUC_ROLE_VISITOR,
    MUC_ROLE_PARTICIPANT,
    MUC_ROLE_MODERATOR
} muc_role;

/* Who may send private messages (muc#roomconfig_allowpm). */
typedef enum { MUC_PM_NONE = 0, MUC_PM_MODERATORS, MUC_PM_PARTICIPANTS, MUC_PM_ANYONE } muc_pm;

typedef struct muc_affil {
    struct muc_affil *next;
    char *jid; /* bare JID (or a domain), prepared */
    muc_aff aff;
} muc_affil;

/* Another session of the same account under the same nick (XEP-0045 7.2.1 multi-session). */
typedef struct muc_sess {
    struct muc_sess *next;
    wb_jid real;
    char *real_s; /* escaped for attributes */
} muc_sess;

typedef struct muc_occupant {
    struct muc_occupant *next;
    wb_jid real;    /* full JID of its first session */
    char *real_s;   /* the same, escaped for attributes */
    muc_sess *more; /* its other sessions */
    char *nick;     /* prepared resourcepart */
    muc_role role;
    char *pres;   /* <show/>, <status/>, <priority/>, <c/> of its last presence, as XML */
    char oid[48]; /* XEP-0421 occupant-id */
    time_t rate_start;
    int rate_count;
} muc_occupant;

typedef struct muc_hist {
    char *tail; /* " from='ROOM/NICK' type='groupchat' ...>...": the message after "<message"
                 * without "</message>" */
    size_t len;
    time_t when;
    char sid[MUC_SID_LEN + 1]; /* its stanza-id */
    char *author; /* bare real JID of its sender, NULL when unknown (from the archive) */
    bool gone;    /* retracted or moderated: not sent as history */
} muc_hist;

typedef struct muc_rconf {
    char *name, *desc, *password;
    bool persistent, public_room, members_only, password_protected, moderated, nonanonymous;
    bool change_subject, allow_invites;
    muc_pm allow_pm;
    int max_users;
    int history_length;
    bool archiving; /* muc#roomconfig_enablearchiving: a persistent room archives (XEP-0313) */
    int64_t expiry; /* warbler#roomconfig_expiry: seconds archived messages are kept, 0: ever */
} muc_rconf;

typedef struct muc_room {
    struct muc_room *next;
    int64_t id;
    wb_jid jid;    /* bare room JID */
    char *jid_s;   /* the same, as text */
    char *creator; /* bare JID of the account that created it (owns its stored row) */
    muc_rconf cfg;
    char *subject, *subject_nick;
    bool locked; /* reserved room not yet configured (XEP-0045 10.1.3) */
    muc_affil *affs;
    muc_occupant *occ;
    size_t n_occ;
    muc_hist *hist; /* ring of cfg.history_length entries */
    size_t hist_cap, hist_head, hist_n;
    uint8_t oid_key[32];   /* occupant-id key */
    wb_store_muc_key *key; /* NULL until first stored */
    bool stored;
    unsigned saving; /* saves in flight */
} muc_room;

/* Per worker: the rooms it owns (touched by that worker's thread only). */
typedef struct muc_wstate {
    muc_room *rooms;
    bool watching; /* the periodic check of stored rooms is armed (muc_persist_watch) */
} muc_wstate;

/* Shared listing of rooms (for the service's disco#items and per-owner limits), under lock. */
typedef struct muc_dir {
    struct muc_dir *next;
    char *jid, *name, *creator;
    bool public_room;
} muc_dir;

typedef struct muc_state {
    wb_server *srv;
    wb_muc_conf conf;
    char **services; /* per configured host, same order; NULL when off */
    size_t n_services;
    muc_wstate *ws;
    int n_workers;
    pthread_mutex_t lock;
    muc_dir *dir;
} muc_state;

extern const wb_module wb_mod_muc;

/* ---- muc_service.c ---- */
muc_state *muc_state_of(const wb_server *srv);
int muc_owner_of(const muc_state *st, const wb_jid *room);
/* Routes a server-generated stanza (xml without escaping issues) from `from` to `to`. */
void muc_send(wb_worker *w, wb_msg_kind kind, wb_msg_type type, const wb_jid *from,
              const wb_jid *to, const char *xml, size_t len);
/* The error reply to m (also MUC_STE_REGISTRATION_REQUIRED). */
void muc_error(wb_worker *w, const wb_msg *m, wb_stanza_err e, const char *text);
void muc_dir_update(muc_state *st, const muc_room *r);
void muc_dir_remove(muc_state *st, const muc_room *r);
int muc_dir_count_owned(muc_state *st, const char *creator);

/* ---- muc_room.c ---- */
muc_room *muc_room_find(muc_wstate *ws, const wb_jid *jid);
muc_room *muc_room_new(muc_state *st, muc_wstate *ws, const wb_jid *jid, const char *creator);
void muc_room_free(muc_room *r);
/* Removes r from the worker, the listing and storage; frees it. */
void muc_room_drop(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r);
muc_aff muc_aff_of(const muc_room *r, const wb_jid *real);
int muc_aff_set(muc_room *r, const char *bare, muc_aff a);
muc_role muc_role_default(const muc_room *r, muc_aff a);
const char *muc_aff_name(muc_aff a);
const char *muc_role_name(muc_role r);
int muc_aff_parse(const char *s, muc_aff *out);
int muc_role_parse(const char *s, muc_role *out);
muc_occupant *muc_occ_by_nick(const muc_room *r, const char *nick);
muc_occupant *muc_occ_by_real(const muc_room *r, const wb_jid *real);
void muc_occ_free(muc_occupant *o);
/* Whether real is one of o's sessions. */
bool muc_occ_has(const muc_occupant *o, const wb_jid *real);
void muc_room_info(wb_worker *w, const muc_room *r, const wb_msg *m);
void muc_room_items(wb_worker *w, const muc_room *r, const wb_msg *m);
void muc_room_nick_jid(const muc_room *r, const char *nick, wb_jid *out);
int muc_hist_resize(muc_room *r, int n);

/* ---- muc_presence.c ---- */
void muc_presence(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const wb_msg *m);
/* Sends "<KIND to='o'" + tail to every session of one occupant (the per-recipient part of a
 * broadcast). */
void muc_send_tail(wb_worker *w, wb_msg_kind kind, wb_msg_type type, const wb_jid *from,
                   const muc_occupant *to, const char *tail, size_t len);
/* Tells everyone that o's role or affiliation changed (codes: extra status codes), or, when
 * o->role is MUC_ROLE_NONE, that o left (then frees it); actor/reason may be NULL. */
void muc_occ_broadcast(wb_worker *w, muc_room *r, muc_occupant *o, const int *codes, size_t n,
                       const char *reason);
void muc_occ_remove(wb_worker *w, muc_room *r, muc_occupant *o, const int *codes, size_t n,
                    const char *reason);
/* Drops r (freed) when it is temporary and empty, or still locked and empty. */
void muc_maybe_drop(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r);
/* The session `real` ended: it leaves every room of this worker. */
void muc_session_gone(wb_worker *w, muc_state *st, muc_wstate *ws, const wb_jid *real);

/* ---- muc_message.c ---- */
void muc_message(wb_worker *w, muc_state *st, muc_room *r, const wb_msg *m);
void muc_occupant_iq(wb_worker *w, muc_room *r, const wb_msg *m);
void muc_send_history(wb_worker *w, muc_room *r, const muc_occupant *o, const wb_msg *join);
void muc_send_subject(wb_worker *w, const muc_room *r, const muc_occupant *o);
/* Broadcasts occupant o's groupchat message m as received (not kept in history or archive). */
void muc_broadcast_msg(wb_worker *w, muc_room *r, const muc_occupant *o, const wb_msg *m);
/* Adds an entry to the history ring (sid, author may be NULL). */
void muc_hist_push(muc_room *r, const char *tail, size_t len, time_t when, const char *sid,
                   const char *author);
/* An XEP-0082 date-time as seconds since the epoch; -1 if malformed. */
time_t muc_parse_stamp(const char *s);

/* ---- muc_mam.c ---- */
/* Whether r archives its messages now (persistent, stored, archiving on). */
bool muc_mam_on(const wb_worker *w, const muc_room *r);
/* Archives one broadcast message of o (tail as in muc_hist, stanza-id sid). */
void muc_mam_archive(wb_worker *w, muc_room *r, const muc_occupant *o, const char *sid,
                     const char *tail, size_t len);
/* iq get/set <query xmlns='urn:xmpp:mam:2'/> to the room. */
void muc_mam_iq(wb_worker *w, muc_room *r, const wb_msg *m);
/* iq set <moderate/> (XEP-0425, :1 and :0) to the room. */
void muc_moderate_iq(wb_worker *w, muc_room *r, const wb_msg *m);
/* A groupchat message of o carrying <retract/> (XEP-0424): checks o wrote the original, then
 * broadcasts it and tombstones the original. Returns false when m carries no retraction. */
bool muc_retract(wb_worker *w, muc_room *r, muc_occupant *o, const wb_msg *m);
/* Start-up: fills the history of every stored room from its archive. */
void muc_mam_load_history(muc_state *st, wb_pg *pg);

/* ---- muc_admin.c ---- */
void muc_admin_iq(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const wb_msg *m);
void muc_owner_iq(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r, const wb_msg *m);
/* The room's row is gone (an administrator destroyed it, or its creator's account was deleted):
 * the occupants get the destroy notice with reason, and r is dropped (freed) from memory. */
void muc_room_vanished(wb_worker *w, muc_state *st, muc_wstate *ws, muc_room *r,
                       const char *reason);
/* An audit event (room creation and destruction); actor: a bare JID, or NULL for the system. */
void muc_audit(wb_worker *w, const char *actor, const char *action, const char *room,
               const char *reason);

/* ---- muc_persist.c ---- */
/* Stores r if it is persistent (or deletes its row if it no longer is); when reply is not NULL,
 * answers that iq once stored (result, or internal-server-error). */
void muc_persist(wb_worker *w, muc_state *st, muc_room *r, const wb_msg *reply);
void muc_persist_delete(wb_worker *w, muc_room *r);
/* Start-up: loads every stored room onto the worker that owns it. */
int muc_persist_load(muc_state *st);
/* Starts, once, w's periodic check (muc.check_interval) that its stored rooms still have their
 * rows (destroyed by warblerctl, or with their creator's account): those that lost it go. */
void muc_persist_watch(wb_worker *w, muc_state *st);

#endif
