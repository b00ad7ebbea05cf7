/* XEP-0049 private XML storage (being written). */
#include "wb_modules.h"

const wb_module wb_mod_private = {.name = "private"};
