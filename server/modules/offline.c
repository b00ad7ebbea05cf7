/* XEP-0160 offline messages with XEP-0203 delay (being written). */
#include "wb_modules.h"

const wb_module wb_mod_offline = {.name = "offline"};
