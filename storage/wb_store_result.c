/* Reading binary-format query results, and turning libpq messages into one-line log reasons. */
#include "wb_store_int.h"

#include <string.h>

#include "wb_log.h"

uint64_t wb_store_be(const char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | (uint8_t)p[i];
    return v;
}

int64_t wb_store_get_int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    const int n = PQgetlength(res, row, col);
    const uint64_t v = wb_store_be(PQgetvalue(res, row, col), (size_t)n);
    switch (n) {
    case 2:
        return (int16_t)v;
    case 4:
        return (int32_t)v;
    default:
        return (int64_t)v;
    }
}

bool wb_store_get_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetlength(res, row, col) == 1 &&
           PQgetvalue(res, row, col)[0] != 0;
}

int wb_store_get_bytes(const PGresult *res, int row, int col, uint8_t *out, size_t max, size_t *len)
{
    if (PQgetisnull(res, row, col) || (size_t)PQgetlength(res, row, col) > max)
        return -1;
    *len = (size_t)PQgetlength(res, row, col);
    memcpy(out, PQgetvalue(res, row, col), *len);
    return 0;
}

bool wb_store_result_ok(const PGresult *res, const char *what)
{
    const ExecStatusType s = PQresultStatus(res);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return true;
    char line[256];
    wb_store_reason(line, sizeof(line), PQresultErrorMessage(res));
    wb_warn("storage: %s failed: %s", what, line);
    return false;
}
