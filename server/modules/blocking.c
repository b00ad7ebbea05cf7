/* XEP-0191 blocking command (being written). */
#include "wb_modules.h"

const wb_module wb_mod_blocking = {.name = "blocking"};
