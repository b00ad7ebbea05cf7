/* XEP-0198 stream management: the counter arithmetic (mod 2^32) and the resumption id format,
 * pure functions shared by wb_c2s_sm.c and its unit test. Not for the session logic itself. */
#ifndef WB_C2S_SM_H
#define WB_C2S_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WB_SM_TOKEN_LEN 16 /* random bytes of a resumption id */
#define WB_SM_ID_MAX    80 /* longest resumption id text, with its NUL */

/* Stanzas sent and not yet acknowledged, across the 2^32 wrap. */
uint32_t wb_sm_unacked(uint32_t sent, uint32_t acked);
/* A client acknowledges h when the server has sent `sent` and the client had acknowledged
 * `acked`: 0 and *newly (stanzas acknowledged now), or -1 when h acknowledges more than sent. */
int wb_sm_ack(uint32_t acked, uint32_t sent, uint32_t h, uint32_t *newly);
/* Parses an h attribute: decimal, 0 to 2^32-1, nothing else. 0 or -1. */
int wb_sm_parse_h(const char *s, uint32_t *out);
/* Writes the resumption id of session sid with its token; -1 if it does not fit. The id stays
 * the same for the whole session, wherever it lives (the directory says which worker has it). */
int wb_sm_format_id(char *out, size_t size, uint64_t sid,
                    const unsigned char token[WB_SM_TOKEN_LEN]);
/* Parses a resumption id written by wb_sm_format_id. 0 or -1. */
int wb_sm_parse_id(const char *s, uint64_t *sid, unsigned char token[WB_SM_TOKEN_LEN]);

#endif
