/* RFC 6121 rosters with versioning (XEP-0237) (being written). */
#include "wb_modules.h"

const wb_module wb_mod_roster = {.name = "roster"};
