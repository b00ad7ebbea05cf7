/* XEP-0202 entity time (being written). */
#include "wb_modules.h"

const wb_module wb_mod_time = {.name = "time"};
