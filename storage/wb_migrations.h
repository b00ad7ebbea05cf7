/* The SQL migrations compiled into the binaries (generated from storage/migrations/NNN_*.sql). */
#ifndef WB_MIGRATIONS_H
#define WB_MIGRATIONS_H

#include <stddef.h>

typedef struct wb_migration {
    int version;
    const char *name;
    const char *sql;
} wb_migration;

extern const wb_migration wb_migrations[];
extern const size_t wb_migrations_count;

#endif
