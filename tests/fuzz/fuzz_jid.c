/* libFuzzer target for JID preparation (every 'to' and 'from' a peer sends goes through it):
 * parsing must never read past the input, and a prepared JID must parse again to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wb_jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wb_jid *j = malloc(sizeof(*j)), *again = malloc(sizeof(*again));
    char *full = malloc(WB_JID_MAX + 1);
    if (!j || !again || !full)
        abort();
    /* A copy without a terminator, so that reading past `size` is caught by ASan. */
    char *in = malloc(size ? size : 1);
    if (!in)
        abort();
    memcpy(in, data, size);
    if (wb_jid_parse(j, in, size) == 0) {
        const int n = wb_jid_full(j, full, WB_JID_MAX + 1);
        if (n < 0 || wb_jid_parse(again, full, (size_t)n) != 0 || !wb_jid_full_eq(j, again))
            abort(); /* preparation is idempotent: a prepared JID is its own normal form */
        char bare[WB_JID_MAX + 1];
        if (wb_jid_bare(j, bare, sizeof(bare)) < 0)
            abort();
    }
    free(in);
    free(full);
    free(again);
    free(j);
    return 0;
}
