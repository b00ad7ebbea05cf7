/* XEP-0077 in-band registration, password change, cancellation (being written). */
#include "wb_modules.h"

const wb_module wb_mod_register = {.name = "register"};
