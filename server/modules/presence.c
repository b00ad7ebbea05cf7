/* RFC 6121 subscriptions and presence broadcast to contacts, probes (being written). */
#include "wb_modules.h"

const wb_module wb_mod_presence = {.name = "presence"};
