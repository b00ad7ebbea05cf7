/* XEP-0012 last activity (being written). */
#include "wb_modules.h"

const wb_module wb_mod_last = {.name = "last"};
