/* The admin API's rooms: the stored (persistent) MUC rooms as storage knows them in clear (JID,
 * creator, dates, archive size; never configuration, members or messages), and destroying one
 * (its row, key and archive, then the room in memory through wb_muc_room_removed). */
#include "wb_admin_rooms.h"

#include <stdio.h>
#include <string.h>

#include "wb_jid.h"
#include "wb_log.h"
#include "muc/wb_muc.h"
#include "wb_store_muc.h"

static json_t *wb_admin_room_json(const wb_store_muc_info *i)
{
    char jid[WB_JID_MAX + 1];
    snprintf(jid, sizeof(jid), "%s@%s", i->node, i->service);
    return json_pack("{s:s, s:s, s:I, s:I, s:I}", "jid", jid, "owner", i->owner, "created",
                     (json_int_t)i->created, "updated", (json_int_t)i->updated, "archived",
                     (json_int_t)i->archived);
}

static void wb_admin_room_add(void *arg, const wb_store_muc_info *i)
{
    json_t *o = wb_admin_room_json(i);
    if (o)
        json_array_append_new(arg, o);
}

static void wb_admin_room_failed(wb_admin_req *r, const char *err)
{
    wb_error("admin: %s", err);
    wb_admin_error(r, 503, "unavailable", "the database is unavailable, try again");
}

void wb_admin_h_rooms_list(wb_admin_req *r)
{
    char err[256];
    json_t *rooms = json_array();
    if (!rooms) {
        wb_admin_error(r, 500, "internal", "out of memory");
        return;
    }
    const int n = wb_store_muc_list(r->pg, "", NULL, wb_admin_room_add, rooms, err, sizeof(err));
    if (n < 0) {
        json_decref(rooms);
        wb_admin_room_failed(r, err);
        return;
    }
    wb_admin_reply(r, 200, json_pack("{s:o, s:i}", "rooms", rooms, "count", n));
}

/* The {jid} of the path as a room JID (audit target set); false after replying 400. */
static bool wb_admin_room_jid(wb_admin_req *r, wb_jid *j)
{
    const char *s = r->args[0];
    if (!s || wb_jid_parse(j, s, strlen(s)) < 0 || !wb_jid_has_node(j) || wb_jid_has_resource(j)) {
        wb_admin_error(r, 400, "bad_jid", "expected a room JID (room@service)");
        return false;
    }
    snprintf(r->target, sizeof(r->target), "%s@%s", j->node, j->domain);
    return true;
}

static void wb_admin_room_set(void *arg, const wb_store_muc_info *i)
{
    json_t **out = arg;
    *out = wb_admin_room_json(i);
}

void wb_admin_h_room_get(wb_admin_req *r)
{
    wb_jid j;
    char err[256];
    json_t *room = NULL;
    if (!wb_admin_room_jid(r, &j))
        return;
    const int n =
        wb_store_muc_list(r->pg, j.domain, j.node, wb_admin_room_set, &room, err, sizeof(err));
    if (n < 0)
        wb_admin_room_failed(r, err);
    else if (!room)
        wb_admin_error(r, 404, "not_found", "no such stored room %s", r->target);
    else
        wb_admin_reply(r, 200, room);
}

void wb_admin_h_room_delete(wb_admin_req *r)
{
    wb_jid j;
    char err[256];
    int64_t id = 0;
    if (!wb_admin_room_jid(r, &j))
        return;
    const int rc = wb_store_muc_delete_sync(r->pg, j.domain, j.node, &id, err, sizeof(err));
    if (rc < 0) {
        wb_admin_room_failed(r, err);
        return;
    }
    if (rc == 0) {
        wb_admin_error(r, 404, "not_found", "no such stored room %s", r->target);
        return;
    }
    if (wb_muc_room_removed(r->adm->srv, r->target) < 0)
        wb_warn("admin: room %s deleted; the MUC service will drop it at its next check",
                r->target);
    wb_admin_reply(r, 200, json_pack("{s:s, s:b}", "jid", r->target, "destroyed", 1));
}
