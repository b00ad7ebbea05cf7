/* XEP-0054 vcard-temp (and XEP-0153 avatar hashes) (being written). */
#include "wb_modules.h"

const wb_module wb_mod_vcard = {.name = "vcard"};
