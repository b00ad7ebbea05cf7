/* The admin API's room handlers (wb_admin_rooms.c), for the routing table of wb_admin_http.c:
 * GET /api/v1/rooms, GET and DELETE /api/v1/rooms/{jid}. */
#ifndef WB_ADMIN_ROOMS_H
#define WB_ADMIN_ROOMS_H

#include "wb_admin_int.h"

void wb_admin_h_rooms_list(wb_admin_req *r);
void wb_admin_h_room_get(wb_admin_req *r);
void wb_admin_h_room_delete(wb_admin_req *r);

#endif
