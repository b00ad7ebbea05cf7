/* libFuzzer target for the server side of SCRAM (client-first and client-final messages come
 * straight from the network, base64-decoded): the first byte picks the hash and whether -PLUS is
 * in play; the rest is split at a 0 byte into the two client messages. Nothing may crash, and a
 * forged exchange must never succeed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wb_scram.h"
#include "wb_xmpp_errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const wb_scram_hash h = (data[0] & 1) ? WB_SCRAM_SHA256 : WB_SCRAM_SHA1;
    const bool plus = (data[0] & 2) != 0, offers_plus = (data[0] & 4) != 0;
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    const char *zero = memchr(msg, 0, len);
    const size_t first_len = zero ? (size_t)(zero - msg) : len;
    wb_scram_server *s = wb_scram_server_new(h, plus, offers_plus);
    if (!s)
        return 0;
    char *first = malloc(first_len ? first_len : 1);
    if (!first)
        abort();
    memcpy(first, msg, first_len);
    const char *user = NULL;
    if (wb_scram_server_client_first(s, first, first_len, &user) == 0) {
        wb_buf out;
        wb_buf_init(&out);
        /* Unknown user: fake credentials, so the proof can never verify. */
        if (wb_scram_server_first(s, NULL, &out) == 0 && zero) {
            const size_t final_len = len - first_len - 1;
            char *final = malloc(final_len ? final_len : 1);
            if (!final)
                abort();
            memcpy(final, zero + 1, final_len);
            wb_buf fin;
            wb_buf_init(&fin);
            static const uint8_t cb[32] = {1, 2, 3};
            if (wb_scram_server_final(s, final, final_len, cb, sizeof(cb), &fin) == 0)
                abort(); /* a fuzzer cannot know a password that does not exist */
            wb_buf_free(&fin);
            free(final);
        }
        wb_buf_free(&out);
    }
    free(first);
    wb_scram_server_free(s);
    return 0;
}
